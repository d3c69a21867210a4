//! Value helpers of the row mappers the tree needs: Python's `tables._common.text` and `event_columns`, and
//! a JSON value as an SQL cell.
//!
//! TODO(lead): fold into the rows/ helpers (`rows::common::text` or similar) once core-rows lands; these are
//! private equivalents so the tree builds on its own.

use serde_json::Value;

use crate::rows::{Cell, Object};

/// Python's `text(value)`: an encoded string (`%xx` escapes) → readable text (UTF-8, invalid bytes as
/// `\xNN`, NUL as `\x00`); a number or bool → its Python `str()`; None stays None. (A list or object,
/// which Python would write as its repr, is written as compact JSON.)
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(text_str(s)),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        Value::Number(n) => Some(number_str(n)),
        other => Some(other.to_string()),
    }
}

/// `text()` of a string.
pub(crate) fn text_str(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let mut out = decode_backslashreplace(&unescape(s.as_bytes()));
    if out.contains('\0') {
        out = out.replace('\0', "\\x00");
    }
    out
}

/// `%xx` (either hex case) → the byte; everything else as is (`auditsql.records.encoding.unescape`).
fn unescape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Python's `bytes.decode("utf-8", "backslashreplace")`: every byte of an invalid sequence → `\xNN`.
pub(crate) fn decode_backslashreplace(mut b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    loop {
        match std::str::from_utf8(b) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, rest) = b.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len());
                let (bad, rest) = rest.split_at(bad.min(rest.len()));
                for byte in bad {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
                b = rest;
            }
        }
    }
}

/// Python's `str()` of a JSON number: an int as is, a float as its `repr`.
fn number_str(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) => float_repr(f),
        None => n.to_string(),
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, positional for exponents -4..16, else
/// scientific with a signed two-digit-minimum exponent (`1e+16`, `1.5e-05`).
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{f:e}"); // "-1.2345e3": shortest digits
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        return if s.contains('.') { s } else { s + ".0" };
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.unsigned_abs())
}

/// A summary value as Python hands it to sqlite: ints (bools as 0/1), floats and text as they are
/// (text not decoded), None as NULL. An int beyond i64 (sqlite would refuse it) becomes a REAL, a list
/// or object (sqlite would refuse it) its JSON text.
pub(crate) fn cell(value: Option<&Value>) -> Cell {
    match value {
        None | Some(Value::Null) => Cell::Null,
        Some(Value::Bool(b)) => Cell::Int(i64::from(*b)),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => n.as_f64().map_or(Cell::Null, Cell::Real),
        },
        Some(Value::String(s)) => Cell::Text(s.clone()),
        Some(other) => Cell::Text(other.to_string()),
    }
}

/// Python's `isinstance(v, int)` and the value: ints within i64, bools as 0/1.
pub(crate) fn int_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Python's `int(s)` for decimal text: surrounding whitespace, a sign, digits with single `_` between.
pub(crate) fn py_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if !valid_underscores(digits, |c| c.is_ascii_digit()) {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.bytes().filter(|&c| c != b'_') {
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

/// Python's `int(s, 16)`, reduced modulo 2^64 (two's complement for a negative value): the low bits are
/// all the tree tests (`& 0xFF`, clone flags). Accepts whitespace, a sign, an optional `0x`, `_`s.
pub(crate) fn py_hex_low64(s: &str) -> Option<u64> {
    let s = s.trim();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = match rest.get(..2) {
        Some("0x" | "0X") => {
            let d = &rest[2..];
            d.strip_prefix('_').unwrap_or(d)
        }
        _ => rest,
    };
    if !valid_underscores(digits, |c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut v: u64 = 0;
    for c in digits.bytes().filter(|&c| c != b'_') {
        v = v
            .wrapping_mul(16)
            .wrapping_add(u64::from(hex(c).unwrap_or(0)));
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Non-empty, every char a digit or a `_` between two digits.
fn valid_underscores(s: &str, digit: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !digit(b[0]) || !digit(b[b.len() - 1]) {
        return false;
    }
    b.windows(2)
        .all(|w| (digit(w[0]) || w[0] == b'_') && (digit(w[1]) || (w[1] == b'_' && w[0] != b'_')))
}

/// Python's `tables._common.event_columns`: (time, uptime, eid) of an event: the `ID`'s whole seconds, the
/// seconds since boot when `uptime_base` is known, and `[NODE:]SEC.MSEC:SERIAL`.
pub(crate) fn event_columns(
    event: &Object,
    uptime_base: Option<f64>,
) -> (i64, Option<i64>, String) {
    let eid = match event.get("ID") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        _ => "0.000:0",
    };
    // Python slices with str.find's -1 as an index: `eid[:-1]` when there is no dot, and so on.
    let dot = eid.find('.');
    let start = dot.map_or(0, |d| d + 1);
    let colon = eid[start..].find(':').map(|c| c + start);
    let sec_s = match dot {
        Some(d) => &eid[..d],
        None => py_slice_to_last(eid),
    };
    let msec_s = match colon {
        Some(c) => &eid[start..c],
        None => py_slice_to_last(&eid[start..]),
    };
    let (sec, msec) = match (py_int(sec_s), py_int(msec_s)) {
        (Some(s), Some(m)) => (s, m),
        _ => (0, 0),
    };
    let uptime = match uptime_base {
        Some(base) if sec != 0 => Some(py_trunc(
            (sec as f64 + msec as f64 / 1000.0 - base).max(0.0),
        )),
        _ => None,
    };
    let eid = match node_str(event) {
        Some(n) => format!("{n}:{eid}"),
        None => eid.to_string(),
    };
    (sec, uptime, eid)
}

/// `s[:-1]`: all but the last character.
fn py_slice_to_last(s: &str) -> &str {
    match s.char_indices().last() {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Python's `int(float)` (truncation), saturating where Python would raise (inf, nan → 0).
pub(crate) fn py_trunc(f: f64) -> i64 {
    f as i64
}

/// The event's `NODE` when truthy, as Python's f-string writes it (a string as is).
pub(crate) fn node_str(event: &Object) -> Option<String> {
    match event.get("NODE") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(Value::Object(o)) if o.is_empty() => None,
        v => text(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_decodes_like_python() {
        assert_eq!(text(Some(&json!("plain"))), Some("plain".into()));
        assert_eq!(
            text(Some(&json!("/tmp/%ff%25x%00y"))),
            Some("/tmp/\\xff%x\\x00y".into())
        );
        assert_eq!(text(Some(&json!("%c3%a4%c3"))), Some("ä\\xc3".into()));
        assert_eq!(text(Some(&json!("100%"))), Some("100%".into()));
        assert_eq!(text(Some(&json!("%zz%4"))), Some("%zz%4".into()));
        assert_eq!(text(Some(&json!(5))), Some("5".into()));
        assert_eq!(text(Some(&json!(true))), Some("True".into()));
        assert_eq!(text(Some(&json!(null))), None);
        assert_eq!(text(None), None);
    }

    #[test]
    fn float_repr_matches_python() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1000.1), "1000.1");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1.5e-5), "1.5e-05");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(-2.5e20), "-2.5e+20");
    }

    #[test]
    fn python_int_parsing() {
        assert_eq!(py_int(" 12 "), Some(12));
        assert_eq!(py_int("-1_000"), Some(-1000));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int(""), None);
        assert_eq!(py_hex_low64("0x3"), Some(3));
        assert_eq!(py_hex_low64("3d0f00"), Some(0x3d0f00));
        assert_eq!(py_hex_low64("-0x1").map(|v| v & 0xff), Some(0xff));
        assert_eq!(py_hex_low64("0x_1_0"), Some(16));
        assert_eq!(
            py_hex_low64("1ffffffffffffffff03"),
            Some(0xffff_ffff_ffff_ff03)
        );
        assert_eq!(py_hex_low64("0x"), None);
        assert_eq!(py_hex_low64("xyz"), None);
    }

    #[test]
    fn event_columns_like_python() {
        let e = json!({"ID": "1000.200:3"});
        assert_eq!(
            event_columns(e.as_object().unwrap(), None),
            (1000, None, "1000.200:3".into())
        );
        let e = json!({"ID": "1000.200:3", "NODE": "web1"});
        assert_eq!(
            event_columns(e.as_object().unwrap(), Some(900.5)),
            (1000, Some(99), "web1:1000.200:3".into())
        );
        let e = json!({"ID": "5.123"});
        assert_eq!(
            event_columns(e.as_object().unwrap(), None),
            (5, None, "5.123".into())
        );
        let e = json!({"ID": "5:2"});
        assert_eq!(
            event_columns(e.as_object().unwrap(), None),
            (0, None, "5:2".into())
        );
        let e = json!({});
        assert_eq!(
            event_columns(e.as_object().unwrap(), Some(1.0)),
            (0, None, "0.000:0".into())
        );
    }

    #[test]
    fn cells_of_values() {
        assert_eq!(cell(Some(&json!(true))), Cell::Int(1));
        assert_eq!(cell(Some(&json!(1.5))), Cell::Real(1.5));
        assert_eq!(cell(Some(&json!("a%20"))), Cell::Text("a%20".into()));
        assert_eq!(cell(None), Cell::Null);
        assert_eq!(int_of(Some(&json!(7))), Some(7));
        assert_eq!(int_of(Some(&json!(7.0))), None);
        assert_eq!(int_of(Some(&json!("7"))), None);
    }
}
