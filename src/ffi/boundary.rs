//! The one gate every `extern "C"` function goes through.
//!
//! Policy: a Rust panic must never unwind into C (that is undefined
//! behaviour). Every export runs its body inside [`guard`], which catches a
//! panic, reports it once on stderr and returns the export's documented
//! "failure" value (an error code, NULL or 0). A panic here means a bug in
//! the library, so the report asks for one; the process keeps running.
//!
//! The pointer helpers turn C pointers into `Option`s so that NULL is handled
//! by the type system instead of by convention.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

static REPORTED: AtomicBool = AtomicBool::new(false);

/// Run `f`, returning `default` instead if it panics. Free when nothing
/// panics: the catch is a landing pad off the normal path.
#[inline(always)]
pub fn guard<T>(default: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            if !REPORTED.swap(true, Ordering::Relaxed) {
                eprintln!("libraft: internal error (Rust panic) caught at the C boundary; the call failed");
            }
            default
        }
    }
}

/// The export pattern for a pointer argument: `default` when `p` is NULL or
/// when `f` panics, else `f(&*p)`.
///
/// # Safety
/// `p` must be NULL or valid for reads for the duration of the call.
pub unsafe fn with_ref<T, R: Copy>(p: *const T, default: R, f: impl FnOnce(&T) -> R) -> R {
    guard(default, || match p.as_ref() {
        Some(r) => f(r),
        None => default,
    })
}

/// A shared reference from a possibly-NULL pointer.
///
/// # Safety
/// `p` must be NULL or valid for reads for the chosen lifetime.
pub unsafe fn opt_ref<'a, T>(p: *const T) -> Option<&'a T> {
    p.as_ref()
}

/// A mutable reference from a possibly-NULL pointer.
///
/// # Safety
/// `p` must be NULL or valid and unaliased for the chosen lifetime.
pub unsafe fn opt_mut<'a, T>(p: *mut T) -> Option<&'a mut T> {
    p.as_mut()
}

/// Write `v` through `p` when `p` is not NULL.
///
/// # Safety
/// `p` must be NULL or valid for writes.
pub unsafe fn write_opt<T>(p: *mut T, v: T) {
    if !p.is_null() {
        p.write(v)
    }
}

/// C truth value of a Rust bool.
pub fn c_bool(b: bool) -> i32 {
    b as i32
}
