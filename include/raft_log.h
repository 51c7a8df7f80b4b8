/* libraft-rs: the built-in in-memory log's own functions (upstream's
 * raft_log.h). Most programs only need raft_log_internal_impl from raft.h.
 * Include raft.h first, as with upstream. */
#ifndef RAFT_LOG_H_
#define RAFT_LOG_H_

#include "raft_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The built-in log (opaque). */
typedef struct raft_log raft_log_t;

raft_log_t *raft_log_new(void);
raft_log_t *raft_log_alloc(raft_index_t initial_size);
void raft_log_set_callbacks(raft_log_t *me, raft_log_cbs_t *funcs, void *raft);
void raft_log_free(raft_log_t *me);
void raft_log_clear(raft_log_t *me);
void raft_log_clear_entries(raft_log_t *me);
int raft_log_append_entry(raft_log_t *me, raft_entry_t *c);
raft_index_t raft_log_count(raft_log_t *me);
int raft_log_delete(raft_log_t *me, raft_index_t idx);
void raft_log_empty(raft_log_t *me);
int raft_log_poll(raft_log_t *me, raft_entry_t **etyp);
raft_entry_t **raft_log_get_from_idx(raft_log_t *me, raft_index_t idx, long *n_etys);
raft_entry_t *raft_log_get_at_idx(raft_log_t *me, raft_index_t idx);
raft_entry_t *raft_log_peektail(raft_log_t *me);
raft_index_t raft_log_get_current_idx(raft_log_t *me);
int raft_log_load_from_snapshot(raft_log_t *me, raft_index_t idx, raft_term_t term);
raft_index_t raft_log_get_base(raft_log_t *me);

#ifdef __cplusplus
}
#endif

#endif /* RAFT_LOG_H_ */
