/* Heap hooks: every allocation the library makes (C-visible and Rust-internal)
 * goes through raft_malloc/calloc/realloc/free, and everything is freed again. */
#include <stdlib.h>
#include "harness.h"
#include "raft.h"
#include "raft_private.h"
#include "raft_log.h"
#include "cluster.h"

static long live, calls;
static int fail_calloc; /* simulate memory exhaustion */

static void *c_malloc(size_t n)
{
    void *p = malloc(n);
    calls++;
    if (p)
        live++;
    return p;
}
static void *c_calloc(size_t n, size_t s)
{
    void *p = fail_calloc ? NULL : calloc(n, s);
    calls++;
    if (p)
        live++;
    return p;
}
static void *c_realloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    calls++;
    if (!p && q)
        live++;
    return q;
}
static void c_free(void *p)
{
    if (p)
        live--;
    free(p);
}

static void test_hooks_installed(void)
{
    CHECK(raft_malloc == c_malloc);
    CHECK(raft_calloc == c_calloc);
    CHECK(raft_realloc == c_realloc);
    CHECK(raft_free == c_free);
}

static void test_entries_balance(void)
{
    long before = live, c = calls;
    raft_entry_t *e = raft_entry_new(100);
    CHECK(calls > c);
    CHECK_EQ(before + 1, live);
    raft_entry_release(e);
    CHECK_EQ(before, live);
}

static void test_log_and_nodes_balance(void)
{
    long before = live, c = calls;
    raft_log_t *l = raft_log_new();
    raft_node_t *n = raft_node_new(NULL, 3);
    int i;
    CHECK(calls > c); /* Rust's own allocations go through the hooks */
    for (i = 0; i < 100; i++)
        raft_log_append_entry(l, raft_entry_new(10));
    raft_log_delete(l, 50);
    raft_log_free(l);
    raft_node_free(n);
    CHECK_EQ(before, live);
}

static void test_server_balance(void)
{
    long before = live;
    raft_server_t *r = raft_new();
    int i;
    raft_add_node(r, NULL, 1, 1);
    raft_add_node(r, NULL, 2, 0);
    raft_set_current_term(r, 1);
    raft_become_leader(r);
    for (i = 0; i < 50; i++) {
        raft_entry_t *e = raft_entry_new(32);
        raft_entry_resp_t resp;
        e->id = i;
        raft_recv_entry(r, e, &resp);
        raft_entry_release(e);
    }
    raft_periodic_internal(r, 500);
    raft_destroy(r);
    CHECK_EQ(before, live);
}

/* A whole cluster: elections, replication, a crash and a new leader. */
static void test_cluster_balance(void)
{
    long before = live;
    cluster_t *cl = cluster_new(3, 0);
    raft_node_id_t leader = cluster_elect(cl, 10000);
    raft_entry_resp_t resp;
    int i;
    CHECK(leader != 0);
    for (i = 0; i < 20 && leader; i++)
        cluster_submit(cl, leader, i, &resp);
    cluster_run(cl, 500);
    if (leader) {
        cluster_crash(cl, leader);
        CHECK(cluster_elect(cl, 10000) != 0);
    }
    cluster_run(cl, 500);
    cluster_free(cl);
    CHECK_EQ(before, live);
}

static void test_entry_new_reports_exhaustion(void)
{
    raft_entry_t *e;
    fail_calloc = 1;
    e = raft_entry_new(8);
    fail_calloc = 0;
    CHECK(e == NULL);
}

static void test_null_restores_libc(void)
{
    raft_entry_t *e;
    raft_set_heap_functions(NULL, NULL, NULL, NULL);
    CHECK(raft_malloc != NULL && raft_malloc != c_malloc);
    e = raft_entry_new(4); /* libc malloc, libc free */
    raft_entry_release(e);
    raft_set_heap_functions(c_malloc, c_calloc, c_realloc, c_free);
}

int main(void)
{
    /* Before any other call, as the API requires. */
    raft_set_heap_functions(c_malloc, c_calloc, c_realloc, c_free);
    RUN(test_hooks_installed);
    RUN(test_entries_balance);
    RUN(test_log_and_nodes_balance);
    RUN(test_server_balance);
    RUN(test_cluster_balance);
    RUN(test_entry_new_reports_exhaustion);
    RUN(test_null_restores_libc);
    printf("heap: %ld calls, %ld blocks still live\n", calls, live);
    return harness_finish("test_heap");
}
