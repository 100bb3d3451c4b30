//! Generates the C header for the ABI in `src/ffi/` into `OUT_DIR`, and on
//! Linux gives the shared library its soname. The checked-in
//! `include/lookupd.h` is compared with the generated one by
//! `tests/header.rs`; this script writes nowhere but `OUT_DIR`.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    soname();
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("lookupd.h");
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("generate the C header from src/ffi")
        .write_to_file(&out);
}

/// Links `liblookupd.so` with the soname `liblookupd.so.<compat>`, where
/// `<compat>` is the part of the version that Cargo's semver rules treat
/// as breaking: the major version from 1.0 on, and `0.<minor>` before it
/// (0.1.x and 0.2.x are incompatible to Cargo, so they must not share a
/// soname, or a host linked against 0.1 would load a 0.2). The install
/// rule in `bindings/c/Makefile` derives the same name from Cargo.toml.
fn soname() {
    // The target's OS, not the host's: only GNU-style ELF linkers take -soname.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("CARGO_PKG_VERSION_MAJOR");
    let minor = env::var("CARGO_PKG_VERSION_MINOR").expect("CARGO_PKG_VERSION_MINOR");
    let compat = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblookupd.so.{compat}");
}
