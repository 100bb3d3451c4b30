//! JSON bytes as Go's `encoding/json` writes them.
//!
//! Go escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings; serde_json
//! does not. (Control characters are escaped as Go 1.22 and later do.)
//! Names cannot contain them, but hostnames and versions come
//! from clients, so to give byte-identical answers we escape them too.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// Serialises `value` compactly with Go's string escaping.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Serialising our own types into a Vec cannot fail: no maps with
    // non-string keys, no I/O errors.
    if value.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"null");
    }
    out
}

struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&bytes[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&bytes[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        assert_eq!(to_vec("\u{2028}x\u{2029}"), br#""\u2028x\u2029""#);
        assert_eq!(to_vec("\u{8}\u{c}\n\t\"\\"), br#""\b\f\n\t\"\\""#);
        assert_eq!(to_vec("\u{1}"), br#""\u0001""#);
        assert_eq!(to_vec("héllo"), "\"héllo\"".as_bytes());
        assert_eq!(to_vec(&vec![1, 2]), b"[1,2]");
    }

    #[test]
    fn example_to_vec() {
        let bytes = crate::json::to_vec(&"a<b>&c");
        assert_eq!(bytes, br#""a\u003cb\u003e\u0026c""#);
    }
}
