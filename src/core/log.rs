//! The log storage interface the server drives.
//!
//! It mirrors the C `raft_log_impl_t` vtable so that a user implementation
//! written in C plugs in directly. All methods take `&self`: a C log may call
//! back into the server, so implementations keep their own interior mutability
//! and never hold a borrow across a callback.

use super::entry::Entry;
use super::types::{Index, Result, Term};

/// Persistent, index-addressed entry storage. Indexes start at 1.
pub trait LogStore<E: Entry> {
    /// Drop every entry and start again so that the next append lands at
    /// `first_idx`; `term` is the term of the entry before it (a snapshot's).
    fn reset(&self, first_idx: Index, term: Term);
    /// Append one entry at `current_idx() + 1`. The log keeps its own clone.
    fn append(&self, entry: &E) -> Result<()>;
    /// [`Self::append`], then `current_idx()`: a store that knows the index
    /// as it appends can answer both in one step.
    fn append_last(&self, entry: &E) -> Result<Index> {
        self.append(entry)?;
        Ok(self.current_idx())
    }
    /// Append `entries` in order, stopping at the first failure: how many
    /// went in, and that failure. A store can take a run in one step.
    fn append_batch(&self, entries: &[E]) -> (usize, Result<()>) {
        append_each(self, entries)
    }
    /// Remove entries from the front so that `first_idx` becomes the first one.
    fn poll(&self, first_idx: Index) -> Result<()>;
    /// Remove `from_idx` and everything after it, newest first, calling
    /// `notify(entry, idx)` for each removed entry before it is released.
    fn pop(&self, from_idx: Index, notify: &mut dyn FnMut(&E, Index)) -> Result<()>;
    /// The entry at `idx`, if stored.
    fn get(&self, idx: Index) -> Option<E>;
    /// Term of the entry at `idx`, if stored. A store can answer without
    /// handing out (and reference counting) the entry itself.
    fn term_at(&self, idx: Index) -> Option<Term> {
        self.get(idx).map(|e| e.term())
    }
    /// A counter that changes whenever stored entries are removed (pop,
    /// poll, reset), so a caller holding entries read earlier knows they are
    /// still the log's at their indexes. `None` when the store cannot tell:
    /// the caller then reads again each time.
    fn removals(&self) -> Option<u64> {
        None
    }
    /// Up to `max` consecutive entries starting at `idx`, appended to `out`;
    /// returns how many were added.
    fn get_batch(&self, idx: Index, max: Index, out: &mut Vec<E>) -> Index;
    /// Index of the first stored entry (`current_idx() + 1` when empty).
    fn first_idx(&self) -> Index;
    /// Index of the last entry, or of the snapshot's last entry when empty.
    fn current_idx(&self) -> Index;
    /// Number of stored entries.
    fn count(&self) -> Index;
    /// Make appended entries durable.
    fn sync(&self) -> Result<()>;
}

/// [`LogStore::append_batch`] one [`LogStore::append`] at a time.
#[inline(never)]
pub fn append_each<E: Entry, L: LogStore<E> + ?Sized>(
    log: &L,
    entries: &[E],
) -> (usize, Result<()>) {
    for (n, e) in entries.iter().enumerate() {
        if let Err(err) = log.append(e) {
            return (n, Err(err));
        }
    }
    (entries.len(), Ok(()))
}
