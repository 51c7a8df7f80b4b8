//! A directed fault sequence layered on the random schedule: the "Figure 8"
//! scenario of the Raft paper, which random faults almost never line up.
//!
//! 1. The leader L1 (term t1) takes an entry `e` at index i and is cut off
//!    before sending it: only L1 holds `e`.
//! 2. The others elect L2 (term t2 > t1), whose no-op lands at index i too;
//!    L2 is cut off the moment it is seen leading, before the no-op leaves.
//!    L1 comes back.
//! 3. L1 wins a later term t4 (its log, ending with `e`, is the most up to
//!    date of the reachable nodes) and replicates `e` to a majority. Hosts
//!    often send one entry per request meanwhile (as hosts that cap requests
//!    by size do with a large `e`), so `e` and L1's no-op travel apart.
//! 4. As soon as L1 reports index i committed it crashes, cut off from
//!    everyone (messages in flight included), and L2 comes back.
//!
//! A correct L1 only commits i once its no-op of t4 is on a majority, which
//! keeps L2 from winning. An L1 that commits `e` by counting replicas lets L2,
//! whose last term t2 beats t1, win and overwrite the committed `e`: state
//! machine safety fails. Any deviation (another leader, a timeout) abandons
//! the scenario and reconnects everyone.

use raft::core::{Index, NodeId, Term};

use super::cluster::Cluster;

#[derive(Clone, Copy, Debug, Default)]
pub enum Figure8 {
    #[default]
    Idle,
    /// L1 is cut off holding `e` at `idx`; waiting for another leader.
    Isolated {
        l1: NodeId,
        t1: Term,
        idx: Index,
        until: u64,
    },
    /// L2 is cut off, L1 is back; waiting for L1 to lead a term after t2.
    Rejoin {
        l1: NodeId,
        l2: NodeId,
        t2: Term,
        idx: Index,
        until: u64,
    },
    /// L1 leads again; waiting for it to commit `idx`.
    Recommit {
        l1: NodeId,
        l2: NodeId,
        idx: Index,
        until: u64,
    },
    /// L1 is down and cut off, L2 is back; L1 restarts at `until`.
    Aftermath { l1: NodeId, until: u64 },
}

impl Figure8 {
    pub fn is_active(&self) -> bool {
        !matches!(self, Figure8::Idle)
    }
}

impl Cluster {
    /// Start the scenario if the cluster suits it: a reachable leader of
    /// three or five voters, all of them running, no change under way.
    pub fn figure8_start(&mut self) {
        if self.figure8.is_active() || self.stranded.is_some() || self.strand_pending {
            return;
        }
        let Some((l1, leader)) = self.leader() else {
            return;
        };
        let voters: Vec<NodeId> = leader
            .nodes()
            .iter()
            .filter(|n| n.is_voting())
            .map(|n| n.id())
            .collect();
        let running = self.running_ids();
        if !matches!(voters.len(), 3 | 5)
            || !voters.iter().all(|v| running.contains(v))
            || leader.voting_change_is_in_progress()
        {
            return;
        }
        let Some((resp, _)) = self.submit(l1) else {
            return;
        };
        let up = self.up_ids();
        self.net.isolate(l1, &up);
        self.stranded = Some((l1, u64::MAX));
        self.counts.figure8 += 1;
        self.trace(format_args!(
            "figure8: n{l1} (term {}) holds idx {} alone",
            resp.term, resp.idx
        ));
        self.figure8 = Figure8::Isolated {
            l1,
            t1: resp.term,
            idx: resp.idx,
            until: self.now() + 1500,
        };
    }

    /// Advance the scenario (called every millisecond, before the step).
    pub fn figure8_step(&mut self) {
        let now = self.now();
        match self.figure8 {
            Figure8::Idle => {}
            Figure8::Isolated { l1, t1, idx, until } => {
                let l2 = self
                    .leaders()
                    .into_iter()
                    .find(|(id, s)| *id != l1 && s.current_term() > t1);
                if let Some((l2, s2)) = l2 {
                    self.net.reconnect(l1);
                    let up = self.up_ids();
                    self.net.isolate(l2, &up);
                    self.stranded = Some((l2, u64::MAX));
                    self.shared.single_entries.set(true);
                    self.trace(format_args!("figure8: n{l2} cut off, n{l1} back"));
                    self.figure8 = Figure8::Rejoin {
                        l1,
                        l2,
                        t2: s2.current_term(),
                        idx,
                        until: now + 2000,
                    };
                } else if now > until {
                    self.figure8_abort();
                }
            }
            Figure8::Rejoin {
                l1,
                l2,
                t2,
                idx,
                until,
            } => {
                let newer = self
                    .leaders()
                    .into_iter()
                    .find(|(_, s)| s.current_term() > t2);
                match newer {
                    Some((id, _)) if id == l1 => {
                        self.trace(format_args!("figure8: n{l1} leads again"));
                        self.figure8 = Figure8::Recommit {
                            l1,
                            l2,
                            idx,
                            until: now + 1000,
                        };
                    }
                    Some(_) => self.figure8_abort(),
                    None if now > until || self.server(l1).is_none() => self.figure8_abort(),
                    None => {}
                }
            }
            Figure8::Recommit { l1, l2, idx, until } => {
                let Some(s1) = self.server(l1).filter(|s| s.is_leader()) else {
                    self.figure8_abort();
                    return;
                };
                if s1.commit_idx() >= idx {
                    self.net.reconnect(l2);
                    let up = self.up_ids();
                    self.net.isolate(l1, &up);
                    self.crash(l1);
                    self.stranded = None;
                    self.shared.single_entries.set(false);
                    let ms = self.rng.range(300, 800);
                    self.trace(format_args!(
                        "figure8: n{l1} committed idx {idx}, crashed; n{l2} back"
                    ));
                    self.figure8 = Figure8::Aftermath {
                        l1,
                        until: now + ms,
                    };
                } else if now > until {
                    self.figure8_abort();
                }
            }
            Figure8::Aftermath { l1, until } => {
                if now >= until {
                    self.net.reconnect(l1);
                    self.restart(l1);
                    self.figure8 = Figure8::Idle;
                }
            }
        }
    }

    /// Give up: reconnect everyone and restart a node the scenario crashed.
    pub fn figure8_abort(&mut self) {
        if let Figure8::Aftermath { l1, .. } = self.figure8 {
            self.restart(l1);
        }
        self.trace(format_args!("figure8: abandoned in {:?}", self.figure8));
        self.net.heal();
        self.stranded = None;
        self.shared.single_entries.set(false);
        self.figure8 = Figure8::Idle;
    }
}
