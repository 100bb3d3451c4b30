//! One block of the registry's ordered map ([`Blocks`](super::blocks)):
//! a few kilobytes of entries in no order, and their name order beside
//! them as one byte per entry.
//!
//! Keeping the order apart from the entries is what makes adding a topic
//! cheap: the entry is appended, no other entry moves, and only the order
//! bytes shift.

use crate::names::Name;

/// Up to [`MAX`](super::blocks::MAX) entries, in no order, and their order.
#[derive(Debug)]
pub(super) struct Block<V> {
    pub(super) entries: Vec<(Name, V)>,
    /// The entries' places in name order.
    pub(super) sorted: Vec<u8>,
}

impl<V> Default for Block<V> {
    fn default() -> Self {
        Block {
            entries: Vec::new(),
            sorted: Vec::new(),
        }
    }
}

impl<V> Block<V> {
    /// The entry `i`-th in name order.
    pub(super) fn nth(&self, i: usize) -> &(Name, V) {
        &self.entries[usize::from(self.sorted[i])]
    }

    /// How many entries come before `key` in name order.
    pub(super) fn rank(&self, key: &[u8]) -> usize {
        self.sorted
            .partition_point(|&s| self.entries[usize::from(s)].0.as_bytes() < key)
    }

    /// The entries, taken out in name order.
    pub(super) fn take_sorted(&mut self) -> Vec<(Name, V)> {
        let mut slots: Vec<Option<(Name, V)>> = std::mem::take(&mut self.entries)
            .into_iter()
            .map(Some)
            .collect();
        let sorted = std::mem::take(&mut self.sorted);
        let mut out = Vec::with_capacity(sorted.len());
        out.extend(sorted.iter().filter_map(|&s| slots[usize::from(s)].take()));
        out
    }

    /// A block of `entries`, which are in name order.
    pub(super) fn of_sorted(mut entries: Vec<(Name, V)>, room: usize) -> Block<V> {
        entries.shrink_to(entries.len() + room);
        entries.reserve_exact(room);
        let sorted = (0..entries.len()).map(|i| i as u8).collect();
        Block { entries, sorted }
    }
}
