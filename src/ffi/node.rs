//! `raft_node_*`: a `raft_node_t *` points at a [`crate::core::Node`], usually one
//! inside an `Rc<Node>` owned by a server. Nodes keep all state in `Cell`s,
//! so a shared reference is enough for every accessor.
//!
//! Written out one by one (no macros) so that cbindgen sees every export.
//! NULL is accepted everywhere: getters return 0 (`raft_node_get_id`
//! returns `RAFT_NODE_ID_NONE`, as upstream does) and setters do nothing.

use std::ffi::{c_int, c_void};
use std::rc::Rc;

use super::boundary::with_ref;
use super::types::{
    raft_index_t, raft_msg_id_t, raft_node_id_t, raft_node_t, raft_size_t, RAFT_NODE_ID_NONE,
};
use crate::core::Node;

/// A standalone node (not part of any server), voting, `next_idx` 1.
#[no_mangle]
pub extern "C" fn raft_node_new(udata: *mut c_void, id: raft_node_id_t) -> *mut raft_node_t {
    super::boundary::guard(std::ptr::null_mut(), || {
        Rc::into_raw(Rc::new(Node::new(id, udata as usize))) as *mut raft_node_t
    })
}

/// Free a node made by `raft_node_new`.
///
/// # Safety
/// `me` must be NULL or come from `raft_node_new` and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn raft_node_free(me: *mut raft_node_t) {
    super::boundary::guard((), || {
        if !me.is_null() {
            drop(Rc::from_raw(me as *const Node));
        }
    })
}

/// The node's id.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_get_id(me: *mut raft_node_t) -> raft_node_id_t {
    with_ref(me, RAFT_NODE_ID_NONE, |n| n.id())
}

/// Index of the next entry to send to this node.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_get_next_idx(me: *mut raft_node_t) -> raft_index_t {
    with_ref(me, 0, |n| n.next_idx())
}

/// Set the next index to send (values below 1 become 1).
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_next_idx(me: *mut raft_node_t, idx: raft_index_t) {
    with_ref(me, (), |n| n.set_next_idx(idx))
}

/// Highest index known to be replicated on this node.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_get_match_idx(me: *mut raft_node_t) -> raft_index_t {
    with_ref(me, 0, |n| n.match_idx())
}

/// Set the highest replicated index.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_match_idx(me: *mut raft_node_t, idx: raft_index_t) {
    with_ref(me, (), |n| n.set_match_idx(idx))
}

/// The user's pointer.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_get_udata(me: *mut raft_node_t) -> *mut c_void {
    with_ref(me, std::ptr::null_mut(), |n| n.user_data() as *mut c_void)
}

/// Set the user's pointer.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_udata(me: *mut raft_node_t, user_data: *mut c_void) {
    with_ref(me, (), |n| n.set_user_data(user_data as usize))
}

/// Make the node voting (non-zero) or non-voting.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_voting(me: *mut raft_node_t, voting: c_int) {
    with_ref(me, (), |n| n.set_voting(voting != 0))
}

/// 1 if the node votes.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_is_voting(me: *mut raft_node_t) -> c_int {
    with_ref(me, 0, |n| n.is_voting() as c_int)
}

/// 1 if a non-voting node has caught up with the log.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_has_sufficient_logs(me: *mut raft_node_t) -> c_int {
    with_ref(me, 0, |n| n.has_sufficient_logs() as c_int)
}

/// Mark whether the node has caught up.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_has_sufficient_logs(
    me: *mut raft_node_t,
    has_sufficient_log: c_int,
) {
    with_ref(me, (), |n| {
        n.set_has_sufficient_logs(has_sufficient_log != 0)
    })
}

/// 1 unless the node is being removed.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_is_active(me: *mut raft_node_t) -> c_int {
    with_ref(me, 0, |n| n.is_active() as c_int)
}

/// Mark the node active or inactive.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_active(me: *mut raft_node_t, active: c_int) {
    with_ref(me, (), |n| n.set_active(active != 0))
}

/// 1 once the node's voting status is committed.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_is_voting_committed(me: *mut raft_node_t) -> c_int {
    with_ref(me, 0, |n| n.is_voting_committed() as c_int)
}

/// Mark the node's voting status committed.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_voting_committed(me: *mut raft_node_t, voting: c_int) {
    with_ref(me, (), |n| n.set_voting_committed(voting != 0))
}

/// 1 once the node's addition is committed.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_is_addition_committed(me: *mut raft_node_t) -> c_int {
    with_ref(me, 0, |n| n.is_addition_committed() as c_int)
}

/// Mark the node's addition committed.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_addition_committed(me: *mut raft_node_t, committed: c_int) {
    with_ref(me, (), |n| n.set_addition_committed(committed != 0))
}

/// Record whether the node voted for this server.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_vote_for_me(me: *mut raft_node_t, vote: c_int) {
    with_ref(me, (), |n| n.vote_for_me(vote != 0))
}

/// 1 if the node voted for this server in the current election.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_has_vote_for_me(me: *mut raft_node_t) -> c_int {
    with_ref(me, 0, |n| n.has_vote_for_me() as c_int)
}

/// Set the id of the last message sent to the node that it acknowledged.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_match_msgid(me: *mut raft_node_t, msgid: raft_msg_id_t) {
    with_ref(me, (), |n| n.set_match_msgid(msgid))
}

/// Id of the last acknowledged message.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_get_match_msgid(me: *mut raft_node_t) -> raft_msg_id_t {
    with_ref(me, 0, |n| n.match_msgid())
}

/// Set the id of the next message to the node.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_next_msgid(me: *mut raft_node_t, msgid: raft_msg_id_t) {
    with_ref(me, (), |n| n.set_next_msgid(msgid))
}

/// Id of the next message to the node.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_get_next_msgid(me: *mut raft_node_t) -> raft_msg_id_t {
    with_ref(me, 0, |n| n.next_msgid())
}

/// Remember `msg_id` if it is the highest seen from the node.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_update_max_seen_msg_id(
    me: *mut raft_node_t,
    msg_id: raft_msg_id_t,
) {
    with_ref(me, (), |n| n.update_max_seen_msgid(msg_id))
}

/// Highest message id seen from the node.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_get_max_seen_msg_id(me: *mut raft_node_t) -> raft_msg_id_t {
    with_ref(me, 0, |n| n.max_seen_msgid())
}

/// Offset of the next snapshot chunk to send to the node.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_get_snapshot_offset(me: *mut raft_node_t) -> raft_size_t {
    with_ref(me, 0, |n| n.snapshot_offset())
}

/// Set the next snapshot offset.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_set_snapshot_offset(
    me: *mut raft_node_t,
    snapshot_offset: raft_size_t,
) {
    with_ref(me, (), |n| n.set_snapshot_offset(snapshot_offset))
}

/// Reset every flag: not voting, no vote for me, nothing committed.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_clear_flags(me: *mut raft_node_t) {
    with_ref(me, (), |n| n.clear_flags())
}
