//! Log levels, as `-log-level` names them: an option like any other, read
//! here, used by `crate::logging`.

use std::fmt;
use std::str::FromStr;

/// Log severity, in Go's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
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


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_case_insensitively() {
        assert_eq!("WARN".parse::<Level>(), Ok(Level::Warn));
        assert!("warning".parse::<Level>().is_err());
        assert_eq!(Level::Warn.as_str(), "WARNING");
    }
}
