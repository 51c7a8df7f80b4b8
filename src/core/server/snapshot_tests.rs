//! Tests of the snapshot rules: a leader and a follower exchange real chunks
//! through a small host that keeps snapshot bytes, and loads re-entrantly.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::super::Server;
use crate::core::memory_log::MemoryLog;
use crate::core::*;

#[derive(Clone, Debug)]
struct TE(Rc<(Cell<Term>, EntryId)>);

impl Entry for TE {
    fn term(&self) -> Term {
        self.0 .0.get()
    }
    fn id(&self) -> EntryId {
        self.0 .1
    }
    fn entry_type(&self) -> i32 {
        log_type::NORMAL
    }
    fn data(&self) -> &[u8] {
        &[]
    }
    fn set_term(&self, term: Term) {
        self.0 .0.set(term)
    }
    fn create(term: Term, id: EntryId, _t: i32, _d: &[u8]) -> Option<Self> {
        Some(TE(Rc::new((Cell::new(term), id))))
    }
}

type S = Server<TE, MemoryLog<TE>, SHost>;

/// A host whose snapshot is a byte string sent `chunk` bytes at a time.
#[derive(Default)]
struct SHost {
    me: RefCell<Weak<S>>,
    snap: RefCell<Vec<u8>>,
    chunk: Cell<usize>,
    /// Refuse chunks (back-pressure) after this many were handed out.
    budget: Cell<Option<u32>>,
    sent_snap: RefCell<Vec<(NodeId, SnapshotRequest)>>,
    sent_ae: RefCell<Vec<(NodeId, AppendEntriesRequest<TE>)>>,
    recv: RefCell<Vec<u8>>,
    stores: Cell<u32>,
    clears: Cell<u32>,
    /// Fail this many `load_snapshot` calls.
    fail_loads: Cell<u32>,
    /// Return 0 from this many `load_snapshot` calls without loading.
    skip_loads: Cell<u32>,
    /// The configuration to rebuild when loading: (id, voting).
    members: RefCell<Vec<(NodeId, bool)>>,
    loaded: RefCell<Vec<(Term, Index, Vec<u8>)>>,
}

impl Host<TE> for SHost {
    fn send_appendentries(&self, node: &Node, msg: &AppendEntriesRequest<TE>) -> Result<()> {
        self.sent_ae.borrow_mut().push((node.id(), msg.clone()));
        Ok(())
    }
    fn has_send_appendentries(&self) -> bool {
        true
    }
    fn send_snapshot(&self, node: &Node, msg: &SnapshotRequest) -> Result<()> {
        self.sent_snap.borrow_mut().push((node.id(), msg.clone()));
        Ok(())
    }
    fn has_send_snapshot(&self) -> bool {
        true
    }
    fn get_snapshot_chunk(&self, _node: &Node, offset: Size) -> Result<SnapshotChunk> {
        if let Some(b) = self.budget.get() {
            if b == 0 {
                return Err(Error::Done);
            }
            self.budget.set(Some(b - 1));
        }
        let snap = self.snap.borrow();
        let start = offset as usize;
        if start >= snap.len() {
            return Err(Error::Done);
        }
        let end = (start + self.chunk.get().max(1)).min(snap.len());
        Ok(SnapshotChunk {
            offset,
            data: snap[start..end].to_vec(),
            last_chunk: end == snap.len(),
        })
    }
    fn store_snapshot_chunk(&self, _idx: Index, offset: Size, chunk: &SnapshotChunk) -> Result<()> {
        let mut recv = self.recv.borrow_mut();
        assert_eq!(recv.len() as Size, offset, "chunks must arrive in order");
        recv.extend_from_slice(&chunk.data);
        self.stores.set(self.stores.get() + 1);
        Ok(())
    }
    fn clear_snapshot(&self) -> Result<()> {
        self.recv.borrow_mut().clear();
        self.clears.set(self.clears.get() + 1);
        Ok(())
    }
    fn load_snapshot(&self, term: Term, idx: Index) -> Result<()> {
        if self.fail_loads.get() > 0 {
            self.fail_loads.set(self.fail_loads.get() - 1);
            return Err(Error::Callback(-100));
        }
        if self.skip_loads.get() > 0 {
            self.skip_loads.set(self.skip_loads.get() - 1);
            return Ok(());
        }
        // Re-enter the server, as upstream's simulator does.
        let s = self.me.borrow().upgrade().unwrap();
        s.begin_load_snapshot(term, idx)?;
        let my_id = s.my_id();
        for &(id, voting) in self.members.borrow().iter() {
            let n = s
                .node(id)
                .or_else(|| s.add_node(0, id, id == my_id))
                .unwrap();
            n.set_voting(voting);
        }
        s.end_load_snapshot()?;
        let bytes = std::mem::take(&mut *self.recv.borrow_mut());
        self.loaded.borrow_mut().push((term, idx, bytes.clone()));
        *self.snap.borrow_mut() = bytes;
        Ok(())
    }
}

/// A server whose own id is `me`, in a cluster of ids 1..=n.
fn server(me: NodeId, n: NodeId) -> Rc<S> {
    let s = Rc::new(Server::new(MemoryLog::new(), SHost::default()));
    *s.host().me.borrow_mut() = Rc::downgrade(&s);
    s.host().chunk.set(4);
    *s.host().members.borrow_mut() = (1..=n).map(|id| (id, true)).collect();
    for id in 1..=n {
        s.add_node(0, id, id == me).unwrap();
    }
    s
}

/// A leader of term 1 with `entries` client entries after its no-op, all committed.
fn leader_with(n: NodeId, entries: EntryId) -> Rc<S> {
    let s = server(1, n);
    s.set_current_term(1).unwrap();
    s.become_leader().unwrap();
    for id in 1..=entries {
        s.recv_entry(&TE::create(0, id, 0, &[]).unwrap()).unwrap();
    }
    s.set_commit_idx(s.current_idx());
    s.host().sent_ae.borrow_mut().clear();
    // The followers never answered: they still need everything.
    for id in 2..=n {
        s.node(id).unwrap().set_next_idx(1);
    }
    s
}

fn append(s: &S, n: EntryId) {
    for id in 1..=n {
        s.append_entry(&TE::create(1, id, 0, &[]).unwrap()).unwrap();
    }
}

/// Deliver every queued snapshot chunk from `l` to `f` and the answers back;
/// `drop_nth` loses that chunk (0-based) on the way.
fn pump(l: &S, f: &S, drop_nth: Option<usize>) -> Vec<SnapshotResponse> {
    let msgs: Vec<_> = l.host().sent_snap.borrow_mut().drain(..).collect();
    let mut resps = Vec::new();
    for (i, (_, m)) in msgs.into_iter().enumerate() {
        if Some(i) == drop_nth {
            continue;
        }
        let (r, _) = f.recv_snapshot(&m);
        resps.push(r);
    }
    let node = l.node(f.my_id()).unwrap();
    for r in &resps {
        let _ = l.recv_snapshot_response(Some(&node), r);
    }
    resps
}

/// One AppendEntries round trip from `l` to `f` for the last queued request.
fn ae_round(l: &S, f: &S) {
    let Some((_, m)) = l.host().sent_ae.borrow_mut().pop() else {
        return;
    };
    l.host().sent_ae.borrow_mut().clear();
    let (r, _) = f.recv_appendentries(&m);
    let node = l.node(f.my_id()).unwrap();
    let _ = l.recv_appendentries_response(Some(&node), &r);
}

#[test]
fn begin_needs_two_entries_and_something_committed() {
    let s = server(1, 1);
    assert_eq!(s.begin_snapshot(), Err(Error::Callback(-1)));
    append(&s, 1);
    s.set_commit_idx(1);
    assert_eq!(s.num_snapshottable_logs(), 0);
    assert_eq!(s.begin_snapshot(), Err(Error::Callback(-1)));
    append(&s, 2);
    s.commit_idx.set(0);
    assert_eq!(s.num_snapshottable_logs(), 0);
    assert_eq!(s.begin_snapshot(), Err(Error::Callback(-1)));
    s.set_commit_idx(2);
    assert_eq!(s.num_snapshottable_logs(), 2);
    assert_eq!(s.begin_snapshot(), Ok(()));
    assert_eq!(
        s.last_applied_idx(),
        2,
        "begin applies everything committed"
    );
    assert_eq!(s.begin_snapshot(), Err(Error::SnapshotInProgress));
}

#[test]
fn snapshot_blocks_apply_unless_nonblocking() {
    let s = server(1, 1);
    append(&s, 3);
    s.set_commit_idx(2);
    s.begin_snapshot().unwrap();
    assert!(s.snapshot_is_in_progress() && !s.is_apply_allowed());
    s.set_commit_idx(3);
    assert_eq!(s.apply_entry(), Ok(false));
    assert_eq!(s.last_applied_idx(), 2);
    let mut c = s.config();
    c.nonblocking_apply = true;
    s.set_config(c);
    assert!(s.is_apply_allowed());
    assert_eq!(s.apply_entry(), Ok(true));
    assert_eq!(s.last_applied_idx(), 3);
}

#[test]
fn end_compacts_to_the_applied_index_and_cancel_keeps_the_old_snapshot() {
    let s = server(1, 1);
    assert_eq!(s.end_snapshot(), Err(Error::Callback(-1)));
    append(&s, 4);
    s.set_commit_idx(2);
    s.begin_snapshot().unwrap();
    // Entries committed during the snapshot are not part of it.
    s.set_commit_idx(3);
    s.end_snapshot().unwrap();
    assert!(!s.snapshot_is_in_progress());
    assert_eq!((s.snapshot_last_idx(), s.snapshot_last_term()), (2, 1));
    assert_eq!(
        (s.log.first_idx(), s.log_count(), s.current_idx()),
        (3, 2, 4)
    );
    assert_eq!(s.last_log_term(), 1);
    assert_eq!(s.end_snapshot(), Err(Error::Callback(-1)));

    s.set_commit_idx(4);
    s.begin_snapshot().unwrap();
    s.cancel_snapshot().unwrap();
    assert!(!s.snapshot_is_in_progress());
    assert_eq!(s.snapshot_last_idx(), 2);
    assert_eq!(s.log_count(), 2);
}

#[test]
fn leader_sends_snapshot_in_chunks_and_follower_loads_it() {
    let l = leader_with(2, 3);
    *l.host().snap.borrow_mut() = b"0123456789".to_vec();
    l.begin_snapshot().unwrap();
    l.end_snapshot().unwrap();
    // The follower's next entry was compacted: three chunks went out at once.
    let sent = l.host().sent_snap.borrow().clone();
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent.iter().map(|(_, m)| m.chunk.offset).collect::<Vec<_>>(),
        vec![0, 4, 8]
    );
    assert!(sent[2].1.chunk.last_chunk && !sent[1].1.chunk.last_chunk);
    assert!(sent
        .iter()
        .all(|(id, m)| *id == 2 && m.snapshot_index == 4 && m.snapshot_term == 1));
    let ids: Vec<_> = sent.iter().map(|(_, m)| m.msg_id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let n2 = l.node(2).unwrap();
    assert_eq!((n2.next_idx(), n2.snapshot_offset()), (5, 0));

    let f = server(2, 2);
    let resps = pump(&l, &f, None);
    assert!(resps.iter().all(|r| r.success && r.term == 1));
    assert_eq!(
        resps.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![4, 8, 10]
    );
    assert_eq!(
        f.host().loaded.borrow().clone(),
        vec![(1, 4, b"0123456789".to_vec())]
    );
    assert_eq!((f.snapshot_last_idx(), f.snapshot_last_term()), (4, 1));
    assert_eq!(
        (
            f.commit_idx(),
            f.last_applied_idx(),
            f.current_idx(),
            f.log_count()
        ),
        (4, 4, 4, 0)
    );
    assert_eq!(f.leader_id(), 1);
    assert_eq!(f.num_nodes(), 2);
    let n1 = f.node(1).unwrap();
    assert!(n1.is_voting_committed() && n1.is_addition_committed() && n1.has_sufficient_logs());
    assert_eq!(n1.max_seen_msgid(), ids[2]);

    // Replication continues right after the snapshot.
    l.recv_entry(&TE::create(0, 9, 0, &[]).unwrap()).unwrap();
    let (_, ae) = l.host().sent_ae.borrow().last().cloned().unwrap();
    assert_eq!((ae.prev_log_idx, ae.prev_log_term), (4, 1));
    let (r, _) = f.recv_appendentries(&ae);
    assert!(r.success);
    assert_eq!(f.current_idx(), 5);

    // A chunk of a snapshot the follower already has is acknowledged as done.
    let (r, _) = f.recv_snapshot(&sent[0].1);
    assert!(r.success && r.last_chunk);
}

#[test]
fn lost_chunk_is_refused_and_transfer_resumes_from_follower_offset() {
    let l = leader_with(2, 3);
    *l.host().snap.borrow_mut() = b"0123456789".to_vec();
    l.begin_snapshot().unwrap();
    l.end_snapshot().unwrap();
    let f = server(2, 2);
    let resps = pump(&l, &f, Some(1));
    assert!(resps[0].success);
    assert!(!resps[1].success, "chunk at 8 refused while 4 is expected");
    assert_eq!(resps[1].offset, 4);
    assert!(f.host().loaded.borrow().is_empty());
    let n2 = l.node(2).unwrap();
    assert_eq!(n2.snapshot_offset(), 4);

    // The leader believed the transfer done; the follower's rejection of the
    // next AppendEntries sends it back to the snapshot, from offset 4.
    l.send_appendentries(&n2).unwrap();
    ae_round(&l, &f);
    let offsets: Vec<_> = l
        .host()
        .sent_snap
        .borrow()
        .iter()
        .map(|(_, m)| m.chunk.offset)
        .collect();
    assert_eq!(offsets, vec![4, 8]);
    pump(&l, &f, None);
    assert_eq!(f.host().loaded.borrow().len(), 1);
    assert_eq!(f.host().loaded.borrow()[0].2, b"0123456789".to_vec());
    assert_eq!(f.snapshot_last_idx(), 4);
}

#[test]
fn failed_load_is_retried_from_scratch() {
    let l = leader_with(2, 3);
    *l.host().snap.borrow_mut() = b"0123456789".to_vec();
    l.begin_snapshot().unwrap();
    l.end_snapshot().unwrap();
    let f = server(2, 2);
    f.host().fail_loads.set(1);
    f.host().skip_loads.set(1);
    let n2 = l.node(2).unwrap();
    for attempt in 0..3 {
        if attempt > 0 {
            // Heartbeat, rejected: the leader resends the whole snapshot.
            l.send_appendentries(&n2).unwrap();
            ae_round(&l, &f);
            let first = l.host().sent_snap.borrow()[0].1.chunk.offset;
            assert_eq!(first, 0, "attempt {attempt} restarts at offset 0");
        }
        let resps = pump(&l, &f, None);
        let last = resps.last().unwrap();
        assert_eq!(last.success, attempt == 2, "attempt {attempt}");
        assert_eq!(f.snapshot_last_idx(), if attempt == 2 { 4 } else { 0 });
    }
    assert_eq!(f.host().loaded.borrow()[0].2, b"0123456789".to_vec());
    assert_eq!(f.host().stores.get(), 9);
}

#[test]
fn back_pressure_pauses_and_resumes() {
    let l = leader_with(2, 3);
    *l.host().snap.borrow_mut() = b"0123456789".to_vec();
    l.host().budget.set(Some(1));
    l.begin_snapshot().unwrap();
    l.end_snapshot().unwrap();
    let n2 = l.node(2).unwrap();
    assert_eq!(l.host().sent_snap.borrow().len(), 1);
    assert_eq!((n2.snapshot_offset(), n2.next_idx()), (4, 1));
    let f = server(2, 2);
    l.host().budget.set(None);
    pump(&l, &f, None);
    // The acknowledgement's flush continues from offset 4.
    let offsets: Vec<_> = l
        .host()
        .sent_snap
        .borrow()
        .iter()
        .map(|(_, m)| m.chunk.offset)
        .collect();
    assert_eq!(offsets, vec![4, 8]);
    pump(&l, &f, None);
    assert_eq!(f.snapshot_last_idx(), 4);
    assert_eq!(n2.next_idx(), 5);
}

#[test]
fn newer_snapshot_or_new_leader_discards_the_partial_one() {
    let f = server(2, 3);
    let chunk = |idx: Index, leader: NodeId, offset: Size| SnapshotRequest {
        term: 1,
        leader_id: leader,
        msg_id: 1,
        snapshot_index: idx,
        snapshot_term: 1,
        chunk: SnapshotChunk {
            offset,
            data: b"abcd".to_vec(),
            last_chunk: false,
        },
    };
    let (r, e) = f.recv_snapshot(&chunk(5, 1, 0));
    assert!(r.success && e.is_ok());
    assert_eq!(f.host().clears.get(), 0);
    let (r, _) = f.recv_snapshot(&chunk(7, 1, 0));
    assert!(r.success);
    assert_eq!(f.host().clears.get(), 1);
    let (r, _) = f.recv_snapshot(&chunk(7, 3, 4));
    assert!(!r.success, "a new leader starts over");
    assert_eq!(r.offset, 0);
    assert_eq!(f.host().clears.get(), 2);
    assert_eq!(f.leader_id(), 3);
}

#[test]
fn snapshot_of_entries_already_committed_here_is_not_transferred() {
    let l = leader_with(2, 3);
    *l.host().snap.borrow_mut() = b"0123456789".to_vec();
    let f = server(2, 2);
    // The follower holds and has committed everything the snapshot will cover.
    for m in l.host().sent_ae.borrow().iter() {
        let _ = f.recv_appendentries(&m.1);
    }
    l.host().sent_ae.borrow_mut().clear();
    let (_, ae) = {
        let n2 = l.node(2).unwrap();
        n2.set_next_idx(1);
        l.send_appendentries(&n2).unwrap();
        l.host().sent_ae.borrow().last().cloned().unwrap()
    };
    let (r, _) = f.recv_appendentries(&ae);
    assert!(r.success);
    assert_eq!(f.commit_idx(), 4);
    l.node(2).unwrap().set_next_idx(1);
    l.begin_snapshot().unwrap();
    l.end_snapshot().unwrap();
    let resps = pump(&l, &f, None);
    assert!(resps.iter().all(|r| r.success && r.last_chunk));
    assert_eq!(f.host().stores.get(), 0);
    assert!(f.host().loaded.borrow().is_empty());
    assert_eq!((f.current_idx(), f.log_count()), (4, 4));
    assert_eq!(l.node(2).unwrap().next_idx(), 5);
}

#[test]
fn stale_term_chunk_is_refused_without_storing() {
    let f = server(2, 2);
    f.set_current_term(5).unwrap();
    let req = SnapshotRequest {
        term: 4,
        leader_id: 1,
        msg_id: 3,
        snapshot_index: 9,
        snapshot_term: 4,
        chunk: SnapshotChunk {
            offset: 0,
            data: b"x".to_vec(),
            last_chunk: true,
        },
    };
    let (r, e) = f.recv_snapshot(&req);
    assert_eq!(e, Ok(()));
    assert!(!r.success);
    assert_eq!((r.term, r.msg_id), (5, 3));
    assert_eq!(f.host().stores.get(), 0);
}

#[test]
fn response_rules() {
    let l = leader_with(3, 3);
    let n2 = l.node(2).unwrap();
    let resp = |msg_id, term, success, offset, last_chunk| SnapshotResponse {
        msg_id,
        term,
        offset,
        success,
        last_chunk,
    };
    assert_eq!(
        l.recv_snapshot_response(None, &resp(1, 1, true, 0, true)),
        Err(Error::Callback(-1))
    );
    l.set_snapshot_metadata(1, 2);
    n2.set_next_idx(1);
    let mut c = l.config();
    c.auto_flush = false;
    l.set_config(c);
    l.recv_snapshot_response(Some(&n2), &resp(5, 1, false, 7, false))
        .unwrap();
    assert_eq!((n2.snapshot_offset(), n2.match_msgid()), (7, 5));
    // Older than what we heard already: ignored.
    l.recv_snapshot_response(Some(&n2), &resp(4, 1, true, 0, true))
        .unwrap();
    assert_eq!((n2.snapshot_offset(), n2.next_idx()), (7, 1));
    l.recv_snapshot_response(Some(&n2), &resp(6, 1, true, 9, true))
        .unwrap();
    assert_eq!((n2.snapshot_offset(), n2.next_idx()), (0, 3));
    l.recv_snapshot_response(Some(&n2), &resp(7, 3, false, 0, false))
        .unwrap();
    assert!(l.is_follower());
    assert_eq!(l.current_term(), 3);
    assert_eq!(
        l.recv_snapshot_response(Some(&n2), &resp(8, 3, true, 0, true)),
        Err(Error::NotLeader)
    );
}

#[test]
fn load_rules() {
    let s = server(1, 3);
    assert_eq!(
        s.end_load_snapshot(),
        Err(Error::Misuse),
        "end without begin"
    );
    assert_eq!(s.begin_load_snapshot(0, 5), Err(Error::Misuse));
    assert_eq!(s.begin_load_snapshot(5, 0), Err(Error::Misuse));
    s.begin_load_snapshot(2, 5).unwrap();
    assert_eq!(s.num_nodes(), 1, "only ourselves is left");
    let me = s.my_node().unwrap();
    assert!(!me.is_voting());
    s.add_node(0, 2, false).unwrap();
    me.set_voting(true);
    s.add_non_voting_node(0, 3, false).unwrap();
    s.end_load_snapshot().unwrap();
    assert_eq!(s.end_load_snapshot(), Err(Error::Misuse));
    assert_eq!((s.snapshot_last_idx(), s.snapshot_last_term()), (5, 2));
    assert_eq!(
        (
            s.commit_idx(),
            s.last_applied_idx(),
            s.current_idx(),
            s.current_term()
        ),
        (5, 5, 5, 2)
    );
    let n3 = s.node(3).unwrap();
    assert!(n3.is_addition_committed() && !n3.is_voting_committed() && !n3.has_sufficient_logs());
    assert!(me.is_voting_committed());
    assert_eq!(
        s.begin_load_snapshot(2, 5),
        Err(Error::SnapshotAlreadyLoaded)
    );
    append(&s, 2);
    assert_eq!(
        s.begin_load_snapshot(3, 6),
        Err(Error::Misuse),
        "log is newer"
    );
    assert_eq!(s.current_idx(), 7);
}

#[test]
fn restore_at_restart() {
    let s = server(1, 2);
    s.node(2).unwrap().set_voting(false);
    assert_eq!(s.restore_snapshot(-1, 3), Err(Error::Misuse));
    s.restore_snapshot(3, 10).unwrap();
    assert_eq!(
        (s.current_term(), s.commit_idx(), s.last_applied_idx()),
        (3, 10, 10)
    );
    assert_eq!(
        (
            s.snapshot_last_idx(),
            s.snapshot_last_term(),
            s.current_idx()
        ),
        (10, 3, 10)
    );
    assert_eq!(
        s.restore_snapshot(3, 10),
        Err(Error::Misuse),
        "only once, at start-up"
    );
    let n2 = s.node(2).unwrap();
    assert!(n2.is_addition_committed() && !n2.is_voting_committed());
    // Log entries loaded next continue after the snapshot.
    append(&s, 1);
    assert_eq!(s.current_idx(), 11);
    assert_eq!(s.term_at(10), Some(3));
}
