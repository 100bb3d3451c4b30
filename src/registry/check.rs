//! A check that the registry's indexes and counts agree, for tests (the
//! model test runs it after every step).

use std::sync::Arc;

use super::{Counts, Registry};

impl Registry {
    /// Checks that both indexes and the counts agree; for tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counts = Counts {
            producers: self.producers.len(),
            ..Counts::default()
        };
        for (name, t) in self.topics.iter() {
            if t.is_unused() {
                return Err(format!("unused topic entry {name}"));
            }
            if !t.registered && !t.producers.is_empty() {
                return Err(format!("producers on missing topic key {name}"));
            }
            counts.topics += usize::from(t.registered);
            counts.channels += t.channels.len();
            counts.topic_registrations += t.producers.len();
            for (id, reg) in t.producers.iter() {
                let e = self
                    .producers
                    .get(id)
                    .ok_or_else(|| format!("topic {name} has unknown producer {id}"))?;
                if !e.topics.contains(name) {
                    return Err(format!("producer {id} misses topic {name}"));
                }
                if !Arc::ptr_eq(&reg.producer, &e.producer) {
                    return Err(format!("topic {name} holds a stale producer {id}"));
                }
                let indexed = self.tombstoned.contains(*id, name);
                if indexed != reg.tombstoned_at().is_some() {
                    return Err(format!("tombstone index wrong for {id} in {name}"));
                }
            }
            for (channel, members) in t.channels.iter() {
                counts.channel_registrations += members.len();
                for id in members {
                    if !t.producers.contains_key(id) {
                        return Err(format!(
                            "producer {id} in channel {name}/{channel} but not in its topic"
                        ));
                    }
                }
            }
        }
        for (id, topic) in self.tombstoned.iter() {
            let present = self
                .topics
                .get(topic)
                .is_some_and(|t| t.producers.contains_key(id));
            if !present {
                return Err(format!("tombstone of {id} in {topic} outlived it"));
            }
        }
        for (id, e) in &self.producers {
            for topic in &e.topics {
                let ok = self
                    .topics
                    .get(topic)
                    .is_some_and(|t| t.producers.contains_key(id));
                if !ok {
                    return Err(format!("producer {id} holds stale topic {topic}"));
                }
            }
        }
        if counts != self.counts {
            return Err(format!("counts {:?} != actual {:?}", self.counts, counts));
        }
        Ok(())
    }
}
