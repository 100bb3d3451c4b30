//! The C ABI: start, query and stop an embedded lookupd from C, C++, Go or
//! Python.
//!
//! Every export returns a [`lookupd_result`] (0 is success) and writes its
//! outputs through out-parameters only on success. Every pointer is checked
//! for NULL, every string for UTF-8, and every body runs inside one panic
//! boundary (`error::boundary`), so nothing unwinds into the host. The
//! library never calls back into the host. A handle may be used from any
//! number of threads at once, except that `lookupd_stop` must be its last
//! use. `include/lookupd.h` is generated from this module by cbindgen.

mod calls;
mod error;
mod wait;

use std::ffi::{c_char, CStr, CString};
use std::sync::OnceLock;

use calls::{Call, Calls};
pub use error::lookupd_result;
use error::{boundary, Failure};
pub use wait::{
    lookupd_cancel, lookupd_cancel_fire, lookupd_cancel_free, lookupd_cancel_new,
    lookupd_wait_lookup, lookupd_wait_lookup_cancellable, lookupd_waiting,
};

use crate::config::Options;
use crate::handle::Handle;
use crate::instance::answers::TOPIC_NOT_FOUND;
use crate::instance::State;
use crate::server::StartError;

/// A running lookupd instance, opaque to the host.
#[allow(non_camel_case_types)]
pub struct lookupd {
    handle: Handle,
    /// The calls in progress, which `lookupd_stop` waits out.
    calls: Calls,
}

/// Reads a C string argument as UTF-8 bytes.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that stays valid
/// for the call.
unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string
    // valid for the duration of the call.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Failure(
            lookupd_result::LOOKUPD_ERR_UTF8,
            format!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// Borrows the instance behind a handle pointer for one call, which
/// `lookupd_stop` waits for.
///
/// # Safety
/// `h` must be NULL or a pointer returned by `lookupd_start` on which
/// `lookupd_stop` has not been called when this call began.
unsafe fn instance<'a>(h: *const lookupd) -> Result<Call<'a>, Failure> {
    // SAFETY: the caller promises `h` is NULL or a live handle; as_ref
    // handles NULL.
    let l = unsafe { h.as_ref() }.ok_or_else(|| Failure::null("handle"))?;
    Ok(l.calls.enter(l))
}

/// Writes a JSON answer to `out` as a newly allocated C string.
///
/// # Safety
/// `out` must be non-NULL (its callers, [`query`] and the waits, check)
/// and valid for a pointer write.
unsafe fn write_json(out: *mut *mut c_char, json: Vec<u8>) -> Result<(), Failure> {
    // JSON from serde_json never contains a raw NUL (it is escaped).
    let c = CString::new(json).map_err(|_| {
        Failure(
            lookupd_result::LOOKUPD_ERR_INTERNAL,
            "answer contained a NUL".into(),
        )
    })?;
    // SAFETY: the caller checked it is non-NULL and promises it is writable.
    unsafe { *out = c.into_raw() };
    Ok(())
}

/// Fails on a NULL out-parameter before any work is done. Every query
/// checks its handle, then its out-parameter, then its other arguments.
fn check_out(out: *mut *mut c_char) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::null("out_json"));
    }
    Ok(())
}

/// The shape of every query export: the handle is checked, then the
/// out-parameter, then `answer` runs on the instance's state and its JSON
/// is written to `*out_json`.
///
/// # Safety
/// `h` must be NULL or a live handle; `out_json` NULL or writable.
unsafe fn query(
    h: *const lookupd,
    out_json: *mut *mut c_char,
    answer: impl FnOnce(&State) -> Result<Vec<u8>, Failure>,
) -> lookupd_result {
    boundary(|| {
        // SAFETY: forwarded caller promise.
        let l = unsafe { instance(h) }?;
        check_out(out_json)?;
        let json = answer(l.handle.state())?;
        // SAFETY: forwarded caller promise.
        unsafe { write_json(out_json, json) }
    })
}

/// Starts an instance. `config_json` is NULL or a JSON object whose keys
/// are the TOML config file's (`tcp_address`, `http_address`,
/// `broadcast_address`, `inactive_producer_timeout`, `tombstone_lifetime`,
/// `log_level`, `log_prefix`) plus lookupd's own (`threads`, the bounds);
/// NULL or `"{}"` means the defaults. Port 0 picks a free port; read it
/// back with `lookupd_tcp_port`, `lookupd_http_port` and
/// `lookupd_https_port`.
///
/// On success `*out` receives the handle, which the caller owns and must
/// pass to `lookupd_stop` exactly once. Errors: `LOOKUPD_ERR_NULL` (out),
/// `LOOKUPD_ERR_UTF8`, `LOOKUPD_ERR_CONFIG` (names the bad key),
/// `LOOKUPD_ERR_BIND`, `LOOKUPD_ERR_START`.
///
/// # Safety
/// `config_json` must be NULL or a NUL-terminated string; `out` must be
/// NULL or valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn lookupd_start(
    config_json: *const c_char,
    out: *mut *mut lookupd,
) -> lookupd_result {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let mut opts = Options::default();
        if !config_json.is_null() {
            // SAFETY: non-NULL, and the caller promises a C string.
            let json = unsafe { c_str(config_json, "config_json") }?;
            opts.apply_json(json)
                .map_err(|e| Failure(lookupd_result::LOOKUPD_ERR_CONFIG, e.to_string()))?;
        }
        let handle = Handle::start(opts).map_err(|e| {
            let code = match e {
                StartError::Options(_) => lookupd_result::LOOKUPD_ERR_CONFIG,
                StartError::Bind { .. } => lookupd_result::LOOKUPD_ERR_BIND,
                StartError::Thread(_) => lookupd_result::LOOKUPD_ERR_START,
            };
            Failure(code, e.to_string())
        })?;
        let boxed = Box::into_raw(Box::new(lookupd {
            handle,
            calls: Calls::default(),
        }));
        // SAFETY: checked non-NULL above; the caller promises it is writable.
        unsafe { *out = boxed };
        Ok(())
    })
}

/// The shape of every port export: the handle is checked, then the
/// out-parameter, then `which` port is written to it.
///
/// # Safety
/// `h` must be NULL or a live handle; `out_port` NULL or writable.
unsafe fn port(
    h: *const lookupd,
    out_port: *mut u16,
    which: impl FnOnce(&Handle) -> u16,
) -> lookupd_result {
    boundary(|| {
        // SAFETY: forwarded caller promise.
        let l = unsafe { instance(h) }?;
        // SAFETY: as_mut handles NULL; otherwise the caller promises it is writable.
        let out = unsafe { out_port.as_mut() }.ok_or_else(|| Failure::null("out_port"))?;
        *out = which(&l.handle);
        Ok(())
    })
}

/// Writes the bound TCP port (the one nsqd connects to) to `*out_port`.
///
/// # Safety
/// `h` must be NULL or a live handle; `out_port` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_tcp_port(h: *const lookupd, out_port: *mut u16) -> lookupd_result {
    // SAFETY: forwarded caller promises.
    unsafe { port(h, out_port, |handle| handle.tcp_addr().port()) }
}

/// Writes the bound HTTP port to `*out_port`.
///
/// # Safety
/// `h` must be NULL or a live handle; `out_port` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_http_port(
    h: *const lookupd,
    out_port: *mut u16,
) -> lookupd_result {
    // SAFETY: forwarded caller promises.
    unsafe { port(h, out_port, |handle| handle.http_addr().port()) }
}

/// Writes the bound HTTPS port to `*out_port`: 0 when HTTPS is not served
/// (no `https_address` in the configuration).
///
/// # Safety
/// `h` must be NULL or a live handle; `out_port` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_https_port(
    h: *const lookupd,
    out_port: *mut u16,
) -> lookupd_result {
    // SAFETY: forwarded caller promises.
    unsafe {
        port(h, out_port, |handle| {
            handle.https_addr().map_or(0, |a| a.port())
        })
    }
}

/// The answer of `GET /lookup?topic=<topic>`: on success `*out_json`
/// receives exactly the JSON body HTTP would return, to be freed with
/// `lookupd_string_free`. A topic that is not registered (or not a valid
/// name) is `LOOKUPD_ERR_TOPIC_NOT_FOUND`, HTTP's 404.
///
/// # Safety
/// `h` must be NULL or a live handle; `topic` NULL or a C string;
/// `out_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_query_lookup(
    h: *const lookupd,
    topic: *const c_char,
    out_json: *mut *mut c_char,
) -> lookupd_result {
    let answer = |state: &State| {
        // SAFETY: forwarded caller promise.
        let topic = unsafe { c_str(topic, "topic") }?;
        state.lookup_json(topic.as_bytes()).map_err(|e| {
            if e == TOPIC_NOT_FOUND {
                Failure(
                    lookupd_result::LOOKUPD_ERR_TOPIC_NOT_FOUND,
                    format!("topic {topic:?} not found"),
                )
            } else {
                Failure(lookupd_result::LOOKUPD_ERR_INTERNAL, e.to_string())
            }
        })
    };
    // SAFETY: forwarded caller promises.
    unsafe { query(h, out_json, answer) }
}

/// The answer of `GET /topics`, as `lookupd_query_lookup` gives its own.
///
/// # Safety
/// `h` must be NULL or a live handle; `out_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_query_topics(
    h: *const lookupd,
    out_json: *mut *mut c_char,
) -> lookupd_result {
    // SAFETY: forwarded caller promises.
    unsafe { query(h, out_json, |state| Ok(state.topics_json().to_vec())) }
}

/// The answer of `GET /channels?topic=<topic>` (an empty list for an
/// unknown topic, as over HTTP).
///
/// # Safety
/// `h` must be NULL or a live handle; `topic` NULL or a C string;
/// `out_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_query_channels(
    h: *const lookupd,
    topic: *const c_char,
    out_json: *mut *mut c_char,
) -> lookupd_result {
    let answer = |state: &State| {
        // SAFETY: forwarded caller promise.
        let topic = unsafe { c_str(topic, "topic") }?;
        Ok(state.channels_json(topic.as_bytes()))
    };
    // SAFETY: forwarded caller promises.
    unsafe { query(h, out_json, answer) }
}

/// The answer of `GET /nodes`.
///
/// # Safety
/// `h` must be NULL or a live handle; `out_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_query_nodes(
    h: *const lookupd,
    out_json: *mut *mut c_char,
) -> lookupd_result {
    // SAFETY: forwarded caller promises.
    unsafe { query(h, out_json, |state| Ok(state.nodes_json())) }
}

/// Frees a string returned by a `lookupd_query_*` or `lookupd_wait_lookup*`
/// function. NULL is fine.
///
/// # Safety
/// `s` must be NULL or a string from a `lookupd_query_*` or
/// `lookupd_wait_lookup*` function, not freed before.
#[no_mangle]
pub unsafe extern "C" fn lookupd_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    let _ = boundary(|| {
        // SAFETY: the caller promises `s` came from CString::into_raw in
        // write_json and was not freed before.
        drop(unsafe { CString::from_raw(s) });
        Ok(())
    });
}

/// Stops the instance without freeing the handle: stops accepting, closes
/// every connection, joins every thread it started, and ends every wait
/// on the handle, in progress or begun later, with `LOOKUPD_ERR_STOPPED`.
/// Queries keep working (they answer from what is left) until
/// `lookupd_stop`. Unlike `lookupd_stop`, it may be called at any time,
/// from any thread, while other calls on the handle are in progress, any
/// number of times: a host whose threads wait on the handle calls it,
/// joins those threads, then calls `lookupd_stop`.
///
/// # Safety
/// `h` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lookupd_shutdown(h: *const lookupd) -> lookupd_result {
    boundary(|| {
        // SAFETY: forwarded caller promise.
        let l = unsafe { instance(h) }?;
        l.handle.shutdown();
        Ok(())
    })
}

/// Stops the instance: stops accepting, closes every connection, joins
/// every thread it started, and frees the handle. NULL is fine.
///
/// Calls already in progress on other threads may still be running: every
/// wait among them returns `LOOKUPD_ERR_STOPPED` at once, and
/// `lookupd_stop` returns only after every call in progress has returned,
/// so none touches freed memory. No call may *begin* on the handle once
/// `lookupd_stop` has been called (the host must order that: a call that
/// starts after the handle is freed is a use after free), and it is
/// called at most once per handle (`lookupd_shutdown` first, then joining
/// the threads that use the handle, is the way to make sure of it). The
/// handle is freed whatever the result (an error here can only be
/// `LOOKUPD_ERR_PANIC`).
///
/// # Safety
/// `h` must be NULL or a live handle, not passed to `lookupd_stop` before.
#[no_mangle]
pub unsafe extern "C" fn lookupd_stop(h: *mut lookupd) -> lookupd_result {
    if h.is_null() {
        return lookupd_result::LOOKUPD_OK;
    }
    boundary(|| {
        {
            // SAFETY: the caller promises `h` is live until this call frees
            // it; calls in progress share it through `&`.
            let l = unsafe { &*h };
            l.handle.state().changes.close();
            l.calls.drain();
        }
        // SAFETY: `h` came from lookupd_start (a Box), is stopped only
        // once, and no call is using it any more.
        let l = unsafe { Box::from_raw(h) };
        l.handle.stop();
        Ok(())
    })
}

/// A description of the last failure on the calling thread, or NULL if
/// no lookupd call has failed on it. The string is owned by lookupd and
/// stays valid until the next lookupd call on this thread fails.
#[no_mangle]
pub extern "C" fn lookupd_last_error() -> *const c_char {
    error::last_error_ptr()
}

/// The library's version, e.g. `"0.1.0 (nsq 1.3.0)"`. Static; never free it.
#[no_mangle]
pub extern "C" fn lookupd_version() -> *const c_char {
    static VERSION: OnceLock<CString> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            CString::new(format!(
                "{} (nsq {})",
                env!("CARGO_PKG_VERSION"),
                crate::version::NSQ_VERSION
            ))
            .unwrap_or_default()
        })
        .as_ptr()
}
