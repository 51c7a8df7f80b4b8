//! `raft_server_t` and the server exports.
//!
//! A `raft_server_t` starts with a magic number so that functions handed an
//! arbitrary pointer (e.g. `raft_get_udata` from the internal log's callbacks)
//! can tell a live server from anything else; `raft_destroy` clears it.
#![allow(non_camel_case_types)]

use std::cell::Cell;
use std::ffi::c_void;

/// Marks a live `raft_server_t`.
pub(crate) const SERVER_MAGIC: u64 = 0x7261_6674_2d72_7321; // "raft-rs!"

/// The server handle C code holds (opaque to C).
pub struct raft_server_t {
    magic: Cell<u64>,
    /// The user's pointer passed to `raft_set_callbacks`.
    udata: Cell<*mut c_void>,
}

impl raft_server_t {
    pub(crate) fn udata(&self) -> *mut c_void {
        self.udata.get()
    }
    pub(crate) fn set_udata(&self, udata: *mut c_void) {
        self.udata.set(udata)
    }
}

/// The server behind `me`, or `None` for NULL or a pointer that is not a live server.
///
/// # Safety
/// `me` must be NULL or point to readable memory at least as large as the magic.
pub(crate) unsafe fn server<'a>(me: *mut raft_server_t) -> Option<&'a raft_server_t> {
    if me.is_null() {
        return None;
    }
    let s = &*me;
    (s.magic.get() == SERVER_MAGIC).then_some(s)
}

/// The user data given to `raft_set_callbacks`; NULL for NULL or a non-server pointer.
///
/// # Safety
/// `me` must be NULL or a pointer previously returned by `raft_new*`, or at least
/// point to 8 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn raft_get_udata(me: *mut raft_server_t) -> *mut c_void {
    server(me).map_or(std::ptr::null_mut(), |s| s.udata())
}
