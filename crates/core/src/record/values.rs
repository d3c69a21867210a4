//! Field tokens → typed JSON values, driven by the field dictionary ([`super::fields`], generated).
//! (Port of records/values.py.)
//!
//! The typing follows laurel's:
//!
//! * decimal fields (`pid`, `auid`, `exit`, `items`, any `*uid`/`*gid`) → a number;
//! * hexadecimal fields (`arch`, `cap_fp`) → `"0x…"` text, octal (`mode`) → `"0o…"` text;
//! * encoded fields (`exe`, `name`, `proctitle`, `saddr`) → their bytes (decoded from hex where hex) as
//!   escaped text ([`super::encoding::escape`]);
//! * `(null)` and `?` → null;
//! * anything else → its text, quotes removed.
//!
//! A token that does not fit its field's format (`auid=unset`) falls back to text. Numbers are read as
//! Python's `int()` reads them (surrounding white space, a sign, `_` between digits, a `0x`/`0o` prefix for
//! hex/octal, non-ASCII decimal digits). Hex and octal text is normalised whatever its size; a decimal
//! beyond the i64/u64 range is kept as text (Python's ints are unbounded, JSON numbers here are not).

use crate::hash::HashMap;
use std::borrow::Cow;

use serde_json::Value;

use super::encoding::{decode_encoded, escape};
use super::fields::field_format;
use crate::interpret::pyunicode::{DECIMAL_ZEROS, SPACES};

/// How a field's token is typed. The first five are converters (Python's `as_text`, `as_int`, `as_hexnum`,
/// `as_octnum`, `as_bytes`); the last three are names the renderer treats apart (Python's `K_FREE`, `K_MSG`,
/// `K_SCARG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `K_TEXT`: text, quotes removed
    Text,
    /// `K_INT`: a decimal number
    Int,
    /// `K_HEX`: a hexadecimal number → `"0x…"`
    Hex,
    /// `K_OCT`: an octal number → `"0o…"`
    Oct,
    /// `K_ENC`: an encoded byte string
    Enc,
    /// `K_FREE`: a word that is not `key=value` (the key is empty)
    Free,
    /// `K_MSG`: `msg=`, a user-space payload when single-quoted
    Msg,
    /// `K_SCARG`: `a0`..`a3`, the syscall arguments of a SYSCALL record
    ScArg,
}

/// The converter of a field name (one of `Text`, `Int`, `Hex`, `Oct`, `Enc`): the common fields, then the
/// field dictionary (`new-X` typed as `old-X` when only that is listed), then `*uid`/`*gid` as numbers.
pub fn converter(key: &[u8]) -> Kind {
    if let Some(k) = common(key) {
        return k;
    }
    let mut fmt = field_format(key);
    if fmt.is_none() {
        if let Some(rest) = key.strip_prefix(b"new-") {
            // the dictionary lists `old-ses` but not `new-ses` (pre-3.x LOGIN `new ses=`): type the pair alike
            let mut old = Vec::with_capacity(key.len());
            old.extend_from_slice(b"old-");
            old.extend_from_slice(rest);
            fmt = field_format(&old);
        }
    }
    match fmt {
        Some("encoded") => Kind::Enc,
        Some("numeric decimal") => Kind::Int,
        Some("numeric hexadecimal") => Kind::Hex,
        Some("numeric octal") => Kind::Oct,
        _ if key.ends_with(b"uid") || key.ends_with(b"gid") => Kind::Int,
        _ => Kind::Text,
    }
}

/// Fields every record type shares, typed the same wherever they appear (Python's `_COMMON`).
fn common(key: &[u8]) -> Option<Kind> {
    Some(match key {
        b"arch" => Kind::Hex,
        b"syscall" | b"items" | b"pid" | b"ppid" | b"exit" | b"ses" => Kind::Int,
        b"success" | b"tty" | b"comm" | b"exe" | b"subj" | b"key" => Kind::Enc,
        // URINGOP: not in the field dictionary; the kernel writes `uring_op=%d` (laurel's golden: a number)
        b"uring_op" => Kind::Int,
        _ => return None,
    })
}

/// The kind of a field name in a record body: `Free`, `Msg`, `ScArg` for the empty key, `msg`, `a0`..`a3`,
/// else its [`converter`].
pub fn kind_of(key: &[u8]) -> Kind {
    match key {
        b"" => Kind::Free,
        b"msg" => Kind::Msg,
        b"a0" | b"a1" | b"a2" | b"a3" => Kind::ScArg,
        _ => converter(key),
    }
}

/// Bound of the [`Kinds`] cache: field names are attacker-controlled, so the cache is cleared when full.
const KINDS_MAX: usize = 4096;

/// A cache of [`kind_of`] by field name, owned by its user (the renderer).
#[derive(Debug, Default)]
pub struct Kinds {
    map: HashMap<Box<[u8]>, Kind>,
}

impl Kinds {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`kind_of`]`(key)`, cached.
    pub fn kind(&mut self, key: &[u8]) -> Kind {
        if let Some(k) = hot_kind(key) {
            return k;
        }
        if let Some(k) = self.map.get(key) {
            return *k;
        }
        let k = kind_of(key);
        if self.map.len() >= KINDS_MAX {
            self.map.clear();
        }
        self.map.insert(key.into(), k);
        k
    }

    /// [`converter`]`(key)`, cached.
    pub fn converter(&mut self, key: &[u8]) -> Kind {
        match self.kind(key) {
            Kind::Free | Kind::Msg | Kind::ScArg => converter(key),
            k => k,
        }
    }
}

/// [`kind_of`] of the names of the common records (SYSCALL, PATH, CWD, PROCTITLE, SOCKADDR, BPRM_FCAPS, the
/// user-space payloads) without a hash lookup; None for any other name.
fn hot_kind(key: &[u8]) -> Option<Kind> {
    Some(match key {
        b"arch" | b"cap_fp" | b"cap_fi" | b"cap_fver" | b"fver" | b"fp" | b"fi" | b"old_pp"
        | b"old_pi" | b"old_pe" | b"old_pa" | b"pp" | b"pi" | b"pe" | b"pa" => Kind::Hex,
        b"syscall" | b"exit" | b"items" | b"ppid" | b"pid" | b"auid" | b"uid" | b"gid"
        | b"euid" | b"suid" | b"fsuid" | b"egid" | b"sgid" | b"fsgid" | b"ses" | b"item"
        | b"inode" | b"ouid" | b"ogid" | b"cap_fe" | b"res" | b"fe" => Kind::Int,
        b"success" | b"tty" | b"comm" | b"exe" | b"subj" | b"key" | b"name" | b"cwd"
        | b"proctitle" | b"saddr" | b"acct" | b"addr" | b"cmd" => Kind::Enc,
        b"dev" | b"rdev" | b"nametype" | b"cap_frootid" | b"obj" | b"op" | b"hostname"
        | b"terminal" | b"grantors" | b"frootid" | b"id" => Kind::Text,
        b"mode" => Kind::Oct,
        b"a0" | b"a1" | b"a2" | b"a3" => Kind::ScArg,
        b"msg" => Kind::Msg,
        b"" => Kind::Free,
        _ => return None,
    })
}

/// Convert a token with a converter kind (`Free`, `Msg` and `ScArg` convert as text).
pub fn convert(kind: Kind, token: &[u8]) -> Value {
    match kind {
        Kind::Int => as_int(token),
        Kind::Hex => as_hexnum(token),
        Kind::Oct => as_octnum(token),
        Kind::Enc => as_bytes(token),
        Kind::Text | Kind::Free | Kind::Msg | Kind::ScArg => as_text(token),
    }
}

/// Printable ASCII without `%` and `+`: bytes that [`escape`] keeps as they are.
#[inline]
fn trivial_byte(c: u8) -> bool {
    (0x20..=0x7e).contains(&c) && c != b'%' && c != b'+'
}

/// The bytes escape to themselves (Python's `TRIVIAL`).
#[inline]
pub fn is_trivial(b: &[u8]) -> bool {
    b.iter().all(|&c| trivial_byte(c))
}

/// Bytes as escaped text: [`escape`], with a fast path for text that escapes to itself.
#[inline]
pub fn text(b: &[u8]) -> String {
    if is_trivial(b) {
        if let Ok(s) = std::str::from_utf8(b) {
            return s.to_owned();
        }
    }
    escape(b)
}

/// Bytes that Python kept as written (free words, braced ENRICHED values, the node name) as text: valid
/// UTF-8 as it is; a byte that is not UTF-8 (a lone surrogate in Python, not writable as JSON) as `%xx`.
pub fn lossless(b: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(b) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for &c in chunk.invalid() {
            push_pct(&mut out, c);
        }
    }
    Cow::Owned(out)
}

fn push_pct(out: &mut String, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('%');
    out.push(char::from(HEX[usize::from(c >> 4)]));
    out.push(char::from(HEX[usize::from(c & 15)]));
}

/// Any token as text: quotes removed, `(null)`/`?` → null.
pub fn as_text(token: &[u8]) -> Value {
    match text_of(token) {
        Some(s) => Value::String(s),
        None => Value::Null,
    }
}

/// [`as_text`] as an `Option<String>`.
pub fn text_of(token: &[u8]) -> Option<String> {
    let Some((&c, rest)) = token.split_first() else {
        return Some(String::new());
    };
    if c == b'"' || c == b'\'' {
        let inner = match rest.split_last() {
            Some((&last, inner)) if last == c => inner,
            _ => rest,
        };
        return Some(text(inner));
    }
    if token == b"(null)" || token == b"?" {
        return None;
    }
    Some(text(token))
}

/// Decimal field → a number (text if not a number or beyond 64 bits).
pub fn as_int(token: &[u8]) -> Value {
    match int_value(token) {
        Some(v) => v,
        None => as_text(token),
    }
}

/// A decimal token as a JSON number, or None (not a number, or beyond i64/u64).
pub fn int_value(token: &[u8]) -> Option<Value> {
    let ascii = ascii_form(token)?;
    let (neg, digits) = scan_int(&ascii, 10)?;
    let mut mag: u64 = 0;
    for &c in digits.iter().filter(|&&c| c != b'_') {
        mag = mag.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if !neg {
        Some(Value::from(mag))
    } else if mag <= 1 << 63 {
        // -(2^63) is i64::MIN
        Some(Value::from(0i64.wrapping_sub_unsigned(mag)))
    } else {
        None
    }
}

/// Hexadecimal number field → `"0x…"` (normalised, lower case), else text.
pub fn as_hexnum(token: &[u8]) -> Value {
    match hex_text(token) {
        Some(s) => Value::String(s),
        None => as_text(token),
    }
}

/// `f"0x{int(token, 16):x}"`, or None when the token is not a hex number.
pub fn hex_text(token: &[u8]) -> Option<String> {
    radix_text(token, 16, "0x")
}

/// Octal number field → `"0o…"`, else text.
pub fn as_octnum(token: &[u8]) -> Value {
    match radix_text(token, 8, "0o") {
        Some(s) => Value::String(s),
        None => as_text(token),
    }
}

/// `prefix` + Python's `format(int(token, radix), "x"/"o")`: a `-` sign, the digits in lower case without
/// leading zeros (however many).
fn radix_text(token: &[u8], radix: u32, prefix: &str) -> Option<String> {
    let ascii = ascii_form(token)?;
    let (neg, digits) = scan_int(&ascii, radix)?;
    let mut out = String::with_capacity(prefix.len() + 1 + digits.len());
    out.push_str(prefix);
    let mut sig = digits
        .iter()
        .filter(|&&c| c != b'_')
        .skip_while(|&&c| c == b'0')
        .peekable();
    if sig.peek().is_none() {
        out.push('0');
        return Some(out);
    }
    if neg {
        out.push('-');
    }
    out.extend(sig.map(|&c| char::from(c.to_ascii_lowercase())));
    Some(out)
}

/// Encoded field → escaped text of its bytes; `(null)`/`?` → null.
pub fn as_bytes(token: &[u8]) -> Value {
    match bytes_of(token) {
        Some(s) => Value::String(s),
        None => Value::Null,
    }
}

/// [`as_bytes`] as an `Option<String>`.
pub fn bytes_of(token: &[u8]) -> Option<String> {
    match token.split_first() {
        None => Some(String::new()),
        Some((b'"', rest)) => {
            let inner = match rest.split_last() {
                Some((b'"', inner)) => inner,
                _ => rest,
            };
            Some(text(inner))
        }
        Some(_) => decode_encoded(token).map(|b| text(&b)),
    }
}

/// Python's `_PyUnicode_TransformDecimalAndSpaceToASCII`, which `int()` applies first: non-ASCII white space
/// → `' '`, non-ASCII decimal digits → ASCII digits; None when another non-ASCII character (or a byte that
/// is not UTF-8) is left, which `int()` rejects.
fn ascii_form(token: &[u8]) -> Option<Cow<'_, [u8]>> {
    if token.is_ascii() {
        return Some(Cow::Borrowed(token));
    }
    let text = std::str::from_utf8(token).ok()?;
    let mut out = Vec::with_capacity(token.len());
    for c in text.chars() {
        let u = u32::from(c);
        if c.is_ascii() {
            out.push(c as u8);
        } else if SPACES.binary_search(&u).is_ok() {
            out.push(b' ');
        } else {
            let i = DECIMAL_ZEROS.partition_point(|&z| z <= u);
            let zero = *DECIMAL_ZEROS.get(i.checked_sub(1)?)?;
            let d = u - zero;
            if d >= 10 {
                return None;
            }
            out.push(b'0' + d as u8);
        }
    }
    Some(Cow::Owned(out))
}

/// `PyLong_FromString`'s white space.
fn is_py_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Python's limit on the digits of a decimal integer string (`sys.get_int_max_str_digits()`, 3.11).
const MAX_STR_DIGITS: usize = 4300;

/// Python's `int(text, radix)` (radix 8, 10 or 16) over the [`ascii_form`] of a token: (negative, its
/// digits, `_` separators included), or None where Python raises ValueError.
fn scan_int(text: &[u8], radix: u32) -> Option<(bool, &[u8])> {
    let mut s = text;
    while let [c, rest @ ..] = s {
        if !is_py_space(*c) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., c] = s {
        if !is_py_space(*c) {
            break;
        }
        s = rest;
    }
    let mut neg = false;
    match s {
        [b'-', rest @ ..] => {
            neg = true;
            s = rest;
        }
        [b'+', rest @ ..] => s = rest,
        _ => {}
    }
    let prefix: &[u8] = match radix {
        16 => b"xX",
        8 => b"oO",
        _ => b"",
    };
    if let [b'0', c, rest @ ..] = s {
        if prefix.contains(c) {
            // one underscore is allowed right after the prefix
            s = rest.strip_prefix(b"_").unwrap_or(rest);
        }
    }
    let mut prev_digit = false;
    let mut count = 0usize;
    for &c in s {
        if c == b'_' {
            if !prev_digit {
                return None; // leading or doubled underscore
            }
            prev_digit = false;
        } else if char::from(c).is_digit(radix) {
            prev_digit = true;
            count += 1;
        } else {
            return None;
        }
    }
    // empty, a trailing underscore, or more decimal digits than Python converts
    if !prev_digit || (radix == 10 && count > MAX_STR_DIGITS) {
        return None;
    }
    Some((neg, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds() {
        assert_eq!(kind_of(b""), Kind::Free);
        assert_eq!(kind_of(b"msg"), Kind::Msg);
        assert_eq!(kind_of(b"a2"), Kind::ScArg);
        assert_eq!(kind_of(b"a4"), Kind::Text);
        assert_eq!(kind_of(b"arch"), Kind::Hex);
        assert_eq!(kind_of(b"pid"), Kind::Int);
        assert_eq!(kind_of(b"key"), Kind::Enc);
        assert_eq!(kind_of(b"uring_op"), Kind::Int);
        assert_eq!(kind_of(b"mode"), Kind::Oct);
        assert_eq!(kind_of(b"cap_fp"), Kind::Hex);
        assert_eq!(kind_of(b"name"), Kind::Enc);
        assert_eq!(kind_of(b"auid"), Kind::Int);
        assert_eq!(kind_of(b"nametype"), Kind::Text);
        assert_eq!(kind_of(b"old-ses"), Kind::Int);
        assert_eq!(kind_of(b"new-ses"), Kind::Int);
        assert_eq!(kind_of(b"new-auid"), Kind::Int);
        assert_eq!(kind_of(b"zzzuid"), Kind::Int);
        assert_eq!(kind_of(b"zzzgid"), Kind::Int);
        assert_eq!(kind_of(b"zzz"), Kind::Text);
        assert_eq!(converter(b"msg"), Kind::Text);
        assert_eq!(converter(b"a0"), Kind::Text);
        let mut k = Kinds::new();
        assert_eq!(k.kind(b"pid"), Kind::Int);
        assert_eq!(k.kind(b"pid"), Kind::Int);
        assert_eq!(k.converter(b"msg"), Kind::Text);
        assert_eq!(k.kind(b"msg"), Kind::Msg);
        // the fast path agrees with the rules (Python: kind_of)
        let hot = "arch cap_fp cap_fi cap_fver fver fp fi old_pp old_pi old_pe old_pa pp pi pe pa syscall \
                   exit items ppid pid auid uid gid euid suid fsuid egid sgid fsgid ses item inode ouid ogid \
                   cap_fe res fe success tty comm exe subj key name cwd proctitle saddr acct addr cmd dev rdev \
                   nametype cap_frootid obj op hostname terminal grantors frootid id mode a0 a1 a2 a3 msg";
        for key in hot.split_whitespace().chain([""]) {
            assert_eq!(
                hot_kind(key.as_bytes()),
                Some(kind_of(key.as_bytes())),
                "{key}"
            );
        }
        assert_eq!(hot_kind(b"zzz"), None);
    }

    #[test]
    fn text_values() {
        assert_eq!(as_text(b""), json!(""));
        assert_eq!(as_text(b"?"), json!(null));
        assert_eq!(as_text(b"(null)"), json!(null));
        assert_eq!(as_text(b"\"?\""), json!("?"));
        assert_eq!(as_text(b"'x y'"), json!("x y"));
        assert_eq!(as_text(b"'x y"), json!("x y"));
        assert_eq!(as_text(b"\"a'"), json!("a'"));
        assert_eq!(as_text(b"\""), json!(""));
        assert_eq!(as_text(b"'"), json!(""));
        assert_eq!(as_text(b"abc"), json!("abc"));
        assert_eq!(as_text(b"x%y"), json!("x%25y"));
        assert_eq!(as_text(b"a\xffb"), json!("a%ffb"));
        assert_eq!(as_text("é".as_bytes()), json!("é"));
    }

    #[test]
    fn int_values() {
        assert_eq!(as_int(b"0"), json!(0));
        assert_eq!(as_int(b"-2"), json!(-2));
        assert_eq!(as_int(b"+7"), json!(7));
        assert_eq!(as_int(b"007"), json!(7));
        assert_eq!(as_int(b"-0"), json!(0));
        assert_eq!(as_int(b"1_000"), json!(1000));
        assert_eq!(as_int(b"1__0"), json!("1__0"));
        assert_eq!(as_int(b"_1"), json!("_1"));
        assert_eq!(as_int(b"1_"), json!("1_"));
        assert_eq!(as_int(b" \t5\x0b"), json!(5));
        assert_eq!(as_int(b"\x1c5"), json!("%1c5"));
        assert_eq!(as_int("\u{a0}5\u{3000}".as_bytes()), json!(5));
        assert_eq!(as_int("\u{663}".as_bytes()), json!(3)); // ARABIC-INDIC DIGIT THREE
        assert_eq!(as_int("\u{ff11}\u{ff12}".as_bytes()), json!(12)); // fullwidth
        assert_eq!(as_int("\u{663}x".as_bytes()), json!("\u{663}x"));
        assert_eq!(as_int(b"5\xff"), json!("5%ff"));
        let zeros = "0".repeat(4300);
        assert_eq!(
            as_int(format!("{zeros}5").as_bytes()),
            json!(format!("{zeros}5"))
        );
        assert_eq!(as_int(format!("{}5", &zeros[1..]).as_bytes()), json!(5));
        assert_eq!(as_hexnum(format!("{zeros}5").as_bytes()), json!("0x5"));
        assert_eq!(as_int(b"4294967295"), json!(4294967295u64));
        assert_eq!(as_int(b"18446744073709551615"), json!(u64::MAX));
        assert_eq!(as_int(b"-9223372036854775808"), json!(i64::MIN));
        // beyond 64 bits: text (Python: an int)
        assert_eq!(
            as_int(b"18446744073709551616"),
            json!("18446744073709551616")
        );
        assert_eq!(
            as_int(b"-9223372036854775809"),
            json!("-9223372036854775809")
        );
        assert_eq!(as_int(b"unset"), json!("unset"));
        assert_eq!(as_int(b"?"), json!(null));
        assert_eq!(as_int(b"\"5\""), json!("5"));
        assert_eq!(as_int(b"0x10"), json!("0x10"));
        assert_eq!(as_int(b""), json!(""));
        assert_eq!(as_int(b"-"), json!("-"));
    }

    #[test]
    fn hex_and_oct_values() {
        assert_eq!(as_hexnum(b"c000003e"), json!("0xc000003e"));
        assert_eq!(as_hexnum(b"C000003E"), json!("0xc000003e"));
        assert_eq!(as_hexnum(b"0000000000000000"), json!("0x0"));
        assert_eq!(as_hexnum(b"0x1F"), json!("0x1f"));
        assert_eq!(as_hexnum(b"0x_1F"), json!("0x1f"));
        assert_eq!(as_hexnum(b"0x"), json!("0x"));
        assert_eq!(as_hexnum(b"-1f"), json!("0x-1f"));
        assert_eq!(as_hexnum(b"-0"), json!("0x0"));
        assert_eq!(as_hexnum(b"x86_64"), json!("x86_64"));
        // any size (Python's ints are unbounded)
        assert_eq!(
            as_hexnum(b"0fffffffffffffffffffffffffffffffff"),
            json!("0xfffffffffffffffffffffffffffffffff")
        );
        assert_eq!(as_hexnum(b"-00_0"), json!("0x0"));
        assert_eq!(as_hexnum(b"-0_A"), json!("0x-a"));
        assert_eq!(as_octnum(b"0o_1_0"), json!("0o10"));
        assert_eq!(
            as_hexnum(b"ffffffffffffffffffffffffffffffff"),
            json!("0xffffffffffffffffffffffffffffffff")
        );
        assert_eq!(as_octnum(b"0100755"), json!("0o100755"));
        assert_eq!(as_octnum(b"0o17"), json!("0o17"));
        assert_eq!(as_octnum(b"0"), json!("0o0"));
        assert_eq!(as_octnum(b"-7"), json!("0o-7"));
        assert_eq!(as_octnum(b"8"), json!("8"));
        assert_eq!(as_octnum(b"(null)"), json!(null));
    }

    #[test]
    fn byte_values() {
        assert_eq!(as_bytes(b""), json!(""));
        assert_eq!(as_bytes(b"(null)"), json!(null));
        assert_eq!(as_bytes(b"?"), json!(null));
        assert_eq!(as_bytes(b"\"?\""), json!("?"));
        assert_eq!(as_bytes(b"\"a b\""), json!("a b"));
        assert_eq!(as_bytes(b"\"%+\""), json!("%25%2b"));
        assert_eq!(as_bytes(b"\"abc"), json!("abc"));
        assert_eq!(as_bytes(b"\""), json!(""));
        assert_eq!(as_bytes(b"2F746D70"), json!("/tmp"));
        assert_eq!(as_bytes(b"2f746d70"), json!("/tmp"));
        assert_eq!(as_bytes(b"2F746D70\""), json!("/tmp"));
        assert_eq!(as_bytes(b"2F746D7"), json!("2F746D7"));
        assert_eq!(as_bytes(b"yes"), json!("yes"));
        assert_eq!(as_bytes(b"ABCD"), json!("%ab%cd"));
        assert_eq!(as_bytes(b"'abc'"), json!("'abc'"));
        assert_eq!(as_bytes(b"/usr/bin/top"), json!("/usr/bin/top"));
        assert_eq!(
            as_bytes(b"746F756368002F746D702F6120620A"),
            json!("touch%00/tmp/a b%0a")
        );
    }

    #[test]
    fn lossless_text() {
        assert_eq!(lossless(b"a%b"), "a%b");
        assert_eq!(lossless("é\t".as_bytes()), "é\t");
        assert_eq!(lossless(b"a\xffb\xc3"), "a%ffb%c3");
    }
}
