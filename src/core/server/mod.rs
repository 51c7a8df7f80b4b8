//! The Raft server: all of its state, construction and getters.
//!
//! Behaviour is split by concern into sibling modules, each an `impl` block on
//! [`Server`]. State lives in `Cell`s and `RefCell`s so every method takes
//! `&self`: host and log callbacks may re-enter the server, so no `RefCell`
//! borrow is ever held across one of them.
//!
//! The behaviour follows upstream libraft 7371bc92 (return codes, callback
//! order, message fields, when the election timeout is re-randomized), with
//! these deliberate differences:
//!
//! * A node that cannot vote never campaigns, and leadership is never
//!   transferred to one; a leader that applies its own removal steps down.
//! * A follower commits only up to what the request proved to match, and
//!   entries a snapshot already covers are skipped instead of re-appended.
//! * Bad input is refused instead of asserted: unknown nodes, duplicate
//!   ADD_NODE (also on rollback), REMOVE_NODE rollbacks for unknown nodes,
//!   deleting committed entries, a commit index past the log.
//! * A host that fetches no entries to send ends the send loop instead of spinning.
//! * `raft_recv_entry` answers `NotLeader` before checking voting changes.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use super::entry::Entry;
use super::host::Host;
use super::log::LogStore;
use super::node::{Epoch, Node};
use super::types::{Index, MsgId, NodeId, State, Term, Time, NODE_ID_NONE};

mod apply;
mod election;
mod heartbeat;
mod membership;
mod periodic;
mod props;
mod reads;
mod replication;
pub mod snapshot;
#[cfg(test)]
mod tests;
mod transfer;

pub use periodic::ConfigKey;
pub use props::votes_is_majority;
pub use replication::Commitment;

pub use snapshot::SnapshotState;

/// Default election timeout in milliseconds.
pub const DEFAULT_ELECTION_TIMEOUT: Time = 1000;
/// Default heartbeat (request) timeout in milliseconds.
pub const DEFAULT_REQUEST_TIMEOUT: Time = 200;

/// Called once a linearizable read may (`true`) or may not (`false`) proceed.
pub type ReadCallback = Box<dyn FnOnce(bool)>;

/// A read waiting for a quorum round and for the state machine to catch up.
pub struct ReadRequest {
    /// Commit index at the time of the request; reads wait until it is applied.
    pub read_idx: Index,
    /// The heartbeat round whose acknowledgement by a quorum confirms leadership.
    pub msg_id: MsgId,
    pub callback: ReadCallback,
}

/// Tunables, mirroring upstream's configuration options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub election_timeout: Time,
    pub request_timeout: Time,
    /// Apply entries even while a snapshot is being taken.
    pub nonblocking_apply: bool,
    /// Sync the log after every append instead of waiting for `flush`.
    pub auto_flush: bool,
    pub log_enabled: bool,
    /// Never apply entries (testing aid).
    pub disable_apply: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            election_timeout: DEFAULT_ELECTION_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            nonblocking_apply: false,
            auto_flush: true,
            log_enabled: false,
            disable_apply: false,
        }
    }
}

/// Node ids below this are found through a dense table (one load); larger
/// ones through a hash map. Bounds the table at 4 KiB per server.
const DENSE_IDS: usize = 1024;

/// Address of a node: its identity for the C layer.
fn addr_of(n: &Node) -> usize {
    n as *const Node as usize
}

/// A position in `list` plus one as the indexes store it (0: none). Two
/// bytes keep the indexes of a 101-node server at ~0.8 KB instead of ~1.5.
type Pos = u16;
/// Stored for a node whose position does not fit (a list of 65534+ nodes):
/// such nodes are found by id in `keyed` and by address by a scan of the
/// list's tail, on the paths that would otherwise answer "none".
const POS_FULL: Pos = Pos::MAX;
/// The first position that does not fit a `Pos`.
const POS_LIMIT: usize = POS_FULL as usize - 1;

/// The stored form of position `pos`.
fn stored_pos(pos: usize) -> Pos {
    if pos < POS_LIMIT {
        pos as Pos + 1
    } else {
        POS_FULL
    }
}

/// Membership: nodes in insertion order plus indexes by id and by address
/// (the C layer maps a `raft_node_t *` back to the server's own `Rc`).
#[derive(Default)]
pub(crate) struct Nodes {
    pub(crate) list: Vec<Rc<Node>>,
    /// For ids below `DENSE_IDS`: position in `list` plus one (0: absent).
    dense: Vec<Pos>,
    /// Nodes whose ids are outside the dense table (or whose position does
    /// not fit a `Pos`), by id.
    keyed: HashMap<u64, Rc<Node>, BuildHasherDefault<IdHasher>>,
    /// Open-addressing index by address (see [`addr_slot`]): position in
    /// `list` plus one, 0 for an empty slot; a power of two at least twice
    /// `list`'s length, so a probe always ends at an empty slot.
    by_addr: Vec<Pos>,
    /// The server's node epoch, shared with every node held here (and with
    /// the server itself: it stays the same `Rc` for the server's life).
    pub(crate) epoch: Epoch,
}

/// Every membership change invalidates the server's cached node scans.
fn bump(epoch: &Epoch) {
    epoch.set(epoch.get().wrapping_add(1));
}

/// The dense-table slot of `id`, if it has one.
fn dense_slot(id: NodeId) -> Option<usize> {
    usize::try_from(id).ok().filter(|&i| i < DENSE_IDS)
}

/// Map key of a node id.
fn id_key(id: NodeId) -> u64 {
    u64::from(id as u32)
}

/// Home slot of a node address in a `by_addr` table of `mask + 1` slots:
/// the high bits of a multiplicative hash of the address (low 4 bits are
/// alignment).
#[inline]
fn addr_slot(addr: usize, mask: usize) -> usize {
    ((addr as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & mask
}

impl Nodes {
    fn bump_epoch(&self) {
        bump(&self.epoch);
    }
    /// Add `node`, tying it to the server's epoch.
    pub(crate) fn push(&mut self, node: Rc<Node>) {
        self.bump_epoch();
        node.set_epoch(Some(self.epoch.clone()));
        self.list.push(node);
        self.index_last();
    }
    /// Put `list[pos]` into the address index, growing it when half full.
    fn index_addr(&mut self, pos: usize) {
        if self.by_addr.len() < 2 * self.list.len() {
            let size = (2 * self.list.len()).next_power_of_two().max(8);
            self.by_addr = vec![0; size];
            for p in 0..self.list.len() {
                self.place_addr(p);
            }
            return;
        }
        self.place_addr(pos);
    }
    fn place_addr(&mut self, pos: usize) {
        let mask = self.by_addr.len() - 1;
        let mut h = addr_slot(addr_of(&self.list[pos]), mask);
        while self.by_addr[h] != 0 {
            h = (h + 1) & mask;
        }
        self.by_addr[h] = stored_pos(pos);
    }
    /// Index the last node of `list` by id (the first node with an id wins).
    fn index_last(&mut self) {
        self.index_addr(self.list.len() - 1);
        let pos = self.list.len();
        let node = &self.list[pos - 1];
        match dense_slot(node.id()) {
            Some(i) if self.dense.get(i).is_some_and(|&p| p != 0) => {}
            Some(i) if pos - 1 < POS_LIMIT => {
                if self.dense.len() <= i {
                    self.dense.resize(i + 1, 0);
                }
                self.dense[i] = pos as Pos;
            }
            _ => {
                self.keyed
                    .entry(id_key(node.id()))
                    .or_insert_with(|| node.clone());
            }
        }
    }
    /// Rebuild the id indexes after nodes left `list` (positions moved).
    fn reindex(&mut self) {
        self.dense.clear();
        self.keyed.clear();
        self.by_addr.iter_mut().for_each(|p| *p = 0);
        let list = std::mem::take(&mut self.list);
        for n in list {
            self.list.push(n);
            self.index_last();
        }
        self.dense.shrink_to_fit();
    }
    #[inline(always)]
    pub(crate) fn get(&self, id: NodeId) -> Option<&Rc<Node>> {
        match dense_slot(id) {
            Some(i) => match self.dense.get(i) {
                Some(&p) if p > 0 => self.list.get(p as usize - 1),
                _ => self.get_keyed(id),
            },
            None => self.get_keyed(id),
        }
    }
    /// [`Self::get`] for an id outside the dense table, or a small id it has
    /// no position for (rare: kept out of line).
    #[inline(never)]
    fn get_keyed(&self, id: NodeId) -> Option<&Rc<Node>> {
        if dense_slot(id).is_some() && self.list.len() <= POS_LIMIT {
            return None;
        }
        self.keyed.get(&id_key(id))
    }
    #[inline]
    pub(crate) fn by_addr(&self, addr: usize) -> Option<&Rc<Node>> {
        let mask = self.by_addr.len().checked_sub(1)?;
        let mut h = addr_slot(addr, mask);
        loop {
            let p = *self.by_addr.get(h)? as usize;
            let Some(n) = self.list.get(p.wrapping_sub(1)) else {
                return self.by_addr_beyond(p, addr);
            };
            if addr_of(n) == addr {
                return Some(n);
            }
            h = (h + 1) & mask;
        }
    }
    /// [`Self::by_addr`] past its probes: none, unless the list holds nodes
    /// whose position did not fit the index (they are scanned).
    #[cold]
    #[inline(never)]
    fn by_addr_beyond(&self, p: usize, addr: usize) -> Option<&Rc<Node>> {
        if p != 0 || self.list.len() <= POS_LIMIT {
            return None;
        }
        self.list[POS_LIMIT..].iter().find(|n| addr_of(n) == addr)
    }
    /// Keep only the nodes for which `keep` holds.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Rc<Node>) -> bool) {
        self.bump_epoch();
        self.list.retain(|n| {
            let k = keep(n);
            if !k {
                n.set_epoch(None);
            }
            k
        });
        self.reindex();
    }
    pub(crate) fn remove(&mut self, node: &Rc<Node>) {
        self.bump_epoch();
        let before = self.list.len();
        self.list.retain(|n| !Rc::ptr_eq(n, node));
        if self.list.len() != before {
            node.set_epoch(None);
            self.reindex();
        }
    }
}

/// A fast hash for small integer keys (node ids, addresses): one multiply,
/// folded so that the low bits (bucket choice) depend on every input bit.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i32(&mut self, v: i32) {
        self.write_u64(v as u32 as u64)
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64)
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64)
    }
}

/// Voters, and how many of them hold more than `commit` (see
/// `update_commit_idx`), valid while the server's node epoch is still `epoch`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommitTally {
    pub(crate) epoch: u64,
    pub(crate) commit: Index,
    pub(crate) voters: usize,
    pub(crate) above: usize,
}

/// Voters and the votes among them for us (see
/// `has_majority_of_votes`), valid while the node epoch is still `epoch`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct VoteTally {
    pub(crate) epoch: u64,
    pub(crate) voters: usize,
    pub(crate) votes: usize,
}

/// One Raft server.
pub struct Server<E: Entry, L: LogStore<E>, H: Host<E>> {
    pub(crate) log: L,
    pub(crate) host: H,

    // Persistent state.
    pub(crate) current_term: Cell<Term>,
    pub(crate) voted_for: Cell<NodeId>,

    // Volatile state.
    pub(crate) commit_idx: Cell<Index>,
    pub(crate) last_applied_idx: Cell<Index>,
    pub(crate) last_applied_term: Cell<Term>,
    pub(crate) state: Cell<State>,
    pub(crate) leader_id: Cell<NodeId>,

    // Time, in milliseconds.
    pub(crate) timeout_elapsed: Cell<Time>,
    pub(crate) timestamp: Cell<Time>,
    /// When the current `exec_operations` budget runs out.
    pub(crate) exec_deadline: Cell<Time>,
    pub(crate) pending_operations: Cell<bool>,
    pub(crate) election_timeout_rand: Cell<Time>,
    /// Check-quorum timer of a leader.
    pub(crate) quorum_timeout: Cell<Time>,
    /// Message id a quorum acknowledged in the last check-quorum round.
    pub(crate) last_acked_msg_id: Cell<MsgId>,

    pub(crate) nodes: RefCell<Nodes>,
    /// The node epoch `nodes` shares with its nodes, also held here so the
    /// caches can check it without borrowing `nodes`.
    pub(crate) epoch: Epoch,
    /// The local node, if known (it may have been removed from the configuration).
    pub(crate) my_node: RefCell<Option<Rc<Node>>>,
    /// Id and address of `my_node` (`NODE_ID_NONE` and 0 without one), for
    /// the checks every message makes without borrowing it.
    my_id: Cell<NodeId>,
    my_addr: Cell<usize>,
    /// Index of the uncommitted voting configuration change, or -1.
    pub(crate) voting_cfg_change_log_idx: Cell<Index>,
    /// Indexes of appended configuration changes that changed nothing (e.g. an
    /// ADD_NODE for a voter), so popping them must not undo anything either.
    /// (Hashed with `IdHasher`: std's random seeding would run `getrandom` and
    /// touch otherwise unused code pages for every server.)
    pub(crate) noop_cfg_changes: RefCell<HashSet<Index, BuildHasherDefault<IdHasher>>>,

    /// Id of the latest AppendEntries round (reads and check-quorum key on it).
    pub(crate) msg_id: Cell<MsgId>,
    pub(crate) read_queue: RefCell<VecDeque<ReadRequest>>,

    // Leader transfer.
    pub(crate) transfer_target: Cell<NodeId>,
    pub(crate) transfer_leader_time: Cell<Time>,
    pub(crate) sent_timeout_now: Cell<bool>,

    /// First index not yet handed to `sync` when auto-flush is off.
    pub(crate) next_sync_index: Cell<Index>,

    pub(crate) config: Cell<Config>,
    pub(crate) snapshot: SnapshotState,

    /// (node epoch, last index, last read msg id) at which `flush` last found
    /// no node to send to: until one of them changes a scan finds none either.
    pub(crate) flush_memo: Cell<Option<(u64, Index, MsgId)>>,
    /// Cached count for the commit check, so responses cost O(1).
    pub(crate) commit_tally: Cell<Option<CommitTally>>,
    /// Cached vote count, so each vote response costs O(1).
    pub(crate) vote_tally: Cell<Option<VoteTally>>,
    /// (node epoch, at most one listed node votes), for the single-voter
    /// check every periodic tick makes.
    pub(crate) lone_voter_memo: Cell<Option<(u64, bool)>>,
    /// (index, its term, the log's removal count then): the last term read
    /// by `log_term_at`, valid while the log reports no removal.
    pub(crate) term_memo: Cell<(Index, Term, u64)>,
    /// Buffers reused across calls instead of allocating per message: the
    /// entries of an outgoing AppendEntries and the match indexes of the
    /// commit check. Taken while in use, so re-entrant calls just allocate.
    pub(crate) send_buf: Cell<Vec<E>>,
    /// Committed entries read ahead for applying (see `apply_all`).
    pub(crate) apply_buf: Cell<Vec<E>>,
    pub(crate) index_buf: Cell<Vec<Index>>,

    _entry: std::marker::PhantomData<E>,
}

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// A follower in term 0 with no nodes, over `log` and `host`.
    ///
    /// The election timeout is not randomized here: call
    /// `randomize_election_timeout` once the host can produce random numbers.
    pub fn new(log: L, host: H) -> Self {
        let config = Config::default();
        let nodes = Nodes::default();
        let epoch = nodes.epoch.clone();
        Server {
            log,
            host,
            current_term: Cell::new(0),
            voted_for: Cell::new(NODE_ID_NONE),
            commit_idx: Cell::new(0),
            last_applied_idx: Cell::new(0),
            last_applied_term: Cell::new(0),
            state: Cell::new(State::Follower),
            leader_id: Cell::new(NODE_ID_NONE),
            timeout_elapsed: Cell::new(0),
            timestamp: Cell::new(0),
            exec_deadline: Cell::new(Time::MAX),
            pending_operations: Cell::new(false),
            election_timeout_rand: Cell::new(config.election_timeout),
            quorum_timeout: Cell::new(config.election_timeout * 2),
            last_acked_msg_id: Cell::new(0),
            nodes: RefCell::new(nodes),
            epoch,
            my_node: RefCell::new(None),
            my_id: Cell::new(NODE_ID_NONE),
            my_addr: Cell::new(0),
            voting_cfg_change_log_idx: Cell::new(-1),
            noop_cfg_changes: RefCell::new(Default::default()),
            msg_id: Cell::new(0),
            read_queue: RefCell::new(VecDeque::new()),
            transfer_target: Cell::new(NODE_ID_NONE),
            transfer_leader_time: Cell::new(0),
            sent_timeout_now: Cell::new(false),
            next_sync_index: Cell::new(1),
            config: Cell::new(config),
            snapshot: SnapshotState::default(),
            flush_memo: Cell::new(None),
            commit_tally: Cell::new(None),
            vote_tally: Cell::new(None),
            lone_voter_memo: Cell::new(None),
            term_memo: Cell::new((-1, 0, 0)),
            send_buf: Cell::new(Vec::new()),
            apply_buf: Cell::new(Vec::new()),
            index_buf: Cell::new(Vec::new()),
            _entry: std::marker::PhantomData,
        }
    }

    pub fn log(&self) -> &L {
        &self.log
    }
    pub fn host(&self) -> &H {
        &self.host
    }
    pub fn snapshot_state(&self) -> &SnapshotState {
        &self.snapshot
    }
    pub fn current_term(&self) -> Term {
        self.current_term.get()
    }
    pub fn voted_for(&self) -> NodeId {
        self.voted_for.get()
    }
    pub fn commit_idx(&self) -> Index {
        self.commit_idx.get()
    }
    pub fn last_applied_idx(&self) -> Index {
        self.last_applied_idx.get()
    }
    pub fn last_applied_term(&self) -> Term {
        self.last_applied_term.get()
    }
    pub fn state(&self) -> State {
        self.state.get()
    }
    pub fn is_follower(&self) -> bool {
        self.state() == State::Follower
    }
    pub fn is_precandidate(&self) -> bool {
        self.state() == State::PreCandidate
    }
    pub fn is_candidate(&self) -> bool {
        self.state() == State::Candidate
    }
    pub fn is_leader(&self) -> bool {
        self.state() == State::Leader
    }
    pub fn leader_id(&self) -> NodeId {
        self.leader_id.get()
    }
    pub fn timeout_elapsed(&self) -> Time {
        self.timeout_elapsed.get()
    }
    pub fn election_timeout_rand(&self) -> Time {
        self.election_timeout_rand.get()
    }
    pub fn msg_id(&self) -> MsgId {
        self.msg_id.get()
    }
    /// Every change of the leader id goes through here so the host sees it.
    pub(crate) fn set_leader_id(&self, id: NodeId) {
        self.leader_id.set(id);
        self.host.leader_id_changed(id);
    }
    /// Every change of the message id goes through here so the host sees it.
    pub(crate) fn set_msg_id(&self, id: MsgId) {
        self.msg_id.set(id);
        self.host.msg_id_changed(id);
    }
    pub fn voting_cfg_change_log_idx(&self) -> Index {
        self.voting_cfg_change_log_idx.get()
    }
    pub fn next_sync_index(&self) -> Index {
        self.next_sync_index.get()
    }
    pub fn config(&self) -> Config {
        self.config.get()
    }
    pub fn election_timeout(&self) -> Time {
        self.config().election_timeout
    }
    pub fn request_timeout(&self) -> Time {
        self.config().request_timeout
    }
    /// Replace the configuration values (see the setters in `periodic.rs` for
    /// the ones with side effects).
    pub fn set_config(&self, config: Config) {
        self.config.set(config)
    }
    pub fn transfer_leader_target(&self) -> NodeId {
        self.transfer_target.get()
    }

    /// Number of nodes in the configuration (including the local one).
    pub fn num_nodes(&self) -> usize {
        self.nodes.borrow().list.len()
    }
    /// The node with `id`, if it is in the configuration.
    pub fn node(&self, id: NodeId) -> Option<Rc<Node>> {
        self.nodes.borrow().get(id).cloned()
    }
    /// Address of the node with `id` (for handing out `raft_node_t *`
    /// without touching its reference count).
    pub fn node_addr(&self, id: NodeId) -> Option<usize> {
        self.nodes.borrow().get(id).map(|n| addr_of(n))
    }
    /// [`Self::node_addr`] for an id of the dense table (`None` for any
    /// other id): no call inside, for the C lookup of every message.
    #[inline]
    pub fn dense_node_addr(&self, id: NodeId) -> Option<usize> {
        // `try_borrow`: no panic path (the list is never borrowed mutably
        // across a call that could get here), so the caller needs no frame.
        let nodes = self.nodes.try_borrow().ok()?;
        let pos = *nodes.dense.get(dense_slot(id)?)? as usize;
        nodes.list.get(pos.checked_sub(1)?).map(|n| addr_of(n))
    }
    /// Whether `id` has a slot in the dense table.
    #[inline]
    pub fn is_dense_id(id: NodeId) -> bool {
        dense_slot(id).is_some()
    }
    /// The server's node whose address is `addr` (identity lookup for the C
    /// layer, which holds `Rc::as_ptr` of nodes); never dereferences `addr`.
    #[inline]
    pub fn node_by_addr(&self, addr: usize) -> Option<Rc<Node>> {
        self.nodes.borrow().by_addr(addr).cloned()
    }
    /// The node at `pos` in insertion order.
    pub fn node_at(&self, pos: usize) -> Option<Rc<Node>> {
        self.nodes.borrow().list.get(pos).cloned()
    }
    /// A snapshot of the node list, safe to iterate while calling callbacks.
    pub fn nodes(&self) -> Vec<Rc<Node>> {
        self.nodes.borrow().list.clone()
    }
    /// The local node, if it is known and still in the configuration.
    /// The current node epoch (see [`Epoch`]): cached node scans are valid
    /// while it stays the same.
    #[inline]
    pub(crate) fn node_epoch(&self) -> u64 {
        self.epoch.get()
    }

    pub fn my_node(&self) -> Option<Rc<Node>> {
        self.my_node.borrow().clone()
    }
    /// The local node's id, or `NODE_ID_NONE`.
    pub fn my_id(&self) -> NodeId {
        self.my_id.get()
    }
    /// Whether `n` is the local node.
    #[inline]
    pub(crate) fn is_me(&self, n: &Node) -> bool {
        self.my_addr.get() == addr_of(n)
    }
    /// Set (or forget) the local node.
    pub(crate) fn set_my_node(&self, node: Option<Rc<Node>>) {
        self.my_id
            .set(node.as_ref().map_or(NODE_ID_NONE, |n| n.id()));
        self.my_addr.set(node.as_ref().map_or(0, |n| addr_of(n)));
        *self.my_node.borrow_mut() = node;
        self.lone_voter_memo.set(None);
    }
    /// Number of queued linearizable reads.
    pub fn pending_reads(&self) -> usize {
        self.read_queue.borrow().len()
    }
}

#[cfg(test)]
mod nodes_index_tests {
    use super::*;

    #[test]
    fn positions_past_the_index_width() {
        let mut nodes = Nodes::default();
        let n = POS_LIMIT + 10;
        for i in 0..n {
            nodes.push(Rc::new(Node::new(2000 + i as NodeId, 0)));
        }
        // A small id at a position the dense table cannot hold.
        nodes.push(Rc::new(Node::new(7, 0)));
        let check = |nodes: &Nodes| {
            for pos in [
                0,
                1,
                POS_LIMIT - 1,
                POS_LIMIT,
                POS_LIMIT + 1,
                nodes.list.len() - 1,
            ] {
                let node = nodes.list[pos].clone();
                assert!(Rc::ptr_eq(nodes.by_addr(addr_of(&node)).unwrap(), &node));
                assert!(Rc::ptr_eq(nodes.get(node.id()).unwrap(), &node));
            }
            assert!(nodes.get(8).is_none() && nodes.get(2000 + n as NodeId).is_none());
            let stranger = Node::new(9, 0);
            assert!(nodes.by_addr(addr_of(&stranger)).is_none());
        };
        check(&nodes);
        assert_eq!(nodes.get(7).unwrap().id(), 7);
        let first = nodes.list[0].clone();
        nodes.remove(&first);
        assert!(nodes.by_addr(addr_of(&first)).is_none() && nodes.get(2000).is_none());
        check(&nodes);
        assert_eq!(nodes.get(7).unwrap().id(), 7);
    }

    #[test]
    fn ids_and_addresses_survive_removal() {
        let mut nodes = Nodes::default();
        let ids = [5, 2000, -3, 0, 1023, 1024];
        for id in ids {
            nodes.push(Rc::new(Node::new(id, 0)));
        }
        let e0 = nodes.epoch.get();
        let five = nodes.get(5).unwrap().clone();
        nodes.remove(&five);
        assert!(nodes.epoch.get() != e0);
        assert!(nodes.get(5).is_none());
        assert!(nodes.by_addr(addr_of(&five)).is_none());
        for id in [2000, -3, 0, 1023, 1024] {
            let n = nodes.get(id).unwrap();
            assert_eq!(n.id(), id);
            assert!(Rc::ptr_eq(nodes.by_addr(addr_of(n)).unwrap(), n));
        }
        assert!(nodes.get(7).is_none() && nodes.get(5000).is_none());
        nodes.retain(|n| n.id() >= 1000);
        assert_eq!(nodes.list.len(), 3);
        assert!(nodes.get(-3).is_none() && nodes.get(0).is_none());
        assert_eq!(nodes.get(1024).unwrap().id(), 1024);
        // A removed node no longer bumps the server's epoch.
        let e1 = nodes.epoch.get();
        five.set_voting(false);
        assert_eq!(nodes.epoch.get(), e1);
        nodes.get(2000).unwrap().set_voting(false);
        assert!(nodes.epoch.get() != e1);
    }
}
