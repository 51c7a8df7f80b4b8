//! The committed `include/raft.h` must be what cbindgen makes of the Rust
//! sources. `RAFT_WRITE_HEADER=1 cargo test --test header_drift` (or
//! `make header`) rewrites it.

use std::path::Path;

#[test]
fn raft_h_matches_the_rust_sources() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(dir).join("cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::generate_with_config(dir, config).expect("cbindgen").write(&mut out);
    // cbindgen renders `[c_char; 0]` as a zero-length array; C99 spells a
    // flexible array member `[]`.
    let generated = String::from_utf8(out).expect("utf-8 header").replace("char data[0];", "char data[];");
    let path = Path::new(dir).join("include/raft.h");
    if std::env::var_os("RAFT_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/raft.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "include/raft.h is stale: run `make header`");
}
