//! An identified producer's stay in the registry: registered while its
//! connection lives, removed however the connection ends.
//!
//! A normal disconnect removes the producer's registrations a batch at a
//! time, so a storm of disconnects by producers holding thousands of
//! topics never keeps readers waiting; at shutdown, or when a connection
//! task unwinds, dropping the guard removes what is left at once.

use std::sync::Arc;

use crate::logging::{logf, Level};
use crate::registry::{Key, Producer};
use crate::instance::State;

/// Registrations removed per hold of the registry's write lock when a
/// producer disconnects.
const REMOVAL_BATCH: usize = 32;

/// An identified producer's registrations, removed when dropped: at
/// disconnect, at shutdown, and when a connection task unwinds.
pub(super) struct Identified {
    pub(super) state: Arc<State>,
    pub(super) producer: Arc<Producer>,
}

impl Identified {
    /// Removes the producer's registrations a batch at a time, letting
    /// other tasks (readers above all) run between batches.
    pub(super) async fn remove_gradually(self) {
        let logging = self.state.log.enabled(Level::Info);
        loop {
            let mut keys = Vec::new();
            let done = self.state.write().remove_producer_batch(
                self.producer.id(),
                REMOVAL_BATCH,
                logging.then_some(&mut keys),
            );
            self.log_removed(&keys);
            if done {
                break;
            }
            smol::future::yield_now().await;
        }
        // Drop finds nothing left to remove.
    }

    fn log_removed(&self, keys: &[Key]) {
        let remote = &self.producer.info().remote_address;
        for key in keys {
            logf!(
                self.state.log,
                Level::Info,
                "DB: client({}) UNREGISTER {}",
                remote,
                key
            );
        }
    }
}

impl Drop for Identified {
    /// At shutdown, or when the connection's task unwinds, all at once.
    fn drop(&mut self) {
        let removed = self.state.write().remove_producer(self.producer.id());
        self.log_removed(&removed);
    }
}
