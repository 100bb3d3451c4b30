//! The `nsqlookupd` binary: a drop-in for the Go one.
//!
//! Thin on purpose: it reads the Go command line and config file into
//! `Options`, starts a `Handle`, waits for SIGINT or SIGTERM, and stops.

use std::process::exit;

use lookupd::config::cli::{self, Action};
use lookupd::logging::{Level, Logger};
use lookupd::version::version_line;
use lookupd::Handle;

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (options, warnings) = match cli::parse(&args) {
        Ok(Action::Run { options, warnings }) => (options, warnings),
        Ok(Action::Version) => {
            println!("{}", version_line());
            exit(0);
        }
        Ok(Action::Help) => {
            eprint!("{}", cli::usage());
            exit(0);
        }
        Err(e) => {
            let log = Logger::stderr(Level::Fatal, "[nsqlookupd] ");
            if e.exit_code == 2 {
                eprintln!("{e}");
                eprint!("{}", cli::usage());
            } else {
                log.log(Level::Fatal, format_args!("{e}"));
            }
            exit(e.exit_code);
        }
    };
    // Blocked before any thread starts, so every thread inherits the mask
    // and the signals stay queued for sigwait below.
    let signals = block_stop_signals();
    raise_fd_limit();
    let log = Logger::stderr(options.log_level, &options.log_prefix);
    for w in &warnings {
        log.log(Level::Warn, format_args!("{w}"));
    }
    let handle = match Handle::start_with_logger(*options, log.clone()) {
        Ok(h) => h,
        Err(e) => {
            let fatal = Logger::stderr(Level::Fatal, log.prefix());
            fatal.log(
                Level::Fatal,
                format_args!("failed to instantiate nsqlookupd - {e}"),
            );
            exit(1);
        }
    };
    let signal = wait_for(&signals);
    log.log(
        Level::Info,
        format_args!("received signal {signal}, stopping"),
    );
    handle.stop();
    exit(0);
}

fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data initialised by sigemptyset before use;
    // pthread_sigmask only reads the set we pass.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for(set: &libc::sigset_t) -> &'static str {
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: `set` was initialised by block_stop_signals and `sig` is a
        // valid out-pointer.
        let rc = unsafe { libc::sigwait(set, &mut sig) };
        if rc == 0 {
            return if sig == libc::SIGINT {
                "interrupt"
            } else {
                "terminated"
            };
        }
    }
}

/// Go (since 1.19) raises the soft open-file limit to the hard one at
/// start; operators running thousands of nsqd rely on it.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
