/* The in-process test cluster; see cluster.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "cluster_internal.h"

static cl_node_t *self_of(void *udata) { return (cl_node_t *)udata; }

/* Shared with cluster_snapshot.c through cluster_internal.h. */

void cl_enqueue(cluster_t *cl, cl_msg_t *m)
{
    if (cl->hooks.on_message)
        cl->hooks.on_message(cl, m);
    m->next = NULL;
    if (cl->tail)
        cl->tail->next = m;
    else
        cl->head = m;
    cl->tail = m;
    cl->queued++;
}

cl_msg_t *cl_new_msg(cl_node_t *from, raft_node_id_t to, cl_msg_type_e type)
{
    cl_msg_t *m = calloc(1, sizeof(*m));
    m->type = type;
    m->from = from->id;
    m->to = to;
    return m;
}

static void free_msg(cl_msg_t *m)
{
    free(m->chunk);
    if (m->entries) {
        for (raft_index_t i = 0; i < m->u.ae.n_entries; i++)
            free(m->entries[i].data);
        free(m->entries);
    }
    free(m);
}

/* ---- callbacks ---------------------------------------------------------- */

static int cb_send_requestvote(raft_server_t *r, void *udata, raft_node_t *node,
                               raft_requestvote_req_t *msg)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.send_requestvote++;
    if (n->cl->hooks.send_requestvote) {
        int e = n->cl->hooks.send_requestvote(n, node, msg);
        if (e != 0)
            return e;
    }
    cl_msg_t *m = cl_new_msg(n, raft_node_get_id(node), CL_MSG_REQUESTVOTE);
    m->u.rv = *msg;
    cl_enqueue(n->cl, m);
    return 0;
}

static int cb_send_appendentries(raft_server_t *r, void *udata, raft_node_t *node,
                                 raft_appendentries_req_t *msg)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.send_appendentries++;
    if (n->cl->hooks.send_appendentries) {
        int e = n->cl->hooks.send_appendentries(n, node, msg);
        if (e != 0)
            return e;
    }
    cl_msg_t *m = cl_new_msg(n, raft_node_get_id(node), CL_MSG_APPENDENTRIES);
    m->u.ae = *msg;
    m->u.ae.entries = NULL;
    if (msg->n_entries > 0) {
        m->entries = calloc((size_t)msg->n_entries, sizeof(*m->entries));
        for (raft_index_t i = 0; i < msg->n_entries; i++) {
            raft_entry_t *e = msg->entries[i];
            cl_wire_entry_t *w = &m->entries[i];
            w->term = e->term;
            w->id = e->id;
            w->type = e->type;
            w->data_len = e->data_len;
            w->data = malloc(e->data_len ? e->data_len : 1);
            memcpy(w->data, e->data, e->data_len);
        }
    }
    cl_enqueue(n->cl, m);
    return 0;
}

static int cb_applylog(raft_server_t *r, void *udata, raft_entry_t *e, raft_index_t idx)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.applylog++;
    if (n->n_applied < CL_MAX_APPLIED) {
        cl_applied_t *a = &n->applied[n->n_applied++];
        a->idx = idx;
        a->term = e->term;
        a->id = e->id;
        a->type = e->type;
        a->value = 0;
        if (e->data_len >= sizeof(int))
            memcpy(&a->value, e->data, sizeof(int));
    }
    if (n->cl->hooks.applylog)
        return n->cl->hooks.applylog(n, e, idx);
    return 0;
}

static int cb_persist_metadata(raft_server_t *r, void *udata, raft_term_t term,
                               raft_node_id_t vote)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.persist_metadata++;
    n->last_persist_term = term;
    n->last_persist_vote = vote;
    if (n->cl->hooks.persist_metadata)
        return n->cl->hooks.persist_metadata(n, term, vote);
    return 0;
}

static raft_node_id_t cb_get_node_id(raft_server_t *r, void *udata, raft_entry_t *e,
                                     raft_index_t idx)
{
    cl_node_t *n = self_of(udata);
    raft_node_id_t id = RAFT_NODE_ID_NONE;
    (void)r;
    (void)idx;
    n->n.get_node_id++;
    if (e->data_len >= sizeof(id))
        memcpy(&id, e->data, sizeof(id));
    return id;
}

static int cb_node_has_sufficient_logs(raft_server_t *r, void *udata, raft_node_t *node)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.node_has_sufficient_logs++;
    if (n->cl->hooks.node_has_sufficient_logs)
        return n->cl->hooks.node_has_sufficient_logs(n, node);
    return -1;
}

static void cb_membership_event(raft_server_t *r, void *udata, raft_node_t *node,
                                raft_entry_t *e, raft_membership_e type)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    if (type == RAFT_MEMBERSHIP_ADD)
        n->n.membership_add++;
    else
        n->n.membership_remove++;
    if (n->cl->hooks.membership_event)
        n->cl->hooks.membership_event(n, node, e, type);
}

static void cb_state_event(raft_server_t *r, void *udata, raft_state_e state)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.state_event++;
    if (n->n_states < CL_MAX_STATES)
        n->states[n->n_states++] = state;
    if (n->cl->hooks.state_event)
        n->cl->hooks.state_event(n, state);
}

static void cb_transfer_event(raft_server_t *r, void *udata, raft_leader_transfer_e result)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.transfer_event++;
    if (n->n_transfer_results < 16)
        n->transfer_results[n->n_transfer_results++] = result;
    if (n->cl->hooks.transfer_event)
        n->cl->hooks.transfer_event(n, result);
}

static void cb_log(raft_server_t *r, raft_node_id_t node_id, void *udata, const char *buf)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    (void)node_id;
    if (buf && buf[0])
        n->n.log++;
}

static int cb_send_timeoutnow(raft_server_t *r, void *udata, raft_node_t *node)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.send_timeoutnow++;
    cl_enqueue(n->cl, cl_new_msg(n, raft_node_get_id(node), CL_MSG_TIMEOUTNOW));
    return 0;
}

static int cb_backpressure(raft_server_t *r, void *udata, raft_node_t *node)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.backpressure++;
    if (n->cl->hooks.backpressure)
        return n->cl->hooks.backpressure(n, node);
    return 0;
}

static raft_index_t cb_get_entries_to_send(raft_server_t *r, void *udata, raft_node_t *node,
                                           raft_index_t idx, raft_index_t max,
                                           raft_entry_t **entries)
{
    cl_node_t *n = self_of(udata);
    n->n.get_entries_to_send++;
    if (n->cl->hooks.get_entries_to_send)
        return n->cl->hooks.get_entries_to_send(n, node, idx, max, entries);
    if (n->cl->max_entries_per_msg > 0 && max > n->cl->max_entries_per_msg)
        max = n->cl->max_entries_per_msg;
    raft_index_t got = 0;
    while (got < max) {
        raft_entry_t *e = raft_get_entry_from_idx(r, idx + got);
        if (!e)
            break;
        entries[got++] = e;
    }
    return got;
}

static raft_time_t cb_timestamp(raft_server_t *r, void *udata)
{
    cl_node_t *n = self_of(udata);
    (void)r;
    n->n.timestamp++;
    return n->cl->now_us;
}

/* ---- construction ------------------------------------------------------- */

static void init_server(cluster_t *cl, cl_node_t *n, raft_node_id_t id, int flags)
{
    raft_cbs_t cbs;
    memset(&cbs, 0, sizeof(cbs));
    cbs.send_requestvote = cb_send_requestvote;
    cbs.send_appendentries = cb_send_appendentries;
    cbs.applylog = cb_applylog;
    cbs.persist_metadata = cb_persist_metadata;
    cbs.get_node_id = cb_get_node_id;
    cbs.node_has_sufficient_logs = cb_node_has_sufficient_logs;
    cbs.notify_membership_event = cb_membership_event;
    cbs.notify_state_event = cb_state_event;
    cbs.notify_transfer_event = cb_transfer_event;
    cbs.log = cb_log;
    cbs.send_timeoutnow = cb_send_timeoutnow;
    cbs.timestamp = cb_timestamp;
    cl_snapshot_callbacks(&cbs);
    if (flags & CL_BACKPRESSURE)
        cbs.backpressure = cb_backpressure;
    if (flags & CL_GET_ENTRIES)
        cbs.get_entries_to_send = cb_get_entries_to_send;

    memset(n, 0, sizeof(*n));
    n->cl = cl;
    n->id = id;
    n->last_persist_vote = RAFT_NODE_ID_NONE;
    n->raft = raft_new();
    raft_set_callbacks(n->raft, &cbs, n);
    if (flags & CL_LOG)
        raft_config(n->raft, 1, RAFT_CONFIG_LOG_ENABLED, 1);
}

static int cluster_flags;

/* A library bug that loops forever must fail the test binary, not hang
 * `make test`: the first cluster arms a watchdog (SIGALRM ends the process)
 * unless the caller already set one. */
static void arm_watchdog(void)
{
    static int armed;
    if (armed)
        return;
    armed = 1;
    unsigned left = alarm(0);
    alarm(left ? left : CL_WATCHDOG_SECONDS);
}

cluster_t *cluster_new(int n, int flags)
{
    arm_watchdog();
    cluster_t *cl = calloc(1, sizeof(*cl));
    if (n > CL_MAX_NODES)
        n = CL_MAX_NODES;
    cl->n = n;
    cl->auto_flush = 1;
    cl->now_us = 1000000;
    cluster_flags = flags;
    srand(4242 + (unsigned)n);
    for (int i = 0; i < n; i++) {
        cl_node_t *node = &cl->nodes[i];
        init_server(cl, node, i + 1, flags);
        for (int j = 0; j < n; j++)
            raft_add_node(node->raft, NULL, j + 1, i == j);
    }
    return cl;
}

cl_node_t *cluster_add_joiner(cluster_t *cl)
{
    if (cl->n >= CL_MAX_NODES)
        return NULL;
    cl_node_t *n = &cl->nodes[cl->n];
    init_server(cl, n, cl->n + 1, cluster_flags);
    /* It knows the current members, as it would from their configuration
     * entries; otherwise, once voting, it would be a one-node cluster. */
    for (raft_node_id_t id = 1; id <= cl->n; id++)
        raft_add_node(n->raft, NULL, id, 0);
    raft_add_non_voting_node(n->raft, NULL, n->id, 1);
    cl->n++;
    return n;
}

void cluster_free(cluster_t *cl)
{
    cluster_drop_all(cl);
    for (int i = 0; i < cl->n; i++) {
        if (cl->nodes[i].raft)
            raft_destroy(cl->nodes[i].raft);
        free(cl->nodes[i].snap);
        free(cl->nodes[i].incoming);
    }
    free(cl);
}

cl_node_t *cl_node(cluster_t *cl, raft_node_id_t id)
{
    if (id < 1 || id > cl->n)
        return NULL;
    return &cl->nodes[id - 1];
}

raft_server_t *cl_raft(cluster_t *cl, raft_node_id_t id)
{
    cl_node_t *n = cl_node(cl, id);
    return n ? n->raft : NULL;
}

/* ---- delivery ----------------------------------------------------------- */

static void note(cl_node_t *n, int e)
{
    if (e != 0)
        n->last_error = e;
    if (e == RAFT_ERR_SHUTDOWN)
        n->shutdowns++;
}

static void dispatch(cluster_t *cl, cl_msg_t *m)
{
    cl_node_t *to = cl_node(cl, m->to);
    raft_server_t *r = to->raft;
    raft_node_t *from = raft_get_node(r, m->from);

    switch (m->type) {
    case CL_MSG_REQUESTVOTE: {
        cl_msg_t *resp = cl_new_msg(to, m->from, CL_MSG_REQUESTVOTE_RESP);
        note(to, raft_recv_requestvote(r, from, &m->u.rv, &resp->u.rvr));
        cl_enqueue(cl, resp);
        break;
    }
    case CL_MSG_REQUESTVOTE_RESP:
        note(to, raft_recv_requestvote_response(r, from, &m->u.rvr));
        break;
    case CL_MSG_APPENDENTRIES: {
        raft_appendentries_req_t ae = m->u.ae;
        raft_entry_t **etys = NULL;
        if (ae.n_entries > 0) {
            etys = calloc((size_t)ae.n_entries, sizeof(*etys));
            for (raft_index_t i = 0; i < ae.n_entries; i++) {
                cl_wire_entry_t *w = &m->entries[i];
                raft_entry_t *e = raft_entry_new(w->data_len);
                e->term = w->term;
                e->id = w->id;
                e->type = w->type;
                memcpy(e->data, w->data, w->data_len);
                etys[i] = e;
            }
        }
        ae.entries = etys;
        cl_msg_t *resp = cl_new_msg(to, m->from, CL_MSG_APPENDENTRIES_RESP);
        note(to, raft_recv_appendentries(r, from, &ae, &resp->u.aer));
        for (raft_index_t i = 0; i < ae.n_entries; i++)
            raft_entry_release(etys[i]);
        free(etys);
        cl_enqueue(cl, resp);
        break;
    }
    case CL_MSG_APPENDENTRIES_RESP:
        note(to, raft_recv_appendentries_response(r, from, &m->u.aer));
        break;
    case CL_MSG_TIMEOUTNOW:
        note(to, raft_timeout_now(r));
        break;
    case CL_MSG_SNAPSHOT: {
        cl_msg_t *resp = cl_new_msg(to, m->from, CL_MSG_SNAPSHOT_RESP);
        note(to, raft_recv_snapshot(r, from, &m->u.snap, &resp->u.snapr));
        cl_enqueue(cl, resp);
        break;
    }
    case CL_MSG_SNAPSHOT_RESP:
        note(to, raft_recv_snapshot_response(r, from, &m->u.snapr));
        break;
    }
}

static int deliverable(cluster_t *cl, cl_msg_t *m)
{
    cl_node_t *from = cl_node(cl, m->from), *to = cl_node(cl, m->to);
    return from && to && !from->down && !to->down && to->raft &&
           !cl->blocked[m->from][m->to];
}

int cluster_rand(cluster_t *cl, int n)
{
    /* xorshift64* */
    if (cl->rng == 0)
        cl->rng = 0x9E3779B97F4A7C15ull;
    cl->rng ^= cl->rng >> 12;
    cl->rng ^= cl->rng << 25;
    cl->rng ^= cl->rng >> 27;
    unsigned long long r = cl->rng * 2685821657736338717ull;
    return n > 0 ? (int)((r >> 33) % (unsigned long long)n) : 0;
}

static cl_msg_t *copy_msg(const cl_msg_t *m)
{
    cl_msg_t *c = malloc(sizeof(*c));
    *c = *m;
    c->next = NULL;
    if (m->chunk) {
        size_t len = (size_t)m->u.snap.chunk.len;
        c->chunk = malloc(len ? len : 1);
        memcpy(c->chunk, m->chunk, len);
        c->u.snap.chunk.data = c->chunk;
    }
    if (m->entries) {
        c->entries = calloc((size_t)m->u.ae.n_entries, sizeof(*c->entries));
        for (raft_index_t i = 0; i < m->u.ae.n_entries; i++) {
            c->entries[i] = m->entries[i];
            c->entries[i].data = malloc(m->entries[i].data_len ? m->entries[i].data_len : 1);
            memcpy(c->entries[i].data, m->entries[i].data, m->entries[i].data_len);
        }
    }
    return c;
}

/* Unlinks the next message to deliver: the head, or with `reorder` one of
 * the first few. */
static cl_msg_t *take_next(cluster_t *cl)
{
    int pick = 0;
    if (cl->reorder)
        pick = cluster_rand(cl, cl->queued < 8 ? cl->queued : 8);
    cl_msg_t *prev = NULL, *m = cl->head;
    for (int i = 0; i < pick && m->next; i++) {
        prev = m;
        m = m->next;
    }
    if (prev)
        prev->next = m->next;
    else
        cl->head = m->next;
    if (cl->tail == m)
        cl->tail = prev;
    cl->queued--;
    m->next = NULL;
    return m;
}

int cluster_deliver(cluster_t *cl, int max)
{
    int count = 0;
    for (int taken = 0; cl->head && taken < max; taken++) {
        cl_msg_t *m = take_next(cl);
        if (cl->drop_pct && cluster_rand(cl, 100) < cl->drop_pct) {
            cl->dropped++;
            free_msg(m);
            continue;
        }
        if (cl->dup_pct && cluster_rand(cl, 100) < cl->dup_pct)
            cl_enqueue(cl, copy_msg(m));
        if (deliverable(cl, m)) {
            dispatch(cl, m);
            cl->delivered++;
            count++;
        } else {
            cl->dropped++;
        }
        free_msg(m);
    }
    return count;
}

void cluster_drop_all(cluster_t *cl)
{
    while (cl->head) {
        cl_msg_t *m = cl->head;
        cl->head = m->next;
        free_msg(m);
        cl->dropped++;
    }
    cl->tail = NULL;
    cl->queued = 0;
}

void cluster_run(cluster_t *cl, int ms)
{
    for (int t = 0; t < ms; t += 10) {
        if (cl->storms >= CL_MAX_STORMS)
            return; /* hopeless; let the test's checks fail quickly */
        cl->now_us += 10000;
        for (int i = 0; i < cl->n; i++) {
            cl_node_t *n = &cl->nodes[i];
            if (n->down || !n->raft)
                continue;
            note(n, raft_periodic(n->raft));
            if (!cl->auto_flush)
                note(n, raft_flush(n->raft, raft_get_index_to_sync(n->raft)));
        }
        cluster_deliver(cl, cl->one_hop ? cl->queued : CL_STEP_DELIVERIES);
        if (cl->one_hop ? cl->queued > CL_STEP_DELIVERIES : cl->head != NULL) {
            /* Messages that keep causing messages: a livelock. Cut it. */
            cl->storms++;
            cluster_drop_all(cl);
        }
    }
}

raft_node_id_t cluster_leader(cluster_t *cl)
{
    raft_node_id_t best = 0;
    raft_term_t term = -1;
    for (int i = 0; i < cl->n; i++) {
        cl_node_t *n = &cl->nodes[i];
        if (n->down || !n->raft || !raft_is_leader(n->raft))
            continue;
        if (raft_get_current_term(n->raft) > term) {
            term = raft_get_current_term(n->raft);
            best = n->id;
        }
    }
    return best;
}

int cluster_count_leaders(cluster_t *cl)
{
    int count = 0;
    for (int i = 0; i < cl->n; i++)
        if (!cl->nodes[i].down && cl->nodes[i].raft && raft_is_leader(cl->nodes[i].raft))
            count++;
    return count;
}

raft_node_id_t cluster_elect(cluster_t *cl, int max_ms)
{
    for (int t = 0; t < max_ms; t += 10) {
        raft_node_id_t l = cluster_leader(cl);
        if (l) {
            raft_server_t *r = cl_raft(cl, l);
            if (raft_get_commit_idx(r) >= raft_get_current_idx(r))
                return l;
        }
        cluster_run(cl, 10);
    }
    return cluster_leader(cl);
}

/* ---- client operations ---------------------------------------------------- */

static int submit(cluster_t *cl, raft_node_id_t id, int type, int value, raft_entry_resp_t *resp)
{
    raft_server_t *r = cl_raft(cl, id);
    raft_entry_resp_t dummy;
    if (!r)
        return RAFT_ERR_INVALID_NODEID;
    raft_entry_t *e = raft_entry_new(sizeof(int));
    e->id = ++cl->next_entry_id;
    e->type = type;
    memcpy(e->data, &value, sizeof(int));
    int rc = raft_recv_entry(r, e, resp ? resp : &dummy);
    raft_entry_release(e);
    return rc;
}

int cluster_submit(cluster_t *cl, raft_node_id_t id, int value, raft_entry_resp_t *resp)
{
    return submit(cl, id, RAFT_LOGTYPE_NORMAL, value, resp);
}

int cluster_submit_cfg(cluster_t *cl, raft_node_id_t id, int type, raft_node_id_t about)
{
    return submit(cl, id, type, about, NULL);
}

