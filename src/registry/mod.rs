//! The registration database: which producers hold which topics and
//! channels.
//!
//! The Go original keeps a single map of `(category, key, subkey)` to
//! producers and scans all of it to list a topic's channels, to drop a
//! disconnected producer and, once per producer, to answer `/nodes`. Here
//! the same facts are kept in indexes that point at each other:
//!
//! - by topic ([`topic`]; hashed, in shards that grow separately,
//!   `shardmap`): whether the topic key exists, its producers (each with
//!   its own tombstone, as in Go) and its channel keys with their
//!   producers, in compact sorted vectors (`vecmap`);
//! - by producer ([`producer`]): the topics it is registered for (its
//!   channels are among those topics' channels);
//! - the few tombstoned registrations, by producer and topic
//!   ([`tombstones`]).
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

mod check;
pub mod producer;
mod shardmap;
pub mod tombstones;
pub mod topic;
mod vecmap;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::names::Name;
use producer::ProducerEntry;
pub use producer::{PeerInfo, Producer, ProducerId};
use shardmap::ShardMap;
use tombstones::Tombstones;
use topic::TopicEntry;
pub use topic::TopicRegistration;

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
    /// The registrations ever tombstoned and still present.
    tombstoned: Tombstones,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
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
        let least: Arc<str> = Arc::from("");
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
                for name in self.tombstoned.of(*id, &least) {
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
