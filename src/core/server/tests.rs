//! Unit tests of the server's rules with a small in-memory entry, log and host.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::Server;
use crate::core::*;

#[derive(Clone, Debug, Default)]
struct TEntry(Rc<(Cell<Term>, EntryId, i32, Vec<u8>)>);

impl Entry for TEntry {
    fn term(&self) -> Term {
        self.0 .0.get()
    }
    fn id(&self) -> EntryId {
        self.0 .1
    }
    fn entry_type(&self) -> i32 {
        self.0 .2
    }
    fn data(&self) -> &[u8] {
        &self.0 .3
    }
    fn set_term(&self, term: Term) {
        self.0 .0.set(term)
    }
    fn create(term: Term, id: EntryId, entry_type: i32, data: &[u8]) -> Option<Self> {
        Some(TEntry(Rc::new((
            Cell::new(term),
            id,
            entry_type,
            data.to_vec(),
        ))))
    }
}

fn ety(term: Term, id: EntryId) -> TEntry {
    TEntry::create(term, id, log_type::NORMAL, b"x").unwrap()
}
fn cfg(t: i32, node: NodeId) -> TEntry {
    TEntry::create(0, 0, t, node.to_string().as_bytes()).unwrap()
}

#[derive(Default)]
struct VecLog {
    base: Cell<Index>,
    entries: RefCell<Vec<TEntry>>,
}

impl LogStore<TEntry> for VecLog {
    fn reset(&self, first_idx: Index, _term: Term) {
        self.base.set(first_idx - 1);
        self.entries.borrow_mut().clear();
    }
    fn append(&self, e: &TEntry) -> Result<()> {
        self.entries.borrow_mut().push(e.clone());
        Ok(())
    }
    fn poll(&self, first_idx: Index) -> Result<()> {
        let n = (first_idx - 1 - self.base.get()).max(0) as usize;
        self.entries.borrow_mut().drain(..n);
        self.base.set(self.base.get() + n as Index);
        Ok(())
    }
    fn pop(&self, from_idx: Index, notify: &mut dyn FnMut(&TEntry, Index)) -> Result<()> {
        while self.current_idx() >= from_idx {
            let idx = self.current_idx();
            let e = self.entries.borrow_mut().pop().unwrap();
            notify(&e, idx);
        }
        Ok(())
    }
    fn get(&self, idx: Index) -> Option<TEntry> {
        let i = idx - self.base.get() - 1;
        if i < 0 {
            return None;
        }
        self.entries.borrow().get(i as usize).cloned()
    }
    fn get_batch(&self, idx: Index, max: Index, out: &mut Vec<TEntry>) -> Index {
        let mut n = 0;
        while n < max {
            match self.get(idx + n) {
                Some(e) => out.push(e),
                None => break,
            }
            n += 1;
        }
        n
    }
    fn first_idx(&self) -> Index {
        self.base.get() + 1
    }
    fn current_idx(&self) -> Index {
        self.base.get() + self.entries.borrow().len() as Index
    }
    fn count(&self) -> Index {
        self.entries.borrow().len() as Index
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

type Hook = Box<dyn Fn(&str)>;

#[derive(Default)]
struct THost {
    events: RefCell<Vec<String>>,
    sent_ae: RefCell<Vec<(NodeId, AppendEntriesRequest<TEntry>)>>,
    sent_rv: RefCell<Vec<(NodeId, RequestVoteRequest)>>,
    applied: RefCell<Vec<Index>>,
    persist_fails: Cell<bool>,
    apply_shutdown: Cell<bool>,
    fetch_nothing: Cell<bool>,
    backpressure: Cell<bool>,
    hook: RefCell<Option<Hook>>,
}

impl THost {
    fn event(&self, e: String) {
        self.events.borrow_mut().push(e.clone());
        let hook = self.hook.borrow_mut().take();
        if let Some(h) = hook {
            h(&e);
            *self.hook.borrow_mut() = Some(h);
        }
    }
}

impl Host<TEntry> for THost {
    fn send_requestvote(&self, node: &Node, msg: &RequestVoteRequest) -> Result<()> {
        self.sent_rv.borrow_mut().push((node.id(), *msg));
        self.event(format!("rv{}", node.id()));
        Ok(())
    }
    fn send_appendentries(&self, node: &Node, msg: &AppendEntriesRequest<TEntry>) -> Result<()> {
        self.sent_ae.borrow_mut().push((node.id(), msg.clone()));
        self.event(format!("ae{}", node.id()));
        Ok(())
    }
    fn apply_entry(&self, _e: &TEntry, idx: Index) -> Result<()> {
        if self.apply_shutdown.get() {
            return Err(Error::Shutdown);
        }
        self.applied.borrow_mut().push(idx);
        self.event(format!("apply{idx}"));
        Ok(())
    }
    fn persist_metadata(&self, term: Term, vote: NodeId) -> Result<()> {
        if self.persist_fails.get() {
            return Err(Error::Callback(-100));
        }
        self.event(format!("persist{term},{vote}"));
        Ok(())
    }
    fn get_node_id(&self, e: &TEntry, _idx: Index) -> NodeId {
        std::str::from_utf8(e.data())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(NODE_ID_NONE)
    }
    fn notify_state_event(&self, s: State) {
        self.event(format!("state:{}", s.name()));
    }
    fn notify_membership_event(&self, n: Option<&Node>, _e: Option<&TEntry>, ev: MembershipEvent) {
        self.event(format!("member:{:?}{}", ev, n.map_or(-1, |n| n.id())));
    }
    fn random(&self) -> u32 {
        7
    }
    fn backpressure(&self, _node: &Node) -> bool {
        self.backpressure.get()
    }
    fn get_entries_to_send(
        &self,
        _n: &Node,
        _idx: Index,
        _max: Index,
        _out: &mut Vec<TEntry>,
    ) -> Option<Index> {
        self.fetch_nothing.get().then_some(0)
    }
}

type S = Server<TEntry, VecLog, THost>;

fn server(n: i32) -> Rc<S> {
    let s = Rc::new(Server::new(VecLog::default(), THost::default()));
    for id in 1..=n {
        s.add_node(0, id, id == 1).unwrap();
    }
    s
}

/// A 3-node follower in term 1 holding `count` entries of term 1 (ids 1..=count).
fn follower_with_entries(count: i32) -> Rc<S> {
    let s = server(3);
    s.set_current_term(1).unwrap();
    for i in 1..=count {
        s.append_entry(&ety(1, i)).unwrap();
    }
    s
}

fn leader(n: i32) -> Rc<S> {
    let s = server(n);
    s.set_current_term(1).unwrap();
    s.become_leader().unwrap();
    s.host().sent_ae.borrow_mut().clear();
    s
}

fn ok_resp(s: &S, id: NodeId, idx: Index, msg_id: MsgId) {
    let n = s.node(id).unwrap();
    let r = AppendEntriesResponse {
        msg_id,
        term: s.current_term(),
        success: true,
        current_idx: idx,
    };
    s.recv_appendentries_response(Some(&n), &r).unwrap();
}

#[test]
fn single_voter_elects_itself_and_commits_noop() {
    let s = server(1);
    s.periodic_internal(1).unwrap();
    assert!(s.is_leader());
    assert_eq!(s.current_term(), 1);
    assert_eq!(s.commit_idx(), 1);
    assert_eq!(s.last_applied_idx(), 1);
    assert_eq!(s.entry_at(1).unwrap().entry_type(), log_type::NO_OP);
}

#[test]
fn randomized_timeout_uses_host_random() {
    let s = server(3);
    s.randomize_election_timeout();
    assert_eq!(s.election_timeout_rand(), 1007);
}

#[test]
fn election_goes_through_prevote() {
    let s = server(3);
    s.periodic_internal(2000).unwrap();
    assert!(s.is_precandidate());
    assert_eq!(s.current_term(), 0);
    let rv = s.host().sent_rv.borrow().clone();
    assert_eq!(rv.len(), 2);
    assert!(rv[0].1.prevote && rv[0].1.term == 1);
    let grant = RequestVoteResponse {
        prevote: true,
        request_term: 1,
        term: 0,
        vote_granted: true,
    };
    s.recv_requestvote_response(s.node(2).as_deref(), &grant)
        .unwrap();
    assert!(s.is_candidate());
    assert_eq!(s.current_term(), 1);
    assert_eq!(s.voted_for(), 1);
    let vote = RequestVoteResponse {
        prevote: false,
        request_term: 1,
        term: 1,
        vote_granted: true,
    };
    s.recv_requestvote_response(s.node(3).as_deref(), &vote)
        .unwrap();
    assert!(s.is_leader());
    assert_eq!(s.current_idx(), 1);
}

#[test]
fn non_voter_never_campaigns() {
    let s = Rc::new(Server::new(VecLog::default(), THost::default()));
    s.add_non_voting_node(0, 1, true).unwrap();
    s.add_node(0, 2, false).unwrap();
    s.add_node(0, 3, false).unwrap();
    s.periodic_internal(5000).unwrap();
    assert!(s.is_follower());
    assert!(s.host().sent_rv.borrow().is_empty());
}

#[test]
fn vote_rules() {
    let s = server(3);
    s.set_current_term(2).unwrap();
    s.append_entry(&ety(2, 1)).unwrap();
    // Stale term.
    let req = RequestVoteRequest {
        prevote: false,
        term: 1,
        candidate_id: 2,
        last_log_idx: 5,
        last_log_term: 1,
    };
    assert!(!s.recv_requestvote(&req).0.vote_granted);
    // Less up-to-date log.
    let req = RequestVoteRequest {
        term: 3,
        last_log_idx: 5,
        last_log_term: 1,
        ..req
    };
    let (r, e) = s.recv_requestvote(&req);
    assert!(e.is_ok() && !r.vote_granted && r.term == 3);
    // Up to date: granted; a second candidate in the same term is refused.
    let req = RequestVoteRequest {
        term: 3,
        last_log_idx: 1,
        last_log_term: 2,
        ..req
    };
    assert!(s.recv_requestvote(&req).0.vote_granted);
    assert_eq!(s.voted_for(), 2);
    let req3 = RequestVoteRequest {
        candidate_id: 3,
        ..req
    };
    assert!(!s.recv_requestvote(&req3).0.vote_granted);
    // Same candidate again is fine.
    assert!(s.recv_requestvote(&req).0.vote_granted);
}

#[test]
fn prevote_does_not_change_term_and_respects_leader() {
    let s = server(3);
    s.set_current_term(1).unwrap();
    let ae = AppendEntriesRequest {
        leader_id: 2,
        term: 1,
        msg_id: 1,
        ..Default::default()
    };
    s.recv_appendentries(&ae).1.unwrap();
    let pv = RequestVoteRequest {
        prevote: true,
        term: 2,
        candidate_id: 3,
        last_log_idx: 0,
        last_log_term: 0,
    };
    let (r, _) = s.recv_requestvote(&pv);
    assert!(!r.vote_granted);
    s.periodic_internal(999).unwrap();
    s.periodic_internal(1).unwrap();
    let (r, _) = s.recv_requestvote(&pv);
    assert!(r.vote_granted);
    assert_eq!(s.current_term(), 1);
}

#[test]
fn persist_failure_keeps_old_term_and_vote() {
    let s = server(3);
    s.host().persist_fails.set(true);
    assert!(s.set_current_term(5).is_err());
    assert_eq!(s.current_term(), 0);
    let req = RequestVoteRequest {
        prevote: false,
        term: 0,
        candidate_id: 2,
        last_log_idx: 0,
        last_log_term: 0,
    };
    let (r, e) = s.recv_requestvote(&req);
    assert!(e.is_err() && !r.vote_granted);
    assert_eq!(s.voted_for(), NODE_ID_NONE);
    assert!(s.become_candidate().is_err());
    assert_eq!(s.current_term(), 0);
}

#[test]
fn higher_term_response_makes_leader_follow() {
    let s = leader(3);
    let r = AppendEntriesResponse {
        msg_id: 1,
        term: 5,
        success: false,
        current_idx: 0,
    };
    s.recv_appendentries_response(s.node(2).as_deref(), &r)
        .unwrap();
    assert!(s.is_follower());
    assert_eq!(s.current_term(), 5);
}

#[test]
fn leader_commits_by_majority_of_current_term_only() {
    let s = leader(3);
    let resp = s.recv_entry(&ety(0, 9)).unwrap();
    assert_eq!((resp.id, resp.term, resp.idx), (9, 1, 2));
    assert_eq!(s.commit_idx(), 0);
    ok_resp(&s, 2, 2, 1);
    assert_eq!(s.commit_idx(), 2);
    assert_eq!(s.last_applied_idx(), 2);
    assert_eq!(
        s.entry_response_committed(&resp),
        super::Commitment::Committed
    );
}

#[test]
fn leader_does_not_commit_old_term_entries_alone() {
    let s = server(3);
    s.set_current_term(1).unwrap();
    s.append_entry(&ety(1, 1)).unwrap();
    s.set_current_term(2).unwrap();
    s.become_leader().unwrap();
    s.node(2).unwrap().set_match_idx(1);
    s.flush(0).unwrap();
    assert_eq!(s.commit_idx(), 0);
}

#[test]
fn follower_rejects_mismatch_and_truncates_conflicts() {
    let s = follower_with_entries(3);
    // Missing prev entry.
    let ae = AppendEntriesRequest {
        leader_id: 2,
        term: 2,
        msg_id: 1,
        prev_log_idx: 5,
        prev_log_term: 2,
        ..Default::default()
    };
    let (r, e) = s.recv_appendentries(&ae);
    assert!(e.is_ok() && !r.success && r.current_idx == 3);
    // Conflicting entry at 2 replaces 2..3.
    let ae = AppendEntriesRequest {
        prev_log_idx: 1,
        prev_log_term: 1,
        leader_commit: 5,
        entries: vec![ety(2, 20)],
        ..ae
    };
    let (r, e) = s.recv_appendentries(&ae);
    assert!(e.is_ok() && r.success);
    assert_eq!(r.current_idx, 2);
    assert_eq!(s.current_idx(), 2);
    assert_eq!(s.entry_at(2).unwrap().id(), 20);
    // Commit bounded by what the request proved.
    assert_eq!(s.commit_idx(), 2);
}

#[test]
fn follower_commit_bounded_by_proven_prefix() {
    let s = follower_with_entries(3);
    let ae = AppendEntriesRequest {
        leader_id: 2,
        term: 1,
        msg_id: 1,
        prev_log_idx: 1,
        prev_log_term: 1,
        leader_commit: 3,
        ..Default::default()
    };
    let (r, _) = s.recv_appendentries(&ae);
    assert!(r.success);
    assert_eq!(s.commit_idx(), 1);
}

#[test]
fn duplicate_request_does_not_corrupt_log() {
    let s = server(3);
    let ae = AppendEntriesRequest {
        leader_id: 2,
        term: 1,
        msg_id: 1,
        entries: vec![ety(1, 1), ety(1, 2), ety(1, 3)],
        ..Default::default()
    };
    s.recv_appendentries(&ae).1.unwrap();
    let short = AppendEntriesRequest {
        entries: vec![ety(1, 1)],
        ..ae.clone()
    };
    let (r, _) = s.recv_appendentries(&short);
    assert!(r.success);
    assert_eq!(s.current_idx(), 3);
}

#[test]
fn stale_request_after_compaction_skips_compacted_entries() {
    let s = server(3);
    let ae = AppendEntriesRequest {
        leader_id: 2,
        term: 1,
        msg_id: 1,
        leader_commit: 3,
        entries: vec![ety(1, 1), ety(1, 2), ety(1, 3)],
        ..Default::default()
    };
    s.recv_appendentries(&ae).1.unwrap();
    // Compact entries 1..2 as a snapshot would.
    s.snapshot.last_idx.set(2);
    s.snapshot.last_term.set(1);
    s.log.poll(3).unwrap();
    let (r, e) = s.recv_appendentries(&ae);
    assert!(e.is_ok() && r.success);
    assert_eq!(s.current_idx(), 3);
    assert_eq!(s.log.count(), 1);
    assert_eq!(s.entry_at(3).unwrap().id(), 3);
}

#[test]
fn apply_shutdown_propagates() {
    let s = leader(1);
    s.host().apply_shutdown.set(true);
    assert_eq!(
        s.recv_entry(&ety(0, 1)),
        Err(Error::Shutdown).map(|_: ()| unreachable!())
    );
}

#[test]
fn reentrant_getters_and_setters_from_callbacks() {
    let s = leader(3);
    let weak: Weak<S> = Rc::downgrade(&s);
    *s.host().hook.borrow_mut() = Some(Box::new(move |_ev: &str| {
        let s = weak.upgrade().unwrap();
        let _ = s.commit_idx();
        let _ = s.current_idx();
        let _ = s.nodes();
        let _ = s.num_voting_nodes();
        if let Some(n) = s.node(2) {
            n.set_next_idx(n.next_idx());
        }
    }));
    s.recv_entry(&ety(0, 1)).unwrap();
    ok_resp(&s, 2, 2, 2);
    assert_eq!(s.last_applied_idx(), 2);
    s.periodic_internal(300).unwrap();
}

#[test]
fn reentrant_recv_entry_from_apply() {
    let s = leader(1);
    let weak: Weak<S> = Rc::downgrade(&s);
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    *s.host().hook.borrow_mut() = Some(Box::new(move |ev: &str| {
        if ev == "apply2" && !d.get() {
            d.set(true);
            weak.upgrade().unwrap().recv_entry(&ety(0, 7)).unwrap();
        }
    }));
    s.recv_entry(&ety(0, 1)).unwrap();
    assert!(done.get());
    assert_eq!(s.current_idx(), 3);
    s.periodic_internal(1).unwrap();
    assert_eq!(s.last_applied_idx(), 3);
}

#[test]
fn membership_changes_apply_on_append_and_roll_back_on_pop() {
    let s = leader(2);
    s.recv_entry(&cfg(log_type::ADD_NONVOTING_NODE, 5)).unwrap();
    assert!(s.node(5).is_some_and(|n| !n.is_voting()));
    s.recv_entry(&cfg(log_type::ADD_NODE, 5)).unwrap();
    assert!(s.node(5).unwrap().is_voting());
    assert!(s.voting_change_is_in_progress());
    assert_eq!(
        s.recv_entry(&cfg(log_type::REMOVE_NODE, 2)),
        Err(Error::OneVotingChangeOnly)
    );
    s.delete_entry_from_idx(3).unwrap();
    assert!(!s.voting_change_is_in_progress());
    assert!(!s.node(5).unwrap().is_voting());
    s.delete_entry_from_idx(2).unwrap();
    assert!(s.node(5).is_none());
}

#[test]
fn non_leader_answers_not_leader_first() {
    let s = server(3);
    s.voting_cfg_change_log_idx.set(4);
    assert_eq!(
        s.recv_entry(&cfg(log_type::ADD_NODE, 5)).unwrap_err(),
        Error::NotLeader
    );
}

#[test]
fn edge_cases_do_not_crash() {
    let s = leader(2);
    // Duplicate ADD_NODE for a voter.
    s.append_entry(&cfg(log_type::ADD_NODE, 2)).unwrap();
    // Rollback of a REMOVE_NODE for an unknown node.
    s.append_entry(&cfg(log_type::REMOVE_NODE, 42)).unwrap();
    s.pop_entry().unwrap();
    s.pop_entry().unwrap();
    // Unknown node's response.
    let r = AppendEntriesResponse {
        msg_id: 1,
        term: 1,
        success: true,
        current_idx: 99,
    };
    assert!(s.recv_appendentries_response(None, &r).is_err());
    // Removing ourselves, then removing the last voter.
    s.recv_entry(&cfg(log_type::REMOVE_NODE, 1)).unwrap();
    ok_resp(&s, 2, s.current_idx(), 5);
    assert!(s.my_node().is_none());
    assert!(s.is_follower());
    assert_eq!(s.num_nodes(), 1);
    let _ = s.periodic_internal(5000);
    let n2 = s.node(2).unwrap();
    s.remove_node(&n2);
    assert_eq!(s.num_nodes(), 0);
    let _ = s.periodic_internal(5000);
    let _ = s.recv_entry(&ety(0, 1));
}

#[test]
fn reads_wait_for_quorum_and_fail_on_step_down() {
    let s = leader(3);
    ok_resp(&s, 2, 1, 1);
    assert_eq!(s.last_applied_idx(), 1);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    s.recv_read_request(Box::new(move |ok| g.borrow_mut().push(ok)))
        .unwrap();
    assert!(got.borrow().is_empty());
    let id = s.msg_id();
    ok_resp(&s, 2, 1, id);
    assert_eq!(*got.borrow(), vec![true]);
    let g = got.clone();
    s.recv_read_request(Box::new(move |ok| g.borrow_mut().push(ok)))
        .unwrap();
    s.become_follower();
    s.periodic_internal(1).unwrap();
    assert_eq!(*got.borrow(), vec![true, false]);
}

#[test]
fn reads_on_even_cluster_need_majority() {
    let s = leader(4);
    ok_resp(&s, 2, 1, 1);
    ok_resp(&s, 3, 1, 1);
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    s.recv_read_request(Box::new(move |ok| g.set(if ok { 1 } else { -1 })))
        .unwrap();
    let id = s.msg_id();
    ok_resp(&s, 2, 1, id);
    assert_eq!(got.get(), 0);
    ok_resp(&s, 3, 1, id);
    assert_eq!(got.get(), 1);
}

#[test]
fn check_quorum_steps_down() {
    let s = leader(3);
    s.periodic_internal(1500).unwrap();
    assert!(s.is_leader());
    s.periodic_internal(1000).unwrap();
    assert!(s.is_follower());
}

#[test]
fn heartbeats_every_request_timeout() {
    let s = leader(3);
    s.periodic_internal(199).unwrap();
    assert!(s.host().sent_ae.borrow().is_empty());
    s.periodic_internal(1).unwrap();
    assert_eq!(s.host().sent_ae.borrow().len(), 2);
}

#[test]
fn transfer_leader_picks_best_voter_and_times_out() {
    let s = leader(3);
    assert_eq!(s.transfer_leader(1, 0), Err(Error::InvalidNodeId));
    assert_eq!(
        s.transfer_leader(NODE_ID_NONE, 0),
        Err(Error::InvalidNodeId)
    );
    ok_resp(&s, 3, 1, 1);
    s.transfer_leader(NODE_ID_NONE, 100).unwrap();
    assert_eq!(s.transfer_leader_target(), 3);
    assert_eq!(
        s.recv_entry(&ety(0, 1)).unwrap_err(),
        Error::LeaderTransferInProgress
    );
    s.periodic_internal(101).unwrap();
    assert_eq!(s.transfer_leader_target(), NODE_ID_NONE);
}

#[test]
fn manual_flush_counts_leader_durable_index() {
    let s = leader(3);
    s.config_set(super::ConfigKey::AutoFlush, 0).unwrap();
    s.recv_entry(&ety(0, 1)).unwrap();
    ok_resp(&s, 2, 2, 1);
    assert_eq!(s.commit_idx(), 0);
    assert_eq!(s.index_to_sync(), 2);
    assert_eq!(s.index_to_sync(), 0);
    s.flush(2).unwrap();
    assert_eq!(s.commit_idx(), 2);
}

#[test]
fn removing_a_voter_from_two_commits_without_it() {
    let s = leader(2);
    ok_resp(&s, 2, 1, 1);
    assert_eq!(s.commit_idx(), 1);
    s.recv_entry(&cfg(log_type::REMOVE_NODE, 2)).unwrap();
    // The pending removal takes effect on append: we are the only voter left.
    assert_eq!(s.commit_idx(), 2);
    assert!(s.node(2).is_none());
    assert!(!s.voting_change_is_in_progress());
}

#[test]
fn rolled_back_removal_counts_the_node_again() {
    let s = leader(3);
    s.recv_entry(&cfg(log_type::REMOVE_NODE, 3)).unwrap();
    assert!(!s.node(3).unwrap().is_active());
    s.delete_entry_from_idx(2).unwrap();
    assert!(s.node(3).unwrap().is_active());
    assert_eq!(s.quorum_voters().len(), 3);
}

#[test]
fn host_fetching_no_entries_does_not_spin() {
    let s = leader(2);
    s.host().fetch_nothing.set(true);
    s.recv_entry(&ety(0, 1)).unwrap();
    s.recv_entry(&ety(0, 2)).unwrap();
    let n = s.node(2).unwrap();
    n.set_next_idx(1);
    s.send_appendentries(&n).unwrap();
    let sent = s.host().sent_ae.borrow();
    assert!(sent.last().unwrap().1.entries.is_empty());
    assert_eq!(n.next_idx(), 1);
}

#[test]
fn backpressure_skips_sending() {
    let s = leader(2);
    s.host().backpressure.set(true);
    s.recv_entry(&ety(0, 1)).unwrap();
    s.periodic_internal(500).unwrap();
    assert!(s.host().sent_ae.borrow().is_empty());
    s.host().backpressure.set(false);
    s.periodic_internal(500).unwrap();
    assert_eq!(s.host().sent_ae.borrow().len(), 1);
}

#[test]
fn restore_log_rebuilds_configuration_without_faking_noops() {
    let s = server(1);
    s.append_entry(&cfg(log_type::ADD_NONVOTING_NODE, 2))
        .unwrap();
    s.append_entry(&cfg(log_type::ADD_NODE, 2)).unwrap();
    s.restore_log().unwrap();
    assert!(s.node(2).unwrap().is_voting());
    assert!(s.voting_change_is_in_progress());
    s.pop_entry().unwrap();
    assert!(!s.node(2).unwrap().is_voting());
}

#[test]
fn state_events_in_order() {
    let s = server(3);
    s.periodic_internal(3000).unwrap();
    let g = RequestVoteResponse {
        prevote: true,
        request_term: 1,
        term: 0,
        vote_granted: true,
    };
    s.recv_requestvote_response(s.node(2).as_deref(), &g)
        .unwrap();
    let v = RequestVoteResponse {
        prevote: false,
        request_term: 1,
        term: 1,
        vote_granted: true,
    };
    s.recv_requestvote_response(s.node(2).as_deref(), &v)
        .unwrap();
    let states: Vec<String> = s
        .host()
        .events
        .borrow()
        .iter()
        .filter(|e| e.starts_with("state:"))
        .cloned()
        .collect();
    assert_eq!(
        states,
        ["state:pre-candidate", "state:candidate", "state:leader"]
    );
    // The new term is persisted before the vote for ourselves.
    let persists: Vec<String> = s
        .host()
        .events
        .borrow()
        .iter()
        .filter(|e| e.starts_with("persist"))
        .cloned()
        .collect();
    assert_eq!(persists, ["persist1,-1", "persist1,1"]);
}

#[test]
fn transfer_to_non_voter_is_refused() {
    let s = leader(2);
    s.add_non_voting_node(0, 3, false).unwrap();
    assert_eq!(s.transfer_leader(3, 0), Err(Error::InvalidNodeId));
    assert_eq!(s.transfer_leader(2, 0), Ok(()));
}

/// What a test can observe of a server after handling a message.
fn observed(s: &S) -> String {
    let nodes: Vec<String> = s
        .nodes()
        .iter()
        .map(|n| {
            format!(
                "{}:{}/{}/{}/{}/{}",
                n.id(),
                n.next_idx(),
                n.match_idx(),
                n.next_msgid(),
                n.match_msgid(),
                n.max_seen_msgid()
            )
        })
        .collect();
    format!(
        "t{} v{} c{} a{} {:?} l{} e{} m{} i{} p{} {:?} {:?} {}",
        s.current_term(),
        s.voted_for(),
        s.commit_idx(),
        s.last_applied_idx(),
        s.state(),
        s.leader_id(),
        s.timeout_elapsed(),
        s.msg_id(),
        s.current_idx(),
        s.pending_operations(),
        nodes,
        s.host().events.borrow(),
        s.host().sent_ae.borrow().len()
    )
}

/// Followers in assorted states: log length, term, known leader, commit.
fn follower_states() -> Vec<Box<dyn Fn() -> Rc<S>>> {
    let mut v: Vec<Box<dyn Fn() -> Rc<S>>> = Vec::new();
    for count in [0, 2] {
        for leader in [NODE_ID_NONE, 2] {
            for commit in [0, 1] {
                v.push(Box::new(move || {
                    let s = follower_with_entries(count);
                    s.leader_id.set(leader);
                    s.set_commit_idx(commit);
                    s.timeout_elapsed.set(300);
                    s.host().events.borrow_mut().clear();
                    s
                }));
            }
        }
    }
    v.push(Box::new(|| {
        let s = follower_with_entries(2);
        s.become_candidate().unwrap();
        s.host().events.borrow_mut().clear();
        s
    }));
    v
}

#[test]
fn straight_heartbeat_path_matches_the_general_handler() {
    let mut taken = 0;
    for make in follower_states() {
        for term in [0, 1, 2] {
            for leader_id in [2, 3] {
                for prev in [0, 1, 2, 3] {
                    for prev_term in [0, 1, 2] {
                        for commit in [0, 1, 2, 5] {
                            let req = AppendEntriesRequest::<TEntry> {
                                leader_id,
                                msg_id: 7,
                                term,
                                prev_log_idx: prev,
                                prev_log_term: prev_term,
                                leader_commit: commit,
                                entries: Vec::new(),
                            };
                            let (a, b) = (make(), make());
                            let ra = match a.recv_heartbeat(&req) {
                                Some(r) => {
                                    taken += 1;
                                    (r, Ok(()))
                                }
                                None => a.recv_appendentries(&req),
                            };
                            let rb = b.recv_appendentries(&req);
                            assert_eq!(ra, rb, "{req:?}");
                            assert_eq!(observed(&a), observed(&b), "{req:?}");
                        }
                    }
                }
            }
        }
    }
    assert!(taken > 0);
}

#[test]
fn straight_ack_vote_and_flush_paths_match_the_general_handlers() {
    let mut taken = [0; 3];
    for auto_flush in [false, true] {
        for term in [0, 1, 2] {
            for success in [false, true] {
                for idx in [0, 1, 2] {
                    for msg_id in [0, 1, 5] {
                        let make = || {
                            let s = leader(3);
                            let mut c = s.config();
                            c.auto_flush = auto_flush;
                            s.set_config(c);
                            ok_resp(&s, 2, 1, 1);
                            s.host().events.borrow_mut().clear();
                            s
                        };
                        let r = AppendEntriesResponse {
                            msg_id,
                            term,
                            success,
                            current_idx: idx,
                        };
                        let (a, b) = (make(), make());
                        let na = a.node(2).unwrap();
                        let ra = if a.ack_idle_response(&na, &r) {
                            taken[0] += 1;
                            if auto_flush {
                                a.flush(0)
                            } else {
                                Ok(())
                            }
                        } else {
                            a.recv_appendentries_response(Some(&na), &r)
                        };
                        let rb = b.recv_appendentries_response(b.node(2).as_deref(), &r);
                        assert_eq!(ra, rb, "{r:?}");
                        assert_eq!(observed(&a), observed(&b), "{r:?}");
                    }
                }
            }
        }
    }
    for prevote in [false, true] {
        for granted in [false, true] {
            for request_term in [0, 1, 2, 3] {
                for term in [0, 1, 2, 3] {
                    let make = || {
                        let s = follower_with_entries(1);
                        if prevote {
                            s.become_precandidate().unwrap();
                        } else {
                            s.become_candidate().unwrap();
                        }
                        s.host().events.borrow_mut().clear();
                        s
                    };
                    let r = RequestVoteResponse {
                        prevote,
                        request_term,
                        term,
                        vote_granted: granted,
                    };
                    let (a, b) = (make(), make());
                    let ra = if a.vote_response_is_moot(&r) {
                        taken[1] += 1;
                        Ok(())
                    } else {
                        a.recv_requestvote_response(a.node(2).as_deref(), &r)
                    };
                    let rb = b.recv_requestvote_response(b.node(2).as_deref(), &r);
                    assert_eq!(ra, rb, "{r:?}");
                    assert_eq!(observed(&a), observed(&b), "{r:?}");
                }
            }
        }
    }
    for make in follower_states() {
        let (a, b) = (make(), make());
        let ra = if a.flush_idle() {
            taken[2] += 1;
            Ok(())
        } else {
            a.flush(0)
        };
        assert_eq!(ra, b.flush(0));
        assert_eq!(observed(&a), observed(&b));
    }
    assert!(taken.iter().all(|&t| t > 0), "{taken:?}");
}

/// The term memo behind the `prev_log_term` checks holds only while the
/// log reports no removal: an entry replaced at the same index is read again.
#[test]
fn term_memo_follows_replaced_entries() {
    let s = Server::new(MemoryLog::<TEntry>::new(), THost::default());
    for id in 1..=3 {
        s.add_node(0, id, id == 1).unwrap();
    }
    s.set_current_term(2).unwrap();
    for i in 1..=3 {
        s.append_entry(&ety(1, i)).unwrap();
    }
    let hb = |prev_log_term| AppendEntriesRequest {
        leader_id: 2,
        msg_id: 1,
        term: 2,
        prev_log_idx: 3,
        prev_log_term,
        leader_commit: 0,
        entries: vec![],
    };
    // The first request makes node 2 our leader; then the straight path.
    assert!(s.recv_appendentries(&hb(1)).0.success);
    for _ in 0..2 {
        assert!(s.recv_heartbeat(&hb(1)).is_some_and(|r| r.success));
    }
    assert_eq!(s.log_term_at(3), Some(1));
    s.delete_entry_from_idx(3).unwrap();
    s.append_entry(&ety(2, 4)).unwrap();
    assert_eq!(s.log_term_at(3), Some(2));
    assert!(s.recv_heartbeat(&hb(1)).is_none());
    assert!(s.recv_heartbeat(&hb(2)).is_some_and(|r| r.success));
}
