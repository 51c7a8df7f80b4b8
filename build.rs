//! Build script: compiles the C shim that provides the variadic `raft_config`
//! (stable Rust cannot define one) and sets the shared library's soname.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=csrc/config_shim.c");
    println!("cargo:rerun-if-changed=csrc/exports.map");
    cc::Build::new()
        .file("csrc/config_shim.c")
        .warnings(true)
        .compile("raft_config_shim");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libraft.so.0");
    soname_link();
    // rustc exports only Rust symbols from a cdylib: keep the shim's
    // raft_config and export it with a second version script.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--undefined=raft_config");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/csrc/exports.map");
}

/// Programs linked against `target/<profile>/libraft.so` ask for the soname
/// `libraft.so.0` at run time: provide it next to the library (best effort;
/// `make` does the same).
fn soname_link() {
    let Ok(out) = std::env::var("OUT_DIR") else {
        return;
    };
    // OUT_DIR is <target>/<profile>/build/raft-<hash>/out.
    let Some(profile_dir) = std::path::Path::new(&out).ancestors().nth(3) else {
        return;
    };
    let link = profile_dir.join("libraft.so.0");
    if std::fs::symlink_metadata(&link).is_err() {
        #[cfg(unix)]
        let _ = std::os::unix::fs::symlink("libraft.so", &link);
    }
}
