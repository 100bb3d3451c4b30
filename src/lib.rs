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
//! Pure core, no I/O:
//! - [`names`]: topic and channel name validation.
//! - [`protocol`]: the V1 TCP command codec and reply framing.
//! - [`identify`]: the IDENTIFY body.
//! - [`registry`]: the indexed registration database.
//! - [`query`]: URL query and path decoding, Go's way.
//! - [`json`], [`duration`], [`clock`]: Go-compatible encodings and time.
//!
//! Service:
//! - [`options`]: the one options schema for flags, TOML and JSON.
//! - [`state`] and [`api`]: an instance's shared state and its HTTP answers.
//! - `tcp` and `http`: one connection each; `deadline`: an HTTP
//!   connection's header and idle timeouts.
//! - [`server`]: bind, then a runtime-agnostic serving future.
//! - [`handle`]: an instance on its own threads; start and stop.
//! - [`cli`]: Go-compatible command line and config file, for the binary.
//! - [`ffi`]: the C ABI over a handle.
//! - [`logging`]: Go-shaped log lines.

#![warn(missing_docs, rust_2018_idioms)]

pub mod access;
pub mod api;
pub mod cli;
pub mod clock;
mod deadline;
pub mod duration;
pub mod ffi;
pub mod handle;
mod http;
pub mod identify;
pub mod json;
pub mod logging;
pub mod metrics;
pub mod names;
pub mod options;
pub mod protocol;
pub mod query;
pub mod registry;
pub mod server;
mod shardmap;
pub mod state;
mod tcp;
mod tls;
mod trim;
mod vecmap;

pub use handle::Handle;
#[doc(hidden)]
pub use http::answer as http_answer;
pub use options::Options;
pub use server::{Lookupd, StartError};
