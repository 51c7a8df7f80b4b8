//! libraft-rs: a Raft consensus library in safe Rust, exported through a C ABI
//! that is a drop-in replacement for libraft (RedisLabs/raft).
//!
//! * [`core`] is the safe Raft state machine that Rust users can embed directly.
//! * `ffi` is the `extern "C"` shell: the only code with `unsafe`.
//!
//! # Using the core from Rust
//!
//! Supply an entry handle, a log store (here the built-in [`core::MemoryLog`])
//! and a host whose callbacks send messages and apply committed entries:
//!
//! ```
//! use std::cell::{Cell, RefCell};
//! use std::rc::Rc;
//! use raft::core::{Entry, EntryId, Host, Index, MemoryLog, Result, Server, Term};
//!
//! /// A command: cheap to clone, immutable apart from the term the leader stamps.
//! #[derive(Clone)]
//! struct Cmd(Rc<(Cell<Term>, EntryId, i32, Vec<u8>)>);
//!
//! impl Entry for Cmd {
//!     fn term(&self) -> Term { self.0 .0.get() }
//!     fn id(&self) -> EntryId { self.0 .1 }
//!     fn entry_type(&self) -> i32 { self.0 .2 }
//!     fn data(&self) -> &[u8] { &self.0 .3 }
//!     fn set_term(&self, term: Term) { self.0 .0.set(term) }
//!     fn create(term: Term, id: EntryId, kind: i32, data: &[u8]) -> Option<Self> {
//!         Some(Cmd(Rc::new((Cell::new(term), id, kind, data.to_vec()))))
//!     }
//! }
//!
//! /// The state machine: remembers what was applied.
//! #[derive(Default)]
//! struct Applied(RefCell<Vec<Vec<u8>>>);
//!
//! impl Host<Cmd> for Applied {
//!     fn apply_entry(&self, entry: &Cmd, _idx: Index) -> Result<()> {
//!         self.0.borrow_mut().push(entry.data().to_vec());
//!         Ok(())
//!     }
//! }
//!
//! let server = Server::new(MemoryLog::new(), Applied::default());
//! server.add_node(0, 1, true); // a one-node cluster: this server
//! server.periodic_internal(10).unwrap(); // the only voter elects itself
//! assert!(server.is_leader());
//!
//! let cmd = Cmd::create(0, 7, 0, b"set x = 1").unwrap();
//! let resp = server.recv_entry(&cmd).unwrap();
//! server.periodic_internal(10).unwrap(); // commit and apply
//! assert!(server.commit_idx() >= resp.idx);
//! assert!(server.host().0.borrow().iter().any(|d| d == b"set x = 1"));
//! ```

pub mod core;
pub mod ffi;
