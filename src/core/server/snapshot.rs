//! Snapshot state and logic of the server (owned by the "snapmem" helper).
//!
//! Placeholder so the server compiles; snapmem fills it in.

/// Everything the server tracks about taking, sending and loading snapshots.
#[derive(Default)]
pub struct SnapshotState {}
