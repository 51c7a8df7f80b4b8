//! The simulated network: every message gets a random delivery time (which
//! reorders them), may be dropped or duplicated, and never crosses a partition.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use raft::core::{
    AppendEntriesRequest, AppendEntriesResponse, NodeId, RequestVoteRequest, RequestVoteResponse,
    SnapshotRequest, SnapshotResponse,
};

use super::entry::SimEntry;
use super::rng::Rng;

#[derive(Clone, Debug)]
pub enum Msg {
    Vote(RequestVoteRequest),
    VoteResp(RequestVoteResponse),
    Append(AppendEntriesRequest<SimEntry>),
    AppendResp(AppendEntriesResponse),
    Snap(SnapshotRequest),
    SnapResp(SnapshotResponse),
    TimeoutNow,
}

impl Msg {
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Vote(_) => "vote",
            Msg::VoteResp(_) => "vote_resp",
            Msg::Append(_) => "append",
            Msg::AppendResp(_) => "append_resp",
            Msg::Snap(_) => "snap",
            Msg::SnapResp(_) => "snap_resp",
            Msg::TimeoutNow => "timeout_now",
        }
    }
}

/// More messages in flight than this is a storm (a healthy cluster of
/// seven nodes stays far below it).
pub const MAX_IN_FLIGHT: usize = 200_000;

pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub msg: Msg,
}

/// Fault rates in per mille, and the delay range in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub drop: u32,
    pub duplicate: u32,
    pub min_delay: u64,
    pub max_delay: u64,
}

impl Faults {
    pub fn calm() -> Faults {
        Faults {
            drop: 0,
            duplicate: 0,
            min_delay: 1,
            max_delay: 5,
        }
    }
}

#[derive(Default, Debug)]
pub struct Stats {
    /// Delivered messages per kind.
    pub by_kind: std::collections::BTreeMap<&'static str, u64>,
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub cut: u64,
    /// Most messages ever in flight at once.
    pub peak_in_flight: usize,
    /// Messages refused because too many were in flight (a message storm).
    pub flooded: u64,
}

pub struct Network {
    pub faults: Faults,
    /// Messages in flight keyed by (delivery time, sequence number).
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    in_flight: HashMap<u64, Envelope>,
    seq: u64,
    /// Directed links that are down (from, to).
    cuts: BTreeSet<(NodeId, NodeId)>,
    pub stats: Stats,
}

impl Network {
    pub fn new(faults: Faults) -> Network {
        Network {
            faults,
            queue: BinaryHeap::new(),
            in_flight: HashMap::new(),
            seq: 0,
            cuts: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    pub fn connected(&self, from: NodeId, to: NodeId) -> bool {
        !self.cuts.contains(&(from, to))
    }

    /// Split `nodes` into two random non-empty sides, cutting both directions.
    pub fn partition(&mut self, nodes: &[NodeId], rng: &mut Rng) {
        if nodes.len() < 2 {
            return;
        }
        let side: Vec<bool> = loop {
            let s: Vec<bool> = nodes.iter().map(|_| rng.chance(500)).collect();
            if s.iter().any(|b| *b) && s.iter().any(|b| !*b) {
                break s;
            }
        };
        for (i, a) in nodes.iter().enumerate() {
            for (j, b) in nodes.iter().enumerate() {
                if side[i] != side[j] {
                    self.cuts.insert((*a, *b));
                }
            }
        }
    }

    /// Cut every link between `a` and `b`, both ways.
    pub fn split(&mut self, a: &[NodeId], b: &[NodeId]) {
        for x in a {
            for y in b {
                self.cuts.insert((*x, *y));
                self.cuts.insert((*y, *x));
            }
        }
    }

    /// Cut one direction of one link (asymmetric failures).
    pub fn cut_link(&mut self, from: NodeId, to: NodeId) {
        self.cuts.insert((from, to));
    }

    /// Cut every link to and from `node`.
    pub fn isolate(&mut self, node: NodeId, nodes: &[NodeId]) {
        for other in nodes {
            if *other != node {
                self.cuts.insert((node, *other));
                self.cuts.insert((*other, node));
            }
        }
    }

    /// Restore every link to and from `node` (other cuts stay).
    pub fn reconnect(&mut self, node: NodeId) {
        self.cuts.retain(|(a, b)| *a != node && *b != node);
    }

    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    pub fn is_partitioned(&self) -> bool {
        !self.cuts.is_empty()
    }

    pub fn send(&mut self, now: u64, from: NodeId, to: NodeId, msg: Msg, rng: &mut Rng) {
        self.stats.sent += 1;
        if !self.connected(from, to) {
            self.stats.cut += 1;
            return;
        }
        if rng.chance(self.faults.drop) {
            self.stats.dropped += 1;
            return;
        }
        if rng.chance(self.faults.duplicate) {
            self.stats.duplicated += 1;
            self.enqueue(now, from, to, msg.clone(), rng);
        }
        self.enqueue(now, from, to, msg, rng);
    }

    /// Hold a message until `at` (its receiver is paused).
    pub fn defer(&mut self, env: Envelope, at: u64) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.in_flight.insert(self.seq, env);
    }

    fn enqueue(&mut self, now: u64, from: NodeId, to: NodeId, msg: Msg, rng: &mut Rng) {
        let at = now
            + rng.range(
                self.faults.min_delay,
                self.faults.max_delay.max(self.faults.min_delay),
            );
        // A storm (messages begetting more messages) is a bug; stop it
        // before it eats the machine's memory, and let the checker report it.
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.stats.flooded += 1;
            return;
        }
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.in_flight.insert(self.seq, Envelope { from, to, msg });
        self.stats.peak_in_flight = self.stats.peak_in_flight.max(self.in_flight.len());
    }

    /// The next message due at or before `now`, skipping ones a partition
    /// created after sending has cut off.
    pub fn next_due(&mut self, now: u64) -> Option<Envelope> {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > now {
                return None;
            }
            self.queue.pop();
            let env = self.in_flight.remove(&seq).expect("queued message");
            if !self.connected(env.from, env.to) {
                self.stats.cut += 1;
                continue;
            }
            self.stats.delivered += 1;
            *self.stats.by_kind.entry(env.msg.kind()).or_default() += 1;
            return Some(env);
        }
        None
    }
}
