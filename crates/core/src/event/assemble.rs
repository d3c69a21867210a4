//! Records → events. (Port of events/assembler.py.)
//!
//! Records are grouped by (node, timestamp, serial) and an event closes on EOE, as a single-record type, or by
//! window. Logs mostly lack EOE and interleave events, so an event also closes when it has seen no record for
//! `window` records. Timestamps do not close events while reading logs (logs are not always in time order);
//! live sources call [`Assembler::tick`] with the wall clock, which closes events `window_seconds` old.
//!
//! Nothing is dropped silently: a record for an event already closed becomes a `late` event, an exact
//! duplicate record is counted, an unparsable line becomes an `error` event, and serial numbers that never
//! appeared (wrap-safe at 2^32) are counted as gaps.

mod linked;
mod serials;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use crate::hash::{HashMap, HashSet, RandomState};
use std::hash::BuildHasher;

use super::{ClosedBy, Event};
use crate::record::Record;
use linked::LinkedMap;
use serials::Serials;

/// Record type of the end-of-event marker.
pub const EOE: u32 = 1320;
/// How many closed event keys are remembered to recognise late records.
const CLOSED_MEMORY: usize = 8192;
/// An event with this many records gets a hash index of its record texts for the duplicate check.
const INDEX_FROM: usize = 32;

/// Types that are a whole event on their own: user-space messages and daemon records.
///
/// 1100-1199 user messages (USER_*, CRED_*, LOGIN via PAM...), 1200-1299 auditd's DAEMON_* records,
/// 2100-2999 user-space anomaly/integrity/MAC/virt/crypto messages. Kernel records can share their serial
/// with a SYSCALL record.
pub fn is_single(rtype: u32) -> bool {
    (1100..=1299).contains(&rtype) || (2100..=2999).contains(&rtype)
}

/// The assembler's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub records: u64,
    pub events: u64,
    pub errors: u64,
    pub closed_eoe: u64,
    pub closed_single: u64,
    pub closed_window: u64,
    pub closed_flush: u64,
    pub late: u64,
    pub duplicates: u64,
    pub serial_gaps: u64,
    pub serial_jumps: u64,
}

impl Stats {
    /// The counters as (name, value), in the Python assembler's order.
    pub fn list(&self) -> [(&'static str, u64); 11] {
        [
            ("records", self.records),
            ("events", self.events),
            ("errors", self.errors),
            ("closed_eoe", self.closed_eoe),
            ("closed_single", self.closed_single),
            ("closed_window", self.closed_window),
            ("closed_flush", self.closed_flush),
            ("late", self.late),
            ("duplicates", self.duplicates),
            ("serial_gaps", self.serial_gaps),
            ("serial_jumps", self.serial_jumps),
        ]
    }
}

/// (node, sec, msec, serial): what makes records one event.
pub type Key = (Option<Vec<u8>>, u64, u64, u64);

/// The event `rec` belongs to.
pub fn key_of(rec: &Record) -> Key {
    (rec.node.clone(), rec.sec, rec.msec, rec.serial)
}

fn new_event(rec: &Record, seq: u64) -> Event {
    Event {
        node: rec.node.clone(),
        sec: rec.sec,
        msec: rec.msec,
        serial: rec.serial,
        records: Vec::new(),
        closed_by: ClosedBy::Flush,
        duplicates: 0,
        seq,
        began: seq,
        seen: rec.sec as f64 + rec.msec as f64 / 1000.0,
    }
}

/// An event of its own, closed at once (late records, unparsable lines).
fn event_of(rec: Record, closed_by: ClosedBy) -> Event {
    let mut ev = new_event(&rec, 0);
    ev.records.push(rec);
    ev.closed_by = closed_by;
    ev
}

/// An open event and, once it is large, an index of its record texts (hash → first record with it).
struct Open {
    ev: Event,
    texts: Option<HashMap<u64, usize>>,
    /// the journal position of its first record ([`Assembler::position`] then)
    first: u64,
}

impl Open {
    fn new(ev: Event, first: u64) -> Self {
        Open {
            ev,
            texts: None,
            first,
        }
    }

    /// Is `text` exactly the text of a record already in the event? Linear for small events, hashed after.
    fn has(&mut self, text: &[u8], hasher: &RandomState) -> bool {
        let records = &self.ev.records;
        if self.texts.is_none() && records.len() < INDEX_FROM {
            return records.iter().any(|r| r.text == text);
        }
        let texts = self.texts.get_or_insert_with(|| {
            let mut m =
                HashMap::with_capacity_and_hasher(records.len() * 2, RandomState::default());
            for (i, r) in records.iter().enumerate() {
                m.entry(hasher.hash_one(&r.text[..])).or_insert(i);
            }
            m
        });
        match texts.get(&hasher.hash_one(text)) {
            None => false,
            Some(&i) => match records.get(i) {
                Some(r) if r.text == text => true,
                // a hash collision: look at every record
                _ => records.iter().any(|r| r.text == text),
            },
        }
    }

    fn push(&mut self, rec: Record, hasher: &RandomState) {
        if let Some(texts) = self.texts.as_mut() {
            texts
                .entry(hasher.hash_one(&rec.text[..]))
                .or_insert(self.ev.records.len());
        }
        self.ev.records.push(rec);
    }
}

/// Keys of closed events, oldest first, at most [`CLOSED_MEMORY`].
#[derive(Default)]
struct Closed {
    set: HashSet<Key>,
    order: VecDeque<Key>,
}

impl Closed {
    fn contains(&self, key: &Key) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, key: Key) {
        if self.set.insert(key.clone()) {
            self.order.push_back(key);
            if self.order.len() > CLOSED_MEMORY {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// Incremental reassembly. `push`, `tick` and `flush` append the events they close to the caller's vector.
pub struct Assembler {
    /// records without news after which an open event closes
    pub window: u64,
    /// wall-clock seconds without news after which an open event closes (see [`Assembler::tick`])
    pub window_seconds: f64,
    /// records a single-record type waits for kernel records with its serial
    pub single_window: u64,
    singles: LinkedMap<Key, Open>,
    pending: LinkedMap<Key, Open>,
    /// the wall clock of the latest tick (None before the first): the time window counts from arrival
    clock: Option<f64>,
    closed: Closed,
    n: u64,
    serials: Serials,
    hasher: RandomState,
    /// counters, named as the Python assembler's
    pub stats: Stats,
    /// the journal position of the record being pushed (set by the caller; an event opened by it remembers
    /// it: see [`Assembler::open_firsts`])
    pub position: u64,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new(512, 3.0, 16)
    }
}

impl Assembler {
    /// An assembler with the given windows (the defaults are 512 records, 3.0 s, 16 records).
    pub fn new(window: u64, window_seconds: f64, single_window: u64) -> Self {
        Assembler {
            window,
            window_seconds,
            single_window,
            singles: LinkedMap::new(),
            pending: LinkedMap::new(),
            clock: None,
            closed: Closed::default(),
            n: 0,
            serials: Serials::default(),
            hasher: RandomState::default(),
            stats: Stats::default(),
            position: 0,
        }
    }

    /// Events still open.
    pub fn open_events(&self) -> usize {
        self.singles.len() + self.pending.len()
    }

    /// Each open event's key and the journal position of its first record.
    pub fn open_firsts(&self, mut f: impl FnMut(&Key, u64)) {
        self.singles.for_each(|k, o| f(k, o.first));
        self.pending.for_each(|k, o| f(k, o.first));
    }

    /// Add one record; the events it closes are appended to `out`.
    pub fn push(&mut self, rec: Record, out: &mut Vec<Event>) {
        self.stats.records += 1;
        self.n += 1;
        if rec.error.is_some() && rec.sec == 0 {
            self.stats.errors += 1;
            self.stats.events += 1;
            out.push(event_of(rec, ClosedBy::Error));
            return;
        }
        let key = key_of(&rec);
        let mut slot = self.pending.find(&key);
        if slot.is_none() && !self.singles.is_empty() {
            if let Some(open) = self.singles.remove(&key) {
                slot = Some(self.pending.push_back(key.clone(), open));
            }
        }
        let Some(slot) = slot else {
            if self.closed.contains(&key) {
                self.stats.late += 1;
                self.stats.events += 1;
                out.push(event_of(rec, ClosedBy::Late));
                return;
            }
            self.serial(&rec.node, rec.serial);
            let mut ev = new_event(&rec, self.n);
            if rec.rtype == EOE {
                // an EOE with nothing before it: an event of its own, so that nothing is lost
                ev.records.push(rec);
                self.emit(ev, ClosedBy::Eoe, out);
                self.expire(out);
                return;
            }
            if let Some(clock) = self.clock {
                ev.seen = clock;
            }
            let single = is_single(rec.rtype);
            ev.records.push(rec);
            if single {
                // usually an event on its own, but the kernel may add the sending syscall's records
                // (SYSCALL, SOCKADDR, EOE) under the same serial: wait a few records for them
                self.singles.push_back(key, Open::new(ev, self.position));
            } else {
                self.pending.push_back(key, Open::new(ev, self.position));
            }
            self.expire(out);
            return;
        };
        let Some(open) = self.pending.value_at(slot) else {
            return; // unreachable: the slot was just found
        };
        if open.has(&rec.text, &self.hasher) {
            open.ev.duplicates = open.ev.duplicates.saturating_add(1);
            self.stats.duplicates += 1;
            self.expire(out);
            return;
        }
        let eoe = rec.rtype == EOE;
        open.push(rec, &self.hasher);
        if eoe {
            if let Some(open) = self.pending.remove_at(slot) {
                self.emit(open.ev, ClosedBy::Eoe, out);
            }
        } else {
            // the window counts from an event's latest record: an event still receiving records stays open
            open.ev.seq = self.n;
            if let Some(clock) = self.clock {
                open.ev.seen = clock;
            }
            self.pending.move_to_back_at(slot);
        }
        self.expire(out);
    }

    /// Close events that received no record for `window_seconds` of wall clock (live sources).
    ///
    /// Time counts from when the assembler saw an event's latest record (to the tick's resolution), not from
    /// the event's timestamp. Events that arrived before the first tick count from it.
    pub fn tick(&mut self, now: f64, out: &mut Vec<Event>) {
        if self.clock.is_none() {
            self.singles.for_each_mut(|o| o.ev.seen = now);
            self.pending.for_each_mut(|o| o.ev.seen = now);
        }
        self.clock = Some(now);
        let oldest = now - self.window_seconds;
        // Python's min(1.0, window_seconds)
        let single_wait = if self.window_seconds < 1.0 {
            self.window_seconds
        } else {
            1.0
        };
        while let Some(open) = self.singles.front() {
            if open.ev.seen >= now - single_wait {
                break;
            }
            if let Some(open) = self.singles.pop_front() {
                self.emit(open.ev, ClosedBy::Single, out);
            }
        }
        while let Some(open) = self.pending.front() {
            if open.ev.seen >= oldest {
                break;
            }
            if let Some(open) = self.pending.pop_front() {
                self.emit(open.ev, ClosedBy::Window, out);
            }
        }
    }

    /// Close everything (end of input): singles first, then the rest in the order the events began.
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        while let Some(open) = self.singles.pop_front() {
            self.emit(open.ev, ClosedBy::Single, out);
        }
        let mut rest = self.pending.drain();
        rest.sort_by_key(|o| o.ev.began);
        for open in rest {
            self.emit(open.ev, ClosedBy::Flush, out);
        }
    }

    fn emit(&mut self, mut ev: Event, how: ClosedBy, out: &mut Vec<Event>) {
        ev.closed_by = how;
        let stats = &mut self.stats;
        match how {
            ClosedBy::Eoe => stats.closed_eoe += 1,
            ClosedBy::Single => stats.closed_single += 1,
            ClosedBy::Window => stats.closed_window += 1,
            ClosedBy::Flush => stats.closed_flush += 1,
            ClosedBy::Late | ClosedBy::Error => {}
        }
        stats.events += 1;
        self.closed
            .insert((ev.node.clone(), ev.sec, ev.msec, ev.serial));
        out.push(ev);
    }

    fn expire(&mut self, out: &mut Vec<Event>) {
        let n = self.n;
        while let Some(open) = self.singles.front() {
            if open.ev.seq.saturating_add(self.single_window) > n {
                break;
            }
            if let Some(open) = self.singles.pop_front() {
                self.emit(open.ev, ClosedBy::Single, out);
            }
        }
        while let Some(open) = self.pending.front() {
            if open.ev.seq.saturating_add(self.window) > n {
                break;
            }
            if let Some(open) = self.pending.pop_front() {
                self.emit(open.ev, ClosedBy::Window, out);
            }
        }
    }

    fn serial(&mut self, node: &Option<Vec<u8>>, serial: u64) {
        let change = self.serials.observe(node, serial);
        let stats = &mut self.stats;
        if change.gaps >= 0 {
            stats.serial_gaps += change.gaps as u64;
        } else {
            stats.serial_gaps = stats.serial_gaps.saturating_sub(change.gaps.unsigned_abs());
        }
        stats.serial_jumps += change.jumps;
    }
}
