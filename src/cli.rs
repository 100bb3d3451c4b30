//! The `nsqlookupd` binary's command line, config file and life: read as
//! the Go binary reads them, then run until SIGINT or SIGTERM ([`main`]).
//!
//! Flags follow Go's `flag` package: `-flag` or `--flag`, `-flag=value` or
//! `-flag value`, booleans without a value, parsing stops at the first
//! non-flag argument or `--`, unknown flags exit 2 with the usage, `-h` and
//! `-help` print it and exit 0. `-config` names a TOML file with the same
//! keys as Go's `contrib/nsqlookupd.cfg.example`; flags given on the
//! command line override it; both override the defaults. Everything is
//! checked before anything is bound.

use std::fmt::Write as _;

use std::ffi::OsString;

use crate::config::{spec, Kind, Options, Value, SPECS};
use crate::handle::Handle;
use crate::logging::{Level, Logger};
use crate::os;
use crate::version::version_line;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Serve with these options. `warnings` are about the config file
    /// (unknown keys, which Go ignores silently) and deprecated flags.
    Run {
        /// The resolved options.
        options: Box<Options>,
        /// Things the operator should know, to be logged.
        warnings: Vec<String>,
    },
    /// Print the version and exit 0.
    Version,
    /// Print the usage to stderr and exit 0.
    Help,
}

/// A command line or config file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// What is wrong, naming the flag, key or file.
    pub message: String,
    /// 2 for a flag error (Go's `flag` exits 2, after the usage), 1 for a
    /// config file error.
    pub exit_code: i32,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The `nsqlookupd` binary: reads Go's command line and config file,
/// starts an instance, waits for SIGINT or SIGTERM and stops it. Returns
/// the process's exit status: 0 after a signal (or `-version`, `-help`),
/// 2 for a bad flag (after the usage, as Go's `flag`), 1 for a bad config
/// file or a failed start.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<String> = args
        .into_iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (options, warnings) = match parse(&args) {
        Ok(Action::Run { options, warnings }) => (options, warnings),
        Ok(Action::Version) => {
            println!("{}", version_line());
            return 0;
        }
        Ok(Action::Help) => {
            eprint!("{}", usage());
            return 0;
        }
        Err(e) => {
            if e.exit_code == 2 {
                eprintln!("{e}");
                eprint!("{}", usage());
            } else {
                let log = Logger::stderr(Level::Fatal, "[nsqlookupd] ");
                log.log(Level::Fatal, format_args!("{e}"));
            }
            return e.exit_code;
        }
    };
    // Blocked before any thread starts, so every thread inherits the mask
    // and the signals stay queued for the wait below.
    let signals = os::StopSignals::block();
    // As Go since 1.19: operators running thousands of nsqd rely on it.
    os::raise_fd_limit();
    let log = Logger::stderr(options.log_level, &options.log_prefix);
    for w in &warnings {
        log.log(Level::Warn, format_args!("{w}"));
    }
    let handle = match Handle::start_with_logger(*options, log.clone()) {
        Ok(h) => h,
        Err(e) => {
            let fatal = Logger::stderr(Level::Fatal, log.prefix());
            fatal.log(
                Level::Fatal,
                format_args!("failed to instantiate nsqlookupd - {e}"),
            );
            return 1;
        }
    };
    // Serving: any restore and bootstrap are done, the listeners open.
    tell_supervisor(&log, "READY=1");
    let signal = signals.wait();
    log.log(
        Level::Info,
        format_args!("received signal {signal}, stopping"),
    );
    tell_supervisor(&log, "STOPPING=1");
    handle.stop();
    0
}

/// `sd_notify` for `Type=notify` units; nothing without `$NOTIFY_SOCKET`.
fn tell_supervisor(log: &Logger, state: &str) {
    if let Err(e) = os::notify_supervisor(state) {
        log.log(
            Level::Warn,
            format_args!("cannot tell the service manager {state} through $NOTIFY_SOCKET - {e}"),
        );
    }
}

/// Flags that are not options.
const CONFIG: &str = "config";
const VERSION: &str = "version";
const VERBOSE: &str = "verbose";

/// Parses the arguments after the program name into an [`Action`],
/// reading the config file if one is named.
///
/// ```
/// use lookupd::cli::{parse, Action};
/// let args = ["--tcp-address=127.0.0.1:0", "-tombstone-lifetime", "1m"];
/// let Action::Run { options, .. } = parse(&args).unwrap() else { panic!() };
/// assert_eq!(options.tcp_address, "127.0.0.1:0");
/// ```
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Action, CliError> {
    let flags = scan(args)?;
    let mut config: Option<String> = None;
    let mut warnings = Vec::new();
    let mut version = false;
    let mut settings: Vec<(&'static str, String)> = Vec::new();
    // Go's `flag` checks each value as it meets it, so a bad flag anywhere
    // fails even `-version`; the config file is read only after that.
    let mut checked = Options::default();
    for (name, value) in flags {
        match name {
            "help" | "h" => return Ok(Action::Help),
            VERSION => version = parse_bool(VERSION, value.as_deref())?,
            VERBOSE => {
                parse_bool(VERBOSE, value.as_deref())?;
                warnings.push("-verbose is deprecated and has no effect, use --log-level".into());
            }
            CONFIG => config = value,
            _ => {
                let key = option_key(name)
                    .ok_or_else(|| flag_error(format!("flag provided but not defined: -{name}")))?;
                let value = match value {
                    Some(v) => v,
                    // A bare boolean flag is true, as in Go.
                    None if is_bool_option(name) => "true".to_owned(),
                    None => return Err(flag_error(format!("flag needs an argument: -{name}"))),
                };
                checked
                    .set(key, Value::Text(&value))
                    .map_err(|e| invalid_flag_value(key, &value, &e.message))?;
                settings.push((key, value));
            }
        }
    }
    if version {
        return Ok(Action::Version);
    }
    let mut opts = Options::default();
    if let Some(path) = config.filter(|p| !p.is_empty()) {
        load_config(&mut opts, &path, &mut warnings)?;
    }
    for (key, value) in settings {
        opts.set(key, Value::Text(&value))
            .map_err(|e| invalid_flag_value(key, &value, &e.message))?;
    }
    opts.validate().map_err(|e| CliError {
        message: e.to_string(),
        exit_code: 1,
    })?;
    Ok(Action::Run {
        options: Box::new(opts),
        warnings,
    })
}

/// Go's `invalid value "10" for flag -tombstone-lifetime: parse error`,
/// with what exactly is wrong after it.
fn invalid_flag_value(key: &str, value: &str, why: &str) -> CliError {
    let flag = key.replace('_', "-");
    let go_reason = match spec(key).map(|s| s.kind) {
        Some(Kind::Duration) => "parse error (",
        _ => "",
    };
    let close = if go_reason.is_empty() { "" } else { ")" };
    flag_error(format!(
        "invalid value {value:?} for flag -{flag}: {go_reason}{why}{close}"
    ))
}

fn flag_error(message: String) -> CliError {
    CliError {
        message,
        exit_code: 2,
    }
}

/// The flags in order, as `(name, value)`; a boolean given bare has no
/// value. Splits `name=value`, and takes the next argument as the value of
/// a non-boolean flag.
fn scan<S: AsRef<str>>(args: &[S]) -> Result<Vec<(&str, Option<String>)>, CliError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        i += 1;
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        let body = match arg.strip_prefix("--") {
            Some("") => break,
            Some(rest) => rest,
            None => &arg[1..],
        };
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(flag_error(format!("bad flag syntax: {arg}")));
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let takes_value =
            !matches!(name, VERSION | VERBOSE | "help" | "h") && !is_bool_option(name);
        let value = if value.is_none() && takes_value && is_known(name) {
            let v = args
                .get(i)
                .map(|s| s.as_ref().to_owned())
                .ok_or_else(|| flag_error(format!("flag needs an argument: -{name}")))?;
            i += 1;
            Some(v)
        } else {
            value
        };
        out.push((name, value));
    }
    Ok(out)
}

fn is_bool_option(flag: &str) -> bool {
    option_key(flag)
        .and_then(spec)
        .is_some_and(|s| s.kind == Kind::Bool)
}

fn is_known(flag: &str) -> bool {
    flag == CONFIG || option_key(flag).is_some()
}

/// The option key of a flag name: `tcp-address` → `tcp_address`.
fn option_key(flag: &str) -> Option<&'static str> {
    SPECS
        .iter()
        .find(|s| {
            s.name.len() == flag.len()
                && s.name
                    .bytes()
                    .zip(flag.bytes())
                    .all(|(a, b)| a == b || (a == b'_' && b == b'-'))
        })
        .map(|s| s.name)
}

fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, CliError> {
    match value {
        None => Ok(true),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(flag_error(format!(
            "invalid boolean value {v:?} for -{name}: parse error"
        ))),
    }
}

/// Applies a TOML config file. Unknown keys are ignored with a warning, as
/// Go ignores them; bad values are errors naming the key.
pub fn load_config(
    opts: &mut Options,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<(), CliError> {
    let fail = |message: String| CliError {
        message: format!("failed to load config file {path} - {message}"),
        exit_code: 1,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| fail(e.message().to_owned()))?;
    let mut items: Vec<String>;
    for (key, value) in &table {
        if spec(key).is_none() {
            warnings.push(format!(
                "config file {path}: unknown option {key:?} ignored"
            ));
            continue;
        }
        let v = match value {
            toml::Value::String(s) => Value::Text(s),
            toml::Value::Integer(i) => Value::Int(*i),
            toml::Value::Float(f) => Value::Float(*f),
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Datetime(_) => Value::Other("a datetime"),
            toml::Value::Array(a) => {
                items = a
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .unwrap_or_default();
                if items.len() == a.len() {
                    Value::Items(&items)
                } else {
                    Value::Other("an array of non-strings")
                }
            }
            toml::Value::Table(_) => Value::Other("a table"),
        };
        opts.set(key, v).map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

/// The usage text, in the layout of Go's `flag.PrintDefaults`.
pub fn usage() -> String {
    let defaults = Options::default();
    let mut rows: Vec<(String, &str, &str, String)> = vec![
        (
            CONFIG.into(),
            "string",
            "path to config file",
            String::new(),
        ),
        (
            VERBOSE.into(),
            "",
            "[deprecated] has no effect, use --log-level",
            String::new(),
        ),
        (VERSION.into(), "", "print version string", String::new()),
    ];
    for s in SPECS {
        // As Go's flag.PrintDefaults: no default shown for a zero value
        // (an empty string, a zero duration, false).
        let shown = defaults.display(s.name);
        let default = match s.kind {
            Kind::Bool => String::new(),
            _ if shown.is_empty() || shown == "0s" => String::new(),
            Kind::Text | Kind::Choice(_) => format!("{shown:?}"),
            _ => shown,
        };
        rows.push((
            s.name.replace('_', "-"),
            s.kind.flag_type(),
            s.help,
            default,
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::from("Usage of nsqlookupd:\n");
    for (name, ty, help, default) in rows {
        let _ = write!(out, "  -{name}");
        if !ty.is_empty() {
            let _ = write!(out, " {ty}");
        }
        let _ = write!(out, "\n    \t{help}");
        if !default.is_empty() {
            let _ = write!(out, " (default {default})");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(args: &[&str]) -> Options {
        match parse(args).unwrap() {
            Action::Run { options, .. } => *options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn go_flag_forms() {
        let o = run(&[
            "-tcp-address=127.0.0.1:1",
            "--http-address",
            "127.0.0.1:2",
            "-inactive-producer-timeout",
            "1m30s",
            "--tombstone-lifetime=250ms",
            "-log-level=WARN",
        ]);
        assert_eq!(o.tcp_address, "127.0.0.1:1");
        assert_eq!(o.http_address, "127.0.0.1:2");
        assert_eq!(o.inactive_producer_timeout, Duration::from_secs(90));
        assert_eq!(o.tombstone_lifetime, Duration::from_millis(250));
        assert_eq!(o.log_level, crate::logging::Level::Warn);
    }

    #[test]
    fn boolean_and_network_flags() {
        let o = run(&[
            "-http-auth-token=t",
            "-http-auth-reads",
            "--tcp-allow",
            "10.0.0.0/8,::1",
        ]);
        assert!(o.http_auth_reads);
        assert_eq!(o.tcp_allow.len(), 2);
        let o = run(&[
            "-http-auth-token=t",
            "--http-auth-reads=false",
            "-log-level",
            "warn",
        ]);
        assert!(!o.http_auth_reads);
        assert_eq!(o.log_level, crate::logging::Level::Warn);
        let e = parse(&["-tcp-allow=10.0.0.0/40"]).unwrap_err();
        assert!(e.message.contains("-tcp-allow"), "{}", e.message);
        let e = parse(&["-https-address=127.0.0.1:0"]).unwrap_err();
        assert!(e.message.contains("tls_cert"), "{}", e.message);
    }

    #[test]
    fn parsing_stops_at_non_flags() {
        let o = run(&["-log-prefix", "-x-", "positional", "-tcp-address=bogus"]);
        assert_eq!(o.log_prefix, "-x-");
        assert_eq!(o.tcp_address, "0.0.0.0:4160");
        let o = run(&["--", "-tcp-address=bogus"]);
        assert_eq!(o.tcp_address, "0.0.0.0:4160");
    }

    #[test]
    fn special_flags() {
        assert_eq!(parse(&["-version"]).unwrap(), Action::Version);
        assert_eq!(parse(&["--version=true"]).unwrap(), Action::Version);
        assert_eq!(parse(&["-h"]).unwrap(), Action::Help);
        assert_eq!(parse(&["--help"]).unwrap(), Action::Help);
        assert!(matches!(
            parse(&["-version=false"]).unwrap(),
            Action::Run { .. }
        ));
        assert_eq!(
            parse(&["-version", "-version=false", "-version"]).unwrap(),
            Action::Version
        );
        // Every flag is checked before -version is acted on, as in Go; the
        // config file is not read.
        assert_eq!(parse(&["-version", "-bogus"]).unwrap_err().exit_code, 2);
        assert_eq!(
            parse(&["-version", "-tombstone-lifetime=x"])
                .unwrap_err()
                .exit_code,
            2
        );
        assert_eq!(
            parse(&["-version", "-config=/nonexistent/x.cfg"]).unwrap(),
            Action::Version
        );
        let Action::Run { warnings, .. } = parse(&["-verbose"]).unwrap() else {
            panic!()
        };
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn flag_errors_exit_2_and_name_the_flag() {
        for (args, needle) in [
            (&["-nope"][..], "flag provided but not defined: -nope"),
            (
                &["-tcp-address"][..],
                "flag needs an argument: -tcp-address",
            ),
            (&["---x"][..], "bad flag syntax: ---x"),
            (
                &["-tombstone-lifetime=10"][..],
                "invalid value \"10\" for flag -tombstone-lifetime: parse error",
            ),
            (&["-log-level=loud"][..], "-log-level"),
            (&["-version=maybe"][..], "-version"),
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code, 2, "{args:?}");
            assert!(e.message.contains(needle), "{args:?}: {}", e.message);
        }
        let e = parse(&["-tcp-address=nonsense"]).unwrap_err();
        assert_eq!(e.exit_code, 1);
        assert!(e.message.contains("tcp_address"), "{}", e.message);
    }

    #[test]
    fn usage_lists_every_flag() {
        let u = usage();
        assert!(u.starts_with("Usage of nsqlookupd:\n  -bootstrap-ca-file string\n"));
        assert!(u.contains("\n  -broadcast-address string\n"));
        assert!(u.contains("  -tombstone-lifetime duration\n    \tduration of time a producer will remain tombstoned if registration remains (default 45s)\n"));
        assert!(u.contains("(default \"0.0.0.0:4160\")"));
        assert!(u.contains("  -version\n    \tprint version string\n"));
        // Go shows no default for an empty string.
        assert!(u.contains("  -data-path string\n    \tdirectory to keep a snapshot of the registry in, read back at start (empty: none)\n"));
        assert!(u.contains("(default \"broadcast\")"));
        assert!(u.contains("producer-heartbeat-timeout duration"));
    }
}
