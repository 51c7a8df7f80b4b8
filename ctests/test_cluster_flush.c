/* Auto-flush off (the application batches and calls raft_flush), and the
 * raft_config settings a cluster depends on. */
#include <stdlib.h>

#include "harness.h"
#include "cluster.h"

static void manual_flush(cluster_t *cl)
{
    cl->auto_flush = 0;
    for (int i = 1; i <= cl->n; i++) {
        int v = -1;
        CHECK_EQ(0, raft_config(cl_raft(cl, i), 1, RAFT_CONFIG_AUTO_FLUSH, 0));
        CHECK_EQ(0, raft_config(cl_raft(cl, i), 0, RAFT_CONFIG_AUTO_FLUSH, &v));
        CHECK_EQ(0, v);
    }
}

static int queued_appendentries(cluster_t *cl, raft_index_t n_entries)
{
    int count = 0;
    for (cl_msg_t *m = cl->head; m; m = m->next)
        if (m->type == CL_MSG_APPENDENTRIES && m->u.ae.n_entries == n_entries)
            count++;
    return count;
}

static void test_entries_wait_for_flush(void)
{
    cluster_t *cl = cluster_new(3, 0);
    manual_flush(cl);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0);
    if (!leader) {
        cluster_free(cl);
        return;
    }
    cluster_run(cl, 300);
    raft_server_t *l = cl_raft(cl, leader);
    raft_index_t before = raft_get_current_idx(l);
    CHECK_EQ(before, raft_get_commit_idx(l));
    CHECK_EQ(0, raft_get_index_to_sync(l));

    for (int i = 0; i < 3; i++)
        CHECK_EQ(0, cluster_submit(cl, leader, i, NULL));
    /* Nothing is sent or committed until the application flushes. */
    CHECK_EQ(0, cl->queued);
    CHECK_EQ(before, raft_get_commit_idx(l));
    CHECK_EQ(before + 3, raft_get_index_to_sync(l));
    CHECK_EQ(0, raft_get_index_to_sync(l)); /* reported once */

    CHECK_EQ(0, raft_flush(l, before + 3));
    /* One batch of all three entries per follower. */
    CHECK_EQ(2, queued_appendentries(cl, 3));
    cluster_deliver(cl, 1000);
    CHECK_EQ(0, raft_flush(l, 0));
    CHECK_EQ(before + 3, raft_get_commit_idx(l));
    CHECK_EQ(before + 3, raft_get_last_applied_idx(l));

    cluster_run(cl, 500);
    CHECK(cluster_all_applied(cl, before + 3));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_follower_flush_is_harmless(void)
{
    cluster_t *cl = cluster_new(3, 0);
    manual_flush(cl);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    CHECK_EQ(0, raft_get_index_to_sync(cl_raft(cl, f)));
    CHECK_EQ(0, raft_flush(cl_raft(cl, f), 0));
    CHECK_EQ(0, raft_pending_operations(cl_raft(cl, f)));
    cluster_free(cl);
}

static void test_manual_flush_cluster_survives_leader_loss(void)
{
    cluster_t *cl = cluster_new(5, 0);
    manual_flush(cl);
    raft_node_id_t old = cluster_elect(cl, 10000);
    for (int i = 0; i < 10; i++)
        cluster_submit(cl, old, i, NULL);
    cluster_run(cl, 500);
    cluster_crash(cl, old);
    raft_node_id_t leader = cluster_elect(cl, 20000);
    CHECK(leader != 0 && leader != old);
    if (leader) {
        for (int i = 10; i < 20; i++)
            CHECK_EQ(0, cluster_submit(cl, leader, i, NULL));
        cluster_run(cl, 1000);
        CHECK(cluster_all_applied(cl, raft_get_current_idx(cl_raft(cl, leader))));
    }
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_config_defaults_and_errors(void)
{
    cluster_t *cl = cluster_new(1, 0);
    raft_server_t *r = cl_raft(cl, 1);
    int v = -1;
    CHECK_EQ(0, raft_config(r, 0, RAFT_CONFIG_ELECTION_TIMEOUT, &v));
    CHECK_EQ(1000, v);
    CHECK_EQ(0, raft_config(r, 0, RAFT_CONFIG_REQUEST_TIMEOUT, &v));
    CHECK_EQ(200, v);
    CHECK_EQ(0, raft_config(r, 0, RAFT_CONFIG_AUTO_FLUSH, &v));
    CHECK_EQ(1, v);
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_ELECTION_TIMEOUT, 300));
    CHECK_EQ(0, raft_config(r, 0, RAFT_CONFIG_ELECTION_TIMEOUT, &v));
    CHECK_EQ(300, v);
    CHECK_EQ(RAFT_ERR_NOTFOUND, raft_config(r, 1, (raft_config_e)999, 1));
    cluster_free(cl);
}

/* Shorter timeouts set through raft_config make elections faster. */
static void test_short_election_timeout(void)
{
    cluster_t *cl = cluster_new(3, 0);
    for (int i = 1; i <= 3; i++) {
        raft_config(cl_raft(cl, i), 1, RAFT_CONFIG_ELECTION_TIMEOUT, 100);
        raft_config(cl_raft(cl, i), 1, RAFT_CONFIG_REQUEST_TIMEOUT, 20);
    }
    cluster_run(cl, 10);
    raft_node_id_t leader = cluster_elect(cl, 600);
    CHECK(leader != 0);
    cluster_free(cl);
}

int main(void)
{
    RUN(test_entries_wait_for_flush);
    RUN(test_follower_flush_is_harmless);
    RUN(test_manual_flush_cluster_survives_leader_loss);
    RUN(test_config_defaults_and_errors);
    RUN(test_short_election_timeout);
    return harness_finish("test_cluster_flush");
}
