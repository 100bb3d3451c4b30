//! The calls in progress on a handle, so `lookupd_stop` can free it only
//! once none is using it: a host may stop an instance while another of its
//! threads is blocked in a wait.

use std::ops::Deref;

use parking_lot::{Condvar, Mutex};

use super::lookupd;

/// How many calls are using a handle now.
#[derive(Debug, Default)]
pub(super) struct Calls {
    active: Mutex<usize>,
    idle: Condvar,
}

impl Calls {
    /// Counts a call for as long as the guard lives.
    pub(super) fn enter<'a>(&'a self, l: &'a lookupd) -> Call<'a> {
        *self.active.lock() += 1;
        Call(l)
    }

    /// Returns once no call is in progress.
    pub(super) fn drain(&self) {
        let mut active = self.active.lock();
        while *active > 0 {
            self.idle.wait(&mut active);
        }
    }

    fn leave(&self) {
        let mut active = self.active.lock();
        *active -= 1;
        if *active == 0 {
            self.idle.notify_all();
        }
    }
}

/// One call's use of a handle.
pub(super) struct Call<'a>(&'a lookupd);

impl Deref for Call<'_> {
    type Target = lookupd;
    fn deref(&self) -> &lookupd {
        self.0
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.0.calls.leave();
    }
}
