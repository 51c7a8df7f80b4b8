//! The Rust half of `raft_config(me, set, config, ...)`; the variadic entry
//! point is the C shim `csrc/config_shim.c`.
//!
//! Keys take an `int` when setting and an `int *` when getting, as upstream.
//! Unknown keys give `RAFT_ERR_NOTFOUND`; non-positive timeouts, a NULL or
//! dead server and a NULL output pointer give `RAFT_ERR_MISUSE` (upstream
//! accepts or dereferences them).

use std::ffi::c_int;

use super::server::{config_get, config_set, raft_server_t};
use super::types::RAFT_ERR_MISUSE;

/// Called only by the C shim. `csrc/exports.map` keeps it out of the
/// shared library's exports (it is still visible in `libraft.a`).
///
/// # Safety
/// `me` must be NULL or a live server; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn raft_config_fixed_args(
    me: *mut raft_server_t,
    set: c_int,
    config: c_int,
    value: c_int,
    out: *mut c_int,
) -> c_int {
    if set != 0 {
        return config_set(me, config, i64::from(value));
    }
    if out.is_null() {
        return RAFT_ERR_MISUSE;
    }
    let mut v = 0i64;
    let rc = config_get(me, config, &mut v);
    if rc == 0 {
        // Timeouts are stored as raft_time_t; the C interface reads them as int.
        *out = v.clamp(c_int::MIN.into(), c_int::MAX.into()) as c_int;
    }
    rc
}
