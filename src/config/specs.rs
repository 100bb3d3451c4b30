//! The table of every option: its name, the kind of value it takes and the
//! help `-help` prints. Flags, config keys and JSON keys are all read
//! against it, so an option added here is known to every surface.

/// The kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// A Go duration (`300s`, `1m30s`); an integer in a file is milliseconds.
    Duration,
    /// `debug`, `info`, `warn`, `error` or `fatal`.
    Level,
    /// A non-negative integer.
    Count,
    /// `true` or `false` (a bare flag is `true`).
    Bool,
    /// CIDR networks, comma-separated or a list.
    Networks,
}

/// One option: its name, kind and the help `-help` prints.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The underscore name (TOML and JSON key); flags use dashes instead.
    pub name: &'static str,
    /// What it takes.
    pub kind: Kind,
    /// Help text.
    pub help: &'static str,
}

/// Every option, Go's first.
pub const SPECS: &[Spec] = &[
    Spec {
        name: "log_level",
        kind: Kind::Level,
        help: "set log verbosity: debug, info, warn, error, or fatal",
    },
    Spec {
        name: "log_prefix",
        kind: Kind::Text,
        help: "log message prefix",
    },
    Spec {
        name: "tcp_address",
        kind: Kind::Text,
        help: "<addr>:<port> to listen on for TCP clients",
    },
    Spec {
        name: "http_address",
        kind: Kind::Text,
        help: "<addr>:<port> to listen on for HTTP clients",
    },
    Spec {
        name: "broadcast_address",
        kind: Kind::Text,
        help: "address of this lookupd node, (default to the OS hostname)",
    },
    Spec {
        name: "inactive_producer_timeout",
        kind: Kind::Duration,
        help: "duration of time a producer will remain in the active list since its last ping",
    },
    Spec {
        name: "tombstone_lifetime",
        kind: Kind::Duration,
        help: "duration of time a producer will remain tombstoned if registration remains",
    },
    Spec {
        name: "threads",
        kind: Kind::Count,
        help: "threads serving connections (default: half the CPUs, 1 to 8)",
    },
    Spec {
        name: "max_identify_body_size",
        kind: Kind::Count,
        help: "largest IDENTIFY body accepted, in bytes",
    },
    Spec {
        name: "max_command_size",
        kind: Kind::Count,
        help: "longest TCP command line accepted, in bytes",
    },
    Spec {
        name: "tcp_handshake_timeout",
        kind: Kind::Duration,
        help: "time a new TCP connection has to send the protocol magic",
    },
    Spec {
        name: "identify_timeout",
        kind: Kind::Duration,
        help: "close a TCP connection that has not identified after it is silent this long",
    },
    Spec {
        name: "max_tcp_connections",
        kind: Kind::Count,
        help: "most TCP connections served at once; more are refused",
    },
    Spec {
        name: "max_http_connections",
        kind: Kind::Count,
        help: "most HTTP connections served at once; more are refused",
    },
    Spec {
        name: "http_header_timeout",
        kind: Kind::Duration,
        help: "time an HTTP client has to send a request's headers (and then its body)",
    },
    Spec {
        name: "http_idle_timeout",
        kind: Kind::Duration,
        help: "close an idle keep-alive HTTP connection after this long",
    },
    Spec {
        name: "max_http_request_size",
        kind: Kind::Count,
        help: "largest HTTP request head, and largest body, in bytes",
    },
    Spec {
        name: "http_auth_token",
        kind: Kind::Text,
        help:
            "require 'Authorization: Bearer <token>' for /topic/* and /channel/* (empty: no auth)",
    },
    Spec {
        name: "http_auth_token_file",
        kind: Kind::Text,
        help: "read the bearer token from this file",
    },
    Spec {
        name: "http_auth_reads",
        kind: Kind::Bool,
        help: "require the token for every endpoint but /ping",
    },
    Spec {
        name: "tcp_allow",
        kind: Kind::Networks,
        help: "CIDR networks allowed to connect over TCP, comma-separated (empty: all)",
    },
    Spec {
        name: "http_allow",
        kind: Kind::Networks,
        help: "CIDR networks allowed to use HTTP and HTTPS, comma-separated (empty: all)",
    },
    Spec {
        name: "https_address",
        kind: Kind::Text,
        help: "<addr>:<port> to listen on for HTTPS clients (empty: no HTTPS)",
    },
    Spec {
        name: "tls_cert",
        kind: Kind::Text,
        help: "path to the PEM certificate chain for HTTPS",
    },
    Spec {
        name: "tls_key",
        kind: Kind::Text,
        help: "path to the PEM private key for HTTPS",
    },
    Spec {
        name: "data_path",
        kind: Kind::Text,
        help: "directory to keep a snapshot of the registry in, read back at start (empty: none)",
    },
    Spec {
        name: "restart_grace",
        kind: Kind::Duration,
        help: "how long producers restored from the snapshot are answered before their nsqd identifies again",
    },
];

/// Looks an option up by underscore name.
pub fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}
