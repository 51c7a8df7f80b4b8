/* Entry primitives: allocation, reference counts, free_func, cfg-change checks. */
#include <stdlib.h>
#include "harness.h"
#include "raft.h"

static int freed;
static void count_free(raft_entry_t *e)
{
    freed++;
    free(e);
}

/* An entry allocated with libc and handed to the library with its own free. */
static raft_entry_t *custom_entry(void)
{
    raft_entry_t *e = calloc(1, sizeof(*e) + 4);
    e->refs = 1;
    e->data_len = 4;
    e->free_func = count_free;
    return e;
}

static void test_new_is_zeroed_with_one_ref(void)
{
    raft_entry_t *e = raft_entry_new(16);
    unsigned int i;
    CHECK(e != NULL);
    CHECK_EQ(1, e->refs);
    CHECK_EQ(16, e->data_len);
    CHECK_EQ(0, e->term);
    CHECK_EQ(0, e->id);
    CHECK_EQ(0, e->type);
    CHECK(e->user_data == NULL);
    CHECK(e->free_func == NULL);
    for (i = 0; i < 16; i++)
        CHECK_EQ(0, e->data[i]);
    memcpy(e->data, "0123456789abcdef", 16);
    raft_entry_release(e);
}

static void test_zero_length(void)
{
    raft_entry_t *e = raft_entry_new(0);
    CHECK(e != NULL);
    CHECK_EQ(0, e->data_len);
    raft_entry_release(e);
}

static void test_hold_release(void)
{
    raft_entry_t *e = raft_entry_new(1);
    raft_entry_hold(e);
    raft_entry_hold(e);
    CHECK_EQ(3, e->refs);
    raft_entry_release(e);
    CHECK_EQ(2, e->refs);
    raft_entry_release(e);
    CHECK_EQ(1, e->refs);
    raft_entry_release(e);
}

static void test_free_func_called_on_last_release(void)
{
    raft_entry_t *e = custom_entry();
    freed = 0;
    raft_entry_hold(e);
    raft_entry_release(e);
    CHECK_EQ(0, freed);
    raft_entry_release(e);
    CHECK_EQ(1, freed);
}

static void test_release_list(void)
{
    raft_entry_t *list[3];
    freed = 0;
    list[0] = custom_entry();
    list[1] = custom_entry();
    list[2] = custom_entry();
    raft_entry_hold(list[1]);
    raft_entry_release_list(list, 3);
    CHECK_EQ(2, freed);
    CHECK_EQ(1, list[1]->refs);
    raft_entry_release(list[1]);
    CHECK_EQ(3, freed);
    raft_entry_release_list(NULL, 5);
    raft_entry_release_list(list, 0);
}

static void test_refs_stick_at_max(void)
{
    raft_entry_t *e = custom_entry();
    freed = 0;
    e->refs = 65534;
    raft_entry_hold(e);
    CHECK_EQ(65535, e->refs);
    raft_entry_hold(e); /* would wrap: sticks instead */
    CHECK_EQ(65535, e->refs);
    raft_entry_release(e); /* a stuck entry is never freed */
    CHECK_EQ(65535, e->refs);
    CHECK_EQ(0, freed);
    e->refs = 1;
    raft_entry_release(e);
    CHECK_EQ(1, freed);
}

static void test_cfg_change_types(void)
{
    raft_entry_t *e = raft_entry_new(0);
    e->type = RAFT_LOGTYPE_NORMAL;
    CHECK_EQ(0, raft_entry_is_cfg_change(e));
    CHECK_EQ(0, raft_entry_is_voting_cfg_change(e));
    e->type = RAFT_LOGTYPE_ADD_NONVOTING_NODE;
    CHECK_EQ(1, raft_entry_is_cfg_change(e));
    CHECK_EQ(0, raft_entry_is_voting_cfg_change(e));
    e->type = RAFT_LOGTYPE_ADD_NODE;
    CHECK_EQ(1, raft_entry_is_cfg_change(e));
    CHECK_EQ(1, raft_entry_is_voting_cfg_change(e));
    e->type = RAFT_LOGTYPE_REMOVE_NODE;
    CHECK_EQ(1, raft_entry_is_cfg_change(e));
    CHECK_EQ(1, raft_entry_is_voting_cfg_change(e));
    e->type = RAFT_LOGTYPE_NO_OP;
    CHECK_EQ(0, raft_entry_is_cfg_change(e));
    e->type = RAFT_LOGTYPE_NUM + 1;
    CHECK_EQ(0, raft_entry_is_cfg_change(e));
    raft_entry_release(e);
}

int main(void)
{
    RUN(test_new_is_zeroed_with_one_ref);
    RUN(test_zero_length);
    RUN(test_hold_release);
    RUN(test_free_func_called_on_last_release);
    RUN(test_release_list);
    RUN(test_refs_stick_at_max);
    RUN(test_cfg_change_types);
    return harness_finish("test_entry");
}
