//! The random schedule of one seed: its fault profile, the chaos phases, the
//! healing phases with their progress requirement, and failure reporting.

use std::fmt::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use raft::core::server::Commitment;
use raft::core::{EntryResponse, NodeId};

use super::entry::EntryKey;

use super::cluster::{Cluster, Fault, ELECTION_TIMEOUT};
use super::net::Faults;
use super::rng::Rng;

/// What one seed does: fault rates and how often each operation happens.
#[derive(Debug)]
pub struct Profile {
    pub nodes: usize,
    pub faults: Faults,
    /// Expected occurrences per simulated second.
    pub client_rate: u64,
    pub partition_rate: u64,
    pub crash_rate: u64,
    pub compact_rate: u64,
    pub member_rate: u64,
    pub transfer_rate: u64,
    /// Faults aimed at the current leader (see `leader_fault`).
    pub leader_fault_rate: u64,
    /// Runs of the directed "Figure 8" sequence (see `nemesis.rs`).
    pub figure8_rate: u64,
    /// Most entries per AppendEntries (0: the server's or host's choice).
    pub batch_cap: i64,
    pub cycles: u32,
    pub chaos_ms: u64,
    pub nonblocking_apply: bool,
    pub auto_flush: bool,
}

impl Profile {
    fn from_seed(seed: u64) -> Profile {
        let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
        let nodes = *r.pick(&[1, 2, 3, 3, 3, 4, 5, 5]).unwrap();
        let mut p = Profile {
            nodes,
            faults: Faults {
                drop: r.range(0, 150) as u32,
                duplicate: r.range(0, 100) as u32,
                min_delay: 1,
                max_delay: r.range(2, 30),
            },
            client_rate: r.range(5, 60),
            partition_rate: r.range(0, 3),
            crash_rate: r.range(0, 2),
            compact_rate: r.range(0, 5),
            member_rate: r.range(0, 2),
            transfer_rate: r.range(0, 1),
            leader_fault_rate: 0,
            figure8_rate: 0,
            batch_cap: 0,
            cycles: r.range(1, 3) as u32,
            chaos_ms: r.range(1000, 3000),
            nonblocking_apply: r.chance(300),
            auto_flush: r.chance(700),
        };
        // One seed in five is a storm: five nodes, frequent crashes and
        // partitions, so leadership changes often (where subtle bugs live).
        if r.chance(200) {
            p.nodes = 5;
            p.crash_rate = r.range(3, 8);
            p.partition_rate = r.range(3, 10);
            p.client_rate = r.range(30, 100);
        }
        p.leader_fault_rate = r.range(0, 4);
        p.figure8_rate = r.range(0, 3);
        if r.chance(300) {
            p.batch_cap = r.range(1, 2) as i64;
        }
        p
    }
}

/// A fault aimed at the leader, where consensus bugs hide: crash it now or
/// a few milliseconds later (after it replicated a new entry to some
/// followers only), strand it alone (it keeps believing it leads while the
/// others elect a new leader; clients that only reach it keep reading), or
/// split it off with a minority.
fn leader_fault(c: &mut Cluster) {
    let Some((l, _)) = c.leader() else { return };
    c.counts.leader_faults += 1;
    match c.rng.below(4) {
        0 => {
            c.crash(l);
            let after = c.rng.range(20, 400);
            c.schedule(after, Fault::Restart(l));
        }
        1 => {
            let crash = c.rng.range(1, 12);
            let restart = crash + c.rng.range(30, 400);
            c.schedule(crash, Fault::Crash(l));
            c.schedule(restart, Fault::Restart(l));
        }
        2 => c.strand_pending = true,
        _ => {
            // The leader and fewer than half of the others on one side.
            let mut others: Vec<NodeId> = c.members().into_iter().filter(|n| *n != l).collect();
            let k = c.rng.below((others.len() as u64).div_ceil(2)) as usize;
            let mut side = vec![l];
            for _ in 0..k {
                let i = c.rng.below(others.len() as u64) as usize;
                side.push(others.swap_remove(i));
            }
            c.net.split(&side, &others);
            c.counts.partitions += 1;
            c.trace(format_args!("split leader side {side:?} from {others:?}"));
        }
    }
}

/// Strand the leader once it is quiet (everything in its log applied, so a
/// read it wrongly served at once would go unnoticed by nothing) and the
/// others can elect a new leader meanwhile.
fn try_strand(c: &mut Cluster) {
    let Some((l, leader)) = c.leader() else {
        return;
    };
    let quiet = leader.commit_idx() == leader.current_idx()
        && leader.last_applied_idx() == leader.commit_idx();
    let voters = leader.nodes().iter().filter(|n| n.is_voting()).count();
    let others = c
        .running_ids()
        .into_iter()
        .filter(|id| *id != l && leader.node(*id).is_some_and(|n| n.is_voting()))
        .count();
    if c.stranded.is_some() || !quiet || others <= voters / 2 {
        return;
    }
    c.strand_pending = false;
    // Other cuts heal, so the rest can elect a leader meanwhile.
    c.net.heal();
    let up = c.up_ids();
    c.net.isolate(l, &up);
    let ms = c.rng.range(300, 1000);
    c.stranded = Some((l, c.now() + ms));
    c.schedule(ms, Fault::Reconnect(l));
    c.trace(format_args!("strand leader n{l} for {ms}ms"));
}

/// How long healing may take before "no progress" is reported.
const PROGRESS_BOUND_MS: u64 = 60 * ELECTION_TIMEOUT as u64;
/// Log matching is checked this often (it compares every pair of logs).
const LOG_CHECK_EVERY_MS: u64 = 50;

/// Run one seed; a panic inside the core is reported like a violation.
pub fn run_seed_caught(seed: u64, trace: bool) -> Result<Summary, String> {
    match catch_unwind(AssertUnwindSafe(|| run_seed(seed, trace))) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(report(seed, &format!("panic: {what}"), None))
        }
    }
}

fn report(seed: u64, what: &str, cluster: Option<&Cluster>) -> String {
    let mut s = format!("SIM FAILURE seed {seed}: {what}\n");
    if let Some(c) = cluster {
        let _ = writeln!(s, "at {}ms; counts {:?}", c.now(), c.counts);
        s.push_str(&describe(c));
    }
    let _ = writeln!(s, "replay: SIM_SEED={seed} cargo test --test sim -- --nocapture   (add SIM_TRACE=1 for a trace)");
    s
}

/// One line per node: role, term, indexes, configuration.
pub fn describe(c: &Cluster) -> String {
    let mut s = String::new();
    for (id, n) in &c.nodes {
        match n.up() {
            None => {
                let _ = writeln!(s, "  n{id}: {}", if n.retired { "retired" } else { "down" });
            }
            Some(srv) => {
                let voters: Vec<NodeId> = srv
                    .nodes()
                    .iter()
                    .filter(|x| x.is_voting())
                    .map(|x| x.id())
                    .collect();
                let others: Vec<NodeId> = srv
                    .nodes()
                    .iter()
                    .filter(|x| !x.is_voting())
                    .map(|x| x.id())
                    .collect();
                let _ = writeln!(
                    s,
                    "  n{id}: {} term {} leader {} commit {} applied {} last {} snap {} voters {voters:?} non-voting {others:?}",
                    srv.state().name(),
                    srv.current_term(),
                    srv.leader_id(),
                    srv.commit_idx(),
                    srv.last_applied_idx(),
                    srv.current_idx(),
                    srv.snapshot_last_idx(),
                );
            }
        }
    }
    s
}

fn per_ms(rng: &mut Rng, per_second: u64) -> bool {
    rng.below(1_000_000) < per_second * 1000
}

/// One random operation (or none) for this millisecond.
fn chaos_actions(c: &mut Cluster, p: &Profile) {
    c.run_scheduled();
    c.figure8_step();
    if !c.figure8.is_active() && per_ms(&mut c.rng, p.figure8_rate) {
        c.figure8_start();
    }
    // The directed sequence runs alone: only clients and message faults.
    let directed = c.figure8.is_active();
    let up = c.running_ids();
    let stranded = c.stranded.map(|(n, _)| n);
    if per_ms(&mut c.rng, p.client_rate) {
        // Mostly to a leader; sometimes to anyone (which must refuse unless
        // leading). Writers cannot reach a stranded leader.
        let reachable: Vec<NodeId> = up
            .iter()
            .copied()
            .filter(|n| Some(*n) != stranded)
            .collect();
        let target = match c.leader() {
            Some((l, _)) if c.rng.chance(800) => Some(l),
            _ => c.rng.pick(&reachable).copied(),
        };
        if let Some(t) = target {
            c.submit(t);
        }
    }
    if per_ms(&mut c.rng, p.client_rate / 2) {
        // Any node that believes it leads, stale ones included.
        let leaders: Vec<NodeId> = c.leaders().into_iter().map(|(id, _)| id).collect();
        let target = if c.rng.chance(800) {
            c.rng.pick(&leaders)
        } else {
            c.rng.pick(&up)
        }
        .copied();
        if let Some(t) = target {
            c.read(t);
        }
    }
    if let Some(n) = stranded {
        if per_ms(&mut c.rng, 80) {
            c.read(n);
        }
    }
    if directed {
        return;
    }
    if per_ms(&mut c.rng, p.leader_fault_rate) {
        leader_fault(c);
    }
    if c.strand_pending {
        try_strand(c);
    }
    if per_ms(&mut c.rng, p.partition_rate) {
        c.counts.partitions += 1;
        match c.rng.below(3) {
            0 => c.net.partition(&up, &mut c.rng),
            1 => {
                if let Some(&n) = c.rng.pick(&up) {
                    c.net.isolate(n, &up);
                }
            }
            _ => {
                if let (Some(&a), Some(&b)) = (c.rng.pick(&up), c.rng.pick(&up)) {
                    c.net.cut_link(a, b);
                }
            }
        }
    }
    if per_ms(&mut c.rng, p.partition_rate) {
        if let Some(&n) = c.rng.pick(&up) {
            let ms = c.rng.range(50, 400);
            c.pause(n, ms);
        }
    }
    if c.net.is_partitioned() && per_ms(&mut c.rng, 2 * p.partition_rate.max(1)) {
        c.net.heal();
    }
    if per_ms(&mut c.rng, p.crash_rate) {
        if let Some(&n) = c.rng.pick(&up) {
            c.crash(n);
        }
    }
    if per_ms(&mut c.rng, 3 * p.crash_rate) {
        let down: Vec<NodeId> = c
            .members()
            .into_iter()
            .filter(|id| c.server(*id).is_none())
            .collect();
        if let Some(&n) = c.rng.pick(&down) {
            c.restart(n);
        }
    }
    if per_ms(&mut c.rng, p.compact_rate) {
        if let Some(&n) = c.rng.pick(&up) {
            c.compact(n);
        }
    }
    if per_ms(&mut c.rng, p.member_rate) {
        // Keep the cluster between 1 and 7 members.
        let members = c.members().len();
        if members < 7 && (c.rng.chance(500) || members <= 2) {
            c.add_member();
        } else {
            c.remove_member();
        }
    }
    if per_ms(&mut c.rng, p.transfer_rate) {
        c.transfer_leader();
    }
}

fn check(c: &Cluster, seed: u64) -> Result<(), String> {
    let v = c.shared.violations.borrow();
    match v.first() {
        None => Ok(()),
        Some(first) => Err(report(seed, first, Some(c))),
    }
}

/// Heal everything, then require a new entry to reach every live voter.
fn heal_and_progress(c: &mut Cluster, seed: u64) -> Result<(), String> {
    c.net.heal();
    if c.figure8.is_active() {
        c.figure8_abort();
    }
    c.scheduled.clear();
    c.stranded = None;
    c.strand_pending = false;
    for n in c.nodes.values_mut() {
        n.paused_until = 0;
    }
    c.net.faults = Faults::calm();
    c.shared.chaos.set(false);
    let down: Vec<NodeId> = c
        .nodes
        .iter()
        .filter(|(_, n)| n.server.is_none() && !n.retired)
        .map(|(id, _)| *id)
        .collect();
    for id in down {
        c.restart(id);
    }
    for id in c.up_ids() {
        c.finish_snapshot(id);
    }
    let deadline = c.now() + PROGRESS_BOUND_MS;
    let mut target: Option<(EntryResponse, EntryKey)> = None;
    while c.now() < deadline {
        c.step();
        check(c, seed)?;
        let Some((resp, key)) = target else {
            if let Some((lid, _)) = c.leader() {
                target = c.submit(lid);
            }
            continue;
        };
        let idx = resp.idx;
        let committed = c.shared.committed_key(idx);
        // What the leader tells a client about its entry must agree with the truth.
        if let Some((lid, l)) = c.leader() {
            let told = l.entry_response_committed(&resp);
            let wrong = match told {
                Commitment::Committed => committed.is_some_and(|k| k != key),
                Commitment::Invalidated => committed == Some(key),
                Commitment::Pending => false,
            };
            if wrong {
                c.shared.violation(format!(
                    "leader {lid} reports {told:?} for entry {key:?} at idx {idx}, but idx {idx} committed {committed:?}"
                ));
                check(c, seed)?;
            }
        }
        match committed {
            // Another entry won the index: submit again.
            Some(k) if k != key => target = None,
            Some(_) => {
                let Some((_, l)) = c.leader() else { continue };
                let voters = c.live_voters(&l);
                if voters
                    .iter()
                    .all(|v| c.server(*v).is_some_and(|s| s.last_applied_idx() >= idx))
                {
                    c.check_logs();
                    return check(c, seed);
                }
            }
            None => {
                // Lost with a leader change before anyone committed it: submit again.
                if let Some((_, l)) = c.leader() {
                    if !l.log().get_entry(idx).is_some_and(|e| e.key() == key) {
                        target = None;
                    }
                }
            }
        }
    }
    Err(report(
        seed,
        &format!("no progress within {PROGRESS_BOUND_MS}ms after healing (target {target:?})"),
        Some(c),
    ))
}

pub fn run_seed(seed: u64, trace: bool) -> Result<Summary, String> {
    let mut p = Profile::from_seed(seed);
    // `SIM_SCALE=<k>` runs k times as many chaos/heal cycles per seed.
    if let Some(k) = std::env::var("SIM_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        p.cycles *= k.max(1);
    }
    if trace {
        eprintln!("seed {seed}: {p:?}");
    }
    let mut c = Cluster::new(
        seed,
        p.nodes,
        p.faults,
        trace,
        p.nonblocking_apply,
        p.auto_flush,
    );
    c.shared.batch_cap.set(p.batch_cap);
    check(&c, seed)?;
    for _ in 0..p.cycles {
        c.net.faults = p.faults;
        c.shared.chaos.set(true);
        let end = c.now() + p.chaos_ms;
        while c.now() < end {
            chaos_actions(&mut c, &p);
            c.step();
            if c.now().is_multiple_of(LOG_CHECK_EVERY_MS) {
                c.check_logs();
            }
            check(&c, seed)?;
        }
        heal_and_progress(&mut c, seed)?;
    }
    c.check_logs();
    check(&c, seed)?;
    let totals = Totals {
        seeds: 1,
        sim_ms: c.now(),
        leaders: c.shared.leaders_elected() as u64,
        committed: c.shared.committed_count() as u64,
        entries: c.counts.entries,
        snapshots: c.counts.snapshots,
        installs: c.shared.installs.get(),
        reads_ok: c.shared.reads_ok.get(),
        reads_refused: c.shared.reads_failed.get(),
        crashes: c.counts.crashes,
        joins: c.counts.joins,
        removals: c.counts.removals,
        transfers: c.counts.transfers,
        leader_faults: c.counts.leader_faults,
        figure8: c.counts.figure8,
        partitions: c.counts.partitions,
        delivered: c.net.stats.delivered,
        dropped: c.net.stats.dropped,
        duplicated: c.net.stats.duplicated,
    };
    let line = format!(
        "seed {seed} ok: {} nodes, {totals}, messages by kind {:?}, at most {} in flight",
        p.nodes, c.net.stats.by_kind, c.net.stats.peak_in_flight
    );
    Ok(Summary { line, totals })
}

/// What one seed (or several, added up) exercised.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub seeds: u64,
    pub sim_ms: u64,
    pub leaders: u64,
    pub committed: u64,
    pub entries: u64,
    pub snapshots: u64,
    pub installs: u64,
    pub reads_ok: u64,
    pub reads_refused: u64,
    pub crashes: u64,
    pub joins: u64,
    pub removals: u64,
    pub transfers: u64,
    pub leader_faults: u64,
    pub figure8: u64,
    pub partitions: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.seeds += o.seeds;
        self.sim_ms += o.sim_ms;
        self.leaders += o.leaders;
        self.committed += o.committed;
        self.entries += o.entries;
        self.snapshots += o.snapshots;
        self.installs += o.installs;
        self.reads_ok += o.reads_ok;
        self.reads_refused += o.reads_refused;
        self.crashes += o.crashes;
        self.joins += o.joins;
        self.removals += o.removals;
        self.transfers += o.transfers;
        self.leader_faults += o.leader_faults;
        self.figure8 += o.figure8;
        self.partitions += o.partitions;
        self.delivered += o.delivered;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} simulated ms, {} leaders elected, {} entries committed ({} client entries), \
             {} snapshots taken, {} installed, {} reads served, {} refused, {} crashes+restarts, \
             {} joins, {} removals, {} leader transfers, {} faults aimed at leaders, {} figure-8 runs, {} partitions, \
             messages {} delivered {} dropped {} duplicated",
            self.sim_ms,
            self.leaders,
            self.committed,
            self.entries,
            self.snapshots,
            self.installs,
            self.reads_ok,
            self.reads_refused,
            self.crashes,
            self.joins,
            self.removals,
            self.transfers,
            self.leader_faults,
            self.figure8,
            self.partitions,
            self.delivered,
            self.dropped,
            self.duplicated
        )
    }
}

/// The outcome of a seed that passed.
pub struct Summary {
    pub line: String,
    pub totals: Totals,
}
