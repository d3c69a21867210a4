//! A JSON object being built as its own text, for the direct writer ([`super::direct`]): keys (escaped) and
//! values (JSON text) in one buffer, in insertion order, found through a seeded hash table.

use std::hash::BuildHasher as _;

use serde_json::{Map, Value};

use super::jsontext::{write_str, write_value};
use crate::hash::RandomState;

/// A span of a buffer.
pub(super) type Span = (usize, usize);

pub(super) fn span_of(buf: &[u8], s: Span) -> &[u8] {
    buf.get(s.0..s.1).unwrap_or_default()
}

/// Key lookup over spans of a buffer: an open-addressing table of key indexes, hashed with a seeded hasher
/// (keys are attacker-controlled), reused from event to event without allocating.
#[derive(Clone, Debug, Default)]
pub(super) struct Keys {
    pub(super) spans: Vec<Span>,
    /// 0: empty, else a key's index + 1; a power of two long, at least twice the keys
    table: Vec<u32>,
    hasher: RandomState,
}

impl Keys {
    pub(super) fn clear(&mut self) {
        self.spans.clear();
        self.table.fill(0);
    }

    pub(super) fn hash(&self, key: &[u8]) -> usize {
        self.hasher.hash_one(key) as usize
    }

    /// The index of `key`, whose [`Keys::hash`] is `h`.
    pub(super) fn find_h(&self, buf: &[u8], key: &[u8], h: usize) -> Option<usize> {
        if self.spans.is_empty() {
            return None;
        }
        let mask = self.table.len().checked_sub(1)?;
        let mut i = h & mask;
        loop {
            let e = *self.table.get(i)?;
            let j = (e as usize).checked_sub(1)?;
            let s = *self.spans.get(j)?;
            if s.1 - s.0 == key.len() && span_of(buf, s) == key {
                return Some(j);
            }
            i = (i + 1) & mask;
        }
    }

    pub(super) fn find(&self, buf: &[u8], key: &[u8]) -> Option<usize> {
        self.find_h(buf, key, self.hash(key))
    }

    /// Add the key at `s` (absent), whose hash is `h`.
    pub(super) fn push_h(&mut self, buf: &[u8], s: Span, h: usize) {
        self.spans.push(s);
        if self.table.len() < 2 * self.spans.len() {
            let n = (4 * self.spans.len()).next_power_of_two().max(32);
            self.table.clear();
            self.table.resize(n, 0);
            for j in 0..self.spans.len() {
                let hj = match self.spans.get(j) {
                    Some(&sj) => self.hash(span_of(buf, sj)),
                    None => continue,
                };
                self.place(hj, j);
            }
        } else {
            self.place(h, self.spans.len() - 1);
        }
    }

    pub(super) fn place(&mut self, h: usize, j: usize) {
        let mask = self.table.len() - 1;
        let mut i = h & mask;
        while let Some(slot) = self.table.get_mut(i) {
            if *slot == 0 {
                *slot = u32::try_from(j + 1).unwrap_or(u32::MAX);
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

/// A JSON object being built. While no value was replaced, `buf` is the object's text without its braces
/// (`,"key":value` per entry, in order), written with one copy; keys are held escaped.
#[derive(Clone, Debug, Default)]
pub(super) struct Obj {
    pub(super) buf: Vec<u8>,
    pub(super) keys: Keys,
    vals: Vec<Span>,
    /// a value was replaced (written at the end of `buf`): write entry by entry
    replaced: bool,
    /// the object of a `msg='...'` payload, the value of `msg`
    pub(super) nested: Option<Box<Obj>>,
}

impl Obj {
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.keys.clear();
        self.vals.clear();
        self.replaced = false;
        self.nested = None;
    }

    /// The index of a key (escaped: any key without `"`, `\` or control characters is its own escape).
    pub(super) fn find(&self, key: &[u8]) -> Option<usize> {
        self.keys.find(&self.buf, key)
    }

    /// The JSON text of `key`'s value.
    pub(super) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let i = self.find(key)?;
        Some(span_of(&self.buf, *self.vals.get(i)?))
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// `Map::insert` (replace in place, or append) when `replace`, else `entry(key).or_insert`: the value's
    /// JSON text is written by `f`. `key` is text, escaped here.
    pub(super) fn put(&mut self, key: &[u8], replace: bool, f: impl FnOnce(&mut Vec<u8>)) {
        let mark = self.buf.len();
        self.buf.push(b',');
        write_str(&mut self.buf, key);
        let (k0, k1) = (mark + 2, self.buf.len() - 1);
        let escaped = span_of(&self.buf, (k0, k1));
        let h = self.keys.hash(escaped);
        match self.keys.find_h(&self.buf, escaped, h) {
            Some(i) => {
                self.buf.truncate(mark);
                if replace {
                    let start = self.buf.len();
                    f(&mut self.buf);
                    if let Some(v) = self.vals.get_mut(i) {
                        *v = (start, self.buf.len());
                    }
                    self.replaced = true;
                }
            }
            None => {
                self.buf.push(b':');
                let v0 = self.buf.len();
                f(&mut self.buf);
                self.keys.push_h(&self.buf, (k0, k1), h);
                self.vals.push((v0, self.buf.len()));
            }
        }
    }

    pub(super) fn insert(&mut self, key: &[u8], value: &[u8]) {
        self.put(key, true, |b| b.extend_from_slice(value));
    }

    /// (escaped key, value's JSON text) in order.
    pub(super) fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.keys
            .spans
            .iter()
            .zip(&self.vals)
            .map(|(&k, &v)| (span_of(&self.buf, k), span_of(&self.buf, v)))
    }

    /// The object as JSON text.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if self.replaced {
            for (i, (k, v)) in self.entries().enumerate() {
                out.extend_from_slice(if i > 0 { b",\"" } else { b"\"" });
                out.extend_from_slice(k);
                out.extend_from_slice(b"\":");
                out.extend_from_slice(v);
            }
        } else {
            out.extend_from_slice(self.buf.get(1..).unwrap_or_default());
        }
        out.push(b'}');
    }

    /// An object of JSON values (sockaddr, a parsed payload).
    pub(super) fn from_map(m: &Map<String, Value>) -> Obj {
        let mut o = Obj::default();
        for (k, v) in m {
            o.put(k.as_bytes(), true, |b| write_value(b, v));
        }
        o
    }
}
