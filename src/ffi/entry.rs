//! `raft_entry_t` primitives and [`CEntry`], the safe handle the core uses.
//!
//! An entry is one heap block: the header followed by `data_len` payload
//! bytes, allocated through the heap hooks. `refs` counts the owners;
//! the last `raft_entry_release` frees it with `free_func` if the user set
//! one, else with `raft_free`.
//!
//! `refs` is a 16-bit counter. Instead of wrapping (which would free the
//! entry while it is still in use), it sticks at 65535: such an entry is
//! never freed. A leak is the lesser evil.

use std::ffi::{c_int, c_uint};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use super::boundary::guard;
use super::heap;
use super::types::raft_entry_t;
use crate::core::{self, log_type, EntryId, Term};

const REFS_STUCK: u16 = u16::MAX;

/// Allocate an entry with `data_len` zeroed payload bytes and one reference.
/// Returns NULL when memory is exhausted.
#[no_mangle]
pub extern "C" fn raft_entry_new(data_len: c_uint) -> *mut raft_entry_t {
    // The whole header plus the payload, as upstream sizes it: its tail
    // padding leaves room to spare, but one add is all it costs per entry.
    // Nothing here can panic (a u32 length cannot overflow usize): no guard.
    let size = std::mem::size_of::<raft_entry_t>() + data_len as usize;
    // calloc zeroes the header (id, type, user_data, free_func) and the payload.
    let p = heap::calloc(1, size) as *mut raft_entry_t;
    if !p.is_null() {
        // SAFETY: p is a fresh block large enough for the header.
        unsafe {
            (*p).refs = 1;
            (*p).data_len = data_len;
        }
    }
    p
}

/// One more reference to the live entry `p`; sticks at `REFS_STUCK`.
///
/// # Safety
/// `p` must be a live entry.
#[inline(always)]
unsafe fn hold(p: *mut raft_entry_t) {
    (*p).refs = (*p).refs.saturating_add(1);
}

/// One reference fewer to the live entry `p`: the common case inline, the
/// last reference (and the odd counts) out of line.
///
/// # Safety
/// `p` must be a live entry the caller holds a reference to.
#[inline(always)]
unsafe fn release(p: *mut raft_entry_t) {
    let refs = (*p).refs;
    if refs > 1 && refs != REFS_STUCK {
        (*p).refs = refs - 1;
    } else {
        release_last(p)
    }
}

/// Free `p` when this was its last reference; stuck and zero counts stay.
///
/// # Safety
/// As for [`release`].
#[cold]
#[inline(never)]
unsafe fn release_last(p: *mut raft_entry_t) {
    // 0: a double release or a non-counted entry; freeing again would corrupt the heap.
    if (*p).refs != 1 {
        return;
    }
    (*p).refs = 0;
    match (*p).free_func {
        Some(f) => f(p),
        None => heap::free(p.cast()),
    }
}

/// Add a reference to `ety` (NULL is ignored).
///
/// # Safety
/// `ety` must be NULL or a live entry.
#[no_mangle]
pub unsafe extern "C" fn raft_entry_hold(ety: *mut raft_entry_t) {
    if !ety.is_null() {
        hold(ety)
    }
}

/// Drop a reference to `ety`, freeing it when none remain (NULL is ignored).
///
/// # Safety
/// `ety` must be NULL or a live entry the caller holds a reference to.
#[no_mangle]
pub unsafe extern "C" fn raft_entry_release(ety: *mut raft_entry_t) {
    if !ety.is_null() {
        release(ety)
    }
}

/// Release `len` entries of `ety_list`, then free the array itself with
/// `raft_free`, as upstream does: it is the way to dispose of the array that
/// `raft_get_entries_from_idx` returns.
///
/// # Safety
/// `ety_list` must be NULL or an array from the heap functions, valid for
/// `len` pointers, each NULL or live.
#[no_mangle]
pub unsafe extern "C" fn raft_entry_release_list(ety_list: *mut *mut raft_entry_t, len: usize) {
    guard((), || {
        if ety_list.is_null() {
            return;
        }
        for i in 0..len {
            raft_entry_release(*ety_list.add(i));
        }
        heap::free(ety_list.cast());
    })
}

/// 1 if `ety` adds or removes a node (voting or not), else 0.
///
/// # Safety
/// `ety` must be NULL or a live entry.
#[no_mangle]
pub unsafe extern "C" fn raft_entry_is_cfg_change(ety: *mut raft_entry_t) -> c_int {
    guard(0, || {
        ety.as_ref()
            .is_some_and(|e| log_type::is_cfg_change(e.type_ as i32)) as c_int
    })
}

/// 1 if `ety` changes the set of voters, else 0.
///
/// # Safety
/// `ety` must be NULL or a live entry.
#[no_mangle]
pub unsafe extern "C" fn raft_entry_is_voting_cfg_change(ety: *mut raft_entry_t) -> c_int {
    guard(0, || {
        ety.as_ref()
            .is_some_and(|e| log_type::is_voting_cfg_change(e.type_ as i32)) as c_int
    })
}

/// One counted reference to a C entry: `Clone` holds, `Drop` releases.
///
/// `repr(transparent)`, so a `[CEntry]` is a `raft_entry_t *[]` in memory.
#[repr(transparent)]
#[derive(Debug)]
pub struct CEntry(NonNull<raft_entry_t>);

impl CEntry {
    /// Take a new reference to `p` (holds it); `None` for NULL.
    ///
    /// # Safety
    /// `p` must be NULL or a live entry.
    pub unsafe fn from_borrowed(p: *mut raft_entry_t) -> Option<CEntry> {
        let e = NonNull::new(p)?;
        hold(p);
        Some(CEntry(e))
    }

    /// Adopt a reference the caller owns (no hold); `None` for NULL.
    ///
    /// # Safety
    /// `p` must be NULL or a live entry whose reference passes to the handle.
    pub unsafe fn from_owned(p: *mut raft_entry_t) -> Option<CEntry> {
        NonNull::new(p).map(CEntry)
    }

    /// Adopt the references a C function handed over in `ptrs` (a log's
    /// `get_batch`, `get_entries_to_send`), skipping NULLs; returns how many
    /// were added to `out`.
    ///
    /// # Safety
    /// Each non-NULL pointer must be a live entry whose reference passes to `out`.
    pub unsafe fn extend_owned(out: &mut Vec<CEntry>, ptrs: &[*mut raft_entry_t]) -> usize {
        let before = out.len();
        out.extend(ptrs.iter().filter_map(|&p| CEntry::from_owned(p)));
        out.len() - before
    }

    /// Run `f` with a temporary handle to `p` without touching its count.
    ///
    /// # Safety
    /// `p` must be NULL or a live entry for the duration of `f`.
    pub unsafe fn with_raw<R>(p: *mut raft_entry_t, f: impl FnOnce(Option<&CEntry>) -> R) -> R {
        let h = NonNull::new(p).map(|p| ManuallyDrop::new(CEntry(p)));
        f(h.as_deref())
    }

    /// The entry pointer (no reference is transferred).
    pub fn as_ptr(&self) -> *mut raft_entry_t {
        self.0.as_ptr()
    }

    /// Give up the handle's reference to the caller.
    pub fn into_raw(self) -> *mut raft_entry_t {
        ManuallyDrop::new(self).0.as_ptr()
    }

    fn header(&self) -> &raft_entry_t {
        // SAFETY: a CEntry holds a reference, so the entry is live.
        unsafe { self.0.as_ref() }
    }

    /// Current reference count.
    pub fn refs(&self) -> u16 {
        self.header().refs
    }
}

impl Clone for CEntry {
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: the entry is live while self holds it.
        unsafe { hold(self.as_ptr()) };
        CEntry(self.0)
    }
}

impl Drop for CEntry {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this handle owns one reference.
        unsafe { release(self.as_ptr()) }
    }
}

impl core::Entry for CEntry {
    fn term(&self) -> Term {
        self.header().term
    }
    fn id(&self) -> EntryId {
        self.header().id
    }
    fn entry_type(&self) -> i32 {
        self.header().type_ as i32
    }
    fn data(&self) -> &[u8] {
        let h = self.header();
        // SAFETY: the payload of data_len bytes follows the header in the same block.
        unsafe { std::slice::from_raw_parts(h.data.as_ptr() as *const u8, h.data_len as usize) }
    }
    fn set_term(&self, term: Term) {
        // SAFETY: the entry is live; C owners may write fields too, as with upstream.
        unsafe { (*self.as_ptr()).term = term }
    }
    fn create(term: Term, id: EntryId, entry_type: i32, data: &[u8]) -> Option<Self> {
        let len = c_uint::try_from(data.len()).ok()?;
        let p = raft_entry_new(len);
        // SAFETY: p is NULL or a fresh entry we own, with room for `len` bytes.
        let e = unsafe { CEntry::from_owned(p)? };
        unsafe {
            let h = &mut *p;
            h.term = term;
            h.id = id;
            h.type_ = entry_type as i16;
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                h.data.as_mut_ptr() as *mut u8,
                data.len(),
            );
        }
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Entry;

    #[test]
    fn clone_holds_and_drop_releases() {
        let e = CEntry::create(3, 7, 0, b"abc").unwrap();
        assert_eq!(e.refs(), 1);
        let f = e.clone();
        assert_eq!(e.refs(), 2);
        drop(f);
        assert_eq!(e.refs(), 1);
        assert_eq!(e.data(), b"abc");
        assert_eq!((e.term(), e.id()), (3, 7));
    }

    #[test]
    fn refs_stick_at_max() {
        let e = CEntry::create(1, 1, 0, b"").unwrap();
        unsafe {
            (*e.as_ptr()).refs = u16::MAX - 1;
            raft_entry_hold(e.as_ptr());
            raft_entry_hold(e.as_ptr());
            assert_eq!(e.refs(), u16::MAX);
            raft_entry_release(e.as_ptr());
            assert_eq!(e.refs(), u16::MAX);
            // Leak deliberately: make the handle's drop a no-op, then free by hand.
            (*e.as_ptr()).refs = 1;
        }
    }
}
