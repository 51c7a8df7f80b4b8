/* Snapshots through the public C API: begin/end/cancel, log compaction,
 * non-blocking apply, loading a snapshot, and installing one on a lagging
 * follower in chunks with back-pressure and retries. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "kv_cluster.h"

static kv_cluster_t cl;

/* A single-voter cluster: it elects itself and commits on its own. */
static kv_node_t *single_leader(int writes)
{
    kv_init(&cl, 0);
    kv_node_t *me = kv_start(&cl, 1, 1, 1);
    kv_run(&cl, 20);
    CHECK_EQ(1, raft_is_leader(me->raft));
    char key[16];
    for (int i = 0; i < writes; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        CHECK_EQ(0, kv_set(&cl, key, "v"));
    }
    return me;
}

static void submit(raft_server_t *r, const char *key, const char *val)
{
    raft_entry_resp_t resp;
    raft_entry_t *e = kv_set_entry(&cl, key, val);
    CHECK_EQ(0, raft_recv_entry(r, e, &resp));
    raft_entry_release(e);
}

static void test_begin_end_compacts_the_log(void)
{
    kv_node_t *me = single_leader(5);
    raft_server_t *r = me->raft;
    raft_index_t idx = raft_get_current_idx(r);
    raft_term_t term = raft_get_current_term(r);
    CHECK_EQ(6, idx);   /* the leader's no-op and five writes */
    CHECK(raft_get_num_snapshottable_logs(r) > 0);
    CHECK_EQ(0, raft_snapshot_is_in_progress(r));

    CHECK_EQ(0, raft_begin_snapshot(r));
    CHECK_EQ(1, raft_snapshot_is_in_progress(r));
    CHECK_EQ(0, raft_is_apply_allowed(r));
    /* While snapshotting, new entries commit but are not applied. */
    submit(r, "later", "1");
    kv_run(&cl, 50);
    CHECK_EQ(idx + 1, raft_get_commit_idx(r));
    CHECK_EQ(idx, raft_get_last_applied_idx(r));
    CHECK(kv_get(&me->table, "later") == NULL);

    CHECK_EQ(0, raft_end_snapshot(r));
    CHECK_EQ(0, raft_snapshot_is_in_progress(r));
    CHECK_EQ(1, raft_is_apply_allowed(r));
    CHECK_EQ(idx, raft_get_snapshot_last_idx(r));
    CHECK_EQ(term, raft_get_snapshot_last_term(r));
    CHECK_EQ(1, raft_get_log_count(r));
    CHECK_EQ(idx + 1, raft_get_current_idx(r));
    CHECK(raft_get_entry_from_idx(r, idx) == NULL);
    CHECK(raft_get_entry_from_idx(r, 1) == NULL);
    raft_entry_t *e = raft_get_entry_from_idx(r, idx + 1);
    CHECK(e != NULL);
    if (e)
        raft_entry_release(e);

    kv_run(&cl, 50);
    CHECK_EQ(idx + 1, raft_get_last_applied_idx(r));
    CHECK(kv_get(&me->table, "later") != NULL);
    /* The log keeps growing from where it was. */
    CHECK_EQ(0, kv_set(&cl, "more", "2"));
    CHECK_EQ(idx + 2, raft_get_current_idx(r));
    kv_destroy(&cl);
}

static void test_cancel_keeps_everything(void)
{
    kv_node_t *me = single_leader(3);
    raft_server_t *r = me->raft;
    raft_index_t count = raft_get_log_count(r);
    CHECK_EQ(0, raft_begin_snapshot(r));
    CHECK_EQ(0, raft_cancel_snapshot(r));
    CHECK_EQ(0, raft_snapshot_is_in_progress(r));
    CHECK_EQ(1, raft_is_apply_allowed(r));
    CHECK_EQ(0, raft_get_snapshot_last_idx(r));
    CHECK_EQ(count, raft_get_log_count(r));
    CHECK(raft_end_snapshot(r) != 0);   /* nothing to end */
    raft_entry_t *e = raft_get_entry_from_idx(r, 1);
    CHECK(e != NULL);
    if (e)
        raft_entry_release(e);
    /* A later snapshot still works. */
    CHECK_EQ(0, raft_begin_snapshot(r));
    CHECK_EQ(0, raft_end_snapshot(r));
    CHECK_EQ(raft_get_commit_idx(r), raft_get_snapshot_last_idx(r));
    kv_destroy(&cl);
}

static void test_nothing_to_snapshot(void)
{
    kv_init(&cl, 0);
    kv_node_t *me = kv_start(&cl, 1, 3, 1);
    CHECK_EQ(0, raft_get_num_snapshottable_logs(me->raft));
    CHECK(raft_begin_snapshot(me->raft) != 0);
    CHECK_EQ(0, raft_snapshot_is_in_progress(me->raft));
    CHECK(raft_end_snapshot(me->raft) != 0);
    kv_destroy(&cl);
}

static void test_nonblocking_apply(void)
{
    kv_node_t *me = single_leader(3);
    raft_server_t *r = me->raft;
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_NONBLOCKING_APPLY, 1));
    raft_index_t idx = raft_get_current_idx(r);
    CHECK_EQ(0, raft_begin_snapshot(r));
    CHECK_EQ(1, raft_is_apply_allowed(r));
    submit(r, "during", "1");
    kv_run(&cl, 50);
    CHECK_EQ(idx + 1, raft_get_last_applied_idx(r));
    CHECK(kv_get(&me->table, "during") != NULL);
    CHECK_EQ(0, raft_end_snapshot(r));
    /* The snapshot covers what was applied when it began. */
    CHECK_EQ(idx, raft_get_snapshot_last_idx(r));
    CHECK_EQ(1, raft_get_log_count(r));
    kv_destroy(&cl);
}

static void test_begin_load_snapshot_rules(void)
{
    kv_init(&cl, 0);
    kv_node_t *me = kv_start(&cl, 1, 3, 1);
    raft_server_t *r = me->raft;
    CHECK_EQ(RAFT_ERR_MISUSE, raft_begin_load_snapshot(r, 0, 5));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_begin_load_snapshot(r, 2, 0));

    CHECK_EQ(0, raft_begin_load_snapshot(r, 2, 5));
    /* Every node but ourselves is gone until the snapshot's membership is loaded. */
    CHECK_EQ(1, raft_get_num_nodes(r));
    CHECK(raft_get_my_node(r) != NULL);
    raft_add_node(r, NULL, 2, 0);
    raft_add_non_voting_node(r, NULL, 3, 0);
    raft_node_set_voting(raft_get_my_node(r), 1);
    CHECK_EQ(0, raft_end_load_snapshot(r));

    CHECK_EQ(5, raft_get_snapshot_last_idx(r));
    CHECK_EQ(2, raft_get_snapshot_last_term(r));
    CHECK_EQ(5, raft_get_commit_idx(r));
    CHECK_EQ(5, raft_get_last_applied_idx(r));
    CHECK_EQ(5, raft_get_current_idx(r));
    CHECK_EQ(0, raft_get_log_count(r));
    CHECK(raft_get_current_term(r) >= 2);
    CHECK_EQ(3, raft_get_num_nodes(r));
    CHECK_EQ(2, raft_get_num_voting_nodes(r));
    raft_node_t *n2 = raft_get_node(r, 2), *n3 = raft_get_node(r, 3);
    CHECK(n2 && raft_node_is_voting_committed(n2) && raft_node_is_addition_committed(n2));
    CHECK(n3 && !raft_node_is_voting_committed(n3) && raft_node_is_addition_committed(n3));

    CHECK_EQ(RAFT_ERR_SNAPSHOT_ALREADY_LOADED, raft_begin_load_snapshot(r, 2, 5));
    CHECK(raft_begin_load_snapshot(r, 2, 4) != 0);
    CHECK_EQ(3, raft_get_num_nodes(r));
    /* A newer snapshot can still be loaded. */
    CHECK_EQ(0, raft_begin_load_snapshot(r, 3, 9));
    raft_add_node(r, NULL, 2, 0);
    CHECK_EQ(0, raft_end_load_snapshot(r));
    CHECK_EQ(9, raft_get_snapshot_last_idx(r));
    CHECK_EQ(2, raft_get_num_nodes(r));
    kv_destroy(&cl);
}

static void test_follower_snapshots_its_own_log(void)
{
    kv_init(&cl, 3);
    CHECK(kv_wait_leader(&cl));
    CHECK_EQ(0, kv_set(&cl, "a", "1"));
    CHECK_EQ(0, kv_set(&cl, "b", "2"));
    kv_node_t *l = kv_leader(&cl);
    if (!l)
        goto out;
    kv_node_t *f = &cl.nodes[l->id == 1 ? 2 : 1];
    raft_index_t commit = raft_get_commit_idx(f->raft);
    CHECK_EQ(0, kv_take_snapshot(f));
    CHECK_EQ(commit, raft_get_snapshot_last_idx(f->raft));
    CHECK_EQ(raft_get_current_idx(f->raft) - commit, raft_get_log_count(f->raft));
    CHECK_EQ(0, kv_set(&cl, "c", "3"));
    CHECK(kv_same_data(&cl));
out:
    kv_destroy(&cl);
}

/* Cuts follower `lag` off, writes, snapshots the leader, writes once more, and
 * reconnects it. Returns the leader. */
static kv_node_t *leave_behind(int lag)
{
    kv_init(&cl, 3);
    CHECK(kv_wait_leader(&cl));
    CHECK_EQ(0, kv_set(&cl, "a", "1"));
    kv_node_t *l = kv_leader(&cl);
    if (!l || l->id == lag) {   /* make sure the lagging node is a follower */
        if (l)
            raft_become_follower(l->raft);
        cl.nodes[lag].group = 1;
        CHECK(kv_wait_leader(&cl));
        cl.nodes[lag].group = 0;
        CHECK(kv_run_until(&cl, kv_converged, NULL, 5000));
        l = kv_leader(&cl);
    }
    if (!l || l->id == lag)
        return NULL;
    cl.nodes[lag].group = 1;
    const char *keys[] = {"b", "c", "d", "e", "f", "g", "h", "a"};
    for (int i = 0; i < 8; i++)
        CHECK_EQ(0, kv_set(&cl, keys[i], "value-after-cut"));
    CHECK_EQ(0, kv_take_snapshot(l));
    CHECK(raft_get_snapshot_last_idx(l->raft) > raft_get_current_idx(cl.nodes[lag].raft));
    CHECK_EQ(0, kv_set(&cl, "i", "after-snapshot"));
    cl.nodes[lag].group = 0;
    return l;
}

static void test_install_snapshot_in_chunks(void)
{
    kv_node_t *l = leave_behind(3);
    CHECK(l != NULL);
    if (!l)
        goto out;
    kv_node_t *f = &cl.nodes[3];
    CHECK(kv_run_until(&cl, kv_converged, NULL, 10000));
    size_t chunks = (l->snap_len + cl.chunk_size - 1) / cl.chunk_size;
    CHECK(chunks >= 3);
    CHECK((size_t)f->n_store_chunk >= chunks);
    CHECK_EQ(0, f->store_out_of_order);
    CHECK_EQ(1, f->n_load_ok);
    CHECK(l->n_backpressure > 0);   /* at most two chunks were ever in flight */
    CHECK_EQ(raft_get_snapshot_last_idx(l->raft), raft_get_snapshot_last_idx(f->raft));
    CHECK_EQ(raft_get_snapshot_last_term(l->raft), raft_get_snapshot_last_term(f->raft));
    CHECK(kv_tables_equal(&l->table, &f->table));
    CHECK_EQ(3, raft_get_num_voting_nodes(f->raft));
    CHECK_EQ(3, raft_get_num_nodes(f->raft));
    /* It takes part in replication again. */
    CHECK_EQ(0, kv_set(&cl, "j", "end"));
    CHECK_EQ(raft_get_current_idx(l->raft), raft_get_current_idx(f->raft));
    CHECK(kv_same_data(&cl));
out:
    kv_destroy(&cl);
}

static void test_backpressure_one_chunk_at_a_time(void)
{
    kv_node_t *l = leave_behind(2);
    CHECK(l != NULL);
    if (!l)
        goto out;
    cl.max_in_flight = 1;
    cl.chunk_size = 16;
    CHECK(kv_run_until(&cl, kv_converged, NULL, 20000));
    size_t chunks = (l->snap_len + 15) / 16;
    CHECK((size_t)cl.nodes[2].n_store_chunk >= chunks);
    CHECK(l->n_backpressure >= 1);
    CHECK_EQ(1, cl.nodes[2].n_load_ok);
    CHECK(kv_same_data(&cl));
out:
    kv_destroy(&cl);
}

static void test_load_failure_is_retried(void)
{
    kv_node_t *l = leave_behind(3);
    CHECK(l != NULL);
    if (!l)
        goto out;
    kv_node_t *f = &cl.nodes[3];
    f->load_failures_to_inject = 1;
    CHECK(kv_run_until(&cl, kv_converged, NULL, 20000));
    CHECK(f->n_load >= 2);
    CHECK_EQ(1, f->n_load_ok);
    CHECK(kv_tables_equal(&l->table, &f->table));
    CHECK_EQ(0, kv_set(&cl, "j", "end"));
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

static void test_new_node_joins_from_snapshot(void)
{
    kv_init(&cl, 3);
    CHECK(kv_wait_leader(&cl));
    CHECK_EQ(0, kv_set(&cl, "a", "1"));
    CHECK_EQ(0, kv_set(&cl, "b", "2"));
    kv_node_t *l = kv_leader(&cl);
    if (!l)
        goto out;
    CHECK_EQ(0, kv_take_snapshot(l));
    l->auto_promote = 1;
    kv_start(&cl, 4, 3, 0);
    CHECK_EQ(0, kv_submit_cfg(&cl, l->raft, RAFT_LOGTYPE_ADD_NONVOTING_NODE, 4, NULL));
    CHECK(kv_run_until(&cl, node4_voting_everywhere, NULL, 20000));
    kv_node_t *n4 = &cl.nodes[4];
    CHECK_EQ(1, n4->n_load_ok);
    CHECK(kv_tables_equal(&l->table, &n4->table));
    CHECK_EQ(4, raft_get_num_voting_nodes(n4->raft));
    CHECK_EQ(0, kv_set(&cl, "c", "3"));
    CHECK(kv_same_data(&cl));
out:
    kv_destroy(&cl);
}

static void test_stale_snapshot_is_acknowledged(void)
{
    /* A follower that already has a snapshot answers a resend of it as done. */
    kv_node_t *l = leave_behind(3);
    CHECK(l != NULL);
    if (!l)
        goto out;
    CHECK(kv_run_until(&cl, kv_converged, NULL, 10000));
    kv_node_t *f = &cl.nodes[3];
    raft_node_t *leader_on_f = raft_get_node(f->raft, l->id);
    raft_snapshot_req_t req;
    raft_snapshot_resp_t resp;
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.term = raft_get_current_term(l->raft);
    req.leader_id = l->id;
    req.msg_id = 1;
    req.snapshot_index = raft_get_snapshot_last_idx(l->raft);
    req.snapshot_term = raft_get_snapshot_last_term(l->raft);
    req.chunk.data = l->snap;
    req.chunk.len = 8;
    int loads = f->n_load;
    CHECK_EQ(0, raft_recv_snapshot(f->raft, leader_on_f, &req, &resp));
    CHECK_EQ(1, resp.success);
    CHECK_EQ(1, resp.last_chunk);
    CHECK_EQ(loads, f->n_load);
    CHECK_EQ(0, kv_set(&cl, "j", "end"));
out:
    kv_destroy(&cl);
}

/* Runs the clock but delivers one message at a time, until `f` has stored
 * `chunks` chunks of an incoming snapshot. */
static int stop_after_chunks(kv_node_t *f, int chunks)
{
    for (int t = 0; t < 1000; t++) {
        cl.now_us += KV_TICK_MS * 1000;
        for (int id = 1; id <= KV_MAX; id++)
            if (cl.nodes[id].present)
                raft_periodic(cl.nodes[id].raft);
        while (kv_deliver_one(&cl))
            if (f->n_store_chunk >= chunks)
                return 1;
    }
    return 0;
}

static void test_newer_snapshot_replaces_partial_transfer(void)
{
    kv_node_t *l = leave_behind(3);
    CHECK(l != NULL);
    if (!l)
        goto out;
    kv_node_t *f = &cl.nodes[3];
    cl.chunk_size = 8;
    cl.max_in_flight = 1;
    CHECK(stop_after_chunks(f, 2));
    raft_index_t first = raft_get_snapshot_last_idx(l->raft);
    /* Cut it off mid-transfer; the leader moves on to a newer snapshot. */
    f->group = 1;
    CHECK_EQ(0, kv_set(&cl, "x", "1"));
    CHECK_EQ(0, kv_set(&cl, "y", "2"));
    CHECK_EQ(0, kv_take_snapshot(l));
    CHECK(raft_get_snapshot_last_idx(l->raft) > first);
    f->group = 0;
    CHECK(kv_run_until(&cl, kv_converged, NULL, 20000));
    CHECK(f->n_clear >= 1);   /* the partial file was dismissed */
    CHECK_EQ(0, f->store_out_of_order);
    CHECK_EQ(1, f->n_load_ok);
    CHECK_EQ(raft_get_snapshot_last_idx(l->raft), raft_get_snapshot_last_idx(f->raft));
    CHECK(kv_tables_equal(&l->table, &f->table));
out:
    kv_destroy(&cl);
}

static void test_chunk_errors_are_retried(void)
{
    kv_node_t *l = leave_behind(2);
    CHECK(l != NULL);
    if (!l)
        goto out;
    l->chunk_errors_to_inject = 3;
    CHECK(kv_run_until(&cl, kv_converged, NULL, 20000));
    CHECK_EQ(0, l->chunk_errors_to_inject);
    CHECK_EQ(1, cl.nodes[2].n_load_ok);
    CHECK(kv_same_data(&cl));
out:
    kv_destroy(&cl);
}

static void test_voting_change_waits_for_snapshot(void)
{
    kv_init(&cl, 3);
    CHECK(kv_wait_leader(&cl));
    CHECK_EQ(0, kv_set(&cl, "a", "1"));
    kv_node_t *l = kv_leader(&cl);
    if (!l)
        goto out;
    raft_entry_resp_t resp;
    CHECK_EQ(0, raft_begin_snapshot(l->raft));
    /* The membership being snapshotted must not change underneath. */
    CHECK_EQ(RAFT_ERR_SNAPSHOT_IN_PROGRESS,
             kv_submit_cfg(&cl, l->raft, RAFT_LOGTYPE_ADD_NODE, 4, &resp));
    CHECK_EQ(RAFT_ERR_SNAPSHOT_IN_PROGRESS,
             kv_submit_cfg(&cl, l->raft, RAFT_LOGTYPE_REMOVE_NODE, 3, &resp));
    submit(l->raft, "b", "2");
    free(l->snap);
    l->snap = kv_serialize(l, &l->snap_len);
    CHECK_EQ(0, raft_end_snapshot(l->raft));
    CHECK_EQ(0, kv_submit_cfg(&cl, l->raft, RAFT_LOGTYPE_ADD_NONVOTING_NODE, 4, &resp));
    CHECK(kv_wait_committed(&cl, l, resp));
out:
    kv_destroy(&cl);
}

static void test_lost_chunk_resumes_from_follower_offset(void)
{
    kv_node_t *l = leave_behind(3);
    CHECK(l != NULL);
    if (!l)
        goto out;
    kv_node_t *f = &cl.nodes[3];
    cl.chunk_size = 16;
    cl.drop_chunk_armed = 1;   /* the second chunk is lost on the way */
    cl.drop_chunk_offset = 16;
    l->watch_offset = 16;
    CHECK(kv_run_until(&cl, kv_converged, NULL, 20000));
    CHECK_EQ(0, cl.drop_chunk_armed);
    CHECK(l->n_watch_offset >= 2);   /* that chunk was served again */
    CHECK_EQ(0, f->store_out_of_order);   /* out-of-order chunks never reach the store */
    CHECK_EQ(1, f->n_load_ok);
    CHECK(kv_tables_equal(&l->table, &f->table));
out:
    kv_destroy(&cl);
}

int main(void)
{
    RUN(test_begin_end_compacts_the_log);
    RUN(test_cancel_keeps_everything);
    RUN(test_nothing_to_snapshot);
    RUN(test_nonblocking_apply);
    RUN(test_begin_load_snapshot_rules);
    RUN(test_follower_snapshots_its_own_log);
    RUN(test_install_snapshot_in_chunks);
    RUN(test_backpressure_one_chunk_at_a_time);
    RUN(test_new_node_joins_from_snapshot);
    RUN(test_stale_snapshot_is_acknowledged);
    RUN(test_load_failure_is_retried);
    RUN(test_newer_snapshot_replaces_partial_transfer);
    RUN(test_chunk_errors_are_retried);
    RUN(test_lost_chunk_resumes_from_follower_offset);
    RUN(test_voting_change_waits_for_snapshot);
    return harness_finish("test_snapshot");
}
