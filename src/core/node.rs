//! A cluster member as the local server tracks it.
//!
//! All state sits in `Cell`s so that a shared `&Node` (or the C layer's
//! `raft_node_t *`) is enough to read and update it, also from inside callbacks.

use std::cell::Cell;
use std::rc::Rc;

use super::types::{Index, MsgId, NodeId, Size};

/// A server's node epoch: bumped by every change that can alter who needs an
/// AppendEntries or who counts toward a majority (next index/msg id moving
/// back, voting,
/// active, match index set from outside the commit path, membership). The
/// server caches scans of its nodes under the value it saw; a different value
/// means "rescan". Shared with the server's nodes because C sets node fields
/// through a bare `raft_node_t *`; a spurious bump only costs a rescan.
pub type Epoch = Rc<Cell<u64>>;

/// Bit positions in [`Node::flags`] (one byte instead of six `bool`s).
const VOTED_FOR_ME: u8 = 1;
const VOTING: u8 = 1 << 1;
const SUFFICIENT_LOGS: u8 = 1 << 2;
const ACTIVE: u8 = 1 << 3;
const VOTING_COMMITTED: u8 = 1 << 4;
const ADDITION_COMMITTED: u8 = 1 << 5;

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
    flags: Cell<u8>,
    /// The epoch of the server that holds this node; none while standalone
    /// (no server caches anything about it then).
    epoch: EpochSlot,
}

/// `Cell<Option<Epoch>>` with a `Debug` that does not need to read it.
#[derive(Default)]
struct EpochSlot(Cell<Option<Epoch>>);

impl std::fmt::Debug for EpochSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochSlot")
    }
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
            flags: Cell::new(VOTING | ACTIVE),
            epoch: EpochSlot::default(),
        }
    }

    /// Tie the node to a server's epoch (`None`: detach it).
    pub(crate) fn set_epoch(&self, epoch: Option<Epoch>) {
        self.epoch.0.set(epoch);
    }

    /// Invalidate the holding server's cached node scans.
    fn bump_epoch(&self) {
        if let Some(e) = self.epoch.0.take() {
            e.set(e.get().wrapping_add(1));
            self.epoch.0.set(Some(e));
        }
    }

    fn flag(&self, bit: u8) -> bool {
        self.flags.get() & bit != 0
    }
    fn set_flag(&self, bit: u8, on: bool) {
        let f = self.flags.get();
        self.flags.set(if on { f | bit } else { f & !bit });
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
    #[inline]
    pub fn set_next_idx(&self, idx: Index) {
        let idx = idx.max(1);
        // Cached scans only care about a node falling behind (see `Epoch`).
        if idx < self.next_idx.get() {
            self.bump_epoch();
        }
        self.next_idx.set(idx)
    }
    pub fn match_idx(&self) -> Index {
        self.match_idx.get()
    }
    pub fn set_match_idx(&self, idx: Index) {
        self.bump_epoch();
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
    #[inline]
    pub fn set_next_msgid(&self, v: MsgId) {
        if v < self.next_msgid.get() {
            self.bump_epoch();
        }
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
        self.flag(VOTED_FOR_ME)
    }
    pub fn vote_for_me(&self, v: bool) {
        self.bump_epoch();
        self.set_flag(VOTED_FOR_ME, v)
    }
    /// Record a granted vote without invalidating cached scans: for the
    /// server's vote path, which updates its own tally.
    pub(crate) fn grant_vote(&self) {
        self.set_flag(VOTED_FOR_ME, true)
    }
    /// A node being removed (inactive) no longer votes, whatever its voting flag
    /// says: it stops counting toward quorums as soon as its removal is appended.
    pub fn is_voting(&self) -> bool {
        self.flags.get() & (VOTING | ACTIVE) == VOTING | ACTIVE
    }
    pub fn set_voting(&self, v: bool) {
        self.bump_epoch();
        self.set_flag(VOTING, v)
    }
    pub fn has_sufficient_logs(&self) -> bool {
        self.flag(SUFFICIENT_LOGS)
    }
    pub fn set_has_sufficient_logs(&self, v: bool) {
        self.set_flag(SUFFICIENT_LOGS, v)
    }
    pub fn is_active(&self) -> bool {
        self.flag(ACTIVE)
    }
    pub fn set_active(&self, v: bool) {
        self.bump_epoch();
        self.set_flag(ACTIVE, v)
    }
    pub fn is_voting_committed(&self) -> bool {
        self.flag(VOTING_COMMITTED)
    }
    pub fn set_voting_committed(&self, v: bool) {
        self.set_flag(VOTING_COMMITTED, v)
    }
    pub fn is_addition_committed(&self) -> bool {
        self.flag(ADDITION_COMMITTED)
    }
    pub fn set_addition_committed(&self, v: bool) {
        self.set_flag(ADDITION_COMMITTED, v)
    }
    /// Reset every flag to "off" (non-voting, active, nothing committed), as
    /// upstream's `raft_node_clear_flags` does.
    pub fn clear_flags(&self) {
        self.bump_epoch();
        self.flags.set(ACTIVE);
    }
}
