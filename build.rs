//! Build script: compiles the C shim that provides the variadic `raft_config`
//! (stable Rust cannot define one) and sets the shared library's soname.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=csrc/config_shim.c");
    println!("cargo:rerun-if-changed=csrc/exports.map");
    println!("cargo:rerun-if-changed=csrc/layout.ld");
    // x86_64 and aarch64 export raft_config through a Rust trampoline
    // (src/ffi/config.rs); other targets export the C function itself.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let trampoline = matches!(arch.as_str(), "x86_64" | "aarch64");
    let mut shim = cc::Build::new();
    shim.file("csrc/config_shim.c").warnings(true);
    // Call raft_config_fixed_args through the GOT, not the PLT: the PLT sits
    // at the far end of the text, and touching it for one call per
    // raft_config kept another 64 KB window of code resident.
    shim.flag_if_supported("-fno-plt");
    if !trampoline {
        shim.define("RAFT_CONFIG_SHIM_IS_EXPORT", None);
    }
    shim.compile("raft_config_shim");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libraft.so.0");
    soname_link();
    static_unwinder();
    if !trampoline {
        // rustc exports only Rust symbols from a cdylib: keep the shim's
        // raft_config and export it with a second version script (GNU ld
        // refuses to combine it with rustc's; rust-lld merges them).
        println!("cargo:rustc-cdylib-link-arg=-Wl,--undefined=raft_config");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/csrc/exports.map");
    }
    // Code placement (see the script): fewer resident pages of the library.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-T,{dir}/csrc/layout.ld");
    // Start every segment on a page of its own: the writable data then fits
    // one page instead of straddling two (resident pages, not file size).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,separate-loadable-segments");
    // Relative relocations as a bitmap (DT_RELR): .rela.dyn 18 KB -> 1.5 KB
    // of the read-only pages every load touches. With the unwind tables moved
    // behind the code (layout.ld) that makes the resident read-only part 40 KB
    // instead of 64. The library then needs glibc 2.36's loader, so only when
    // the C library we link against has it: rust-lld would otherwise produce
    // a library that the build machine itself cannot load.
    if libc_supports_relr() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

/// The path of a file the C compiler links with (`cc -print-file-name`), if it has one.
fn compiler_file(name: &str) -> Option<std::path::PathBuf> {
    let compiler = cc::Build::new().get_compiler();
    let found = std::process::Command::new(compiler.path())
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&found.stdout).trim());
    // Not found: the compiler prints the bare name back.
    (path.is_absolute() && path.exists()).then_some(path)
}

/// Whether the target's glibc loads DT_RELR relocations (it defines the
/// symbol version `GLIBC_ABI_DT_RELR`, glibc 2.36 and later).
fn libc_supports_relr() -> bool {
    let Some(bytes) = compiler_file("libc.so.6").and_then(|p| std::fs::read(p).ok()) else {
        return false;
    };
    let needle = b"GLIBC_ABI_DT_RELR";
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// Link the unwinder (libgcc_eh) into the shared library instead of
/// depending on libgcc_s.so: a process then maps one library less (~100 KB
/// of resident pages), and libgcc_eh's code sits unused in our text unless a
/// panic unwinds. rustc asks for `-lgcc_s` by name, so a directory holding
/// `libgcc_s.a` = libgcc_eh.a is searched first; `-static-libgcc` does the
/// same for the compiler driver's own libgcc flags. Skipped (plain libgcc_s)
/// if the C compiler has no libgcc_eh.a.
fn static_unwinder() {
    let (Ok(out), Some(eh)) = (std::env::var("OUT_DIR"), compiler_file("libgcc_eh.a")) else {
        return;
    };
    let dir = std::path::Path::new(&out).join("static-unwind");
    let lib = dir.join("libgcc_s.a");
    if std::fs::create_dir_all(&dir).is_err()
        || (std::fs::copy(&eh, &lib).is_err() && !lib.exists())
    {
        return;
    }
    println!("cargo:rustc-cdylib-link-arg=-L{}", dir.display());
    println!("cargo:rustc-cdylib-link-arg=-static-libgcc");
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
