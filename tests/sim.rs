//! Deterministic randomized simulation of a cluster of `raft::core::Server`s.
//!
//! Each seed builds a cluster and drives it through a random schedule:
//! partitions (also one-way) and healing; dropped, duplicated and reordered
//! messages of every kind; process pauses; client entries and linearizable
//! reads; membership churn (joins with promotion, removals); compaction,
//! snapshots left in progress or cancelled, chunked snapshot installs;
//! leader transfers; failing `persist_metadata`; auto-flush on or off (a
//! crash loses log entries that were not synced or reported written);
//! crashes and restarts that rebuild the node from its "disk" (snapshot, then
//! the log replayed through `append_entry` or preloaded with `restore_log`,
//! then term and vote); hosts that cap AppendEntries at one or two entries.
//! Faults aimed at the leader, where consensus bugs hide: crash it at once or
//! a few milliseconds after a partial replication, strand it alone while
//! clients that only reach it keep reading, split it off with a minority;
//! and the directed "Figure 8" sequence of the Raft paper (`sim/nemesis.rs`).
//!
//! Checked after every step: election safety; the commit rule (a leader only
//! raises its commit index once a majority of its voters held an entry of
//! its term at or past it, the rule whose absence is the Figure 8 bug); the
//! election restriction on every granted vote (and that vote requests tell
//! the truth about the candidate's log); state machine safety (same entry
//! and same state at every index, across snapshots too); leader
//! completeness; that a node never removes an entry at or below its commit
//! index, nor one it acknowledged to the leader of its current term; that
//! term and vote are durable before use and restored exactly after a crash;
//! that reads see every entry committed before they were issued and are
//! never served once a newer term had a leader; that what the leader tells a
//! client about its entry is true; no message storm. Every 50 ms: log
//! matching (a snapshot's last index and term count as an entry, terms never
//! go down) and every log against the committed entries up to its commit
//! index. After each healing it requires progress: a leader is elected and a
//! new entry is applied by every running voter within a bound. A failure
//! prints the seed, the cluster state and a replay command.
//!
//! * CI (fixed seeds, debug build): `cargo test --test sim`
//! * Replay one seed with a trace:  `SIM_SEED=<n> SIM_TRACE=1 cargo test --test sim -- --nocapture`
//! * Soak: `SIM_SEEDS=10000 cargo test --release --test sim -- --ignored soak`
//!   (`SIM_SEED_START` picks the first seed, default 1000; `SIM_SCALE=<k>`
//!   gives every seed k times as many chaos and healing cycles).
//!
//! # Mutation testing (2026-11-26)
//!
//! Each bug below was put into `src/core/server/` by hand (never committed),
//! then `SIM_CI_SEEDS=64 cargo test --release --test sim ci_seeds` (the CI
//! seeds 1..=64) and `SIM_SEEDS=2000 cargo test --release --test sim --
//! --ignored soak` (seeds 1000..2999) were run. The unmutated core passed
//! every seed (CI, and soaks of more than 20000 seeds). "CI" is the number
//! of the 64 CI seeds that fail; the checker named is the one that fired
//! first on the first failing seed.
//!
//! | # | bug put into the core | CI | first CI seed: checker | soak | before |
//! |---|---|---|---|---|---|
//! | 1 | Figure 8: an entry of an earlier term commits by counting replicas | 15 | 3: commit rule | 364 | 0 |
//! | 2 | votes granted without the "log at least as up to date" check | 46 | 1: election restriction | 1435 | 16 |
//! | 2b | the same for real votes only (pre-votes still check) | 26 | 1: election restriction | 843 | 0 |
//! | 3 | the vote is not restored at restart | 55 | 1: term/vote restored exactly | 1716 | 0 |
//! | 3b | a second vote in the same term | 24 | 1: vote persisted twice in a term | 688 | 17 |
//! | 4 | AppendEntries accepted without checking `prev_log_term` | 27 | 1: log term went down | 877 | 6 |
//! | 5 | a matching entry truncates the log from there | 59 | 1: acknowledged entry removed | 1876 | 20 |
//! | 6 | commit with one vote fewer than a majority | 59 | 1: commit rule | 1894 | 7 |
//! | 7 | reads answered without a quorum's acknowledgement | 7 | 16: read after a newer leader | 183 | 0 |
//! | 8 | a loaded snapshot keeps the log entries after it | 0 | (see below) | 0 | 0 |
//!
//! ("soak": failing seeds of 2000; "before": CI seeds the simulation caught
//! before this work, whose checks then were the end-to-end ones below.)
//!
//! Without the checkers that watch the protocol's rules directly (commit
//! rule, election restriction, exact vote restore, acknowledged entries,
//! newer-term reads), the end-to-end checks alone (state machine safety,
//! leader completeness, linearizability, progress) still fail these many of
//! the 64 CI seeds: 1: 4 (first seed 3, leader completeness: the Figure 8
//! sequence lets a later leader overwrite the committed entry; 74 of 2000
//! soak seeds); 2: 22; 2b: 0 (6 soak seeds); 3: 2 (seed 1, a second vote in
//! the term; 17 soak seeds); 3b: 24; 4: 27 (log term went down, state
//! machine safety); 5: 24 (no progress); 6: 20 (leader completeness); 7: 5
//! (seed 16, a read missing a committed entry; 140 soak seeds).
//!
//! Mutation 8 is an equivalent mutant in every reachable state:
//! `begin_load_snapshot` refuses a snapshot that ends before the log does
//! (the mutation removes that), and a leader only sends a snapshot once the
//! follower reported a log ending before it (`next_idx` comes from the
//! follower's `current_idx`); within one term a follower's log only grows
//! with that leader's entries, so the entries kept after the snapshot never
//! conflict with it. The checks that would see a conflicting kept entry are
//! in place (log matching across the snapshot base, terms never go down),
//! and `snapshot_never_keeps_conflicting_entries` hands a follower such a
//! snapshot directly: it fails with mutation 8 and passes without.

#[path = "sim/check.rs"]
mod check;
#[path = "sim/cluster.rs"]
mod cluster;
#[path = "sim/directed.rs"]
mod directed;
#[path = "sim/entry.rs"]
mod entry;
#[path = "sim/fsm.rs"]
mod fsm;
#[path = "sim/host.rs"]
mod host;
#[path = "sim/log.rs"]
mod log;
#[path = "sim/nemesis.rs"]
mod nemesis;
#[path = "sim/net.rs"]
mod net;
#[path = "sim/ops.rs"]
mod ops;
#[path = "sim/rng.rs"]
mod rng;
#[path = "sim/schedule.rs"]
mod schedule;
#[path = "sim/snap.rs"]
mod snap;

use raft::core::Server;

/// The server type under test.
pub type SimServer = Server<entry::SimEntry, log::SimLog, host::SimHost>;

/// Number of seeds `cargo test` runs (override with `SIM_CI_SEEDS`).
const CI_SEEDS: u64 = 64;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Run `seeds`, collecting every failure with its replay command.
fn run_seeds(seeds: impl Iterator<Item = u64>) -> Vec<String> {
    let mut failures = Vec::new();
    let mut totals = schedule::Totals::default();
    for seed in seeds {
        match schedule::run_seed_caught(seed, false) {
            Ok(summary) => totals.add(&summary.totals),
            Err(msg) => {
                eprintln!("{msg}");
                failures.push(format!("seed {seed}: {}", msg.lines().next().unwrap_or("")));
            }
        }
    }
    eprintln!(
        "sim: {} seeds passed, {} failed; passing seeds exercised: {totals}",
        totals.seeds,
        failures.len()
    );
    failures
}

#[test]
fn ci_seeds() {
    if let Some(seed) = env_u64("SIM_SEED") {
        let trace = std::env::var("SIM_TRACE").is_ok_and(|v| v != "0");
        match schedule::run_seed_caught(seed, trace) {
            Ok(summary) => eprintln!("{}", summary.line),
            Err(msg) => panic!("{msg}"),
        }
        return;
    }
    let n = env_u64("SIM_CI_SEEDS").unwrap_or(CI_SEEDS);
    let failures = run_seeds(1..=n);
    assert!(
        failures.is_empty(),
        "{} of {n} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A state no schedule reaches (see `sim/directed.rs`).
#[test]
fn snapshot_never_keeps_conflicting_entries() {
    if let Err(e) = directed::snapshot_over_conflicting_log() {
        panic!("{e}");
    }
}

#[test]
#[ignore]
fn soak() {
    let start = env_u64("SIM_SEED_START").unwrap_or(1000);
    let n = env_u64("SIM_SEEDS").unwrap_or(1000);
    let failures = run_seeds(start..start + n);
    assert!(
        failures.is_empty(),
        "{} of {n} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
