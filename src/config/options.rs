//! One options schema for every way to configure lookupd.
//!
//! Command-line flags (`-tcp-address`), the TOML config file
//! (`tcp_address = …`) and the JSON object given to `lookupd_start` all set
//! the same [`Options`] through [`Options::set`], keyed by the option's
//! underscore name. Defaults, names and value syntax are the Go original's
//! (`nsqlookupd/options.go`, `apps/nsqlookupd/main.go`), so a Go config
//! file or command line means the same thing here. Every option is one row
//! of the `options!` table below, Go's first, then our own additions.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::specs::{at_least, Setting, Spec, Value};
use crate::access::Cidr;
use crate::address::AddressPolicy;
use super::Level;

/// Declares every option once: its field (type, default, doc) and its
/// help. From the one row come the field of [`Options`], its default,
/// and its entry in [`SPECS`] (how flags, TOML and JSON set it, how
/// `-help` and `Debug` show it).
macro_rules! options {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $ty:ty = $default:expr,
        help: $help:literal
        $(, check: $check:expr)?
        $(, secret: $secret:literal)?
        ;
    )*) => {
        /// How the service is configured: every option, with Go's
        /// defaults where Go has the option.
        #[derive(Clone, PartialEq)]
        #[non_exhaustive]
        pub struct Options {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for Options {
            fn default() -> Self {
                Options { $( $field: $default, )* }
            }
        }

        /// Every option, Go's first.
        pub const SPECS: &[Spec<Options>] = &[$(
            Spec {
                name: stringify!($field),
                kind: <$ty as Setting>::KIND,
                help: $help,
                secret: false $(|| $secret)?,
                set: |o, v| {
                    let value = <$ty as Setting>::read(v)?;
                    $( ($check)(&value)?; )?
                    o.$field = value;
                    Ok(())
                },
                show: |o| Setting::show(&o.$field),
            },
        )*];
    };
}

options! {
    /// Lowest level logged.
    log_level: Level = Level::Info,
        help: "set log verbosity: debug, info, warn, error, or fatal";
    /// Prefix of every log line.
    log_prefix: String = "[nsqlookupd] ".into(),
        help: "log message prefix";
    /// `<addr>:<port>` to listen on for TCP clients (nsqd).
    tcp_address: String = "0.0.0.0:4160".into(),
        help: "<addr>:<port> to listen on for TCP clients";
    /// `<addr>:<port>` to listen on for HTTP clients.
    http_address: String = "0.0.0.0:4161".into(),
        help: "<addr>:<port> to listen on for HTTP clients";
    /// The address of this lookupd node; defaults to the OS hostname.
    broadcast_address: String = hostname(),
        help: "address of this lookupd node, (default to the OS hostname)";
    /// How long a producer stays in the active list after its last ping.
    inactive_producer_timeout: Duration = Duration::from_secs(300),
        help: "duration of time a producer will remain in the active list since its last ping";
    /// How long a tombstoned producer stays hidden from `/lookup`.
    tombstone_lifetime: Duration = Duration::from_secs(45),
        help: "duration of time a producer will remain tombstoned if registration remains";
    /// Threads serving connections (ours).
    threads: usize = default_threads(),
        help: "threads serving connections (default: half the CPUs, 1 to 8)";
    /// Largest IDENTIFY body accepted, in bytes (ours).
    max_identify_body_size: usize = 64 * 1024,
        help: "largest IDENTIFY body accepted, in bytes";
    /// Longest TCP command line accepted, in bytes (ours).
    max_command_size: usize = 4096,
        help: "longest TCP command line accepted, in bytes";
    /// Time a new TCP connection has to send the protocol magic (ours).
    tcp_handshake_timeout: Duration = Duration::from_secs(10),
        help: "time a new TCP connection has to send the protocol magic";
    /// A TCP connection that has not identified is closed after being
    /// silent this long (ours).
    identify_timeout: Duration = Duration::from_secs(30),
        help: "close a TCP connection that has not identified after it is silent this long";
    /// An identified nsqd connection that sends nothing for this long is
    /// closed and its registrations removed; zero: never (ours). nsqd
    /// PINGs every 15 s, so 45 s is three missed PINGs: a vanished or
    /// hung nsqd leaves within 45 s, and a busy one whose ticker skipped
    /// a beat or two is kept.
    producer_heartbeat_timeout: Duration = Duration::from_secs(45),
        help: "close an identified nsqd connection that sends nothing (nsqd PINGs every 15s) for this long, removing its registrations (0: never)";
    /// Which address answers give for a producer (ours).
    producer_address: AddressPolicy = AddressPolicy::Broadcast,
        help: "address answers give for a producer: broadcast (what nsqd advertises, as Go), remote (its connection's source IP) or auto (the source IP only where the advertised address does not resolve, or resolves only to loopback)";
    /// Most TCP connections served at once; more are refused (ours).
    max_tcp_connections: usize = 16384,
        help: "most TCP connections served at once; more are refused";
    /// Most HTTP connections served at once; more are refused (ours).
    max_http_connections: usize = 4096,
        help: "most HTTP connections served at once; more are refused";
    /// Time an HTTP client has to send a request's head (from its first
    /// byte), and then its body (ours).
    http_header_timeout: Duration = Duration::from_secs(10),
        help: "time an HTTP client has to send a request's headers (and then its body)";
    /// How long an idle keep-alive HTTP connection is kept (ours): longer
    /// than the 90 s Go's HTTP clients (nsqadmin's included) keep idle
    /// connections pooled.
    http_idle_timeout: Duration = Duration::from_secs(120),
        help: "close an idle keep-alive HTTP connection after this long";
    /// Largest HTTP request head, and largest body, in bytes (ours); hyper
    /// cannot read a request head into less than 8192.
    max_http_request_size: usize = 64 * 1024,
        help: "largest HTTP request head, and largest body, in bytes",
        check: at_least(8192);
    /// Bearer token mutating HTTP endpoints require; empty: none (ours).
    http_auth_token: String = String::new(),
        help: "require 'Authorization: Bearer <token>' for /topic/* and /channel/* (empty: no auth)",
        secret: true;
    /// A file holding the bearer token, read at start (ours).
    http_auth_token_file: String = String::new(),
        help: "read the bearer token from this file";
    /// Whether the token is required by every endpoint but `/ping` (ours).
    http_auth_reads: bool = false,
        help: "require the token for every endpoint but /ping";
    /// Networks allowed to connect over TCP; empty: all (ours).
    tcp_allow: Vec<Cidr> = Vec::new(),
        help: "CIDR networks allowed to connect over TCP, comma-separated (empty: all)";
    /// Networks allowed to use HTTP(S); empty: all (ours).
    http_allow: Vec<Cidr> = Vec::new(),
        help: "CIDR networks allowed to use HTTP and HTTPS, comma-separated (empty: all)";
    /// `<addr>:<port>` to serve HTTPS on; empty: no HTTPS (ours).
    https_address: String = String::new(),
        help: "<addr>:<port> to listen on for HTTPS clients (empty: no HTTPS)";
    /// PEM certificate chain for HTTPS (ours).
    tls_cert: String = String::new(),
        help: "path to the PEM certificate chain for HTTPS";
    /// PEM private key for HTTPS (ours).
    tls_key: String = String::new(),
        help: "path to the PEM private key for HTTPS";
    /// Directory of the registry's snapshot; empty: none (ours).
    data_path: String = String::new(),
        help: "directory to keep a snapshot of the registry in, read back at start (empty: none)";
    /// How long producers restored from the snapshot are answered while
    /// their nsqd has not identified again (ours). nsqd notices a lost
    /// connection on its next 15 s PING and reconnects on the one after:
    /// up to 30 s, and a margin.
    restart_grace: Duration = Duration::from_secs(45),
        help: "how long producers restored from the snapshot are answered before their nsqd identifies again";
    /// Running lookupd instances (ours or Go's) whose view this one reads
    /// before serving, and answers as if restored from a snapshot (ours).
    bootstrap_from: Vec<String> = Vec::new(),
        help: "HTTP addresses (host:port, http:// or https:// URLs) of running nsqlookupd to read the registry from before serving, comma-separated (empty: none)",
        check: check_peers;
    /// The most a bootstrap may take, reading every peer (ours).
    bootstrap_timeout: Duration = Duration::from_secs(3),
        help: "how long a bootstrap may take in all; what peers have not answered by then is done without";
    /// Bearer token sent to bootstrap peers that require one for reads
    /// (`-http-auth-reads`); empty: none (ours).
    bootstrap_token: String = String::new(),
        help: "bearer token sent to bootstrap peers (those run with -http-auth-reads) (empty: none)",
        secret: true;
    /// A file holding the bootstrap token, read at start (ours).
    bootstrap_token_file: String = String::new(),
        help: "read the bootstrap bearer token from this file";
    /// PEM CA certificates that `https://` bootstrap peers' certificates are
    /// verified against; empty: the system's (ours).
    bootstrap_ca_file: String = String::new(),
        help: "PEM file of the CA certificates https:// bootstrap peers are verified against (empty: the system's)";
}

/// Looks an option up by underscore name.
pub fn spec(name: &str) -> Option<&'static Spec<Options>> {
    SPECS.iter().find(|s| s.name == name)
}

impl fmt::Debug for Options {
    /// Every option by name; secrets are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Options");
        for s in SPECS {
            let shown = (s.show)(self);
            if s.secret && !shown.is_empty() {
                d.field(s.name, &"<redacted>");
            } else {
                d.field(s.name, &shown);
            }
        }
        d.finish()
    }
}

/// A bad option: which one and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    /// The option's underscore name, or the unknown key as given.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid option {}: {}", self.key, self.message)
    }
}

impl std::error::Error for OptionError {}

impl Options {
    /// Sets one option by its underscore name.
    pub(crate) fn set(&mut self, key: &str, value: Value<'_>) -> Result<(), OptionError> {
        let spec = spec(key).ok_or_else(|| OptionError {
            key: key.to_owned(),
            message: "unknown option".into(),
        })?;
        (spec.set)(self, value).map_err(|message| OptionError {
            key: key.to_owned(),
            message,
        })
    }

    /// The current value of an option, as `-help` shows defaults (a
    /// secret is shown too: this is for the binary's own use).
    pub(crate) fn display(&self, key: &str) -> String {
        spec(key).map_or_else(String::new, |s| (s.show)(self))
    }

    /// Sets options from a JSON object (the C ABI's configuration).
    /// Unknown keys and bad values are errors naming the key.
    pub fn apply_json(&mut self, json: &str) -> Result<(), OptionError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| OptionError {
            key: "<json>".into(),
            message: e.to_string(),
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(OptionError {
                key: "<json>".into(),
                message: "configuration must be a JSON object".into(),
            });
        };
        for (key, v) in &map {
            let strings: Option<Vec<String>> = match v {
                serde_json::Value::Array(a) => {
                    a.iter().map(|i| i.as_str().map(str::to_owned)).collect()
                }
                _ => None,
            };
            let value = match v {
                serde_json::Value::String(s) => Value::Text(s),
                serde_json::Value::Bool(b) => Value::Bool(*b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                serde_json::Value::Null => Value::Other("null"),
                serde_json::Value::Array(_) => match &strings {
                    Some(items) => Value::Items(items),
                    None => Value::Other("an array of non-strings"),
                },
                serde_json::Value::Object(_) => Value::Other("object"),
            };
            self.set(key, value)?;
        }
        self.validate()
    }

    /// Checks what no single value can: that the addresses resolve and
    /// HTTPS has its certificate and key.
    pub fn validate(&self) -> Result<(), OptionError> {
        let err = |key: &str, message: String| OptionError {
            key: key.into(),
            message,
        };
        for (key, addr) in [
            ("tcp_address", &self.tcp_address),
            ("http_address", &self.http_address),
        ] {
            listen_addr(addr).map_err(|m| err(key, m))?;
        }
        if !self.https_address.is_empty() {
            listen_addr(&self.https_address).map_err(|m| err("https_address", m))?;
            for (key, path) in [("tls_cert", &self.tls_cert), ("tls_key", &self.tls_key)] {
                if path.is_empty() {
                    return Err(err(key, "required with https_address".into()));
                }
            }
        }
        if !self.bootstrap_token.is_empty() && !self.bootstrap_token_file.is_empty() {
            return Err(err(
                "bootstrap_token_file",
                "give either a token or a token file, not both".into(),
            ));
        }
        if !self.http_auth_token.is_empty() && !self.http_auth_token_file.is_empty() {
            return Err(err(
                "http_auth_token_file",
                "give either a token or a token file, not both".into(),
            ));
        }
        if self.http_auth_reads
            && self.http_auth_token.is_empty()
            && self.http_auth_token_file.is_empty()
        {
            return Err(err(
                "http_auth_reads",
                "needs http_auth_token or http_auth_token_file".into(),
            ));
        }
        Ok(())
    }

    /// The bearer token in force: the option's, or the token file's
    /// content (surrounding white space trimmed); empty when auth is off.
    pub fn auth_token(&self) -> Result<String, OptionError> {
        token(
            &self.http_auth_token,
            &self.http_auth_token_file,
            "http_auth_token_file",
        )
    }

    /// The bearer token sent to bootstrap peers: the option's, or its
    /// file's content; empty when none.
    pub fn bootstrap_token(&self) -> Result<String, OptionError> {
        token(
            &self.bootstrap_token,
            &self.bootstrap_token_file,
            "bootstrap_token_file",
        )
    }
}

/// A token given directly, or read from a file (white space trimmed).
fn token(given: &str, file: &str, key: &str) -> Result<String, OptionError> {
    if file.is_empty() {
        return Ok(given.to_owned());
    }
    let err = |message| OptionError {
        key: key.into(),
        message,
    };
    let text = std::fs::read_to_string(file).map_err(|e| err(format!("{file}: {e}")))?;
    let token = text.trim().to_owned();
    if token.is_empty() {
        return Err(err(format!("{file} is empty")));
    }
    Ok(token)
}

/// Every bootstrap peer must be `host:port` or an `http://`/`https://` URL.
fn check_peers(peers: &[String]) -> Result<(), String> {
    for p in peers {
        super::peer::Peer::parse(p)?;
    }
    Ok(())
}

/// Resolves a listen address as Go's `net.Listen("tcp", addr)` reads it:
/// `host:port`, `[v6]:port`, or `:port` for every interface.
pub fn listen_addr(addr: &str) -> Result<SocketAddr, String> {
    let spelled = match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_owned(),
    };
    let mut addrs = spelled
        .to_socket_addrs()
        .map_err(|e| format!("{addr:?} is not a <addr>:<port> address ({e})"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{addr:?} resolves to no address"))
}

/// Half the CPUs, at least 1 and at most 8. One thread serves some 90,000
/// `/lookup`s a second; lookupd usually shares its machine (with nsqd,
/// say), and measured on 2 cores beside a load generator, one thread beat
/// two on every scenario (less lock contention and cross-thread wake-ups).
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 8))
}

/// The OS hostname, the default broadcast address.
pub fn hostname() -> String {
    let name = crate::os::hostname();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_defaults() {
        let o = Options::default();
        assert_eq!(o.tcp_address, "0.0.0.0:4160");
        assert_eq!(o.http_address, "0.0.0.0:4161");
        assert_eq!(o.broadcast_address, hostname());
        assert_eq!(o.display("inactive_producer_timeout"), "5m0s");
        assert_eq!(o.display("tombstone_lifetime"), "45s");
        assert_eq!(o.log_level, Level::Info);
        assert_eq!(o.log_prefix, "[nsqlookupd] ");
    }

    #[test]
    fn json_config() {
        let mut o = Options::default();
        o.apply_json(
            r#"{"tcp_address":"127.0.0.1:0","tombstone_lifetime":"1s","inactive_producer_timeout":250,"threads":2,"log_level":"ERROR"}"#,
        )
        .unwrap();
        assert_eq!(o.tombstone_lifetime, Duration::from_secs(1));
        assert_eq!(o.inactive_producer_timeout, Duration::from_millis(250));
        assert_eq!(o.threads, 2);
        assert_eq!(o.log_level, Level::Error);
        o.apply_json(r#"{"data_path":"/var/lib/lookupd","restart_grace":"1m"}"#)
            .unwrap();
        assert_eq!(o.data_path, "/var/lib/lookupd");
        assert_eq!(o.restart_grace, Duration::from_secs(60));
        assert_eq!(Options::default().display("restart_grace"), "45s");
    }

    #[test]
    fn errors_name_the_key() {
        let e = |json: &str| Options::default().apply_json(json).unwrap_err();
        assert_eq!(e(r#"{"bogus":1}"#).key, "bogus");
        assert_eq!(e(r#"{"tcp_address":5}"#).key, "tcp_address");
        assert_eq!(
            e(r#"{"tombstone_lifetime":"10"}"#).key,
            "tombstone_lifetime"
        );
        assert_eq!(e(r#"{"tombstone_lifetime":1.5}"#).key, "tombstone_lifetime");
        assert_eq!(e(r#"{"log_level":"loud"}"#).key, "log_level");
        assert_eq!(e(r#"{"threads":0}"#).key, "threads");
        assert_eq!(e(r#"{"threads":-1}"#).key, "threads");
        assert_eq!(e(r#"{"http_address":"nope"}"#).key, "http_address");
        assert_eq!(e("[1]").key, "<json>");
        assert_eq!(e("{").key, "<json>");
    }

    #[test]
    fn debug_redacts_the_token() {
        let mut o = Options::default();
        o.set("http_auth_token", Value::Text("s3cret")).unwrap();
        let shown = format!("{o:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("http_auth_token: \"<redacted>\""), "{shown}");
        assert!(shown.contains("tcp_address: \"0.0.0.0:4160\""), "{shown}");
    }

    #[test]
    fn liveness_and_address_options() {
        let mut o = Options::default();
        assert_eq!(o.display("producer_heartbeat_timeout"), "45s");
        assert_eq!(o.producer_address, AddressPolicy::Broadcast);
        o.apply_json(r#"{"producer_heartbeat_timeout":"0s","producer_address":"auto"}"#)
            .unwrap();
        assert_eq!(o.producer_heartbeat_timeout, Duration::ZERO);
        assert_eq!(o.producer_address, AddressPolicy::Auto);
        let e = o
            .apply_json(r#"{"producer_address":"nearest"}"#)
            .unwrap_err();
        assert_eq!(e.key, "producer_address");
        assert!(
            e.message.contains("broadcast, remote, auto"),
            "{}",
            e.message
        );
    }

    #[test]
    fn every_option_round_trips_through_its_row() {
        // What `display` shows, `set` takes back to the same value.
        let defaults = Options::default();
        for s in SPECS {
            let mut o = Options::default();
            let shown = defaults.display(s.name);
            o.set(s.name, Value::Text(&shown))
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(o, defaults, "{}", s.name);
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr(":4160").unwrap().port(), 4160);
        assert!(listen_addr("127.0.0.1:0").is_ok());
        assert!(listen_addr("[::1]:0").is_ok());
        assert!(listen_addr("localhost:0").is_ok());
        assert!(listen_addr("4160").is_err());
        assert!(listen_addr("127.0.0.1:99999").is_err());
    }

    #[test]
    fn example_set() {
        use crate::config::{Options, Value};
        let mut o = Options::default();
        o.set("tombstone_lifetime", Value::Text("1m")).unwrap();
        o.set("inactive_producer_timeout", Value::Int(1500)).unwrap(); // ms, as Go
        assert!(o.set("nope", Value::Int(1)).is_err());
    }
}
