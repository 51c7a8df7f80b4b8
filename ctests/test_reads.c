/* Linearizable reads (raft_recv_read_request): answered only once a majority
 * confirmed the leadership after the request, refused (can_read = 0) when
 * leadership is lost. */
#include <stdlib.h>

#include "harness.h"
#include "cluster.h"

typedef struct {
    int calls;
    int can_read;
    int order;              /* sequence number when it was answered */
    raft_server_t *raft;    /* for the re-entrant getters */
    raft_index_t applied_at; /* last applied index seen inside the callback */
} read_t;

static int answered;

static void on_read(void *arg, int can_read)
{
    read_t *r = arg;
    r->calls++;
    r->can_read = can_read;
    r->order = ++answered;
    if (r->raft)
        r->applied_at = raft_get_last_applied_idx(r->raft);
}

static void test_leader_answers_read(void)
{
    answered = 0;
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    read_t rd = {0};
    rd.raft = cl_raft(cl, leader);
    cluster_submit(cl, leader, 1, NULL);
    raft_index_t idx = raft_get_current_idx(cl_raft(cl, leader));
    CHECK_EQ(0, raft_recv_read_request(cl_raft(cl, leader), on_read, &rd));
    cluster_run(cl, 500);
    CHECK_EQ(1, rd.calls);
    CHECK_EQ(1, rd.can_read);
    /* The state machine had caught up with the log at request time. */
    CHECK(rd.applied_at >= idx);
    cluster_free(cl);
}

static void test_follower_refuses_read(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    read_t rd = {0};
    CHECK_EQ(RAFT_ERR_NOT_LEADER, raft_recv_read_request(cl_raft(cl, f), on_read, &rd));
    cluster_run(cl, 500);
    CHECK_EQ(0, rd.calls);
    cluster_free(cl);
}

static void test_reads_answered_in_order(void)
{
    answered = 0;
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    read_t rd[4];
    memset(rd, 0, sizeof(rd));
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(0, raft_recv_read_request(cl_raft(cl, leader), on_read, &rd[i]));
        cluster_submit(cl, leader, i, NULL);
    }
    cluster_run(cl, 1000);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(1, rd[i].calls);
        CHECK_EQ(1, rd[i].can_read);
        CHECK_EQ(i + 1, rd[i].order);
    }
    cluster_free(cl);
}

/* Without a majority of acknowledgements the read waits. */
static void read_needs_majority(int size, int silent)
{
    cluster_t *cl = cluster_new(size, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    cluster_run(cl, 300);
    raft_node_id_t muted[CL_MAX_NODES];
    int m = 0;
    for (int i = 1; i <= size && m < silent; i++)
        if (i != leader) {
            cluster_block(cl, i, leader);
            muted[m++] = i;
        }
    read_t rd = {0};
    CHECK_EQ(0, raft_recv_read_request(cl_raft(cl, leader), on_read, &rd));
    cluster_run(cl, 600);
    CHECK_EQ(0, rd.calls);
    CHECK(raft_is_leader(cl_raft(cl, leader)));
    /* One more acknowledging voter makes a majority. */
    cl->blocked[muted[0]][leader] = 0;
    cluster_run(cl, 600);
    CHECK_EQ(1, rd.calls);
    CHECK_EQ(1, rd.can_read);
    cluster_free(cl);
}

static void test_read_waits_for_majority_three(void) { read_needs_majority(3, 2); }
static void test_read_waits_for_majority_five(void) { read_needs_majority(5, 3); }
/* Four voters: the leader plus one follower is half, not a majority. */
static void test_read_waits_for_majority_even_cluster(void) { read_needs_majority(4, 2); }

static void test_even_cluster_reads_with_three_of_four(void)
{
    cluster_t *cl = cluster_new(4, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    cluster_crash(cl, f);
    read_t rd = {0};
    CHECK_EQ(0, raft_recv_read_request(cl_raft(cl, leader), on_read, &rd));
    cluster_run(cl, 600);
    CHECK_EQ(1, rd.calls);
    CHECK_EQ(1, rd.can_read);
    cluster_free(cl);
}

static void test_lost_leadership_refuses_pending_read(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    cluster_run(cl, 300);
    cluster_isolate(cl, leader);
    read_t rd = {0};
    CHECK_EQ(0, raft_recv_read_request(cl_raft(cl, leader), on_read, &rd));
    cluster_run(cl, 6000);
    CHECK(!raft_is_leader(cl_raft(cl, leader)));
    CHECK_EQ(1, rd.calls);
    CHECK_EQ(0, rd.can_read);
    cluster_free(cl);
}

static void test_deposed_by_higher_term_refuses_pending_read(void)
{
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_node_id_t f = leader == 1 ? 2 : 1;
    cluster_run(cl, 300);
    cluster_block(cl, f, leader); /* no acknowledgements from f */
    raft_node_id_t g = 6 - leader - f;
    cluster_block(cl, g, leader);
    read_t rd = {0};
    CHECK_EQ(0, raft_recv_read_request(cl_raft(cl, leader), on_read, &rd));
    /* A vote request in a higher term deposes the leader at once. */
    raft_requestvote_req_t rv = {0};
    raft_requestvote_resp_t resp;
    rv.term = raft_get_current_term(cl_raft(cl, leader)) + 1;
    rv.candidate_id = f;
    rv.last_log_idx = raft_get_current_idx(cl_raft(cl, f));
    rv.last_log_term = raft_get_last_log_term(cl_raft(cl, f));
    raft_recv_requestvote(cl_raft(cl, leader), raft_get_node(cl_raft(cl, leader), f), &rv, &resp);
    CHECK(!raft_is_leader(cl_raft(cl, leader)));
    cluster_run(cl, 100);
    CHECK_EQ(1, rd.calls);
    CHECK_EQ(0, rd.can_read);
    cluster_free(cl);
}

int main(void)
{
    RUN(test_leader_answers_read);
    RUN(test_follower_refuses_read);
    RUN(test_reads_answered_in_order);
    RUN(test_read_waits_for_majority_three);
    RUN(test_read_waits_for_majority_five);
    RUN(test_read_waits_for_majority_even_cluster);
    RUN(test_even_cluster_reads_with_three_of_four);
    RUN(test_lost_leadership_refuses_pending_read);
    RUN(test_deposed_by_higher_term_refuses_pending_read);
    return harness_finish("test_reads");
}
