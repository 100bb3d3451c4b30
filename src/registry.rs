//! The registration database: which producers hold which topics and
//! channels.
//!
//! The Go original keeps a single map of `(category, key, subkey)` to
//! producers and scans all of it to list a topic's channels, to drop a
//! disconnected producer and, once per producer, to answer `/nodes`. Here
//! the same facts are kept in indexes that point at each other:
//!
//! - by topic (hashed, in shards that grow separately,
//!   `crate::shardmap`): whether the topic key exists, its producers (each
//!   with its own tombstone, as in Go) and its channel keys with their
//!   producers, in compact sorted vectors (`crate::vecmap`);
//! - by producer: the topics it is registered for (its channels are among
//!   those topics' channels);
//! - the few tombstoned registrations, by producer and topic.
//!
//! Every operation therefore costs in proportion to what it touches or
//! returns, never to the size of the database. Semantics are Go's (pinned
//! by the model test in `tests/registry_model.rs`): REGISTER with a channel
//! registers the topic too; removing a producer leaves the keys behind, so
//! `/topics` still lists them; inactive and tombstoned producers are
//! filtered when queried. One deliberate difference: an `#ephemeral` key
//! also vanishes when its last producer disconnects (Go removes it only on
//! an explicit UNREGISTER and otherwise keeps it forever).
//!
//! The registry is synchronous and does no I/O; callers put it behind a
//! lock and serialise answers after releasing it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::identify::PeerInfo;
use crate::names::{self, Name};
use crate::shardmap::ShardMap;
use crate::vecmap::{VecMap, VecSet};

/// Identifies one identified connection for as long as it lives.
///
/// Ids increase in IDENTIFY order, which is the order producers are listed
/// in; the Go original uses the remote address as id and lists in random
/// order.
pub type ProducerId = u64;

/// An identified nsqd connection.
#[derive(Debug)]
pub struct Producer {
    id: ProducerId,
    info: PeerInfo,
    last_update: AtomicU64,
}

impl Producer {
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

    /// `broadcast_address:http_port`, the node name `/topic/tombstone` takes.
    pub fn node_name(&self) -> String {
        format!("{}:{}", self.info.broadcast_address, self.info.http_port)
    }
}

/// One producer's registration of one topic, with its own tombstone.
///
/// Kept inline in the topic's producer vector, not behind a pointer of its
/// own: `/lookup` reads every one of a topic's registrations, and at a
/// million registrations each separately allocated one was a cache miss
/// (a cold `/lookup` of 10 producers cost 5.6 times a warm one).
#[derive(Debug, Clone)]
pub struct TopicRegistration {
    producer: Arc<Producer>,
    /// 0: never tombstoned; otherwise the tombstone time plus one.
    tombstoned_at: u64,
}

impl TopicRegistration {
    fn new(producer: Arc<Producer>) -> Self {
        TopicRegistration {
            producer,
            tombstoned_at: 0,
        }
    }

    fn tombstone(&mut self, now: Timestamp) {
        self.tombstoned_at = now.0.saturating_add(1);
    }

    /// When this registration was last tombstoned, if ever.
    pub fn tombstoned_at(&self) -> Option<Timestamp> {
        match self.tombstoned_at {
            0 => None,
            t => Some(Timestamp(t - 1)),
        }
    }

    /// Whether a tombstone set less than `lifetime` ago still hides it.
    pub fn is_tombstoned(&self, now: Timestamp, lifetime: Duration) -> bool {
        self.tombstoned_at()
            .is_some_and(|at| now.since(at) < lifetime)
    }
}

/// The two durations that hide producers from queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A producer silent for longer than this is hidden.
    pub inactive_producer: Duration,
    /// A tombstoned registration is hidden from `/lookup` for this long.
    pub tombstone_lifetime: Duration,
}

/// A registration key, as Go's `Registration{Category, Key, SubKey}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// `client::` — every identified producer.
    Client,
    /// `topic:<topic>:`.
    Topic(Arc<str>),
    /// `channel:<topic>:<channel>`.
    Channel(Arc<str>, Arc<str>),
}

impl Key {
    /// `client`, `topic` or `channel`.
    pub fn category(&self) -> &'static str {
        match self {
            Key::Client => "client",
            Key::Topic(_) => "topic",
            Key::Channel(..) => "channel",
        }
    }

    /// The topic, or empty for `client`.
    pub fn key(&self) -> &str {
        match self {
            Key::Client => "",
            Key::Topic(t) | Key::Channel(t, _) => t,
        }
    }

    /// The channel, or empty.
    pub fn subkey(&self) -> &str {
        match self {
            Key::Channel(_, c) => c,
            _ => "",
        }
    }
}

impl std::fmt::Display for Key {
    /// As Go logs a registration: `category:topic key:t subkey:c`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "category:{} key:{} subkey:{}",
            self.category(),
            self.key(),
            self.subkey()
        )
    }
}

/// The answer to `/lookup`.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// Every channel key of the topic, sorted.
    pub channels: Vec<Arc<str>>,
    /// Active, untombstoned producers of the topic, in IDENTIFY order.
    pub producers: Vec<Arc<Producer>>,
}

/// One entry of `/nodes`.
#[derive(Debug, Clone)]
pub struct Node {
    /// The producer.
    pub producer: Arc<Producer>,
    /// Its topics, sorted, each with whether it is tombstoned now.
    pub topics: Vec<(Arc<str>, bool)>,
}

/// One producer under one key, for `/debug`.
#[derive(Debug, Clone)]
pub struct DebugEntry {
    /// The producer.
    pub producer: Arc<Producer>,
    /// For topic registrations: the tombstone time, if ever tombstoned.
    pub tombstoned_at: Option<Timestamp>,
}

/// Sizes, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Identified producers.
    pub producers: usize,
    /// Topic keys.
    pub topics: usize,
    /// Channel keys.
    pub channels: usize,
    /// Producer registrations of topics.
    pub topic_registrations: usize,
    /// Producer registrations of channels.
    pub channel_registrations: usize,
}

#[derive(Debug, Default)]
struct TopicEntry {
    /// Whether the `topic:<name>:` key exists. A topic's channel keys can
    /// outlive it (an ephemeral topic unregistered while its channels stay).
    registered: bool,
    producers: VecMap<ProducerId, TopicRegistration>,
    channels: VecMap<Arc<str>, VecSet<ProducerId>>,
}

impl TopicEntry {
    fn is_unused(&self) -> bool {
        !self.registered && self.channels.is_empty()
    }
}

/// Takes producer `id` out of every channel of a topic, calling `left`
/// for each it was in; an `#ephemeral` channel it was the last member of
/// goes too.
fn leave_channels(
    t: &mut TopicEntry,
    id: ProducerId,
    counts: &mut Counts,
    mut left: impl FnMut(&Arc<str>),
) {
    t.channels.retain(|name, members| {
        if !members.remove(&id) {
            return true;
        }
        counts.channel_registrations -= 1;
        left(name);
        if members.is_empty() && names::is_ephemeral(name) {
            counts.channels -= 1;
            return false;
        }
        true
    });
}

/// Adds or removes a topic key, keeping the count and the generation of
/// the topic set.
fn set_registered(counts: &mut Counts, generation: &mut u64, entry: &mut TopicEntry, on: bool) {
    if entry.registered == on {
        return;
    }
    entry.registered = on;
    *generation += 1;
    if on {
        counts.topics += 1;
    } else {
        counts.topics -= 1;
    }
}

#[derive(Debug)]
struct ProducerEntry {
    producer: Arc<Producer>,
    /// The topics it is registered for (the registrations themselves are
    /// in the topics' entries). Its channel registrations are found from
    /// these: a producer is only ever a member of channels of topics it is
    /// registered for (REGISTER with a channel registers the topic, and
    /// the topic's registration goes only with its channels').
    topics: BTreeSet<Arc<str>>,
}

/// The registration database. See the module docs.
#[derive(Debug, Default)]
pub struct Registry {
    /// By name, hashed: a lookup costs the same at any size, and growing
    /// never rehashes more than a shard.
    topics: ShardMap<TopicEntry>,
    producers: BTreeMap<ProducerId, ProducerEntry>,
    next_id: ProducerId,
    counts: Counts,
    /// Bumped whenever a topic key is added or removed, so an answer to
    /// `/topics` can be reused until it changes.
    topics_generation: u64,
    /// The registrations ever tombstoned and still present, as (producer,
    /// topic). Tombstones are rare admin actions: `/nodes` and the metrics
    /// find them here instead of visiting every registration.
    tombstoned: BTreeSet<(ProducerId, Arc<str>)>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an identified producer (the `client::` registration).
    pub fn identify(&mut self, info: PeerInfo, now: Timestamp) -> Arc<Producer> {
        self.next_id += 1;
        let producer = Arc::new(Producer {
            id: self.next_id,
            info,
            last_update: AtomicU64::new(now.0),
        });
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

    /// `REGISTER topic [channel]`. Returns the keys the producer was newly
    /// added to (channel first, as Go logs them).
    pub fn register(&mut self, id: ProducerId, topic: &Name, channel: Option<&Name>) -> Vec<Key> {
        let Some(entry) = self.producers.get_mut(&id) else {
            return Vec::new();
        };
        let mut added = Vec::new();
        let t = self.topics.entry(topic.shared().clone()).or_default();
        let topic_name = topic.shared();
        if let Some(channel) = channel {
            let members = t.channels.get_or_insert_with(channel.shared().clone(), || {
                self.counts.channels += 1;
                VecSet::default()
            });
            if members.insert(id) {
                self.counts.channel_registrations += 1;
                added.push(Key::Channel(topic_name.clone(), channel.shared().clone()));
            }
        }
        set_registered(&mut self.counts, &mut self.topics_generation, t, true);
        if t.producers
            .insert_new(id, TopicRegistration::new(entry.producer.clone()))
        {
            entry.topics.insert(topic_name.clone());
            self.counts.topic_registrations += 1;
            added.push(Key::Topic(topic_name.clone()));
        }
        added
    }

    /// `UNREGISTER topic [channel]`. Returns the keys the producer was
    /// removed from.
    ///
    /// Without a channel this is a topic unregistration: the producer also
    /// leaves every channel of the topic. An `#ephemeral` key left without
    /// producers is deleted.
    pub fn unregister(&mut self, id: ProducerId, topic: &Name, channel: Option<&Name>) -> Vec<Key> {
        let mut removed = Vec::new();
        let Some(t) = self.topics.get_mut(topic.as_str()) else {
            return removed;
        };
        let entry = self.producers.get_mut(&id);
        let entry = match entry {
            Some(e) => e,
            None => return removed,
        };
        let topic_name = topic.shared();
        match channel {
            Some(channel) => {
                if let Some(members) = t.channels.get_mut(channel.as_str()) {
                    if members.remove(&id) {
                        self.counts.channel_registrations -= 1;
                        removed.push(Key::Channel(topic_name.clone(), channel.shared().clone()));
                    }
                    // Go deletes an ephemeral channel key on UNREGISTER when
                    // nobody is left, whoever registered it.
                    if members.is_empty() && channel.is_ephemeral() {
                        t.channels.remove(channel.as_str());
                        self.counts.channels -= 1;
                    }
                }
            }
            None => {
                leave_channels(t, id, &mut self.counts, |channel| {
                    removed.push(Key::Channel(topic_name.clone(), channel.clone()));
                });
                if let Some(reg) = t.producers.remove(&id) {
                    entry.topics.remove(topic.as_str());
                    if reg.tombstoned_at().is_some() {
                        self.tombstoned.remove(&(id, topic_name.clone()));
                    }
                    self.counts.topic_registrations -= 1;
                    removed.push(Key::Topic(topic_name.clone()));
                }
                if t.producers.is_empty() && topic.is_ephemeral() {
                    set_registered(&mut self.counts, &mut self.topics_generation, t, false);
                }
            }
        }
        if t.is_unused() {
            self.topics.remove(topic.as_str());
        }
        removed
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
                leave_channels(t, id, &mut self.counts, |channel| {
                    if let Some(r) = removed.as_deref_mut() {
                        r.push(Key::Channel(topic.clone(), channel.clone()));
                    }
                });
                if let Some(reg) = t.producers.remove(&id) {
                    if reg.tombstoned_at().is_some() {
                        self.tombstoned.remove(&(id, topic.clone()));
                    }
                    self.counts.topic_registrations -= 1;
                }
                if t.producers.is_empty() && names::is_ephemeral(&topic) {
                    set_registered(&mut self.counts, &mut self.topics_generation, t, false);
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

    /// `POST /topic/create`: adds the topic key if it is missing.
    pub fn create_topic(&mut self, topic: &Name) {
        let t = self.topics.entry(topic.shared().clone()).or_default();
        set_registered(&mut self.counts, &mut self.topics_generation, t, true);
    }

    /// `POST /channel/create`: adds the channel key and its topic key.
    pub fn create_channel(&mut self, topic: &Name, channel: &Name) {
        let t = self.topics.entry(topic.shared().clone()).or_default();
        if t.channels
            .insert_new(channel.shared().clone(), VecSet::default())
        {
            self.counts.channels += 1;
        }
        set_registered(&mut self.counts, &mut self.topics_generation, t, true);
    }

    /// `POST /topic/delete`: removes the topic key and all its channel keys,
    /// with every producer registered under them. Returns the channels
    /// removed and whether the topic key existed.
    pub fn delete_topic(&mut self, topic: &Name) -> (Vec<Arc<str>>, bool) {
        let Some(t) = self.topics.remove(topic.as_str()) else {
            return (Vec::new(), false);
        };
        let mut channels = Vec::with_capacity(t.channels.len());
        for (channel, members) in t.channels {
            self.counts.channel_registrations -= members.len();
            self.counts.channels -= 1;
            channels.push(channel);
        }
        for (id, reg) in t.producers.iter() {
            if let Some(entry) = self.producers.get_mut(id) {
                entry.topics.remove(topic.as_str());
            }
            if reg.tombstoned_at().is_some() {
                self.tombstoned.remove(&(*id, topic.shared().clone()));
            }
        }
        self.counts.topic_registrations -= t.producers.len();
        if t.registered {
            self.counts.topics -= 1;
            self.topics_generation += 1;
        }
        (channels, t.registered)
    }

    /// `POST /channel/delete`: removes the channel key and its producers.
    /// Returns false when there was no such channel.
    pub fn delete_channel(&mut self, topic: &Name, channel: &Name) -> bool {
        let Some(t) = self.topics.get_mut(topic.as_str()) else {
            return false;
        };
        let Some(members) = t.channels.remove(channel.as_str()) else {
            return false;
        };
        if t.is_unused() {
            self.topics.remove(topic.as_str());
        }
        self.counts.channel_registrations -= members.len();
        self.counts.channels -= 1;
        true
    }

    /// `POST /topic/tombstone`: tombstones this topic's registrations by
    /// every producer whose `broadcast_address:http_port` is `node`.
    /// Returns how many were tombstoned.
    pub fn tombstone(&mut self, topic: &Name, node: &str, now: Timestamp) -> usize {
        let Some(t) = self.topics.get_mut(topic.as_str()) else {
            return 0;
        };
        let mut n = 0;
        for (id, reg) in t.producers.iter_mut() {
            let info = &reg.producer.info;
            if node_matches(node, &info.broadcast_address, info.http_port) {
                if reg.tombstoned_at().is_none() {
                    self.tombstoned.insert((*id, topic.shared().clone()));
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

    /// Whether producer `id`'s registration of `topic` is hidden now.
    fn is_tombstoned(
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

    /// How many identified producers have been silent longer than `timeout`.
    pub fn inactive_producers(&self, now: Timestamp, timeout: Duration) -> usize {
        self.producers
            .values()
            .filter(|e| !e.producer.is_active(now, timeout))
            .count()
    }

    /// `/lookup`: `None` when the topic key does not exist.
    pub fn lookup(&self, topic: &Name, now: Timestamp, timeouts: Timeouts) -> Option<Lookup> {
        let t = self.topics.get(topic.as_str()).filter(|t| t.registered)?;
        Some(Lookup {
            channels: t.channels.keys().cloned().collect(),
            producers: t
                .producers
                .values()
                .filter(|r| {
                    r.producer.is_active(now, timeouts.inactive_producer)
                        && !r.is_tombstoned(now, timeouts.tombstone_lifetime)
                })
                .map(|r| r.producer.clone())
                .collect(),
        })
    }

    /// `/topics`: every topic key, sorted.
    pub fn topics(&self) -> Vec<Arc<str>> {
        let mut names = self.topics_unsorted();
        names.sort_unstable();
        names
    }

    /// Changes whenever the set of topic keys does (and only then).
    pub fn topics_generation(&self) -> u64 {
        self.topics_generation
    }

    /// Every topic key, in no order: to copy under the lock and sort after
    /// releasing it.
    pub fn topics_unsorted(&self) -> Vec<Arc<str>> {
        self.topics
            .iter()
            .filter(|(_, t)| t.registered)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `/channels`: every channel key of the topic, sorted (whether or not
    /// the topic key exists, as in Go).
    pub fn channels(&self, topic: &Name) -> Vec<Arc<str>> {
        self.topics
            .get(topic.as_str())
            .map(|t| t.channels.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// `/nodes`: active producers with their topics and tombstones.
    pub fn nodes(&self, now: Timestamp, timeouts: Timeouts) -> Vec<Node> {
        let mut out = Vec::new();
        self.nodes_page(None, usize::MAX, now, timeouts, &mut out);
        out
    }

    /// One page of `/nodes`: the active producers after `after` (in id
    /// order), appended to `out` until about `max_items` topics have been
    /// copied. Returns the id to continue after, or `None` at the end.
    ///
    /// Paging lets the caller release the lock between pages: a `/nodes`
    /// of 100 producers × 1,000 topics then never holds writers (and the
    /// readers queued behind them) for the whole copy. As in Go, whose
    /// `/nodes` takes the lock once per producer, the answer is not one
    /// atomic snapshot.
    pub fn nodes_page(
        &self,
        after: Option<ProducerId>,
        max_items: usize,
        now: Timestamp,
        timeouts: Timeouts,
        out: &mut Vec<Node>,
    ) -> Option<ProducerId> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut copied = 0;
        let mut last = None;
        let lifetime = timeouts.tombstone_lifetime;
        // The least name: where a producer's tombstones start in the index.
        let first_name: Arc<str> = Arc::from("");
        for (id, e) in self.producers.range((start, Bound::Unbounded)) {
            if copied >= max_items {
                return last;
            }
            last = Some(*id);
            if !e.producer.is_active(now, timeouts.inactive_producer) {
                continue;
            }
            copied += e.topics.len() + 1;
            let mut topics: Vec<(Arc<str>, bool)> =
                e.topics.iter().map(|name| (name.clone(), false)).collect();
            // Only the few tombstoned registrations need a look at their
            // topic; both lists are sorted by name.
            if !self.tombstoned.is_empty() {
                let mine = self
                    .tombstoned
                    .range((*id, first_name.clone())..)
                    .take_while(|(p, _)| p == id);
                for (_, name) in mine {
                    if let Ok(i) = topics.binary_search_by(|(t, _)| t.cmp(name)) {
                        topics[i].1 = self.is_tombstoned(*id, name, now, lifetime);
                    }
                }
            }
            out.push(Node {
                producer: e.producer.clone(),
                topics,
            });
        }
        None
    }

    /// `/debug`: every key that has producers, with them. Keys come in no
    /// particular order; the caller sorts by its rendering.
    pub fn debug(&self) -> Vec<(Key, Vec<DebugEntry>)> {
        let entry = |producer: &Arc<Producer>, tombstoned_at| DebugEntry {
            producer: producer.clone(),
            tombstoned_at,
        };
        let mut out = Vec::new();
        if !self.producers.is_empty() {
            out.push((
                Key::Client,
                self.producers
                    .values()
                    .map(|e| entry(&e.producer, None))
                    .collect(),
            ));
        }
        for (topic, t) in self.topics.iter() {
            for (channel, members) in t.channels.iter() {
                if members.is_empty() {
                    continue;
                }
                let list = members
                    .iter()
                    .filter_map(|id| self.producers.get(id))
                    .map(|e| entry(&e.producer, None))
                    .collect();
                out.push((Key::Channel(topic.clone(), channel.clone()), list));
            }
            if !t.producers.is_empty() {
                let list = t
                    .producers
                    .values()
                    .map(|r| entry(&r.producer, r.tombstoned_at()))
                    .collect();
                out.push((Key::Topic(topic.clone()), list));
            }
        }
        out
    }

    /// Current sizes.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Checks that both indexes and the counts agree; for tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counts = Counts {
            producers: self.producers.len(),
            ..Counts::default()
        };
        for (name, t) in self.topics.iter() {
            if t.is_unused() {
                return Err(format!("unused topic entry {name}"));
            }
            if !t.registered && !t.producers.is_empty() {
                return Err(format!("producers on missing topic key {name}"));
            }
            counts.topics += usize::from(t.registered);
            counts.channels += t.channels.len();
            counts.topic_registrations += t.producers.len();
            for (id, reg) in t.producers.iter() {
                let e = self
                    .producers
                    .get(id)
                    .ok_or_else(|| format!("topic {name} has unknown producer {id}"))?;
                if !e.topics.contains(name) {
                    return Err(format!("producer {id} misses topic {name}"));
                }
                if !Arc::ptr_eq(&reg.producer, &e.producer) {
                    return Err(format!("topic {name} holds a stale producer {id}"));
                }
                let indexed = self.tombstoned.contains(&(*id, name.clone()));
                if indexed != reg.tombstoned_at().is_some() {
                    return Err(format!("tombstone index wrong for {id} in {name}"));
                }
            }
            for (channel, members) in t.channels.iter() {
                counts.channel_registrations += members.len();
                for id in members {
                    if !t.producers.contains_key(id) {
                        return Err(format!(
                            "producer {id} in channel {name}/{channel} but not in its topic"
                        ));
                    }
                }
            }
        }
        for (id, topic) in &self.tombstoned {
            let present = self
                .topics
                .get(topic)
                .is_some_and(|t| t.producers.contains_key(id));
            if !present {
                return Err(format!("tombstone of {id} in {topic} outlived it"));
            }
        }
        for (id, e) in &self.producers {
            for topic in &e.topics {
                let ok = self
                    .topics
                    .get(topic)
                    .is_some_and(|t| t.producers.contains_key(id));
                if !ok {
                    return Err(format!("producer {id} holds stale topic {topic}"));
                }
            }
        }
        if counts != self.counts {
            return Err(format!("counts {:?} != actual {:?}", self.counts, counts));
        }
        Ok(())
    }
}

/// Whether `node` is `address:port` for this address and port, compared
/// without building a string.
fn node_matches(node: &str, address: &str, port: u16) -> bool {
    node.strip_prefix(address)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|p| p == port.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s.as_bytes()).unwrap()
    }

    fn peer(n: u16) -> PeerInfo {
        PeerInfo {
            remote_address: format!("127.0.0.1:{}", 10_000 + n),
            hostname: "h".into(),
            broadcast_address: "b".into(),
            tcp_port: 4150 + n,
            http_port: 4151 + n,
            version: "1.3.0".into(),
            ..PeerInfo::default()
        }
    }

    const T: Timeouts = Timeouts {
        inactive_producer: Duration::from_secs(300),
        tombstone_lifetime: Duration::from_secs(45),
    };

    fn strs(v: &[Arc<str>]) -> Vec<&str> {
        v.iter().map(|s| &**s).collect()
    }

    #[test]
    fn register_lookup_disconnect() {
        let mut r = Registry::new();
        let now = Timestamp(1);
        let p = r.identify(peer(1), now);
        let added = r.register(p.id(), &name("t"), Some(&name("c")));
        assert_eq!(
            added,
            vec![Key::Channel("t".into(), "c".into()), Key::Topic("t".into())]
        );
        assert!(r.register(p.id(), &name("t"), Some(&name("c"))).is_empty());
        let l = r.lookup(&name("t"), now, T).unwrap();
        assert_eq!(strs(&l.channels), ["c"]);
        assert_eq!(l.producers.len(), 1);
        r.check_invariants().unwrap();

        let removed = r.remove_producer(p.id());
        assert_eq!(removed.len(), 3);
        let l = r.lookup(&name("t"), now, T).unwrap();
        assert_eq!(strs(&l.channels), ["c"], "keys stay after disconnect");
        assert!(l.producers.is_empty());
        assert_eq!(strs(&r.topics()), ["t"]);
        r.check_invariants().unwrap();
    }

    #[test]
    fn ephemeral_keys_vanish_with_last_producer() {
        let mut r = Registry::new();
        let now = Timestamp(1);
        let a = r.identify(peer(1), now);
        let b = r.identify(peer(2), now);
        let (t, c) = (name("t#ephemeral"), name("c#ephemeral"));
        r.register(a.id(), &t, Some(&c));
        r.register(b.id(), &t, Some(&c));
        r.remove_producer(a.id());
        assert_eq!(strs(&r.channels(&t)), ["c#ephemeral"]);
        r.unregister(b.id(), &t, Some(&c));
        assert!(r.channels(&t).is_empty());
        assert_eq!(strs(&r.topics()), ["t#ephemeral"]);
        r.unregister(b.id(), &t, None);
        assert!(r.topics().is_empty());
        r.check_invariants().unwrap();
        assert_eq!(
            r.counts(),
            Counts {
                producers: 1,
                ..Counts::default()
            }
        );
    }

    #[test]
    fn inactive_and_tombstoned_are_hidden() {
        let mut r = Registry::new();
        let p = r.identify(peer(1), Timestamp(0));
        let q = r.identify(peer(2), Timestamp(0));
        r.register(p.id(), &name("t"), None);
        r.register(q.id(), &name("t"), None);
        r.register(p.id(), &name("u"), None);
        let later = Timestamp(T.inactive_producer.as_nanos() as u64 + 1);
        q.touch(later);
        assert_eq!(r.lookup(&name("t"), later, T).unwrap().producers.len(), 1);
        assert_eq!(r.nodes(later, T).len(), 1);

        assert_eq!(r.tombstone(&name("t"), "b:4153", later), 1);
        assert!(r.lookup(&name("t"), later, T).unwrap().producers.is_empty());
        let nodes = r.nodes(later, T);
        assert_eq!(nodes[0].topics, vec![(Arc::from("t"), true)]);
        let after = Timestamp(later.0 + T.tombstone_lifetime.as_nanos() as u64);
        q.touch(after);
        assert_eq!(r.lookup(&name("t"), after, T).unwrap().producers.len(), 1);
        assert_eq!(r.tombstone(&name("t"), "b:415", later), 0);
        assert_eq!(r.tombstone(&name("t"), "b:41533", later), 0);
    }

    #[test]
    fn pages_add_up_to_the_whole() {
        let mut r = Registry::new();
        let now = Timestamp(0);
        for p in 0..7u16 {
            let prod = r.identify(peer(p), now);
            for t in 0..(p * 3) {
                r.register(prod.id(), &name(&format!("t{p}-{t}")), None);
            }
        }
        r.create_topic(&name("zz"));
        for max in [1, 2, 5, 1000] {
            let mut nodes = Vec::new();
            let mut after = None;
            loop {
                after = r.nodes_page(after, max, now, T, &mut nodes);
                if after.is_none() {
                    break;
                }
            }
            let ids = |v: &[Node]| v.iter().map(|n| n.producer.id()).collect::<Vec<_>>();
            assert_eq!(ids(&nodes), ids(&r.nodes(now, T)), "max {max}");
            assert_eq!(nodes.iter().map(|n| n.topics.len()).sum::<usize>(), 63);
        }
    }

    #[test]
    fn delete_topic_updates_producer_index() {
        let mut r = Registry::new();
        let p = r.identify(peer(1), Timestamp(0));
        r.register(p.id(), &name("t"), Some(&name("c")));
        r.register(p.id(), &name("u"), None);
        let (channels, existed) = r.delete_topic(&name("t"));
        assert_eq!((strs(&channels), existed), (vec!["c"], true));
        r.check_invariants().unwrap();
        let nodes = r.nodes(Timestamp(0), T);
        assert_eq!(nodes[0].topics, vec![(Arc::from("u"), false)]);
        assert!(!r.delete_channel(&name("u"), &name("c")));
        r.create_channel(&name("u"), &name("c"));
        assert!(r.delete_channel(&name("u"), &name("c")));
        r.check_invariants().unwrap();
    }
}
