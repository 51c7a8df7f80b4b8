//! `raft_server_t` and the server exports.
//!
//! A `raft_server_t` starts with a magic number so that functions handed an
//! arbitrary pointer (e.g. `raft_get_udata` from the internal log's hooks)
//! can tell a live server from anything else; `raft_destroy` clears it.
//! Every export runs inside [`guard`]; a NULL or foreign server pointer gives
//! `RAFT_ERR_MISUSE`, NULL or 0 instead of a crash. Node pointers are only
//! trusted when they belong to the server.
#![allow(non_camel_case_types)]

use std::cell::{Cell, OnceCell};
use std::ffi::{c_char, c_int, c_long, c_void};
use std::mem::ManuallyDrop;
use std::ptr;
use std::rc::Rc;

use super::boundary::guard;
use super::callbacks::CHost;
use super::entry::CEntry;
use super::heap;
use super::log::{raft_log_internal_impl, VtableLog};
use super::types::*;
use crate::core::{self, to_code, Node, Server, State};

/// Marks a live `raft_server_t`.
pub(crate) const SERVER_MAGIC: u64 = 0x7261_6674_2d72_7321; // "raft-rs!"

/// The server as the C layer instantiates it.
pub type CServer = Server<CEntry, VtableLog, CHost>;

/// The server handle C code holds (opaque to C).
pub struct raft_server_t(Fields);

/// `repr(C)` keeps the magic at offset 0, where `handle` looks for it, and puts
/// the four fields of upstream's private `struct raft_server` that C code (its
/// own tests among them) touches directly at upstream's offsets: `log_impl`,
/// `log`, `leader_id` and `msg_id` (see `raft_private.h`). The outermost call
/// on a server takes in a `leader_id` that C wrote; the core's changes reach
/// them through the host's hooks as they happen.
#[repr(C)]
pub struct Fields {
    magic: Cell<u64>,
    /// The user's pointer passed to `raft_set_callbacks`.
    udata: Cell<*mut c_void>,
    /// Upstream's `log_impl` and `log` (offsets 16 and 24): fixed at creation.
    log_impl: Cell<*const raft_log_impl_t>,
    log: Cell<*mut c_void>,
    /// How many exports are running on this server (callbacks nest them).
    depth: Cell<u32>,
    /// `raft_destroy` was called from inside a callback: free on the way out.
    doomed: Cell<bool>,
    _upstream_gap1: [u8; 91],
    /// Upstream's `leader_id` (offset 128): the core's, unless C wrote it since.
    leader_id: Cell<raft_node_id_t>,
    _upstream_gap2: [u8; 236],
    /// Upstream's `msg_id` (offset 368), as last published.
    msg_id: Cell<raft_msg_id_t>,
    /// Set once the log's `init` returned (it receives this handle first).
    server: OnceCell<CServer>,
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Fields, log_impl) == 16);
    assert!(offset_of!(Fields, log) == 24);
    assert!(offset_of!(Fields, leader_id) == 128);
    assert!(offset_of!(Fields, msg_id) == 368);
};

impl std::ops::Deref for raft_server_t {
    type Target = Fields;
    fn deref(&self) -> &Fields {
        &self.0
    }
}

impl raft_server_t {
    pub(crate) fn udata(&self) -> *mut c_void {
        self.udata.get()
    }

    /// Take in a `leader_id` that C code wrote into the handle since the last call.
    #[inline]
    fn adopt_private_writes(&self, s: &CServer) {
        // The host's hook keeps the mirror equal to the core's value, so a
        // difference was written by C.
        let written = self.leader_id.get();
        if written != s.leader_id.get() {
            s.leader_id.set(written);
        }
    }

    /// Mirror the core's leader id at upstream's offset (the host's hook).
    #[inline]
    pub(crate) fn publish_leader_id(&self, id: raft_node_id_t) {
        self.leader_id.set(id);
    }

    /// Mirror the core's message id at upstream's offset (the host's hook).
    #[inline]
    pub(crate) fn publish_msg_id(&self, id: raft_msg_id_t) {
        self.msg_id.set(id);
    }
}

/// The handle behind `me`, or `None` for NULL or a pointer that is not a live server.
///
/// The magic is compared byte by byte and the comparison stops at the first
/// mismatch, so a foreign pointer (upstream's tests pass an `int *` or a
/// `CuTest *` to the log hooks) is typically read for one byte only.
///
/// # Safety
/// `me` must be NULL or point to readable memory up to the first byte that
/// differs from the magic (all of a live server), rounded up to 4 bytes, or to
/// 8 when the first two bytes match.
pub(crate) unsafe fn handle<'a>(me: *mut raft_server_t) -> Option<&'a raft_server_t> {
    if me.is_null() {
        return None;
    }
    // Every export goes through here, so compare in widening steps (1, 1, 2,
    // 4 bytes) rather than byte by byte. A foreign pointer is read past its
    // first differing byte only once its first two bytes already match.
    let bytes = me as *const u8;
    let m = SERVER_MAGIC.to_ne_bytes();
    let same = ptr::read_volatile(bytes) == m[0]
        && ptr::read_volatile(bytes.add(1)) == m[1]
        && ptr::read_unaligned(bytes.add(2) as *const [u8; 2]) == [m[2], m[3]]
        && ptr::read_unaligned(bytes.add(4) as *const [u8; 4]) == [m[4], m[5], m[6], m[7]];
    if same {
        Some(&*me)
    } else {
        None
    }
}

/// The server behind `me` (see [`handle`]), once fully constructed.
///
/// # Safety
/// As for [`handle`].
pub(crate) unsafe fn server<'a>(me: *mut raft_server_t) -> Option<&'a CServer> {
    handle(me)?.server.get()
}

/// The server's own `Rc` of the node `p` points at, if `p` is one of its nodes.
#[inline]
pub(crate) fn node_of(s: &CServer, p: *mut raft_node_t) -> Option<Rc<Node>> {
    s.node_by_addr(p as usize)
}

fn node_ptr(n: Option<Rc<Node>>) -> *mut raft_node_t {
    // The server keeps its own Rc, so the pointer stays valid until removal.
    n.map_or(ptr::null_mut(), |n| Rc::as_ptr(&n) as *mut raft_node_t)
}

/// The handle behind `me` for exports whose contract is "NULL or a server":
/// one aligned 8-byte compare of the magic (the byte-wise [`handle`] is for
/// `raft_get_udata`, which the log hooks may hand any pointer).
///
/// # Safety
/// `me` must be NULL or point to at least 8 readable, 8-aligned bytes.
#[inline(always)]
unsafe fn live<'a>(me: *mut raft_server_t) -> Option<&'a raft_server_t> {
    if me.is_null() || (me as usize) & 7 != 0 {
        return None;
    }
    let h = &*me;
    (h.magic.get() == SERVER_MAGIC).then_some(h)
}

/// The live handle behind `me` and its constructed server, if both exist.
///
/// # Safety
/// As for [`live`].
#[inline(always)]
unsafe fn checked<'a>(me: *mut raft_server_t) -> Option<(&'a raft_server_t, &'a CServer)> {
    let h = live(me)?;
    Some((h, h.server.get()?))
}

/// Run `f` on the server behind `me` inside the panic guard; `default` for a bad pointer.
#[inline(always)]
pub(crate) unsafe fn with<T>(
    me: *mut raft_server_t,
    default: T,
    f: impl FnOnce(&CServer) -> T,
) -> T {
    let Some((h, s)) = checked(me) else {
        return default;
    };
    s.host().entered();
    nested(me, h, s, default, f)
}

/// [`with`] for a body that never reaches a callback and does not read the
/// leader id (plain reads of the server's own state): nothing can destroy
/// the server meanwhile, so the nesting bookkeeping is skipped, and a
/// `leader_id` C wrote is left for the next full call to take in.
#[inline(always)]
pub(crate) unsafe fn with_leaf<T>(
    me: *mut raft_server_t,
    default: T,
    f: impl FnOnce(&CServer) -> T,
) -> T {
    match checked(me) {
        Some((_, s)) => guard(default, || f(s)),
        None => default,
    }
}

/// An export with a common case that needs no callback: `fast` answers it
/// (`Some`) or declines, and `slow` then runs as under [`with`], out of
/// line, so the common case pays one server check and no nesting
/// bookkeeping. `fast` must not read the leader id (see [`with_leaf`]).
#[inline(always)]
pub(crate) unsafe fn with_fast<T: Copy>(
    me: *mut raft_server_t,
    default: T,
    fast: impl FnOnce(&CServer) -> Option<T>,
    slow: impl FnOnce(&CServer) -> T,
) -> T {
    let Some((h, s)) = checked(me) else {
        return default;
    };
    // Counted once for both paths: the fast one may change state too.
    s.host().entered();
    if let Some(v) = guard(None, || fast(s)) {
        return v;
    }
    enter(me, h, s, default, slow)
}

/// [`nested`] out of line (the slow path of [`with_fast`]).
#[inline(never)]
unsafe fn enter<T>(
    me: *mut raft_server_t,
    h: &raft_server_t,
    s: &CServer,
    default: T,
    f: impl FnOnce(&CServer) -> T,
) -> T {
    nested(me, h, s, default, f)
}

/// The bookkeeping of a full call, after the caller counted it for the
/// batched apply's re-entry check (`Host::reentries`): take in a
/// `leader_id` C wrote (outermost call only), track the nesting depth, and
/// free a server destroyed from a callback once the outermost call returns.
#[inline(always)]
unsafe fn nested<T>(
    me: *mut raft_server_t,
    h: &raft_server_t,
    s: &CServer,
    default: T,
    f: impl FnOnce(&CServer) -> T,
) -> T {
    let depth = h.depth.get();
    if depth == 0 {
        h.adopt_private_writes(s);
    }
    h.depth.set(depth + 1);
    let r = guard(default, || f(s));
    h.depth.set(depth);
    if depth == 0 && h.doomed.get() {
        destroy_now(me);
    }
    r
}

/// Answer queued reads with `can_read = 0`, then free everything.
///
/// # Safety
/// `me` must be a server no export is running on.
unsafe fn destroy_now(me: *mut raft_server_t) {
    let h = &*me;
    if let Some(s) = h.server.get() {
        h.depth.set(h.depth.get() + 1);
        guard((), || s.fail_reads());
    }
    h.magic.set(0);
    guard((), || drop(Box::from_raw(me)));
}

/// Define exports that take only the server and return a value. A body
/// marked `leaf` only reads the server's own state (no log, no callback)
/// and runs through [`with_leaf`].
macro_rules! getters {
    () => {};
    ($(#[$doc:meta])* $name:ident -> $ty:ty = $default:expr, leaf |$s:ident| $body:expr; $($rest:tt)*) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `me` must be NULL or a server from `raft_new*`.
        #[no_mangle]
        pub unsafe extern "C" fn $name(me: *mut raft_server_t) -> $ty {
            with_leaf(me, $default, |$s| $body)
        }
        getters!($($rest)*);
    };
    ($(#[$doc:meta])* $name:ident -> $ty:ty = $default:expr, |$s:ident| $body:expr; $($rest:tt)*) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `me` must be NULL or a server from `raft_new*`.
        #[no_mangle]
        pub unsafe extern "C" fn $name(me: *mut raft_server_t) -> $ty {
            with(me, $default, |$s| $body)
        }
        getters!($($rest)*);
    };
}

const MISUSE: c_int = RAFT_ERR_MISUSE;

/// A new server over the built-in in-memory log.
#[no_mangle]
pub extern "C" fn raft_new() -> *mut raft_server_t {
    unsafe { raft_new_with_log(&raft_log_internal_impl, ptr::null_mut()) }
}

/// A new server over `log_impl`, whose `init(server, log_arg)` creates the
/// log. NULL when `log_impl` is NULL or `init` returns NULL.
///
/// # Safety
/// `log_impl` must be NULL or a valid vtable accepting `log_arg`.
#[no_mangle]
pub unsafe extern "C" fn raft_new_with_log(
    log_impl: *const raft_log_impl_t,
    log_arg: *mut c_void,
) -> *mut raft_server_t {
    guard(ptr::null_mut(), || {
        if log_impl.is_null() {
            return ptr::null_mut();
        }
        let me = Box::into_raw(Box::new(raft_server_t(Fields {
            magic: Cell::new(SERVER_MAGIC),
            udata: Cell::new(ptr::null_mut()),
            log_impl: Cell::new(log_impl),
            log: Cell::new(ptr::null_mut()),
            depth: Cell::new(0),
            doomed: Cell::new(false),
            _upstream_gap1: [0; 91],
            leader_id: Cell::new(RAFT_NODE_ID_NONE),
            _upstream_gap2: [0; 236],
            msg_id: Cell::new(0),
            server: OnceCell::new(),
        })));
        let log = match VtableLog::new(log_impl, me, log_arg) {
            Some(log) if !log.handle().is_null() => log,
            other => {
                // init failed: nothing to free, as upstream.
                std::mem::forget(other);
                (&*me).magic.set(0);
                drop(Box::from_raw(me));
                return ptr::null_mut();
            }
        };
        (&*me).log.set(log.handle());
        log.set_owner(me);
        let s = Server::new(log, CHost::new(me));
        let _ = (&*me).server.set(s);
        if let Some(s) = (&*me).server.get() {
            s.randomize_election_timeout();
        }
        me
    })
}

/// Free the server, its nodes and its log. Queued reads are answered with
/// `can_read = 0` first. From inside a callback, the server stops answering
/// at once (calls on it fail as for a bad pointer) and is freed when the
/// outermost library call returns.
///
/// # Safety
/// `me` must be NULL or a server from `raft_new*`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn raft_destroy(me: *mut raft_server_t) {
    guard((), || {
        let Some(h) = handle(me) else { return };
        if h.depth.get() > 0 {
            // Called from a callback: the server is still in use below us. It
            // stops answering now and is freed when the outermost call returns.
            h.magic.set(0);
            h.doomed.set(true);
            return;
        }
        destroy_now(me);
    })
}

/// The user data given to `raft_set_callbacks`; NULL for NULL or a non-server pointer.
///
/// # Safety
/// `me` must be NULL or a pointer previously returned by `raft_new*`, or at least
/// point to 8 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn raft_get_udata(me: *mut raft_server_t) -> *mut c_void {
    guard(ptr::null_mut(), || {
        handle(me).map_or(ptr::null_mut(), |s| s.udata())
    })
}

/// Install the callbacks (copied) and the user data passed to them.
///
/// # Safety
/// `me` must be NULL or a server; `funcs` NULL or a valid `raft_cbs_t`.
#[no_mangle]
pub unsafe extern "C" fn raft_set_callbacks(
    me: *mut raft_server_t,
    funcs: *mut raft_cbs_t,
    user_data: *mut c_void,
) {
    guard((), || {
        let Some(h) = handle(me) else { return };
        h.udata.set(user_data);
        if let Some(s) = h.server.get() {
            s.host()
                .set_callbacks(funcs.as_ref().copied().unwrap_or_default());
        }
    })
}

getters! {
    /// Forget term, vote, nodes and log.
    raft_clear -> () = (), |s| s.clear();
    raft_periodic -> c_int = MISUSE, |s| to_code(s.periodic());
    raft_get_nodeid -> raft_node_id_t = RAFT_NODE_ID_NONE, leaf |s| s.my_id();
    raft_get_my_node -> *mut raft_node_t = ptr::null_mut(), |s| node_ptr(s.my_node());
    raft_get_num_nodes -> c_int = 0, leaf |s| s.num_nodes() as c_int;
    raft_get_num_voting_nodes -> c_int = 0, leaf |s| s.num_voting_nodes() as c_int;
    raft_get_log_count -> raft_index_t = 0, |s| s.log_count();
    raft_get_current_term -> raft_term_t = 0, leaf |s| s.current_term();
    raft_get_current_idx -> raft_index_t = 0, |s| s.current_idx();
    raft_get_commit_idx -> raft_index_t = 0, leaf |s| s.commit_idx();
    raft_is_follower -> c_int = 0, leaf |s| s.is_follower() as c_int;
    raft_is_leader -> c_int = 0, leaf |s| s.is_leader() as c_int;
    raft_is_precandidate -> c_int = 0, leaf |s| s.is_precandidate() as c_int;
    raft_is_candidate -> c_int = 0, leaf |s| s.is_candidate() as c_int;
    raft_get_timeout_elapsed -> raft_time_t = 0, leaf |s| s.timeout_elapsed();
    raft_get_last_applied_idx -> raft_index_t = 0, leaf |s| s.last_applied_idx();
    raft_get_nvotes_for_me -> c_int = 0, |s| s.nvotes_for_me() as c_int;
    raft_get_voted_for -> raft_node_id_t = RAFT_NODE_ID_NONE, leaf |s| s.voted_for();
    raft_get_leader_id -> raft_node_id_t = RAFT_NODE_ID_NONE, |s| s.leader_id();
    raft_get_leader_node -> *mut raft_node_t = ptr::null_mut(), |s| node_ptr(s.node(s.leader_id()));
    raft_pop_entry -> c_int = MISUSE, |s| to_code(s.pop_entry());
    raft_get_state -> c_int = 0, leaf |s| s.state().as_raw();
    raft_get_last_log_term -> raft_term_t = 0, |s| s.last_log_term();
    raft_apply_all -> c_int = MISUSE, |s| to_code(s.apply_all());
    raft_become_leader -> c_int = MISUSE, |s| to_code(s.become_leader());
    raft_become_follower -> () = (), |s| s.become_follower();
    raft_become_candidate -> c_int = MISUSE, |s| to_code(s.become_candidate());
    raft_become_precandidate -> c_int = MISUSE, |s| to_code(s.become_precandidate());
    /// A held reference the caller releases; NULL when nothing was applied.
    raft_get_last_applied_entry -> *mut raft_entry_t = ptr::null_mut(),
        |s| s.entry_at(s.last_applied_idx()).map_or(ptr::null_mut(), CEntry::into_raw);
    raft_get_first_entry_idx -> raft_index_t = 0, |s| s.first_entry_idx();
    raft_voting_change_is_in_progress -> c_int = 0, leaf |s| s.voting_change_is_in_progress() as c_int;
    /// The log handle its `init` returned.
    raft_get_log -> *mut c_void = ptr::null_mut(), |s| s.log().handle();
    raft_get_transfer_leader -> raft_node_id_t = RAFT_NODE_ID_NONE, leaf |s| s.transfer_leader_target();
    raft_timeout_now -> c_int = MISUSE, |s| to_code(s.timeout_now());
    raft_pending_operations -> c_int = 0, leaf |s| s.pending_operations() as c_int;
    raft_randomize_election_timeout -> () = (), |s| s.randomize_election_timeout();
    raft_send_appendentries_all -> c_int = MISUSE, |s| to_code(s.send_appendentries_all());
    /// 0 when an entry was applied, -1 when there was none to apply.
    raft_apply_entry -> c_int = MISUSE, |s| match s.apply_entry() {
        Ok(true) => 0,
        Ok(false) => -1,
        Err(e) => e.code(),
    };
    raft_is_single_node_voting_cluster -> c_int = 0, leaf |s| s.is_single_node_voting_cluster() as c_int;
    raft_get_msg_id -> raft_msg_id_t = 0, leaf |s| s.msg_id();
    raft_exec_operations -> c_int = MISUSE, |s| to_code(s.exec_operations());
    /// Rebuild the configuration from the loaded log at restart.
    raft_restore_log -> c_int = MISUSE, |s| to_code(s.restore_log());
}

/// The role's name.
///
/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_get_state_str(me: *mut raft_server_t) -> *const c_char {
    guard(ptr::null(), || {
        let name: &'static [u8] = match server(me).map(|s| s.state()) {
            Some(State::Follower) => b"follower\0",
            Some(State::PreCandidate) => b"pre-candidate\0",
            Some(State::Candidate) => b"candidate\0",
            Some(State::Leader) => b"leader\0",
            None => b"unknown\0",
        };
        name.as_ptr() as *const c_char
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_restore_metadata(
    me: *mut raft_server_t,
    term: raft_term_t,
    vote: raft_node_id_t,
) -> c_int {
    with(me, MISUSE, |s| to_code(s.restore_metadata(term, vote)))
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_add_node(
    me: *mut raft_server_t,
    user_data: *mut c_void,
    id: raft_node_id_t,
    is_self: c_int,
) -> *mut raft_node_t {
    with(me, ptr::null_mut(), |s| {
        node_ptr(s.add_node(user_data as usize, id, is_self != 0))
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_add_non_voting_node(
    me: *mut raft_server_t,
    udata: *mut c_void,
    id: raft_node_id_t,
    is_self: c_int,
) -> *mut raft_node_t {
    with(me, ptr::null_mut(), |s| {
        node_ptr(s.add_non_voting_node(udata as usize, id, is_self != 0))
    })
}

/// Remove and free `node`; a node not in this server is ignored.
///
/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_remove_node(me: *mut raft_server_t, node: *mut raft_node_t) {
    with(me, (), |s| {
        if let Some(n) = node_of(s, node) {
            s.remove_node(&n);
        }
    })
}

/// # Safety
/// `me` must be NULL or a server; `req` and `resp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_recv_appendentries(
    me: *mut raft_server_t,
    _node: *mut raft_node_t,
    req: *mut raft_appendentries_req_t,
    resp: *mut raft_appendentries_resp_t,
) -> c_int {
    let (Some(req), Some(resp)) = (req.as_ref(), resp.as_mut()) else {
        return MISUSE;
    };
    with(me, MISUSE, |s| {
        if req.entries.is_null() || req.n_entries <= 0 {
            // A heartbeat: usually the straight path. The request is built
            // again for the general handler, so the straight path's copy
            // can stay in registers (its empty `Vec` owns nothing to drop).
            let (r, e) = match s.recv_heartbeat(&ManuallyDrop::new(req.header_to_core())) {
                Some(r) => (r, Ok(())),
                None => s.recv_appendentries(&req.header_to_core()),
            };
            *resp = raft_appendentries_resp_t::from(&r);
            return to_code(e);
        }
        // The caller's references keep the entries alive during the call, so
        // they are lent as they are; the log takes references of its own.
        let (r, e) = match req.borrow_entries() {
            Some(entries) => s.recv_appendentries_with(&req.header_to_core(), entries),
            None => s.recv_appendentries(&req.to_core()),
        };
        *resp = raft_appendentries_resp_t::from(&r);
        to_code(e)
    })
}

/// Responses from nodes that are not (or no longer) in the configuration are ignored.
///
/// # Safety
/// `me` must be NULL or a server; `resp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_recv_appendentries_response(
    me: *mut raft_server_t,
    node: *mut raft_node_t,
    resp: *mut raft_appendentries_resp_t,
) -> c_int {
    let Some(resp) = resp.as_ref() else {
        return MISUSE;
    };
    // An idle acknowledgement with auto-flush off touches no callback.
    with_fast(
        me,
        MISUSE,
        |s| {
            let idle = !s.config().auto_flush
                && s.with_node_at_addr(node as usize, |n| s.ack_idle_response(n, &resp.into()))
                    == Some(true);
            idle.then_some(0)
        },
        |s| {
            let n = node_of(s, node);
            to_code(s.recv_appendentries_response(n.as_deref(), &resp.into()))
        },
    )
}

/// # Safety
/// `me` must be NULL or a server; `req` and `resp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_recv_requestvote(
    me: *mut raft_server_t,
    _node: *mut raft_node_t,
    req: *mut raft_requestvote_req_t,
    resp: *mut raft_requestvote_resp_t,
) -> c_int {
    let (Some(req), Some(resp)) = (req.as_ref(), resp.as_mut()) else {
        return MISUSE;
    };
    with(me, MISUSE, |s| {
        let (r, e) = s.recv_requestvote(&req.into());
        *resp = raft_requestvote_resp_t::from(&r);
        to_code(e)
    })
}

/// # Safety
/// `me` must be NULL or a server; `resp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_recv_requestvote_response(
    me: *mut raft_server_t,
    node: *mut raft_node_t,
    resp: *mut raft_requestvote_resp_t,
) -> c_int {
    let Some(resp) = resp.as_ref() else {
        return MISUSE;
    };
    // Most answers arrive after their election was decided: nothing to do.
    with_fast(
        me,
        MISUSE,
        |s| s.vote_response_is_moot(&resp.into()).then_some(0),
        |s| {
            let n = node_of(s, node);
            to_code(s.recv_requestvote_response(n.as_deref(), &resp.into()))
        },
    )
}

/// Submit an entry (leader only). Its term is set to the current term; the
/// log keeps its own reference and the caller still releases its own.
///
/// # Safety
/// `me` must be NULL or a server; `req` NULL or a live entry; `resp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_recv_entry(
    me: *mut raft_server_t,
    req: *mut raft_entry_req_t,
    resp: *mut raft_entry_resp_t,
) -> c_int {
    if req.is_null() {
        return MISUSE;
    }
    with(me, MISUSE, |s| {
        // Lent, not held: the caller's reference lasts the call (as upstream
        // assumes), and the log takes one of its own.
        CEntry::with_raw(req, |e| {
            let Some(e) = e else { return MISUSE };
            let mut out = None;
            let r = s.submit_entry(e, &mut out);
            if let (Some(o), Some(resp)) = (out, resp.as_mut()) {
                *resp = raft_entry_resp_t::from(&o);
            }
            to_code(r)
        })
    })
}

/// A held reference to the entry at `idx` (the caller releases it), or NULL.
///
/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_get_entry_from_idx(
    me: *mut raft_server_t,
    idx: raft_index_t,
) -> *mut raft_entry_t {
    with(me, ptr::null_mut(), |s| {
        s.entry_at(idx).map_or(ptr::null_mut(), CEntry::into_raw)
    })
}

/// The entries from `idx` on, as an array from `raft_malloc` of held
/// references; the caller releases them and frees the array. NULL (and
/// `*n_etys = 0`) when there are none.
///
/// # Safety
/// `me` must be NULL or a server; `n_etys` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_get_entries_from_idx(
    me: *mut raft_server_t,
    idx: raft_index_t,
    n_etys: *mut raft_index_t,
) -> *mut *mut raft_entry_t {
    if let Some(n) = n_etys.as_mut() {
        *n = 0;
    }
    if n_etys.is_null() {
        return ptr::null_mut();
    }
    with(me, ptr::null_mut(), |s| {
        let entries = s.entries_from_idx(idx);
        if entries.is_empty() {
            return ptr::null_mut();
        }
        let arr = heap::malloc(entries.len() * std::mem::size_of::<*mut raft_entry_t>())
            as *mut *mut raft_entry_t;
        if arr.is_null() {
            return ptr::null_mut();
        }
        *n_etys = entries.len() as raft_index_t;
        for (i, e) in entries.into_iter().enumerate() {
            *arr.add(i) = e.into_raw();
        }
        arr
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_get_node(
    me: *mut raft_server_t,
    id: raft_node_id_t,
) -> *mut raft_node_t {
    if !CServer::is_dense_id(id) {
        return get_node_keyed(me, id);
    }
    with_leaf(me, ptr::null_mut(), |s| {
        s.dense_node_addr(id)
            .map_or(ptr::null_mut(), |a| a as *mut raft_node_t)
    })
}

/// `raft_get_node` for an id outside the dense table (out of line). An
/// `extern "C"` function cannot unwind, so the caller needs no landing pad
/// (and no stack frame) around the call.
#[inline(never)]
unsafe extern "C" fn get_node_keyed(
    me: *mut raft_server_t,
    id: raft_node_id_t,
) -> *mut raft_node_t {
    with_leaf(me, ptr::null_mut(), |s| {
        s.node_addr(id)
            .map_or(ptr::null_mut(), |a| a as *mut raft_node_t)
    })
}

/// The node at position `idx` (insertion order); NULL when out of range.
///
/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_get_node_from_idx(
    me: *mut raft_server_t,
    idx: raft_index_t,
) -> *mut raft_node_t {
    with(me, ptr::null_mut(), |s| match usize::try_from(idx) {
        Ok(i) => node_ptr(s.node_at(i)),
        Err(_) => ptr::null_mut(),
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_vote(me: *mut raft_server_t, node: *mut raft_node_t) -> c_int {
    with(me, MISUSE, |s| {
        // A foreign node pointer is still read for its id, as upstream does.
        let id = node_of(s, node).map_or_else(
            || node.as_ref().map_or(RAFT_NODE_ID_NONE, |n| n.id()),
            |n| n.id(),
        );
        to_code(s.vote_for_nodeid(id))
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_vote_for_nodeid(
    me: *mut raft_server_t,
    nodeid: raft_node_id_t,
) -> c_int {
    with(me, MISUSE, |s| to_code(s.vote_for_nodeid(nodeid)))
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_set_current_term(me: *mut raft_server_t, term: raft_term_t) -> c_int {
    with(me, MISUSE, |s| to_code(s.set_current_term(term)))
}

/// Set the commit index (never past the last entry, never backwards).
///
/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_set_commit_idx(me: *mut raft_server_t, commit_idx: raft_index_t) {
    with(me, (), |s| s.set_commit_idx(commit_idx))
}

/// Append an entry as is (reloading a log at restart); the log holds its own reference.
///
/// # Safety
/// `me` must be NULL or a server; `ety` NULL or a live entry.
#[no_mangle]
pub unsafe extern "C" fn raft_append_entry(
    me: *mut raft_server_t,
    ety: *mut raft_entry_t,
) -> c_int {
    let Some(e) = CEntry::from_borrowed(ety) else {
        return MISUSE;
    };
    with(me, MISUSE, |s| to_code(s.append_entry(&e)))
}

/// 1 committed, 0 not yet (or unknown), -1 overwritten by another leader.
///
/// # Safety
/// `me` must be NULL or a server; `r` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_msg_entry_response_committed(
    me: *mut raft_server_t,
    r: *const raft_entry_resp_t,
) -> c_int {
    let Some(r) = r.as_ref() else { return 0 };
    with(me, 0, |s| match s.entry_response_committed(&r.into()) {
        core::server::Commitment::Committed => 1,
        core::server::Commitment::Pending => 0,
        core::server::Commitment::Invalidated => -1,
    })
}

/// # Safety
/// `me` must be NULL or a server; `ety` NULL or a live entry.
#[no_mangle]
pub unsafe extern "C" fn raft_handle_append_cfg_change(
    me: *mut raft_server_t,
    ety: *mut raft_entry_t,
    idx: raft_index_t,
) {
    let Some(e) = CEntry::from_borrowed(ety) else {
        return;
    };
    with(me, (), |s| s.handle_append_cfg_change(&e, idx))
}

/// Queue a linearizable read; `cb(cb_arg, 1)` once safe, `cb(cb_arg, 0)` if
/// leadership is lost or the server is destroyed first.
///
/// # Safety
/// `me` must be NULL or a server; `cb` must accept `cb_arg` until it is called.
#[no_mangle]
pub unsafe extern "C" fn raft_recv_read_request(
    me: *mut raft_server_t,
    cb: raft_read_request_callback_f,
    cb_arg: *mut c_void,
) -> c_int {
    with(me, MISUSE, |s| {
        let call = move |can_read: bool| {
            if let Some(f) = cb {
                f(cb_arg, can_read as c_int)
            }
        };
        to_code(s.recv_read_request(Box::new(call)))
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_transfer_leader(
    me: *mut raft_server_t,
    node_id: raft_node_id_t,
    timeout: c_long,
) -> c_int {
    with(me, MISUSE, |s| {
        to_code(s.transfer_leader(node_id, timeout as core::Time))
    })
}

/// With auto-flush off: the index to make durable before `raft_flush`, or 0.
///
/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_get_index_to_sync(me: *mut raft_server_t) -> raft_index_t {
    // Only a leader syncs: a follower is answered without asking the log.
    with_fast(
        me,
        0,
        |s| (!s.is_leader()).then_some(0),
        |s| s.index_to_sync(),
    )
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_flush(me: *mut raft_server_t, sync_index: raft_index_t) -> c_int {
    // Usually a follower with nothing to apply: no callback can run.
    with_fast(
        me,
        MISUSE,
        |s| s.flush_idle().then_some(0),
        |s| to_code(s.flush(sync_index)),
    )
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_election_start(
    me: *mut raft_server_t,
    skip_precandidate: c_int,
) -> c_int {
    with(me, MISUSE, |s| {
        to_code(s.election_start(skip_precandidate != 0))
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_update_quorum_meta(me: *mut raft_server_t, id: raft_msg_id_t) {
    with(me, (), |s| s.update_quorum_meta(id))
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_send_requestvote(
    me: *mut raft_server_t,
    node: *mut raft_node_t,
) -> c_int {
    with(me, MISUSE, |s| match node_of(s, node) {
        Some(n) => to_code(s.send_requestvote(&n)),
        None => RAFT_ERR_INVALID_NODEID,
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_send_appendentries(
    me: *mut raft_server_t,
    node: *mut raft_node_t,
) -> c_int {
    with(me, MISUSE, |s| match node_of(s, node) {
        Some(n) => to_code(s.send_appendentries(&n)),
        None => RAFT_ERR_INVALID_NODEID,
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_set_last_applied_idx(me: *mut raft_server_t, idx: raft_index_t) {
    with(me, (), |s| s.set_last_applied_idx(idx))
}

/// Set the role directly (tests); unknown values are ignored.
///
/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_set_state(me: *mut raft_server_t, state: c_int) {
    with(me, (), |s| {
        if let Some(st) = State::from_raw(state) {
            s.set_state(st)
        }
    })
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_reset_transfer_leader(me: *mut raft_server_t, timed_out: c_int) {
    with(me, (), |s| s.reset_transfer_leader(timed_out != 0))
}

/// # Safety
/// `me` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_periodic_internal(
    me: *mut raft_server_t,
    milliseconds: raft_time_t,
) -> c_int {
    with(me, MISUSE, |s| to_code(s.periodic_internal(milliseconds)))
}

/// Remove `idx` and later (uncommitted) entries; `RAFT_ERR_MISUSE` for committed ones.
///
/// # Safety
/// `me_` must be NULL or a server.
#[no_mangle]
pub unsafe extern "C" fn raft_delete_entry_from_idx(
    me_: *mut raft_server_t,
    idx: raft_index_t,
) -> c_int {
    with(me_, MISUSE, |s| to_code(s.delete_entry_from_idx(idx)))
}

/// Read a configuration value for the `raft_config` shim; `RAFT_ERR_NOTFOUND` for an unknown key.
///
/// # Safety
/// `me` must be NULL or a server.
pub(crate) unsafe fn config_get(me: *mut raft_server_t, key: c_int, out: &mut i64) -> c_int {
    with(me, MISUSE, |s| {
        match core::server::ConfigKey::from_raw(key) {
            Some(k) => {
                *out = s.config_get(k);
                0
            }
            None => RAFT_ERR_NOTFOUND,
        }
    })
}

/// Set a configuration value for the `raft_config` shim.
///
/// # Safety
/// `me` must be NULL or a server.
pub(crate) unsafe fn config_set(me: *mut raft_server_t, key: c_int, value: i64) -> c_int {
    with(me, MISUSE, |s| {
        match core::server::ConfigKey::from_raw(key) {
            Some(k) => to_code(s.config_set(k, value)),
            None => RAFT_ERR_NOTFOUND,
        }
    })
}

/// 1 when `nvotes` is a majority of `nnodes` (upstream's test suite declares and calls this).
#[no_mangle]
pub extern "C" fn raft_votes_is_majority(nnodes: c_int, nvotes: c_int) -> c_int {
    guard(0, || {
        match (usize::try_from(nnodes), usize::try_from(nvotes)) {
            (Ok(n), Ok(v)) => core::server::votes_is_majority(n, v) as c_int,
            _ => 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::entry::{raft_entry_new, raft_entry_release};

    unsafe extern "C" fn destroy_on_second(
        r: *mut raft_server_t,
        ud: *mut c_void,
        _e: *mut raft_entry_t,
        idx: raft_index_t,
    ) -> c_int {
        *(ud as *mut i32) += 1;
        if idx == 2 {
            raft_destroy(r);
            // The server no longer answers, but is not freed under our feet.
            assert_eq!(raft_get_current_idx(r), 0);
        }
        0
    }

    #[test]
    fn destroy_from_a_callback_is_deferred() {
        unsafe {
            let mut applied = 0i32;
            let mut cbs = raft_cbs_t {
                applylog: Some(destroy_on_second),
                ..Default::default()
            };
            let r = raft_new();
            raft_set_callbacks(r, &mut cbs, &mut applied as *mut i32 as *mut c_void);
            assert!(!raft_add_node(r, ptr::null_mut(), 1, 1).is_null());
            assert_eq!(raft_periodic_internal(r, 10), 0);
            let e = raft_entry_new(3);
            let mut resp = raft_entry_resp_t::default();
            assert_eq!(raft_recv_entry(r, e, &mut resp), 0);
            raft_entry_release(e);
            assert_eq!(applied, 2);
            assert_eq!(resp.idx, 2);
        }
    }

    #[test]
    fn bad_pointers_are_refused() {
        unsafe {
            let mut not_a_server = 0u64;
            let p = &mut not_a_server as *mut u64 as *mut raft_server_t;
            assert!(raft_get_udata(p).is_null());
            assert_eq!(raft_periodic(p), RAFT_ERR_MISUSE);
            assert_eq!(raft_get_current_term(ptr::null_mut()), 0);
            let r = raft_new();
            assert!(raft_get_node(r, 42).is_null());
            assert!(raft_get_node_from_idx(r, -1).is_null());
            assert!(raft_get_entry_from_idx(r, 5).is_null());
            raft_remove_node(r, 0x1000 as *mut raft_node_t);
            let mut n = 7;
            assert!(raft_get_entries_from_idx(r, 1, &mut n).is_null());
            assert_eq!(n, 0);
            raft_destroy(r);
        }
    }
}
