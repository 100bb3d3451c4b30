//! Tombstones: `POST /topic/tombstone` hides one node's registration of a
//! topic from `/lookup` for the tombstone lifetime, as in Go.
//!
//! Tombstones are rare admin actions, so they are kept apart from the
//! registrations, by producer and topic, with the time they were set:
//! registrations stay small, and `/nodes` and the metrics find the few
//! tombstoned ones without visiting every registration. An entry goes
//! with its registration.

use std::collections::BTreeMap;
use std::time::Duration;

use super::producer::ProducerId;
use super::{Registry, Timeouts};
use crate::clock::Timestamp;
use crate::names::Name;

/// When each tombstoned registration still present was last tombstoned.
#[derive(Debug, Default)]
pub(super) struct Tombstones(BTreeMap<ProducerId, BTreeMap<Name, Timestamp>>);

impl Tombstones {
    fn set(&mut self, id: ProducerId, topic: &Name, now: Timestamp) {
        self.0.entry(id).or_default().insert(topic.clone(), now);
    }

    /// When producer `id`'s registration of `topic` was last tombstoned.
    pub(super) fn get(&self, id: ProducerId, topic: &[u8]) -> Option<Timestamp> {
        if self.0.is_empty() {
            return None;
        }
        self.0.get(&id)?.get(topic).copied()
    }

    /// The registration is gone.
    pub(super) fn forget(&mut self, id: ProducerId, topic: &[u8]) {
        if let Some(mine) = self.0.get_mut(&id) {
            mine.remove(topic);
            if mine.is_empty() {
                self.0.remove(&id);
            }
        }
    }

    /// The producer is gone.
    pub(super) fn forget_producer(&mut self, id: ProducerId) {
        self.0.remove(&id);
    }

    /// Every (producer, topic, time).
    pub(super) fn iter(&self) -> impl Iterator<Item = (ProducerId, &Name, Timestamp)> + '_ {
        self.0
            .iter()
            .flat_map(|(id, mine)| mine.iter().map(move |(t, at)| (*id, t, *at)))
    }
}

/// Whether a tombstone set at `at` still hides its registration at `now`.
pub(super) fn hides(at: Timestamp, now: Timestamp, lifetime: Duration) -> bool {
    now.since(at) < lifetime
}

impl Registry {
    /// `POST /topic/tombstone`: tombstones this topic's registrations by
    /// every producer whose `broadcast_address:http_port` is `node`.
    /// Returns how many were tombstoned.
    pub fn tombstone(&mut self, topic: &Name, node: &str, now: Timestamp) -> usize {
        let Some(t) = self.topics.get(topic.as_bytes()) else {
            return 0;
        };
        let mut n = 0;
        for slot in t.producer_slots() {
            if let Some(e) = self.producers.get(slot) {
                if e.producer.is_node(node) {
                    self.tombstones.set(e.producer.id(), topic, now);
                    n += 1;
                }
            }
        }
        n
    }

    /// Tombstones producer `id`'s registration of `topic` as of `at` (a
    /// tombstone read back from a snapshot). Whether the registration
    /// exists.
    pub(super) fn set_tombstone(&mut self, id: ProducerId, topic: &Name, at: Timestamp) -> bool {
        let Some(slot) = self.producers.slot(id) else {
            return false;
        };
        let registered = self.holds(slot, topic.as_bytes());
        if registered {
            self.tombstones.set(id, topic, at);
        }
        registered
    }

    /// How many topic registrations a tombstone hides at `now`.
    pub fn tombstoned(&self, now: Timestamp, lifetime: Duration) -> usize {
        self.tombstones
            .iter()
            .filter(|(_, _, at)| hides(*at, now, lifetime))
            .count()
    }

    /// Whether producer `id`'s registration of `topic` is hidden now.
    pub(super) fn is_tombstoned(
        &self,
        id: ProducerId,
        topic: &[u8],
        now: Timestamp,
        lifetime: Duration,
    ) -> bool {
        self.tombstones
            .get(id, topic)
            .is_some_and(|at| hides(at, now, lifetime))
    }

    /// When, if nothing else changes, the next of `topic`'s registrations
    /// hidden only by a tombstone shows again in `/lookup`: the moment a
    /// waiter for producers must look again, as no write will wake it.
    pub fn next_unhidden(
        &self,
        topic: &Name,
        now: Timestamp,
        timeouts: Timeouts,
    ) -> Option<Timestamp> {
        let t = self.topics.get(topic.as_bytes())?;
        t.producer_slots()
            .filter_map(|slot| self.producers.get(slot))
            .filter(|e| e.producer.is_active(now, timeouts.inactive_producer))
            .filter_map(|e| self.tombstones.get(e.producer.id(), topic.as_bytes()))
            .map(|at| at.plus(timeouts.tombstone_lifetime))
            .filter(|until| *until > now)
            .min()
    }
}
