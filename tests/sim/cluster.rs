//! The simulated cluster: nodes with their disks and the network; booting,
//! crashing and restarting nodes (with log replay); delivering messages and
//! ticking; the checks made after every step. The client and operator
//! operations live in `ops.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use raft::core::{log_type, Entry, Error, Index, LogStore, NodeId, Server, Term};

use super::check::{check_log_matching, Shared};
use super::entry::SimEntry;
use super::fsm::Fsm;
use super::host::{Disk, SimHost};
use super::log::SimLog;
use super::nemesis::Figure8;
use super::net::{Faults, Msg, Network, MAX_IN_FLIGHT};
use super::rng::Rng;
use super::{snap, SimServer};

/// Election timeout of the simulated servers, in milliseconds.
pub const ELECTION_TIMEOUT: i64 = 100;
pub const REQUEST_TIMEOUT: i64 = 20;

pub struct SimNode {
    pub disk: Rc<Disk>,
    /// `None` while crashed.
    pub server: Option<Rc<SimServer>>,
    /// Removed from the cluster for good (its removal committed).
    pub retired: bool,
    /// Highest commit index already reported to the checker.
    seen_commit: Index,
    /// The process is frozen (a long GC pause, a stopped VM) until this time:
    /// it neither ticks nor handles messages, which wait for it.
    pub paused_until: u64,
    /// The voters of its configuration when the current step began (a
    /// commit made during the step may have counted them, not the final ones).
    voters_before: Vec<NodeId>,
    /// (term, index): the highest index it acknowledged to the leader of
    /// that term (an AppendEntries success).
    acked: (Term, Index),
}

impl SimNode {
    /// A node that has not booted yet.
    pub fn new(disk: Rc<Disk>) -> SimNode {
        SimNode {
            disk,
            server: None,
            retired: false,
            seen_commit: 0,
            paused_until: 0,
            voters_before: Vec::new(),
            acked: (0, 0),
        }
    }

    pub fn up(&self) -> Option<&Rc<SimServer>> {
        if self.retired {
            None
        } else {
            self.server.as_ref()
        }
    }
}

pub struct Cluster {
    pub shared: Rc<Shared>,
    pub rng: Rng,
    pub net: Network,
    pub nodes: BTreeMap<NodeId, SimNode>,
    pub next_node_id: NodeId,
    pub counts: Counts,
    /// Faults due later: (at ms, what).
    pub scheduled: Vec<(u64, Fault)>,
    /// A leader cut off from everyone until the given time: clients on its
    /// side keep reading from it, the others write to whoever leads now.
    pub stranded: Option<(NodeId, u64)>,
    /// A leader is to be stranded as soon as it is quiet.
    pub strand_pending: bool,
    /// Progress of the directed "Figure 8" fault sequence.
    pub figure8: Figure8,
}

/// A fault scheduled for later by the leader-targeted nemesis.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    Crash(NodeId),
    Restart(NodeId),
    Reconnect(NodeId),
}

#[derive(Default, Debug)]
pub struct Counts {
    pub entries: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub snapshots: u64,
    pub joins: u64,
    pub removals: u64,
    pub partitions: u64,
    pub transfers: u64,
    pub reads: u64,
    pub leader_faults: u64,
    pub figure8: u64,
}

impl Cluster {
    /// `n` voters whose logs start with the configuration entries that name them.
    pub fn new(
        seed: u64,
        n: usize,
        faults: Faults,
        trace: bool,
        nonblocking_apply: bool,
        auto_flush: bool,
    ) -> Cluster {
        let mut rng = Rng::new(seed);
        let shared = Rc::new(Shared::new(trace, nonblocking_apply, auto_flush));
        let mut c = Cluster {
            shared,
            net: Network::new(faults),
            rng: rng.fork(),
            nodes: BTreeMap::new(),
            next_node_id: n as NodeId + 1,
            counts: Counts::default(),
            scheduled: Vec::new(),
            stranded: None,
            strand_pending: false,
            figure8: Figure8::Idle,
        };
        let boot: Vec<SimEntry> = (1..=n as NodeId)
            .map(|id| SimEntry::cfg(log_type::ADD_NODE, c.shared.new_entry_id(), id))
            .inspect(|e| e.set_term(1))
            .collect();
        for id in 1..=n as NodeId {
            let disk = Rc::new(Disk::new(BTreeMap::new()));
            disk.term.set(1);
            for e in &boot {
                let copy = SimEntry::new(e.term(), e.id(), e.entry_type(), e.data().to_vec());
                disk.log.borrow().append(&copy).expect("append");
            }
            c.nodes.insert(id, SimNode::new(disk));
            c.start(id);
        }
        c
    }

    pub fn now(&self) -> u64 {
        self.shared.now.get()
    }

    /// Members (not retired), running or not.
    pub fn members(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| !n.retired)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Ids of nodes that are running.
    pub fn up_ids(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.up().is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Ids of nodes that are running and not paused.
    pub fn running_ids(&self) -> Vec<NodeId> {
        let now = self.now();
        self.nodes
            .iter()
            .filter(|(_, n)| n.up().is_some() && n.paused_until <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Freeze node `id` for `ms` milliseconds.
    pub fn pause(&mut self, id: NodeId, ms: u64) {
        let until = self.now() + ms;
        if let Some(n) = self.nodes.get_mut(&id) {
            n.paused_until = until;
            self.trace(format_args!("pause n{id} for {ms}ms"));
        }
    }

    pub fn server(&self, id: NodeId) -> Option<Rc<SimServer>> {
        self.nodes.get(&id).and_then(|n| n.up().cloned())
    }

    /// Running leaders (several may exist in different terms).
    /// Running, unpaused nodes that believe they lead.
    pub fn leaders(&self) -> Vec<(NodeId, Rc<SimServer>)> {
        let now = self.now();
        self.nodes
            .iter()
            .filter(|(_, n)| n.paused_until <= now)
            .filter_map(|(id, n)| n.up().filter(|s| s.is_leader()).map(|s| (*id, s.clone())))
            .collect()
    }

    /// The leader of the highest term that clients and operators can reach
    /// (not a stranded one), if any.
    pub fn leader(&self) -> Option<(NodeId, Rc<SimServer>)> {
        let stranded = self.stranded.map(|(n, _)| n);
        self.leaders()
            .into_iter()
            .filter(|(id, _)| Some(*id) != stranded)
            .max_by_key(|(_, s)| s.current_term())
    }

    /// Boot (or reboot) node `id` from its disk in the documented order:
    /// the snapshot (and the configuration it holds), then the log, then term
    /// and vote. The log is either replayed entry by entry through
    /// `append_entry`, or handed over pre-loaded and `restore_log` rebuilds
    /// the configuration from it (both are ways real users restart).
    pub fn start(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("known node");
        let disk = node.disk.clone();
        let old = disk.log.borrow().clone();
        let snapshot = disk.snapshot.borrow().clone();
        let preload = self.rng.chance(500);
        let mut fsm = Fsm::new(disk.bootstrap.clone());
        let log = SimLog::default();
        log.0.borrow_mut().held = old.0.borrow().held.clone();
        let (old_base, old_base_term) = old.base();
        let mut replay = old.entries_from(old_base + 1);
        if let Some((term, idx, bytes)) = &snapshot {
            fsm = Fsm::decode(bytes).expect("own snapshot decodes");
            log.reset(idx + 1, *term);
            replay.retain(|(i, _)| *i > *idx);
        } else if preload {
            log.reset(old_base + 1, old_base_term);
        }
        if preload {
            for (_, e) in &replay {
                log.append(e).expect("append");
            }
        }
        let host = SimHost::new(
            id,
            self.shared.clone(),
            disk.clone(),
            fsm.clone(),
            self.rng.fork(),
        );
        let server = Rc::new(Server::new(log.clone(), host));
        *server.host().server.borrow_mut() = Rc::downgrade(&server);
        let mut cfg = server.config();
        cfg.election_timeout = ELECTION_TIMEOUT;
        cfg.request_timeout = REQUEST_TIMEOUT;
        cfg.nonblocking_apply = self.shared.nonblocking_apply;
        cfg.auto_flush = self.shared.auto_flush;
        server.set_config(cfg);

        // The configuration before the log: the snapshot's, else the bootstrap one.
        let members = &fsm.members;
        if !members.contains_key(&id) {
            server.add_non_voting_node(0, id, true);
        }
        for (m, voting) in members {
            if *voting {
                server.add_node(0, *m, *m == id);
            } else {
                server.add_non_voting_node(0, *m, *m == id);
            }
        }
        if let Some((term, idx, _)) = &snapshot {
            if let Err(e) = snap::restore_snapshot(&server, *term, *idx) {
                self.shared.violation(format!(
                    "node {id}: restore_snapshot({term}, {idx}) failed: {e:?}"
                ));
            }
        }
        if preload {
            if let Err(e) = server.restore_log() {
                self.shared
                    .violation(format!("node {id}: restore_log failed: {e:?}"));
            }
        } else {
            for (idx, e) in &replay {
                if let Err(err) = server.append_entry(e) {
                    self.shared
                        .violation(format!("node {id}: replaying idx {idx} failed: {err:?}"));
                }
            }
        }
        if server.current_idx() != old.current_idx().max(snapshot.as_ref().map_or(0, |s| s.1)) {
            self.shared.violation(format!(
                "node {id}: restarted with last idx {} instead of {}",
                server.current_idx(),
                old.current_idx()
            ));
        }
        if let Err(e) = server.restore_metadata(disk.term.get(), disk.vote.get()) {
            self.shared
                .violation(format!("node {id}: restore_metadata failed: {e:?}"));
        }
        server.randomize_election_timeout();
        log.mark_durable(log.current_idx());
        *disk.log.borrow_mut() = log;
        let node = self.nodes.get_mut(&id).expect("known node");
        node.paused_until = 0;
        node.seen_commit = server.commit_idx();
        node.voters_before = voters_of(&server);
        node.server = Some(server);
    }

    pub fn crash(&mut self, id: NodeId) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.server = None;
            n.disk.log.borrow().crash();
            self.counts.crashes += 1;
            self.trace(format_args!("crash n{id}"));
        }
    }

    pub fn restart(&mut self, id: NodeId) {
        if self
            .nodes
            .get(&id)
            .is_some_and(|n| n.server.is_none() && !n.retired)
        {
            self.start(id);
            self.counts.restarts += 1;
            self.trace(format_args!("restart n{id}"));
        }
    }

    /// Run the scheduled faults that are due.
    pub fn run_scheduled(&mut self) {
        let now = self.now();
        let due: Vec<Fault> = self
            .scheduled
            .iter()
            .filter(|(t, _)| *t <= now)
            .map(|(_, f)| *f)
            .collect();
        self.scheduled.retain(|(t, _)| *t > now);
        for f in due {
            self.trace(format_args!("scheduled {f:?}"));
            match f {
                Fault::Crash(id) => {
                    if self.server(id).is_some() {
                        self.crash(id);
                    }
                }
                Fault::Restart(id) => self.restart(id),
                Fault::Reconnect(id) => {
                    self.net.reconnect(id);
                    if self.stranded.is_some_and(|(s, _)| s == id) {
                        self.stranded = None;
                    }
                }
            }
        }
    }

    pub fn schedule(&mut self, after_ms: u64, f: Fault) {
        let at = self.now() + after_ms;
        self.scheduled.push((at, f));
    }

    pub fn trace(&self, what: std::fmt::Arguments) {
        if self.shared.trace {
            eprintln!("[{:>7}ms] sim: {what}", self.now());
        }
    }

    /// Advance time by one millisecond: deliver what is due, tick every node.
    pub fn step(&mut self) {
        let now = self.now() + 1;
        self.shared.now.set(now);
        for n in self.nodes.values_mut() {
            if let Some(s) = n.up() {
                n.voters_before = voters_of(s);
            }
        }
        while let Some(env) = self.net.next_due(now) {
            let paused = self.nodes.get(&env.to).map_or(0, |n| n.paused_until);
            if paused > now {
                let at = paused + self.rng.range(0, 3);
                self.net.defer(env, at);
                continue;
            }
            self.deliver(env.from, env.to, env.msg);
        }
        for id in self.running_ids() {
            // Under chaos, ticks come irregularly (the server measures real elapsed time).
            if self.shared.chaos.get() && self.rng.chance(150) {
                continue;
            }
            let Some(s) = self.server(id) else { continue };
            let r = s.periodic();
            self.after_call(id, r);
            if !self.shared.auto_flush {
                self.flush_loop(id, &s);
            }
        }
        self.observe();
        if self.net.stats.flooded > 0 {
            self.shared.violation(format!(
                "message storm: more than {MAX_IN_FLIGHT} messages in flight",
            ));
        }
    }

    /// The event loop of a user with auto-flush off: start an asynchronous
    /// write of what `index_to_sync` reports, and tell `flush` what completed.
    fn flush_loop(&mut self, id: NodeId, s: &SimServer) {
        let now = self.now();
        let idx = s.index_to_sync();
        if idx > 0 {
            let done = now + self.rng.range(0, 4);
            s.host().syncs.borrow_mut().push((done, idx));
        }
        let completed = {
            let mut syncs = s.host().syncs.borrow_mut();
            let done = syncs
                .iter()
                .filter(|(t, _)| *t <= now)
                .map(|(_, i)| *i)
                .max()
                .unwrap_or(0);
            syncs.retain(|(t, _)| *t > now);
            done
        };
        if completed > 0 {
            s.log().mark_durable(completed);
        }
        let r = s.flush(completed);
        self.after_call(id, r);
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        let Some(s) = self.server(to) else { return };
        if self.shared.trace {
            eprintln!("[{:>7}ms] deliver n{from}->n{to} {msg:?}", self.now());
        }
        let node = s.node(from);
        let node = node.as_deref();
        let (reply, r) = match msg {
            Msg::Vote(req) => {
                let own = (s.log().last_term(), s.log().current_idx());
                let (resp, r) = s.recv_requestvote(&req);
                // Election restriction: a vote only goes to a candidate whose
                // log is at least as up to date as the voter's.
                let theirs = (req.last_log_term, req.last_log_idx);
                if !req.prevote && resp.vote_granted && theirs < own {
                    self.shared.violation(format!(
                        "election restriction: node {to} voted for node {from} in term {} although the candidate's log (last term/idx {theirs:?}) is behind its own {own:?}",
                        req.term
                    ));
                }
                (Some(Msg::VoteResp(resp)), r)
            }
            Msg::VoteResp(resp) => (None, s.recv_requestvote_response(node, &resp)),
            Msg::Append(mut req) => {
                // Each node gets its own copies, as over a real wire.
                req.entries = req
                    .entries
                    .iter()
                    .map(|e| SimEntry::new(e.term(), e.id(), e.entry_type(), e.data().to_vec()))
                    .collect();
                let popped_before = s.log().0.borrow().popped.len();
                let (resp, r) = s.recv_appendentries(&req);
                self.check_acked(to, &s, popped_before);
                if resp.success {
                    if let Some(n) = self.nodes.get_mut(&to) {
                        let (t, i) = n.acked;
                        n.acked = if t == resp.term {
                            (t, i.max(resp.current_idx))
                        } else {
                            (resp.term, resp.current_idx)
                        };
                    }
                }
                (Some(Msg::AppendResp(resp)), r)
            }
            Msg::AppendResp(resp) => (None, s.recv_appendentries_response(node, &resp)),
            Msg::Snap(req) => {
                let (resp, r) = snap::recv_snapshot(&s, node, &req);
                (Some(Msg::SnapResp(resp)), r)
            }
            Msg::SnapResp(resp) => (None, snap::recv_snapshot_response(&s, node, &resp)),
            Msg::TimeoutNow => (None, s.timeout_now()),
        };
        if let Some(reply) = reply {
            self.net
                .send(self.shared.now.get(), to, from, reply, &mut self.rng);
        }
        self.after_call(to, r);
    }

    /// Flush what a call made the node send, and stop it if it shut down.
    pub fn after_call<T>(&mut self, id: NodeId, r: Result<T, Error>) {
        let Some(node) = self.nodes.get(&id) else {
            return;
        };
        let Some(s) = node.server.clone() else { return };
        let out = std::mem::take(&mut *s.host().outbox.borrow_mut());
        for (to, msg) in out {
            self.net.send(self.now(), id, to, msg, &mut self.rng);
        }
        if matches!(r, Err(Error::Shutdown)) || s.host().removed.get() {
            self.trace(format_args!("n{id} shut down"));
            self.retire(id);
        }
    }

    fn retire(&mut self, id: NodeId) {
        if let Some(n) = self.nodes.get_mut(&id) {
            if !n.retired {
                n.retired = true;
                n.server = None;
                self.counts.removals += 1;
            }
        }
    }

    /// Check the invariants that can be checked after every step.
    pub fn observe(&mut self) {
        let shared = self.shared.clone();
        let mut removed = BTreeSet::new();
        let mut commits = Vec::new();
        for (id, n) in self.nodes.iter_mut() {
            let Some(s) = n.up().cloned() else { continue };
            let log = s.log().clone();
            shared.check_pops(*id, &log, n.seen_commit);
            if s.is_leader() && shared.observe_leader(*id, s.current_term()) {
                shared.check_leader_complete(*id, s.current_term(), &log);
            }
            // Term and vote are durable before anyone can see them, and a
            // restart forgets neither.
            let (dt, dv) = (n.disk.term.get(), n.disk.vote.get());
            if s.current_term() != dt || s.voted_for() != dv {
                shared.violation(format!(
                    "node {id}: term/vote {}/{} in memory but {dt}/{dv} on disk",
                    s.current_term(),
                    s.voted_for()
                ));
            }
            let commit = s.commit_idx();
            if s.is_leader() && commit > n.seen_commit {
                commits.push((
                    *id,
                    s.current_term(),
                    commit,
                    n.voters_before.clone(),
                    voters_of(&s),
                ));
            }
            if commit > s.current_idx() {
                shared.violation(format!(
                    "node {id}: commit idx {commit} beyond last idx {}",
                    s.current_idx()
                ));
            }
            for idx in (n.seen_commit + 1)..=commit {
                if let Some(e) = log.get_entry(idx) {
                    shared.observe_committed(*id, idx, e.key(), s.current_term());
                    if e.entry_type() == log_type::REMOVE_NODE {
                        removed.extend(e.cfg_node());
                    }
                }
            }
            n.seen_commit = n.seen_commit.max(commit);
        }
        for (id, term, commit, before, now) in commits {
            self.check_commit_rule(id, term, commit, &before, &now);
        }
        // An operator retires nodes whose removal committed.
        for id in removed {
            if self.nodes.get(&id).is_some_and(|n| !n.retired) {
                self.trace(format_args!("retiring n{id}"));
                self.retire(id);
            }
        }
    }

    /// The commit rule (Raft §5.4.2, the "Figure 8" rule): the leader of
    /// `term` may only raise its commit index to `commit` once a majority of
    /// its voters hold an entry of `term` at `commit` or later. Checked
    /// against what each voter ever appended, with the voters of the
    /// configuration before or after the step.
    fn check_commit_rule(
        &self,
        leader: NodeId,
        term: Term,
        commit: Index,
        before: &[NodeId],
        now: &[NodeId],
    ) {
        let held = |v: &NodeId| {
            self.nodes
                .get(v)
                .is_some_and(|n| n.disk.log.borrow().held(term) >= commit)
        };
        let quorum = |voters: &[NodeId]| {
            !voters.is_empty() && voters.iter().filter(|v| held(v)).count() > voters.len() / 2
        };
        if !quorum(before) && !quorum(now) {
            let holders: Vec<NodeId> = now.iter().copied().filter(|v| held(v)).collect();
            self.shared.violation(format!(
                "commit rule: leader {leader} of term {term} committed idx {commit} but only {holders:?} of voters {now:?} ever held an entry of term {term} at or after it"
            ));
        }
    }

    /// A follower never removes an entry it acknowledged to the leader of its
    /// current term: that leader may already count it toward a commit. Only a
    /// later leader may replace it. `popped_before` is the length of the
    /// log's removal record before the request was handled.
    fn check_acked(&self, id: NodeId, s: &SimServer, popped_before: usize) {
        let Some(n) = self.nodes.get(&id) else { return };
        let (term, idx) = n.acked;
        if term != s.current_term() {
            return;
        }
        let d = s.log().0.borrow();
        if let Some((i, k)) = d.popped[popped_before..].iter().find(|(i, _)| *i <= idx) {
            self.shared.violation(format!(
                "node {id} removed idx {i} {k:?}, which it had acknowledged (up to idx {idx}) to the leader of its term {term}"
            ));
        }
    }

    /// Pairwise log matching, and every node's log agrees with what is
    /// known committed up to its own commit index.
    pub fn check_logs(&self) {
        let logs: Vec<(NodeId, SimLog)> = self
            .nodes
            .iter()
            .filter(|(_, n)| !n.retired)
            .map(|(id, n)| (*id, n.disk.log.borrow().clone()))
            .collect();
        check_log_matching(&self.shared, &logs);
        for (id, n) in &self.nodes {
            let Some(s) = n.up() else { continue };
            let log = s.log();
            let (base, _) = log.base();
            for (idx, e) in log.entries_from(base + 1) {
                if idx > s.commit_idx() {
                    break;
                }
                if let Some(k) = self.shared.committed_key(idx) {
                    if k != e.key() {
                        self.shared.violation(format!(
                            "state machine safety: node {id} holds {:?} at idx {idx} (within its commit idx {}), but {k:?} committed there",
                            e.key(),
                            s.commit_idx()
                        ));
                        return;
                    }
                }
            }
        }
    }

    /// The voting members of the leader's configuration that are running.
    pub fn live_voters(&self, leader: &SimServer) -> Vec<NodeId> {
        leader
            .nodes()
            .iter()
            .filter(|n| n.is_voting() && self.server(n.id()).is_some())
            .map(|n| n.id())
            .collect()
    }
}

/// The voters of `s`'s configuration.
fn voters_of(s: &SimServer) -> Vec<NodeId> {
    s.nodes()
        .iter()
        .filter(|n| n.is_voting())
        .map(|n| n.id())
        .collect()
}
