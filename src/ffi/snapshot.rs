//! Snapshot exports: taking, sending, receiving, loading and restoring.
//!
//! Like every server export, a NULL or foreign server pointer gives
//! `RAFT_ERR_MISUSE` (or 0 for getters) and a NULL message pointer
//! `RAFT_ERR_MISUSE`; nothing crashes.

use std::ffi::c_int;

use super::server::{node_of, raft_server_t, with};
use super::types::*;
use crate::core::{to_code, NODE_ID_NONE};

const MISUSE: c_int = RAFT_ERR_MISUSE;

/// Start a snapshot: apply everything committed and freeze its index.
/// -1 when there is nothing to compact.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_begin_snapshot(me: *mut raft_server_t) -> c_int {
    with(me, MISUSE, |s| to_code(s.begin_snapshot()))
}

/// Finish the snapshot: compact the log up to it. -1 when none is in progress.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_end_snapshot(me: *mut raft_server_t) -> c_int {
    with(me, MISUSE, |s| to_code(s.end_snapshot()))
}

/// Abandon the snapshot in progress.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_cancel_snapshot(me: *mut raft_server_t) -> c_int {
    with(me, MISUSE, |s| to_code(s.cancel_snapshot()))
}

/// 1 while a snapshot is being taken.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_snapshot_is_in_progress(me: *mut raft_server_t) -> c_int {
    with(me, 0, |s| s.snapshot_is_in_progress() as c_int)
}

/// 1 when committed entries may be applied now.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_is_apply_allowed(me: *mut raft_server_t) -> c_int {
    with(me, 0, |s| s.is_apply_allowed() as c_int)
}

/// How many entries a snapshot taken now would compact.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_get_num_snapshottable_logs(me: *mut raft_server_t) -> raft_index_t {
    with(me, 0, |s| s.num_snapshottable_logs())
}

/// Last index covered by the snapshot.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_get_snapshot_last_idx(me: *mut raft_server_t) -> raft_index_t {
    with(me, 0, |s| s.snapshot_last_idx())
}

/// Term of the last entry covered by the snapshot.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_get_snapshot_last_term(me: *mut raft_server_t) -> raft_term_t {
    with(me, 0, |s| s.snapshot_last_term())
}

/// Set the snapshot's (and the applied) index and term.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_set_snapshot_metadata(
    me: *mut raft_server_t,
    term: raft_term_t,
    idx: raft_index_t,
) {
    with(me, (), |s| s.set_snapshot_metadata(term, idx))
}

/// At restart, adopt the snapshot the application restored.
/// `RAFT_ERR_MISUSE` once the server has any state.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_restore_snapshot(
    me: *mut raft_server_t,
    last_included_term: raft_term_t,
    last_included_index: raft_index_t,
) -> c_int {
    with(me, MISUSE, |s| {
        to_code(s.restore_snapshot(last_included_term, last_included_index))
    })
}

/// Start loading a received snapshot (removes every other node).
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_begin_load_snapshot(
    me: *mut raft_server_t,
    last_included_term: raft_term_t,
    last_included_index: raft_index_t,
) -> c_int {
    with(me, MISUSE, |s| {
        to_code(s.begin_load_snapshot(last_included_term, last_included_index))
    })
}

/// Finish loading; `RAFT_ERR_MISUSE` without `raft_begin_load_snapshot`.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`.
#[no_mangle]
pub unsafe extern "C" fn raft_end_load_snapshot(me: *mut raft_server_t) -> c_int {
    with(me, MISUSE, |s| to_code(s.end_load_snapshot()))
}

/// Handle a snapshot chunk from the leader; `resp` is always filled in.
/// The leader is identified by `req->leader_id`; `node` only labels the log.
///
/// # Safety
/// `me` must be NULL or a server; `req` and `resp` NULL or valid, with
/// `req->chunk.data` valid for `req->chunk.len` bytes.
#[no_mangle]
pub unsafe extern "C" fn raft_recv_snapshot(
    me: *mut raft_server_t,
    node: *mut raft_node_t,
    req: *mut raft_snapshot_req_t,
    resp: *mut raft_snapshot_resp_t,
) -> c_int {
    let (Some(req), false) = (req.as_ref(), resp.is_null()) else {
        return MISUSE;
    };
    with(me, MISUSE, |s| {
        let msg = req.to_core();
        // The load callback may re-enter and remove nodes: no node reference
        // is held across this call, only the id.
        let from = node_of(s, node).map_or(NODE_ID_NONE, |n| n.id());
        let (r, e) = s.recv_snapshot_from(from, &msg);
        resp.write(raft_snapshot_resp_t::from(&r));
        to_code(e)
    })
}

/// Handle a follower's answer to a snapshot chunk. -1 for a node that is not
/// in the configuration.
///
/// # Safety
/// `me` must be NULL or a server; `resp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_recv_snapshot_response(
    me: *mut raft_server_t,
    node: *mut raft_node_t,
    resp: *mut raft_snapshot_resp_t,
) -> c_int {
    let Some(resp) = resp.as_ref() else {
        return MISUSE;
    };
    with(me, MISUSE, |s| {
        let n = node_of(s, node);
        to_code(s.recv_snapshot_response(n.as_deref(), &resp.into()))
    })
}
