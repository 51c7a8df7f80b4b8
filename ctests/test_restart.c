/* Restart recovery through the public C API, in the documented order:
 * restore the snapshot (raft_restore_snapshot), reload the log entries
 * (raft_append_entry, then raft_restore_log), restore the metadata
 * (raft_restore_metadata). The "disk" is what a node saved before its crash. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "kv_cluster.h"

/* Upstream (7371bc92) lacks raft_restore_log; build with
 * -DHAVE_RAFT_RESTORE_LOG=0 to run these tests against it. */
#ifndef HAVE_RAFT_RESTORE_LOG
#define HAVE_RAFT_RESTORE_LOG 1
#endif
#if HAVE_RAFT_RESTORE_LOG
int raft_restore_log(raft_server_t *me);
#define log_after_snapshot(r, term, idx) ((void)0)
#else
/* Upstream's raft_restore_snapshot leaves an empty in-memory log at index 0;
 * ours continues it after the snapshot. */
#include "raft_log.h"
#define log_after_snapshot(r, term, idx) \
    raft_log_load_from_snapshot(raft_get_log(r), (idx), (term))
#endif

static kv_cluster_t cl;

typedef struct {
    raft_index_t snap_idx;
    raft_term_t snap_term;
    raft_entry_t *entries[256];
    int n;
    raft_term_t term;
    raft_node_id_t vote;
} disk_t;

/* What the node has made durable: its snapshot (kept in kv_node_t), the log
 * after it, and the term and vote given to persist_metadata. */
static void save(kv_node_t *n, disk_t *d)
{
    raft_server_t *r = n->raft;
    memset(d, 0, sizeof(*d));
    d->snap_idx = raft_get_snapshot_last_idx(r);
    d->snap_term = raft_get_snapshot_last_term(r);
    for (raft_index_t i = d->snap_idx + 1; i <= raft_get_current_idx(r) && d->n < 256; i++) {
        raft_entry_t *e = raft_get_entry_from_idx(r, i);
        CHECK(e != NULL);
        if (!e)
            break;
        d->entries[d->n++] = kv_copy_entry(e);
        raft_entry_release(e);
    }
    d->term = n->persisted_term;
    d->vote = n->persisted_vote;
    CHECK_EQ(raft_get_current_term(r), d->term);
    CHECK_EQ(raft_get_voted_for(r), d->vote);
}

static void forget(disk_t *d)
{
    for (int i = 0; i < d->n; i++)
        raft_entry_release(d->entries[i]);
    d->n = 0;
}

/* Brings node `n` back from `d`. Without a snapshot the configuration is the
 * bootstrap one (voters 1..n_voters); with one, the snapshot's membership. */
static int restart(kv_node_t *n, disk_t *d, int n_voters)
{
    n->raft = kv_new_server(n);
    raft_server_t *r = n->raft;
    memset(&n->table, 0, sizeof(n->table));
    if (d->snap_idx > 0) {
        kv_image_t img;
        CHECK_EQ(0, kv_parse(n->snap, &img));
        for (int i = 0; i < img.members; i++) {
            int self = img.ids[i] == n->id;
            if (img.voting[i])
                raft_add_node(r, NULL, img.ids[i], self);
            else
                raft_add_non_voting_node(r, NULL, img.ids[i], self);
        }
        n->table = img.table;
        CHECK_EQ(0, raft_restore_snapshot(r, d->snap_term, d->snap_idx));
        log_after_snapshot(r, d->snap_term, d->snap_idx);
    } else {
        for (int id = 1; id <= n_voters; id++)
            kv_add_committed(r, id, id == n->id);
    }
#if !HAVE_RAFT_RESTORE_LOG
    /* Upstream asserts that no appended entry is newer than the current term,
     * so with it the metadata has to come first. */
    CHECK_EQ(0, raft_restore_metadata(r, d->term, d->vote));
#endif
    for (int i = 0; i < d->n; i++)
        CHECK_EQ(0, raft_append_entry(r, d->entries[i]));
#if HAVE_RAFT_RESTORE_LOG
    CHECK_EQ(0, raft_restore_log(r));
    CHECK_EQ(0, raft_restore_metadata(r, d->term, d->vote));
#endif
    forget(d);
    n->present = 1;
    return raft_get_my_node(r) != NULL;
}

static kv_node_t *follower(void)
{
    kv_node_t *l = kv_leader(&cl);
    for (int id = 1; id <= KV_MAX && l; id++)
        if (cl.nodes[id].present && &cl.nodes[id] != l)
            return &cl.nodes[id];
    return NULL;
}

static void test_restart_from_snapshot_and_log(void)
{
    kv_init(&cl, 3);
    CHECK(kv_wait_leader(&cl));
    CHECK_EQ(0, kv_set(&cl, "a", "1"));
    CHECK_EQ(0, kv_set(&cl, "b", "2"));
    kv_node_t *f = follower();
    if (!f)
        goto out;
    CHECK_EQ(0, kv_take_snapshot(f));
    raft_index_t snap_idx = raft_get_snapshot_last_idx(f->raft);
    CHECK_EQ(0, kv_set(&cl, "c", "3"));
    CHECK_EQ(0, kv_set(&cl, "a", "4"));

    disk_t d;
    save(f, &d);
    CHECK_EQ(2, d.n);
    raft_index_t idx = raft_get_current_idx(f->raft);
    kv_stop(&cl, f->id);
    CHECK_EQ(0, kv_set(&cl, "d", "5"));   /* two of three still commit */

    CHECK(restart(f, &d, 3));
    raft_server_t *r = f->raft;
    CHECK_EQ(d.term, raft_get_current_term(r));
    CHECK_EQ(d.vote, raft_get_voted_for(r));
    CHECK_EQ(snap_idx, raft_get_snapshot_last_idx(r));
    CHECK_EQ(d.snap_term, raft_get_snapshot_last_term(r));
    CHECK_EQ(snap_idx, raft_get_commit_idx(r));
    CHECK_EQ(snap_idx, raft_get_last_applied_idx(r));
    CHECK_EQ(idx, raft_get_current_idx(r));
    CHECK_EQ(3, raft_get_num_nodes(r));
    CHECK_EQ(3, raft_get_num_voting_nodes(r));
    CHECK_EQ(0, raft_is_leader(r));
    /* The snapshot's state is back; what came after it is not applied yet. */
    CHECK(kv_get(&f->table, "b") && strcmp(kv_get(&f->table, "a"), "1") == 0);
    CHECK(kv_get(&f->table, "c") == NULL);

    CHECK(kv_run_until(&cl, kv_converged, NULL, 10000));
    CHECK(kv_get(&f->table, "c") && kv_get(&f->table, "d"));
    CHECK(kv_get(&f->table, "a") && strcmp(kv_get(&f->table, "a"), "4") == 0);
    CHECK_EQ(0, kv_set(&cl, "e", "6"));
    CHECK(kv_same_data(&cl));
out:
    kv_destroy(&cl);
}

static int node4_voting_everywhere(kv_cluster_t *c, void *arg)
{
    (void)arg;
    kv_node_t *l = kv_leader(c);
    if (!l || raft_voting_change_is_in_progress(l->raft) || !kv_converged(c, NULL))
        return 0;
    for (int id = 1; id <= 4; id++) {
        raft_node_t *n = kv_node(c, id, 4);
        if (!n || !raft_node_is_voting(n))
            return 0;
    }
    return 1;
}

static void test_restart_rebuilds_membership_from_log(void)
{
    kv_init(&cl, 3);
    CHECK(kv_wait_leader(&cl));
    CHECK_EQ(0, kv_set(&cl, "a", "1"));
    kv_node_t *l = kv_leader(&cl);
    if (!l)
        goto out;
    l->auto_promote = 1;
    kv_start(&cl, 4, 3, 0);
    CHECK_EQ(0, kv_submit_cfg(&cl, l->raft, RAFT_LOGTYPE_ADD_NONVOTING_NODE, 4, NULL));
    CHECK(kv_run_until(&cl, node4_voting_everywhere, NULL, 10000));
    CHECK_EQ(0, kv_set(&cl, "b", "2"));

    /* A follower that never snapshotted restarts from its bootstrap
     * configuration plus its log, which holds node 4's addition. */
    kv_node_t *f = follower();
    if (f && f->id == 4)
        f = &cl.nodes[l->id == 1 ? 2 : 1];
    if (!f)
        goto out;
    disk_t d;
    save(f, &d);
    raft_index_t idx = raft_get_current_idx(f->raft);
    kv_stop(&cl, f->id);
    CHECK(restart(f, &d, 3));
    raft_server_t *r = f->raft;
    CHECK_EQ(idx, raft_get_current_idx(r));
    CHECK_EQ(0, raft_get_snapshot_last_idx(r));
    raft_node_t *n4 = raft_get_node(r, 4);
    CHECK(n4 != NULL);
    CHECK(n4 && raft_node_is_voting(n4));
    CHECK_EQ(4, raft_get_num_nodes(r));
    CHECK_EQ(4, raft_get_num_voting_nodes(r));

    CHECK(kv_run_until(&cl, kv_converged, NULL, 10000));
    CHECK(kv_tables_equal(&f->table, &kv_leader(&cl)->table));
    CHECK_EQ(0, kv_set(&cl, "c", "3"));
    CHECK(kv_same_data(&cl));
out:
    kv_destroy(&cl);
}

static void test_whole_cluster_restarts(void)
{
    kv_init(&cl, 3);
    CHECK(kv_wait_leader(&cl));
    CHECK_EQ(0, kv_set(&cl, "a", "1"));
    CHECK_EQ(0, kv_set(&cl, "b", "2"));
    kv_node_t *l = kv_leader(&cl);
    if (!l)
        goto out;
    CHECK_EQ(0, kv_take_snapshot(l));   /* one node restarts from a snapshot */
    CHECK_EQ(0, kv_set(&cl, "c", "3"));
    raft_term_t term = raft_get_current_term(l->raft);
    raft_index_t commit = raft_get_commit_idx(l->raft);

    disk_t d[4];
    for (int id = 1; id <= 3; id++)
        save(&cl.nodes[id], &d[id]);
    for (int id = 1; id <= 3; id++)
        kv_stop(&cl, id);
    kv_drop_all(&cl);
    for (int id = 1; id <= 3; id++) {
        CHECK(restart(&cl.nodes[id], &d[id], 3));
        CHECK_EQ(term, raft_get_current_term(cl.nodes[id].raft));
    }
    CHECK(kv_wait_leader(&cl));
    l = kv_leader(&cl);
    CHECK(l && raft_get_current_term(l->raft) > term);
    CHECK_EQ(0, kv_set(&cl, "d", "4"));
    CHECK(l && raft_get_commit_idx(l->raft) > commit);
    CHECK(kv_same_data(&cl));
    l = kv_leader(&cl);
    CHECK(l && kv_get(&l->table, "a") && kv_get(&l->table, "c") && kv_get(&l->table, "d"));
out:
    kv_destroy(&cl);
}

static void test_restore_snapshot_misuse(void)
{
    kv_init(&cl, 0);
    kv_node_t *me = kv_start(&cl, 1, 3, 1);
    raft_server_t *r = me->raft;
    CHECK_EQ(RAFT_ERR_MISUSE, raft_restore_snapshot(r, -1, 5));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_restore_snapshot(r, 1, -5));
    CHECK_EQ(0, raft_restore_snapshot(r, 2, 10));
    log_after_snapshot(r, 2, 10);
    CHECK_EQ(10, raft_get_snapshot_last_idx(r));
    CHECK_EQ(2, raft_get_snapshot_last_term(r));
    CHECK_EQ(10, raft_get_commit_idx(r));
    CHECK_EQ(10, raft_get_last_applied_idx(r));
    CHECK_EQ(10, raft_get_current_idx(r));
    CHECK_EQ(2, raft_get_current_term(r));
    /* Only once, and only on a server that has not started. */
    CHECK_EQ(RAFT_ERR_MISUSE, raft_restore_snapshot(r, 3, 20));
    CHECK_EQ(10, raft_get_snapshot_last_idx(r));
    kv_destroy(&cl);

    kv_init(&cl, 0);
    me = kv_start(&cl, 1, 3, 1);
    CHECK_EQ(0, raft_set_current_term(me->raft, 4));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_restore_snapshot(me->raft, 2, 10));
    CHECK_EQ(0, raft_get_snapshot_last_idx(me->raft));
    kv_destroy(&cl);
}

static void test_restored_vote_is_kept(void)
{
    kv_init(&cl, 0);
    kv_node_t *me = kv_start(&cl, 1, 3, 1);
    raft_server_t *r = me->raft;
    CHECK_EQ(0, raft_restore_metadata(r, 5, 2));
    CHECK_EQ(5, raft_get_current_term(r));
    CHECK_EQ(2, raft_get_voted_for(r));

    /* It already voted for node 2 in term 5: node 3 is refused, node 2 is not. */
    raft_requestvote_req_t req = {0, 5, 3, 0, 0};
    raft_requestvote_resp_t resp;
    memset(&resp, 0, sizeof(resp));
    CHECK_EQ(0, raft_recv_requestvote(r, raft_get_node(r, 3), &req, &resp));
    CHECK_EQ(0, resp.vote_granted);
    req.candidate_id = 2;
    CHECK_EQ(0, raft_recv_requestvote(r, raft_get_node(r, 2), &req, &resp));
    CHECK_EQ(1, resp.vote_granted);
    CHECK_EQ(5, resp.term);
    /* A stale term is refused outright. */
    req.term = 4;
    CHECK_EQ(0, raft_recv_requestvote(r, raft_get_node(r, 2), &req, &resp));
    CHECK_EQ(0, resp.vote_granted);
    kv_destroy(&cl);
}

static void test_restart_log_only_with_snapshot_gap(void)
{
    /* Restoring a snapshot, then entries that follow it, then no metadata
     * yet: the term is the snapshot's and the server is a follower. */
    kv_init(&cl, 0);
    kv_node_t *me = kv_start(&cl, 1, 3, 1);
    raft_server_t *r = me->raft;
    CHECK_EQ(0, raft_restore_snapshot(r, 3, 7));
    log_after_snapshot(r, 3, 7);
    for (int i = 0; i < 3; i++) {
        raft_entry_t *e = kv_set_entry(&cl, "k", "v");
        e->term = 3;
        CHECK_EQ(0, raft_append_entry(r, e));
        raft_entry_release(e);
    }
#if HAVE_RAFT_RESTORE_LOG
    CHECK_EQ(0, raft_restore_log(r));
#endif
    CHECK_EQ(10, raft_get_current_idx(r));
    CHECK_EQ(7, raft_get_commit_idx(r));
    CHECK_EQ(3, raft_get_last_log_term(r));
    CHECK_EQ(1, raft_is_follower(r));
    raft_entry_t *e = raft_get_entry_from_idx(r, 8);
    CHECK(e != NULL);
    if (e) {
        CHECK_EQ(3, e->term);
        raft_entry_release(e);
    }
    CHECK(raft_get_entry_from_idx(r, 7) == NULL);
    kv_destroy(&cl);
}

static void test_restart_with_uncommitted_voting_change(void)
{
    kv_init(&cl, 0);
    kv_node_t *me = kv_start(&cl, 1, 2, 1);
    raft_server_t *r = me->raft;
    CHECK_EQ(0, raft_restore_snapshot(r, 1, 5));
    log_after_snapshot(r, 1, 5);
    raft_entry_t *e = kv_cfg_entry(&cl, RAFT_LOGTYPE_ADD_NONVOTING_NODE, 3);
    e->term = 1;
    CHECK_EQ(0, raft_append_entry(r, e));
    raft_entry_release(e);
    e = kv_cfg_entry(&cl, RAFT_LOGTYPE_ADD_NODE, 3);
    e->term = 1;
    CHECK_EQ(0, raft_append_entry(r, e));
    raft_entry_release(e);
#if HAVE_RAFT_RESTORE_LOG
    CHECK_EQ(0, raft_restore_log(r));
#endif
    CHECK_EQ(0, raft_restore_metadata(r, 1, 1));
    raft_node_t *n3 = raft_get_node(r, 3);
    CHECK(n3 && raft_node_is_voting(n3));
    CHECK(n3 && !raft_node_is_voting_committed(n3));
    CHECK_EQ(1, raft_voting_change_is_in_progress(r));
    CHECK_EQ(3, raft_get_num_voting_nodes(r));

    /* The leader later tells it both entries are committed. */
    raft_set_commit_idx(r, 7);
    CHECK_EQ(0, raft_apply_all(r));
    CHECK_EQ(7, raft_get_last_applied_idx(r));
    CHECK_EQ(0, raft_voting_change_is_in_progress(r));
    n3 = raft_get_node(r, 3);
    CHECK(n3 && raft_node_is_voting_committed(n3) && raft_node_is_addition_committed(n3));
    kv_destroy(&cl);
}

int main(void)
{
    RUN(test_restart_from_snapshot_and_log);
    RUN(test_restart_rebuilds_membership_from_log);
    RUN(test_whole_cluster_restarts);
    RUN(test_restore_snapshot_misuse);
    RUN(test_restored_vote_is_kept);
    RUN(test_restart_log_only_with_snapshot_gap);
    RUN(test_restart_with_uncommitted_voting_change);
    return harness_finish("test_restart");
}
