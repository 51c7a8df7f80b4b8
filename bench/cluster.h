/* An in-process Raft cluster for the benchmark: N servers, a FIFO "network"
 * that copies every message the way a real transport would, a fake clock fed
 * through the `timestamp` callback, and a tiny state machine on every node
 * whose digest proves that all nodes applied the same entries, in the same
 * order, intact. Uses only the public raft.h API, so the same program runs
 * against any libraft.so. */
#ifndef BENCH_CLUSTER_H
#define BENCH_CLUSTER_H

#include <stdint.h>
#include "raft.h"

enum msg_type {
    MSG_AE, MSG_AE_RESP, MSG_RV, MSG_RV_RESP, MSG_SNAP, MSG_SNAP_RESP,
    MSG_TIMEOUT_NOW, MSG_TYPES
};

/* The state machine: a count, the id the next entry must carry, a digest. */
typedef struct {
    long applied;
    raft_entry_id_t next_id;
    uint64_t digest;
} fsm_t;

typedef struct {
    raft_node_id_t id;
    raft_server_t *raft;
    fsm_t fsm;
    int isolated;  /* partitioned: messages to or from it are dropped */
    int dirty;     /* received something since its last flush/periodic */
    raft_term_t term;    /* persisted metadata (kept, as a real host would) */
    raft_node_id_t vote;
    /* Outgoing snapshot (leader) and incoming snapshot (follower). */
    char *snap;
    size_t snap_len;
    char *recv;
    size_t recv_len, recv_cap;
    long snapshots_loaded;
} peer_t;

typedef struct {
    int n;
    int payload;      /* bytes per entry */
    int auto_flush;
    size_t snap_bytes;   /* snapshot size (state + filler) */
    size_t chunk_bytes;  /* snapshot chunk size */
    raft_time_t now_us;
    peer_t *peers;
    /* Counters: messages the library asked to send, by type; entries it
     * shipped; messages dropped by the partition; messages delivered. */
    long sent[MSG_TYPES];
    long sent_entries;
    long dropped;
    long delivered;
    long failures;    /* verification failures seen in callbacks */
    long corrupt_at;  /* self-test: damage the n-th copied entry in transit */
    long copied;
} cluster_t;

extern cluster_t C;

void cluster_init(int n, int payload, int auto_flush, size_t snap_bytes);
void cluster_free(void);
peer_t *cluster_leader(void);            /* the live leader with the highest term */
void cluster_isolate(peer_t *p, int isolated);

/* Deliver every queued message, then give each node that received something
 * its event-loop turn (raft_periodic with auto-flush on, raft_flush with it
 * off), and repeat until nothing moves. Aborts the run if it never settles. */
void cluster_settle(void);
/* Advance the clock by ms, run raft_periodic on every node, then settle. */
void cluster_tick(int ms);
/* Tick until one live leader exists and every live node has committed and
 * applied everything that leader has. Returns the leader or NULL. */
peer_t *cluster_converge(int tick_ms, int max_ticks);

/* Submit one entry with the next id to the leader; 0 on success. */
int cluster_submit(peer_t *leader, raft_entry_id_t id);
/* Take a snapshot on p: state up to its commit index, plus filler bytes. */
int cluster_snapshot(peer_t *p);

long cluster_sent_total(void);
/* Checks every node (live or not, per `all`) applied exactly `entries`
 * entries with identical digests; prints why not and returns non-zero. */
int cluster_verify(long entries, int all);

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
