/* Regression tests for bugs of the upstream C library (7371bc92) that a
 * drop-in replacement must not have. Against upstream these fail, crash or
 * hang, so every test runs in its own child process with a time limit. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "cluster.h"
#include "raft_private.h"

static void run_isolated(const char *name, harness_test_fn fn)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        int before = harness_failed_checks;
        fn();
        fflush(stdout);
        exit(harness_failed_checks == before ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        harness_tests_failed++;
        printf("FAIL %s (could not fork)\n", name);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        harness_tests_passed++;
        return;
    }
    harness_tests_failed++;
    if (WIFSIGNALED(status))
        printf("FAIL %s (%s)\n", name, WTERMSIG(status) == SIGALRM ? "hung" : "crashed");
    else
        printf("FAIL %s\n", name);
}

#define RUN_ISOLATED(test) run_isolated(#test, test)

/* A stale or duplicated appendentries that starts at the beginning of the
 * log (prev_log_idx 0) reaching a follower that compacted those entries
 * into a snapshot. Upstream appends the old entries after its last entry. */
static void test_stale_appendentries_after_compaction(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    for (int i = 0; i < 10; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);
    raft_server_t *fr = cl_raft(cl, f);
    cl_node_t *fn = cl_node(cl, f);
    CHECK(fn->n_applied >= 3);

    CHECK_EQ(0, raft_begin_snapshot(fr));
    CHECK_EQ(0, raft_end_snapshot(fr));
    raft_index_t snap = raft_get_snapshot_last_idx(fr);
    CHECK(snap >= 3);
    for (int i = 10; i < 13; i++)
        cluster_submit(cl, leader, i, NULL);
    cluster_run(cl, 500);

    raft_index_t cur = raft_get_current_idx(fr);
    raft_index_t count = raft_get_log_count(fr);
    CHECK(cur > snap);
    raft_entry_id_t ids[64];
    for (raft_index_t i = snap + 1; i <= cur && i - snap < 64; i++) {
        raft_entry_t *e = raft_get_entry_from_idx(fr, i);
        ids[i - snap] = e ? e->id : -1;
        if (e)
            raft_entry_release(e);
    }

    /* Entries 1..3 again, exactly as the leader first sent them. */
    raft_entry_t *etys[3];
    for (int i = 0; i < 3; i++) {
        cl_applied_t *a = &fn->applied[i];
        etys[i] = raft_entry_new(sizeof(int));
        etys[i]->term = a->term;
        etys[i]->id = a->id;
        etys[i]->type = (short)a->type;
        memcpy(etys[i]->data, &a->value, sizeof(int));
    }
    raft_appendentries_req_t ae;
    memset(&ae, 0, sizeof(ae));
    ae.term = raft_get_current_term(cl_raft(cl, leader));
    ae.leader_id = leader;
    ae.msg_id = 1;
    ae.prev_log_idx = 0;
    ae.prev_log_term = 0;
    ae.leader_commit = raft_get_commit_idx(cl_raft(cl, leader));
    ae.n_entries = 3;
    ae.entries = etys;
    raft_appendentries_resp_t resp;
    memset(&resp, 0, sizeof(resp));
    raft_recv_appendentries(fr, raft_get_node(fr, leader), &ae, &resp);
    for (int i = 0; i < 3; i++)
        raft_entry_release(etys[i]);

    CHECK_EQ(cur, raft_get_current_idx(fr));
    CHECK_EQ(count, raft_get_log_count(fr));
    for (raft_index_t i = snap + 1; i <= cur && i - snap < 64; i++) {
        raft_entry_t *e = raft_get_entry_from_idx(fr, i);
        CHECK(e != NULL);
        if (e) {
            CHECK_EQ(ids[i - snap], e->id);
            raft_entry_release(e);
        }
    }
    if (resp.success)
        CHECK(resp.current_idx <= cur);

    /* The cluster carries on, consistently. */
    CHECK_EQ(0, cluster_submit(cl, leader, 13, NULL));
    cluster_run(cl, 500);
    CHECK_EQ(raft_get_current_idx(cl_raft(cl, leader)), raft_get_current_idx(fr));
    CHECK(cluster_all_applied(cl, raft_get_current_idx(cl_raft(cl, leader))));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static int zero_calls;

/* Returns nothing; after many calls in a row gives up and returns real
 * entries, so a library that loops on 0 fails instead of hanging. */
static raft_index_t fetch_nothing(cl_node_t *n, raft_node_t *node, raft_index_t idx,
                                  raft_index_t max, raft_entry_t **entries)
{
    (void)node;
    if (++zero_calls < 1000)
        return 0;
    raft_index_t got = 0;
    while (got < max) {
        raft_entry_t *e = raft_get_entry_from_idx(n->raft, idx + got);
        if (!e)
            break;
        entries[got++] = e;
    }
    return got;
}

/* get_entries_to_send may return 0 (e.g. a size limit hit at once); the
 * leader must not retry in a loop. Upstream spins forever. */
static void test_get_entries_to_send_returning_zero(void)
{
    cluster_t *cl = cluster_new(3, CL_GET_ENTRIES);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0);
    cluster_run(cl, 300);
    zero_calls = 0;
    cl->hooks.get_entries_to_send = fetch_nothing;
    CHECK_EQ(0, cluster_submit(cl, leader, 1, NULL));
    CHECK(zero_calls < 100);
    /* Each acknowledgement may trigger another try (and another 0): that is
     * bounded by the network, not a loop inside the library. */
    cluster_run(cl, 300);
    /* Once entries flow again the cluster catches up. */
    cl->hooks.get_entries_to_send = NULL;
    cluster_run(cl, 1000);
    CHECK(cluster_all_applied(cl, raft_get_current_idx(cl_raft(cl, leader))));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

static void check_never_campaigned(cl_node_t *n)
{
    CHECK_EQ(0, n->n.send_requestvote);
    CHECK(raft_is_follower(n->raft));
    for (int k = 0; k < n->n_states; k++)
        CHECK_EQ(RAFT_STATE_FOLLOWER, n->states[k]);
}

/* A non-voting member must not start elections, even when it hears from
 * no leader. Upstream's learner becomes pre-candidate and asks for votes. */
static void test_learner_never_campaigns_alone(void)
{
    cluster_t *cl = cluster_new(3, 0);
    for (int i = 1; i <= 3; i++)
        raft_node_set_voting(raft_get_node(cl_raft(cl, i), 3), 0);
    cluster_crash(cl, 1);
    cluster_crash(cl, 2);
    raft_term_t term = raft_get_current_term(cl_raft(cl, 3));
    cluster_run(cl, 20000);
    check_never_campaigned(cl_node(cl, 3));
    CHECK_EQ(term, raft_get_current_term(cl_raft(cl, 3)));
    cluster_free(cl);
}

static void test_learner_never_campaigns_after_leader_loss(void)
{
    cluster_t *cl = cluster_new(4, 0);
    for (int i = 1; i <= 4; i++)
        raft_node_set_voting(raft_get_node(cl_raft(cl, i), 4), 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    CHECK(leader != 0 && leader != 4);
    cluster_submit(cl, leader, 1, NULL);
    cluster_run(cl, 300);
    /* Two of three voters gone: nobody can win, the learner must not try. */
    cluster_crash(cl, leader);
    cluster_crash(cl, leader == 1 ? 2 : 1);
    cluster_run(cl, 20000);
    check_never_campaigned(cl_node(cl, 4));
    CHECK_EQ(0, cluster_count_leaders(cl));
    cluster_free(cl);
}

/* Responses whose sender the server does not know (never added, or removed)
 * reach it with a NULL node; they must be ignored without crashing.
 * Upstream dereferences the node in raft_recv_snapshot_response. */
static void test_responses_from_unknown_nodes_ignored(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_server_t *l = cl_raft(cl, leader);
    cluster_run(cl, 300);
    raft_index_t commit = raft_get_commit_idx(l);
    raft_term_t term = raft_get_current_term(l);
    CHECK(raft_get_node(l, 42) == NULL);

    /* An entry the followers never see: only a bogus ack could commit it. */
    cluster_block(cl, leader, leader == 1 ? 2 : 1);
    cluster_block(cl, leader, leader == 3 ? 2 : 3);
    CHECK_EQ(0, cluster_submit(cl, leader, 1, NULL));
    raft_appendentries_resp_t aer;
    memset(&aer, 0, sizeof(aer));
    aer.msg_id = raft_get_msg_id(l);
    aer.term = term;
    aer.success = 1;
    aer.current_idx = raft_get_current_idx(l);
    raft_recv_appendentries_response(l, raft_get_node(l, 42), &aer);
    raft_recv_appendentries_response(l, NULL, &aer);
    CHECK_EQ(commit, raft_get_commit_idx(l));

    raft_snapshot_resp_t sr;
    memset(&sr, 0, sizeof(sr));
    sr.msg_id = raft_get_msg_id(l);
    sr.term = term;
    sr.success = 1;
    sr.last_chunk = 1;
    raft_recv_snapshot_response(l, NULL, &sr);
    sr.term = term + 5;
    raft_recv_snapshot_response(l, NULL, &sr);
    raft_recv_appendentries_response(l, NULL, &aer);
    CHECK(raft_is_leader(l));
    CHECK_EQ(commit, raft_get_commit_idx(l));
    cluster_heal(cl);

    /* Vote grants from unknown nodes do not elect a candidate. */
    raft_node_id_t c = leader == 1 ? 2 : 1;
    raft_server_t *cr = cl_raft(cl, c);
    cluster_isolate(cl, c);
    raft_timeout_now(cr);
    CHECK(raft_is_candidate(cr));
    raft_requestvote_resp_t vr;
    memset(&vr, 0, sizeof(vr));
    vr.request_term = raft_get_current_term(cr);
    vr.term = raft_get_current_term(cr);
    vr.vote_granted = 1;
    for (int i = 0; i < 5; i++)
        raft_recv_requestvote_response(cr, NULL, &vr);
    CHECK(!raft_is_leader(cr));
    cluster_heal(cl);
    cluster_run(cl, 3000);
    CHECK_EQ(1, cluster_count_leaders(cl));
    CHECK(cluster_consistent(cl));
    cluster_free(cl);
}

typedef struct {
    int calls, can_read;
} read_t;

static void on_read(void *arg, int can_read)
{
    read_t *r = arg;
    r->calls++;
    r->can_read = can_read;
}

/* Destroying a server answers its queued reads with can_read = 0 (and
 * frees them). Upstream drops them silently and leaks them. */
static void test_destroy_refuses_pending_reads(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    cluster_run(cl, 300);
    for (raft_node_id_t i = 1; i <= 3; i++)
        if (i != leader)
            cluster_block(cl, i, leader);
    read_t rd[2];
    memset(rd, 0, sizeof(rd));
    CHECK_EQ(0, raft_recv_read_request(cl_raft(cl, leader), on_read, &rd[0]));
    CHECK_EQ(0, raft_recv_read_request(cl_raft(cl, leader), on_read, &rd[1]));
    cluster_run(cl, 100);
    CHECK_EQ(0, rd[0].calls);
    cl_node_t *n = cl_node(cl, leader);
    raft_destroy(n->raft);
    n->raft = NULL;
    n->down = 1;
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(1, rd[i].calls);
        CHECK_EQ(0, rd[i].can_read);
    }
    cluster_free(cl);
}

int main(void)
{
    (void)harness_run; /* every test here goes through run_isolated */
    RUN_ISOLATED(test_stale_appendentries_after_compaction);
    RUN_ISOLATED(test_get_entries_to_send_returning_zero);
    RUN_ISOLATED(test_learner_never_campaigns_alone);
    RUN_ISOLATED(test_learner_never_campaigns_after_leader_loss);
    RUN_ISOLATED(test_responses_from_unknown_nodes_ignored);
    RUN_ISOLATED(test_destroy_refuses_pending_reads);
    return harness_finish("test_regressions");
}
