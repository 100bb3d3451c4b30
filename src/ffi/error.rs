//! Result codes, the thread-local last error, and the one panic boundary
//! every export goes through.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What every lookupd function returns. `LOOKUPD_OK` is success; every
/// other value is a failure whose description `lookupd_last_error` gives.
/// Values are explicit and never reused.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lookupd_result {
    /// Success.
    LOOKUPD_OK = 0,
    /// A required pointer argument was NULL.
    LOOKUPD_ERR_NULL = 1,
    /// A string argument was not valid UTF-8.
    LOOKUPD_ERR_UTF8 = 2,
    /// The configuration JSON is malformed, or a key or value is invalid.
    LOOKUPD_ERR_CONFIG = 3,
    /// A listener could not be bound (address in use, not permitted, ...).
    LOOKUPD_ERR_BIND = 4,
    /// The service could not start a thread.
    LOOKUPD_ERR_START = 5,
    /// The topic is not registered (HTTP's 404 `TOPIC_NOT_FOUND`).
    LOOKUPD_ERR_TOPIC_NOT_FOUND = 6,
    /// lookupd failed in a way that is its own fault (a bug), not a panic.
    LOOKUPD_ERR_INTERNAL = 7,
    /// A wait ended because its time ran out.
    LOOKUPD_ERR_TIMEOUT = 8,
    /// A wait ended because `lookupd_shutdown` or `lookupd_stop` was called
    /// on its handle (a wait begun after `lookupd_shutdown` ends at once).
    LOOKUPD_ERR_STOPPED = 9,
    /// An argument is outside what the function accepts (a topic that is
    /// not a valid name, for a wait that could then never end).
    LOOKUPD_ERR_INVALID_ARG = 10,
    /// A wait ended because its `lookupd_cancel` was fired.
    LOOKUPD_ERR_CANCELLED = 11,
    /// A panic inside lookupd was caught at the boundary.
    LOOKUPD_ERR_PANIC = 99,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// A failure: its code and a message for `lookupd_last_error`.
pub(crate) struct Failure(pub lookupd_result, pub String);

impl Failure {
    pub(crate) fn null(what: &str) -> Failure {
        Failure(lookupd_result::LOOKUPD_ERR_NULL, format!("{what} is NULL"))
    }
}

pub(crate) fn set_last_error(message: &str) {
    // Interior NULs cannot be shown through a C string; replace them.
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
}

/// The last error message of this thread, or NULL.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
}

/// Runs an export's body: a failure becomes its code (and the thread's
/// last error), and a panic becomes `LOOKUPD_ERR_PANIC` instead of
/// unwinding into C, which would be undefined behaviour.
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), Failure>) -> lookupd_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => lookupd_result::LOOKUPD_OK,
        Ok(Err(Failure(code, message))) => {
            set_last_error(&message);
            code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("panic inside lookupd: {what}"));
            lookupd_result::LOOKUPD_ERR_PANIC
        }
    }
}
