//! The host of one simulated node: it queues outgoing messages for the
//! network, applies committed entries to the node's state machine, persists
//! term and vote, and serves and installs snapshots.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use raft::core::{
    log_type, AppendEntriesRequest, Entry, Error, Host, Index, LogStore, MembershipEvent, Node,
    NodeId, RequestVoteRequest, Result, Size, SnapshotChunk, SnapshotRequest, State, Term, Time,
    TransferEvent, NODE_ID_NONE,
};

use super::check::Shared;
use super::entry::SimEntry;
use super::fsm::Fsm;
use super::log::SimLog;
use super::net::Msg;
use super::rng::Rng;
use super::{snap, SimServer};

/// What survives a crash: term, vote, the latest snapshot and the log.
pub struct Disk {
    pub term: Cell<Term>,
    pub vote: Cell<NodeId>,
    /// (last term, last index, encoded state machine).
    pub snapshot: RefCell<Option<(Term, Index, Vec<u8>)>>,
    pub log: RefCell<SimLog>,
    /// The configuration the node was created with (before any snapshot).
    pub bootstrap: BTreeMap<NodeId, bool>,
}

impl Disk {
    pub fn new(bootstrap: BTreeMap<NodeId, bool>) -> Disk {
        Disk {
            term: Cell::new(0),
            vote: Cell::new(NODE_ID_NONE),
            snapshot: RefCell::new(None),
            log: RefCell::new(SimLog::default()),
            bootstrap,
        }
    }
}

pub struct SimHost {
    pub id: NodeId,
    pub server: RefCell<Weak<SimServer>>,
    pub shared: Rc<Shared>,
    pub disk: Rc<Disk>,
    pub outbox: RefCell<Vec<(NodeId, Msg)>>,
    pub fsm: RefCell<Fsm>,
    pub rng: RefCell<Rng>,
    /// Snapshot being received: (its last index, bytes so far).
    recv: RefCell<(Index, Vec<u8>)>,
    /// Set once the node applied its own removal.
    pub removed: Cell<bool>,
    /// Asynchronous log writes in flight (auto-flush off): (done at ms, index).
    pub syncs: RefCell<Vec<(u64, Index)>>,
    /// A snapshot begun but not ended: (last term, last index, encoded state).
    pub pending_snapshot: RefCell<Option<(Term, Index, Vec<u8>)>>,
}

/// Largest snapshot chunk the host hands out.
const MAX_CHUNK: u64 = 96;

impl SimHost {
    pub fn new(id: NodeId, shared: Rc<Shared>, disk: Rc<Disk>, fsm: Fsm, rng: Rng) -> SimHost {
        SimHost {
            id,
            server: RefCell::new(Weak::new()),
            shared,
            disk,
            outbox: RefCell::new(Vec::new()),
            fsm: RefCell::new(fsm),
            rng: RefCell::new(rng),
            recv: RefCell::new((0, Vec::new())),
            removed: Cell::new(false),
            pending_snapshot: RefCell::new(None),
            syncs: RefCell::new(Vec::new()),
        }
    }

    fn server(&self) -> Option<Rc<SimServer>> {
        self.server.borrow().upgrade()
    }

    fn chance(&self, per_mille: u32) -> bool {
        self.shared.chaos.get() && self.rng.borrow_mut().chance(per_mille)
    }

    fn trace(&self, what: std::fmt::Arguments) {
        if self.shared.trace {
            eprintln!("[{:>7}ms] n{} {what}", self.shared.now.get(), self.id);
        }
    }

    fn install_snapshot(&self, term: Term, idx: Index) -> Result<()> {
        let bytes = {
            let recv = self.recv.borrow();
            if recv.0 != idx {
                self.shared.violation(format!(
                    "node {}: asked to load snapshot {idx} while chunks of {} were received",
                    self.id, recv.0
                ));
                return Err(Error::Callback(-1));
            }
            recv.1.clone()
        };
        let Some(fsm) = Fsm::decode(&bytes) else {
            let original = self
                .shared
                .snapshots
                .borrow()
                .get(&idx)
                .cloned()
                .unwrap_or_default();
            let diff = bytes.iter().zip(&original).position(|(a, b)| a != b);
            self.shared.violation(format!(
                "node {}: snapshot {idx} assembled from chunks is corrupt ({} bytes, original {}, first difference at {diff:?}: {:?} vs {:?})",
                self.id,
                bytes.len(),
                original.len(),
                &bytes[..bytes.len().min(12)],
                &original[..original.len().min(12)]
            ));
            return Err(Error::Callback(-1));
        };
        if fsm.last_idx != idx || fsm.last_term != term {
            self.shared.violation(format!(
                "node {}: snapshot content ends at {}/{} but loaded as {idx}/{term}",
                self.id, fsm.last_idx, fsm.last_term
            ));
            return Err(Error::Callback(-1));
        }
        let Some(server) = self.server() else {
            return Err(Error::Shutdown);
        };
        // A snapshot of our own in progress is superseded by the received one.
        if self.pending_snapshot.borrow_mut().take().is_some() {
            server.cancel_snapshot()?;
        }
        match snap::begin_load_snapshot(&server, term, idx) {
            Ok(()) => {}
            Err(Error::SnapshotAlreadyLoaded) => return Ok(()),
            Err(e) => return Err(e),
        }
        for (id, voting) in &fsm.members {
            let is_self = *id == self.id;
            let node = match server.node(*id) {
                Some(n) => Some(n),
                None if *voting => server.add_node(0, *id, is_self),
                None => server.add_non_voting_node(0, *id, is_self),
            };
            if let Some(n) = node {
                n.set_active(true);
                n.set_voting(*voting);
            }
        }
        snap::end_load_snapshot(&server)?;
        self.shared.observe_state(self.id, idx, fsm.hash);
        self.shared.installs.set(self.shared.installs.get() + 1);
        self.trace(format_args!(
            "loaded snapshot {idx}/{term} members {:?}",
            fsm.members
        ));
        *self.fsm.borrow_mut() = fsm;
        *self.disk.snapshot.borrow_mut() = Some((term, idx, bytes));
        Ok(())
    }
}

impl Host<SimEntry> for SimHost {
    fn send_requestvote(&self, node: &Node, msg: &RequestVoteRequest) -> Result<()> {
        // Voters trust what a candidate says about its log.
        if let Some(server) = self.server() {
            let log = server.log();
            let truth = (log.last_term(), log.current_idx());
            if (msg.last_log_term, msg.last_log_idx) != truth {
                self.shared.violation(format!(
                    "node {}: vote request claims last term/idx {:?}, its log has {truth:?}",
                    self.id,
                    (msg.last_log_term, msg.last_log_idx)
                ));
            }
        }
        self.outbox.borrow_mut().push((node.id(), Msg::Vote(*msg)));
        Ok(())
    }

    fn send_appendentries(&self, node: &Node, msg: &AppendEntriesRequest<SimEntry>) -> Result<()> {
        self.outbox
            .borrow_mut()
            .push((node.id(), Msg::Append(msg.clone())));
        Ok(())
    }

    fn send_snapshot(&self, node: &Node, msg: &SnapshotRequest) -> Result<()> {
        self.outbox
            .borrow_mut()
            .push((node.id(), Msg::Snap(msg.clone())));
        Ok(())
    }

    fn send_timeoutnow(&self, node: &Node) -> Result<()> {
        self.outbox.borrow_mut().push((node.id(), Msg::TimeoutNow));
        Ok(())
    }

    fn has_send_snapshot(&self) -> bool {
        true
    }

    fn has_send_appendentries(&self) -> bool {
        true
    }

    fn has_send_timeoutnow(&self) -> bool {
        true
    }

    fn notify_transfer_event(&self, event: TransferEvent) {
        self.trace(format_args!("transfer event {event:?}"));
    }

    fn get_entries_to_send(
        &self,
        _node: &Node,
        idx: Index,
        max: Index,
        out: &mut Vec<SimEntry>,
    ) -> Option<Index> {
        // Like hosts that cap batches by size, it sometimes picks a few
        // entries (even none); otherwise the server reads its log itself.
        // Some seeds often cap a batch (at one entry per request, say).
        // Not always: with every batch capped, each rejection of a
        // reordered request makes the leader resend its whole tail in many
        // requests, and the resends beget more (a message storm).
        let cap = match self.shared.single_entries.get() {
            true => 1,
            false => self.shared.batch_cap.get(),
        };
        let n = if cap > 0 && self.rng.borrow_mut().chance(500) {
            cap.min(max)
        } else if self.rng.borrow_mut().chance(300) {
            (self.rng.borrow_mut().below(4) as Index).min(max)
        } else {
            return None;
        };
        let server = self.server()?;
        Some(server.log().get_batch(idx, n, out))
    }

    fn load_snapshot(&self, term: Term, index: Index) -> Result<()> {
        self.install_snapshot(term, index)
    }

    fn get_snapshot_chunk(&self, _node: &Node, offset: Size) -> Result<SnapshotChunk> {
        if self.chance(100) {
            return Err(Error::Done);
        }
        let snap = self.disk.snapshot.borrow();
        let Some((_, _, bytes)) = snap.as_ref() else {
            return Err(Error::Done);
        };
        let len = bytes.len() as u64;
        if offset >= len {
            return Err(Error::Done);
        }
        let size = self.rng.borrow_mut().range(16, MAX_CHUNK);
        let end = (offset + size).min(len);
        Ok(SnapshotChunk {
            offset,
            data: bytes[offset as usize..end as usize].to_vec(),
            last_chunk: end == len,
        })
    }

    fn store_snapshot_chunk(
        &self,
        snapshot_index: Index,
        offset: Size,
        chunk: &SnapshotChunk,
    ) -> Result<()> {
        self.trace(format_args!(
            "store chunk of {snapshot_index} at {offset} len {}",
            chunk.data.len()
        ));
        let mut recv = self.recv.borrow_mut();
        if recv.0 != snapshot_index || offset == 0 {
            *recv = (snapshot_index, Vec::new());
        }
        // A gap or overlap corrupts the buffer on purpose: the server must only
        // store the chunk it expects, and a bad assembly fails the checksum.
        let end = offset as usize + chunk.data.len();
        if recv.1.len() < end {
            recv.1.resize(end, 0);
        }
        recv.1[offset as usize..end].copy_from_slice(&chunk.data);
        Ok(())
    }

    fn clear_snapshot(&self) -> Result<()> {
        self.trace(format_args!("clear snapshot"));
        *self.recv.borrow_mut() = (0, Vec::new());
        Ok(())
    }

    fn apply_entry(&self, entry: &SimEntry, idx: Index) -> Result<()> {
        let term = self.server().map_or(0, |s| s.current_term());
        let hash = {
            let mut fsm = self.fsm.borrow_mut();
            if idx != fsm.last_idx + 1 {
                self.shared.violation(format!(
                    "node {}: applied idx {idx} after idx {} (gap or repeat)",
                    self.id, fsm.last_idx
                ));
            }
            fsm.apply(entry, idx);
            fsm.hash
        };
        self.shared
            .observe_committed(self.id, idx, entry.key(), term);
        self.shared.observe_state(self.id, idx, hash);
        if entry.entry_type() == log_type::REMOVE_NODE && entry.cfg_node() == Some(self.id) {
            self.trace(format_args!("applied own removal at {idx}"));
            self.removed.set(true);
            return Err(Error::Shutdown);
        }
        Ok(())
    }

    fn persist_metadata(&self, term: Term, vote: NodeId) -> Result<()> {
        let (old_term, old_vote) = (self.disk.term.get(), self.disk.vote.get());
        if term < old_term {
            self.shared.violation(format!(
                "node {}: persisted term went down {old_term} -> {term}",
                self.id
            ));
        } else if term == old_term && old_vote != NODE_ID_NONE && vote != old_vote {
            self.shared.violation(format!(
                "node {}: vote in term {term} changed from {old_vote} to {vote}",
                self.id
            ));
        }
        // Under chaos the disk sometimes fails: the server must then not act
        // on the new term or vote (checked after every step).
        if self.chance(100) {
            self.trace(format_args!("persist_metadata({term}, {vote}) fails"));
            return Err(Error::Callback(-1));
        }
        self.disk.term.set(term);
        self.disk.vote.set(vote);
        Ok(())
    }

    fn get_node_id(&self, entry: &SimEntry, _idx: Index) -> NodeId {
        entry.cfg_node().unwrap_or(NODE_ID_NONE)
    }

    fn has_node_has_sufficient_logs(&self) -> bool {
        true
    }

    fn node_has_sufficient_logs(&self, node: &Node) -> i32 {
        // Re-enters the server, as real users do, to promote the node.
        let Some(server) = self.server() else {
            return -1;
        };
        let e = SimEntry::cfg(log_type::ADD_NODE, self.shared.new_entry_id(), node.id());
        match server.recv_entry(&e) {
            Ok(_) => {
                self.trace(format_args!("promoting node {}", node.id()));
                0
            }
            Err(_) => -1,
        }
    }

    fn notify_membership_event(
        &self,
        node: Option<&Node>,
        _entry: Option<&SimEntry>,
        event: MembershipEvent,
    ) {
        if let Some(n) = node {
            self.trace(format_args!("membership {event:?} node {}", n.id()));
        }
    }

    fn notify_state_event(&self, state: State) {
        self.trace(format_args!("became {}", state.name()));
    }

    fn log_enabled(&self) -> bool {
        self.shared.trace
    }

    fn log(&self, node_id: NodeId, message: &str) {
        eprintln!(
            "[{:>7}ms] n{} raft({node_id}): {message}",
            self.shared.now.get(),
            self.id
        );
    }

    fn backpressure(&self, _node: &Node) -> bool {
        self.chance(20)
    }

    fn random(&self) -> u32 {
        (self.rng.borrow_mut().next_u64() >> 33) as u32
    }

    fn timestamp(&self) -> Option<Time> {
        Some(self.shared.now.get() as Time * 1000)
    }
}
