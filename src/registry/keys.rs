//! The registry's operations on topic and channel keys: REGISTER and
//! UNREGISTER from nsqd, and the HTTP endpoints that create and delete
//! topics and channels. Each keeps the counts, the topic-set generation,
//! the producers' own topic lists and the tombstones in step with the
//! topics' entries (`super::topic`).

use super::producer::{ProducerId, Slot, NO_SLOT};
use super::topic::{Added, Left, Topic};
use super::{Key, Registry};
use crate::names::Name;

impl Registry {
    /// `REGISTER topic [channel]`. Returns the keys the producer was newly
    /// added to (channel first, as Go logs them).
    pub fn register(&mut self, id: ProducerId, topic: &Name, channel: Option<&Name>) -> Vec<Key> {
        let Some(slot) = self.producers.slot(id) else {
            return Vec::new();
        };
        let chan = channel.map(|c| self.channels.id(c));
        let producers = &self.producers;
        let id_of = |s: Slot| producers.id(s);
        let (chan_id, member) = (chan.unwrap_or(0), chan.is_some());
        let (t, new) = self.topics.get_or_insert_with(topic, || Topic::Small {
            producer: slot,
            channel: chan_id,
            member,
        });
        let added = if new {
            Added {
                topic_key: true,
                topic_reg: true,
                channel_key: member,
                channel_reg: member,
            }
        } else {
            t.register(id, slot, chan, &self.channels, id_of)
        };
        let mut keys = Vec::new();
        if let Some(c) = chan {
            if added.channel_key {
                self.channels.retain(c);
                self.counts.channels += 1;
            }
            if added.channel_reg {
                self.counts.channel_registrations += 1;
                keys.push(Key::Channel(topic.clone(), self.channels.name(c).clone()));
            }
            self.channels.forget_unused(c);
        }
        if added.topic_key {
            self.topic_key_changed(true);
        }
        if added.topic_reg {
            self.producers.topics_mut(slot).push(topic);
            self.counts.topic_registrations += 1;
            keys.push(Key::Topic(topic.clone()));
        }
        self.confirm(slot, topic, channel);
        keys
    }

    /// `UNREGISTER topic [channel]`. Returns the keys the producer was
    /// removed from.
    ///
    /// Without a channel this is a topic unregistration: the producer also
    /// leaves every channel of the topic. An `#ephemeral` key left without
    /// producers is deleted.
    pub fn unregister(&mut self, id: ProducerId, topic: &Name, channel: Option<&Name>) -> Vec<Key> {
        let mut removed = Vec::new();
        let Some(slot) = self.producers.slot(id) else {
            return removed;
        };
        match channel {
            Some(channel) => {
                let Some(c) = self.channels.find(channel.as_bytes()) else {
                    return removed;
                };
                let producers = &self.producers;
                let Some(t) = self.topics.get_mut(topic.as_bytes()) else {
                    return removed;
                };
                let (was_member, key_gone) =
                    t.leave_channel(id, c, channel.is_ephemeral(), &self.channels, |s| {
                        producers.id(s)
                    });
                if was_member {
                    self.counts.channel_registrations -= 1;
                    removed.push(Key::Channel(topic.clone(), channel.clone()));
                }
                if key_gone {
                    self.counts.channels -= 1;
                    self.channels.release(c);
                }
                self.drop_if_unused(topic.as_bytes());
            }
            None => {
                let left = self.leave_topic(id, slot, topic);
                for c in left.channels {
                    removed.push(Key::Channel(topic.clone(), self.channels.name(c).clone()));
                }
                for c in left.channel_keys {
                    self.channels.release(c);
                }
                if left.topic_reg {
                    self.forget_topic(slot);
                    removed.push(Key::Topic(topic.clone()));
                }
            }
        }
        removed
    }

    /// Producer `id` leaves `topic` (nothing, if it has no entry), with the counts,
    /// the generation and the tombstone index kept; the entry goes if
    /// nothing is left of it. The caller releases the channel ids in
    /// `channel_keys` once it has used their names, and updates the
    /// producer's own topic list.
    pub(super) fn leave_topic(&mut self, id: ProducerId, slot: Slot, topic: &Name) -> Left {
        let producers = &self.producers;
        let (left, unused) = match self.topics.get_mut(topic.as_bytes()) {
            Some(t) => {
                let left = t.leave(id, slot, topic.is_ephemeral(), &self.channels, |s| {
                    producers.id(s)
                });
                (left, t.is_unused())
            }
            None => return Left::default(),
        };
        self.counts.channel_registrations -= left.channels.len();
        self.counts.channels -= left.channel_keys.len();
        if left.topic_reg {
            self.counts.topic_registrations -= 1;
            self.tombstones.forget(id, topic.as_bytes());
        }
        if left.topic_key {
            self.topic_key_changed(false);
        }
        if unused {
            self.topics.remove(topic.as_bytes());
        }
        left
    }

    /// `POST /topic/create`: adds the topic key if it is missing.
    pub fn create_topic(&mut self, topic: &Name) {
        let (t, new) = self.topics.get_or_insert_with(topic, Topic::bare);
        let added = new || t.create_key();
        if added {
            self.topic_key_changed(true);
        }
    }

    /// `POST /channel/create`: adds the channel key and its topic key.
    pub fn create_channel(&mut self, topic: &Name, channel: &Name) {
        let c = self.channels.id(channel);
        let producers = &self.producers;
        let (t, new) = self.topics.get_or_insert_with(topic, || Topic::Small {
            producer: NO_SLOT,
            channel: c,
            member: false,
        });
        let (channel_key, topic_key) = if new {
            (true, true)
        } else {
            t.create_channel(c, &self.channels, |s| producers.id(s))
        };
        if channel_key {
            self.channels.retain(c);
            self.counts.channels += 1;
        }
        self.channels.forget_unused(c);
        if topic_key {
            self.topic_key_changed(true);
        }
    }

    /// `POST /topic/delete`: removes the topic key and all its channel keys,
    /// with every producer registered under them. Returns the channels
    /// removed and whether the topic key existed.
    pub fn delete_topic(&mut self, topic: &Name) -> (Vec<Name>, bool) {
        let Some(t) = self.topics.remove(topic.as_bytes()) else {
            return (Vec::new(), false);
        };
        let mut channels = Vec::with_capacity(t.channel_count());
        let producers: Vec<Slot> = t.producer_slots().collect();
        match &t {
            Topic::Small {
                channel, member, ..
            } => {
                if *channel != 0 {
                    self.counts.channel_registrations -= usize::from(*member);
                    channels.push(*channel);
                }
            }
            Topic::General(g) => {
                for (c, members) in &g.channels {
                    self.counts.channel_registrations -= members.len();
                    channels.push(*c);
                }
            }
        }
        self.counts.channels -= channels.len();
        let names = channels
            .into_iter()
            .map(|c| {
                let name = self.channels.name(c).clone();
                self.channels.release(c);
                name
            })
            .collect();
        for slot in producers {
            let id = self.producers.id(slot);
            self.forget_topic(slot);
            self.tombstones.forget(id, topic.as_bytes());
            self.counts.topic_registrations -= 1;
        }
        if t.registered() {
            self.topic_key_changed(false);
        }
        (names, t.registered())
    }

    /// `POST /channel/delete`: removes the channel key and its producers.
    /// Returns false when there was no such channel.
    pub fn delete_channel(&mut self, topic: &Name, channel: &Name) -> bool {
        let Some(c) = self.channels.find(channel.as_bytes()) else {
            return false;
        };
        let producers = &self.producers;
        let Some(t) = self.topics.get_mut(topic.as_bytes()) else {
            return false;
        };
        let Some(members) = t.delete_channel(c, &self.channels, |s| producers.id(s)) else {
            return false;
        };
        self.counts.channel_registrations -= members;
        self.counts.channels -= 1;
        self.channels.release(c);
        self.drop_if_unused(topic.as_bytes());
        true
    }

    /// Removes a topic's entry once nothing is left of it.
    fn drop_if_unused(&mut self, topic: &[u8]) {
        if self.topics.get(topic).is_some_and(Topic::is_unused) {
            self.topics.remove(topic);
        }
    }

    /// A topic key was added or removed.
    fn topic_key_changed(&mut self, added: bool) {
        self.topics_generation += 1;
        if added {
            self.counts.topics += 1;
        } else {
            self.counts.topics -= 1;
        }
    }
}
