//! lookupd: a drop-in, embeddable replacement for NSQ's `nsqlookupd`.
//!
//! nsqd processes register the topics and channels they hold over TCP;
//! consumers and nsqadmin ask over HTTP where to find them. This crate
//! speaks both protocols exactly as the Go original does, keeps its
//! registrations indexed so every request costs in proportion to its
//! answer, and can run as the `nsqlookupd` binary or inside another
//! process (Rust, or C, C++, Go and Python through the C ABI).
//!
//! # Using it from Rust
//!
//! [`Handle::start`] runs an instance on threads of its own;
//! [`Lookupd::bind`] and [`Lookupd::run`] give the same instance as a
//! runtime-agnostic future. Either hands out [`Queries`]: the bodies of
//! `/lookup`, `/topics`, `/channels` and `/nodes`, and a wait for
//! producers.
//!
//! ```
//! use lookupd::{Handle, Options};
//! use std::time::Duration;
//!
//! let mut opts = Options::default();
//! opts.tcp_address = "127.0.0.1:0".into();
//! opts.http_address = "127.0.0.1:0".into();
//! opts.log_level = lookupd::Level::Error;
//! let handle = Handle::start(opts)?;
//! // nsqd connects to handle.tcp_addr(), consumers to handle.http_addr().
//! let waited = handle.wait_lookup("orders", 1, Duration::from_millis(10));
//! assert_eq!(waited, Err(lookupd::WaitError::Timeout));
//! handle.stop();
//! # Ok::<(), lookupd::StartError>(())
//! ```
//!
//! The C library (`liblookupd.so`, `liblookupd.a` and `include/lookupd.h`)
//! is the `capi` feature, built on its own (see `bindings/c`): a Rust
//! dependent builds an rlib and nothing else. The `internals` feature
//! exposes the modules below to this repository's tests, benchmarks and
//! fuzz targets; it carries no stability promise.
//!
//! # Layout
//!
//! `ARCHITECTURE.md` at the repository root is the map: the layers, what
//! each folder is for, and the invariants that hold across them. In short,
//! imports run one way, from the surfaces down to the core:
//!
//! - Core, no I/O: `names`, `clock`, `json`, `version`, `access`,
//!   `address`, and `registry`, the indexed registration database; `os`,
//!   the calls into the operating system std lacks.
//! - Configuration: `config`, the one options schema (flags, TOML, JSON).
//! - Service: `tcp` (the V1 codec and one nsqd connection), `http`
//!   (routing, one connection), `instance` (what an instance shares, its
//!   answers, its waits and address checks), `persist` (the snapshot on
//!   disk), `bootstrap` (the registry of running peers, read before
//!   serving), `metrics`, `logging`, and `server` (bind, then a
//!   runtime-agnostic serving future).
//! - Surfaces: [`Handle`] (an instance on its own threads), [`Queries`],
//!   `ffi` (the C ABI, feature `capi`), and [`cli`], the `nsqlookupd`
//!   binary's command line and life.

#![warn(missing_docs, rust_2018_idioms)]

/// Declares modules that are the crate's own: private, or, with the
/// `internals` feature, reachable (but hidden from the docs) for the
/// repository's tests, benchmarks and fuzz targets.
macro_rules! internal {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}

internal!(
    access, address, bootstrap, clock, config, handle, http, instance, json, logging, metrics,
    names, os, persist, queries, registry, server, tcp, version,
);

pub mod cli;
#[cfg(feature = "capi")]
pub mod ffi;

pub use address::AddressPolicy;
pub use config::{Level, OptionError, Options};
pub use handle::Handle;
pub use instance::wait::WaitError;
pub use logging::Logger;
pub use queries::{Queries, QueryError};
pub use server::{Lookupd, StartError};
