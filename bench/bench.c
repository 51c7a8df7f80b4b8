/* libraft benchmark: runs one scenario on an in-process cluster (cluster.c),
 * measures only the scenario's own section, verifies the outcome, and prints
 * one "RESULT key=value ..." line. Exits non-zero if verification fails, so a
 * fast but wrong library cannot score.
 *
 * The measured section runs inside bench_measured(); profile it alone with
 * valgrind --tool=callgrind --toggle-collect=bench_measured. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cluster.h"

#define REQUEST_TIMEOUT_MS 200  /* the library default */
#define ELECTION_TICK_MS 50

typedef struct {
    const char *scenario;
    int n, payload, batch, auto_flush, reps;
    long entries, lag;
    size_t snap_bytes;
    unsigned seed;
    long corrupt_at;
} opts_t;

/* What the measured sections cost, accumulated. */
static double sec_cpu;
static long sec_msgs, sec_entries_sent, sec_delivered;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef void (*section_fn)(const opts_t *o, void *arg);

/* Not inlined and not static, so callgrind can find it by name. */
__attribute__((noinline)) void bench_measured(section_fn fn, const opts_t *o, void *arg)
{
    fn(o, arg);
    __asm__ volatile("" ::: "memory");
}

static void measure(section_fn fn, const opts_t *o, void *arg)
{
    long m0 = cluster_sent_total(), e0 = C.sent_entries, d0 = C.delivered;
    double t0 = cpu_now();
    bench_measured(fn, o, arg);
    sec_cpu += cpu_now() - t0;
    sec_msgs += cluster_sent_total() - m0;
    sec_entries_sent += C.sent_entries - e0;
    sec_delivered += C.delivered - d0;
}

static peer_t *start_cluster(const opts_t *o)
{
    cluster_init(o->n, o->payload, o->auto_flush, o->snap_bytes);
    C.corrupt_at = o->corrupt_at;
    peer_t *l = cluster_converge(ELECTION_TICK_MS, 2000);
    if (!l)
        die("no leader elected at start");
    return l;
}

/* Submits entries first..last in batches, settling after each batch. */
static void submit_range(const opts_t *o, peer_t *l, long first, long last)
{
    for (long id = first; id <= last;) {
        for (int j = 0; j < o->batch && id <= last; j++, id++) {
            int rc = cluster_submit(l, (raft_entry_id_t)id);
            if (rc != 0)
                die("raft_recv_entry(%ld) returned %d", id, rc);
        }
        l->dirty = 1;  /* the host's event loop runs after each batch */
        cluster_settle();
    }
}

static peer_t *converge_or_die(int tick_ms, int max_ticks, const char *when)
{
    peer_t *l = cluster_converge(tick_ms, max_ticks);
    if (!l)
        die("cluster did not converge %s", when);
    return l;
}

/* ---- scenarios ------------------------------------------------------------ */

static void replicate_section(const opts_t *o, void *arg)
{
    submit_range(o, arg, 1, o->entries);
    converge_or_die(REQUEST_TIMEOUT_MS, 50, "after replicating");
}

static long scenario_replicate(const opts_t *o, long *units)
{
    peer_t *l = start_cluster(o);
    measure(replicate_section, o, l);
    *units = o->entries;
    return o->entries;
}

/* One election: isolate the leader, tick until the others elect a new one,
 * heal, and tick until the whole cluster follows it; then prove the new
 * leader works by committing one entry. */
static void election_section(const opts_t *o, void *arg)
{
    long *next_id = arg;
    for (int r = 0; r < o->reps; r++) {
        peer_t *old = cluster_leader();
        raft_term_t term = raft_get_current_term(old->raft);
        cluster_isolate(old, 1);
        peer_t *l = NULL;
        for (int t = 0; t < 2000 && !l; t++) {
            cluster_tick(ELECTION_TICK_MS);
            l = cluster_leader();
        }
        if (!l || raft_get_current_term(l->raft) <= term)
            die("no new leader after isolating node %d", old->id);
        cluster_isolate(old, 0);
        l = converge_or_die(ELECTION_TICK_MS, 2000, "after an election");
        if (cluster_submit(l, (raft_entry_id_t)*next_id) != 0)
            die("new leader %d refused an entry", l->id);
        (*next_id)++;
        l->dirty = 1;
        cluster_settle();
    }
    converge_or_die(REQUEST_TIMEOUT_MS, 50, "after the elections");
}

static long scenario_election(const opts_t *o, long *units)
{
    long next_id = 1;
    start_cluster(o);
    measure(election_section, o, &next_id);
    *units = o->reps;
    return next_id - 1;
}

static void heartbeat_section(const opts_t *o, void *arg)
{
    (void)arg;
    for (int r = 0; r < o->reps; r++)
        cluster_tick(REQUEST_TIMEOUT_MS);
}

static long scenario_heartbeat(const opts_t *o, long *units)
{
    peer_t *l = start_cluster(o);
    raft_term_t term = raft_get_current_term(l->raft);
    measure(heartbeat_section, o, NULL);
    if (cluster_leader() != l || raft_get_current_term(l->raft) != term)
        die("leadership changed during idle heartbeats");
    *units = o->reps;
    return 0;
}

/* The last node that is not the leader. */
static peer_t *a_follower(peer_t *l)
{
    for (int i = C.n - 1; i >= 0; i--)
        if (&C.peers[i] != l)
            return &C.peers[i];
    die("no follower");
}

static void heal_section(const opts_t *o, void *arg)
{
    (void)o;
    cluster_isolate(arg, 0);
    converge_or_die(REQUEST_TIMEOUT_MS, 1000, "after healing the partition");
}

static long scenario_catchup(const opts_t *o, long *units)
{
    peer_t *l = start_cluster(o);
    peer_t *f = a_follower(l);
    cluster_isolate(f, 1);
    submit_range(o, l, 1, o->lag);
    measure(heal_section, o, f);
    *units = o->lag;
    return o->lag;
}

/* The leader snapshots and compacts its log. */
static void snapshot_section(const opts_t *o, void *arg)
{
    (void)o;
    int rc = cluster_snapshot(arg);
    if (rc != 0)
        die("snapshot on the leader failed: %d", rc);
}

static long scenario_snapshot(const opts_t *o, long *units)
{
    peer_t *l = start_cluster(o);
    long next = 1;
    for (int r = 0; r < o->reps; r++) {
        peer_t *f = a_follower(l);
        long loaded = f->snapshots_loaded;
        cluster_isolate(f, 1);
        submit_range(o, l, next, next + o->lag - 1);
        next += o->lag;
        measure(snapshot_section, o, l);
        measure(heal_section, o, f);
        if (f->snapshots_loaded != loaded + 1)
            die("node %d caught up without loading the snapshot", f->id);
        l = cluster_leader();
    }
    *units = o->reps;
    return next - 1;
}

static void lookup_section(const opts_t *o, void *arg)
{
    long *found = arg;
    raft_server_t *r = C.peers[0].raft;
    for (int k = 0; k < o->reps; k++)
        for (int id = 1; id <= C.n; id++)
            *found += raft_get_node(r, id) != NULL;
}

static long scenario_lookup(const opts_t *o, long *units)
{
    long found = 0;
    cluster_init(o->n, o->payload, o->auto_flush, o->snap_bytes);
    measure(lookup_section, o, &found);
    if (found != (long)o->reps * o->n)
        die("raft_get_node found %ld of %ld nodes", found, (long)o->reps * o->n);
    *units = found;
    return 0;
}

/* ---- driver ---------------------------------------------------------------- */

static const struct {
    const char *name, *unit;
    long (*run)(const opts_t *o, long *units);
} scenarios[] = {
    {"replicate", "entry", scenario_replicate},
    {"election", "election", scenario_election},
    {"heartbeat", "round", scenario_heartbeat},
    {"catchup", "entry", scenario_catchup},
    {"snapshot", "install", scenario_snapshot},
    {"lookup", "lookup", scenario_lookup},
};
#define N_SCENARIOS (sizeof scenarios / sizeof scenarios[0])

static const char *library_path(void)
{
    Dl_info info;
    if (dladdr((void *)raft_new, &info) && info.dli_fname)
        return info.dli_fname;
    return "?";
}

static int run_one(const opts_t *o)
{
    size_t s;
    for (s = 0; s < N_SCENARIOS; s++)
        if (!strcmp(scenarios[s].name, o->scenario))
            break;
    if (s == N_SCENARIOS)
        die("unknown scenario '%s'", o->scenario);

    srand(o->seed);  /* the libraries draw election timeouts from rand() */
    sec_cpu = 0;
    sec_msgs = sec_entries_sent = sec_delivered = 0;
    long units = 0;
    long entries = scenarios[s].run(o, &units);
    int bad = cluster_verify(entries, 1);
    cluster_free();

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT scenario=%s n=%d e=%ld p=%d b=%d af=%d reps=%d lag=%ld units=%ld unit=%s "
           "cpu_s=%.6f ns_per_unit=%.1f msgs=%ld msgs_per_unit=%.3f entries_sent=%ld "
           "delivered=%ld rss_kb=%ld verify=%s lib=%s\n",
           o->scenario, o->n, o->entries, o->payload, o->batch, o->auto_flush, o->reps,
           o->lag, units, scenarios[s].unit, sec_cpu, units ? sec_cpu * 1e9 / units : 0.0,
           sec_msgs, units ? (double)sec_msgs / units : 0.0, sec_entries_sent, sec_delivered,
           ru.ru_maxrss, bad ? "FAILED" : "ok", library_path());
    fflush(stdout);
    return bad;
}

/* One tiny verifying pass over every scenario, for CI. */
static int smoke(opts_t base)
{
    static const struct { const char *s; int n; long e; int b, af, reps; long lag; } plan[] = {
        {"replicate", 3, 2000, 64, 0, 1, 0},
        {"replicate", 3, 2000, 64, 1, 1, 0},
        {"replicate", 5, 500, 7, 1, 1, 0},
        {"election", 5, 0, 64, 1, 3, 0},
        {"election", 3, 0, 64, 0, 2, 0},
        {"heartbeat", 5, 0, 64, 1, 20, 0},
        {"catchup", 3, 0, 64, 0, 1, 3000},
        {"snapshot", 3, 0, 64, 1, 2, 500},
        {"lookup", 11, 0, 64, 1, 100, 0},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        opts_t o = base;
        o.scenario = plan[i].s;
        o.n = plan[i].n;
        o.entries = plan[i].e;
        o.batch = plan[i].b;
        o.auto_flush = plan[i].af;
        o.reps = plan[i].reps;
        o.lag = plan[i].lag;
        o.snap_bytes = 100000;
        bad |= run_one(&o);
    }
    printf("smoke: %s\n", bad ? "FAILED" : "ok");
    return bad;
}

static void usage(void)
{
    fprintf(stderr,
        "usage: bench [options]\n"
        "  -s, --scenario NAME   replicate|election|heartbeat|catchup|snapshot|lookup\n"
        "  -n, --nodes N         cluster size (default 3)\n"
        "  -e, --entries E       entries to replicate (default 100000)\n"
        "  -p, --payload P       bytes per entry (default 64)\n"
        "  -b, --batch B         entries submitted between event-loop turns (default 64)\n"
        "  -a, --auto-flush 0|1  RAFT_CONFIG_AUTO_FLUSH (default 0)\n"
        "  -r, --reps R          elections / heartbeat rounds / snapshot installs / lookups\n"
        "  -l, --lag L           entries a follower misses (catchup, snapshot)\n"
        "  -S, --snap-bytes S    snapshot size (default 1048576)\n"
        "      --seed S          srand() seed (default 1)\n"
        "      --smoke           one tiny verifying pass over every scenario\n"
        "      --corrupt K       self-test: damage the K-th entry copied in transit\n"
        "                        (the run must then fail verification)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    opts_t o = {"replicate", 3, 64, 64, 0, 10, 100000, 1000000, 1 << 20, 1, 0};

    int do_smoke = 0;
    static const struct option longopts[] = {
        {"scenario", 1, 0, 's'}, {"nodes", 1, 0, 'n'}, {"entries", 1, 0, 'e'},
        {"payload", 1, 0, 'p'}, {"batch", 1, 0, 'b'}, {"auto-flush", 1, 0, 'a'},
        {"reps", 1, 0, 'r'}, {"lag", 1, 0, 'l'}, {"snap-bytes", 1, 0, 'S'},
        {"seed", 1, 0, 1}, {"smoke", 0, 0, 2}, {"corrupt", 1, 0, 3}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:n:e:p:b:a:r:l:S:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o.scenario = optarg; break;
        case 'n': o.n = atoi(optarg); break;
        case 'e': o.entries = atol(optarg); break;
        case 'p': o.payload = atoi(optarg); break;
        case 'b': o.batch = atoi(optarg); break;
        case 'a': o.auto_flush = atoi(optarg) != 0; break;
        case 'r': o.reps = atoi(optarg); break;
        case 'l': o.lag = atol(optarg); break;
        case 'S': o.snap_bytes = (size_t)atol(optarg); break;
        case 1: o.seed = (unsigned)atol(optarg); break;
        case 2: do_smoke = 1; break;
        case 3: o.corrupt_at = atol(optarg); break;
        default: usage();
        }
    }
    if (o.n < 1 || o.n > 100000 || o.payload < 0 || o.batch < 1 || o.entries < 0 ||
        o.reps < 1 || o.lag < 1)
        usage();
    return do_smoke ? smoke(o) : run_one(&o);
}
