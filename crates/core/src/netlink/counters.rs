//! The reader's counters: what it saw on the socket, with the names and meaning of the Python reader's.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, written by the reader thread, read by anyone (relaxed: each is a plain tally).
#[derive(Debug, Default)]
pub struct Counters {
    /// Records received (kept or dropped).
    pub messages: AtomicU64,
    /// Their datagram lengths (header included; the real length when truncated).
    pub bytes: AtomicU64,
    /// Records longer than the receive buffer (`MSG_TRUNC`), kept cut.
    pub truncated: AtomicU64,
    /// Socket buffer overruns (`ENOBUFS`): errors, not records.
    pub enobufs: AtomicU64,
    /// Records dropped because the buffer was full (policy drop).
    pub queue_drops: AtomicU64,
    /// Times the buffer was found full (drop: per dropped record; block: per wait).
    pub queue_full: AtomicU64,
    /// Control messages, `NLMSG_ERROR` replies and `AUDIT_REPLACE` pings.
    pub ignored: AtomicU64,
    /// Datagrams not from the kernel.
    pub foreign: AtomicU64,
    /// Datagrams shorter than a netlink header.
    pub errors: AtomicU64,
    /// Bytes of frames appended to the journal.
    pub journal_bytes: AtomicU64,
    /// Journal writes that failed (the journal is off after the first).
    pub journal_errors: AtomicU64,
    /// Proc connector notices kept (forks and exits of processes; see [`super::connector`]).
    pub proc_notices: AtomicU64,
    /// Proc connector socket overruns (`ENOBUFS`): notices the kernel dropped.
    pub proc_enobufs: AtomicU64,
}

/// One reading of [`Counters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// See [`Counters::messages`].
    pub messages: u64,
    /// See [`Counters::bytes`].
    pub bytes: u64,
    /// See [`Counters::truncated`].
    pub truncated: u64,
    /// See [`Counters::enobufs`].
    pub enobufs: u64,
    /// See [`Counters::queue_drops`].
    pub queue_drops: u64,
    /// See [`Counters::queue_full`].
    pub queue_full: u64,
    /// See [`Counters::ignored`].
    pub ignored: u64,
    /// See [`Counters::foreign`].
    pub foreign: u64,
    /// See [`Counters::errors`].
    pub errors: u64,
    /// See [`Counters::journal_bytes`].
    pub journal_bytes: u64,
    /// See [`Counters::journal_errors`].
    pub journal_errors: u64,
    /// See [`Counters::proc_notices`].
    pub proc_notices: u64,
    /// See [`Counters::proc_enobufs`].
    pub proc_enobufs: u64,
}

impl Counters {
    /// Add `n` to one counter.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            messages: get(&self.messages),
            bytes: get(&self.bytes),
            truncated: get(&self.truncated),
            enobufs: get(&self.enobufs),
            queue_drops: get(&self.queue_drops),
            queue_full: get(&self.queue_full),
            ignored: get(&self.ignored),
            foreign: get(&self.foreign),
            errors: get(&self.errors),
            journal_bytes: get(&self.journal_bytes),
            journal_errors: get(&self.journal_errors),
            proc_notices: get(&self.proc_notices),
            proc_enobufs: get(&self.proc_enobufs),
        }
    }
}

impl CounterSnapshot {
    /// `(name, value)` in the Python reader's order (the keys of the stats file's `reader` object).
    pub fn pairs(&self) -> [(&'static str, u64); 13] {
        [
            ("messages", self.messages),
            ("bytes", self.bytes),
            ("truncated", self.truncated),
            ("enobufs", self.enobufs),
            ("queue_drops", self.queue_drops),
            ("queue_full", self.queue_full),
            ("ignored", self.ignored),
            ("foreign", self.foreign),
            ("errors", self.errors),
            ("journal_bytes", self.journal_bytes),
            ("journal_errors", self.journal_errors),
            ("proc_notices", self.proc_notices),
            ("proc_enobufs", self.proc_enobufs),
        ]
    }
}
