//! Snapshots: taking one locally (log compaction), sending it to a follower
//! that lags behind the compacted log, receiving and loading one, and restoring
//! one at restart.
//!
//! The bytes of a snapshot belong to the host; the server only tracks indexes,
//! terms and transfer offsets, and drives the host through `Host` callbacks.

use std::cell::Cell;

use super::Server;
use crate::core::{
    Entry, Error, Host, Index, LogStore, Node, NodeId, Result, Size, SnapshotRequest,
    SnapshotResponse, Term, NODE_ID_NONE,
};

/// The error upstream reports as a bare `-1`.
const FAILED: Error = Error::Callback(-1);

/// Everything the server tracks about taking, sending and loading snapshots.
#[derive(Default)]
pub struct SnapshotState {
    pub(crate) in_progress: Cell<bool>,
    /// Last entry covered by the latest snapshot.
    pub(crate) last_idx: Cell<Index>,
    pub(crate) last_term: Cell<Term>,
    /// Values that become `last_*` when the snapshot in progress (or being loaded) ends.
    pub(crate) next_last_idx: Cell<Index>,
    pub(crate) next_last_term: Cell<Term>,
    /// Between `begin_load_snapshot` and `end_load_snapshot`.
    pub(crate) loading: Cell<bool>,
    /// Last index of the snapshot being received, 0 if none.
    pub(crate) recv_idx: Cell<Index>,
    /// Bytes of that snapshot stored so far: the only offset we accept next.
    pub(crate) recv_offset: Cell<Size>,
}

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// Index of the last entry covered by the snapshot.
    pub fn snapshot_last_idx(&self) -> Index {
        self.snapshot.last_idx.get()
    }
    /// Term of the last entry covered by the snapshot.
    pub fn snapshot_last_term(&self) -> Term {
        self.snapshot.last_term.get()
    }
    /// Whether `begin_snapshot` was called and not yet ended or cancelled.
    pub fn snapshot_is_in_progress(&self) -> bool {
        self.snapshot.in_progress.get()
    }
    /// Whether entries may be applied now: never with apply disabled, and
    /// during a snapshot only when the host asked for non-blocking apply.
    pub fn is_apply_allowed(&self) -> bool {
        let c = self.config();
        !c.disable_apply && (!self.snapshot_is_in_progress() || c.nonblocking_apply)
    }

    /// Number of entries a snapshot taken now would remove from the log
    /// (0, as with upstream, while the log holds at most one entry).
    pub fn num_snapshottable_logs(&self) -> Index {
        if self.log_count() <= 1 {
            return 0;
        }
        (self.commit_idx() - self.log.first_idx() + 1).max(0)
    }

    /// Record that the host's state machine image covers everything up to
    /// `idx` (of term `term`), e.g. after it loaded a snapshot by other means.
    pub fn set_snapshot_metadata(&self, term: Term, idx: Index) {
        self.last_applied_term.set(term);
        self.last_applied_idx.set(idx);
        self.snapshot.last_term.set(term);
        self.snapshot.last_idx.set(idx);
    }

    /// Start taking a snapshot of everything committed. Committed entries are
    /// applied first, so the snapshot covers exactly `last_applied_idx`.
    ///
    /// Fails with `-1` when nothing can be compacted and with
    /// `SnapshotInProgress` when a snapshot is already being taken.
    pub fn begin_snapshot(&self) -> Result<()> {
        if self.snapshot_is_in_progress() {
            return Err(Error::SnapshotInProgress);
        }
        let count = self.num_snapshottable_logs();
        if count == 0 {
            return Err(FAILED);
        }
        self.apply_all()?;
        // Applying may be disabled or re-entered: only compact what was applied.
        if self.last_applied_idx() < self.log.first_idx() {
            return Err(FAILED);
        }
        self.snapshot.next_last_idx.set(self.last_applied_idx());
        self.snapshot.next_last_term.set(self.last_applied_term());
        self.snapshot.in_progress.set(true);
        self.debug(NODE_ID_NONE, || {
            format!(
                "begin snapshot lai:{} lat:{} ec:{}",
                self.last_applied_idx(),
                self.last_applied_term(),
                count
            )
        });
        Ok(())
    }

    /// Abandon the snapshot in progress; the previous snapshot stays current.
    pub fn cancel_snapshot(&self) -> Result<()> {
        self.snapshot.in_progress.set(false);
        Ok(())
    }

    /// Finish the snapshot in progress: compact the log up to it and, as
    /// leader, start sending it to followers that need entries it replaced.
    pub fn end_snapshot(&self) -> Result<()> {
        if !self.snapshot_is_in_progress() {
            return Err(FAILED);
        }
        let idx = self.snapshot.next_last_idx.get();
        self.snapshot.last_idx.set(idx);
        self.snapshot
            .last_term
            .set(self.snapshot.next_last_term.get());
        self.log.poll(idx + 1)?;
        self.log.sync()?;
        self.snapshot.in_progress.set(false);
        self.debug(NODE_ID_NONE, || {
            format!(
                "end snapshot base:{} commit-index:{} current-index:{}",
                self.log.first_idx() - 1,
                self.commit_idx(),
                self.current_idx()
            )
        });
        if !self.is_leader() {
            return Ok(());
        }
        let me = self.my_node();
        for node in self.nodes() {
            if me.as_ref().is_some_and(|m| std::ptr::eq(&**m, &*node)) || !node.is_active() {
                continue;
            }
            // The old snapshot is gone: any transfer restarts from the beginning.
            node.set_snapshot_offset(0);
            let last = self.snapshot_last_idx();
            if last > 0 && node.next_idx() <= last {
                let _ = self.send_snapshot(&node);
            }
        }
        Ok(())
    }

    /// Send the snapshot to `node`, chunk by chunk from its current offset,
    /// until the last chunk went out or the host answers `Done` (back-pressure).
    ///
    /// After the last chunk the node is assumed to hold the snapshot; if it
    /// does not, its AppendEntries rejection brings us back here.
    pub(crate) fn send_snapshot(&self, node: &Node) -> Result<()> {
        if !self.host.has_send_snapshot() {
            return Ok(());
        }
        loop {
            let offset = node.snapshot_offset();
            // The id is consumed even when no chunk is sent, as upstream does.
            let msg_id = self.msg_id.get() + 1;
            self.set_msg_id(msg_id);
            let mut chunk = match self.host.get_snapshot_chunk(node, offset) {
                Ok(c) => c,
                Err(Error::Done) => return Ok(()),
                Err(e) => return Err(e),
            };
            chunk.offset = offset;
            let len = chunk.data.len() as Size;
            // An empty chunk that is not the last would never make progress.
            if len == 0 && !chunk.last_chunk {
                return Ok(());
            }
            let last_chunk = chunk.last_chunk;
            let msg = SnapshotRequest {
                term: self.current_term(),
                leader_id: self.my_id(),
                msg_id,
                snapshot_index: self.snapshot_last_idx(),
                snapshot_term: self.snapshot_last_term(),
                chunk,
            };
            self.host.send_snapshot(node, &msg)?;
            if last_chunk {
                node.set_snapshot_offset(0);
                node.set_next_idx(msg.snapshot_index + 1);
                return Ok(());
            }
            node.set_snapshot_offset(offset + len);
        }
    }

    /// Forget a partially received snapshot; the next one expected ends at `new_idx`.
    pub(crate) fn clear_incoming_snapshot(&self, new_idx: Index) -> Result<()> {
        let mut r = Ok(());
        if self.snapshot.recv_idx.get() != 0 {
            r = self.host.clear_snapshot();
        }
        self.snapshot.recv_idx.set(new_idx);
        self.snapshot.recv_offset.set(0);
        r
    }

    /// Handle one chunk of a leader's snapshot. The response is always filled in.
    ///
    /// Only the chunk at the expected offset is stored; any other is refused
    /// with the offset we expect, so the leader resumes from there. After the
    /// last chunk the host loads the snapshot (`load_snapshot`). If it fails
    /// to, the partial transfer is dropped so that the leader's next attempt
    /// starts afresh instead of being refused forever.
    pub fn recv_snapshot(&self, req: &SnapshotRequest) -> (SnapshotResponse, Result<()>) {
        self.recv_snapshot_from(req.leader_id, req)
    }

    /// [`Server::recv_snapshot`], with `from` the sender's id as the caller
    /// knows it (`NODE_ID_NONE` if not in our configuration); it only labels
    /// the debug log, as upstream's does.
    pub fn recv_snapshot_from(
        &self,
        from: NodeId,
        req: &SnapshotRequest,
    ) -> (SnapshotResponse, Result<()>) {
        let len = req.chunk.data.len() as Size;
        self.debug(from, || {
            format!(
                "recv snapshot: ci:{} comi:{} t:{} li:{} mi:{} si:{} st:{} o:{}, lc:{}, len:{}",
                self.current_idx(),
                self.commit_idx(),
                req.term,
                req.leader_id,
                req.msg_id,
                req.snapshot_index,
                req.snapshot_term,
                req.chunk.offset,
                req.chunk.last_chunk as i32,
                len
            )
        });
        let mut resp = SnapshotResponse {
            msg_id: req.msg_id,
            term: 0,
            offset: 0,
            success: false,
            last_chunk: req.chunk.last_chunk,
        };
        let r = self.recv_snapshot_chunk(req, len, &mut resp);
        resp.term = self.current_term();
        // The leader may have been (re)added while loading: look it up afresh.
        if let Some(n) = self.node(req.leader_id) {
            n.update_max_seen_msgid(req.msg_id);
        }
        (resp, r)
    }

    fn recv_snapshot_chunk(
        &self,
        req: &SnapshotRequest,
        len: Size,
        resp: &mut SnapshotResponse,
    ) -> Result<()> {
        if !self.accept_leader_request(req.term, req.leader_id, "Snapshot req")? {
            return Ok(());
        }

        // Everything the snapshot covers is already ours: in our snapshot, or
        // committed in our log (committed entries are the same on every
        // server). Loading it would only fail; tell the leader it is done.
        if req.snapshot_index <= self.snapshot_last_idx().max(self.commit_idx()) {
            resp.last_chunk = true;
            resp.offset = req.chunk.offset.saturating_add(len);
            resp.success = true;
            return Ok(());
        }
        // A different snapshot (the leader took a newer one): drop the partial one.
        if self.snapshot.recv_idx.get() != req.snapshot_index {
            self.clear_incoming_snapshot(req.snapshot_index)?;
        }
        let expected = self.snapshot.recv_offset.get();
        if req.chunk.offset != expected {
            resp.offset = expected;
            return Ok(());
        }
        self.host
            .store_snapshot_chunk(req.snapshot_index, req.chunk.offset, &req.chunk)?;
        self.snapshot.recv_offset.set(expected.saturating_add(len));

        if req.chunk.last_chunk {
            let loaded = self
                .host
                .load_snapshot(req.snapshot_term, req.snapshot_index);
            if loaded.is_err() || self.snapshot_last_idx() < req.snapshot_index {
                // Not installed: the stored bytes are useless. Restart the
                // transfer from offset 0 on the leader's next attempt.
                self.debug(req.leader_id, || {
                    format!("snapshot {} was not loaded", req.snapshot_index)
                });
                let _ = self.clear_incoming_snapshot(0);
                return loaded;
            }
        }
        resp.offset = req.chunk.offset.saturating_add(len);
        resp.success = true;
        Ok(())
    }

    /// Handle a follower's answer to a snapshot chunk.
    pub fn recv_snapshot_response(
        &self,
        node: Option<&Node>,
        resp: &SnapshotResponse,
    ) -> Result<()> {
        self.debug(node.map_or(NODE_ID_NONE, |n| n.id()), || {
            format!(
                "recv snapshot response: ci:{} comi:{} mi:{} t:{} o:{} s:{} lc:{}",
                self.current_idx(),
                self.commit_idx(),
                resp.msg_id,
                resp.term,
                resp.offset,
                resp.success as i32,
                resp.last_chunk as i32
            )
        });
        let Some(node) = node else {
            return Err(FAILED);
        };
        if !self.accept_leader_response(node, resp.msg_id, resp.term)? {
            return Ok(());
        }
        node.set_match_msgid(resp.msg_id.min(self.msg_id()));
        if !resp.success {
            // Resume from where the follower is.
            node.set_snapshot_offset(resp.offset);
        } else if resp.last_chunk {
            node.set_snapshot_offset(0);
            node.set_next_idx(node.next_idx().max(self.snapshot_last_idx() + 1));
        }
        if self.config().auto_flush {
            return self.flush(0);
        }
        Ok(())
    }

    /// Replace the log and configuration with a received snapshot ending at
    /// `idx` (of term `term`). Every node but ourselves is removed: the host
    /// re-adds the snapshot's configuration, then calls `end_load_snapshot`.
    ///
    /// `Misuse` for a non-positive term or index, or a snapshot older than
    /// what we applied or hold in the log; `SnapshotAlreadyLoaded` when our
    /// snapshot already covers `idx`.
    pub fn begin_load_snapshot(&self, term: Term, idx: Index) -> Result<()> {
        if term <= 0 || idx <= 0 || idx < self.last_applied_idx() || idx < self.current_idx() {
            return Err(Error::Misuse);
        }
        if idx <= self.snapshot_last_idx() {
            return Err(Error::SnapshotAlreadyLoaded);
        }
        self.log.reset(idx + 1, term);
        if idx > self.commit_idx() {
            self.set_commit_idx(idx);
        }
        if term > self.current_term() {
            // Like upstream, a failure to persist does not stop the load.
            let _ = self.set_current_term(term);
        }
        self.last_applied_term.set(term);
        self.last_applied_idx.set(idx);
        self.snapshot.next_last_term.set(term);
        self.snapshot.next_last_idx.set(idx);
        self.snapshot.loading.set(true);
        self.remove_all_nodes_but_self();
        if let Some(me) = self.my_node() {
            me.clear_flags();
        }
        self.debug(NODE_ID_NONE, || {
            format!("begin loading snapshot lii:{} lit:{}", idx, term)
        });
        Ok(())
    }

    /// Finish loading a snapshot: it becomes our snapshot, and the nodes the
    /// host configured count as committed members (voters with sufficient logs).
    ///
    /// `Misuse` without a preceding successful `begin_load_snapshot`.
    pub fn end_load_snapshot(&self) -> Result<()> {
        if !self.snapshot.loading.replace(false) {
            return Err(Error::Misuse);
        }
        self.snapshot
            .last_idx
            .set(self.snapshot.next_last_idx.get());
        self.snapshot
            .last_term
            .set(self.snapshot.next_last_term.get());
        self.mark_configuration_committed();
        self.debug(NODE_ID_NONE, || {
            format!(
                "loaded snapshot sli:{} slt:{}",
                self.snapshot_last_idx(),
                self.snapshot_last_term()
            )
        });
        Ok(())
    }

    /// At restart, before loading log entries and metadata: take the snapshot
    /// the host restored (and the nodes it configured from it) as the state.
    ///
    /// `Misuse` for negative values or when the server already has state.
    pub fn restore_snapshot(&self, term: Term, idx: Index) -> Result<()> {
        if term < 0
            || idx < 0
            || self.current_term() != 0
            || self.commit_idx() != 0
            || self.snapshot_last_term() != 0
            || self.snapshot_last_idx() != 0
            || self.last_applied_term() != 0
            || self.last_applied_idx() != 0
        {
            return Err(Error::Misuse);
        }
        // An empty log must continue after the snapshot, so entries loaded
        // next land at the right indexes.
        if self.log_count() == 0 && self.current_idx() < idx {
            self.log.reset(idx + 1, term);
        }
        self.current_term.set(term);
        self.commit_idx.set(idx);
        self.set_snapshot_metadata(term, idx);
        self.mark_configuration_committed();
        self.debug(NODE_ID_NONE, || {
            format!("restored snapshot lii:{} lit:{}", idx, term)
        });
        Ok(())
    }

    /// The configuration comes from a snapshot, so it is committed: a node's
    /// flags follow from whether it votes.
    fn mark_configuration_committed(&self) {
        for n in self.nodes() {
            let voting = n.is_voting();
            n.set_has_sufficient_logs(voting);
            n.set_voting_committed(voting);
            n.set_addition_committed(true);
        }
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
