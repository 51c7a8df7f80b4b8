//! The simulated disk log: an in-memory log whose contents outlive the server
//! that wrote them, so a "restarted" node can replay them.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use raft::core::{Entry, Index, LogStore, Result, Term};

use super::entry::{EntryKey, SimEntry};

#[derive(Default)]
pub struct LogData {
    /// Index of the entry before the first stored one (a snapshot's last index).
    pub base: Index,
    pub base_term: Term,
    /// Last index known to be on disk (`sync`, or a completed async write).
    /// A crash loses the entries after it.
    pub durable: Index,
    pub entries: VecDeque<SimEntry>,
    /// Entries removed by `pop`, for the "committed entries are never undone" check.
    pub popped: Vec<(Index, EntryKey)>,
    /// Rule breaks the log itself notices.
    pub problems: Vec<String>,
    /// Term → highest index at which an entry of that term was ever
    /// appended (kept across restarts): what the node could have acknowledged,
    /// for the commit rule check.
    pub held: BTreeMap<Term, Index>,
    /// Bumped on every removal (`LogStore::removals`), so the server's
    /// batched apply path runs in the simulation too.
    pub removals: u64,
}

/// Shared handle: the server owns one clone, the simulation keeps another.
#[derive(Clone, Default)]
pub struct SimLog(pub Rc<RefCell<LogData>>);

impl SimLog {
    /// An asynchronous write of entries up to `idx` completed.
    pub fn mark_durable(&self, idx: Index) {
        let mut d = self.0.borrow_mut();
        let last = d.base + d.entries.len() as Index;
        d.durable = d.durable.max(idx.min(last));
    }

    /// What a crash leaves: the entries that were not durable are gone.
    pub fn crash(&self) {
        let mut d = self.0.borrow_mut();
        let keep = (d.durable - d.base).max(0) as usize;
        d.entries.truncate(keep);
        d.removals += 1;
    }

    pub fn entries_from(&self, idx: Index) -> Vec<(Index, SimEntry)> {
        let d = self.0.borrow();
        let start = (idx - d.base - 1).max(0) as usize;
        d.entries
            .iter()
            .enumerate()
            .skip(start)
            .map(|(i, e)| (d.base + 1 + i as Index, e.clone()))
            .collect()
    }

    pub fn base(&self) -> (Index, Term) {
        let d = self.0.borrow();
        (d.base, d.base_term)
    }

    /// Highest index at which this node ever held an entry of `term`.
    pub fn held(&self, term: Term) -> Index {
        self.0.borrow().held.get(&term).copied().unwrap_or(0)
    }

    /// Term of the last entry (the snapshot's base when empty).
    pub fn last_term(&self) -> Term {
        let d = self.0.borrow();
        d.entries.back().map_or(d.base_term, |e| e.term())
    }

    /// Term of the entry at `idx` as far as this log knows (snapshot base included).
    pub fn term_at(&self, idx: Index) -> Option<Term> {
        let d = self.0.borrow();
        if idx == d.base {
            return Some(d.base_term);
        }
        self.get(idx).map(|e| e.term())
    }
}

impl LogStore<SimEntry> for SimLog {
    fn reset(&self, first_idx: Index, term: Term) {
        let mut d = self.0.borrow_mut();
        d.entries.clear();
        d.removals += 1;
        d.base = first_idx - 1;
        d.base_term = term;
        // What replaced the entries (a snapshot) is on disk.
        d.durable = d.base;
    }

    fn append(&self, entry: &SimEntry) -> Result<()> {
        let mut d = self.0.borrow_mut();
        let last_term = d.entries.back().map_or(d.base_term, |e| e.term());
        if entry.term() < last_term {
            let idx = d.base + d.entries.len() as Index + 1;
            d.problems.push(format!(
                "log term went down at idx {idx}: {} after {last_term}",
                entry.term()
            ));
        }
        let idx = d.base + d.entries.len() as Index + 1;
        let held = d.held.entry(entry.term()).or_default();
        *held = (*held).max(idx);
        d.entries.push_back(entry.clone());
        Ok(())
    }

    fn poll(&self, first_idx: Index) -> Result<()> {
        let mut d = self.0.borrow_mut();
        while d.base + 1 < first_idx {
            match d.entries.pop_front() {
                Some(e) => {
                    d.removals += 1;
                    d.base += 1;
                    d.base_term = e.term();
                }
                None => break,
            }
        }
        d.durable = d.durable.max(d.base);
        Ok(())
    }

    fn pop(&self, from_idx: Index, notify: &mut dyn FnMut(&SimEntry, Index)) -> Result<()> {
        loop {
            // Release the borrow before notifying: the callback may read the log.
            let (e, idx) = {
                let mut d = self.0.borrow_mut();
                let idx = d.base + d.entries.len() as Index;
                if idx < from_idx || d.entries.is_empty() {
                    return Ok(());
                }
                let e = d.entries.pop_back().expect("non-empty");
                d.removals += 1;
                d.popped.push((idx, e.key()));
                d.durable = d.durable.min(idx - 1);
                (e, idx)
            };
            notify(&e, idx);
        }
    }

    fn removals(&self) -> Option<u64> {
        Some(self.0.borrow().removals)
    }

    fn get(&self, idx: Index) -> Option<SimEntry> {
        let d = self.0.borrow();
        if idx <= d.base {
            return None;
        }
        d.entries.get((idx - d.base - 1) as usize).cloned()
    }

    fn get_batch(&self, idx: Index, max: Index, out: &mut Vec<SimEntry>) -> Index {
        let d = self.0.borrow();
        if idx <= d.base || max <= 0 {
            return 0;
        }
        let before = out.len();
        out.extend(
            d.entries
                .iter()
                .skip((idx - d.base - 1) as usize)
                .take(max as usize)
                .cloned(),
        );
        (out.len() - before) as Index
    }

    fn first_idx(&self) -> Index {
        self.0.borrow().base + 1
    }

    fn current_idx(&self) -> Index {
        let d = self.0.borrow();
        d.base + d.entries.len() as Index
    }

    fn count(&self) -> Index {
        self.0.borrow().entries.len() as Index
    }

    fn sync(&self) -> Result<()> {
        let mut d = self.0.borrow_mut();
        d.durable = d.base + d.entries.len() as Index;
        Ok(())
    }
}
