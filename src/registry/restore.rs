//! Producers restored from a snapshot, until their nsqd comes back.
//!
//! After a restart, nsqd notices the lost connection only on its next
//! 15-second PING and reconnects on the one after, so for up to half a
//! minute it is registered nowhere. A snapshot's producers fill that gap:
//! they are answered as if connected, for a grace window. When an nsqd
//! identifies with the broadcast address and ports of a restored producer,
//! its live connection takes that producer over, registrations included,
//! so it is never missing from an answer and never listed twice; from
//! then on a disconnect removes it at once. The registrations it has not
//! registered again by the end of the grace window are dropped then (the
//! topics it stopped holding while lookupd was down), and so are the
//! restored producers whose nsqd never came back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::producer::{Answer, Origin, PeerInfo, Producer, ProducerId, Slot};
use super::{Key, Registry};
use crate::clock::Timestamp;
use crate::names::Name;

/// The restored producers still in the grace window.
#[derive(Debug, Default)]
pub(super) struct Restoration {
    /// Restored producers not taken over yet, by broadcast address and
    /// TCP and HTTP ports (what makes an nsqd the same nsqd).
    by_node: HashMap<(String, u16, u16), Vec<ProducerId>>,
    /// Every producer whose origin is not `Live`.
    pending: HashSet<ProducerId>,
}

impl Restoration {
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub(super) fn is_pending(&self, id: ProducerId) -> bool {
        self.pending.contains(&id)
    }

    /// The restored producers not taken over yet.
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub(super) fn awaiting(&self) -> impl Iterator<Item = ProducerId> + '_ {
        self.by_node.values().flatten().copied()
    }
}

fn node_key(info: &PeerInfo) -> (String, u16, u16) {
    (
        info.broadcast_address.clone(),
        info.tcp_port,
        info.http_port,
    )
}

/// What one step of ending the grace window did.
#[derive(Debug, Default)]
pub struct GraceStep {
    /// Restored producers whose nsqd never came back, now removed.
    pub gone: Vec<Arc<Producer>>,
    /// Restored registrations their nsqd did not register again, now
    /// removed, by producer.
    pub dropped: Vec<(Arc<Producer>, Key)>,
    /// Whether the grace window is fully ended (nothing restored is left).
    pub done: bool,
}

impl Registry {
    /// Adds a producer read from a snapshot or a peer's view (answered as
    /// if connected until its nsqd identifies again or the grace window
    /// ends). A producer already restored with the same broadcast address
    /// and ports (known to the snapshot and a peer, or to two peers) is the
    /// same nsqd: its id is given, with the later of the two last pings.
    pub(super) fn add_restored(
        &mut self,
        info: PeerInfo,
        last_update: Timestamp,
        answer: Answer,
    ) -> ProducerId {
        let key = node_key(&info);
        if let Some(&id) = self.restoration.by_node.get(&key).and_then(|ids| ids.first()) {
            if let Some(p) = self.producer_by_id(id) {
                if p.last_update() < last_update {
                    p.touch(last_update);
                }
            }
            return id;
        }
        let producer = self.add_producer(info, last_update, Origin::Restored, Some(answer));
        let id = producer.id();
        self.restoration.by_node.entry(key).or_default().push(id);
        self.restoration.pending.insert(id);
        id
    }

    /// If a restored producer has `info`'s broadcast address and ports,
    /// the identifying connection takes it over: same registrations (and
    /// tombstones), the new connection's details and `answer`.
    pub(super) fn take_over(
        &mut self,
        info: &PeerInfo,
        now: Timestamp,
        answer: Option<Answer>,
    ) -> Option<Arc<Producer>> {
        if self.restoration.by_node.is_empty() {
            return None;
        }
        let key = node_key(info);
        let ids = self.restoration.by_node.get_mut(&key)?;
        let id = ids.remove(0);
        if ids.is_empty() {
            self.restoration.by_node.remove(&key);
        }
        let slot = self.producers.slot(id)?;
        let keys = self.keys_of(slot);
        let producer = Arc::new(Producer::new(id, info.clone(), now, answer));
        let entry = self.producers.entry_mut(slot);
        entry.producer = producer.clone();
        entry.origin = if keys.is_empty() {
            self.restoration.pending.remove(&id);
            Origin::Live
        } else {
            Origin::TakenOver(keys)
        };
        Some(producer)
    }

    /// Every registration of the producer at `slot`, as (topic, channel).
    fn keys_of(&self, slot: Slot) -> HashSet<(Name, Option<Name>)> {
        let mut keys = HashSet::new();
        let Some(e) = self.producers.get(slot) else {
            return keys;
        };
        for topic in e.topics.iter() {
            let Some(name) = Name::new(topic) else {
                continue;
            };
            // The list may name topics it no longer holds.
            let Some(t) = self.topics.get(topic).filter(|_| self.holds(slot, topic)) else {
                continue;
            };
            for c in t.member_channels(e.id, slot) {
                keys.insert((name.clone(), Some(self.channels.name(c).clone())));
            }
            keys.insert((name, None));
        }
        keys
    }

    /// The producer at `slot` registered `topic` (and `channel`) on its
    /// live connection: a restored registration of it is confirmed.
    pub(super) fn confirm(&mut self, slot: Slot, topic: &Name, channel: Option<&Name>) {
        let entry = self.producers.entry_mut(slot);
        let Origin::TakenOver(keys) = &mut entry.origin else {
            return;
        };
        keys.remove(&(topic.clone(), None));
        if let Some(c) = channel {
            keys.remove(&(topic.clone(), Some(c.clone())));
        }
        if keys.is_empty() {
            entry.origin = Origin::Live;
            self.restoration.pending.remove(&entry.id);
        }
    }

    /// The producer at `slot` is being removed: forget it was restored.
    pub(super) fn forget_restored(&mut self, slot: Slot) {
        let Some(e) = self.producers.get(slot) else {
            return;
        };
        if !self.restoration.pending.remove(&e.id) {
            return;
        }
        let key = node_key(e.producer.info());
        if let Some(ids) = self.restoration.by_node.get_mut(&key) {
            ids.retain(|id| *id != e.id);
            if ids.is_empty() {
                self.restoration.by_node.remove(&key);
            }
        }
    }

    /// How many restored producers are still waiting for their nsqd.
    pub fn restored_awaiting(&self) -> usize {
        self.restoration.by_node.values().map(Vec::len).sum()
    }

    /// Ends the grace window, up to about `max` registrations at a time
    /// (so a caller can release the lock in between): removes restored
    /// producers whose nsqd did not come back, and the restored
    /// registrations of those that did but did not register them again.
    pub fn end_grace_step(&mut self, max: usize) -> GraceStep {
        let mut step = GraceStep::default();
        let mut budget = max;
        let pending: Vec<ProducerId> = self.restoration.pending.iter().copied().collect();
        for id in pending {
            if budget == 0 {
                return step;
            }
            let Some(slot) = self.producers.slot(id) else {
                self.restoration.pending.remove(&id);
                continue;
            };
            let Some(e) = self.producers.get(slot) else {
                continue;
            };
            let producer = e.producer.clone();
            match &e.origin {
                Origin::Live => {
                    self.restoration.pending.remove(&id);
                }
                Origin::Restored => {
                    let n = e.topics.len().min(budget);
                    budget -= n.max(1);
                    if self.remove_producer_batch(id, n.max(1), None) {
                        step.gone.push(producer);
                    }
                }
                Origin::TakenOver(keys) => {
                    let mut keys: Vec<_> = keys.iter().cloned().collect();
                    // Channels first: a topic's UNREGISTER takes its
                    // channels with it.
                    keys.sort_by_key(|(_, c)| c.is_none());
                    for (topic, channel) in keys.into_iter().take(budget) {
                        budget -= 1;
                        for key in self.unregister(id, &topic, channel.as_ref()) {
                            step.dropped.push((producer.clone(), key));
                        }
                        if let Origin::TakenOver(left) = &mut self.producers.entry_mut(slot).origin
                        {
                            left.remove(&(topic, channel));
                        }
                    }
                    let entry = self.producers.entry_mut(slot);
                    if matches!(&entry.origin, Origin::TakenOver(left) if left.is_empty()) {
                        entry.origin = Origin::Live;
                        self.restoration.pending.remove(&id);
                    }
                }
            }
        }
        step.done = self.restoration.pending.is_empty();
        step
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::registry::image::Image;
    use crate::registry::Timeouts;

    const T: Timeouts = Timeouts {
        inactive_producer: Duration::from_secs(300),
        tombstone_lifetime: Duration::from_secs(45),
    };

    fn name(s: &str) -> Name {
        Name::new(s.as_bytes()).unwrap()
    }

    fn peer(n: u16) -> PeerInfo {
        PeerInfo {
            remote_address: format!("127.0.0.1:{}", 10_000 + n),
            hostname: format!("host{n}"),
            broadcast_address: format!("nsqd{n}"),
            tcp_port: 4150,
            http_port: 4151,
            version: "1.3.0".into(),
            ..PeerInfo::default()
        }
    }

    fn ids(r: &Registry, topic: &str, now: Timestamp) -> Vec<String> {
        r.lookup(&name(topic), now, T)
            .map(|l| {
                l.producers
                    .iter()
                    .map(|p| p.info().hostname.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A registry with two nsqd, channels, keys made over HTTP, a
    /// tombstone and ephemeral keys; and its image.
    fn sample(now: Timestamp) -> (Registry, Image) {
        let mut r = Registry::new();
        let a = r.identify(peer(1), now).id();
        let b = r.identify(peer(2), now).id();
        r.register(a, &name("orders"), Some(&name("billing")));
        r.register(b, &name("orders"), Some(&name("archive")));
        r.register(b, &name("clicks"), None);
        r.register(a, &name("scratch#ephemeral"), Some(&name("c")));
        r.register(a, &name("orders"), Some(&name("tail#ephemeral")));
        r.create_topic(&name("made_over_http"));
        r.create_channel(&name("made_over_http"), &name("waiting"));
        r.tombstone(
            &name("clicks"),
            "nsqd2:4151",
            now.minus(Duration::from_secs(10)),
        );
        let image = r.image(now);
        (r, image)
    }

    #[test]
    fn an_image_reads_back_as_the_same_answers_without_ephemeral_keys() {
        let now = Timestamp::now();
        let (r, image) = sample(now);
        assert_eq!(image.producers.len(), 2);
        assert!(image.topics.iter().all(|t| !t.name.is_ephemeral()));
        let mut back = Registry::new();
        let done = back.restore(&image, now, Duration::ZERO);
        back.check_invariants().unwrap();
        assert_eq!(done.producers, 2);
        assert_eq!(done.tombstones, 1);
        assert_eq!(
            back.topics(),
            [name("clicks"), name("made_over_http"), name("orders")]
        );
        assert_eq!(
            back.channels(&name("orders")),
            [name("archive"), name("billing")]
        );
        assert_eq!(back.channels(&name("made_over_http")), [name("waiting")]);
        assert_eq!(ids(&back, "orders", now), ids(&r, "orders", now));
        assert_eq!(
            ids(&back, "clicks", now),
            Vec::<String>::new(),
            "still tombstoned"
        );
        // The tombstone keeps its remaining 35 s, the downtime counted.
        let later = now.plus(Duration::from_secs(36));
        assert_eq!(ids(&back, "clicks", later), ["host2"]);
        let mut down = Registry::new();
        down.restore(&image, now, Duration::from_secs(40));
        assert_eq!(ids(&down, "clicks", now), ["host2"], "expired while down");
        assert_eq!(back.restored_awaiting(), 2);
    }

    #[test]
    fn a_returning_nsqd_takes_its_restored_producer_over() {
        let now = Timestamp::now();
        let (_, image) = sample(now);
        let mut r = Registry::new();
        r.restore(&image, now, Duration::ZERO);
        let mut live = peer(1);
        live.remote_address = "127.0.0.1:55555".into();
        let p = r.identify(live, now);
        r.check_invariants().unwrap();
        assert_eq!(r.restored_awaiting(), 1);
        assert_eq!(ids(&r, "orders", now), ["host1", "host2"], "no duplicate");
        assert_eq!(
            r.lookup(&name("orders"), now, T).unwrap().producers[0]
                .info()
                .remote_address,
            "127.0.0.1:55555"
        );
        // It registers orders again, but not its billing channel.
        r.register(p.id(), &name("orders"), None);
        r.check_invariants().unwrap();
        let step = r.end_grace_step(usize::MAX);
        r.check_invariants().unwrap();
        assert!(step.done);
        assert_eq!(step.gone.len(), 1, "nsqd2 never came back");
        assert_eq!(step.dropped.len(), 1);
        assert_eq!(
            step.dropped[0].1,
            Key::Channel(name("orders"), name("billing"))
        );
        assert_eq!(ids(&r, "orders", now), ["host1"]);
        assert_eq!(
            r.channels(&name("orders")),
            [name("archive"), name("billing")],
            "keys stay"
        );
        assert_eq!(r.restored_awaiting(), 0);
        // From now on its liveness is its connection's.
        r.remove_producer(p.id());
        r.check_invariants().unwrap();
        assert_eq!(r.counts().producers, 0);
    }

    #[test]
    fn another_node_does_not_take_over_and_the_grace_ends_in_steps() {
        let now = Timestamp::now();
        let (_, image) = sample(now);
        let mut r = Registry::new();
        r.restore(&image, now, Duration::ZERO);
        let mut other = peer(1);
        other.http_port = 9999;
        r.identify(other, now);
        assert_eq!(r.restored_awaiting(), 2);
        let mut steps = 0;
        loop {
            steps += 1;
            let step = r.end_grace_step(1);
            r.check_invariants().unwrap();
            if step.done {
                break;
            }
        }
        assert!(steps > 2);
        assert_eq!(r.counts().producers, 1);
        assert_eq!(r.counts().topic_registrations, 0);
    }
}
