//! Giving memory back to the OS after producers leave.
//!
//! glibc's malloc keeps freed memory for reuse and returns to the OS only
//! what lies at the top of its heap. When nsqd disconnect, the
//! registrations they held leave free pages scattered through the heap,
//! and RSS stayed at its high-water mark: in the soak test (200 nsqd
//! churning for a minute) it ended 12–16% above its post-warm-up level
//! with every producer gone, though the live heap was back to a few
//! hundred kilobytes. `malloc_trim(0)` hands every free page back.
//!
//! Trimming walks the heap, so it is not done per disconnect: a
//! disconnect asks for one, and the trimmer runs once the removals have
//! been quiet for [`QUIET`], however many asked. Elsewhere than glibc it
//! does nothing.

use std::time::Duration;

use async_io::Timer;
use smol::channel::{Receiver, Sender};

/// How long removals must pause before memory is trimmed.
pub const QUIET: Duration = Duration::from_millis(200);

/// Asks for, and performs, trims.
#[derive(Debug)]
pub struct Trimmer {
    ask: Sender<()>,
    asked: Receiver<()>,
}

impl Default for Trimmer {
    fn default() -> Self {
        let (ask, asked) = smol::channel::bounded(1);
        Trimmer { ask, asked }
    }
}

impl Trimmer {
    /// Asks for a trim once things are quiet; never waits.
    pub fn soon(&self) {
        // Full means one is already asked for.
        let _ = self.ask.try_send(());
    }

    /// Trims after every quiet period that follows a request; runs until
    /// dropped (it is one of the server's tasks).
    pub async fn run(&self) {
        while self.asked.recv().await.is_ok() {
            // Coalesce: wait until no request came for a whole period.
            loop {
                Timer::after(QUIET).await;
                if self.asked.try_recv().is_err() {
                    break;
                }
            }
            crate::os::trim_heap();
        }
    }
}


