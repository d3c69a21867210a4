//! A hash map that remembers insertion order, as a Python dict does: O(1) insert, lookup and removal, the
//! oldest entry first on [`Fifo::pop_oldest`] and in [`Fifo::keys`].

use std::collections::VecDeque;

use crate::hash::HashMap;
use std::hash::Hash;

/// An insertion-ordered map. Replacing the value of a present key keeps its place (as `d[k] = v` in
/// Python); removing a key and inserting it again puts it last. Removed keys leave a stale entry in the
/// order queue, dropped lazily: the queue stays within twice the map's size (plus a constant).
#[derive(Debug)]
pub(crate) struct Fifo<K, V> {
    map: HashMap<K, (u64, V)>,
    order: VecDeque<(u64, K)>,
    seq: u64,
}

impl<K: Copy + Eq + Hash, V> Default for Fifo<K, V> {
    fn default() -> Self {
        Fifo {
            map: HashMap::default(),
            order: VecDeque::new(),
            seq: 0,
        }
    }
}

impl<K: Copy + Eq + Hash, V> Fifo<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(_, v)| v)
    }

    /// Insert or replace; returns the value replaced (the key keeps its place then).
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        if let Some(slot) = self.map.get_mut(&k) {
            return Some(std::mem::replace(&mut slot.1, v));
        }
        self.seq += 1;
        self.map.insert(k, (self.seq, v));
        self.order.push_back((self.seq, k));
        None
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let v = self.map.remove(k).map(|(_, v)| v);
        if v.is_some() && self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(s, k)| map.get(k).is_some_and(|(s2, _)| s2 == s));
        }
        v
    }

    /// Remove and return the oldest entry.
    pub(crate) fn pop_oldest(&mut self) -> Option<(K, V)> {
        while let Some((s, k)) = self.order.pop_front() {
            if self.map.get(&k).is_some_and(|(s2, _)| *s2 == s) {
                return self.map.remove(&k).map(|(_, v)| (k, v));
            }
        }
        None
    }

    /// The oldest entry's key.
    pub(crate) fn oldest(&mut self) -> Option<K> {
        while let Some(&(s, k)) = self.order.front() {
            if self.map.get(&k).is_some_and(|(s2, _)| *s2 == s) {
                return Some(k);
            }
            self.order.pop_front();
        }
        None
    }

    /// Every key, oldest first.
    pub(crate) fn keys(&self) -> Vec<K> {
        self.order
            .iter()
            .filter(|(s, k)| self.map.get(k).is_some_and(|(s2, _)| s2 == s))
            .map(|&(_, k)| k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Fifo;

    #[test]
    fn keeps_python_dict_order() {
        let mut f: Fifo<i64, &str> = Fifo::default();
        f.insert(1, "a");
        f.insert(2, "b");
        f.insert(3, "c");
        assert_eq!(f.insert(1, "A"), Some("a"));
        assert_eq!(f.keys(), vec![1, 2, 3]);
        assert_eq!(f.remove(&2), Some("b"));
        f.insert(2, "B");
        assert_eq!(f.keys(), vec![1, 3, 2]);
        assert_eq!(f.oldest(), Some(1));
        assert_eq!(f.pop_oldest(), Some((1, "A")));
        assert_eq!(f.pop_oldest(), Some((3, "c")));
        assert_eq!(f.get(&2), Some(&"B"));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn order_queue_stays_bounded() {
        let mut f: Fifo<i64, ()> = Fifo::default();
        for i in 0..100_000 {
            f.insert(i, ());
            f.remove(&i);
        }
        assert!(f.order.len() <= 65);
        assert_eq!(f.len(), 0);
    }
}
