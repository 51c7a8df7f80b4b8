/* See cluster.h. Everything here is harness work that costs the same with
 * either library; only raft_* calls (and what they call back) differ. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

cluster_t C;

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: FAILED: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

/* ---- payloads and the state machine ---------------------------------- */

/* The bytes entry `id` carries (one 64-bit word at a time, so checking them
 * on every node stays cheap next to the library's work). */
static uint64_t payload_word(raft_entry_id_t id, int k)
{
    return ((uint64_t)(uint32_t)id << 32 | (uint32_t)k) * 0x9e3779b97f4a7c15ull;
}

static void fill_payload(char *d, int len, raft_entry_id_t id)
{
    for (int i = 0; i < len; i += 8) {
        uint64_t w = payload_word(id, i);
        memcpy(d + i, &w, len - i < 8 ? (size_t)(len - i) : 8);
    }
}

static int payload_intact(const char *d, int len, raft_entry_id_t id)
{
    for (int i = 0; i < len; i += 8) {
        uint64_t w = payload_word(id, i);
        if (memcmp(d + i, &w, len - i < 8 ? (size_t)(len - i) : 8))
            return 0;
    }
    return 1;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static int cb_applylog(raft_server_t *r, void *ud, raft_entry_t *e, raft_index_t idx)
{
    peer_t *p = ud;
    (void)r;
    if (e->type != RAFT_LOGTYPE_NORMAL)
        return 0;
    if (e->id != p->fsm.next_id || (int)e->data_len != C.payload ||
        !payload_intact(e->data, (int)e->data_len, e->id)) {
        if (C.failures++ < 5)
            fprintf(stderr, "bench: node %d applied bad entry at idx %ld: id %d (want %d) len %u\n",
                    p->id, (long)idx, e->id, p->fsm.next_id, e->data_len);
    }
    p->fsm.next_id = e->id + 1;
    p->fsm.applied++;
    p->fsm.digest = mix(mix(mix(p->fsm.digest, (uint64_t)e->id), (uint64_t)idx),
                        (uint64_t)e->term);
    return 0;
}

/* ---- the network ------------------------------------------------------- */

typedef struct {
    int type;
    raft_node_id_t from, to;
    union {
        raft_appendentries_req_t ae;
        raft_appendentries_resp_t aer;
        raft_requestvote_req_t rv;
        raft_requestvote_resp_t rvr;
        raft_snapshot_req_t sn;
        raft_snapshot_resp_t snr;
    } u;
} msg_t;

/* A growable ring of messages, delivered in order. */
static msg_t *q;
static size_t q_cap, q_head, q_len;

static msg_t *q_push(int type, raft_node_id_t from, raft_node_id_t to)
{
    if (q_len == q_cap) {
        size_t cap = q_cap ? q_cap * 2 : 1024;
        msg_t *nq = xmalloc(cap * sizeof(*nq));
        for (size_t i = 0; i < q_len; i++)
            nq[i] = q[(q_head + i) % q_cap];
        free(q);
        q = nq;
        q_cap = cap;
        q_head = 0;
    }
    msg_t *m = &q[(q_head + q_len++) % q_cap];
    m->type = type;
    m->from = from;
    m->to = to;
    return m;
}

static peer_t *peer(raft_node_id_t id)
{
    return (id >= 1 && id <= C.n) ? &C.peers[id - 1] : NULL;
}

static int blocked(raft_node_id_t from, raft_node_id_t to)
{
    peer_t *a = peer(from), *b = peer(to);
    return !a || !b || a->isolated || b->isolated;
}

/* Counts a send, and says whether the partition eats it. */
static int sending(int type, raft_node_id_t from, raft_node_id_t to)
{
    C.sent[type]++;
    if (blocked(from, to)) {
        C.dropped++;
        return 0;
    }
    return 1;
}

static raft_entry_t *copy_entry(const raft_entry_t *e)
{
    raft_entry_t *c = raft_entry_new(e->data_len);
    if (!c)
        die("raft_entry_new(%u) returned NULL", e->data_len);
    c->term = e->term;
    c->id = e->id;
    c->type = e->type;
    memcpy(c->data, e->data, e->data_len);
    if (++C.copied == C.corrupt_at && c->data_len > 0)
        c->data[0] ^= 1;
    return c;
}

static int cb_send_ae(raft_server_t *r, void *ud, raft_node_t *node,
                      raft_appendentries_req_t *req)
{
    peer_t *p = ud;
    raft_node_id_t to = raft_node_get_id(node);
    (void)r;
    C.sent_entries += req->n_entries;
    if (!sending(MSG_AE, p->id, to))
        return 0;
    msg_t *m = q_push(MSG_AE, p->id, to);
    m->u.ae = *req;
    m->u.ae.entries = NULL;
    if (req->n_entries > 0) {
        m->u.ae.entries = xmalloc(sizeof(raft_entry_t *) * (size_t)req->n_entries);
        for (raft_index_t i = 0; i < req->n_entries; i++)
            m->u.ae.entries[i] = copy_entry(req->entries[i]);
    }
    return 0;
}

static int cb_send_rv(raft_server_t *r, void *ud, raft_node_t *node,
                      raft_requestvote_req_t *req)
{
    peer_t *p = ud;
    raft_node_id_t to = raft_node_get_id(node);
    (void)r;
    if (sending(MSG_RV, p->id, to))
        q_push(MSG_RV, p->id, to)->u.rv = *req;
    return 0;
}

static int cb_send_snapshot(raft_server_t *r, void *ud, raft_node_t *node,
                            raft_snapshot_req_t *req)
{
    peer_t *p = ud;
    raft_node_id_t to = raft_node_get_id(node);
    (void)r;
    if (!sending(MSG_SNAP, p->id, to))
        return 0;
    msg_t *m = q_push(MSG_SNAP, p->id, to);
    m->u.sn = *req;
    m->u.sn.chunk.data = xmalloc(req->chunk.len);
    memcpy(m->u.sn.chunk.data, req->chunk.data, req->chunk.len);
    return 0;
}

static int cb_send_timeoutnow(raft_server_t *r, void *ud, raft_node_t *node)
{
    peer_t *p = ud;
    raft_node_id_t to = raft_node_get_id(node);
    (void)r;
    if (sending(MSG_TIMEOUT_NOW, p->id, to))
        q_push(MSG_TIMEOUT_NOW, p->id, to);
    return 0;
}

/* ---- snapshots ----------------------------------------------------------- */

/* Snapshot layout: fsm_t, then filler bytes derived from the digest. */
int cluster_snapshot(peer_t *p)
{
    int e = raft_begin_snapshot(p->raft);
    if (e != 0)
        return e;
    size_t len = C.snap_bytes < sizeof(fsm_t) ? sizeof(fsm_t) : C.snap_bytes;
    free(p->snap);
    p->snap = xmalloc(len);
    p->snap_len = len;
    memcpy(p->snap, &p->fsm, sizeof(fsm_t));
    fill_payload(p->snap + sizeof(fsm_t), (int)(len - sizeof(fsm_t)),
                 (raft_entry_id_t)p->fsm.digest);
    return raft_end_snapshot(p->raft);
}

static int cb_get_chunk(raft_server_t *r, void *ud, raft_node_t *node,
                        raft_size_t offset, raft_snapshot_chunk_t *chunk)
{
    peer_t *p = ud;
    (void)r; (void)node;
    if (!p->snap || offset >= p->snap_len)
        return RAFT_ERR_DONE;
    size_t len = p->snap_len - offset;
    if (len > C.chunk_bytes)
        len = C.chunk_bytes;
    chunk->data = p->snap + offset;
    chunk->len = len;
    chunk->last_chunk = offset + len == p->snap_len;
    return 0;
}

static int cb_store_chunk(raft_server_t *r, void *ud, raft_index_t snapshot_index,
                          raft_size_t offset, raft_snapshot_chunk_t *chunk)
{
    peer_t *p = ud;
    (void)r; (void)snapshot_index;
    size_t end = offset + chunk->len;
    if (end > p->recv_cap) {
        p->recv_cap = end * 2;
        p->recv = realloc(p->recv, p->recv_cap);
        if (!p->recv)
            die("out of memory");
    }
    memcpy(p->recv + offset, chunk->data, chunk->len);
    if (end > p->recv_len)
        p->recv_len = end;
    return 0;
}

static int cb_clear_snapshot(raft_server_t *r, void *ud)
{
    peer_t *p = ud;
    (void)r;
    p->recv_len = 0;
    return 0;
}

static int cb_load_snapshot(raft_server_t *r, void *ud, raft_term_t term, raft_index_t idx)
{
    peer_t *p = ud;
    fsm_t f;
    if (p->recv_len < sizeof(fsm_t))
        die("node %d: snapshot of %zu bytes is truncated", p->id, p->recv_len);
    memcpy(&f, p->recv, sizeof f);
    if (!payload_intact(p->recv + sizeof f, (int)(p->recv_len - sizeof f),
                        (raft_entry_id_t)f.digest))
        die("node %d: snapshot filler corrupted", p->id);
    int e = raft_begin_load_snapshot(r, term, idx);
    if (e != 0)
        return e;
    for (int i = 1; i <= C.n; i++)
        if (i != p->id && !raft_add_node(r, NULL, i, 0))
            die("node %d: re-adding node %d after snapshot failed", p->id, i);
    e = raft_end_load_snapshot(r);
    if (e != 0)
        return e;
    p->fsm = f;
    p->snapshots_loaded++;
    return 0;
}

/* ---- other callbacks ------------------------------------------------------- */

static int cb_persist(raft_server_t *r, void *ud, raft_term_t term, raft_node_id_t vote)
{
    peer_t *p = ud;
    (void)r;
    p->term = term;
    p->vote = vote;
    return 0;
}

static raft_node_id_t cb_node_id(raft_server_t *r, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)r; (void)ud; (void)idx;
    raft_node_id_t id;
    memcpy(&id, e->data, sizeof id);
    return id;
}

static raft_time_t cb_timestamp(raft_server_t *r, void *ud)
{
    (void)r; (void)ud;
    return C.now_us;
}

/* ---- cluster -------------------------------------------------------------- */

void cluster_init(int n, int payload, int auto_flush, size_t snap_bytes)
{
    static raft_cbs_t cbs;
    memset(&C, 0, sizeof C);
    C.n = n;
    C.payload = payload;
    C.auto_flush = auto_flush;
    C.snap_bytes = snap_bytes;
    C.chunk_bytes = 64 * 1024;
    C.now_us = 1000000;  /* non-zero: a zero timestamp means "first call" */
    C.peers = calloc((size_t)n, sizeof(peer_t));
    if (!C.peers)
        die("out of memory");

    memset(&cbs, 0, sizeof cbs);
    cbs.send_requestvote = cb_send_rv;
    cbs.send_appendentries = cb_send_ae;
    cbs.send_snapshot = cb_send_snapshot;
    cbs.load_snapshot = cb_load_snapshot;
    cbs.get_snapshot_chunk = cb_get_chunk;
    cbs.store_snapshot_chunk = cb_store_chunk;
    cbs.clear_snapshot = cb_clear_snapshot;
    cbs.applylog = cb_applylog;
    cbs.persist_metadata = cb_persist;
    cbs.get_node_id = cb_node_id;
    cbs.send_timeoutnow = cb_send_timeoutnow;
    cbs.timestamp = cb_timestamp;

    for (int i = 0; i < n; i++) {
        peer_t *p = &C.peers[i];
        p->id = i + 1;
        p->fsm.next_id = 1;
        p->vote = RAFT_NODE_ID_NONE;
        p->raft = raft_new();
        if (!p->raft)
            die("raft_new returned NULL");
        raft_set_callbacks(p->raft, &cbs, p);
        if (raft_config(p->raft, 1, RAFT_CONFIG_AUTO_FLUSH, auto_flush) != 0)
            die("raft_config(AUTO_FLUSH) failed");
        for (int j = 0; j < n; j++)
            if (!raft_add_node(p->raft, NULL, j + 1, i == j))
                die("raft_add_node(%d) on node %d failed", j + 1, i + 1);
    }
}

static void drop_msg(msg_t *m)
{
    if (m->type == MSG_AE) {
        for (raft_index_t i = 0; i < m->u.ae.n_entries; i++)
            raft_entry_release(m->u.ae.entries[i]);
        free(m->u.ae.entries);
    } else if (m->type == MSG_SNAP) {
        free(m->u.sn.chunk.data);
    }
}

void cluster_free(void)
{
    while (q_len) {
        drop_msg(&q[q_head]);
        q_head = (q_head + 1) % q_cap;
        q_len--;
    }
    for (int i = 0; i < C.n; i++) {
        raft_destroy(C.peers[i].raft);
        free(C.peers[i].snap);
        free(C.peers[i].recv);
    }
    free(C.peers);
    free(q);
    q = NULL;
    q_cap = q_head = 0;
}

static void check_rc(int rc, peer_t *p, const char *what)
{
    if (rc == RAFT_ERR_SHUTDOWN)
        die("node %d: %s returned RAFT_ERR_SHUTDOWN", p->id, what);
}

static void deliver(msg_t *m)
{
    peer_t *dst = peer(m->to);
    if (blocked(m->from, m->to)) {  /* partitioned while in flight */
        C.dropped++;
        drop_msg(m);
        return;
    }
    C.delivered++;
    dst->dirty = 1;
    raft_server_t *r = dst->raft;
    raft_node_t *node = raft_get_node(r, m->from);
    int rc;
    switch (m->type) {
    case MSG_AE: {
        raft_appendentries_resp_t resp;
        memset(&resp, 0, sizeof resp);
        rc = raft_recv_appendentries(r, node, &m->u.ae, &resp);
        check_rc(rc, dst, "raft_recv_appendentries");
        drop_msg(m);
        q_push(MSG_AE_RESP, m->to, m->from)->u.aer = resp;
        break;
    }
    case MSG_AE_RESP:
        rc = raft_recv_appendentries_response(r, node, &m->u.aer);
        check_rc(rc, dst, "raft_recv_appendentries_response");
        break;
    case MSG_RV: {
        raft_requestvote_resp_t resp;
        memset(&resp, 0, sizeof resp);
        rc = raft_recv_requestvote(r, node, &m->u.rv, &resp);
        check_rc(rc, dst, "raft_recv_requestvote");
        q_push(MSG_RV_RESP, m->to, m->from)->u.rvr = resp;
        break;
    }
    case MSG_RV_RESP:
        rc = raft_recv_requestvote_response(r, node, &m->u.rvr);
        check_rc(rc, dst, "raft_recv_requestvote_response");
        break;
    case MSG_SNAP: {
        raft_snapshot_resp_t resp;
        memset(&resp, 0, sizeof resp);
        rc = raft_recv_snapshot(r, node, &m->u.sn, &resp);
        check_rc(rc, dst, "raft_recv_snapshot");
        drop_msg(m);
        q_push(MSG_SNAP_RESP, m->to, m->from)->u.snr = resp;
        break;
    }
    case MSG_SNAP_RESP:
        rc = raft_recv_snapshot_response(r, node, &m->u.snr);
        check_rc(rc, dst, "raft_recv_snapshot_response");
        break;
    case MSG_TIMEOUT_NOW:
        rc = raft_timeout_now(r);
        check_rc(rc, dst, "raft_timeout_now");
        break;
    }
}

static void service(peer_t *p)
{
    int rc;
    if (C.auto_flush) {
        rc = raft_periodic(p->raft);
        check_rc(rc, p, "raft_periodic");
    } else {
        rc = raft_flush(p->raft, raft_get_index_to_sync(p->raft));
        check_rc(rc, p, "raft_flush");
    }
}

void cluster_settle(void)
{
    long budget = 200000000;  /* messages; a runaway library fails, never hangs */
    for (int rounds = 0; rounds < 1000000; rounds++) {
        while (q_len) {
            msg_t m = q[q_head];
            q_head = (q_head + 1) % q_cap;
            q_len--;
            deliver(&m);
            if (--budget == 0)
                die("network never went quiet (message storm)");
        }
        int any = 0;
        for (int i = 0; i < C.n; i++) {
            peer_t *p = &C.peers[i];
            if (p->dirty) {
                p->dirty = 0;
                service(p);
                any = 1;
            }
        }
        if (!any && !q_len)
            return;
    }
    die("cluster never settled");
}

void cluster_tick(int ms)
{
    C.now_us += (raft_time_t)ms * 1000;
    for (int i = 0; i < C.n; i++) {
        int rc = raft_periodic(C.peers[i].raft);
        check_rc(rc, &C.peers[i], "raft_periodic");
        if (!C.auto_flush)
            C.peers[i].dirty = 1;
    }
    cluster_settle();
}

void cluster_isolate(peer_t *p, int isolated)
{
    p->isolated = isolated;
}

peer_t *cluster_leader(void)
{
    peer_t *best = NULL;
    for (int i = 0; i < C.n; i++) {
        peer_t *p = &C.peers[i];
        if (!p->isolated && raft_is_leader(p->raft) &&
            (!best || raft_get_current_term(p->raft) > raft_get_current_term(best->raft)))
            best = p;
    }
    return best;
}

static int converged(peer_t *l)
{
    raft_index_t idx = raft_get_current_idx(l->raft);
    for (int i = 0; i < C.n; i++) {
        peer_t *p = &C.peers[i];
        if (p->isolated)
            continue;
        if (p != l && raft_is_leader(p->raft))
            return 0;
        if (raft_get_commit_idx(p->raft) != idx || raft_get_last_applied_idx(p->raft) != idx ||
            raft_get_current_term(p->raft) != raft_get_current_term(l->raft))
            return 0;
    }
    return 1;
}

peer_t *cluster_converge(int tick_ms, int max_ticks)
{
    for (int t = 0; t <= max_ticks; t++) {
        peer_t *l = cluster_leader();
        if (l && converged(l))
            return l;
        cluster_tick(tick_ms);
    }
    return NULL;
}

int cluster_submit(peer_t *leader, raft_entry_id_t id)
{
    raft_entry_t *e = raft_entry_new((unsigned)C.payload);
    if (!e)
        die("raft_entry_new(%d) returned NULL", C.payload);
    e->id = id;
    e->type = RAFT_LOGTYPE_NORMAL;
    fill_payload(e->data, C.payload, id);
    raft_entry_resp_t resp;
    int rc = raft_recv_entry(leader->raft, e, &resp);
    raft_entry_release(e);
    if (rc == 0 && resp.id != id)
        die("raft_recv_entry answered id %d for entry %d", resp.id, id);
    return rc;
}

long cluster_sent_total(void)
{
    long t = 0;
    for (int i = 0; i < MSG_TYPES; i++)
        t += C.sent[i];
    return t;
}

int cluster_verify(long entries, int all)
{
    int bad = 0;
    peer_t *ref = NULL;
    if (C.failures) {
        fprintf(stderr, "bench: %ld entries were applied out of order or damaged\n", C.failures);
        bad = 1;
    }
    for (int i = 0; i < C.n; i++) {
        peer_t *p = &C.peers[i];
        if (p->isolated && !all)
            continue;
        if (p->fsm.applied != entries || p->fsm.next_id != entries + 1) {
            fprintf(stderr, "bench: node %d applied %ld entries (next id %d), want %ld\n",
                    p->id, p->fsm.applied, p->fsm.next_id, entries);
            bad = 1;
        }
        if (!ref) {
            ref = p;
        } else if (p->fsm.digest != ref->fsm.digest) {
            fprintf(stderr, "bench: node %d state digest differs from node %d\n", p->id, ref->id);
            bad = 1;
        }
    }
    return bad;
}
