//! Properties of the parsers on hostile input: the same entry points the
//! `cargo fuzz` targets drive (command lines, IDENTIFY bodies, HTTP request
//! targets), here with proptest so they run in CI on every change.

use lookupd::http::query::Query;
use lookupd::instance::State;
use lookupd::logging::{Level, Logger};
use lookupd::names::{self, Name};
use lookupd::tcp::codec::{parse_command, Command, ECHO_LIMIT};
use lookupd::tcp::identify::parse_identify;
use lookupd::Options;
use proptest::prelude::*;

fn name_strategy() -> impl Strategy<Value = String> {
    "[.a-zA-Z0-9_-]{1,54}(#ephemeral)?"
}

/// Bytes that look like protocol input: mostly printable, some spaces,
/// control bytes, UTF-8 spaces and invalid UTF-8.
fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            8 => proptest::sample::select(b"REGISTERUNREGISTERPINGIDENTIFY topic#ephemeral.-_*$".to_vec()),
            2 => Just(b' '),
            1 => any::<u8>(),
        ],
        0..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn command_parsing_never_panics_and_echoes_little(line in noisy_bytes()) {
        match parse_command(&line) {
            Ok(Command::Register(p)) | Ok(Command::Unregister(p)) => {
                match p.topic_channel() {
                    Ok((t, c)) => {
                        prop_assert!(names::is_valid(t.as_bytes()));
                        prop_assert!(c.is_none_or(|c| names::is_valid(c.as_bytes())));
                    }
                    Err(e) => {
                        prop_assert!(["E_INVALID", "E_BAD_TOPIC", "E_BAD_CHANNEL"].contains(&e.code.label()));
                        prop_assert!(e.desc.len() <= 2 * (ECHO_LIMIT * 3 + 60));
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                prop_assert_eq!(e.code.label(), "E_INVALID");
                prop_assert!(e.desc.len() <= ECHO_LIMIT * 3 + 60, "{} bytes", e.desc.len());
            }
        }
    }

    #[test]
    fn valid_registrations_round_trip(
        verb in prop_oneof![Just("REGISTER"), Just("UNREGISTER")],
        topic in name_strategy(),
        channel in proptest::option::of(name_strategy()),
        crlf in any::<bool>(),
    ) {
        let mut line = format!("{verb} {topic}");
        if let Some(c) = &channel {
            line.push(' ');
            line.push_str(c);
        }
        if crlf {
            line.push('\r');
        }
        let params = match parse_command(line.as_bytes()).unwrap() {
            Command::Register(p) | Command::Unregister(p) => p,
            other => panic!("{other:?}"),
        };
        let (t, c) = params.topic_channel().unwrap();
        prop_assert_eq!(t.as_str(), topic.as_str());
        prop_assert_eq!(c.map(|c| c.to_string()), channel);
    }

    #[test]
    fn identify_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Err(e) = parse_identify(&body, "r".into()) {
            prop_assert_eq!(e.code.label(), "E_BAD_BODY");
        }
    }

    #[test]
    fn identify_accepts_what_nsqd_sends(
        address in "[a-z0-9.:-]{1,40}",
        hostname in ".{0,20}",
        tcp in 1u16..,
        http in 1u16..,
        version in "[0-9a-z.+-]{1,12}",
        upper in any::<bool>(),
    ) {
        let key = |k: &str| if upper { k.to_uppercase() } else { k.to_owned() };
        let body = serde_json::json!({
            key("broadcast_address"): address,
            key("hostname"): hostname,
            key("tcp_port"): tcp,
            key("http_port"): http,
            key("version"): version,
        });
        let p = parse_identify(body.to_string().as_bytes(), "r".into()).unwrap();
        prop_assert_eq!((p.broadcast_address, p.hostname, p.tcp_port, p.http_port, p.version), (address, hostname, tcp, http, version));
    }

    #[test]
    fn query_strings_decode_what_was_encoded(pairs in proptest::collection::vec((".{0,10}", proptest::collection::vec(any::<u8>(), 0..20)), 0..5)) {
        let raw: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k.as_bytes()), encode(v)))
            .collect();
        let q = Query::parse(&raw.join("&")).unwrap();
        for (k, v) in &pairs {
            let first = pairs.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v).unwrap();
            if !k.is_empty() || !v.is_empty() {
                prop_assert_eq!(q.get(k), Some(first.as_slice()));
            }
        }
    }

    #[test]
    fn http_targets_get_an_answer_not_a_panic(
        method in prop_oneof![Just("GET"), Just("POST"), Just("HEAD"), Just("OPTIONS"), Just("PUT")],
        path in prop_oneof![
            Just("/lookup".to_owned()), Just("/topics".to_owned()), Just("/channels".to_owned()),
            Just("/nodes".to_owned()), Just("/debug".to_owned()), Just("/topic/create".to_owned()),
            Just("/topic/delete".to_owned()), Just("/channel/create".to_owned()),
            Just("/channel/delete".to_owned()), Just("/topic/tombstone".to_owned()),
            "/[a-zA-Z/.%0-9]{0,20}",
        ],
        query in "[a-z=&%;+*#0-9A-F]{0,40}",
    ) {
        let state = quiet_state();
        let target = format!("{path}?{query}");
        let (status, body) = lookupd::http::answer(&state, method, &target);
        prop_assert!([200, 301, 307, 400, 404, 405].contains(&status), "{} {} -> {}", method, target, status);
        // Errors are V1 JSON, except a path with a bad escape, which Go's
        // server itself refuses in plain text.
        if status >= 400 && body != b"400 Bad Request" {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            prop_assert!(v["message"].is_string());
        }
        state.read().check_invariants().unwrap();
    }
}

fn quiet_state() -> State {
    let mut opts = Options::default();
    opts.log_level = Level::Fatal;
    State::new(opts, Logger::stderr(Level::Fatal, ""), 0, 0)
}

fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn wildcard_never_matches_anything() {
    let state = quiet_state();
    lookupd::http::answer(&state, "POST", "/channel/create?topic=keep&channel=c");
    for target in [
        "/topic/delete?topic=*",
        "/channel/delete?topic=*&channel=*",
        "/topic/tombstone?topic=*&node=*",
    ] {
        assert_eq!(
            lookupd::http::answer(&state, "POST", target).0,
            400,
            "{target}"
        );
    }
    assert_eq!(
        lookupd::http::answer(&state, "GET", "/lookup?topic=*").0,
        404
    );
    assert!(state
        .read()
        .lookup(&Name::new(b"keep").unwrap(), state.now(), state.timeouts())
        .is_some());
}
