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
    /// may change the log meanwhile). The batch is trusted only while the log
    /// reports no removal since it was read and the next entry to apply is
    /// the batch's next one; a log that cannot tell is read entry by entry.
    pub fn apply_all(&self) -> Result<()> {
        if !self.is_apply_allowed() {
            return Ok(());
        }
        // Kept in reverse order: the next entry to apply is the last one.
        let mut batch = self.apply_buf.take();
        let mut batch_next: Index = 0;
        let mut batch_removals = None;
        let r = loop {
            let commit = self.commit_idx();
            if commit <= self.last_applied_idx() {
                break Ok(());
            }
            if self.time_millis() > self.exec_deadline.get() {
                self.pending_operations.set(true);
                break Ok(());
            }
            if !self.is_apply_allowed() {
                break Ok(());
            }
            let idx = self.last_applied_idx() + 1;
            let removals = self.log.removals();
            let entry = if removals.is_none() {
                self.entry_at(idx)
            } else if removals == batch_removals && batch_next == idx && !batch.is_empty() {
                batch.pop()
            } else {
                batch.clear();
                batch_removals = removals;
                self.log
                    .get_batch(idx, (commit - idx + 1).min(APPLY_BATCH), &mut batch);
                batch.reverse();
                batch.pop()
            };
            let Some(entry) = entry else {
                break Ok(());
            };
            batch_next = idx + 1;
            if let Err(e) = self.apply_one(&entry, idx) {
                break Err(e);
            }
        };
        // Release what was read ahead (no borrow is held: a release may call C).
        batch.clear();
        if batch.capacity() <= APPLY_BATCH as usize {
            self.apply_buf.set(batch);
        }
        r
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
