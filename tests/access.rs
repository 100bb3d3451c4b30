//! Access control: the bearer token on HTTP endpoints and the network
//! allow-lists, allowing and refusing exactly as documented. Off by
//! default, so an instance without options behaves as the Go original.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use lookupd::Handle;

const TOKEN: &str = "s3cr3t-t0ken";

fn with_token(reads_too: bool) -> Handle {
    start_with(|o| {
        o.http_auth_token = TOKEN.into();
        o.http_auth_reads = reads_too;
    })
}

/// A request with an optional Authorization header.
fn call(h: &Handle, method: &str, path: &str, auth: Option<&str>) -> Response {
    let mut c = HttpConn::open(h.http_addr());
    let header = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    c.send(&format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\n{header}Connection: close\r\n\r\n"
    ));
    c.read(method == "HEAD")
}

const WRITES: &[&str] = &[
    "/topic/create?topic=t",
    "/channel/create?topic=t&channel=c",
    "/topic/tombstone?topic=t&node=127.0.0.1:1",
    "/channel/delete?topic=t&channel=c",
    "/topic/delete?topic=t",
];
const READS: &[&str] = &[
    "/lookup?topic=t",
    "/topics",
    "/channels?topic=t",
    "/nodes",
    "/debug",
    "/info",
    "/metrics",
];

#[test]
fn without_a_token_everything_is_open() {
    let h = start();
    for path in WRITES {
        assert_eq!(call(&h, "POST", path, None).status, 200, "{path}");
    }
    assert_eq!(call(&h, "GET", "/topics", None).status, 200);
}

#[test]
fn a_token_guards_the_writes() {
    let h = with_token(false);
    let bearer = format!("Bearer {TOKEN}");
    for path in WRITES {
        let r = call(&h, "POST", path, None);
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.message(), "UNAUTHORIZED");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"nsqlookupd\"")
        );
        assert_eq!(r.header("x-nsq-content-type"), Some("nsq; version=1.0"));
        let r = call(&h, "POST", path, Some("Bearer wrong"));
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.message(), "FORBIDDEN");
        assert_eq!(
            call(&h, "POST", path, Some(&format!("Basic {TOKEN}"))).status,
            401
        );
        assert_eq!(call(&h, "POST", path, Some(&bearer)).status, 200, "{path}");
    }
    // Reads stay open, and refused writes changed nothing.
    for path in READS {
        let r = call(&h, "GET", path, None);
        assert!(r.status == 200 || r.status == 404, "{path}: {}", r.status);
    }
    assert_eq!(
        call(&h, "POST", "/topic/create?topic=x", Some("Bearer nope")).status,
        403
    );
    assert_eq!(get(&h, "/topics").body_str(), r#"{"topics":[]}"#);
    // Routing errors come before credentials, as for any request.
    assert_eq!(call(&h, "GET", "/topic/create", None).status, 405);
    assert_eq!(call(&h, "POST", "/nope", None).status, 404);
}

#[test]
fn reads_can_be_guarded_too_but_not_ping() {
    let h = with_token(true);
    for path in READS {
        assert_eq!(call(&h, "GET", path, None).status, 401, "{path}");
        assert_eq!(
            call(&h, "GET", path, Some("Bearer x")).status,
            403,
            "{path}"
        );
        let ok = call(&h, "GET", path, Some(&format!("bearer {TOKEN}")));
        assert!(
            ok.status == 200 || ok.status == 404,
            "{path}: {}",
            ok.status
        );
    }
    assert_eq!(call(&h, "GET", "/ping", None).body, b"OK");
    assert_eq!(call(&h, "POST", WRITES[0], None).status, 401);
}

#[test]
fn the_token_can_come_from_a_file() {
    let path = std::env::temp_dir().join(format!("lookupd-token-{}", std::process::id()));
    std::fs::write(&path, format!("  {TOKEN}\n")).unwrap();
    let h = start_with(|o| o.http_auth_token_file = path.display().to_string());
    assert_eq!(call(&h, "POST", WRITES[0], None).status, 401);
    assert_eq!(
        call(&h, "POST", WRITES[0], Some(&format!("Bearer {TOKEN}"))).status,
        200
    );
    std::fs::write(&path, "\n").unwrap();
    let mut o = test_options();
    o.http_auth_token_file = path.display().to_string();
    let err = Handle::start(o).unwrap_err().to_string();
    assert!(
        err.contains("http_auth_token_file") && err.contains("empty"),
        "{err}"
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn inconsistent_auth_options_are_refused() {
    let mut o = test_options();
    o.http_auth_reads = true;
    assert!(Handle::start(o)
        .unwrap_err()
        .to_string()
        .contains("http_auth_reads"));
    let mut o = test_options();
    o.http_auth_token = "a".into();
    o.http_auth_token_file = "/x".into();
    assert!(Handle::start(o)
        .unwrap_err()
        .to_string()
        .contains("http_auth_token_file"));
}

#[test]
fn tcp_allow_list_refuses_other_networks() {
    let (h, log) = start_logged(|o| o.tcp_allow = vec!["10.0.0.0/8".parse().unwrap()]);
    let mut n = Nsqd::connect(&h);
    n.assert_closed();
    // Counted before the refusal is logged.
    log.wait_for("TCP: refused client", TIMEOUT);
    assert_eq!(
        h.state().conns.tcp.refused_network.load(Ordering::Relaxed),
        1
    );
    assert_eq!(
        get(&h, "/ping").body,
        b"OK",
        "HTTP is not restricted by tcp_allow"
    );

    let h = start_with(|o| {
        o.tcp_allow = vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.0/8".parse().unwrap(),
        ]
    });
    let mut n = Nsqd::registered(&h, 4151, &["t"]);
    assert_eq!(n.command("PING"), "OK");
    assert_eq!(
        h.state().conns.tcp.refused_network.load(Ordering::Relaxed),
        0
    );
}

#[test]
fn http_allow_list_refuses_other_networks() {
    let (h, log) = start_logged(|o| o.http_allow = vec!["::1".parse().unwrap()]);
    let mut c = HttpConn::open(h.http_addr());
    assert!(c.is_closed());
    log.wait_for("HTTP: refused client", TIMEOUT);
    assert_eq!(
        h.state().conns.http.refused_network.load(Ordering::Relaxed),
        1
    );
    let mut n = Nsqd::connect(&h);
    assert_eq!(
        n.command("PING"),
        "OK",
        "TCP is not restricted by http_allow"
    );

    let h = start_with(|o| o.http_allow = vec!["127.0.0.1".parse().unwrap()]);
    assert_eq!(get(&h, "/ping").body, b"OK");
}

#[test]
fn settable_from_json_like_every_option() {
    let mut o = test_options();
    o.apply_json(r#"{"http_auth_token":"j","http_auth_reads":true,"tcp_allow":["127.0.0.1/32"],"http_allow":"127.0.0.0/8, ::1"}"#)
        .unwrap();
    assert!(o.http_auth_reads);
    assert_eq!(o.tcp_allow.len(), 1);
    assert_eq!(o.http_allow.len(), 2);
    let h = Handle::start(o).unwrap();
    assert_eq!(call(&h, "GET", "/topics", Some("Bearer j")).status, 200);
    assert_eq!(call(&h, "GET", "/topics", None).status, 401);
    let bad = lookupd::Options::default().apply_json(r#"{"tcp_allow":["10.0.0.0/99"]}"#);
    assert_eq!(bad.unwrap_err().key, "tcp_allow");
}
