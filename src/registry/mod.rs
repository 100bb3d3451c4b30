//! The registration database: which producers hold which topics and
//! channels.
//!
//! The Go original keeps a single map of `(category, key, subkey)` to
//! producers and scans all of it to list a topic's channels, to drop a
//! disconnected producer and, once per producer, to answer `/nodes`. Here
//! the same facts are kept in indexes that point at each other:
//!
//! - by topic name ([`topic`]; `blocks`: blocks of entries in name order
//!   with a hash index over them): whether the topic key exists, its
//!   producers and its channel keys with their members, inline for the
//!   common one-producer, one-channel topic;
//! - by producer ([`producer`]): a table of producers, which topics refer
//!   to by slot, each with the names of the topics it holds;
//! - channel names, interned (`channels`): each distinct name once;
//! - the few tombstoned registrations, by producer and topic
//!   ([`tombstones`]);
//! - the producers restored from a snapshot, until their nsqd comes back
//!   ([`restore`]); [`image`] is what a snapshot holds.
//!
//! Every operation therefore costs in proportion to what it touches or
//! returns, never to the size of the database, and a topic held by one
//! nsqd with one channel costs some 70 bytes all told (`bench/RESULTS.md`
//! has the breakdown). Keeping topics in name order means `/topics` and
//! `/nodes` never sort: they are read off in order, a page at a time. Semantics are Go's (pinned by the
//! model test in `tests/registry_model.rs`): REGISTER with a channel
//! registers the topic too; removing a producer leaves the keys behind, so
//! `/topics` still lists them; inactive and tombstoned producers are
//! filtered when queried. One deliberate difference: an `#ephemeral` key
//! also vanishes when its last producer disconnects (Go removes it only on
//! an explicit UNREGISTER and otherwise keeps it forever).
//!
//! The registry is synchronous and does no I/O; callers put it behind a
//! lock and serialise answers after releasing it.

mod block;
mod blocks;
mod channels;
#[cfg(any(test, feature = "internals"))]
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
mod check;
pub mod image;
mod keys;
pub mod producer;
pub mod restore;
pub mod tombstones;
pub mod topic;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::names::Name;
use blocks::Blocks;
use channels::Channels;
use producer::Producers;
pub use producer::{Answer, PeerInfo, Producer, ProducerId, Slot};
use restore::Restoration;
use tombstones::Tombstones;
use topic::Topic;

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
    Topic(Name),
    /// `channel:<topic>:<channel>`.
    Channel(Name, Name),
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
    pub channels: Vec<Name>,
    /// Active, untombstoned producers of the topic, in IDENTIFY order.
    pub producers: Vec<Arc<Producer>>,
}

/// One entry of `/nodes`.
#[derive(Debug, Clone)]
#[cfg(any(test, feature = "internals"))]
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub struct Node {
    /// The producer.
    pub producer: Arc<Producer>,
    /// Its topics, sorted, each with whether it is tombstoned now.
    pub topics: Vec<(Name, bool)>,
}

/// An active producer, as `/nodes` starts from: where it is and how much
/// it holds (to size the answer before reading it).
#[derive(Debug, Clone)]
pub struct ActiveProducer {
    /// Its slot, as `registrations_page` reports registrations.
    pub slot: Slot,
    /// The producer.
    pub producer: Arc<Producer>,
    /// How many topics it holds.
    pub topics: usize,
    /// The total length of those topics' names.
    pub name_bytes: usize,
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
    /// By name, in name order (`blocks`): a lookup costs one hash probe at
    /// any size, growing rehashes one shard of the index at a time, and
    /// listings need no sort.
    topics: Blocks<Topic>,
    channels: Channels,
    producers: Producers,
    next_id: ProducerId,
    counts: Counts,
    /// Bumped whenever a topic key is added or removed, so an answer to
    /// `/topics` can be reused until it changes.
    topics_generation: u64,
    tombstones: Tombstones,
    /// Producers restored from a snapshot, until their nsqd comes back.
    restoration: Restoration,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether producer `p` shows in `/lookup` of `topic` now.
    fn visible(&self, p: &Producer, topic: &[u8], now: Timestamp, timeouts: Timeouts) -> bool {
        p.is_active(now, timeouts.inactive_producer)
            && !self.is_tombstoned(p.id(), topic, now, timeouts.tombstone_lifetime)
    }

    /// `/lookup`: `None` when the topic key does not exist.
    pub fn lookup(&self, topic: &Name, now: Timestamp, timeouts: Timeouts) -> Option<Lookup> {
        let t = self
            .topics
            .get(topic.as_bytes())
            .filter(|t| t.registered())?;
        Some(Lookup {
            channels: t
                .channel_ids()
                .map(|c| self.channels.name(c).clone())
                .collect(),
            producers: t
                .producer_slots()
                .filter_map(|s| self.producers.get(s))
                .filter(|e| self.visible(&e.producer, topic.as_bytes(), now, timeouts))
                .map(|e| e.producer.clone())
                .collect(),
        })
    }

    /// `/topics`: every topic key, sorted.
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn topics(&self) -> Vec<Name> {
        let mut out = Vec::with_capacity(self.counts.topics);
        self.topics_page(None, usize::MAX, |name| out.push(name.clone()));
        out
    }

    /// Changes whenever the set of topic keys does (and only then).
    pub fn topics_generation(&self) -> u64 {
        self.topics_generation
    }

    /// One page of `/topics`: calls `f` with each topic key after `after`,
    /// in name order, until `max` topics have been visited. Returns the name
    /// to continue after, or `None` at the end. Paging lets a caller release
    /// the lock between pages of a very large answer.
    pub fn topics_page(
        &self,
        after_name: Option<&Name>,
        max: usize,
        mut f: impl FnMut(&Name),
    ) -> Option<Name> {
        let mut visited = 0;
        for (name, t) in self.topics.after(after_name.map(Name::as_bytes)) {
            if t.registered() {
                f(name);
            }
            visited += 1;
            if visited == max {
                return Some(name.clone());
            }
        }
        None
    }

    /// `/channels`: every channel key of the topic, sorted (whether or not
    /// the topic key exists, as in Go).
    pub fn channels(&self, topic: &Name) -> Vec<Name> {
        self.topics
            .get(topic.as_bytes())
            .map(|t| {
                t.channel_ids()
                    .map(|c| self.channels.name(c).clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The active producers, in IDENTIFY order, with their slots: whom
    /// `/nodes` lists.
    pub fn active_producers(&self, now: Timestamp, timeouts: Timeouts) -> Vec<ActiveProducer> {
        self.producers
            .iter()
            .filter(|(_, e)| e.producer.is_active(now, timeouts.inactive_producer))
            .map(|(slot, e)| ActiveProducer {
                slot,
                producer: e.producer.clone(),
                topics: e.topics.len(),
                name_bytes: e.topics.name_bytes(),
            })
            .collect()
    }

    /// One page of the topic registrations, in topic-name order: calls
    /// `f(slot, producer id, topic, tombstoned)` for each registration of the
    /// topics after `after`, until about `max` topics have been visited.
    /// Returns the topic to continue after, or `None` at the end.
    ///
    /// `/nodes` is built from these pages: each producer's topics come out
    /// sorted without a sort, and the caller releases the lock between
    /// pages, so even 10^6 registrations never hold writers up for long.
    /// As in Go, whose `/nodes` takes the lock once per producer, the
    /// answer is not one atomic snapshot. A slot is reused once its
    /// producer is gone; compare ids to tell producers apart across pages.
    pub fn registrations_page(
        &self,
        after_name: Option<&Name>,
        max: usize,
        now: Timestamp,
        timeouts: Timeouts,
        mut f: impl FnMut(Slot, ProducerId, &Name, bool),
    ) -> Option<Name> {
        let lifetime = timeouts.tombstone_lifetime;
        let mut visited = 0;
        for (name, t) in self.topics.after(after_name.map(Name::as_bytes)) {
            for slot in t.producer_slots() {
                if let Some(e) = self.producers.get(slot) {
                    let hidden = self.is_tombstoned(e.id, name.as_bytes(), now, lifetime);
                    f(slot, e.id, name, hidden);
                }
            }
            visited += 1;
            if visited == max {
                return Some(name.clone());
            }
        }
        None
    }

    /// `/nodes`: active producers with their topics and tombstones.
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn nodes(&self, now: Timestamp, timeouts: Timeouts) -> Vec<Node> {
        let active = self.active_producers(now, timeouts);
        let mut bucket = vec![usize::MAX; self.producers.slot_count()];
        for (i, a) in active.iter().enumerate() {
            bucket[a.slot as usize] = i;
        }
        let mut out: Vec<Node> = active
            .into_iter()
            .map(|a| Node {
                producer: a.producer,
                topics: Vec::with_capacity(a.topics),
            })
            .collect();
        self.registrations_page(None, usize::MAX, now, timeouts, |slot, _, name, hidden| {
            if let Some(n) = out.get_mut(bucket[slot as usize]) {
                n.topics.push((name.clone(), hidden));
            }
        });
        out
    }

    /// `/debug`: every key that has producers, with them. Keys come in no
    /// particular order; the caller sorts by its rendering.
    pub fn debug(&self) -> Vec<(Key, Vec<DebugEntry>)> {
        let entry = |producer: &Arc<Producer>, tombstoned_at| DebugEntry {
            producer: producer.clone(),
            tombstoned_at,
        };
        let by_id = |id: ProducerId| {
            self.producers
                .slot(id)
                .and_then(|s| self.producers.get(s))
                .map(|e| entry(&e.producer, None))
        };
        let mut out = Vec::new();
        if self.producers.len() > 0 {
            out.push((
                Key::Client,
                self.producers
                    .iter()
                    .map(|(_, e)| entry(&e.producer, None))
                    .collect(),
            ));
        }
        for (topic, t) in self.topics.iter() {
            let channels: Vec<(channels::ChanId, Vec<DebugEntry>)> = match t {
                Topic::Small {
                    producer,
                    channel,
                    member,
                } => {
                    let members = if *member {
                        self.producers
                            .get(*producer)
                            .map(|e| vec![entry(&e.producer, None)])
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    if *channel == 0 {
                        Vec::new()
                    } else {
                        vec![(*channel, members)]
                    }
                }
                Topic::General(g) => g
                    .channels
                    .iter()
                    .map(|(c, members)| (*c, members.iter().filter_map(|id| by_id(*id)).collect()))
                    .collect(),
            };
            for (c, list) in channels {
                if !list.is_empty() {
                    out.push((
                        Key::Channel(topic.clone(), self.channels.name(c).clone()),
                        list,
                    ));
                }
            }
            if t.producer_count() > 0 {
                let list = t
                    .producer_slots()
                    .filter_map(|s| self.producers.get(s))
                    .map(|e| {
                        let at = self.tombstones.get(e.producer.id(), topic.as_bytes());
                        entry(&e.producer, at)
                    })
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

    fn strs(v: &[Name]) -> Vec<&str> {
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
            vec![Key::Channel(name("t"), name("c")), Key::Topic(name("t"))]
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
        assert_eq!(nodes[0].topics, vec![(name("t"), true)]);
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
        let whole = |max: usize| {
            let mut seen = Vec::new();
            let mut after: Option<Name> = None;
            loop {
                after = r.registrations_page(after.as_ref(), max, now, T, |_, id, t, hidden| {
                    seen.push((id, t.to_string(), hidden))
                });
                if after.is_none() {
                    break;
                }
            }
            seen
        };
        let all = whole(usize::MAX);
        assert_eq!(all.len(), 63);
        for max in [1, 2, 5, 1000] {
            assert_eq!(whole(max), all, "max {max}");
        }
        let mut names: Vec<String> = all.iter().map(|(_, t, _)| t.clone()).collect();
        let walked = names.clone();
        names.sort();
        assert_eq!(walked, names, "in topic-name order");
        let mut topics = Vec::new();
        let mut after: Option<Name> = None;
        loop {
            after = r.topics_page(after.as_ref(), 4, |t| topics.push(t.to_string()));
            if after.is_none() {
                break;
            }
        }
        assert_eq!(topics.len(), 64);
        assert_eq!(topics.last().map(String::as_str), Some("zz"));
    }

    #[test]
    fn a_producer_list_with_many_removals_is_tidied_and_disconnects_whole() {
        let mut r = Registry::new();
        let now = Timestamp(0);
        let p = r.identify(peer(1), now);
        let q = r.identify(peer(2), now);
        for i in 0..300 {
            r.register(p.id(), &name(&format!("t{i}")), Some(&name("c")));
        }
        r.register(q.id(), &name("t5"), None);
        for round in 0..3 {
            for i in (0..300).filter(|i| i % 7 != 0) {
                r.unregister(p.id(), &name(&format!("t{i}")), None);
                if i % 50 == 0 {
                    r.check_invariants().unwrap();
                }
            }
            // Some come back: the list holds them twice, once gone.
            for i in (0..300).filter(|i| i % 5 == 0) {
                r.register(p.id(), &name(&format!("t{i}")), None);
            }
            r.check_invariants().unwrap();
            let slot = r.producers.slot(p.id()).unwrap();
            let list = &r.producers.get(slot).unwrap().topics;
            // Untidied, the list would hold up to 480 names; tidying keeps
            // the dead ones to at most the live ones (or 63).
            let live = (0..300).filter(|i| i % 7 == 0 || i % 5 == 0).count();
            let names = list.iter().count();
            assert!(
                names <= live + live.max(63),
                "round {round}: {names} names for {live}"
            );
        }
        let held = r.counts().topic_registrations - 1;
        let removed = r.remove_producer(p.id());
        r.check_invariants().unwrap();
        let topics = removed
            .iter()
            .filter(|k| matches!(k, Key::Topic(_)))
            .count();
        assert_eq!(
            topics, held,
            "each registration removed once, gone names skipped"
        );
        assert_eq!(r.counts().topic_registrations, 1);
        assert_eq!(r.lookup(&name("t5"), now, T).unwrap().producers.len(), 1);
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
        assert_eq!(nodes[0].topics, vec![(name("u"), false)]);
        assert!(!r.delete_channel(&name("u"), &name("c")));
        r.create_channel(&name("u"), &name("c"));
        assert!(r.delete_channel(&name("u"), &name("c")));
        r.check_invariants().unwrap();
    }
}
