/* Randomized runs with message loss, duplication, reordering, partitions
 * and (in one test) log compaction with snapshot transfer, checking Raft's
 * safety properties throughout: at most one leader per term, and every
 * server applies the same entry at each index.
 * After the faults stop, the cluster must recover and converge. */
#include <stdlib.h>

#include "harness.h"
#include "cluster.h"

#define MAX_TERMS 4096

static int compact_loads; /* snapshots loaded over the compaction runs */

typedef struct {
    raft_node_id_t leader_of_term[MAX_TERMS];
    int violations;
} election_log_t;

/* Records who leads each term; two leaders in one term is a violation. */
static void note_leaders(cluster_t *cl, election_log_t *log)
{
    for (int i = 1; i <= cl->n; i++) {
        raft_server_t *r = cl_raft(cl, i);
        if (!r || !raft_is_leader(r))
            continue;
        raft_term_t t = raft_get_current_term(r);
        if (t < 0 || t >= MAX_TERMS)
            continue;
        if (log->leader_of_term[t] == 0)
            log->leader_of_term[t] = i;
        else if (log->leader_of_term[t] != i)
            log->violations++;
    }
}

static void chaos_run(int size, unsigned long long seed, int drop, int dup, int reorder, int compact)
{
    cluster_t *cl = cluster_new(size, 0);
    election_log_t log;
    memset(&log, 0, sizeof(log));
    cl->rng = seed;
    srand((unsigned)seed);
    cl->drop_pct = drop;
    cl->dup_pct = dup;
    cl->reorder = reorder;
    int submitted = 0, consistent = 1;

    for (int step = 0; step < 3000; step++) {
        int ev = cluster_rand(cl, 1000);
        if (ev < 8) {
            cluster_isolate(cl, 1 + cluster_rand(cl, size));
        } else if (ev < 11) {
            /* Cut the leader off, possibly leaving stale servers behind. */
            raft_node_id_t l = cluster_leader(cl);
            if (l)
                cluster_isolate(cl, l);
        } else if (ev < 14) {
            cluster_heal(cl);
        } else if (ev < 20) {
            /* A one-way link failure. */
            cluster_block(cl, 1 + cluster_rand(cl, size), 1 + cluster_rand(cl, size));
        } else if (ev < 30 && compact) {
            /* Compact a random server's log; laggards then need snapshots. */
            raft_node_id_t id = 1 + cluster_rand(cl, size);
            if (raft_get_num_snapshottable_logs(cl_raft(cl, id)) > 5)
                cluster_snapshot(cl, id);
        } else if (ev < 300) {
            raft_node_id_t l = cluster_leader(cl);
            if (l && cluster_submit(cl, l, submitted, NULL) == 0)
                submitted++;
        }
        cluster_run(cl, 10);
        note_leaders(cl, &log);
        if (step % 100 == 0 && !cluster_consistent(cl))
            consistent = 0;
    }

    /* Faults stop: the cluster must settle on one leader and converge. */
    cl->drop_pct = cl->dup_pct = cl->reorder = 0;
    cluster_heal(cl);
    cluster_run(cl, 5000);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    note_leaders(cl, &log);
    CHECK_EQ(0, log.violations);
    CHECK(consistent);
    CHECK_EQ(0, cluster_shutdowns(cl));
    CHECK_EQ(0, cl->storms);
    CHECK(leader != 0);
    if (leader) {
        CHECK_EQ(0, cluster_submit(cl, leader, submitted, NULL));
        cluster_run(cl, 2000);
        raft_index_t last = raft_get_current_idx(cl_raft(cl, leader));
        CHECK_EQ(last, raft_get_commit_idx(cl_raft(cl, leader)));
        CHECK(cluster_all_applied(cl, last));
    }
    CHECK(cluster_consistent(cl));
    CHECK(submitted > 50);
    if (compact) {
        int taken = 0;
        for (int i = 1; i <= size; i++) {
            taken += cl_node(cl, i)->snapshots_taken;
            compact_loads += cl_node(cl, i)->snapshots_loaded;
        }
        CHECK(taken > 0);
    }
    cluster_free(cl);
}

static void test_chaos_three_nodes_lossy(void)
{
    for (unsigned long long seed = 1; seed <= 4; seed++)
        chaos_run(3, seed, 10, 0, 0, 0);
}

static void test_chaos_five_nodes_reordered_duplicated(void)
{
    for (unsigned long long seed = 11; seed <= 14; seed++)
        chaos_run(5, seed, 5, 5, 1, 0);
}

static void test_chaos_four_nodes_everything(void)
{
    for (unsigned long long seed = 21; seed <= 24; seed++)
        chaos_run(4, seed, 15, 10, 1, 0);
}

static void test_chaos_with_compaction(void)
{
    compact_loads = 0;
    for (unsigned long long seed = 31; seed <= 34; seed++)
        chaos_run(3 + (int)(seed % 3), seed, 8, 4, 1, 1);
    /* Partitions plus compaction must have exercised snapshot transfer. */
    CHECK(compact_loads > 0);
}

int main(void)
{
    RUN(test_chaos_three_nodes_lossy);
    RUN(test_chaos_five_nodes_reordered_duplicated);
    RUN(test_chaos_four_nodes_everything);
    RUN(test_chaos_with_compaction);
    return harness_finish("test_cluster_chaos");
}
