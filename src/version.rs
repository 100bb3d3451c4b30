//! Which NSQ this is: the version reported to clients and printed by
//! `-version`.
//!
//! Both the server (its first log line, IDENTIFY, `/info`) and the binary
//! (`-version`) read it, so it lives below both.

/// The NSQ version whose behaviour we implement, reported by `/info` and
/// IDENTIFY (clients compare it as a semver).
pub const NSQ_VERSION: &str = "1.3.0";

/// The version line, shaped like Go's `nsqlookupd v1.3.0 (built w/go1.21)`.
pub fn version_line() -> String {
    format!(
        "nsqlookupd v{} (built w/lookupd {}, rust)",
        NSQ_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}
