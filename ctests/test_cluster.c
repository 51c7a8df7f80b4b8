/* Consensus behaviour of whole clusters driven through the C ABI:
 * elections, replication, leader loss, pre-vote and non-voting members. */
#include <stdlib.h>

#include "harness.h"
#include "cluster.h"

/* Every live server follows the same leader in the same term. */
static void check_one_leader(cluster_t *cl, raft_node_id_t leader)
{
    raft_term_t term = raft_get_current_term(cl_raft(cl, leader));
    CHECK_EQ(1, cluster_count_leaders(cl));
    for (int i = 1; i <= cl->n; i++) {
        cl_node_t *n = cl_node(cl, i);
        if (n->down || i == leader)
            continue;
        CHECK(raft_is_follower(n->raft));
        CHECK_EQ(leader, raft_get_leader_id(n->raft));
        CHECK_EQ(term, raft_get_current_term(n->raft));
    }
}

static void elect_in(int size)
{
    cluster_t *cl = cluster_new(size, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0);
    if (leader) {
        check_one_leader(cl, leader);
        CHECK(raft_get_current_term(cl_raft(cl, leader)) >= 1);
        CHECK_EQ(leader, raft_get_nodeid(cl_raft(cl, leader)));
        CHECK_EQ(RAFT_STATE_LEADER, raft_get_state(cl_raft(cl, leader)));
    }
    /* Stays stable: heartbeats keep followers from campaigning. */
    raft_term_t term = leader ? raft_get_current_term(cl_raft(cl, leader)) : 0;
    cluster_run(cl, 10000);
    CHECK_EQ(leader, cluster_leader(cl));
    if (leader)
        CHECK_EQ(term, raft_get_current_term(cl_raft(cl, leader)));
    cluster_free(cl);
}

static void test_three_nodes_elect_one_leader(void) { elect_in(3); }
static void test_five_nodes_elect_one_leader(void) { elect_in(5); }

static void test_single_node_becomes_leader(void)
{
    cluster_t *cl = cluster_new(1, 0);
    cluster_run(cl, 20);
    CHECK(raft_is_leader(cl_raft(cl, 1)));
    CHECK_EQ(0, cluster_submit(cl, 1, 7, NULL));
    cluster_run(cl, 20);
    CHECK_EQ(2, raft_get_commit_idx(cl_raft(cl, 1)));
    CHECK_EQ(2, raft_get_last_applied_idx(cl_raft(cl, 1)));
    cluster_free(cl);
}

/* The normal entries node applied carry values 0..count-1 in order. */
static void check_values_in_order(cl_node_t *n, int count)
{
    int next = 0;
    for (int k = 0; k < n->n_applied; k++) {
        if (n->applied[k].type != RAFT_LOGTYPE_NORMAL)
            continue;
        CHECK_EQ(next, n->applied[k].value);
        next++;
    }
    CHECK_EQ(count, next);
}

static void replicate_in(int size)
{
    const int count = 60;
    cluster_t *cl = cluster_new(size, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0);
    if (!leader) {
        cluster_free(cl);
        return;
    }
    for (int i = 0; i < count; i++) {
        raft_entry_resp_t resp;
        CHECK_EQ(0, cluster_submit(cl, leader, i, &resp));
        CHECK_EQ(raft_get_current_idx(cl_raft(cl, leader)), resp.idx);
        CHECK_EQ(raft_get_current_term(cl_raft(cl, leader)), resp.term);
        if (i % 7 == 0)
            cluster_run(cl, 10);
    }
    cluster_run(cl, 1000);
    raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
    CHECK_EQ(last, raft_get_commit_idx(cl_raft(cl, leader)));
    CHECK(cluster_all_applied(cl, last));
    CHECK(cluster_consistent(cl));
    for (int i = 1; i <= size; i++) {
        cl_node_t *n = cl_node(cl, i);
        CHECK_EQ(last, raft_get_current_idx(n->raft));
        CHECK_EQ(last, raft_get_commit_idx(n->raft));
        check_values_in_order(n, count);
    }
    cluster_free(cl);
}

static void test_three_nodes_replicate_in_order(void) { replicate_in(3); }
static void test_five_nodes_replicate_in_order(void) { replicate_in(5); }

static void test_follower_rejects_entries(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t follower = leader == 1 ? 2 : 1;
    CHECK_EQ(RAFT_ERR_NOT_LEADER, cluster_submit(cl, follower, 1, NULL));
    cluster_free(cl);
}

static void test_committed_entry_is_reported_committed(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_entry_resp_t resp;
    CHECK_EQ(0, cluster_submit(cl, leader, 5, &resp));
    cluster_run(cl, 500);
    CHECK_EQ(1, raft_msg_entry_response_committed(cl_raft(cl, leader), &resp));
    cluster_free(cl);
}

static void test_leader_crash_elects_new_leader(void)
{
    cluster_t *cl = cluster_new(5, 0);
    raft_node_id_t old = cluster_elect(cl, 10000);
    CHECK(old != 0);
    for (int i = 0; i < 10; i++)
        cluster_submit(cl, old, i, NULL);
    cluster_run(cl, 500);
    raft_term_t old_term = raft_get_current_term(cl_raft(cl, old));
    raft_index_t committed = raft_get_commit_idx(cl_raft(cl, old));

    cluster_crash(cl, old);
    raft_node_id_t leader = cluster_elect(cl, 20000);
    CHECK(leader != 0 && leader != old);
    if (leader) {
        CHECK(raft_get_current_term(cl_raft(cl, leader)) > old_term);
        /* Committed entries survive the change of leader. */
        CHECK(raft_get_current_idx(cl_raft(cl, leader)) > committed);
        for (int i = 10; i < 20; i++)
            CHECK_EQ(0, cluster_submit(cl, leader, i, NULL));
        cluster_run(cl, 1000);
        raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
        CHECK_EQ(last, raft_get_commit_idx(cl_raft(cl, leader)));
        CHECK(cluster_all_applied(cl, last));
        for (int i = 1; i <= 5; i++)
            if (i != old)
                check_values_in_order(cl_node(cl, i), 20);
    }
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_isolated_leader_steps_down_and_rejoins(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t old = cluster_elect(cl, 10000);
    cluster_submit(cl, old, 0, NULL);
    cluster_run(cl, 300);
    cluster_isolate(cl, old);
    /* The isolated leader still accepts entries it can never commit. */
    CHECK_EQ(0, cluster_submit(cl, old, 1000, NULL));
    CHECK_EQ(0, cluster_submit(cl, old, 1001, NULL));
    raft_index_t old_commit = raft_get_commit_idx(cl_raft(cl, old));

    cluster_run(cl, 6000);
    /* Check-quorum: without acknowledgements it gave up leadership. */
    CHECK(!raft_is_leader(cl_raft(cl, old)));
    CHECK_EQ(old_commit, raft_get_commit_idx(cl_raft(cl, old)));
    raft_node_id_t leader = cluster_leader(cl);
    CHECK(leader != 0 && leader != old);
    if (leader) {
        CHECK_EQ(0, cluster_submit(cl, leader, 1, NULL));
        cluster_heal(cl);
        cluster_run(cl, 3000);
        leader = cluster_leader(cl);
        CHECK_EQ(1, cluster_count_leaders(cl));
        raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
        CHECK(cluster_all_applied(cl, last));
        /* The uncommitted entries of the old term were replaced everywhere. */
        for (int i = 1; i <= 3; i++)
            check_values_in_order(cl_node(cl, i), 2);
    }
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void test_minority_cannot_commit(void)
{
    cluster_t *cl = cluster_new(5, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_index_t commit = raft_get_commit_idx(cl_raft(cl, leader));
    int crashed = 0;
    for (int i = 1; i <= 5 && crashed < 3; i++)
        if (i != leader) {
            cluster_crash(cl, i);
            crashed++;
        }
    CHECK_EQ(0, cluster_submit(cl, leader, 1, NULL));
    cluster_run(cl, 500);
    CHECK_EQ(commit, raft_get_commit_idx(cl_raft(cl, leader)));
    cluster_free(cl);
}

/* Pre-vote: a partitioned follower keeps campaigning in pre-vote rounds that
 * cannot succeed, so its term does not grow and it does not disturb the
 * leader when it comes back. */
static void test_prevote_isolated_follower_keeps_term(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 3 ? 2 : 3;
    raft_term_t term = raft_get_current_term(cl_raft(cl, leader));

    cluster_isolate(cl, f);
    int rv_before = cl_node(cl, f)->n.send_requestvote;
    cluster_run(cl, 15000);
    CHECK(cl_node(cl, f)->n.send_requestvote > rv_before);
    CHECK_EQ(term, raft_get_current_term(cl_raft(cl, f)));
    CHECK(raft_is_precandidate(cl_raft(cl, f)));
    CHECK_EQ(leader, cluster_leader(cl));

    cluster_heal(cl);
    cluster_run(cl, 3000);
    CHECK_EQ(leader, cluster_leader(cl));
    CHECK_EQ(term, raft_get_current_term(cl_raft(cl, leader)));
    CHECK(raft_is_follower(cl_raft(cl, f)));
    CHECK_EQ(leader, raft_get_leader_id(cl_raft(cl, f)));
    cluster_free(cl);
}

static int prevotes_seen, votes_seen, bad_prevote_term;

static int watch_requestvote(cl_node_t *n, raft_node_t *to, raft_requestvote_req_t *m)
{
    (void)to;
    raft_term_t term = raft_get_current_term(n->raft);
    if (m->prevote) {
        prevotes_seen++;
        if (m->term != term + 1)
            bad_prevote_term++;
    } else {
        votes_seen++;
        if (m->term != term)
            bad_prevote_term++;
    }
    return 0;
}

static void test_prevote_precedes_vote(void)
{
    prevotes_seen = votes_seen = bad_prevote_term = 0;
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.send_requestvote = watch_requestvote;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0);
    CHECK(prevotes_seen >= 2);
    CHECK(votes_seen >= 2);
    CHECK_EQ(0, bad_prevote_term);
    cl_node_t *l = cl_node(cl, leader);
    /* The winner went follower -> pre-candidate -> candidate -> leader. */
    CHECK(l->n_states >= 3);
    if (l->n_states >= 3) {
        CHECK_EQ(RAFT_STATE_PRECANDIDATE, l->states[l->n_states - 3]);
        CHECK_EQ(RAFT_STATE_CANDIDATE, l->states[l->n_states - 2]);
        CHECK_EQ(RAFT_STATE_LEADER, l->states[l->n_states - 1]);
    }
    CHECK_EQ(leader, raft_get_voted_for(l->raft));
    cluster_free(cl);
}

/* A non-voting member replicates and applies, does not count for commit,
 * and never campaigns while it hears from a leader. */
static void test_nonvoter_replicates_without_counting(void)
{
    cluster_t *cl = cluster_new(4, 0);
    for (int i = 1; i <= 4; i++)
        raft_node_set_voting(raft_get_node(cl_raft(cl, i), 4), 0);
    CHECK_EQ(3, raft_get_num_voting_nodes(cl_raft(cl, 1)));
    CHECK(!raft_node_is_voting(raft_get_my_node(cl_raft(cl, 4))));

    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0 && leader != 4);
    for (int i = 0; i < 5; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
    CHECK(cluster_all_applied(cl, last));
    check_values_in_order(cl_node(cl, 4), 5);
    CHECK_EQ(0, cl_node(cl, 4)->n.send_requestvote);

    /* Two of three voters suffice even with the non-voter down. */
    cluster_crash(cl, 4);
    raft_node_id_t other = 0;
    for (int i = 1; i <= 3 && !other; i++)
        if (i != leader)
            other = i;
    cluster_crash(cl, other);
    CHECK_EQ(0, cluster_submit(cl, leader, 5, NULL));
    cluster_run(cl, 500);
    CHECK_EQ(raft_get_current_idx(cl_raft(cl, leader)), raft_get_commit_idx(cl_raft(cl, leader)));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

int main(void)
{
    RUN(test_three_nodes_elect_one_leader);
    RUN(test_five_nodes_elect_one_leader);
    RUN(test_single_node_becomes_leader);
    RUN(test_three_nodes_replicate_in_order);
    RUN(test_five_nodes_replicate_in_order);
    RUN(test_follower_rejects_entries);
    RUN(test_committed_entry_is_reported_committed);
    RUN(test_leader_crash_elects_new_leader);
    RUN(test_isolated_leader_steps_down_and_rejoins);
    RUN(test_minority_cannot_commit);
    RUN(test_prevote_isolated_follower_keeps_term);
    RUN(test_prevote_precedes_vote);
    RUN(test_nonvoter_replicates_without_counting);
    return harness_finish("test_cluster");
}
