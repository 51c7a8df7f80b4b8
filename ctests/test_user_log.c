/* A log implemented in C (raft_log_impl_t) plugged in with raft_new_with_log:
 * the server drives it through the vtable with upstream's ownership rules. */
#include <stdlib.h>
#include "harness.h"
#include "raft.h"
#include "raft_private.h"

#define CAP 256

struct ulog {
    void *raft;
    void *arg;
    raft_index_t base; /* index before entries[0] */
    raft_index_t count;
    raft_entry_t *entries[CAP];
    int appends, syncs, frees, resets;
};

static struct ulog *the_log;
static int init_calls;

static void *u_init(void *raft, void *arg)
{
    struct ulog *l = calloc(1, sizeof *l);
    l->raft = raft;
    l->arg = arg;
    the_log = l;
    init_calls++;
    return l;
}
static void u_free(void *log)
{
    struct ulog *l = log;
    raft_index_t i;
    for (i = 0; i < l->count; i++)
        raft_entry_release(l->entries[i]);
    the_log = NULL;
    free(l);
}
static void u_reset(void *log, raft_index_t first_idx, raft_term_t term)
{
    struct ulog *l = log;
    raft_index_t i;
    (void)term;
    for (i = 0; i < l->count; i++)
        raft_entry_release(l->entries[i]);
    l->count = 0;
    l->base = first_idx - 1;
    l->resets++;
}
static int u_append(void *log, raft_entry_t *e)
{
    struct ulog *l = log;
    if (l->count == CAP)
        return RAFT_ERR_NOMEM;
    raft_entry_hold(e); /* the log keeps its own reference */
    l->entries[l->count++] = e;
    l->appends++;
    return 0;
}
static int u_poll(void *log, raft_index_t first_idx)
{
    struct ulog *l = log;
    while (l->base + 1 < first_idx && l->count > 0) {
        raft_entry_release(l->entries[0]);
        memmove(l->entries, l->entries + 1, (size_t)(l->count - 1) * sizeof(raft_entry_t *));
        l->count--;
        l->base++;
    }
    return 0;
}
static int u_pop(void *log, raft_index_t from_idx, raft_entry_notify_f cb, void *cb_arg)
{
    struct ulog *l = log;
    while (l->count > 0 && l->base + l->count >= from_idx) {
        raft_entry_t *e = l->entries[--l->count];
        if (cb)
            cb(cb_arg, e, l->base + l->count + 1);
        raft_entry_release(e);
    }
    return 0;
}
static raft_entry_t *u_get(void *log, raft_index_t idx)
{
    struct ulog *l = log;
    raft_entry_t *e;
    if (idx <= l->base || idx > l->base + l->count)
        return NULL;
    e = l->entries[idx - l->base - 1];
    raft_entry_hold(e); /* get returns a held reference */
    return e;
}
static raft_index_t u_get_batch(void *log, raft_index_t idx, raft_index_t n, raft_entry_t **out)
{
    raft_index_t i;
    for (i = 0; i < n; i++) {
        out[i] = u_get(log, idx + i);
        if (!out[i])
            break;
    }
    return i;
}
static raft_index_t u_first_idx(void *log) { return ((struct ulog *)log)->base + 1; }
static raft_index_t u_current_idx(void *log) { return ((struct ulog *)log)->base + ((struct ulog *)log)->count; }
static raft_index_t u_count(void *log) { return ((struct ulog *)log)->count; }
static int u_sync(void *log)
{
    ((struct ulog *)log)->syncs++;
    return 0;
}

static const raft_log_impl_t user_impl = {
    u_init, u_free, u_reset, u_append, u_poll, u_pop, u_get, u_get_batch,
    u_first_idx, u_current_idx, u_count, u_sync,
};

static int applied;
static int on_apply(raft_server_t *r, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)r; (void)ud; (void)e; (void)idx;
    applied++;
    return 0;
}
static int on_persist(raft_server_t *r, void *ud, raft_term_t t, raft_node_id_t v)
{
    (void)r; (void)ud; (void)t; (void)v;
    return 0;
}

static void test_server_drives_user_log(void)
{
    int arg = 42;
    raft_cbs_t cbs;
    raft_server_t *r;
    raft_entry_t *e, *got;
    raft_entry_resp_t resp;
    int i;

    init_calls = 0;
    r = raft_new_with_log(&user_impl, &arg);
    CHECK(r != NULL);
    CHECK_EQ(1, init_calls);
    CHECK(the_log != NULL);
    CHECK(the_log->raft == (void *)r);
    CHECK(the_log->arg == &arg);
    CHECK(raft_get_log(r) == the_log);

    memset(&cbs, 0, sizeof cbs);
    cbs.applylog = on_apply;
    cbs.persist_metadata = on_persist;
    raft_set_callbacks(r, &cbs, NULL);
    raft_add_node(r, NULL, 1, 1);
    raft_set_current_term(r, 1);
    raft_become_leader(r); /* appends a no-op entry */
    for (i = 0; i < 5; i++) {
        e = raft_entry_new(3);
        e->id = 100 + i;
        CHECK_EQ(0, raft_recv_entry(r, e, &resp));
        CHECK_EQ(2, e->refs); /* ours + the log's */
        raft_entry_release(e);
    }
    CHECK(the_log->appends >= 5);
    CHECK_EQ(the_log->base + the_log->count, raft_get_current_idx(r));
    CHECK_EQ(the_log->count, raft_get_log_count(r));

    got = raft_get_entry_from_idx(r, raft_get_current_idx(r));
    CHECK(got != NULL);
    if (got) {
        CHECK_EQ(104, got->id);
        raft_entry_release(got);
    }
    raft_periodic_internal(r, 10);
    CHECK(applied >= 5);
    CHECK_EQ(raft_get_current_idx(r), raft_get_commit_idx(r));
    raft_destroy(r); /* calls u_free */
    CHECK(the_log == NULL);
}

static void test_impl_without_optional_functions(void)
{
    /* Only init and free: the server treats the log as empty and does not crash. */
    raft_log_impl_t bare;
    raft_server_t *r;
    memset(&bare, 0, sizeof bare);
    bare.init = u_init;
    bare.free = u_free;
    r = raft_new_with_log(&bare, NULL);
    CHECK(r != NULL);
    CHECK_EQ(0, raft_get_current_idx(r));
    CHECK(raft_get_entry_from_idx(r, 1) == NULL);
    raft_destroy(r);
}

int main(void)
{
    RUN(test_server_drives_user_log);
    RUN(test_impl_without_optional_functions);
    return harness_finish("test_user_log");
}
