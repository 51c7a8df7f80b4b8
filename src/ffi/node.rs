//! `raft_node_*`: a `raft_node_t *` points at a [`core::Node`], usually one
//! inside an `Rc<Node>` owned by a server. Nodes keep all state in `Cell`s,
//! so a shared reference is enough for every accessor.
//!
//! NULL is accepted everywhere: getters return 0 (`raft_node_get_id`
//! returns `RAFT_NODE_ID_NONE`, as upstream does) and setters do nothing.

use std::ffi::{c_int, c_void};
use std::rc::Rc;

use super::types::{raft_index_t, raft_msg_id_t, raft_node_id_t, raft_node_t, raft_size_t, RAFT_NODE_ID_NONE};
use crate::core::Node;

/// # Safety
/// `p` must be NULL or point at a live node.
unsafe fn node<'a>(p: *mut raft_node_t) -> Option<&'a Node> {
    p.as_ref()
}

/// A standalone node (not part of any server), voting, `next_idx` 1.
#[no_mangle]
pub extern "C" fn raft_node_new(udata: *mut c_void, id: raft_node_id_t) -> *mut raft_node_t {
    super::boundary::guard(std::ptr::null_mut(), || Rc::into_raw(Rc::new(Node::new(id, udata as usize))) as *mut raft_node_t)
}

/// Free a node made by `raft_node_new`.
///
/// # Safety
/// `me` must be NULL or come from `raft_node_new` and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn raft_node_free(me: *mut raft_node_t) {
    if !me.is_null() {
        drop(Rc::from_raw(me as *const Node));
    }
}

/// Define a getter export: `name(me) -> ty` reading `node.expr`, `default` for NULL.
macro_rules! getter {
    ($(#[$doc:meta])* $name:ident -> $ty:ty, $default:expr, |$n:ident| $body:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `me` must be NULL or a live node.
        #[no_mangle]
        pub unsafe extern "C" fn $name(me: *mut raft_node_t) -> $ty {
            match node(me) {
                Some($n) => $body,
                None => $default,
            }
        }
    };
}

/// Define a setter export: `name(me, v)` running `body` on a non-NULL node.
macro_rules! setter {
    ($(#[$doc:meta])* $name:ident($v:ident: $ty:ty), |$n:ident| $body:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `me` must be NULL or a live node.
        #[no_mangle]
        pub unsafe extern "C" fn $name(me: *mut raft_node_t, $v: $ty) {
            if let Some($n) = node(me) {
                $body
            }
        }
    };
}

getter!(/// The node's id.
    raft_node_get_id -> raft_node_id_t, RAFT_NODE_ID_NONE, |n| n.id());
getter!(/// Index of the next entry to send to this node.
    raft_node_get_next_idx -> raft_index_t, 0, |n| n.next_idx());
setter!(/// Set the next index to send (values below 1 become 1).
    raft_node_set_next_idx(idx: raft_index_t), |n| n.set_next_idx(idx));
getter!(/// Highest index known to be replicated on this node.
    raft_node_get_match_idx -> raft_index_t, 0, |n| n.match_idx());
setter!(/// Set the highest replicated index.
    raft_node_set_match_idx(idx: raft_index_t), |n| n.set_match_idx(idx));
getter!(/// The user's pointer.
    raft_node_get_udata -> *mut c_void, std::ptr::null_mut(), |n| n.user_data() as *mut c_void);
setter!(/// Set the user's pointer.
    raft_node_set_udata(user_data: *mut c_void), |n| n.set_user_data(user_data as usize));
setter!(/// Make the node voting (non-zero) or non-voting.
    raft_node_set_voting(voting: c_int), |n| n.set_voting(voting != 0));
getter!(/// 1 if the node votes.
    raft_node_is_voting -> c_int, 0, |n| n.is_voting() as c_int);
getter!(/// 1 if a non-voting node has caught up with the log.
    raft_node_has_sufficient_logs -> c_int, 0, |n| n.has_sufficient_logs() as c_int);
setter!(/// Mark whether the node has caught up.
    raft_node_set_has_sufficient_logs(has_sufficient_log: c_int), |n| n.set_has_sufficient_logs(has_sufficient_log != 0));
getter!(/// 1 unless the node is being removed.
    raft_node_is_active -> c_int, 0, |n| n.is_active() as c_int);
setter!(/// Mark the node active or inactive.
    raft_node_set_active(active: c_int), |n| n.set_active(active != 0));
getter!(/// 1 once the node's voting status is committed.
    raft_node_is_voting_committed -> c_int, 0, |n| n.is_voting_committed() as c_int);
setter!(/// Mark the node's voting status committed.
    raft_node_set_voting_committed(voting: c_int), |n| n.set_voting_committed(voting != 0));
getter!(/// 1 once the node's addition is committed.
    raft_node_is_addition_committed -> c_int, 0, |n| n.is_addition_committed() as c_int);
setter!(/// Mark the node's addition committed.
    raft_node_set_addition_committed(committed: c_int), |n| n.set_addition_committed(committed != 0));
setter!(/// Record whether the node voted for this server.
    raft_node_vote_for_me(vote: c_int), |n| n.vote_for_me(vote != 0));
getter!(/// 1 if the node voted for this server in the current election.
    raft_node_has_vote_for_me -> c_int, 0, |n| n.has_vote_for_me() as c_int);
setter!(/// Set the id of the last message sent to the node that it acknowledged.
    raft_node_set_match_msgid(msgid: raft_msg_id_t), |n| n.set_match_msgid(msgid));
getter!(/// Id of the last acknowledged message.
    raft_node_get_match_msgid -> raft_msg_id_t, 0, |n| n.match_msgid());
setter!(/// Set the id of the next message to the node.
    raft_node_set_next_msgid(msgid: raft_msg_id_t), |n| n.set_next_msgid(msgid));
getter!(/// Id of the next message to the node.
    raft_node_get_next_msgid -> raft_msg_id_t, 0, |n| n.next_msgid());
setter!(/// Remember `msg_id` if it is the highest seen from the node.
    raft_node_update_max_seen_msg_id(msg_id: raft_msg_id_t), |n| n.update_max_seen_msgid(msg_id));
getter!(/// Highest message id seen from the node.
    raft_node_get_max_seen_msg_id -> raft_msg_id_t, 0, |n| n.max_seen_msgid());
getter!(/// Offset of the next snapshot chunk to send to the node.
    raft_node_get_snapshot_offset -> raft_size_t, 0, |n| n.snapshot_offset());
setter!(/// Set the next snapshot offset.
    raft_node_set_snapshot_offset(snapshot_offset: raft_size_t), |n| n.set_snapshot_offset(snapshot_offset));

/// Reset every flag: not voting, no vote for me, nothing committed.
///
/// # Safety
/// `me` must be NULL or a live node.
#[no_mangle]
pub unsafe extern "C" fn raft_node_clear_flags(me: *mut raft_node_t) {
    if let Some(n) = node(me) {
        n.clear_flags()
    }
}
