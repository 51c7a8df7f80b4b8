//! The callbacks a server makes into its embedder (the C `raft_cbs_t`).
//!
//! Every method has a default that behaves like an unset C callback, so a Rust
//! host implements only what it needs. The server never holds a borrow of its
//! own state while calling these, so implementations may call back into it.

use super::entry::Entry;
use super::message::{AppendEntriesRequest, RequestVoteRequest, SnapshotChunk, SnapshotRequest};
use super::node::Node;
use super::types::{
    Index, MembershipEvent, MsgId, NodeId, Result, Size, State, Term, Time, TransferEvent,
    NODE_ID_NONE,
};

/// The embedder's side of a server: network, state machine, persistence, clock.
pub trait Host<E: Entry> {
    /// Send a (pre-)vote request to `node`.
    fn send_requestvote(&self, _node: &Node, _msg: &RequestVoteRequest) -> Result<()> {
        Ok(())
    }
    /// Send an AppendEntries request to `node`. Entries the host keeps must be cloned.
    fn send_appendentries(&self, _node: &Node, _msg: &AppendEntriesRequest<E>) -> Result<()> {
        Ok(())
    }
    /// [`Self::send_appendentries`] for a request without entries (a
    /// heartbeat), which a host may send by a leaner path.
    #[inline(always)]
    fn send_heartbeat(&self, node: &Node, msg: &AppendEntriesRequest<E>) -> Result<()> {
        self.send_appendentries(node, msg)
    }
    /// Send a snapshot chunk to `node`.
    fn send_snapshot(&self, _node: &Node, _msg: &SnapshotRequest) -> Result<()> {
        Ok(())
    }
    /// The leader this server knows of changed (`NODE_ID_NONE`: none). For
    /// embedders that mirror it where their own code can read it.
    fn leader_id_changed(&self, _leader: NodeId) {}
    /// The server's message id changed (same purpose).
    fn msg_id_changed(&self, _msg_id: MsgId) {}
    /// Whether a `send_appendentries` callback exists (without one, replication reports an error).
    fn has_send_appendentries(&self) -> bool {
        true
    }
    /// Whether a `send_timeoutnow` callback exists.
    fn has_send_timeoutnow(&self) -> bool {
        false
    }
    /// Tell `node` to start an election now (leader transfer).
    fn send_timeoutnow(&self, _node: &Node) -> Result<()> {
        Ok(())
    }
    /// Whether a `send_snapshot` callback exists (upstream skips snapshot work without one).
    fn has_send_snapshot(&self) -> bool {
        false
    }
    /// A received snapshot is complete: load it (usually through
    /// `begin_load_snapshot`/`end_load_snapshot`).
    fn load_snapshot(&self, _term: Term, _index: Index) -> Result<()> {
        Ok(())
    }
    /// Fill the chunk of the local snapshot that starts at `offset` for `node`.
    /// `Err(Error::Done)` asks the server to stop sending for now (back-pressure).
    fn get_snapshot_chunk(&self, _node: &Node, _offset: Size) -> Result<SnapshotChunk> {
        Err(super::types::Error::Done)
    }
    /// Store a received chunk of the snapshot that ends at `snapshot_index`.
    fn store_snapshot_chunk(
        &self,
        _snapshot_index: Index,
        _offset: Size,
        _chunk: &SnapshotChunk,
    ) -> Result<()> {
        Ok(())
    }
    /// Discard a partially received snapshot.
    fn clear_snapshot(&self) -> Result<()> {
        Ok(())
    }
    /// Apply a committed entry to the state machine. `Err(Error::Shutdown)` stops the server.
    fn apply_entry(&self, _entry: &E, _idx: Index) -> Result<()> {
        Ok(())
    }
    /// Durably store the current term and vote before they become visible to others.
    fn persist_metadata(&self, _term: Term, _vote: NodeId) -> Result<()> {
        Ok(())
    }
    /// The node a configuration-change entry refers to.
    fn get_node_id(&self, _entry: &E, _idx: Index) -> NodeId {
        NODE_ID_NONE
    }
    /// Whether a `node_has_sufficient_logs` callback exists.
    fn has_node_has_sufficient_logs(&self) -> bool {
        false
    }
    /// A non-voting node caught up. Returns 0 when it should not be asked again.
    fn node_has_sufficient_logs(&self, _node: &Node) -> i32 {
        0
    }
    fn notify_membership_event(
        &self,
        _node: Option<&Node>,
        _entry: Option<&E>,
        _event: MembershipEvent,
    ) {
    }
    fn notify_state_event(&self, _state: State) {}
    fn notify_transfer_event(&self, _event: TransferEvent) {}
    /// Whether debug logging is wanted; when false the server skips formatting.
    fn log_enabled(&self) -> bool {
        false
    }
    /// A debug log line about `node_id` (or `NODE_ID_NONE`).
    fn log(&self, _node_id: NodeId, _message: &str) {}
    /// True to skip sending AppendEntries to `node` for now.
    fn backpressure(&self, _node: &Node) -> bool {
        false
    }
    /// Choose up to `max` entries from `idx` for `node`, pushing them to `out`.
    /// `None` means "no callback": the server reads its log itself.
    fn get_entries_to_send(
        &self,
        _node: &Node,
        _idx: Index,
        _max: Index,
        _out: &mut Vec<E>,
    ) -> Option<Index> {
        None
    }
    /// A random number for the randomized election timeout. The C host returns
    /// libc `rand()` so seeded programs behave as with upstream; the default
    /// derives one from std's randomly seeded hasher.
    fn random(&self) -> u32 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        (h.finish() >> 1) as u32 & 0x7fff_ffff
    }
    /// Monotonic time in microseconds, `None` when the host has no clock.
    fn timestamp(&self) -> Option<Time> {
        None
    }
    /// A counter that moves whenever the application calls back into the
    /// server, changes its callbacks or removes entries from the server's log
    /// behind its back, so a loop around callbacks can tell
    /// with one compare that a callback changed nothing. `None` when the
    /// host cannot tell: such loops then check everything after each callback.
    fn reentries(&self) -> Option<u64> {
        None
    }
}
