//! Producers: what an identified nsqd is, the index of the topics each one
//! holds, and the registry operations that add and remove producers.
//!
//! A producer is created by IDENTIFY and lives as long as its connection.
//! Topics refer to it by its slot, a small index into the producer table,
//! and the table keeps, per producer, the names of the topics it holds, so
//! a disconnect finds everything it must undo without scanning the topics.
//! Those names are packed into one buffer per producer (a length byte and
//! the bytes), a few bytes a registration.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::{Key, Registry};
use crate::address::{split_node, Finding};
use crate::clock::Timestamp;
use crate::names::Name;

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

/// The address answers give for a producer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The `broadcast_address` it advertised.
    Advertised,
    /// Another address: its connection's source IP
    /// (`-producer-address=remote`, or `auto` after a failed check).
    Instead(Box<str>),
}

/// An identified nsqd connection.
#[derive(Debug)]
pub struct Producer {
    pub(super) id: ProducerId,
    pub(super) info: PeerInfo,
    last_update: AtomicU64,
    /// Which address answers give; unset while that waits on the check
    /// of its advertised address (`-producer-address=auto`).
    answer: OnceLock<Answer>,
    /// What checking its advertised address found; unset until checked.
    finding: OnceLock<Finding>,
    /// How answers show it, made once its address is settled.
    view: OnceLock<Box<[u8]>>,
}

impl Producer {
    pub(super) fn new(
        id: ProducerId,
        info: PeerInfo,
        now: Timestamp,
        answer: Option<Answer>,
    ) -> Producer {
        Producer {
            id,
            info,
            last_update: AtomicU64::new(now.0),
            answer: answer.map_or_else(OnceLock::new, OnceLock::from),
            finding: OnceLock::new(),
            view: OnceLock::new(),
        }
    }

    /// A rendering of the producer (made by `render` from what it said
    /// and the address answers give), kept once its address is settled:
    /// every `/lookup` and `/nodes` shows each producer the same way, so
    /// it is rendered once, not per answer.
    pub fn view(&self, render: impl FnOnce(&PeerInfo, &str) -> Vec<u8>) -> Cow<'_, [u8]> {
        if self.answer.get().is_none() {
            return Cow::Owned(render(&self.info, self.address()));
        }
        Cow::Borrowed(
            self.view
                .get_or_init(|| render(&self.info, self.address()).into_boxed_slice()),
        )
    }

    /// This producer's id.
    pub fn id(&self) -> ProducerId {
        self.id
    }

    /// What the producer said about itself in IDENTIFY.
    pub fn info(&self) -> &PeerInfo {
        &self.info
    }

    /// The address answers give for it (`broadcast_address` in `/lookup`,
    /// `/nodes` and `/debug`, and what `/topic/tombstone`'s `node` names):
    /// the advertised one unless the address policy says otherwise.
    pub fn address(&self) -> &str {
        match self.answer.get() {
            Some(Answer::Instead(a)) => a,
            _ => &self.info.broadcast_address,
        }
    }

    /// Which address answers give, if settled.
    pub fn answer(&self) -> Option<&Answer> {
        self.answer.get()
    }

    /// Settles which address answers give. Only the first call counts;
    /// whether it was this one.
    pub fn settle(&self, answer: Answer) -> bool {
        self.answer.set(answer).is_ok()
    }

    /// What checking its advertised address found, if it was checked.
    pub fn finding(&self) -> Option<&Finding> {
        self.finding.get()
    }

    /// Records what checking its advertised address found. Only the first
    /// call counts; whether it was this one.
    pub fn found(&self, finding: Finding) -> bool {
        self.finding.set(finding).is_ok()
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

    /// Whether `node` is this producer's `address:http_port` (the node
    /// name `/topic/tombstone` takes). An IPv6 address matches bracketed,
    /// as nsqadmin writes it (`[::1]:4151`), or bare, as Go's lookupd
    /// compares it (`::1:4151`). The port compares as Go's `strconv.Itoa`
    /// writes it, so `+4151` or `04151` is not the same node.
    pub(super) fn is_node(&self, node: &str) -> bool {
        split_node(node).is_some_and(|(host, port)| {
            host == self.address() && port == self.info.http_port.to_string()
        })
    }
}

/// A producer's place in the producer table. Topics refer to producers by
/// slot (4 bytes); a slot is reused once its producer is gone.
pub type Slot = u32;

/// No producer.
pub(super) const NO_SLOT: Slot = Slot::MAX;

/// One producer in the table: the producer and the topics it holds.
#[derive(Debug)]
pub(super) struct ProducerEntry {
    /// The producer's id, kept beside it so walks need not visit it.
    pub(super) id: ProducerId,
    pub(super) producer: Arc<Producer>,
    pub(super) topics: TopicList,
    /// Whether it came from a live connection or from a snapshot.
    pub(super) origin: Origin,
}

/// Where a producer's registrations come from (see `super::restore`).
#[derive(Debug)]
pub(super) enum Origin {
    /// Its live connection registered them.
    Live,
    /// A snapshot: its nsqd has not identified since the restart.
    Restored,
    /// A snapshot, taken over by its nsqd's live connection: the keys of
    /// the restored registrations that connection has not registered
    /// again yet (a topic, or a topic and channel).
    TakenOver(HashSet<(Name, Option<Name>)>),
}

/// The names of the topics one producer holds, packed one after the other
/// as a length byte and the name's bytes (names are at most 64 bytes). In
/// registration order; `/nodes` gets them sorted from the topic index.
///
/// Removing one name would mean finding it among perhaps 100,000, so a
/// removal only counts the name as gone: the list then holds names the
/// producer no longer holds (`dead`), which a disconnect skips, and which
/// the registry drops by rewriting the list once they outnumber the rest
/// (`Registry::forget_topic`), so a removal costs a constant amortized.
#[derive(Debug, Default)]
pub(super) struct TopicList {
    bytes: Vec<u8>,
    /// Where the first name not yet taken by `pop_front` starts.
    head: usize,
    /// Names after `head`, gone ones included.
    len: usize,
    /// How many of them the producer no longer holds.
    dead: usize,
}

impl TopicList {
    pub(super) fn push(&mut self, name: &Name) {
        let b = name.as_bytes();
        if self.head > 0 && self.head >= self.bytes.len() / 2 {
            self.bytes.drain(..self.head);
            self.head = 0;
        }
        self.bytes.push(b.len() as u8);
        self.bytes.extend_from_slice(b);
        self.len += 1;
    }

    /// The producer no longer holds one of the listed names.
    pub(super) fn forget_one(&mut self) {
        self.dead += 1;
        if self.dead == self.len {
            // Only gone names are left.
            *self = TopicList::default();
        }
    }

    /// Whether gone names outnumber held ones enough to rewrite the list.
    pub(super) fn wants_tidying(&self) -> bool {
        self.dead >= 64 && self.dead > self.len - self.dead
    }

    /// Takes the first name (for a disconnect, a batch at a time). It may
    /// be one the producer no longer holds; the caller then calls
    /// [`TopicList::skipped`].
    pub(super) fn pop_front(&mut self) -> Option<Name> {
        if self.head >= self.bytes.len() {
            return None;
        }
        let n = usize::from(self.bytes[self.head]);
        let name = Name::new(&self.bytes[self.head + 1..self.head + 1 + n]);
        self.head += 1 + n;
        self.len -= 1;
        if self.len == 0 {
            *self = TopicList::default();
        }
        name
    }

    /// The name `pop_front` gave was one the producer no longer held.
    pub(super) fn skipped(&mut self) {
        self.dead = self.dead.saturating_sub(1);
    }

    /// Keeps only the names `keep` accepts, once each.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let mut kept = TopicList::default();
        let mut seen = std::collections::HashSet::new();
        for name in self.iter() {
            if seen.insert(name) && keep(name) {
                kept.bytes.push(name.len() as u8);
                kept.bytes.extend_from_slice(name);
                kept.len += 1;
            }
        }
        drop(seen);
        *self = kept;
    }

    /// How many names the producer holds.
    pub(super) fn len(&self) -> usize {
        self.len - self.dead
    }

    /// About the total length of the names (gone ones included).
    pub(super) fn name_bytes(&self) -> usize {
        self.bytes.len() - self.head - self.len
    }

    /// Whether nothing is left to take, gone names included.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The names, in the order they were added (gone ones included).
    pub(super) fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            if at >= self.bytes.len() {
                return None;
            }
            let n = usize::from(self.bytes[at]);
            let name = &self.bytes[at + 1..at + 1 + n];
            at += 1 + n;
            Some(name)
        })
    }
}

/// The producer table: entries by slot, and slots by id (IDENTIFY order).
#[derive(Debug, Default)]
pub(super) struct Producers {
    slots: Vec<Option<ProducerEntry>>,
    free: Vec<Slot>,
    by_id: BTreeMap<ProducerId, Slot>,
}

impl Producers {
    pub(super) fn insert(&mut self, producer: Arc<Producer>, origin: Origin) -> Slot {
        let id = producer.id;
        let entry = ProducerEntry {
            id,
            producer,
            topics: TopicList::default(),
            origin,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(entry);
                s
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as Slot
            }
        };
        self.by_id.insert(id, slot);
        slot
    }

    fn remove(&mut self, id: ProducerId) {
        if let Some(slot) = self.by_id.remove(&id) {
            self.slots[slot as usize] = None;
            self.free.push(slot);
        }
    }

    /// The slot of producer `id`, if it is connected.
    pub(super) fn slot(&self, id: ProducerId) -> Option<Slot> {
        self.by_id.get(&id).copied()
    }

    /// The entry at `slot`.
    pub(super) fn get(&self, slot: Slot) -> Option<&ProducerEntry> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// The id of the producer at `slot` (one that topics refer to).
    pub(super) fn id(&self, slot: Slot) -> ProducerId {
        self.get(slot).map_or(0, |e| e.id)
    }

    /// The topic list of the producer at `slot`.
    pub(super) fn topics_mut(&mut self, slot: Slot) -> &mut TopicList {
        &mut self.entry_mut(slot).topics
    }

    /// The entry at `slot`, which holds a producer.
    pub(super) fn entry_mut(&mut self, slot: Slot) -> &mut ProducerEntry {
        match self.slots.get_mut(slot as usize) {
            Some(Some(e)) => e,
            // Slots come from `slot`, for producers still in the table.
            _ => unreachable!("slot {slot} is empty"),
        }
    }

    /// Every producer, in id (IDENTIFY) order, with its slot.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Slot, &ProducerEntry)> + '_ {
        self.by_id
            .values()
            .filter_map(|s| self.get(*s).map(|e| (*s, e)))
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// One past the highest slot ever used.
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub(super) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Every occupied slot (for the invariant check).
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub(super) fn slots(&self) -> impl Iterator<Item = (Slot, &ProducerEntry)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as Slot, e)))
    }
}

impl Registry {
    /// Adds an identified producer (the `client::` registration). A
    /// producer restored from a snapshot with the same broadcast address
    /// and ports is taken over instead (see `super::restore`).
    /// Answers give the address it advertised.
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn identify(&mut self, info: PeerInfo, now: Timestamp) -> Arc<Producer> {
        self.identify_answering(info, now, Some(Answer::Advertised))
    }

    /// As [`Registry::identify`]; `answer` is the address answers give,
    /// if already known. Unknown, it is the advertised one until
    /// [`Producer::settle`] says otherwise.
    pub fn identify_answering(
        &mut self,
        info: PeerInfo,
        now: Timestamp,
        answer: Option<Answer>,
    ) -> Arc<Producer> {
        if let Some(producer) = self.take_over(&info, now, answer.clone()) {
            return producer;
        }
        self.add_producer(info, now, Origin::Live, answer)
    }

    /// Adds a producer to the table.
    pub(super) fn add_producer(
        &mut self,
        info: PeerInfo,
        now: Timestamp,
        origin: Origin,
        answer: Option<Answer>,
    ) -> Arc<Producer> {
        self.next_id += 1;
        let producer = Arc::new(Producer::new(self.next_id, info, now, answer));
        self.producers.insert(producer.clone(), origin);
        self.counts.producers += 1;
        producer
    }

    /// The producer with this id, if it is still connected.
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn producer(&self, id: ProducerId) -> Option<&Arc<Producer>> {
        let slot = self.producers.slot(id)?;
        self.producers.get(slot).map(|e| &e.producer)
    }

    /// The producer with this id, if it is in the table.
    pub(super) fn producer_by_id(&self, id: ProducerId) -> Option<&Arc<Producer>> {
        let slot = self.producers.slot(id)?;
        self.producers.get(slot).map(|e| &e.producer)
    }

    /// How many producers' advertised addresses failed the check.
    pub fn unreachable_producers(&self) -> usize {
        self.producers
            .iter()
            .filter(|(_, e)| e.producer.finding().is_some_and(Finding::failed))
            .count()
    }

    /// Every producer in IDENTIFY order, each with whether it was
    /// restored from a snapshot and its nsqd has not identified since.
    pub fn all_producers(&self) -> Vec<(Arc<Producer>, bool)> {
        self.producers
            .iter()
            .map(|(_, e)| (e.producer.clone(), matches!(e.origin, Origin::Restored)))
            .collect()
    }

    /// How many identified producers have been silent longer than `timeout`.
    pub fn inactive_producers(&self, now: Timestamp, timeout: Duration) -> usize {
        self.producers
            .iter()
            .filter(|(_, e)| !e.producer.is_active(now, timeout))
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
        let Some(slot) = self.producers.slot(id) else {
            return true;
        };
        for _ in 0..max {
            let Some(topic) = self.producers.topics_mut(slot).pop_front() else {
                break;
            };
            if !self.holds(slot, topic.as_bytes()) {
                // A name it no longer held.
                self.producers.topics_mut(slot).skipped();
                continue;
            }
            let left = self.leave_topic(id, slot, &topic);
            if let Some(r) = removed.as_deref_mut() {
                for c in &left.channels {
                    r.push(Key::Channel(topic.clone(), self.channels.name(*c).clone()));
                }
                r.push(Key::Topic(topic));
            }
            for c in left.channel_keys {
                self.channels.release(c);
            }
        }
        if !self.producers.topics_mut(slot).is_empty() {
            return false;
        }
        self.forget_restored(slot);
        self.producers.remove(id);
        self.tombstones.forget_producer(id);
        self.counts.producers -= 1;
        if let Some(r) = removed {
            r.push(Key::Client);
        }
        true
    }
}

impl Registry {
    /// The producer at `slot` no longer holds `topic`: its topic list
    /// counts it gone, and is rewritten once gone names outnumber the rest.
    pub(super) fn forget_topic(&mut self, slot: Slot) {
        let list = self.producers.topics_mut(slot);
        list.forget_one();
        if !list.wants_tidying() {
            return;
        }
        let mut list = std::mem::take(self.producers.topics_mut(slot));
        list.retain(|name| self.holds(slot, name));
        *self.producers.topics_mut(slot) = list;
    }

    /// Whether the producer at `slot` is registered for `topic`.
    pub(super) fn holds(&self, slot: Slot, topic: &[u8]) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|t| t.producer_slots().any(|s| s == slot))
    }
}
