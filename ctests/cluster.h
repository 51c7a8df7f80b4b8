/* An in-process cluster of raft servers driven only through the public C ABI.
 *
 * Each server gets the cluster's callbacks; messages go into one FIFO queue
 * and are delivered by cluster_deliver(). Entries inside appendentries are
 * copied when sent and re-created with raft_entry_new() on delivery, as a
 * real transport would. Time is a fake clock read through the `timestamp`
 * callback, so raft_periodic() sees exactly the time the test advances. */
#ifndef LIBRAFT_CTESTS_CLUSTER_H
#define LIBRAFT_CTESTS_CLUSTER_H

#include "raft.h"

#define CL_MAX_NODES 8
#define CL_MAX_APPLIED 4096
#define CL_MAX_STATES 256
#define CL_WATCHDOG_SECONDS 300
#define CL_STEP_DELIVERIES 100000 /* more in one 10 ms step counts as a storm */
#define CL_MAX_STORMS 10          /* after that many, cluster_run stops stepping */

typedef enum {
    CL_MSG_REQUESTVOTE,
    CL_MSG_REQUESTVOTE_RESP,
    CL_MSG_APPENDENTRIES,
    CL_MSG_APPENDENTRIES_RESP,
    CL_MSG_TIMEOUTNOW,
    CL_MSG_SNAPSHOT,
    CL_MSG_SNAPSHOT_RESP,
} cl_msg_type_e;

/* An entry as it travels on the wire. */
typedef struct {
    raft_term_t term;
    raft_entry_id_t id;
    short type;
    unsigned int data_len;
    char *data;
} cl_wire_entry_t;

typedef struct cl_msg {
    struct cl_msg *next;
    cl_msg_type_e type;
    raft_node_id_t from, to;
    union {
        raft_requestvote_req_t rv;
        raft_requestvote_resp_t rvr;
        raft_appendentries_req_t ae;
        raft_appendentries_resp_t aer;
        raft_snapshot_req_t snap;
        raft_snapshot_resp_t snapr;
    } u;
    cl_wire_entry_t *entries; /* ae.n_entries of them */
    char *chunk;              /* copy of snap.chunk.data */
} cl_msg_t;

/* What the applylog callback saw. */
typedef struct {
    raft_index_t idx;
    raft_term_t term;
    raft_entry_id_t id;
    int type;
    int value; /* first int of the data, 0 if shorter */
} cl_applied_t;

/* Counts of every callback, per server. */
typedef struct {
    int send_requestvote, send_appendentries, applylog, persist_metadata;
    int get_node_id, node_has_sufficient_logs, membership_add, membership_remove;
    int state_event, transfer_event, log, send_timeoutnow, backpressure;
    int get_entries_to_send, timestamp;
} cl_counts_t;

typedef struct cluster cluster_t;
typedef struct cl_node cl_node_t;

struct cl_node {
    cluster_t *cl;
    raft_server_t *raft;
    raft_node_id_t id;
    int down;                 /* crashed: no periodic, messages dropped */
    cl_counts_t n;
    cl_applied_t applied[CL_MAX_APPLIED];
    int n_applied;
    raft_state_e states[CL_MAX_STATES]; /* notify_state_event history */
    int n_states;
    raft_leader_transfer_e transfer_results[16];
    int n_transfer_results;
    raft_term_t last_persist_term;
    raft_node_id_t last_persist_vote;
    /* Snapshots: the image this server took or loaded (its state machine up
     * to the snapshot plus the membership), and one being received. */
    char *snap;
    size_t snap_len;
    char *incoming;
    size_t incoming_len;
    int snapshots_taken, snapshots_loaded;
    int last_error;           /* last non-zero return of a recv/periodic call */
    int shutdowns;            /* calls that returned RAFT_ERR_SHUTDOWN */
};

/* Optional behaviour a test plugs in; each hook runs after the cluster's own
 * bookkeeping for that callback. */
typedef struct {
    int (*applylog)(cl_node_t *n, raft_entry_t *e, raft_index_t idx);
    int (*send_requestvote)(cl_node_t *n, raft_node_t *to, raft_requestvote_req_t *m);
    int (*send_appendentries)(cl_node_t *n, raft_node_t *to, raft_appendentries_req_t *m);
    void (*state_event)(cl_node_t *n, raft_state_e s);
    void (*membership_event)(cl_node_t *n, raft_node_t *node, raft_entry_t *e, raft_membership_e t);
    void (*transfer_event)(cl_node_t *n, raft_leader_transfer_e r);
    int (*node_has_sufficient_logs)(cl_node_t *n, raft_node_t *node);
    int (*backpressure)(cl_node_t *n, raft_node_t *node);
    int (*persist_metadata)(cl_node_t *n, raft_term_t term, raft_node_id_t vote);
    /* Replaces the default get_entries_to_send (which fetches up to
     * cl->max_entries_per_msg entries, or all when 0). */
    raft_index_t (*get_entries_to_send)(cl_node_t *n, raft_node_t *node, raft_index_t idx,
                                        raft_index_t max, raft_entry_t **entries);
    /* Sees every message (requests and responses) as it is queued. */
    void (*on_message)(cluster_t *cl, const cl_msg_t *m);
} cl_hooks_t;

struct cluster {
    int n;                                  /* servers 1..n, ids = index + 1 */
    cl_node_t nodes[CL_MAX_NODES];
    raft_time_t now_us;                     /* the fake clock */
    cl_msg_t *head, *tail;                  /* the message queue */
    int queued;
    int blocked[CL_MAX_NODES + 1][CL_MAX_NODES + 1]; /* blocked[from][to] */
    int auto_flush;                         /* 0: cluster_run calls raft_flush */
    raft_index_t max_entries_per_msg;
    raft_entry_id_t next_entry_id;
    cl_hooks_t hooks;
    long delivered, dropped;
    void *user;                             /* free for tests */
    /* Network faults applied by cluster_deliver, driven by a private
     * generator (libc rand() stays the library's, for election timeouts). */
    int drop_pct, dup_pct;                  /* per delivered message, 0-100 */
    int reorder;                            /* pick among the first 8 queued */
    int one_hop;                            /* cluster_run: a message produced while
                                               delivering waits for the next step */
    unsigned long long rng;
    int storms;                             /* steps cut short, see cluster_run */
};

/* Flags for cluster_new. */
#define CL_GET_ENTRIES 1  /* install the get_entries_to_send callback */
#define CL_BACKPRESSURE 2 /* install the backpressure callback */
#define CL_LOG 4          /* enable library logs and the log callback */

/* Creates n voting servers that all know each other (static membership). */
cluster_t *cluster_new(int n, int flags);
/* Adds one more server with id n+1: itself as a non-voter plus the current
 * members (to be added to the cluster by a configuration change). */
cl_node_t *cluster_add_joiner(cluster_t *cl);
void cluster_free(cluster_t *cl);

cl_node_t *cl_node(cluster_t *cl, raft_node_id_t id);
raft_server_t *cl_raft(cluster_t *cl, raft_node_id_t id);

/* Takes queued messages (including those produced while delivering) until
 * the queue is empty or max were taken, delivering those the network lets
 * through; returns how many were delivered. */
int cluster_deliver(cluster_t *cl, int max);
/* Drops every queued message. */
void cluster_drop_all(cluster_t *cl);
/* Advances the clock by ms in 10 ms steps: periodic on every live server,
 * then delivery: with one_hop only of what was queued before, otherwise
 * until the queue is empty (at most CL_STEP_DELIVERIES; beyond that the queue
 * is dropped and cl->storms counts it). */
void cluster_run(cluster_t *cl, int ms);
/* Runs until a single leader exists (returns its id) or max_ms pass (0). */
raft_node_id_t cluster_elect(cluster_t *cl, int max_ms);
/* The id of the live leader with the highest term, 0 if none. */
raft_node_id_t cluster_leader(cluster_t *cl);
/* Number of live servers that think they are leader. */
int cluster_count_leaders(cluster_t *cl);

/* Submits a normal entry carrying `value` to server id; returns raft_recv_entry's result. */
int cluster_submit(cluster_t *cl, raft_node_id_t id, int value, raft_entry_resp_t *resp);
/* Submits a configuration change entry of `type` about node `about`. */
int cluster_submit_cfg(cluster_t *cl, raft_node_id_t id, int type, raft_node_id_t about);

void cluster_block(cluster_t *cl, raft_node_id_t from, raft_node_id_t to);
void cluster_isolate(cluster_t *cl, raft_node_id_t id);
void cluster_heal(cluster_t *cl);
void cluster_crash(cluster_t *cl, raft_node_id_t id);

/* Uniform in [0, n) from the cluster's own generator. */
int cluster_rand(cluster_t *cl, int n);

/* 1 if every pair of servers applied identical entries at identical indexes
 * (over their common prefix) and each applied a gap-free sequence. */
int cluster_consistent(cluster_t *cl);
/* Compacts server id's log: raft_begin_snapshot, save the image (applied
 * entries and membership), raft_end_snapshot. Returns 0 or the error. The
 * image is what a lagging follower then receives in CL_SNAPSHOT_CHUNK-byte
 * chunks and loads in its load_snapshot callback. */
int cluster_snapshot(cluster_t *cl, raft_node_id_t id);
#define CL_SNAPSHOT_CHUNK 512

/* Sum over servers of RAFT_ERR_SHUTDOWN results (the library detected a
 * conflict with committed state: a safety failure somewhere). */
int cluster_shutdowns(cluster_t *cl);
/* 1 if every live server has applied at least idx. */
int cluster_all_applied(cluster_t *cl, raft_index_t idx);

#endif
