/* Entry primitives: allocation, reference counts, free_func, cfg-change checks. */
#include <stdlib.h>
#include "harness.h"
#include "raft.h"
#include "raft_private.h"

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

/* Like upstream, the list function releases every entry and then frees the
 * array itself with raft_free (valgrind proves the array is not leaked). */
static void test_release_list(void)
{
    raft_entry_t **list = raft_malloc(3 * sizeof(*list));
    raft_entry_t *kept;
    freed = 0;
    list[0] = custom_entry();
    list[1] = custom_entry();
    list[2] = custom_entry();
    kept = list[1];
    raft_entry_hold(kept);
    raft_entry_release_list(list, 3);
    CHECK_EQ(2, freed);
    CHECK_EQ(1, kept->refs);
    raft_entry_release(kept);
    CHECK_EQ(3, freed);
    raft_entry_release_list(NULL, 5);
    raft_entry_release_list(raft_malloc(sizeof(raft_entry_t *)), 0);
}

/* The array raft_get_entries_from_idx returns holds a reference to each entry;
 * raft_entry_release_list gives them back and frees the array (no leak under valgrind). */
static void test_entries_from_idx_released_as_list(void)
{
    raft_server_t *r = raft_new();
    raft_entry_t **es;
    raft_index_t n = -1;
    int i;
    CHECK(raft_add_node(r, NULL, 1, 1) != NULL);
    CHECK_EQ(0, raft_set_current_term(r, 1));
    for (i = 1; i <= 3; i++) {
        raft_entry_t *e = raft_entry_new(4);
        e->term = 1;
        e->id = i;
        CHECK_EQ(0, raft_append_entry(r, e));
        raft_entry_release(e);
    }
    es = raft_get_entries_from_idx(r, 2, &n);
    CHECK(es != NULL);
    CHECK_EQ(2, n);
    if (es != NULL && n == 2) {
        CHECK_EQ(2, es[0]->id);
        CHECK_EQ(3, es[1]->id);
        CHECK_EQ(2, es[0]->refs); /* the log's and ours */
    }
    raft_entry_release_list(es, (size_t)n);
    raft_destroy(r);
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
    RUN(test_entries_from_idx_released_as_list);
    RUN(test_refs_stick_at_max);
    RUN(test_cfg_change_types);
    return harness_finish("test_entry");
}
