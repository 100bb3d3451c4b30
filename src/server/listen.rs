//! Opening a listener as Go's `net.Listen` does: the address read Go's
//! way, an unspecified address bound dual-stack, the system's full listen
//! backlog, and bind errors in Go's words.

use std::io;
use std::net::SocketAddr;

use async_net::TcpListener;

use super::StartError;
use crate::config::listen_addr;
use crate::os;

/// The listen backlog asked for; the kernel caps it at `somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

pub(super) fn listen(address: &str) -> Result<TcpListener, StartError> {
    let bind_err = |source| StartError::Bind {
        address: address.to_owned(),
        source,
    };
    let addr = listen_addr(address)
        .map_err(|m| bind_err(io::Error::new(io::ErrorKind::InvalidInput, m)))?;
    let std_listener = bind_dual_stack(addr).map_err(bind_err)?;
    // std listens with a backlog of 128; Go uses the system maximum. When
    // a fleet of nsqd reconnects at once (after a restart), 128 drops SYNs
    // and costs them a 1 s retransmission. Listening again on a listening
    // socket only changes its backlog (Linux and the BSDs allow it).
    let _ = os::set_listen_backlog(&std_listener, LISTEN_BACKLOG);
    TcpListener::try_from(std_listener).map_err(bind_err)
}

/// Binds `addr`; for `0.0.0.0` (and `:port`), as Go does, all of IPv6 too:
/// a dual-stack `[::]` socket that also takes IPv4 clients (seen as
/// `1.2.3.4`, the mapped form is undone where addresses are shown). Where
/// the host has no IPv6, or its sockets are IPv6-only, that is `0.0.0.0`
/// alone.
fn bind_dual_stack(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    if addr.ip() == std::net::Ipv4Addr::UNSPECIFIED {
        let v6 = SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), addr.port());
        match std::net::TcpListener::bind(v6) {
            Ok(l) if !os::is_v6_only(&l) => return Ok(l),
            // In use is in use for IPv4 too: say so rather than bind half.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
            _ => {}
        }
    }
    std::net::TcpListener::bind(addr)
}

pub(super) fn local_addr(l: &TcpListener, address: &str) -> Result<SocketAddr, StartError> {
    l.local_addr().map_err(|source| StartError::Bind {
        address: address.to_owned(),
        source,
    })
}

/// A bind error as Go words it (`listen tcp 0.0.0.0:4160: bind: address
/// already in use`), not as Rust does (`Address already in use (os error
/// 98)`): operators and their scripts look for Go's words.
pub(super) fn bind_error_text(address: &str, e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let text = e.to_string();
    let text = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    let mut chars = text.chars();
    let lower: String = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("listen tcp {address}: bind: {lower}")
}
