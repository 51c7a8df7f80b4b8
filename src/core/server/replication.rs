//! Log replication: AppendEntries in both directions, client entries, commit.

use super::props::{is_cfg_change, is_voting_cfg_change, majority_of};
use super::{CommitTally, Server};
use crate::core::{
    AppendEntriesRequest, AppendEntriesResponse, Entry, EntryResponse, Error, Host, Index,
    LogStore, MsgId, Node, Result, Term, NODE_ID_NONE,
};

/// The fate of a submitted entry (`raft_msg_entry_response_committed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commitment {
    Committed,
    /// Not committed yet (or no longer in the log to tell).
    Pending,
    /// Another leader replaced it: it will never commit.
    Invalidated,
}

/// Most entries one AppendEntries carries when the host chooses them.
const MAX_ENTRIES_PER_REQUEST: Index = 64 * 1024;

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// A client submits `entry`. Only the leader accepts it; the entry is
    /// stamped with the current term and appended.
    pub fn recv_entry(&self, entry: &E) -> Result<EntryResponse> {
        let mut resp = None;
        self.submit_entry(entry, &mut resp)?;
        resp.ok_or(Error::NotLeader)
    }

    /// [`Self::recv_entry`], also reporting the response when a later step
    /// (sync, flush, apply) fails after the entry was appended.
    pub fn submit_entry(&self, entry: &E, out: &mut Option<EntryResponse>) -> Result<()> {
        if !self.is_leader() {
            return Err(Error::NotLeader);
        }
        if is_voting_cfg_change(entry) {
            self.check_voting_change()?;
        }
        if self.transfer_leader_target() != NODE_ID_NONE {
            return Err(Error::LeaderTransferInProgress);
        }
        self.debug(NODE_ID_NONE, || {
            format!(
                "received entry t:{} id: {} idx: {}",
                self.current_term(),
                entry.id(),
                self.current_idx() + 1
            )
        });
        entry.set_term(self.current_term());
        let mut idx = self.log.append_last(entry)?;
        if is_cfg_change(entry) {
            // Its callbacks may have appended more: report the log's end, as
            // for any entry.
            self.appended_cfg_change(entry);
            idx = self.current_idx();
        }
        *out = Some(EntryResponse {
            id: entry.id(),
            term: self.current_term(),
            idx,
        });
        if self.config().auto_flush {
            self.log.sync()?;
            self.flush(self.current_idx())?;
        }
        Ok(())
    }

    /// Whether a voting change may be submitted now.
    #[cold]
    fn check_voting_change(&self) -> Result<()> {
        if self.voting_change_is_in_progress() {
            return Err(Error::OneVotingChangeOnly);
        }
        // The user may be snapshotting the membership right now.
        if !self.is_apply_allowed() {
            return Err(Error::SnapshotInProgress);
        }
        Ok(())
    }

    /// Append `entry` to the log and apply its configuration change, if any.
    #[inline(always)]
    pub fn append_entry(&self, entry: &E) -> Result<()> {
        self.log.append(entry)?;
        if is_cfg_change(entry) {
            self.appended_cfg_change(entry);
        }
        Ok(())
    }

    /// The configuration change `entry` was just appended (kept out of the
    /// per-entry path: such entries are rare).
    #[cold]
    fn appended_cfg_change(&self, entry: &E) {
        let idx = self.current_idx();
        if is_voting_cfg_change(entry) {
            self.voting_cfg_change_log_idx.set(idx);
        }
        self.handle_append_cfg_change(entry, idx);
    }

    /// Remove `idx` and everything after it (never committed entries), rolling
    /// back their configuration changes.
    pub fn delete_entry_from_idx(&self, idx: Index) -> Result<()> {
        if idx <= self.commit_idx() || idx <= 0 {
            return Err(Error::Misuse);
        }
        if idx <= self.voting_cfg_change_log_idx.get() {
            self.voting_cfg_change_log_idx.set(-1);
        }
        self.pop_from(idx)?;
        self.log.sync()
    }

    /// Remove the last entry (reloading a log), rolling back its configuration change.
    pub fn pop_entry(&self) -> Result<()> {
        let idx = self.current_idx();
        if idx < self.log.first_idx() {
            return Err(Error::Misuse);
        }
        if idx <= self.voting_cfg_change_log_idx.get() {
            self.voting_cfg_change_log_idx.set(-1);
        }
        self.pop_from(idx)?;
        self.log.sync()
    }

    /// Pop entries from `idx`; their configuration changes are undone newest
    /// first once the log is done, so the log is never re-entered mid-pop.
    fn pop_from(&self, idx: Index) -> Result<()> {
        let mut popped = Vec::new();
        let r = self.log.pop(idx, &mut |e: &E, i| {
            if is_cfg_change(e) {
                popped.push((e.clone(), i));
            }
        });
        for (e, i) in popped {
            self.handle_remove_cfg_change(&e, i);
        }
        r
    }

    /// The entries from `idx` to the end of the log.
    pub fn entries_from_idx(&self, idx: Index) -> Vec<E> {
        let mut out = Vec::new();
        let current = self.current_idx();
        if idx < 1 || current < idx {
            return out;
        }
        self.log.get_batch(idx, current - idx + 1, &mut out);
        out
    }

    /// Entries to send `node` from `idx` into `out`: the host's choice when
    /// it has one. `current` is the log's last index, at least `idx`.
    fn entries_to_send(&self, node: &Node, idx: Index, current: Index, out: &mut Vec<E>) {
        let max = (current - idx + 1).min(MAX_ENTRIES_PER_REQUEST);
        if self.host.get_entries_to_send(node, idx, max, out).is_none() {
            out.clear();
            if idx >= 1 {
                self.log.get_batch(idx, current - idx + 1, out);
            }
        }
    }

    /// Send `node` everything it misses, one request per batch (a snapshot when
    /// its next entry was compacted). A heartbeat when it is up to date.
    pub fn send_appendentries(&self, node: &Node) -> Result<()> {
        if self.is_me(node) || !node.is_active() {
            return Ok(());
        }
        if self.snapshot_last_idx() >= node.next_idx() {
            return self.send_snapshot(node);
        }
        if !self.host.has_send_appendentries() {
            return Err(Error::Callback(-1));
        }
        loop {
            if self.host.backpressure(node) {
                return Ok(());
            }
            let next_idx = node.next_idx();
            let msg_id = self.msg_id.get() + 1;
            self.set_msg_id(msg_id);
            let prev_log_term = self.previous_log_term(next_idx);
            let current = self.current_idx();
            if next_idx > current {
                return self.send_heartbeat(node, next_idx, msg_id, prev_log_term);
            }
            let entries = {
                let mut v = self.send_buf.take();
                self.entries_to_send(node, next_idx, current, &mut v);
                v
            };
            let n = entries.len() as Index;
            let msg = AppendEntriesRequest {
                leader_id: self.my_id(),
                msg_id,
                term: self.current_term(),
                prev_log_idx: next_idx - 1,
                prev_log_term,
                leader_commit: self.commit_idx(),
                entries,
            };
            self.debug(node.id(), || {
                format!(
                    "send ae: t:{} lc:{} pli:{} plt:{} msgid:{} #{}",
                    msg.term, msg.leader_commit, msg.prev_log_idx, msg.prev_log_term, msg.msg_id, n
                )
            });
            let r = self.host.send_appendentries(node, &msg);
            let mut entries = msg.entries;
            entries.clear();
            // Keep small buffers only: one huge batch should not pin its memory.
            if entries.capacity() <= 1024 {
                self.send_buf.set(entries);
            }
            node.set_next_idx(next_idx + n);
            node.set_next_msgid(msg_id + 1);
            r?;
            // Nothing fetched means nothing more can be sent now: do not spin.
            if n == 0 || node.next_idx() > self.current_idx() {
                return Ok(());
            }
        }
    }

    /// The end of [`Self::send_appendentries`] when there is nothing to
    /// send but a heartbeat: the same request, callback and node updates,
    /// with no entry buffer to take, fill or give back.
    #[inline(always)]
    fn send_heartbeat(
        &self,
        node: &Node,
        next_idx: Index,
        msg_id: MsgId,
        prev_log_term: Term,
    ) -> Result<()> {
        let (term, leader_commit) = (self.current_term(), self.commit_idx());
        if self.logging() {
            // Formatted from copies, so the request itself can stay in registers.
            let line = format!(
                "send ae: t:{} lc:{} pli:{} plt:{} msgid:{} #0",
                term,
                leader_commit,
                next_idx - 1,
                prev_log_term,
                msg_id
            );
            self.host.log(node.id(), &line);
        }
        // An empty `Vec` owns nothing: not dropping it skips the drop glue.
        let msg = std::mem::ManuallyDrop::new(AppendEntriesRequest {
            leader_id: self.my_id(),
            msg_id,
            term,
            prev_log_idx: next_idx - 1,
            prev_log_term,
            leader_commit,
            entries: Vec::new(),
        });
        let r = self.host.send_heartbeat(node, &msg);
        node.set_next_idx(next_idx);
        node.set_next_msgid(msg_id + 1);
        r
    }

    /// Replicate to (or heartbeat) every other node; returns the last error.
    pub fn send_appendentries_all(&self) -> Result<()> {
        let mut ret = Ok(());
        self.for_each_node(|n| {
            if let Err(e) = self.send_appendentries(&n) {
                ret = Err(e);
            }
        });
        ret
    }

    /// Handle a leader's AppendEntries; the response is always filled in.
    pub fn recv_appendentries(
        &self,
        req: &AppendEntriesRequest<E>,
    ) -> (AppendEntriesResponse, Result<()>) {
        self.recv_appendentries_with(req, &req.entries)
    }

    /// [`Self::recv_appendentries`] with the entries passed apart from the
    /// request (`req.entries` is ignored), so a caller can lend them.
    pub fn recv_appendentries_with(
        &self,
        req: &AppendEntriesRequest<E>,
        entries: &[E],
    ) -> (AppendEntriesResponse, Result<()>) {
        self.debug(req.leader_id, || {
            format!(
                "recv appendentries li:{} t:{} ci:{} lc:{} pli:{} plt:{} msgid:{} #{}",
                req.leader_id,
                req.term,
                self.current_idx(),
                req.leader_commit,
                req.prev_log_idx,
                req.prev_log_term,
                req.msg_id,
                entries.len()
            )
        });
        let mut resp = AppendEntriesResponse {
            msg_id: req.msg_id,
            term: 0,
            success: false,
            current_idx: 0,
        };
        let r = self.handle_appendentries(req, entries, &mut resp);
        if let Some(n) = self.nodes.borrow().get(req.leader_id) {
            n.update_max_seen_msgid(req.msg_id);
        }
        resp.term = self.current_term();
        if !resp.success {
            resp.current_idx = self.current_idx();
        }
        (resp, r)
    }

    fn handle_appendentries(
        &self,
        req: &AppendEntriesRequest<E>,
        entries: &[E],
        resp: &mut AppendEntriesResponse,
    ) -> Result<()> {
        if !self.accept_leader_request(req.term, req.leader_id, "AE")? {
            return Ok(());
        }

        // Entries up to the snapshot are committed, so they match the leader's.
        let compacted = self.snapshot_last_idx();
        if req.prev_log_idx > 0 && req.prev_log_idx >= compacted {
            if req.prev_log_idx == compacted && compacted > 0 {
                if self.snapshot_last_term() != req.prev_log_term {
                    self.debug(req.leader_id, || {
                        "Snapshot AE prev conflicts with committed entry".into()
                    });
                    return Err(Error::Shutdown);
                }
            } else {
                match self.log.term_at(req.prev_log_idx) {
                    None => {
                        self.debug(req.leader_id, || {
                            format!("AE no log at prev_idx {}", req.prev_log_idx)
                        });
                        return Ok(());
                    }
                    Some(term) if term != req.prev_log_term => {
                        self.debug(req.leader_id, || {
                            format!(
                                "AE term doesn't match prev_term ({} vs {})",
                                term, req.prev_log_term
                            )
                        });
                        if req.prev_log_idx <= self.commit_idx() {
                            self.debug(req.leader_id, || {
                                "AE prev conflicts with committed entry".into()
                            });
                            return Err(Error::Shutdown);
                        }
                        return self.delete_entry_from_idx(req.prev_log_idx);
                    }
                    Some(_) => {}
                }
            }
        }

        resp.success = true;
        resp.current_idx = req.prev_log_idx;
        // Keep msg ids increasing cluster-wide (helps checking reads in simulations).
        if self.msg_id.get() < req.msg_id {
            self.set_msg_id(req.msg_id);
        }

        // Skip what we already hold; a conflicting entry ends it (and what follows goes).
        let mut i = 0;
        while i < entries.len() {
            let idx = req.prev_log_idx + 1 + i as Index;
            if idx <= compacted {
                resp.current_idx = idx;
                i += 1;
                continue;
            }
            let stored = if idx > 0 { self.log.term_at(idx) } else { None };
            match stored {
                Some(term) if term != entries[i].term() => {
                    if idx <= self.commit_idx() {
                        self.debug(req.leader_id, || {
                            "AE entry conflicts with committed entry".into()
                        });
                        return Err(Error::Shutdown);
                    }
                    self.delete_entry_from_idx(idx)?;
                    break;
                }
                None => break,
                Some(_) => {
                    resp.current_idx = idx;
                    i += 1;
                }
            }
        }
        // Append the rest: runs of ordinary entries in one step, a
        // configuration change on its own (it takes effect as it is appended).
        while i < entries.len() {
            let rest = &entries[i..];
            let run = rest.iter().position(is_cfg_change).unwrap_or(rest.len());
            let r = if run == 0 {
                self.append_entry(&rest[0]).map(|()| i += 1)
            } else {
                let (n, r) = self.log.append_batch(&rest[..run]);
                i += n;
                r
            };
            resp.current_idx = req.prev_log_idx + i as Index;
            r?;
        }
        if !entries.is_empty() {
            self.log.sync()?;
        }

        // Only what this request proved to match may be committed.
        if self.commit_idx() < req.leader_commit {
            let proven = resp.current_idx.min(self.current_idx());
            let commit = req.leader_commit.min(proven);
            if commit > self.commit_idx() {
                self.set_commit_idx(commit);
            }
        }
        Ok(())
    }

    /// Handle a follower's answer to our AppendEntries.
    pub fn recv_appendentries_response(
        &self,
        node: Option<&Node>,
        resp: &AppendEntriesResponse,
    ) -> Result<()> {
        self.debug(node.map_or(NODE_ID_NONE, |n| n.id()), || {
            format!(
                "received appendentries response {} ci:{} rci:{} msgid:{}",
                if resp.success { "SUCCESS" } else { "fail" },
                self.current_idx(),
                resp.current_idx,
                resp.msg_id
            )
        });
        let Some(node) = node else {
            return Err(Error::Callback(-1));
        };
        if !self.accept_leader_response(node, resp.msg_id, resp.term)? {
            return Ok(());
        }
        let current = self.current_idx();
        if !resp.success {
            if resp.current_idx < node.match_idx() {
                return Ok(());
            }
            node.set_next_idx((resp.current_idx + 1).min(current).max(1));
            return self.send_appendentries(node);
        }
        // A follower cannot hold more than we sent; ignore a bogus claim.
        let resp_idx = resp.current_idx.min(current);

        if self.host.has_send_timeoutnow()
            && self.transfer_leader_target() == node.id()
            && !self.sent_timeout_now.get()
            && current == resp_idx
        {
            let _ = self.host.send_timeoutnow(node);
            self.sent_timeout_now.set(true);
        }

        if !node.is_voting()
            && !self.voting_change_is_in_progress()
            && current <= resp_idx + 1
            && !node.is_voting_committed()
            && node.is_addition_committed()
            && self.host.has_node_has_sufficient_logs()
            && !node.has_sufficient_logs()
            && self.host.node_has_sufficient_logs(node) == 0
        {
            node.set_has_sufficient_logs(true);
        }

        self.raise_match_idx(node, resp_idx);
        if resp.msg_id > node.match_msgid() {
            node.set_match_msgid(resp.msg_id.min(self.msg_id()));
        }
        if self.config().auto_flush {
            return self.flush(0);
        }
        Ok(())
    }

    /// Raise `node`'s match index to `idx` (never lowers it), keeping the
    /// commit tally current instead of invalidating it.
    fn raise_match_idx(&self, node: &Node, idx: Index) {
        let old = node.match_idx();
        if idx <= old {
            return;
        }
        node.advance_match_idx(idx);
        if let Some(mut t) = self.commit_tally.get() {
            if t.epoch == self.node_epoch() && old <= t.commit && t.commit < idx {
                t.above += usize::from(node.is_voting());
                self.commit_tally.set(Some(t));
            }
        }
    }

    /// Commit the highest index a majority of voters hold, if it is of our term.
    ///
    /// Runs on every response, so it first consults a tally of the voters
    /// above the commit index (kept by `raise_match_idx`, recounted only
    /// after the commit index or the node epoch moved): the median can only
    /// pass the commit index once a majority has.
    fn update_commit_idx(&self) {
        let ci = self.commit_idx();
        let epoch = self.node_epoch();
        let tally = match self.commit_tally.get() {
            Some(t) if t.epoch == epoch && t.commit == ci => t,
            _ => {
                let (voters, above) = self.with_nodes(|l| {
                    l.iter()
                        .filter(|n| n.is_voting())
                        .fold((0, 0), |(v, a), n| {
                            (v + 1, a + usize::from(n.match_idx() > ci))
                        })
                });
                let t = CommitTally {
                    epoch,
                    commit: ci,
                    voters,
                    above,
                };
                self.commit_tally.set(Some(t));
                t
            }
        };
        if tally.above <= tally.voters / 2 {
            return;
        }
        let mut indexes = self.index_buf.take();
        indexes.clear();
        self.with_nodes(|l| {
            indexes.extend(l.iter().filter(|n| n.is_voting()).map(|n| n.match_idx()))
        });
        let commit = majority_of(&mut indexes);
        self.index_buf.set(indexes);
        let Some(commit) = commit else {
            return;
        };
        if commit > ci && self.log.term_at(commit) == Some(self.current_term()) {
            self.set_commit_idx(commit);
        }
    }

    /// With auto-flush off: the leader's last index to make durable, once
    /// (0 when nothing new or not leader).
    pub fn index_to_sync(&self) -> Index {
        if !self.is_leader() {
            return 0;
        }
        let idx = self.current_idx();
        if idx < self.next_sync_index.get() {
            return 0;
        }
        self.next_sync_index.set(idx + 1);
        idx
    }

    /// Entries up to `sync_index` are durable locally: count them toward
    /// commit, send what is pending, then apply and answer reads.
    #[inline]
    pub fn flush(&self, sync_index: Index) -> Result<()> {
        if self.is_leader() {
            self.flush_leader(sync_index);
        }
        self.exec_operations()
    }

    /// The leader's part of [`Self::flush`]: commit and send.
    #[inline(never)]
    fn flush_leader(&self, sync_index: Index) {
        // Usually nothing of ours to count (responses flush with 0): look
        // before taking a reference.
        let ahead = self
            .my_node
            .borrow()
            .as_ref()
            .is_some_and(|m| sync_index > m.match_idx());
        if let Some(me) = ahead.then(|| self.my_node()).flatten() {
            let idx = sync_index.min(self.current_idx());
            if idx > me.match_idx() {
                self.raise_match_idx(&me, idx);
            } else {
                me.set_match_idx(idx);
            }
        }
        self.update_commit_idx();
        let last_read = self.read_queue.borrow().back().map_or(0, |r| r.msg_id);
        let current = self.current_idx();
        let key = (self.node_epoch(), current, last_read);
        if self.flush_memo.get() != Some(key) {
            let mut sent = false;
            self.for_each_node(|n| {
                let idle = n.next_msgid() > last_read && n.next_idx() > self.current_idx();
                if !self.is_me(&n) && !idle {
                    sent = true;
                    let _ = self.send_appendentries(&n);
                }
            });
            // Nobody was behind: until a node's next index or msg id, the
            // log's end or the read queue moves, a rescan finds nobody.
            self.flush_memo.set(if sent { None } else { Some(key) });
        }
    }

    /// What became of the entry a client submitted.
    pub fn entry_response_committed(&self, r: &EntryResponse) -> Commitment {
        match self.entry_at(r.idx) {
            None => Commitment::Pending,
            Some(e) if e.term() != r.term => Commitment::Invalidated,
            Some(_) if r.idx <= self.commit_idx() => Commitment::Committed,
            Some(_) => Commitment::Pending,
        }
    }
}
