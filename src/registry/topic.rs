//! One topic's entry: whether its key exists, its producers, its channels
//! and their members, and how each of them changes (the registry's
//! operations on keys, in `super::keys`, are made of these).
//!
//! Most topics are held by one nsqd with one channel, and a large cluster
//! has millions of them, so that case is stored inline in 16 bytes
//! (`Topic::Small`: a producer slot, an interned channel id, whether
//! the producer is in the channel); anything else takes the general form
//! behind one allocation, and goes back to the small one when it fits
//! again.

use super::channels::{ChanId, Channels};
use super::producer::{ProducerId, Slot, NO_SLOT};

/// One topic's registrations and keys.
#[derive(Debug)]
pub(super) enum Topic {
    /// The topic key exists; at most one producer (`NO_SLOT`: none); at
    /// most one channel key (0: none), whose one possible member is that
    /// producer (`member`).
    Small {
        producer: Slot,
        channel: ChanId,
        member: bool,
    },
    /// Everything else: several producers or channels, a channel with a
    /// member other than the producer, or channel keys without the topic
    /// key (an ephemeral topic unregistered while its channels stay).
    General(Box<General>),
}

/// The general form of a topic.
#[derive(Debug, Default)]
pub(super) struct General {
    /// Whether the `topic:<name>:` key exists.
    pub(super) registered: bool,
    /// Its producers, by id: the order `/lookup` lists them in.
    pub(super) producers: Vec<(ProducerId, Slot)>,
    /// Its channel keys, by name, each with its members by id.
    pub(super) channels: Vec<(ChanId, Vec<ProducerId>)>,
}

/// What a REGISTER added.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Added {
    pub(super) topic_key: bool,
    pub(super) topic_reg: bool,
    pub(super) channel_key: bool,
    pub(super) channel_reg: bool,
}

/// What a producer leaving a topic removed.
#[derive(Debug, Default)]
pub(super) struct Left {
    /// The channels it was a member of, by name.
    pub(super) channels: Vec<ChanId>,
    /// Of those, the ephemeral ones it was the last member of: their keys
    /// went too.
    pub(super) channel_keys: Vec<ChanId>,
    pub(super) topic_reg: bool,
    pub(super) topic_key: bool,
}

impl Topic {
    /// A topic key with nothing under it.
    pub(super) fn bare() -> Topic {
        Topic::Small {
            producer: NO_SLOT,
            channel: 0,
            member: false,
        }
    }

    /// Whether the topic key exists.
    pub(super) fn registered(&self) -> bool {
        match self {
            Topic::Small { .. } => true,
            Topic::General(g) => g.registered,
        }
    }

    /// Whether nothing is left of the topic, so its entry can go.
    pub(super) fn is_unused(&self) -> bool {
        match self {
            Topic::Small { .. } => false,
            Topic::General(g) => !g.registered && g.channels.is_empty(),
        }
    }

    /// Its producers' slots, in id order.
    pub(super) fn producer_slots(&self) -> impl Iterator<Item = Slot> + '_ {
        let (one, many): (Option<Slot>, &[(ProducerId, Slot)]) = match self {
            Topic::Small { producer, .. } => ((*producer != NO_SLOT).then_some(*producer), &[]),
            Topic::General(g) => (None, &g.producers),
        };
        one.into_iter().chain(many.iter().map(|(_, s)| *s))
    }

    /// How many producers hold it.
    pub(super) fn producer_count(&self) -> usize {
        match self {
            Topic::Small { producer, .. } => usize::from(*producer != NO_SLOT),
            Topic::General(g) => g.producers.len(),
        }
    }

    /// Its channel keys, by name.
    pub(super) fn channel_ids(&self) -> impl Iterator<Item = ChanId> + '_ {
        let (one, many): (Option<ChanId>, &[(ChanId, Vec<ProducerId>)]) = match self {
            Topic::Small { channel, .. } => ((*channel != 0).then_some(*channel), &[]),
            Topic::General(g) => (None, &g.channels),
        };
        one.into_iter().chain(many.iter().map(|(c, _)| *c))
    }

    /// The channels producer `id` (at `slot`) is a member of, by name.
    pub(super) fn member_channels(&self, id: ProducerId, slot: Slot) -> Vec<ChanId> {
        match self {
            Topic::Small {
                producer,
                channel,
                member,
            } => {
                if *member && *producer == slot {
                    vec![*channel]
                } else {
                    Vec::new()
                }
            }
            Topic::General(g) => g
                .channels
                .iter()
                .filter(|(_, members)| members.binary_search(&id).is_ok())
                .map(|(c, _)| *c)
                .collect(),
        }
    }

    /// How many channel keys it has.
    pub(super) fn channel_count(&self) -> usize {
        match self {
            Topic::Small { channel, .. } => usize::from(*channel != 0),
            Topic::General(g) => g.channels.len(),
        }
    }

    /// The general form, converted to in place if small (`id_of` gives the
    /// small form's producer's id).
    fn general(&mut self, id_of: impl Fn(Slot) -> ProducerId) -> &mut General {
        if let Topic::Small {
            producer,
            channel,
            member,
        } = *self
        {
            let mut g = General {
                registered: true,
                ..General::default()
            };
            if producer != NO_SLOT {
                g.producers.push((id_of(producer), producer));
            }
            if channel != 0 {
                let members = if member {
                    vec![id_of(producer)]
                } else {
                    Vec::new()
                };
                g.channels.push((channel, members));
            }
            *self = Topic::General(Box::new(g));
        }
        match self {
            Topic::General(g) => g,
            Topic::Small { .. } => unreachable!("converted above"),
        }
    }

    /// Back to the small form when the topic fits it.
    fn compact(&mut self) {
        let Topic::General(g) = self else { return };
        if !g.registered || g.producers.len() > 1 || g.channels.len() > 1 {
            return;
        }
        let (id, producer) = match g.producers.first() {
            Some((id, slot)) => (Some(*id), *slot),
            None => (None, NO_SLOT),
        };
        let (channel, member) = match g.channels.first() {
            None => (0, false),
            Some((c, members)) => match members.as_slice() {
                [] => (*c, false),
                [m] if Some(*m) == id => (*c, true),
                _ => return,
            },
        };
        *self = Topic::Small {
            producer,
            channel,
            member,
        };
    }

    /// REGISTER by producer `id` at `slot`, of the topic and `channel`.
    pub(super) fn register(
        &mut self,
        id: ProducerId,
        slot: Slot,
        channel: Option<ChanId>,
        chans: &Channels,
        id_of: impl Fn(Slot) -> ProducerId,
    ) -> Added {
        if let Topic::Small {
            producer,
            channel: ch,
            member,
        } = self
        {
            if *producer == slot || *producer == NO_SLOT {
                let topic_reg = *producer == NO_SLOT;
                match channel {
                    None => {
                        *producer = slot;
                        return Added {
                            topic_reg,
                            ..Added::default()
                        };
                    }
                    Some(c) if *ch == c || *ch == 0 => {
                        let channel_key = *ch == 0;
                        let channel_reg = !*member;
                        *producer = slot;
                        *ch = c;
                        *member = true;
                        return Added {
                            topic_key: false,
                            topic_reg,
                            channel_key,
                            channel_reg,
                        };
                    }
                    Some(_) => {}
                }
            }
        }
        let g = self.general(id_of);
        let mut added = Added::default();
        if let Some(c) = channel {
            let i = match g.channel(c, chans) {
                Ok(i) => i,
                Err(i) => {
                    g.channels.insert(i, (c, Vec::new()));
                    added.channel_key = true;
                    i
                }
            };
            added.channel_reg = insert_sorted(&mut g.channels[i].1, id);
        }
        added.topic_key = !g.registered;
        g.registered = true;
        if let Err(i) = g.producers.binary_search_by_key(&id, |(p, _)| *p) {
            g.producers.insert(i, (id, slot));
            added.topic_reg = true;
        }
        self.compact();
        added
    }

    /// Producer `id` at `slot` leaves the topic: every channel it is in
    /// (an ephemeral channel it was the last member of goes), then the
    /// topic registration (an ephemeral topic key left without producers
    /// goes). What UNREGISTER of the topic and a disconnect both do.
    pub(super) fn leave(
        &mut self,
        id: ProducerId,
        slot: Slot,
        ephemeral_topic: bool,
        chans: &Channels,
        id_of: impl Fn(Slot) -> ProducerId,
    ) -> Left {
        let mut left = Left::default();
        if let Topic::Small {
            producer,
            channel,
            member,
        } = self
        {
            // An ephemeral topic may lose its key: the general path below.
            if *producer == slot && !ephemeral_topic {
                if *member {
                    left.channels.push(*channel);
                    *member = false;
                    if chans.name(*channel).is_ephemeral() {
                        left.channel_keys.push(*channel);
                        *channel = 0;
                    }
                }
                *producer = NO_SLOT;
                left.topic_reg = true;
                return left;
            }
            if *producer != slot && !ephemeral_topic {
                return left;
            }
        }
        let g = self.general(id_of);
        g.channels.retain_mut(|(c, members)| {
            if !remove_sorted(members, id) {
                return true;
            }
            left.channels.push(*c);
            if members.is_empty() && chans.name(*c).is_ephemeral() {
                left.channel_keys.push(*c);
                return false;
            }
            true
        });
        if let Ok(i) = g.producers.binary_search_by_key(&id, |(p, _)| *p) {
            g.producers.remove(i);
            left.topic_reg = true;
        }
        if ephemeral_topic && g.producers.is_empty() && g.registered {
            g.registered = false;
            left.topic_key = true;
        }
        self.compact();
        left
    }

    /// UNREGISTER of `channel` by producer `id`: whether it was a member,
    /// and whether the channel key went (an ephemeral channel left
    /// without members goes, whoever registered it, as in Go).
    pub(super) fn leave_channel(
        &mut self,
        id: ProducerId,
        channel: ChanId,
        ephemeral: bool,
        chans: &Channels,
        id_of: impl Fn(Slot) -> ProducerId,
    ) -> (bool, bool) {
        let g = self.general(id_of);
        let Ok(i) = g.channel(channel, chans) else {
            self.compact();
            return (false, false);
        };
        let removed = remove_sorted(&mut g.channels[i].1, id);
        let key_gone = ephemeral && g.channels[i].1.is_empty();
        if key_gone {
            g.channels.remove(i);
        }
        self.compact();
        (removed, key_gone)
    }

    /// `POST /channel/create`: whether the channel key and the topic key
    /// were added.
    pub(super) fn create_channel(
        &mut self,
        channel: ChanId,
        chans: &Channels,
        id_of: impl Fn(Slot) -> ProducerId,
    ) -> (bool, bool) {
        if let Topic::Small { channel: ch, .. } = self {
            if *ch == channel {
                return (false, false);
            }
        }
        let g = self.general(id_of);
        let channel_key = match g.channel(channel, chans) {
            Ok(_) => false,
            Err(i) => {
                g.channels.insert(i, (channel, Vec::new()));
                true
            }
        };
        let topic_key = !g.registered;
        g.registered = true;
        self.compact();
        (channel_key, topic_key)
    }

    /// `POST /topic/create`: whether the topic key was added.
    pub(super) fn create_key(&mut self) -> bool {
        match self {
            Topic::Small { .. } => false,
            Topic::General(g) => {
                let added = !g.registered;
                g.registered = true;
                self.compact();
                added
            }
        }
    }

    /// `POST /channel/delete`: the members the channel key had, or `None`
    /// when it did not exist.
    pub(super) fn delete_channel(
        &mut self,
        channel: ChanId,
        chans: &Channels,
        id_of: impl Fn(Slot) -> ProducerId,
    ) -> Option<usize> {
        let g = self.general(id_of);
        let removed = g
            .channel(channel, chans)
            .ok()
            .map(|i| g.channels.remove(i).1.len());
        self.compact();
        removed
    }
}

impl General {
    /// Where channel `c` is (or would go) in the name-ordered list.
    fn channel(&self, c: ChanId, chans: &Channels) -> Result<usize, usize> {
        let name = chans.name(c);
        self.channels
            .binary_search_by(|(other, _)| chans.name(*other).cmp(name))
    }
}

fn insert_sorted(v: &mut Vec<ProducerId>, id: ProducerId) -> bool {
    match v.binary_search(&id) {
        Ok(_) => false,
        Err(i) => {
            v.insert(i, id);
            true
        }
    }
}

fn remove_sorted(v: &mut Vec<ProducerId>, id: ProducerId) -> bool {
    match v.binary_search(&id) {
        Ok(i) => {
            v.remove(i);
            true
        }
        Err(_) => false,
    }
}
