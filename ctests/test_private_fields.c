/* The fields of struct raft_server that raft_private.h declares (upstream's
 * offsets): C code that reads or writes them directly, as upstream's own tests
 * do, sees and steers the same state as the functions of raft.h. */
#include <stddef.h>

#include "harness.h"
#include "raft.h"
#include "raft_private.h"

static int sends;

static int count_send(raft_server_t *r, void *udata, raft_node_t *node,
                      raft_appendentries_req_t *msg)
{
    (void)r;
    (void)udata;
    (void)node;
    (void)msg;
    sends++;
    return 0;
}

static raft_leader_transfer_e last_transfer_event;

static void note_transfer(raft_server_t *r, void *udata, raft_leader_transfer_e state)
{
    (void)r;
    (void)udata;
    last_transfer_event = state;
}

/* A server with nodes 1 (itself) and 2, using `cbs`. */
static raft_server_t *two_node_server(raft_cbs_t *cbs)
{
    raft_server_t *r = raft_new();
    raft_set_callbacks(r, cbs, NULL);
    raft_add_node(r, NULL, 1, 1);
    raft_add_node(r, NULL, 2, 0);
    return r;
}

static void test_offsets_match_upstream(void)
{
    CHECK_EQ(16, offsetof(struct raft_server, log_impl));
    CHECK_EQ(24, offsetof(struct raft_server, log));
    CHECK_EQ(128, offsetof(struct raft_server, leader_id));
    CHECK_EQ(368, offsetof(struct raft_server, msg_id));
}

static void test_log_fields_are_the_log_in_use(void)
{
    raft_server_t *r = raft_new();
    CHECK(r->log_impl == &raft_log_internal_impl);
    CHECK(r->log == raft_get_log(r));
    raft_entry_t *e = raft_entry_new(0);
    e->term = 1;
    CHECK_EQ(0, raft_append_entry(r, e));
    raft_entry_release(e);
    CHECK_EQ(1, r->log_impl->first_idx(r->log));
    CHECK_EQ(1, r->log_impl->current_idx(r->log));
    raft_destroy(r);
}

static void test_msg_id_follows_the_server(void)
{
    raft_cbs_t cbs = {0};
    cbs.send_appendentries = count_send;
    raft_server_t *r = two_node_server(&cbs);
    CHECK_EQ(0, r->msg_id);
    raft_set_current_term(r, 1);
    raft_become_leader(r);
    CHECK_EQ(raft_get_msg_id(r), r->msg_id);
    raft_msg_id_t before = r->msg_id;
    CHECK_EQ(0, raft_recv_read_request(r, NULL, NULL));
    CHECK(r->msg_id > before);
    CHECK_EQ(raft_get_msg_id(r), r->msg_id);
    raft_destroy(r);
}

static void test_leader_id_reads_and_writes(void)
{
    raft_cbs_t cbs = {0};
    cbs.notify_transfer_event = note_transfer;
    raft_server_t *r = two_node_server(&cbs);
    CHECK_EQ(RAFT_NODE_ID_NONE, r->leader_id);
    raft_set_current_term(r, 1);
    raft_become_leader(r);
    CHECK_EQ(1, r->leader_id);

    /* Written by C: the next call sees it. */
    r->leader_id = 2;
    CHECK_EQ(2, raft_get_leader_id(r));
    CHECK_EQ(2, r->leader_id);

    /* A transfer that finds the expected leader in place reports it. */
    r->leader_id = 1;
    CHECK_EQ(0, raft_transfer_leader(r, 2, 0));
    r->leader_id = 2;
    raft_reset_transfer_leader(r, 0);
    CHECK_EQ(RAFT_LEADER_TRANSFER_EXPECTED_LEADER, last_transfer_event);
    raft_destroy(r);
}

int main(void)
{
    RUN(test_offsets_match_upstream);
    RUN(test_log_fields_are_the_log_in_use);
    RUN(test_msg_id_follows_the_server);
    RUN(test_leader_id_reads_and_writes);
    return harness_finish("private_fields");
}
