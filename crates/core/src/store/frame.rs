//! The bytes the store compresses for one event: its records, each length-prefixed, with what it takes to
//! parse the record again to the same [`Record`].
//!
//! Per record: a LEB128 tag `len << 3 | how << 1 | has_error`, the `len` bytes of its text, then for a
//! netlink record its type (LEB128), then when `has_error` its error (LEB128 `n`: 0 no error, else `n - 1`
//! bytes of UTF-8). `how`: 0 a log line, 1 a log line with ENRICHED detection, 2 a netlink message,
//! 3 a bare error record (text and error only).
//!
//! Almost every record is a log line or netlink message that parses again as it did: its tag and text are
//! all it needs. Records with an error, a second `msg=audit(` stamp, or an upper-case key before any 0x1d
//! (where ENRICHED detection may read them differently) are parsed again while encoding, to find how they
//! were made (and to keep an error the parser does not give, such as a truncated datagram).

use std::ops::Range;
use std::sync::OnceLock;

use memchr::memmem;

use crate::event::Event;
use crate::record::parse::{parse_netlink, parse_text, split_enrichment, type_name};
use crate::record::Record;

/// The searcher for `msg=audit(` (a second stamp in a record), built once: a constant, not state.
fn msg_audit() -> &'static memmem::Finder<'static> {
    static FINDER: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    FINDER.get_or_init(|| memmem::Finder::new(b"msg=audit("))
}

/// How a record is made again from its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reparse {
    /// one log line: `parse_text(text, detect)` (`detect`: ENRICHED tails after a space too)
    Line { detect: bool },
    /// one netlink message of type `rtype`: its payload is the text after `type=NAME msg=`
    Netlink { rtype: u32 },
    /// neither: a record with this text, the stored error, and nothing else (a run of NUL bytes)
    Bare,
}

/// One record in a decoded frame: ranges into the frame's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// the record's exact text
    pub text: Range<usize>,
    /// how it is parsed again
    pub how: Reparse,
    /// `Some(None)`: no error; `Some(Some(range))`: this error (UTF-8); `None`: the parser's own
    pub error: Option<Option<Range<usize>>>,
}

/// Why a frame could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// it ends inside a record
    Truncated,
    /// a tag or number that no encoder writes
    Invalid,
}

/// Appends `v` as LEB128.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 number at `*pos` (at most 10 bytes), advancing `pos`.
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64, FrameError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err(FrameError::Truncated);
        };
        *pos += 1;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(FrameError::Invalid);
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(FrameError::Invalid)
}

/// `type=NAME msg=` of a netlink record of type `rtype` (what [`parse_netlink`] puts before the payload).
fn netlink_prefix_len(text: &[u8], rtype: u32) -> Option<usize> {
    let name = type_name(rtype);
    let rest = text.strip_prefix(b"type=")?;
    let rest = rest.strip_prefix(name.as_bytes())?;
    rest.strip_prefix(b" msg=")?;
    Some(5 + name.len() + 5)
}

/// The record `how` makes of `text` (error as the parser gives it), None when it does not make one record.
pub fn reparse(text: &[u8], how: Reparse) -> Option<Record> {
    match how {
        Reparse::Line { detect } => {
            let mut v = parse_text(text, detect);
            if v.len() == 1 {
                v.pop()
            } else {
                None
            }
        }
        Reparse::Netlink { rtype } => {
            let payload = text.get(netlink_prefix_len(text, rtype)?..)?;
            let rec = parse_netlink(rtype, payload);
            (rec.text == text).then_some(rec)
        }
        Reparse::Bare => Some(Record {
            text: text.to_vec(),
            ..Record::default()
        }),
    }
}

/// Could ENRICHED detection change how `raw` (a body before any 0x1d) is read? Only when a run of key
/// bytes before some `=` holds an upper-case letter or a non-ASCII byte (an upper-case key, glued or not,
/// or a key the tokenizer treats as one). Linear: each backward run stops at the previous `=`.
fn detection_matters(raw: &[u8]) -> bool {
    memchr::memchr_iter(b'=', raw).any(|eq| {
        raw.get(..eq)
            .unwrap_or_default()
            .iter()
            .rev()
            .take_while(|&&c| !matches!(c, b' ' | b'\t' | b'='))
            .any(|&c| c.is_ascii_uppercase() || c >= 0x80)
    })
}

/// Equal but for the error.
fn same_but_error(a: &Record, b: &Record) -> bool {
    a.text == b.text
        && a.node == b.node
        && a.rtype == b.rtype
        && a.name == b.name
        && (a.sec, a.msec, a.serial) == (b.sec, b.msec, b.serial)
        && a.body_start == b.body_start
        && a.fields == b.fields
        && a.enrich == b.enrich
}

/// How `rec` is made again, and the error to store when the parser would not give it (`Some(None)`: none).
fn how_of(rec: &Record) -> (Reparse, Option<Option<&str>>) {
    let detect = !rec.enrich.is_empty();
    let body = rec.body();
    let plain = rec.error.is_none()
        && msg_audit().find(body).is_none()
        && !detection_matters(split_enrichment(body).0);
    if plain {
        return (Reparse::Line { detect }, None);
    }
    // rare: find out by parsing again
    let candidates = [
        Reparse::Line { detect },
        Reparse::Line { detect: !detect },
        Reparse::Netlink { rtype: rec.rtype },
        Reparse::Bare,
    ];
    for how in candidates {
        if let Some(again) = reparse(&rec.text, how) {
            if same_but_error(&again, rec) {
                let error = (again.error != rec.error).then_some(rec.error.as_deref());
                return (how, error);
            }
        }
    }
    // no way found (not seen): the text and error are kept, the rest is what the parser makes of the text
    (Reparse::Line { detect }, Some(rec.error.as_deref()))
}

/// Appends the frame of `ev`'s records to `out`.
pub fn write_event(ev: &Event, out: &mut Vec<u8>) {
    for rec in &ev.records {
        write_record(rec, out);
    }
}

/// Appends the frame of one record to `out`.
pub fn write_record(rec: &Record, out: &mut Vec<u8>) {
    let (how, error) = how_of(rec);
    let code = match how {
        Reparse::Line { detect: false } => 0,
        Reparse::Line { detect: true } => 1,
        Reparse::Netlink { .. } => 2,
        Reparse::Bare => 3,
    };
    let tag = (rec.text.len() as u64) << 3 | code << 1 | u64::from(error.is_some());
    put_varint(out, tag);
    out.extend_from_slice(&rec.text);
    if let Reparse::Netlink { rtype } = how {
        put_varint(out, u64::from(rtype));
    }
    if let Some(error) = error {
        match error {
            None => put_varint(out, 0),
            Some(e) => {
                put_varint(out, e.len() as u64 + 1);
                out.extend_from_slice(e.as_bytes());
            }
        }
    }
}

/// `n` bytes at `*pos`, advancing it.
fn take(buf: &[u8], pos: &mut usize, n: u64) -> Result<Range<usize>, FrameError> {
    let n = usize::try_from(n).map_err(|_| FrameError::Truncated)?;
    let end = pos.checked_add(n).ok_or(FrameError::Truncated)?;
    if end > buf.len() {
        return Err(FrameError::Truncated);
    }
    let r = *pos..end;
    *pos = end;
    Ok(r)
}

/// The records of a frame, appended to `spans` (validated: every range lies in `buf`, errors are UTF-8).
pub fn read_frame(buf: &[u8], spans: &mut Vec<Span>) -> Result<(), FrameError> {
    let mut pos = 0;
    while pos < buf.len() {
        let tag = get_varint(buf, &mut pos)?;
        let text = take(buf, &mut pos, tag >> 3)?;
        let how = match (tag >> 1) & 3 {
            0 => Reparse::Line { detect: false },
            1 => Reparse::Line { detect: true },
            2 => {
                let rtype = get_varint(buf, &mut pos)?;
                let rtype = u32::try_from(rtype).map_err(|_| FrameError::Invalid)?;
                Reparse::Netlink { rtype }
            }
            _ => Reparse::Bare,
        };
        let error = if tag & 1 == 1 {
            match get_varint(buf, &mut pos)? {
                0 => Some(None),
                n => {
                    let r = take(buf, &mut pos, n - 1)?;
                    if std::str::from_utf8(buf.get(r.clone()).unwrap_or_default()).is_err() {
                        return Err(FrameError::Invalid);
                    }
                    Some(Some(r))
                }
            }
        } else {
            None
        };
        spans.push(Span { text, how, error });
    }
    Ok(())
}

/// The record a span stands for, as the event held it.
pub fn record_of(buf: &[u8], span: &Span) -> Record {
    let text = buf.get(span.text.clone()).unwrap_or_default();
    let mut rec = reparse(text, span.how).unwrap_or_else(|| match parse_text(text, false).pop() {
        // not one record (a frame no encoder wrote): the last piece keeps the whole text
        Some(r) => Record {
            text: text.to_vec(),
            ..r
        },
        None => Record {
            text: text.to_vec(),
            body_start: text.len(),
            ..Record::default()
        },
    });
    if let Some(error) = &span.error {
        rec.error = error.as_ref().map(|r| {
            let b = buf.get(r.clone()).unwrap_or_default();
            String::from_utf8_lossy(b).into_owned()
        });
    }
    rec
}
