/* Snapshots in the test cluster: cluster_snapshot() compacts a server and
 * keeps an image of its state machine and membership; the snapshot callbacks
 * ship that image in chunks and load it on the receiving server. */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_internal.h"

static cl_node_t *self_of(void *udata) { return (cl_node_t *)udata; }

/* Image layout: int n_nodes, int n_applied, then n_nodes (id, voting) int
 * pairs, then n_applied cl_applied_t records. */
static void take_image(cl_node_t *n)
{
    raft_server_t *r = n->raft;
    int n_nodes = raft_get_num_nodes(r);
    int n_applied = n->n_applied;
    size_t len = 2 * sizeof(int) + (size_t)n_nodes * 2 * sizeof(int) +
                 (size_t)n_applied * sizeof(cl_applied_t);
    char *buf = malloc(len), *p = buf;
    memcpy(p, &n_nodes, sizeof(int));
    p += sizeof(int);
    memcpy(p, &n_applied, sizeof(int));
    p += sizeof(int);
    for (int i = 0; i < n_nodes; i++) {
        raft_node_t *node = raft_get_node_from_idx(r, i);
        int pair[2] = { raft_node_get_id(node), raft_node_is_voting(node) };
        memcpy(p, pair, sizeof(pair));
        p += sizeof(pair);
    }
    memcpy(p, n->applied, (size_t)n_applied * sizeof(cl_applied_t));
    free(n->snap);
    n->snap = buf;
    n->snap_len = len;
}

int cluster_snapshot(cluster_t *cl, raft_node_id_t id)
{
    cl_node_t *n = cl_node(cl, id);
    if (!n || !n->raft)
        return RAFT_ERR_INVALID_NODEID;
    int e = raft_begin_snapshot(n->raft);
    if (e != 0)
        return e;
    /* begin applied everything committed: the image is the state machine. */
    take_image(n);
    e = raft_end_snapshot(n->raft);
    if (e == 0)
        n->snapshots_taken++;
    return e;
}

static int cb_send_snapshot(raft_server_t *r, void *udata, raft_node_t *node, raft_snapshot_req_t *msg)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    cl_msg_t *m = cl_new_msg(n, raft_node_get_id(node), CL_MSG_SNAPSHOT);
    m->u.snap = *msg;
    size_t len = (size_t)msg->chunk.len;
    m->chunk = malloc(len ? len : 1);
    memcpy(m->chunk, msg->chunk.data, len);
    m->u.snap.chunk.data = m->chunk;
    cl_enqueue(n->cl, m);
    return 0;
}

static int cb_get_snapshot_chunk(raft_server_t *r, void *udata, raft_node_t *node,
                                 raft_size_t offset, raft_snapshot_chunk_t *chunk)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    (void)node;
    if (!n->snap || offset > n->snap_len)
        return -1;
    size_t left = n->snap_len - (size_t)offset;
    chunk->data = n->snap + offset;
    chunk->len = left < CL_SNAPSHOT_CHUNK ? left : CL_SNAPSHOT_CHUNK;
    chunk->last_chunk = offset + chunk->len >= n->snap_len;
    return 0;
}

static int cb_store_snapshot_chunk(raft_server_t *r, void *udata, raft_index_t snapshot_index,
                                   raft_size_t offset, raft_snapshot_chunk_t *chunk)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    (void)snapshot_index;
    size_t end = (size_t)(offset + chunk->len);
    if (end > n->incoming_len) {
        char *p = realloc(n->incoming, end ? end : 1);
        if (!p)
            return -1;
        n->incoming = p;
        n->incoming_len = end;
    }
    memcpy(n->incoming + offset, chunk->data, (size_t)chunk->len);
    return 0;
}

static int cb_clear_snapshot(raft_server_t *r, void *udata)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    free(n->incoming);
    n->incoming = NULL;
    n->incoming_len = 0;
    return 0;
}

static int cb_load_snapshot(raft_server_t *r, void *udata, raft_term_t term, raft_index_t idx)
{
    cl_node_t *n = self_of(udata);
    int n_nodes, n_applied;
    if (!n->incoming || n->incoming_len < 2 * sizeof(int))
        return -1;
    memcpy(&n_nodes, n->incoming, sizeof(int));
    memcpy(&n_applied, n->incoming + sizeof(int), sizeof(int));
    size_t need = 2 * sizeof(int) + (size_t)n_nodes * 2 * sizeof(int) +
                  (size_t)n_applied * sizeof(cl_applied_t);
    if (n_nodes < 0 || n_applied < 0 || n_applied > CL_MAX_APPLIED || need > n->incoming_len)
        return -1;
    int e = raft_begin_load_snapshot(r, term, idx);
    if (e != 0)
        return e;
    const char *p = n->incoming + 2 * sizeof(int);
    for (int i = 0; i < n_nodes; i++) {
        int pair[2];
        memcpy(pair, p, sizeof(pair));
        p += sizeof(pair);
        if (pair[0] == n->id) {
            raft_node_set_voting(raft_get_my_node(r), pair[1]);
            continue;
        }
        if (pair[1])
            raft_add_node(r, NULL, pair[0], 0);
        else
            raft_add_non_voting_node(r, NULL, pair[0], 0);
    }
    raft_end_load_snapshot(r);
    /* The state machine becomes the snapshot's. */
    memcpy(n->applied, p, (size_t)n_applied * sizeof(cl_applied_t));
    n->n_applied = n_applied;
    free(n->snap);
    n->snap = n->incoming;
    n->snap_len = n->incoming_len;
    n->incoming = NULL;
    n->incoming_len = 0;
    n->snapshots_loaded++;
    return 0;
}

void cl_snapshot_callbacks(raft_cbs_t *cbs)
{
    cbs->send_snapshot = cb_send_snapshot;
    cbs->get_snapshot_chunk = cb_get_snapshot_chunk;
    cbs->store_snapshot_chunk = cb_store_snapshot_chunk;
    cbs->load_snapshot = cb_load_snapshot;
    cbs->clear_snapshot = cb_clear_snapshot;
}
