/* Every raft_cbs_t callback fires when it should, with sensible arguments. */
#include <stdlib.h>

#include "harness.h"
#include "cluster.h"

static void test_election_fires_callbacks(void)
{
    cluster_t *cl = cluster_new(3, CL_LOG);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0);
    if (!leader) {
        cluster_free(cl);
        return;
    }
    cluster_run(cl, 500); /* followers learn the no-op is committed */
    raft_term_t term = raft_get_current_term(cl_raft(cl, leader));
    int voters_for_leader = 0;
    for (int i = 1; i <= 3; i++) {
        cl_node_t *n = cl_node(cl, i);
        CHECK(n->n.timestamp > 0);
        CHECK(n->n.log > 0);
        CHECK(n->n.state_event > 0);
        CHECK_EQ(3, n->n.membership_add); /* the static configuration */
        CHECK(n->n.persist_metadata > 0);
        CHECK_EQ(term, n->last_persist_term);
        CHECK(n->n.applylog >= 1); /* the leader's no-op */
        if (i != leader) {
            CHECK(n->last_persist_vote == leader || n->last_persist_vote == RAFT_NODE_ID_NONE);
            if (n->last_persist_vote == leader)
                voters_for_leader++;
        }
    }
    CHECK_EQ(leader, cl_node(cl, leader)->last_persist_vote);
    CHECK(voters_for_leader >= 1);
    CHECK(cl_node(cl, leader)->n.send_appendentries > 0);
    CHECK(cl_node(cl, leader)->n.send_requestvote >= 2);
    cluster_free(cl);
}

static void test_applylog_once_per_entry_in_order(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    for (int i = 0; i < 20; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    for (int i = 1; i <= 3; i++) {
        cl_node_t *n = cl_node(cl, i);
        CHECK_EQ(raft_get_last_applied_idx(n->raft), n->n.applylog);
        CHECK_EQ(n->n.applylog, n->n_applied);
        for (int k = 0; k < n->n_applied; k++)
            CHECK_EQ(k + 1, n->applied[k].idx);
    }
    cluster_free(cl);
}

static void test_log_callback_silent_unless_enabled(void)
{
    cluster_t *cl = cluster_new(3, 0);
    cluster_elect(cl, 10000);
    int enabled = -1;
    CHECK_EQ(0, raft_config(cl_raft(cl, 1), 0, RAFT_CONFIG_LOG_ENABLED, &enabled));
    CHECK_EQ(0, enabled);
    for (int i = 1; i <= 3; i++)
        CHECK_EQ(0, cl_node(cl, i)->n.log);
    cluster_free(cl);
}

static int sufficient_calls;
static raft_node_id_t sufficient_node;

static int note_sufficient(cl_node_t *n, raft_node_t *node)
{
    (void)n;
    sufficient_calls++;
    sufficient_node = raft_node_get_id(node);
    return 0; /* do not call again */
}

static void test_membership_changes_fire_callbacks(void)
{
    sufficient_calls = 0;
    sufficient_node = 0;
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.node_has_sufficient_logs = note_sufficient;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    for (int i = 0; i < 5; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 300);

    cl_node_t *joiner = cluster_add_joiner(cl);
    CHECK(joiner != NULL);
    if (!joiner) {
        cluster_free(cl);
        return;
    }
    CHECK_EQ(0, cluster_submit_cfg(cl, leader, RAFT_LOGTYPE_ADD_NONVOTING_NODE, joiner->id));
    /* The leader learns of the node as soon as the entry is appended. */
    CHECK_EQ(4, cl_node(cl, leader)->n.membership_add);
    raft_node_t *jn = raft_get_node(cl_raft(cl, leader), joiner->id);
    CHECK(jn != NULL);
    if (jn)
        CHECK(!raft_node_is_voting(jn));
    cluster_run(cl, 1000);
    for (int i = 1; i <= 3; i++) {
        CHECK_EQ(4, cl_node(cl, i)->n.membership_add);
        CHECK(cl_node(cl, i)->n.get_node_id > 0);
        CHECK_EQ(4, raft_get_num_nodes(cl_raft(cl, i)));
        CHECK_EQ(3, raft_get_num_voting_nodes(cl_raft(cl, i)));
    }
    /* The joiner caught up: the leader asks whether it may be promoted. */
    CHECK_EQ(1, sufficient_calls);
    CHECK_EQ(joiner->id, sufficient_node);
    CHECK_EQ(raft_get_current_idx(cl_raft(cl, leader)), raft_get_current_idx(joiner->raft));
    CHECK(cluster_consistent(cl));

    /* Removing it fires the remove event once the removal is applied. */
    CHECK_EQ(0, cluster_submit_cfg(cl, leader, RAFT_LOGTYPE_REMOVE_NODE, joiner->id));
    cluster_run(cl, 1000);
    for (int i = 1; i <= 3; i++) {
        CHECK_EQ(1, cl_node(cl, i)->n.membership_remove);
        CHECK(raft_get_node(cl_raft(cl, i), joiner->id) == NULL);
        CHECK_EQ(3, raft_get_num_nodes(cl_raft(cl, i)));
    }
    cluster_free(cl);
}

static raft_index_t max_batch;

static int note_batch(cl_node_t *n, raft_node_t *to, raft_appendentries_req_t *m)
{
    (void)n;
    (void)to;
    if (m->n_entries > max_batch)
        max_batch = m->n_entries;
    return 0;
}

static void test_get_entries_to_send_limits_batches(void)
{
    max_batch = 0;
    cluster_t *cl = cluster_new(3, CL_GET_ENTRIES);
    cl->max_entries_per_msg = 2;
    cl->hooks.send_appendentries = note_batch;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    cluster_block(cl, leader, f);
    for (int i = 0; i < 9; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 100);
    cluster_heal(cl);
    cluster_run(cl, 1000);
    CHECK(cl_node(cl, leader)->n.get_entries_to_send > 0);
    CHECK_EQ(2, max_batch);
    raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
    CHECK(cluster_all_applied(cl, last));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static raft_node_id_t pressured;

static int press(cl_node_t *n, raft_node_t *node)
{
    (void)n;
    return raft_node_get_id(node) == pressured ? 1 : 0;
}

static void test_backpressure_holds_back_appendentries(void)
{
    cluster_t *cl = cluster_new(3, CL_BACKPRESSURE);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    raft_index_t f_idx = raft_get_current_idx(cl_raft(cl, f));
    pressured = f;
    cl->hooks.backpressure = press;
    for (int i = 0; i < 5; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    CHECK(cl_node(cl, leader)->n.backpressure > 0);
    CHECK_EQ(f_idx, raft_get_current_idx(cl_raft(cl, f)));
    /* The unpressured majority still commits. */
    raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
    CHECK_EQ(last, raft_get_commit_idx(cl_raft(cl, leader)));

    cl->hooks.backpressure = NULL;
    cluster_run(cl, 1000);
    CHECK_EQ(leader, cluster_leader(cl));
    CHECK(cluster_all_applied(cl, raft_get_current_idx(cl_raft(cl, leader))));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_state_events_track_roles(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    cl_node_t *l = cl_node(cl, leader);
    CHECK(l->n_states > 0);
    if (l->n_states > 0)
        CHECK_EQ(RAFT_STATE_LEADER, l->states[l->n_states - 1]);
    cluster_isolate(cl, leader);
    cluster_run(cl, 6000);
    /* Check-quorum made it step down, and it said so. */
    CHECK(!raft_is_leader(l->raft));
    int saw_follower_after_leader = 0, was_leader = 0;
    for (int k = 0; k < l->n_states; k++) {
        if (l->states[k] == RAFT_STATE_LEADER)
            was_leader = 1;
        else if (was_leader && l->states[k] == RAFT_STATE_FOLLOWER)
            saw_follower_after_leader = 1;
    }
    CHECK(saw_follower_after_leader);
    cluster_free(cl);
}

int main(void)
{
    RUN(test_election_fires_callbacks);
    RUN(test_applylog_once_per_entry_in_order);
    RUN(test_log_callback_silent_unless_enabled);
    RUN(test_membership_changes_fire_callbacks);
    RUN(test_get_entries_to_send_limits_batches);
    RUN(test_backpressure_holds_back_appendentries);
    RUN(test_state_events_track_roles);
    return harness_finish("test_cluster_callbacks");
}
