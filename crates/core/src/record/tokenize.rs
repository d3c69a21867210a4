//! Record bodies → fields: the `key=value` tokens, the ENRICHED tail, user-space payloads. (Port of the
//! body half of records/parser.py.)
//!
//! Python's tokenizer is a plain-shape check (`_fast`), a shortcut for user-space messages, and a regular
//! expression for the general case with repairs for the odd shapes (AppArmor's `subj=... (enforce)`, `old`/
//! `new` qualifiers, glued ENRICHED keys). Each is ported as written, with the same results in linear time:
//! the first two differ from the general scan on some odd bodies.
use super::{Field, Tok, FREE_TEXT};
use crate::interpret::pyunicode::DECIMAL_ZEROS;
use memchr::{memchr, memchr2, memchr_iter, memmem};

// -- bytes ------------------------------------------------------------------------------------------------

/// Byte classes of the tokenizer, one table lookup per byte: bit [`SEP`] for the separators (space, tab and
/// auditd's ENRICHED separator 0x1d), bit [`NOT_KEY`] for the bytes a key cannot hold (the separators, `=`,
/// quotes and braces).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let sep = c == b' ' || c == b'\t' || c == 0x1d;
        let not_key = sep || matches!(c, b'=' | b'"' | b'\'' | b'{' | b'}');
        t[i] = if sep { SEP } else { 0 } | if not_key { NOT_KEY } else { 0 };
        i += 1;
    }
    t
};
const SEP: u8 = 1;
const NOT_KEY: u8 = 2;

/// A token separator: space, tab or 0x1d.
fn is_sep(c: u8) -> bool {
    CLASS[usize::from(c)] & SEP != 0
}

/// A key byte: anything but a separator, `=`, a quote or a brace.
fn is_key_byte(c: u8) -> bool {
    CLASS[usize::from(c)] & NOT_KEY == 0
}

/// A byte of an ENRICHED key after its first: `[A-Z0-9_]`.
fn is_upper_key_byte(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'
}

/// The end of the run of bytes from `i` that satisfy `f`.
pub(super) fn run(s: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    i + s
        .get(i..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&c| f(c))
        .count()
}

pub(super) fn at(s: &[u8], i: usize) -> Option<u8> {
    s.get(i).copied()
}

pub(super) fn starts_at(s: &[u8], i: usize, prefix: &[u8]) -> bool {
    s.get(i..).is_some_and(|rest| rest.starts_with(prefix))
}

fn strip_spaces(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b' ').unwrap_or(s.len());
    let end = s.iter().rposition(|&c| c != b' ').map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// Python's `s[:1].isupper()`: the first character (decoded as UTF-8) is upper case.
fn first_char_upper(s: &[u8]) -> bool {
    match s.first() {
        None => false,
        Some(c) if c.is_ascii() => c.is_ascii_uppercase(),
        Some(_) => s
            .utf8_chunks()
            .next()
            .and_then(|chunk| chunk.valid().chars().next())
            .is_some_and(char::is_uppercase),
    }
}

/// A span of a text: (start, end).
pub(super) type Span = (usize, usize);

/// The bytes of a span, empty if it is out of range.
pub(super) fn slice(s: &[u8], span: Span) -> &[u8] {
    s.get(span.0..span.1).unwrap_or_default()
}

// -- bodies -----------------------------------------------------------------------------------------------

/// Split a record body at the 0x1d separator of auditd's ENRICHED format.
pub fn split_enrichment(body: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(0x1d, body) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    }
}

/// Split a record body into raw `(key, token)` fields and `(KEY, token)` enrichment.
///
/// The enrichment starts at a 0x1d byte, at an upper-case key glued to the previous value, or at the first
/// upper-case key after a space (the three ways auditd and its re-writers have been seen to write it).
/// With `detect` off (`--format raw`) only the 0x1d byte starts it.
pub fn tokenize(body: &[u8], detect: bool) -> (Vec<Field>, Vec<Field>) {
    let (raw, tail) = split_enrichment(body);
    let raw = strip_spaces(raw);
    let mut enrich = match tail.map(strip_spaces) {
        Some(t) => plain_fields(t, false).unwrap_or_else(|| Scanner::new(t).scan(true).0),
        None => Vec::new(),
    };
    if raw.is_empty() {
        return (Vec::new(), enrich);
    }
    if let Some(fields) = plain_fields(raw, detect).or_else(|| user_message(raw, detect)) {
        return (fields, enrich);
    }
    let (fields, cut) = Scanner::new(raw).scan(!detect);
    if let Some(cut) = cut {
        let mut head = Scanner::new(raw.get(cut..).unwrap_or_default())
            .scan(true)
            .0;
        head.append(&mut enrich);
        enrich = head;
    }
    (fields, enrich)
}

/// A user-space message: plain fields, then the payload `msg='...'` as the last one (Python's shortcut in
/// `tokenize`). The payload is the text from ` msg='` to the end when the body ends with `'` and holds two
/// `'` only, and the head is plain ([`plain_fields`]): a `"` of the head is then never paired with one of the
/// payload, as the full scan would.
fn user_message(raw: &[u8], detect: bool) -> Option<Vec<Field>> {
    let i = memmem::find(raw, b" msg='").filter(|&i| i > 0)?;
    if !raw.ends_with(b"'") || memchr_iter(b'\'', raw).count() != 2 {
        return None;
    }
    let head = raw.get(..i)?;
    let head_end = head.iter().rposition(|&c| c != b' ').map_or(0, |j| j + 1);
    let mut fields = plain_fields(head.get(..head_end)?, detect)?;
    fields.push((Tok::from_slice(b"msg"), Tok::from_slice(raw.get(i + 5..)?)));
    Some(fields)
}

/// Python's `_fast`: the fields of a body of the plain shape, else None. It takes the matches of
/// `([^ \t\x1d="'{}]+)=((?>"[^"]*"|[^ \t\x1d]*))` as `re.findall` finds them, when the text has no `'` or
/// `{`, as many matches as spaces + 1 and as `=`, one character between matches (a `"` too) and, with
/// `detect`, no upper-case key. On these bodies it mostly agrees with the full scan, but not always
/// (`a="1 2""b=`), so it is kept as Python has it.
fn plain_fields(raw: &[u8], detect: bool) -> Option<Vec<Field>> {
    // as many `=` as spaces + 1, and no `'` or `{`: cheap necessary conditions
    let eqs = memchr_iter(b'=', raw).count();
    if eqs != memchr_iter(b' ', raw).count() + 1 || memchr2(b'\'', b'{', raw).is_some() {
        return None;
    }
    let mut fields = Vec::with_capacity(eqs);
    plain_matches(raw, detect, |k, v| {
        fields.push((Tok::from_slice(k), Tok::from_slice(v)))
    })?;
    Some(fields)
}

/// The matches of [`plain_fields`], each given to `each`; their number if the body has the plain shape.
fn plain_matches(raw: &[u8], detect: bool, mut each: impl FnMut(&[u8], &[u8])) -> Option<usize> {
    // `=` outside the keys' own fails at once (Python's `=` count); gaps and spaces are counted
    let (mut n, mut gaps, mut spaces) = (0, 0, 0);
    let mut p = 0;
    while p < raw.len() {
        let key_end = run(raw, p, is_key_byte);
        if at(raw, key_end) != Some(b'=') || key_end == p {
            // no match starts in p..=key_end: key bytes (no space, no `=`), then one byte that is neither
            match at(raw, key_end) {
                Some(b'=') => return None,
                Some(c) => {
                    gaps += key_end - p + 1;
                    spaces += usize::from(c == b' ');
                }
                None => gaps += key_end - p,
            }
            p = key_end + 1;
            continue;
        }
        let v = key_end + 1;
        let v_end = match at(raw, v) {
            Some(b'"') => match memchr(b'"', raw.get(v + 1..).unwrap_or_default()) {
                Some(q) => v + 1 + q + 1,
                None => run(raw, v, |c| !is_sep(c)),
            },
            _ => run(raw, v, |c| !is_sep(c)),
        };
        let (key, value) = (slice(raw, (p, key_end)), slice(raw, (v, v_end)));
        if memchr(b'=', value).is_some() || (detect && py_isupper(key)) {
            return None;
        }
        if value.first() == Some(&b'"') {
            spaces += memchr_iter(b' ', value).count();
        }
        each(key, value);
        n += 1;
        p = v_end;
    }
    (n > 0 && spaces == n - 1 && gaps == n - 1).then_some(n)
}

/// Python's `str.isupper()` of bytes read with surrogateescape: an upper-case character and no lower-case
/// or title-case one.
fn py_isupper(s: &[u8]) -> bool {
    if s.is_ascii() {
        let mut upper = false;
        for c in s {
            if c.is_ascii_lowercase() {
                return false;
            }
            upper |= c.is_ascii_uppercase();
        }
        return upper;
    }
    let mut upper = false;
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_lowercase() || is_titlecase(c) {
                return false;
            }
            upper |= c.is_uppercase();
        }
    }
    upper
}

/// The title-case letters (category Lt): `ǅ`, `ǈ`, `ǋ`, `ǲ` and the Greek ones with prosgegrammeni.
fn is_titlecase(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1c5 | 0x1c8 | 0x1cb | 0x1f2 | 0x1f88..=0x1f8f | 0x1f98..=0x1f9f | 0x1fa8..=0x1faf | 0x1fbc | 0x1fcc | 0x1ffc
    )
}

/// The next position of one byte at or after a position, remembering the last answer: the scanner asks
/// with positions that only grow, so a byte that is not there is searched for once.
struct Next {
    byte: u8,
    /// (searched from, found at)
    last: Option<(usize, Option<usize>)>,
}

impl Next {
    fn new(byte: u8) -> Next {
        Next { byte, last: None }
    }

    fn find(&mut self, s: &[u8], from: usize) -> Option<usize> {
        if let Some((searched, found)) = self.last {
            if from >= searched {
                match found {
                    None => return None,
                    Some(q) if q >= from => return Some(q),
                    Some(_) => {}
                }
            }
        }
        let found = s
            .get(from..)
            .and_then(|rest| memchr(self.byte, rest))
            .map(|i| from + i);
        self.last = Some((from, found));
        found
    }
}

/// The body tokenizer (Python's `_TOKEN` regular expression and `_scan`).
struct Scanner<'a> {
    s: &'a [u8],
    dquote: Next,
    squote: Next,
    brace: Next,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a [u8]) -> Scanner<'a> {
        Scanner {
            s,
            dquote: Next::new(b'"'),
            squote: Next::new(b'\''),
            brace: Next::new(b'}'),
        }
    }

    /// Where the value starting at `i` ends: `"..."`, `'...'` (double-quoted parts may hold `'`), `{...}`,
    /// else a bare run up to a separator (possibly empty).
    fn value_end(&mut self, i: usize) -> usize {
        match at(self.s, i) {
            Some(b'"') => {
                if let Some(q) = self.dquote.find(self.s, i + 1) {
                    return q + 1;
                }
            }
            Some(b'\'') => {
                if let Some(end) = self.single_quoted(i + 1) {
                    return end;
                }
                if let Some(q) = self.squote.find(self.s, i + 1) {
                    return q + 1;
                }
            }
            Some(b'{') => {
                if let Some(q) = self.brace.find(self.s, i + 1) {
                    return q + 1;
                }
            }
            _ => {}
        }
        run(self.s, i, |c| !is_sep(c))
    }

    /// `'(?:[^'"]+|"[^"]*")*+'` after its opening quote at `i - 1`: the end, or None.
    fn single_quoted(&mut self, mut i: usize) -> Option<usize> {
        loop {
            let q = i + memchr2(b'\'', b'"', self.s.get(i..)?)?;
            if at(self.s, q) == Some(b'\'') {
                return Some(q + 1);
            }
            i = self.dquote.find(self.s, q + 1)? + 1;
        }
    }

    /// Tokens up to where an ENRICHED tail starts (its offset, or None); all of them if `all`.
    fn scan(&mut self, all: bool) -> (Vec<Field>, Option<usize>) {
        let s = self.s;
        let mut fields: Vec<Field> = Vec::new();
        let mut qualified = false;
        let mut i = 0;
        loop {
            i = run(s, i, is_sep);
            if i >= s.len() {
                break;
            }
            let key_end = run(s, i, is_key_byte);
            if key_end > i && at(s, key_end) == Some(b'=') {
                let key = slice(s, (i, key_end));
                let vstart = key_end + 1;
                let vend = self.value_end(vstart);
                let value = slice(s, (vstart, vend));
                if !all {
                    if is_enrich_key(key) {
                        return (fold(fields, qualified), Some(i));
                    }
                    if !matches!(value.first(), Some(b'"' | b'\'' | b'{')) {
                        if let Some(g) = glued_key(value).filter(|&g| g > 0) {
                            // an ENRICHED key glued to a bare value: `cap_frootid=0OUID="root"`
                            fields.push((
                                Tok::from_slice(key),
                                Tok::from_slice(slice(value, (0, g))),
                            ));
                            return (fold(fields, qualified), Some(vstart + g));
                        }
                    }
                }
                fields.push((Tok::from_slice(key), Tok::from_slice(value)));
                i = vend;
                continue;
            }
            let wend = run(s, i, |c| !is_sep(c));
            let word = slice(s, (i, wend));
            i = wend;
            let last = fields.last_mut();
            match last {
                // AppArmor: `subj=/usr/sbin/cupsd (enforce)` is one value
                Some((k, v))
                    if k.as_slice() == b"subj"
                        && word.starts_with(b"(")
                        && word.len() > 1
                        && word.ends_with(b")") =>
                {
                    v.push(b' ');
                    v.extend_from_slice(word);
                }
                // an ENRICHED value with spaces, written unquoted: `SADDR=unknown family(0)`
                Some((k, v)) if all && first_char_upper(k) => {
                    v.push(b' ');
                    v.extend_from_slice(word);
                }
                _ => {
                    qualified |= is_qualifier(word);
                    fields.push((Tok::from_slice(FREE_TEXT), Tok::from_slice(word)));
                }
            }
        }
        (fold(fields, qualified), None)
    }
}

/// An ENRICHED key: `[A-Z][A-Z0-9_]*`.
fn is_enrich_key(key: &[u8]) -> bool {
    matches!(key.split_first(), Some((c, rest)) if c.is_ascii_uppercase() && rest.iter().all(|&c| is_upper_key_byte(c)))
}

/// Where the first `[A-Z][A-Z0-9_]*=` starts in a value (Python's `_GLUE.search`).
fn glued_key(value: &[u8]) -> Option<usize> {
    let mut prev = 0;
    for eq in memchr_iter(b'=', value) {
        // the run of [A-Z0-9_] before this '=' (runs before different '=' do not overlap)
        let mut start = eq;
        while start > prev && value.get(start - 1).copied().is_some_and(is_upper_key_byte) {
            start -= 1;
        }
        if let Some(off) = slice(value, (start, eq))
            .iter()
            .position(u8::is_ascii_uppercase)
        {
            return Some(start + off);
        }
        prev = eq + 1;
    }
    None
}

fn is_qualifier(word: &[u8]) -> bool {
    word == b"old" || word == b"new"
}

fn fold(fields: Vec<Field>, qualified: bool) -> Vec<Field> {
    if qualified {
        fold_qualifiers(fields)
    } else {
        fields
    }
}

/// `old auid=1 new auid=2` (pre-3.x kernels) → `old-auid`, `new-auid`.
fn fold_qualifiers(fields: Vec<Field>) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::with_capacity(fields.len());
    let mut pending: Option<Tok> = None;
    for (k, v) in fields {
        if k.is_empty() && is_qualifier(&v) {
            if let Some(p) = pending.replace(v) {
                out.push((Tok::from_slice(FREE_TEXT), p));
            }
            continue;
        }
        let mut k = k;
        if let Some(p) = pending.take() {
            if k.is_empty() {
                out.push((Tok::from_slice(FREE_TEXT), p));
            } else {
                let mut qualified = p;
                qualified.push(b'-');
                qualified.extend_from_slice(&k);
                k = qualified;
            }
        }
        out.push((k, v));
    }
    if let Some(p) = pending {
        out.push((Tok::from_slice(FREE_TEXT), p));
    }
    out
}

/// Fields of a user-space payload `msg='op=PAM:... acct="x" res=success'` (quotes included or not).
pub fn parse_nested(token: &[u8]) -> Vec<Field> {
    let token = match token {
        [b'\'', inner @ .., b'\''] => inner,
        _ => token,
    };
    let mut fields = tokenize(token, true).0;
    if memmem::find(token, b": ").is_some() {
        // old login payload `msg='uid=848: exe="/bin/login" ...'`: the colon ends the value
        for (_, v) in fields.iter_mut() {
            // Python's `v[:-1].isdigit()`, here for the decimal digits (category Nd) only
            if let Some(digits) = v.strip_suffix(b":") {
                if !digits.is_empty() && decimal_run(digits, 0) == digits.len() {
                    v.pop();
                }
            }
        }
    }
    if memchr(b'(', token).is_some() {
        unparen(&mut fields);
    }
    fields
}

/// Old PAM payloads (audit 1.x): `exe="/usr/sbin/crond" (hostname=?, addr=?, terminal=cron res=success)`.
/// Inside the parenthesised group the leading `(`, the `,` after values and the closing `)` are syntax,
/// not part of keys and values (libauparse and go-libaudit read it so).
fn unparen(fields: &mut Vec<Field>) {
    let mut inside = false;
    fields.retain_mut(|(k, v)| {
        if !inside && k.len() > 1 && k.starts_with(b"(") {
            inside = true;
            k.remove(0);
        }
        if inside {
            if k.is_empty() && v.as_slice() == b")" {
                inside = false;
                return false;
            }
            let quoted = matches!(v.first(), Some(b'"' | b'\'' | b'{'));
            if !quoted && v.ends_with(b")") {
                v.pop();
                inside = false;
            }
            if !quoted && v.ends_with(b",") {
                v.pop();
            }
        }
        true
    });
}

// -- Python's text rules ---------------------------------------------------------------------------------

/// The bytes of the first `n` characters of `bytes` as Python read them (UTF-8 with surrogateescape: an
/// invalid byte is one character).
pub(super) fn char_prefix(bytes: &[u8], n: usize) -> &[u8] {
    let mut chars = 0;
    let mut len = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if chars == n {
                return bytes.get(..len).unwrap_or_default();
            }
            chars += 1;
            len += c.len_utf8();
        }
        for _ in chunk.invalid() {
            if chars == n {
                return bytes.get(..len).unwrap_or_default();
            }
            chars += 1;
            len += 1;
        }
    }
    bytes
}

/// The length in bytes of the Unicode decimal digit (Python's `\d`: category Nd) at `i`, or 0.
pub(super) fn decimal_digit_len(s: &[u8], i: usize) -> usize {
    match at(s, i) {
        Some(c) if c.is_ascii_digit() => 1,
        Some(c) if c.is_ascii() => 0,
        None => 0,
        Some(_) => {
            let rest = s
                .get(i..i.saturating_add(4).min(s.len()))
                .unwrap_or_default();
            match rest
                .utf8_chunks()
                .next()
                .and_then(|chunk| chunk.valid().chars().next())
            {
                Some(c) => {
                    let n = u32::from(c);
                    let k = DECIMAL_ZEROS.partition_point(|&z| z <= n);
                    let is_digit = k
                        .checked_sub(1)
                        .and_then(|k| DECIMAL_ZEROS.get(k))
                        .is_some_and(|&z| n - z < 10);
                    if is_digit {
                        c.len_utf8()
                    } else {
                        0
                    }
                }
                None => 0,
            }
        }
    }
}

/// The end of the run of Unicode decimal digits from `i`.
pub(super) fn decimal_run(s: &[u8], mut i: usize) -> usize {
    loop {
        match decimal_digit_len(s, i) {
            0 => return i,
            n => i += n,
        }
    }
}
