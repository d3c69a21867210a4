//! An insertion-ordered hash map with O(1) lookup, removal, move-to-back and pop-front: the operations of
//! Python's `OrderedDict` that the assembler uses. Entries live in a slab of doubly linked nodes.

use crate::hash::HashMap;
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
            index: HashMap::default(),
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

    /// The slot of `key`, for the `*_at` methods (valid until the next insertion or removal).
    pub(crate) fn find(&self, key: &K) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The value in slot `i` (from [`LinkedMap::find`]).
    pub(crate) fn value_at(&mut self, i: usize) -> Option<&mut V> {
        self.nodes
            .get_mut(i)
            .and_then(|n| n.entry.as_mut())
            .map(|(_, v)| v)
    }

    /// Insert a key known to be absent at the back; its slot.
    pub(crate) fn push_back(&mut self, key: K, value: V) -> usize {
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
        i
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key)?;
        self.remove_at(i)
    }

    /// Remove the entry in slot `i` (from [`LinkedMap::find`]).
    pub(crate) fn remove_at(&mut self, i: usize) -> Option<V> {
        let (key, value) = self.nodes.get_mut(i)?.entry.take()?;
        self.index.remove(&key);
        self.unlink(i);
        self.free.push(i);
        Some(value)
    }

    /// Move the entry in slot `i` to the back (most recent).
    pub(crate) fn move_to_back_at(&mut self, i: usize) {
        if self.tail != i && self.nodes.get(i).is_some_and(|n| n.entry.is_some()) {
            self.unlink(i);
            self.link_back(i);
        }
    }

    /// The oldest entry's value.
    pub(crate) fn front(&self) -> Option<&V> {
        self.nodes
            .get(self.head)
            .and_then(|n| n.entry.as_ref())
            .map(|(_, v)| v)
    }

    pub(crate) fn pop_front(&mut self) -> Option<V> {
        self.remove_at(self.head)
    }

    /// Entries in order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        let mut i = self.head;
        while let Some(n) = self.nodes.get(i) {
            if let Some((k, v)) = n.entry.as_ref() {
                f(k, v);
            }
            i = n.next;
        }
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
        while let Some(v) = self.pop_front() {
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
            m.push_back(k, k);
        }
        assert_eq!(keys(&mut m), [1, 2, 3, 4]);
        m.move_to_back_at(m.find(&2).unwrap());
        assert_eq!(keys(&mut m), [1, 3, 4, 2]);
        *m.value_at(m.find(&3).unwrap()).unwrap() = 30;
        assert_eq!(keys(&mut m), [1, 30, 4, 2]);
        assert_eq!(m.remove(&4), Some(4));
        assert_eq!(m.remove(&4), None);
        assert_eq!(m.pop_front(), Some(1));
        assert_eq!(m.front(), Some(&30));
        m.push_back(5, 5); // reuses a freed slot
        assert_eq!(keys(&mut m), [30, 2, 5]);
        m.move_to_back_at(m.find(&5).unwrap());
        m.move_to_back_at(m.find(&3).unwrap());
        assert_eq!(keys(&mut m), [2, 5, 30]);
        assert_eq!(m.len(), 3);
        assert!(m.find(&2).is_some() && m.find(&1).is_none());
        assert_eq!(m.drain(), [2, 5, 30]);
        assert!(m.is_empty() && m.front().is_none() && m.pop_front().is_none());
        m.push_back(7, 7);
        assert_eq!(keys(&mut m), [7]);
    }
}
