//! `CHost`: the C callbacks of `raft_cbs_t` as a `core::Host`.
//!
//! An unset callback behaves as upstream treats it: sends and notifications
//! are skipped and succeed, `get_node_id` finds no node, and replication
//! without `send_appendentries` reports an error.

use std::cell::Cell;
use std::ffi::{c_void, CString};
use std::ptr;

use super::entry::CEntry;
use super::server::raft_server_t;
use super::types::*;
use crate::core::{
    self, AppendEntriesRequest, Error, Host, Index, MembershipEvent, Node, NodeId,
    RequestVoteRequest, Result, SnapshotChunk, SnapshotRequest, State, Term, Time, TransferEvent,
    NODE_ID_NONE,
};

/// The C side of a server: its callbacks, called with the server's own handle.
pub struct CHost {
    cbs: Cell<raft_cbs_t>,
    /// The `raft_server_t` passed back to every callback (its udata lives there).
    me: *mut raft_server_t,
    /// The application's own buffer behind the last chunk `get_snapshot_chunk`
    /// returned, as (offset, len, data): `send_snapshot` passes that pointer on
    /// unchanged, since a receiver may keep it beyond the call, as with upstream.
    chunk_data: Cell<Option<(core::Size, core::Size, *mut c_void)>>,
    /// Entry pointer array reused by `send_appendentries` (taken while in
    /// use, so a nested send from a callback just allocates its own).
    ptr_buf: Cell<Vec<*mut raft_entry_t>>,
    /// Calls into the server so far, and removals C code made straight from
    /// its built-in log ([`Host::reentries`]).
    calls: Cell<u64>,
}

/// The `get_entries_to_send` callback, once known to be set.
type GetEntriesFn = unsafe extern "C" fn(
    *mut raft_server_t,
    *mut c_void,
    *mut raft_node_t,
    raft_index_t,
    raft_index_t,
    *mut *mut raft_entry_t,
) -> raft_index_t;

/// Requests with at most this many entries pass their pointers from the stack.
const SMALL_BATCH: usize = 8;

fn node_ptr(n: &Node) -> *mut raft_node_t {
    n as *const Node as *mut raft_node_t
}

impl CHost {
    pub(crate) fn new(me: *mut raft_server_t) -> CHost {
        CHost {
            cbs: Cell::new(raft_cbs_t::default()),
            me,
            chunk_data: Cell::new(None),
            ptr_buf: Cell::new(Vec::new()),
            calls: Cell::new(0),
        }
    }
    pub(crate) fn set_callbacks(&self, cbs: raft_cbs_t) {
        self.entered();
        self.cbs.set(cbs)
    }
    /// An export that may change the server's state is running on it, or C
    /// code removed entries from its built-in log.
    #[inline(always)]
    pub(crate) fn entered(&self) {
        self.calls.set(self.calls.get().wrapping_add(1));
    }
    /// The `get_entries_to_send` callback `f`: up to `max` entries from `idx` into `out`.
    #[inline(never)]
    fn entries_to_send(
        &self,
        f: GetEntriesFn,
        node: &Node,
        idx: Index,
        max: Index,
        out: &mut Vec<CEntry>,
    ) -> Index {
        if max <= 0 {
            return 0;
        }
        let mut buf: Vec<*mut raft_entry_t> = vec![ptr::null_mut(); max as usize];
        let n = unsafe {
            f(
                self.me,
                self.udata(),
                node_ptr(node),
                idx,
                max,
                buf.as_mut_ptr(),
            )
        }
        .clamp(0, max);
        // SAFETY: the callback hands over one reference per entry.
        unsafe { CEntry::extend_owned(out, &buf[..n as usize]) as Index }
    }

    fn cb(&self) -> raft_cbs_t {
        self.cbs.get()
    }
    fn udata(&self) -> *mut c_void {
        // SAFETY: `me` owns this host, so it is live whenever the host is used.
        unsafe { (*self.me).udata() }
    }
}

impl Host<CEntry> for CHost {
    fn leader_id_changed(&self, leader: NodeId) {
        // SAFETY: `me` owns this host, so it is live whenever the host is used.
        unsafe { (*self.me).publish_leader_id(leader) }
    }

    fn msg_id_changed(&self, msg_id: core::MsgId) {
        // SAFETY: as above.
        unsafe { (*self.me).publish_msg_id(msg_id) }
    }

    fn send_requestvote(&self, node: &Node, msg: &RequestVoteRequest) -> Result<()> {
        let Some(f) = self.cb().send_requestvote else {
            return Ok(());
        };
        let mut m = raft_requestvote_req_t::from(msg);
        Error::check(unsafe { f(self.me, self.udata(), node_ptr(node), &mut m) })
    }

    #[inline]
    fn send_appendentries(&self, node: &Node, msg: &AppendEntriesRequest<CEntry>) -> Result<()> {
        let Some(f) = self.cb().send_appendentries else {
            return Err(Error::Callback(-1));
        };
        let n = msg.entries.len();
        if n == 0 {
            return self.send_heartbeat(node, msg);
        }
        // The C array is a copy: the callback may scribble on it without
        // touching the references the request holds.
        if n <= SMALL_BATCH {
            let mut small = [ptr::null_mut(); SMALL_BATCH];
            for (p, e) in small.iter_mut().zip(&msg.entries) {
                *p = e.as_ptr();
            }
            let mut m = raft_appendentries_req_t::view_core(msg, &mut small[..n]);
            return Error::check(unsafe { f(self.me, self.udata(), node_ptr(node), &mut m) });
        }
        let mut ptrs = self.ptr_buf.take();
        let mut m = raft_appendentries_req_t::borrow_core(msg, &mut ptrs);
        let r = unsafe { f(self.me, self.udata(), node_ptr(node), &mut m) };
        // Keep small buffers only: one huge batch should not pin its memory.
        if ptrs.capacity() <= 1024 {
            ptrs.clear();
            self.ptr_buf.set(ptrs);
        }
        Error::check(r)
    }

    /// The C request straight from the core's, inline in the sender.
    #[inline(always)]
    fn send_heartbeat(&self, node: &Node, msg: &AppendEntriesRequest<CEntry>) -> Result<()> {
        let Some(f) = self.cb().send_appendentries else {
            return Err(Error::Callback(-1));
        };
        let mut m = raft_appendentries_req_t {
            leader_id: msg.leader_id,
            msg_id: msg.msg_id,
            term: msg.term,
            prev_log_idx: msg.prev_log_idx,
            prev_log_term: msg.prev_log_term,
            leader_commit: msg.leader_commit,
            n_entries: 0,
            entries: ptr::null_mut(),
        };
        // SAFETY: the user's callback, given our handle and a request that outlives the call.
        match unsafe { f(self.me, self.udata(), node_ptr(node), &mut m) } {
            0 => Ok(()),
            rc => Error::check(rc),
        }
    }

    fn has_send_appendentries(&self) -> bool {
        self.cb().send_appendentries.is_some()
    }

    fn send_snapshot(&self, node: &Node, msg: &SnapshotRequest) -> Result<()> {
        let Some(f) = self.cb().send_snapshot else {
            return Ok(());
        };
        let mut m = raft_snapshot_req_t::borrow_core(msg);
        if let Some((offset, len, data)) = self.chunk_data.take() {
            if offset == m.chunk.offset && len == m.chunk.len {
                m.chunk.data = data;
            }
        }
        Error::check(unsafe { f(self.me, self.udata(), node_ptr(node), &mut m) })
    }

    fn has_send_snapshot(&self) -> bool {
        self.cb().send_snapshot.is_some()
    }

    fn send_timeoutnow(&self, node: &Node) -> Result<()> {
        let Some(f) = self.cb().send_timeoutnow else {
            return Ok(());
        };
        Error::check(unsafe { f(self.me, self.udata(), node_ptr(node)) })
    }

    fn has_send_timeoutnow(&self) -> bool {
        self.cb().send_timeoutnow.is_some()
    }

    fn load_snapshot(&self, term: Term, index: Index) -> Result<()> {
        let Some(f) = self.cb().load_snapshot else {
            return Ok(());
        };
        Error::check(unsafe { f(self.me, self.udata(), term, index) })
    }

    fn get_snapshot_chunk(&self, node: &Node, offset: core::Size) -> Result<SnapshotChunk> {
        let Some(f) = self.cb().get_snapshot_chunk else {
            return Err(Error::Done);
        };
        let mut c = raft_snapshot_chunk_t {
            offset,
            ..Default::default()
        };
        self.chunk_data.set(None);
        Error::check(unsafe { f(self.me, self.udata(), node_ptr(node), offset, &mut c) })?;
        // The chunk's bytes belong to the application; keep a copy.
        let chunk = unsafe { c.to_core() };
        self.chunk_data
            .set(Some((offset, chunk.data.len() as core::Size, c.data)));
        Ok(chunk)
    }

    fn store_snapshot_chunk(
        &self,
        snapshot_index: Index,
        offset: core::Size,
        chunk: &SnapshotChunk,
    ) -> Result<()> {
        let Some(f) = self.cb().store_snapshot_chunk else {
            return Ok(());
        };
        let mut c = raft_snapshot_chunk_t::borrow_core(chunk);
        Error::check(unsafe { f(self.me, self.udata(), snapshot_index, offset, &mut c) })
    }

    fn clear_snapshot(&self) -> Result<()> {
        let Some(f) = self.cb().clear_snapshot else {
            return Ok(());
        };
        Error::check(unsafe { f(self.me, self.udata()) })
    }

    fn apply_entry(&self, entry: &CEntry, idx: Index) -> Result<()> {
        let Some(f) = self.cb().applylog else {
            return Ok(());
        };
        Error::check(unsafe { f(self.me, self.udata(), entry.as_ptr(), idx) })
    }

    fn persist_metadata(&self, term: Term, vote: NodeId) -> Result<()> {
        let Some(f) = self.cb().persist_metadata else {
            return Ok(());
        };
        Error::check(unsafe { f(self.me, self.udata(), term, vote) })
    }

    fn get_node_id(&self, entry: &CEntry, idx: Index) -> NodeId {
        let Some(f) = self.cb().get_node_id else {
            return NODE_ID_NONE;
        };
        unsafe { f(self.me, self.udata(), entry.as_ptr(), idx) }
    }

    fn has_node_has_sufficient_logs(&self) -> bool {
        self.cb().node_has_sufficient_logs.is_some()
    }

    fn node_has_sufficient_logs(&self, node: &Node) -> i32 {
        let Some(f) = self.cb().node_has_sufficient_logs else {
            return 0;
        };
        unsafe { f(self.me, self.udata(), node_ptr(node)) }
    }

    fn notify_membership_event(
        &self,
        node: Option<&Node>,
        entry: Option<&CEntry>,
        event: MembershipEvent,
    ) {
        let Some(f) = self.cb().notify_membership_event else {
            return;
        };
        let n = node.map_or(ptr::null_mut(), node_ptr);
        let e = entry.map_or(ptr::null_mut(), |e| e.as_ptr());
        let ev = match event {
            MembershipEvent::Add => RAFT_MEMBERSHIP_ADD,
            MembershipEvent::Remove => RAFT_MEMBERSHIP_REMOVE,
        };
        unsafe { f(self.me, self.udata(), n, e, ev) }
    }

    fn notify_state_event(&self, state: State) {
        let Some(f) = self.cb().notify_state_event else {
            return;
        };
        unsafe { f(self.me, self.udata(), state.as_raw()) }
    }

    fn notify_transfer_event(&self, event: TransferEvent) {
        let Some(f) = self.cb().notify_transfer_event else {
            return;
        };
        unsafe { f(self.me, self.udata(), event as raft_leader_transfer_e) }
    }

    fn log_enabled(&self) -> bool {
        self.cb().log.is_some()
    }

    fn log(&self, node_id: NodeId, message: &str) {
        let Some(f) = self.cb().log else { return };
        let Ok(s) = CString::new(message.replace('\0', " ")) else {
            return;
        };
        unsafe { f(self.me, node_id, self.udata(), s.as_ptr()) }
    }

    fn backpressure(&self, node: &Node) -> bool {
        let Some(f) = self.cb().backpressure else {
            return false;
        };
        unsafe { f(self.me, self.udata(), node_ptr(node)) != 0 }
    }

    #[inline]
    fn get_entries_to_send(
        &self,
        node: &Node,
        idx: Index,
        max: Index,
        out: &mut Vec<CEntry>,
    ) -> Option<Index> {
        let f = self.cb().get_entries_to_send?;
        Some(self.entries_to_send(f, node, idx, max, out))
    }

    fn timestamp(&self) -> Option<Time> {
        let f = self.cb().timestamp?;
        Some(unsafe { f(self.me, self.udata()) })
    }

    #[inline(always)]
    fn reentries(&self) -> Option<u64> {
        Some(self.calls.get())
    }

    fn random(&self) -> u32 {
        // libc's generator, so programs seeding srand() replay as with upstream.
        unsafe { libc::rand() as u32 }
    }
}
