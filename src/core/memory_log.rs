//! An in-memory log: the built-in storage of a server, usable with any
//! [`Entry`] handle.
//!
//! Entries live in a `VecDeque` behind a `RefCell`; `base` is the index just
//! before the first stored entry (the last index compacted into a
//! snapshot). Hooks passed to the `*_with` methods run while no borrow is
//! held, so they may read the log again; entries they see are still stored.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::entry::Entry;
use super::log::LogStore;
use super::types::{Error, Index, Result, Term};

/// In-memory, index-addressed entry storage.
#[derive(Debug)]
pub struct MemoryLog<E> {
    entries: RefCell<VecDeque<E>>,
    base: Cell<Index>,
    /// The slot layout upstream's ring buffer would have, as (size, front):
    /// upstream hands out batches only up to the ring's wrap point, and
    /// matching it keeps message sizes (and simulations) identical.
    ring: Cell<(Index, Index)>,
    /// Bumped whenever stored entries are removed (see [`LogStore::removals`]).
    removals: Cell<u64>,
}

/// Upstream's initial ring size.
const RING_INITIAL: Index = 10;

impl<E: Entry> Default for MemoryLog<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Entry> MemoryLog<E> {
    /// An empty log whose first entry will get index 1.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty log with room for `capacity` entries before reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryLog {
            entries: RefCell::new(VecDeque::with_capacity(capacity)),
            base: Cell::new(0),
            ring: Cell::new((
                if capacity == 0 {
                    RING_INITIAL
                } else {
                    capacity as Index
                },
                0,
            )),
            removals: Cell::new(0),
        }
    }

    /// Index before the first stored entry.
    pub fn base(&self) -> Index {
        self.base.get()
    }

    /// How many times stored entries were removed (pop, poll, reset, clear).
    #[inline]
    pub fn removals(&self) -> u64 {
        self.removals.get()
    }

    fn removed(&self) {
        self.removals.set(self.removals.get().wrapping_add(1));
    }

    /// Number of stored entries.
    #[inline]
    pub fn count(&self) -> Index {
        self.entries.borrow().len() as Index
    }

    /// Index of the newest entry (`base` when empty).
    #[inline]
    pub fn current_idx(&self) -> Index {
        self.base() + self.count()
    }

    /// Position of `idx` in the deque, if stored.
    fn pos(&self, idx: Index) -> Option<usize> {
        let off = idx.checked_sub(self.base() + 1)?;
        (off >= 0 && off < self.count()).then_some(off as usize)
    }

    /// The entry at `idx`, if stored.
    pub fn get(&self, idx: Index) -> Option<E> {
        self.with_entry(idx, E::clone)
    }

    /// Term of the entry at `idx`, if stored (no clone of the entry).
    #[inline]
    pub fn term_at(&self, idx: Index) -> Option<Term> {
        self.with_entry(idx, E::term)
    }

    /// `f` of the entry at `idx`, if stored, under one borrow.
    #[inline]
    fn with_entry<R>(&self, idx: Index, f: impl FnOnce(&E) -> R) -> Option<R> {
        let entries = self.entries.borrow();
        let off = idx.checked_sub(self.base() + 1)?;
        if off < 0 {
            return None;
        }
        entries.get(off as usize).map(f)
    }

    /// The newest entry.
    pub fn peek_tail(&self) -> Option<E> {
        self.entries.borrow().back().cloned()
    }

    /// How many entries from position `pos` on are contiguous in upstream's
    /// ring, given `count` stored entries.
    #[inline]
    fn ring_run(&self, pos: usize, count: usize) -> usize {
        let (size, front) = self.ring.get();
        let size = size.max(1) as usize;
        // front < size and count <= size, so one subtraction usually wraps.
        let wrap = |x: usize| if x < size { x } else { x % size };
        let i = wrap(front as usize + pos);
        let back = wrap(front as usize + count);
        if i < back {
            back - i
        } else {
            size - i
        }
    }

    /// Up to `max` entries from `idx` on, appended to `out`; returns how many.
    /// Like upstream, a batch stops where its ring buffer would wrap.
    #[inline(always)]
    pub fn get_batch(&self, idx: Index, max: Index, out: &mut Vec<E>) -> Index {
        if max == 1 {
            // One entry (the auto-flush case): inline, no ring arithmetic.
            return match self.get(idx) {
                Some(e) => {
                    out.push(e);
                    1
                }
                None => 0,
            };
        }
        self.get_run(idx, max, out)
    }

    /// [`Self::get_batch`] for more than one entry.
    #[inline(never)]
    fn get_run(&self, idx: Index, max: Index, out: &mut Vec<E>) -> Index {
        let entries = self.entries.borrow();
        let count = entries.len();
        let Some(off) = idx.checked_sub(self.base() + 1) else {
            return 0;
        };
        if off < 0 || off as usize >= count || max <= 0 {
            return 0;
        }
        let pos = off as usize;
        if max == 1 || count - pos == 1 {
            // One entry (the auto-flush case): no ring wrap can cut it short.
            out.push(entries[pos].clone());
            return 1;
        }
        let n = (count - pos)
            .min(max as usize)
            .min(self.ring_run(pos, count));
        let (a, b) = entries.as_slices();
        let (a, b) = if pos < a.len() {
            let end = (pos + n).min(a.len());
            (&a[pos..end], &b[..n - (end - pos)])
        } else {
            (&b[pos - a.len()..][..n], &b[..0])
        };
        out.reserve(n);
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        n as Index
    }

    /// Run `f` on the stored entries from `idx` on, as one contiguous slice
    /// ending where upstream's ring would wrap (empty when `idx` is not stored).
    pub fn with_slice_from<R>(&self, idx: Index, f: impl FnOnce(&[E]) -> R) -> R {
        let pos = self.pos(idx);
        let run = pos.map_or(0, |p| self.ring_run(p, self.count() as usize));
        let mut entries = self.entries.borrow_mut();
        let len = entries.len();
        match pos {
            Some(pos) => f(&entries.make_contiguous()[pos..][..run.min(len - pos)]),
            None => f(&[]),
        }
    }

    /// Append `entry` as index `current_idx() + 1` once `hook(entry, idx)`
    /// accepts it; a hook error leaves the log unchanged.
    pub fn append_with(&self, entry: E, hook: impl FnOnce(&E, Index) -> Result<()>) -> Result<()> {
        let idx = self.current_idx() + 1;
        hook(&entry, idx)?;
        self.push(entry);
        Ok(())
    }

    /// Append `entry` as index `current_idx() + 1`, no hook; returns that index.
    #[inline(always)]
    pub fn push(&self, entry: E) -> Index {
        let mut entries = self.entries.borrow_mut();
        let (size, _) = self.ring.get();
        if entries.len() as Index >= size {
            // Upstream doubles its ring and moves the entries to its start.
            self.ring.set((size * 2, 0));
        }
        entries.push_back(entry);
        self.base() + entries.len() as Index
    }

    /// Append clones of `entries` in order, no hook: one borrow and at most
    /// one reallocation for the run.
    #[inline]
    pub fn push_all(&self, entries: &[E]) {
        if let [e] = entries {
            self.push(e.clone());
            return;
        }
        self.push_run(entries)
    }

    fn push_run(&self, entries: &[E]) {
        let mut log = self.entries.borrow_mut();
        let count = (log.len() + entries.len()) as Index;
        let (mut size, _) = self.ring.get();
        if count > size {
            // As `push` one at a time would: double until it all fits, from the start.
            while count > size {
                size = (size * 2).max(1);
            }
            self.ring.set((size, 0));
            // The deque grows the same way: left to `extend`, a run longer
            // than the log would size it to len + run, off this doubling
            // schedule (and off the allocation sizes upstream's log makes).
            let len = log.len();
            log.reserve_exact(size as usize - len);
        }
        log.extend(entries.iter().cloned());
    }

    /// Remove entries newest first down to `from_idx` (inclusive), calling
    /// `hook(entry, idx)` before each removal; a hook error stops there.
    /// Indexes at or below `base` mean "everything".
    pub fn pop_with(
        &self,
        from_idx: Index,
        mut hook: impl FnMut(&E, Index) -> Result<()>,
    ) -> Result<()> {
        let from = from_idx.max(self.base() + 1);
        while self.count() > 0 && self.current_idx() >= from {
            let idx = self.current_idx();
            let Some(e) = self.peek_tail() else { break };
            hook(&e, idx)?;
            self.removed();
            let removed = self.entries.borrow_mut().pop_back();
            drop(removed);
        }
        Ok(())
    }

    /// Remove the oldest entry after `hook(entry, idx)` accepts it; returns
    /// it, or `None` when the log is empty.
    pub fn poll_with(&self, hook: impl FnOnce(&E, Index) -> Result<()>) -> Result<Option<E>> {
        let Some(e) = self.entries.borrow().front().cloned() else {
            return Ok(None);
        };
        hook(&e, self.base() + 1)?;
        self.removed();
        let removed = self.entries.borrow_mut().pop_front();
        self.base.set(self.base() + 1);
        let (size, front) = self.ring.get();
        self.ring.set((size, (front + 1) % size));
        drop(removed);
        Ok(Some(e))
    }

    /// Remove the `n` oldest entries (fewer if fewer are stored) with no hook
    /// to consult: one pass instead of `n` calls to [`Self::poll_with`].
    pub fn discard_front(&self, n: usize) {
        let old: Vec<E> = {
            let mut entries = self.entries.borrow_mut();
            let n = n.min(entries.len());
            entries.drain(..n).collect()
        };
        if old.is_empty() {
            return;
        }
        self.removed();
        self.base.set(self.base() + old.len() as Index);
        let (size, front) = self.ring.get();
        self.ring.set((size, (front + old.len() as Index) % size));
        // Entries are released once the deque is no longer borrowed.
        drop(old);
    }

    /// Call `hook(entry, idx)` for every stored entry, oldest first.
    pub fn for_each(&self, mut hook: impl FnMut(&E, Index)) {
        let mut idx = self.base() + 1;
        while let Some(e) = self.get(idx) {
            hook(&e, idx);
            idx += 1;
        }
    }

    /// Drop every entry and make `base` the index before the next append.
    pub fn reset_to(&self, base: Index) {
        let old = std::mem::take(&mut *self.entries.borrow_mut());
        self.removed();
        self.base.set(base);
        self.ring.set((self.ring.get().0, 0));
        drop(old);
    }

    /// Drop every entry, keeping `base`.
    pub fn clear_entries(&self) {
        let old = std::mem::take(&mut *self.entries.borrow_mut());
        self.removed();
        self.ring.set((self.ring.get().0, 0));
        drop(old);
    }
}

impl<E: Entry> LogStore<E> for MemoryLog<E> {
    fn reset(&self, first_idx: Index, _term: Term) {
        self.reset_to(first_idx.max(1) - 1);
    }
    fn append(&self, entry: &E) -> Result<()> {
        self.push(entry.clone());
        Ok(())
    }
    fn append_last(&self, entry: &E) -> Result<Index> {
        Ok(self.push(entry.clone()))
    }
    fn append_batch(&self, entries: &[E]) -> (usize, Result<()>) {
        self.push_all(entries);
        (entries.len(), Ok(()))
    }
    fn removals(&self) -> Option<u64> {
        Some(MemoryLog::removals(self))
    }
    fn poll(&self, first_idx: Index) -> Result<()> {
        while self.base() + 1 < first_idx {
            if self.poll_with(|_, _| Ok(()))?.is_none() {
                return Err(Error::NotFound);
            }
        }
        Ok(())
    }
    fn pop(&self, from_idx: Index, notify: &mut dyn FnMut(&E, Index)) -> Result<()> {
        if from_idx <= 0 {
            return Err(Error::Misuse);
        }
        self.pop_with(from_idx, |e, i| {
            notify(e, i);
            Ok(())
        })
    }
    fn get(&self, idx: Index) -> Option<E> {
        MemoryLog::get(self, idx)
    }
    fn term_at(&self, idx: Index) -> Option<Term> {
        MemoryLog::term_at(self, idx)
    }
    fn get_batch(&self, idx: Index, max: Index, out: &mut Vec<E>) -> Index {
        MemoryLog::get_batch(self, idx, max, out)
    }
    fn first_idx(&self) -> Index {
        self.base() + 1
    }
    fn current_idx(&self) -> Index {
        MemoryLog::current_idx(self)
    }
    fn count(&self) -> Index {
        MemoryLog::count(self)
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::EntryId;
    use std::rc::Rc;

    #[derive(Clone, Debug)]
    struct E(Rc<(Term, EntryId)>);
    impl Entry for E {
        fn term(&self) -> Term {
            self.0 .0
        }
        fn id(&self) -> EntryId {
            self.0 .1
        }
        fn entry_type(&self) -> i32 {
            0
        }
        fn data(&self) -> &[u8] {
            &[]
        }
        fn set_term(&self, _term: Term) {}
        fn create(term: Term, id: EntryId, _t: i32, _d: &[u8]) -> Option<Self> {
            Some(E(Rc::new((term, id))))
        }
    }
    fn e(id: EntryId) -> E {
        E::create(1, id, 0, &[]).unwrap()
    }
    fn filled(n: EntryId) -> MemoryLog<E> {
        let l = MemoryLog::new();
        for i in 1..=n {
            LogStore::append(&l, &e(i)).unwrap();
        }
        l
    }

    #[test]
    fn append_get_count() {
        let l = filled(3);
        assert_eq!(
            (l.count(), l.current_idx(), LogStore::first_idx(&l)),
            (3, 3, 1)
        );
        assert_eq!(l.get(2).unwrap().id(), 2);
        assert!(l.get(0).is_none() && l.get(4).is_none() && l.get(-5).is_none());
        assert_eq!(l.peek_tail().unwrap().id(), 3);
    }

    #[test]
    fn pop_newest_first_with_notify() {
        let l = filled(5);
        let mut seen = vec![];
        LogStore::pop(&l, 3, &mut |e: &E, i| seen.push((e.id(), i))).unwrap();
        assert_eq!(seen, vec![(5, 5), (4, 4), (3, 3)]);
        assert_eq!(l.current_idx(), 2);
        assert_eq!(LogStore::pop(&l, 0, &mut |_: &E, _| {}), Err(Error::Misuse));
    }

    #[test]
    fn pop_hook_error_stops() {
        let l = filled(3);
        let r = l.pop_with(1, |_, i| if i == 2 { Err(Error::Shutdown) } else { Ok(()) });
        assert_eq!(r, Err(Error::Shutdown));
        assert_eq!(l.current_idx(), 2);
    }

    #[test]
    fn poll_moves_base() {
        let l = filled(4);
        LogStore::poll(&l, 3).unwrap();
        assert_eq!((l.base(), l.count(), l.current_idx()), (2, 2, 4));
        assert!(l.get(2).is_none());
        assert_eq!(l.get(3).unwrap().id(), 3);
        assert_eq!(
            l.poll_with(|_, i| if i == 3 { Ok(()) } else { Err(Error::Done) })
                .unwrap()
                .unwrap()
                .id(),
            3
        );
    }

    #[test]
    fn batch_and_slices() {
        let l = filled(6);
        LogStore::poll(&l, 3).unwrap();
        for i in 7..=9 {
            LogStore::append(&l, &e(i)).unwrap();
        }
        let mut out = vec![];
        assert_eq!(l.get_batch(4, 3, &mut out), 3);
        assert_eq!(
            out.iter().map(|e| e.id()).collect::<Vec<_>>(),
            vec![4, 5, 6]
        );
        assert_eq!(l.get_batch(9, 10, &mut out), 1);
        assert_eq!(l.get_batch(10, 10, &mut out), 0);
        assert_eq!(l.with_slice_from(5, |s| s.len()), 5);
        assert_eq!(l.with_slice_from(2, |s| s.len()), 0);
    }

    #[test]
    fn reset_and_hooks_reentrant() {
        let l = filled(3);
        let r = l.append_with(e(4), |_, idx| {
            assert_eq!(l.current_idx(), 3); // re-entrant read while appending
            assert_eq!(idx, 4);
            Ok(())
        });
        assert!(r.is_ok());
        assert!(l.append_with(e(5), |_, _| Err(Error::Shutdown)).is_err());
        assert_eq!(l.count(), 4);
        LogStore::reset(&l, 10, 2);
        assert_eq!(
            (l.count(), l.current_idx(), LogStore::first_idx(&l)),
            (0, 9, 10)
        );
    }

    #[test]
    fn push_all_matches_one_by_one() {
        for (start, n) in [(0, 0), (3, 7), (9, 1), (10, 1), (4, 40)] {
            let a = filled(start);
            let b = filled(start);
            let more: Vec<E> = (1..=n).map(|i| e(100 + i)).collect();
            for x in &more {
                a.push(x.clone());
            }
            b.push_all(&more);
            assert_eq!(a.ring.get(), b.ring.get());
            assert_eq!(a.count(), b.count());
            let mut out = vec![];
            b.get_batch(1, 100, &mut out);
            assert_eq!(out.len() as Index, a.get_batch(1, 100, &mut vec![]));
        }
    }

    #[test]
    fn removals_count_only_removals() {
        let l = filled(5);
        let r0 = l.removals();
        l.push(e(6));
        l.push_all(&[e(7)]);
        assert_eq!(l.removals(), r0);
        LogStore::poll(&l, 2).unwrap();
        let r1 = l.removals();
        assert_ne!(r1, r0);
        LogStore::pop(&l, 7, &mut |_: &E, _| {}).unwrap();
        assert_ne!(l.removals(), r1);
        let r2 = l.removals();
        l.reset_to(3);
        assert_ne!(l.removals(), r2);
    }
}
