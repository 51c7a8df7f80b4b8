//! What the core needs from a log entry.
//!
//! The core never owns entry memory itself: it works with a handle type chosen by
//! the embedding layer. For the C ABI the handle is a reference-counted
//! `raft_entry_t` whose `Clone` holds a reference and whose `Drop` releases it;
//! for Rust users it can be as simple as an `Rc` around a struct.

use super::types::{EntryId, Term};

/// A shared handle to an immutable log entry.
///
/// `Clone` must be cheap (a reference count) and must not copy the payload.
pub trait Entry: Clone {
    /// Term in which the entry was created.
    fn term(&self) -> Term;
    /// Debugging id set by the client.
    fn id(&self) -> EntryId;
    /// Entry type (see [`crate::core::types::log_type`]).
    fn entry_type(&self) -> i32;
    /// Payload bytes.
    fn data(&self) -> &[u8];
    /// Stamp the entry with the leader's term when a client submits it
    /// (`raft_recv_entry` writes the caller's `raft_entry_t` in place, as upstream does).
    fn set_term(&self, term: Term);
    /// Create a new entry with its own payload; `None` when memory is exhausted.
    fn create(term: Term, id: EntryId, entry_type: i32, data: &[u8]) -> Option<Self>;
}
