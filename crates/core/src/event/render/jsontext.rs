//! JSON text as serde_json writes it (compact; its string escapes), for the direct writer
//! ([`super::direct`]): strings, numbers, and the field tokens typed as `values::convert` types them.

use std::io::Write as _;

use base64::Engine as _;
use serde_json::Value;

use crate::record::encoding::{decode_encoded, escape_into};
use crate::record::values::{self, is_trivial, Kind};

/// A JSON number's text as i64 (`Number::as_i64`): None for a float, text, or beyond i64.
pub(super) fn json_i64(v: &[u8]) -> Option<i64> {
    if !is_number(v) || v.iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

pub(super) fn is_number(v: &[u8]) -> bool {
    matches!(v.first(), Some(b'-' | b'0'..=b'9'))
}

/// Python truthiness of a JSON value's text.
pub(super) fn truthy(v: &[u8]) -> bool {
    match v {
        b"null" | b"false" | b"\"\"" | b"[]" | b"{}" => false,
        _ if is_number(v) => {
            std::str::from_utf8(v)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                != Some(0.0)
        }
        _ => true,
    }
}

pub(super) fn quoted(s: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(s.len() + 2);
    write_str(&mut b, s.as_bytes());
    b
}

pub(super) fn push_num(out: &mut Vec<u8>, n: u64) {
    let _ = write!(out, "{n}");
}

/// A JSON value as serde_json writes it.
pub(super) fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::String(s) => write_str(out, s.as_bytes()),
        Value::Null => out.extend_from_slice(b"null"),
        // writing to a Vec cannot fail
        _ => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
    }
}

/// `values::convert(kind, tok)` as JSON text, without the `Value` for the common tokens.
pub(super) fn write_token(out: &mut Vec<u8>, kind: Kind, tok: &[u8]) {
    match kind {
        Kind::Int => {
            if let Some(t) = plain_int(tok) {
                out.extend_from_slice(t);
                return;
            }
        }
        Kind::Hex if plain_hex(tok) => {
            out.extend_from_slice(b"\"0x");
            out.extend_from_slice(tok);
            out.push(b'"');
            return;
        }
        Kind::Oct
            if !tok.is_empty()
                && tok.len() <= 32
                && tok.iter().all(|c| matches!(c, b'0'..=b'7')) =>
        {
            let digits = match tok.iter().position(|&c| c != b'0') {
                Some(i) => tok.get(i..).unwrap_or_default(),
                None => b"0",
            };
            out.extend_from_slice(b"\"0o");
            out.extend_from_slice(digits);
            out.push(b'"');
            return;
        }
        // values::as_text and values::as_bytes
        Kind::Enc | Kind::Text => {
            let Some((&q, rest)) = tok.split_first() else {
                out.extend_from_slice(b"\"\"");
                return;
            };
            if q == b'"' || (q == b'\'' && kind == Kind::Text) {
                let inner = match rest.split_last() {
                    Some((&last, inner)) if last == q => inner,
                    _ => rest,
                };
                write_escaped(out, inner);
            } else if kind == Kind::Text {
                if tok == b"(null)" || tok == b"?" {
                    out.extend_from_slice(b"null");
                } else {
                    write_escaped(out, tok);
                }
            } else {
                match decode_encoded(tok) {
                    Some(b) => write_escaped(out, &b),
                    None => out.extend_from_slice(b"null"),
                }
            }
            return;
        }
        _ => {}
    }
    write_value(out, &values::convert(kind, tok));
}

/// A hex token that is its own `f"0x{int(token, 16):x}"` digits: lower case, no leading zero (or `0`).
pub(super) fn plain_hex(tok: &[u8]) -> bool {
    !tok.is_empty()
        && tok.len() <= 32
        && (tok.first() != Some(&b'0') || tok.len() == 1)
        && tok.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// A decimal token that is its own JSON number: `0`, or digits without a leading zero, an optional `-`,
/// within i64.
pub(super) fn plain_int(tok: &[u8]) -> Option<&[u8]> {
    let digits = tok.strip_prefix(b"-").unwrap_or(tok);
    let ok = !digits.is_empty()
        && digits.len() <= 18
        && digits.iter().all(u8::is_ascii_digit)
        && (digits.first() != Some(&b'0') || (digits.len() == 1 && digits.len() == tok.len()));
    ok.then_some(tok)
}

/// Bytes as the JSON string of their escaped text (`values::text`).
pub(super) fn write_escaped(out: &mut Vec<u8>, b: &[u8]) {
    if is_trivial(b) {
        write_str(out, b);
    } else {
        let mut s = String::with_capacity(b.len() + 8);
        escape_into(b, &mut s);
        write_str(out, s.as_bytes());
    }
}

/// Byte strings as a JSON list of escaped text.
pub(super) fn write_escaped_list(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    out.push(b'[');
    let mut s = String::new();
    for (j, item) in items.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        if is_trivial(item) {
            write_str(out, item);
        } else {
            s.clear();
            escape_into(item, &mut s);
            write_str(out, s.as_bytes());
        }
    }
    out.push(b']');
}

/// A record's exact text: a string when UTF-8, else `{"base64": ...}`.
pub(super) fn write_raw(out: &mut Vec<u8>, text: &[u8]) {
    if std::str::from_utf8(text).is_ok() {
        write_str(out, text);
    } else {
        out.extend_from_slice(b"{\"base64\":\"");
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(text)
                .as_bytes(),
        );
        out.extend_from_slice(b"\"}");
    }
}

/// serde_json's escapes: 0 for a byte written as it is, `u` for `\u00xx`, else the letter after `\`.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = b'u';
        c += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// The high bit of each byte of `w` that needs an escape (a control character, `"` or `\`); exact for the
/// lowest such byte (a borrow only flags bytes above a flagged one).
#[inline]
fn escape_mask(w: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let below = w.wrapping_sub(LO * 0x20) & !w & HI;
    let q = w ^ (LO * u64::from(b'"'));
    let q = q.wrapping_sub(LO) & !q & HI;
    let b = w ^ (LO * u64::from(b'\\'));
    let b = b.wrapping_sub(LO) & !b & HI;
    below | q | b
}

/// A JSON string of UTF-8 text, escaped as serde_json escapes it: `"`, `\`, and the control characters
/// (`\b \t \n \f \r`, the others `\u00xx`). Eight bytes at a time.
pub(super) fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let (mut start, mut i) = (0, 0);
    while let Some(w) = s.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let m = escape_mask(u64::from_le_bytes(w));
        if m == 0 {
            i += 8;
            continue;
        }
        let j = i + (m.trailing_zeros() / 8) as usize;
        out.extend_from_slice(s.get(start..j).unwrap_or_default());
        push_escape(out, s.get(j).copied().unwrap_or_default());
        i = j + 1;
        start = i;
    }
    while let Some(&c) = s.get(i) {
        if ESCAPE[usize::from(c)] != 0 {
            out.extend_from_slice(s.get(start..i).unwrap_or_default());
            push_escape(out, c);
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(s.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// serde_json's escape of one byte (the byte itself when it needs none).
#[inline]
fn push_escape(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPE[usize::from(c)] {
        0 => out.push(c),
        b'u' => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 15)]);
        }
        esc => {
            out.push(b'\\');
            out.push(esc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{plain_int, write_str};

    #[test]
    fn strings_escape_as_serde_json() {
        let long = "0123456789abcdef\"0123456789\\abcdefgh\u{1}xyz€€€€€€€€€€é😀\n";
        for s in [
            "",
            "a\"b\\c",
            "\u{0}\u{1f}\u{7f}\t\n\r\u{8}\u{c}é€😀",
            "plain",
            long,
        ] {
            let mut got = Vec::new();
            write_str(&mut got, s.as_bytes());
            assert_eq!(
                String::from_utf8(got).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
        // every byte at every offset of a word
        for c in 0u8..0x80 {
            for at in 0..17 {
                let mut s = "x".repeat(17);
                s.replace_range(at..at + 1, &char::from(c).to_string());
                let mut got = Vec::new();
                write_str(&mut got, s.as_bytes());
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    serde_json::to_string(&s).unwrap()
                );
            }
        }
    }

    #[test]
    fn plain_ints_are_their_own_json() {
        assert_eq!(plain_int(b"0"), Some(&b"0"[..]));
        assert_eq!(plain_int(b"-12"), Some(&b"-12"[..]));
        assert_eq!(plain_int(b"-0"), None);
        assert_eq!(plain_int(b"007"), None);
        assert_eq!(plain_int(b"1234567890123456789"), None);
        assert_eq!(plain_int(b""), None);
        assert_eq!(plain_int(b"-"), None);
    }
}
