//! An ordered map from names to values: blocks of entries in name order,
//! and a hash index over them.
//!
//! The registry needs its topics in name order (`/topics` and `/nodes`
//! read them off in order, with no sort) and needs every operation on one
//! topic to cost the same at any size. A `BTreeMap` keeps the order, but
//! its nodes, allocated one by one and about half full, cost some 70 bytes
//! per 40-byte topic, walking a million of them hops between 150,000
//! allocations, and a lookup costs a dozen comparisons that grow with the
//! database. Here:
//!
//! - entries sit in blocks of at most [`MAX`], each block a few kilobytes
//!   of contiguous entries in no order plus their order as one byte per
//!   entry (so adding an entry moves no other entry);
//! - the blocks are kept in name order, with the first name of each in one
//!   array: a new name finds its block there by binary search, and a walk
//!   reads the blocks one after the other;
//! - a hash index gives every name's block and place: looking a name up,
//!   changing or removing its entry costs one hash probe at any size.
//!   The index is sharded, so growing it never rehashes more than a shard.
//!
//! A full block splits in two, a block fallen below [`MAX`]/8 entries
//! merges into a neighbour; either way the entries that moved are
//! re-indexed, at most a block's worth.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::block::Block;
use crate::names::Name;

/// Most entries in a block (places are one byte).
pub(super) const MAX: usize = 256;
/// Fewest entries a block keeps before it is merged into a neighbour.
const MIN: usize = MAX / 8;
/// Shards of the hash index.
const SHARDS: usize = 64;
/// Entries a block grows by at a time: room for a few more, not double
/// (a block's spare room is memory every topic pays for).
const GROW: usize = 16;

type BlockId = u32;

/// An entry's block and place in it.
type Place = (BlockId, u8);

/// An entry that moved: its name's hash, where it was, where it is.
type Move = (u32, Place, Place);

/// Where an entry is: 32 bits of its name's hash (enough to pick a
/// shard and a bucket; a name's own bytes settle the rest), and its block
/// (24 bits) and place there (8 bits). Eight bytes per topic.
#[derive(Debug, Clone, Copy)]
struct Loc {
    hash: u32,
    place: u32,
}

/// Block ids fit 24 bits; the highest few are places in transit.
const TRANSIT: BlockId = (1 << 24) - 1;

impl Loc {
    fn new(hash: u32, (block, slot): Place) -> Loc {
        Loc {
            hash,
            place: block << 8 | u32::from(slot),
        }
    }

    fn block(self) -> BlockId {
        self.place >> 8
    }

    fn slot(self) -> usize {
        usize::from(self.place as u8)
    }

    fn at(self) -> Place {
        (self.block(), self.place as u8)
    }
}

/// The 32 bits of a name's hash the index keeps (SipHash, keyed per map:
/// names come from clients, and must not be able to pile into a bucket).
fn name_hash(hasher: &RandomState, key: &[u8]) -> u32 {
    (hasher.hash_one(key) >> 32) as u32
}

/// A 32-bit hash spread over 64 bits, for the tables (which take their
/// tags from the top bits and their buckets from the low ones).
fn spread(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The map. Blocks in `order` are never empty and their name ranges never
/// overlap.
#[derive(Debug)]
pub(super) struct Blocks<V> {
    /// Block ids in name order.
    order: Vec<BlockId>,
    /// The first name of each block in `order`.
    firsts: Vec<Name>,
    /// Blocks by id; the ids in `free` are empty and unused.
    blocks: Vec<Block<V>>,
    free: Vec<BlockId>,
    index: Box<[HashTable<Loc>]>,
    hasher: RandomState,
    len: usize,
}

impl<V> Default for Blocks<V> {
    fn default() -> Self {
        Blocks {
            order: Vec::new(),
            firsts: Vec::new(),
            blocks: Vec::new(),
            free: Vec::new(),
            index: (0..SHARDS).map(|_| HashTable::new()).collect(),
            hasher: RandomState::new(),
            len: 0,
        }
    }
}

impl<V> Blocks<V> {
    fn hash(&self, key: &[u8]) -> u32 {
        name_hash(&self.hasher, key)
    }

    fn shard(hash: u32) -> usize {
        // Bits the spread hash hardly uses for its buckets.
        (hash >> 26) as usize % SHARDS
    }

    /// Where `key`'s entry is.
    fn locate(&self, key: &[u8]) -> Option<Loc> {
        self.locate_hashed(self.hash(key), key)
    }

    /// Where `key`, whose hash is `hash`, has its entry.
    fn locate_hashed(&self, hash: u32, key: &[u8]) -> Option<Loc> {
        let blocks = &self.blocks;
        self.index[Self::shard(hash)]
            .find(spread(hash), |l| {
                l.hash == hash && blocks[l.block() as usize].entries[l.slot()].0.as_bytes() == key
            })
            .copied()
    }

    /// Records that the entry at `from` (block, place) is now at `to`.
    fn moved(&mut self, hash: u32, from: Place, to: Place) {
        let found = self.index[Self::shard(hash)]
            .find_mut(spread(hash), |l| l.hash == hash && l.at() == from);
        if let Some(l) = found {
            *l = Loc::new(hash, to);
        }
    }

    /// Points the index at where moved entries now are: `(hash, from,
    /// to)` for each. In two passes, through places no entry has, so an
    /// entry moving to where another one was is never mistaken for it.
    fn relocate(&mut self, moves: &[Move]) {
        let transit = |k: usize| (TRANSIT - (k / 256) as BlockId, (k % 256) as u8);
        for (k, (hash, from, _)) in moves.iter().enumerate() {
            self.moved(*hash, *from, transit(k));
        }
        for (k, (hash, _, to)) in moves.iter().enumerate() {
            self.moved(*hash, transit(k), *to);
        }
    }

    /// The position in `order` of the block whose range holds `key` (the
    /// last whose first name is not after it), or 0.
    fn position_of(&self, key: &[u8]) -> usize {
        self.firsts
            .partition_point(|f| f.as_bytes() <= key)
            .saturating_sub(1)
    }

    /// The value of `key`.
    pub(super) fn get(&self, key: &[u8]) -> Option<&V> {
        let l = self.locate(key)?;
        Some(&self.blocks[l.block() as usize].entries[l.slot()].1)
    }

    /// The value of `key`, mutably.
    pub(super) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let l = self.locate(key)?;
        Some(&mut self.blocks[l.block() as usize].entries[l.slot()].1)
    }

    /// The value of `key`, inserting `make()` first if it is absent; and
    /// whether it was inserted.
    pub(super) fn get_or_insert_with(
        &mut self,
        key: &Name,
        make: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let hash = self.hash(key.as_bytes());
        let (l, inserted) = match self.locate_hashed(hash, key.as_bytes()) {
            Some(l) => (l, false),
            None => (self.insert_new(hash, key.clone(), make()), true),
        };
        (
            &mut self.blocks[l.block() as usize].entries[l.slot()].1,
            inserted,
        )
    }

    /// Inserts `value` at `key` if it is absent; a present key keeps its
    /// value.
    #[cfg(test)]
    pub(super) fn insert(&mut self, key: Name, value: V) {
        let hash = self.hash(key.as_bytes());
        if self.locate_hashed(hash, key.as_bytes()).is_none() {
            self.insert_new(hash, key, value);
        }
    }

    fn new_block(&mut self, block: Block<V>) -> BlockId {
        match self.free.pop() {
            Some(id) => {
                self.blocks[id as usize] = block;
                id
            }
            None => {
                self.blocks.push(block);
                (self.blocks.len() - 1) as BlockId
            }
        }
    }

    /// Adds an absent `key`, whose hash is `hash`; where it went.
    fn insert_new(&mut self, hash: u32, key: Name, value: V) -> Loc {
        if self.order.is_empty() {
            let id = self.new_block(Block::of_sorted(Vec::new(), GROW));
            self.order.push(id);
            self.firsts.push(key.clone());
        }
        let mut pos = self.position_of(key.as_bytes());
        if self.blocks[self.order[pos] as usize].entries.len() == MAX {
            self.split(pos, key.as_bytes());
            if pos + 1 < self.firsts.len() && self.firsts[pos + 1].as_bytes() <= key.as_bytes() {
                pos += 1;
            }
        }
        let id = self.order[pos];
        let block = &mut self.blocks[id as usize];
        let rank = block.rank(key.as_bytes());
        if rank == 0 {
            self.firsts[pos] = key.clone();
        }
        if block.entries.len() == block.entries.capacity() {
            block.entries.reserve_exact(GROW);
        }
        let slot = block.entries.len() as u8;
        block.entries.push((key, value));
        block.sorted.insert(rank, slot);
        let loc = Loc::new(hash, (id, slot));
        self.index[Self::shard(hash)].insert_unique(spread(hash), loc, |l| spread(l.hash));
        self.len += 1;
        loc
    }

    /// Splits the full block at `pos` in two, making room for `key`.
    /// Names arriving in order (appended at the end of the last block, as
    /// when a snapshot is read back) leave it nearly full rather than half
    /// empty.
    fn split(&mut self, pos: usize, key: &[u8]) {
        let id = self.order[pos];
        let new = self.new_block(Block::default());
        let block = &mut self.blocks[id as usize];
        let appending =
            pos + 1 == self.order.len() && block.nth(block.sorted.len() - 1).0.as_bytes() < key;
        let half = if appending { MAX - MIN } else { MAX / 2 };
        let old_slots = block.sorted.clone();
        let mut lower = block.take_sorted();
        let upper = lower.split_off(half);
        let moves: Vec<_> = lower
            .iter()
            .chain(&upper)
            .zip(old_slots)
            .enumerate()
            .map(|(i, ((name, _), from))| {
                let to = if i < half {
                    (id, i as u8)
                } else {
                    (new, (i - half) as u8)
                };
                (self.hash(name.as_bytes()), (id, from), to)
            })
            .collect();
        let first = upper[0].0.clone();
        self.blocks[id as usize] = Block::of_sorted(lower, GROW);
        self.blocks[new as usize] = Block::of_sorted(upper, GROW);
        self.order.insert(pos + 1, new);
        self.firsts.insert(pos + 1, first);
        self.relocate(&moves);
    }

    /// Removes `key`, returning its value.
    pub(super) fn remove(&mut self, key: &[u8]) -> Option<V> {
        let hash = self.hash(key);
        let blocks = &self.blocks;
        let (l, _) = self.index[Self::shard(hash)]
            .find_entry(spread(hash), |l| {
                l.hash == hash && blocks[l.block() as usize].entries[l.slot()].0.as_bytes() == key
            })
            .ok()?
            .remove();
        let (id, slot) = l.at();
        let pos = self.position_of(key);
        let block = &mut self.blocks[id as usize];
        let rank = block
            .sorted
            .iter()
            .position(|&s| s == slot)
            .unwrap_or_else(|| unreachable!("an indexed entry is in its block's order"));
        block.sorted.remove(rank);
        let last = (block.entries.len() - 1) as u8;
        let (_, value) = block.entries.swap_remove(usize::from(slot));
        self.len -= 1;
        if slot != last {
            // The last entry took the removed one's place.
            for s in &mut block.sorted {
                if *s == last {
                    *s = slot;
                }
            }
            let name = block.entries[usize::from(slot)].0.clone();
            self.moved(self.hash(name.as_bytes()), (id, last), (id, slot));
        }
        let block = &mut self.blocks[id as usize];
        if block.entries.is_empty() {
            self.blocks[id as usize] = Block::default();
            self.free.push(id);
            self.order.remove(pos);
            self.firsts.remove(pos);
        } else {
            if rank == 0 {
                self.firsts[pos] = block.nth(0).0.clone();
            }
            self.rebalance(pos);
        }
        Some(value)
    }

    /// Merges the block at `pos` into a neighbour once it has become small.
    fn rebalance(&mut self, pos: usize) {
        let size = |p: usize| self.blocks[self.order[p] as usize].entries.len();
        if size(pos) >= MIN {
            return;
        }
        // Into the previous block if it has room, else take in the next.
        let (into, from) = if pos > 0 && size(pos - 1) + size(pos) <= MAX {
            (pos - 1, pos)
        } else if pos + 1 < self.order.len() && size(pos) + size(pos + 1) <= MAX {
            (pos, pos + 1)
        } else {
            let block = &mut self.blocks[self.order[pos] as usize];
            if block.entries.capacity() > 2 * MIN {
                block.entries.shrink_to(2 * MIN);
            }
            return;
        };
        let (into_id, from_id) = (self.order[into], self.order[from]);
        let old_slots = self.blocks[from_id as usize].sorted.clone();
        let moved = self.blocks[from_id as usize].take_sorted();
        self.free.push(from_id);
        self.order.remove(from);
        self.firsts.remove(from);
        let mut moves = Vec::with_capacity(moved.len());
        let target = &mut self.blocks[into_id as usize];
        for (entry, old) in moved.into_iter().zip(old_slots) {
            let slot = target.entries.len() as u8;
            let hash = name_hash(&self.hasher, entry.0.as_bytes());
            moves.push((hash, (from_id, old), (into_id, slot)));
            target.entries.push(entry);
            target.sorted.push(slot);
        }
        self.relocate(&moves);
    }

    /// Entries, in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Name, &V)> + '_ {
        self.walk_from(0, 0)
    }

    /// Entries from the `rank`-th of the block at `pos` on, in key order.
    fn walk_from(&self, pos: usize, rank: usize) -> impl Iterator<Item = (&Name, &V)> + '_ {
        self.order
            .get(pos..)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .flat_map(move |(n, id)| {
                let block = &self.blocks[*id as usize];
                let skip = if n == 0 {
                    rank.min(block.sorted.len())
                } else {
                    0
                };
                block.sorted[skip..].iter().map(move |&s| {
                    let (k, v) = &block.entries[usize::from(s)];
                    (k, v)
                })
            })
    }

    /// Entries with keys after `after` (all, for `None`), in key order.
    pub(super) fn after(&self, after: Option<&[u8]>) -> impl Iterator<Item = (&Name, &V)> + '_ {
        let (pos, rank) = match after {
            None => (0, 0),
            Some(key) => {
                let pos = self.position_of(key);
                let rank = self.order.get(pos).map_or(0, |id| {
                    let block = &self.blocks[*id as usize];
                    // Past `key` itself.
                    block
                        .sorted
                        .partition_point(|&s| block.entries[usize::from(s)].0.as_bytes() <= key)
                });
                (pos, rank)
            }
        };
        self.walk_from(pos, rank)
    }

    /// How many entries.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The blocks, their order, their first names and the index agree
    /// with the entries (for the invariant check).
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub(super) fn check(&self) -> Result<(), String> {
        if self.firsts.len() != self.order.len() {
            return Err("one first name per block".into());
        }
        let mut count = 0;
        let mut last: Option<&Name> = None;
        for (first, id) in self.firsts.iter().zip(&self.order) {
            let block = &self.blocks[*id as usize];
            let n = block.entries.len();
            if n == 0 || n > MAX || block.sorted.len() != n {
                return Err(format!(
                    "block {id} of {n} entries, {} ranked",
                    block.sorted.len()
                ));
            }
            let mut seen = vec![false; n];
            for &s in &block.sorted {
                if usize::from(s) >= n || std::mem::replace(&mut seen[usize::from(s)], true) {
                    return Err(format!("block {id}: its order is not a permutation"));
                }
            }
            if block.nth(0).0 != *first {
                return Err(format!(
                    "block {id}: first name {first} is not its first entry"
                ));
            }
            for i in 0..n {
                let k = &block.nth(i).0;
                if last.is_some_and(|l| l >= k) {
                    return Err(format!("{k} out of order"));
                }
                last = Some(k);
            }
            for (slot, (k, _)) in block.entries.iter().enumerate() {
                match self.locate(k.as_bytes()) {
                    Some(l) if (l.block(), l.slot()) == (*id, slot) => {}
                    other => {
                        return Err(format!("{k} at {id}/{slot} indexed at {other:?}"));
                    }
                }
            }
            count += n;
        }
        let indexed: usize = self.index.iter().map(HashTable::len).sum();
        if count != self.len || indexed != self.len {
            return Err(format!(
                "{count} entries, {indexed} indexed, counted as {}",
                self.len
            ));
        }
        for id in &self.free {
            if !self.blocks[*id as usize].entries.is_empty() {
                return Err(format!("free block {id} holds entries"));
            }
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
            m.order.len() <= 10_000 / (MAX - MIN) + 1,
            "{} blocks",
            m.order.len()
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
            if let Some(v) = m.get_mut(k.as_bytes()) {
                *v += 1;
                *model.get_mut(&k).expect("in the model too") += 1;
            }
            assert_eq!(m.get(k.as_bytes()), model.get(&k));
        }
        m.check().unwrap();
        assert!(m.after(None).count() == model.len());
        for k in model.keys() {
            assert!(m.get(k.as_bytes()).is_some());
            m.remove(k.as_bytes());
        }
        m.check().unwrap();
        assert_eq!(m.iter().count(), 0);
    }
}
