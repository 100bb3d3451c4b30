//! The V1 HTTP API's answers, as bytes, independent of HTTP.
//!
//! The HTTP server and the C ABI both call these (they are methods of the
//! instance's [`State`]), so `lookupd_query_lookup` returns exactly the
//! body `GET /lookup` would. Field names, field order
//! and error messages are the Go original's (`nsqlookupd/http.go`,
//! `internal/http_api`); lists are sorted so answers are deterministic.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::address::Finding;
use crate::clock::GO_ZERO_TIME_UNIX_NANOS;
use crate::instance::State;
use crate::json;
use crate::logging::{logf, Level};
use crate::names::Name;
use crate::registry::{Lookup, PeerInfo, Producer};
use crate::version::NSQ_VERSION;

/// An API failure: the HTTP status and the `message` of the JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The V1 error message, e.g. `TOPIC_NOT_FOUND`.
    pub message: &'static str,
}

impl ApiError {
    /// A 400 with this message.
    pub const fn bad_request(message: &'static str) -> ApiError {
        ApiError {
            status: 400,
            message,
        }
    }

    /// The V1 error body: `{"message":"…"}`.
    pub fn body(&self) -> Vec<u8> {
        json::to_vec(&Message {
            message: self.message,
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct Message<'a> {
    message: &'a str,
}

/// `TOPIC_NOT_FOUND`, the 404 of `/lookup`.
pub const TOPIC_NOT_FOUND: ApiError = ApiError {
    status: 404,
    message: "TOPIC_NOT_FOUND",
};

/// `CHANNEL_NOT_FOUND`, the 404 of `/channel/delete`.
pub const CHANNEL_NOT_FOUND: ApiError = ApiError {
    status: 404,
    message: "CHANNEL_NOT_FOUND",
};

/// Validates a topic argument of a write. `*` and every other invalid name
/// is a 400 `INVALID_ARG_TOPIC` before it reaches the registry (the Go
/// original treats `*` as a wildcard and deletes or tombstones everything).
pub fn topic_arg(topic: &[u8]) -> Result<Name, ApiError> {
    Name::new(topic).ok_or(ApiError::bad_request("INVALID_ARG_TOPIC"))
}

/// Validates a channel argument.
pub fn channel_arg(channel: &[u8]) -> Result<Name, ApiError> {
    Name::new(channel).ok_or(ApiError::bad_request("INVALID_ARG_CHANNEL"))
}

#[derive(Serialize)]
struct PeerView<'a> {
    remote_address: &'a str,
    hostname: &'a str,
    broadcast_address: &'a str,
    tcp_port: u16,
    http_port: u16,
    version: &'a str,
    topology_zone: &'a str,
    topology_region: &'a str,
}

impl<'a> PeerView<'a> {
    /// A producer that said `i` about itself, answered at `address`.
    fn of(i: &'a PeerInfo, address: &'a str) -> Self {
        PeerView {
            remote_address: &i.remote_address,
            hostname: &i.hostname,
            broadcast_address: address,
            tcp_port: i.tcp_port,
            http_port: i.http_port,
            version: &i.version,
            topology_zone: &i.topology_zone,
            topology_region: &i.topology_region,
        }
    }
}

#[derive(Serialize)]
struct ChannelsView<'a> {
    channels: Vec<&'a str>,
}

/// One producer in `/debug`; fields in the alphabetical order Go's map
/// encoding gives them.
#[derive(Serialize)]
struct DebugView<'a> {
    broadcast_address: &'a str,
    hostname: &'a str,
    http_port: u16,
    id: &'a str,
    last_update: i64,
    tcp_port: u16,
    tombstoned: bool,
    tombstoned_at: i64,
    topology_region: &'a str,
    topology_zone: &'a str,
    version: &'a str,
}

/// One producer in `/reachability`.
#[derive(Serialize)]
struct ReachView<'a> {
    remote_address: &'a str,
    hostname: &'a str,
    broadcast_address: &'a str,
    tcp_port: u16,
    http_port: u16,
    answered_address: &'a str,
    check: &'static str,
    resolved: Vec<String>,
    detail: &'a str,
}

#[derive(Serialize)]
struct ReachabilityView<'a> {
    producer_address: &'static str,
    producers: Vec<ReachView<'a>>,
}

#[derive(Serialize)]
struct InfoView<'a> {
    version: &'a str,
}

/// The body of `/lookup` for an answer copied out of the registry.
pub fn lookup_body(answer: &Lookup) -> Vec<u8> {
    let views: Vec<Cow<'_, [u8]>> = answer.producers.iter().map(|p| peer_json(p)).collect();
    let peers: usize = views.iter().map(|v| v.len() + 1).sum();
    let mut out = Vec::with_capacity(40 + 26 * answer.channels.len() + peers);
    out.extend_from_slice(b"{\"channels\":[");
    let mut first = true;
    for c in &answer.channels {
        push_item(&mut out, &mut first, |o| push_name(o, c));
    }
    out.extend_from_slice(b"],\"producers\":[");
    let mut first = true;
    for v in &views {
        push_item(&mut out, &mut first, |o| o.extend_from_slice(v));
    }
    out.extend_from_slice(b"]}");
    out
}

/// A producer as `/lookup` lists it (and `/nodes` begins it), in Go's
/// field order, rendered once per producer (once its address is settled).
fn peer_json(p: &Producer) -> Cow<'_, [u8]> {
    p.view(|info, address| json::to_vec(&PeerView::of(info, address)))
}

/// Topics read per hold of the registry's read lock for `/topics` and
/// `/nodes`, so writers never wait long behind a large answer (a page
/// takes about half a millisecond: 10⁶ topics, 61 pages, are written in
/// 28 ms for `/topics` and 40 ms for `/nodes`).
const PAGE: usize = 16 * 1024;

/// Attempts at an atomic paged `/topics` before it is read in one hold.
const TOPICS_ATTEMPTS: usize = 3;

fn strs(v: &[Name]) -> Vec<&str> {
    v.iter().map(|s| s.as_str()).collect()
}

/// Appends `name` as a JSON string. Valid names are ASCII letters,
/// digits, `.`, `_`, `-` and `#`, none of which JSON escapes.
fn push_name(out: &mut Vec<u8>, name: &Name) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

/// Appends `item`, preceded by a comma unless it is the first.
fn push_item(out: &mut Vec<u8>, first: &mut bool, item: impl FnOnce(&mut Vec<u8>)) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    item(out);
}

impl State {
    /// `GET /lookup?topic=`: the topic's channels and active producers.
    ///
    /// An invalid name (`*` included) cannot be registered, so it is simply
    /// not found, as any unregistered name is in Go.
    pub fn lookup_json(&self, topic: &[u8]) -> Result<Vec<u8>, ApiError> {
        let topic = Name::new(topic).ok_or(TOPIC_NOT_FOUND)?;
        let now = self.now();
        let answer = self
            .read()
            .lookup(&topic, now, self.timeouts())
            .ok_or(TOPIC_NOT_FOUND)?;
        Ok(lookup_body(&answer))
    }

    /// `GET /topics`: every topic.
    ///
    /// Read off the registry in name order a page at a time, so a large
    /// answer never holds writers up; if the topic set changes meanwhile
    /// the walk starts again, so the answer is one moment's set, as Go's.
    /// It is kept and given again until the set changes: nsqadmin asks for
    /// it on every page, and handing out the kept one costs nothing.
    pub fn topics_json(&self) -> Bytes {
        let generation = self.read().topics_generation();
        if let Some((kept, body)) = &*self.topics_answer.lock() {
            if *kept == generation {
                return body.clone();
            }
        }
        let (generation, body) = self.render_topics();
        let body = Bytes::from(body);
        let mut kept = self.topics_answer.lock();
        if kept.as_ref().is_none_or(|(g, _)| *g < generation) {
            *kept = Some((generation, body.clone()));
        }
        body
    }

    /// The body of `/topics` and the topic-set generation it is of.
    fn render_topics(&self) -> (u64, Vec<u8>) {
        let mut out = Vec::new();
        let mut attempt = 0;
        loop {
            // A set that keeps changing is read in one hold at last: one
            // page cannot see the generation change.
            let page = if attempt < TOPICS_ATTEMPTS {
                PAGE
            } else {
                usize::MAX
            };
            attempt += 1;
            out.clear();
            out.extend_from_slice(b"{\"topics\":[");
            let mut first = true;
            let mut after: Option<Name> = None;
            let mut generation = None;
            let complete = loop {
                let registry = self.read();
                let now = registry.topics_generation();
                if *generation.get_or_insert(now) != now {
                    break false;
                }
                after = registry.topics_page(after.as_ref(), page, |name| {
                    push_item(&mut out, &mut first, |o| push_name(o, name))
                });
                if after.is_none() {
                    break true;
                }
            };
            if let (true, Some(g)) = (complete, generation) {
                out.extend_from_slice(b"]}");
                return (g, out);
            }
        }
    }

    /// `GET /channels?topic=`: every channel of the topic.
    /// An invalid name has no channels, as in Go.
    pub fn channels_json(&self, topic: &[u8]) -> Vec<u8> {
        let channels = match Name::new(topic) {
            Some(topic) => self.read().channels(&topic),
            None => Vec::new(),
        };
        json::to_vec(&ChannelsView {
            channels: strs(&channels),
        })
    }

    /// `GET /nodes`: active producers, each with its topics and, at the
    /// same index, whether that registration is tombstoned.
    pub fn nodes_json(&self) -> Vec<u8> {
        self.nodes_pieces().concat()
    }

    /// `GET /nodes` as the pieces of its body, in order, to be sent as
    /// they are (at 10^6 registrations the body is some 16 MB).
    ///
    /// The registrations are read off the registry in topic-name order, a
    /// page at a time, so each producer's topics come out sorted with no
    /// sort and writers wait at most a page. Each producer's part is
    /// written as its registrations come: one piece up to its topics
    /// (the peer's fields and its tombstones), one piece of its topics.
    pub fn nodes_pieces(&self) -> Vec<Bytes> {
        let now = self.now();
        let timeouts = self.timeouts();
        let active = self.read().active_producers(now, timeouts);
        struct Part {
            head: Vec<u8>,
            topics: Vec<u8>,
        }
        let mut parts: Vec<Part> = active
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let peer = peer_json(&a.producer);
                let mut head = Vec::with_capacity(peer.len() + 32 + 6 * a.topics);
                if i > 0 {
                    head.push(b',');
                }
                // The peer's fields, then the two lists in Go's order.
                head.extend_from_slice(&peer[..peer.len() - 1]);
                head.extend_from_slice(b",\"tombstones\":[");
                let topics = Vec::with_capacity(a.name_bytes + 3 * a.topics + 2);
                Part { head, topics }
            })
            .collect();
        let slots = active
            .iter()
            .map(|a| a.slot as usize + 1)
            .max()
            .unwrap_or(0);
        // By slot: the producer's index in `active`, and its id (a slot
        // is reused once its producer is gone).
        let mut bucket = vec![(usize::MAX, 0); slots];
        for (i, a) in active.iter().enumerate() {
            bucket[a.slot as usize] = (i, a.producer.id());
        }
        let mut after: Option<Name> = None;
        loop {
            after = self.read().registrations_page(
                after.as_ref(),
                PAGE,
                now,
                timeouts,
                |slot, id, name, hidden| {
                    let Some(&(i, listed)) = bucket.get(slot as usize) else {
                        return;
                    };
                    // Not listed, or a slot reused by a later producer.
                    if i == usize::MAX || listed != id {
                        return;
                    }
                    let part = &mut parts[i];
                    if !part.topics.is_empty() {
                        part.topics.push(b',');
                        part.head.push(b',');
                    }
                    push_name(&mut part.topics, name);
                    part.head
                        .extend_from_slice(if hidden { b"true" } else { b"false" });
                },
            );
            if after.is_none() {
                break;
            }
        }
        let mut pieces = Vec::with_capacity(2 * parts.len() + 2);
        pieces.push(Bytes::from_static(b"{\"producers\":["));
        for mut part in parts {
            part.head.extend_from_slice(b"],\"topics\":[");
            part.topics.extend_from_slice(b"]}");
            pieces.push(Bytes::from(part.head));
            pieces.push(Bytes::from(part.topics));
        }
        pieces.push(Bytes::from_static(b"]}"));
        pieces
    }

    /// `GET /debug`: every registration with its producers' raw state.
    pub fn debug_json(&self) -> Vec<u8> {
        let entries = self.read().debug();
        let mut out: BTreeMap<String, Vec<DebugView<'_>>> = BTreeMap::new();
        for (key, list) in &entries {
            let name = format!("{}:{}:{}", key.category(), key.key(), key.subkey());
            let views = list
                .iter()
                .map(|e| {
                    let i = e.producer.info();
                    DebugView {
                        broadcast_address: e.producer.address(),
                        hostname: &i.hostname,
                        http_port: i.http_port,
                        id: &i.remote_address,
                        last_update: e.producer.last_update().unix_nanos(),
                        tcp_port: i.tcp_port,
                        tombstoned: e.tombstoned_at.is_some(),
                        tombstoned_at: e
                            .tombstoned_at
                            .map_or(GO_ZERO_TIME_UNIX_NANOS, |t| t.unix_nanos()),
                        topology_region: &i.topology_region,
                        topology_zone: &i.topology_zone,
                        version: &i.version,
                    }
                })
                .collect();
            out.insert(name, views);
        }
        json::to_vec(&out)
    }

    /// `GET /reachability` (ours): every producer, live or restored, with
    /// the address it advertises, the one answers give, and what checking
    /// the advertised one found (`ok`, `unresolvable`, `loopback`,
    /// `not_checked`, `pending` while it is resolved, `restored` for a
    /// producer restored from a snapshot whose nsqd has not come back).
    pub fn reachability_json(&self) -> Vec<u8> {
        let producers = self.read().all_producers();
        let views = producers
            .iter()
            .map(|(p, restored)| {
                let i = p.info();
                let finding = p.finding();
                ReachView {
                    remote_address: &i.remote_address,
                    hostname: &i.hostname,
                    broadcast_address: &i.broadcast_address,
                    tcp_port: i.tcp_port,
                    http_port: i.http_port,
                    answered_address: p.address(),
                    check: match finding {
                        Some(f) => f.as_str(),
                        None if *restored => "restored",
                        None => "pending",
                    },
                    resolved: finding
                        .map(|f| f.resolved().iter().map(|ip| ip.to_string()).collect())
                        .unwrap_or_default(),
                    detail: match finding {
                        Some(Finding::Unresolvable(why)) => why,
                        Some(Finding::NotChecked(why)) => why,
                        _ => "",
                    },
                }
            })
            .collect();
        json::to_vec(&ReachabilityView {
            producer_address: self.reach.policy().as_str(),
            producers: views,
        })
    }

    /// `GET /info`.
    pub fn info_json(&self) -> Vec<u8> {
        json::to_vec(&InfoView {
            version: NSQ_VERSION,
        })
    }

    /// `POST /topic/create?topic=`.
    pub fn create_topic(&self, topic: &[u8]) -> Result<(), ApiError> {
        let topic = topic_arg(topic)?;
        logf!(self.log, Level::Info, "DB: adding topic({topic})");
        self.write().create_topic(&topic);
        Ok(())
    }

    /// `POST /topic/delete?topic=`: the topic and all its channels.
    pub fn delete_topic(&self, topic: &[u8]) -> Result<(), ApiError> {
        let topic = topic_arg(topic)?;
        let (channels, existed) = self.write().delete_topic(&topic);
        for channel in channels {
            logf!(
                self.log,
                Level::Info,
                "DB: removing channel({channel}) from topic({topic})"
            );
        }
        if existed {
            logf!(self.log, Level::Info, "DB: removing topic({topic})");
        }
        Ok(())
    }

    /// `POST /channel/create?topic=&channel=`, its arguments validated by
    /// the caller ([`topic_arg`], then [`channel_arg`]: Go reports a bad
    /// topic before a missing channel).
    pub fn create_channel(&self, topic: &Name, channel: &Name) {
        logf!(
            self.log,
            Level::Info,
            "DB: adding channel({channel}) in topic({topic})"
        );
        // Go adds the two keys one after the other and logs both.
        logf!(self.log, Level::Info, "DB: adding topic({topic})");
        self.write().create_channel(topic, channel);
    }

    /// `POST /channel/delete?topic=&channel=`, its arguments validated as
    /// for [`State::create_channel`].
    pub fn delete_channel(&self, topic: &Name, channel: &Name) -> Result<(), ApiError> {
        if !self.write().delete_channel(topic, channel) {
            return Err(CHANNEL_NOT_FOUND);
        }
        logf!(
            self.log,
            Level::Info,
            "DB: removing channel({channel}) from topic({topic})"
        );
        Ok(())
    }

    /// `POST /topic/tombstone?topic=&node=`: hides the topic's producers at
    /// `node` (`broadcast_address:http_port`) from `/lookup` for the
    /// tombstone lifetime.
    pub fn tombstone(&self, topic: &[u8], node: &[u8]) -> Result<(), ApiError> {
        let topic = topic_arg(topic)?;
        let node = String::from_utf8_lossy(node);
        logf!(
            self.log,
            Level::Info,
            "DB: setting tombstone for producer@{node} of topic({topic})"
        );
        let now = self.now();
        self.write().tombstone(&topic, &node, now);
        Ok(())
    }
}
