//! The snapshot calls the simulation makes, in one place so the rest of the
//! simulation does not depend on when the snapshot API landed.
//!
//! Until the core's snapshot API exists these report "unsupported" and the
//! schedule simply takes no snapshots.

use raft::core::{Error, Index, Result, Term};

use super::SimServer;

pub fn num_snapshottable_logs(_s: &SimServer) -> Index {
    0
}
pub fn begin_snapshot(_s: &SimServer) -> Result<()> {
    Err(Error::Misuse)
}
pub fn end_snapshot(_s: &SimServer) -> Result<()> {
    Err(Error::Misuse)
}
pub fn restore_snapshot(_s: &SimServer, _term: Term, _idx: Index) -> Result<()> {
    Err(Error::Misuse)
}
pub fn begin_load_snapshot(_s: &SimServer, _term: Term, _idx: Index) -> Result<()> {
    Err(Error::Misuse)
}
pub fn end_load_snapshot(_s: &SimServer) -> Result<()> {
    Err(Error::Misuse)
}
pub fn recv_snapshot(
    _s: &SimServer,
    _node: Option<&raft::core::Node>,
    req: &raft::core::SnapshotRequest,
) -> (raft::core::SnapshotResponse, Result<()>) {
    let resp = raft::core::SnapshotResponse { msg_id: req.msg_id, term: req.term, ..Default::default() };
    (resp, Err(Error::Misuse))
}
pub fn recv_snapshot_response(
    _s: &SimServer,
    _node: Option<&raft::core::Node>,
    _resp: &raft::core::SnapshotResponse,
) -> Result<()> {
    Err(Error::Misuse)
}
