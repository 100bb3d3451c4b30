//! The V1 HTTP API's answers, as bytes, independent of HTTP.
//!
//! The HTTP server and the C ABI both call these (they are methods of the
//! instance's [`State`]), so `lookupd_query_lookup` returns exactly the
//! body `GET /lookup` would. Field names, field order
//! and error messages are the Go original's (`nsqlookupd/http.go`,
//! `internal/http_api`); lists are sorted so answers are deterministic.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use crate::clock::GO_ZERO_TIME_UNIX_NANOS;
use crate::json;
use crate::logging::{logf, Level};
use crate::names::Name;
use crate::registry::{Lookup, Producer};
use crate::state::State;
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
    fn of(p: &'a Producer) -> Self {
        let i = p.info();
        PeerView {
            remote_address: &i.remote_address,
            hostname: &i.hostname,
            broadcast_address: &i.broadcast_address,
            tcp_port: i.tcp_port,
            http_port: i.http_port,
            version: &i.version,
            topology_zone: &i.topology_zone,
            topology_region: &i.topology_region,
        }
    }
}

#[derive(Serialize)]
struct LookupView<'a> {
    channels: Vec<&'a str>,
    producers: Vec<PeerView<'a>>,
}

#[derive(Serialize)]
struct TopicsView<'a> {
    topics: Vec<&'a str>,
}

#[derive(Serialize)]
struct ChannelsView<'a> {
    channels: Vec<&'a str>,
}

#[derive(Serialize)]
struct NodesView<'a> {
    producers: Vec<NodeView<'a>>,
}

#[derive(Serialize)]
struct NodeView<'a> {
    remote_address: &'a str,
    hostname: &'a str,
    broadcast_address: &'a str,
    tcp_port: u16,
    http_port: u16,
    version: &'a str,
    topology_zone: &'a str,
    topology_region: &'a str,
    tombstones: Vec<bool>,
    topics: Vec<&'a str>,
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

#[derive(Serialize)]
struct InfoView<'a> {
    version: &'a str,
}

/// The body of `/lookup` for an answer copied out of the registry.
pub fn lookup_body(answer: &Lookup) -> Vec<u8> {
    json::to_vec(&LookupView {
        channels: strs(&answer.channels),
        producers: answer.producers.iter().map(|p| PeerView::of(p)).collect(),
    })
}

/// Items copied per hold of the registry's read lock for `/nodes`, so
/// writers never wait long behind a large answer.
const PAGE: usize = 4096;

fn strs(v: &[Arc<str>]) -> Vec<&str> {
    v.iter().map(|s| &**s).collect()
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
    /// The answer is kept and given again until the set of topics changes:
    /// nsqadmin asks for it on every page, and at 100,000 topics building it
    /// takes milliseconds where handing out the kept one takes nothing.
    pub fn topics_json(&self) -> Bytes {
        let (generation, mut topics) = {
            let registry = self.read();
            let generation = registry.topics_generation();
            if let Some((kept, body)) = &*self.topics_answer.lock() {
                if *kept == generation {
                    return body.clone();
                }
            }
            // Copied under the lock, sorted after releasing it.
            (generation, registry.topics_unsorted())
        };
        topics.sort_unstable();
        let body = Bytes::from(json::to_vec(&TopicsView {
            topics: strs(&topics),
        }));
        let mut kept = self.topics_answer.lock();
        if kept.as_ref().is_none_or(|(g, _)| *g < generation) {
            *kept = Some((generation, body.clone()));
        }
        body
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
        let now = self.now();
        let mut nodes = Vec::new();
        let mut after = None;
        loop {
            after = self
                .read()
                .nodes_page(after, PAGE, now, self.timeouts(), &mut nodes);
            if after.is_none() {
                break;
            }
        }
        let producers = nodes
            .iter()
            .map(|n| {
                let i = n.producer.info();
                NodeView {
                    remote_address: &i.remote_address,
                    hostname: &i.hostname,
                    broadcast_address: &i.broadcast_address,
                    tcp_port: i.tcp_port,
                    http_port: i.http_port,
                    version: &i.version,
                    topology_zone: &i.topology_zone,
                    topology_region: &i.topology_region,
                    tombstones: n.topics.iter().map(|(_, t)| *t).collect(),
                    topics: n.topics.iter().map(|(t, _)| &**t).collect(),
                }
            })
            .collect();
        json::to_vec(&NodesView { producers })
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
                        broadcast_address: &i.broadcast_address,
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

    /// `POST /channel/create?topic=&channel=`.
    pub fn create_channel(&self, topic: &[u8], channel: &[u8]) -> Result<(), ApiError> {
        let topic = topic_arg(topic)?;
        let channel = channel_arg(channel)?;
        logf!(
            self.log,
            Level::Info,
            "DB: adding channel({channel}) in topic({topic})"
        );
        // Go adds the two keys one after the other and logs both.
        logf!(self.log, Level::Info, "DB: adding topic({topic})");
        self.write().create_channel(&topic, &channel);
        Ok(())
    }

    /// `POST /channel/delete?topic=&channel=`.
    pub fn delete_channel(&self, topic: &[u8], channel: &[u8]) -> Result<(), ApiError> {
        let topic = topic_arg(topic)?;
        let channel = channel_arg(channel)?;
        if !self.write().delete_channel(&topic, &channel) {
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
