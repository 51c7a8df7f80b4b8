
pub mod server;
