//! Sorted-vector maps and sets: the registry's small collections.
//!
//! Most topics have a few producers and a channel or two, and there can be
//! hundreds of thousands of topics. A `BTreeMap`'s smallest node holds
//! eleven entries (hundreds of bytes for one), which made a topic with one
//! producer and one channel cost about a kilobyte; a vector of exactly the
//! entries costs tens of bytes and still looks keys up by binary search.
//! Inserting and removing are linear in the collection's size, which stays
//! small (the producers of one topic, the channels of one topic).

use std::borrow::Borrow;

/// A map kept as a vector of `(key, value)` sorted by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

/// Grows by one slot at a time while small, so a collection of one or two
/// entries holds no spare capacity (`Vec` would start at four).
fn push_room<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() && v.len() < 8 {
        v.reserve_exact(1);
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value of `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        match self.find(key) {
            Ok(i) => Some(&self.0[i].1),
            Err(_) => None,
        }
    }

    /// The value of `key`, mutably.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        match self.find(key) {
            Ok(i) => Some(&mut self.0[i].1),
            Err(_) => None,
        }
    }

    /// Whether `key` is present.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Inserts `value` at `key` if absent; returns whether it was inserted.
    pub fn insert_new(&mut self, key: K, value: V) -> bool {
        match self.find(&key) {
            Ok(_) => false,
            Err(i) => {
                push_room(&mut self.0);
                self.0.insert(i, (key, value));
                true
            }
        }
    }

    /// The value of `key`, inserting `make()` first if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                push_room(&mut self.0);
                self.0.insert(i, (key, make()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        let (_, v) = self.0.remove(i);
        if self.0.capacity() > 8 && self.0.len() < self.0.capacity() / 4 {
            self.0.shrink_to_fit();
        }
        Some(v)
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// Keeps only the entries `keep` accepts (it may change their values).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }
}

impl<K, V> VecMap<K, V> {
    /// Entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    /// Values in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Entries in key order, values mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A set kept as a sorted vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecSet<T>(Vec<T>);

impl<T> Default for VecSet<T> {
    fn default() -> Self {
        VecSet(Vec::new())
    }
}

impl<T: Ord> VecSet<T> {
    /// Adds `item`; returns whether it was new.
    pub fn insert(&mut self, item: T) -> bool {
        match self.0.binary_search(&item) {
            Ok(_) => false,
            Err(i) => {
                push_room(&mut self.0);
                self.0.insert(i, item);
                true
            }
        }
    }

    /// Removes `item`; returns whether it was there.
    pub fn remove(&mut self, item: &T) -> bool {
        match self.0.binary_search(item) {
            Ok(i) => {
                self.0.remove(i);
                if self.0.capacity() > 8 && self.0.len() < self.0.capacity() / 4 {
                    self.0.shrink_to_fit();
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Whether `item` is present.
    pub fn contains(&self, item: &T) -> bool {
        self.0.binary_search(item).is_ok()
    }
}

impl<T> VecSet<T> {
    /// Items.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Items in order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a VecSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    #[test]
    fn behaves_like_btree_collections() {
        let mut m: VecMap<Arc<str>, u32> = VecMap::default();
        let mut b: BTreeMap<Arc<str>, u32> = BTreeMap::new();
        for (i, k) in ["m", "c", "x", "a", "c", "q"].iter().enumerate() {
            let inserted = m.insert_new(Arc::from(*k), i as u32);
            assert_eq!(inserted, !b.contains_key(*k));
            b.entry(Arc::from(*k)).or_insert(i as u32);
        }
        assert!(m.iter().map(|(k, v)| (k.clone(), *v)).eq(b.clone()));
        assert_eq!(m.get_mut("c"), Some(&mut 1));
        assert_eq!(m.remove("c"), b.remove("c"));
        assert_eq!(m.remove("zz"), None);
        *m.get_or_insert_with(Arc::from("b"), || 9) += 1;
        assert_eq!(m.get_mut("b"), Some(&mut 10));
        m.retain(|k, _| &**k != "x");
        assert_eq!(
            m.keys().map(|k| &**k).collect::<Vec<_>>(),
            ["a", "b", "m", "q"]
        );

        let mut s = VecSet::default();
        let mut bs = BTreeSet::new();
        for x in [5u64, 1, 9, 1, 3] {
            assert_eq!(s.insert(x), bs.insert(x));
        }
        assert!(s.iter().eq(bs.iter()));
        assert!(s.remove(&9) && !s.remove(&9));
        assert!(s.contains(&3) && !s.contains(&9));
    }

    #[test]
    fn small_collections_hold_no_spare_room() {
        let mut s = VecSet::default();
        s.insert(1u64);
        assert_eq!(s.0.capacity(), 1);
        let mut m = VecMap::default();
        m.insert_new(1u64, ());
        m.insert_new(2u64, ());
        assert_eq!(m.0.capacity(), 2);
    }
}
