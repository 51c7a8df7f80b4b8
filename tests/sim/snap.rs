//! The snapshot calls the simulation makes, gathered in one place.

use raft::core::{Index, Node, Result, SnapshotRequest, SnapshotResponse, Term};

use super::SimServer;

pub fn num_snapshottable_logs(s: &SimServer) -> Index {
    s.num_snapshottable_logs()
}
pub fn begin_snapshot(s: &SimServer) -> Result<()> {
    s.begin_snapshot()
}
pub fn end_snapshot(s: &SimServer) -> Result<()> {
    s.end_snapshot()
}
pub fn restore_snapshot(s: &SimServer, term: Term, idx: Index) -> Result<()> {
    s.restore_snapshot(term, idx)
}
pub fn begin_load_snapshot(s: &SimServer, term: Term, idx: Index) -> Result<()> {
    s.begin_load_snapshot(term, idx)
}
pub fn end_load_snapshot(s: &SimServer) -> Result<()> {
    s.end_load_snapshot()
}
pub fn recv_snapshot(
    s: &SimServer,
    _node: Option<&Node>,
    req: &SnapshotRequest,
) -> (SnapshotResponse, Result<()>) {
    s.recv_snapshot(req)
}
pub fn recv_snapshot_response(
    s: &SimServer,
    node: Option<&Node>,
    resp: &SnapshotResponse,
) -> Result<()> {
    s.recv_snapshot_response(node, resp)
}
