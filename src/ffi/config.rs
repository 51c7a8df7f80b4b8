//! The Rust half of `raft_config(me, set, config, ...)`; the variadic entry
//! point is the C shim `csrc/config_shim.c`, reached on x86_64 and aarch64
//! through an exported trampoline defined here.
//!
//! Keys take an `int` when setting and an `int *` when getting, as upstream.
//! Unknown keys give `RAFT_ERR_NOTFOUND`; non-positive timeouts, a NULL or
//! dead server and a NULL output pointer give `RAFT_ERR_MISUSE` (upstream
//! accepts or dereferences them).

use std::ffi::c_int;

use super::server::{config_get, config_set, raft_server_t};
use super::types::RAFT_ERR_MISUSE;

/// Called only by the C shim (exported as a side effect of `#[no_mangle]`;
/// not part of the API).
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

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
extern "C" {
    /// The C shim's variadic `raft_config` (hidden in the shared library).
    fn raft_config_variadic();
}

/// `int raft_config(raft_server_t *me, int set, int config, ...)`.
///
/// Stable Rust cannot define a variadic function, but a naked function that
/// only jumps leaves every argument register (and x86_64's `%al` vector-register
/// count) exactly as the caller set them, so the C shim receives the call as
/// if made directly. Being a Rust item, rustc exports it from the shared
/// library with any linker, which a C symbol is not.
///
/// # Safety
/// As for the C shim: `me` NULL or a live server, then an `int` (set) or an
/// `int *` (get).
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn raft_config() {
    // SAFETY: a tail jump; the shim returns straight to our caller.
    std::arch::naked_asm!("jmp {}", sym raft_config_variadic)
}

/// See the x86_64 version.
///
/// # Safety
/// As for the C shim.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn raft_config() {
    // SAFETY: a tail jump; the shim returns straight to our caller.
    std::arch::naked_asm!("b {}", sym raft_config_variadic)
}
