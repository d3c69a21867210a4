//! Python's value semantics, as the table mappers used them on the event JSON: `int(text, base)`,
//! `str()`, truthiness, `text()` of an encoded value, and a JSON value → SQL [`Cell`].

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use super::Cell;
use crate::record::encoding::unescape;

/// Python's `int(text, base)` gives up over this many decimal digits (`sys.get_int_max_str_digits()`).
const MAX_STR_DIGITS: usize = 4300;
/// Hex digits whose value has at most [`MAX_STR_DIGITS`] decimal digits (16^3571 < 10^4300).
const MAX_HEX_DIGITS: usize = 3571;

/// A Python int: small ones as `i128`, bigger ones (only from crafted text) as their decimal digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PyInt {
    /// fits an i128
    Small(i128),
    /// `text`: the value in decimal (sign, no leading zeros); `low`: the value mod 2^64 (two's complement)
    Big { text: String, low: u64 },
}

impl PyInt {
    /// The value as an `i128`, if it is one.
    pub fn small(&self) -> Option<i128> {
        match self {
            PyInt::Small(v) => Some(*v),
            PyInt::Big { .. } => None,
        }
    }

    /// `value & mask` for a mask that fits in 64 bits (Python's infinite two's complement).
    pub fn and(&self, mask: u64) -> u64 {
        match self {
            PyInt::Small(v) => (*v as u64) & mask,
            PyInt::Big { low, .. } => low & mask,
        }
    }

    /// `value == n`
    pub fn is(&self, n: i128) -> bool {
        matches!(self, PyInt::Small(v) if *v == n)
    }

    /// `value < 0`
    pub fn is_negative(&self) -> bool {
        match self {
            PyInt::Small(v) => *v < 0,
            PyInt::Big { text, .. } => text.starts_with('-'),
        }
    }

    /// The SQL cell: INTEGER when it fits in 64 bits, else TEXT of its decimal digits (Python's sqlite3
    /// raised OverflowError there).
    pub fn cell(&self) -> Cell {
        match self {
            PyInt::Small(v) => int_cell(*v),
            PyInt::Big { text, .. } => Cell::Text(text.clone()),
        }
    }
}

impl fmt::Display for PyInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyInt::Small(v) => write!(f, "{v}"),
            PyInt::Big { text, .. } => f.write_str(text),
        }
    }
}

/// An integer cell: INTEGER when it fits in an i64, else TEXT of its decimal digits.
pub fn int_cell(v: i128) -> Cell {
    match i64::try_from(v) {
        Ok(n) => Cell::Int(n),
        Err(_) => Cell::Text(v.to_string()),
    }
}

/// `isinstance(v, int)` (bools are ints in Python) → its value.
pub fn py_int(v: &Value) -> Option<i128> {
    match v {
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

/// Python's `as_int(value, base)` of `_common.py`: ints as they are, text parsed as `int(text, base)`.
pub fn as_int(v: Option<&Value>, base: u32) -> Option<PyInt> {
    match v? {
        Value::String(s) if !s.is_empty() => parse_int(s, base),
        other => py_int(other).map(PyInt::Small),
    }
}

/// Python's `str.isspace()`.
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// The code points of the digit zero of each Unicode decimal digit run (category Nd; Unicode 14, Python 3.11).
const DIGIT_ZEROS: &[u32] = &[
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

fn decimal_value(c: char) -> Option<u8> {
    let c = c as u32;
    let i = DIGIT_ZEROS.partition_point(|&z| z <= c);
    let zero = *DIGIT_ZEROS.get(i.checked_sub(1)?)?;
    u8::try_from(c - zero).ok().filter(|d| *d < 10)
}

/// Python's `int(text, base)` for base 10 or 16, None where it raises ValueError: surrounding
/// whitespace, a sign, `0x` for base 16, `_` between digits, any Unicode decimal digit.
pub fn parse_int(s: &str, base: u32) -> Option<PyInt> {
    // CPython maps a non-ASCII string's non-ASCII whitespace to ' ' and its decimal digits to ASCII first
    let owned;
    let b: &[u8] = if s.is_ascii() {
        s.as_bytes()
    } else {
        let mut v = Vec::with_capacity(s.len());
        for c in s.chars() {
            if c < '\x7f' {
                v.push(c as u8);
            } else if py_isspace(c) {
                v.push(b' ');
            } else if let Some(d) = decimal_value(c) {
                v.push(b'0' + d);
            } else {
                return None;
            }
        }
        owned = v;
        &owned
    };
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = b.iter().position(|c| !ws(c))?;
    let end = b.iter().rposition(|c| !ws(c))? + 1;
    let mut t = &b[start..end];
    let neg = match t.first() {
        Some(b'-') => {
            t = &t[1..];
            true
        }
        Some(b'+') => {
            t = &t[1..];
            false
        }
        _ => false,
    };
    if base == 16 && t.len() >= 2 && t[0] == b'0' && (t[1] == b'x' || t[1] == b'X') {
        t = &t[2..];
        if t.first() == Some(&b'_') {
            t = &t[1..];
        }
    }
    // digits, single underscores between them
    let mut digits: Vec<u8> = Vec::with_capacity(t.len());
    let mut prev_digit = false;
    for &c in t {
        if c == b'_' {
            if !prev_digit {
                return None;
            }
            prev_digit = false;
            continue;
        }
        let d = (c as char).to_digit(base)? as u8;
        digits.push(d);
        prev_digit = true;
    }
    if !prev_digit {
        return None; // empty, or a trailing underscore
    }
    if base == 10 && digits.len() > MAX_STR_DIGITS {
        return None;
    }
    let mut acc: i128 = 0;
    let mut small = true;
    for &d in &digits {
        match acc
            .checked_mul(base as i128)
            .and_then(|a| a.checked_add(d as i128))
        {
            Some(a) => acc = a,
            None => {
                small = false;
                break;
            }
        }
    }
    if small {
        return Some(PyInt::Small(if neg { -acc } else { acc }));
    }
    big(&digits, base, neg)
}

/// A value past i128 from its digits (most significant first).
fn big(digits: &[u8], base: u32, neg: bool) -> Option<PyInt> {
    let first = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    let digits = &digits[first..];
    let mut low: u64 = 0;
    for &d in digits {
        low = low.wrapping_mul(base as u64).wrapping_add(d as u64);
    }
    let mut text = String::with_capacity(digits.len() * 2 + 1);
    if neg {
        text.push('-');
        low = low.wrapping_neg();
    }
    if base == 10 {
        text.extend(digits.iter().map(|&d| (b'0' + d) as char));
    } else {
        if digits.len() > MAX_HEX_DIGITS {
            return None;
        }
        text.push_str(&hex_to_decimal(digits));
    }
    Some(PyInt::Big { text, low })
}

/// Hex digits (most significant first, no leading zero) → decimal text.
fn hex_to_decimal(digits: &[u8]) -> String {
    // little-endian base 2^32 limbs
    let mut limbs: Vec<u32> = Vec::with_capacity(digits.len() / 8 + 1);
    for chunk in digits.rchunks(8) {
        let mut v: u32 = 0;
        for &d in chunk {
            v = (v << 4) | d as u32;
        }
        limbs.push(v);
    }
    let mut parts: Vec<u32> = Vec::new(); // base 10^9, least significant first
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u64 = 0;
        for l in limbs.iter_mut().rev() {
            let cur = (rem << 32) | *l as u64;
            *l = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        parts.push(rem as u32);
    }
    let mut out = String::new();
    for (i, p) in parts.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&p.to_string());
        } else {
            out.push_str(&format!("{p:09}"));
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// Python's truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A JSON value → its SQL cell, as Python's sqlite3 bound it: None NULL, bool and int INTEGER, float REAL,
/// str TEXT. An int past 64 bits is TEXT of its digits, a list or object TEXT of its JSON (sqlite3 raised
/// for both).
pub fn cell(v: Option<&Value>) -> Cell {
    match v {
        None | Some(Value::Null) => Cell::Null,
        Some(Value::Bool(b)) => Cell::Int(i64::from(*b)),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Cell::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cell::Text(u.to_string())
            } else {
                Cell::Real(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Some(Value::String(s)) => Cell::Text(s.clone()),
        Some(other) => Cell::Text(to_json(other)),
    }
}

/// An optional string → TEXT or NULL.
pub fn text_cell(s: Option<String>) -> Cell {
    s.map_or(Cell::Null, Cell::Text)
}

/// Compact JSON text (UTF-8 kept as is), Python's `to_json`.
pub fn to_json(v: &Value) -> String {
    let mut buf = Vec::with_capacity(128);
    write_json(&mut buf, v);
    into_string(buf)
}

/// The compact JSON array of `v`'s strings.
pub fn strings_json(v: &[String]) -> String {
    let mut buf = Vec::with_capacity(2 + v.iter().map(|s| s.len() + 3).sum::<usize>());
    let _ = serde_json::to_writer(&mut buf, v);
    into_string(buf)
}

/// [`to_json`] of an object.
pub fn object_json(v: &super::Object) -> String {
    let mut buf = Vec::with_capacity(32 + v.len() * 24);
    let _ = serde_json::to_writer(&mut buf, v);
    into_string(buf)
}

/// Append the compact JSON of `v` to `buf`.
pub fn write_json(buf: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(&mut *buf, v);
}

/// Append a string as a JSON string literal to `buf`.
pub fn write_json_str(buf: &mut Vec<u8>, v: &str) {
    let _ = serde_json::to_writer(&mut *buf, v);
}

/// JSON text the serializer wrote (always UTF-8) → String.
pub fn into_string(buf: Vec<u8>) -> String {
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Bytes → text: valid UTF-8 as is, every other byte `\xNN` (Python's `backslashreplace`).
pub fn backslash_decode(b: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(b) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(b.len() + 16);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            push_hex_escape(&mut out, *byte);
        }
    }
    Cow::Owned(out)
}

fn push_hex_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('\\');
    out.push('x');
    out.push(HEX[(byte >> 4) as usize] as char);
    out.push(HEX[(byte & 15) as usize] as char);
}

/// Python's `text()` of `_common.py` for a string: `%xx` unescaped, bytes that are not UTF-8 `\xNN`, NUL
/// `\x00`.
pub fn text_str(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = unescape(s);
    let decoded = backslash_decode(&bytes);
    if decoded.contains('\0') {
        decoded.replace('\0', "\\x00")
    } else {
        decoded.into_owned()
    }
}

/// Python's `text()`: an encoded value → readable text; other values their `str()`; None stays None.
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(text_str(s)),
        other => Some(py_str(other)),
    }
}

/// [`text`] as a cell.
pub fn text_of(v: Option<&Value>) -> Cell {
    text_cell(text(v))
}

/// Python's `str()` of a JSON value.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value (dicts and lists as Python writes them).
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    repr_into(v, &mut out);
    out
}

fn repr_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                out.push_str(&float_repr(n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Value::String(s) => str_repr(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(x, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                str_repr(k, out);
                out.push_str(": ");
                repr_into(x, out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr()` of a str.
fn str_repr(s: &str, out: &mut String) {
    out.push_str(&crate::interpret::py::repr(s.as_bytes()));
}

/// Python's `repr()` of a float (shortest round trip; exponent form below 1e-4 and from 1e16).
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7"
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let mut s = String::from(sign);
        if point <= 0 {
            s.push_str("0.");
            for _ in 0..(-point) {
                s.push('0');
            }
            s.push_str(&digits);
        } else {
            let p = point as usize;
            if digits.len() <= p {
                s.push_str(&digits);
                for _ in digits.len()..p {
                    s.push('0');
                }
                s.push_str(".0");
            } else {
                s.push_str(&digits[..p]);
                s.push('.');
                s.push_str(&digits[p..]);
            }
        }
        s
    } else {
        let mut s = String::from(sign);
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", exp.abs()));
        s
    }
}

/// Python's `token_text()`: a token as written (bytes) → valid text, `\xNN` for bytes that are not UTF-8.
pub fn token_text(b: &[u8]) -> String {
    backslash_decode(b).into_owned()
}

/// Iterate a JSON value as Python's `for x in value` would: a list's items, a str's characters, a dict's
/// keys; anything else (Python: TypeError) nothing.
pub fn py_iter(v: &Value) -> Vec<Cow<'_, Value>> {
    match v {
        Value::Array(a) => a.iter().map(Cow::Borrowed).collect(),
        Value::String(s) => s
            .chars()
            .map(|c| Cow::Owned(Value::String(c.to_string())))
            .collect(),
        Value::Object(o) => o
            .keys()
            .map(|k| Cow::Owned(Value::String(k.clone())))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str, base: u32) -> Option<PyInt> {
        parse_int(s, base)
    }

    #[test]
    fn int_parsing_is_pythons() {
        let small = |v: i128| Some(PyInt::Small(v));
        assert_eq!(p(" 12 ", 10), small(12));
        assert_eq!(p(" 12 ", 16), small(18));
        assert_eq!(p("+12", 10), small(12));
        assert_eq!(p("-12", 16), small(-18));
        assert_eq!(p("1_000", 10), small(1000));
        assert_eq!(p("_1", 10), None);
        assert_eq!(p("1_", 10), None);
        assert_eq!(p("1__0", 10), None);
        assert_eq!(p("0x1f", 10), None);
        assert_eq!(p("0X1F", 16), small(31));
        assert_eq!(p("-0x1f", 16), small(-31));
        assert_eq!(p("0x_1f", 16), small(31));
        assert_eq!(p("0x", 16), None);
        assert_eq!(p("0_x1", 16), None);
        assert_eq!(p("\x1c5\x1f", 10), None);
        assert_eq!(p("\u{a0}5", 10), small(5));
        assert_eq!(p("\u{2028}5", 16), small(5));
        assert_eq!(p("\x1c5\u{a0}", 10), None);
        assert_eq!(p("5\u{a0}", 10), small(5));
        assert_eq!(p("\u{85}5\u{3000}", 10), small(5));
        assert_eq!(p("١٢٣", 10), small(123));
        assert_eq!(p("١٢٣", 16), small(291));
        assert_eq!(p("0b1", 16), small(177));
        assert_eq!(p("0o7", 16), None);
        assert_eq!(p("1 2", 10), None);
        assert_eq!(p("", 10), None);
        assert_eq!(p("-", 10), None);
        assert_eq!(p("ffffffffffffffff", 16), small(0xffff_ffff_ffff_ffff));
        assert_eq!(p(&"0".repeat(4301), 10), None);
        assert_eq!(p(&"0".repeat(4300), 10), small(0));
    }

    #[test]
    fn big_ints_keep_their_digits() {
        let v = p("340282366920938463463374607431768211456", 10).unwrap(); // 2^128
        assert_eq!(v.to_string(), "340282366920938463463374607431768211456");
        assert_eq!(v.and(0xffff), 0);
        let h = p("-0x1_00000000_00000000_00000000_00000001", 16).unwrap(); // -(2^128 + 1)
        assert_eq!(h.to_string(), "-340282366920938463463374607431768211457");
        assert_eq!(h.and(0xff), 0xff);
        assert!(h.is_negative());
        assert_eq!(
            h.cell(),
            Cell::Text("-340282366920938463463374607431768211457".into())
        );
        assert_eq!(p(&"f".repeat(3572), 16), None);
        assert_eq!(
            PyInt::Small(1 << 63).cell(),
            Cell::Text("9223372036854775808".into())
        );
        assert_eq!(PyInt::Small(-5).and(0xffff_ffff), 0xffff_fffb);
    }

    #[test]
    fn text_unescapes_and_backslash_replaces() {
        assert_eq!(text_str("plain"), "plain");
        assert_eq!(text_str("a%20b"), "a b");
        assert_eq!(text_str("%ffA"), "\\xffA");
        assert_eq!(text_str("%00x"), "\\x00x");
        assert_eq!(text_str("%e2%82A%e2%82%ac"), "\\xe2\\x82A€");
        assert_eq!(text_str("%ed%a0%80"), "\\xed\\xa0\\x80");
        assert_eq!(text(Some(&json!(5))), Some("5".into()));
        assert_eq!(text(Some(&json!(true))), Some("True".into()));
        assert_eq!(text(Some(&json!(null))), None);
        assert_eq!(text(None), None);
        assert_eq!(
            text(Some(&json!({"a": [1, "it's", null, false]}))),
            Some("{'a': [1, \"it's\", None, False]}".into())
        );
        assert_eq!(token_text(b"a\xffb"), "a\\xffb");
        assert_eq!(
            text(Some(&json!(["\u{200b}", "é", "\u{7f}", "\u{a0}", "a\"b'"]))),
            Some(r#"['\u200b', 'é', '\x7f', '\xa0', 'a"b\'']"#.into())
        );
    }

    #[test]
    fn floats_are_written_as_python_does() {
        let cases = [
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123.0, "123.0"),
            (-0.0, "-0.0"),
            (1.5e300, "1.5e+300"),
            (0.1, "0.1"),
            (1234.5678, "1234.5678"),
            (1700000000.75, "1700000000.75"),
            (9999999999999998.0, "9999999999999998.0"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want);
        }
    }

    #[test]
    fn cells_of_json_values() {
        assert_eq!(cell(Some(&json!(true))), Cell::Int(1));
        assert_eq!(
            cell(Some(&json!(u64::MAX))),
            Cell::Text("18446744073709551615".into())
        );
        assert_eq!(cell(Some(&json!(1.5))), Cell::Real(1.5));
        assert_eq!(cell(Some(&json!([1, "a"]))), Cell::Text("[1,\"a\"]".into()));
        assert_eq!(cell(None), Cell::Null);
    }
}
