//! Roles and elections: pre-vote, vote, becoming leader or follower.

use super::Server;
use crate::core::{
    log_type, Entry, Error, Host, LogStore, MsgId, Node, NodeId, RequestVoteRequest,
    RequestVoteResponse, Result, State, Term, NODE_ID_NONE,
};

impl<E: Entry, L: LogStore<E>, H: Host<E>> Server<E, L, H> {
    /// The election timer fired (or a leader asked us to take over when
    /// `skip_precandidate`). A node that cannot vote never campaigns: it only
    /// restarts its timer.
    pub fn election_start(&self, skip_precandidate: bool) -> Result<()> {
        self.debug(NODE_ID_NONE, || {
            format!(
                "election starting: {} {}, term: {} ci: {}",
                self.election_timeout_rand(),
                self.timeout_elapsed(),
                self.current_term(),
                self.current_idx()
            )
        });
        self.timeout_elapsed.set(0);
        if !self.my_node_is_voting() {
            self.randomize_election_timeout();
            return Ok(());
        }
        self.set_leader_id(NODE_ID_NONE);
        self.randomize_election_timeout();
        if skip_precandidate {
            self.become_candidate()
        } else {
            self.become_precandidate()
        }
    }

    /// Ask the voters whether they would vote for us, without changing terms.
    pub fn become_precandidate(&self) -> Result<()> {
        self.debug(NODE_ID_NONE, || {
            format!(
                "becoming pre-candidate, next term : {}",
                self.current_term() + 1
            )
        });
        self.host.notify_state_event(State::PreCandidate);
        self.with_nodes(|l| l.iter().for_each(|n| n.vote_for_me(false)));
        self.set_state(State::PreCandidate);
        self.request_votes();
        Ok(())
    }

    /// Start a real election in the next term, voting for ourselves.
    pub fn become_candidate(&self) -> Result<()> {
        self.debug(NODE_ID_NONE, || "becoming candidate".to_string());
        self.host.notify_state_event(State::Candidate);
        self.set_current_term(self.current_term() + 1)?;
        self.with_nodes(|l| l.iter().for_each(|n| n.vote_for_me(false)));
        if let Some(me) = self.my_node().filter(|n| n.is_voting()) {
            self.vote_for_nodeid(me.id())?;
        }
        self.set_leader_id(NODE_ID_NONE);
        self.set_state(State::Candidate);
        self.request_votes();
        Ok(())
    }

    /// Send a (pre-)vote request to every other voter; send errors are not fatal.
    fn request_votes(&self) {
        self.for_each_node(|n| {
            if !self.is_me(&n) && n.is_voting() {
                let _ = self.send_requestvote(&n);
            }
        });
    }

    /// Take the lead: append a no-op of the new term and start replicating.
    pub fn become_leader(&self) -> Result<()> {
        self.debug(NODE_ID_NONE, || {
            format!("becoming leader term: {}", self.current_term())
        });
        let noop = E::create(self.current_term(), 0, log_type::NO_OP, &[]).ok_or(Error::NoMem)?;
        self.append_entry(&noop)?;
        drop(noop);
        self.log.sync()?;

        let current_idx = self.current_idx();
        if let Some(me) = self.my_node() {
            me.set_match_idx(current_idx);
        }
        self.next_sync_index.set(current_idx + 1);
        if self.is_single_node_voting_cluster() {
            self.set_commit_idx(current_idx);
        }
        self.set_state(State::Leader);
        self.update_quorum_meta(self.msg_id());
        let _ = self.clear_incoming_snapshot(0);
        self.reset_transfer_leader(false);
        self.timeout_elapsed.set(0);
        self.host.notify_state_event(State::Leader);

        self.for_each_node(|n| {
            if !self.is_me(&n) {
                n.set_snapshot_offset(0);
                n.set_next_idx(current_idx);
                n.set_match_idx(0);
                let _ = self.send_appendentries(&n);
            }
        });
        Ok(())
    }

    /// Step down (or stay) as a follower with no known leader and a fresh timer.
    pub fn become_follower(&self) {
        self.debug(NODE_ID_NONE, || "becoming follower".to_string());
        self.host.notify_state_event(State::Follower);
        self.set_state(State::Follower);
        self.randomize_election_timeout();
        let _ = self.clear_incoming_snapshot(0);
        self.timeout_elapsed.set(0);
        self.set_leader_id(NODE_ID_NONE);
    }

    /// Follow `leader`, whose message proved it leads the current term.
    pub(crate) fn accept_leader(&self, leader: NodeId) {
        if !self.is_follower() {
            self.become_follower();
        }
        if self.leader_id() != leader {
            let _ = self.clear_incoming_snapshot(0);
        }
        self.timeout_elapsed.set(0);
        self.set_leader_id(leader);
    }

    /// React to the term of a leader's message: a newer term (or a rival that
    /// won our term while we campaign) makes us a follower; an older one is stale.
    pub(crate) fn receive_term(&self, term: Term) -> Result<()> {
        let current = self.current_term();
        if self.is_candidate() && current == term {
            self.become_follower();
        } else if current < term {
            self.set_current_term(term)?;
            self.become_follower();
        } else if term < current {
            return Err(Error::StaleTerm);
        }
        Ok(())
    }

    /// The common start of handling a leader's request (AppendEntries or a
    /// snapshot chunk): adopt a newer term, follow the sender and stop any
    /// leader transfer. `Ok(false)` when the request's term is stale and it
    /// must be answered without being acted on; `what` names it in the debug log.
    #[inline]
    pub(crate) fn accept_leader_request(
        &self,
        term: Term,
        leader: NodeId,
        what: &str,
    ) -> Result<bool> {
        // The usual case, the leader we follow in our term with no transfer
        // going on: of the steps below only the timer reset changes anything
        // (the leader id is set to the value it has).
        if term == self.current_term()
            && self.is_follower()
            && leader == self.leader_id()
            && self.transfer_target.get() == NODE_ID_NONE
        {
            self.timeout_elapsed.set(0);
            return Ok(true);
        }
        self.accept_new_leader_request(term, leader, what)
    }

    /// [`Self::accept_leader_request`] beyond its usual case.
    #[inline(never)]
    fn accept_new_leader_request(&self, term: Term, leader: NodeId, what: &str) -> Result<bool> {
        match self.receive_term(term) {
            Ok(()) => {}
            Err(Error::StaleTerm) => {
                self.debug(leader, || {
                    format!(
                        "{what} term {term} is less than current term {}",
                        self.current_term()
                    )
                });
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        self.accept_leader(leader);
        self.reset_transfer_leader(false);
        Ok(true)
    }

    /// The common start of handling a response to a leader's request
    /// (AppendEntries, snapshot chunk). `Ok(true)` when it is current and must
    /// be acted on; `Ok(false)` when it was overtaken by a newer response or
    /// answers another term (a newer term makes us a follower first).
    pub(crate) fn accept_leader_response(
        &self,
        node: &Node,
        msg_id: MsgId,
        term: Term,
    ) -> Result<bool> {
        if !self.is_leader() {
            return Err(Error::NotLeader);
        }
        if node.match_msgid() > msg_id {
            return Ok(false);
        }
        if self.current_term() < term {
            self.set_current_term(term)?;
            self.become_follower();
            return Ok(false);
        }
        Ok(self.current_term() == term)
    }

    /// Send a (pre-)vote request for our candidacy to `node`.
    pub fn send_requestvote(&self, node: &Node) -> Result<()> {
        self.debug(node.id(), || {
            format!("sending requestvote to: {}", node.id())
        });
        let prevote = self.is_precandidate();
        let msg = RequestVoteRequest {
            prevote,
            term: self.current_term() + i64::from(prevote),
            candidate_id: self.my_id(),
            last_log_idx: self.current_idx(),
            last_log_term: self.last_log_term(),
        };
        self.host.send_requestvote(node, &msg)
    }

    /// Vote for `node` (persisting the vote first).
    pub fn vote(&self, node: Option<&Node>) -> Result<()> {
        self.vote_for_nodeid(node.map_or(NODE_ID_NONE, |n| n.id()))
    }

    /// Answer a (pre-)vote request. The response is always filled in; the
    /// error is a persistence failure.
    pub fn recv_requestvote(&self, req: &RequestVoteRequest) -> (RequestVoteResponse, Result<()>) {
        let mut resp = RequestVoteResponse {
            prevote: req.prevote,
            request_term: req.term,
            term: 0,
            vote_granted: false,
        };
        let r = self.decide_vote(req, &mut resp);
        self.debug(req.candidate_id, || {
            format!(
                "node requested vote: {}, t:{}, pv:{} replying: {}",
                req.candidate_id,
                req.term,
                i32::from(req.prevote),
                if resp.vote_granted {
                    "granted"
                } else {
                    "not granted"
                }
            )
        });
        resp.term = self.current_term();
        (resp, r)
    }

    fn decide_vote(&self, req: &RequestVoteRequest, resp: &mut RequestVoteResponse) -> Result<()> {
        // Leader stickiness: while we hear from a leader, pre-votes for others fail.
        if req.prevote
            && self.leader_id() != NODE_ID_NONE
            && self.leader_id() != req.candidate_id
            && self.timeout_elapsed() < self.election_timeout()
        {
            return Ok(());
        }
        if !req.prevote && self.current_term() < req.term {
            self.set_current_term(req.term)?;
            self.become_follower();
        }
        if self.current_term() > req.term {
            return Ok(());
        }
        if self.current_term() == req.term
            && self.voted_for() != NODE_ID_NONE
            && self.voted_for() != req.candidate_id
        {
            return Ok(());
        }
        // The candidate's log must be at least as up to date as ours.
        let last_term = self.last_log_term();
        if req.last_log_term < last_term
            || (req.last_log_term == last_term && req.last_log_idx < self.current_idx())
        {
            return Ok(());
        }
        if req.prevote {
            resp.vote_granted = true;
            return Ok(());
        }
        // A leader or candidate of this term already voted for itself.
        if self.is_leader() || self.is_candidate() {
            return Ok(());
        }
        self.vote_for_nodeid(req.candidate_id)?;
        resp.vote_granted = true;
        self.set_leader_id(NODE_ID_NONE);
        self.timeout_elapsed.set(0);
        Ok(())
    }

    /// Count a (pre-)vote answer from `node` (`None` when the sender is unknown).
    pub fn recv_requestvote_response(
        &self,
        node: Option<&Node>,
        resp: &RequestVoteResponse,
    ) -> Result<()> {
        self.debug(node.map_or(NODE_ID_NONE, |n| n.id()), || {
            format!(
                "node responded to requestvote status:{} pv:{} rt:{} ct:{} rt:{}",
                if resp.vote_granted {
                    "granted"
                } else {
                    "not granted"
                },
                i32::from(resp.prevote),
                resp.request_term,
                self.current_term(),
                resp.term
            )
        });
        if resp.term > self.current_term() {
            self.set_current_term(resp.term)?;
            self.become_follower();
            return Ok(());
        }
        let current = self.current_term();
        let fresh = if resp.prevote {
            self.is_precandidate() && resp.request_term == current + 1
        } else {
            self.is_candidate() && resp.request_term == current
        };
        if !fresh || !resp.vote_granted {
            return Ok(());
        }
        if let Some(n) = node {
            self.record_vote(n);
        }
        if self.has_majority_of_votes() {
            if self.is_precandidate() {
                self.become_candidate()?;
            } else {
                self.become_leader()?;
            }
        }
        Ok(())
    }
}
