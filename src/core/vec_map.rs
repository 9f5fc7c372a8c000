//! [`VecMap`]: an ordered map on a sorted `Vec`, for the few-entry maps of peerlink
//! (peers in a room, tracks per source, transfers per peer).
//!
//! Why not `BTreeMap`: every `BTreeMap<K, V>` instantiates its own node-balancing
//! code, ~8 KB of Wasm per key/value pair type (measured: ten of them were a fifth of
//! the npm package). These maps hold a handful of entries, where a binary search over
//! a `Vec` is as fast. Iteration is in key order, as with `BTreeMap`.

use std::borrow::Borrow;
use std::ops::{Bound, RangeBounds};

/// A map kept as a `Vec` of entries sorted by key.
#[derive(Debug, Clone)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> VecMap<K, V> {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Entries in key order, values mutable.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Keeps the entries for which `keep` returns `true`.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn position<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let i = self.position(key).ok()?;
        Some(&self.entries[i].1)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let i = self.position(key).ok()?;
        Some(&mut self.entries[i].1)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(key).is_ok()
    }

    /// Inserts or replaces; returns the value `key` had.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let i = self.position(key).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// Entries whose keys are in `range`, in key order.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        let start = match range.start_bound() {
            Bound::Included(s) => self.entries.partition_point(|(k, _)| k < s),
            Bound::Excluded(s) => self.entries.partition_point(|(k, _)| k <= s),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => self.entries.partition_point(|(k, _)| k <= e),
            Bound::Excluded(e) => self.entries.partition_point(|(k, _)| k < e),
            Bound::Unbounded => self.entries.len(),
        };
        self.entries[start..end.max(start)]
            .iter()
            .map(|(k, v)| (k, v))
    }
}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<'a, K, V> IntoIterator for &'a mut VecMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter =
        std::iter::Map<std::slice::IterMut<'a, (K, V)>, fn(&'a mut (K, V)) -> (&'a K, &'a mut V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::VecMap;
    use std::collections::BTreeMap;
    use std::ops::Bound;

    #[test]
    fn behaves_like_btreemap() {
        let mut ours = VecMap::new();
        let mut std = BTreeMap::new();
        // A fixed pseudo-random sequence of inserts and removes.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 16) % 64;
            if x % 3 == 0 {
                assert_eq!(ours.remove(&key), std.remove(&key));
            } else {
                assert_eq!(ours.insert(key, x), std.insert(key, x));
            }
            assert_eq!(ours.len(), std.len());
            assert_eq!(ours.get(&key), std.get(&key));
            assert_eq!(ours.contains_key(&key), std.contains_key(&key));
        }
        assert!(ours.iter().eq(std.iter()));
        for cursor in [0, 1, 17, 63, 64] {
            let a = ours
                .range((Bound::Excluded(cursor), Bound::Unbounded))
                .chain(ours.range(..=cursor));
            let b = std
                .range((Bound::Excluded(cursor), Bound::Unbounded))
                .chain(std.range(..=cursor));
            assert!(a.eq(b), "cursor {cursor}");
            assert!(ours.range(cursor..).eq(std.range(cursor..)));
            assert!(ours.range(..cursor).eq(std.range(..cursor)));
        }
        if let Some(v) = ours.get_mut(&3) {
            *v = 7;
        }
        ours.retain(|k, _| k % 2 == 0);
        std.retain(|k, _| k % 2 == 0);
        assert!(ours.keys().eq(std.keys()));
        ours.clear();
        assert!(ours.is_empty());
    }

    #[test]
    fn borrowed_string_keys() {
        let mut map: VecMap<String, u8> = VecMap::new();
        map.insert("b".into(), 2);
        map.insert("a".into(), 1);
        assert_eq!(map.get("a"), Some(&1));
        assert_eq!(map.remove("b"), Some(2));
        assert!(map.values().eq([1].iter()));
    }
}
