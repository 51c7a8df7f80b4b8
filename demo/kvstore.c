/*
 * kvstore: a replicated key-value store built on libraft.
 *
 * Several Raft servers live in this one process. They talk over a simulated
 * network (a FIFO of messages: a sender's entries are held while in flight
 * and rebuilt with raft_entry_new on delivery, as a receiving process would) and share a fake clock that the library
 * reads through the `timestamp` callback, so a run is fast and reproducible.
 *
 * The story it tells, step by step:
 *   1. three nodes elect a leader;
 *   2. SET commands are replicated and applied to every node's table;
 *   3. the leader is cut off, the others elect a new one, then it rejoins;
 *   4. node 4 joins as a non-voter and is promoted once it has caught up;
 *   5. a follower is cut off, the leader snapshots its table and compacts its
 *      log, and the follower catches up by installing the snapshot in chunks;
 *   6. every node must hold the same data (otherwise the exit status is 1).
 *
 * Usage: kvstore [seed]     (RAFT_DEMO_TRACE=1 also prints the library's log)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft.h"

#define MAX_NODES 4
#define MAX_KEYS 32
#define TICK_MS 10
#define CHUNK_SIZE 48        /* small, so the snapshot travels in several chunks */
#define MAX_CHUNKS_IN_FLIGHT 2

/* ---------------------------------------------------------------- the store */

typedef struct {
    char key[24];
    char val[40];
} kv_pair_t;

typedef struct {
    kv_pair_t pairs[MAX_KEYS];
    int n;
} kv_table_t;

static const char *table_get(const kv_table_t *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->pairs[i].key, key) == 0)
            return t->pairs[i].val;
    return NULL;
}

static int table_set(kv_table_t *t, const char *key, const char *val)
{
    kv_pair_t *p = NULL;
    for (int i = 0; i < t->n && !p; i++)
        if (strcmp(t->pairs[i].key, key) == 0)
            p = &t->pairs[i];
    if (!p) {
        if (t->n == MAX_KEYS)
            return -1;
        p = &t->pairs[t->n++];
    }
    snprintf(p->key, sizeof(p->key), "%s", key);
    snprintf(p->val, sizeof(p->val), "%s", val);
    return 0;
}

static int tables_equal(const kv_table_t *a, const kv_table_t *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++) {
        const char *v = table_get(b, a->pairs[i].key);
        if (!v || strcmp(v, a->pairs[i].val) != 0)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------- servers and network */

typedef struct {
    int id;
    raft_server_t *raft;
    int present;               /* has been started */
    int group;                 /* partition: messages only flow inside a group */
    kv_table_t table;
    char *snap;                /* the last snapshot this node took or loaded */
    size_t snap_len;
    char *inbox;               /* a snapshot being received, chunk by chunk */
    size_t inbox_len;
    int chunks_in_flight[MAX_NODES + 1];
} server_t;

typedef enum { RV, RV_RESP, AE, AE_RESP, SNAP, SNAP_RESP } msg_type_t;

typedef struct msg {
    struct msg *next;
    msg_type_t type;
    int from, to;
    union {
        raft_requestvote_req_t rv;
        raft_requestvote_resp_t rv_resp;
        raft_appendentries_req_t ae;
        raft_appendentries_resp_t ae_resp;
        raft_snapshot_req_t snap;
        raft_snapshot_resp_t snap_resp;
    } u;
} msg_t;

static server_t servers[MAX_NODES + 1];   /* indexed by node id; 0 unused */
static msg_t *queue_head, *queue_tail;
static raft_time_t now_us;
static int trace;
static int failures;
static raft_entry_id_t next_entry_id = 1;

/* Chunk statistics for the snapshot step. */
static int chunks_sent, backpressure_hits;

static double now_s(void) { return (double)now_us / 1e6; }

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  [%6.2fs] ", now_s());
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static void step(const char *title)
{
    printf("\n== %s ==\n", title);
}

static int reachable(int a, int b)
{
    return servers[a].present && servers[b].present &&
           servers[a].group == servers[b].group;
}

static void enqueue(msg_type_t type, int from, int to, msg_t *m)
{
    m->type = type;
    m->from = from;
    m->to = to;
    m->next = NULL;
    if (queue_tail)
        queue_tail->next = m;
    else
        queue_head = m;
    queue_tail = m;
}

/* The demo simply stops when memory runs out. */
static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static msg_t *new_msg(void) { return xcalloc(1, sizeof(msg_t)); }

/* Frees a message and whatever it carries. */
static void free_msg(msg_t *m)
{
    if (m->type == AE) {
        /* Released one by one: upstream's raft_entry_release_list also frees
         * the array, despite what its comment says. */
        for (raft_index_t i = 0; i < m->u.ae.n_entries; i++)
            raft_entry_release(m->u.ae.entries[i]);
        free(m->u.ae.entries);
    } else if (m->type == SNAP) {
        servers[m->from].chunks_in_flight[m->to]--;
        free(m->u.snap.chunk.data);
    }
    free(m);
}

/* The receiver's own copy of an entry that crossed the wire. */
static raft_entry_t *copy_entry(const raft_entry_t *e)
{
    raft_entry_t *c = raft_entry_new(e->data_len);
    c->term = e->term;
    c->id = e->id;
    c->type = e->type;
    memcpy(c->data, e->data, e->data_len);
    return c;
}

/* ------------------------------------------------------------- send callbacks */

static int send_requestvote(raft_server_t *raft, void *udata, raft_node_t *node,
                            raft_requestvote_req_t *req)
{
    (void)raft;
    server_t *me = udata;
    msg_t *m = new_msg();
    m->u.rv = *req;
    enqueue(RV, me->id, raft_node_get_id(node), m);
    return 0;
}

static int send_appendentries(raft_server_t *raft, void *udata, raft_node_t *node,
                              raft_appendentries_req_t *req)
{
    (void)raft;
    server_t *me = udata;
    msg_t *m = new_msg();
    m->u.ae = *req;
    m->u.ae.entries = NULL;
    if (req->n_entries > 0) {
        m->u.ae.entries = xcalloc((size_t)req->n_entries, sizeof(raft_entry_t *));
        /* The library releases its references when we return: hold them. */
        for (raft_index_t i = 0; i < req->n_entries; i++) {
            raft_entry_hold(req->entries[i]);
            m->u.ae.entries[i] = req->entries[i];
        }
    }
    enqueue(AE, me->id, raft_node_get_id(node), m);
    return 0;
}

static int send_snapshot(raft_server_t *raft, void *udata, raft_node_t *node,
                         raft_snapshot_req_t *req)
{
    (void)raft;
    server_t *me = udata;
    int to = raft_node_get_id(node);
    msg_t *m = new_msg();
    m->u.snap = *req;
    m->u.snap.chunk.data = xcalloc(1, (size_t)req->chunk.len);
    memcpy(m->u.snap.chunk.data, req->chunk.data, req->chunk.len);
    me->chunks_in_flight[to]++;
    chunks_sent++;
    say("node %d -> node %d: snapshot chunk at offset %llu (%llu bytes%s)", me->id,
        to, (unsigned long long)req->chunk.offset,
        (unsigned long long)req->chunk.len, req->chunk.last_chunk ? ", last" : "");
    enqueue(SNAP, me->id, to, m);
    return 0;
}

/* Delivers one message and queues the reply, if any. */
static void deliver(msg_t *m)
{
    server_t *dst = &servers[m->to];
    if (!reachable(m->from, m->to)) {
        free_msg(m);
        return;
    }

    raft_server_t *r = dst->raft;
    raft_node_t *node = raft_get_node(r, m->from);
    msg_t *reply = NULL;
    int e = 0;

    switch (m->type) {
    case RV:
        reply = new_msg();
        e = raft_recv_requestvote(r, node, &m->u.rv, &reply->u.rv_resp);
        enqueue(RV_RESP, m->to, m->from, reply);
        break;
    case RV_RESP:
        if (node)
            e = raft_recv_requestvote_response(r, node, &m->u.rv_resp);
        break;
    case AE:
        for (raft_index_t i = 0; i < m->u.ae.n_entries; i++) {
            raft_entry_t *sent = m->u.ae.entries[i];
            m->u.ae.entries[i] = copy_entry(sent);
            raft_entry_release(sent);
        }
        reply = new_msg();
        /* The receiver keeps its own references; ours are released below. */
        e = raft_recv_appendentries(r, node, &m->u.ae, &reply->u.ae_resp);
        enqueue(AE_RESP, m->to, m->from, reply);
        break;
    case AE_RESP:
        if (node)
            e = raft_recv_appendentries_response(r, node, &m->u.ae_resp);
        break;
    case SNAP:
        reply = new_msg();
        e = raft_recv_snapshot(r, node, &m->u.snap, &reply->u.snap_resp);
        enqueue(SNAP_RESP, m->to, m->from, reply);
        break;
    case SNAP_RESP:
        if (node)
            e = raft_recv_snapshot_response(r, node, &m->u.snap_resp);
        break;
    }
    if (e == RAFT_ERR_SHUTDOWN) {
        say("node %d asked to shut down: this must not happen", dst->id);
        failures++;
    }
    free_msg(m);
}

/* ------------------------------------------------------- the state machine */

/* Node ids in membership entries are written as text: "4". */
static raft_node_id_t entry_node_id(const raft_entry_t *e)
{
    char buf[16] = {0};
    memcpy(buf, e->data, e->data_len < sizeof(buf) - 1 ? e->data_len : sizeof(buf) - 1);
    return atoi(buf);
}

static int applylog(raft_server_t *raft, void *udata, raft_entry_t *e, raft_index_t idx)
{
    (void)raft;
    (void)idx;
    server_t *me = udata;
    if (e->type != RAFT_LOGTYPE_NORMAL)
        return 0;

    char cmd[96] = {0}, key[24], val[40];
    memcpy(cmd, e->data, e->data_len < sizeof(cmd) - 1 ? e->data_len : sizeof(cmd) - 1);
    if (sscanf(cmd, "SET %23s %39s", key, val) == 2)
        table_set(&me->table, key, val);
    return 0;
}

static raft_node_id_t get_node_id(raft_server_t *raft, void *udata, raft_entry_t *e,
                                  raft_index_t idx)
{
    (void)raft;
    (void)udata;
    (void)idx;
    return entry_node_id(e);
}

static int persist_metadata(raft_server_t *raft, void *udata, raft_term_t term,
                            raft_node_id_t vote)
{
    /* A real store would fsync term and vote here; ours lives in memory. */
    (void)raft;
    (void)udata;
    (void)term;
    (void)vote;
    return 0;
}

static raft_entry_t *membership_entry(int type, raft_node_id_t id)
{
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%d", id);
    raft_entry_t *e = raft_entry_new((unsigned int)n);
    e->type = (short)type;
    e->id = next_entry_id++;
    memcpy(e->data, buf, (size_t)n);
    return e;
}

/* Called on the leader when a non-voter has caught up: promote it, from inside
 * the callback (the library allows this re-entrant call). */
static int node_has_sufficient_logs(raft_server_t *raft, void *udata, raft_node_t *node)
{
    server_t *me = udata;
    raft_node_id_t id = raft_node_get_id(node);
    raft_entry_t *e = membership_entry(RAFT_LOGTYPE_ADD_NODE, id);
    raft_entry_resp_t resp;
    int rc = raft_recv_entry(raft, e, &resp);
    raft_entry_release(e);
    if (rc != 0) {
        say("leader %d: node %d caught up, but promotion must wait (error %d)", me->id, id, rc);
        return -1;
    }
    say("leader %d: node %d has caught up -> ADD_NODE entry at index %ld promotes it",
        me->id, id, (long)resp.idx);
    return 0;
}

static void notify_membership_event(raft_server_t *raft, void *udata, raft_node_t *node,
                                    raft_entry_t *entry, raft_membership_e type)
{
    (void)udata;
    /* One line per change (the leader's view); the others follow the log. */
    if (!entry || !raft_is_leader(raft))
        return;
    say("membership: node %d %s the configuration (%s entry)", raft_node_get_id(node),
        type == RAFT_MEMBERSHIP_ADD ? "joins" : "leaves",
        entry->type == RAFT_LOGTYPE_ADD_NONVOTING_NODE ? "ADD_NONVOTING_NODE"
        : entry->type == RAFT_LOGTYPE_ADD_NODE         ? "ADD_NODE"
                                                       : "REMOVE_NODE");
}

static void notify_state_event(raft_server_t *raft, void *udata, raft_state_e state)
{
    server_t *me = udata;
    if (state == RAFT_STATE_CANDIDATE)
        say("node %d won the pre-vote and starts an election for term %ld", me->id,
            (long)raft_get_current_term(raft) + 1);
    else if (state == RAFT_STATE_LEADER)
        say("node %d is the LEADER of term %ld", me->id, (long)raft_get_current_term(raft));
}

static void log_cb(raft_server_t *raft, raft_node_id_t node, void *udata, const char *buf)
{
    (void)raft;
    (void)node;
    server_t *me = udata;
    printf("           trace node %d: %s\n", me->id, buf);
}

static raft_time_t timestamp(raft_server_t *raft, void *udata)
{
    (void)raft;
    (void)udata;
    return now_us;
}

/* -------------------------------------------------------------- snapshots */

/* The snapshot is text: the committed membership, then the table. */
static char *serialize(server_t *me, size_t *len)
{
    size_t cap = 128 + (size_t)MAX_NODES * 32 + (size_t)MAX_KEYS * 80, n = 0;
    char *buf = xcalloc(1, cap);
    raft_server_t *r = me->raft;
    int members = 0;
    for (int i = 0; i < raft_get_num_nodes(r); i++)
        if (raft_node_is_addition_committed(raft_get_node_from_idx(r, i)))
            members++;
    n += (size_t)snprintf(buf + n, cap - n, "members %d\n", members);
    for (int i = 0; i < raft_get_num_nodes(r); i++) {
        raft_node_t *node = raft_get_node_from_idx(r, i);
        if (raft_node_is_addition_committed(node))
            n += (size_t)snprintf(buf + n, cap - n, "%d %d\n", raft_node_get_id(node),
                                  raft_node_is_voting_committed(node));
    }
    n += (size_t)snprintf(buf + n, cap - n, "keys %d\n", me->table.n);
    for (int i = 0; i < me->table.n; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s %s\n", me->table.pairs[i].key,
                              me->table.pairs[i].val);
    *len = n;
    return buf;
}

static int take_snapshot(server_t *me)
{
    int rc = raft_begin_snapshot(me->raft);
    if (rc != 0)
        return rc;
    raft_index_t before = raft_get_log_count(me->raft);
    free(me->snap);
    me->snap = serialize(me, &me->snap_len);
    rc = raft_end_snapshot(me->raft);
    if (rc != 0)
        return rc;
    say("node %d: snapshot of %d keys (%zu bytes) up to index %ld, term %ld", me->id,
        me->table.n, me->snap_len, (long)raft_get_snapshot_last_idx(me->raft),
        (long)raft_get_snapshot_last_term(me->raft));
    say("node %d: log compacted from %ld to %ld entries", me->id, (long)before,
        (long)raft_get_log_count(me->raft));
    return 0;
}

static int get_snapshot_chunk(raft_server_t *raft, void *udata, raft_node_t *node,
                              raft_size_t offset, raft_snapshot_chunk_t *chunk)
{
    (void)raft;
    server_t *me = udata;
    int to = raft_node_get_id(node);
    if (me->chunks_in_flight[to] >= MAX_CHUNKS_IN_FLIGHT) {
        backpressure_hits++;
        return RAFT_ERR_DONE;   /* wait for acknowledgements before sending more */
    }
    if (!me->snap || offset > me->snap_len)
        return -1;
    size_t left = me->snap_len - (size_t)offset;
    chunk->data = me->snap + offset;
    chunk->len = left < CHUNK_SIZE ? left : CHUNK_SIZE;
    chunk->last_chunk = chunk->len == left;
    return 0;
}

static int store_snapshot_chunk(raft_server_t *raft, void *udata, raft_index_t snapshot_index,
                                raft_size_t offset, raft_snapshot_chunk_t *chunk)
{
    (void)raft;
    (void)snapshot_index;
    server_t *me = udata;
    if (offset != me->inbox_len)
        return -1;
    char *p = realloc(me->inbox, me->inbox_len + chunk->len + 1);
    if (!p)
        return -1;
    me->inbox = p;
    memcpy(me->inbox + me->inbox_len, chunk->data, chunk->len);
    me->inbox_len += chunk->len;
    me->inbox[me->inbox_len] = '\0';
    return 0;
}

static int clear_snapshot(raft_server_t *raft, void *udata)
{
    (void)raft;
    server_t *me = udata;
    me->inbox_len = 0;
    return 0;
}

/* The whole snapshot has arrived: replace the table, then rebuild the
 * membership between raft_begin_load_snapshot and raft_end_load_snapshot. */
static int load_snapshot(raft_server_t *raft, void *udata, raft_term_t term, raft_index_t idx)
{
    server_t *me = udata;
    int ids[MAX_NODES], voting[MAX_NODES], members = 0, keys = 0, used = 0;
    kv_table_t table = {0};
    const char *p = me->inbox;

    if (!p || sscanf(p, "members %d\n%n", &members, &used) != 1 || members > MAX_NODES)
        return -1;
    p += used;
    for (int i = 0; i < members; i++, p += used)
        if (sscanf(p, "%d %d\n%n", &ids[i], &voting[i], &used) != 2)
            return -1;
    if (sscanf(p, "keys %d\n%n", &keys, &used) != 1)
        return -1;
    p += used;
    for (int i = 0; i < keys; i++, p += used) {
        char key[24], val[40];
        if (sscanf(p, "%23s %39s\n%n", key, val, &used) != 2)
            return -1;
        table_set(&table, key, val);
    }

    int rc = raft_begin_load_snapshot(raft, term, idx);
    if (rc != 0)
        return rc == RAFT_ERR_SNAPSHOT_ALREADY_LOADED ? 0 : -1;
    for (int i = 0; i < members; i++) {
        if (ids[i] == me->id)
            raft_node_set_voting(raft_get_my_node(raft), voting[i]);
        else if (voting[i])
            raft_add_node(raft, NULL, ids[i], 0);
        else
            raft_add_non_voting_node(raft, NULL, ids[i], 0);
    }
    raft_end_load_snapshot(raft);

    me->table = table;
    free(me->snap);
    me->snap = me->inbox;
    me->snap_len = me->inbox_len;
    me->inbox = NULL;
    me->inbox_len = 0;
    say("node %d: loaded the snapshot (index %ld, term %ld): %d keys, %d members", me->id,
        (long)idx, (long)term, keys, members);
    return 0;
}

/* ------------------------------------------------------- running the world */

static void start_server(int id, int n_voters, int self_voting)
{
    server_t *s = &servers[id];
    raft_cbs_t cbs = {
        .send_requestvote = send_requestvote,
        .send_appendentries = send_appendentries,
        .send_snapshot = send_snapshot,
        .load_snapshot = load_snapshot,
        .get_snapshot_chunk = get_snapshot_chunk,
        .store_snapshot_chunk = store_snapshot_chunk,
        .clear_snapshot = clear_snapshot,
        .applylog = applylog,
        .persist_metadata = persist_metadata,
        .get_node_id = get_node_id,
        .node_has_sufficient_logs = node_has_sufficient_logs,
        .notify_membership_event = notify_membership_event,
        .notify_state_event = notify_state_event,
        .log = log_cb,
        .timestamp = timestamp,
    };
    s->id = id;
    s->raft = raft_new();
    if (!s->raft) {
        fprintf(stderr, "raft_new failed\n");
        exit(2);
    }
    raft_set_callbacks(s->raft, &cbs, s);
    if (trace)
        raft_config(s->raft, 1, RAFT_CONFIG_LOG_ENABLED, 1);

    /* The initial voters are configured statically; a joiner also learns them
     * this way and is told it is not (yet) a voter itself. */
    for (int peer = 1; peer <= n_voters; peer++) {
        if (peer == id)
            continue;
        /* Bootstrap configuration counts as committed (snapshots record it). */
        raft_node_t *n = raft_add_node(s->raft, NULL, peer, 0);
        raft_node_set_voting_committed(n, 1);
        raft_node_set_addition_committed(n, 1);
    }
    if (self_voting) {
        raft_node_t *n = raft_add_node(s->raft, NULL, id, 1);
        raft_node_set_voting_committed(n, 1);
        raft_node_set_addition_committed(n, 1);
    } else {
        raft_add_non_voting_node(s->raft, NULL, id, 1);
    }
    s->present = 1;
}

/* Advances the clock by one tick, then delivers messages until the network is quiet. */
static void tick(void)
{
    now_us += TICK_MS * 1000;
    for (int id = 1; id <= MAX_NODES; id++)
        if (servers[id].present)
            raft_periodic(servers[id].raft);
    for (int n = 0; queue_head && n < 100000; n++) {
        msg_t *m = queue_head;
        queue_head = m->next;
        if (!queue_head)
            queue_tail = NULL;
        deliver(m);
    }
}

/* The reachable leader with the highest term (a cut-off old leader may still
 * believe it leads until it notices it lost its quorum). */
static server_t *leader_in(int group)
{
    server_t *best = NULL;
    for (int id = 1; id <= MAX_NODES; id++) {
        server_t *s = &servers[id];
        if (s->present && s->group == group && raft_is_leader(s->raft) &&
            (!best || raft_get_current_term(s->raft) > raft_get_current_term(best->raft)))
            best = s;
    }
    return best;
}

typedef int (*cond_fn)(void *arg);

static int run_until(cond_fn cond, void *arg, int max_ms, const char *what)
{
    for (int t = 0; t <= max_ms; t += TICK_MS) {
        if (cond(arg))
            return 1;
        tick();
    }
    say("FAILED: %s did not happen within %d ms", what, max_ms);
    failures++;
    return 0;
}

static int has_leader(void *arg) { return leader_in(*(int *)arg) != NULL; }

static int has_other_leader(void *arg)
{
    server_t *l = leader_in(0);
    return l && l != arg;
}

static int is_follower_of_leader(void *arg)
{
    server_t *s = arg, *l = leader_in(0);
    return l && raft_is_follower(s->raft) && raft_get_leader_id(s->raft) == l->id;
}

/* Every present node has applied everything the leader has committed. */
static int converged(void *arg)
{
    (void)arg;
    server_t *l = leader_in(0);
    if (!l)
        return 0;
    raft_index_t commit = raft_get_commit_idx(l->raft);
    for (int id = 1; id <= MAX_NODES; id++) {
        server_t *s = &servers[id];
        if (s->present && s->group == 0 &&
            (raft_get_commit_idx(s->raft) != commit ||
             raft_get_last_applied_idx(s->raft) != commit))
            return 0;
    }
    return 1;
}

typedef struct {
    server_t *leader;
    raft_entry_resp_t resp;
} pending_t;

static int committed(void *arg)
{
    pending_t *p = arg;
    return raft_msg_entry_response_committed(p->leader->raft, &p->resp) != 0;
}

typedef struct {
    int group;
    const char *key, *val;
    int applied, reachable;
} write_t;

static int applied_everywhere(void *arg)
{
    write_t *w = arg;
    w->applied = w->reachable = 0;
    for (int id = 1; id <= MAX_NODES; id++) {
        server_t *s = &servers[id];
        if (!s->present || s->group != w->group)
            continue;
        const char *v = table_get(&s->table, w->key);
        w->reachable++;
        w->applied += v && strcmp(v, w->val) == 0;
    }
    return w->applied == w->reachable;
}

/* A client write: submit to the leader and wait until it is committed. */
static void client_set(const char *key, const char *val)
{
    int zero = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (!run_until(has_leader, &zero, 5000, "electing a leader"))
            return;
        pending_t p = {leader_in(0), {0}};
        char cmd[96];
        int n = snprintf(cmd, sizeof(cmd), "SET %s %s", key, val);
        raft_entry_t *e = raft_entry_new((unsigned int)n);
        e->type = RAFT_LOGTYPE_NORMAL;
        e->id = next_entry_id++;
        memcpy(e->data, cmd, (size_t)n);
        int rc = raft_recv_entry(p.leader->raft, e, &p.resp);
        raft_entry_release(e);
        if (rc != 0) {
            say("node %d refused %s (error %d); retrying", p.leader->id, cmd, rc);
            tick();
            continue;
        }
        if (!run_until(committed, &p, 5000, "committing a write"))
            return;
        if (raft_msg_entry_response_committed(p.leader->raft, &p.resp) == 1) {
            /* Followers learn the new commit index with the next appendentries. */
            write_t w = {p.leader->group, key, val, 0, 0};
            run_until(applied_everywhere, &w, 2000, "applying a write");
            say("SET %-7s = %-9s committed at index %-2ld by leader %d, applied on %d/%d "
                "reachable nodes", key, val, (long)p.resp.idx, p.leader->id, w.applied,
                w.reachable);
            return;
        }
        say("%s was overwritten by a new leader; retrying", cmd);
    }
    say("FAILED: could not write %s", key);
    failures++;
}

static void show_configuration(void)
{
    for (int id = 1; id <= MAX_NODES; id++) {
        server_t *s = &servers[id];
        if (!s->present)
            continue;
        printf("             node %d sees:", id);
        for (int i = 0; i < raft_get_num_nodes(s->raft); i++) {
            raft_node_t *n = raft_get_node_from_idx(s->raft, i);
            printf(" %d%s", raft_node_get_id(n), raft_node_is_voting(n) ? "" : "(non-voting)");
        }
        printf("\n");
    }
}

static int promoted(void *arg)
{
    int id = *(int *)arg;
    server_t *l = leader_in(0);
    if (!l || raft_voting_change_is_in_progress(l->raft) || !converged(NULL))
        return 0;
    for (int s = 1; s <= MAX_NODES; s++) {
        raft_node_t *n = servers[s].present ? raft_get_node(servers[s].raft, id) : NULL;
        if (servers[s].present && (!n || !raft_node_is_voting(n)))
            return 0;
    }
    return 1;
}

static int verify(void)
{
    server_t *l = leader_in(0);
    int ok = l != NULL;
    printf("\n== 6. Checking that every node holds the same data ==\n");
    for (int id = 1; id <= MAX_NODES && l; id++) {
        server_t *s = &servers[id];
        if (!s->present)
            continue;
        int same = tables_equal(&s->table, &l->table) &&
                   raft_get_commit_idx(s->raft) == raft_get_commit_idx(l->raft) &&
                   raft_get_num_voting_nodes(s->raft) == raft_get_num_voting_nodes(l->raft);
        printf("  node %d: %-8s term %ld, commit %ld, applied %ld, %ld log entries after "
               "snapshot %ld, %d keys, %d voters: %s\n",
               id, raft_is_leader(s->raft) ? "leader" : "follower",
               (long)raft_get_current_term(s->raft), (long)raft_get_commit_idx(s->raft),
               (long)raft_get_last_applied_idx(s->raft), (long)raft_get_log_count(s->raft),
               (long)raft_get_snapshot_last_idx(s->raft), s->table.n,
               raft_get_num_voting_nodes(s->raft), same ? "same data" : "DIFFERENT");
        ok &= same;
    }
    if (l) {
        printf("  table:");
        for (int i = 0; i < l->table.n; i++)
            printf(" %s=%s", l->table.pairs[i].key, l->table.pairs[i].val);
        printf("\n");
    }
    return ok && failures == 0;
}

static void shutdown_all(void)
{
    while (queue_head) {
        msg_t *m = queue_head;
        queue_head = m->next;
        free_msg(m);
    }
    queue_tail = NULL;
    for (int id = 1; id <= MAX_NODES; id++) {
        server_t *s = &servers[id];
        if (s->raft)
            raft_destroy(s->raft);
        free(s->snap);
        free(s->inbox);
        memset(s, 0, sizeof(*s));
    }
}

int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;
    const char *t = getenv("RAFT_DEMO_TRACE");
    trace = t && *t && strcmp(t, "0") != 0;
    srand(seed);

    printf("libraft demo: a replicated key-value store (seed %u)\n", seed);
    printf("Raft nodes run in one process over a simulated network and a fake clock.\n");

    step("1. Three nodes elect a leader");
    for (int id = 1; id <= 3; id++)
        start_server(id, 3, 1);
    int zero = 0;
    run_until(has_leader, &zero, 10000, "electing a leader");

    step("2. Writes are replicated to every node");
    client_set("apple", "red");
    client_set("banana", "yellow");
    client_set("cherry", "dark-red");

    step("3. The leader is cut off; the others elect a new leader");
    server_t *old = leader_in(0);
    if (old) {
        old->group = 1;
        say("network partition: node %d is isolated", old->id);
        run_until(has_other_leader, old, 10000, "re-electing a leader");
        client_set("apple", "green");
        client_set("date", "brown");
        old->group = 0;
        say("network healed: node %d is back", old->id);
        run_until(is_follower_of_leader, old, 10000, "the old leader stepping down");
        run_until(converged, NULL, 5000, "the old leader catching up");
        say("node %d follows node %d and has caught up: apple=%s", old->id,
            raft_get_leader_id(old->raft), table_get(&old->table, "apple"));
    }

    step("4. Node 4 joins as a non-voter and is promoted once caught up");
    server_t *l = leader_in(0);
    if (l) {
        start_server(4, 3, 0);
        say("node 4 started, knowing nodes 1-3 and itself as a non-voter");
        raft_entry_t *e = membership_entry(RAFT_LOGTYPE_ADD_NONVOTING_NODE, 4);
        raft_entry_resp_t resp;
        int rc = raft_recv_entry(l->raft, e, &resp);
        raft_entry_release(e);
        if (rc != 0) {
            say("FAILED: leader refused ADD_NONVOTING_NODE (error %d)", rc);
            failures++;
        }
        int four = 4;
        run_until(promoted, &four, 10000, "promoting node 4");
        say("node 4 is a voter on every node; node 4 has %d keys", servers[4].table.n);
        show_configuration();
        client_set("elder", "purple");
    }

    step("5. A lagging follower catches up from a snapshot");
    l = leader_in(0);
    server_t *lag = NULL;
    for (int id = 1; id <= 3 && l && !lag; id++)
        if (&servers[id] != l)
            lag = &servers[id];
    if (lag) {
        lag->group = 2;
        say("network partition: node %d is isolated", lag->id);
        client_set("fig", "green");
        client_set("grape", "purple");
        client_set("banana", "brown");
        l = leader_in(0);
        int rc = l ? take_snapshot(l) : -1;
        if (rc != 0) {
            say("FAILED: snapshot (error %d)", rc);
            failures++;
        }
        client_set("kiwi", "green");
        lag->group = 0;
        say("network healed: node %d is back, %ld entries behind",
            lag->id, l ? (long)(raft_get_current_idx(l->raft) - raft_get_current_idx(lag->raft)) : 0L);
        run_until(converged, NULL, 10000, "the lagging node catching up");
        say("%d chunks sent; the leader held back %d times (at most %d chunks in flight)",
            chunks_sent, backpressure_hits, MAX_CHUNKS_IN_FLIGHT);
        client_set("lemon", "yellow");
        run_until(converged, NULL, 5000, "all nodes applying the last write");
    }

    int ok = verify();
    shutdown_all();
    printf("\n%s\n", ok ? "OK: all nodes agree." : "FAILED: the nodes disagree.");
    return ok ? 0 : 1;
}
