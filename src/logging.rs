//! Log lines in the Go original's shape, filtered by level.
//!
//! Operators' log pipelines parse `[nsqlookupd] 2026/11/24 17:55:32.123456
//! INFO: …` (Go's `log` with date, time and microseconds, local time, then
//! `lg`'s `LEVEL: ` prefix), so we write exactly that to stderr, one
//! `write` per line so lines from several threads never interleave.

use std::fmt;
use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Log severity, in Go's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Chatty detail.
    Debug = 1,
    /// Normal operation: connections, registrations, requests.
    Info = 2,
    /// Something unexpected that was handled.
    Warn = 3,
    /// A failed operation.
    Error = 4,
    /// The service cannot go on.
    Fatal = 5,
}

impl Level {
    /// The word Go prints for the level.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// The name accepted by `-log-level`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            "fatal" => Ok(Level::Fatal),
            _ => Err(format!(
                "invalid log level '{s}' (debug, info, warn, error, fatal)"
            )),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

type Sink = dyn Fn(&str) + Send + Sync;

/// A leveled logger. Cheap to clone.
#[derive(Clone)]
pub struct Logger {
    level: Level,
    prefix: Arc<str>,
    sink: Option<Arc<Sink>>,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("level", &self.level)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Logger {
    /// A logger writing lines at `level` and above to stderr.
    pub fn stderr(level: Level, prefix: &str) -> Logger {
        Logger {
            level,
            prefix: prefix.into(),
            sink: None,
        }
    }

    /// A logger handing each finished line (newline included) to `sink`;
    /// for tests and hosts that collect logs.
    pub fn with_sink(level: Level, prefix: &str, sink: Arc<Sink>) -> Logger {
        Logger {
            level,
            prefix: prefix.into(),
            sink: Some(sink),
        }
    }

    /// The prefix of every line.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether lines at `level` are written.
    pub fn enabled(&self, level: Level) -> bool {
        level >= self.level
    }

    /// Writes one line if `level` is enabled. Inside the crate, the `logf!`
    /// macro skips formatting for disabled levels.
    pub fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let line = format!(
            "{}{} {}: {}\n",
            self.prefix,
            local_timestamp(SystemTime::now()),
            level.as_str(),
            args
        );
        match &self.sink {
            Some(sink) => sink(&line),
            None => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
        }
    }
}

/// Logs through a [`Logger`] with `format!` syntax, formatting nothing when
/// the level is disabled.
macro_rules! logf {
    ($logger:expr, $level:expr, $($arg:tt)+) => {{
        let logger: &$crate::logging::Logger = &$logger;
        if logger.enabled($level) {
            logger.log($level, format_args!($($arg)+));
        }
    }};
}
pub(crate) use logf;

/// `2006/01/02 15:04:05.000000` in local time, as Go's `log` writes it.
pub fn local_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = libc::time_t::try_from(since.as_secs()).unwrap_or(0);
    // SAFETY: `tm` is plain data that localtime_r fully initialises on
    // success; both pointers are valid for the duration of the call and
    // localtime_r is the thread-safe variant.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return format!("{secs}.{:06}", since.subsec_micros());
        }
        tm
    };
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        since.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn line_shape_and_filtering() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let log = Logger::with_sink(
            Level::Warn,
            "[nsqlookupd] ",
            Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_owned())),
        );
        logf!(log, Level::Info, "hidden {}", 1);
        logf!(log, Level::Warn, "shown {}", 2);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert!(l.starts_with("[nsqlookupd] "), "{l}");
        assert!(l.ends_with(" WARNING: shown 2\n"), "{l}");
        // [nsqlookupd] 2026/11/24 17:55:32.123456 WARNING: …
        let ts = &l["[nsqlookupd] ".len()..][..26];
        assert_eq!(ts.as_bytes()[4], b'/');
        assert_eq!(ts.as_bytes()[10], b' ');
        assert_eq!(ts.as_bytes()[19], b'.');
    }

    #[test]
    fn parses_levels_case_insensitively() {
        assert_eq!("WARN".parse::<Level>(), Ok(Level::Warn));
        assert!("warning".parse::<Level>().is_err());
        assert_eq!(Level::Warn.as_str(), "WARNING");
    }
}
