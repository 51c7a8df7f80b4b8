//! The built-in log for C: `raft_log_t`, the `raft_log_*` functions,
//! `raft_log_internal_impl`, and [`VtableLog`], which lets the server drive
//! any `raft_log_impl_t` through `core::LogStore`.
//!
//! Ownership follows upstream: `raft_log_append_entry` takes over the
//! caller's reference, the vtable's `append` holds a new one, `get` and
//! `get_batch` return held references, `raft_log_get_at_idx` and
//! `raft_log_get_from_idx` borrow. Unlike upstream, clearing or freeing a
//! log releases the references it owns instead of leaking them.
#![allow(non_camel_case_types)]

use std::cell::Cell;
use std::ffi::{c_int, c_long, c_void};
use std::ptr;

use super::boundary::guard;
use super::entry::{raft_entry_release, CEntry};
use super::server::{raft_get_udata, raft_server_t, server};
use super::types::*;
use crate::core::{self, Error, Index, LogStore, MemoryLog, Term};

/// Capacity of a log made by `raft_log_new`.
const INITIAL_CAPACITY: usize = 10;
/// Largest capacity `raft_log_alloc` reserves up front; the log grows past it anyway.
const MAX_INITIAL_CAPACITY: usize = 1 << 16;

/// The in-memory log with upstream's per-event hooks.
pub struct raft_log_t {
    log: MemoryLog<CEntry>,
    cbs: Cell<raft_log_cbs_t>,
    /// Opaque pointer handed to the hooks (normally the owning server).
    raft: Cell<*mut c_void>,
    /// The server that created this log as its built-in log (`li_init`), told
    /// when C code removes entries through the `raft_log_*` functions.
    owner: Cell<*mut raft_server_t>,
}

impl raft_log_t {
    fn new(capacity: usize) -> raft_log_t {
        raft_log_t {
            log: MemoryLog::with_capacity(capacity),
            cbs: Cell::new(Default::default()),
            raft: Cell::new(ptr::null_mut()),
            owner: Cell::new(ptr::null_mut()),
        }
    }

    /// C code removed entries: the owning server counts it as a call into it
    /// ([`crate::core::Host::reentries`]).
    fn removed_by_c(&self) {
        // SAFETY: `owner` is NULL or the server this log belongs to, which
        // frees the log before itself; `server` checks the magic anyway.
        if let Some(s) = unsafe { server(self.owner.get()) } {
            s.host().entered();
        }
    }

    /// The Rust view of the entries.
    pub fn entries(&self) -> &MemoryLog<CEntry> {
        &self.log
    }

    /// Run hook `h` on `(entry, idx)`; a missing hook succeeds.
    fn call(&self, h: raft_logentry_event_f, e: &CEntry, idx: Index) -> core::Result<()> {
        let Some(f) = h else { return Ok(()) };
        let raft = self.raft.get() as *mut raft_server_t;
        // SAFETY: the hook is the user's C function; `raft_get_udata` returns
        // NULL for anything that is not a live server.
        let code = unsafe { f(raft, raft_get_udata(raft), e.as_ptr(), idx) };
        Error::check(code)
    }

    /// Append, taking over the reference `e` carries (`raft_log_append_entry`).
    fn append_owned(&self, e: CEntry) -> core::Result<()> {
        let idx = self.log.current_idx() + 1;
        match self.call(self.cbs.get().log_offer, &e, idx) {
            Ok(()) => self.log.append_with(e, |_, _| Ok(())),
            Err(err) => {
                // The caller keeps its reference on failure, as with upstream.
                let _ = e.into_raw();
                Err(err)
            }
        }
    }

    /// Append a new reference to `e`: without a `log_offer` hook, straight
    /// onto the entries (the server's per-entry path).
    /// Returns the entry's index.
    #[inline(always)]
    fn append_ref(&self, e: &CEntry) -> core::Result<Index> {
        if self.cbs.get().log_offer.is_some() {
            self.append_owned(e.clone())?;
            return Ok(self.log.current_idx());
        }
        Ok(self.log.push(e.clone()))
    }

    /// Remove `from_idx` onwards, newest first: `log_pop` hook, then `notify`.
    fn delete(&self, from_idx: Index, notify: &mut dyn FnMut(&CEntry, Index)) -> core::Result<()> {
        if from_idx == 0 {
            return Err(Error::Callback(-1));
        }
        self.log.pop_with(from_idx, |e, idx| {
            self.call(self.cbs.get().log_pop, e, idx)?;
            notify(e, idx);
            Ok(())
        })
    }

    /// Remove the oldest entry after the `log_poll` hook accepts it.
    fn poll_one(&self) -> core::Result<Option<CEntry>> {
        self.log
            .poll_with(|e, idx| self.call(self.cbs.get().log_poll, e, idx))
    }

    /// Offer every entry to the `log_clear` hook (entries stay).
    fn clear_hooks(&self) {
        let h = self.cbs.get().log_clear;
        if h.is_some() {
            self.log.for_each(|e, idx| {
                let _ = self.call(h, e, idx);
            });
        }
    }

    /// `log_clear` hooks, then drop everything so the next index is `first_idx`.
    fn reset(&self, first_idx: Index) {
        self.clear_hooks();
        self.log.reset_to(first_idx.max(1) - 1);
    }

    fn poll_to(&self, first_idx: Index) -> core::Result<()> {
        if self.cbs.get().log_poll.is_none() {
            let n = first_idx - 1 - self.log.base();
            if n > 0 && n <= self.log.count() {
                self.log.discard_front(n as usize);
            }
        }
        while self.log.base() + 1 < first_idx {
            if self.poll_one()?.is_none() {
                return Err(Error::Callback(-1));
            }
        }
        Ok(())
    }
}

// ---- raft_log_* (raft_log.h) ----

/// # Safety
/// `me` must be NULL or a live log.
unsafe fn log_ref<'a>(me: *mut raft_log_t) -> Option<&'a raft_log_t> {
    me.as_ref()
}

/// A new empty log.
#[no_mangle]
pub extern "C" fn raft_log_new() -> *mut raft_log_t {
    guard(ptr::null_mut(), || {
        Box::into_raw(Box::new(raft_log_t::new(INITIAL_CAPACITY)))
    })
}

/// A new empty log with room for `initial_size` entries (negative means 0).
#[no_mangle]
pub extern "C" fn raft_log_alloc(initial_size: raft_index_t) -> *mut raft_log_t {
    let cap = (initial_size.max(0) as usize).min(MAX_INITIAL_CAPACITY);
    guard(ptr::null_mut(), || {
        Box::into_raw(Box::new(raft_log_t::new(cap)))
    })
}

/// Install the event hooks (copied) and the pointer passed to them as `raft`.
///
/// # Safety
/// `me` must be NULL or a live log; `funcs` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn raft_log_set_callbacks(
    me: *mut raft_log_t,
    funcs: *mut raft_log_cbs_t,
    raft: *mut c_void,
) {
    guard((), || {
        if let Some(l) = log_ref(me) {
            l.cbs.set(funcs.as_ref().copied().unwrap_or_default());
            l.raft.set(raft);
        }
    })
}

/// Free the log, releasing the entries it holds.
///
/// # Safety
/// `me` must be NULL or a live log, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn raft_log_free(me: *mut raft_log_t) {
    if !me.is_null() {
        guard((), || drop(Box::from_raw(me)))
    }
}

/// Drop every entry and restart at index 1 (no hooks).
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_clear(me: *mut raft_log_t) {
    if let Some(l) = log_ref(me) {
        guard((), || {
            l.log.reset_to(0);
            l.removed_by_c();
        })
    }
}

/// Call the `log_clear` hook for every entry (the entries stay).
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_clear_entries(me: *mut raft_log_t) {
    if let Some(l) = log_ref(me) {
        guard((), || l.clear_hooks())
    }
}

/// Append `c`, taking over the caller's reference. 0 on success, else the
/// `log_offer` hook's error (the caller then keeps its reference).
///
/// # Safety
/// `me` must be NULL or a live log; `c` NULL or a live entry.
#[no_mangle]
pub unsafe extern "C" fn raft_log_append_entry(me: *mut raft_log_t, c: *mut raft_entry_t) -> c_int {
    let (Some(l), Some(e)) = (log_ref(me), CEntry::from_owned(c)) else {
        return RAFT_ERR_MISUSE;
    };
    guard(RAFT_ERR_MISUSE, || core::to_code(l.append_owned(e)))
}

/// Number of entries stored.
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_count(me: *mut raft_log_t) -> raft_index_t {
    guard(0, || log_ref(me).map_or(0, |l| l.log.count()))
}

/// Delete `idx` and everything after it, newest first. -1 for `idx == 0`.
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_delete(me: *mut raft_log_t, idx: raft_index_t) -> c_int {
    let Some(l) = log_ref(me) else {
        return RAFT_ERR_MISUSE;
    };
    guard(RAFT_ERR_MISUSE, || {
        let r = l.delete(idx, &mut |_, _| {});
        l.removed_by_c();
        core::to_code(r)
    })
}

/// Drop every entry, keeping the base index.
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_empty(me: *mut raft_log_t) {
    if let Some(l) = log_ref(me) {
        guard((), || {
            l.log.clear_entries();
            l.removed_by_c();
        })
    }
}

/// Remove the oldest entry and store its (now released) pointer in `*etyp`.
/// -1 when empty, or the `log_poll` hook's error.
///
/// # Safety
/// `me` must be NULL or a live log; `etyp` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn raft_log_poll(me: *mut raft_log_t, etyp: *mut *mut raft_entry_t) -> c_int {
    let Some(l) = log_ref(me) else {
        return RAFT_ERR_MISUSE;
    };
    guard(RAFT_ERR_MISUSE, || match l.poll_one() {
        Ok(Some(e)) => {
            l.removed_by_c();
            super::boundary::write_opt(etyp, e.as_ptr());
            0
        }
        Ok(None) => -1,
        Err(err) => err.code(),
    })
}

/// A borrowed array of the entries from `idx` to the newest; its length goes
/// to `*n_etys`. NULL (and 0) when `idx` is not stored. Valid until the log
/// next changes.
///
/// # Safety
/// `me` must be NULL or a live log; `n_etys` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn raft_log_get_from_idx(
    me: *mut raft_log_t,
    idx: raft_index_t,
    n_etys: *mut c_long,
) -> *mut *mut raft_entry_t {
    let Some(l) = log_ref(me) else {
        super::boundary::write_opt(n_etys, 0);
        return ptr::null_mut();
    };
    let (p, n) = guard((ptr::null_mut(), 0), || {
        l.log.with_slice_from(idx, |s| {
            // CEntry is a transparent pointer, so the slice is a raft_entry_t *[].
            if s.is_empty() {
                (ptr::null_mut(), 0)
            } else {
                (s.as_ptr() as *mut *mut raft_entry_t, s.len() as c_long)
            }
        })
    });
    super::boundary::write_opt(n_etys, n);
    p
}

/// The entry at `idx` (borrowed), or NULL.
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_get_at_idx(
    me: *mut raft_log_t,
    idx: raft_index_t,
) -> *mut raft_entry_t {
    guard(ptr::null_mut(), || {
        log_ref(me)
            .and_then(|l| l.log.get(idx))
            .map_or(ptr::null_mut(), |e| e.as_ptr())
    })
}

/// The newest entry (borrowed), or NULL.
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_peektail(me: *mut raft_log_t) -> *mut raft_entry_t {
    guard(ptr::null_mut(), || {
        log_ref(me)
            .and_then(|l| l.log.peek_tail())
            .map_or(ptr::null_mut(), |e| e.as_ptr())
    })
}

/// Index of the newest entry (the base when empty).
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_get_current_idx(me: *mut raft_log_t) -> raft_index_t {
    guard(0, || log_ref(me).map_or(0, |l| l.log.current_idx()))
}

/// Empty the log (after the `log_clear` hooks) so that `idx` is its base.
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_load_from_snapshot(
    me: *mut raft_log_t,
    idx: raft_index_t,
    _term: raft_term_t,
) -> c_int {
    let Some(l) = log_ref(me) else {
        return RAFT_ERR_MISUSE;
    };
    guard(RAFT_ERR_MISUSE, || {
        l.clear_hooks();
        l.log.reset_to(idx);
        l.removed_by_c();
        0
    })
}

/// Index before the first stored entry.
///
/// # Safety
/// `me` must be NULL or a live log.
#[no_mangle]
pub unsafe extern "C" fn raft_log_get_base(me: *mut raft_log_t) -> raft_index_t {
    guard(0, || log_ref(me).map_or(0, |l| l.log.base()))
}

// ---- raft_log_internal_impl ----

unsafe fn internal<'a>(log: *mut c_void) -> Option<&'a raft_log_t> {
    log_ref(log as *mut raft_log_t)
}

unsafe extern "C" fn li_init(raft: *mut c_void, arg: *mut c_void) -> *mut c_void {
    let l = raft_log_new();
    if let Some(log) = l.as_ref() {
        log.raft.set(raft);
        if let Some(cbs) = (arg as *const raft_log_cbs_t).as_ref() {
            log.cbs.set(*cbs);
        }
    }
    l.cast()
}

unsafe extern "C" fn li_free(log: *mut c_void) {
    raft_log_free(log.cast())
}

unsafe extern "C" fn li_reset(log: *mut c_void, first_idx: raft_index_t, _term: raft_term_t) {
    if let Some(l) = internal(log) {
        guard((), || {
            l.reset(first_idx);
            l.removed_by_c();
        })
    }
}

unsafe extern "C" fn li_append(log: *mut c_void, entry: *mut raft_entry_t) -> c_int {
    // The log keeps a reference of its own.
    let (Some(l), Some(e)) = (internal(log), CEntry::from_borrowed(entry)) else {
        return RAFT_ERR_MISUSE;
    };
    guard(RAFT_ERR_MISUSE, || match l.append_owned(e) {
        Ok(()) => 0,
        Err(err) => {
            // A refused entry is handed back: drop the hold taken above.
            raft_entry_release(entry);
            err.code()
        }
    })
}

unsafe extern "C" fn li_poll(log: *mut c_void, first_idx: raft_index_t) -> c_int {
    let Some(l) = internal(log) else {
        return RAFT_ERR_MISUSE;
    };
    guard(RAFT_ERR_MISUSE, || {
        let r = l.poll_to(first_idx);
        l.removed_by_c();
        core::to_code(r)
    })
}

unsafe extern "C" fn li_pop(
    log: *mut c_void,
    from_idx: raft_index_t,
    cb: raft_entry_notify_f,
    cb_arg: *mut c_void,
) -> c_int {
    let Some(l) = internal(log) else {
        return RAFT_ERR_MISUSE;
    };
    guard(RAFT_ERR_MISUSE, || {
        let r = l.delete(from_idx, &mut |e, idx| {
            if let Some(f) = cb {
                f(cb_arg, e.as_ptr(), idx)
            }
        });
        l.removed_by_c();
        core::to_code(r)
    })
}

unsafe extern "C" fn li_get(log: *mut c_void, idx: raft_index_t) -> *mut raft_entry_t {
    internal(log)
        .and_then(|l| l.log.get(idx))
        .map_or(ptr::null_mut(), CEntry::into_raw)
}

unsafe extern "C" fn li_get_batch(
    log: *mut c_void,
    idx: raft_index_t,
    entries_n: raft_index_t,
    entries: *mut *mut raft_entry_t,
) -> raft_index_t {
    let Some(l) = internal(log) else { return 0 };
    if entries.is_null() || entries_n <= 0 {
        return 0;
    }
    guard(0, || {
        let mut out = Vec::new();
        l.log.get_batch(idx, entries_n, &mut out);
        let n = out.len();
        for (i, e) in out.into_iter().enumerate() {
            *entries.add(i) = e.into_raw();
        }
        n as raft_index_t
    })
}

unsafe extern "C" fn li_first_idx(log: *mut c_void) -> raft_index_t {
    internal(log).map_or(0, |l| l.log.base() + 1)
}

unsafe extern "C" fn li_current_idx(log: *mut c_void) -> raft_index_t {
    internal(log).map_or(0, |l| l.log.current_idx())
}

unsafe extern "C" fn li_count(log: *mut c_void) -> raft_index_t {
    internal(log).map_or(0, |l| l.log.count())
}

unsafe extern "C" fn li_sync(_log: *mut c_void) -> c_int {
    0
}

/// The built-in in-memory log as a `raft_log_impl_t`; `init`'s `arg` may
/// point to a `raft_log_cbs_t` to install.
#[no_mangle]
pub static raft_log_internal_impl: raft_log_impl_t = raft_log_impl_t {
    init: Some(li_init),
    free: Some(li_free),
    reset: Some(li_reset),
    append: Some(li_append),
    poll: Some(li_poll),
    pop: Some(li_pop),
    get: Some(li_get),
    get_batch: Some(li_get_batch),
    first_idx: Some(li_first_idx),
    current_idx: Some(li_current_idx),
    count: Some(li_count),
    sync: Some(li_sync),
};

// ---- VtableLog ----

/// Any `raft_log_impl_t` (the built-in one included) as a `core::LogStore`.
///
/// The vtable is copied, so the caller's struct need not outlive the server.
/// Missing function pointers act as an empty, always-succeeding log. The
/// built-in log is driven directly, without the C calls.
pub struct VtableLog {
    vt: raft_log_impl_t,
    log: *mut c_void,
    /// `log` itself when it is the built-in log (driven directly), else NULL.
    builtin: *const raft_log_t,
}

impl VtableLog {
    /// Create the log with `impl_->init(raft, arg)`; `None` when `impl_` is NULL.
    ///
    /// # Safety
    /// `impl_` must be NULL or a valid vtable whose functions accept `arg`.
    pub unsafe fn new(
        impl_: *const raft_log_impl_t,
        raft: *mut raft_server_t,
        arg: *mut c_void,
    ) -> Option<VtableLog> {
        let vt = *impl_.as_ref()?;
        let log = match vt.init {
            Some(init) => init(raft.cast(), arg),
            None => ptr::null_mut(),
        };
        let builtin = if ptr::eq(impl_, &raft_log_internal_impl) {
            log as *const raft_log_t
        } else {
            ptr::null()
        };
        Some(VtableLog { vt, log, builtin })
    }

    /// `get_batch` through the C vtable (held references are handed over).
    #[inline(never)]
    fn c_get_batch(&self, idx: Index, max: Index, out: &mut Vec<CEntry>) -> Index {
        let Some(f) = self.vt.get_batch else { return 0 };
        if max <= 0 {
            return 0;
        }
        // Bound the scratch buffer; a shorter batch is always allowed.
        let max = max.min(1 << 16);
        let mut buf: Vec<*mut raft_entry_t> = vec![ptr::null_mut(); max as usize];
        // SAFETY: `f` is the user's get_batch, given room for `max` pointers.
        let n = unsafe { f(self.log, idx, max, buf.as_mut_ptr()) }.clamp(0, max);
        // SAFETY: the callback hands over one reference per entry.
        unsafe { CEntry::extend_owned(out, &buf[..n as usize]) as Index }
    }

    /// The log handle `init` returned (what `raft_get_log` gives out).
    pub fn handle(&self) -> *mut c_void {
        self.log
    }

    /// Make `me`, the server this log was created for, the one told when C
    /// code removes entries from the built-in log.
    pub(crate) fn set_owner(&self, me: *mut raft_server_t) {
        if let Some(l) = self.builtin() {
            l.owner.set(me);
        }
    }

    #[inline]
    fn builtin(&self) -> Option<&raft_log_t> {
        // SAFETY: set only for the built-in vtable, whose `log` came from
        // `li_init` and lives until drop.
        unsafe { self.builtin.as_ref() }
    }
}

impl Drop for VtableLog {
    fn drop(&mut self) {
        if let Some(free) = self.vt.free {
            // SAFETY: `log` came from this vtable's init and is freed once.
            unsafe { free(self.log) }
        }
    }
}

unsafe extern "C" fn notify_trampoline(
    arg: *mut c_void,
    entry: *mut raft_entry_t,
    idx: raft_index_t,
) {
    let f = &mut *(arg as *mut &mut dyn FnMut(&CEntry, Index));
    guard((), || {
        CEntry::with_raw(entry, |e| {
            if let Some(e) = e {
                f(e, idx)
            }
        })
    })
}

impl LogStore<CEntry> for VtableLog {
    fn reset(&self, first_idx: Index, term: Term) {
        if let Some(l) = self.builtin() {
            return l.reset(first_idx);
        }
        if let Some(f) = self.vt.reset {
            unsafe { f(self.log, first_idx, term) }
        }
    }

    #[inline(always)]
    fn append(&self, entry: &CEntry) -> core::Result<()> {
        if let Some(l) = self.builtin() {
            return l.append_ref(entry).map(|_| ());
        }
        match self.vt.append {
            Some(f) => Error::check(unsafe { f(self.log, entry.as_ptr()) }),
            None => Ok(()),
        }
    }

    #[inline(always)]
    fn append_last(&self, entry: &CEntry) -> core::Result<Index> {
        if let Some(l) = self.builtin() {
            return l.append_ref(entry);
        }
        self.append(entry)?;
        Ok(self.current_idx())
    }

    #[inline]
    fn append_batch(&self, entries: &[CEntry]) -> (usize, core::Result<()>) {
        match self.builtin() {
            Some(l) if l.cbs.get().log_offer.is_none() => {
                l.log.push_all(entries);
                (entries.len(), Ok(()))
            }
            _ => core::log::append_each(self, entries),
        }
    }

    fn poll(&self, first_idx: Index) -> core::Result<()> {
        if let Some(l) = self.builtin() {
            return l.poll_to(first_idx);
        }
        match self.vt.poll {
            Some(f) => Error::check(unsafe { f(self.log, first_idx) }),
            None => Ok(()),
        }
    }

    fn pop(&self, from_idx: Index, notify: &mut dyn FnMut(&CEntry, Index)) -> core::Result<()> {
        if let Some(l) = self.builtin() {
            return l.delete(from_idx, notify);
        }
        let Some(f) = self.vt.pop else { return Ok(()) };
        let mut notify = notify;
        let arg = &mut notify as *mut &mut dyn FnMut(&CEntry, Index) as *mut c_void;
        Error::check(unsafe { f(self.log, from_idx, Some(notify_trampoline), arg) })
    }

    fn get(&self, idx: Index) -> Option<CEntry> {
        if let Some(l) = self.builtin() {
            return l.log.get(idx);
        }
        let f = self.vt.get?;
        unsafe { CEntry::from_owned(f(self.log, idx)) }
    }

    #[inline]
    fn term_at(&self, idx: Index) -> Option<Term> {
        match self.builtin() {
            Some(l) => l.log.term_at(idx),
            None => self.get(idx).map(|e| core::Entry::term(&e)),
        }
    }

    #[inline]
    fn removals(&self) -> Option<u64> {
        self.builtin().map(|l| l.log.removals())
    }

    #[inline]
    fn get_batch(&self, idx: Index, max: Index, out: &mut Vec<CEntry>) -> Index {
        match self.builtin() {
            Some(l) => l.log.get_batch(idx, max, out),
            None => self.c_get_batch(idx, max, out),
        }
    }

    fn first_idx(&self) -> Index {
        if let Some(l) = self.builtin() {
            return l.log.base() + 1;
        }
        self.vt.first_idx.map_or(1, |f| unsafe { f(self.log) })
    }

    #[inline]
    fn current_idx(&self) -> Index {
        if let Some(l) = self.builtin() {
            return l.log.current_idx();
        }
        self.vt.current_idx.map_or(0, |f| unsafe { f(self.log) })
    }

    fn count(&self) -> Index {
        if let Some(l) = self.builtin() {
            return l.log.count();
        }
        self.vt.count.map_or(0, |f| unsafe { f(self.log) })
    }

    fn sync(&self) -> core::Result<()> {
        if !self.builtin.is_null() {
            return Ok(());
        }
        match self.vt.sync {
            Some(f) => Error::check(unsafe { f(self.log) }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Entry;

    fn entry(id: i32) -> CEntry {
        CEntry::create(1, id, 0, b"x").unwrap()
    }

    /// Exercise a `VtableLog`: the built-in one directly, or through C calls
    /// when `copy` hides that the vtable is the built-in one.
    fn exercise(copy: bool) {
        let vt = raft_log_internal_impl;
        let imp: *const raft_log_impl_t = if copy { &vt } else { &raft_log_internal_impl };
        let log = unsafe { VtableLog::new(imp, ptr::null_mut(), ptr::null_mut()) }.unwrap();
        assert_eq!(log.builtin.is_null(), copy);
        let es: Vec<CEntry> = (1..=5).map(entry).collect();
        for e in &es {
            log.append(e).unwrap();
        }
        assert_eq!(es[0].refs(), 2, "the log holds its own reference");
        assert_eq!((log.first_idx(), log.current_idx(), log.count()), (1, 5, 5));
        assert_eq!(log.get(3).unwrap().id(), 3);
        assert!(log.get(6).is_none());
        let mut out = Vec::new();
        assert_eq!(log.get_batch(2, 3, &mut out), 3);
        assert_eq!(out.iter().map(|e| e.id()).collect::<Vec<_>>(), [2, 3, 4]);
        drop(out);
        let mut seen = Vec::new();
        log.pop(4, &mut |e: &CEntry, i| seen.push((e.id(), i)))
            .unwrap();
        assert_eq!(seen, [(5, 5), (4, 4)]);
        log.poll(3).unwrap();
        assert_eq!((log.first_idx(), log.current_idx()), (3, 3));
        assert_eq!(es[0].refs(), 1, "polled entries are released");
        log.reset(10, 2);
        assert_eq!(
            (log.first_idx(), log.current_idx(), log.count()),
            (10, 9, 0)
        );
        log.sync().unwrap();
        drop(log);
        assert!(es.iter().all(|e| e.refs() == 1));
    }

    #[test]
    fn builtin_log_through_vtable_log() {
        exercise(false);
    }

    #[test]
    fn c_calls_and_notify_trampoline() {
        exercise(true);
    }

    #[test]
    fn null_vtable_is_refused() {
        assert!(unsafe { VtableLog::new(ptr::null(), ptr::null_mut(), ptr::null_mut()) }.is_none());
    }
}
