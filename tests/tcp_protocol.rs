//! The nsqd-facing TCP protocol, byte for byte as Go nsqlookupd 1.3.0
//! answers (captured from the Go binary).

mod common;

use common::*;

fn fatal(h: &lookupd::Handle, setup: &[&str], line: &[u8], expected: &str) {
    let mut n = Nsqd::connect(h);
    if !setup.is_empty() {
        n.identify(4150, 4151);
        for s in setup {
            assert_eq!(n.command(s), "OK");
        }
    }
    n.send(line);
    assert_eq!(
        n.read_str(),
        expected,
        "reply to {:?}",
        String::from_utf8_lossy(line)
    );
    n.assert_closed();
}

#[test]
fn bad_magic_is_refused_and_closed() {
    let h = start();
    let mut n = Nsqd::connect_raw(h.tcp_addr());
    n.send(b"  V2");
    assert_eq!(n.read(), b"E_BAD_PROTOCOL");
    n.assert_closed();
    let mut n = Nsqd::connect_raw(h.tcp_addr());
    n.send(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(n.read(), b"E_BAD_PROTOCOL");
}

#[test]
fn magic_split_across_writes() {
    let h = start();
    let mut n = Nsqd::connect_raw(h.tcp_addr());
    for b in b"  V1" {
        n.send(&[*b]);
        // Paces the writes so the bytes arrive apart (the behaviour under
        // test); no event says the server has read one.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(n.command("PING"), "OK");
}

#[test]
fn ping_works_before_and_after_identify() {
    let h = start();
    let mut n = Nsqd::connect(&h);
    assert_eq!(n.command("PING"), "OK");
    n.send(b"PING\r\n");
    assert_eq!(n.read_str(), "OK");
    assert_eq!(n.command("PING a b"), "OK");
    n.identify(4150, 4151);
    assert_eq!(n.command("PING"), "OK");
}

#[test]
fn identify_reply_describes_this_lookupd() {
    let h = start();
    let mut n = Nsqd::connect(&h);
    let reply = n.identify(4150, 4151);
    let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "broadcast_address",
            "hostname",
            "http_port",
            "tcp_port",
            "version"
        ]
    );
    assert_eq!(reply["tcp_port"], h.tcp_addr().port());
    assert_eq!(reply["http_port"], h.http_addr().port());
    assert_eq!(reply["broadcast_address"], "127.0.0.1");
    assert_eq!(reply["version"], "1.3.0");
    assert_eq!(reply["hostname"], lookupd::config::hostname());
}

#[test]
fn identify_with_argument_and_extra_fields() {
    let h = start();
    let mut n = Nsqd::connect(&h);
    n.send(b"IDENTIFY x\n");
    let body =
        br#"{"broadcast_address":"b","tcp_port":1,"http_port":2,"version":"v","extra":{"x":[1]}}"#;
    let mut msg = (body.len() as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(body);
    n.send(&msg);
    assert!(n.read_str().starts_with('{'));
    assert_eq!(n.command("REGISTER t"), "OK");
}

#[test]
fn identify_errors() {
    let h = start();
    let cases: &[(&[u8], &str)] = &[
        (
            br#"{"broadcast_address":"127.0.0.1"}"#,
            "E_BAD_BODY IDENTIFY missing fields",
        ),
        (b"{}", "E_BAD_BODY IDENTIFY missing fields"),
        (b"null", "E_BAD_BODY IDENTIFY missing fields"),
        (b"{bad", "E_BAD_BODY IDENTIFY failed to decode JSON body"),
        (b"", "E_BAD_BODY IDENTIFY failed to decode JSON body"),
        (
            br#"{"broadcast_address":"b","tcp_port":"1","http_port":2,"version":"v"}"#,
            "E_BAD_BODY IDENTIFY failed to decode JSON body",
        ),
        (
            br#"{"broadcast_address":"b","tcp_port":1,"http_port":70000,"version":"v"}"#,
            "E_BAD_BODY IDENTIFY invalid http_port 70000",
        ),
    ];
    for (body, expected) in cases {
        let mut n = Nsqd::connect(&h);
        assert_eq!(
            &n.identify_body(body),
            expected,
            "{}",
            String::from_utf8_lossy(body)
        );
        n.assert_closed();
    }
}

#[test]
fn identify_twice_is_fatal() {
    let h = start();
    let mut n = Nsqd::connect(&h);
    n.identify(4150, 4151);
    n.send(b"IDENTIFY\n");
    assert_eq!(n.read_str(), "E_INVALID cannot IDENTIFY again");
    n.assert_closed();
}

#[test]
fn commands_before_identify() {
    let h = start();
    fatal(&h, &[], b"REGISTER t\n", "E_INVALID client must IDENTIFY");
    fatal(&h, &[], b"UNREGISTER t\n", "E_INVALID client must IDENTIFY");
    // The IDENTIFY check comes before parameter checks, as in Go.
    fatal(&h, &[], b"REGISTER\n", "E_INVALID client must IDENTIFY");
    fatal(
        &h,
        &[],
        b"REGISTER bad$\n",
        "E_INVALID client must IDENTIFY",
    );
}

#[test]
fn invalid_commands() {
    let h = start();
    fatal(&h, &[], b"FOO\n", "E_INVALID invalid command FOO");
    fatal(&h, &[], b"ping\n", "E_INVALID invalid command ping");
    fatal(&h, &[], b"\n", "E_INVALID invalid command ");
    fatal(&h, &[], b"\r\n", "E_INVALID invalid command ");
    fatal(&h, &[], b"   \n", "E_INVALID invalid command ");
    fatal(&h, &["REGISTER t"], b"\n", "E_INVALID invalid command ");
}

#[test]
fn register_parameter_errors() {
    let h = start();
    let setup = &["PING"];
    fatal(
        &h,
        setup,
        b"REGISTER bad$\n",
        "E_BAD_TOPIC REGISTER topic name 'bad$' is not valid",
    );
    fatal(
        &h,
        setup,
        b"REGISTER t bad$\n",
        "E_BAD_CHANNEL REGISTER channel name 'bad$' is not valid",
    );
    fatal(
        &h,
        setup,
        b"REGISTER\n",
        "E_INVALID REGISTER insufficient number of params",
    );
    fatal(
        &h,
        setup,
        b"REGISTER \n",
        "E_INVALID REGISTER insufficient number of params",
    );
    fatal(
        &h,
        setup,
        b"REGISTER  t\n",
        "E_BAD_TOPIC REGISTER topic name '' is not valid",
    );
    fatal(
        &h,
        setup,
        b"UNREGISTER *\n",
        "E_BAD_TOPIC UNREGISTER topic name '*' is not valid",
    );
    fatal(
        &h,
        setup,
        b"UNREGISTER t *\n",
        "E_BAD_CHANNEL UNREGISTER channel name '*' is not valid",
    );
    let long = "a".repeat(65);
    fatal(
        &h,
        setup,
        format!("REGISTER {long}\n").as_bytes(),
        &format!("E_BAD_TOPIC REGISTER topic name '{long}' is not valid"),
    );
}

#[test]
fn register_forms_and_lookup() {
    let h = start();
    let mut n = Nsqd::connect(&h);
    n.identify(4150, 4151);
    assert_eq!(n.command("REGISTER t c extra"), "OK");
    n.send(b"REGISTER t2\r\n");
    assert_eq!(n.read_str(), "OK");
    assert_eq!(
        n.command("REGISTER t3  c"),
        "OK",
        "empty channel means none"
    );
    assert_eq!(n.command("REGISTER t#ephemeral c#ephemeral"), "OK");
    assert_eq!(
        strings(&get(&h, "/topics").json()["topics"]),
        ["t", "t#ephemeral", "t2", "t3"]
    );
    assert!(strings(&get(&h, "/channels?topic=t3").json()["channels"]).is_empty());
    let l = get(&h, "/lookup?topic=t").json();
    assert_eq!(strings(&l["channels"]), ["c"]);
    let p = &l["producers"][0];
    assert_eq!(p["broadcast_address"], "127.0.0.1");
    assert_eq!(p["hostname"], "fake-nsqd");
    assert_eq!(p["tcp_port"], 4150);
    assert_eq!(p["http_port"], 4151);
    assert_eq!(p["version"], "1.3.0");
    assert_eq!(
        p["remote_address"],
        n.stream.local_addr().unwrap().to_string()
    );
}

#[test]
fn pipelined_commands_are_all_answered_in_order() {
    let h = start();
    let mut n = Nsqd::connect_raw(h.tcp_addr());
    let body = br#"{"broadcast_address":"127.0.0.1","tcp_port":1,"http_port":2,"version":"v"}"#;
    let mut msg = b"  V1IDENTIFY\n".to_vec();
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes());
    msg.extend_from_slice(body);
    for i in 0..500 {
        msg.extend_from_slice(format!("REGISTER t{i} c\nPING\n").as_bytes());
    }
    msg.extend_from_slice(b"UNREGISTER t0\n");
    n.send(&msg);
    assert!(n.read_str().starts_with('{'));
    for _ in 0..1001 {
        assert_eq!(n.read_str(), "OK");
    }
    assert_eq!(
        get(&h, "/topics").json()["topics"]
            .as_array()
            .unwrap()
            .len(),
        500
    );
    assert!(lookup_ports(&h, "t0").is_empty());
    assert_eq!(lookup_ports(&h, "t1"), [2]);
}

#[test]
fn unregister_semantics() {
    let h = start();
    let mut n = Nsqd::registered(&h, 4151, &["t c1", "t c2"]);
    // Channel unregister keeps the channel key and the topic registration.
    assert_eq!(n.command("UNREGISTER t c1"), "OK");
    assert_eq!(
        strings(&get(&h, "/channels?topic=t").json()["channels"]),
        ["c1", "c2"]
    );
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    // Topic unregister drops the producer from the topic and its channels.
    assert_eq!(n.command("UNREGISTER t"), "OK");
    assert!(lookup_ports(&h, "t").is_empty());
    let debug = get(&h, "/debug").json();
    assert!(debug.get("channel:t:c2").is_none(), "{debug}");
    assert!(debug.get("client::").is_some());
    // Unregistering what is not registered is fine.
    assert_eq!(n.command("UNREGISTER never c"), "OK");
    assert_eq!(n.command("UNREGISTER never"), "OK");
}

#[test]
fn ephemeral_names_vanish_with_their_last_producer() {
    let h = start();
    let mut a = Nsqd::registered(
        &h,
        4151,
        &["t#ephemeral c#ephemeral", "t c#ephemeral", "t c"],
    );
    let mut b = Nsqd::registered(&h, 4161, &["t#ephemeral c#ephemeral"]);
    assert_eq!(a.command("UNREGISTER t#ephemeral c#ephemeral"), "OK");
    assert_eq!(
        strings(&get(&h, "/channels?topic=t%23ephemeral").json()["channels"]),
        ["c#ephemeral"]
    );
    assert_eq!(b.command("UNREGISTER t#ephemeral c#ephemeral"), "OK");
    assert!(strings(&get(&h, "/channels?topic=t%23ephemeral").json()["channels"]).is_empty());
    assert_eq!(a.command("UNREGISTER t#ephemeral"), "OK");
    assert_eq!(
        strings(&get(&h, "/topics").json()["topics"]),
        ["t", "t#ephemeral"]
    );
    assert_eq!(b.command("UNREGISTER t#ephemeral"), "OK");
    assert_eq!(strings(&get(&h, "/topics").json()["topics"]), ["t"]);
    // On disconnect: the ephemeral channel goes, the durable one stays.
    a.disconnect(&h);
    assert_eq!(
        strings(&get(&h, "/channels?topic=t").json()["channels"]),
        ["c"]
    );
    assert_eq!(strings(&get(&h, "/topics").json()["topics"]), ["t"]);
}

#[test]
fn disconnect_removes_every_registration_but_keeps_keys() {
    let h = start();
    let a = Nsqd::registered(&h, 4151, &["t c", "u"]);
    let _b = Nsqd::registered(&h, 4161, &["t c"]);
    assert_eq!(lookup_ports(&h, "t"), [4151, 4161]);
    a.disconnect(&h);
    assert_eq!(lookup_ports(&h, "t"), [4161]);
    assert!(lookup_ports(&h, "u").is_empty());
    assert_eq!(strings(&get(&h, "/topics").json()["topics"]), ["t", "u"]);
    let nodes = get(&h, "/nodes").json();
    assert_eq!(nodes["producers"].as_array().unwrap().len(), 1);
}

#[test]
fn error_echo_is_bounded() {
    let h = start();
    let mut n = Nsqd::connect(&h);
    n.send(format!("{}\n", "X".repeat(3000)).as_bytes());
    let reply = n.read_str();
    assert!(
        reply.starts_with("E_INVALID invalid command XXXX"),
        "{reply}"
    );
    assert!(reply.len() < 200, "{}", reply.len());
    n.assert_closed();
}
