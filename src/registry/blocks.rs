//! An ordered map from names to values, kept as a list of sorted blocks.
//!
//! The registry needs its topics in name order (`/topics` and `/nodes`
//! read them off in order, with no sort) and needs a lookup that costs the
//! same at any size. A `BTreeMap` does both, but its nodes, allocated one
//! by one and about half full, cost some 70 bytes per 40-byte topic, and
//! walking a million of them hops between 150,000 allocations. Here the
//! entries sit in blocks of up to [`MAX`] contiguous entries (a few
//! kilobytes, at least half full), and the first key of every block is
//! kept in one array: a lookup is a binary search of that array (which
//! stays in cache) and one of a block, and a walk reads memory in order.
//! Inserting or removing moves at most a block's worth of entries.

use crate::names::Name;

/// Most entries in a block; a full block splits in two.
pub(super) const MAX: usize = 256;
/// Fewest entries a block keeps before it is merged into a neighbour.
const MIN: usize = MAX / 8;

/// The map. Blocks are never empty and their key ranges never overlap.
#[derive(Debug)]
pub(super) struct Blocks<V> {
    /// The first key of each block.
    firsts: Vec<Name>,
    blocks: Vec<Vec<(Name, V)>>,
    len: usize,
}

impl<V> Default for Blocks<V> {
    fn default() -> Self {
        Blocks {
            firsts: Vec::new(),
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<V> Blocks<V> {
    /// The block whose range holds `key` (the last block whose first key
    /// is not after it), or 0.
    fn block_of(&self, key: &[u8]) -> usize {
        self.firsts
            .partition_point(|f| f.as_bytes() <= key)
            .saturating_sub(1)
    }

    /// Where `key` is: its block, and its index there or where it would go.
    fn find(&self, key: &[u8]) -> (usize, Result<usize, usize>) {
        let b = self.block_of(key);
        let at = match self.blocks.get(b) {
            Some(block) => block.binary_search_by(|(k, _)| k.as_bytes().cmp(key)),
            None => Err(0),
        };
        (b, at)
    }

    /// The value of `key`.
    pub(super) fn get(&self, key: &[u8]) -> Option<&V> {
        match self.find(key) {
            (b, Ok(i)) => Some(&self.blocks[b][i].1),
            _ => None,
        }
    }

    /// The value of `key`, mutably.
    pub(super) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        match self.find(key) {
            (b, Ok(i)) => Some(&mut self.blocks[b][i].1),
            _ => None,
        }
    }

    /// Whether `key` is present.
    pub(super) fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).1.is_ok()
    }

    /// The value of `key`, inserting `make()` first if it is absent; and
    /// whether it was inserted. One search either way.
    pub(super) fn get_or_insert_with(
        &mut self,
        key: &Name,
        make: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let (b, at) = self.find(key.as_bytes());
        match at {
            Ok(i) => (&mut self.blocks[b][i].1, false),
            Err(i) => {
                let (b, i) = self.insert_at(b, i, key.clone(), make());
                (&mut self.blocks[b][i].1, true)
            }
        }
    }

    /// Inserts `value` at `key` if it is absent; a present key keeps its
    /// value.
    #[cfg(test)]
    pub(super) fn insert(&mut self, key: Name, value: V) {
        let (b, at) = self.find(key.as_bytes());
        if let Err(i) = at {
            self.insert_at(b, i, key, value);
        }
    }

    /// Inserts at index `i` of block `b` (where `find` placed the key), and
    /// returns where the entry is after any split.
    fn insert_at(&mut self, b: usize, i: usize, key: Name, value: V) -> (usize, usize) {
        if self.blocks.is_empty() {
            self.firsts.push(key.clone());
            self.blocks.push(vec![(key, value)]);
            self.len = 1;
            return (0, 0);
        }
        if i == 0 {
            self.firsts[b] = key.clone();
        }
        let last = b + 1 == self.blocks.len();
        let block = &mut self.blocks[b];
        if block.len() == block.capacity() && block.len() < MAX {
            // Grow in steps of a quarter of a block, not by doubling.
            block.reserve_exact((MAX / 4).min(MAX - block.len()));
        }
        block.insert(i, (key, value));
        self.len += 1;
        if block.len() <= MAX {
            return (b, i);
        }
        // Appending at the very end (names arriving in order, as when a
        // snapshot is read back) leaves the full block nearly full rather
        // than half empty.
        let half = if last && i == MAX { MAX - MIN } else { MAX / 2 };
        let mut tail = block.split_off(half);
        tail.reserve_exact(MAX / 4);
        block.shrink_to(half + MAX / 4);
        self.firsts.insert(b + 1, tail[0].0.clone());
        self.blocks.insert(b + 1, tail);
        if i < half {
            (b, i)
        } else {
            (b + 1, i - half)
        }
    }

    /// Removes `key`, returning its value.
    pub(super) fn remove(&mut self, key: &[u8]) -> Option<V> {
        let (b, Ok(i)) = self.find(key) else {
            return None;
        };
        let (_, value) = self.blocks[b].remove(i);
        self.len -= 1;
        if self.blocks[b].is_empty() {
            self.blocks.remove(b);
            self.firsts.remove(b);
        } else {
            if i == 0 {
                self.firsts[b] = self.blocks[b][0].0.clone();
            }
            self.rebalance(b);
        }
        Some(value)
    }

    /// Merges block `b` into a neighbour once it has become small.
    fn rebalance(&mut self, b: usize) {
        if self.blocks[b].len() >= MIN {
            return;
        }
        // Into the previous block if it has room, else take in the next.
        let (into, from) = if b > 0 && self.blocks[b - 1].len() + self.blocks[b].len() <= MAX {
            (b - 1, b)
        } else if b + 1 < self.blocks.len()
            && self.blocks[b].len() + self.blocks[b + 1].len() <= MAX
        {
            (b, b + 1)
        } else {
            let block = &mut self.blocks[b];
            if block.capacity() > 2 * MIN {
                block.shrink_to(2 * MIN);
            }
            return;
        };
        let moved = self.blocks.remove(from);
        self.firsts.remove(from);
        self.blocks[into].extend(moved);
    }

    /// Entries, in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Name, &V)> + '_ {
        self.blocks.iter().flatten().map(|(k, v)| (k, v))
    }

    /// Entries with keys after `after` (all, for `None`), in key order.
    pub(super) fn after(&self, after: Option<&[u8]>) -> impl Iterator<Item = (&Name, &V)> + '_ {
        let (b, i) = match after {
            None => (0, 0),
            Some(key) => match self.find(key) {
                (b, Ok(i)) => (b, i + 1),
                (b, Err(i)) => (b, i),
            },
        };
        let first = self
            .blocks
            .get(b)
            .map_or(&[][..], |block| &block[i.min(block.len())..]);
        let rest = self.blocks.get(b + 1..).unwrap_or(&[]);
        first
            .iter()
            .chain(rest.iter().flatten())
            .map(|(k, v)| (k, v))
    }

    /// How many entries.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The blocks' sizes and first keys agree with their entries (for the
    /// invariant check).
    pub(super) fn check(&self) -> Result<(), String> {
        if self.firsts.len() != self.blocks.len() {
            return Err("one first key per block".into());
        }
        let mut count = 0;
        let mut last: Option<&Name> = None;
        for (first, block) in self.firsts.iter().zip(&self.blocks) {
            if block.is_empty() || block.len() > MAX {
                return Err(format!("a block of {} entries", block.len()));
            }
            if &block[0].0 != first {
                return Err(format!("block first key {first} is not its first entry"));
            }
            for (k, _) in block {
                if last.is_some_and(|l| l >= k) {
                    return Err(format!("{k} out of order"));
                }
                last = Some(k);
            }
            count += block.len();
        }
        if count != self.len {
            return Err(format!("{count} entries counted as {}", self.len));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn name(i: u32) -> Name {
        Name::new(format!("t{i}").as_bytes()).unwrap()
    }

    #[test]
    fn names_in_order_fill_their_blocks() {
        let mut m: Blocks<u32> = Blocks::default();
        let names: Vec<Name> = (0..10_000u32)
            .map(|i| Name::new(format!("t{i:05}").as_bytes()).unwrap())
            .collect();
        for (i, n) in names.iter().enumerate() {
            m.insert(n.clone(), i as u32);
        }
        m.check().unwrap();
        assert!(
            m.blocks.len() <= 10_000 / (MAX - MIN) + 1,
            "{} blocks",
            m.blocks.len()
        );
        assert!(m.iter().map(|(k, _)| k).eq(names.iter()));
    }

    /// A random sequence of inserts and removes, checked against a
    /// `BTreeMap` after every step.
    #[test]
    fn behaves_as_an_ordered_map() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(n)) as u32
        };
        let mut m: Blocks<u32> = Blocks::default();
        let mut model = BTreeMap::new();
        for step in 0..60_000u32 {
            // Grow for a while, then shrink, so blocks split and merge.
            let grow = (step / 10_000) % 2 == 0;
            let k = name(rand(5_000));
            if rand(10) < if grow { 8 } else { 3 } {
                if step % 2 == 0 {
                    let (v, new) = m.get_or_insert_with(&k, || step);
                    assert_eq!(new, !model.contains_key(&k));
                    let v = *v;
                    assert_eq!(v, *model.entry(k.clone()).or_insert(step));
                } else if !model.contains_key(&k) {
                    m.insert(k.clone(), step);
                    model.insert(k.clone(), step);
                }
            } else {
                assert_eq!(m.remove(k.as_bytes()), model.remove(&k));
            }
            if step % 997 == 0 {
                m.check().unwrap();
                assert!(m.iter().map(|(k, v)| (k.clone(), *v)).eq(model.clone()));
                let probe = name(rand(5_000));
                assert!(m
                    .after(Some(probe.as_bytes()))
                    .map(|(k, _)| k.clone())
                    .eq(model
                        .range(probe.clone()..)
                        .map(|(k, _)| k.clone())
                        .filter(|k| *k != probe)));
            }
            assert_eq!(m.len(), model.len());
            assert_eq!(m.get(k.as_bytes()), model.get(&k));
        }
        m.check().unwrap();
        assert!(m.after(None).count() == model.len());
    }
}
