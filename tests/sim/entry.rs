//! The entry handle the simulation feeds the core: an `Rc` around plain data.

use std::cell::Cell;
use std::rc::Rc;

use raft::core::{log_type, Entry, EntryId, NodeId, Term};

#[derive(Debug)]
pub struct EntryData {
    /// A cell because the leader stamps a submitted entry with its term.
    pub term: Cell<Term>,
    pub id: EntryId,
    pub entry_type: i32,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct SimEntry(pub Rc<EntryData>);

impl SimEntry {
    pub fn new(term: Term, id: EntryId, entry_type: i32, data: Vec<u8>) -> SimEntry {
        SimEntry(Rc::new(EntryData {
            term: Cell::new(term),
            id,
            entry_type,
            data,
        }))
    }

    /// A configuration change about `node`: the payload is the node id.
    pub fn cfg(entry_type: i32, id: EntryId, node: NodeId) -> SimEntry {
        SimEntry::new(0, id, entry_type, node.to_le_bytes().to_vec())
    }

    /// The node a configuration change names, if the payload holds one.
    pub fn cfg_node(&self) -> Option<NodeId> {
        if !log_type::is_cfg_change(self.0.entry_type) {
            return None;
        }
        let b: [u8; 4] = self.0.data.get(..4)?.try_into().ok()?;
        Some(NodeId::from_le_bytes(b))
    }

    /// What two copies of "the same" entry agree on.
    pub fn key(&self) -> EntryKey {
        EntryKey {
            term: self.0.term.get(),
            id: self.0.id,
            entry_type: self.0.entry_type,
            data_hash: fnv(&self.0.data),
        }
    }
}

impl Entry for SimEntry {
    fn term(&self) -> Term {
        self.0.term.get()
    }
    fn set_term(&self, term: Term) {
        self.0.term.set(term)
    }
    fn id(&self) -> EntryId {
        self.0.id
    }
    fn entry_type(&self) -> i32 {
        self.0.entry_type
    }
    fn data(&self) -> &[u8] {
        &self.0.data
    }
    fn create(term: Term, id: EntryId, entry_type: i32, data: &[u8]) -> Option<Self> {
        Some(SimEntry::new(term, id, entry_type, data.to_vec()))
    }
}

/// Identity of an entry for the safety checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryKey {
    pub term: Term,
    pub id: EntryId,
    pub entry_type: i32,
    pub data_hash: u64,
}

pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
