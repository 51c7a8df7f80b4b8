/* Leader transfer: to a chosen node, to an automatically chosen node, and
 * giving up after the timeout; plus the errors raft_transfer_leader reports. */
#include <stdlib.h>

#include "harness.h"
#include "cluster.h"

static int reentrant_bad;

static void transfer_reenter(cl_node_t *n, raft_leader_transfer_e result)
{
    (void)result;
    /* Getters are usable from inside the notification. */
    if (raft_get_nodeid(n->raft) != n->id || raft_get_num_nodes(n->raft) != n->cl->n)
        reentrant_bad++;
    (void)raft_get_transfer_leader(n->raft);
    (void)raft_is_leader(n->raft);
}

static void test_transfer_to_chosen_node(void)
{
    reentrant_bad = 0;
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.transfer_event = transfer_reenter;
    raft_node_id_t old = cluster_elect(cl, 10000);
    for (int i = 0; i < 5; i++)
        cluster_submit(cl, old, i, NULL);
    cluster_run(cl, 300);
    raft_node_id_t target = old == 3 ? 1 : old + 1;
    raft_term_t term = raft_get_current_term(cl_raft(cl, old));

    CHECK_EQ(0, raft_transfer_leader(cl_raft(cl, old), target, 0));
    CHECK_EQ(target, raft_get_transfer_leader(cl_raft(cl, old)));
    /* No new entries while a transfer is in progress. */
    CHECK_EQ(RAFT_ERR_LEADER_TRANSFER_IN_PROGRESS, cluster_submit(cl, old, 99, NULL));
    CHECK_EQ(RAFT_ERR_LEADER_TRANSFER_IN_PROGRESS, raft_transfer_leader(cl_raft(cl, old), target, 0));
    cluster_run(cl, 500);

    CHECK_EQ(target, cluster_leader(cl));
    CHECK_EQ(1, cluster_count_leaders(cl));
    CHECK(raft_get_current_term(cl_raft(cl, target)) > term);
    cl_node_t *o = cl_node(cl, old);
    CHECK_EQ(1, o->n.send_timeoutnow);
    CHECK_EQ(1, o->n_transfer_results);
    CHECK_EQ(RAFT_LEADER_TRANSFER_EXPECTED_LEADER, o->transfer_results[0]);
    CHECK_EQ(RAFT_NODE_ID_NONE, raft_get_transfer_leader(cl_raft(cl, old)));
    CHECK_EQ(0, reentrant_bad);
    /* The new leader works. */
    CHECK_EQ(0, cluster_submit(cl, target, 5, NULL));
    cluster_run(cl, 500);
    CHECK(cluster_all_applied(cl, raft_get_current_idx(cl_raft(cl, target))));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_transfer_waits_for_target_to_catch_up(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t old = cluster_elect(cl, 10000);
    raft_node_id_t target = old == 3 ? 1 : old + 1;
    cluster_block(cl, old, target);
    for (int i = 0; i < 5; i++)
        cluster_submit(cl, old, i, NULL);
    cluster_run(cl, 100);
    CHECK_EQ(0, raft_transfer_leader(cl_raft(cl, old), target, 5000));
    /* The target lacks entries: no TimeoutNow yet. */
    CHECK_EQ(0, cl_node(cl, old)->n.send_timeoutnow);
    cluster_heal(cl);
    cluster_run(cl, 800);
    CHECK_EQ(1, cl_node(cl, old)->n.send_timeoutnow);
    CHECK_EQ(target, cluster_leader(cl));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_transfer_automatic_target_is_most_up_to_date(void)
{
    cluster_t *cl = cluster_new(5, 0);
    raft_node_id_t old = cluster_elect(cl, 10000);
    cluster_run(cl, 300);
    /* Only `best` receives the new entries. */
    raft_node_id_t best = 0;
    for (int i = 1; i <= 5; i++) {
        if (i == old)
            continue;
        if (!best)
            best = i;
        else
            cluster_block(cl, old, i);
    }
    for (int i = 0; i < 3; i++)
        cluster_submit(cl, old, i, NULL);
    cluster_run(cl, 50);
    CHECK_EQ(0, raft_transfer_leader(cl_raft(cl, old), RAFT_NODE_ID_NONE, 0));
    CHECK_EQ(best, raft_get_transfer_leader(cl_raft(cl, old)));
    cluster_heal(cl);
    cluster_run(cl, 1000);
    CHECK_EQ(best, cluster_leader(cl));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_transfer_times_out(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t old = cluster_elect(cl, 10000);
    cluster_run(cl, 300);
    raft_node_id_t target = old == 3 ? 1 : old + 1;
    cluster_crash(cl, target);
    CHECK_EQ(0, raft_transfer_leader(cl_raft(cl, old), target, 300));
    cluster_run(cl, 200);
    CHECK_EQ(0, cl_node(cl, old)->n_transfer_results);
    cluster_run(cl, 300);
    cl_node_t *o = cl_node(cl, old);
    CHECK_EQ(1, o->n_transfer_results);
    CHECK_EQ(RAFT_LEADER_TRANSFER_TIMEOUT, o->transfer_results[0]);
    CHECK_EQ(RAFT_NODE_ID_NONE, raft_get_transfer_leader(o->raft));
    /* Still leader, and accepting entries again. */
    CHECK(raft_is_leader(o->raft));
    CHECK_EQ(0, cluster_submit(cl, old, 1, NULL));
    cluster_free(cl);
}

static void test_transfer_errors(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    raft_server_t *l = cl_raft(cl, leader);
    CHECK_EQ(RAFT_ERR_NOT_LEADER, raft_transfer_leader(cl_raft(cl, f), leader, 0));
    CHECK_EQ(RAFT_ERR_INVALID_NODEID, raft_transfer_leader(l, 42, 0));
    CHECK_EQ(RAFT_ERR_INVALID_NODEID, raft_transfer_leader(l, leader, 0));
    CHECK_EQ(RAFT_NODE_ID_NONE, raft_get_transfer_leader(l));
    CHECK_EQ(0, cl_node(cl, leader)->n.send_timeoutnow);
    cluster_free(cl);
}

int main(void)
{
    RUN(test_transfer_to_chosen_node);
    RUN(test_transfer_waits_for_target_to_catch_up);
    RUN(test_transfer_automatic_target_is_most_up_to_date);
    RUN(test_transfer_times_out);
    RUN(test_transfer_errors);
    return harness_finish("test_transfer");
}
