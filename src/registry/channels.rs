//! Channel names, interned: each distinct channel name is stored once and
//! topics refer to it by a 4-byte id.
//!
//! A cluster's channels mostly share a handful of names (`archive`,
//! `billing`, …) across thousands of topics; keeping a name per topic cost
//! more than the rest of the topic. A name is kept while some topic has a
//! channel key of that name, and freed (its id reused) once none does.

use std::collections::HashMap;

use crate::names::Name;

/// A channel name's id. 0 is never given out: it means "no channel".
pub(super) type ChanId = u32;

/// The interned channel names.
#[derive(Debug, Default)]
pub(super) struct Channels {
    ids: HashMap<Name, ChanId>,
    /// By id: the name and how many channel keys use it. Slot 0 unused.
    names: Vec<Option<(Name, u32)>>,
    free: Vec<ChanId>,
}

impl Channels {
    /// The id of `name`, made (unused, to be retained or released) if new.
    pub(super) fn id(&mut self, name: &Name) -> ChanId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        if self.names.is_empty() {
            self.names.push(None);
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.names.push(None);
                (self.names.len() - 1) as ChanId
            }
        };
        self.names[id as usize] = Some((name.clone(), 0));
        self.ids.insert(name.clone(), id);
        id
    }

    /// The id of `name`, if some channel key uses it.
    pub(super) fn find(&self, name: &[u8]) -> Option<ChanId> {
        self.ids.get(name).copied()
    }

    /// The name of an id in use.
    pub(super) fn name(&self, id: ChanId) -> &Name {
        match self.names.get(id as usize) {
            Some(Some((name, _))) => name,
            // Ids come only from `id`, and are used only while retained.
            _ => unreachable!("channel id {id} is not in use"),
        }
    }

    /// One more channel key uses `id`.
    pub(super) fn retain(&mut self, id: ChanId) {
        if let Some(Some((_, refs))) = self.names.get_mut(id as usize) {
            *refs += 1;
        }
    }

    /// One channel key fewer uses `id`; the name goes with the last.
    pub(super) fn release(&mut self, id: ChanId) {
        if let Some(Some((_, refs))) = self.names.get_mut(id as usize) {
            *refs = refs.saturating_sub(1);
        }
        self.forget_unused(id);
    }

    /// Frees `id` if no channel key uses it (an id made for a REGISTER
    /// that added no key).
    pub(super) fn forget_unused(&mut self, id: ChanId) {
        let unused = matches!(self.names.get(id as usize), Some(Some((_, 0))));
        if unused {
            if let Some((name, _)) = self.names[id as usize].take() {
                self.ids.remove(&name);
            }
            self.free.push(id);
        }
    }

    /// Every id in use with its count (for the invariant check).
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub(super) fn in_use(&self) -> impl Iterator<Item = (ChanId, u32)> + '_ {
        self.names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|(_, refs)| (i as ChanId, *refs)))
    }
}
