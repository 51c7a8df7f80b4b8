/* Log compaction in a running cluster: a follower that missed compacted
 * entries is brought up to date with the leader's snapshot, sent in chunks
 * and loaded from the load_snapshot callback. */
#include <stdlib.h>

#include "harness.h"
#include "cluster.h"

static int snapshot_msgs;

static void count_snapshots(cluster_t *cl, const cl_msg_t *m)
{
    (void)cl;
    if (m->type == CL_MSG_SNAPSHOT)
        snapshot_msgs++;
}

static void test_lagging_follower_gets_snapshot(void)
{
    snapshot_msgs = 0;
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.on_message = count_snapshots;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    raft_node_id_t other = 6 - leader - f;
    cluster_isolate(cl, f);
    for (int i = 0; i < 40; i++) {
        CHECK_EQ(0, cluster_submit(cl, leader, i, NULL));
        cluster_run(cl, 10);
    }
    cluster_run(cl, 300);
    raft_server_t *l = cl_raft(cl, leader);
    CHECK_EQ(raft_get_current_idx(l), raft_get_commit_idx(l));
    CHECK(raft_get_num_snapshottable_logs(l) > 0);
    CHECK_EQ(0, cluster_snapshot(cl, leader));
    CHECK_EQ(0, cluster_snapshot(cl, other));
    CHECK(raft_get_snapshot_last_idx(l) >= 40);
    CHECK(raft_get_log_count(l) < raft_get_current_idx(l));
    CHECK_EQ(0, snapshot_msgs); /* f is unreachable: nothing sent yet */

    cluster_heal(cl);
    cluster_run(cl, 2000);
    cl_node_t *fn = cl_node(cl, f);
    CHECK_EQ(1, fn->snapshots_loaded);
    CHECK(snapshot_msgs >= 2); /* the image is bigger than one chunk */
    CHECK_EQ(raft_get_snapshot_last_idx(l), raft_get_snapshot_last_idx(fn->raft));
    CHECK_EQ(raft_get_current_idx(l), raft_get_current_idx(fn->raft));
    CHECK_EQ(raft_get_commit_idx(l), raft_get_last_applied_idx(fn->raft));
    CHECK_EQ(3, raft_get_num_nodes(fn->raft));
    CHECK(cluster_consistent(cl));

    /* Replication continues after the snapshot. */
    for (int i = 40; i < 45; i++)
        CHECK_EQ(0, cluster_submit(cl, leader, i, NULL));
    cluster_run(cl, 500);
    CHECK(cluster_all_applied(cl, raft_get_current_idx(l)));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_snapshot_then_leader_change(void)
{
    cluster_t *cl = cluster_new(5, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    for (int i = 0; i < 30; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    for (raft_node_id_t i = 1; i <= 5; i++)
        CHECK_EQ(0, cluster_snapshot(cl, i));
    raft_node_id_t lagger = leader == 5 ? 4 : 5;
    cluster_isolate(cl, lagger);
    for (int i = 30; i < 50; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    for (raft_node_id_t i = 1; i <= 5; i++)
        if (i != lagger)
            CHECK_EQ(0, cluster_snapshot(cl, i));
    /* A new leader, holding only a snapshot and a short log, must bring the
     * lagging server up to date. */
    cluster_crash(cl, leader);
    cluster_heal(cl);
    raft_node_id_t next = cluster_elect(cl, 20000);
    CHECK(next != 0 && next != leader);
    if (next) {
        CHECK_EQ(0, cluster_submit(cl, next, 50, NULL));
        cluster_run(cl, 2000);
        CHECK(cluster_all_applied(cl, raft_get_current_idx(cl_raft(cl, next))));
        CHECK(cl_node(cl, lagger)->snapshots_loaded >= 1);
    }
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_snapshot_needs_committed_entries(void)
{
    cluster_t *cl = cluster_new(3, 0);
    /* Nothing committed yet: nothing to compact. */
    CHECK(cluster_snapshot(cl, 1) != 0);
    CHECK_EQ(0, raft_snapshot_is_in_progress(cl_raft(cl, 1)));
    cluster_free(cl);
}

int main(void)
{
    RUN(test_lagging_follower_gets_snapshot);
    RUN(test_snapshot_then_leader_change);
    RUN(test_snapshot_needs_committed_entries);
    return harness_finish("test_cluster_snapshot");
}
