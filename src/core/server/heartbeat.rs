//! Straight paths for the messages an idle cluster exchanges all the time:
//! a heartbeat (AppendEntries without entries) from the known leader of the
//! current term, and its acknowledgement. Each one checks, without side
//! effects, that the general handler would take its plainest branch and
//! then does exactly what that branch does; anything else (another term, a
//! log mismatch, new entries, debug logging on...) declines and the caller
//! runs the general handler, so behaviour is the general handler's.

use super::Server;
use crate::core::{
    AppendEntriesRequest, AppendEntriesResponse, Entry, Host, LogStore, Node, RequestVoteResponse,
    NODE_ID_NONE,
};

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// Whether debug lines would be emitted (the straight paths emit none).
    #[inline]
    pub(crate) fn logging(&self) -> bool {
        self.config().log_enabled && self.host.log_enabled()
    }

    /// `recv_appendentries` for a heartbeat from the leader we follow in our
    /// term whose previous entry we hold; `None` (nothing done) otherwise.
    #[inline(always)]
    pub fn recv_heartbeat(&self, req: &AppendEntriesRequest<E>) -> Option<AppendEntriesResponse> {
        if !req.entries.is_empty()
            || !self.is_follower()
            || req.term != self.current_term()
            || req.leader_id != self.leader_id()
            || self.transfer_target.get() != NODE_ID_NONE
            || self.logging()
        {
            return None;
        }
        // As `accept_leader_request` for the leader we already follow.
        self.timeout_elapsed.set(0);
        let prev = req.prev_log_idx;
        let compacted = self.snapshot_last_idx();
        if prev > 0 && prev >= compacted {
            let term = if prev == compacted {
                Some(self.snapshot_last_term())
            } else {
                self.log_term_at(prev)
            };
            // A mismatch (or a missing entry) takes the general path, which
            // repeats the idempotent steps above.
            if term != Some(req.prev_log_term) {
                return None;
            }
        }
        if self.msg_id.get() < req.msg_id {
            self.set_msg_id(req.msg_id);
        }
        let ci = self.commit_idx();
        if ci < req.leader_commit {
            let commit = req.leader_commit.min(prev.min(self.current_idx()));
            if commit > ci {
                self.set_commit_idx(commit);
            }
        }
        if let Some(n) = self.nodes.borrow().get(req.leader_id) {
            n.update_max_seen_msgid(req.msg_id);
        }
        Some(AppendEntriesResponse {
            msg_id: req.msg_id,
            term: self.current_term(),
            success: true,
            current_idx: prev,
        })
    }

    /// `recv_appendentries_response` for a current success that acknowledges
    /// nothing new from a voter (an idle heartbeat's answer), without the
    /// auto-flush step: `true` when handled. Calls neither host nor log.
    #[inline]
    pub fn ack_idle_response(&self, node: &Node, resp: &AppendEntriesResponse) -> bool {
        if !self.is_leader()
            || !resp.success
            || resp.term != self.current_term()
            || node.match_msgid() > resp.msg_id
            || resp.current_idx > node.match_idx()
            || !node.is_voting()
            || self.transfer_target.get() == node.id()
            || self.logging()
        {
            return false;
        }
        if resp.msg_id > node.match_msgid() {
            node.set_match_msgid(resp.msg_id.min(self.msg_id()));
        }
        true
    }

    /// `flush` when there is nothing to do: not the leader, nothing
    /// committed to apply, no read waiting. `true` when handled. Calls
    /// neither host nor log.
    #[inline]
    pub fn flush_idle(&self) -> bool {
        // `try_borrow`s here and below: no panic path, so the exports'
        // straight paths need no stack frame (a failed borrow, which would
        // be a bug, just declines).
        if self.is_leader()
            || self.last_applied_idx() < self.commit_idx()
            || !self.read_queue.try_borrow().is_ok_and(|q| q.is_empty())
        {
            return false;
        }
        self.pending_operations.set(false);
        true
    }

    /// Whether `recv_requestvote_response` would do nothing with `resp`
    /// (no newer term, and not a granted vote of the election we run).
    /// Calls neither host nor log.
    #[inline]
    pub fn vote_response_is_moot(&self, resp: &RequestVoteResponse) -> bool {
        let current = self.current_term();
        if resp.term > current || self.logging() {
            return false;
        }
        let fresh = if resp.prevote {
            self.is_precandidate() && resp.request_term == current + 1
        } else {
            self.is_candidate() && resp.request_term == current
        };
        !fresh || !resp.vote_granted
    }

    /// Run `f` on the node whose address is `addr`, if the server holds it.
    /// The node list stays borrowed: `f` must not reach the host or the log.
    #[inline]
    pub fn with_node_at_addr<R>(&self, addr: usize, f: impl FnOnce(&Node) -> R) -> Option<R> {
        self.nodes.try_borrow().ok()?.by_addr(addr).map(|n| f(n))
    }
}
