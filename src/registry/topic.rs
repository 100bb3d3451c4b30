//! Topics and channels: one topic's entry (whether its key exists, its
//! producers with their tombstones, its channels with theirs) and the
//! registry operations that add and remove topic and channel keys:
//! REGISTER, UNREGISTER and the HTTP create and delete endpoints.
//!
//! Every collection here is a sorted vector (`super::vecmap`): most topics
//! have a producer or two and a channel or two, and there can be hundreds
//! of thousands of topics.

use std::sync::Arc;
use std::time::Duration;

use super::producer::{Producer, ProducerId};
use super::vecmap::{VecMap, VecSet};
use super::{Counts, Key, Registry};
use crate::clock::Timestamp;
use crate::names::{self, Name};

/// One producer's registration of one topic, with its own tombstone.
///
/// Kept inline in the topic's producer vector, not behind a pointer of its
/// own: `/lookup` reads every one of a topic's registrations, and at a
/// million registrations each separately allocated one was a cache miss
/// (a cold `/lookup` of 10 producers cost 5.6 times a warm one).
#[derive(Debug, Clone)]
pub struct TopicRegistration {
    pub(super) producer: Arc<Producer>,
    /// 0: never tombstoned; otherwise the tombstone time plus one.
    tombstoned_at: u64,
}

impl TopicRegistration {
    pub(super) fn new(producer: Arc<Producer>) -> Self {
        TopicRegistration {
            producer,
            tombstoned_at: 0,
        }
    }

    pub(super) fn tombstone(&mut self, now: Timestamp) {
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

/// The topic index's entry.
#[derive(Debug, Default)]
pub(super) struct TopicEntry {
    /// Whether the `topic:<name>:` key exists. A topic's channel keys can
    /// outlive it (an ephemeral topic unregistered while its channels stay).
    pub(super) registered: bool,
    pub(super) producers: VecMap<ProducerId, TopicRegistration>,
    pub(super) channels: VecMap<Arc<str>, VecSet<ProducerId>>,
}

impl TopicEntry {
    /// Whether nothing is left of the topic, so its entry can go.
    pub(super) fn is_unused(&self) -> bool {
        !self.registered && self.channels.is_empty()
    }

    /// Takes producer `id` out of every channel, calling `left` for each
    /// it was in; an `#ephemeral` channel it was the last member of goes
    /// too.
    pub(super) fn leave_channels(
        &mut self,
        id: ProducerId,
        counts: &mut Counts,
        mut left: impl FnMut(&Arc<str>),
    ) {
        self.channels.retain(|name, members| {
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

    /// Adds or removes the topic key, keeping the count and the generation
    /// of the topic set.
    pub(super) fn set_registered(&mut self, counts: &mut Counts, generation: &mut u64, on: bool) {
        if self.registered == on {
            return;
        }
        self.registered = on;
        *generation += 1;
        if on {
            counts.topics += 1;
        } else {
            counts.topics -= 1;
        }
    }
}

impl Registry {
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
        t.set_registered(&mut self.counts, &mut self.topics_generation, true);
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
        let Some(entry) = self.producers.get_mut(&id) else {
            return removed;
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
                t.leave_channels(id, &mut self.counts, |channel| {
                    removed.push(Key::Channel(topic_name.clone(), channel.clone()));
                });
                if let Some(reg) = t.producers.remove(&id) {
                    entry.topics.remove(topic.as_str());
                    if reg.tombstoned_at().is_some() {
                        self.tombstoned.remove(id, topic_name);
                    }
                    self.counts.topic_registrations -= 1;
                    removed.push(Key::Topic(topic_name.clone()));
                }
                if t.producers.is_empty() && topic.is_ephemeral() {
                    t.set_registered(&mut self.counts, &mut self.topics_generation, false);
                }
            }
        }
        if t.is_unused() {
            self.topics.remove(topic.as_str());
        }
        removed
    }

    /// `POST /topic/create`: adds the topic key if it is missing.
    pub fn create_topic(&mut self, topic: &Name) {
        let t = self.topics.entry(topic.shared().clone()).or_default();
        t.set_registered(&mut self.counts, &mut self.topics_generation, true);
    }

    /// `POST /channel/create`: adds the channel key and its topic key.
    pub fn create_channel(&mut self, topic: &Name, channel: &Name) {
        let t = self.topics.entry(topic.shared().clone()).or_default();
        if t.channels
            .insert_new(channel.shared().clone(), VecSet::default())
        {
            self.counts.channels += 1;
        }
        t.set_registered(&mut self.counts, &mut self.topics_generation, true);
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
                self.tombstoned.remove(*id, topic.shared());
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
}
