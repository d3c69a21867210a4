//! Python's `int(text)`, `int(text, 16)` and `repr(text)` over bytes as the Python implementation held them
//! (UTF-8 decoded with surrogateescape: an invalid byte is a lone surrogate). Warnings and index parsing
//! must say exactly what Python said, for any token.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::{self, Write};

use super::pyunicode::{DECIMAL_ZEROS, NONPRINTABLE, SPACES};

/// Python's limit on the digits of a decimal integer string (`sys.get_int_max_str_digits()`, 3.11).
const MAX_STR_DIGITS: usize = 4300;

/// A Python integer read from text: an `i64`, or the decimal digits of a larger one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PyInt {
    /// fits an i64
    Small(i64),
    /// outside the i64 range: sign and decimal digits, no leading zero
    Big { negative: bool, digits: String },
}

impl PyInt {
    /// The value as an i64, if it fits.
    pub fn small(&self) -> Option<i64> {
        match self {
            PyInt::Small(n) => Some(*n),
            PyInt::Big { .. } => None,
        }
    }
}

impl Ord for PyInt {
    fn cmp(&self, other: &Self) -> Ordering {
        use PyInt::{Big, Small};
        match (self, other) {
            (Small(a), Small(b)) => a.cmp(b),
            (Small(_), Big { negative, .. }) => {
                if *negative {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (Big { .. }, Small(_)) => other.cmp(self).reverse(),
            (
                Big {
                    negative: na,
                    digits: da,
                },
                Big {
                    negative: nb,
                    digits: db,
                },
            ) => match (na, nb) {
                (false, true) => Ordering::Greater,
                (true, false) => Ordering::Less,
                (false, false) => (da.len(), da).cmp(&(db.len(), db)),
                (true, true) => (db.len(), db).cmp(&(da.len(), da)),
            },
        }
    }
}

impl PartialOrd for PyInt {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PyInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyInt::Small(n) => write!(f, "{n}"),
            PyInt::Big { negative, digits } => {
                write!(f, "{}{digits}", if *negative { "-" } else { "" })
            }
        }
    }
}

fn decimal_value(c: char) -> Option<u8> {
    let c = u32::from(c);
    let i = DECIMAL_ZEROS.partition_point(|&z| z <= c);
    let zero = *DECIMAL_ZEROS.get(i.checked_sub(1)?)?;
    let d = c - zero;
    (d < 10).then_some(d as u8)
}

/// Python's `_PyUnicode_TransformDecimalAndSpaceToASCII`: non-ASCII white space → ' ', non-ASCII decimal
/// digits → ASCII; None if any other non-ASCII character (or an invalid byte) is left.
fn ascii_form(token: &[u8]) -> Option<Cow<'_, [u8]>> {
    if token.is_ascii() {
        return Some(Cow::Borrowed(token));
    }
    let text = std::str::from_utf8(token).ok()?;
    let mut out = Vec::with_capacity(token.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c as u8);
        } else if SPACES.binary_search(&u32::from(c)).is_ok() {
            out.push(b' ');
        } else {
            out.push(b'0' + decimal_value(c)?);
        }
    }
    Some(Cow::Owned(out))
}

fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The digits of `s` in `radix` as Python's `PyLong_FromString` accepts them: (negative, digit values).
/// Leading zeros are dropped.
fn digits(s: &[u8], radix: u32) -> Option<(bool, Vec<u8>)> {
    let mut i = 0;
    while s.get(i).is_some_and(|&b| is_py_space(b)) {
        i += 1;
    }
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    if radix == 16 && s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        if s.get(i) == Some(&b'_') {
            i += 1; // one underscore may follow the prefix
        }
    }
    if s.get(i) == Some(&b'_') {
        return None;
    }
    let mut out = Vec::new();
    let mut count = 0usize;
    let mut prev_underscore = false;
    while let Some(&b) = s.get(i) {
        if b == b'_' {
            if prev_underscore {
                return None;
            }
            prev_underscore = true;
        } else if let Some(d) = (b as char).to_digit(radix) {
            prev_underscore = false;
            count += 1;
            if !(out.is_empty() && d == 0) {
                out.push(d as u8);
            }
        } else {
            break;
        }
        i += 1;
    }
    if prev_underscore || count == 0 {
        return None;
    }
    while s.get(i).is_some_and(|&b| is_py_space(b)) {
        i += 1;
    }
    if i != s.len() || (radix == 10 && count > MAX_STR_DIGITS) {
        return None;
    }
    Some((negative && !out.is_empty(), out))
}

/// Python's `int(text)`: None where Python raised ValueError.
pub fn int(token: &[u8]) -> Option<PyInt> {
    let s = ascii_form(token)?;
    let (negative, ds) = digits(&s, 10)?;
    if ds.len() <= 18 {
        let mut n: i64 = 0;
        for d in &ds {
            n = n * 10 + i64::from(*d);
        }
        return Some(PyInt::Small(if negative { -n } else { n }));
    }
    let text: String = ds.iter().map(|d| char::from(b'0' + d)).collect();
    let fits = if negative {
        (text.len(), text.as_str()) <= (19, "9223372036854775808")
    } else {
        (text.len(), text.as_str()) <= (19, "9223372036854775807")
    };
    if fits {
        let n = text.parse::<i128>().ok()?;
        let n = if negative { -n } else { n };
        return i64::try_from(n).ok().map(PyInt::Small);
    }
    Some(PyInt::Big {
        negative,
        digits: text,
    })
}

/// Python's `int(text, 16)`: None where Python raised ValueError; `Some(None)` for a valid number outside
/// the u32 range (negative, or above 0xffffffff).
pub fn int_hex_u32(token: &[u8]) -> Option<Option<u32>> {
    let s = ascii_form(token)?;
    let (negative, ds) = digits(&s, 16)?;
    if negative || ds.len() > 8 {
        return Some(None);
    }
    Some(Some(ds.iter().fold(0u32, |n, &d| n << 4 | u32::from(d))))
}

fn printable(c: char) -> bool {
    let c = u32::from(c);
    let i = NONPRINTABLE.partition_point(|&(a, _)| a <= c);
    match i.checked_sub(1).and_then(|i| NONPRINTABLE.get(i)) {
        Some(&(_, b)) => c > b,
        None => true,
    }
}

/// Python's `repr()` of the text these bytes held (invalid bytes are lone surrogates, shown `\udcXX`).
pub fn repr(token: &[u8]) -> String {
    // quotes are ASCII, so never part of an invalid sequence
    let quote = if memchr::memchr(b'\'', token).is_some() && memchr::memchr(b'"', token).is_none() {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(token.len() + 2);
    out.push(quote);
    for chunk in token.utf8_chunks() {
        for c in chunk.valid().chars() {
            let n = u32::from(c);
            // writing to a String cannot fail
            let _ = match c {
                _ if c == quote || c == '\\' => write!(out, "\\{c}"),
                '\t' => out.write_str("\\t"),
                '\n' => out.write_str("\\n"),
                '\r' => out.write_str("\\r"),
                _ if n < 0x20 || n == 0x7f => write!(out, "\\x{n:02x}"),
                _ if c.is_ascii() || printable(c) => out.write_char(c),
                _ if n <= 0xff => write!(out, "\\x{n:02x}"),
                _ if n <= 0xffff => write!(out, "\\u{n:04x}"),
                _ => write!(out, "\\U{n:08x}"),
            };
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\udc{b:02x}");
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::{int, int_hex_u32, repr, PyInt};

    fn small(s: &str) -> Option<i64> {
        int(s.as_bytes()).and_then(|n| n.small())
    }

    #[test]
    fn int_as_python_reads_it() {
        assert_eq!(small("12"), Some(12));
        assert_eq!(small(" 12 "), Some(12));
        assert_eq!(small("\u{a0}12\u{3000}"), Some(12));
        assert_eq!(small("\u{663}"), Some(3));
        assert_eq!(small("\u{661}\u{662}"), Some(12));
        assert_eq!(small("\u{ff11}"), Some(1));
        assert_eq!(small("-0"), Some(0));
        assert_eq!(small("+007"), Some(7));
        assert_eq!(small("1_000"), Some(1000));
        assert_eq!(small("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(small("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            " ",
            "_1",
            "1_",
            "1__2",
            "+-1",
            "- 1",
            "\x1c5\x1f",
            "0x1",
            "1\0",
            "x",
            "1.0",
            "\u{b2}",
        ] {
            assert_eq!(int(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(int(b"1\xff"), None);
        assert_eq!(
            int(b"9223372036854775808"),
            Some(PyInt::Big {
                negative: false,
                digits: "9223372036854775808".into()
            })
        );
        assert_eq!(
            int(b"-000099999999999999999999").map(|n| n.to_string()),
            Some("-99999999999999999999".into())
        );
        assert!(int("1".repeat(4300).as_bytes()).is_some());
        assert_eq!(int("1".repeat(4301).as_bytes()), None);
        assert_eq!(int("0".repeat(4301).as_bytes()), None);
        assert!(int("1_".repeat(4299).as_bytes()).is_none()); // trailing underscore
        assert!(int(format!("{}1", "1_".repeat(4299)).as_bytes()).is_some());
    }

    #[test]
    fn int_order() {
        let mut v: Vec<PyInt> = [
            "5",
            "-99999999999999999999",
            "99999999999999999999",
            "-1",
            "100000000000000000000",
        ]
        .iter()
        .filter_map(|s| int(s.as_bytes()))
        .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            s,
            [
                "-99999999999999999999",
                "-1",
                "5",
                "99999999999999999999",
                "100000000000000000000"
            ]
        );
    }

    #[test]
    fn int_hex() {
        assert_eq!(int_hex_u32(b"c000003e"), Some(Some(0xc000003e)));
        assert_eq!(int_hex_u32(b"0X1f"), Some(Some(31)));
        assert_eq!(int_hex_u32(b"0x_1"), Some(Some(1)));
        assert_eq!(int_hex_u32(b" 00000000c000003e "), Some(Some(0xc000003e)));
        assert_eq!(int_hex_u32(b"-0"), Some(Some(0)));
        assert_eq!(int_hex_u32(b"-1"), Some(None));
        assert_eq!(int_hex_u32(b"100000000"), Some(None));
        assert_eq!(int_hex_u32("1".repeat(5000).as_bytes()), Some(None));
        for bad in ["", "0x", "0x__1", "x86_64", "zz", "_1", "1_"] {
            assert_eq!(int_hex_u32(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn repr_as_python_writes_it() {
        assert_eq!(repr(b"x"), "'x'");
        assert_eq!(repr(b"\"3\""), "'\"3\"'");
        assert_eq!(repr(b"it's"), "\"it's\"");
        assert_eq!(repr(b"'\""), "'\\'\"'");
        assert_eq!(repr(b"a\\b\t\n\r\x01\x7f"), "'a\\\\b\\t\\n\\r\\x01\\x7f'");
        assert_eq!(
            repr("é\u{a0}\u{ad}\u{200b}\u{fffe}😀\u{e0001}".as_bytes()),
            "'é\\xa0\\xad\\u200b\\ufffe😀\\U000e0001'"
        );
        assert_eq!(repr(b"a\xff\xc3"), "'a\\udcff\\udcc3'");
        assert_eq!(repr(b""), "''");
    }
}
