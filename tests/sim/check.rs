//! The safety invariants, checked as the simulation runs. A violation is
//! recorded (not panicked on) so the driver can report it with the seed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use raft::core::{EntryId, Index, NodeId, Term};

use super::entry::EntryKey;
use super::log::SimLog;

/// State shared by every node of one run: the clock, the invariants, knobs.
#[derive(Default)]
pub struct Shared {
    /// Simulated time in milliseconds.
    pub now: Cell<u64>,
    /// True while faults are injected (hosts add their own: back-pressure...).
    pub chaos: Cell<bool>,
    pub trace: bool,
    /// Servers apply entries while a snapshot is being taken.
    pub nonblocking_apply: bool,
    /// Servers sync their log on every append; when false the simulation
    /// calls `index_to_sync`/`flush` from time to time instead.
    pub auto_flush: bool,
    next_entry_id: Cell<EntryId>,
    pub violations: RefCell<Vec<String>>,
    /// Every snapshot taken, by last index (to explain a corrupt transfer).
    pub snapshots: RefCell<BTreeMap<Index, Vec<u8>>>,
    /// Linearizable reads allowed / refused by the servers.
    pub reads_ok: Cell<u64>,
    pub reads_failed: Cell<u64>,
    /// Snapshots received over the network and loaded.
    pub installs: Cell<u64>,
    /// Most entries a host puts in one AppendEntries (0: no cap).
    pub batch_cap: Cell<Index>,
    /// Batches are capped at one entry (for a while), as with `batch_cap`.
    pub single_entries: Cell<bool>,
    /// Term → the one node that led it (election safety).
    leaders: RefCell<BTreeMap<Term, NodeId>>,
    /// Committed entries: idx → (entry, the term in which the commit was first seen).
    committed: RefCell<BTreeMap<Index, (EntryKey, Term)>>,
    /// State machine hash after applying idx, or of a snapshot ending at idx.
    state_at: RefCell<BTreeMap<Index, u64>>,
}

impl Shared {
    pub fn new(trace: bool, nonblocking_apply: bool, auto_flush: bool) -> Shared {
        Shared {
            trace,
            nonblocking_apply,
            auto_flush,
            ..Shared::default()
        }
    }

    pub fn violation(&self, msg: String) {
        if self.trace {
            eprintln!("[{:>7}ms] VIOLATION {msg}", self.now.get());
        }
        self.violations.borrow_mut().push(msg);
    }

    pub fn ok(&self) -> bool {
        self.violations.borrow().is_empty()
    }

    pub fn new_entry_id(&self) -> EntryId {
        let id = self.next_entry_id.get() + 1;
        self.next_entry_id.set(id);
        id
    }

    /// Election safety: at most one leader per term. Returns true for a
    /// leader not seen before (the caller then checks leader completeness).
    pub fn observe_leader(&self, node: NodeId, term: Term) -> bool {
        let mut leaders = self.leaders.borrow_mut();
        match leaders.get(&term) {
            Some(n) if *n == node => false,
            Some(n) => {
                let n = *n;
                drop(leaders);
                self.violation(format!(
                    "election safety: nodes {n} and {node} both led term {term}"
                ));
                false
            }
            None => {
                leaders.insert(term, node);
                true
            }
        }
    }

    /// Highest term whose leader has been seen so far (0 if none).
    pub fn newest_leader_term(&self) -> Term {
        self.leaders
            .borrow()
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
    }

    pub fn leaders_elected(&self) -> usize {
        self.leaders.borrow().len()
    }

    /// An entry is known committed at `idx` (seen by `node` in `term`): no
    /// other entry may ever be committed or applied there.
    pub fn observe_committed(&self, node: NodeId, idx: Index, key: EntryKey, term: Term) {
        let mut c = self.committed.borrow_mut();
        match c.get(&idx) {
            Some((k, _)) if *k == key => {}
            Some((k, _)) => {
                let k = *k;
                drop(c);
                self.violation(format!(
                    "state machine safety: node {node} has {key:?} committed at idx {idx}, another node {k:?}"
                ));
            }
            None => {
                c.insert(idx, (key, term));
            }
        }
    }

    /// Highest index known to be committed.
    pub fn max_committed(&self) -> Index {
        self.committed
            .borrow()
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
    }

    pub fn committed_count(&self) -> usize {
        self.committed.borrow().len()
    }

    pub fn committed_key(&self, idx: Index) -> Option<EntryKey> {
        self.committed.borrow().get(&idx).map(|(k, _)| *k)
    }

    pub fn is_committed(&self, idx: Index, key: &EntryKey) -> bool {
        self.committed
            .borrow()
            .get(&idx)
            .is_some_and(|(k, _)| k == key)
    }

    /// The state machine of `node` reached `hash` at `idx`: every node's
    /// state at the same index must be identical (also across snapshots).
    pub fn observe_state(&self, node: NodeId, idx: Index, hash: u64) {
        let mut s = self.state_at.borrow_mut();
        match s.get(&idx) {
            Some(h) if *h == hash => {}
            Some(_) => {
                drop(s);
                self.violation(format!(
                    "state machine safety: node {node} has a different state at idx {idx}"
                ));
            }
            None => {
                s.insert(idx, hash);
            }
        }
    }

    /// Leader completeness: a new leader of `term` holds every entry whose
    /// commit was seen in an earlier term.
    pub fn check_leader_complete(&self, node: NodeId, term: Term, log: &SimLog) {
        let (base, _) = log.base();
        let mut missing = None;
        for (idx, (key, cterm)) in self.committed.borrow().range(base + 1..) {
            if *cterm >= term {
                continue;
            }
            match log.get_entry(*idx) {
                Some(e) if e.key() == *key => {}
                other => {
                    missing = Some(format!(
                        "leader completeness: leader {node} of term {term} lacks committed idx {idx} {key:?} (has {:?})",
                        other.map(|e| e.key())
                    ));
                    break;
                }
            }
        }
        if let Some(m) = missing {
            self.violation(m);
        }
    }

    /// A node never removes an entry at or below its own commit index
    /// (`known_commit`, what it had reached before this step). Other nodes'
    /// copies of a committed entry may legally be overwritten by a stale
    /// leader's late message; leader completeness and state machine safety
    /// cover those.
    pub fn check_pops(&self, node: NodeId, log: &SimLog, known_commit: Index) {
        let popped = std::mem::take(&mut log.0.borrow_mut().popped);
        for (idx, key) in popped {
            if idx <= known_commit {
                self.violation(format!(
                    "node {node} removed entry idx {idx} {key:?} at or below its commit idx {known_commit}"
                ));
            }
        }
        let problems = std::mem::take(&mut log.0.borrow_mut().problems);
        for p in problems {
            self.violation(format!("node {node}: {p}"));
        }
    }
}

/// Log matching: if two logs hold an entry with the same index and term,
/// they hold the same entries up to that index; a snapshot's last index and
/// term count as an entry (a node must not keep entries after a snapshot
/// that another history produced). Terms never go down along a log,
/// across its snapshot base included.
pub fn check_log_matching(shared: &Shared, logs: &[(NodeId, SimLog)]) {
    struct View {
        id: NodeId,
        base: Index,
        base_term: Term,
        keys: Vec<EntryKey>,
    }
    let views: Vec<View> = logs
        .iter()
        .map(|(id, l)| {
            let d = l.0.borrow();
            View {
                id: *id,
                base: d.base,
                base_term: d.base_term,
                keys: d.entries.iter().map(|e| e.key()).collect(),
            }
        })
        .collect();
    for v in &views {
        if let Some(first) = v.keys.first() {
            if first.term < v.base_term {
                shared.violation(format!(
                    "node {}: entry idx {} of term {} follows its snapshot base of term {}",
                    v.id,
                    v.base + 1,
                    first.term,
                    v.base_term
                ));
                return;
            }
        }
    }
    // Term of `v`'s entry at `idx`, its base counting as one.
    let term_at = |v: &View, idx: Index| -> Option<Term> {
        if idx == v.base && v.base > 0 {
            return Some(v.base_term);
        }
        if idx <= v.base {
            return None;
        }
        v.keys.get((idx - v.base - 1) as usize).map(|k| k.term)
    };
    for (i, a) in views.iter().enumerate() {
        for b in views.iter().skip(i + 1) {
            let lo = a.base.max(b.base) + 1;
            let hi = (a.base + a.keys.len() as Index).min(b.base + b.keys.len() as Index);
            let at = |v: &View, idx: Index| v.keys[(idx - v.base - 1) as usize];
            let mut matched = false;
            for idx in (lo..=hi).rev() {
                let (ka, kb) = (at(a, idx), at(b, idx));
                if matched && ka != kb {
                    shared.violation(format!(
                        "log matching: nodes {} and {} agree on a later entry but differ at idx {idx}: {ka:?} vs {kb:?}",
                        a.id, b.id
                    ));
                    return;
                }
                if !matched && ka.term == kb.term {
                    matched = true;
                    if ka != kb {
                        shared.violation(format!(
                            "log matching: nodes {} and {} have different entries of term {} at idx {idx}",
                            a.id, b.id, ka.term
                        ));
                        return;
                    }
                }
            }
            // Agreeing above the higher snapshot base: they agree at it too.
            if matched && lo > 1 {
                let base = lo - 1;
                let (ta, tb) = (term_at(a, base), term_at(b, base));
                if let (Some(ta), Some(tb)) = (ta, tb) {
                    if ta != tb {
                        shared.violation(format!(
                            "log matching: nodes {} and {} agree above idx {base} but have terms {ta} and {tb} there (snapshot base)",
                            a.id, b.id
                        ));
                        return;
                    }
                }
            }
        }
    }
}

impl SimLog {
    pub fn get_entry(&self, idx: Index) -> Option<super::entry::SimEntry> {
        raft::core::LogStore::get(self, idx)
    }
}
