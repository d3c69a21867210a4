//! An insertion-ordered hash map with O(1) lookup, removal, move-to-back and pop-front: the operations of
//! Python's `OrderedDict` that the assembler uses. Entries live in a slab of doubly linked nodes.

use std::collections::HashMap;
use std::hash::Hash;

const NIL: usize = usize::MAX;

struct Node<K, V> {
    entry: Option<(K, V)>,
    prev: usize,
    next: usize,
}

/// Ordered map: iteration and `pop_front` follow insertion order, `move_to_back` re-queues an entry.
pub(crate) struct LinkedMap<K, V> {
    index: HashMap<K, usize>,
    nodes: Vec<Node<K, V>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
}

impl<K: Hash + Eq + Clone, V> LinkedMap<K, V> {
    pub(crate) fn new() -> Self {
        LinkedMap {
            index: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = *self.index.get(key)?;
        self.nodes
            .get_mut(i)
            .and_then(|n| n.entry.as_mut())
            .map(|(_, v)| v)
    }

    /// Insert at the back; an existing key keeps its place and gets the new value (as `OrderedDict`).
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if let Some(v) = self.get_mut(&key) {
            *v = value;
            return;
        }
        let node = Node {
            entry: Some((key.clone(), value)),
            prev: self.tail,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.link_back(i);
        self.index.insert(key, i);
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index.remove(key)?;
        self.unlink(i);
        self.free.push(i);
        self.nodes[i].entry.take().map(|(_, v)| v)
    }

    /// Move an entry to the back (most recent); absent keys are ignored.
    pub(crate) fn move_to_back(&mut self, key: &K) {
        if let Some(&i) = self.index.get(key) {
            if self.tail != i {
                self.unlink(i);
                self.link_back(i);
            }
        }
    }

    /// The oldest entry's value.
    pub(crate) fn front(&self) -> Option<&V> {
        self.nodes
            .get(self.head)
            .and_then(|n| n.entry.as_ref())
            .map(|(_, v)| v)
    }

    pub(crate) fn pop_front(&mut self) -> Option<(K, V)> {
        let i = self.head;
        let (key, value) = self.nodes.get_mut(i)?.entry.take()?;
        self.index.remove(&key);
        self.unlink(i);
        self.free.push(i);
        Some((key, value))
    }

    /// Values in order, mutable.
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(&mut V)) {
        let mut i = self.head;
        while let Some(n) = self.nodes.get_mut(i) {
            if let Some((_, v)) = n.entry.as_mut() {
                f(v);
            }
            i = n.next;
        }
    }

    /// Remove everything, values in order.
    pub(crate) fn drain(&mut self) -> Vec<V> {
        let mut out = Vec::with_capacity(self.len());
        while let Some((_, v)) = self.pop_front() {
            out.push(v);
        }
        self.nodes.clear();
        self.free.clear();
        out
    }

    fn link_back(&mut self, i: usize) {
        self.nodes[i].prev = self.tail;
        self.nodes[i].next = NIL;
        match self.nodes.get_mut(self.tail) {
            Some(t) => t.next = i,
            None => self.head = i,
        }
        self.tail = i;
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
        match self.nodes.get_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.nodes.get_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        self.nodes[i].prev = NIL;
        self.nodes[i].next = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::LinkedMap;

    fn keys(m: &mut LinkedMap<u32, u32>) -> Vec<u32> {
        let mut out = Vec::new();
        m.for_each_mut(|v| out.push(*v));
        out
    }

    #[test]
    fn ordered_dict_operations() {
        let mut m = LinkedMap::new();
        for k in 1..=4 {
            m.insert(k, k);
        }
        assert_eq!(keys(&mut m), [1, 2, 3, 4]);
        m.move_to_back(&2);
        assert_eq!(keys(&mut m), [1, 3, 4, 2]);
        m.insert(3, 30); // keeps its place
        assert_eq!(keys(&mut m), [1, 30, 4, 2]);
        assert_eq!(m.remove(&4), Some(4));
        assert_eq!(m.remove(&4), None);
        assert_eq!(m.pop_front(), Some((1, 1)));
        assert_eq!(m.front(), Some(&30));
        m.insert(5, 5); // reuses a freed slot
        assert_eq!(keys(&mut m), [30, 2, 5]);
        m.move_to_back(&5);
        m.move_to_back(&3);
        assert_eq!(keys(&mut m), [2, 5, 30]);
        assert_eq!(m.len(), 3);
        assert!(m.contains_key(&2) && !m.contains_key(&1));
        assert_eq!(m.drain(), [2, 5, 30]);
        assert!(m.is_empty() && m.front().is_none() && m.pop_front().is_none());
        m.insert(7, 7);
        assert_eq!(keys(&mut m), [7]);
    }
}
