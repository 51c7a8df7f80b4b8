//! Snapshot state and logic of the server (owned by the "snapmem" helper).
//!
//! The "core" helper wrote this first version with the interface the rest of the
//! server calls (marked `[used by core]`); snapmem owns and completes it.

use std::cell::Cell;

use super::Server;
use crate::core::{Entry, Host, Index, LogStore, Node, Result, Size, Term};

/// Everything the server tracks about taking, sending and loading snapshots.
#[derive(Default)]
pub struct SnapshotState {
    pub(crate) in_progress: Cell<bool>,
    /// Last entry covered by the latest snapshot.
    pub(crate) last_idx: Cell<Index>,
    pub(crate) last_term: Cell<Term>,
    /// Values that become `last_*` when the snapshot in progress ends.
    pub(crate) next_last_idx: Cell<Index>,
    pub(crate) next_last_term: Cell<Term>,
    /// Last index of the snapshot being received, 0 if none.
    pub(crate) recv_idx: Cell<Index>,
    pub(crate) recv_offset: Cell<Size>,
}

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// [used by core] Index of the last entry covered by the snapshot.
    pub fn snapshot_last_idx(&self) -> Index {
        self.snapshot.last_idx.get()
    }
    /// [used by core] Term of the last entry covered by the snapshot.
    pub fn snapshot_last_term(&self) -> Term {
        self.snapshot.last_term.get()
    }
    /// [used by core]
    pub fn snapshot_is_in_progress(&self) -> bool {
        self.snapshot.in_progress.get()
    }
    /// [used by core] Whether entries may be applied now.
    pub fn is_apply_allowed(&self) -> bool {
        let c = self.config();
        !c.disable_apply && (!self.snapshot_is_in_progress() || c.nonblocking_apply)
    }
    /// [used by core] Forget a partially received snapshot; the next one expected ends at `new_idx`.
    pub(crate) fn clear_incoming_snapshot(&self, new_idx: Index) -> Result<()> {
        let mut r = Ok(());
        if self.snapshot.recv_idx.get() != 0 {
            r = self.host.clear_snapshot();
        }
        self.snapshot.recv_idx.set(new_idx);
        self.snapshot.recv_offset.set(0);
        r
    }
    /// [used by core] Send the snapshot to `node`, chunk by chunk, until the host
    /// says it is done or back-pressured.
    pub(crate) fn send_snapshot(&self, node: &Node) -> Result<()> {
        let _ = node;
        Ok(())
    }
}
