/* Network faults and cluster-wide checks of the test cluster. */
#include <string.h>

#include "cluster.h"

/* ---- network faults ----------------------------------------------------- */

void cluster_block(cluster_t *cl, raft_node_id_t from, raft_node_id_t to)
{
    if (from >= 1 && from <= CL_MAX_NODES && to >= 1 && to <= CL_MAX_NODES)
        cl->blocked[from][to] = 1;
}

void cluster_isolate(cluster_t *cl, raft_node_id_t id)
{
    for (raft_node_id_t j = 1; j <= CL_MAX_NODES; j++) {
        if (j == id)
            continue;
        cluster_block(cl, id, j);
        cluster_block(cl, j, id);
    }
}

void cluster_heal(cluster_t *cl)
{
    memset(cl->blocked, 0, sizeof(cl->blocked));
}

void cluster_crash(cluster_t *cl, raft_node_id_t id)
{
    cl_node_t *n = cl_node(cl, id);
    if (n)
        n->down = 1;
}

/* ---- checks ------------------------------------------------------------- */

int cluster_consistent(cluster_t *cl)
{
    for (int i = 0; i < cl->n; i++) {
        cl_node_t *a = &cl->nodes[i];
        for (int k = 1; k < a->n_applied; k++)
            if (a->applied[k].idx != a->applied[k - 1].idx + 1)
                return 0;
        for (int j = i + 1; j < cl->n; j++) {
            cl_node_t *b = &cl->nodes[j];
            for (int k = 0; k < a->n_applied; k++) {
                for (int l = 0; l < b->n_applied; l++) {
                    if (a->applied[k].idx != b->applied[l].idx)
                        continue;
                    if (a->applied[k].term != b->applied[l].term ||
                        a->applied[k].id != b->applied[l].id ||
                        a->applied[k].value != b->applied[l].value)
                        return 0;
                }
            }
        }
    }
    return 1;
}

int cluster_all_applied(cluster_t *cl, raft_index_t idx)
{
    for (int i = 0; i < cl->n; i++) {
        cl_node_t *n = &cl->nodes[i];
        if (n->down || !n->raft)
            continue;
        if (raft_get_last_applied_idx(n->raft) < idx)
            return 0;
    }
    return 1;
}

int cluster_shutdowns(cluster_t *cl)
{
    int sum = 0;
    for (int i = 0; i < cl->n; i++)
        sum += cl->nodes[i].shutdowns;
    return sum;
}
