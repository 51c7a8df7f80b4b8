/* Callbacks that call back into the library on the same server: getters and
 * setters from applylog, send_*, notify_*, persist_metadata, backpressure,
 * and raft_recv_entry from node_has_sufficient_logs (how a node is promoted). */
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "cluster.h"
#include "raft_log.h"

static int calls, bad;

static void reset(void) { calls = bad = 0; }

static int apply_reenter(cl_node_t *n, raft_entry_t *e, raft_index_t idx)
{
    raft_server_t *r = n->raft;
    calls++;
    if (raft_get_commit_idx(r) < idx || raft_get_current_idx(r) < idx)
        bad++;
    if (raft_get_last_applied_idx(r) != idx - 1)
        bad++;
    raft_entry_t *got = raft_get_entry_from_idx(r, idx);
    if (!got || got->id != e->id || got->term != e->term)
        bad++;
    if (got)
        raft_entry_release(got);
    raft_node_t *me = raft_get_my_node(r);
    raft_node_set_udata(me, (void *)(intptr_t)idx);
    if (raft_node_get_udata(me) != (void *)(intptr_t)idx)
        bad++;
    if (raft_is_leader(r)) {
        for (raft_node_id_t id = 1; id <= n->cl->n; id++) {
            raft_node_t *peer = raft_get_node(r, id);
            if (peer && peer != me)
                raft_node_set_next_idx(peer, raft_node_get_next_idx(peer));
        }
    } else if (cluster_submit(n->cl, n->id, -1, NULL) != RAFT_ERR_NOT_LEADER) {
        bad++;
    }
    return 0;
}

static void test_getters_and_setters_inside_applylog(void)
{
    reset();
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.applylog = apply_reenter;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    for (int i = 0; i < 10; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
    CHECK(calls >= 3 * (int)last);
    CHECK_EQ(0, bad);
    CHECK(cluster_all_applied(cl, last));
    CHECK(cluster_consistent(cl));
    for (int i = 1; i <= 3; i++)
        CHECK(raft_node_get_udata(raft_get_my_node(cl_raft(cl, i))) == (void *)(intptr_t)last);
    cluster_free(cl);
}

static int marker;

static int send_ae_reenter(cl_node_t *n, raft_node_t *to, raft_appendentries_req_t *m)
{
    raft_server_t *r = n->raft;
    calls++;
    if (!raft_is_leader(r) || raft_get_current_term(r) != m->term)
        bad++;
    if (raft_get_commit_idx(r) != m->leader_commit)
        bad++;
    if (raft_node_get_next_idx(to) != m->prev_log_idx + 1)
        bad++;
    if (raft_node_get_match_idx(to) > raft_get_current_idx(r))
        bad++;
    if (raft_get_node(r, raft_node_get_id(to)) != to)
        bad++;
    raft_node_set_udata(to, &marker);
    return 0;
}

static int send_rv_reenter(cl_node_t *n, raft_node_t *to, raft_requestvote_req_t *m)
{
    raft_server_t *r = n->raft;
    calls++;
    if (m->prevote ? !raft_is_precandidate(r) : !raft_is_candidate(r))
        bad++;
    if (!m->prevote && (raft_get_voted_for(r) != n->id || raft_get_current_term(r) != m->term))
        bad++;
    if (m->last_log_idx != raft_get_current_idx(r) || m->last_log_term != raft_get_last_log_term(r))
        bad++;
    if (raft_get_nvotes_for_me(r) < 0 || raft_node_get_id(to) == n->id)
        bad++;
    raft_node_set_udata(to, &marker);
    return 0;
}

static void test_getters_and_setters_inside_send_callbacks(void)
{
    reset();
    cluster_t *cl = cluster_new(5, 0);
    cl->hooks.send_appendentries = send_ae_reenter;
    cl->hooks.send_requestvote = send_rv_reenter;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0);
    for (int i = 0; i < 10; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    CHECK(calls > 10);
    CHECK_EQ(0, bad);
    for (int i = 1; i <= 5; i++)
        if (i != leader)
            CHECK(raft_node_get_udata(raft_get_node(cl_raft(cl, leader), i)) == &marker);
    CHECK(cluster_all_applied(cl, raft_get_current_idx(cl_raft(cl, leader))));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void state_reenter(cl_node_t *n, raft_state_e s)
{
    raft_server_t *r = n->raft;
    calls++;
    if (raft_get_nodeid(r) != n->id || raft_get_num_nodes(r) != n->cl->n)
        bad++;
    if (raft_get_current_term(r) < 0 || raft_get_commit_idx(r) > raft_get_current_idx(r))
        bad++;
    (void)raft_get_state(r);
    (void)raft_get_leader_id(r);
    (void)raft_get_state_str(r);
    if (s == RAFT_STATE_LEADER && raft_get_voted_for(r) != n->id)
        bad++;
}

static int persist_reenter(cl_node_t *n, raft_term_t term, raft_node_id_t vote)
{
    raft_server_t *r = n->raft;
    calls++;
    if (term < raft_get_current_term(r) || raft_get_nodeid(r) != n->id)
        bad++;
    (void)vote;
    (void)raft_get_voted_for(r);
    (void)raft_get_num_voting_nodes(r);
    return 0;
}

static int backpressure_reenter(cl_node_t *n, raft_node_t *node)
{
    raft_server_t *r = n->raft;
    calls++;
    if (raft_node_get_next_idx(node) < 1 || !raft_is_leader(r))
        bad++;
    if (raft_get_node(r, raft_node_get_id(node)) != node)
        bad++;
    return 0;
}

static void test_reentry_from_notify_persist_and_backpressure(void)
{
    reset();
    cluster_t *cl = cluster_new(3, CL_BACKPRESSURE);
    cl->hooks.state_event = state_reenter;
    cl->hooks.persist_metadata = persist_reenter;
    cl->hooks.backpressure = backpressure_reenter;
    raft_node_id_t old = cluster_elect(cl, 10000);
    cluster_submit(cl, old, 1, NULL);
    cluster_run(cl, 300);
    cluster_crash(cl, old);
    raft_node_id_t leader = cluster_elect(cl, 20000);
    CHECK(leader != 0 && leader != old);
    CHECK(calls > 10);
    CHECK_EQ(0, bad);
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void membership_reenter(cl_node_t *n, raft_node_t *node, raft_entry_t *e, raft_membership_e t)
{
    raft_server_t *r = n->raft;
    (void)e;
    (void)t;
    calls++;
    if (!node || raft_get_node(r, raft_node_get_id(node)) != node)
        bad++;
    if (raft_get_num_nodes(r) < 1)
        bad++;
    if (node)
        raft_node_set_udata(node, &marker);
}

/* Promote the caught-up node from inside the callback, as RedisRaft does. */
static int promote(cl_node_t *n, raft_node_t *node)
{
    calls++;
    int rc = cluster_submit_cfg(n->cl, n->id, RAFT_LOGTYPE_ADD_NODE, raft_node_get_id(node));
    if (rc != 0)
        bad++;
    return 0;
}

static void test_recv_entry_inside_node_has_sufficient_logs(void)
{
    reset();
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.membership_event = membership_reenter;
    cl->hooks.node_has_sufficient_logs = promote;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    for (int i = 0; i < 5; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 300);
    cl_node_t *j = cluster_add_joiner(cl);
    CHECK_EQ(0, cluster_submit_cfg(cl, leader, RAFT_LOGTYPE_ADD_NONVOTING_NODE, j->id));
    cluster_run(cl, 2000);
    CHECK_EQ(0, bad);
    CHECK_EQ(1, cl_node(cl, leader)->n.node_has_sufficient_logs);
    for (int i = 1; i <= 4; i++) {
        raft_server_t *r = cl_raft(cl, i);
        raft_node_t *jn = raft_get_node(r, j->id);
        CHECK(jn != NULL);
        if (jn)
            CHECK(raft_node_is_voting(jn));
    }
    for (int i = 1; i <= 3; i++) {
        CHECK_EQ(4, raft_get_num_voting_nodes(cl_raft(cl, i)));
        CHECK(raft_node_get_udata(raft_get_node(cl_raft(cl, i), j->id)) == &marker);
    }
    CHECK(!raft_voting_change_is_in_progress(cl_raft(cl, leader)));
    CHECK(cluster_all_applied(cl, raft_get_current_idx(cl_raft(cl, leader))));

    /* The promoted node counts: with two of four down nothing commits,
     * with one down the other three do. */
    raft_node_id_t other = leader == 1 ? 2 : 1;
    cluster_crash(cl, other);
    CHECK_EQ(0, cluster_submit(cl, leader, 100, NULL));
    cluster_run(cl, 500);
    CHECK_EQ(raft_get_current_idx(cl_raft(cl, leader)), raft_get_commit_idx(cl_raft(cl, leader)));
    cluster_crash(cl, j->id);
    raft_index_t commit = raft_get_commit_idx(cl_raft(cl, leader));
    cluster_submit(cl, leader, 101, NULL);
    cluster_run(cl, 500);
    CHECK_EQ(commit, raft_get_commit_idx(cl_raft(cl, leader)));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}


/* A follower drops applied entries off its log from inside applylog, so the
 * log changes under a batch of entries being applied: every entry must still
 * be applied once, in order, with the right contents. */
static int apply_compacts(cl_node_t *n, raft_entry_t *e, raft_index_t idx)
{
    raft_server_t *r = n->raft;
    calls++;
    if (raft_get_last_applied_idx(r) != idx - 1 || !e || e->refs == 0)
        bad++;
    if (raft_is_leader(r))
        return 0;
    raft_log_t *l = raft_get_log(r);
    raft_entry_t *old;
    while (raft_log_get_base(l) < idx - 1)
        if (raft_log_poll(l, &old) != 0) {
            bad++;
            break;
        }
    return 0;
}

static void test_log_compacted_inside_applylog(void)
{
    reset();
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.applylog = apply_compacts;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    for (int i = 0; i < 300; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
    CHECK(last >= 300);
    CHECK(calls >= 3 * (int)last);
    CHECK_EQ(0, bad);
    CHECK(cluster_all_applied(cl, last));
    CHECK(cluster_consistent(cl));
    raft_node_id_t follower = leader % 3 + 1;
    CHECK(raft_log_get_base(raft_get_log(cl_raft(cl, follower))) >= last - 1);
    cluster_free(cl);
}

/* A follower turns applying off from inside applylog, in the middle of a
 * batch: nothing after that entry may be applied until it is turned on again,
 * and then everything is applied once, in order. */
static raft_index_t stop_at;
static raft_node_id_t stopped;

static int apply_disables(cl_node_t *n, raft_entry_t *e, raft_index_t idx)
{
    raft_server_t *r = n->raft;
    calls++;
    if (raft_get_last_applied_idx(r) != idx - 1 || !e)
        bad++;
    if (n->id == stopped && idx > stop_at)
        bad++;
    if (!stopped && !raft_is_leader(r) && idx == stop_at) {
        stopped = n->id;
        if (raft_config(r, 1, RAFT_CONFIG_DISABLE_APPLY, 1) != 0)
            bad++;
    }
    return 0;
}

static void test_apply_disabled_inside_applylog(void)
{
    reset();
    stopped = 0;
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.applylog = apply_disables;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    stop_at = raft_get_current_idx(cl_raft(cl, leader)) + 20;
    for (int i = 0; i < 100; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
    CHECK(last >= 100);
    CHECK(stopped != 0);
    if (!stopped) {
        cluster_free(cl);
        return;
    }
    raft_server_t *r = cl_raft(cl, stopped);
    CHECK_EQ((int)stop_at, (int)raft_get_last_applied_idx(r));
    CHECK(raft_get_commit_idx(r) > stop_at);
    stopped = -1;
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_DISABLE_APPLY, 0));
    cluster_run(cl, 500);
    CHECK_EQ(0, bad);
    CHECK(cluster_all_applied(cl, last));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

/* A follower deletes the entries after the one being applied straight from
 * its log (no server call) inside applylog: the rest of the batch it was
 * applying is gone, so nothing past the log's end may be applied, and
 * applylog always finds its entry in the log. */
static raft_log_t *truncated_log;

static int apply_truncates(cl_node_t *n, raft_entry_t *e, raft_index_t idx)
{
    calls++;
    if (n->id == stopped && idx == stop_at) {
        /* No call into the server here: only the log's own count tells. */
        if (raft_log_delete(truncated_log, idx + 1) != 0)
            bad++;
        return 0;
    }
    raft_server_t *r = n->raft;
    raft_entry_t *got = raft_get_entry_from_idx(r, idx);
    if (!got || !e || got->id != e->id || raft_get_last_applied_idx(r) != idx - 1)
        bad++;
    if (got)
        raft_entry_release(got);
    return 0;
}

static void test_log_truncated_inside_applylog(void)
{
    reset();
    stopped = 0;
    cluster_t *cl = cluster_new(3, 0);
    cl->hooks.applylog = apply_truncates;
    raft_node_id_t leader = cluster_elect(cl, 10000);
    stop_at = raft_get_current_idx(cl_raft(cl, leader)) + 20;
    stopped = leader % 3 + 1;
    truncated_log = raft_get_log(cl_raft(cl, stopped));
    for (int i = 0; i < 100; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 1000);
    raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
    CHECK(last >= 100);
    CHECK_EQ(0, bad);
    raft_server_t *r = cl_raft(cl, stopped);
    CHECK(raft_get_last_applied_idx(r) >= stop_at);
    CHECK(raft_get_last_applied_idx(r) <= raft_get_current_idx(r));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

int main(void)
{
    RUN(test_getters_and_setters_inside_applylog);
    RUN(test_getters_and_setters_inside_send_callbacks);
    RUN(test_reentry_from_notify_persist_and_backpressure);
    RUN(test_recv_entry_inside_node_has_sufficient_logs);
    RUN(test_log_compacted_inside_applylog);
    RUN(test_apply_disabled_inside_applylog);
    RUN(test_log_truncated_inside_applylog);
    return harness_finish("test_reentrancy");
}
