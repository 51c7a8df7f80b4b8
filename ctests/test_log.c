/* The built-in log: raft_log_* functions, their hooks, and the
 * raft_log_internal_impl vtable with its ownership rules. */
#include "harness.h"
#include "raft.h"
#include "raft_log.h"

static raft_entry_t *mk(int id, raft_term_t term)
{
    raft_entry_t *e = raft_entry_new(0);
    e->id = id;
    e->term = term;
    return e;
}

/* Hook recorder: which entries were offered/polled/popped/cleared, at which index. */
struct rec {
    int n;
    int ids[16];
    raft_index_t idx[16];
};
static struct rec offered, polled, popped, cleared;
static int fail_offer;

static void rec_add(struct rec *r, raft_entry_t *e, raft_index_t idx)
{
    if (r->n < 16) {
        r->ids[r->n] = e->id;
        r->idx[r->n] = idx;
    }
    r->n++;
}

static int on_offer(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)raft;
    CHECK(ud == NULL); /* not a server: no user data */
    rec_add(&offered, e, idx);
    return fail_offer ? RAFT_ERR_SHUTDOWN : 0;
}
static int on_poll(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)raft; (void)ud;
    rec_add(&polled, e, idx);
    return 0;
}
static int on_pop(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)raft; (void)ud;
    rec_add(&popped, e, idx);
    return 0;
}
static int on_clear(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)raft; (void)ud;
    rec_add(&cleared, e, idx);
    return 0;
}

static raft_log_cbs_t hooks = { on_offer, on_poll, on_pop, on_clear };
/* Stands for a foreign pointer given as `raft` (upstream's tests pass a CuTest *). */
static long dummy_raft[16];

static void reset_recs(void)
{
    memset(&offered, 0, sizeof offered);
    memset(&polled, 0, sizeof polled);
    memset(&popped, 0, sizeof popped);
    memset(&cleared, 0, sizeof cleared);
    fail_offer = 0;
}

static void test_append_get_count(void)
{
    raft_log_t *l = raft_log_new();
    CHECK_EQ(0, raft_log_count(l));
    CHECK_EQ(0, raft_log_get_current_idx(l));
    CHECK(raft_log_peektail(l) == NULL);
    CHECK_EQ(0, raft_log_append_entry(l, mk(1, 1)));
    CHECK_EQ(0, raft_log_append_entry(l, mk(2, 1)));
    CHECK_EQ(0, raft_log_append_entry(l, mk(3, 2)));
    CHECK_EQ(3, raft_log_count(l));
    CHECK_EQ(3, raft_log_get_current_idx(l));
    CHECK_EQ(2, raft_log_get_at_idx(l, 2)->id);
    CHECK(raft_log_get_at_idx(l, 0) == NULL);
    CHECK(raft_log_get_at_idx(l, 4) == NULL);
    CHECK_EQ(3, raft_log_peektail(l)->id);
    raft_log_free(l); /* releases the three entries */
}

static void test_hooks_and_indexes(void)
{
    raft_log_t *l = raft_log_new();
    raft_entry_t *e;
    reset_recs();
    raft_log_set_callbacks(l, &hooks, dummy_raft);
    raft_log_append_entry(l, mk(1, 1));
    raft_log_append_entry(l, mk(2, 1));
    raft_log_append_entry(l, mk(3, 1));
    raft_log_append_entry(l, mk(4, 1));
    CHECK_EQ(4, offered.n);
    CHECK_EQ(4, offered.idx[3]);

    CHECK_EQ(0, raft_log_poll(l, &e));
    CHECK_EQ(1, polled.n);
    CHECK_EQ(1, polled.ids[0]);
    CHECK_EQ(1, polled.idx[0]);
    CHECK_EQ(1, raft_log_get_base(l));
    CHECK(raft_log_get_at_idx(l, 1) == NULL);
    CHECK_EQ(2, raft_log_get_at_idx(l, 2)->id);

    CHECK_EQ(0, raft_log_delete(l, 3)); /* newest first: 4 then 3 */
    CHECK_EQ(2, popped.n);
    CHECK_EQ(4, popped.ids[0]);
    CHECK_EQ(4, popped.idx[0]);
    CHECK_EQ(3, popped.ids[1]);
    CHECK_EQ(2, raft_log_get_current_idx(l));
    CHECK_EQ(-1, raft_log_delete(l, 0));

    raft_log_clear_entries(l); /* hooks only; the entry stays */
    CHECK_EQ(1, cleared.n);
    CHECK_EQ(2, cleared.idx[0]);
    CHECK_EQ(1, raft_log_count(l));
    raft_log_free(l);
}

static void test_offer_failure_keeps_callers_ref(void)
{
    raft_log_t *l = raft_log_new();
    raft_entry_t *e = mk(1, 1);
    reset_recs();
    raft_log_set_callbacks(l, &hooks, NULL);
    fail_offer = 1;
    CHECK_EQ(RAFT_ERR_SHUTDOWN, raft_log_append_entry(l, e));
    CHECK_EQ(0, raft_log_count(l));
    CHECK_EQ(1, e->refs);
    raft_entry_release(e);
    raft_log_free(l);
}

static void test_poll_empty(void)
{
    raft_log_t *l = raft_log_new();
    raft_entry_t *e = NULL;
    CHECK_EQ(-1, raft_log_poll(l, &e));
    CHECK(e == NULL);
    raft_log_free(l);
}

static void test_get_from_idx(void)
{
    raft_log_t *l = raft_log_alloc(2);
    raft_entry_t *held, **arr;
    long n = -1;
    int i;
    for (i = 1; i <= 5; i++)
        raft_log_append_entry(l, mk(i, 1));
    raft_log_poll(l, &held); /* base 1 */
    raft_log_append_entry(l, mk(6, 1));
    arr = raft_log_get_from_idx(l, 3, &n);
    CHECK(arr != NULL);
    CHECK(n >= 1 && n <= 4);
    CHECK_EQ(3, arr[0]->id);
    CHECK(raft_log_get_from_idx(l, 1, &n) == NULL);
    CHECK_EQ(0, n);
    CHECK(raft_log_get_from_idx(l, 7, &n) == NULL);
    CHECK_EQ(0, n);
    raft_log_free(l);
}

static void test_load_from_snapshot_and_clear(void)
{
    raft_log_t *l = raft_log_new();
    reset_recs();
    raft_log_set_callbacks(l, &hooks, NULL);
    raft_log_append_entry(l, mk(1, 1));
    raft_log_append_entry(l, mk(2, 1));
    CHECK_EQ(0, raft_log_load_from_snapshot(l, 10, 3));
    CHECK_EQ(2, cleared.n);
    CHECK_EQ(0, raft_log_count(l));
    CHECK_EQ(10, raft_log_get_current_idx(l));
    CHECK_EQ(10, raft_log_get_base(l));
    raft_log_append_entry(l, mk(11, 3));
    CHECK_EQ(11, raft_log_get_current_idx(l));
    CHECK_EQ(11, offered.idx[2]);
    raft_log_empty(l); /* keeps the base */
    CHECK_EQ(0, raft_log_count(l));
    CHECK_EQ(10, raft_log_get_current_idx(l));
    raft_log_append_entry(l, mk(11, 3));
    raft_log_clear(l); /* back to the start */
    CHECK_EQ(0, raft_log_get_current_idx(l));
    raft_log_free(l);
}

static int notified;
static raft_index_t notified_idx[8];
static void notify(void *arg, raft_entry_t *e, raft_index_t idx)
{
    CHECK(arg == &notified);
    CHECK(e != NULL);
    if (notified < 8)
        notified_idx[notified] = idx;
    notified++;
}

static void test_internal_impl(void)
{
    const raft_log_impl_t *li = &raft_log_internal_impl;
    void *log = li->init(dummy_raft, NULL);
    raft_entry_t *e1 = mk(1, 1), *e2 = mk(2, 1), *e3 = mk(3, 2), *got, *batch[4];
    raft_index_t n;

    CHECK_EQ(1, li->first_idx(log));
    CHECK_EQ(0, li->current_idx(log));
    CHECK_EQ(0, li->append(log, e1));
    CHECK_EQ(0, li->append(log, e2));
    CHECK_EQ(0, li->append(log, e3));
    CHECK_EQ(2, e1->refs); /* append holds */
    CHECK_EQ(3, li->count(log));

    got = li->get(log, 2);
    CHECK(got == e2);
    CHECK_EQ(3, e2->refs); /* get returns a held reference */
    raft_entry_release(got);
    CHECK(li->get(log, 4) == NULL);

    n = li->get_batch(log, 2, 4, batch);
    CHECK_EQ(2, n);
    CHECK(batch[0] == e2 && batch[1] == e3);
    raft_entry_release(batch[0]); /* batch is the caller's array: release one by one */
    raft_entry_release(batch[1]);
    CHECK_EQ(0, li->get_batch(log, 9, 4, batch));

    CHECK_EQ(0, li->poll(log, 2));
    CHECK_EQ(2, li->first_idx(log));
    CHECK_EQ(1, e1->refs); /* released by the log */

    notified = 0;
    CHECK_EQ(0, li->pop(log, 3, notify, &notified));
    CHECK_EQ(1, notified);
    CHECK_EQ(3, notified_idx[0]);
    CHECK_EQ(2, li->current_idx(log));
    CHECK_EQ(0, li->sync(log));

    li->reset(log, 5, 2);
    CHECK_EQ(5, li->first_idx(log));
    CHECK_EQ(4, li->current_idx(log));
    CHECK_EQ(0, li->count(log));
    CHECK_EQ(1, e2->refs);
    li->free(log);
    raft_entry_release(e1);
    raft_entry_release(e2);
    raft_entry_release(e3);
}

static void test_internal_impl_init_with_hooks(void)
{
    const raft_log_impl_t *li = &raft_log_internal_impl;
    void *log;
    raft_entry_t *e = mk(1, 1);
    reset_recs();
    log = li->init(dummy_raft, &hooks);
    CHECK_EQ(0, li->append(log, e));
    CHECK_EQ(1, offered.n);
    li->reset(log, 1, 0);
    CHECK_EQ(1, cleared.n);
    fail_offer = 1;
    CHECK_EQ(RAFT_ERR_SHUTDOWN, li->append(log, e));
    CHECK_EQ(1, e->refs); /* a failed append keeps no reference */
    li->free(log);
    raft_entry_release(e);
}

static void *seen_ud;
static int ud_offer(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)raft; (void)e; (void)idx;
    seen_ud = ud;
    return 0;
}

/* Hooks attached to a server's built-in log receive the server's user data. */
static void test_hooks_on_server_log_get_udata(void)
{
    raft_server_t *r = raft_new();
    raft_cbs_t cbs;
    raft_log_cbs_t h;
    int ud;
    raft_entry_t *e = mk(1, 1);
    memset(&cbs, 0, sizeof cbs);
    memset(&h, 0, sizeof h);
    h.log_offer = ud_offer;
    raft_set_callbacks(r, &cbs, &ud);
    raft_log_set_callbacks(raft_get_log(r), &h, r);
    seen_ud = NULL;
    CHECK_EQ(0, raft_append_entry(r, e));
    CHECK(seen_ud == &ud);
    raft_entry_release(e);
    raft_destroy(r);
}

/* Hooks that read the same log while it changes (re-entrancy). */
static raft_log_t *reentrant_log;
static int reentrant_calls;
static int re_offer(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)raft; (void)ud;
    reentrant_calls++;
    CHECK_EQ(idx - 1, raft_log_get_current_idx(reentrant_log)); /* not stored yet */
    CHECK(raft_log_get_at_idx(reentrant_log, idx) == NULL);
    CHECK(e != NULL);
    return 0;
}
static int re_poll(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)raft; (void)ud;
    reentrant_calls++;
    CHECK(raft_log_get_at_idx(reentrant_log, idx) == e); /* still stored */
    return 0;
}
static int re_pop(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)raft; (void)ud;
    reentrant_calls++;
    CHECK(raft_log_peektail(reentrant_log) == e);
    CHECK_EQ(idx, raft_log_get_current_idx(reentrant_log));
    return 0;
}
static int re_clear(raft_server_t *raft, void *ud, raft_entry_t *e, raft_index_t idx)
{
    long n = 0;
    (void)raft; (void)ud;
    reentrant_calls++;
    CHECK(raft_log_get_from_idx(reentrant_log, idx, &n) != NULL);
    CHECK(n >= 1);
    CHECK(raft_log_get_at_idx(reentrant_log, idx) == e);
    return 0;
}

static void test_hooks_may_read_the_log(void)
{
    raft_log_cbs_t h = { re_offer, re_poll, re_pop, re_clear };
    raft_entry_t *e;
    int i;
    reentrant_log = raft_log_new();
    reentrant_calls = 0;
    raft_log_set_callbacks(reentrant_log, &h, NULL);
    for (i = 1; i <= 4; i++)
        CHECK_EQ(0, raft_log_append_entry(reentrant_log, mk(i, 1)));
    CHECK_EQ(0, raft_log_poll(reentrant_log, &e));
    CHECK_EQ(0, raft_log_delete(reentrant_log, 4));
    raft_log_clear_entries(reentrant_log);
    CHECK_EQ(4 + 1 + 1 + 2, reentrant_calls);
    raft_log_free(reentrant_log);
}

int main(void)
{
    RUN(test_append_get_count);
    RUN(test_hooks_and_indexes);
    RUN(test_offer_failure_keeps_callers_ref);
    RUN(test_poll_empty);
    RUN(test_get_from_idx);
    RUN(test_load_from_snapshot_and_clear);
    RUN(test_internal_impl);
    RUN(test_internal_impl_init_with_hooks);
    RUN(test_hooks_on_server_log_get_udata);
    RUN(test_hooks_may_read_the_log);
    return harness_finish("test_log");
}
