//! Settings built once at the edge, a [`Pipeline`] that owns every piece of state, bytes in, a [`Batch`] out.
//!
//! laurel's shape: `Settings` (documented defaults) is built once from the configuration; the pipeline owns
//! the assembler, the renderer and its caches, the row mappers' state and the process tree, and nothing
//! else holds state. Callers hand it log text ([`Pipeline::feed_lines`]) or netlink messages
//! ([`Pipeline::feed_frame`]) and take what closed as a [`Batch`]: the events' JSON lines, their table rows,
//! and what the caller must see (configuration-change records). Nothing is dropped: a line that is not an
//! audit record becomes an error event with its bytes kept.

use crate::event::assemble::{key_of, Assembler, Key};
use crate::event::render::Renderer;
use crate::event::Event;
use crate::hash::HashSet;
use crate::netlink::connector::ProcFrame;
use crate::netlink::journal::{Replay, FRAME_HEADER};
use crate::proctree::{Tracker, TreeSettings};
use crate::record::parse::{parse_line, parse_netlink, NOT_AUDIT};
use crate::record::Record;
use crate::rows::{audit, Cell, Mapper, ProcessTree, Row, RowOptions};
use crate::store::codec::Codec;

/// `AUDIT_CONFIG_CHANGE`: rules or settings changed by someone; the coexistence watcher reads these.
pub const AUDIT_CONFIG_CHANGE: u32 = 1305;
/// The size of the netlink receive buffer (a longer datagram is cut and flagged `trunc`).
pub const RECV_SIZE: usize = 1 << 16;
/// Proc connector notices wait this long (seconds of wall clock) for a later audit record before
/// [`Pipeline::tick`] applies them: the audit thread delivers the records made before them within it.
pub const NOTICE_HOLD_SECONDS: f64 = 1.0;
/// How much of a log's head decides `Format::Auto` (as `auditsql.sources.logfile` sniffed it).
const SNIFF: usize = 64 * 1024;

/// How ENRICHED tails are recognised in log text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// decided from the head of the input: ENRICHED when it holds 0x1d or an upper-case interpreted key
    Auto,
    /// only a 0x1d byte starts the tail
    Raw,
    /// upper-case keys after a space or glued to a value start it too
    Enriched,
}

/// Everything the pipeline is told once. `Default` is `auditsql read`'s behaviour.
#[derive(Clone, Debug)]
pub struct Settings {
    /// how ENRICHED tails are detected in log text (netlink messages are never enriched)
    pub format: Format,
    /// add user and group names where the log did not carry them
    pub resolve_ids: bool,
    /// the `raw` array of exact record texts in the event JSON
    pub raw: bool,
    /// [`Batch::json`] carries the event JSON lines
    pub events_json: bool,
    /// [`Batch::rows`] carries table rows
    pub rows: bool,
    /// an event closes when this many records arrived without one of its own
    pub window: usize,
    /// live sources: an event closes when no record of its own came for this long (wall clock)
    pub window_seconds: f64,
    /// a user-space message waits this many records for kernel records with its serial
    pub single_window: usize,
    /// row mapping options (failed execs, stat of executables, audit_events sections)
    pub row_options: RowOptions,
    /// follow fork/exec/exit into the process tree (`process_tree` rows, exec extension columns)
    pub process_tree: bool,
    /// fork rows in `process_events` (osquery's `--audit_allow_fork_process_events`)
    pub fork_events: bool,
    /// the tree may read /proc (live sources); off for logs from elsewhere
    pub live: bool,
    /// boot time (UNIX seconds) of the machine that produced the events, for `uptime`
    pub uptime_base: Option<f64>,
    /// the key of the process tree's own rule (`auditsql_tree`): with the tree on, no JSON lines and no
    /// fork rows, its fork and exit events are interpreted only as far as their rows and the tracker read
    /// ([`Renderer::render_lean`]); their rows are the same
    pub tree_key: Option<Vec<u8>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            format: Format::Auto,
            resolve_ids: true,
            raw: true,
            events_json: true,
            rows: true,
            window: 512,
            window_seconds: 3.0,
            single_window: 16,
            row_options: RowOptions::default(),
            process_tree: false,
            fork_events: false,
            live: false,
            uptime_base: None,
            tree_key: None,
        }
    }
}

/// What one call produced.
#[derive(Debug, Default)]
pub struct Batch {
    /// records taken in (parsed lines and messages, error records included)
    pub records: usize,
    /// events closed
    pub events: usize,
    /// compact JSON of each event, one per line
    pub json: Vec<u8>,
    /// table rows, in the order produced
    pub rows: Vec<Row>,
    /// for event i, `rows[event_rows[i]..event_rows[i + 1]]` are its rows; `event_rows.len() == events + 1`
    /// once [`Batch::seal`] ran; rows after the last entry belong to no event (process tree updates)
    pub event_rows: Vec<usize>,
    /// raw text of `AUDIT_CONFIG_CHANGE` records
    pub config_changes: Vec<Vec<u8>>,
    /// where the last event's rows end (the rows after it belong to no event)
    pub events_end: usize,
    /// (node, serial) of the records in arrival order, a repeat of the previous pair left out: what the
    /// loss accounting's serial trackers observe
    pub serials: Vec<(Option<Vec<u8>>, u64)>,
}

impl Batch {
    /// Close the row index: the last entry marks where the rows of no event begin.
    pub fn seal(&mut self) {
        self.event_rows.push(self.events_end);
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
            && self.rows.is_empty()
            && self.config_changes.is_empty()
            && self.serials.is_empty()
    }
}

/// Line and input counters (the assembler keeps its own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputStats {
    /// physical lines read from log text
    pub lines: u64,
    /// comment (`#`) and blank lines
    pub skipped_lines: u64,
    /// bytes of log text
    pub bytes: u64,
    /// netlink messages
    pub frames: u64,
    /// runs of NUL bytes in log text (each an error record)
    pub nul_runs: u64,
    /// lines of log text that are not audit records at all (no `type=` header: syslog, other text)
    pub not_audit: u64,
    /// journal replay: records left out because their event was stored before the restart
    pub replay_skipped: u64,
    /// process-tree events interpreted lean ([`Settings::tree_key`])
    pub lean_events: u64,
}

/// Where the store stands in the journal (`crate::netlink::journal`), committed with its rows: every frame
/// below `start` belongs to an event that is stored; of the frames from `start` to `end`, only those of the
/// events still `open` are not; every frame from `end` on is not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    /// the first record of the oldest open event (`end` when none is open): the segments below are deleted,
    /// the next start replays from here
    pub start: u64,
    /// the position after the last frame processed
    pub end: u64,
    /// the open events' keys ([`encode_keys`])
    pub open: Vec<u8>,
}

/// Event keys as bytes (for the store): per key `[u8 has node][u32 node length][node][u64 sec][u64 msec]
/// [u64 serial]`, little endian.
pub fn encode_keys<'a>(keys: impl Iterator<Item = &'a Key>) -> Vec<u8> {
    let mut out = Vec::new();
    for (node, sec, msec, serial) in keys {
        let node = node.as_deref();
        out.push(u8::from(node.is_some()));
        let n = node.unwrap_or_default();
        out.extend_from_slice(&u32::try_from(n.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(n.get(..u32::MAX as usize).unwrap_or(n));
        for v in [sec, msec, serial] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// [`encode_keys`] back; what does not decode (a damaged value) ends the list.
pub fn decode_keys(mut data: &[u8]) -> Vec<Key> {
    fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = data.split_at_checked(n)?;
        *data = rest;
        Some(head)
    }
    fn u64_of(data: &mut &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(take(data, 8)?.try_into().ok()?))
    }
    let mut out = Vec::new();
    while !data.is_empty() {
        let Some(key) = (|| {
            let has = *take(&mut data, 1)?.first()?;
            let len = u32::from_le_bytes(take(&mut data, 4)?.try_into().ok()?) as usize;
            let node = take(&mut data, len)?;
            let (sec, msec, serial) = (u64_of(&mut data)?, u64_of(&mut data)?, u64_of(&mut data)?);
            Some(((has != 0).then(|| node.to_vec()), sec, msec, serial))
        })() else {
            break;
        };
        out.push(key);
    }
    out
}

/// A replay's rule: below `end`, only the records of the `open` events are taken again.
#[derive(Debug)]
struct ReplayFilter {
    end: u64,
    open: HashSet<Key>,
}

/// Bytes → events → JSON and rows. Owns all state; see the module doc.
pub struct Pipeline {
    settings: Settings,
    assembler: Assembler,
    renderer: Renderer,
    mapper: Mapper,
    tree: Option<Tracker>,
    /// a partial line waiting for its end
    partial: Vec<u8>,
    /// ENRICHED detection for log text, decided by [`Settings::format`] (Auto: on the first input)
    detect: Option<bool>,
    input: InputStats,
    closed: Vec<Event>,
    /// compresses each event's records into its `audit_events.blob`
    codec: Codec,
    /// the journal position of the frame being processed, and the position after the last one
    pos: u64,
    fed_end: u64,
    replay: Option<ReplayFilter>,
}

impl Pipeline {
    pub fn new(settings: Settings) -> Pipeline {
        let detect = match settings.format {
            Format::Auto => None,
            Format::Raw => Some(false),
            Format::Enriched => Some(true),
        };
        let tree = settings.process_tree.then(|| {
            Tracker::new(TreeSettings {
                live: settings.live,
                fork_events: settings.fork_events,
                uptime_base: settings.uptime_base,
                // the argument lists (kept by default): the rows' `argv`, so that a process taken back at a
                // restart has them, and the event JSON's `summary.tree.parent_argv`
                ..TreeSettings::default()
            })
        });
        Pipeline {
            assembler: Assembler::new(
                settings.window as u64,
                settings.window_seconds,
                settings.single_window as u64,
            ),
            // user and group names and the `raw` array are written for the event JSON only: no table row
            // reads the names, and the row mappers take the records themselves
            renderer: Renderer::new(
                settings.resolve_ids && settings.events_json,
                settings.raw && settings.events_json,
            ),
            mapper: Mapper::new(settings.row_options.clone()),
            tree,
            partial: Vec::new(),
            detect,
            input: InputStats::default(),
            closed: Vec::new(),
            codec: Codec::new(),
            pos: 0,
            fed_end: 0,
            replay: None,
            settings,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn assembler(&self) -> &Assembler {
        &self.assembler
    }

    pub fn input_stats(&self) -> &InputStats {
        &self.input
    }

    pub fn tree(&self) -> Option<&Tracker> {
        self.tree.as_ref()
    }

    pub fn tree_mut(&mut self) -> Option<&mut Tracker> {
        self.tree.as_mut()
    }

    /// Remember the TCP sockets listening now (`/proc/net/tcp{,6}` and `/proc/PID/fd`), so that `accept`
    /// rows of servers started before auditsql get their `local_port`. How many (pid, fd) pairs it found.
    pub fn seed_listeners(&mut self, proc_root: &std::path::Path) -> usize {
        self.mapper.seed_listeners(proc_root)
    }

    // -- input -------------------------------------------------------------------------------------------

    /// Log text in any chunking: every complete line is parsed now; a trailing partial line waits for the
    /// next call or [`Pipeline::finish`]. A run of NUL bytes (a log preallocated and cut short by a crash)
    /// ends the line before it and is one error record of its own.
    pub fn feed_lines(&mut self, data: &[u8], batch: &mut Batch) {
        if self.detect.is_none() {
            self.detect = Some(looks_enriched(&data[..data.len().min(SNIFF)]));
        }
        self.input.bytes += data.len() as u64;
        let mut rest = data;
        if !self.partial.is_empty() {
            match memchr::memchr(b'\n', rest) {
                None => {
                    self.partial.extend_from_slice(rest);
                    return;
                }
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&rest[..i]);
                    self.line(&line, batch);
                    rest = &rest[i + 1..];
                }
            }
        }
        while let Some(i) = memchr::memchr(b'\n', rest) {
            self.line(&rest[..i], batch);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
    }

    /// The end of one file of log text: its partial last line is parsed, and the next file's format is
    /// detected anew (`Format::Auto`). Open events stay open: a log rotated mid-event continues in the next.
    pub fn end_file(&mut self, batch: &mut Batch) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, batch);
        }
        if self.settings.format == Format::Auto {
            self.detect = None;
        }
    }

    /// The format detected for the current log text: Some(true) ENRICHED, Some(false) raw, None not yet.
    pub fn detected(&self) -> Option<bool> {
        self.detect
    }

    /// One netlink message: its type, payload, and the datagram's real length when it was cut (else 0).
    /// Type 0 is a text line (auditd's plugin stream).
    pub fn feed_frame(&mut self, msg_type: u32, payload: &[u8], trunc: usize, batch: &mut Batch) {
        if ProcFrame::is_proc(msg_type) {
            self.proc_frame(msg_type, payload);
            return;
        }
        self.input.frames += 1;
        if msg_type == 0 {
            let line = strip_eol(payload);
            for rec in parse_line(line, true) {
                self.record(rec, batch);
            }
            return;
        }
        let mut rec = parse_netlink(msg_type, payload);
        if trunc > 0 {
            rec.error = Some(format!(
                "truncated: the kernel sent {trunc} bytes, the receive buffer holds {RECV_SIZE}"
            ));
        }
        self.record(rec, batch);
    }

    /// A proc connector notice (`crate::netlink::connector`) to the process tree; in a journal replay, one
    /// below the store's mark was applied before the restart (its rows are stored) and is not again.
    fn proc_frame(&mut self, msg_type: u32, payload: &[u8]) {
        if self.replay.as_ref().is_some_and(|f| self.pos < f.end) {
            self.input.replay_skipped += 1;
            return;
        }
        let (Some(tree), Some(f)) = (self.tree.as_mut(), ProcFrame::decode(msg_type, payload))
        else {
            return;
        };
        let secs = |ns: u64| ns as f64 / 1e9;
        match f {
            ProcFrame::Fork { parent, child, ns } => {
                tree.connector_fork(i64::from(parent), i64::from(child), secs(ns));
            }
            ProcFrame::Exit { pid, status, ns } => {
                tree.connector_exit(i64::from(pid), status, secs(ns));
            }
        }
    }

    /// [`Pipeline::feed_frame`] of a journaled frame at position `pos`, `end` the position after it.
    pub fn feed_frame_at(
        &mut self,
        pos: u64,
        end: u64,
        msg_type: u32,
        payload: &[u8],
        trunc: usize,
        batch: &mut Batch,
    ) {
        self.pos = pos;
        self.assembler.position = pos;
        self.feed_frame(msg_type, payload, trunc, batch);
        self.fed_end = self.fed_end.max(end);
    }

    /// Where the processing stands in the journal: see [`Mark`].
    pub fn mark(&self) -> Mark {
        let mut start = self.fed_end;
        let mut keys = Vec::new();
        self.assembler.open_firsts(|k, first| {
            start = start.min(first);
            keys.push(k.clone());
        });
        Mark {
            start,
            end: self.fed_end,
            open: encode_keys(keys.iter()),
        }
    }

    /// Before a replay from the store's [`Mark`]: below `mark.end`, only the records of the events open then
    /// are taken (the others' events are stored). Positions before `start` are never fed again, so the
    /// processing starts there.
    pub fn begin_replay(&mut self, end: u64, open: &[u8]) {
        self.replay = Some(ReplayFilter {
            end,
            open: decode_keys(open).into_iter().collect(),
        });
    }

    /// Up to `max_frames` frames of a journal replay (see [`Pipeline::begin_replay`]); how many were read
    /// (0: the journal is at its end).
    pub fn replay(
        &mut self,
        journal: &mut Replay,
        max_frames: usize,
        batch: &mut Batch,
    ) -> std::io::Result<usize> {
        let mut n = 0;
        while n < max_frames {
            let Some((pos, t, trunc, range)) = journal.next_frame()? else {
                break;
            };
            let payload = journal.data().get(range).unwrap_or_default();
            let end = pos + (payload.len() + FRAME_HEADER) as u64;
            self.feed_frame_at(pos, end, u32::from(t), payload, trunc as usize, batch);
            n += 1;
        }
        Ok(n)
    }

    /// After a replay: every record is taken.
    pub fn end_replay(&mut self) {
        self.replay = None;
    }

    /// Live sources: close events that saw no record for `window_seconds` of wall clock (`now`, UNIX
    /// seconds); the process tree's changed rows follow.
    pub fn tick(&mut self, now: f64, batch: &mut Batch) {
        let mut closed = std::mem::take(&mut self.closed);
        self.assembler.tick(now, &mut closed);
        self.emit_all(&mut closed, batch);
        self.closed = closed;
        if let Some(tree) = self.tree.as_mut() {
            // no audit record came after them: the records made before them are in by now
            tree.release_notices(now - NOTICE_HOLD_SECONDS);
        }
        self.drain_tree(batch);
    }

    /// End of input: the partial line, then every open event; the process tree's changed rows follow.
    pub fn finish(&mut self, batch: &mut Batch) {
        self.end_file(batch);
        let mut closed = std::mem::take(&mut self.closed);
        self.assembler.flush(&mut closed);
        self.emit_all(&mut closed, batch);
        self.closed = closed;
        if let Some(tree) = self.tree.as_mut() {
            tree.release_notices(f64::INFINITY);
        }
        self.drain_tree(batch);
    }

    /// The process tree's periodic work (the /proc sweep when due), then its changed rows.
    pub fn tree_idle(&mut self, monotonic_now: f64, batch: &mut Batch) {
        if let Some(tree) = self.tree.as_mut() {
            tree.idle(monotonic_now);
        }
        self.drain_tree(batch);
    }

    // -- stages ------------------------------------------------------------------------------------------

    fn line(&mut self, line: &[u8], batch: &mut Batch) {
        let line = strip_cr(line);
        // a run of NULs splits the line: what comes before and after is parsed, the run is one error record
        if memchr::memchr(0, line).is_some() {
            let mut start = 0;
            let mut i = 0;
            while i < line.len() {
                if line[i] == 0 {
                    let mut j = i;
                    while j < line.len() && line[j] == 0 {
                        j += 1;
                    }
                    if start < i {
                        self.text_line(&line[start..i], batch);
                    }
                    self.input.nul_runs += 1;
                    self.input.lines += 1;
                    let rec = Record {
                        text: line[i..j].to_vec(),
                        error: Some(format!("{} NUL bytes (a log cut short and padded)", j - i)),
                        ..Record::default()
                    };
                    self.record(rec, batch);
                    start = j;
                    i = j;
                } else {
                    i += 1;
                }
            }
            if start < line.len() {
                self.text_line(&line[start..], batch);
            }
            return;
        }
        self.text_line(line, batch);
    }

    fn text_line(&mut self, line: &[u8], batch: &mut Batch) {
        self.input.lines += 1;
        if line.first() == Some(&b'#') || line.iter().all(|c| c.is_ascii_whitespace()) {
            self.input.skipped_lines += 1;
            return;
        }
        let detect = self.detect.unwrap_or(true);
        for rec in parse_line(line, detect) {
            if rec.error.as_deref() == Some(NOT_AUDIT) {
                self.input.not_audit += 1;
            }
            self.record(rec, batch);
        }
    }

    fn record(&mut self, rec: Record, batch: &mut Batch) {
        if let Some(f) = &self.replay {
            if self.pos < f.end && !f.open.contains(&key_of(&rec)) {
                self.input.replay_skipped += 1;
                return;
            }
        }
        batch.records += 1;
        if rec.node.is_none() {
            if let Some(tree) = self.tree.as_mut() {
                tree.audit_clock(rec.sec as f64 + rec.msec as f64 / 1000.0);
            }
        }
        if rec.rtype == AUDIT_CONFIG_CHANGE {
            batch.config_changes.push(rec.text.clone());
        }
        if rec.serial != 0 {
            let same = batch
                .serials
                .last()
                .is_some_and(|(n, s)| *s == rec.serial && *n == rec.node);
            if !same {
                batch.serials.push((rec.node.clone(), rec.serial));
            }
        }
        let mut closed = std::mem::take(&mut self.closed);
        self.assembler.push(rec, &mut closed);
        self.emit_all(&mut closed, batch);
        self.closed = closed;
    }

    fn emit_all(&mut self, closed: &mut Vec<Event>, batch: &mut Batch) {
        for ev in closed.drain(..) {
            self.emit(&ev, batch);
        }
    }

    fn emit(&mut self, ev: &Event, batch: &mut Batch) {
        if self.settings.events_json && !self.settings.rows && self.tree.is_none() {
            // only the JSON is wanted (`auditsql read`): written directly, without the Map the rows read
            batch.events += 1;
            batch.event_rows.push(batch.rows.len());
            batch.events_end = batch.rows.len();
            self.renderer.render_json(ev, &mut batch.json);
            batch.json.push(b'\n');
            return;
        }
        let mut obj = match self.lean(ev) {
            Some(obj) => {
                self.input.lean_events += 1;
                obj
            }
            None => self.renderer.render(ev),
        };
        batch.events += 1;
        batch.event_rows.push(batch.rows.len());
        if self.settings.rows {
            let first = batch.rows.len();
            let tree = self.tree.as_mut().map(|t| t as &mut dyn ProcessTree);
            let records = (!self.settings.events_json).then_some(ev.records.as_slice());
            self.mapper.rows_for_records(
                &obj,
                records,
                self.settings.uptime_base,
                tree,
                &mut batch.rows,
            );
            // the event's records, once, compressed: `audit_events` is the event's first row
            if let Some(row) = batch.rows.get_mut(first) {
                if row.table == "audit_events" {
                    if let Some(cell) = row.cells.get_mut(audit::BLOB) {
                        *cell = Cell::Blob(self.codec.encode(ev));
                    }
                }
            }
        }
        batch.events_end = batch.rows.len();
        if self.settings.events_json {
            // after the rows: they bring the tree up to this event
            self.add_tree_facts(&mut obj);
            // a Map of JSON values always serialises; an error here would be a bug, never bad input
            if serde_json::to_writer(&mut batch.json, &obj).is_ok() {
                batch.json.push(b'\n');
            }
        }
    }

    /// With the process tree on: what it knows of the event's process, as `summary.tree`
    /// (docs/event-json.md; [`Tracker::event_facts`]). Nothing when the tree is off or does not know it.
    fn add_tree_facts(&self, obj: &mut serde_json::Map<String, serde_json::Value>) {
        let Some(facts) = self.tree.as_ref().and_then(|t| t.event_facts(obj)) else {
            return;
        };
        if let Some(serde_json::Value::Object(summary)) = obj.get_mut("summary") {
            summary.insert("tree".to_string(), serde_json::Value::Object(facts));
        }
    }

    /// The lean object of a process-tree fork or exit event, when nothing needs more of it (see
    /// [`Settings::tree_key`]).
    fn lean(&mut self, ev: &Event) -> Option<serde_json::Map<String, serde_json::Value>> {
        let s = &self.settings;
        if self.tree.is_none() || s.events_json || s.fork_events || !s.rows {
            return None;
        }
        let obj = self.renderer.render_lean(ev, s.tree_key.as_deref()?)?;
        let syscall = obj
            .get("summary")
            .and_then(|s| s.get("syscall"))
            .and_then(serde_json::Value::as_str);
        syscall
            .is_some_and(crate::proctree::is_tree_syscall)
            .then_some(obj)
    }

    fn drain_tree(&mut self, batch: &mut Batch) {
        if let Some(tree) = self.tree.as_mut() {
            if self.settings.rows {
                batch.rows.extend(tree.drain());
            } else {
                tree.drain();
            }
        }
    }
}

/// `auditsql.sources.logfile.detect_format`: ENRICHED when the head holds the 0x1d separator, an upper-case
/// key with a quoted value (`UID="root"`), `ARCH=` or `SYSCALL=` followed by a lower-case letter.
pub fn looks_enriched(head: &[u8]) -> bool {
    if memchr::memchr(0x1d, head).is_some() {
        return true;
    }
    let n = head.len();
    let mut i = 0;
    while i < n {
        let c = head[i];
        if c.is_ascii_uppercase() {
            // [A-Z][A-Z0-9_]+="
            let mut j = i + 1;
            while j < n
                && (head[j].is_ascii_uppercase() || head[j].is_ascii_digit() || head[j] == b'_')
            {
                j += 1;
            }
            if j >= i + 2 && j + 1 < n && head[j] == b'=' && head[j + 1] == b'"' {
                return true;
            }
            let word = &head[i..j];
            if (word.ends_with(b"ARCH") || word.ends_with(b"SYSCALL"))
                && j + 1 < n
                && head[j] == b'='
                && head[j + 1].is_ascii_lowercase()
            {
                return true;
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    false
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn strip_eol(line: &[u8]) -> &[u8] {
    strip_cr(line.strip_suffix(b"\n").unwrap_or(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_enriched_heads_as_python_did() {
        assert!(looks_enriched(
            b"type=SYSCALL msg=audit(1.2:3): a=1\x1dUID=\"root\""
        ));
        assert!(looks_enriched(b"x UID=\"root\""));
        assert!(looks_enriched(b"x ARCH=x86_64"));
        assert!(looks_enriched(b"x SYSCALL=execve"));
        assert!(!looks_enriched(
            b"type=SYSCALL msg=audit(1.2:3): arch=c000003e syscall=59"
        ));
        assert!(!looks_enriched(b"U=\"x\""));
        assert!(!looks_enriched(b"SYSCALL=59"));
    }

    /// `auditsql run`'s settings over a real capture of its own rules (`benchmarks/data/run_mix.log`).
    fn run_rows(tree_key: Option<&[u8]>) -> (Vec<Row>, u64) {
        let log = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../benchmarks/data/run_mix.log"
        ))
        .expect("benchmarks/data/run_mix.log");
        let mut p = Pipeline::new(Settings {
            resolve_ids: false,
            events_json: false,
            process_tree: true,
            tree_key: tree_key.map(<[u8]>::to_vec),
            ..Settings::default()
        });
        let mut b = Batch::default();
        p.feed_lines(&log, &mut b);
        p.finish(&mut b);
        (b.rows, p.input_stats().lean_events)
    }

    #[test]
    fn lean_tree_events_give_the_same_rows() {
        let (full, none) = run_rows(None);
        let (lean, n) = run_rows(Some(b"auditsql_tree"));
        assert_eq!(none, 0);
        // every fork and exit_group event of the capture (79 keyed auditsql_tree) took the lean path
        assert_eq!(n, 79);
        assert_eq!(full.len(), lean.len());
        for (a, b) in full.iter().zip(&lean) {
            assert_eq!(a, b);
        }
        let tree_events = full
            .iter()
            .filter(|r| {
                r.table == "audit_events"
                    && r.cells.get(8) == Some(&Cell::Text("auditsql_tree".into()))
            })
            .count();
        assert_eq!(tree_events, 79);
        assert!(full.iter().any(|r| r.table == "process_tree"));
    }

    #[test]
    fn lean_needs_the_key_and_plain_records() {
        let mut r = Renderer::new(false, true);
        let line = |t: &str| parse_line(t.as_bytes(), false).remove(0);
        let ev = |recs: Vec<Record>| Event {
            node: None,
            sec: 1,
            msec: 2,
            serial: 3,
            records: recs,
            closed_by: crate::event::ClosedBy::Eoe,
            duplicates: 0,
            seq: 0,
            began: 0,
            seen: 0.0,
        };
        let sc = "type=SYSCALL msg=audit(1.002:3): arch=c000003e syscall=56 success=yes exit=9 a0=1200011 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm=\"sh\" exe=\"/bin/sh\" key=\"auditsql_tree\"";
        let eoe = "type=EOE msg=audit(1.002:3): ";
        let path = "type=PATH msg=audit(1.002:3): item=0 name=\"/x\"";
        let lean = r.render_lean(&ev(vec![line(sc), line(eoe)]), b"auditsql_tree");
        let lean = lean.expect("a plain tree event is lean");
        assert_eq!(
            serde_json::to_string(&lean["SYSCALL"]).expect("json"),
            r#"{"syscall":56,"success":"yes","exit":9,"ppid":1,"pid":2,"auid":0,"uid":0,"gid":0,"euid":0,"comm":"sh","exe":"/bin/sh","key":"auditsql_tree","ARGV":["0x1200011","0x0","0x0","0x0"]}"#
        );
        assert!(r
            .render_lean(&ev(vec![line(sc), line(eoe)]), b"other")
            .is_none());
        assert!(r
            .render_lean(&ev(vec![line(sc), line(path), line(eoe)]), b"auditsql_tree")
            .is_none());
        assert!(r
            .render_lean(&ev(vec![line(eoe)]), b"auditsql_tree")
            .is_none());
    }
}
