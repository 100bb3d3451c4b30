//! Model-based test of the registry: random command sequences run against
//! the indexed registry and against a literal transcription of the Go
//! original's scan-everything `RegistrationDB` (one map from
//! `(category, key, subkey)` to producers), and every answer must agree.
//!
//! The model differs from Go in one rule only, the one the registry
//! documents: an `#ephemeral` key whose last producer leaves by disconnect
//! or by a topic UNREGISTER is removed too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lookupd::clock::Timestamp;
use lookupd::names::{is_ephemeral, Name};
use lookupd::registry::PeerInfo;
use lookupd::registry::{Key, ProducerId, Registry, Timeouts};
use proptest::prelude::*;

const TOPICS: &[&str] = &["a", "b", "x#ephemeral"];
const CHANNELS: &[&str] = &["c", "d", "e#ephemeral"];
const SLOTS: usize = 4;
const TIMEOUTS: Timeouts = Timeouts {
    inactive_producer: Duration::from_nanos(10),
    tombstone_lifetime: Duration::from_nanos(5),
};

#[derive(Debug, Clone)]
enum Op {
    Identify(usize),
    Register(usize, usize, Option<usize>),
    Unregister(usize, usize, Option<usize>),
    /// Disconnect, removed `batch` registrations at a time.
    Disconnect(usize, usize),
    Ping(usize),
    Advance(u64),
    CreateTopic(usize),
    DeleteTopic(usize),
    CreateChannel(usize, usize),
    DeleteChannel(usize, usize),
    Tombstone(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    let t = 0..TOPICS.len();
    let c = proptest::option::of(0..CHANNELS.len());
    prop_oneof![
        2 => slot.clone().prop_map(Op::Identify),
        6 => (slot.clone(), t.clone(), c.clone()).prop_map(|(s, t, c)| Op::Register(s, t, c)),
        3 => (slot.clone(), t.clone(), c).prop_map(|(s, t, c)| Op::Unregister(s, t, c)),
        1 => (slot.clone(), 1usize..6).prop_map(|(s, b)| Op::Disconnect(s, b)),
        2 => slot.clone().prop_map(Op::Ping),
        2 => (0u64..8).prop_map(Op::Advance),
        1 => t.clone().prop_map(Op::CreateTopic),
        1 => t.clone().prop_map(Op::DeleteTopic),
        1 => (t.clone(), 0..CHANNELS.len()).prop_map(|(t, c)| Op::CreateChannel(t, c)),
        1 => (t.clone(), 0..CHANNELS.len()).prop_map(|(t, c)| Op::DeleteChannel(t, c)),
        2 => (t, slot).prop_map(|(t, s)| Op::Tombstone(t, s)),
    ]
}

type RegKey = (&'static str, String, String);

#[derive(Debug, Default, Clone, Copy)]
struct ModelProducer {
    tombstoned_at: Option<u64>,
}

/// Go's RegistrationDB, literally.
#[derive(Default)]
struct Model {
    map: BTreeMap<RegKey, BTreeMap<ProducerId, ModelProducer>>,
    last_update: BTreeMap<ProducerId, u64>,
    http_port: BTreeMap<ProducerId, u16>,
}

impl Model {
    fn add_registration(&mut self, k: RegKey) {
        self.map.entry(k).or_default();
    }
    fn add_producer(&mut self, k: RegKey, id: ProducerId) {
        self.map.entry(k).or_default().entry(id).or_default();
    }
    fn remove_producer(&mut self, k: &RegKey, id: ProducerId) -> (bool, usize) {
        match self.map.get_mut(k) {
            None => (false, 0),
            Some(ps) => {
                let removed = ps.remove(&id).is_some();
                (removed, ps.len())
            }
        }
    }
    fn remove_registration(&mut self, k: &RegKey) {
        self.map.remove(k);
    }
    fn find(&self, cat: &str, key: Option<&str>) -> Vec<RegKey> {
        self.map
            .keys()
            .filter(|k| k.0 == cat && key.is_none_or(|key| k.1 == key))
            .cloned()
            .collect()
    }
    fn ephemeral_key(k: &RegKey) -> bool {
        match k.0 {
            "topic" => is_ephemeral(&k.1),
            "channel" => is_ephemeral(&k.2),
            _ => false,
        }
    }
    fn active(&self, id: ProducerId, now: u64) -> bool {
        now - self.last_update[&id] <= TIMEOUTS.inactive_producer.as_nanos() as u64
    }
    fn tombstoned(p: &ModelProducer, now: u64) -> bool {
        p.tombstoned_at
            .is_some_and(|at| now - at < TIMEOUTS.tombstone_lifetime.as_nanos() as u64)
    }
}

fn topic_key(t: &str) -> RegKey {
    ("topic", t.into(), String::new())
}
fn channel_key(t: &str, c: &str) -> RegKey {
    ("channel", t.into(), c.into())
}
fn name(s: &str) -> Name {
    Name::new(s.as_bytes()).unwrap()
}

struct World {
    reg: Registry,
    model: Model,
    slots: [Option<ProducerId>; SLOTS],
    now: u64,
}

impl World {
    fn apply(&mut self, op: &Op) {
        let now = Timestamp(self.now);
        match *op {
            Op::Identify(s) => {
                if self.slots[s].is_some() {
                    return;
                }
                let port = 4000 + s as u16;
                let p = self.reg.identify(
                    PeerInfo {
                        remote_address: format!("127.0.0.1:{port}"),
                        broadcast_address: "h".into(),
                        tcp_port: port,
                        http_port: port,
                        version: "v".into(),
                        ..PeerInfo::default()
                    },
                    now,
                );
                self.slots[s] = Some(p.id());
                self.model
                    .add_producer(("client", String::new(), String::new()), p.id());
                self.model.last_update.insert(p.id(), self.now);
                self.model.http_port.insert(p.id(), port);
            }
            Op::Register(s, t, c) => {
                let Some(id) = self.slots[s] else { return };
                let (t, c) = (TOPICS[t], c.map(|c| CHANNELS[c]));
                self.reg.register(id, &name(t), c.map(name).as_ref());
                if let Some(c) = c {
                    self.model.add_producer(channel_key(t, c), id);
                }
                self.model.add_producer(topic_key(t), id);
            }
            Op::Unregister(s, t, c) => {
                let Some(id) = self.slots[s] else { return };
                let (t, c) = (TOPICS[t], c.map(|c| CHANNELS[c]));
                self.reg.unregister(id, &name(t), c.map(name).as_ref());
                let m = &mut self.model;
                match c {
                    Some(c) => {
                        let k = channel_key(t, c);
                        let (_, left) = m.remove_producer(&k, id);
                        if left == 0 && is_ephemeral(c) {
                            m.remove_registration(&k);
                        }
                    }
                    None => {
                        for k in m.find("channel", Some(t)) {
                            let (removed, left) = m.remove_producer(&k, id);
                            if removed && left == 0 && Model::ephemeral_key(&k) {
                                m.remove_registration(&k);
                            }
                        }
                        let k = topic_key(t);
                        let (_, left) = m.remove_producer(&k, id);
                        if left == 0 && is_ephemeral(t) {
                            m.remove_registration(&k);
                        }
                    }
                }
            }
            Op::Disconnect(s, batch) => {
                let Some(id) = self.slots[s].take() else {
                    return;
                };
                while !self.reg.remove_producer_batch(id, batch, None) {
                    self.reg.check_invariants().unwrap();
                }
                let m = &mut self.model;
                let keys: Vec<RegKey> = m
                    .map
                    .iter()
                    .filter(|(_, ps)| ps.contains_key(&id))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    let (removed, left) = m.remove_producer(&k, id);
                    if removed && left == 0 && Model::ephemeral_key(&k) {
                        m.remove_registration(&k);
                    }
                }
            }
            Op::Ping(s) => {
                let Some(id) = self.slots[s] else { return };
                self.reg.producer(id).unwrap().touch(now);
                self.model.last_update.insert(id, self.now);
            }
            Op::Advance(dt) => self.now += dt,
            Op::CreateTopic(t) => {
                self.reg.create_topic(&name(TOPICS[t]));
                self.model.add_registration(topic_key(TOPICS[t]));
            }
            Op::DeleteTopic(t) => {
                self.reg.delete_topic(&name(TOPICS[t]));
                for k in self.model.find("channel", Some(TOPICS[t])) {
                    self.model.remove_registration(&k);
                }
                self.model.remove_registration(&topic_key(TOPICS[t]));
            }
            Op::CreateChannel(t, c) => {
                self.reg
                    .create_channel(&name(TOPICS[t]), &name(CHANNELS[c]));
                self.model
                    .add_registration(channel_key(TOPICS[t], CHANNELS[c]));
                self.model.add_registration(topic_key(TOPICS[t]));
            }
            Op::DeleteChannel(t, c) => {
                let found = self
                    .reg
                    .delete_channel(&name(TOPICS[t]), &name(CHANNELS[c]));
                let k = channel_key(TOPICS[t], CHANNELS[c]);
                assert_eq!(
                    found,
                    self.model.map.contains_key(&k),
                    "delete_channel found"
                );
                self.model.remove_registration(&k);
            }
            Op::Tombstone(t, s) => {
                let node = format!("h:{}", 4000 + s);
                self.reg.tombstone(&name(TOPICS[t]), &node, now);
                let ports = self.model.http_port.clone();
                if let Some(ps) = self.model.map.get_mut(&topic_key(TOPICS[t])) {
                    for (id, p) in ps.iter_mut() {
                        if format!("h:{}", ports[id]) == node {
                            p.tombstoned_at = Some(self.now);
                        }
                    }
                }
            }
        }
    }

    fn check(&self) {
        self.reg.check_invariants().unwrap();
        let now = Timestamp(self.now);
        let m = &self.model;
        // /topics
        let topics: Vec<String> = self.reg.topics().iter().map(|s| s.to_string()).collect();
        let expected: Vec<String> = m.find("topic", None).into_iter().map(|k| k.1).collect();
        assert_eq!(topics, expected, "topics");
        for t in TOPICS {
            // /channels
            let got: Vec<String> = self
                .reg
                .channels(&name(t))
                .iter()
                .map(|s| s.to_string())
                .collect();
            let channels: Vec<String> = m
                .find("channel", Some(t))
                .into_iter()
                .map(|k| k.2)
                .collect();
            assert_eq!(got, channels, "channels of {t}");
            // /lookup
            let got = self.reg.lookup(&name(t), now, TIMEOUTS);
            match m.map.get(&topic_key(t)) {
                None => assert!(got.is_none(), "lookup {t} should be 404"),
                Some(ps) => {
                    let got = got.expect("lookup found");
                    let got_channels: Vec<String> =
                        got.channels.iter().map(|s| s.to_string()).collect();
                    assert_eq!(got_channels, channels, "lookup channels of {t}");
                    let ids: Vec<ProducerId> = got.producers.iter().map(|p| p.id()).collect();
                    let expected: Vec<ProducerId> = ps
                        .iter()
                        .filter(|(id, p)| {
                            m.active(**id, self.now) && !Model::tombstoned(p, self.now)
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    assert_eq!(ids, expected, "lookup producers of {t}");
                }
            }
        }
        // /nodes
        let nodes: Vec<(ProducerId, Vec<(String, bool)>)> = self
            .reg
            .nodes(now, TIMEOUTS)
            .into_iter()
            .map(|n| {
                let topics = n.topics.iter().map(|(t, b)| (t.to_string(), *b)).collect();
                (n.producer.id(), topics)
            })
            .collect();
        let client = ("client", String::new(), String::new());
        let expected: Vec<(ProducerId, Vec<(String, bool)>)> = m
            .map
            .get(&client)
            .map(|ps| {
                ps.keys()
                    .filter(|id| m.active(**id, self.now))
                    .map(|id| {
                        let topics = m
                            .map
                            .iter()
                            .filter(|(k, ps)| k.0 == "topic" && ps.contains_key(id))
                            .map(|(k, ps)| (k.1.clone(), Model::tombstoned(&ps[id], self.now)))
                            .collect();
                        (*id, topics)
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(nodes, expected, "nodes");
        // /debug: keys with producers, and who is under each.
        let mut debug: Vec<(RegKey, Vec<ProducerId>)> = self
            .reg
            .debug()
            .into_iter()
            .map(|(k, es)| {
                let rk = match &k {
                    Key::Client => ("client", String::new(), String::new()),
                    Key::Topic(t) => topic_key(t),
                    Key::Channel(t, c) => channel_key(t, c),
                };
                (rk, es.iter().map(|e| e.producer.id()).collect())
            })
            .collect();
        debug.sort();
        let expected: Vec<(RegKey, Vec<ProducerId>)> = m
            .map
            .iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(k, ps)| (k.clone(), ps.keys().copied().collect()))
            .collect();
        assert_eq!(debug, expected, "debug");
        let counts = self.reg.counts();
        assert_eq!(counts.topics, m.find("topic", None).len());
        assert_eq!(counts.channels, m.find("channel", None).len());
        let ids: BTreeSet<_> = self.slots.iter().flatten().collect();
        assert_eq!(counts.producers, ids.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn indexed_registry_agrees_with_go_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut w = World {
            reg: Registry::new(),
            model: Model::default(),
            slots: [None; SLOTS],
            now: 100,
        };
        for op in &ops {
            let (topics, generation) = (w.reg.topics(), w.reg.topics_generation());
            w.apply(op);
            w.check();
            // A kept /topics answer is reused until the generation moves:
            // it must move whenever the topic set changes, and only then.
            let changed = w.reg.topics() != topics;
            prop_assert_eq!(w.reg.topics_generation() != generation, changed, "{:?}", op);
        }
    }
}
