//! IDENTIFY: what an nsqd tells lookupd about itself, and the answer.
//!
//! Decoding follows Go's `encoding/json` into the original's `PeerInfo`
//! struct, because that is what nsqd (and anything else that speaks V1)
//! was written against: keys match case-insensitively, unknown keys are
//! ignored, `null` leaves a field empty, a value of the wrong JSON type is
//! an error, invalid UTF-8 is replaced rather than refused, and
//! `broadcast_address`, `tcp_port`, `http_port` and `version` are required.
//! Where Go accepts nonsense (ports of -1 or 70000) we refuse it.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::codec::ProtocolError;
use crate::json;
use crate::registry::PeerInfo;
use crate::version::NSQ_VERSION;

/// Decodes an IDENTIFY body for a connection from `remote_address`.
pub fn parse_identify(body: &[u8], remote_address: String) -> Result<PeerInfo, ProtocolError> {
    let text = String::from_utf8_lossy(body);
    let raw: RawPeer = serde_json::from_str(&text)
        .map_err(|_| ProtocolError::bad_body("IDENTIFY failed to decode JSON body"))?;
    let RawPeer(fields) = raw;
    let fields = fields.unwrap_or_default();
    if fields.broadcast_address.is_empty()
        || fields.tcp_port == 0
        || fields.http_port == 0
        || fields.version.is_empty()
    {
        return Err(ProtocolError::bad_body("IDENTIFY missing fields"));
    }
    let port = |name: &str, value: i64| {
        u16::try_from(value)
            .map_err(|_| ProtocolError::bad_body(format!("IDENTIFY invalid {name} {value}")))
    };
    Ok(PeerInfo {
        remote_address,
        hostname: fields.hostname,
        broadcast_address: fields.broadcast_address,
        tcp_port: port("tcp_port", fields.tcp_port)?,
        http_port: port("http_port", fields.http_port)?,
        version: fields.version,
        topology_zone: fields.topology_zone,
        topology_region: fields.topology_region,
    })
}

/// The IDENTIFY reply: who this lookupd is, as Go words it.
pub fn reply(broadcast_address: &str, hostname: &str, tcp_port: u16, http_port: u16) -> Vec<u8> {
    #[derive(Serialize)]
    struct Reply<'a> {
        broadcast_address: &'a str,
        hostname: &'a str,
        http_port: u16,
        tcp_port: u16,
        version: &'a str,
    }
    json::to_vec(&Reply {
        broadcast_address,
        hostname,
        http_port,
        tcp_port,
        version: NSQ_VERSION,
    })
}

/// The body as decoded, before validation. `None` is a JSON `null` body,
/// which Go accepts (and then reports missing fields).
struct RawPeer(Option<Fields>);

#[derive(Default)]
struct Fields {
    hostname: String,
    broadcast_address: String,
    tcp_port: i64,
    http_port: i64,
    version: String,
    topology_zone: String,
    topology_region: String,
}

impl<'de> Deserialize<'de> for RawPeer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PeerVisitor)
    }
}

struct PeerVisitor;

impl<'de> Visitor<'de> for PeerVisitor {
    type Value = RawPeer;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawPeer, E> {
        Ok(RawPeer(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPeer, A::Error> {
        let mut f = Fields::default();
        // Keys are taken in document order, so a repeated key's last value
        // wins, as in Go.
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let is = |name: &str| key.eq_ignore_ascii_case(name);
            if is("hostname") {
                set_str(&mut f.hostname, map.next_value()?);
            } else if is("broadcast_address") {
                set_str(&mut f.broadcast_address, map.next_value()?);
            } else if is("tcp_port") {
                set_int(&mut f.tcp_port, map.next_value()?);
            } else if is("http_port") {
                set_int(&mut f.http_port, map.next_value()?);
            } else if is("version") {
                set_str(&mut f.version, map.next_value()?);
            } else if is("topology_zone") {
                set_str(&mut f.topology_zone, map.next_value()?);
            } else if is("topology_region") {
                set_str(&mut f.topology_region, map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(RawPeer(Some(f)))
    }
}

fn set_str(field: &mut String, value: Option<String>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn set_int(field: &mut i64, value: Option<i64>) {
    if let Some(v) = value {
        *field = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<PeerInfo, String> {
        parse_identify(body.as_bytes(), "127.0.0.1:9".into()).map_err(|e| e.to_string())
    }

    const FULL: &str = r#"{"broadcast_address":"b","hostname":"h","tcp_port":1,"http_port":2,"version":"v","topology_zone":"z","topology_region":"r","extra":[1,{"a":null}]}"#;

    #[test]
    fn decodes_every_field() {
        let p = parse(FULL).unwrap();
        assert_eq!(
            p,
            PeerInfo {
                remote_address: "127.0.0.1:9".into(),
                hostname: "h".into(),
                broadcast_address: "b".into(),
                tcp_port: 1,
                http_port: 2,
                version: "v".into(),
                topology_zone: "z".into(),
                topology_region: "r".into(),
            }
        );
    }

    #[test]
    fn keys_match_case_insensitively_and_last_wins() {
        let p = parse(
            r#"{"BROADCAST_ADDRESS":"b","Tcp_Port":1,"http_port":2,"http_port":3,"VERSION":"v"}"#,
        )
        .unwrap();
        assert_eq!((p.broadcast_address.as_str(), p.http_port), ("b", 3));
    }

    #[test]
    fn missing_and_null_fields() {
        for body in [
            "null",
            "{}",
            r#"{"broadcast_address":"b","tcp_port":1,"http_port":2}"#,
            r#"{"broadcast_address":"b","tcp_port":0,"http_port":2,"version":"v"}"#,
            r#"{"broadcast_address":null,"tcp_port":1,"http_port":2,"version":"v"}"#,
        ] {
            assert_eq!(
                parse(body),
                Err("E_BAD_BODY IDENTIFY missing fields".into()),
                "{body}"
            );
        }
    }

    #[test]
    fn wrong_types_and_bad_json() {
        for body in [
            "",
            "{",
            "[]",
            "42",
            "\"str\"",
            r#"{"broadcast_address":"b","tcp_port":"1","http_port":2,"version":"v"}"#,
            r#"{"broadcast_address":"b","tcp_port":1.0,"http_port":2,"version":"v"}"#,
            r#"{"broadcast_address":1,"tcp_port":1,"http_port":2,"version":"v"}"#,
            r#"{"broadcast_address":"b","tcp_port":1e2,"http_port":2,"version":"v"}"#,
            r#"{"broadcast_address":"b","tcp_port":99999999999999999999,"http_port":2,"version":"v"}"#,
        ] {
            assert_eq!(
                parse(body),
                Err("E_BAD_BODY IDENTIFY failed to decode JSON body".into()),
                "{body}"
            );
        }
    }

    #[test]
    fn out_of_range_ports() {
        assert_eq!(
            parse(r#"{"broadcast_address":"b","tcp_port":-1,"http_port":2,"version":"v"}"#),
            Err("E_BAD_BODY IDENTIFY invalid tcp_port -1".into())
        );
        assert_eq!(
            parse(r#"{"broadcast_address":"b","tcp_port":1,"http_port":65536,"version":"v"}"#),
            Err("E_BAD_BODY IDENTIFY invalid http_port 65536".into())
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let body =
            b"{\"broadcast_address\":\"b\xff\",\"tcp_port\":1,\"http_port\":2,\"version\":\"v\"}";
        let p = parse_identify(body, "r".into()).unwrap();
        assert_eq!(p.broadcast_address, "b\u{fffd}");
    }

    #[test]
    fn example_parse_identify() {
        use crate::tcp::identify::parse_identify;
        let body = br#"{"broadcast_address":"10.0.0.7","tcp_port":4150,"http_port":4151,"version":"1.3.0"}"#;
        let peer = parse_identify(body, "10.0.0.7:51234".into()).unwrap();
        assert_eq!(peer.tcp_port, 4150);
    }
}
