//! Starting complete without a disk: before serving, the registry of
//! running peers (`-bootstrap-from`, ours or Go's) is read over their
//! public HTTP API and restored as a snapshot is.
//!
//! A new instance (a pod rescheduled with no volume, one added to a
//! cluster, the first one after moving off Go) would otherwise answer
//! nothing for the 15 to 30 s every nsqd takes to reconnect: consumers
//! find nothing, and an nsqd creating a topic meanwhile asks
//! `/channels?topic=` and gets none, so its first messages go to one
//! channel only (nsqio/nsq #1508, #826). Tombstones and keys created over
//! HTTP live nowhere else.
//!
//! Every peer is read at once, each on a thread of its own, within one
//! deadline (`-bootstrap-timeout`): `/topics`, then `/debug` (unless the
//! topics show it would be too large; `/nodes` then), `/reachability`
//! (ours), then `/channels?topic=` for each topic, pipelined over a few
//! connections, those no registration names first (created with no
//! producer), until the deadline; a peer cut short gives what it gave. What each
//! peer gave is read as an image of its registry (`view`) and restored
//! into ours: producers are answered until their nsqd identifies here
//! and takes them over, or until `-restart-grace` ends; a producer known
//! to several peers (or to the snapshot) is one producer, recognised by
//! its broadcast address and ports; tombstones keep the lifetime they
//! have left; ephemeral names are skipped. A peer that cannot be reached,
//! does not answer in time, or answers garbage is named in a warning,
//! and the start goes on with the others, or empty: a bootstrap never
//! stops a start.

pub(crate) mod client;
mod view;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::CertificateDer;
use futures_rustls::rustls::{crypto, ClientConfig, RootCertStore};

use crate::clock::{nanos, Timestamp};
use crate::config::{duration, Options, Peer};
use crate::instance::State;
use crate::logging::{logf, Level};
use client::{Conn, Failure, Settings};
use view::{Answers, ChannelsAnswer, NodesAnswer, ReachAnswer, TopicsAnswer};

/// The largest `/topics` or `/nodes` read (`/nodes` at 10^6
/// registrations is some 16 MB).
const MAX_LIST: usize = 256 * 1024 * 1024;
/// The largest `/debug` read; beyond it, `/nodes` stands in for it.
const MAX_DEBUG: usize = 64 * 1024 * 1024;
/// The fewest bytes one producer under one key takes in `/debug` (Go's
/// entries are about 220 bytes, ours about 260).
const DEBUG_ENTRY: usize = 200;
/// The largest `/channels` or `/reachability` read.
const MAX_SMALL: usize = 16 * 1024 * 1024;
/// Connections per peer reading `/channels`.
const CHANNEL_READERS: usize = 4;
/// Requests in flight per connection reading `/channels`.
const PIPELINE: usize = 32;
/// Where Debian, Fedora, Alpine and the BSDs keep the system's CAs.
const SYSTEM_CAS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// What reading one peer gave: its answers and how many topics' channels
/// were left unread, or why nothing.
type PeerRead = Result<(Answers, usize), Failure>;

/// What a bootstrap brought in, for the log and the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Peers read (in full or in part).
    pub peers_read: usize,
    /// Peers that gave nothing.
    pub peers_failed: usize,
    /// Producers restored, awaiting their nsqd.
    pub producers: usize,
    /// Topic keys added.
    pub topics: usize,
    /// Channel keys added.
    pub channels: usize,
    /// Registrations added.
    pub registrations: usize,
    /// Tombstones set.
    pub tombstones: usize,
    /// Topics whose channels could not be read before the deadline.
    pub channels_unread: usize,
    /// How long it took.
    pub took: Duration,
}

/// Reads every peer of `-bootstrap-from` into `state`'s registry (before
/// anything is served). Returns when the grace window of the producers it
/// restored ends, if it restored any.
pub fn bootstrap(state: &State, token: &str) -> Option<Timestamp> {
    let opts = &state.opts;
    if opts.bootstrap_from.is_empty() {
        return None;
    }
    let started = Instant::now();
    let peers: Vec<Peer> = opts
        .bootstrap_from
        .iter()
        .filter_map(|p| Peer::parse(p).ok())
        .collect();
    let tls = match peers.iter().any(|p| p.https) {
        true => match tls(opts) {
            Ok(config) => Some(config),
            Err(why) => {
                logf!(state.log, Level::Warn, "BOOTSTRAP: {why}; https:// peers are skipped");
                None
            }
        },
        false => None,
    };
    let settings = Settings {
        token: token.to_owned(),
        tls,
        deadline: started + opts.bootstrap_timeout,
    };
    let read: Vec<(Peer, PeerRead)> = std::thread::scope(|s| {
        let threads: Vec<_> = peers
            .iter()
            .map(|peer| {
                let settings = &settings;
                let thread = std::thread::Builder::new()
                    .name("lookupd-bootstrap".into())
                    .spawn_scoped(s, move || read_peer(peer, settings));
                (peer.clone(), thread)
            })
            .collect();
        threads
            .into_iter()
            .map(|(peer, thread)| {
                let result = match thread {
                    Ok(t) => t.join().unwrap_or_else(|_| {
                        Err(Failure::Garbage("the reading thread panicked".into()))
                    }),
                    Err(e) => Err(Failure::Io(e)),
                };
                (peer, result)
            })
            .collect()
    });
    let outcome = restore(state, read, started);
    // The answers read were large and are gone: their memory goes back.
    crate::os::trim_heap();
    record(state, &outcome);
    logf!(
        state.log,
        Level::Info,
        "BOOTSTRAP: restored {} producers (answered for {} or until their nsqd identifies), {} topics, {} channels, {} registrations, {} tombstones from {} of {} peers in {}",
        outcome.producers,
        duration::format(opts.restart_grace),
        outcome.topics,
        outcome.channels,
        outcome.registrations,
        outcome.tombstones,
        outcome.peers_read,
        peers.len(),
        duration::format(outcome.took)
    );
    (outcome.producers > 0).then(|| state.now().plus(opts.restart_grace))
}

/// Puts what a bootstrap brought in into the metrics.
fn record(state: &State, o: &Outcome) {
    let m = &state.metrics.bootstrap;
    let set = |a: &std::sync::atomic::AtomicU64, v: usize| a.store(v as u64, Ordering::Relaxed);
    m.nanos.store(nanos(o.took), Ordering::Relaxed);
    set(&m.producers, o.producers);
    set(&m.topics, o.topics);
    set(&m.channels, o.channels);
    set(&m.registrations, o.registrations);
    set(&m.tombstones, o.tombstones);
    set(&m.peers_failed, o.peers_failed);
    set(&m.channels_unread, o.channels_unread);
}

/// Restores what the peers gave, in the order they were given.
fn restore(
    state: &State,
    read: Vec<(Peer, PeerRead)>,
    started: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    let now = state.now();
    let now_unix = unix_nanos_now();
    let lifetime = state.opts.tombstone_lifetime;
    // One hold of the write lock: nothing is served yet.
    let mut registry = state.write();
    let before = registry.counts();
    let awaiting_before = registry.restored_awaiting();
    for (peer, result) in read {
        let (answers, unread) = match result {
            Ok(r) => r,
            Err(why) => {
                outcome.peers_failed += 1;
                logf!(
                    state.log,
                    Level::Warn,
                    "BOOTSTRAP: peer {peer} - {why}; starting without it"
                );
                continue;
            }
        };
        outcome.peers_read += 1;
        outcome.channels_unread += unread;
        let image = view::image(&answers, now_unix, lifetime);
        let ids = registry.restore_producers(&image.producers, now);
        for t in &image.topics {
            registry.restore_topic(t, &ids);
        }
        let tombstones = image
            .tombstones
            .iter()
            .filter(|t| registry.restore_tombstone(t, &ids, now))
            .count();
        outcome.tombstones += tombstones;
        let partial = if unread > 0 {
            format!(
                "; the channels of {unread} topics were not read within -bootstrap-timeout {} (they come back as their nsqd register again)",
                duration::format(state.opts.bootstrap_timeout)
            )
        } else {
            String::new()
        };
        let debug = match (&answers.debug, answers.nodes.is_empty()) {
            (Some(_), _) => "",
            (None, false) => " (/debug too large: producers and tombstones from /nodes)",
            (None, true) => " (neither /debug nor /nodes in time: topics only)",
        };
        logf!(
            state.log,
            if unread > 0 { Level::Warn } else { Level::Info },
            "BOOTSTRAP: read peer {peer}: {} producers, {} topics, {} tombstones{debug}{partial}",
            image.producers.len(),
            image.topics.len(),
            tombstones
        );
    }
    let done = registry.restored_since(before);
    outcome.producers = registry.restored_awaiting().saturating_sub(awaiting_before);
    outcome.topics = done.topics;
    outcome.channels = done.channels;
    outcome.registrations = done.registrations;
    drop(registry);
    outcome.took = started.elapsed();
    outcome
}

/// Reads one peer's answers, and how many topics' channels were left
/// unread at the deadline.
fn read_peer(peer: &Peer, settings: &Settings) -> PeerRead {
    let mut conn = Conn::open(peer, settings)?;
    // Everything else is read against the topics: without them, nothing.
    let topics: TopicsAnswer = get_json(&mut conn, peer, settings, "/topics", MAX_LIST)?;
    let mut answers = Answers {
        topics: topics.topics,
        ..Answers::default()
    };
    // `/debug` first: the richest answer, and one pass over the peer's
    // registry, where Go's `/nodes` makes one per producer (8.5 s at 10^5
    // registrations). But the peer renders it whole before sending it
    // (Go's and ours): where the topics show it would be over its bound
    // (a topic and a channel registration a topic, at the least bytes an
    // entry takes), it is not asked for, and `/nodes` stands in for it.
    let estimate = answers.topics.len().saturating_mul(2 * DEBUG_ENTRY);
    if estimate <= MAX_DEBUG {
        match get_json(&mut conn, peer, settings, "/debug", MAX_DEBUG) {
            Ok(d) => answers.debug = Some(d),
            Err(Failure::TooLarge(_)) => {
                // The rest of that body is still coming: a new connection.
                match Conn::open(peer, settings) {
                    Ok(c) => conn = c,
                    Err(_) => return cut_short(answers),
                }
            }
            Err(Failure::Timeout) => return cut_short(answers),
            Err(e) => return Err(e),
        }
    }
    if answers.debug.is_none() {
        match get_json::<NodesAnswer>(&mut conn, peer, settings, "/nodes", MAX_LIST) {
            Ok(n) => answers.nodes = n.producers,
            Err(Failure::Timeout) => return cut_short(answers),
            Err(e) => return Err(e),
        }
    }
    // Ours only: a 404 from Go.
    match get_json::<ReachAnswer>(&mut conn, peer, settings, "/reachability", MAX_LIST) {
        Ok(r) => {
            answers.advertised = r
                .producers
                .into_iter()
                .map(|p| (p.remote_address, (p.broadcast_address, p.answered_address)))
                .collect()
        }
        Err(Failure::Timeout) => return cut_short(answers),
        Err(_) => {}
    }
    drop(conn);
    let wanted = channel_order(&answers);
    let (channels, unread) = read_channels(peer, settings, &wanted);
    answers.channels = channels;
    Ok((answers, unread))
}

/// What a peer gave when the deadline came before its channels were
/// read: what was read so far, every topic's channels unread.
fn cut_short(answers: Answers) -> PeerRead {
    let unread = channel_order(&answers).len();
    Ok((answers, unread))
}

/// The topics whose channels are read: not the ephemeral ones; first
/// those no registration in `/debug` names (their channels can be had
/// nowhere else), then the others.
fn channel_order(a: &Answers) -> Vec<String> {
    let registered: HashSet<&str> = match &a.debug {
        Some(d) => d
            .keys()
            .filter_map(|k| k.strip_prefix("topic:"))
            .filter_map(|k| k.strip_suffix(':'))
            .collect(),
        None => HashSet::new(),
    };
    let (mut first, rest): (Vec<String>, Vec<String>) = a
        .topics
        .iter()
        .filter(|t| !t.ends_with("#ephemeral"))
        .cloned()
        .partition(|t| !registered.contains(t.as_str()));
    first.extend(rest);
    first
}

/// Reads `/channels?topic=` for `topics`, over a few pipelined
/// connections, until done or the deadline. Returns what was read, and
/// how many topics were not.
fn read_channels(
    peer: &Peer,
    settings: &Settings,
    topics: &[String],
) -> (HashMap<String, Vec<String>>, usize) {
    let next = AtomicUsize::new(0);
    let read = Mutex::new(HashMap::with_capacity(topics.len()));
    let readers = CHANNEL_READERS.min(topics.len().div_ceil(PIPELINE));
    std::thread::scope(|s| {
        for _ in 0..readers {
            let (next, read) = (&next, &read);
            let reader = std::thread::Builder::new()
                .name("lookupd-bootstrap".into())
                .spawn_scoped(s, move || {
                    let Ok(mut conn) = Conn::open(peer, settings) else {
                        return;
                    };
                    loop {
                        let from = next.fetch_add(PIPELINE, Ordering::Relaxed);
                        if from >= topics.len() {
                            return;
                        }
                        let batch = &topics[from..(from + PIPELINE).min(topics.len())];
                        let paths: Vec<String> = batch
                            .iter()
                            .map(|t| format!("/channels?topic={}", t.replace('#', "%23")))
                            .collect();
                        let Ok(answers) = conn.get_many(&paths, MAX_SMALL) else {
                            return;
                        };
                        let mut got = Vec::with_capacity(batch.len());
                        for (topic, r) in batch.iter().zip(answers) {
                            if r.status != 200 {
                                continue;
                            }
                            if let Ok(c) = view::parse::<ChannelsAnswer>(&r.body, "/channels") {
                                got.push((topic.clone(), c.channels));
                            }
                        }
                        if let Ok(mut read) = read.lock() {
                            read.extend(got);
                        }
                    }
                });
            if reader.is_err() {
                break;
            }
        }
    });
    let read = read.into_inner().unwrap_or_default();
    let unread = topics.len().saturating_sub(read.len());
    (read, unread)
}

/// `GET path` as JSON, reconnecting first if the peer closed the last
/// connection.
fn get_json<T: serde::de::DeserializeOwned>(
    conn: &mut Conn,
    peer: &Peer,
    settings: &Settings,
    path: &str,
    max: usize,
) -> Result<T, Failure> {
    if conn.is_closed() {
        *conn = Conn::open(peer, settings)?;
    }
    let r = conn.get(path, max)?;
    if r.status != 200 {
        return Err(Failure::Status(r.status));
    }
    view::parse(&r.body, path).map_err(Failure::Garbage)
}

/// The TLS settings for `https://` peers: the CA file given, or the
/// system's.
fn tls(opts: &Options) -> Result<Arc<ClientConfig>, String> {
    let path = if opts.bootstrap_ca_file.is_empty() {
        SYSTEM_CAS
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .map(|p| p.to_string())
            .ok_or("no system CA bundle found; give -bootstrap-ca-file")?
    } else {
        opts.bootstrap_ca_file.clone()
    };
    let certs = CertificateDer::pem_file_iter(&path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("CA file {path}: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("CA file {path}: no certificate found"));
    }
    let config = ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn unix_nanos_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(nanos(d)).unwrap_or(i64::MAX))
}
