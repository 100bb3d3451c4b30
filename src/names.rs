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

/// Names up to this many bytes are stored inside the [`Name`] itself.
const INLINE: usize = 22;

/// A valid topic or channel name.
///
/// Stored inline (no allocation) up to 22 bytes, which covers most NSQ
/// names, and as one shared string beyond: the registry keeps millions of
/// them, and a separately allocated string per name cost more than the
/// name itself. Compared, ordered and hashed as its bytes.
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl Name {
    /// Validates `bytes` as a topic or channel name.
    pub fn new(bytes: &[u8]) -> Option<Name> {
        if !is_valid(bytes) {
            return None;
        }
        if bytes.len() <= INLINE {
            let mut inline = [0u8; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            return Some(Name(Repr::Inline {
                len: bytes.len() as u8,
                bytes: inline,
            }));
        }
        // Valid names are ASCII, so this cannot fail.
        std::str::from_utf8(bytes)
            .ok()
            .map(|s| Name(Repr::Shared(Arc::from(s))))
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(s) => s.as_bytes(),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only ever built from a validated (ASCII) name.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Shared(s) => s,
        }
    }

    /// Whether the name ends in `#ephemeral`.
    pub fn is_ephemeral(&self) -> bool {
        self.as_bytes().ends_with(EPHEMERAL_SUFFIX.as_bytes())
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// Lets maps keyed by `Name` be searched with plain bytes (`Hash`, `Eq`
/// and `Ord` all agree with the bytes').
impl std::borrow::Borrow<[u8]> for Name {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

/// Whether `name` ends in `#ephemeral`.
#[cfg(any(test, feature = "internals"))]
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
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
        self.as_str()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
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
    fn inline_and_shared_names_behave_alike() {
        assert_eq!(std::mem::size_of::<Name>(), 24);
        let short = Name::new(b"orders").unwrap();
        let long = Name::new("x".repeat(60).as_bytes()).unwrap();
        let edge = Name::new("y".repeat(INLINE).as_bytes()).unwrap();
        assert_eq!(short.as_str(), "orders");
        assert_eq!(long.len(), 60);
        assert_eq!(edge.len(), INLINE);
        assert!(matches!(edge.0, Repr::Inline { .. }));
        assert!(matches!(long.0, Repr::Shared(_)));
        let mut v = vec![long.clone(), short.clone(), edge.clone()];
        v.sort();
        assert_eq!(v, [short, long, edge]);
    }

    #[test]
    fn ephemeral_suffix() {
        assert!(Name::new(b"c#ephemeral").unwrap().is_ephemeral());
        assert!(!Name::new(b"ephemeral").unwrap().is_ephemeral());
    }

    #[test]
    fn example_name() {
        use crate::names::Name;
        assert!(Name::new(b"orders.v2").is_some());
        assert!(Name::new(b"scratch#ephemeral").unwrap().is_ephemeral());
        assert!(Name::new(b"*").is_none());
        assert!(Name::new(b"#ephemeral").is_none());
    }
}
