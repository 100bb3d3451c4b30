//! How an instance is configured: one [`Options`] schema, read from Go's
//! command line and TOML config file ([`cli`], for the binary) or from the
//! JSON object `lookupd_start` takes ([`Options::apply_json`]).
//!
//! Nothing here binds, serves or logs: options are read and checked
//! before anything else happens, so a bad value is an error naming its key
//! before a port is opened.

pub mod cli;
pub mod duration;
mod options;
mod specs;

pub use options::{hostname, listen_addr, OptionError, Options, Value, SPECS};
pub use specs::{spec, Kind, Spec};
