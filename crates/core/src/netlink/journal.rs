//! The raw-frame journal: what the reader received, appended to segment files before it is processed, so
//! that a process kill (`kill -9`) loses nothing the reader took off the socket.
//!
//! A journal is a directory of segments named by the position of their first byte (`{:016x}.journal`, 16
//! hex digits). A position is a byte offset in one endless stream: a segment holds the bytes from its name
//! up to its length, the next segment starts at or after its end (a new run starts a new segment, possibly
//! with a gap). The bytes are the reader's frames (`[u16 type][u32 trunc][u32 len][payload]`, native
//! endian), exactly as the processing side takes them, so a frame's position is known on both sides.
//!
//! The reader appends each receive call's frames with one `write(2)` and no `fsync`: the page cache
//! survives a process kill, not a power loss (auditd's `flush = none`). A write cut short by the kill
//! leaves a torn last frame: [`recover`] finds it (a frame running past the end, or one no reader writes)
//! and cuts it off, counted. The store commits, with its rows, the position below which every frame's event
//! is stored ([`crate::pipeline::Mark`]); [`release`] deletes the segments wholly below it, and the next start
//! replays ([`Replay`]) from it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::frames::read_frame;
pub use super::frames::FRAME_HEADER;
use super::{AUDIT_FIRST_RECORD, AUDIT_REPLACE};

/// A new segment is started once the current one holds this much.
pub const SEGMENT_BYTES: u64 = 32 << 20;
/// The longest payload a reader journals (its largest receive buffer).
const MAX_PAYLOAD: usize = 1 << 20;
/// A segment's file name ends so.
const SUFFIX: &str = ".journal";
/// Segment files are private: audit records name users, commands and their arguments.
const FILE_MODE: u32 = 0o600;

/// A segment's file name.
pub fn segment_name(start: u64) -> String {
    format!("{start:016x}{SUFFIX}")
}

/// The segments of `dir`, by position: `(start, path)`. Other files are left alone.
pub fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(hex) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        if hex.len() != 16 {
            continue;
        }
        if let Ok(start) = u64::from_str_radix(hex, 16) {
            out.push((start, entry.path()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Whether a frame header can be one the reader wrote: an audit record type, a payload it could receive.
fn plausible(msg_type: u16, len: usize) -> bool {
    msg_type >= AUDIT_FIRST_RECORD && msg_type != AUDIT_REPLACE && len <= MAX_PAYLOAD
}

/// The length of the whole, plausible frames at the start of `data` (the rest is a torn tail).
pub fn valid_len(data: &[u8]) -> usize {
    let mut pos = 0;
    while pos < data.len() {
        match read_frame(data, pos) {
            Some((t, payload, _, end)) if plausible(t, payload.len()) => pos = end,
            _ => break,
        }
    }
    pos
}

/// What [`recover`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// segments in the journal
    pub segments: usize,
    /// the position after the last whole frame (0: an empty journal)
    pub end: u64,
    /// bytes of a torn last frame (a write cut short), cut off
    pub torn_bytes: u64,
}

/// At start, before anything is written: the journal's end, a torn tail of its last segment cut off.
pub fn recover(dir: &Path) -> io::Result<Recovery> {
    let segs = segments(dir)?;
    let Some((start, path)) = segs.last() else {
        return Ok(Recovery::default());
    };
    let data = fs::read(path)?;
    let good = valid_len(&data);
    let torn = data.len() - good;
    if torn > 0 {
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(good as u64)?;
    }
    Ok(Recovery {
        segments: segs.len(),
        end: start.saturating_add(good as u64),
        torn_bytes: torn as u64,
    })
}

/// Deletes the segments that lie wholly below `below` (the next segment starts at or below it); the last
/// segment always stays. How many were deleted.
pub fn release(dir: &Path, below: u64) -> io::Result<usize> {
    let segs = segments(dir)?;
    let mut n = 0;
    for pair in segs.windows(2) {
        if let [(_, path), (next, _)] = pair {
            if *next <= below {
                remove(path)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Deletes every segment (a clean stop: everything is stored). How many were deleted.
pub fn clear(dir: &Path) -> io::Result<usize> {
    let segs = segments(dir)?;
    for (_, path) in &segs {
        remove(path)?;
    }
    Ok(segs.len())
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The reader thread's end of the journal: appends batches of frames, starting segments as they fill.
#[derive(Debug)]
pub struct Writer {
    dir: PathBuf,
    segment_bytes: u64,
    file: Option<File>,
    seg_len: u64,
    pos: u64,
    /// a write failed: the journal stays off for this run (the frames are still processed)
    failed: bool,
}

impl Writer {
    /// A writer whose first frame will be at position `start` (at least [`Recovery::end`], and past what
    /// the store saw: a new segment is started there). Nothing is written until the first append.
    pub fn new(dir: &Path, start: u64, segment_bytes: u64) -> Writer {
        Writer {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(1),
            file: None,
            seg_len: 0,
            pos: start,
            failed: false,
        }
    }

    /// The position the next append starts at.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether a write failed (the journal is off since).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Appends `frames` (whole frames) with one write. The position advances whatever happens, so that it
    /// stays the processing side's; an error turns the journal off for the rest of the run.
    pub fn append(&mut self, frames: &[u8]) -> io::Result<()> {
        let at = self.pos;
        self.pos = at.saturating_add(frames.len() as u64);
        if self.failed || frames.is_empty() {
            return Ok(());
        }
        let result = self.write_at(at, frames);
        if result.is_err() {
            self.failed = true;
            self.file = None;
        }
        result
    }

    fn write_at(&mut self, at: u64, frames: &[u8]) -> io::Result<()> {
        if self.file.is_none() || self.seg_len >= self.segment_bytes {
            let path = self.dir.join(segment_name(at));
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(FILE_MODE)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
                .open(path)?;
            self.file = Some(file);
            self.seg_len = 0;
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(frames)?;
            self.seg_len += frames.len() as u64;
        }
        Ok(())
    }
}

/// A replayed frame: its position, type, `trunc` and where its payload is in [`Replay::data`].
pub type ReplayFrame = (u64, u16, u32, std::ops::Range<usize>);

/// Reads the journal's frames from a position on, one segment in memory at a time.
#[derive(Debug)]
pub struct Replay {
    segs: Vec<(u64, PathBuf)>,
    next_seg: usize,
    data: Vec<u8>,
    seg_start: u64,
    off: usize,
    from: u64,
    until: u64,
    /// frames read
    pub frames: u64,
    /// bytes of frames read
    pub bytes: u64,
    /// bytes that are no frame the reader wrote (a torn or damaged tail of a segment), skipped
    pub torn_bytes: u64,
    /// bytes of the journal before `from` that were deleted already (nothing is replayed from them)
    pub missing_bytes: u64,
}

impl Replay {
    /// The frames at or after position `from` and before `until` (where the running reader's frames begin:
    /// it may be writing already).
    pub fn open(dir: &Path, from: u64, until: u64) -> io::Result<Replay> {
        let mut segs = segments(dir)?;
        segs.retain(|(s, _)| *s < until);
        // the segments that end after `from`: those from the last one starting at or before it
        let first = segs.iter().rposition(|(s, _)| *s <= from).unwrap_or(0);
        let missing = match segs.first() {
            Some((s, _)) if *s > from => s - from,
            _ => 0,
        };
        Ok(Replay {
            segs,
            next_seg: first,
            data: Vec::new(),
            seg_start: 0,
            off: 0,
            from,
            until,
            frames: 0,
            bytes: 0,
            torn_bytes: 0,
            missing_bytes: if from == 0 { 0 } else { missing },
        })
    }

    /// The next frame: `(position, type, trunc, payload range in [`Replay::data`])`; None at the end.
    pub fn next_frame(&mut self) -> io::Result<Option<ReplayFrame>> {
        loop {
            if self.off < self.data.len() {
                match read_frame(&self.data, self.off) {
                    _ if self.seg_start + self.off as u64 >= self.until => {
                        self.off = self.data.len();
                    }
                    Some((t, payload, trunc, end)) if plausible(t, payload.len()) => {
                        let pos = self.seg_start + self.off as u64;
                        let start = self.off + FRAME_HEADER;
                        let range = start..start + payload.len();
                        self.bytes += (end - self.off) as u64;
                        self.off = end;
                        self.frames += 1;
                        return Ok(Some((pos, t, trunc, range)));
                    }
                    _ => {
                        self.torn_bytes += (self.data.len() - self.off) as u64;
                        self.off = self.data.len();
                    }
                }
            }
            let Some((start, path)) = self.segs.get(self.next_seg) else {
                self.data = Vec::new();
                self.off = 0;
                return Ok(None);
            };
            let (start, path) = (*start, path.clone());
            self.next_seg += 1;
            self.data.clear();
            // the frames before `from` are stored: read from it (a mark is always a frame's start)
            let skip = self.from.saturating_sub(start);
            match File::open(&path) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(skip))?;
                    f.read_to_end(&mut self.data)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            self.seg_start = start + skip;
            self.off = 0;
        }
    }

    /// The bytes the ranges of [`Replay::next_frame`] point into.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::super::frames::push_frame;
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("auditsql-journal-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn frames(payloads: &[&str]) -> Vec<u8> {
        let mut buf = Vec::new();
        for p in payloads {
            push_frame(&mut buf, 1300, 0, p.as_bytes());
        }
        buf
    }

    fn replay_all(dir: &Path, from: u64) -> (Vec<(u64, String)>, Replay) {
        let mut r = Replay::open(dir, from, u64::MAX).unwrap();
        let mut out = Vec::new();
        while let Some((pos, t, _, range)) = r.next_frame().unwrap() {
            assert_eq!(t, 1300);
            out.push((pos, String::from_utf8(r.data()[range].to_vec()).unwrap()));
        }
        (out, r)
    }

    #[test]
    fn frames_come_back_with_their_positions_across_segments() {
        let dir = tmp("segments");
        let mut w = Writer::new(&dir, 0, 20);
        w.append(&frames(&["a1", "a2"])).unwrap(); // 24 bytes: the segment is full after it
        w.append(&frames(&["b1"])).unwrap();
        w.append(&frames(&["c1"])).unwrap();
        assert_eq!(w.position(), 48);
        let segs: Vec<u64> = segments(&dir).unwrap().into_iter().map(|s| s.0).collect();
        assert_eq!(segs, vec![0, 24]); // "b1" and "c1" fit the second
        let (got, r) = replay_all(&dir, 0);
        assert_eq!(
            got,
            vec![
                (0, "a1".into()),
                (12, "a2".into()),
                (24, "b1".into()),
                (36, "c1".into())
            ]
        );
        assert_eq!((r.frames, r.bytes, r.torn_bytes), (4, 48, 0));
        // from a frame in the middle of a segment
        let (got, _) = replay_all(&dir, 12);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (12, "a2".into()));
        let (got, _) = replay_all(&dir, 48);
        assert!(got.is_empty());
    }

    #[test]
    fn a_torn_last_frame_is_counted_and_cut_off() {
        let dir = tmp("torn");
        let mut w = Writer::new(&dir, 100, SEGMENT_BYTES);
        let data = frames(&["one", "two"]);
        w.append(&data).unwrap();
        drop(w);
        // a write cut short by the kill: half of a third frame
        let third = frames(&["three"]);
        let path = dir.join(segment_name(100));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&third[..7]).unwrap();
        drop(f);
        let (got, r) = replay_all(&dir, 100);
        assert_eq!(got, vec![(100, "one".into()), (113, "two".into())]);
        assert_eq!(r.torn_bytes, 7);
        let rec = recover(&dir).unwrap();
        assert_eq!(
            rec,
            Recovery {
                segments: 1,
                end: 126,
                torn_bytes: 7
            }
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), 26);
        // zeros (a power loss's pages) are no frame either
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; 64]).unwrap();
        drop(f);
        assert_eq!(recover(&dir).unwrap().torn_bytes, 64);
        // the next run starts a segment of its own after the end
        let mut w = Writer::new(&dir, 126, SEGMENT_BYTES);
        w.append(&frames(&["four"])).unwrap();
        let (got, r) = replay_all(&dir, 113);
        assert_eq!(got, vec![(113, "two".into()), (126, "four".into())]);
        assert_eq!(r.torn_bytes, 0);
        // a replay stops where the running reader's frames begin (it writes while the replay reads)
        let mut r = Replay::open(&dir, 0, 126).unwrap();
        let mut n = 0;
        while r.next_frame().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn segments_wholly_below_the_mark_are_deleted() {
        let dir = tmp("release");
        let mut w = Writer::new(&dir, 0, 1);
        for p in ["a", "b", "c", "d"] {
            w.append(&frames(&[p])).unwrap(); // one 11-byte frame per segment
        }
        assert_eq!(release(&dir, 15).unwrap(), 1); // [0, 11) is below 15; [11, 22) holds 15
        let segs: Vec<u64> = segments(&dir).unwrap().into_iter().map(|s| s.0).collect();
        assert_eq!(segs, vec![11, 22, 33]);
        assert_eq!(release(&dir, 1000).unwrap(), 2); // the last segment stays
        assert_eq!(segments(&dir).unwrap().len(), 1);
        // replay from a position whose segment is gone: the bytes missing are counted
        let (got, r) = replay_all(&dir, 5);
        assert_eq!(got, vec![(33, "d".into())]);
        assert_eq!(r.missing_bytes, 28);
        assert_eq!(clear(&dir).unwrap(), 1);
        assert_eq!(recover(&dir).unwrap(), Recovery::default());
    }

    #[test]
    fn segment_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp("mode");
        let mut w = Writer::new(&dir, 0, SEGMENT_BYTES);
        w.append(&frames(&["x"])).unwrap();
        let mode = fs::metadata(dir.join(segment_name(0)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_failed_write_turns_the_journal_off_and_positions_go_on() {
        let dir = tmp("fail").join("gone");
        let mut w = Writer::new(&dir, 0, SEGMENT_BYTES);
        assert!(w.append(&frames(&["x"])).is_err());
        assert!(w.failed());
        assert!(w.append(&frames(&["y"])).is_ok());
        assert_eq!(w.position(), 22);
    }
}
