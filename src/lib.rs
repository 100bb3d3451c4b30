//! lookupd: a drop-in, embeddable replacement for NSQ's `nsqlookupd`.
//!
//! nsqd processes register the topics and channels they hold over TCP;
//! consumers and nsqadmin ask over HTTP where to find them. This crate
//! speaks both protocols exactly as the Go original does, keeps its
//! registrations indexed so every request costs in proportion to its
//! answer, and can run as the `nsqlookupd` binary or inside another
//! process (Rust, or C, C++, Go and Python through the C ABI).
//!
//! # Layout
//!
//! `ARCHITECTURE.md` at the repository root is the map: the layers, what
//! each folder is for, and the invariants that hold across them. In short,
//! imports run one way, from the surfaces down to the core:
//!
//! - Core, no I/O: [`names`], [`clock`], [`json`], [`version`],
//!   [`access`], and [`registry`], the indexed registration database.
//! - Configuration: [`config`], the one options schema (flags, TOML, JSON).
//! - Service: [`tcp`] (the V1 codec and one nsqd connection), [`http`]
//!   (routing, the answers, one connection), [`state`] (what an instance
//!   shares) and [`changes`] (how waiters learn of registry changes),
//!   [`wait`] (waiting for producers), [`persist`] (the snapshot on
//!   disk), [`metrics`], [`logging`], and [`server`] (bind, then a
//!   runtime-agnostic serving future).
//! - Surfaces: [`handle`] (an instance on its own threads), [`ffi`] (the C
//!   ABI over a handle), and the `nsqlookupd` binary (`src/bin`), which
//!   reads [`config::cli`].

#![warn(missing_docs, rust_2018_idioms)]

pub mod access;
pub mod address;
pub mod changes;
pub mod clock;
pub mod config;
pub mod ffi;
pub mod handle;
pub mod http;
pub mod json;
pub mod logging;
pub mod metrics;
pub mod names;
mod os;
pub mod persist;
pub mod reach;
pub mod registry;
pub mod server;
pub mod state;
pub mod tcp;
mod trim;
pub mod version;
pub mod wait;

pub use config::Options;
pub use handle::Handle;
pub use server::{Lookupd, StartError};
