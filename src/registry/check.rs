//! A check that the registry's indexes and counts agree, for tests (the
//! model test runs it after every step).

use std::collections::HashMap;

use super::channels::ChanId;
use super::producer::{Origin, NO_SLOT};
use super::topic::Topic;
use super::{Counts, Registry};

impl Registry {
    /// Checks that every index and the counts agree; for tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counts = Counts {
            producers: self.producers.len(),
            ..Counts::default()
        };
        let mut chan_refs: HashMap<ChanId, u32> = HashMap::new();
        let mut held: HashMap<u32, usize> = HashMap::new();
        self.topics.check()?;
        for (name, t) in self.topics.iter() {
            if t.is_unused() {
                return Err(format!("unused topic entry {name}"));
            }
            counts.topics += usize::from(t.registered());
            counts.channels += t.channel_count();
            counts.topic_registrations += t.producer_count();
            let mut ids = Vec::new();
            for slot in t.producer_slots() {
                let e = self
                    .producers
                    .get(slot)
                    .ok_or_else(|| format!("topic {name} refers to empty slot {slot}"))?;
                let listed = e.topics.iter().filter(|n| *n == name.as_bytes()).count();
                if listed == 0 {
                    return Err(format!(
                        "producer {} lists topic {name} {listed} times",
                        e.producer.id()
                    ));
                }
                *held.entry(slot).or_default() += 1;
                ids.push(e.producer.id());
            }
            if !ids.windows(2).all(|w| w[0] < w[1]) {
                return Err(format!("producers of {name} out of id order: {ids:?}"));
            }
            for c in t.channel_ids() {
                *chan_refs.entry(c).or_default() += 1;
            }
            let names: Vec<_> = t.channel_ids().map(|c| self.channels.name(c)).collect();
            if !names.windows(2).all(|w| w[0] < w[1]) {
                return Err(format!("channels of {name} out of order"));
            }
            match t {
                Topic::Small {
                    producer, member, ..
                } => {
                    if *member && *producer == NO_SLOT {
                        return Err(format!("{name}: a member without a producer"));
                    }
                    counts.channel_registrations += usize::from(*member);
                }
                Topic::General(g) => {
                    if !g.registered && !g.producers.is_empty() {
                        return Err(format!("producers on missing topic key {name}"));
                    }
                    let fits = g.registered && g.producers.len() <= 1 && g.channels.len() <= 1;
                    let members_fit = g.channels.iter().all(|(_, m)| {
                        m.is_empty()
                            || (m.len() == 1 && g.producers.first().map(|p| p.0) == Some(m[0]))
                    });
                    if fits && members_fit {
                        return Err(format!("{name} is general but fits the small form"));
                    }
                    for (c, members) in &g.channels {
                        counts.channel_registrations += members.len();
                        if !members.windows(2).all(|w| w[0] < w[1]) {
                            return Err(format!("members of {name}/{c} out of order"));
                        }
                        for id in members {
                            if !ids.contains(id) {
                                return Err(format!(
                                    "producer {id} in channel {name}/{} but not in its topic",
                                    self.channels.name(*c)
                                ));
                            }
                        }
                    }
                }
            }
        }
        for (slot, e) in self.producers.slots() {
            let holds = held.get(&slot).copied().unwrap_or(0);
            if e.topics.len() != holds {
                return Err(format!(
                    "producer {} lists {} topics but holds {holds}",
                    e.producer.id(),
                    e.topics.len()
                ));
            }
            if self.producers.slot(e.producer.id()) != Some(slot) {
                return Err(format!("slot {slot} not indexed by its id"));
            }
        }
        for (c, refs) in self.channels.in_use() {
            if refs == 0 || chan_refs.get(&c).copied().unwrap_or(0) != refs {
                return Err(format!(
                    "channel name {} counted {refs} uses, has {:?}",
                    self.channels.name(c),
                    chan_refs.get(&c)
                ));
            }
        }
        for (id, topic, _) in self.tombstones.iter() {
            let present = self
                .producers
                .slot(id)
                .is_some_and(|slot| self.holds(slot, topic.as_bytes()));
            if !present {
                return Err(format!("tombstone of {id} in {topic} outlived it"));
            }
        }
        self.check_restoration()?;
        if counts != self.counts {
            return Err(format!("counts {:?} != actual {:?}", self.counts, counts));
        }
        Ok(())
    }

    fn check_restoration(&self) -> Result<(), String> {
        for (_, e) in self.producers.slots() {
            let pending = self.restoration.is_pending(e.id);
            let restored = !matches!(e.origin, Origin::Live);
            if pending != restored {
                return Err(format!(
                    "producer {} restored {restored} but pending {pending}",
                    e.id
                ));
            }
        }
        for id in self.restoration.awaiting() {
            let origin = self
                .producers
                .slot(id)
                .and_then(|s| self.producers.get(s))
                .map(|e| &e.origin);
            if !matches!(origin, Some(Origin::Restored)) {
                return Err(format!("awaited producer {id} is not a restored one"));
            }
        }
        Ok(())
    }
}
