//! The serving future is runtime-agnostic: run to completion under
//! `futures::executor::block_on` (not smol's), it serves real TCP and HTTP
//! clients, and returns when its shutdown future fires.

mod common;

use common::{test_options, HttpConn, Nsqd};
use lookupd::Lookupd;

#[test]
fn serves_under_the_futures_executor() {
    let server = Lookupd::bind(test_options()).expect("bind");
    let (tcp, http) = (server.tcp_addr(), server.http_addr());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let thread = std::thread::spawn(move || {
        futures_executor::block_on(server.run(async move {
            let _ = stopped.recv().await;
        }))
    });

    let mut n = Nsqd::connect_raw(tcp);
    n.send(b"  V1");
    n.identify(4150, 4151);
    assert_eq!(n.command("REGISTER orders billing"), "OK");
    let mut c = HttpConn::open(http);
    c.send("GET /lookup?topic=orders HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["channels"][0], "billing");
    assert_eq!(r.json()["producers"][0]["tcp_port"], 4150);

    stop.close();
    thread.join().expect("the serving future completed");
    n.assert_closed();
    assert!(c.is_closed());
    assert!(
        std::net::TcpStream::connect(tcp).is_err(),
        "listener closed"
    );
}
