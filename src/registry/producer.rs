//! Producers: what an identified nsqd is, the index of the topics each one
//! holds, and the registry operations that add and remove producers.
//!
//! A producer is created by IDENTIFY and lives as long as its connection.
//! The registry keeps one entry per producer so a disconnect finds
//! everything it must undo without scanning the topics, and `/nodes` lists
//! a producer's topics without visiting anyone else's.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Key, Registry};
use crate::clock::Timestamp;
use crate::names;

/// What a producer reported about itself, plus the address it came from.
///
/// The TCP codec decodes it from an IDENTIFY body; the registry keeps it
/// for as long as the producer is connected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// The connection's remote address, `ip:port`; also the producer's id.
    pub remote_address: String,
    /// The nsqd's hostname.
    pub hostname: String,
    /// The address consumers should connect to.
    pub broadcast_address: String,
    /// The nsqd's TCP port.
    pub tcp_port: u16,
    /// The nsqd's HTTP port.
    pub http_port: u16,
    /// The nsqd's version string.
    pub version: String,
    /// Topology zone, for topology-aware consumers.
    pub topology_zone: String,
    /// Topology region, for topology-aware consumers.
    pub topology_region: String,
}

/// Identifies one identified connection for as long as it lives.
///
/// Ids increase in IDENTIFY order, which is the order producers are listed
/// in; the Go original uses the remote address as id and lists in random
/// order.
pub type ProducerId = u64;

/// An identified nsqd connection.
#[derive(Debug)]
pub struct Producer {
    pub(super) id: ProducerId,
    pub(super) info: PeerInfo,
    last_update: AtomicU64,
}

impl Producer {
    pub(super) fn new(id: ProducerId, info: PeerInfo, now: Timestamp) -> Producer {
        Producer {
            id,
            info,
            last_update: AtomicU64::new(now.0),
        }
    }

    /// This producer's id.
    pub fn id(&self) -> ProducerId {
        self.id
    }

    /// What the producer said about itself in IDENTIFY.
    pub fn info(&self) -> &PeerInfo {
        &self.info
    }

    /// Records a sign of life (IDENTIFY or PING). Lock-free, so a PING never
    /// waits for the registry.
    pub fn touch(&self, now: Timestamp) {
        self.last_update.store(now.0, Ordering::Relaxed);
    }

    /// When the producer last identified or pinged.
    pub fn last_update(&self) -> Timestamp {
        Timestamp(self.last_update.load(Ordering::Relaxed))
    }

    /// Whether the producer pinged within `timeout` of `now`.
    pub fn is_active(&self, now: Timestamp, timeout: Duration) -> bool {
        now.since(self.last_update()) <= timeout
    }

    /// Whether `node` is this producer's `broadcast_address:http_port`
    /// (the node name `/topic/tombstone` takes), compared without building
    /// a string.
    pub(super) fn is_node(&self, node: &str) -> bool {
        node.strip_prefix(self.info.broadcast_address.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|p| p == self.info.http_port.to_string())
    }
}

/// The producer index's entry: the producer and the topics it holds.
#[derive(Debug)]
pub(super) struct ProducerEntry {
    pub(super) producer: Arc<Producer>,
    /// The topics it is registered for (the registrations themselves are
    /// in the topics' entries). Its channel registrations are found from
    /// these: a producer is only ever a member of channels of topics it is
    /// registered for (REGISTER with a channel registers the topic, and
    /// the topic's registration goes only with its channels').
    pub(super) topics: BTreeSet<Arc<str>>,
}

impl Registry {
    /// Adds an identified producer (the `client::` registration).
    pub fn identify(&mut self, info: PeerInfo, now: Timestamp) -> Arc<Producer> {
        self.next_id += 1;
        let producer = Arc::new(Producer::new(self.next_id, info, now));
        self.producers.insert(
            producer.id,
            ProducerEntry {
                producer: producer.clone(),
                topics: BTreeSet::new(),
            },
        );
        self.counts.producers += 1;
        producer
    }

    /// The producer with this id, if it is still connected.
    pub fn producer(&self, id: ProducerId) -> Option<&Arc<Producer>> {
        self.producers.get(&id).map(|p| &p.producer)
    }

    /// How many identified producers have been silent longer than `timeout`.
    pub fn inactive_producers(&self, now: Timestamp, timeout: Duration) -> usize {
        self.producers
            .values()
            .filter(|e| !e.producer.is_active(now, timeout))
            .count()
    }

    /// Drops a disconnected producer from every registration. Returns the
    /// keys it was removed from, `client::` last.
    pub fn remove_producer(&mut self, id: ProducerId) -> Vec<Key> {
        let mut removed = Vec::new();
        self.remove_producer_batch(id, usize::MAX, Some(&mut removed));
        removed
    }

    /// Drops up to `max` of a disconnected producer's registrations and,
    /// once none are left, the producer itself (`client::`). Returns true
    /// when the producer is gone. The keys removed are appended to
    /// `removed` when given.
    ///
    /// Removing in batches lets a caller release the lock in between, so a
    /// storm of disconnects of producers holding thousands of registrations
    /// never keeps readers waiting long (Go takes its lock once per
    /// registration).
    pub fn remove_producer_batch(
        &mut self,
        id: ProducerId,
        max: usize,
        mut removed: Option<&mut Vec<Key>>,
    ) -> bool {
        let Some(entry) = self.producers.get_mut(&id) else {
            return true;
        };
        let mut budget = max;
        while budget > 0 {
            let Some(topic) = entry.topics.pop_first() else {
                break;
            };
            budget -= 1;
            if let Some(t) = self.topics.get_mut(&topic) {
                t.leave_channels(id, &mut self.counts, |channel| {
                    if let Some(r) = removed.as_deref_mut() {
                        r.push(Key::Channel(topic.clone(), channel.clone()));
                    }
                });
                if let Some(reg) = t.producers.remove(&id) {
                    if reg.tombstoned_at().is_some() {
                        self.tombstoned.remove(id, &topic);
                    }
                    self.counts.topic_registrations -= 1;
                }
                if t.producers.is_empty() && names::is_ephemeral(&topic) {
                    t.set_registered(&mut self.counts, &mut self.topics_generation, false);
                }
                if t.is_unused() {
                    self.topics.remove(&topic);
                }
            }
            if let Some(r) = removed.as_deref_mut() {
                r.push(Key::Topic(topic));
            }
        }
        if !entry.topics.is_empty() {
            return false;
        }
        self.producers.remove(&id);
        self.counts.producers -= 1;
        if let Some(r) = removed {
            r.push(Key::Client);
        }
        true
    }
}
