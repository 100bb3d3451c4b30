//! The HTTP API: every endpoint, every error, headers and connection
//! handling, as Go nsqlookupd 1.3.0 answers (captured from the Go binary).

mod common;

use common::*;

const JSON: &str = "application/json; charset=utf-8";

fn assert_v1_json(r: &Response) {
    assert_eq!(r.header("content-type"), Some(JSON));
    assert_eq!(r.header("x-nsq-content-type"), Some("nsq; version=1.0"));
}

fn assert_error(r: &Response, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.body_str());
    assert_v1_json(r);
    assert_eq!(r.body_str(), format!("{{\"message\":\"{message}\"}}"));
}

#[test]
fn ping_is_plain_ok() {
    let h = start();
    let r = get(&h, "/ping");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"OK");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("x-nsq-content-type"), None);
    assert!(r.header("date").is_some());
    assert_eq!(get(&h, "/ping?x=1").body, b"OK");
}

#[test]
fn info_reports_the_nsq_version() {
    let h = start();
    let r = get(&h, "/info");
    assert_v1_json(&r);
    assert_eq!(r.body_str(), r#"{"version":"1.3.0"}"#);
}

#[test]
fn header_names_are_canonical() {
    let h = start();
    let mut c = HttpConn::open(h.http_addr());
    c.send("GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = c.read(false);
    let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"X-Nsq-Content-Type"), "{names:?}");
    assert!(names.contains(&"Content-Type"), "{names:?}");
}

#[test]
fn empty_database() {
    let h = start();
    assert_eq!(get(&h, "/topics").body_str(), r#"{"topics":[]}"#);
    assert_eq!(get(&h, "/nodes").body_str(), r#"{"producers":[]}"#);
    assert_eq!(get(&h, "/debug").body_str(), "{}");
    assert_eq!(
        get(&h, "/channels?topic=t").body_str(),
        r#"{"channels":[]}"#
    );
    assert_error(&get(&h, "/lookup?topic=t"), 404, "TOPIC_NOT_FOUND");
}

#[test]
fn missing_and_bad_arguments() {
    let h = start();
    assert_error(&get(&h, "/lookup"), 400, "MISSING_ARG_TOPIC");
    assert_error(&get(&h, "/channels"), 400, "MISSING_ARG_TOPIC");
    assert_error(&post(&h, "/topic/create"), 400, "MISSING_ARG_TOPIC");
    assert_error(&post(&h, "/topic/delete"), 400, "MISSING_ARG_TOPIC");
    assert_error(&post(&h, "/topic/tombstone"), 400, "MISSING_ARG_TOPIC");
    assert_error(
        &post(&h, "/topic/tombstone?topic=t"),
        400,
        "MISSING_ARG_NODE",
    );
    assert_error(&post(&h, "/channel/create"), 400, "MISSING_ARG_TOPIC");
    assert_error(
        &post(&h, "/channel/create?topic=t"),
        400,
        "MISSING_ARG_CHANNEL",
    );
    assert_error(
        &post(&h, "/channel/delete?topic=t"),
        400,
        "MISSING_ARG_CHANNEL",
    );
    assert_error(
        &post(&h, "/topic/create?topic=bad$"),
        400,
        "INVALID_ARG_TOPIC",
    );
    assert_error(
        &post(&h, "/channel/create?topic=bad$&channel=c"),
        400,
        "INVALID_ARG_TOPIC",
    );
    assert_error(
        &post(&h, "/channel/create?topic=t&channel=bad$"),
        400,
        "INVALID_ARG_CHANNEL",
    );
    assert_error(
        &post(&h, "/channel/delete?topic=t&channel=bad$"),
        400,
        "INVALID_ARG_CHANNEL",
    );
    assert_error(&get(&h, "/lookup?topic=a;b"), 400, "INVALID_REQUEST");
    assert_error(&get(&h, "/lookup?topic=%zz"), 400, "INVALID_REQUEST");
    assert_error(&post(&h, "/topic/create?topic=%zz"), 400, "INVALID_REQUEST");
    // Endpoints without arguments never parse the query, as in Go.
    for path in ["/topics?%zz", "/nodes?a;b", "/info?topic=%", "/debug?x=%zz"] {
        let r = get(&h, path);
        assert_eq!(r.status, 200, "{path}");
        assert_v1_json(&r);
    }
    assert_eq!(get(&h, "/ping?%zz").body_str(), "OK");
    // An empty or invalid name is not registered, as in Go.
    assert_error(&get(&h, "/lookup?topic="), 404, "TOPIC_NOT_FOUND");
    assert_error(&get(&h, "/lookup?topic=bad$"), 404, "TOPIC_NOT_FOUND");
}

#[test]
fn create_and_delete_topics_and_channels() {
    let h = start();
    let r = post(&h, "/topic/create?topic=x");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-type"), None);
    assert_eq!(r.header("x-nsq-content-type"), Some("nsq; version=1.0"));
    assert_eq!(post(&h, "/channel/create?topic=y&channel=ch").status, 200);
    assert_eq!(strings(&get(&h, "/topics").json()["topics"]), ["x", "y"]);
    assert_eq!(
        get(&h, "/lookup?topic=y").body_str(),
        r#"{"channels":["ch"],"producers":[]}"#
    );
    assert_error(
        &post(&h, "/channel/delete?topic=y&channel=nope"),
        404,
        "CHANNEL_NOT_FOUND",
    );
    assert_error(
        &post(&h, "/channel/delete?topic=nope&channel=ch"),
        404,
        "CHANNEL_NOT_FOUND",
    );
    assert_eq!(post(&h, "/channel/delete?topic=y&channel=ch").status, 200);
    assert_eq!(
        get(&h, "/channels?topic=y").body_str(),
        r#"{"channels":[]}"#
    );
    assert_eq!(post(&h, "/topic/delete?topic=never").status, 200);
    assert_eq!(post(&h, "/channel/create?topic=y&channel=c2").status, 200);
    assert_eq!(post(&h, "/topic/delete?topic=y").status, 200);
    assert_eq!(strings(&get(&h, "/topics").json()["topics"]), ["x"]);
    assert!(strings(&get(&h, "/channels?topic=y").json()["channels"]).is_empty());
}

#[test]
fn topics_follow_every_change_of_the_topic_set() {
    // The /topics answer is kept between changes; every way a topic key
    // comes or goes must show at once.
    let h = start();
    let topics = || strings(&get(&h, "/topics").json()["topics"]);
    assert!(topics().is_empty());
    assert_eq!(post(&h, "/topic/create?topic=a").status, 200);
    assert_eq!(topics(), ["a"]);
    let mut n = Nsqd::registered(&h, 4151, &["b", "e#ephemeral c"]);
    assert_eq!(topics(), ["a", "b", "e#ephemeral"]);
    assert_eq!(n.command("REGISTER b"), "OK");
    assert_eq!(topics(), ["a", "b", "e#ephemeral"]);
    assert_eq!(n.command("UNREGISTER e#ephemeral"), "OK");
    assert_eq!(topics(), ["a", "b"]);
    assert_eq!(post(&h, "/topic/delete?topic=a").status, 200);
    assert_eq!(topics(), ["b"]);
    assert_eq!(n.command("REGISTER e#ephemeral"), "OK");
    assert_eq!(topics(), ["b", "e#ephemeral"]);
    n.disconnect(&h);
    assert_eq!(topics(), ["b"], "an ephemeral topic goes with its producer");
}

#[test]
fn delete_topic_removes_registered_producers_too() {
    let h = start();
    let mut n = Nsqd::registered(&h, 4151, &["t c", "u"]);
    assert_eq!(post(&h, "/topic/delete?topic=t").status, 200);
    assert_error(&get(&h, "/lookup?topic=t"), 404, "TOPIC_NOT_FOUND");
    let nodes = get(&h, "/nodes").json();
    assert_eq!(strings(&nodes["producers"][0]["topics"]), ["u"]);
    // nsqd later unregisters what was deleted: still OK.
    assert_eq!(n.command("UNREGISTER t c"), "OK");
    assert_eq!(n.command("UNREGISTER t"), "OK");
    assert_eq!(n.command("REGISTER t"), "OK");
    assert_eq!(lookup_ports(&h, "t"), [4151]);
}

#[test]
fn wildcard_is_not_special() {
    let h = start();
    let _n = Nsqd::registered(&h, 4151, &["t c", "u d"]);
    assert_error(&get(&h, "/lookup?topic=*"), 404, "TOPIC_NOT_FOUND");
    assert_eq!(
        get(&h, "/channels?topic=*").body_str(),
        r#"{"channels":[]}"#
    );
    assert_error(&post(&h, "/topic/delete?topic=*"), 400, "INVALID_ARG_TOPIC");
    assert_error(
        &post(&h, "/topic/tombstone?topic=*&node=127.0.0.1:4151"),
        400,
        "INVALID_ARG_TOPIC",
    );
    assert_error(
        &post(&h, "/channel/delete?topic=t&channel=*"),
        400,
        "INVALID_ARG_CHANNEL",
    );
    assert_eq!(strings(&get(&h, "/topics").json()["topics"]), ["t", "u"]);
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    assert_eq!(lookup_ports(&h, "u"), [4151]);
}

#[test]
fn lookup_and_nodes_fields() {
    let h = start();
    let n = Nsqd::registered(&h, 4151, &["t c", "t2"]);
    let remote = n.stream.local_addr().unwrap().to_string();
    let r = get(&h, "/lookup?topic=t");
    assert_v1_json(&r);
    assert_eq!(
        r.body_str(),
        format!(
            r#"{{"channels":["c"],"producers":[{{"remote_address":"{remote}","hostname":"fake-nsqd","broadcast_address":"127.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0","topology_zone":"","topology_region":""}}]}}"#
        )
    );
    let r = get(&h, "/nodes");
    assert_eq!(
        r.body_str(),
        format!(
            r#"{{"producers":[{{"remote_address":"{remote}","hostname":"fake-nsqd","broadcast_address":"127.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0","topology_zone":"","topology_region":"","tombstones":[false,false],"topics":["t","t2"]}}]}}"#
        )
    );
}

#[test]
fn topology_fields_are_kept() {
    let h = start();
    let mut n = Nsqd::connect(&h);
    n.identify_body(br#"{"broadcast_address":"10.0.0.1","tcp_port":1,"http_port":2,"version":"v","topology_zone":"z1","topology_region":"r1"}"#);
    assert_eq!(n.command("REGISTER t"), "OK");
    let p = &get(&h, "/lookup?topic=t").json()["producers"][0];
    assert_eq!(p["topology_zone"], "z1");
    assert_eq!(p["topology_region"], "r1");
}

#[test]
fn debug_shows_every_registration() {
    let h = start();
    let n = Nsqd::registered(&h, 4151, &["t c"]);
    let remote = n.stream.local_addr().unwrap().to_string();
    post(&h, "/topic/create?topic=empty");
    let d = get(&h, "/debug").json();
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["channel:t:c", "client::", "topic:t:"]);
    let e = &d["topic:t:"][0];
    let fields: Vec<&String> = e.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "broadcast_address",
            "hostname",
            "http_port",
            "id",
            "last_update",
            "tcp_port",
            "tombstoned",
            "tombstoned_at",
            "topology_region",
            "topology_zone",
            "version"
        ]
    );
    assert_eq!(e["id"], remote);
    assert_eq!(e["tombstoned"], false);
    assert_eq!(e["tombstoned_at"], -6795364578871345152i64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!((e["last_update"].as_i64().unwrap() - now).abs() < 60_000_000_000);
}

#[test]
fn tombstone_hides_from_lookup_not_nodes() {
    let h = start();
    let _a = Nsqd::registered(&h, 4151, &["t c", "u"]);
    let _b = Nsqd::registered(&h, 4161, &["t"]);
    let r = post(&h, "/topic/tombstone?topic=t&node=127.0.0.1:4151");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(lookup_ports(&h, "t"), [4161]);
    assert_eq!(lookup_ports(&h, "u"), [4151], "tombstones are per topic");
    let nodes = get(&h, "/nodes").json();
    let a = &nodes["producers"][0];
    assert_eq!(a["http_port"], 4151);
    assert_eq!(strings(&a["topics"]), ["t", "u"]);
    assert_eq!(a["tombstones"], serde_json::json!([true, false]));
    // An unknown node or topic changes nothing.
    assert_eq!(
        post(&h, "/topic/tombstone?topic=t&node=127.0.0.1:9").status,
        200
    );
    assert_eq!(
        post(&h, "/topic/tombstone?topic=nope&node=127.0.0.1:4161").status,
        200
    );
    assert_eq!(lookup_ports(&h, "t"), [4161]);
}

#[test]
fn wrong_method_and_unknown_paths() {
    let h = start();
    let r = get(&h, "/topic/create");
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("OPTIONS, POST"));
    let r = post(&h, "/ping");
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
    let r = request(&h, "HEAD", "/ping");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
    assert_eq!(r.header("content-length"), Some("32"));
    let r = request(&h, "OPTIONS", "/lookup");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
    assert!(r.body.is_empty());
    assert_error(&get(&h, "/nope"), 404, "NOT_FOUND");
    assert_error(&get(&h, "/debug/pprof"), 404, "NOT_FOUND");
    assert_error(&request(&h, "PUT", "/nope"), 404, "NOT_FOUND");
}

#[test]
fn redirects_like_httprouter() {
    let h = start();
    for path in ["/ping/", "/PING", "//ping", "/./ping"] {
        let r = get(&h, path);
        assert_eq!(r.status, 301, "{path}");
        assert_eq!(r.header("location"), Some("/ping"), "{path}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.body_str(), "<a href=\"/ping\">Moved Permanently</a>.\n\n");
    }
    let r = get(&h, "/Lookup?topic=t&x=1");
    assert_eq!(r.header("location"), Some("/lookup?topic=t&x=1"));
    let r = post(&h, "/topic/create/?topic=t");
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("/topic/create?topic=t"));
    assert!(r.body.is_empty());
}

#[test]
fn percent_encoded_paths_and_args() {
    let h = start();
    assert_eq!(get(&h, "/p%69ng").body, b"OK");
    assert_eq!(post(&h, "/topic/create?topic=t%23ephemeral").status, 200);
    assert_eq!(
        strings(&get(&h, "/topics").json()["topics"]),
        ["t#ephemeral"]
    );
    assert_eq!(post(&h, "/topic/create?t%6Fpic=a&topic=b").status, 200);
    assert_eq!(
        strings(&get(&h, "/topics").json()["topics"]),
        ["a", "t#ephemeral"]
    );
}

#[test]
fn keep_alive_and_pipelining() {
    let h = start();
    let mut c = HttpConn::open(h.http_addr());
    c.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /info HTTP/1.1\r\nHost: x\r\n\r\nPOST /topic/create?topic=p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /topics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read(false).body, b"OK");
    assert_eq!(c.read(false).body_str(), r#"{"version":"1.3.0"}"#);
    assert_eq!(c.read(false).status, 200);
    assert_eq!(c.read(false).body_str(), r#"{"topics":["p"]}"#);
    // Still open for more.
    c.send("GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
}

#[test]
fn http_1_0() {
    let h = start();
    let mut c = HttpConn::open(h.http_addr());
    c.send("GET /ping HTTP/1.0\r\n\r\n");
    let r = c.read(false);
    assert_eq!((r.version.as_str(), r.status), ("HTTP/1.0", 200));
    assert_eq!(r.body, b"OK");
    assert!(c.is_closed(), "HTTP/1.0 without keep-alive closes");

    let mut c = HttpConn::open(h.http_addr());
    c.send("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read(false);
    assert_eq!(
        r.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("keep-alive")
    );
    c.send("GET /info HTTP/1.0\r\n\r\n");
    assert_eq!(c.read(false).body_str(), r#"{"version":"1.3.0"}"#);
    assert!(c.is_closed());
}

#[test]
fn expect_continue_and_bare_lf() {
    let h = start();
    let mut c = HttpConn::open(h.http_addr());
    c.send("POST /topic/create?topic=e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    let cont = c.read(true);
    assert_eq!(cont.status, 100);
    c.send("abc");
    assert_eq!(c.read(false).status, 200);
    c.send("GET /ping HTTP/1.1\nHost: x\n\n");
    assert_eq!(c.read(false).body, b"OK");
}

#[test]
fn garbage_requests_get_400_and_close() {
    let h = start();
    let mut c = HttpConn::open(h.http_addr());
    c.send("HELLO\r\n\r\n");
    assert_eq!(c.read(false).status, 400);
    let mut c = HttpConn::open(h.http_addr());
    c.send("GET /p%zzng HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read(false).status, 400);
    assert_eq!(get(&h, "/ping").status, 200, "still serving");
}

#[test]
fn concurrent_clients_see_the_same_answers() {
    let h = start();
    let _n = Nsqd::registered(&h, 4151, &["t c"]);
    let expected = get(&h, "/lookup?topic=t").body;
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let mut c = HttpConn::open(h.http_addr());
                for _ in 0..50 {
                    c.send("GET /lookup?topic=t HTTP/1.1\r\nHost: x\r\n\r\n");
                    assert_eq!(c.read(false).body, expected);
                }
            });
        }
    });
}
