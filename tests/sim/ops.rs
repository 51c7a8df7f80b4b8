//! What clients and operators do to the cluster: submit entries, read,
//! take snapshots, add and remove members, transfer leadership.

use std::collections::BTreeMap;
use std::rc::Rc;

use raft::core::{log_type, EntryResponse, Error, NodeId, NODE_ID_NONE};

use super::cluster::{Cluster, SimNode, ELECTION_TIMEOUT};
use super::entry::{EntryKey, SimEntry};
use super::host::Disk;
use super::snap;

impl Cluster {
    /// Submit a client entry to node `id`; returns the leader's answer and the
    /// entry's identity when accepted.
    pub fn submit(&mut self, id: NodeId) -> Option<(EntryResponse, EntryKey)> {
        let s = self.server(id)?;
        let len = self.rng.range(0, 24) as usize;
        let data: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
        let e = SimEntry::new(0, self.shared.new_entry_id(), log_type::NORMAL, data);
        let was_leader = s.is_leader();
        let r = s.recv_entry(&e);
        let out = match &r {
            Ok(resp) => {
                if !was_leader {
                    self.shared
                        .violation(format!("node {id} accepted an entry while not leader"));
                }
                self.counts.entries += 1;
                Some((*resp, e.key()))
            }
            Err(Error::NotLeader) if !was_leader => None,
            Err(_) => None,
        };
        self.after_call(id, r.map(|_| ()));
        out
    }

    /// A linearizable read on node `id`: when the server lets it proceed, the
    /// node's state machine must already reflect every entry that was known
    /// committed when the read was issued, and the node must still have led
    /// the newest term then.
    pub fn read(&mut self, id: NodeId) {
        let Some(s) = self.server(id) else { return };
        let must_see = self.shared.max_committed();
        let weak = Rc::downgrade(&s);
        let shared = self.shared.clone();
        let issued = self.now();
        // A newer term already had a leader: a quorum of voters moved past
        // ours, so no quorum can confirm this node's leadership any more.
        let (term, newest) = (s.current_term(), self.shared.newest_leader_term());
        self.counts.reads += 1;
        let r = s.recv_read_request(Box::new(move |can_read| {
            if !can_read {
                shared.reads_failed.set(shared.reads_failed.get() + 1);
                return;
            }
            shared.reads_ok.set(shared.reads_ok.get() + 1);
            if newest > term {
                shared.violation(format!(
                    "linearizability: node {id} served a read issued at {issued}ms in term {term}, \
                     when term {newest} already had a leader"
                ));
            }
            let Some(s) = weak.upgrade() else { return };
            let seen = s.host().fsm.borrow().last_idx;
            if seen < must_see {
                shared.violation(format!(
                    "linearizability: read issued on node {id} at {issued}ms saw state at idx {seen}, \
                     but idx {must_see} was already committed"
                ));
            }
        }));
        self.after_call(id, r);
    }

    /// Take a snapshot on node `id`: begin it, capture the state machine, and
    /// end it now or leave it in progress until the next call (or cancel it).
    pub fn compact(&mut self, id: NodeId) {
        let Some(s) = self.server(id) else { return };
        if s.host().pending_snapshot.borrow().is_some() {
            if self.rng.chance(100) {
                s.host().pending_snapshot.borrow_mut().take();
                let r = s.cancel_snapshot();
                self.after_call(id, r);
            } else {
                self.finish_snapshot(id);
            }
            return;
        }
        if snap::num_snapshottable_logs(&s) == 0 {
            return;
        }
        let r = snap::begin_snapshot(&s);
        if r.is_err() {
            self.after_call(id, r);
            return;
        }
        let fsm = s.host().fsm.borrow().clone();
        if fsm.last_idx != s.last_applied_idx() {
            self.shared.violation(format!(
                "node {id}: snapshot begins at applied idx {} but the state machine is at {}",
                s.last_applied_idx(),
                fsm.last_idx
            ));
        }
        *s.host().pending_snapshot.borrow_mut() = Some((fsm.last_term, fsm.last_idx, fsm.encode()));
        self.after_call(id, Ok(()));
        if self.rng.chance(500) {
            self.finish_snapshot(id);
        }
    }

    /// End the snapshot in progress on `id`, if any; it becomes the node's
    /// snapshot on disk.
    pub fn finish_snapshot(&mut self, id: NodeId) {
        let Some(s) = self.server(id) else { return };
        let Some((term, idx, bytes)) = s.host().pending_snapshot.borrow_mut().take() else {
            return;
        };
        // The snapshot is durable before the server may start sending it
        // (ending a snapshot as leader sends it to lagging followers).
        let previous = s
            .host()
            .disk
            .snapshot
            .replace(Some((term, idx, bytes.clone())));
        let r = snap::end_snapshot(&s);
        if r.is_err() {
            *s.host().disk.snapshot.borrow_mut() = previous;
        } else {
            self.shared.snapshots.borrow_mut().insert(idx, bytes);
            self.counts.snapshots += 1;
            self.trace(format_args!("n{id} snapshot at {idx}"));
            if s.snapshot_last_idx() != idx || s.snapshot_last_term() != term {
                self.shared.violation(format!(
                    "node {id}: snapshot metadata {}/{} differs from the state machine {idx}/{term}",
                    s.snapshot_last_idx(),
                    s.snapshot_last_term(),
                ));
            }
        }
        self.after_call(id, r);
    }

    /// Ask the leader to add a brand-new node (non-voting first; the leader
    /// promotes it once it has caught up).
    pub fn add_member(&mut self) {
        let Some((lid, leader)) = self.leader() else {
            return;
        };
        if leader.voting_change_is_in_progress() {
            return;
        }
        let id = self.next_node_id;
        self.next_node_id += 1;
        let e = SimEntry::cfg(log_type::ADD_NONVOTING_NODE, self.shared.new_entry_id(), id);
        let r = leader.recv_entry(&e);
        let ok = r.is_ok();
        self.after_call(lid, r.map(|_| ()));
        if ok {
            let disk = Rc::new(Disk::new(BTreeMap::new()));
            self.nodes.insert(id, SimNode::new(disk));
            self.start(id);
            self.counts.joins += 1;
            self.trace(format_args!("n{lid} adds n{id}"));
        }
    }

    /// Ask the leader to remove one of the other members.
    pub fn remove_member(&mut self) {
        let Some((lid, leader)) = self.leader() else {
            return;
        };
        if leader.voting_change_is_in_progress() {
            return;
        }
        let others: Vec<NodeId> = leader
            .nodes()
            .iter()
            .map(|n| n.id())
            .filter(|n| *n != lid)
            .collect();
        if others.len() < 2 {
            return;
        }
        let Some(&victim) = self.rng.pick(&others) else {
            return;
        };
        let e = SimEntry::cfg(log_type::REMOVE_NODE, self.shared.new_entry_id(), victim);
        let r = leader.recv_entry(&e);
        if r.is_ok() {
            self.trace(format_args!("n{lid} removes n{victim}"));
        }
        self.after_call(lid, r.map(|_| ()));
    }

    pub fn transfer_leader(&mut self) {
        let Some((lid, leader)) = self.leader() else {
            return;
        };
        let voters: Vec<NodeId> = leader
            .nodes()
            .iter()
            .filter(|n| n.is_voting() && n.id() != lid)
            .map(|n| n.id())
            .collect();
        // Sometimes let the leader pick the most up-to-date voter itself.
        let target = if self.rng.chance(300) {
            NODE_ID_NONE
        } else {
            match self.rng.pick(&voters) {
                Some(&t) => t,
                None => return,
            }
        };
        // A timeout of 0 means "the election timeout".
        let timeout = *self
            .rng
            .pick(&[0, ELECTION_TIMEOUT, 3 * ELECTION_TIMEOUT])
            .unwrap();
        let r = leader.transfer_leader(target, timeout);
        if r.is_ok() {
            self.counts.transfers += 1;
            self.trace(format_args!(
                "n{lid} transfers leadership to n{}",
                leader.transfer_leader_target()
            ));
        }
        self.after_call(lid, r);
    }
}
