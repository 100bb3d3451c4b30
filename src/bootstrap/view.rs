//! A peer's answers, read as an image of its registry: what the
//! bootstrap restores, the way a snapshot is restored. Pure: bytes of
//! JSON in, an [`Image`] out.
//!
//! Go's nsqlookupd and ours both serve `/topics` (every topic key),
//! `/nodes` (the active producers, their topics and tombstones),
//! `/debug` (every registration with a producer, each producer's last
//! ping and each tombstone's time) and `/channels?topic=` (every channel
//! key of a topic, those created with no producer included, which
//! `/debug` leaves out). `/debug` is the richest but the largest (some
//! 250 bytes per registration); when it is too large to read, `/nodes`
//! stands in for it: the producers it lists are active (so answered as
//! just pinged), a tombstone it shows is taken as just set, and channel
//! keys come from `/channels` alone. Ours also serves `/reachability`,
//! which gives the address each nsqd advertised where the answers show
//! another (`-producer-address`), so a returning nsqd is recognised.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;

use crate::clock::GO_ZERO_TIME_UNIX_NANOS;
use crate::names::Name;
use crate::registry::image::{Image, ImageProducer, ImageTombstone, ImageTopic};
use crate::registry::PeerInfo;

/// What was read from one peer.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    /// `/topics`.
    pub(crate) topics: Vec<String>,
    /// `/nodes`.
    pub(crate) nodes: Vec<NodeProducer>,
    /// `/debug`, unless it was too large.
    pub(crate) debug: Option<HashMap<String, Vec<DebugProducer>>>,
    /// `/reachability` (ours only): advertised and answered addresses by
    /// remote address.
    pub(crate) advertised: HashMap<String, (String, String)>,
    /// `/channels?topic=` by topic, for the topics read in time.
    pub(crate) channels: HashMap<String, Vec<String>>,
}

/// A producer as `/nodes` lists it.
#[derive(Debug, Deserialize)]
pub(crate) struct NodeProducer {
    remote_address: String,
    #[serde(default)]
    hostname: String,
    broadcast_address: String,
    tcp_port: u16,
    http_port: u16,
    #[serde(default)]
    version: String,
    #[serde(default)]
    topology_zone: String,
    #[serde(default)]
    topology_region: String,
    #[serde(default)]
    tombstones: Vec<bool>,
    #[serde(default)]
    topics: Vec<String>,
}

/// A producer under one key of `/debug`.
#[derive(Debug, Deserialize)]
pub(crate) struct DebugProducer {
    id: String,
    #[serde(default)]
    hostname: String,
    broadcast_address: String,
    tcp_port: u16,
    http_port: u16,
    #[serde(default)]
    version: String,
    #[serde(default)]
    topology_zone: String,
    #[serde(default)]
    topology_region: String,
    #[serde(default)]
    last_update: i64,
    #[serde(default)]
    tombstoned: bool,
    #[serde(default)]
    tombstoned_at: i64,
}

#[derive(Deserialize)]
pub(crate) struct TopicsAnswer {
    pub(crate) topics: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct NodesAnswer {
    pub(crate) producers: Vec<NodeProducer>,
}

#[derive(Deserialize)]
pub(crate) struct ChannelsAnswer {
    pub(crate) channels: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct ReachAnswer {
    pub(crate) producers: Vec<ReachProducer>,
}

#[derive(Deserialize)]
pub(crate) struct ReachProducer {
    pub(crate) remote_address: String,
    pub(crate) broadcast_address: String,
    pub(crate) answered_address: String,
}

/// Parses a JSON answer, naming the endpoint when it is not what it
/// should be.
pub(crate) fn parse<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("{what}: {e}"))
}

/// Builds the image of a peer's registry from its answers, read at
/// `now_unix` (Unix nanoseconds); tombstones older than `tombstone_lifetime`
/// are over and left out. Ephemeral names are left to the restore, which
/// skips them.
pub(crate) fn image(a: &Answers, now_unix: i64, tombstone_lifetime: Duration) -> Image {
    let mut b = Builder::default();
    let age = |at: i64| Duration::from_nanos(u64::try_from(now_unix.saturating_sub(at)).unwrap_or(0));
    match &a.debug {
        Some(debug) => {
            // The connections first, in a stable order.
            let mut clients: Vec<&DebugProducer> =
                debug.get("client::").map(|v| v.iter().collect()).unwrap_or_default();
            clients.sort_by(|x, y| x.id.cmp(&y.id));
            for p in clients {
                b.producer(a, p.info(), age(p.last_update));
            }
            let mut keys: Vec<&String> = debug.keys().collect();
            keys.sort();
            for key in keys {
                let mut parts = key.splitn(3, ':');
                let (category, topic, channel) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                );
                let Some(topic) = Name::new(topic.as_bytes()) else {
                    continue;
                };
                for p in &debug[key] {
                    let i = b.producer(a, p.info(), age(p.last_update));
                    match category {
                        "topic" => {
                            b.register(&topic, None, i);
                            let at = p.tombstoned_at;
                            if p.tombstoned && at != GO_ZERO_TIME_UNIX_NANOS {
                                b.tombstone(i, &topic, age(at), tombstone_lifetime);
                            }
                        }
                        "channel" => match Name::new(channel.as_bytes()) {
                            Some(c) => b.register(&topic, Some(&c), i),
                            None => continue,
                        },
                        _ => {}
                    }
                }
            }
        }
        None => {
            for p in &a.nodes {
                let i = b.producer(a, p.info(), Duration::ZERO);
                for (j, topic) in p.topics.iter().enumerate() {
                    let Some(topic) = Name::new(topic.as_bytes()) else {
                        continue;
                    };
                    b.register(&topic, None, i);
                    if p.tombstones.get(j).copied().unwrap_or(false) {
                        b.tombstone(i, &topic, Duration::ZERO, tombstone_lifetime);
                    }
                }
            }
        }
    }
    for t in &a.topics {
        if let Some(topic) = Name::new(t.as_bytes()) {
            b.topics.entry(topic).or_default();
        }
    }
    for (t, channels) in &a.channels {
        let Some(topic) = Name::new(t.as_bytes()) else {
            continue;
        };
        let entry = b.topics.entry(topic).or_default();
        for c in channels {
            if let Some(c) = Name::new(c.as_bytes()) {
                entry.channels.entry(c).or_default();
            }
        }
    }
    b.finish()
}

impl DebugProducer {
    fn info(&self) -> PeerInfo {
        PeerInfo {
            remote_address: self.id.clone(),
            hostname: self.hostname.clone(),
            broadcast_address: self.broadcast_address.clone(),
            tcp_port: self.tcp_port,
            http_port: self.http_port,
            version: self.version.clone(),
            topology_zone: self.topology_zone.clone(),
            topology_region: self.topology_region.clone(),
        }
    }
}

impl NodeProducer {
    fn info(&self) -> PeerInfo {
        PeerInfo {
            remote_address: self.remote_address.clone(),
            hostname: self.hostname.clone(),
            broadcast_address: self.broadcast_address.clone(),
            tcp_port: self.tcp_port,
            http_port: self.http_port,
            version: self.version.clone(),
            topology_zone: self.topology_zone.clone(),
            topology_region: self.topology_region.clone(),
        }
    }
}

/// One topic of the image being built.
#[derive(Default)]
struct TopicEntry {
    producers: Vec<u32>,
    channels: BTreeMap<Name, Vec<u32>>,
}

#[derive(Default)]
struct Builder {
    producers: Vec<ImageProducer>,
    /// By remote address (a connection of the peer).
    index: HashMap<String, u32>,
    topics: BTreeMap<Name, TopicEntry>,
    tombstones: Vec<ImageTombstone>,
}

impl Builder {
    /// The index of the producer `info` describes, added if new.
    fn producer(&mut self, a: &Answers, mut info: PeerInfo, idle: Duration) -> u32 {
        if let Some(i) = self.index.get(&info.remote_address) {
            return *i;
        }
        // Where the peer answers another address than the advertised one,
        // the nsqd will identify with the advertised one.
        let mut answered = None;
        if let Some((advertised, shown)) = a.advertised.get(&info.remote_address) {
            if *advertised != *shown {
                answered = Some(shown.clone());
            }
            info.broadcast_address = advertised.clone();
        }
        let i = self.producers.len() as u32;
        self.index.insert(info.remote_address.clone(), i);
        self.producers.push(ImageProducer {
            info,
            answered,
            idle,
        });
        i
    }

    fn register(&mut self, topic: &Name, channel: Option<&Name>, producer: u32) {
        let t = self.topics.entry(topic.clone()).or_default();
        let members = match channel {
            Some(c) => t.channels.entry(c.clone()).or_default(),
            None => &mut t.producers,
        };
        if !members.contains(&producer) {
            members.push(producer);
        }
    }

    fn tombstone(&mut self, producer: u32, topic: &Name, age: Duration, lifetime: Duration) {
        if age < lifetime {
            self.tombstones.push(ImageTombstone {
                producer,
                topic: topic.clone(),
                age,
            });
        }
    }

    fn finish(self) -> Image {
        Image {
            producers: self.producers,
            topics: self
                .topics
                .into_iter()
                .map(|(name, t)| ImageTopic {
                    name,
                    producers: t.producers,
                    channels: t.channels.into_iter().collect(),
                })
                .collect(),
            tombstones: self.tombstones,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/go-1.3.0");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{GO}/{name}")).unwrap()
    }

    /// The answers of the recorded Go 1.3.0 nsqlookupd, as read at its
    /// capture time.
    fn go_answers(with_debug: bool) -> (Answers, i64) {
        let capture: serde_json::Value = serde_json::from_slice(&fixture("capture.json")).unwrap();
        let at = capture["captured_at_unix_ns"]
            .as_i64()
            .unwrap_or_else(|| panic!("no capture time in {capture}"));
        let topics: TopicsAnswer = parse(&fixture("topics.json"), "/topics").unwrap();
        let mut a = Answers {
            nodes: parse::<NodesAnswer>(&fixture("nodes.json"), "/nodes").unwrap().producers,
            debug: with_debug.then(|| parse(&fixture("debug.json"), "/debug").unwrap()),
            ..Answers::default()
        };
        for t in &topics.topics {
            let file = format!("channels-{}.json", t.replace('#', "_"));
            let c: ChannelsAnswer = parse(&fixture(&file), "/channels").unwrap();
            a.channels.insert(t.clone(), c.channels);
        }
        a.topics = topics.topics;
        (a, at)
    }

    fn names(v: &[(Name, Vec<u32>)]) -> Vec<&str> {
        v.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn go_s_answers_make_an_image() {
        for with_debug in [true, false] {
            let (a, at) = go_answers(with_debug);
            let image = image(&a, at, Duration::from_secs(45));
            assert_eq!(image.producers.len(), 2, "{with_debug}");
            let topic = |n: &str| image.topics.iter().find(|t| t.name.as_str() == n).unwrap();
            // Created with no producer: the topic and its channel.
            assert!(topic("ahead").producers.is_empty());
            assert_eq!(names(&topic("ahead").channels), ["waiting"]);
            // A channel created on a topic with producers.
            assert!(names(&topic("orders").channels).contains(&"audit"));
            assert_eq!(topic("orders").producers.len(), 2);
            // B's tombstone on payments, with its age.
            assert_eq!(image.tombstones.len(), 1, "{with_debug}");
            assert_eq!(image.tombstones[0].topic.as_str(), "payments");
            assert!(image.tombstones[0].age < Duration::from_secs(45));
            // Idle times as of the capture: both just pinged.
            for p in &image.producers {
                assert!(p.idle < Duration::from_secs(60), "{:?}", p.idle);
                assert_eq!(p.info.broadcast_address, "127.0.0.1");
            }
        }
    }

    #[test]
    fn a_tombstone_past_its_lifetime_is_left_out() {
        let (a, at) = go_answers(true);
        let later = at + 60_000_000_000;
        assert!(image(&a, later, Duration::from_secs(45)).tombstones.is_empty());
    }

    #[test]
    fn the_advertised_address_is_what_a_returning_nsqd_matches() {
        let (mut a, at) = go_answers(true);
        let remote = a.nodes[0].remote_address.clone();
        a.advertised
            .insert(remote.clone(), ("nsqd-a.example".into(), "127.0.0.1".into()));
        let image = image(&a, at, Duration::from_secs(45));
        let p = image
            .producers
            .iter()
            .find(|p| p.info.remote_address == remote)
            .unwrap();
        assert_eq!(p.info.broadcast_address, "nsqd-a.example");
        assert_eq!(p.answered.as_deref(), Some("127.0.0.1"));
    }
}
