/* Internals shared by the cluster helper's source files (not for tests). */
#ifndef LIBRAFT_CTESTS_CLUSTER_INTERNAL_H
#define LIBRAFT_CTESTS_CLUSTER_INTERNAL_H

#include "cluster.h"

/* Queues a message (and shows it to the on_message hook). */
void cl_enqueue(cluster_t *cl, cl_msg_t *m);
/* A zeroed message from `from` to `to`. */
cl_msg_t *cl_new_msg(cl_node_t *from, raft_node_id_t to, cl_msg_type_e type);
/* Fills in the snapshot callbacks (cluster_snapshot.c). */
void cl_snapshot_callbacks(raft_cbs_t *cbs);

#endif
