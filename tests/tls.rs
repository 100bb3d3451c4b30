//! HTTPS from Rust: an instance serving `https_address` with a
//! certificate made by the test, and a rustls client (the ring provider,
//! as the server uses) that trusts that certificate and nothing else. The
//! same answers as plain HTTP; plain HTTP sent to the HTTPS port, and a
//! client that does not trust the certificate, fail cleanly and leave the
//! instance serving.

mod common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use common::*;
use futures_rustls::rustls::crypto::ring::default_provider;
use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::rustls::{
    CertificateError, ClientConfig, ClientConnection, Error as TlsError, RootCertStore, StreamOwned,
};
use lookupd::Handle;

/// An instance serving HTTPS on a loopback port of its own.
fn start_https(cert: &TestCert) -> Handle {
    let (c, k) = (cert.cert.clone(), cert.key.clone());
    start_with(move |o| {
        o.https_address = "127.0.0.1:0".into();
        o.tls_cert = c.to_str().unwrap().into();
        o.tls_key = k.to_str().unwrap().into();
    })
}

/// A client configuration trusting `roots` only.
fn client(roots: RootCertStore) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn trusting(cert: &TestCert) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der()).unwrap();
    client(roots)
}

type Tls = BufReader<StreamOwned<ClientConnection, TcpStream>>;

/// A TLS connection to `addr` as `127.0.0.1`; the handshake runs with the
/// first write.
fn connect(config: &Arc<ClientConfig>, addr: SocketAddr) -> Tls {
    let name = ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let conn = ClientConnection::new(config.clone(), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    BufReader::new(StreamOwned::new(conn, tcp))
}

/// One request over its own TLS connection.
fn https_get(config: &Arc<ClientConfig>, addr: SocketAddr, path: &str) -> Response {
    let mut tls = connect(config, addr);
    write!(
        tls.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    tls.get_mut().flush().unwrap();
    read_response(&mut tls, false)
}

#[test]
fn https_answers_as_http_does() {
    let cert = TestCert::new("answers");
    let h = start_https(&cert);
    let https = h.https_addr().expect("HTTPS is served");
    assert_eq!(https.ip(), std::net::IpAddr::from([127, 0, 0, 1]));
    assert_ne!(https.port(), 0);
    assert_ne!(https.port(), h.http_addr().port());
    let config = trusting(&cert);

    let ping = https_get(&config, https, "/ping");
    assert_eq!((ping.status, ping.body_str().as_str()), (200, "OK"));

    let _n = Nsqd::registered(&h, 4151, &["orders billing"]);
    let over_tls = https_get(&config, https, "/lookup?topic=orders");
    assert_eq!(over_tls.status, 200);
    assert_eq!(
        over_tls.body,
        get(&h, "/lookup?topic=orders").body,
        "the same body as plain HTTP"
    );
    assert_eq!(over_tls.json()["channels"][0], "billing");
    assert_eq!(
        https_get(&config, https, "/lookup?topic=missing").status,
        404
    );

    // Keep-alive: two requests on one TLS connection.
    let mut tls = connect(&config, https);
    for _ in 0..2 {
        tls.get_mut()
            .write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut tls, false).body, b"OK");
    }
    h.stop();
}

#[test]
fn plain_http_to_the_https_port_fails_cleanly() {
    let cert = TestCert::new("plain");
    let h = start_https(&cert);
    let https = h.https_addr().unwrap();
    let mut plain = TcpStream::connect(https).unwrap();
    plain.set_read_timeout(Some(TIMEOUT)).unwrap();
    plain
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // No HTTP answer: at most a TLS alert, then the server closes (a read
    // timeout would fail this read instead).
    let mut reply = Vec::new();
    match plain.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed by the server: {e}"),
    }
    assert!(!reply.starts_with(b"HTTP/"), "{reply:?}");
    if let Some(&first) = reply.first() {
        assert_eq!(first, 0x15, "a TLS alert record: {reply:?}");
    }
    // Both listeners still serve.
    assert_eq!(get(&h, "/ping").body, b"OK");
    assert_eq!(https_get(&trusting(&cert), https, "/ping").body, b"OK");
    h.stop();
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_the_handshake() {
    let cert = TestCert::new("untrusted");
    let other = TestCert::new("other");
    let h = start_https(&cert);
    let https = h.https_addr().unwrap();
    for config in [client(RootCertStore::empty()), trusting(&other)] {
        let mut tls = connect(&config, https);
        let err = tls
            .get_mut()
            .write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .and_then(|()| tls.get_mut().flush())
            .and_then(|()| tls.read(&mut [0u8; 1]))
            .expect_err("the handshake must fail");
        let tls_err = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<TlsError>())
            .unwrap_or_else(|| panic!("not a TLS error: {err}"));
        assert!(
            matches!(
                tls_err,
                TlsError::InvalidCertificate(CertificateError::UnknownIssuer)
            ),
            "{tls_err:?}"
        );
    }
    assert_eq!(https_get(&trusting(&cert), https, "/ping").body, b"OK");
    h.stop();
}

#[test]
fn without_https_address_no_https_is_served() {
    let h = start();
    assert_eq!(h.https_addr(), None);
    h.stop();
}
