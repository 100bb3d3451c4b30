//! How an instance is configured: one [`Options`] schema, read from Go's
//! command line and TOML config file (`crate::cli`, for the binary) or
//! from the JSON object `lookupd_start` takes ([`Options::apply_json`]).
//!
//! Nothing here binds, serves or logs: options are read and checked
//! before anything else happens, so a bad value is an error naming its key
//! before a port is opened.

pub mod duration;
mod level;
mod options;
mod peer;
mod specs;

pub use level::Level;
pub use peer::Peer;
pub use options::{hostname, listen_addr, spec, OptionError, Options, SPECS};
pub use specs::{Kind, Value};
#[cfg(feature = "internals")]
pub use specs::Spec;
