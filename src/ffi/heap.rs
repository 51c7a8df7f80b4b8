//! Heap hooks: `raft_malloc`, `raft_calloc`, `raft_realloc`, `raft_free`.
//!
//! An embedder (a Redis module, say) points these at its own allocator with
//! `raft_set_heap_functions` to account for every byte the library uses. The
//! C-facing builds (cargo feature `capi`, which the Makefile enables) also
//! install [`RaftAllocator`] as Rust's global allocator, so Rust's own
//! allocations (boxes, vectors) go through the hooks too. The plain rlib does
//! not: a Rust program chooses its own global allocator.
//!
//! Set the hooks before creating any server or entry: memory is freed with
//! the hook in force at the time of the free, as in upstream.
#![allow(non_upper_case_globals)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

pub type MallocFn = unsafe extern "C" fn(size: usize) -> *mut c_void;
pub type CallocFn = unsafe extern "C" fn(nmemb: usize, size: usize) -> *mut c_void;
pub type ReallocFn = unsafe extern "C" fn(ptr: *mut c_void, size: usize) -> *mut c_void;
pub type FreeFn = unsafe extern "C" fn(ptr: *mut c_void);

/// Allocate `size` bytes (the library's malloc).
#[no_mangle]
pub static mut raft_malloc: Option<MallocFn> = Some(libc::malloc);
/// Allocate `nmemb * size` zeroed bytes (the library's calloc).
#[no_mangle]
pub static mut raft_calloc: Option<CallocFn> = Some(libc::calloc);
/// Resize an allocation (the library's realloc).
#[no_mangle]
pub static mut raft_realloc: Option<ReallocFn> = Some(libc::realloc);
/// Free an allocation (the library's free).
#[no_mangle]
pub static mut raft_free: Option<FreeFn> = Some(libc::free);

/// Replace the heap functions. A NULL argument restores libc's function, so
/// the library never calls through a NULL pointer.
///
/// # Safety
/// Not thread-safe: call it before any other library function.
#[no_mangle]
pub unsafe extern "C" fn raft_set_heap_functions(
    _malloc: Option<unsafe extern "C" fn(size: usize) -> *mut c_void>,
    _calloc: Option<unsafe extern "C" fn(nmemb: usize, size: usize) -> *mut c_void>,
    _realloc: Option<unsafe extern "C" fn(ptr: *mut c_void, size: usize) -> *mut c_void>,
    _free: Option<unsafe extern "C" fn(ptr: *mut c_void)>,
) {
    raft_malloc = Some(_malloc.unwrap_or(libc::malloc));
    raft_calloc = Some(_calloc.unwrap_or(libc::calloc));
    raft_realloc = Some(_realloc.unwrap_or(libc::realloc));
    raft_free = Some(_free.unwrap_or(libc::free));
}

/// `raft_malloc(size)`.
pub fn malloc(size: usize) -> *mut c_void {
    // SAFETY: the hooks are plain function pointers, read by value.
    unsafe { (raft_malloc.unwrap_or(libc::malloc))(size) }
}

/// `raft_calloc(nmemb, size)`.
pub fn calloc(nmemb: usize, size: usize) -> *mut c_void {
    // SAFETY: as above.
    unsafe { (raft_calloc.unwrap_or(libc::calloc))(nmemb, size) }
}

/// `raft_realloc(ptr, size)`.
///
/// # Safety
/// `ptr` must be NULL or come from these hooks and not be freed yet.
pub unsafe fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    (raft_realloc.unwrap_or(libc::realloc))(ptr, size)
}

/// `raft_free(ptr)`.
///
/// # Safety
/// `ptr` must be NULL or come from these hooks and not be freed yet.
pub unsafe fn free(ptr: *mut c_void) {
    (raft_free.unwrap_or(libc::free))(ptr)
}

/// Alignment every hook result is assumed to have. User hooks often add a
/// size header to libc's memory, so only 8 is assumed, not malloc's 16.
const HOOK_ALIGN: usize = 8;

/// Rust's global allocator routed through the heap hooks. Alignments above
/// `HOOK_ALIGN` (8) over-allocate and keep the hook's pointer just before the
/// aligned block.
pub struct RaftAllocator;

unsafe fn alloc_aligned(layout: Layout, zeroed: bool) -> *mut u8 {
    let align = layout.align();
    let Some(total) = layout
        .size()
        .checked_add(align + std::mem::size_of::<usize>())
    else {
        return std::ptr::null_mut();
    };
    let raw = if zeroed {
        calloc(1, total)
    } else {
        malloc(total)
    } as *mut u8;
    if raw.is_null() {
        return raw;
    }
    let start = raw as usize + std::mem::size_of::<usize>();
    let aligned = (start + align - 1) & !(align - 1);
    let p = raw.add(aligned - raw as usize);
    (p as *mut *mut u8).sub(1).write_unaligned(raw);
    p
}

unsafe impl GlobalAlloc for RaftAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= HOOK_ALIGN {
            malloc(layout.size().max(1)) as *mut u8
        } else {
            alloc_aligned(layout, false)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= HOOK_ALIGN {
            calloc(1, layout.size().max(1)) as *mut u8
        } else {
            alloc_aligned(layout, true)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() <= HOOK_ALIGN {
            free(ptr as *mut c_void)
        } else {
            free((ptr as *mut *mut u8).sub(1).read_unaligned() as *mut c_void)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= HOOK_ALIGN {
            return realloc(ptr as *mut c_void, new_size.max(1)) as *mut u8;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = alloc_aligned(new_layout, false);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}

#[cfg(feature = "capi")]
#[global_allocator]
static GLOBAL: RaftAllocator = RaftAllocator;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_aligned_blocks_round_trip() {
        for align in [16, 64, 4096] {
            let layout = Layout::from_size_align(100, align).unwrap();
            unsafe {
                let p = RaftAllocator.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0);
                assert!(std::slice::from_raw_parts(p, 100).iter().all(|&b| b == 0));
                p.write_bytes(7, 100);
                let q = RaftAllocator.realloc(p, layout, 5000);
                assert_eq!(q as usize % align, 0);
                assert_eq!(*q.add(99), 7);
                RaftAllocator.dealloc(q, Layout::from_size_align(5000, align).unwrap());
            }
        }
    }

    #[test]
    fn small_alignments_use_the_hooks_directly() {
        let layout = Layout::from_size_align(24, 8).unwrap();
        unsafe {
            let p = RaftAllocator.alloc(layout);
            assert!(!p.is_null());
            let q = RaftAllocator.realloc(p, layout, 48);
            RaftAllocator.dealloc(q, Layout::from_size_align(48, 8).unwrap());
        }
    }
}
