/* libraft-rs: internal functions that upstream libraft exports for its own
 * test programs and simulator. Not a stable API: new code should use raft.h.
 * Include raft.h first (as with upstream: this header does not include it,
 * so that tools that preprocess each header separately, like cffi, work). */
#ifndef RAFT_PRIVATE_H_
#define RAFT_PRIVATE_H_

#include "raft_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The fields of upstream's private struct raft_server that C code (upstream's
 * own tests among them) reads or writes directly, at upstream's offsets on
 * 64-bit targets. The other bytes are private, and the struct is larger than
 * declared here: never allocate or copy one. A leader_id written here is taken
 * in by the next library call on the server; leader_id and msg_id are
 * refreshed each time the outermost library call on the server returns. */
struct raft_server {
    unsigned char _private0[16];
    const raft_log_impl_t *log_impl; /* the log implementation in use */
    void *log;                       /* the log handle its init returned */
    unsigned char _private1[96];
    raft_node_id_t leader_id;
    unsigned char _private2[236];
    raft_msg_id_t msg_id;
};

/* Heap functions in use (see raft_set_heap_functions). */
extern void *(*raft_malloc)(size_t size);
extern void *(*raft_calloc)(size_t nmemb, size_t size);
extern void *(*raft_realloc)(void *ptr, size_t size);
extern void (*raft_free)(void *ptr);

int raft_election_start(raft_server_t *me, int skip_precandidate);
int raft_become_candidate(raft_server_t *me);
int raft_become_precandidate(raft_server_t *me);
void raft_randomize_election_timeout(raft_server_t *me);
void raft_update_quorum_meta(raft_server_t *me, raft_msg_id_t id);
int raft_send_requestvote(raft_server_t *me, raft_node_t *node);
int raft_send_appendentries(raft_server_t *me, raft_node_t *node);
int raft_send_appendentries_all(raft_server_t *me);
int raft_apply_entry(raft_server_t *me);
void raft_set_last_applied_idx(raft_server_t *me, raft_index_t idx);
void raft_set_state(raft_server_t *me, int state);
raft_node_t *raft_node_new(void *udata, raft_node_id_t id);
void raft_node_free(raft_node_t *me);
void raft_node_set_match_idx(raft_node_t *node, raft_index_t idx);
void raft_node_clear_flags(raft_node_t *me);
void raft_node_vote_for_me(raft_node_t *me, int vote);
int raft_node_has_vote_for_me(raft_node_t *me);
void raft_node_set_has_sufficient_logs(raft_node_t *me, int has_sufficient_log);
int raft_is_single_node_voting_cluster(raft_server_t *me);
int raft_votes_is_majority(int nnodes, int nvotes);
void raft_node_set_match_msgid(raft_node_t *me, raft_msg_id_t msgid);
raft_msg_id_t raft_node_get_match_msgid(raft_node_t *me);
void raft_node_set_next_msgid(raft_node_t *me, raft_msg_id_t msgid);
raft_msg_id_t raft_node_get_next_msgid(raft_node_t *me);
void raft_node_update_max_seen_msg_id(raft_node_t *me, raft_msg_id_t msg_id);
raft_msg_id_t raft_node_get_max_seen_msg_id(raft_node_t *me);
raft_msg_id_t raft_get_msg_id(raft_server_t *me);
void raft_reset_transfer_leader(raft_server_t *me, int timed_out);
raft_size_t raft_node_get_snapshot_offset(raft_node_t *me);
void raft_node_set_snapshot_offset(raft_node_t *me, raft_size_t snapshot_offset);
int raft_periodic_internal(raft_server_t *me, raft_time_t milliseconds);
int raft_exec_operations(raft_server_t *me);
int raft_delete_entry_from_idx(raft_server_t *me_, raft_index_t idx);

#ifdef __cplusplus
}
#endif

#endif /* RAFT_PRIVATE_H_ */
