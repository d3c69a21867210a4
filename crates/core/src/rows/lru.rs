//! A bounded map that forgets the entry set longest ago (Python: an `OrderedDict` with `move_to_end` on
//! every set and `popitem(last=False)` past the bound).

use std::collections::VecDeque;

use crate::hash::HashMap;
use std::hash::Hash;

/// Bounded map, oldest-set entry evicted first. Reads do not refresh an entry.
#[derive(Debug)]
pub struct Bounded<K, V> {
    map: HashMap<K, (V, u64)>,
    /// (set number, key) in set order; entries whose number is no longer the key's are stale
    order: VecDeque<(u64, K)>,
    next: u64,
    max: usize,
}

impl<K: Eq + Hash + Clone, V> Bounded<K, V> {
    /// An empty map holding at most `max` entries.
    pub fn new(max: usize) -> Self {
        Bounded {
            map: HashMap::default(),
            order: VecDeque::new(),
            next: 0,
            max,
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(v, _)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No entries?
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Set `key` (it becomes the newest); evict the oldest past the bound.
    pub fn set(&mut self, key: K, value: V) {
        let n = self.next;
        self.next += 1;
        self.map.insert(key.clone(), (value, n));
        self.order.push_back((n, key));
        while self.map.len() > self.max {
            match self.order.pop_front() {
                Some((n, k)) => {
                    if self.map.get(&k).is_some_and(|(_, m)| *m == n) {
                        self.map.remove(&k);
                    }
                }
                None => break,
            }
        }
        if self.order.len() > 2 * self.max + 64 {
            self.compact();
        }
    }

    /// Forget `key`; its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key).map(|(v, _)| v)
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }

    /// Entries, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.order.iter().filter_map(move |(n, k)| {
            self.map
                .get_key_value(k)
                .filter(|(_, (_, m))| m == n)
                .map(|(k, (v, _))| (k, v))
        })
    }

    fn compact(&mut self) {
        let map = &self.map;
        self.order
            .retain(|(n, k)| map.get(k).is_some_and(|(_, m)| m == n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_set_is_evicted() {
        let mut m = Bounded::new(2);
        m.set("a", 1);
        m.set("b", 2);
        m.set("a", 3); // a is now the newest
        m.set("c", 4);
        assert_eq!(m.get(&"b"), None);
        assert_eq!(m.get(&"a"), Some(&3));
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(&"a", &3), (&"c", &4)]);
        m.remove(&"a");
        m.set("d", 5);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(&"c", &4), (&"d", &5)]);
        for i in 0..1000 {
            m.set("e", i);
        }
        assert!(m.order.len() <= 2 * 2 + 64);
        assert_eq!(m.len(), 2);
    }
}
