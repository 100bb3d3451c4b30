//! Waiting for producers from C: `lookupd_wait_lookup`, and cancel tokens
//! for hosts that must end a wait early (a Go context, a binding's stop).
//!
//! A wait blocks the calling host thread on the instance's change
//! notifications (never a polling loop) and ends with the `/lookup` body,
//! a timeout, a fired token, or `lookupd_stop`.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use event_listener::Event;

use super::error::{boundary, lookupd_result, Failure};
use super::{c_str, check_out, instance, lookupd, write_json};
use crate::instance::wait::WaitError;

/// A cancel token: fired once, from any thread, it ends every wait given
/// it, those in progress and those begun later, with
/// `LOOKUPD_ERR_CANCELLED`.
#[allow(non_camel_case_types)]
pub struct lookupd_cancel {
    fired: AtomicBool,
    event: Event,
}

impl lookupd_cancel {
    async fn fired(&self) {
        loop {
            let listener = self.event.listen();
            if self.fired.load(Ordering::SeqCst) {
                return;
            }
            listener.await;
        }
    }
}

/// Writes to `*out_count` how many waits for producers are blocked on the
/// handle now: `lookupd_wait_lookup` calls (and their cancellable form)
/// that did not find enough producers at their first look and have not
/// returned yet. A host about to stop the instance, or a test, knows from
/// it that its waiting threads are in place.
///
/// # Safety
/// `h` must be NULL or a live handle; `out_count` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_waiting(h: *const lookupd, out_count: *mut u32) -> lookupd_result {
    boundary(|| {
        // SAFETY: forwarded caller promise.
        let l = unsafe { instance(h) }?;
        // SAFETY: as_mut handles NULL; otherwise the caller promises it is writable.
        let out = unsafe { out_count.as_mut() }.ok_or_else(|| Failure::null("out_count"))?;
        *out = u32::try_from(l.handle.state().waiting()).unwrap_or(u32::MAX);
        Ok(())
    })
}

/// Blocks until `GET /lookup?topic=<topic>` lists at least
/// `min_producers` producers (as `/lookup` filters them: active, not
/// tombstoned), then writes exactly that body to `*out_json` (free it
/// with `lookupd_string_free`). With `min_producers` 0 it returns as soon
/// as the topic exists. The wait is woken by registry changes, never by
/// polling.
///
/// The calling thread is blocked for the wait. `timeout_ms` 0 looks once;
/// the longest wait is `UINT32_MAX` ms (about 49.7 days): wait again to
/// wait longer.
///
/// Errors: `LOOKUPD_ERR_TIMEOUT` when `timeout_ms` milliseconds pass
/// first; `LOOKUPD_ERR_STOPPED` when `lookupd_shutdown` or `lookupd_stop`
/// is called on the handle meanwhile (the wait returns at once, before
/// the handle is freed); `LOOKUPD_ERR_INVALID_ARG` for a topic that is
/// not a valid name (`lookupd_query_lookup` answers such a topic with
/// `LOOKUPD_ERR_TOPIC_NOT_FOUND`, as HTTP does, but a wait for it could
/// never end); `LOOKUPD_ERR_NULL`, `LOOKUPD_ERR_UTF8`.
///
/// # Safety
/// `h` must be NULL or a live handle; `topic` NULL or a C string;
/// `out_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lookupd_wait_lookup(
    h: *const lookupd,
    topic: *const c_char,
    min_producers: u32,
    timeout_ms: u32,
    out_json: *mut *mut c_char,
) -> lookupd_result {
    // SAFETY: forwarded caller promises; no token.
    unsafe {
        lookupd_wait_lookup_cancellable(
            h,
            topic,
            min_producers,
            timeout_ms,
            std::ptr::null(),
            out_json,
        )
    }
}

/// `lookupd_wait_lookup` that also ends, with `LOOKUPD_ERR_CANCELLED`,
/// when `cancel` is fired (before or during the wait). `cancel` may be
/// NULL (no token). A token already fired wins over an answer already
/// there, which wins over an expired timeout; a token fired while the
/// handle stops may end the wait with either `LOOKUPD_ERR_CANCELLED` or
/// `LOOKUPD_ERR_STOPPED`.
///
/// # Safety
/// As `lookupd_wait_lookup`; `cancel` must be NULL or a live token.
#[no_mangle]
pub unsafe extern "C" fn lookupd_wait_lookup_cancellable(
    h: *const lookupd,
    topic: *const c_char,
    min_producers: u32,
    timeout_ms: u32,
    cancel: *const lookupd_cancel,
    out_json: *mut *mut c_char,
) -> lookupd_result {
    boundary(|| {
        // SAFETY: forwarded caller promise.
        let l = unsafe { instance(h) }?;
        check_out(out_json)?;
        // SAFETY: forwarded caller promise.
        let topic = unsafe { c_str(topic, "topic") }?;
        // SAFETY: the caller promises NULL or a live token.
        let cancel = unsafe { cancel.as_ref() };
        let state = l.handle.state();
        let waited = async_io::block_on(state.wait_lookup_for(
            topic.as_bytes(),
            min_producers as usize,
            Duration::from_millis(u64::from(timeout_ms)),
            async {
                match cancel {
                    Some(c) => c.fired().await,
                    None => smol::future::pending().await,
                }
            },
        ));
        let json = waited.map_err(|e| {
            let code = match e {
                WaitError::InvalidTopic => lookupd_result::LOOKUPD_ERR_INVALID_ARG,
                WaitError::Timeout => lookupd_result::LOOKUPD_ERR_TIMEOUT,
                WaitError::Cancelled => lookupd_result::LOOKUPD_ERR_CANCELLED,
                WaitError::Stopped => lookupd_result::LOOKUPD_ERR_STOPPED,
            };
            let what = match e {
                WaitError::Timeout => format!(
                    "topic {topic:?} did not list {min_producers} producer(s) within {timeout_ms} ms"
                ),
                WaitError::InvalidTopic => format!("topic {topic:?} is not a valid name"),
                other => format!("wait for topic {topic:?}: {other}"),
            };
            Failure(code, what)
        })?;
        // SAFETY: forwarded caller promise.
        unsafe { write_json(out_json, json) }
    })
}

/// Creates a cancel token, written to `*out`; free it with
/// `lookupd_cancel_free` once no wait uses it.
///
/// # Safety
/// `out` must be NULL or valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn lookupd_cancel_new(out: *mut *mut lookupd_cancel) -> lookupd_result {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let token = Box::into_raw(Box::new(lookupd_cancel {
            fired: AtomicBool::new(false),
            event: Event::new(),
        }));
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { *out = token };
        Ok(())
    })
}

/// Fires a token: every wait given it returns `LOOKUPD_ERR_CANCELLED`,
/// now or as soon as it begins. Any thread, any number of times.
///
/// # Safety
/// `cancel` must be NULL or a live token.
#[no_mangle]
pub unsafe extern "C" fn lookupd_cancel_fire(cancel: *const lookupd_cancel) -> lookupd_result {
    boundary(|| {
        // SAFETY: the caller promises NULL or a live token.
        let c = unsafe { cancel.as_ref() }.ok_or_else(|| Failure::null("cancel"))?;
        c.fired.store(true, Ordering::SeqCst);
        c.event.notify(usize::MAX);
        Ok(())
    })
}

/// Frees a token. NULL is fine. No wait may be using it.
///
/// # Safety
/// `cancel` must be NULL or a token from `lookupd_cancel_new`, not freed
/// before, that no wait in progress uses.
#[no_mangle]
pub unsafe extern "C" fn lookupd_cancel_free(cancel: *mut lookupd_cancel) {
    if cancel.is_null() {
        return;
    }
    let _ = boundary(|| {
        // SAFETY: the caller promises it came from lookupd_cancel_new and
        // is freed once.
        drop(unsafe { Box::from_raw(cancel) });
        Ok(())
    });
}
