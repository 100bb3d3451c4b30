//! An image of the registry: what a snapshot holds, independent of how the
//! registry keeps it in memory, and how one is read back.
//!
//! An image lists the producers (with what they said in IDENTIFY and how
//! long ago they last pinged), every non-ephemeral topic with its producers
//! and channels, and the tombstones with their age. Producers are referred
//! to by their index in the image. Times are ages relative to when the
//! image was taken, so the registry needs no wall clock; the snapshot file
//! adds one. `#ephemeral` topics and channels are left out: they would
//! vanish with their producers anyway.
//!
//! The image is taken a page of topics at a time (the caller releases the
//! lock in between), so it is not one atomic moment, which a snapshot for
//! a restart does not need: restored producers are replaced by their live
//! connections, or removed, once the grace window ends.

use std::collections::HashMap;
use std::time::Duration;

use super::producer::{Answer, PeerInfo, ProducerId};
use super::topic::Topic;
use super::Registry;
use crate::clock::Timestamp;
use crate::names::Name;

/// A producer in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageProducer {
    /// What it said in IDENTIFY.
    pub info: PeerInfo,
    /// The address answers gave for it, where that was not the advertised
    /// one (`-producer-address`).
    pub answered: Option<String>,
    /// How long before the image it last identified or pinged.
    pub idle: Duration,
}

/// A topic in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTopic {
    /// Its name.
    pub name: Name,
    /// Its producers, as indexes into the image's producers.
    pub producers: Vec<u32>,
    /// Its channel keys, by name, each with its members' indexes.
    pub channels: Vec<(Name, Vec<u32>)>,
}

/// A tombstone in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTombstone {
    /// The tombstoned producer, as an index into the image's producers.
    pub producer: u32,
    /// The topic whose registration it hides.
    pub topic: Name,
    /// How long before the image it was set.
    pub age: Duration,
}

/// An image of the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// The producers.
    pub producers: Vec<ImageProducer>,
    /// The topics, in name order.
    pub topics: Vec<ImageTopic>,
    /// The tombstones.
    pub tombstones: Vec<ImageTombstone>,
}

/// Producers' indexes in an image being taken.
#[derive(Debug, Default)]
pub struct ImageIndex(HashMap<ProducerId, u32>);

/// What reading an image back added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Producers, awaiting their nsqd.
    pub producers: usize,
    /// Topic keys.
    pub topics: usize,
    /// Channel keys.
    pub channels: usize,
    /// Topic and channel registrations.
    pub registrations: usize,
    /// Tombstones.
    pub tombstones: usize,
}

impl Registry {
    /// Starts an image: the producers, and the index each gets.
    pub fn image_producers(&self, now: Timestamp) -> (Vec<ImageProducer>, ImageIndex) {
        let mut index = ImageIndex::default();
        let producers = self
            .producers
            .iter()
            .enumerate()
            .map(|(i, (_, e))| {
                index.0.insert(e.id, i as u32);
                ImageProducer {
                    info: e.producer.info().clone(),
                    answered: match e.producer.answer() {
                        Some(Answer::Instead(a)) => Some(a.to_string()),
                        _ => None,
                    },
                    idle: now.since(e.producer.last_update()),
                }
            })
            .collect();
        (producers, index)
    }

    /// One page of an image's topics: calls `f` with each non-ephemeral
    /// topic after `after`, in name order, until `max` topics have been
    /// visited. Returns the name to continue after, or `None` at the end.
    /// Registrations of producers that identified after the image began
    /// are left out. The topic given to `f` is reused from one call to the
    /// next (a million topics cost no million allocations).
    pub fn image_topics_page(
        &self,
        after: Option<&Name>,
        max: usize,
        index: &ImageIndex,
        mut f: impl FnMut(&ImageTopic),
    ) -> Option<Name> {
        let of = |slot| {
            self.producers
                .get(slot)
                .and_then(|e| index.0.get(&e.id).copied())
        };
        let mut scratch = ImageTopic {
            name: Name::new(b"_").unwrap_or_else(|| unreachable!("a valid name")),
            producers: Vec::new(),
            channels: Vec::new(),
        };
        let mut spare: Vec<Vec<u32>> = Vec::new();
        let mut visited = 0;
        for (name, t) in self.topics.after(after.map(Name::as_bytes)) {
            visited += 1;
            if !name.is_ephemeral() {
                scratch.name = name.clone();
                scratch.producers.clear();
                scratch.producers.extend(t.producer_slots().filter_map(of));
                spare.extend(scratch.channels.drain(..).map(|(_, mut m)| {
                    m.clear();
                    m
                }));
                let mut channel = |c: u32, members: &mut dyn Iterator<Item = u32>| {
                    let name = self.channels.name(c);
                    if !name.is_ephemeral() {
                        let mut m = spare.pop().unwrap_or_default();
                        m.extend(members);
                        scratch.channels.push((name.clone(), m));
                    }
                };
                match t {
                    Topic::Small {
                        producer,
                        channel: c,
                        member,
                    } if *c != 0 => {
                        let members = if *member { of(*producer) } else { None };
                        channel(*c, &mut members.into_iter());
                    }
                    Topic::Small { .. } => {}
                    Topic::General(g) => {
                        for (c, members) in &g.channels {
                            channel(
                                *c,
                                &mut members.iter().filter_map(|id| index.0.get(id).copied()),
                            );
                        }
                    }
                }
                f(&scratch);
            }
            if visited == max {
                return Some(name.clone());
            }
        }
        None
    }

    /// Ends an image: the tombstones of the producers it lists.
    pub fn image_tombstones(&self, now: Timestamp, index: &ImageIndex) -> Vec<ImageTombstone> {
        self.tombstones
            .iter()
            .filter(|(_, topic, _)| !topic.is_ephemeral())
            .filter_map(|(id, topic, at)| {
                Some(ImageTombstone {
                    producer: *index.0.get(&id)?,
                    topic: topic.clone(),
                    age: now.since(at),
                })
            })
            .collect()
    }

    /// The whole image at once (for tests and small registries).
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn image(&self, now: Timestamp) -> Image {
        let (producers, index) = self.image_producers(now);
        let mut topics = Vec::new();
        self.image_topics_page(None, usize::MAX, &index, |t| topics.push(t.clone()));
        Image {
            producers,
            tombstones: self.image_tombstones(now, &index),
            topics,
        }
    }

    /// Reads an image back into this (empty) registry, as it stood `ago`
    /// before `now` (see [`Registry::restore_producers`] and the two
    /// after it, which do it a part at a time).
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn restore(&mut self, image: &Image, now: Timestamp, ago: Duration) -> Restored {
        let then = now.minus(ago);
        let ids = self.restore_producers(&image.producers, then);
        let before = self.counts;
        for t in &image.topics {
            self.restore_topic(t, &ids);
        }
        let mut done = self.restored_since(before);
        done.producers = ids.len();
        for t in &image.tombstones {
            done.tombstones += usize::from(self.restore_tombstone(t, &ids, then));
        }
        done
    }

    /// Adds an image's producers as restored producers, awaiting their
    /// nsqd (active as long as they were active at `then`, when the image
    /// was taken). Returns their ids, by index in the image.
    pub fn restore_producers(
        &mut self,
        producers: &[ImageProducer],
        then: Timestamp,
    ) -> Vec<ProducerId> {
        producers
            .iter()
            .map(|p| {
                let answer = match &p.answered {
                    Some(a) => Answer::Instead(a.as_str().into()),
                    None => Answer::Advertised,
                };
                self.add_restored(p.info.clone(), then.minus(p.idle), answer)
            })
            .collect()
    }

    /// Adds an image's topic: its key, its channel keys and its
    /// registrations (`ids` from [`Registry::restore_producers`]).
    /// References to producers the image does not list are skipped;
    /// ephemeral keys are not restored.
    pub fn restore_topic(&mut self, t: &ImageTopic, ids: &[ProducerId]) {
        if t.name.is_ephemeral() {
            return;
        }
        let id = |i: &u32| ids.get(*i as usize).copied();
        self.create_topic(&t.name);
        for (channel, members) in &t.channels {
            if channel.is_ephemeral() {
                continue;
            }
            self.create_channel(&t.name, channel);
            for m in members.iter().filter_map(id) {
                self.register(m, &t.name, Some(channel));
            }
        }
        for p in t.producers.iter().filter_map(id) {
            self.register(p, &t.name, None);
        }
    }

    /// Sets an image's tombstone, which keeps the lifetime it had left
    /// (`then`: when the image was taken). Whether its registration exists.
    pub fn restore_tombstone(
        &mut self,
        t: &ImageTombstone,
        ids: &[ProducerId],
        then: Timestamp,
    ) -> bool {
        match ids.get(t.producer as usize) {
            Some(id) => self.set_tombstone(*id, &t.topic, then.minus(t.age)),
            None => false,
        }
    }

    /// What was restored since the counts were `before`.
    pub fn restored_since(&self, before: super::Counts) -> Restored {
        let after = self.counts;
        Restored {
            producers: after.producers.saturating_sub(before.producers),
            topics: after.topics.saturating_sub(before.topics),
            channels: after.channels.saturating_sub(before.channels),
            registrations: (after.topic_registrations + after.channel_registrations)
                .saturating_sub(before.topic_registrations + before.channel_registrations),
            tombstones: 0,
        }
    }
}
