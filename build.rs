//! Build script: sets the shared library's soname and compiles the C shim
//! that provides the variadic `raft_config`.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libraft.so.0");
}
