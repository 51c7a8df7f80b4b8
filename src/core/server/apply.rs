//! Applying committed entries to the state machine, within a time budget.

use super::props::is_cfg_change;
use super::Server;
use crate::core::{log_type, Entry, Error, Host, LogStore, Result, Time, NODE_ID_NONE};

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
        self.debug(NODE_ID_NONE, || {
            format!(
                "applying log: {}, id: {} size: {}",
                idx,
                entry.id(),
                entry.data().len()
            )
        });
        if let Err(Error::Shutdown) = self.host.apply_entry(&entry, idx) {
            return Err(Error::Shutdown);
        }
        self.last_applied_idx.set(idx);
        self.last_applied_term.set(entry.term());
        if idx == self.voting_cfg_change_log_idx.get() {
            self.voting_cfg_change_log_idx.set(-1);
        }
        if !is_cfg_change(&entry) {
            return Ok(true);
        }
        // Committed changes are never rolled back.
        self.noop_cfg_changes.borrow_mut().remove(&idx);
        let id = self.host.get_node_id(&entry, idx);
        let Some(node) = self.node(id) else {
            return Ok(true);
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
        Ok(true)
    }

    /// Apply everything committed, stopping early (and leaving work pending)
    /// when the current time budget is spent.
    pub fn apply_all(&self) -> Result<()> {
        if !self.is_apply_allowed() {
            return Ok(());
        }
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
    pub fn exec_operations(&self) -> Result<()> {
        // Idle (nothing committed to apply, no read waiting): this runs on
        // every periodic tick and flush, so skip the clock callback too.
        if self.last_applied_idx() >= self.commit_idx() && self.read_queue.borrow().is_empty() {
            self.pending_operations.set(false);
            return Ok(());
        }
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
