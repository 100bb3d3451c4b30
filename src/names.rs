//! Topic and channel names.
//!
//! Every name that reaches the registry has passed through [`Name::new`], so
//! the registry never sees a name NSQ would reject. The rule is NSQ's own
//! (`internal/protocol/names.go`): 1 to 64 bytes of `[.a-zA-Z0-9_-]`,
//! optionally ending in `#ephemeral`. Nothing else is special: in particular
//! `*` is an invalid name here, where the Go original treats it as a wildcard
//! and lets `POST /topic/delete?topic=*` empty the whole database.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The longest valid name, in bytes, `#ephemeral` suffix included.
pub const MAX_NAME_LEN: usize = 64;

/// The suffix that marks a topic or channel as ephemeral.
pub const EPHEMERAL_SUFFIX: &str = "#ephemeral";

/// A valid topic or channel name.
///
/// ```
/// use lookupd::names::Name;
/// assert!(Name::new(b"orders.v2").is_some());
/// assert!(Name::new(b"scratch#ephemeral").unwrap().is_ephemeral());
/// assert!(Name::new(b"*").is_none());
/// assert!(Name::new(b"#ephemeral").is_none());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    /// Validates `bytes` as a topic or channel name.
    pub fn new(bytes: &[u8]) -> Option<Name> {
        if !is_valid(bytes) {
            return None;
        }
        // Valid names are ASCII, so this cannot fail.
        std::str::from_utf8(bytes).ok().map(|s| Name(Arc::from(s)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string, for indexes that keep the name.
    pub fn shared(&self) -> &Arc<str> {
        &self.0
    }

    /// Whether the name ends in `#ephemeral`.
    pub fn is_ephemeral(&self) -> bool {
        is_ephemeral(&self.0)
    }
}

/// Whether `name` ends in `#ephemeral`.
pub fn is_ephemeral(name: &str) -> bool {
    name.ends_with(EPHEMERAL_SUFFIX)
}

/// Whether `bytes` is a valid topic or channel name.
pub fn is_valid(bytes: &[u8]) -> bool {
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return false;
    }
    let base = bytes
        .strip_suffix(EPHEMERAL_SUFFIX.as_bytes())
        .unwrap_or(bytes);
    !base.is_empty()
        && base
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nsq_names() {
        for ok in [
            "a",
            "test",
            "with.dots-and_underscores",
            "UPPER09",
            "t#ephemeral",
            "...",
            &"x".repeat(64),
            &format!("{}#ephemeral", "x".repeat(54)),
        ] {
            assert!(is_valid(ok.as_bytes()), "{ok:?} should be valid");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "*",
            "#ephemeral",
            "a#ephemeral#ephemeral",
            "a#b",
            "sp ace",
            "tab\t",
            "new\nline",
            "semi;colon",
            "dollar$",
            "ümlaut",
            "nul\0",
            &"x".repeat(65),
            &format!("{}#ephemeral", "x".repeat(55)),
        ] {
            assert!(!is_valid(bad.as_bytes()), "{bad:?} should be invalid");
        }
        assert!(!is_valid(b"\xff\xfe"));
    }

    #[test]
    fn ephemeral_suffix() {
        assert!(Name::new(b"c#ephemeral").unwrap().is_ephemeral());
        assert!(!Name::new(b"ephemeral").unwrap().is_ephemeral());
    }
}
