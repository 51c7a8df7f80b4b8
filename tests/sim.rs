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
//! then term and vote).
//!
//! After every step it checks election safety, log matching (every 50 ms),
//! state machine safety (same entry and same state at every index, also
//! across snapshots), leader completeness, that committed entries are never
//! removed, that term and vote are durable before use, that reads see every
//! entry committed before they were issued, and that what the leader tells a
//! client about its entry is true. After each healing it requires progress: a
//! leader is elected and a new entry is applied by every running voter within
//! a bound. A failure prints the seed, the cluster state and a replay command.
//!
//! * CI (fixed seeds, debug build): `cargo test --test sim`
//! * Replay one seed with a trace:  `SIM_SEED=<n> SIM_TRACE=1 cargo test --test sim -- --nocapture`
//! * Soak: `SIM_SEEDS=10000 cargo test --release --test sim -- --ignored soak`
//!   (`SIM_SEED_START` picks the first seed, default 1000; `SIM_SCALE=<k>`
//!   gives every seed k times as many chaos and healing cycles).

#[path = "sim/check.rs"]
mod check;
#[path = "sim/cluster.rs"]
mod cluster;
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
