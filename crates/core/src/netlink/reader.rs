//! The reader thread, the buffer it fills, and the handle the processing side takes frames through.

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::connector;
use super::counters::{CounterSnapshot, Counters};
use super::frames::{push_frame, Chunk, FrameBuf, CHUNK_BYTES};
use super::journal::Writer;
use super::recv::{classify, Datagram, Receiver};
use super::{DEFAULT_BUFFER_BYTES, RECV_SIZE};

/// How often a waiting reader looks at the stop flag.
pub(crate) const POLL_MS: u16 = 100;
/// recvmmsg takes at most this many datagrams per call (the kernel's UIO_MAXIOV).
const MAX_BATCH: usize = 1024;
/// The largest receive buffer per datagram accepted in [`ReaderSettings::recv_size`].
const MAX_RECV_SIZE: usize = 1 << 20;
/// On stop, the reader drains what the socket still holds, up to this much (a storm cannot keep it).
const FINAL_DRAIN_BYTES: usize = 64 << 20;
/// [`ReaderSettings::coalesce`]'s default: 10 ms holds about 70 records of a steady 1000 exec/s load
/// (and about 300 KB of a storm, far below the socket buffer); the consumer lingers 20 ms anyway.
pub const DEFAULT_COALESCE: Duration = Duration::from_millis(10);
/// Frames read before an empty socket counts as the end of a burst ([`ReaderSettings::on_idle`]).
pub const IDLE_AFTER_FRAMES: u64 = 50_000;
/// The reader hands what it received over (journal write, buffer) once the socket is empty, or once it
/// holds this much: one journal write per wake-up, not one per receive call.
pub(crate) const HAND_OVER_BYTES: usize = 1 << 20;
/// [`ReaderSettings::coalesce`]'s upper bound.
const MAX_COALESCE: Duration = Duration::from_millis(50);
/// Chunks kept for reuse after [`Reader::recycle`].
const MAX_SPARE: usize = 8;

/// What the reader does when its buffer holds [`ReaderSettings::buffer_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Stop reading until the processing side takes frames: the kernel's socket buffer and backlog fill
    /// (as with auditd), and with `backlog_wait_time` audited processes wait.
    Block,
    /// Keep reading; drop what does not fit and count it (`queue_drops`).
    Drop,
}

impl Policy {
    /// `"block"` or `"drop"` (the Python `POLICIES`).
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "block" => Some(Policy::Block),
            "drop" => Some(Policy::Drop),
            _ => None,
        }
    }
}

/// How the reader reads and buffers.
#[derive(Debug, Clone)]
pub struct ReaderSettings {
    /// What happens when the buffer is full.
    pub policy: Policy,
    /// The buffer is full when it holds this many bytes (frames of 10 header bytes + payload; at least 1);
    /// it takes the frames of the receive call in progress, so it may exceed this by one batch.
    pub buffer_bytes: usize,
    /// The buffer is also full when it holds this many frames (the Python reader's `queue_size` under
    /// policy drop; at least 1; default: no limit).
    pub buffer_frames: usize,
    /// Datagrams per receive call (`recvmmsg`; 1: `recvmsg`), 1 to 1024.
    pub batch: usize,
    /// The receive buffer per datagram; a longer datagram is cut and counted as truncated (16 B to 1 MiB).
    pub recv_size: usize,
    /// After the socket was emptied, the reader sleeps this long before it looks again (at most 50 ms;
    /// zero: it polls at once). The kernel keeps queueing into the socket buffer meanwhile, so one
    /// wake-up receives many records where it would otherwise wake for each one (kauditd sends them one
    /// by one). It delays each record by at most this much.
    pub coalesce: Duration,
    /// Called by the reader thread when a burst is over (the socket was found empty after at least
    /// [`IDLE_AFTER_FRAMES`] frames): the binding gives the memory the thread freed back to the OS.
    pub on_idle: Option<fn()>,
}

impl Default for ReaderSettings {
    fn default() -> Self {
        Self {
            policy: Policy::Block,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            buffer_frames: usize::MAX,
            batch: 32,
            recv_size: RECV_SIZE,
            coalesce: DEFAULT_COALESCE,
            on_idle: None,
        }
    }
}

/// Why the reader thread ended early: the call that failed and its errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderError {
    /// `recvmsg`, `poll`, or `thread` (the thread panicked, which is a bug).
    pub op: &'static str,
    /// The error.
    pub errno: Errno,
}

impl fmt::Display for ReaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "netlink reader: {} failed: {} ({:?})",
            self.op,
            self.errno.desc(),
            self.errno
        )
    }
}

impl std::error::Error for ReaderError {}

/// The frames held, oldest chunk first.
#[derive(Default)]
struct Queue {
    chunks: VecDeque<Chunk>,
    frames: usize,
    bytes: usize,
    spare: Vec<Vec<u8>>,
    consumer_waiting: bool,
    /// the waiting consumer is woken when this many frames are held (or the reader ends)
    consumer_wants: usize,
    reader_waiting: bool,
    /// the reader thread ended: nothing more will come
    done: bool,
    /// the journal position after the last frame held (the next frame's)
    end_pos: u64,
}

/// When the buffer counts as full.
#[derive(Debug, Clone, Copy)]
struct Limit {
    bytes: usize,
    frames: usize,
}

impl Limit {
    const NONE: Limit = Limit {
        bytes: usize::MAX,
        frames: usize::MAX,
    };
}

impl Queue {
    fn full(&self, limit: Limit) -> bool {
        self.bytes >= limit.bytes || self.frames >= limit.frames
    }

    /// Appends `frames` whole frames (one receive call's, as journaled): one copy.
    fn push_block(&mut self, block: &[u8], frames: usize) {
        let room = match self.chunks.back() {
            Some(last) => last.data.len() < CHUNK_BYTES,
            None => false,
        };
        if !room {
            let data = self.spare.pop().unwrap_or_default();
            self.chunks.push_back(Chunk {
                data,
                frames: 0,
                pos: self.end_pos,
            });
        }
        if let Some(last) = self.chunks.back_mut() {
            last.data.extend_from_slice(block);
            last.frames += frames;
            self.frames += frames;
            self.bytes += block.len();
            self.end_pos += block.len() as u64;
        }
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// signalled when frames arrive for a waiting consumer, and when the reader ends
    data: Condvar,
    /// signalled when a consumer took frames from a full buffer (policy block), and on stop
    space: Condvar,
    stop: AtomicBool,
    finished: AtomicBool,
    error: Mutex<Option<ReaderError>>,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // a poisoned lock (never expected: nothing panics while holding it) still guards consistent data
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_error(&self, error: ReaderError) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(error);
    }

    fn end(&self) {
        let mut q = self.lock();
        q.done = true;
        self.finished.store(true, Ordering::Release);
        drop(q);
        self.data.notify_all();
    }
}

/// The native netlink reader: a thread draining one audit netlink socket into a buffer of frames.
///
/// Every method takes `&self`: the handle can be shared (the Python binding calls [`Reader::take`] with the
/// GIL released). Dropping it stops the thread.
pub struct Reader {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Reader {
    /// Starts the reader thread on `fd` (an audit netlink socket, bound and, for unicast, registered).
    /// Fails only when the thread cannot be spawned.
    pub fn start(fd: OwnedFd, settings: ReaderSettings) -> std::io::Result<Reader> {
        Reader::start_journaled(fd, settings, None, &[])
    }

    /// [`Reader::start`] with a journal: every frame is appended to it (one write per wake-up) before the
    /// processing side can take it, and frames carry their journal positions. `early` are records
    /// received on the socket before the thread started (while registering): journaled and held first.
    pub fn start_journaled(
        fd: OwnedFd,
        settings: ReaderSettings,
        journal: Option<Writer>,
        early: &[(u16, &[u8], u32)],
    ) -> std::io::Result<Reader> {
        Reader::start_with(fd, None, settings, journal, early)
    }

    /// [`Reader::start_journaled`], and with `proc_fd` (a proc connector socket, subscribed) its fork and
    /// exit notices too, as frames of their own ([`super::connector`]): after each receive call on the audit
    /// socket the reader drains the connector and puts its notices before that call's records, so a fork
    /// comes before every record of its child.
    pub fn start_with(
        fd: OwnedFd,
        proc_fd: Option<OwnedFd>,
        settings: ReaderSettings,
        journal: Option<Writer>,
        early: &[(u16, &[u8], u32)],
    ) -> std::io::Result<Reader> {
        let settings = ReaderSettings {
            batch: settings.batch.clamp(1, MAX_BATCH),
            recv_size: settings.recv_size.min(MAX_RECV_SIZE),
            buffer_bytes: settings.buffer_bytes.max(1),
            buffer_frames: settings.buffer_frames.max(1),
            coalesce: settings.coalesce.min(MAX_COALESCE),
            ..settings
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            data: Condvar::new(),
            space: Condvar::new(),
            stop: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            error: Mutex::new(None),
            counters: Counters::default(),
        });
        let mut out = Outbox {
            buf: Vec::new(),
            frames: 0,
            journal,
        };
        if let Some(w) = out.journal.as_ref() {
            shared.lock().end_pos = w.position();
        }
        if !early.is_empty() {
            for (t, payload, trunc) in early {
                Counters::add(&shared.counters.messages, 1);
                push_frame(&mut out.buf, *t, *trunc, payload);
            }
            out.frames += early.len();
            out.hand_over(&shared);
        }
        let theirs = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("auditsql-reader".into())
            .spawn(move || {
                // built here: recvmmsg's headers hold raw pointers and do not cross threads
                let rx = Receiver::new(fd, settings.batch, settings.recv_size);
                let mut proc = proc_fd.map(|fd| Procs {
                    rx: Receiver::new(fd, PROC_BATCH, PROC_RECV_SIZE),
                    offset: connector::clock_offset_ns(),
                });
                let result = read_loop(&theirs, rx, proc.as_mut(), &settings, &mut out);
                // whatever ended the loop, what was received is journaled and handed over
                out.hand_over(&theirs);
                if let Err(e) = result {
                    theirs.set_error(e);
                }
                theirs.end();
            })?;
        Ok(Reader {
            shared,
            thread: Mutex::new(Some(handle)),
        })
    }

    /// Frames held, oldest first: waits up to `timeout` for the first, then takes what is there, at most
    /// `max_frames` (at least 1) and `max_bytes` (frame headers included; the first frame is taken whatever
    /// its size). Empty on timeout, and once the reader has finished and everything was taken.
    pub fn take(&self, timeout: Duration, max_frames: usize, max_bytes: usize) -> FrameBuf {
        self.gather(timeout, Duration::ZERO, max_frames, max_bytes)
    }

    /// [`Reader::take`], in batches: waits up to `timeout` for the first frame, then up to `linger` more
    /// for `max_frames` to be held, then takes them. The consumer sleeps through the linger (one wake-up
    /// per batch, not one per frame): at a steady rate, many records cost one hand-over.
    pub fn gather(
        &self,
        timeout: Duration,
        linger: Duration,
        max_frames: usize,
        max_bytes: usize,
    ) -> FrameBuf {
        let shared = &*self.shared;
        let max_frames = max_frames.max(1);
        let mut q = shared.lock();
        if !timeout.is_zero() {
            q = wait_for(shared, q, 1, Instant::now().checked_add(timeout));
        }
        if q.frames > 0 && !linger.is_zero() {
            q = wait_for(shared, q, max_frames, Instant::now().checked_add(linger));
        }
        let mut out = FrameBuf::new();
        loop {
            let room_frames = max_frames - out.len();
            if room_frames == 0 {
                break;
            }
            let room_bytes = max_bytes.saturating_sub(out.bytes());
            let first = out.is_empty();
            let Some(front) = q.chunks.front_mut() else {
                break;
            };
            if front.frames <= room_frames && front.data.len() <= room_bytes {
                if let Some(chunk) = q.chunks.pop_front() {
                    out.push_chunk(chunk);
                }
                continue;
            }
            if let Some(part) = front.split_front(room_frames, room_bytes, first) {
                out.push_chunk(part);
            }
            if front.frames == 0 {
                if let Some(mut empty) = q.chunks.pop_front() {
                    empty.data.clear();
                    q.spare.push(empty.data);
                }
            }
            break;
        }
        q.frames -= out.len();
        q.bytes -= out.bytes();
        let wake = q.reader_waiting && !out.is_empty();
        if wake {
            // until it looks again: a consumer that comes back at once waits for what it reads next
            q.reader_waiting = false;
        }
        drop(q);
        if wake {
            shared.space.notify_one();
        }
        out
    }

    /// Gives a taken buffer's memory back for the reader's next frames.
    pub fn recycle(&self, buf: FrameBuf) {
        let mut q = self.shared.lock();
        for chunk in buf.chunks {
            if q.spare.len() >= MAX_SPARE {
                break;
            }
            let mut data = chunk.data;
            if data.capacity() <= 2 * CHUNK_BYTES {
                data.clear();
                q.spare.push(data);
            }
        }
    }

    /// Frames held, not taken yet.
    pub fn pending(&self) -> usize {
        self.shared.lock().frames
    }

    /// Bytes held (frame headers included).
    pub fn held_bytes(&self) -> usize {
        self.shared.lock().bytes
    }

    /// The counters now.
    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters.snapshot()
    }

    /// The reader thread ended (stopped, or failed: see [`Reader::error`]); what it read can still be
    /// taken.
    pub fn finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    /// Why the reader thread ended early, if it did.
    pub fn error(&self) -> Option<ReaderError> {
        *self.shared.error.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the thread: it drains what the socket still holds (up to 64 MiB, past the buffer limit),
    /// ends, and is joined (within about 100 ms plus that drain). What was read stays for [`Reader::take`].
    /// The socket is closed. Idempotent.
    pub fn stop(&self) {
        let shared = &*self.shared;
        shared.stop.store(true, Ordering::Release);
        {
            // under the lock: a reader about to wait for space sees the flag or gets the notification
            let _q = shared.lock();
            shared.space.notify_all();
        }
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                shared.set_error(ReaderError {
                    op: "thread",
                    errno: Errno::UnknownErrno,
                });
                shared.end();
            }
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("pending", &self.pending())
            .field("finished", &self.finished())
            .field("counters", &self.counters())
            .finish()
    }
}

/// The thread: receive, classify, store, until stopped or a receive error that is not ENOBUFS.
fn read_loop(
    shared: &Shared,
    mut rx: Receiver,
    mut proc: Option<&mut Procs>,
    settings: &ReaderSettings,
    out: &mut Outbox,
) -> Result<(), ReaderError> {
    let limit = Limit {
        bytes: settings.buffer_bytes,
        frames: settings.buffer_frames,
    };
    // something was received since the socket was last found empty
    let mut busy = false;
    // frames since the last `on_idle`
    let mut burst = 0u64;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return final_drain(shared, &mut rx, proc, out);
        }
        if settings.policy == Policy::Block && out.full(shared, limit) {
            // the consumer makes room from what it was handed
            out.hand_over(shared);
            if !wait_for_space(shared, limit) {
                continue;
            }
        }
        match rx.recv() {
            Ok(n) => {
                busy = true;
                burst += n as u64;
                if let Some(p) = proc.as_deref_mut() {
                    p.drain(shared, out);
                }
                store(shared, &rx, n, settings.policy, limit, out);
                if out.buf.len() >= HAND_OVER_BYTES {
                    out.hand_over(shared);
                }
            }
            Err(Errno::EAGAIN) if busy && !settings.coalesce.is_zero() => {
                // the socket is empty: what this wake-up received goes to the journal in one write, then
                // to the consumer
                if let Some(p) = proc.as_deref_mut() {
                    p.drain(shared, out);
                }
                out.hand_over(shared);
                busy = false;
                std::thread::sleep(settings.coalesce);
            }
            Err(Errno::EAGAIN) => {
                if let Some(p) = proc.as_deref_mut() {
                    p.drain(shared, out);
                }
                out.hand_over(shared);
                if burst >= IDLE_AFTER_FRAMES {
                    burst = 0;
                    if let Some(idle) = settings.on_idle {
                        idle();
                    }
                }
                rx.wait(proc.as_deref().map(|p| p.rx.fd()), POLL_MS)
                    .map_err(|errno| ReaderError { op: "poll", errno })?;
            }
            Err(Errno::EINTR) => {}
            Err(Errno::ENOBUFS) => Counters::add(&shared.counters.enobufs, 1),
            Err(errno) => {
                return Err(ReaderError {
                    op: "recvmsg",
                    errno,
                })
            }
        }
    }
}

/// The consumer's wait: until `want` frames are held, the buffer is full, the reader ends, or `deadline`
/// (None: an hour at a time, for ever).
fn wait_for<'a>(
    shared: &'a Shared,
    mut q: MutexGuard<'a, Queue>,
    want: usize,
    deadline: Option<Instant>,
) -> MutexGuard<'a, Queue> {
    q.consumer_waiting = true;
    q.consumer_wants = want;
    // a reader waiting for space (policy block) brings nothing more until frames are taken
    while q.frames < want && !q.done && !q.reader_waiting {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(w) if !w.is_zero() => w,
                _ => break,
            },
            None => Duration::from_secs(3600),
        };
        q = shared
            .data
            .wait_timeout(q, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    q.consumer_waiting = false;
    q
}

/// Policy block: waits while the buffer is full. False when stopped before there was room.
fn wait_for_space(shared: &Shared, limit: Limit) -> bool {
    let mut q = shared.lock();
    if !q.full(limit) {
        return true;
    }
    Counters::add(&shared.counters.queue_full, 1);
    if q.consumer_waiting {
        // it waits for more than fits: what is held is all it gets
        shared.data.notify_one();
    }
    while q.full(limit) && !shared.stop.load(Ordering::Acquire) {
        // set again each time: a consumer's take clears it once it has made room
        q.reader_waiting = true;
        q = shared
            .space
            .wait_timeout(q, Duration::from_millis(u64::from(POLL_MS)))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    q.reader_waiting = false;
    !q.full(limit)
}

/// On stop: what the socket holds now is kept whatever the limit (the Python reader's flush).
fn final_drain(
    shared: &Shared,
    rx: &mut Receiver,
    mut proc: Option<&mut Procs>,
    out: &mut Outbox,
) -> Result<(), ReaderError> {
    let mut drained = 0usize;
    while drained < FINAL_DRAIN_BYTES {
        match rx.recv() {
            Ok(n) => {
                if let Some(p) = proc.as_deref_mut() {
                    p.drain(shared, out);
                }
                drained += store(shared, rx, n, Policy::Block, Limit::NONE, out);
                if out.buf.len() >= HAND_OVER_BYTES {
                    out.hand_over(shared);
                }
            }
            Err(Errno::EAGAIN) => {
                if let Some(p) = proc {
                    p.drain(shared, out);
                }
                return Ok(());
            }
            Err(Errno::EINTR) => {}
            Err(Errno::ENOBUFS) => Counters::add(&shared.counters.enobufs, 1),
            Err(errno) => {
                return Err(ReaderError {
                    op: "recvmsg",
                    errno,
                })
            }
        }
    }
    Ok(())
}

/// Proc connector datagrams per receive call.
const PROC_BATCH: usize = 64;
/// A proc connector datagram's receive buffer (a notice is under 100 bytes).
const PROC_RECV_SIZE: usize = 256;
/// Notices taken per drain at most (the audit socket is read again in between).
const PROC_DRAIN_MAX: usize = 1 << 16;

/// The proc connector socket of a reader, and the clock offset its notices' times are moved by.
struct Procs {
    rx: Receiver,
    offset: i128,
}

impl Procs {
    /// Everything the connector socket holds now (up to [`PROC_DRAIN_MAX`]), as frames into `out`: forks
    /// and exits of processes (threads' are left out). Overruns are counted (`proc_enobufs`), and reading
    /// goes on; another error ends the connector's reading, never the audit socket's.
    fn drain(&mut self, shared: &Shared, out: &mut Outbox) {
        let c = &shared.counters;
        let mut taken = 0;
        let mut offset_read = false;
        while taken < PROC_DRAIN_MAX {
            match self.rx.recv() {
                Ok(n) => {
                    if !offset_read {
                        // once per drain: the offset moves only when the wall clock is set
                        self.offset = connector::clock_offset_ns();
                        offset_read = true;
                    }
                    taken += n;
                    let mut kept = 0u64;
                    for i in 0..n {
                        let Some((data, meta)) = self.rx.datagram(i) else {
                            break;
                        };
                        if meta.sender.is_some_and(|pid| pid != 0) {
                            Counters::add(&c.foreign, 1);
                            continue;
                        }
                        if let Some(f) = connector::parse(data) {
                            let (t, payload) = f.shifted(self.offset).encode();
                            push_frame(&mut out.buf, t, 0, &payload);
                            out.frames += 1;
                            kept += 1;
                        }
                    }
                    Counters::add(&c.proc_notices, kept);
                }
                Err(Errno::ENOBUFS) => Counters::add(&c.proc_enobufs, 1),
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

/// The reader thread's frames received since the socket was last found empty (or [`HAND_OVER_BYTES`]), on
/// their way to the journal and the buffer.
struct Outbox {
    /// the frames being handed over (reused: no allocation per call once grown)
    buf: Vec<u8>,
    /// how many frames `buf` holds
    frames: usize,
    journal: Option<Writer>,
}

impl Outbox {
    /// Whether the buffer with what this holds reaches `limit` (policy block waits then).
    fn full(&self, shared: &Shared, limit: Limit) -> bool {
        let q = shared.lock();
        q.bytes + self.buf.len() >= limit.bytes || q.frames + self.frames >= limit.frames
    }

    /// Journals the frames of `buf` (one write), then appends them to the buffer and wakes the consumer once
    /// it has what it waits for. Nothing to do when `buf` is empty.
    fn hand_over(&mut self, shared: &Shared) {
        if self.frames == 0 {
            self.buf.clear();
            return;
        }
        let frames = std::mem::take(&mut self.frames);
        if let Some(w) = self.journal.as_mut() {
            let was_failed = w.failed();
            match w.append(&self.buf) {
                Ok(()) if !was_failed => {
                    Counters::add(&shared.counters.journal_bytes, self.buf.len() as u64)
                }
                Ok(()) => {}
                Err(_) => Counters::add(&shared.counters.journal_errors, 1),
            }
        }
        let mut q = shared.lock();
        let before = q.frames;
        q.push_block(&self.buf, frames);
        self.buf.clear();
        // the consumer is woken once it has what it waits for, not for every datagram
        let wake = q.consumer_waiting && q.frames > before && q.frames >= q.consumer_wants;
        drop(q);
        if wake {
            shared.data.notify_one();
        }
    }
}

/// Classifies and counts the `n` datagrams just received and keeps the records (policy drop: those that
/// find room): journaled, then held. Returns the bytes received.
fn store(
    shared: &Shared,
    rx: &Receiver,
    n: usize,
    policy: Policy,
    limit: Limit,
    out: &mut Outbox,
) -> usize {
    let c = &shared.counters;
    let mut received = 0;
    // policy drop: what is held now, to tell which records find room (one look, not one per record)
    let (held_frames, held_bytes) = if policy == Policy::Drop {
        let q = shared.lock();
        (q.frames, q.bytes)
    } else {
        (0, 0)
    };
    let mut frames = 0usize;
    for i in 0..n {
        let Some((data, meta)) = rx.datagram(i) else {
            break;
        };
        received += meta.len;
        match classify(data, meta.len, meta.cut, meta.sender) {
            Datagram::Foreign => Counters::add(&c.foreign, 1),
            Datagram::Short => Counters::add(&c.errors, 1),
            Datagram::Ignored => Counters::add(&c.ignored, 1),
            Datagram::Record {
                msg_type,
                payload,
                trunc,
            } => {
                Counters::add(&c.messages, 1);
                Counters::add(&c.bytes, meta.len as u64);
                if trunc != 0 {
                    Counters::add(&c.truncated, 1);
                }
                if policy == Policy::Drop
                    && (held_bytes + out.buf.len() >= limit.bytes
                        || held_frames + out.frames + frames >= limit.frames)
                {
                    Counters::add(&c.queue_full, 1);
                    Counters::add(&c.queue_drops, 1);
                    continue;
                }
                push_frame(&mut out.buf, msg_type, trunc, payload);
                frames += 1;
            }
        }
    }
    out.frames += frames;
    received
}
