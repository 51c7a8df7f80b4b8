//! The safe Raft core: the state machine of one server, generic over the entry
//! handle, the log store and the host callbacks supplied by its embedder.
//!
//! Nothing here uses `unsafe`. Every public method takes `&self` and keeps no
//! `RefCell` borrow alive across a host callback, so a callback may call back
//! into the same server (as C users of libraft do).
#![forbid(unsafe_code)]

pub mod entry;
pub mod host;
pub mod log;
pub mod memory_log;
pub mod message;
pub mod node;
pub mod server;
pub mod types;

pub use entry::Entry;
pub use host::Host;
pub use log::LogStore;
pub use memory_log::MemoryLog;
pub use message::*;
pub use node::Node;
pub use server::Server;
pub use types::*;
