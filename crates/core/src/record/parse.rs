//! Text → records: lines and netlink messages, headers, several records run together on one line. (Port of
//! records/parser.py; the bodies are [`super::tokenize`]'s.)
//!
//! The Python parser's regular expressions are replaced by hand-written matchers with the same results, in
//! linear time. Nothing is dropped: a line that does not parse becomes a [`Record`] with `error` set and its
//! text kept.
use super::tokenize::{
    at, char_prefix, decimal_digit_len, decimal_run, run, slice, starts_at, Span,
};
use super::{msgtypes, Record};
use crate::interpret::py;
use memchr::{memchr2, memmem};
use std::sync::OnceLock;

/// The searcher for `msg=audit(` (a second record on the line), built once: a constant, not state.
fn msg_audit() -> &'static memmem::Finder<'static> {
    static FINDER: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    FINDER.get_or_init(|| memmem::Finder::new(b"msg=audit("))
}

pub use super::tokenize::{parse_nested, split_enrichment, tokenize};

/// 9999-12-31T23:59:59Z + 1 s: a `sec` at or past it is an error record.
const SEC_LIMIT: u64 = 253_402_300_800;
/// The longest number of a header's `audit(SEC.MSEC:SERIAL)` stamp (Python's `[0-9]{1,20}`).
const STAMP_DIGITS: usize = 20;
/// Error of a line with no `type=` header.
pub const NOT_AUDIT: &str = "not an audit record (no type= header)";
/// Error of a record whose `sec` or `msec` does not fit (u64, or `sec` past the year 9999).
pub const TIMESTAMP_RANGE: &str = "timestamp out of range";
/// Error of a record whose serial does not fit a u64.
pub const SERIAL_RANGE: &str = "serial out of range";

/// A type name byte: `[A-Za-z0-9_]`.
fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A decimal number of ASCII digits, None if it does not fit a u64.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?
            .checked_add(u64::from(d.wrapping_sub(b'0')))
    })
}

// -- headers ----------------------------------------------------------------------------------------------

/// What the header `[node=N ]type=T msg=audit(SEC.MSEC:SERIAL):` matched: spans into the text.
struct Header {
    node: Option<Span>,
    name: Span,
    sec: Span,
    msec: Span,
    serial: Span,
    /// where the body starts
    end: usize,
}

/// `[node=N +]type=` at `i`: the node's span (None without `node=`) and where the type name starts; None
/// when there is no `type=` there (`min_node`: the shortest node).
fn match_node(s: &[u8], i: usize, min_node: usize) -> Option<(Option<Span>, usize)> {
    if !starts_at(s, i, b"node=") {
        return starts_at(s, i, b"type=").then_some((None, i + 5));
    }
    let start = i + 5;
    let end = run(s, start, |c| c != b' ' && c != b'\t');
    let spaces = run(s, end, |c| c == b' ');
    (end - start >= min_node && spaces > end && starts_at(s, spaces, b"type="))
        .then_some((Some((start, end)), spaces + 5))
}

/// A type name `[A-Za-z0-9_]+(\[\d+\])?` at `i` (`\d`: any Unicode decimal digit, as in Python's `re`):
/// (end without the bracket, end with it if there is one).
fn match_type_name(s: &[u8], i: usize) -> Option<(usize, Option<usize>)> {
    let end = run(s, i, is_name_byte);
    if end == i {
        return None;
    }
    let bracket = if at(s, end) == Some(b'[') {
        let digits = decimal_run(s, end + 1);
        (digits > end + 1 && at(s, digits) == Some(b']')).then_some(digits + 1)
    } else {
        None
    };
    Some((end, bracket))
}

/// `[0-9]{1,20}` followed by `stop` at `i`: the digits' span.
fn match_stamp_number(s: &[u8], i: usize, stop: u8) -> Option<Span> {
    let end = run(s, i, |c| c.is_ascii_digit());
    (end > i && end - i <= STAMP_DIGITS && at(s, end) == Some(stop)).then_some((i, end))
}

/// The normal header at `i` (Python's `_HEADER.match(text, i)`).
fn match_header(s: &[u8], i: usize) -> Option<Header> {
    let (node, i) = match_node(s, i, 0)?;
    let (plain, bracket) = match_type_name(s, i)?;
    // ` +` must follow the name (with its bracket if that is followed by a space)
    let name_end = match bracket {
        Some(b) if at(s, b) == Some(b' ') => b,
        _ => plain,
    };
    let spaces = run(s, name_end, |c| c == b' ');
    if spaces == name_end || !starts_at(s, spaces, b"msg=audit(") {
        return None;
    }
    let sec = match_stamp_number(s, spaces + 10, b'.')?;
    let msec = match_stamp_number(s, sec.1 + 1, b':')?;
    let serial = match_stamp_number(s, msec.1 + 1, b')')?;
    // `):` or `)` before a space, then one optional space
    let mut end = serial.1 + 1;
    match at(s, end) {
        Some(b':') => end += 1,
        Some(b' ') => {}
        _ => return None,
    }
    if at(s, end) == Some(b' ') {
        end += 1;
    }
    Some(Header {
        node,
        name: (i, name_end),
        sec,
        msec,
        serial,
        end,
    })
}

/// A header without a normal stamp (Python's `_BAD_HEADER`): `(node, type name, where the rest starts)`;
/// the rest is what follows the spaces after the name, None when the name ends the text.
fn match_bad_header(s: &[u8]) -> Option<(Option<Span>, Span, Option<usize>)> {
    let (node, i) = match_node(s, 0, 0)?;
    let (plain, bracket) = match_type_name(s, i)?;
    for end in bracket.into_iter().chain([plain]) {
        match at(s, end) {
            None => return Some((node, (i, end), None)),
            Some(b' ') => return Some((node, (i, end), Some(run(s, end, |c| c == b' ')))),
            Some(_) => {}
        }
    }
    None
}

/// Where a second record starts on the same line, searching from `from` (Python's `_NEXT_RECORD`): the
/// span of the spaces and tabs before `[node=N +]type=T +msg=audit(DIGIT`.
fn next_record(s: &[u8], from: usize) -> Option<Span> {
    let mut pos = from;
    loop {
        let start = pos + memchr2(b' ', b'\t', s.get(pos..)?)?;
        let end = run(s, start, |c| c == b' ' || c == b'\t');
        if next_header_follows(s, end) {
            return Some((start, end));
        }
        pos = end;
    }
}

/// The lookahead of `_NEXT_RECORD` at `i`.
fn next_header_follows(s: &[u8], i: usize) -> bool {
    let Some((_, i)) = match_node(s, i, 1) else {
        return false;
    };
    let Some((plain, bracket)) = match_type_name(s, i) else {
        return false;
    };
    bracket.into_iter().chain([plain]).any(|end| {
        let spaces = run(s, end, |c| c == b' ');
        spaces > end && starts_at(s, spaces, b"msg=audit(") && decimal_digit_len(s, spaces + 10) > 0
    })
}

/// The record type number of a type name: the table's, `n` of `UNKNOWN[n]`, else 0.
fn type_of(name: &[u8]) -> u32 {
    if let Some(n) = msgtypes::type_number(name) {
        return n;
    }
    match name
        .strip_prefix(b"UNKNOWN[")
        .and_then(|r| r.strip_suffix(b"]"))
    {
        Some(d) if (1..=10).contains(&d.len()) && d.iter().all(u8::is_ascii_digit) => parse_u64(d)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// The name of record type `n`: the table's, else `UNKNOWN[n]`.
pub fn type_name(n: u32) -> std::borrow::Cow<'static, str> {
    match msgtypes::type_name(n) {
        Some(name) => name.into(),
        None => format!("UNKNOWN[{n}]").into(),
    }
}

/// A record from `text` and its header; `rtype`: the type number if known (netlink), else from the name.
fn record(text: &[u8], h: &Header, detect: bool, rtype: Option<u32>) -> Record {
    let name = slice(text, h.name);
    let mut rec = Record {
        text: text.to_vec(),
        node: h.node.map(|n| slice(text, n).to_vec()),
        rtype: rtype.unwrap_or_else(|| type_of(name)),
        name: name.to_vec(),
        body_start: h.end,
        ..Record::default()
    };
    let stamp = (
        parse_u64(slice(text, h.sec)).filter(|&s| s < SEC_LIMIT),
        parse_u64(slice(text, h.msec)),
        parse_u64(slice(text, h.serial)),
    );
    match stamp {
        (Some(sec), Some(msec), Some(serial)) => {
            (rec.sec, rec.msec, rec.serial) = (sec, msec, serial);
            (rec.fields, rec.enrich) = tokenize(text.get(h.end..).unwrap_or_default(), detect);
        }
        (Some(_), Some(_), None) => rec.error = Some(SERIAL_RANGE.to_owned()),
        _ => rec.error = Some(TIMESTAMP_RANGE.to_owned()),
    }
    rec
}

/// A line without the normal header: kept, with the reason.
fn odd(text: &[u8]) -> Record {
    let Some((node, name, rest)) = match_bad_header(text) else {
        return Record {
            text: text.to_vec(),
            body_start: text.len(),
            error: Some(NOT_AUDIT.to_owned()),
            ..Record::default()
        };
    };
    let body_start = rest.unwrap_or(text.len());
    let name_bytes = slice(text, name);
    Record {
        text: text.to_vec(),
        node: node.map(|n| slice(text, n).to_vec()),
        rtype: type_of(name_bytes),
        name: name_bytes.to_vec(),
        body_start,
        error: Some(format!(
            "no audit(SEC.MSEC:SERIAL) stamp in header: {}",
            py::repr(char_prefix(text.get(body_start..).unwrap_or_default(), 40))
        )),
        ..Record::default()
    }
}

/// One record of a line run together with others: its header after leading spaces and tabs.
fn one(text: &[u8], detect: bool) -> Record {
    let lead = run(text, 0, |c| c == b' ' || c == b'\t');
    match match_header(text, lead) {
        Some(h) => record(text, &h, detect, None),
        None => odd(text),
    }
}

/// Parse one physical line (no terminator) into its records: usually one, several when run together.
pub fn parse_text(text: &[u8], detect: bool) -> Vec<Record> {
    let Some(&first) = text.first() else {
        return Vec::new();
    };
    let mut header = match_header(text, 0);
    if header.is_none() && (first == b' ' || first == b'\t') {
        let lead = run(text, 0, |c| c == b' ' || c == b'\t');
        if lead == text.len() {
            return Vec::new();
        }
        header = match_header(text, lead);
    }
    let Some(h) = header else {
        return vec![odd(text)];
    };
    // search from the stamp's end: the header may have eaten the space before a second record
    let more = msg_audit()
        .find(text.get(h.end..).unwrap_or_default())
        .is_some();
    let Some(mut next) = more.then(|| next_record(text, h.serial.1)).flatten() else {
        return vec![record(text, &h, detect, None)];
    };
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let chunk = slice(text, (start, next.0));
        // the space after the next record's own node= prefix is not a boundary
        if !(chunk.starts_with(b"node=") && memchr2(b' ', b'\t', chunk).is_none()) {
            out.push(one(chunk, detect));
            start = next.1;
        }
        match next_record(text, next.1) {
            Some(n) => next = n,
            None => break,
        }
    }
    out.push(one(text.get(start..).unwrap_or_default(), detect));
    out
}

/// Parse one line as read from a file or socket (a `\n` or `\r\n` terminator allowed) into its records:
/// usually one, several when run together. `detect`: ENRICHED tails are detected (upper-case keys after a
/// space or glued to a value) and not only after a 0x1d byte.
pub fn parse_line(line: &[u8], detect: bool) -> Vec<Record> {
    let line = match line.strip_suffix(b"\n") {
        Some(l) => l.strip_suffix(b"\r").unwrap_or(l),
        None => line,
    };
    parse_text(line, detect)
}

/// One record from a NETLINK_AUDIT message: its nlmsg_type and payload (`audit(SEC.MSEC:SERIAL): ...`).
/// Always exactly one record.
///
/// The text is what auditd would log for it (`type=NAME msg=` + payload; trailing NULs and newlines of
/// user-space messages removed); the type is the netlink type, whatever the text says. A payload that
/// holds something looking like a second record header (user-supplied AUDIT_USER text) is not split.
pub fn parse_netlink(msg_type: u32, payload: &[u8]) -> Record {
    let end = payload
        .iter()
        .rposition(|&c| c != 0 && c != b'\n')
        .map_or(0, |i| i + 1);
    let name = type_name(msg_type);
    let mut text = Vec::with_capacity(name.len() + 10 + end);
    text.extend_from_slice(b"type=");
    text.extend_from_slice(name.as_bytes());
    text.extend_from_slice(b" msg=");
    text.extend_from_slice(payload.get(..end).unwrap_or_default());
    match match_header(&text, 0) {
        Some(h) => record(&text, &h, false, Some(msg_type)),
        None => Record {
            rtype: msg_type,
            ..odd(&text)
        },
    }
}
