//! The `#[repr(C)]` types of `raft.h`, under their C names, and their
//! conversions to and from the core's message structs.
//!
//! Layouts are checked against the ABI contract by `tests/abi_layout.rs`
//! and by `check-abi`. C enums are plain `c_int` typedefs with constants so
//! that any value a C caller passes is representable (a Rust enum would make
//! an unexpected value undefined behaviour).
#![allow(non_camel_case_types)]

use std::ffi::{
    c_char, c_int, c_long, c_longlong, c_short, c_uint, c_ulong, c_ulonglong, c_ushort, c_void,
};

use crate::core;

pub use super::server::raft_server_t;
/// A cluster member (opaque to C; a `crate::core::Node` in Rust).
pub type raft_node_t = core::Node;

pub type raft_entry_id_t = c_int;
pub type raft_term_t = c_long;
pub type raft_index_t = c_long;
pub type raft_size_t = c_ulonglong;
pub type raft_node_id_t = c_int;
pub type raft_msg_id_t = c_ulong;
pub type raft_time_t = c_longlong;

pub const RAFT_NODE_ID_NONE: raft_node_id_t = -1;

pub type raft_error_e = c_int;
pub const RAFT_ERR_NOT_LEADER: raft_error_e = -2;
pub const RAFT_ERR_ONE_VOTING_CHANGE_ONLY: raft_error_e = -3;
pub const RAFT_ERR_SHUTDOWN: raft_error_e = -4;
pub const RAFT_ERR_NOMEM: raft_error_e = -5;
pub const RAFT_ERR_SNAPSHOT_IN_PROGRESS: raft_error_e = -6;
pub const RAFT_ERR_SNAPSHOT_ALREADY_LOADED: raft_error_e = -7;
pub const RAFT_ERR_INVALID_NODEID: raft_error_e = -8;
pub const RAFT_ERR_LEADER_TRANSFER_IN_PROGRESS: raft_error_e = -9;
pub const RAFT_ERR_DONE: raft_error_e = -10;
pub const RAFT_ERR_STALE_TERM: raft_error_e = -11;
pub const RAFT_ERR_NOTFOUND: raft_error_e = -12;
pub const RAFT_ERR_MISUSE: raft_error_e = -13;

pub type raft_membership_e = c_int;
pub const RAFT_MEMBERSHIP_ADD: raft_membership_e = 0;
pub const RAFT_MEMBERSHIP_REMOVE: raft_membership_e = 1;

pub type raft_state_e = c_int;
pub const RAFT_STATE_FOLLOWER: raft_state_e = 1;
pub const RAFT_STATE_PRECANDIDATE: raft_state_e = 2;
pub const RAFT_STATE_CANDIDATE: raft_state_e = 3;
pub const RAFT_STATE_LEADER: raft_state_e = 4;

pub type raft_leader_transfer_e = c_int;
pub const RAFT_LEADER_TRANSFER_TIMEOUT: raft_leader_transfer_e = 0;
pub const RAFT_LEADER_TRANSFER_UNEXPECTED_LEADER: raft_leader_transfer_e = 1;
pub const RAFT_LEADER_TRANSFER_EXPECTED_LEADER: raft_leader_transfer_e = 2;

pub type raft_config_e = c_int;
pub const RAFT_CONFIG_ELECTION_TIMEOUT: raft_config_e = 1;
pub const RAFT_CONFIG_REQUEST_TIMEOUT: raft_config_e = 2;
pub const RAFT_CONFIG_AUTO_FLUSH: raft_config_e = 3;
pub const RAFT_CONFIG_LOG_ENABLED: raft_config_e = 4;
pub const RAFT_CONFIG_NONBLOCKING_APPLY: raft_config_e = 5;
pub const RAFT_CONFIG_DISABLE_APPLY: raft_config_e = 6;

pub type raft_logtype_e = c_int;
pub const RAFT_LOGTYPE_NORMAL: raft_logtype_e = 0;
pub const RAFT_LOGTYPE_ADD_NONVOTING_NODE: raft_logtype_e = 1;
pub const RAFT_LOGTYPE_ADD_NODE: raft_logtype_e = 2;
pub const RAFT_LOGTYPE_REMOVE_NODE: raft_logtype_e = 3;
pub const RAFT_LOGTYPE_NO_OP: raft_logtype_e = 4;
pub const RAFT_LOGTYPE_NUM: raft_logtype_e = 100;

/// A reference-counted log entry; `data_len` payload bytes follow the header.
///
/// cbindgen:field-names=[term, id, type, refs, user_data, free_func, data_len, data]
#[repr(C)]
pub struct raft_entry_t {
    pub term: raft_term_t,
    pub id: raft_entry_id_t,
    pub type_: c_short,
    pub refs: c_ushort,
    pub user_data: *mut c_void,
    pub free_func: Option<unsafe extern "C" fn(entry: *mut raft_entry_t)>,
    pub data_len: c_uint,
    /// Flexible array member (`char data[]`).
    pub data: [c_char; 0],
}

pub type raft_entry_req_t = raft_entry_t;

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct raft_entry_resp_t {
    pub id: raft_entry_id_t,
    pub term: raft_term_t,
    pub idx: raft_index_t,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_snapshot_chunk_t {
    pub offset: raft_size_t,
    pub data: *mut c_void,
    pub len: raft_size_t,
    pub last_chunk: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct raft_requestvote_req_t {
    pub prevote: c_int,
    pub term: raft_term_t,
    pub candidate_id: raft_node_id_t,
    pub last_log_idx: raft_index_t,
    pub last_log_term: raft_term_t,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct raft_requestvote_resp_t {
    pub prevote: c_int,
    pub request_term: raft_term_t,
    pub term: raft_term_t,
    pub vote_granted: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_snapshot_req_t {
    pub term: raft_term_t,
    pub leader_id: raft_node_id_t,
    pub msg_id: raft_msg_id_t,
    pub snapshot_index: raft_index_t,
    pub snapshot_term: raft_term_t,
    pub chunk: raft_snapshot_chunk_t,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct raft_snapshot_resp_t {
    pub msg_id: raft_msg_id_t,
    pub term: raft_term_t,
    pub offset: raft_size_t,
    pub success: c_int,
    pub last_chunk: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct raft_appendentries_req_t {
    pub leader_id: raft_node_id_t,
    pub msg_id: raft_msg_id_t,
    pub term: raft_term_t,
    pub prev_log_idx: raft_index_t,
    pub prev_log_term: raft_term_t,
    pub leader_commit: raft_index_t,
    pub n_entries: raft_index_t,
    pub entries: *mut *mut raft_entry_req_t,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct raft_appendentries_resp_t {
    pub msg_id: raft_msg_id_t,
    pub term: raft_term_t,
    pub success: c_int,
    pub current_idx: raft_index_t,
}

pub type raft_send_requestvote_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
        msg: *mut raft_requestvote_req_t,
    ) -> c_int,
>;
pub type raft_send_appendentries_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
        msg: *mut raft_appendentries_req_t,
    ) -> c_int,
>;
pub type raft_send_snapshot_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
        msg: *mut raft_snapshot_req_t,
    ) -> c_int,
>;
pub type raft_load_snapshot_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        snapshot_term: raft_term_t,
        snapshot_index: raft_index_t,
    ) -> c_int,
>;
pub type raft_get_snapshot_chunk_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
        offset: raft_size_t,
        chunk: *mut raft_snapshot_chunk_t,
    ) -> c_int,
>;
pub type raft_store_snapshot_chunk_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        snapshot_index: raft_index_t,
        offset: raft_size_t,
        chunk: *mut raft_snapshot_chunk_t,
    ) -> c_int,
>;
pub type raft_clear_snapshot_f =
    Option<unsafe extern "C" fn(raft: *mut raft_server_t, user_data: *mut c_void) -> c_int>;
pub type raft_node_has_sufficient_logs_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
    ) -> c_int,
>;
pub type raft_log_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        node_id: raft_node_id_t,
        user_data: *mut c_void,
        buf: *const c_char,
    ),
>;
pub type raft_persist_metadata_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        term: raft_term_t,
        vote: raft_node_id_t,
    ) -> c_int,
>;
pub type raft_logentry_event_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        entry: *mut raft_entry_t,
        entry_idx: raft_index_t,
    ) -> c_int,
>;
pub type raft_get_node_id_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        entry: *mut raft_entry_t,
        entry_idx: raft_index_t,
    ) -> raft_node_id_t,
>;
pub type raft_membership_event_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
        entry: *mut raft_entry_t,
        event: raft_membership_e,
    ),
>;
pub type raft_state_event_f = Option<
    unsafe extern "C" fn(raft: *mut raft_server_t, user_data: *mut c_void, state: raft_state_e),
>;
pub type raft_transfer_event_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        result: raft_leader_transfer_e,
    ),
>;
pub type raft_send_timeoutnow_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
    ) -> c_int,
>;
pub type raft_backpressure_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
    ) -> c_int,
>;
pub type raft_get_entries_to_send_f = Option<
    unsafe extern "C" fn(
        raft: *mut raft_server_t,
        user_data: *mut c_void,
        node: *mut raft_node_t,
        idx: raft_index_t,
        entries_n: raft_index_t,
        entries: *mut *mut raft_entry_t,
    ) -> raft_index_t,
>;
pub type raft_timestamp_f =
    Option<unsafe extern "C" fn(raft: *mut raft_server_t, user_data: *mut c_void) -> raft_time_t>;
pub type raft_entry_notify_f = Option<
    unsafe extern "C" fn(arg: *mut c_void, entry: *mut raft_entry_t, entry_idx: raft_index_t),
>;
pub type raft_read_request_callback_f =
    Option<unsafe extern "C" fn(arg: *mut c_void, can_read: c_int)>;

/// The callbacks a server makes into the application.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct raft_cbs_t {
    pub send_requestvote: raft_send_requestvote_f,
    pub send_appendentries: raft_send_appendentries_f,
    pub send_snapshot: raft_send_snapshot_f,
    pub load_snapshot: raft_load_snapshot_f,
    pub get_snapshot_chunk: raft_get_snapshot_chunk_f,
    pub store_snapshot_chunk: raft_store_snapshot_chunk_f,
    pub clear_snapshot: raft_clear_snapshot_f,
    pub applylog: raft_logentry_event_f,
    pub persist_metadata: raft_persist_metadata_f,
    pub get_node_id: raft_get_node_id_f,
    pub node_has_sufficient_logs: raft_node_has_sufficient_logs_f,
    pub notify_membership_event: raft_membership_event_f,
    pub notify_state_event: raft_state_event_f,
    pub notify_transfer_event: raft_transfer_event_f,
    pub log: raft_log_f,
    pub send_timeoutnow: raft_send_timeoutnow_f,
    pub backpressure: raft_backpressure_f,
    pub get_entries_to_send: raft_get_entries_to_send_f,
    pub timestamp: raft_timestamp_f,
}

/// A log storage engine: the server calls these instead of its built-in log.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct raft_log_impl_t {
    pub init: Option<unsafe extern "C" fn(raft: *mut c_void, arg: *mut c_void) -> *mut c_void>,
    pub free: Option<unsafe extern "C" fn(log: *mut c_void)>,
    pub reset:
        Option<unsafe extern "C" fn(log: *mut c_void, first_idx: raft_index_t, term: raft_term_t)>,
    pub append: Option<unsafe extern "C" fn(log: *mut c_void, entry: *mut raft_entry_t) -> c_int>,
    pub poll: Option<unsafe extern "C" fn(log: *mut c_void, first_idx: raft_index_t) -> c_int>,
    pub pop: Option<
        unsafe extern "C" fn(
            log: *mut c_void,
            from_idx: raft_index_t,
            cb: raft_entry_notify_f,
            cb_arg: *mut c_void,
        ) -> c_int,
    >,
    pub get: Option<unsafe extern "C" fn(log: *mut c_void, idx: raft_index_t) -> *mut raft_entry_t>,
    pub get_batch: Option<
        unsafe extern "C" fn(
            log: *mut c_void,
            idx: raft_index_t,
            entries_n: raft_index_t,
            entries: *mut *mut raft_entry_t,
        ) -> raft_index_t,
    >,
    pub first_idx: Option<unsafe extern "C" fn(log: *mut c_void) -> raft_index_t>,
    pub current_idx: Option<unsafe extern "C" fn(log: *mut c_void) -> raft_index_t>,
    pub count: Option<unsafe extern "C" fn(log: *mut c_void) -> raft_index_t>,
    pub sync: Option<unsafe extern "C" fn(log: *mut c_void) -> c_int>,
}

/// The older per-event hooks of the built-in log.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct raft_log_cbs_t {
    pub log_offer: raft_logentry_event_f,
    pub log_poll: raft_logentry_event_f,
    pub log_pop: raft_logentry_event_f,
    pub log_clear: raft_logentry_event_f,
}

// ---- conversions between C messages and core messages ----

impl From<&raft_requestvote_req_t> for core::RequestVoteRequest {
    fn from(m: &raft_requestvote_req_t) -> Self {
        core::RequestVoteRequest {
            prevote: m.prevote != 0,
            term: m.term,
            candidate_id: m.candidate_id,
            last_log_idx: m.last_log_idx,
            last_log_term: m.last_log_term,
        }
    }
}

impl From<&core::RequestVoteRequest> for raft_requestvote_req_t {
    fn from(m: &core::RequestVoteRequest) -> Self {
        raft_requestvote_req_t {
            prevote: m.prevote as c_int,
            term: m.term,
            candidate_id: m.candidate_id,
            last_log_idx: m.last_log_idx,
            last_log_term: m.last_log_term,
        }
    }
}

impl From<&raft_requestvote_resp_t> for core::RequestVoteResponse {
    fn from(m: &raft_requestvote_resp_t) -> Self {
        core::RequestVoteResponse {
            prevote: m.prevote != 0,
            request_term: m.request_term,
            term: m.term,
            vote_granted: m.vote_granted != 0,
        }
    }
}

impl From<&core::RequestVoteResponse> for raft_requestvote_resp_t {
    fn from(m: &core::RequestVoteResponse) -> Self {
        raft_requestvote_resp_t {
            prevote: m.prevote as c_int,
            request_term: m.request_term,
            term: m.term,
            vote_granted: m.vote_granted as c_int,
        }
    }
}

impl From<&raft_appendentries_resp_t> for core::AppendEntriesResponse {
    fn from(m: &raft_appendentries_resp_t) -> Self {
        core::AppendEntriesResponse {
            msg_id: m.msg_id,
            term: m.term,
            success: m.success != 0,
            current_idx: m.current_idx,
        }
    }
}

impl From<&core::AppendEntriesResponse> for raft_appendentries_resp_t {
    fn from(m: &core::AppendEntriesResponse) -> Self {
        raft_appendentries_resp_t {
            msg_id: m.msg_id,
            term: m.term,
            success: m.success as c_int,
            current_idx: m.current_idx,
        }
    }
}

impl From<&raft_snapshot_resp_t> for core::SnapshotResponse {
    fn from(m: &raft_snapshot_resp_t) -> Self {
        core::SnapshotResponse {
            msg_id: m.msg_id,
            term: m.term,
            offset: m.offset,
            success: m.success != 0,
            last_chunk: m.last_chunk != 0,
        }
    }
}

impl From<&core::SnapshotResponse> for raft_snapshot_resp_t {
    fn from(m: &core::SnapshotResponse) -> Self {
        raft_snapshot_resp_t {
            msg_id: m.msg_id,
            term: m.term,
            offset: m.offset,
            success: m.success as c_int,
            last_chunk: m.last_chunk as c_int,
        }
    }
}

impl From<&core::EntryResponse> for raft_entry_resp_t {
    fn from(m: &core::EntryResponse) -> Self {
        raft_entry_resp_t {
            id: m.id,
            term: m.term,
            idx: m.idx,
        }
    }
}

impl From<&raft_entry_resp_t> for core::EntryResponse {
    fn from(m: &raft_entry_resp_t) -> Self {
        core::EntryResponse {
            id: m.id,
            term: m.term,
            idx: m.idx,
        }
    }
}

impl Default for raft_snapshot_chunk_t {
    fn default() -> Self {
        raft_snapshot_chunk_t {
            offset: 0,
            data: std::ptr::null_mut(),
            len: 0,
            last_chunk: 0,
        }
    }
}

impl raft_snapshot_chunk_t {
    /// Copy the chunk's bytes into a core chunk. A NULL `data` or a length
    /// that does not fit the address space yields an empty payload.
    ///
    /// # Safety
    /// `data` must be NULL or valid for `len` bytes.
    pub unsafe fn to_core(&self) -> core::SnapshotChunk {
        let data = match usize::try_from(self.len) {
            Ok(n) if n > 0 && !self.data.is_null() => {
                std::slice::from_raw_parts(self.data as *const u8, n).to_vec()
            }
            _ => Vec::new(),
        };
        core::SnapshotChunk {
            offset: self.offset,
            data,
            last_chunk: self.last_chunk != 0,
        }
    }

    /// A C view of a core chunk; the pointer borrows `c.data`, which must
    /// outlive the returned value's use.
    pub fn borrow_core(c: &core::SnapshotChunk) -> Self {
        raft_snapshot_chunk_t {
            offset: c.offset,
            data: c.data.as_ptr() as *mut c_void,
            len: c.data.len() as raft_size_t,
            last_chunk: c.last_chunk as c_int,
        }
    }
}

impl raft_snapshot_req_t {
    /// # Safety
    /// `chunk.data` must be NULL or valid for `chunk.len` bytes.
    pub unsafe fn to_core(&self) -> core::SnapshotRequest {
        core::SnapshotRequest {
            term: self.term,
            leader_id: self.leader_id,
            msg_id: self.msg_id,
            snapshot_index: self.snapshot_index,
            snapshot_term: self.snapshot_term,
            chunk: self.chunk.to_core(),
        }
    }

    /// A C view of a core request; its chunk borrows `m.chunk.data`.
    pub fn borrow_core(m: &core::SnapshotRequest) -> Self {
        raft_snapshot_req_t {
            term: m.term,
            leader_id: m.leader_id,
            msg_id: m.msg_id,
            snapshot_index: m.snapshot_index,
            snapshot_term: m.snapshot_term,
            chunk: raft_snapshot_chunk_t::borrow_core(&m.chunk),
        }
    }
}

impl raft_appendentries_req_t {
    /// Convert to a core request. Each entry is held (the caller keeps its
    /// own references, as the C API requires). NULL entries are skipped and a
    /// NULL array or a negative count means "no entries".
    ///
    /// # Safety
    /// `entries` must be NULL or valid for `n_entries` pointers, each NULL or
    /// a live `raft_entry_t`.
    pub unsafe fn to_core(&self) -> core::AppendEntriesRequest<super::entry::CEntry> {
        let mut entries = Vec::new();
        if !self.entries.is_null() && self.n_entries > 0 {
            entries.reserve_exact(self.n_entries as usize);
            for &p in std::slice::from_raw_parts(self.entries, self.n_entries as usize) {
                if let Some(e) = super::entry::CEntry::from_borrowed(p) {
                    entries.push(e);
                }
            }
        }
        core::AppendEntriesRequest {
            entries,
            ..self.header_to_core()
        }
    }

    /// The entries as handles borrowed from the C array (no counts touched:
    /// the caller's references keep them alive for the call); `None` when the
    /// array holds a NULL, which [`Self::to_core`] skips.
    ///
    /// # Safety
    /// As for [`Self::to_core`]; the slice must not outlive the call.
    pub unsafe fn borrow_entries<'a>(&self) -> Option<&'a [super::entry::CEntry]> {
        if self.entries.is_null() || self.n_entries <= 0 {
            return Some(&[]);
        }
        let n = self.n_entries as usize;
        let ptrs = std::slice::from_raw_parts(self.entries as *const *mut raft_entry_t, n);
        // No early exit: a NULL is rare, and the whole array is checked in
        // vector steps.
        if ptrs.iter().fold(false, |z, p| z | p.is_null()) {
            return None;
        }
        // SAFETY: CEntry is a transparent non-null entry pointer, and none is NULL.
        Some(std::slice::from_raw_parts(
            self.entries as *const super::entry::CEntry,
            n,
        ))
    }

    /// The request without its entries.
    pub fn header_to_core(&self) -> core::AppendEntriesRequest<super::entry::CEntry> {
        core::AppendEntriesRequest {
            leader_id: self.leader_id,
            msg_id: self.msg_id,
            term: self.term,
            prev_log_idx: self.prev_log_idx,
            prev_log_term: self.prev_log_term,
            leader_commit: self.leader_commit,
            entries: Vec::new(),
        }
    }

    /// A C view of a core request. `ptrs` receives the entry pointers and
    /// must outlive the returned value's use; no references are taken (the
    /// request keeps the entries alive).
    pub fn borrow_core(
        m: &core::AppendEntriesRequest<super::entry::CEntry>,
        ptrs: &mut Vec<*mut raft_entry_t>,
    ) -> Self {
        ptrs.clear();
        ptrs.extend(m.entries.iter().map(|e| e.as_ptr()));
        Self::view_core(m, ptrs)
    }

    /// A C view of a core request whose entry pointers are `ptrs` (which
    /// must outlive the view's use; empty gives NULL).
    pub fn view_core(
        m: &core::AppendEntriesRequest<super::entry::CEntry>,
        ptrs: &mut [*mut raft_entry_t],
    ) -> Self {
        raft_appendentries_req_t {
            leader_id: m.leader_id,
            msg_id: m.msg_id,
            term: m.term,
            prev_log_idx: m.prev_log_idx,
            prev_log_term: m.prev_log_term,
            leader_commit: m.leader_commit,
            n_entries: ptrs.len() as raft_index_t,
            entries: if ptrs.is_empty() {
                std::ptr::null_mut()
            } else {
                ptrs.as_mut_ptr()
            },
        }
    }
}
