//! A hash map of topic names that grows one small shard at a time.
//!
//! A `HashMap` grows by rehashing every entry at once: at 57,000 topics
//! that is milliseconds with the registry's write lock held and the thread
//! that holds it doing nothing else, which is what `/lookup`'s p99 showed
//! while 100,000 REGISTERs streamed in. Spread over [`SHARDS`] maps, each
//! rehash moves a 1/128th of the topics, and no single REGISTER stalls
//! readers for long. Lookups still cost one hash, at any size.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

/// How many maps the entries are spread over.
pub const SHARDS: usize = 128;

/// A map from names to `V`, in [`SHARDS`] hash maps.
#[derive(Debug)]
pub struct ShardMap<V> {
    hasher: RandomState,
    shards: Box<[HashMap<Arc<str>, V>]>,
}

impl<V> Default for ShardMap<V> {
    fn default() -> Self {
        let hasher = RandomState::new();
        let shards = (0..SHARDS)
            .map(|_| HashMap::with_hasher(hasher.clone()))
            .collect();
        ShardMap { hasher, shards }
    }
}

impl<V> ShardMap<V> {
    /// The shard holding `key`. Every shard shares one hasher, and the
    /// shard is picked from bits the maps themselves do not use (they take
    /// the low bits for the bucket and the top seven as a tag), so entries
    /// stay spread within a shard.
    fn shard(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) >> 32) as usize % SHARDS
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.shards[self.shard(key)].get(key)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let i = self.shard(key);
        self.shards[i].get_mut(key)
    }

    /// The entry of `key`, for insertion in place.
    pub fn entry(&mut self, key: Arc<str>) -> Entry<'_, Arc<str>, V> {
        let i = self.shard(&key);
        self.shards[i].entry(key)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.shard(key);
        self.shards[i].remove(key)
    }

    /// Every entry, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_one_map() {
        let mut m: ShardMap<usize> = ShardMap::default();
        for i in 0..10_000 {
            *m.entry(format!("t{i}").into()).or_default() += i;
        }
        assert_eq!(m.iter().count(), 10_000);
        assert_eq!(m.get("t42"), Some(&42));
        *m.get_mut("t42").unwrap() += 1;
        assert_eq!(m.remove("t42"), Some(43));
        assert_eq!(m.get("t42"), None);
        assert_eq!(m.iter().count(), 9_999);
        // Spread over every shard.
        assert!(m.shards.iter().all(|s| s.len() > 30));
        for i in 0..10_000 {
            m.remove(&format!("t{i}"));
        }
        assert_eq!(m.iter().count(), 0);
    }
}
