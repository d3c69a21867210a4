//! Value encodings: auditd's hex encoding in, laurel's byte-string text encoding out. (Port of
//! records/encoding.py.) Printable ASCII stays, except `%` and `+`; valid UTF-8 multi-byte sequences stay
//! (except a BOM); every other byte is `%xx`. [`unescape`] gives the exact bytes back.

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// True for the bytes that escape to themselves: printable ASCII but `%` and `+`.
fn is_plain(b: u8) -> bool {
    (b' '..=b'~').contains(&b) && b != b'%' && b != b'+'
}

fn push_pct(out: &mut String, b: u8) {
    out.push('%');
    out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
    out.push(char::from(HEX_DIGITS[usize::from(b & 0xf)]));
}

/// Bytes → laurel-style escaped text (always valid UTF-8).
pub fn escape(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    escape_into(data, &mut out);
    out
}

/// [`escape`] appended to `out`.
pub fn escape_into(data: &[u8], out: &mut String) {
    for chunk in data.utf8_chunks() {
        // valid UTF-8: copied in runs, but for the ASCII bytes to escape and the BOM
        let valid = chunk.valid();
        let b = valid.as_bytes();
        let (mut start, mut i) = (0, 0);
        while let Some(&c) = b.get(i) {
            if c.is_ascii() {
                if !is_plain(c) {
                    out.push_str(valid.get(start..i).unwrap_or_default());
                    push_pct(out, c);
                    start = i + 1;
                }
                i += 1;
            } else if b.get(i..i + 3) == Some(&[0xef, 0xbb, 0xbf][..]) {
                out.push_str(valid.get(start..i).unwrap_or_default());
                out.push_str("%ef%bb%bf");
                i += 3;
                start = i;
            } else {
                i += 1;
            }
        }
        out.push_str(valid.get(start..).unwrap_or_default());
        for &b in chunk.invalid() {
            push_pct(out, b);
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Inverse of [`escape`]: `%xx` → the byte, everything else as UTF-8.
pub fn unescape(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(off) = b.get(i..).and_then(|rest| memchr::memchr(b'%', rest)) {
        let p = i + off;
        out.extend_from_slice(&b[i..p]);
        match (
            b.get(p + 1).copied().and_then(hex_value),
            b.get(p + 2).copied().and_then(hex_value),
        ) {
            (Some(hi), Some(lo)) => {
                out.push(hi << 4 | lo);
                i = p + 3;
            }
            _ => {
                out.push(b'%');
                i = p + 1;
            }
        }
    }
    out.extend_from_slice(b.get(i..).unwrap_or_default());
    out
}

/// True if `token` is a non-empty, even-length run of hex digits (either case).
pub fn is_hex(token: &[u8]) -> bool {
    !token.is_empty() && token.len() % 2 == 0 && token.iter().all(u8::is_ascii_hexdigit)
}

/// Hex digits → their bytes; None unless [`is_hex`].
pub fn decode_hex(token: &[u8]) -> Option<Vec<u8>> {
    if !is_hex(token) {
        return None;
    }
    token
        .chunks_exact(2)
        .map(|pair| Some(hex_value(pair[0])? << 4 | hex_value(pair[1])?))
        .collect()
}

/// An *encoded* field's token → its bytes (None for `(null)`, `?`).
///
/// A quoted token is taken literally (an unterminated one too); an unquoted one is hex when it looks like
/// hex, or hex with a stray closing quote; else it is taken literally (auditd writes some interpreted or odd
/// values unquoted).
pub fn decode_encoded(token: &[u8]) -> Option<Vec<u8>> {
    match token {
        [] => Some(Vec::new()),
        [b'"'] => Some(Vec::new()),
        [b'"', inner @ .., b'"'] => Some(inner.to_vec()),
        [b'"', rest @ ..] => Some(rest.to_vec()),
        b"(null)" | b"?" => None,
        _ => decode_hex(token)
            .or_else(|| match token {
                // hex with a stray closing quote (`key=65786563013634626974"` in go-libaudit's test log)
                [hex @ .., b'"'] => decode_hex(hex),
                _ => None,
            })
            .or_else(|| Some(token.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// laurel src/quote.rs `uri_escape` test (threathunters-io/laurel), the same inputs and outputs
    const LAUREL_CASES: &[(&[u8], &str)] = &[
        (b" ", " "),
        (b"asdf", "asdf"),
        (b"+", "%2b"),
        (b"%", "%25"),
        (b"+++", "%2b%2b%2b"),
        (b"%%%", "%25%25%25"),
        (b"%+%", "%25%2b%25"),
        (b"\xc3\xa4", "ä"),
        (b"\xe2\x82\xac", "€"),
        (b"\xf0\x9f\x92\x96", "💖"),
        (b"\xc3\xa4\xc3\xb6\xc3\xbc", "äöü"),
        (b"abcd\xc3\xa4\xc3\xb6\xc3\xbcefgh", "abcdäöüefgh"),
        (
            b"\xf0\x9f\x84\xbb\xf0\x9f\x84\xb0\xf0\x9f\x85\x84\xf0\x9f\x85\x81\xf0\x9f\x84\xb4\xf0\x9f\x84\xbb",
            "🄻🄰🅄🅁🄴🄻",
        ),
        (b"\xc3\xc3\xa4", "%c3ä"),
        (b"\xf0\xf0\x9f\x92\x96", "%f0💖"),
        (b"\xf0\xf0\x9f\x92\x96\xf0", "%f0💖%f0"),
        (b"\xf0\xf0\x9f\x92\x96asdf", "%f0💖asdf"),
        (b"\xf0\x9f\xf0\x9f\x92\x96", "%f0%9f💖"),
        (b"\xf0\x9f\x92\xf0\x9f\x92\x96", "%f0%9f%92💖"),
        (b"\xef\xbb\xbf", "%ef%bb%bf"),
    ];

    /// the rest of the rules: control characters, DEL, invalid UTF-8
    const MORE_CASES: &[(&[u8], &str)] = &[
        (b"", ""),
        (b"a\tb\nc\rd", "a%09b%0ac%0dd"),
        (b"\x00\x01\x1f", "%00%01%1f"),
        (b"\x7f", "%7f"),
        (
            b"~ !\"#$&'()*,-./:;<=>?@[\\]^_`{|}",
            "~ !\"#$&'()*,-./:;<=>?@[\\]^_`{|}",
        ),
        (b"\x80", "%80"),
        (b"\xff\xfe", "%ff%fe"),
        (b"\xc0\x80", "%c0%80"),
        (b"\xed\xa0\x80", "%ed%a0%80"),
        (b"\xf8\x88\x80\x80\x80", "%f8%88%80%80%80"),
        (b"\xf4\x90\x80\x80", "%f4%90%80%80"),
        (b"\xe2\x82", "%e2%82"),
        (b"a\xef\xbb\xbfb", "a%ef%bb%bfb"),
        (b"/bin/sh\x00-c\x00id", "/bin/sh%00-c%00id"),
    ];

    #[test]
    fn laurel_escape_cases() {
        for &(data, want) in LAUREL_CASES.iter().chain(MORE_CASES) {
            assert_eq!(escape(data), want, "{data:?}");
            assert_eq!(unescape(want), data, "{want:?}");
        }
    }

    #[test]
    fn c1_controls_pass_through_as_in_laurel() {
        assert_eq!(escape(b"\xc2\x85"), "\u{85}");
        assert_eq!(escape(b"\xc2\x9b[31m"), "\u{9b}[31m");
        assert_eq!(escape("\u{2028}".as_bytes()), "\u{2028}");
    }

    #[test]
    fn unescape_leaves_other_percent_text() {
        assert_eq!(unescape("100%"), b"100%");
        assert_eq!(unescape("%zz%4"), b"%zz%4");
        assert_eq!(unescape("%41%4a%4A"), b"AJJ");
        assert_eq!(unescape("ä"), b"\xc3\xa4");
        assert_eq!(unescape("%%41"), b"%A");
        assert_eq!(unescape("%"), b"%");
    }

    #[test]
    fn hex_helpers() {
        assert!(is_hex(b"2F62696E"));
        assert!(is_hex(b"2f62696e"));
        assert!(!is_hex(b"2F6"));
        assert!(!is_hex(b""));
        assert!(!is_hex(b"2G"));
        assert_eq!(decode_hex(b"2F62696E"), Some(b"/bin".to_vec()));
        assert_eq!(decode_hex(b"2F6"), None);
    }

    #[test]
    fn decode_encoded_cases() {
        let some = |b: &[u8]| Some(b.to_vec());
        assert_eq!(
            decode_encoded(b"\"/usr/bin/whoami\""),
            some(b"/usr/bin/whoami")
        );
        assert_eq!(decode_encoded(b"\"unterminated"), some(b"unterminated"));
        assert_eq!(
            decode_encoded(b"2F7573722F62696E2F746F70"),
            some(b"/usr/bin/top")
        );
        assert_eq!(decode_encoded(b"(null)"), None);
        assert_eq!(decode_encoded(b"?"), None);
        assert_eq!(decode_encoded(b""), some(b""));
        assert_eq!(decode_encoded(b"/usr/bin/top"), some(b"/usr/bin/top"));
        assert_eq!(decode_encoded(b"top"), some(b"top"));
        assert_eq!(decode_encoded(b"ABC"), some(b"ABC"));
        // the odd shapes: a lone quote, an empty quoted value, hex with a stray closing quote
        assert_eq!(decode_encoded(b"\""), some(b""));
        assert_eq!(decode_encoded(b"\"\""), some(b""));
        assert_eq!(decode_encoded(b"65786563\""), some(b"exec"));
        assert_eq!(decode_encoded(b"6578656\""), some(b"6578656\""));
        assert_eq!(decode_encoded(b"\xff"), some(b"\xff"));
    }
}
