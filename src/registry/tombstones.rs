//! Tombstones: `POST /topic/tombstone` hides one node's registration of a
//! topic from `/lookup` for the tombstone lifetime, as in Go.
//!
//! The tombstone itself is stored on the registration (its time); this
//! index lists the registrations ever tombstoned and still present, so
//! `/nodes` and the metrics find the few tombstoned ones without visiting
//! every registration. Tombstones are rare admin actions; the index stays
//! small.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::producer::ProducerId;
use super::{Registry, Timeouts};
use crate::clock::Timestamp;
use crate::names::Name;

/// The registrations ever tombstoned and still present, as (producer,
/// topic), sorted by producer then topic.
#[derive(Debug, Default)]
pub(super) struct Tombstones(BTreeSet<(ProducerId, Arc<str>)>);

impl Tombstones {
    pub(super) fn insert(&mut self, id: ProducerId, topic: &Arc<str>) {
        self.0.insert((id, topic.clone()));
    }

    pub(super) fn remove(&mut self, id: ProducerId, topic: &Arc<str>) {
        self.0.remove(&(id, topic.clone()));
    }

    pub(super) fn contains(&self, id: ProducerId, topic: &Arc<str>) -> bool {
        self.0.contains(&(id, topic.clone()))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every (producer, topic) in the index.
    pub(super) fn iter(&self) -> impl Iterator<Item = &(ProducerId, Arc<str>)> {
        self.0.iter()
    }

    /// The topics of producer `id` in the index, sorted. `least` is the
    /// empty name, passed in so a caller paging through many producers
    /// allocates it once.
    pub(super) fn of<'a>(
        &'a self,
        id: ProducerId,
        least: &Arc<str>,
    ) -> impl Iterator<Item = &'a Arc<str>> + 'a {
        self.0
            .range((id, least.clone())..)
            .take_while(move |(p, _)| *p == id)
            .map(|(_, topic)| topic)
    }
}

impl Registry {
    /// `POST /topic/tombstone`: tombstones this topic's registrations by
    /// every producer whose `broadcast_address:http_port` is `node`.
    /// Returns how many were tombstoned.
    pub fn tombstone(&mut self, topic: &Name, node: &str, now: Timestamp) -> usize {
        let Some(t) = self.topics.get_mut(topic.as_str()) else {
            return 0;
        };
        let mut n = 0;
        for (id, reg) in t.producers.iter_mut() {
            if reg.producer.is_node(node) {
                if reg.tombstoned_at().is_none() {
                    self.tombstoned.insert(*id, topic.shared());
                }
                reg.tombstone(now);
                n += 1;
            }
        }
        n
    }

    /// How many topic registrations a tombstone hides at `now`.
    pub fn tombstoned(&self, now: Timestamp, lifetime: Duration) -> usize {
        self.tombstoned
            .iter()
            .filter(|(id, topic)| self.is_tombstoned(*id, topic, now, lifetime))
            .count()
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
        let t = self.topics.get(topic.as_str())?;
        t.producers
            .values()
            .filter(|r| r.producer.is_active(now, timeouts.inactive_producer))
            .filter_map(|r| r.tombstoned_at())
            .map(|at| Timestamp(at.0.saturating_add(duration_nanos(timeouts.tombstone_lifetime))))
            .filter(|until| *until > now)
            .min()
    }

    /// Whether producer `id`'s registration of `topic` is hidden now.
    pub(super) fn is_tombstoned(
        &self,
        id: ProducerId,
        topic: &str,
        now: Timestamp,
        lifetime: Duration,
    ) -> bool {
        self.topics
            .get(topic)
            .and_then(|t| t.producers.get(&id))
            .is_some_and(|r| r.is_tombstoned(now, lifetime))
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
