//! A cluster member as the local server tracks it.
//!
//! All state sits in `Cell`s so that a shared `&Node` (or the C layer's
//! `raft_node_t *`) is enough to read and update it, also from inside callbacks.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::types::{Index, MsgId, NodeId, Size};

/// Bumped by every change that can alter who needs an AppendEntries or who
/// counts toward a majority (next index/msg id, voting, active, match index
/// set from outside the commit path, membership). Servers cache scans of
/// their nodes under the value they saw; a different value means "rescan".
/// Global (not per server) because C sets node fields through a bare
/// `raft_node_t *`; a spurious bump only costs a rescan.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The current node epoch (see [`EPOCH`]).
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

/// Invalidate every cached node scan.
pub(crate) fn bump_epoch() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// One member of the cluster (possibly the local server itself).
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    /// Opaque value owned by the embedder (the C layer stores a `void *`).
    user_data: Cell<usize>,
    next_idx: Cell<Index>,
    match_idx: Cell<Index>,
    next_msgid: Cell<MsgId>,
    match_msgid: Cell<MsgId>,
    max_seen_msgid: Cell<MsgId>,
    snapshot_offset: Cell<Size>,
    voted_for_me: Cell<bool>,
    voting: Cell<bool>,
    has_sufficient_logs: Cell<bool>,
    active: Cell<bool>,
    voting_committed: Cell<bool>,
    addition_committed: Cell<bool>,
}

impl Node {
    /// A voting node with `next_idx = 1`, as upstream creates them.
    pub fn new(id: NodeId, user_data: usize) -> Node {
        Node {
            id,
            user_data: Cell::new(user_data),
            next_idx: Cell::new(1),
            match_idx: Cell::new(0),
            next_msgid: Cell::new(0),
            match_msgid: Cell::new(0),
            max_seen_msgid: Cell::new(0),
            snapshot_offset: Cell::new(0),
            voted_for_me: Cell::new(false),
            voting: Cell::new(true),
            has_sufficient_logs: Cell::new(false),
            active: Cell::new(true),
            voting_committed: Cell::new(false),
            addition_committed: Cell::new(false),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn user_data(&self) -> usize {
        self.user_data.get()
    }
    pub fn set_user_data(&self, v: usize) {
        self.user_data.set(v)
    }
    pub fn next_idx(&self) -> Index {
        self.next_idx.get()
    }
    /// Log indexes begin at 1, so anything lower is clamped to 1.
    pub fn set_next_idx(&self, idx: Index) {
        bump_epoch();
        self.next_idx.set(idx.max(1))
    }
    pub fn match_idx(&self) -> Index {
        self.match_idx.get()
    }
    pub fn set_match_idx(&self, idx: Index) {
        bump_epoch();
        self.match_idx.set(idx)
    }
    /// Raise the match index without invalidating cached scans: for the
    /// server's commit path, which updates its own tally (see `raise_match_idx`).
    pub(crate) fn advance_match_idx(&self, idx: Index) {
        self.match_idx.set(idx)
    }
    pub fn next_msgid(&self) -> MsgId {
        self.next_msgid.get()
    }
    pub fn set_next_msgid(&self, v: MsgId) {
        bump_epoch();
        self.next_msgid.set(v)
    }
    pub fn match_msgid(&self) -> MsgId {
        self.match_msgid.get()
    }
    pub fn set_match_msgid(&self, v: MsgId) {
        self.match_msgid.set(v)
    }
    pub fn max_seen_msgid(&self) -> MsgId {
        self.max_seen_msgid.get()
    }
    /// Remember the highest message id seen from this node.
    pub fn update_max_seen_msgid(&self, v: MsgId) {
        if v > self.max_seen_msgid.get() {
            self.max_seen_msgid.set(v)
        }
    }
    pub fn snapshot_offset(&self) -> Size {
        self.snapshot_offset.get()
    }
    pub fn set_snapshot_offset(&self, v: Size) {
        self.snapshot_offset.set(v)
    }
    pub fn has_vote_for_me(&self) -> bool {
        self.voted_for_me.get()
    }
    pub fn vote_for_me(&self, v: bool) {
        bump_epoch();
        self.voted_for_me.set(v)
    }
    /// Record a granted vote without invalidating cached scans: for the
    /// server's vote path, which updates its own tally.
    pub(crate) fn grant_vote(&self) {
        self.voted_for_me.set(true)
    }
    /// A node being removed (inactive) no longer votes, whatever its voting flag
    /// says: it stops counting toward quorums as soon as its removal is appended.
    pub fn is_voting(&self) -> bool {
        self.voting.get() && self.active.get()
    }
    pub fn set_voting(&self, v: bool) {
        bump_epoch();
        self.voting.set(v)
    }
    pub fn has_sufficient_logs(&self) -> bool {
        self.has_sufficient_logs.get()
    }
    pub fn set_has_sufficient_logs(&self, v: bool) {
        self.has_sufficient_logs.set(v)
    }
    pub fn is_active(&self) -> bool {
        self.active.get()
    }
    pub fn set_active(&self, v: bool) {
        bump_epoch();
        self.active.set(v)
    }
    pub fn is_voting_committed(&self) -> bool {
        self.voting_committed.get()
    }
    pub fn set_voting_committed(&self, v: bool) {
        self.voting_committed.set(v)
    }
    pub fn is_addition_committed(&self) -> bool {
        self.addition_committed.get()
    }
    pub fn set_addition_committed(&self, v: bool) {
        self.addition_committed.set(v)
    }
    /// Reset every flag to "off" (non-voting, active, nothing committed), as
    /// upstream's `raft_node_clear_flags` does.
    pub fn clear_flags(&self) {
        bump_epoch();
        self.voted_for_me.set(false);
        self.voting.set(false);
        self.has_sufficient_logs.set(false);
        self.active.set(true);
        self.voting_committed.set(false);
        self.addition_committed.set(false);
    }
}
