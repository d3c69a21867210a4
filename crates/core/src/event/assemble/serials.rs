//! Serial number bookkeeping per node: the highest serial seen and the serials still missing below it, so
//! that lost events are counted (wrap-safe at 2^32) and a late event filling a gap uncounts it.

use std::collections::BTreeMap;

use crate::hash::HashMap;

const SERIAL_MOD: u64 = 1 << 32;
const HALF: u64 = 1 << 31;
/// a serial jump larger than this is a restart or another stream, not loss
const MAX_GAP: u64 = 1 << 20;
/// more missing serials than this on one node and they are forgotten (they stay counted)
const MISSING_MAX: u64 = 65536;
/// more nodes than this and the bookkeeping starts over (bounded memory; not in the Python original)
const NODES_MAX: usize = 65536;

/// What one serial did to the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    /// serials newly missing (positive) or found again (-1)
    pub gaps: i64,
    /// 1 when the serial jumped too far to be loss
    pub jumps: u64,
}

/// Per-node serial state.
#[derive(Default)]
pub(crate) struct Serials {
    high: HashMap<Option<Vec<u8>>, u64>,
    missing: HashMap<Option<Vec<u8>>, Missing>,
}

impl Serials {
    /// Record that an event with `serial` began on `node`.
    pub(crate) fn observe(&mut self, node: &Option<Vec<u8>>, serial: u64) -> Change {
        let mut change = Change::default();
        let Some(high) = self.high.get_mut(node) else {
            if self.high.len() >= NODES_MAX {
                self.high.clear();
                self.missing.clear();
            }
            self.high.insert(node.clone(), serial);
            return change;
        };
        let d = serial.wrapping_sub(*high) % SERIAL_MOD;
        if d == 0 {
            return change;
        }
        if d < HALF {
            // forward (possibly across the 2^32 wrap)
            if 1 < d && d <= MAX_GAP {
                let start = high.wrapping_add(1) % SERIAL_MOD;
                *high = serial;
                let missing = match self.missing.get_mut(node) {
                    Some(m) => m,
                    None => self.missing.entry(node.clone()).or_default(),
                };
                missing.add_run(start, d - 1);
                if missing.len > MISSING_MAX {
                    missing.clear(); // bounded memory: those gaps stay counted
                }
                change.gaps = (d - 1) as i64;
            } else {
                if d > MAX_GAP {
                    change.jumps = 1;
                }
                *high = serial;
            }
        } else if serial < SERIAL_MOD {
            // behind the highest: an out-of-order event filling a gap, if it was one
            if let Some(m) = self.missing.get_mut(node) {
                if m.remove(serial as u32) {
                    change.gaps = -1;
                }
            }
        }
        change
    }
}

/// A set of u32 serials kept as disjoint inclusive ranges, so that a gap of a million serials costs one entry.
#[derive(Default)]
struct Missing {
    ranges: BTreeMap<u32, u32>,
    len: u64,
}

impl Missing {
    /// Add `count` serials from `start` on, modulo 2^32.
    fn add_run(&mut self, start: u64, count: u64) {
        let end = start + count - 1;
        if end < SERIAL_MOD {
            self.add(start as u32, end as u32);
        } else {
            self.add(start as u32, u32::MAX);
            self.add(0, (end - SERIAL_MOD) as u32);
        }
    }

    /// Add the inclusive range `a..=b` (`a <= b`), merging with what it touches.
    fn add(&mut self, a: u32, b: u32) {
        let (mut lo, mut hi) = (a, b);
        if let Some((&s, &e)) = self.ranges.range(..a).next_back() {
            if u64::from(e) + 1 >= u64::from(a) {
                self.ranges.remove(&s);
                self.len -= u64::from(e - s) + 1;
                lo = s;
                hi = hi.max(e);
            }
        }
        while let Some((&s, &e)) = self.ranges.range(lo..).next() {
            if u64::from(s) > u64::from(hi) + 1 {
                break;
            }
            self.ranges.remove(&s);
            self.len -= u64::from(e - s) + 1;
            hi = hi.max(e);
        }
        self.ranges.insert(lo, hi);
        self.len += u64::from(hi - lo) + 1;
    }

    /// Remove one serial; false if it was not there.
    fn remove(&mut self, x: u32) -> bool {
        let Some((&s, &e)) = self.ranges.range(..=x).next_back() else {
            return false;
        };
        if e < x {
            return false;
        }
        self.ranges.remove(&s);
        if s < x {
            self.ranges.insert(s, x - 1);
        }
        if x < e {
            self.ranges.insert(x + 1, e);
        }
        self.len -= 1;
        true
    }

    fn clear(&mut self) {
        self.ranges.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::{Change, Missing, Serials};

    fn ranges(m: &Missing) -> Vec<(u32, u32)> {
        m.ranges.iter().map(|(&s, &e)| (s, e)).collect()
    }

    #[test]
    fn missing_ranges_merge_and_split() {
        let mut m = Missing::default();
        m.add(10, 12);
        m.add(20, 20);
        m.add(13, 14); // touches 10..=12
        assert_eq!(ranges(&m), [(10, 14), (20, 20)]);
        assert_eq!(m.len, 6);
        m.add(5, 25); // swallows both
        assert_eq!(ranges(&m), [(5, 25)]);
        assert_eq!(m.len, 21);
        assert!(m.remove(10) && !m.remove(10) && !m.remove(4) && !m.remove(26));
        assert!(m.remove(5) && m.remove(25));
        assert_eq!(ranges(&m), [(6, 9), (11, 24)]);
        assert_eq!(m.len, 18);
        m.add_run(u64::from(u32::MAX) - 1, 4); // 4294967294, 4294967295, 0, 1
        assert_eq!(
            ranges(&m),
            [(0, 1), (6, 9), (11, 24), (u32::MAX - 1, u32::MAX)]
        );
        assert_eq!(m.len, 22);
        m.add(7, 7); // already there
        assert_eq!(m.len, 22);
    }

    #[test]
    fn gaps_fill_and_wrap() {
        let mut s = Serials::default();
        let none = None;
        assert_eq!(s.observe(&none, 100), Change::default());
        assert_eq!(s.observe(&none, 103).gaps, 2);
        assert_eq!(s.observe(&none, 102).gaps, -1);
        assert_eq!(s.observe(&none, 102).gaps, 0);
        assert_eq!(s.observe(&none, 101).gaps, -1);
        assert_eq!(s.observe(&none, 4294967294 + 104).gaps, 0); // == 102 mod 2^32: behind
        let mut s = Serials::default();
        s.observe(&none, 4294967294);
        assert_eq!(s.observe(&none, 1).gaps, 2);
        assert_eq!(s.observe(&none, 4294967295).gaps, -1);
        assert_eq!(s.observe(&none, 0).gaps, -1);
        assert_eq!(s.observe(&none, 1 + (1 << 20) + 1).jumps, 1);
    }

    #[test]
    fn too_many_missing_are_forgotten() {
        let mut s = Serials::default();
        let node = Some(b"n".to_vec());
        s.observe(&node, 0);
        assert_eq!(s.observe(&node, 65537).gaps, 65536); // 65536 missing: kept
        assert_eq!(s.observe(&node, 1).gaps, -1);
        assert_eq!(s.observe(&node, 65539).gaps, 1); // 65536 again
        assert_eq!(s.observe(&node, 65541).gaps, 1); // 65537: forgotten
        assert_eq!(s.observe(&node, 2).gaps, 0);
    }
}
