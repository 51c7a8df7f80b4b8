//! Directed checks for states the random schedule cannot reach.

use std::collections::BTreeMap;

use raft::core::{log_type, Entry, LogStore, SnapshotChunk, SnapshotRequest};

use super::cluster::Cluster;
use super::entry::SimEntry;
use super::fsm::Fsm;
use super::net::Faults;
use super::snap;

/// A follower whose log runs past a snapshot's last index with entries of
/// another history (an older term) gets that snapshot: it must refuse it or
/// drop those entries, never install it and keep them. No leader sends such
/// a snapshot (it sends one only to a follower whose log ends before it), so
/// the message is built by hand.
pub fn snapshot_over_conflicting_log() -> Result<(), String> {
    let mut c = Cluster::new(1, 3, Faults::calm(), false, false, true);
    // Node 3 holds idx 4..=8 of term 2, a history nobody committed.
    c.crash(3);
    {
        let disk = c.nodes[&3].disk.clone();
        let log = disk.log.borrow().clone();
        for id in 0..5 {
            let e = SimEntry::new(2, 1000 + id, log_type::NORMAL, vec![id as u8]);
            log.append(&e).map_err(|e| format!("append: {e:?}"))?;
        }
        disk.term.set(2);
    }
    c.restart(3);
    let f = c.server(3).ok_or("node 3 is down")?;
    if f.current_idx() != 8 {
        return Err(format!(
            "node 3 restarted with last idx {}",
            f.current_idx()
        ));
    }
    // The leader of term 3 committed another history up to idx 6.
    let members: BTreeMap<_, _> = [(1, true), (2, true), (3, true)].into();
    let mut fsm = Fsm::new(members);
    fsm.last_idx = 6;
    fsm.last_term = 3;
    fsm.hash = 0x5eed;
    let req = SnapshotRequest {
        term: 3,
        leader_id: 1,
        msg_id: 1,
        snapshot_index: 6,
        snapshot_term: 3,
        chunk: SnapshotChunk {
            offset: 0,
            data: fsm.encode(),
            last_chunk: true,
        },
    };
    let node = f.node(1);
    let _ = snap::recv_snapshot(&f, node.as_deref(), &req);
    if f.snapshot_last_idx() < 6 {
        return Ok(()); // refused: fine, the leader's AppendEntries will repair the log
    }
    let log = f.log();
    for idx in 7..=log.current_idx() {
        if let Some(e) = log.get(idx) {
            if e.term() < 3 {
                return Err(format!(
                    "installed snapshot 6/3 but kept idx {idx} of term {} after it",
                    e.term()
                ));
            }
        }
    }
    Ok(())
}
