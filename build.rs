//! For the C library (feature `capi`) only: generates the C header for the
//! ABI in `src/ffi/` into `OUT_DIR`. The checked-in `include/lookupd.h` is
//! compared with the generated one by `tests/header.rs`; this script
//! writes nowhere but `OUT_DIR`. Without the feature (every Rust
//! dependent) it does nothing. (The shared library's soname is given where
//! it is linked, by `bindings/c/Makefile`'s `lib` rule.)

fn main() {
    #[cfg(feature = "capi")]
    header();
}

#[cfg(feature = "capi")]
fn header() {
    use std::env;
    use std::path::PathBuf;

    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
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
