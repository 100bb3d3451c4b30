//! The operating system calls lookupd makes that the standard library
//! does not: each is a thin, safe wrapper with its `// SAFETY:` reason, so
//! `unsafe` outside the C ABI lives here.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Turns on TCP keepalive, as Go's listeners do on every accepted
/// connection: the first probe after `idle` without traffic, then one
/// every `interval`, and the system's count of unanswered probes
/// (Linux: 9) before the kernel gives the connection up.
pub(crate) fn keepalive(
    socket: &impl AsRawFd,
    idle: Duration,
    interval: Duration,
) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    let secs = |d: Duration| libc::c_int::try_from(d.as_secs().max(1)).unwrap_or(libc::c_int::MAX);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(idle))?;
    #[cfg(target_os = "macos")]
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPALIVE, secs(idle))?;
    setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(interval))?;
    Ok(())
}

fn setsockopt(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a c_int we own, and its size is what we pass; an
    // invalid descriptor or option is reported as an error, not UB.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
pub(crate) fn getsockopt(
    socket: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` describe a c_int we own.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(v)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_sets_go_s_period() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        assert_eq!(
            getsockopt(&s, libc::SOL_SOCKET, libc::SO_KEEPALIVE).unwrap(),
            0
        );
        keepalive(&s, Duration::from_secs(15), Duration::from_secs(15)).unwrap();
        assert_ne!(
            getsockopt(&s, libc::SOL_SOCKET, libc::SO_KEEPALIVE).unwrap(),
            0
        );
        #[cfg(target_os = "linux")]
        {
            assert_eq!(
                getsockopt(&s, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE).unwrap(),
                15
            );
            assert_eq!(
                getsockopt(&s, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL).unwrap(),
                15
            );
        }
    }
}
