//! The `extern "C"` shell: the only module with `unsafe`. Each export checks
//! its pointers, converts types and calls the safe core, inside
//! [`boundary::guard`] wherever a panic is possible.
#![allow(clippy::missing_safety_doc)]

pub mod boundary;
pub mod callbacks;
pub mod config;
pub mod entry;
pub mod heap;
pub mod log;
pub mod node;
pub mod server;
pub mod snapshot;
pub mod types;
