//! The nsqd-facing TCP protocol, V1, as a pure codec: command lines in,
//! typed commands or errors out, and reply framing.
//!
//! The wording of every error is the Go original's
//! (`nsqlookupd/lookup_protocol_v1.go`), because nsqd logs it and operators
//! grep for it. The connection (`super::conn`) does the I/O; nothing here
//! touches a socket, so all of it is unit tested and fuzzed directly.

use std::fmt;

use crate::metrics::TcpError;
use crate::names::Name;

/// The four bytes a client sends first to select protocol V1.
pub const MAGIC_V1: &[u8; 4] = b"  V1";

/// At most this many bytes of client input are echoed in an error or a log
/// line, so hostile input cannot make us amplify it.
pub const ECHO_LIMIT: usize = 128;

/// An error reported to the client as `CODE description`.
///
/// Every error of lookupd's protocol is fatal in the Go original: the reply
/// is sent and the connection closed. We keep that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// The machine-readable code, e.g. `E_INVALID`.
    pub code: TcpError,
    /// The human-readable description (may be empty).
    pub desc: String,
}

impl ProtocolError {
    /// An error with a code and a description.
    pub fn new(code: TcpError, desc: impl Into<String>) -> Self {
        ProtocolError {
            code,
            desc: desc.into(),
        }
    }

    /// `E_INVALID`: a malformed or out-of-order command.
    pub fn invalid(desc: impl Into<String>) -> Self {
        Self::new(TcpError::Invalid, desc)
    }

    /// `E_BAD_BODY`: an IDENTIFY body that cannot be used.
    pub fn bad_body(desc: impl Into<String>) -> Self {
        Self::new(TcpError::BadBody, desc)
    }

    /// The reply payload: `CODE description`, or the bare code.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.desc.is_empty() {
            f.write_str(self.code.label())
        } else {
            write!(f, "{} {}", self.code.label(), self.desc)
        }
    }
}

impl std::error::Error for ProtocolError {}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `PING`: keep-alive; refreshes the producer's last-seen time.
    Ping,
    /// `IDENTIFY`: a 4-byte big-endian length and a JSON body follow.
    Identify,
    /// `REGISTER topic [channel]`, parameters not yet validated.
    Register(Params<'a>),
    /// `UNREGISTER topic [channel]`, parameters not yet validated.
    Unregister(Params<'a>),
}

/// The parameters after `REGISTER` or `UNREGISTER`.
///
/// They are validated only when the command runs, because the Go original
/// first checks that the client identified and only then looks at the
/// names; the order decides which error a client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params<'a> {
    verb: &'static str,
    rest: Option<&'a [u8]>,
}

impl<'a> Params<'a> {
    /// The topic and optional channel, validated.
    ///
    /// Parameters are split on single spaces exactly as Go's
    /// `strings.Split(line, " ")` does, so `REGISTER  t` names the empty
    /// topic and `REGISTER t  c` has an empty (absent) channel.
    pub fn topic_channel(&self) -> Result<(Name, Option<Name>), ProtocolError> {
        let rest = self.rest.ok_or_else(|| {
            ProtocolError::invalid(format!("{} insufficient number of params", self.verb))
        })?;
        let mut parts = rest.split(|&b| b == b' ');
        let topic = parts.next().unwrap_or(b"");
        let channel = parts.next().unwrap_or(b"");
        let topic = Name::new(topic).ok_or_else(|| {
            ProtocolError::new(
                TcpError::BadTopic,
                format!("{} topic name '{}' is not valid", self.verb, echo(topic)),
            )
        })?;
        let channel = if channel.is_empty() {
            None
        } else {
            Some(Name::new(channel).ok_or_else(|| {
                ProtocolError::new(
                    TcpError::BadChannel,
                    format!(
                        "{} channel name '{}' is not valid",
                        self.verb,
                        echo(channel)
                    ),
                )
            })?)
        };
        Ok((topic, channel))
    }
}

/// Parses one command line (without its trailing `\n`).
pub fn parse_command(line: &[u8]) -> Result<Command<'_>, ProtocolError> {
    let line = trim_space(line);
    let (verb, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    // `rest` is `None` when there are no parameters at all; an empty topic
    // (`REGISTER  t`) is `Some` and fails name validation instead.
    let params = |verb: &'static str| Params { verb, rest };
    match verb {
        b"PING" => Ok(Command::Ping),
        b"IDENTIFY" => Ok(Command::Identify),
        b"REGISTER" => Ok(Command::Register(params("REGISTER"))),
        b"UNREGISTER" => Ok(Command::Unregister(params("UNREGISTER"))),
        other => Err(ProtocolError::invalid(format!(
            "invalid command {}",
            echo(other)
        ))),
    }
}

/// Reads the IDENTIFY body length: a big-endian `int32`, as Go reads it.
///
/// Negative lengths and lengths over `max` are refused before anything is
/// allocated (the Go original panics on a negative one and allocates up to
/// 2 GiB for a large one).
pub fn identify_body_len(header: [u8; 4], max: usize) -> Result<usize, ProtocolError> {
    let len = i32::from_be_bytes(header);
    if len < 0 {
        return Err(ProtocolError::bad_body(format!(
            "IDENTIFY invalid body size {len}"
        )));
    }
    let len = len as usize;
    if len > max {
        return Err(ProtocolError::bad_body(format!(
            "IDENTIFY body too big {len} > {max}"
        )));
    }
    Ok(len)
}

/// Appends one reply frame: 4-byte big-endian length, then the payload.
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Client bytes made safe to show: at most [`ECHO_LIMIT`] bytes, invalid
/// UTF-8 replaced, and a marker when something was cut.
pub fn echo(bytes: &[u8]) -> String {
    if bytes.len() <= ECHO_LIMIT {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        format!(
            "{}...({} bytes)",
            String::from_utf8_lossy(&bytes[..ECHO_LIMIT]),
            bytes.len()
        )
    }
}

/// Trims leading and trailing white space as Go's `strings.TrimSpace` does:
/// ASCII white space and, where the bytes are valid UTF-8, Unicode white
/// space (U+0085, U+00A0, U+2000…); an invalid byte stops the trimming.
pub fn trim_space(mut s: &[u8]) -> &[u8] {
    loop {
        match s.first() {
            Some(b) if b.is_ascii() => {
                if is_ascii_space(*b) {
                    s = &s[1..];
                    continue;
                }
                break;
            }
            Some(_) => match first_char(s) {
                Some(c) if c.is_whitespace() => s = &s[c.len_utf8()..],
                _ => break,
            },
            None => break,
        }
    }
    loop {
        match s.last() {
            Some(b) if b.is_ascii() => {
                if is_ascii_space(*b) {
                    s = &s[..s.len() - 1];
                    continue;
                }
                break;
            }
            Some(_) => match last_char(s) {
                Some(c) if c.is_whitespace() => s = &s[..s.len() - c.len_utf8()],
                _ => break,
            },
            None => break,
        }
    }
    s
}

fn is_ascii_space(b: u8) -> bool {
    // Go's unicode.IsSpace for ASCII: \t \n \v \f \r and space.
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

fn first_char(s: &[u8]) -> Option<char> {
    let head = &s[..s.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(v) => v,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    valid.chars().next()
}

fn last_char(s: &[u8]) -> Option<char> {
    (1..=s.len().min(4)).find_map(|n| {
        std::str::from_utf8(&s[s.len() - n..])
            .ok()
            .and_then(|t| t.chars().next().filter(|c| c.len_utf8() == n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cmd: &[u8]) -> Result<(String, Option<String>), String> {
        match parse_command(cmd).map_err(|e| e.to_string())? {
            Command::Register(p) | Command::Unregister(p) => p
                .topic_channel()
                .map(|(t, c)| (t.to_string(), c.map(|c| c.to_string())))
                .map_err(|e| e.to_string()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn simple_commands() {
        assert_eq!(parse_command(b"PING").unwrap(), Command::Ping);
        assert_eq!(parse_command(b"PING extra words").unwrap(), Command::Ping);
        assert_eq!(parse_command(b"  PING\r").unwrap(), Command::Ping);
        assert_eq!(parse_command(b"IDENTIFY").unwrap(), Command::Identify);
        assert_eq!(parse_command(b"IDENTIFY x").unwrap(), Command::Identify);
    }

    #[test]
    fn register_forms() {
        assert_eq!(names(b"REGISTER t"), Ok(("t".into(), None)));
        assert_eq!(names(b"REGISTER t c"), Ok(("t".into(), Some("c".into()))));
        assert_eq!(
            names(b"REGISTER t c extra"),
            Ok(("t".into(), Some("c".into())))
        );
        assert_eq!(names(b"UNREGISTER t  c"), Ok(("t".into(), None)));
        assert_eq!(names(b"REGISTER t c\r"), Ok(("t".into(), Some("c".into()))));
        assert_eq!(
            names(b"REGISTER t\xc2\xa0"),
            Ok(("t".into(), None)),
            "NBSP is trimmed like Go's TrimSpace"
        );
    }

    #[test]
    fn go_wording_of_errors() {
        let e = |l: &[u8]| parse_command(l).unwrap_err().to_string();
        assert_eq!(e(b""), "E_INVALID invalid command ");
        assert_eq!(e(b"ping"), "E_INVALID invalid command ping");
        assert_eq!(
            names(b"REGISTER"),
            Err("E_INVALID REGISTER insufficient number of params".into())
        );
        assert_eq!(
            names(b"UNREGISTER   "),
            Err("E_INVALID UNREGISTER insufficient number of params".into())
        );
        assert_eq!(
            e(b"REGISTER\ttopic"),
            "E_INVALID invalid command REGISTER\ttopic"
        );
        assert_eq!(
            names(b"REGISTER  t"),
            Err("E_BAD_TOPIC REGISTER topic name '' is not valid".into())
        );
        assert_eq!(
            names(b"REGISTER t$ c"),
            Err("E_BAD_TOPIC REGISTER topic name 't$' is not valid".into())
        );
        assert_eq!(
            names(b"UNREGISTER t c*"),
            Err("E_BAD_CHANNEL UNREGISTER channel name 'c*' is not valid".into())
        );
    }

    #[test]
    fn wire_bytes() {
        let e = ProtocolError::new(TcpError::BadProtocol, "");
        assert_eq!(e.to_bytes(), b"E_BAD_PROTOCOL");
        let e = ProtocolError::invalid("client must IDENTIFY");
        assert_eq!(e.to_bytes(), b"E_INVALID client must IDENTIFY");
        assert_eq!(e.to_string(), "E_INVALID client must IDENTIFY");
        let e = ProtocolError::bad_body("IDENTIFY missing fields");
        assert_eq!(e.to_bytes(), b"E_BAD_BODY IDENTIFY missing fields");
    }

    #[test]
    fn echo_is_bounded() {
        let long = vec![b'A'; 10_000];
        let msg = parse_command(&long).unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.ends_with("...(10000 bytes)"));
    }

    #[test]
    fn body_length() {
        assert_eq!(identify_body_len(10i32.to_be_bytes(), 100), Ok(10));
        assert_eq!(identify_body_len(0i32.to_be_bytes(), 100), Ok(0));
        assert_eq!(
            identify_body_len((-1i32).to_be_bytes(), 100)
                .unwrap_err()
                .to_string(),
            "E_BAD_BODY IDENTIFY invalid body size -1"
        );
        assert!(identify_body_len(101i32.to_be_bytes(), 100).is_err());
    }

    #[test]
    fn framing() {
        let mut out = Vec::new();
        frame(&mut out, b"OK");
        assert_eq!(out, b"\x00\x00\x00\x02OK");
    }

    #[test]
    fn trimming_matches_go() {
        assert_eq!(trim_space(b" \t\r\n x y \x0b\x0c"), b"x y");
        assert_eq!(trim_space(b"\xe3\x80\x80x\xe2\x80\xa8"), b"x");
        assert_eq!(trim_space(b"\xffx "), b"\xffx");
        assert_eq!(trim_space(b"x\xc2"), b"x\xc2");
        assert_eq!(trim_space(b""), b"");
        assert_eq!(trim_space(b"   "), b"");
    }

    #[test]
    fn example_parse_command() {
        use crate::tcp::codec::{parse_command, Command};
        assert_eq!(parse_command(b"PING\r").unwrap(), Command::Ping);
        let err = parse_command(b"NOPE").unwrap_err();
        assert_eq!(err.to_string(), "E_INVALID invalid command NOPE");
    }
}
