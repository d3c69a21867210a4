//! One event as one blob: a small header, then its records' frame (see [`super::frame`]) compressed with
//! zstd and a dictionary trained on audit records.
//!
//! Blob: format version (1 byte, [`FORMAT`]), dictionary version (LEB128), closed_by (1 byte: the
//! [`ClosedBy`] code in bits 0-2, bit 3 set when a duplicates count follows), duplicates (LEB128, only when
//! not 0), then a zstd frame without its 4-byte magic number (always the same, so not stored), with the
//! content size and without checksum or dictionary id (the header names the dictionary).
//!
//! The dictionary (`dict/v1.zdict`, 110 KiB) and [`LEVEL`] were chosen with `tools/train_dict.py`
//! (samples: 1,023 events, 555 KB of frames). Measured on held-out events: run_mix.log's second half
//! (87 events, 674 B/event in the log) and a replay log (`benchmarks/replay.py --records 200000 --vary`:
//! 52,027 events, 750 B/event); B/event is the whole blob, ns/event on this 2-core machine (noisy):
//!
//! | dictionary | level | run_mix B/ev | replay B/ev | replay encode ns/ev | replay decode ns/ev |
//! |-----------:|------:|-------------:|------------:|--------------------:|--------------------:|
//! |     16 KiB |     3 |         95.2 |       146.1 |                3084 |                 605 |
//! |     32 KiB |     3 |         69.8 |       144.8 |                2981 |                 587 |
//! |     64 KiB |     3 |         64.6 |       123.7 |                2913 |                 554 |
//! |    110 KiB |     1 |         65.5 |       139.1 |                2679 |                 575 |
//! | **110 KiB**|     3 |         57.8 |       120.6 |                2850 |                 544 |
//! |    110 KiB |     6 |         56.7 |       109.6 |                7986 |                 494 |
//! |    110 KiB |     9 |         54.4 |       104.5 |               11906 |                 466 |
//!
//! Level 3 costs no more than level 1 here (small frames: the per-frame set-up dominates) and 3-4 times
//! less than 6 or 9, for 10-15% more bytes. The old store kept about 2,900 B/event.

use std::borrow::Cow;
use std::fmt;

use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DDict};

use super::frame::{self, FrameError, Span};
use crate::event::{ClosedBy, Event};

/// The blob format this code writes and reads.
pub const FORMAT: u8 = 1;

/// The largest decompressed frame accepted (a blob claiming more is refused before any allocation).
pub const MAX_FRAME: u64 = 64 << 20;

/// zstd's frame magic number, little-endian: the blob leaves it out.
const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A zstd dictionary's magic number, little-endian.
const DICT_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

/// The zstd level of new blobs.
pub const LEVEL: i32 = 3;

/// The dictionaries compiled in: (version, bytes). The last is the newest.
const BUILTIN: &[(u32, &[u8])] = &[(1, include_bytes!("dict/v1.zdict"))];

/// Why a blob could not be read (or a dictionary not loaded): one line for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

fn corrupt(what: &str) -> CodecError {
    CodecError(format!("corrupt event blob: {what}"))
}

/// One dictionary: its version, bytes (loaded into the compressor when it is the newest) and the
/// decompression form zstd digested once.
struct Dictionary {
    version: u32,
    bytes: Cow<'static, [u8]>,
    ddict: DDict<'static>,
}

/// A blob read back: the records' exact bytes, how the event was closed and its dropped duplicates.
#[derive(Clone, Debug)]
pub struct DecodedEvent {
    /// how the event was closed
    pub closed_by: ClosedBy,
    /// records dropped as exact duplicates
    pub duplicates: u32,
    /// the decompressed frame
    frame: Vec<u8>,
    /// its records
    spans: Vec<Span>,
}

impl Default for DecodedEvent {
    fn default() -> Self {
        DecodedEvent {
            closed_by: ClosedBy::Flush,
            duplicates: 0,
            frame: Vec::new(),
            spans: Vec::new(),
        }
    }
}

impl DecodedEvent {
    /// The records' exact bytes, in order (no line terminator).
    pub fn records(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.spans
            .iter()
            .map(|s| self.frame.get(s.text.clone()).unwrap_or_default())
    }

    /// The event again: records parsed from their text as they first were, closed_by and duplicates.
    pub fn to_event(&self) -> Event {
        let records: Vec<_> = self
            .spans
            .iter()
            .map(|s| frame::record_of(&self.frame, s))
            .collect();
        let first = records.first();
        let (sec, msec) = first.map_or((0, 0), |r| (r.sec, r.msec));
        Event {
            node: first.and_then(|r| r.node.clone()),
            sec,
            msec,
            serial: first.map_or(0, |r| r.serial),
            closed_by: self.closed_by,
            duplicates: self.duplicates,
            seq: 0,
            began: 0,
            seen: sec as f64 + msec as f64 / 1000.0,
            records,
        }
    }
}

/// A compression context at `level` writing the frames blobs hold (content size, no checksum, no dictionary
/// id), without a dictionary yet.
fn compressor(level: i32) -> CCtx<'static> {
    let mut cctx = CCtx::create();
    for p in [
        CParameter::CompressionLevel(level),
        CParameter::ContentSizeFlag(true),
        CParameter::ChecksumFlag(false),
        CParameter::DictIdFlag(false),
    ] {
        // valid parameters for every zstd build, the level clamped: cannot fail
        let _ = cctx.set_parameter(p);
    }
    cctx
}

fn closed_code(c: ClosedBy) -> u8 {
    match c {
        ClosedBy::Eoe => 0,
        ClosedBy::Single => 1,
        ClosedBy::Window => 2,
        ClosedBy::Flush => 3,
        ClosedBy::Late => 4,
        ClosedBy::Error => 5,
    }
}

fn closed_of(code: u8) -> Option<ClosedBy> {
    Some(match code {
        0 => ClosedBy::Eoe,
        1 => ClosedBy::Single,
        2 => ClosedBy::Window,
        3 => ClosedBy::Flush,
        4 => ClosedBy::Late,
        5 => ClosedBy::Error,
        _ => return None,
    })
}

/// Encodes events to blobs and decodes them, with one compression and one decompression context reused.
pub struct Codec {
    /// sorted by version; the last is the newest
    dicts: Vec<Dictionary>,
    level: i32,
    cctx: CCtx<'static>,
    /// the dictionary version loaded into `cctx`, if any
    loaded: Option<u32>,
    dctx: DCtx<'static>,
    /// the frame being compressed, or the magic and frame being decompressed
    scratch: Vec<u8>,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new()
    }
}

impl Codec {
    /// A codec with the compiled-in dictionaries; new blobs use the newest at level [`LEVEL`].
    pub fn new() -> Self {
        let dicts = BUILTIN
            .iter()
            .map(|&(version, bytes)| Dictionary {
                version,
                bytes: Cow::Borrowed(bytes),
                ddict: DDict::create(bytes),
            })
            .collect();
        Codec {
            dicts,
            level: LEVEL,
            cctx: compressor(LEVEL),
            loaded: None,
            dctx: DCtx::create(),
            scratch: Vec::new(),
        }
    }

    /// Adds dictionary `version` (a store's own, which this program may lack); it replaces a dictionary
    /// of the same version, and new blobs use it when it is the newest.
    pub fn with_extra_dictionary(mut self, version: u32, bytes: &[u8]) -> Result<Self, CodecError> {
        // a trained dictionary opens with zstd's dictionary magic (other bytes would load as raw content)
        let ddict = Some(bytes)
            .filter(|b| b.starts_with(&DICT_MAGIC))
            .and_then(DDict::try_create)
            .ok_or_else(|| CodecError(format!("dictionary {version} is not a zstd dictionary")))?;
        self.dicts.retain(|d| d.version != version);
        self.dicts.push(Dictionary {
            version,
            bytes: Cow::Owned(bytes.to_vec()),
            ddict,
        });
        self.dicts.sort_by_key(|d| d.version);
        self.loaded = None;
        Ok(self)
    }

    /// Sets the zstd level of new blobs (clamped to zstd's range).
    pub fn set_level(&mut self, level: i32) {
        self.level = level.clamp(zstd_safe::min_c_level(), zstd_safe::max_c_level());
        self.cctx = compressor(self.level);
        self.loaded = None;
    }

    /// The zstd level of new blobs.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// The dictionary version new blobs use.
    pub fn newest(&self) -> u32 {
        self.dicts.last().map_or(0, |d| d.version)
    }

    /// The bytes of dictionary `version`, when known (a store keeps the dictionaries its blobs use).
    pub fn dictionary(&self, version: u32) -> Option<&[u8]> {
        self.dicts
            .iter()
            .find(|d| d.version == version)
            .map(|d| d.bytes.as_ref())
    }

    /// The dictionary versions known, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.dicts.iter().map(|d| d.version)
    }

    /// The blob of `ev`.
    pub fn encode(&mut self, ev: &Event) -> Vec<u8> {
        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        frame::write_event(ev, &mut frame);
        let mut out = Vec::with_capacity(16 + zstd_safe::compress_bound(frame.len()));
        self.encode_frame(&frame, ev.closed_by, ev.duplicates, &mut out);
        self.scratch = frame;
        out
    }

    /// The blob of `ev`, appended to `out`.
    pub fn encode_into(&mut self, ev: &Event, out: &mut Vec<u8>) {
        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        frame::write_event(ev, &mut frame);
        self.encode_frame(&frame, ev.closed_by, ev.duplicates, out);
        self.scratch = frame;
    }

    /// A blob of an already framed event (see [`frame::write_event`]), appended to `out`.
    pub fn encode_frame(
        &mut self,
        frame: &[u8],
        closed_by: ClosedBy,
        duplicates: u32,
        out: &mut Vec<u8>,
    ) {
        let version = self.newest();
        if self.loaded != Some(version) {
            if let Some(d) = self.dicts.last() {
                // a dictionary that loaded as a DDict loads here too; on failure blobs go without one
                let _ = self.cctx.load_dictionary(&d.bytes);
            }
            self.loaded = Some(version);
        }
        out.push(FORMAT);
        frame::put_varint(out, u64::from(version));
        let code = closed_code(closed_by) | if duplicates != 0 { 8 } else { 0 };
        out.push(code);
        if duplicates != 0 {
            frame::put_varint(out, u64::from(duplicates));
        }
        let start = out.len();
        out.resize(start + zstd_safe::compress_bound(frame.len()), 0);
        let mut written = self.cctx.compress2(&mut out[start..], frame);
        if written.is_err() {
            // only an allocation failure inside zstd gets here: a fresh context, once more
            self.cctx = compressor(self.level);
            if let Some(d) = self.dicts.last() {
                let _ = self.cctx.load_dictionary(&d.bytes);
            }
            written = self.cctx.compress2(&mut out[start..], frame);
        }
        // on failure the blob holds no frame, and decode reports it corrupt
        out.truncate(start + written.unwrap_or(0));
        // the magic number opens every zstd frame: left out
        if out.get(start..start + 4) == Some(&MAGIC[..]) {
            out.drain(start..start + 4);
        }
    }

    /// Reads a blob back.
    /// Whether two blobs hold the same records, byte for byte (blobs differ when the dictionary or the
    /// `closed_by` does); a blob that does not decode holds none.
    pub fn same_records(&mut self, a: &[u8], b: &[u8]) -> bool {
        match (self.decode(a), self.decode(b)) {
            (Ok(x), Ok(y)) => x.records().eq(y.records()),
            _ => false,
        }
    }

    pub fn decode(&mut self, blob: &[u8]) -> Result<DecodedEvent, CodecError> {
        let mut ev = DecodedEvent::default();
        self.decode_into(blob, &mut ev)?;
        Ok(ev)
    }

    /// Reads a blob back into `ev`, reusing its buffers.
    pub fn decode_into(&mut self, blob: &[u8], ev: &mut DecodedEvent) -> Result<(), CodecError> {
        ev.frame.clear();
        ev.spans.clear();
        let mut pos = 0;
        let format = *blob.first().ok_or_else(|| corrupt("empty"))?;
        if format != FORMAT {
            return Err(CodecError(format!(
                "event blob of format {format}, which this auditsql does not read (it reads {FORMAT})"
            )));
        }
        pos += 1;
        let version = frame::get_varint(blob, &mut pos).map_err(|_| corrupt("bad header"))?;
        let code = *blob.get(pos).ok_or_else(|| corrupt("bad header"))?;
        pos += 1;
        ev.closed_by = closed_of(code & 7).ok_or_else(|| corrupt("bad closed_by"))?;
        if code & !15 != 0 {
            return Err(corrupt("bad header"));
        }
        ev.duplicates = if code & 8 != 0 {
            let n = frame::get_varint(blob, &mut pos).map_err(|_| corrupt("bad header"))?;
            u32::try_from(n).map_err(|_| corrupt("bad duplicates count"))?
        } else {
            0
        };
        let dict = u32::try_from(version)
            .ok()
            .and_then(|v| self.dicts.iter().find(|d| d.version == v))
            .ok_or_else(|| {
                CodecError(format!(
                    "blob uses dictionary {version}, which this auditsql does not have"
                ))
            })?;
        let body = blob.get(pos..).unwrap_or_default();
        self.scratch.clear();
        self.scratch.extend_from_slice(&MAGIC);
        self.scratch.extend_from_slice(body);
        let size = match zstd_safe::get_frame_content_size(&self.scratch) {
            Ok(Some(n)) => n,
            Ok(None) => return Err(corrupt("no content size")),
            Err(_) => return Err(corrupt("bad zstd frame")),
        };
        if size > MAX_FRAME {
            return Err(CodecError(format!(
                "event blob claims {size} bytes, more than the {MAX_FRAME} allowed"
            )));
        }
        // size <= 64 MiB fits usize
        ev.frame.reserve_exact(size as usize);
        let n = self
            .dctx
            .decompress_using_ddict(&mut ev.frame, &self.scratch, &dict.ddict)
            .map_err(|e| corrupt(zstd_safe::get_error_name(e)))?;
        if n as u64 != size {
            return Err(corrupt("size differs from the header's"));
        }
        frame::read_frame(&ev.frame, &mut ev.spans).map_err(|e| match e {
            FrameError::Truncated => corrupt("records cut short"),
            FrameError::Invalid => corrupt("bad record framing"),
        })
    }
}
