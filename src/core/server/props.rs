//! Derived properties and the small setters every concern shares.

use std::rc::Rc;

use super::Server;
use crate::core::{
    log_type, Entry, Error, Host, Index, LogStore, Node, NodeId, Result, State, Term, Time,
    NODE_ID_NONE,
};

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// Emit a debug line; the message is only formatted when logging is on.
    pub(crate) fn debug(&self, node: NodeId, msg: impl FnOnce() -> String) {
        if self.config().log_enabled && self.host.log_enabled() {
            self.host.log(node, &msg());
        }
    }

    /// Index of the last log entry (the snapshot's last index when the log is empty).
    pub fn current_idx(&self) -> Index {
        self.log.current_idx()
    }
    /// Number of entries stored in the log.
    pub fn log_count(&self) -> Index {
        self.log.count()
    }
    /// The entry at `idx`, if the log holds it.
    pub fn entry_at(&self, idx: Index) -> Option<E> {
        if idx <= 0 {
            return None;
        }
        self.log.get(idx)
    }
    /// Term of the entry at `idx`, falling back to the snapshot for its last index.
    pub(crate) fn term_at(&self, idx: Index) -> Option<Term> {
        let stored = if idx > 0 { self.log_term_at(idx) } else { None };
        match stored {
            Some(t) => Some(t),
            None if idx == self.snapshot_last_idx() => Some(self.snapshot_last_term()),
            None if idx == 0 => Some(0),
            None => None,
        }
    }
    /// Term of the last entry in the log (or of the snapshot), 0 when empty.
    pub fn last_log_term(&self) -> Term {
        let idx = self.current_idx();
        if idx <= 0 {
            return 0;
        }
        self.term_at(idx).unwrap_or(0)
    }
    /// `log.term_at(idx)`, remembered for the last index read: the leader
    /// reads the same previous entry for every follower it sends to, and a
    /// follower its last entry for every heartbeat. An entry's term never
    /// changes while it stays stored, so the memo holds until the log
    /// reports a removal; a log that cannot tell is read every time.
    #[inline(always)]
    pub(crate) fn log_term_at(&self, idx: Index) -> Option<Term> {
        let (at, term, seen) = self.term_memo.get();
        let removals = self.log.removals();
        if at == idx && removals == Some(seen) {
            return Some(term);
        }
        let stored = self.log.term_at(idx);
        if let (Some(t), Some(r)) = (stored, removals) {
            self.term_memo.set((idx, t, r));
        }
        stored
    }
    /// Term of the entry before `idx`, as sent in `prev_log_term`.
    pub(crate) fn previous_log_term(&self, idx: Index) -> Term {
        let prev = idx - 1;
        let stored = if prev > 0 {
            self.log_term_at(prev)
        } else {
            None
        };
        stored.unwrap_or_else(|| self.snapshot_last_term())
    }
    /// First index a reader of the log may ask for.
    pub fn first_entry_idx(&self) -> Index {
        if self.snapshot_last_idx() == 0 {
            1
        } else {
            self.snapshot_last_idx()
        }
    }

    /// Whether the local node exists and votes.
    pub fn my_node_is_voting(&self) -> bool {
        self.my_node
            .borrow()
            .as_ref()
            .is_some_and(|n| n.is_voting())
    }
    pub fn num_voting_nodes(&self) -> usize {
        self.nodes
            .borrow()
            .list
            .iter()
            .filter(|n| n.is_voting())
            .count()
    }
    /// The nodes that count toward majorities: voting ones. A node whose
    /// removal is pending (inactive) does not vote, as upstream.
    #[cfg(test)]
    pub(crate) fn quorum_voters(&self) -> Vec<Rc<Node>> {
        self.with_nodes(|l| l.iter().filter(|n| n.is_voting()).cloned().collect())
    }
    /// Run `f` on the node list. `f` must not call the host or the log (the
    /// list stays borrowed); loops that do use [`Self::for_each_node`].
    pub(crate) fn with_nodes<R>(&self, f: impl FnOnce(&[Rc<Node>]) -> R) -> R {
        f(&self.nodes.borrow().list)
    }
    /// Call `f` on each node in order, without borrowing the list across the
    /// call, so `f` may reach callbacks that add or remove nodes (as upstream,
    /// such changes may make the walk skip or revisit a node).
    pub(crate) fn for_each_node(&self, mut f: impl FnMut(Rc<Node>)) {
        let mut i = 0;
        while let Some(n) = self.node_at(i) {
            f(n);
            i += 1;
        }
    }
    /// The local node is the only voter: it may lead without asking anyone.
    #[inline]
    pub fn is_single_node_voting_cluster(&self) -> bool {
        // This runs on every periodic tick: the answer is cached under the
        // node epoch, which every voting/active change and membership bumps
        // (and a change of the local node forgets it).
        let epoch = self.node_epoch();
        match self.lone_voter_memo.get() {
            Some((e, lone)) if e == epoch => lone,
            _ => {
                let lone = self.my_node_is_voting()
                    && self.with_nodes(|l| l.iter().filter(|n| n.is_voting()).take(2).count()) == 1;
                self.lone_voter_memo.set(Some((epoch, lone)));
                lone
            }
        }
    }
    /// Whether the votes received (ours included) make a majority of the voters.
    ///
    /// Runs on every vote response, so the counts are cached (see
    /// `record_vote`) and recounted only when the node epoch moved.
    pub(crate) fn has_majority_of_votes(&self) -> bool {
        let epoch = self.node_epoch();
        let t = match self.vote_tally.get() {
            Some(t) if t.epoch == epoch => t,
            _ => {
                let t = super::VoteTally {
                    epoch,
                    voters: self.num_voting_nodes(),
                    votes: self.nvotes_for_me(),
                };
                self.vote_tally.set(Some(t));
                t
            }
        };
        votes_is_majority(t.voters, t.votes)
    }
    /// `n` granted us its vote: mark it and keep the vote tally current.
    pub(crate) fn record_vote(&self, n: &Node) {
        if n.has_vote_for_me() {
            return;
        }
        n.grant_vote();
        if let Some(mut t) = self.vote_tally.get() {
            if t.epoch == self.node_epoch() && n.is_voting() && !self.is_me(n) {
                t.votes += 1;
                self.vote_tally.set(Some(t));
            }
        }
    }
    /// Votes received in the current election, counting our own if we vote.
    pub fn nvotes_for_me(&self) -> usize {
        let others = self.with_nodes(|l| {
            l.iter()
                .filter(|n| !self.is_me(n) && n.is_voting() && n.has_vote_for_me())
                .count()
        });
        others + usize::from(self.my_node_is_voting())
    }
    pub fn voting_change_is_in_progress(&self) -> bool {
        self.voting_cfg_change_log_idx.get() != -1
    }

    /// Set the commit index. It never moves past the log's end; lowering it is
    /// refused because applied entries cannot be un-applied.
    pub fn set_commit_idx(&self, idx: Index) {
        let idx = idx.min(self.current_idx());
        if idx >= self.commit_idx.get() {
            self.commit_idx.set(idx);
        }
    }
    pub fn set_last_applied_idx(&self, idx: Index) {
        self.last_applied_idx.set(idx)
    }
    /// Set the role; becoming leader makes us the known leader.
    pub fn set_state(&self, state: State) {
        if state == State::Leader {
            self.set_leader_id(self.my_id());
        }
        self.state.set(state);
    }

    /// Move to a newer term (older or equal terms are ignored). The new term is
    /// persisted, with no vote, before it takes effect.
    pub fn set_current_term(&self, term: Term) -> Result<()> {
        if self.current_term.get() >= term {
            return Ok(());
        }
        self.host.persist_metadata(term, NODE_ID_NONE)?;
        self.current_term.set(term);
        self.voted_for.set(NODE_ID_NONE);
        Ok(())
    }
    /// Record a vote for `id` in the current term, persisting it first.
    pub fn vote_for_nodeid(&self, id: NodeId) -> Result<()> {
        self.host.persist_metadata(self.current_term.get(), id)?;
        self.voted_for.set(id);
        Ok(())
    }
    /// Load term and vote from stable storage at restart (no persistence call).
    pub fn restore_metadata(&self, term: Term, vote: NodeId) -> Result<()> {
        if term < 0 {
            return Err(Error::Misuse);
        }
        self.current_term.set(term);
        self.voted_for.set(vote);
        Ok(())
    }

    /// Draw a new election timeout in `[timeout, 2 * timeout)`.
    pub fn randomize_election_timeout(&self) {
        let t = self.election_timeout().max(1);
        let rand = t + Time::from(self.host.random()) % t;
        self.election_timeout_rand.set(rand);
        self.debug(NODE_ID_NONE, || {
            format!("randomize election timeout to {rand}")
        });
    }
    /// Restart the check-quorum timer from acknowledged message `id`.
    pub fn update_quorum_meta(&self, id: crate::core::MsgId) {
        self.quorum_timeout.set(self.election_timeout() * 2);
        self.last_acked_msg_id.set(id);
    }

    /// Host time in milliseconds, 0 without a clock.
    pub(crate) fn time_millis(&self) -> Time {
        self.host.timestamp().map_or(0, |us| us / 1000)
    }
}

/// True when `nvotes` is a strict majority of `num_nodes`.
pub fn votes_is_majority(num_nodes: usize, nvotes: usize) -> bool {
    nvotes <= num_nodes && num_nodes / 2 < nvotes
}

/// Whether an entry type changes the configuration.
pub(crate) fn is_cfg_change<E: Entry>(e: &E) -> bool {
    log_type::is_cfg_change(e.entry_type())
}
/// Whether an entry type changes the set of voters.
pub(crate) fn is_voting_cfg_change<E: Entry>(e: &E) -> bool {
    log_type::is_voting_cfg_change(e.entry_type())
}

/// The value a majority of `values` reaches: the median of the sorted-descending
/// list, so at least `len / 2 + 1` values are greater or equal. `None` when empty.
pub(crate) fn majority_value<T: Ord + Copy>(mut values: Vec<T>) -> Option<T> {
    majority_of(&mut values)
}

/// [`majority_value`] over a caller-owned buffer (reordered in place).
pub(crate) fn majority_of<T: Ord + Copy>(values: &mut [T]) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    let k = values.len() / 2;
    Some(*values.select_nth_unstable_by(k, |a, b| b.cmp(a)).1)
}
