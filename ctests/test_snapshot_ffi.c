/* The snapshot exports at the C boundary: chunk buffers pass through
 * untouched, loading re-enters the server from inside load_snapshot (and
 * frees the node the caller passed in), and a failed load is retried. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "raft.h"
#include "raft_private.h"

static char leader_snap[10] = "0123456789";

struct host {
    /* leader side */
    int sent;
    raft_snapshot_req_t last_req;
    void *given_data[8];
    int gets;
    /* follower side */
    char recv[16];
    int stored;
    int clears;
    int loads;
    int fail_loads;
    int add_peer_on_load;
};

static int get_chunk(raft_server_t *r, void *ud, raft_node_t *node, raft_size_t offset,
                     raft_snapshot_chunk_t *chunk)
{
    struct host *h = ud;
    (void)r; (void)node;
    if (offset >= sizeof(leader_snap))
        return RAFT_ERR_DONE;
    chunk->data = leader_snap + offset;
    chunk->len = offset + 4 <= sizeof(leader_snap) ? 4 : sizeof(leader_snap) - offset;
    chunk->last_chunk = offset + chunk->len == sizeof(leader_snap);
    if (h->gets < 8)
        h->given_data[h->gets] = chunk->data;
    h->gets++;
    return 0;
}

static int send_snapshot(raft_server_t *r, void *ud, raft_node_t *node, raft_snapshot_req_t *msg)
{
    struct host *h = ud;
    (void)r; (void)node;
    /* The application's own buffer, not a copy: a network layer may keep it. */
    CHECK(msg->chunk.data == h->given_data[h->sent]);
    h->last_req = *msg;
    h->sent++;
    return 0;
}

static int store_chunk(raft_server_t *r, void *ud, raft_index_t idx, raft_size_t offset,
                       raft_snapshot_chunk_t *chunk)
{
    struct host *h = ud;
    (void)r; (void)idx;
    CHECK(offset + chunk->len <= sizeof(h->recv));
    memcpy(h->recv + offset, chunk->data, (size_t)chunk->len);
    h->stored++;
    return 0;
}

static int clear_snapshot(raft_server_t *r, void *ud)
{
    struct host *h = ud;
    (void)r;
    memset(h->recv, 0, sizeof(h->recv));
    h->clears++;
    return 0;
}

static int load_snapshot(raft_server_t *r, void *ud, raft_term_t term, raft_index_t idx)
{
    struct host *h = ud;
    h->loads++;
    if (h->fail_loads > 0) {
        h->fail_loads--;
        return -1;
    }
    if (raft_begin_load_snapshot(r, term, idx) != 0)
        return -1;
    /* Rebuild the configuration of the snapshot, re-entering the server. */
    raft_node_t *n = raft_add_node(r, NULL, 1, 0);
    raft_node_set_voting(n, 1);
    if (h->add_peer_on_load)
        raft_add_non_voting_node(r, NULL, 3, 0);
    return raft_end_load_snapshot(r);
}

static raft_cbs_t cbs = {
    .send_snapshot = send_snapshot,
    .get_snapshot_chunk = get_chunk,
    .store_snapshot_chunk = store_chunk,
    .clear_snapshot = clear_snapshot,
    .load_snapshot = load_snapshot,
};

static raft_server_t *follower(struct host *h)
{
    raft_server_t *r = raft_new();
    raft_set_callbacks(r, &cbs, h);
    raft_add_node(r, NULL, 2, 1);
    raft_add_node(r, NULL, 1, 0);
    return r;
}

static raft_snapshot_req_t chunk_req(raft_size_t offset)
{
    raft_snapshot_req_t req = {
        .term = 1, .leader_id = 1, .msg_id = 1 + offset, .snapshot_index = 5, .snapshot_term = 1,
    };
    req.chunk.offset = offset;
    req.chunk.data = leader_snap + offset;
    req.chunk.len = offset + 4 <= sizeof(leader_snap) ? 4 : sizeof(leader_snap) - offset;
    req.chunk.last_chunk = offset + req.chunk.len == sizeof(leader_snap);
    return req;
}

static void test_leader_passes_chunk_buffers_through(void)
{
    struct host h = {0};
    raft_server_t *r = raft_new();
    raft_set_callbacks(r, &cbs, &h);
    raft_add_node(r, NULL, 1, 1);
    raft_node_t *n2 = raft_add_node(r, NULL, 2, 0);
    raft_set_current_term(r, 1);
    raft_set_state(r, RAFT_STATE_LEADER);
    for (int i = 0; i < 3; i++) {
        raft_entry_t *e = raft_entry_new(0);
        e->term = 1;
        CHECK_EQ(0, raft_append_entry(r, e));
        raft_entry_release(e);
    }
    raft_set_commit_idx(r, 3);
    CHECK_EQ(0, raft_begin_snapshot(r));
    CHECK_EQ(0, raft_end_snapshot(r));
    CHECK_EQ(3, h.sent);
    CHECK_EQ(3, h.last_req.snapshot_index);
    CHECK_EQ(8, h.last_req.chunk.offset);
    CHECK_EQ(1, h.last_req.chunk.last_chunk);
    CHECK_EQ(4, raft_node_get_next_idx(n2));
    raft_destroy(r);
}

static void test_reentrant_load_frees_the_callers_node(void)
{
    struct host h = {0};
    raft_server_t *r = follower(&h);
    h.add_peer_on_load = 1;
    raft_snapshot_resp_t resp;
    for (raft_size_t off = 0; off < sizeof(leader_snap); off += 4) {
        raft_snapshot_req_t req = chunk_req(off);
        /* The leader's node is freed by raft_begin_load_snapshot on the last chunk. */
        CHECK_EQ(0, raft_recv_snapshot(r, raft_get_node(r, 1), &req, &resp));
        CHECK_EQ(1, resp.success);
        CHECK_EQ(off + req.chunk.len, resp.offset);
    }
    CHECK_EQ(1, h.loads);
    CHECK(memcmp(h.recv, leader_snap, sizeof(leader_snap)) == 0);
    CHECK_EQ(5, raft_get_snapshot_last_idx(r));
    CHECK_EQ(5, raft_get_commit_idx(r));
    CHECK_EQ(3, raft_get_num_nodes(r));
    raft_node_t *n1 = raft_get_node(r, 1);
    CHECK(n1 != NULL);
    CHECK_EQ(1, raft_node_is_voting_committed(n1));
    CHECK_EQ(1, raft_node_is_addition_committed(raft_get_node(r, 3)));
    CHECK_EQ(0, raft_node_is_voting(raft_get_node(r, 3)));
    CHECK_EQ(1, raft_get_leader_id(r));
    raft_destroy(r);
}

static void test_failed_load_restarts_the_transfer(void)
{
    struct host h = {0};
    raft_server_t *r = follower(&h);
    h.fail_loads = 1;
    raft_snapshot_resp_t resp;
    for (int attempt = 0; attempt < 2; attempt++) {
        for (raft_size_t off = 0; off < sizeof(leader_snap); off += 4) {
            raft_snapshot_req_t req = chunk_req(off);
            int rc = raft_recv_snapshot(r, NULL, &req, &resp);
            if (req.chunk.last_chunk && attempt == 0) {
                CHECK_EQ(-1, rc);
                CHECK_EQ(0, resp.success);
                CHECK_EQ(0, resp.offset);
            } else {
                CHECK_EQ(0, rc);
                CHECK_EQ(1, resp.success);
            }
        }
        CHECK_EQ(attempt == 0 ? 0 : 5, raft_get_snapshot_last_idx(r));
    }
    CHECK_EQ(2, h.loads);
    CHECK_EQ(6, h.stored);
    CHECK_EQ(1, h.clears);
    CHECK(memcmp(h.recv, leader_snap, sizeof(leader_snap)) == 0);
    raft_destroy(r);
}

static void test_bad_arguments(void)
{
    struct host h = {0};
    raft_server_t *r = follower(&h);
    raft_snapshot_resp_t resp;
    raft_snapshot_req_t req = chunk_req(0);
    CHECK_EQ(RAFT_ERR_MISUSE, raft_recv_snapshot(r, NULL, NULL, &resp));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_recv_snapshot(r, NULL, &req, NULL));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_recv_snapshot_response(r, NULL, NULL));
    /* A node that is not ours is treated as unknown. */
    raft_node_t *stranger = raft_node_new(NULL, 9);
    raft_snapshot_resp_t sr = {0};
    CHECK_EQ(-1, raft_recv_snapshot_response(r, stranger, &sr));
    raft_node_free(stranger);
    CHECK_EQ(RAFT_ERR_MISUSE, raft_end_load_snapshot(r));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_begin_load_snapshot(r, -1, 5));
    CHECK_EQ(-1, raft_end_snapshot(r));
    CHECK_EQ(0, raft_snapshot_is_in_progress(r));
    raft_destroy(r);
}

int main(void)
{
    RUN(test_leader_passes_chunk_buffers_through);
    RUN(test_reentrant_load_frees_the_callers_node);
    RUN(test_failed_load_restarts_the_transfer);
    RUN(test_bad_arguments);
    return harness_finish("test_snapshot_ffi");
}
