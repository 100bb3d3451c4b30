//! The checked-in C header must be what cbindgen generates from src/ffi/.

#[test]
fn checked_in_header_is_current() {
    let generated_path = concat!(env!("OUT_DIR"), "/lookupd.h");
    let generated = std::fs::read_to_string(generated_path).expect("generated header");
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/lookupd.h"))
            .expect("include/lookupd.h");
    assert!(
        generated == checked_in,
        "include/lookupd.h is stale; regenerate it with:\n  cp {generated_path} include/lookupd.h"
    );
    assert!(checked_in.contains("DO NOT EDIT"));
}
