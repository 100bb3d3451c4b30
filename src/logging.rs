//! Log lines in the Go original's shape, filtered by level.
//!
//! Operators' log pipelines parse `[nsqlookupd] 2026/11/24 17:55:32.123456
//! INFO: …` (Go's `log` with date, time and microseconds, local time, then
//! `lg`'s `LEVEL: ` prefix), so we write exactly that to stderr, one
//! `write` per line so lines from several threads never interleave.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::config::Level;

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
    match crate::os::local_time(since.as_secs()) {
        Some([year, month, day, hour, minute, second]) => format!(
            "{year:04}/{month:02}/{day:02} {hour:02}:{minute:02}:{second:02}.{:06}",
            since.subsec_micros()
        ),
        None => format!("{}.{:06}", since.as_secs(), since.subsec_micros()),
    }
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
}
