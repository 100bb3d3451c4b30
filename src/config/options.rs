//! One options schema for every way to configure lookupd.
//!
//! Command-line flags (`-tcp-address`), the TOML config file
//! (`tcp_address = …`) and the JSON object given to `lookupd_start` all set
//! the same [`Options`] through [`Options::set`], keyed by the option's
//! underscore name. Defaults, names and value syntax are the Go original's
//! (`nsqlookupd/options.go`, `apps/nsqlookupd/main.go`), so a Go config
//! file or command line means the same thing here. Our own additions are
//! listed in `SPECS` (`super::specs`) after Go's.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::duration;
use super::specs::{spec, Kind};
use crate::access::Cidr;
use crate::logging::Level;

/// How the service is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `<addr>:<port>` to listen on for TCP clients (nsqd).
    pub tcp_address: String,
    /// `<addr>:<port>` to listen on for HTTP clients.
    pub http_address: String,
    /// The address of this lookupd node; defaults to the OS hostname.
    pub broadcast_address: String,
    /// How long a producer stays in the active list after its last ping.
    pub inactive_producer_timeout: Duration,
    /// How long a tombstoned producer stays hidden from `/lookup`.
    pub tombstone_lifetime: Duration,
    /// Lowest level logged.
    pub log_level: Level,
    /// Prefix of every log line.
    pub log_prefix: String,
    /// Threads serving connections (ours).
    pub threads: usize,
    /// Largest IDENTIFY body accepted, in bytes (ours).
    pub max_identify_body_size: usize,
    /// Longest TCP command line accepted, in bytes (ours).
    pub max_command_size: usize,
    /// Time a new TCP connection has to send the protocol magic (ours).
    pub tcp_handshake_timeout: Duration,
    /// A TCP connection that has not identified is closed after being
    /// silent this long (ours).
    pub identify_timeout: Duration,
    /// Most TCP connections served at once; more are refused (ours).
    pub max_tcp_connections: usize,
    /// Most HTTP connections served at once; more are refused (ours).
    pub max_http_connections: usize,
    /// Time an HTTP client has to send a request's head (from its first
    /// byte), and then its body (ours).
    pub http_header_timeout: Duration,
    /// How long an idle keep-alive HTTP connection is kept (ours).
    pub http_idle_timeout: Duration,
    /// Largest HTTP request head, and largest body, in bytes (ours).
    pub max_http_request_size: usize,
    /// Bearer token mutating HTTP endpoints require; empty: none (ours).
    pub http_auth_token: String,
    /// A file holding the bearer token, read at start (ours).
    pub http_auth_token_file: String,
    /// Whether the token is required by every endpoint but `/ping` (ours).
    pub http_auth_reads: bool,
    /// Networks allowed to connect over TCP; empty: all (ours).
    pub tcp_allow: Vec<Cidr>,
    /// Networks allowed to use HTTP(S); empty: all (ours).
    pub http_allow: Vec<Cidr>,
    /// `<addr>:<port>` to serve HTTPS on; empty: no HTTPS (ours).
    pub https_address: String,
    /// PEM certificate chain for HTTPS (ours).
    pub tls_cert: String,
    /// PEM private key for HTTPS (ours).
    pub tls_key: String,
    /// Directory of the registry's snapshot; empty: none (ours).
    pub data_path: String,
    /// How long producers restored from the snapshot are answered while
    /// their nsqd has not identified again (ours).
    pub restart_grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tcp_address: "0.0.0.0:4160".into(),
            http_address: "0.0.0.0:4161".into(),
            broadcast_address: hostname(),
            inactive_producer_timeout: Duration::from_secs(300),
            tombstone_lifetime: Duration::from_secs(45),
            log_level: Level::Info,
            log_prefix: "[nsqlookupd] ".into(),
            threads: default_threads(),
            max_identify_body_size: 64 * 1024,
            max_command_size: 4096,
            tcp_handshake_timeout: Duration::from_secs(10),
            identify_timeout: Duration::from_secs(30),
            max_tcp_connections: 16384,
            max_http_connections: 4096,
            http_header_timeout: Duration::from_secs(10),
            // Longer than the 90 s Go's HTTP clients (nsqadmin's included)
            // keep idle connections pooled.
            http_idle_timeout: Duration::from_secs(120),
            max_http_request_size: 64 * 1024,
            http_auth_token: String::new(),
            http_auth_token_file: String::new(),
            http_auth_reads: false,
            tcp_allow: Vec::new(),
            http_allow: Vec::new(),
            https_address: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            data_path: String::new(),
            // nsqd notices a lost connection on its next 15 s PING and
            // reconnects on the one after: up to 30 s, and a margin.
            restart_grace: Duration::from_secs(45),
        }
    }
}

/// A value as it arrives from a flag, a TOML file or JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A string (every flag value is one).
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list of strings.
    Items(&'a [String]),
    /// Anything else (array, table, null, date); named for the error.
    Other(&'static str),
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
    ///
    /// ```
    /// use lookupd::config::{Options, Value};
    /// let mut o = Options::default();
    /// o.set("tombstone_lifetime", Value::Text("1m")).unwrap();
    /// o.set("inactive_producer_timeout", Value::Int(1500)).unwrap(); // ms, as Go
    /// assert!(o.set("nope", Value::Int(1)).is_err());
    /// ```
    pub fn set(&mut self, key: &str, value: Value<'_>) -> Result<(), OptionError> {
        let err = |message: String| OptionError {
            key: key.to_owned(),
            message,
        };
        let spec = spec(key).ok_or_else(|| err("unknown option".into()))?;
        match spec.kind {
            Kind::Text => {
                let v = text(value).map_err(err)?.to_owned();
                match key {
                    "tcp_address" => self.tcp_address = v,
                    "http_address" => self.http_address = v,
                    "broadcast_address" => self.broadcast_address = v,
                    "log_prefix" => self.log_prefix = v,
                    "http_auth_token" => self.http_auth_token = v,
                    "http_auth_token_file" => self.http_auth_token_file = v,
                    "https_address" => self.https_address = v,
                    "tls_cert" => self.tls_cert = v,
                    "tls_key" => self.tls_key = v,
                    "data_path" => self.data_path = v,
                    _ => unreachable!("text option {key} has no field"),
                }
            }
            Kind::Duration => {
                let v = match value {
                    Value::Text(s) => duration::parse(s),
                    Value::Int(ms) => Ok(duration::from_config_int(ms)),
                    other => Err(format!("expected a duration, got {}", type_name(other))),
                }
                .map_err(err)?;
                match key {
                    "inactive_producer_timeout" => self.inactive_producer_timeout = v,
                    "tombstone_lifetime" => self.tombstone_lifetime = v,
                    "tcp_handshake_timeout" => self.tcp_handshake_timeout = v,
                    "identify_timeout" => self.identify_timeout = v,
                    "http_header_timeout" => self.http_header_timeout = v,
                    "http_idle_timeout" => self.http_idle_timeout = v,
                    "restart_grace" => self.restart_grace = v,
                    _ => unreachable!("duration option {key} has no field"),
                }
            }
            Kind::Level => {
                self.log_level = text(value).and_then(str::parse).map_err(err)?;
            }
            Kind::Count => {
                let v = count(value).map_err(err)?;
                if v == 0 {
                    return Err(err("must be at least 1".into()));
                }
                match key {
                    "threads" => self.threads = v,
                    "max_identify_body_size" => self.max_identify_body_size = v,
                    "max_command_size" => self.max_command_size = v,
                    "max_tcp_connections" => self.max_tcp_connections = v,
                    "max_http_connections" => self.max_http_connections = v,
                    "max_http_request_size" => {
                        // hyper cannot read a request head into less.
                        if v < 8192 {
                            return Err(err("must be at least 8192".into()));
                        }
                        self.max_http_request_size = v
                    }
                    _ => unreachable!("count option {key} has no field"),
                }
            }
            Kind::Bool => {
                let v = match value {
                    Value::Bool(b) => b,
                    Value::Text(t) => {
                        parse_bool(t).ok_or_else(|| err(format!("{t:?} is not a boolean")))?
                    }
                    other => {
                        return Err(err(format!("expected a boolean, got {}", type_name(other))))
                    }
                };
                match key {
                    "http_auth_reads" => self.http_auth_reads = v,
                    _ => unreachable!("bool option {key} has no field"),
                }
            }
            Kind::Networks => {
                let items: Vec<&str> = match value {
                    Value::Text(t) => t.split(',').filter(|s| !s.trim().is_empty()).collect(),
                    Value::Items(items) => items.iter().map(String::as_str).collect(),
                    other => {
                        return Err(err(format!(
                            "expected CIDR networks, got {}",
                            type_name(other)
                        )))
                    }
                };
                let nets = items
                    .into_iter()
                    .map(str::parse)
                    .collect::<Result<Vec<Cidr>, String>>()
                    .map_err(err)?;
                match key {
                    "tcp_allow" => self.tcp_allow = nets,
                    "http_allow" => self.http_allow = nets,
                    _ => unreachable!("networks option {key} has no field"),
                }
            }
        }
        Ok(())
    }

    /// The current value of an option, as `-help` shows defaults.
    pub fn display(&self, key: &str) -> String {
        match key {
            "tcp_address" => self.tcp_address.clone(),
            "http_address" => self.http_address.clone(),
            "broadcast_address" => self.broadcast_address.clone(),
            "log_prefix" => self.log_prefix.clone(),
            "log_level" => self.log_level.as_str().to_owned(),
            "inactive_producer_timeout" => duration::format(self.inactive_producer_timeout),
            "tombstone_lifetime" => duration::format(self.tombstone_lifetime),
            "threads" => self.threads.to_string(),
            "max_identify_body_size" => self.max_identify_body_size.to_string(),
            "max_command_size" => self.max_command_size.to_string(),
            "tcp_handshake_timeout" => duration::format(self.tcp_handshake_timeout),
            "identify_timeout" => duration::format(self.identify_timeout),
            "max_tcp_connections" => self.max_tcp_connections.to_string(),
            "max_http_connections" => self.max_http_connections.to_string(),
            "http_header_timeout" => duration::format(self.http_header_timeout),
            "http_idle_timeout" => duration::format(self.http_idle_timeout),
            "max_http_request_size" => self.max_http_request_size.to_string(),
            "http_auth_token" => self.http_auth_token.clone(),
            "http_auth_token_file" => self.http_auth_token_file.clone(),
            "http_auth_reads" => self.http_auth_reads.to_string(),
            "tcp_allow" => join(&self.tcp_allow),
            "http_allow" => join(&self.http_allow),
            "https_address" => self.https_address.clone(),
            "tls_cert" => self.tls_cert.clone(),
            "tls_key" => self.tls_key.clone(),
            "data_path" => self.data_path.clone(),
            "restart_grace" => duration::format(self.restart_grace),
            _ => String::new(),
        }
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
        if self.http_auth_token_file.is_empty() {
            return Ok(self.http_auth_token.clone());
        }
        let text =
            std::fs::read_to_string(&self.http_auth_token_file).map_err(|e| OptionError {
                key: "http_auth_token_file".into(),
                message: format!("{}: {e}", self.http_auth_token_file),
            })?;
        let token = text.trim().to_owned();
        if token.is_empty() {
            return Err(OptionError {
                key: "http_auth_token_file".into(),
                message: format!("{} is empty", self.http_auth_token_file),
            });
        }
        Ok(token)
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn join(nets: &[Cidr]) -> String {
    nets.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn text(value: Value<'_>) -> Result<&str, String> {
    match value {
        Value::Text(s) => Ok(s),
        other => Err(format!("expected a string, got {}", type_name(other))),
    }
}

fn count(value: Value<'_>) -> Result<usize, String> {
    match value {
        Value::Int(i) => usize::try_from(i).map_err(|_| format!("{i} is negative")),
        Value::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a non-negative integer")),
        other => Err(format!("expected an integer, got {}", type_name(other))),
    }
}

fn type_name(v: Value<'_>) -> &'static str {
    match v {
        Value::Text(_) => "a string",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Bool(_) => "a boolean",
        Value::Items(_) => "a list",
        Value::Other(name) => name,
    }
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
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which gethostname
    // writes at most `len` bytes into.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
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
    fn listen_addresses() {
        assert_eq!(listen_addr(":4160").unwrap().port(), 4160);
        assert!(listen_addr("127.0.0.1:0").is_ok());
        assert!(listen_addr("[::1]:0").is_ok());
        assert!(listen_addr("localhost:0").is_ok());
        assert!(listen_addr("4160").is_err());
        assert!(listen_addr("127.0.0.1:99999").is_err());
    }
}
