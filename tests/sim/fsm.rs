//! The replicated state machine each node applies entries to, and its
//! snapshot encoding. It tracks the membership committed so far, so a
//! snapshot carries the configuration a restarted or caught-up node needs.

use std::collections::BTreeMap;

use raft::core::{log_type, Entry, Index, NodeId, Term};

use super::entry::{fnv, SimEntry};

/// Filler appended to every snapshot so transfers span several chunks.
const FILLER: usize = 300;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fsm {
    pub last_idx: Index,
    pub last_term: Term,
    /// Hash chain over every applied entry: equal states have equal hashes.
    pub hash: u64,
    pub applied: u64,
    /// Committed membership: node id → voting.
    pub members: BTreeMap<NodeId, bool>,
}

impl Fsm {
    pub fn new(members: BTreeMap<NodeId, bool>) -> Fsm {
        Fsm {
            members,
            ..Fsm::default()
        }
    }

    pub fn apply(&mut self, e: &SimEntry, idx: Index) {
        let k = e.key();
        let mut buf = Vec::with_capacity(40);
        buf.extend_from_slice(&self.hash.to_le_bytes());
        buf.extend_from_slice(&idx.to_le_bytes());
        buf.extend_from_slice(&k.term.to_le_bytes());
        buf.extend_from_slice(&k.id.to_le_bytes());
        buf.extend_from_slice(&k.entry_type.to_le_bytes());
        buf.extend_from_slice(&k.data_hash.to_le_bytes());
        self.hash = fnv(&buf);
        self.applied += 1;
        self.last_idx = idx;
        self.last_term = e.term();
        if let Some(n) = e.cfg_node() {
            match e.entry_type() {
                log_type::ADD_NONVOTING_NODE => {
                    self.members.entry(n).or_insert(false);
                }
                log_type::ADD_NODE => {
                    self.members.insert(n, true);
                }
                log_type::REMOVE_NODE => {
                    self.members.remove(&n);
                }
                _ => {}
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&self.last_idx.to_le_bytes());
        b.extend_from_slice(&self.last_term.to_le_bytes());
        b.extend_from_slice(&self.hash.to_le_bytes());
        b.extend_from_slice(&self.applied.to_le_bytes());
        b.extend_from_slice(&(self.members.len() as u32).to_le_bytes());
        for (id, voting) in &self.members {
            b.extend_from_slice(&id.to_le_bytes());
            b.push(*voting as u8);
        }
        let mut x = self.hash;
        for _ in 0..FILLER {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b.push((x >> 56) as u8);
        }
        b.extend_from_slice(&fnv(&b).to_le_bytes());
        b
    }

    /// The state in `b`, or `None` if it is truncated or corrupted.
    pub fn decode(b: &[u8]) -> Option<Fsm> {
        let (body, sum) = b.split_at(b.len().checked_sub(8)?);
        if fnv(body).to_le_bytes() != sum {
            return None;
        }
        let mut r = Reader(body);
        let last_idx = r.i64()?;
        let last_term = r.i64()?;
        let hash = r.u64()?;
        let applied = r.u64()?;
        let n = r.u32()?;
        let mut members = BTreeMap::new();
        for _ in 0..n {
            let id = r.u32()? as NodeId;
            let voting = r.take(1)?[0] != 0;
            members.insert(id, voting);
        }
        if r.0.len() != FILLER {
            return None;
        }
        Some(Fsm {
            last_idx,
            last_term,
            hash,
            applied,
            members,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(self.u64()? as i64)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}
