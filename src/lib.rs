//! libraft-rs: a Raft consensus library in safe Rust, exported through a C ABI
//! that is a drop-in replacement for libraft (RedisLabs/raft).
//!
//! * [`core`] is the safe Raft state machine that Rust users can embed directly.
//! * `ffi` is the `extern "C"` shell: the only code with `unsafe`.

pub mod core;
pub mod ffi;
