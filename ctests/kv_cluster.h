/* An in-process Raft cluster for the membership, snapshot and restart tests.
 *
 * Header-only (every function is static) so each ctests/test_*.c builds on
 * its own. Up to KV_MAX servers talk through one FIFO of messages; every
 * message is copied as it goes on the wire (entries with raft_entry_new), and
 * time is a fake clock read through the `timestamp` callback. The state
 * machine is a table of "SET key value" commands; snapshots are that table
 * plus the committed membership, as text. Only the public C API is used. */
#ifndef LIBRAFT_CTESTS_KV_CLUSTER_H
#define LIBRAFT_CTESTS_KV_CLUSTER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "raft.h"

#define KV_MAX 5
#define KV_KEYS 32
#define KV_TICK_MS 10

typedef struct {
    char key[24];
    char val[40];
} kv_pair_t;

typedef struct {
    kv_pair_t pairs[KV_KEYS];
    int n;
} kv_table_t;

struct kv_cluster;

typedef struct kv_node {
    struct kv_cluster *c;
    int id;
    raft_server_t *raft;
    int present;          /* running; messages to absent nodes are dropped */
    int group;            /* partition: messages only flow inside a group */
    kv_table_t table;
    /* The snapshot this node serves (the last one it took or loaded). */
    char *snap;
    size_t snap_len;
    /* A snapshot being received. */
    char *inbox;
    size_t inbox_len;
    int in_flight[KV_MAX + 1];
    /* What persist_metadata last stored. */
    raft_term_t persisted_term;
    raft_node_id_t persisted_vote;
    /* Knobs and counters the tests read. */
    int load_failures_to_inject;
    int auto_promote;     /* node_has_sufficient_logs submits ADD_NODE */
    int sufficient_logs_refusals;   /* ...after answering -1 this many times */
    int chunk_errors_to_inject;     /* get_snapshot_chunk fails this many times */
    int n_get_chunk, n_backpressure, n_send_snapshot, n_store_chunk, n_load, n_load_ok;
    int n_clear, n_sufficient_logs, n_applied;
    int n_add_events, n_add_events_with_entry, n_remove_events;
    raft_node_id_t last_added, last_removed;
    raft_size_t last_store_offset;
    int store_out_of_order;
    raft_size_t watch_offset;    /* counts chunks served from this offset */
    int n_watch_offset;
} kv_node_t;

typedef enum { KV_RV, KV_RV_RESP, KV_AE, KV_AE_RESP, KV_SNAP, KV_SNAP_RESP } kv_msg_type_t;

typedef struct kv_msg {
    struct kv_msg *next;
    kv_msg_type_t type;
    int from, to;
    union {
        raft_requestvote_req_t rv;
        raft_requestvote_resp_t rv_resp;
        raft_appendentries_req_t ae;
        raft_appendentries_resp_t ae_resp;
        raft_snapshot_req_t snap;
        raft_snapshot_resp_t snap_resp;
    } u;
} kv_msg_t;

typedef struct kv_cluster {
    kv_node_t nodes[KV_MAX + 1]; /* by id; 0 unused */
    kv_msg_t *head, *tail;
    raft_time_t now_us;
    size_t chunk_size;
    int max_in_flight;
    raft_entry_id_t next_id;
    int shutdowns;       /* RAFT_ERR_SHUTDOWN returned by a recv_* call */
    int drop_chunk_armed; /* lose the next snapshot chunk at drop_chunk_offset */
    raft_size_t drop_chunk_offset;
} kv_cluster_t;

/* ------------------------------------------------------------------ table */

static inline const char *kv_get(const kv_table_t *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->pairs[i].key, key) == 0)
            return t->pairs[i].val;
    return NULL;
}

static inline void kv_put(kv_table_t *t, const char *key, const char *val)
{
    kv_pair_t *p = NULL;
    for (int i = 0; i < t->n && !p; i++)
        if (strcmp(t->pairs[i].key, key) == 0)
            p = &t->pairs[i];
    if (!p && t->n < KV_KEYS)
        p = &t->pairs[t->n++];
    if (p) {
        snprintf(p->key, sizeof(p->key), "%s", key);
        snprintf(p->val, sizeof(p->val), "%s", val);
    }
}

static inline int kv_tables_equal(const kv_table_t *a, const kv_table_t *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++) {
        const char *v = kv_get(b, a->pairs[i].key);
        if (!v || strcmp(v, a->pairs[i].val) != 0)
            return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- network */

static inline void *kv_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static inline void kv_enqueue(kv_cluster_t *c, kv_msg_type_t type, int from, int to, kv_msg_t *m)
{
    m->type = type;
    m->from = from;
    m->to = to;
    m->next = NULL;
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
}

static inline void kv_free_msg(kv_cluster_t *c, kv_msg_t *m)
{
    if (m->type == KV_AE) {
        for (raft_index_t i = 0; i < m->u.ae.n_entries; i++)
            raft_entry_release(m->u.ae.entries[i]);
        free(m->u.ae.entries);
    } else if (m->type == KV_SNAP) {
        c->nodes[m->from].in_flight[m->to]--;
        free(m->u.snap.chunk.data);
    }
    free(m);
}

static inline raft_entry_t *kv_copy_entry(const raft_entry_t *e)
{
    raft_entry_t *copy = raft_entry_new(e->data_len);
    copy->term = e->term;
    copy->id = e->id;
    copy->type = e->type;
    memcpy(copy->data, e->data, e->data_len);
    return copy;
}

static inline int kv_send_requestvote(raft_server_t *r, void *ud, raft_node_t *node,
                               raft_requestvote_req_t *req)
{
    (void)r;
    kv_node_t *me = ud;
    kv_msg_t *m = kv_xcalloc(1, sizeof(*m));
    m->u.rv = *req;
    kv_enqueue(me->c, KV_RV, me->id, raft_node_get_id(node), m);
    return 0;
}

static inline int kv_send_appendentries(raft_server_t *r, void *ud, raft_node_t *node,
                                 raft_appendentries_req_t *req)
{
    (void)r;
    kv_node_t *me = ud;
    kv_msg_t *m = kv_xcalloc(1, sizeof(*m));
    m->u.ae = *req;
    m->u.ae.entries = NULL;
    if (req->n_entries > 0) {
        m->u.ae.entries = kv_xcalloc((size_t)req->n_entries, sizeof(raft_entry_t *));
        for (raft_index_t i = 0; i < req->n_entries; i++)
            m->u.ae.entries[i] = kv_copy_entry(req->entries[i]);
    }
    kv_enqueue(me->c, KV_AE, me->id, raft_node_get_id(node), m);
    return 0;
}

static inline int kv_send_snapshot(raft_server_t *r, void *ud, raft_node_t *node,
                            raft_snapshot_req_t *req)
{
    (void)r;
    kv_node_t *me = ud;
    int to = raft_node_get_id(node);
    kv_msg_t *m = kv_xcalloc(1, sizeof(*m));
    m->u.snap = *req;
    m->u.snap.chunk.data = kv_xcalloc(1, (size_t)req->chunk.len);
    memcpy(m->u.snap.chunk.data, req->chunk.data, (size_t)req->chunk.len);
    me->n_send_snapshot++;
    if (to > 0 && to <= KV_MAX)
        me->in_flight[to]++;
    kv_enqueue(me->c, KV_SNAP, me->id, to, m);
    return 0;
}

static inline int kv_reachable(kv_cluster_t *c, int a, int b)
{
    if (a < 1 || a > KV_MAX || b < 1 || b > KV_MAX)
        return 0;
    return c->nodes[a].present && c->nodes[b].present && c->nodes[a].group == c->nodes[b].group;
}

/* Delivers one message and queues its reply. Responses from nodes the
 * receiver does not know are dropped, as a real transport would. */
static inline void kv_deliver(kv_cluster_t *c, kv_msg_t *m)
{
    int lost = m->type == KV_SNAP && c->drop_chunk_armed &&
               m->u.snap.chunk.offset == c->drop_chunk_offset;
    if (lost)
        c->drop_chunk_armed = 0;
    if (lost || !kv_reachable(c, m->from, m->to)) {
        kv_free_msg(c, m);
        return;
    }
    raft_server_t *r = c->nodes[m->to].raft;
    raft_node_t *node = raft_get_node(r, m->from);
    kv_msg_t *reply;
    int e = 0;

    switch (m->type) {
    case KV_RV:
        reply = kv_xcalloc(1, sizeof(*reply));
        e = raft_recv_requestvote(r, node, &m->u.rv, &reply->u.rv_resp);
        kv_enqueue(c, KV_RV_RESP, m->to, m->from, reply);
        break;
    case KV_RV_RESP:
        if (node)
            e = raft_recv_requestvote_response(r, node, &m->u.rv_resp);
        break;
    case KV_AE:
        reply = kv_xcalloc(1, sizeof(*reply));
        e = raft_recv_appendentries(r, node, &m->u.ae, &reply->u.ae_resp);
        kv_enqueue(c, KV_AE_RESP, m->to, m->from, reply);
        break;
    case KV_AE_RESP:
        if (node)
            e = raft_recv_appendentries_response(r, node, &m->u.ae_resp);
        break;
    case KV_SNAP:
        reply = kv_xcalloc(1, sizeof(*reply));
        e = raft_recv_snapshot(r, node, &m->u.snap, &reply->u.snap_resp);
        kv_enqueue(c, KV_SNAP_RESP, m->to, m->from, reply);
        break;
    case KV_SNAP_RESP:
        if (node)
            e = raft_recv_snapshot_response(r, node, &m->u.snap_resp);
        break;
    }
    if (e == RAFT_ERR_SHUTDOWN)
        c->shutdowns++;
    kv_free_msg(c, m);
}

/* Drops every queued message (a network flush). */
static inline void kv_drop_all(kv_cluster_t *c)
{
    while (c->head) {
        kv_msg_t *m = c->head;
        c->head = m->next;
        kv_free_msg(c, m);
    }
    c->tail = NULL;
}

/* Delivers the oldest queued message; 0 when the network is quiet. */
static inline int kv_deliver_one(kv_cluster_t *c)
{
    kv_msg_t *m = c->head;
    if (!m)
        return 0;
    c->head = m->next;
    if (!c->head)
        c->tail = NULL;
    kv_deliver(c, m);
    return 1;
}

/* Delivers queued messages until the network is quiet. */
static inline void kv_deliver_all(kv_cluster_t *c)
{
    for (int n = 0; c->head && n < 100000; n++) {
        kv_msg_t *m = c->head;
        c->head = m->next;
        if (!c->head)
            c->tail = NULL;
        kv_deliver(c, m);
    }
}

/* ---------------------------------------------------------- state machine */

/* Node ids in membership entries are text: "4". */
static inline raft_node_id_t kv_entry_node_id(const raft_entry_t *e)
{
    char buf[16] = {0};
    memcpy(buf, e->data, e->data_len < sizeof(buf) - 1 ? e->data_len : sizeof(buf) - 1);
    return atoi(buf);
}

static inline int kv_applylog(raft_server_t *r, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)r;
    (void)idx;
    kv_node_t *me = ud;
    me->n_applied++;
    if (e->type != RAFT_LOGTYPE_NORMAL)
        return 0;
    char cmd[96] = {0}, key[24], val[40];
    memcpy(cmd, e->data, e->data_len < sizeof(cmd) - 1 ? e->data_len : sizeof(cmd) - 1);
    if (sscanf(cmd, "SET %23s %39s", key, val) == 2)
        kv_put(&me->table, key, val);
    return 0;
}

static inline raft_node_id_t kv_get_node_id(raft_server_t *r, void *ud, raft_entry_t *e, raft_index_t idx)
{
    (void)r;
    (void)ud;
    (void)idx;
    return kv_entry_node_id(e);
}

static inline int kv_persist_metadata(raft_server_t *r, void *ud, raft_term_t term, raft_node_id_t vote)
{
    (void)r;
    kv_node_t *me = ud;
    me->persisted_term = term;
    me->persisted_vote = vote;
    return 0;
}

static inline raft_entry_t *kv_cfg_entry(kv_cluster_t *c, int type, raft_node_id_t id)
{
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%d", id);
    raft_entry_t *e = raft_entry_new((unsigned int)n);
    e->type = (short)type;
    e->id = c->next_id++;
    memcpy(e->data, buf, (size_t)n);
    return e;
}

static inline raft_entry_t *kv_set_entry(kv_cluster_t *c, const char *key, const char *val)
{
    char cmd[96];
    int n = snprintf(cmd, sizeof(cmd), "SET %s %s", key, val);
    raft_entry_t *e = raft_entry_new((unsigned int)n);
    e->type = RAFT_LOGTYPE_NORMAL;
    e->id = c->next_id++;
    memcpy(e->data, cmd, (size_t)n);
    return e;
}

/* Submits a membership change to `r`; the caller's reference is released. */
static inline int kv_submit_cfg(kv_cluster_t *c, raft_server_t *r, int type, raft_node_id_t id,
                         raft_entry_resp_t *resp)
{
    raft_entry_resp_t tmp;
    raft_entry_t *e = kv_cfg_entry(c, type, id);
    int rc = raft_recv_entry(r, e, resp ? resp : &tmp);
    raft_entry_release(e);
    return rc;
}

static inline int kv_node_has_sufficient_logs(raft_server_t *r, void *ud, raft_node_t *node)
{
    kv_node_t *me = ud;
    me->n_sufficient_logs++;
    if (me->sufficient_logs_refusals > 0) {
        me->sufficient_logs_refusals--;
        return -1;   /* not yet: ask again later */
    }
    if (!me->auto_promote)
        return 0;
    /* Re-enters the library from inside its callback, as RedisRaft does. */
    int rc = kv_submit_cfg(me->c, r, RAFT_LOGTYPE_ADD_NODE, raft_node_get_id(node), NULL);
    return rc == 0 ? 0 : -1;
}

static inline void kv_notify_membership_event(raft_server_t *r, void *ud, raft_node_t *node,
                                       raft_entry_t *entry, raft_membership_e type)
{
    (void)r;
    kv_node_t *me = ud;
    if (type == RAFT_MEMBERSHIP_ADD) {
        me->n_add_events++;
        me->n_add_events_with_entry += entry != NULL;
        me->last_added = raft_node_get_id(node);
    } else {
        me->n_remove_events++;
        me->last_removed = raft_node_get_id(node);
    }
}

static inline raft_time_t kv_timestamp(raft_server_t *r, void *ud)
{
    (void)r;
    kv_node_t *me = ud;
    return me->c->now_us;
}

/* -------------------------------------------------------------- snapshots */

/* Text: "members N", N lines "id voting", "keys K", K lines "key value". */
static inline char *kv_serialize(kv_node_t *me, size_t *len)
{
    size_t cap = 128 + (size_t)KV_MAX * 32 + (size_t)KV_KEYS * 80, n = 0;
    char *buf = kv_xcalloc(1, cap);
    raft_server_t *r = me->raft;
    int members = 0;
    for (int i = 0; i < raft_get_num_nodes(r); i++)
        members += raft_node_is_addition_committed(raft_get_node_from_idx(r, i)) != 0;
    n += (size_t)snprintf(buf + n, cap - n, "members %d\n", members);
    for (int i = 0; i < raft_get_num_nodes(r); i++) {
        raft_node_t *node = raft_get_node_from_idx(r, i);
        if (raft_node_is_addition_committed(node))
            n += (size_t)snprintf(buf + n, cap - n, "%d %d\n", raft_node_get_id(node),
                                  raft_node_is_voting_committed(node) ? 1 : 0);
    }
    n += (size_t)snprintf(buf + n, cap - n, "keys %d\n", me->table.n);
    for (int i = 0; i < me->table.n; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s %s\n", me->table.pairs[i].key,
                              me->table.pairs[i].val);
    *len = n;
    return buf;
}

typedef struct {
    int members, ids[KV_MAX], voting[KV_MAX];
    kv_table_t table;
} kv_image_t;

static inline int kv_parse(const char *p, kv_image_t *img)
{
    int keys, used = 0;
    memset(img, 0, sizeof(*img));
    if (!p || sscanf(p, "members %d\n%n", &img->members, &used) != 1 || img->members > KV_MAX)
        return -1;
    p += used;
    for (int i = 0; i < img->members; i++, p += used)
        if (sscanf(p, "%d %d\n%n", &img->ids[i], &img->voting[i], &used) != 2)
            return -1;
    if (sscanf(p, "keys %d\n%n", &keys, &used) != 1)
        return -1;
    p += used;
    for (int i = 0; i < keys; i++, p += used) {
        char key[24], val[40];
        if (sscanf(p, "%23s %39s\n%n", key, val, &used) != 2)
            return -1;
        kv_put(&img->table, key, val);
    }
    return 0;
}

/* Snapshots the node's applied state and compacts its log. */
static inline int kv_take_snapshot(kv_node_t *me)
{
    int rc = raft_begin_snapshot(me->raft);
    if (rc != 0)
        return rc;
    free(me->snap);
    me->snap = kv_serialize(me, &me->snap_len);
    return raft_end_snapshot(me->raft);
}

static inline int kv_get_snapshot_chunk(raft_server_t *r, void *ud, raft_node_t *node, raft_size_t offset,
                                 raft_snapshot_chunk_t *chunk)
{
    (void)r;
    kv_node_t *me = ud;
    int to = raft_node_get_id(node);
    me->n_get_chunk++;
    if (to > 0 && to <= KV_MAX && me->in_flight[to] >= me->c->max_in_flight) {
        me->n_backpressure++;
        return RAFT_ERR_DONE;
    }
    if (me->chunk_errors_to_inject > 0) {
        me->chunk_errors_to_inject--;
        return -1;
    }
    if (!me->snap || offset > me->snap_len)
        return -1;
    size_t left = me->snap_len - (size_t)offset;
    me->n_watch_offset += offset == me->watch_offset;
    chunk->data = me->snap + offset;
    chunk->len = left < me->c->chunk_size ? left : me->c->chunk_size;
    chunk->last_chunk = chunk->len == left;
    return 0;
}

static inline int kv_store_snapshot_chunk(raft_server_t *r, void *ud, raft_index_t snapshot_index,
                                   raft_size_t offset, raft_snapshot_chunk_t *chunk)
{
    (void)r;
    (void)snapshot_index;
    kv_node_t *me = ud;
    me->n_store_chunk++;
    me->last_store_offset = offset;
    if (offset != me->inbox_len) {
        me->store_out_of_order++;
        return -1;
    }
    char *p = realloc(me->inbox, me->inbox_len + (size_t)chunk->len + 1);
    if (!p)
        return -1;
    me->inbox = p;
    memcpy(me->inbox + me->inbox_len, chunk->data, (size_t)chunk->len);
    me->inbox_len += (size_t)chunk->len;
    me->inbox[me->inbox_len] = '\0';
    return 0;
}

static inline int kv_clear_snapshot(raft_server_t *r, void *ud)
{
    (void)r;
    kv_node_t *me = ud;
    me->n_clear++;
    me->inbox_len = 0;
    return 0;
}

/* Rebuilds the membership of `img` between begin/end_load_snapshot. */
static inline void kv_configure(kv_node_t *me, const kv_image_t *img)
{
    for (int i = 0; i < img->members; i++) {
        if (img->ids[i] == me->id)
            raft_node_set_voting(raft_get_my_node(me->raft), img->voting[i]);
        else if (img->voting[i])
            raft_add_node(me->raft, NULL, img->ids[i], 0);
        else
            raft_add_non_voting_node(me->raft, NULL, img->ids[i], 0);
    }
}

static inline int kv_load_snapshot(raft_server_t *r, void *ud, raft_term_t term, raft_index_t idx)
{
    kv_node_t *me = ud;
    kv_image_t img;
    me->n_load++;
    if (me->load_failures_to_inject > 0) {
        me->load_failures_to_inject--;
        return -1;
    }
    if (kv_parse(me->inbox, &img) != 0)
        return -1;
    int rc = raft_begin_load_snapshot(r, term, idx);
    if (rc != 0)
        return rc == RAFT_ERR_SNAPSHOT_ALREADY_LOADED ? 0 : -1;
    kv_configure(me, &img);
    raft_end_load_snapshot(r);
    me->n_load_ok++;
    me->table = img.table;
    free(me->snap);
    me->snap = me->inbox;
    me->snap_len = me->inbox_len;
    me->inbox = NULL;
    me->inbox_len = 0;
    return 0;
}

/* ---------------------------------------------------------------- servers */

static inline raft_server_t *kv_new_server(kv_node_t *me)
{
    raft_cbs_t cbs;
    memset(&cbs, 0, sizeof(cbs));
    cbs.send_requestvote = kv_send_requestvote;
    cbs.send_appendentries = kv_send_appendentries;
    cbs.send_snapshot = kv_send_snapshot;
    cbs.load_snapshot = kv_load_snapshot;
    cbs.get_snapshot_chunk = kv_get_snapshot_chunk;
    cbs.store_snapshot_chunk = kv_store_snapshot_chunk;
    cbs.clear_snapshot = kv_clear_snapshot;
    cbs.applylog = kv_applylog;
    cbs.persist_metadata = kv_persist_metadata;
    cbs.get_node_id = kv_get_node_id;
    cbs.node_has_sufficient_logs = kv_node_has_sufficient_logs;
    cbs.notify_membership_event = kv_notify_membership_event;
    cbs.timestamp = kv_timestamp;
    raft_server_t *r = raft_new();
    if (!r) {
        fprintf(stderr, "raft_new failed\n");
        exit(2);
    }
    raft_set_callbacks(r, &cbs, me);
    return r;
}

static inline raft_node_t *kv_add_committed(raft_server_t *r, raft_node_id_t id, int is_self)
{
    raft_node_t *n = raft_add_node(r, NULL, id, is_self);
    if (n) {
        raft_node_set_voting_committed(n, 1);
        raft_node_set_addition_committed(n, 1);
    }
    return n;
}

/* Starts server `id` knowing voters 1..n_voters (a bootstrap configuration,
 * marked committed) and itself, voting or not. */
static inline kv_node_t *kv_start(kv_cluster_t *c, int id, int n_voters, int self_voting)
{
    kv_node_t *me = &c->nodes[id];
    me->c = c;
    me->id = id;
    me->raft = kv_new_server(me);
    for (int peer = 1; peer <= n_voters; peer++)
        if (peer != id)
            kv_add_committed(me->raft, peer, 0);
    if (self_voting)
        kv_add_committed(me->raft, id, 1);
    else
        raft_add_non_voting_node(me->raft, NULL, id, 1);
    me->present = 1;
    return me;
}

static inline void kv_init(kv_cluster_t *c, int n_voters)
{
    memset(c, 0, sizeof(*c));
    c->chunk_size = 32;
    c->max_in_flight = 2;
    c->next_id = 1;
    /* Election timeouts come from rand(); KV_SEED varies the schedule. */
    const char *seed = getenv("KV_SEED");
    srand(seed ? (unsigned)strtoul(seed, NULL, 10) : 7u);
    for (int id = 1; id <= n_voters; id++)
        kv_start(c, id, n_voters, 1);
}

/* Destroys server `id` and forgets its volatile state (a crash). */
static inline void kv_stop(kv_cluster_t *c, int id)
{
    kv_node_t *me = &c->nodes[id];
    if (me->raft)
        raft_destroy(me->raft);
    me->raft = NULL;
    me->present = 0;
    free(me->inbox);
    me->inbox = NULL;
    me->inbox_len = 0;
    memset(&me->table, 0, sizeof(me->table));
}

static inline void kv_destroy(kv_cluster_t *c)
{
    kv_drop_all(c);
    for (int id = 1; id <= KV_MAX; id++) {
        kv_stop(c, id);
        free(c->nodes[id].snap);
        c->nodes[id].snap = NULL;
    }
}

/* ---------------------------------------------------------------- running */

static inline void kv_tick(kv_cluster_t *c)
{
    c->now_us += KV_TICK_MS * 1000;
    for (int id = 1; id <= KV_MAX; id++)
        if (c->nodes[id].present)
            raft_periodic(c->nodes[id].raft);
    kv_deliver_all(c);
}

static inline void kv_run(kv_cluster_t *c, int ms)
{
    for (int t = 0; t < ms; t += KV_TICK_MS)
        kv_tick(c);
}

typedef int (*kv_cond_fn)(kv_cluster_t *c, void *arg);

static inline int kv_run_until(kv_cluster_t *c, kv_cond_fn cond, void *arg, int max_ms)
{
    for (int t = 0; t <= max_ms; t += KV_TICK_MS) {
        if (cond(c, arg))
            return 1;
        kv_tick(c);
    }
    return 0;
}

/* The present leader of partition group 0 with the highest term. */
static inline kv_node_t *kv_leader(kv_cluster_t *c)
{
    kv_node_t *best = NULL;
    for (int id = 1; id <= KV_MAX; id++) {
        kv_node_t *n = &c->nodes[id];
        if (n->present && n->group == 0 && raft_is_leader(n->raft) &&
            (!best || raft_get_current_term(n->raft) > raft_get_current_term(best->raft)))
            best = n;
    }
    return best;
}

static inline int kv_has_leader(kv_cluster_t *c, void *arg)
{
    (void)arg;
    return kv_leader(c) != NULL;
}

/* Every present node of group 0 has applied what the leader committed. */
static inline int kv_converged(kv_cluster_t *c, void *arg)
{
    (void)arg;
    kv_node_t *l = kv_leader(c);
    if (!l)
        return 0;
    raft_index_t commit = raft_get_commit_idx(l->raft);
    for (int id = 1; id <= KV_MAX; id++) {
        kv_node_t *n = &c->nodes[id];
        if (n->present && n->group == 0 &&
            (raft_get_commit_idx(n->raft) != commit ||
             raft_get_last_applied_idx(n->raft) != commit))
            return 0;
    }
    return 1;
}

static inline int kv_wait_leader(kv_cluster_t *c)
{
    return kv_run_until(c, kv_has_leader, NULL, 20000);
}

typedef struct {
    kv_node_t *leader;
    raft_entry_resp_t resp;
} kv_pending_t;

static inline int kv_committed(kv_cluster_t *c, void *arg)
{
    (void)c;
    kv_pending_t *p = arg;
    return raft_msg_entry_response_committed(p->leader->raft, &p->resp) != 0;
}

/* Waits until `resp` (accepted by `leader`) is committed. 1 when committed. */
static inline int kv_wait_committed(kv_cluster_t *c, kv_node_t *leader, raft_entry_resp_t resp)
{
    kv_pending_t p = {leader, resp};
    return kv_run_until(c, kv_committed, &p, 10000) &&
           raft_msg_entry_response_committed(leader->raft, &resp) == 1;
}

/* A client write through the current leader; 0 once committed and applied
 * by every reachable node. */
static inline int kv_set(kv_cluster_t *c, const char *key, const char *val)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (!kv_wait_leader(c))
            return -1;
        kv_node_t *l = kv_leader(c);
        raft_entry_resp_t resp;
        raft_entry_t *e = kv_set_entry(c, key, val);
        int rc = raft_recv_entry(l->raft, e, &resp);
        raft_entry_release(e);
        if (rc != 0) {
            kv_tick(c);
            continue;
        }
        if (kv_wait_committed(c, l, resp))
            return kv_run_until(c, kv_converged, NULL, 5000) ? 0 : -1;
    }
    return -1;
}

/* All present nodes of group 0 hold the same table. */
static inline int kv_same_data(kv_cluster_t *c)
{
    kv_node_t *l = kv_leader(c);
    if (!l)
        return 0;
    for (int id = 1; id <= KV_MAX; id++) {
        kv_node_t *n = &c->nodes[id];
        if (n->present && n->group == 0 && !kv_tables_equal(&n->table, &l->table))
            return 0;
    }
    return 1;
}

/* A server's own node, looked up by id: the raft_node_t pointer may change
 * across membership changes. */
static inline raft_node_t *kv_node(kv_cluster_t *c, int on, int id)
{
    return c->nodes[on].raft ? raft_get_node(c->nodes[on].raft, id) : NULL;
}

/* ------------------------------------------------------------ isolation */

/* Runs a test in a child process so that a crash (upstream crashes on the
 * regression cases) fails that test instead of ending the suite. Needs
 * harness.h included first. The child exits 1 when a check failed. */
static void (*kv_isolated_fn)(void);

static inline void kv_isolated_trampoline(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int before = harness_failed_checks;
        kv_isolated_fn();
        fflush(stdout);
        _exit(harness_failed_checks != before ? 1 : 0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        printf("  could not run the test in a child process\n");
        harness_failed_checks++;
    } else if (WIFSIGNALED(status)) {
        printf("  crashed (signal %d)\n", WTERMSIG(status));
        harness_failed_checks++;
    } else if (WEXITSTATUS(status) != 0) {
        harness_failed_checks++;
    }
}

#define RUN_ISOLATED(test)                                \
    do {                                                  \
        kv_isolated_fn = test;                            \
        harness_run(#test, kv_isolated_trampoline);       \
    } while (0)

#endif
