//! Event → one JSON object: laurel-shaped record sections, a derived summary, the raw records.
//! (Port of events/render.py; the shape is docs/event-json.md.)
//!
//! ```text
//! {"ID": "SEC.MSEC:SERIAL", "NODE": "...",            NODE only with a node= prefix
//!  "SYSCALL": {...}, "EXECVE": {...}, "CWD": {...}, "PROCTITLE": {...},   one object each
//!  "PATH": [{...}, ...], "SOCKADDR": [...], ...       every other type: a list
//!  "summary": {...},                                  the interpretation, see `summarize`
//!  "raw": ["type=SYSCALL msg=audit(...): ...", ...]}  every record's exact text, in arrival order
//! ```

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{ClosedBy, Event};
use crate::interpret;
use crate::interpret::ids::Identities;
use crate::record::encoding::{decode_encoded, escape};
use crate::record::parse::parse_nested;
use crate::record::values::{self, hex_text, lossless, text_of, Kind, Kinds};
use crate::record::{Record, FREE_TEXT};

const SYSCALL: u32 = 1300;
const SOCKADDR: u32 = 1306;
const CWD: u32 = 1307;
const EXECVE: u32 = 1309;
const EOE: u32 = 1320;
const PROCTITLE: u32 = 1327;

/// Types rendered as one object (the kernel emits at most one per event); every other type is a list.
pub const SINGLE_SECTIONS: [u32; 4] = [SYSCALL, EXECVE, CWD, PROCTITLE];

/// Id fields that get a name key (`uid` → `UID`), and whether the id is a group id.
const ID_NAMES: [(&str, &str, bool); 13] = [
    ("auid", "AUID", false),
    ("uid", "UID", false),
    ("euid", "EUID", false),
    ("suid", "SUID", false),
    ("fsuid", "FSUID", false),
    ("gid", "GID", true),
    ("egid", "EGID", true),
    ("sgid", "SGID", true),
    ("fsgid", "FSGID", true),
    ("ouid", "OUID", false),
    ("ogid", "OGID", true),
    // LOGIN's previous/new login uid (`old-auid=`, pre-3.x `old auid=`/`new auid=`)
    ("old-auid", "OLD-AUID", false),
    ("new-auid", "NEW-AUID", false),
];
const SUMMARY_INTS: [&str; 12] = [
    "pid", "ppid", "auid", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "ses",
];
const SUMMARY_TEXTS: [&str; 5] = ["tty", "comm", "exe", "subj", "key"];
const USER_MSG_KEYS: [&str; 11] = [
    "op", "acct", "id", "exe", "hostname", "addr", "terminal", "res", "grantors", "cmd", "cwd",
];
const PATH_KEYS: [&str; 6] = ["name", "nametype", "inode", "mode", "ouid", "ogid"];

/// Section cache bound (entries), and the longest body cached.
const CACHE_MAX: usize = 8192;
const CACHE_BODY_MAX: usize = 2048;

/// Builds the JSON object of events. `resolve_ids` adds user/group names from this host's databases where
/// the log's ENRICHED tail did not carry them; `raw` includes each record's exact text.
pub struct Renderer {
    ids: Option<Identities>,
    raw: bool,
    kinds: Kinds,
    /// sections of records whose (type, body) repeats verbatim; key: the type (4 bytes LE) then the body
    cache: HashMap<Vec<u8>, Map<String, Value>>,
    key: Vec<u8>,
    /// the last second rendered by `iso` and its text up to the milliseconds
    iso_sec: Option<u64>,
    iso_base: String,
}

impl Renderer {
    /// A renderer; `resolve_ids` resolves uid/gid names with this host's databases.
    pub fn new(resolve_ids: bool, raw: bool) -> Self {
        Renderer {
            ids: resolve_ids.then(Identities::new),
            raw,
            kinds: Kinds::new(),
            cache: HashMap::new(),
            key: Vec::new(),
            iso_sec: None,
            iso_base: String::new(),
        }
    }

    /// The event's JSON object, keys in the order of docs/event-json.md.
    pub fn render(&mut self, ev: &Event) -> Map<String, Value> {
        let mut d = Map::new();
        d.insert("ID".into(), Value::String(ev.id()));
        if let Some(node) = &ev.node {
            d.insert("NODE".into(), Value::String(lossless(node).into_owned()));
        }
        let (arch_num, arch_name) = arch_of(ev.first(SYSCALL).and_then(|r| r.get(b"arch")));
        let mut execve: Vec<&Record> = Vec::new();
        let mut errors: Vec<String> = Vec::new();
        for rec in &ev.records {
            let t = rec.rtype;
            if let Some(e) = &rec.error {
                errors.push(e.clone());
                if rec.sec == 0 {
                    continue;
                }
            }
            if t == EOE {
                continue;
            }
            if t == EXECVE {
                if execve.is_empty() {
                    d.insert("EXECVE".into(), Value::Null); // placeholder: keeps the section in record order
                }
                execve.push(rec);
                continue;
            }
            let sec = if t == PROCTITLE {
                let mut m = Map::new();
                m.insert(
                    "ARGV".into(),
                    escaped(&proctitle_argv(rec.get(b"proctitle"))),
                );
                m
            } else {
                self.section(rec, arch_name.as_deref())
            };
            let sec = Value::Object(sec);
            let name = lossless(&rec.name);
            if SINGLE_SECTIONS.contains(&t) {
                match d.get_mut(&*name) {
                    None => {
                        d.insert(name.into_owned(), sec);
                    }
                    // a second SYSCALL/CWD in one event: keep both, as a list
                    Some(Value::Array(list)) => list.push(sec),
                    Some(prev) => {
                        let first = prev.take();
                        *prev = Value::Array(vec![first, sec]);
                    }
                }
            } else {
                match d.get_mut(&*name) {
                    None => {
                        d.insert(name.into_owned(), Value::Array(vec![sec]));
                    }
                    Some(v @ Value::Null) => *v = Value::Array(vec![sec]),
                    Some(Value::Array(list)) => list.push(sec),
                    // a type named like a top-level key (`type=ID`): Python fails here; the section is
                    // dropped (the record stays in `raw`)
                    Some(_) => {}
                }
            }
        }
        let mut warnings: Vec<String> = Vec::new();
        let mut argv: Option<Vec<Vec<u8>>> = None;
        if !execve.is_empty() {
            let (argc, args, w) = execve_argv(&execve);
            let mut m = Map::new();
            m.insert("argc".into(), argc);
            m.insert("ARGV".into(), escaped(&args));
            d.insert("EXECVE".into(), Value::Object(m));
            argv = Some(args);
            warnings = w;
        }
        warnings.extend(errors);
        let s = self.summarize(
            ev,
            &d,
            arch_num.as_ref(),
            arch_name.as_deref(),
            argv.as_deref(),
            warnings,
        );
        d.insert("summary".into(), Value::Object(s));
        if self.raw {
            let raw = ev.records.iter().map(|r| raw_text(&r.text)).collect();
            d.insert("raw".into(), Value::Array(raw));
        }
        d
    }

    /// The event's JSON object as one compact line of JSON, appended to `out` (no newline).
    pub fn render_json(&mut self, ev: &Event, out: &mut Vec<u8>) {
        let d = self.render(ev);
        // writing to a Vec cannot fail, and a Map<String, Value> always serialises
        let _ = serde_json::to_writer(out, &d);
    }

    // -- sections ---------------------------------------------------------------------------------------------

    /// A record's typed fields. Sections of records whose body repeats verbatim are built once (bounded
    /// cache; SYSCALL excluded as practically unique, error records and long bodies too).
    pub fn section(&mut self, rec: &Record, arch_name: Option<&str>) -> Map<String, Value> {
        let body = rec.body();
        if rec.rtype == SYSCALL || rec.error.is_some() || body.len() > CACHE_BODY_MAX {
            return self.build_section(rec, arch_name);
        }
        self.key.clear();
        self.key.extend_from_slice(&rec.rtype.to_le_bytes());
        self.key.extend_from_slice(body);
        if let Some(sec) = self.cache.get(self.key.as_slice()) {
            return sec.clone();
        }
        let sec = self.build_section(rec, arch_name);
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(self.key.clone(), sec.clone());
        sec
    }

    fn build_section(&mut self, rec: &Record, arch_name: Option<&str>) -> Map<String, Value> {
        let mut out = Map::new();
        let mut free: Vec<&[u8]> = Vec::new();
        let mut argv: Option<Vec<Value>> = None;
        let is_syscall = rec.rtype == SYSCALL;
        for (k, tok) in &rec.fields {
            let kind = self.kinds.kind(k);
            if kind == Kind::Free {
                free.push(tok);
                continue;
            }
            let key = lossless(k);
            if out.contains_key(&*key) {
                continue; // a repeated key: the first value is kept, the raw text has all of them
            }
            let v = match kind {
                Kind::ScArg if is_syscall => {
                    let a = hex_text(tok).unwrap_or_else(|| text_of(tok).unwrap_or_default());
                    argv.get_or_insert_with(Vec::new).push(Value::String(a));
                    continue;
                }
                Kind::Msg if tok.first() == Some(&b'\'') => Value::Object(self.nested(tok)),
                Kind::Msg | Kind::ScArg => values::convert(values::converter(k), tok),
                _ => values::convert(kind, tok),
            };
            out.insert(key.into_owned(), v);
        }
        if !free.is_empty() {
            free_text(&free, &mut out);
        }
        for (k, tok) in &rec.enrich {
            let key = lossless(k);
            if !out.contains_key(&*key) {
                let v = if tok.first() == Some(&b'{') {
                    braced(tok)
                } else {
                    values::as_text(tok)
                };
                out.insert(key.into_owned(), v);
            }
        }
        if is_syscall {
            if let Some(a) = arch_name.filter(|a| !a.is_empty()) {
                if !out.contains_key("ARCH") {
                    out.insert("ARCH".into(), Value::String(a.to_owned()));
                }
            }
            if !out.contains_key("SYSCALL") {
                if let Some(name) = out
                    .get("syscall")
                    .and_then(|nr| syscall_name(arch_name, nr))
                {
                    out.insert("SYSCALL".into(), Value::String(name.to_owned()));
                }
            }
            if let Some(a) = argv {
                out.insert("ARGV".into(), Value::Array(a));
            }
        }
        if let Some(ids) = self.ids.as_mut() {
            names(ids, &mut out);
            if let Some(Value::Object(msg)) = out.get_mut("msg") {
                names(ids, msg); // ids in a user-space payload (`msg='... suid=0'`), as libauparse
            }
        }
        out
    }

    /// A user-space payload `msg='op=... acct="x" res=success'` as an object.
    fn nested(&mut self, tok: &[u8]) -> Map<String, Value> {
        let mut out = Map::new();
        let mut free: Vec<u8> = Vec::new();
        let mut any_free = false;
        for (k, v) in parse_nested(tok) {
            if k.as_slice() == FREE_TEXT {
                if any_free {
                    free.push(b' ');
                }
                free.extend_from_slice(&v);
                any_free = true;
                continue;
            }
            let key = lossless(&k);
            if !out.contains_key(&*key) {
                let kind = self.kinds.converter(&k);
                out.insert(key.into_owned(), values::convert(kind, &v));
            }
        }
        if any_free {
            out.insert("_text".into(), Value::String(lossless(&free).into_owned()));
        }
        out
    }

    // -- summary ----------------------------------------------------------------------------------------------

    fn summarize(
        &mut self,
        ev: &Event,
        d: &Map<String, Value>,
        arch_num: Option<&ArchNum>,
        arch_name: Option<&str>,
        argv: Option<&[Vec<u8>]>,
        warnings: Vec<String>,
    ) -> Map<String, Value> {
        let mut s = Map::new();
        s.insert("time".into(), Value::String(self.iso(ev.sec, ev.msec)));
        let ty = match (ev.records.first(), ev.records.last()) {
            (Some(first), Some(last)) => {
                if first.rtype != EOE || ev.records.len() == 1 {
                    lossless(&first.name).into_owned()
                } else {
                    lossless(&last.name).into_owned()
                }
            }
            _ => String::new(),
        };
        s.insert("type".into(), Value::String(ty));
        s.insert("records".into(), Value::from(ev.records.len()));
        let sc = match d.get("SYSCALL") {
            Some(Value::Array(list)) => list.first(),
            other => other,
        };
        if let Some(Value::Object(sc)) = sc {
            if ev.records.first().map(|r| r.rtype) == Some(SYSCALL) {
                s.insert("type".into(), Value::String("SYSCALL".into()));
            }
            match (arch_name.filter(|a| !a.is_empty()), arch_num) {
                (Some(a), _) => {
                    s.insert("arch".into(), Value::String(a.to_owned()));
                }
                (None, Some(n)) => {
                    s.insert("arch".into(), Value::String(arch_hex(n)));
                }
                (None, None) => {}
            }
            match sc.get("syscall") {
                Some(nr @ Value::Number(n)) => {
                    let name = match syscall_name(arch_name, nr) {
                        Some(name) => Value::String(name.to_owned()),
                        None => match sc.get("SYSCALL") {
                            Some(v) if truthy(v) => v.clone(),
                            _ => Value::String(n.to_string()),
                        },
                    };
                    s.insert("syscall".into(), name);
                    s.insert("syscall_nr".into(), nr.clone());
                }
                // an interpreted log: the name is already there
                Some(nr @ Value::String(_)) => {
                    s.insert("syscall".into(), nr.clone());
                }
                _ => {}
            }
            if let Some(Value::String(succ)) = sc.get("success") {
                if succ == "yes" || succ == "no" {
                    s.insert("success".into(), Value::Bool(succ == "yes"));
                }
            }
            match sc.get("exit") {
                None | Some(Value::Null) => {}
                Some(ex) => {
                    s.insert("exit".into(), ex.clone());
                    match ex {
                        Value::Number(n) => {
                            if let Some(en) = n
                                .as_i64()
                                .filter(|&e| e < 0)
                                .and_then(|e| errno_name(e.unsigned_abs()))
                            {
                                s.insert("errno".into(), Value::String(en.to_owned()));
                            }
                        }
                        Value::String(t) if t.starts_with('E') => {
                            s.insert("errno".into(), ex.clone());
                        }
                        _ => {}
                    }
                }
            }
            copy_present(sc, &mut s, &SUMMARY_INTS);
            copy_present(sc, &mut s, &SUMMARY_TEXTS);
            id_names(sc, &mut s);
        } else {
            summarize_other(ev, d, &mut s);
        }
        if let Some(Value::Object(cwd)) = d.get("CWD") {
            if let Some(c) = cwd.get("cwd") {
                s.insert("cwd".into(), c.clone());
            }
        }
        if let Some(argv) = argv {
            let a = match d.get("EXECVE") {
                Some(Value::Object(ex)) => ex.get("ARGV").cloned().unwrap_or(Value::Null),
                _ => escaped(argv),
            };
            s.insert("argv".into(), a);
            s.insert("argc".into(), Value::from(argv.len()));
        }
        if let Some(Value::Object(pt)) = d.get("PROCTITLE") {
            if !s.contains_key("argv") {
                s.insert(
                    "proctitle".into(),
                    pt.get("ARGV").cloned().unwrap_or(Value::Null),
                );
            }
        }
        if let Some(Value::Array(paths)) = d.get("PATH") {
            let list = paths
                .iter()
                .map(|p| {
                    let mut m = Map::new();
                    if let Value::Object(p) = p {
                        for k in PATH_KEYS {
                            if let Some(v) = p.get(k) {
                                m.insert(k.into(), v.clone());
                            }
                        }
                    }
                    Value::Object(m)
                })
                .collect();
            s.insert("paths".into(), Value::Array(list));
        }
        if let Some(sa) = ev.records.iter().find(|r| r.rtype == SOCKADDR) {
            if let Some(m) = sockaddr_of(sa.get(b"saddr"), arch_num) {
                s.insert("sockaddr".into(), Value::Object(m));
            }
        }
        if !matches!(ev.closed_by, ClosedBy::Eoe | ClosedBy::Single) {
            s.insert(
                "closed_by".into(),
                Value::String(ev.closed_by.as_str().into()),
            );
        }
        if ev.duplicates != 0 {
            s.insert("duplicates".into(), Value::from(ev.duplicates));
        }
        if !warnings.is_empty() {
            s.insert(
                "warnings".into(),
                Value::Array(warnings.into_iter().map(Value::String).collect()),
            );
        }
        s
    }

    /// RFC 3339 UTC time with milliseconds; the second's text is kept (events come in bursts).
    fn iso(&mut self, sec: u64, msec: u64) -> String {
        if self.iso_sec != Some(sec) {
            self.iso_base = iso_base(sec);
            self.iso_sec = Some(sec);
        }
        format!("{}{:03}Z", self.iso_base, msec)
    }
}

/// A non-syscall event (PAM, daemon, AVC...): the subject and the user-space payload.
fn summarize_other(ev: &Event, d: &Map<String, Value>, s: &mut Map<String, Value>) {
    let Some(first) = ev.records.first() else {
        return;
    };
    let sec = match d.get(&*lossless(&first.name)) {
        Some(Value::Array(list)) => list.first(),
        other => other,
    };
    let Some(Value::Object(sec)) = sec else {
        return;
    };
    copy_present(sec, s, &SUMMARY_INTS);
    let src = match sec.get("msg") {
        Some(Value::Object(msg)) => msg,
        _ => sec,
    };
    copy_present(src, s, &USER_MSG_KEYS);
    let res = src.get("res").or_else(|| sec.get("res"));
    let ok = match res {
        Some(Value::String(r)) => match r.as_str() {
            "success" | "1" => Some(true),
            "failed" | "0" => Some(false),
            _ => None,
        },
        Some(Value::Number(n)) => match n.as_u64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    };
    if let Some(ok) = ok {
        s.insert("success".into(), Value::Bool(ok));
    }
    id_names(sec, s);
}

/// `s[f] = src[f]` for every key of `keys` present in `src` and not null.
fn copy_present(src: &Map<String, Value>, s: &mut Map<String, Value>, keys: &[&str]) {
    for &f in keys {
        match src.get(f) {
            None | Some(Value::Null) => {}
            Some(v) => {
                s.insert(f.into(), v.clone());
            }
        }
    }
}

/// `names`: id field → its name, from the section's upper-case keys (null names included).
fn id_names(sec: &Map<String, Value>, s: &mut Map<String, Value>) {
    let mut names = Map::new();
    for (f, up, _) in ID_NAMES {
        if let Some(v) = sec.get(up) {
            names.insert(f.into(), v.clone());
        }
    }
    if !names.is_empty() {
        s.insert("names".into(), Value::Object(names));
    }
}

/// Name keys (`UID`) for the id fields that are numbers, where the section has none.
fn names(ids: &mut Identities, out: &mut Map<String, Value>) {
    for (f, up, is_group) in ID_NAMES {
        let Some(Value::Number(n)) = out.get(f) else {
            continue;
        };
        // a negative id names nobody (Python: OverflowError, or (uid_t)-1 for -1, not a user either)
        let Some(id) = n.as_u64() else {
            continue;
        };
        if out.contains_key(up) {
            continue;
        }
        if let Some(name) = lookup_id(ids, id, is_group) {
            out.insert(up.into(), Value::String(name));
        }
    }
}

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Words that are not key=value. SELinux `avc:  denied  { read write } for` becomes
/// `"denied": ["read", "write"]` (as laurel writes it); anything else is kept as `_text`.
fn free_text(mut words: &[&[u8]], out: &mut Map<String, Value>) {
    if let [b"avc:", what, b"{", rest @ ..] = words {
        let end = rest.iter().position(|w| *w == b"}").unwrap_or(rest.len());
        let perms = rest[..end]
            .iter()
            .map(|w| Value::String(lossless(w).into_owned()))
            .collect();
        out.insert(lossless(what).into_owned(), Value::Array(perms));
        words = rest.get(end + 1..).unwrap_or(&[]);
        if let [b"for", after @ ..] = words {
            words = after;
        }
    }
    if !words.is_empty() {
        let mut joined: Vec<u8> = Vec::with_capacity(words.iter().map(|w| w.len() + 1).sum());
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                joined.push(b' ');
            }
            joined.extend_from_slice(w);
        }
        out.insert(
            "_text".into(),
            Value::String(lossless(&joined).into_owned()),
        );
    }
}

/// An ENRICHED value: a braced one keeps its braces without the inner padding (laurel's form).
fn braced(tok: &[u8]) -> Value {
    if tok.len() >= 2 && tok.first() == Some(&b'{') && tok.last() == Some(&b'}') {
        let mut inner = &tok[1..tok.len() - 1];
        while let [b' ', rest @ ..] = inner {
            inner = rest;
        }
        while let [rest @ .., b' '] = inner {
            inner = rest;
        }
        let mut s = String::with_capacity(inner.len() + 2);
        s.push('{');
        s.push_str(&lossless(inner));
        s.push('}');
        return Value::String(s);
    }
    values::as_text(tok)
}

/// A record's exact text: as text when it is UTF-8, else `{"base64": ...}` of its bytes.
fn raw_text(text: &[u8]) -> Value {
    match std::str::from_utf8(text) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => {
            let mut m = Map::new();
            m.insert(
                "base64".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
            Value::Object(m)
        }
    }
}

/// Byte strings → a JSON list of escaped text.
fn escaped(items: &[Vec<u8>]) -> Value {
    Value::Array(items.iter().map(|b| Value::String(escape(b))).collect())
}

/// `YYYY-MM-DDTHH:MM:SS.` of a Unix time (UTC).
fn iso_base(sec: u64) -> String {
    let days = sec / 86400;
    let rem = sec % 86400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

// -- interpretation: the calls into crate::interpret ---------------------------------------------------------

type ArchNum = u32;

fn arch_hex(n: &ArchNum) -> String {
    format!("0x{n:x}")
}

fn arch_of(token: Option<&[u8]>) -> (Option<ArchNum>, Option<String>) {
    let (n, name) = interpret::arch_of(token);
    (n, name.map(|s| s.to_string()))
}

fn syscall_name(arch: Option<&str>, nr: &Value) -> Option<&'static str> {
    let nr = nr.as_i64()?;
    interpret::syscall_name(arch, nr)
}

fn errno_name(n: u64) -> Option<&'static str> {
    interpret::errno_name(i64::try_from(n).ok()?)
}

fn execve_argv(records: &[&Record]) -> (Value, Vec<Vec<u8>>, Vec<String>) {
    let (argc, argv, warnings) = interpret::argv::execve_argv(records);
    (argc.map_or(Value::Null, Value::from), argv, warnings)
}

fn proctitle_argv(token: Option<&[u8]>) -> Vec<Vec<u8>> {
    interpret::argv::proctitle_argv(token)
}

fn sockaddr_of(token: Option<&[u8]>, arch: Option<&ArchNum>) -> Option<Map<String, Value>> {
    let b = decode_encoded(token?)?;
    Some(interpret::sockaddr::decode_sockaddr(
        &b,
        interpret::is_big_endian(arch.copied()),
    ))
}

fn lookup_id(ids: &mut Identities, id: u64, group: bool) -> Option<String> {
    if group {
        ids.group(id)
    } else {
        ids.user(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso_base(0), "1970-01-01T00:00:00.");
        assert_eq!(iso_base(1_615_114_232), "2021-03-07T10:50:32.");
        assert_eq!(iso_base(951_782_400), "2000-02-29T00:00:00.");
        assert_eq!(iso_base(253_402_300_799), "9999-12-31T23:59:59.");
        assert_eq!(iso_base(253_402_300_800), "10000-01-01T00:00:00.");
        // never panics, whatever the second
        assert_eq!(iso_base(u64::MAX), "584554051223-11-09T07:00:15.");
    }

    #[test]
    fn free_words() {
        let mut m = Map::new();
        let w: Vec<&[u8]> = vec![b"avc:", b"denied", b"{", b"read", b"write", b"}", b"for"];
        free_text(&w, &mut m);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"denied": ["read", "write"]})
        );
        let mut m = Map::new();
        let w: Vec<&[u8]> = vec![b"avc:", b"denied", b"{", b"read", b"for", b"x"];
        free_text(&w, &mut m);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"denied": ["read", "for", "x"]})
        );
        let mut m = Map::new();
        let w: Vec<&[u8]> = vec![b"avc:", b"granted", b"{", b"}", b"for", b"a", b"b\xff"];
        free_text(&w, &mut m);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"granted": [], "_text": "a b%ff"})
        );
        let mut m = Map::new();
        let w: Vec<&[u8]> = vec![b"policy", b"loaded%"];
        free_text(&w, &mut m);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"_text": "policy loaded%"})
        );
    }

    #[test]
    fn braced_values() {
        assert_eq!(
            braced(b"{ saddr_fam=inet laddr=1.2.3.4 }"),
            "{saddr_fam=inet laddr=1.2.3.4}"
        );
        assert_eq!(braced(b"{}"), "{}");
        assert_eq!(braced(b"{  }"), "{}");
        assert_eq!(braced(b"{x"), "{x");
        assert_eq!(braced(b"{"), "{");
    }

    #[test]
    fn raw_texts() {
        assert_eq!(raw_text(b"type=X a=\xc3\xa4"), "type=X a=ä");
        assert_eq!(raw_text(b"a\xff"), serde_json::json!({"base64": "Yf8="}));
    }
}

/// The renderer alone against the goldens: records from `SLUG.records.jsonl` (no parser), grouped into events
/// as `SLUG.events.jsonl` lists them in `raw` (no assembler).
#[cfg(test)]
mod golden_records {
    use super::*;
    use std::collections::HashMap;

    fn bytes(v: &Value) -> Vec<u8> {
        match v {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Object(m) => base64::engine::general_purpose::STANDARD
                .decode(m.get("b64").and_then(Value::as_str).unwrap_or(""))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn pairs(v: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
        v.as_array()
            .map(|a| a.iter().map(|p| (bytes(&p[0]), bytes(&p[1]))).collect())
            .unwrap_or_default()
    }

    fn record(v: &Value) -> Record {
        let text = bytes(&v["text"]);
        let body = bytes(&v["body"]);
        let body_start = text.len().saturating_sub(body.len());
        Record {
            text,
            node: (!v["node"].is_null()).then(|| bytes(&v["node"])),
            rtype: v["type"].as_u64().unwrap_or(0) as u32,
            name: bytes(&v["name"]),
            sec: v["sec"].as_u64().unwrap_or(0),
            msec: v["msec"].as_u64().unwrap_or(0),
            serial: v["serial"].as_u64().unwrap_or(0),
            body_start,
            fields: pairs(&v["fields"]),
            enrich: pairs(&v["enrich"]),
            error: v["error"].as_str().map(str::to_owned),
        }
    }

    #[test]
    fn render_from_golden_records() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden");
        let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
        let (mut total, mut matched, mut shown) = (0, 0, 0);
        for line in manifest.lines().filter(|l| !l.starts_with('#')) {
            let slug = line.split('\t').nth(1).unwrap();
            let recs = std::fs::read_to_string(dir.join(format!("{slug}.records.jsonl"))).unwrap();
            let mut by_text: HashMap<Vec<u8>, Record> = HashMap::new();
            for l in recs.lines() {
                let r = record(&serde_json::from_str(l).unwrap());
                by_text.entry(r.text.clone()).or_insert(r);
            }
            let evs = std::fs::read_to_string(dir.join(format!("{slug}.events.jsonl"))).unwrap();
            let mut rd = Renderer::new(false, true);
            for l in evs.lines() {
                let want: Value = serde_json::from_str(l).unwrap();
                let records: Vec<Record> = want["raw"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| by_text[&bytes(t)].clone())
                    .collect();
                let s = &want["summary"];
                let closed_by = match s["closed_by"].as_str() {
                    Some("window") => ClosedBy::Window,
                    Some("flush") => ClosedBy::Flush,
                    Some("late") => ClosedBy::Late,
                    Some("error") => ClosedBy::Error,
                    _ => ClosedBy::Eoe,
                };
                let first = &records[0];
                let ev = Event {
                    node: first.node.clone(),
                    sec: first.sec,
                    msec: first.msec,
                    serial: first.serial,
                    records,
                    closed_by,
                    duplicates: s["duplicates"].as_u64().unwrap_or(0) as u32,
                    seq: 0,
                    began: 0,
                    seen: 0.0,
                };
                let got = serde_json::to_string(&rd.render(&ev)).unwrap();
                let want = serde_json::to_string(&want).unwrap();
                total += 1;
                if got == want {
                    matched += 1;
                } else if shown < 5 {
                    shown += 1;
                    eprintln!("{slug}\n got {got}\nwant {want}\n");
                }
            }
        }
        eprintln!("render from golden records: {matched}/{total} events match");
        assert_eq!(matched, total);
    }
}
