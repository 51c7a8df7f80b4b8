//! Applying committed entries to the state machine, within a time budget.

use super::props::is_cfg_change;
use super::Server;
use crate::core::{log_type, Entry, Error, Host, Index, LogStore, Result, Time, NODE_ID_NONE};

/// Most committed entries `apply_all` reads from the log at once.
const APPLY_BATCH: Index = 64;

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// Apply the entry after `last_applied_idx`. `Ok(false)` when there is
    /// nothing (allowed) to apply; `Err(Shutdown)` when the host asks to stop.
    pub fn apply_entry(&self) -> Result<bool> {
        if !self.is_apply_allowed() || self.last_applied_idx() >= self.commit_idx() {
            return Ok(false);
        }
        let idx = self.last_applied_idx() + 1;
        let Some(entry) = self.entry_at(idx) else {
            return Ok(false);
        };
        self.apply_one(&entry, idx)?;
        Ok(true)
    }

    /// Hand `entry`, the log's entry at `idx` (the one after the last
    /// applied), to the state machine and do the server's bookkeeping.
    #[inline(always)]
    fn apply_one(&self, entry: &E, idx: Index) -> Result<()> {
        self.debug(NODE_ID_NONE, || {
            format!(
                "applying log: {}, id: {} size: {}",
                idx,
                entry.id(),
                entry.data().len()
            )
        });
        if let Err(Error::Shutdown) = self.host.apply_entry(entry, idx) {
            return Err(Error::Shutdown);
        }
        self.last_applied_idx.set(idx);
        self.last_applied_term.set(entry.term());
        if idx == self.voting_cfg_change_log_idx.get() {
            self.voting_cfg_change_log_idx.set(-1);
        }
        if is_cfg_change(entry) {
            self.apply_cfg_change(entry, idx);
        }
        Ok(())
    }

    /// Whether entries `first..=last` can be applied by [`Self::apply_quiet`]:
    /// no debug line to emit and no pending voting change among them.
    #[inline(always)]
    fn quiet_run(&self, first: Index, last: Index) -> bool {
        let voting = self.voting_cfg_change_log_idx.get();
        !self.logging() && !(first..=last).contains(&voting)
    }

    /// [`Self::apply_one`] for an entry of a [`Self::quiet_run`]; `Ok(true)`
    /// when it was a configuration change.
    #[inline(always)]
    fn apply_quiet(&self, entry: &E, idx: Index) -> Result<bool> {
        if let Err(Error::Shutdown) = self.host.apply_entry(entry, idx) {
            return Err(Error::Shutdown);
        }
        self.last_applied_idx.set(idx);
        self.last_applied_term.set(entry.term());
        let cfg = is_cfg_change(entry);
        if cfg {
            self.apply_cfg_change(entry, idx);
        }
        Ok(cfg)
    }

    /// A configuration change is committed: it will never be rolled back.
    #[cold]
    fn apply_cfg_change(&self, entry: &E, idx: Index) {
        self.noop_cfg_changes.borrow_mut().remove(&idx);
        let id = self.host.get_node_id(entry, idx);
        let Some(node) = self.node(id) else {
            return;
        };
        match entry.entry_type() {
            log_type::ADD_NODE => {
                node.set_addition_committed(true);
                node.set_voting_committed(true);
                node.set_has_sufficient_logs(true);
            }
            log_type::ADD_NONVOTING_NODE => node.set_addition_committed(true),
            log_type::REMOVE_NODE => {
                let was_me = self
                    .my_node()
                    .is_some_and(|m| std::rc::Rc::ptr_eq(&m, &node));
                self.remove_node(&node);
                // A leader that removed itself hands over: it no longer belongs
                // to the cluster, and its heartbeats would stall elections.
                if was_me && self.is_leader() {
                    self.become_follower();
                }
            }
            _ => {}
        }
    }

    /// Apply everything committed, stopping early (and leaving work pending)
    /// when the current time budget is spent.
    ///
    /// Entries are read from the log a batch at a time (held, so callbacks
    /// may change the log meanwhile). After a callback that called back into
    /// the server or removed log entries (the host's reentry count moved;
    /// always, for a host that cannot tell) the rest of the batch is trusted
    /// only while the log reports no removal since it was read and the next
    /// entry to apply is the batch's next one; otherwise it is read again. A
    /// log that cannot tell about removals is read entry by entry.
    pub fn apply_all(&self) -> Result<()> {
        if !self.is_apply_allowed() {
            return Ok(());
        }
        // One entry to apply (auto-flush commits them one at a time): no
        // batch worth reading.
        if self.commit_idx() <= self.last_applied_idx() + 1 {
            return self.apply_unbatched();
        }
        let mut batch = self.apply_buf.take();
        let r = self.apply_batches(&mut batch);
        // Release what was read ahead (no borrow is held: a release may call C).
        batch.clear();
        if batch.capacity() <= APPLY_BATCH as usize {
            self.apply_buf.set(batch);
        }
        r
    }

    fn apply_batches(&self, batch: &mut Vec<E>) -> Result<()> {
        'read: loop {
            let commit = self.commit_idx();
            let first = self.last_applied_idx() + 1;
            if commit < first {
                return Ok(());
            }
            let Some(removals) = self.log.removals() else {
                return self.apply_unbatched();
            };
            let last = commit.min(first + APPLY_BATCH - 1);
            if !self.quiet_run(first, last) {
                return self.apply_unbatched();
            }
            batch.clear();
            self.log.get_batch(first, last - first + 1, batch);
            let last = first + batch.len() as Index - 1;
            let mut deadline = Deadline::new(self.exec_deadline.get());
            // Only a call back into the server can move the commit or applied
            // index, the time budget or what allows applying, and only a
            // removal can change what the log holds. A host that counts both
            // (`reentries`) lets the loop skip its checks while the count
            // stands at `calls`; for other hosts all checks run every time.
            let mut calls = self.stale_calls();
            let mut idx = first;
            for entry in batch.iter() {
                if deadline.passed(self) {
                    self.pending_operations.set(true);
                    return Ok(());
                }
                // Before the first entry, or the clock callback called in.
                if self.reentered(calls) {
                    if !self.is_apply_allowed() {
                        return Ok(());
                    }
                    match self.next_in_batch(idx, last, removals) {
                        Some(true) => {}
                        Some(false) => continue 'read,
                        None => return Ok(()),
                    }
                    deadline = Deadline::new(self.exec_deadline.get());
                    calls = self.host.reentries().unwrap_or(0);
                }
                if self.apply_quiet(entry, idx)? {
                    // A membership change was applied: check everything again.
                    calls = self.stale_calls();
                }
                idx += 1;
                if self.reentered(calls) {
                    // What the loop's condition checks before the clock is read.
                    match self.next_in_batch(idx, last, removals) {
                        Some(true) => {}
                        Some(false) => continue 'read,
                        None => return Ok(()),
                    }
                    deadline = Deadline::new(self.exec_deadline.get());
                    // Check what allows applying after the clock too.
                    calls = self.stale_calls();
                }
            }
            if batch.is_empty() {
                // The log lacks the entry: as when reading one by one.
                return self.apply_unbatched();
            }
        }
    }

    /// After a callback may have changed things: `Some(true)` when the entry
    /// at `idx` of a batch read before `removals` is still the next to apply,
    /// `Some(false)` when the log must be read again, `None` to stop.
    #[cold]
    #[inline(never)]
    fn next_in_batch(&self, idx: Index, last: Index, removals: u64) -> Option<bool> {
        if self.last_applied_idx() + 1 != idx
            || self.log.removals() != Some(removals)
            || !self.quiet_run(idx, last)
        {
            // Read again (the loop's head stops when nothing is left to apply).
            return Some(false);
        }
        if self.commit_idx() < idx {
            return None;
        }
        Some(true)
    }

    /// Whether the application may have called into the server since the
    /// host's reentry count read `calls` (always, for a host that cannot tell).
    #[inline(always)]
    fn reentered(&self, calls: u64) -> bool {
        self.host.reentries() != Some(calls)
    }

    /// A `calls` that [`Self::reentered`] finds moved: the count stands
    /// below it until it wraps around.
    #[inline(always)]
    fn stale_calls(&self) -> u64 {
        self.host.reentries().unwrap_or(0).wrapping_sub(1)
    }

    /// The apply loop reading one entry at a time.
    fn apply_unbatched(&self) -> Result<()> {
        while self.commit_idx() > self.last_applied_idx() {
            if self.time_millis() > self.exec_deadline.get() {
                self.pending_operations.set(true);
                return Ok(());
            }
            if !self.apply_entry()? {
                break;
            }
        }
        Ok(())
    }

    /// Whether applies or reads were cut short by the time budget.
    pub fn pending_operations(&self) -> bool {
        self.pending_operations.get()
    }

    /// Apply committed entries and answer ready reads, for at most half a
    /// request timeout so heartbeats are not starved.
    #[inline]
    pub fn exec_operations(&self) -> Result<()> {
        // Idle (nothing committed to apply, no read waiting): this runs on
        // every periodic tick and flush, so skip the clock callback too.
        if self.last_applied_idx() >= self.commit_idx() && self.read_queue.borrow().is_empty() {
            self.pending_operations.set(false);
            return Ok(());
        }
        self.exec_pending_operations()
    }

    /// [`Self::exec_operations`] when there is something to do.
    #[inline(never)]
    fn exec_pending_operations(&self) -> Result<()> {
        self.exec_deadline
            .set(self.time_millis() + self.request_timeout() / 2);
        self.pending_operations.set(false);
        let r = self.apply_all();
        if r.is_ok() {
            self.process_read_queue();
        }
        self.exec_deadline.set(Time::MAX);
        r
    }
}

/// `exec_deadline` (milliseconds) as a bound on the clock's microseconds,
/// so the per-entry check needs no division.
struct Deadline {
    /// The clock has passed the deadline when its microseconds exceed this.
    us: Time,
}

impl Deadline {
    #[inline]
    fn new(ms: Time) -> Deadline {
        // us / 1000 > ms  <=>  us > ms * 1000 + 999 (ms >= 0), us > ms * 1000 (ms < 0),
        // as `/` truncates toward zero.
        let us = ms.saturating_mul(1000);
        let us = if ms >= 0 { us.saturating_add(999) } else { us };
        Deadline { us }
    }

    /// Whether the clock passed the deadline (the caller renews it when a
    /// nested call may have moved the server's).
    #[inline(always)]
    fn passed<E: Entry, L: LogStore<E>, H: Host<E>>(&self, s: &Server<E, L, H>) -> bool {
        s.host.timestamp().unwrap_or(0) > self.us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_bound_matches_division() {
        let samples = [
            Time::MIN,
            Time::MIN + 1,
            -1_000_001,
            -1001,
            -1000,
            -999,
            -1,
            0,
            1,
            999,
            1000,
            1001,
            1999,
            2000,
            123_456_789,
            Time::MAX - 1,
            Time::MAX,
        ];
        for &ms in &samples[1..] {
            let d = Deadline::new(ms);
            for &us in &samples[1..] {
                assert_eq!(us > d.us, us / 1000 > ms, "us {us} ms {ms}");
            }
        }
    }
}
