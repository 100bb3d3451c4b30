//! The `nsqlookupd` binary: a drop-in for the Go one.
//!
//! Thin on purpose: `lookupd::cli::main` reads the Go command line and
//! config file, runs an instance until SIGINT or SIGTERM, and says how
//! the process exits.

fn main() {
    std::process::exit(lookupd::cli::main(std::env::args_os()));
}
