//! The operating system calls lookupd makes that the standard library
//! does not: each is a thin, safe wrapper with its `// SAFETY:` reason, so
//! `unsafe` outside the C ABI lives here, in one place. A leaf: it
//! imports nothing of the crate.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The OS hostname (empty if it cannot be read).
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which gethostname
    // writes at most `len` bytes into.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// A moment in local time: year, month (1-12), day, hour, minute, second.
pub(crate) fn local_time(unix_secs: u64) -> Option<[i32; 6]> {
    let secs = libc::time_t::try_from(unix_secs).ok()?;
    // SAFETY: `tm` is plain data that localtime_r fully initialises on
    // success; both pointers are valid for the duration of the call and
    // localtime_r is the thread-safe variant.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some([
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
    ])
}

/// Listens again on a listening socket with a backlog of `backlog` (the
/// kernel caps it at `somaxconn`): std listens with 128. Linux and the
/// BSDs allow it; only the backlog changes.
pub(crate) fn set_listen_backlog(listener: &impl AsRawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen on a descriptor we own takes plain integers.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether an IPv6 socket refuses IPv4 peers (`net.ipv6.bindv6only`).
pub(crate) fn is_v6_only(socket: &impl AsRawFd) -> bool {
    getsockopt(socket, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY).map_or(true, |v| v != 0)
}

/// Hands the memory malloc keeps free back to the OS (glibc; elsewhere
/// nothing).
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it may be called at
    // any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lowers the calling thread's scheduling priority to nice 10 (Linux;
/// elsewhere nothing), so that when the machine is busy its work comes
/// after serving.
pub(crate) fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take and return plain integers;
    // PRIO_PROCESS with a thread id changes that thread only (Linux).
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// Raises the open-file soft limit to the hard limit.
pub(crate) fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Tells the service manager how the daemon is doing, by systemd's
/// `sd_notify` protocol: one datagram (`READY=1`, `STOPPING=1`) to the
/// unix socket `$NOTIFY_SOCKET` names (a path, or `@name` in the abstract
/// namespace). Nothing when the variable is not set; a failure is
/// returned for the caller to log.
pub(crate) fn notify_supervisor(state: &str) -> io::Result<bool> {
    use std::os::unix::net::UnixDatagram;
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_encoded_bytes();
    match bytes.strip_prefix(b"@") {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(name) => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        }
        _ => {
            socket.send_to(state.as_bytes(), &target)?;
        }
    }
    Ok(true)
}

/// SIGINT and SIGTERM, blocked so that they queue for [`StopSignals::wait`]
/// instead of killing the process.
pub(crate) struct StopSignals(libc::sigset_t);

impl StopSignals {
    /// Blocks the two signals in the calling thread, and so in every thread
    /// it starts afterwards.
    pub(crate) fn block() -> StopSignals {
        // SAFETY: sigset_t is plain data initialised by sigemptyset before
        // use; pthread_sigmask only reads the set we pass.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            StopSignals(set)
        }
    }

    /// Waits for one of them: Go's name for it.
    pub(crate) fn wait(&self) -> &'static str {
        let mut sig: libc::c_int = 0;
        loop {
            // SAFETY: the set was initialised by `block`, and `sig` is a
            // valid out-pointer.
            let rc = unsafe { libc::sigwait(&self.0, &mut sig) };
            if rc == 0 {
                return if sig == libc::SIGINT {
                    "interrupt"
                } else {
                    "terminated"
                };
            }
        }
    }
}

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

fn getsockopt(
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
