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
use serde_json::map::Entry;
use serde_json::{Map, Value};

use super::{ClosedBy, Event};
use crate::interpret;
use crate::interpret::ids::Identities;
use crate::record::encoding::escape;
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
/// The keys the summary reads from a section, in one index space (see [`pick`]): the 12 ids and numbers
/// (`pid`..`ses`), the 5 SYSCALL texts (`tty`..`key`), the user-space payload keys without `exe`, the 13 name
/// keys (in [`ID_NAMES`] order), then `syscall`, `success`, `exit`, `SYSCALL`, `msg`.
const PICK_KEYS: [&str; 45] = [
    "pid", "ppid", "auid", "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid",
    "ses", //
    "tty", "comm", "exe", "subj", "key", //
    "op", "acct", "id", "hostname", "addr", "terminal", "res", "grantors", "cmd", "cwd", //
    "AUID", "UID", "EUID", "SUID", "FSUID", "GID", "EGID", "SGID", "FSGID", "OUID", "OGID",
    "OLD-AUID", "NEW-AUID", //
    "syscall", "success", "exit", "SYSCALL", "msg",
];
/// `pid`..`ses` (Python's `_SUMMARY_INTS`)
const P_INTS: std::ops::Range<usize> = 0..12;
/// `tty`, `comm`, `exe`, `subj`, `key`
const P_TEXTS: std::ops::Range<usize> = 12..17;
/// Python's `_USER_MSG_KEYS` in its order: op, acct, id, exe, hostname, addr, terminal, res, grantors, cmd, cwd
const P_USER: [usize; 11] = [17, 18, 19, 14, 20, 21, 22, 23, 24, 25, 26];
const P_RES: usize = 23;
/// first name key (`AUID`); the 13 follow in [`ID_NAMES`] order
const P_NAMES: usize = 27;
const P_SYSCALL: usize = 40;
const P_SUCCESS: usize = 41;
const P_EXIT: usize = 42;
const P_SYSCALL_NAME: usize = 43;
const P_MSG: usize = 44;

/// The index of a key in [`PICK_KEYS`].
fn pick_slot(k: &str) -> Option<usize> {
    Some(match k {
        "pid" => 0,
        "ppid" => 1,
        "auid" => 2,
        "uid" => 3,
        "euid" => 4,
        "suid" => 5,
        "fsuid" => 6,
        "gid" => 7,
        "egid" => 8,
        "sgid" => 9,
        "fsgid" => 10,
        "ses" => 11,
        "tty" => 12,
        "comm" => 13,
        "exe" => 14,
        "subj" => 15,
        "key" => 16,
        "op" => 17,
        "acct" => 18,
        "id" => 19,
        "hostname" => 20,
        "addr" => 21,
        "terminal" => 22,
        "res" => 23,
        "grantors" => 24,
        "cmd" => 25,
        "cwd" => 26,
        "AUID" => 27,
        "UID" => 28,
        "EUID" => 29,
        "SUID" => 30,
        "FSUID" => 31,
        "GID" => 32,
        "EGID" => 33,
        "SGID" => 34,
        "FSGID" => 35,
        "OUID" => 36,
        "OGID" => 37,
        "OLD-AUID" => 38,
        "NEW-AUID" => 39,
        "syscall" => 40,
        "success" => 41,
        "exit" => 42,
        "SYSCALL" => 43,
        "msg" => 44,
        _ => return None,
    })
}

type Picks<'a> = [Option<&'a Value>; 45];

/// The values of a section's [`PICK_KEYS`], in one pass over the section (a present key holding null is
/// `Some(Null)`).
fn pick(m: &Map<String, Value>) -> Picks<'_> {
    let mut p: Picks<'_> = [None; 45];
    for (k, v) in m {
        if let Some(slot) = pick_slot(k).and_then(|i| p.get_mut(i)) {
            *slot = Some(v);
        }
    }
    p
}

/// `s[key] = value` for the picks in `slots` that are present and not null.
fn copy_picks(p: &Picks<'_>, slots: impl IntoIterator<Item = usize>, s: &mut Map<String, Value>) {
    for i in slots {
        if let (Some(Some(v)), Some(k)) = (p.get(i), PICK_KEYS.get(i)) {
            if !v.is_null() {
                s.insert((*k).into(), (*v).clone());
            }
        }
    }
}

/// `names`: id field → its name, from the section's upper-case keys (null names included).
fn id_names(p: &Picks<'_>, s: &mut Map<String, Value>) {
    let mut names = Map::new();
    for (i, (f, _, _)) in ID_NAMES.iter().enumerate() {
        if let Some(Some(v)) = p.get(P_NAMES + i) {
            names.insert((*f).into(), (*v).clone());
        }
    }
    if !names.is_empty() {
        s.insert("names".into(), Value::Object(names));
    }
}

/// A PATH section's summary: `name`, `nametype`, `inode`, `mode`, `ouid`, `ogid`, those present.
fn path_summary(p: &Value) -> Value {
    let mut picked: [Option<&Value>; 6] = [None; 6];
    if let Value::Object(p) = p {
        for (k, v) in p {
            let i = match k.as_str() {
                "name" => 0,
                "nametype" => 1,
                "inode" => 2,
                "mode" => 3,
                "ouid" => 4,
                "ogid" => 5,
                _ => continue,
            };
            if let Some(slot) = picked.get_mut(i) {
                *slot = Some(v);
            }
        }
    }
    let mut m = Map::with_capacity(6);
    for (k, v) in PATH_KEYS.iter().zip(picked) {
        if let Some(v) = v {
            m.insert((*k).into(), v.clone());
        }
    }
    Value::Object(m)
}

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
        let arch_token = ev.first(SYSCALL).and_then(|r| r.get(b"arch"));
        let (arch_num, arch_name) = arch_of(arch_token);
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
            (arch_token, arch_num, arch_name.as_deref()),
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
        let mut out = Map::with_capacity(rec.fields.len() + rec.enrich.len() + 3);
        let mut free: Vec<&[u8]> = Vec::new();
        let mut argv: Option<Vec<Value>> = None;
        let is_syscall = rec.rtype == SYSCALL;
        for (k, tok) in &rec.fields {
            let kind = self.kinds.kind(k);
            match kind {
                Kind::Free => {
                    free.push(tok);
                    continue;
                }
                Kind::ScArg if is_syscall => {
                    let a = hex_text(tok).unwrap_or_else(|| text_of(tok).unwrap_or_default());
                    argv.get_or_insert_with(|| Vec::with_capacity(4))
                        .push(Value::String(a));
                    continue;
                }
                _ => {}
            }
            // a repeated key: the first value is kept, the raw text has all of them
            if let Entry::Vacant(slot) = out.entry(lossless(k)) {
                slot.insert(match kind {
                    Kind::Msg if tok.first() == Some(&b'\'') => Value::Object(self.nested(tok)),
                    Kind::Msg | Kind::ScArg => values::convert(values::converter(k), tok),
                    _ => values::convert(kind, tok),
                });
            }
        }
        if !free.is_empty() {
            free_text(&free, &mut out);
        }
        for (k, tok) in &rec.enrich {
            if let Entry::Vacant(slot) = out.entry(lossless(k)) {
                slot.insert(if tok.first() == Some(&b'{') {
                    braced(tok)
                } else {
                    values::as_text(tok)
                });
            }
        }
        if is_syscall {
            if let Some(a) = arch_name.filter(|a| !a.is_empty()) {
                if let Entry::Vacant(slot) = out.entry("ARCH") {
                    slot.insert(Value::String(a.to_owned()));
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
            if let Entry::Vacant(slot) = out.entry(lossless(&k)) {
                let kind = self.kinds.converter(&k);
                slot.insert(values::convert(kind, &v));
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
        (arch_token, arch_num, arch_name): (Option<&[u8]>, Option<u32>, Option<&str>),
        argv: Option<&[Vec<u8>]>,
        warnings: Vec<String>,
    ) -> Map<String, Value> {
        let mut s = Map::with_capacity(40);
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
            let p = pick(sc);
            if ev.records.first().map(|r| r.rtype) == Some(SYSCALL) {
                s.insert("type".into(), Value::String("SYSCALL".into()));
            }
            // the name, else Python's f"0x{int(token, 16):x}" (any size, a sign kept: `arch=-2` → "0x-2")
            let arch = match arch_name.filter(|a| !a.is_empty()) {
                Some(a) => Some(a.to_owned()),
                None => arch_token.and_then(hex_text),
            };
            if let Some(a) = arch {
                s.insert("arch".into(), Value::String(a));
            }
            match p[P_SYSCALL] {
                Some(nr @ Value::Number(n)) => {
                    let name = match syscall_name(arch_name, nr) {
                        Some(name) => Value::String(name.to_owned()),
                        None => match p[P_SYSCALL_NAME] {
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
            if let Some(Value::String(succ)) = p[P_SUCCESS] {
                if succ == "yes" || succ == "no" {
                    s.insert("success".into(), Value::Bool(succ == "yes"));
                }
            }
            match p[P_EXIT] {
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
            copy_picks(&p, P_INTS, &mut s);
            copy_picks(&p, P_TEXTS, &mut s);
            id_names(&p, &mut s);
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
            let list = paths.iter().map(path_summary).collect();
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
    let p = pick(sec);
    copy_picks(&p, P_INTS, s);
    let pm;
    let src = match p[P_MSG] {
        Some(Value::Object(msg)) => {
            pm = pick(msg);
            &pm
        }
        _ => &p,
    };
    copy_picks(src, P_USER, s);
    // Python: src.get("res", sec.get("res"))
    let res = src[P_RES].or(p[P_RES]);
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
    id_names(&p, s);
}

/// Name keys (`UID`) for the id fields that are numbers, where the section has none.
fn names(ids: &mut Identities, out: &mut Map<String, Value>) {
    for (f, up, is_group) in ID_NAMES {
        let Some(Value::Number(n)) = out.get(f) else {
            continue;
        };
        // beyond i64: no name (Python's pwd: OverflowError)
        let Some(id) = n.as_i64() else {
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

fn arch_of(token: Option<&[u8]>) -> (Option<u32>, Option<String>) {
    interpret::arch_of(token)
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

fn sockaddr_of(token: Option<&[u8]>, arch: Option<u32>) -> Option<Map<String, Value>> {
    interpret::sockaddr::sockaddr_of(token, arch)
}

fn lookup_id(ids: &mut Identities, id: i64, group: bool) -> Option<String> {
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
    fn pick_slots() {
        for (i, k) in PICK_KEYS.iter().enumerate() {
            assert_eq!(pick_slot(k), Some(i), "{k}");
        }
        for (i, (_, up, _)) in ID_NAMES.iter().enumerate() {
            assert_eq!(PICK_KEYS[P_NAMES + i], *up);
        }
        let user = [
            "op", "acct", "id", "exe", "hostname", "addr", "terminal", "res", "grantors", "cmd",
            "cwd",
        ];
        assert_eq!(P_USER.map(|i| PICK_KEYS[i]), user);
        assert_eq!(PICK_KEYS[P_RES], "res");
        assert_eq!(
            [P_SYSCALL, P_SUCCESS, P_EXIT, P_SYSCALL_NAME, P_MSG].map(|i| PICK_KEYS[i]),
            ["syscall", "success", "exit", "SYSCALL", "msg"]
        );
        assert_eq!(pick_slot("nope"), None);
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

#[cfg(test)]
mod render_tests {
    use super::*;
    use serde_json::json;

    /// A record as the parser makes it: `text` is `type=NAME msg=audit(S.M:N): body`.
    fn rec(text: &str, rtype: u32, fields: &[(&str, &str)], enrich: &[(&str, &str)]) -> Record {
        let body_start = text.find("): ").map_or(text.len(), |i| i + 3);
        let name = text
            .split("type=")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .unwrap_or("");
        let stamp = text.split("audit(").nth(1).unwrap_or("0.0:0)");
        let (sec, rest) = stamp.split_once('.').unwrap_or(("0", "0:0)"));
        let (msec, rest) = rest.split_once(':').unwrap_or(("0", "0)"));
        let serial = rest.split(')').next().unwrap_or("0");
        let node = text
            .strip_prefix("node=")
            .and_then(|t| t.split(' ').next())
            .map(|n| n.as_bytes().to_vec());
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        Record {
            text: text.as_bytes().to_vec(),
            node,
            rtype,
            name: name.as_bytes().to_vec(),
            sec: sec.parse().unwrap(),
            msec: msec.parse().unwrap(),
            serial: serial.parse().unwrap(),
            body_start,
            fields: pairs(fields),
            enrich: pairs(enrich),
            error: None,
        }
    }

    fn event(records: Vec<Record>, closed_by: ClosedBy) -> Event {
        let f = &records[0];
        Event {
            node: f.node.clone(),
            sec: f.sec,
            msec: f.msec,
            serial: f.serial,
            records,
            closed_by,
            duplicates: 0,
            seq: 0,
            began: 0,
            seen: 0.0,
        }
    }

    fn render(records: Vec<Record>, closed_by: ClosedBy) -> Value {
        Value::Object(Renderer::new(false, true).render(&event(records, closed_by)))
    }

    fn syscall(fields: &[(&str, &str)]) -> Value {
        let r = rec("type=SYSCALL msg=audit(1.000:1): ...", 1300, fields, &[]);
        render(vec![r], ClosedBy::Flush)["summary"].clone()
    }

    #[test]
    fn syscall_summaries() {
        for (arch, nr, arch_name, name) in [
            ("c00000b7", "221", "aarch64", "execve"),
            ("40000003", "11", "i386", "execve"),
            ("c000003e", "59", "x86_64", "execve"),
            ("80000015", "11", "ppc64", "execve"),
        ] {
            let s = syscall(&[
                ("arch", arch),
                ("syscall", nr),
                ("success", "yes"),
                ("exit", "0"),
                ("pid", "5"),
            ]);
            assert_eq!(
                (
                    &s["arch"],
                    &s["syscall"],
                    &s["syscall_nr"],
                    &s["success"],
                    &s["exit"]
                ),
                (
                    &json!(arch_name),
                    &json!(name),
                    &json!(nr.parse::<u64>().unwrap()),
                    &json!(true),
                    &json!(0)
                )
            );
        }
        let s = syscall(&[
            ("arch", "deadbeef"),
            ("syscall", "59"),
            ("success", "yes"),
            ("exit", "0"),
        ]);
        assert_eq!(
            (&s["arch"], &s["syscall"], &s["syscall_nr"]),
            (&json!("0xdeadbeef"), &json!("59"), &json!(59))
        );
        let s = syscall(&[
            ("arch", "c000003e"),
            ("syscall", "42"),
            ("success", "no"),
            ("exit", "-2"),
            ("a0", "4"),
        ]);
        assert_eq!(
            s,
            json!({"time": "1970-01-01T00:00:01.000Z", "type": "SYSCALL", "records": 1, "arch": "x86_64",
                   "syscall": "connect", "syscall_nr": 42, "success": false, "exit": -2, "errno": "ENOENT",
                   "closed_by": "flush"})
        );
        let s = syscall(&[
            ("arch", "c000003e"),
            ("syscall", "0"),
            ("success", "yes"),
            ("exit", "2"),
        ]);
        assert!(s.get("errno").is_none());
        // an interpreted log writes the names itself
        let s = syscall(&[
            ("arch", "x86_64"),
            ("syscall", "open"),
            ("success", "no"),
            ("exit", "EACCES"),
        ]);
        assert_eq!(
            (&s["arch"], &s["syscall"], &s["exit"], &s["errno"]),
            (
                &json!("x86_64"),
                &json!("open"),
                &json!("EACCES"),
                &json!("EACCES")
            )
        );
        assert!(s.get("syscall_nr").is_none());
    }

    #[test]
    fn proctitle_section() {
        let r = rec(
            "type=PROCTITLE msg=audit(1.000:1): proctitle=746F756368002F746D702F6120620A",
            1327,
            &[("proctitle", "746F756368002F746D702F6120620A")],
            &[],
        );
        let d = render(vec![r], ClosedBy::Flush);
        assert_eq!(d["PROCTITLE"], json!({"ARGV": ["touch", "/tmp/a b%0a"]}));
        assert_eq!(d["summary"]["proctitle"], json!(["touch", "/tmp/a b%0a"]));
    }

    #[test]
    fn docs_examples() {
        // docs/event-json.md, hillu_linux-audit-parser-rs/line-user-acct.txt
        let text = "type=USER_ACCT msg=audit(1615113648.981:15220): pid=9460 uid=1000 auid=1000 ses=1 msg='op=PAM:accounting grantors=pam_permit acct=\"user\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/1 res=success'\u{1d}UID=\"user\" AUID=\"user\"";
        let msg = "'op=PAM:accounting grantors=pam_permit acct=\"user\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/1 res=success'";
        let r = rec(
            text,
            1101,
            &[
                ("pid", "9460"),
                ("uid", "1000"),
                ("auid", "1000"),
                ("ses", "1"),
                ("msg", msg),
            ],
            &[("UID", "\"user\""), ("AUID", "\"user\"")],
        );
        let got = serde_json::to_string(&render(vec![r], ClosedBy::Single)).unwrap();
        assert_eq!(
            got,
            r#"{"ID":"1615113648.981:15220","USER_ACCT":[{"pid":9460,"uid":1000,"auid":1000,"ses":1,"msg":{"op":"PAM:accounting","grantors":"pam_permit","acct":"user","exe":"/usr/bin/sudo","hostname":null,"addr":null,"terminal":"/dev/pts/1","res":"success"},"UID":"user","AUID":"user"}],"summary":{"time":"2021-03-07T10:40:48.981Z","type":"USER_ACCT","records":1,"pid":9460,"auid":1000,"uid":1000,"ses":1,"op":"PAM:accounting","acct":"user","exe":"/usr/bin/sudo","terminal":"/dev/pts/1","res":"success","grantors":"pam_permit","success":true,"names":{"auid":"user","uid":"user"}},"raw":["type=USER_ACCT msg=audit(1615113648.981:15220): pid=9460 uid=1000 auid=1000 ses=1 msg='op=PAM:accounting grantors=pam_permit acct=\"user\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/1 res=success'\u001dUID=\"user\" AUID=\"user\""]}"#
        );
        // line-avc-denied.txt
        let text = "type=AVC msg=audit(1631798689.083:65686): avc:  denied  { setuid } for  pid=15381 comm=\"laurel\" capability=7  scontext=system_u:system_r:auditd_t:s0 tcontext=system_u:system_r:auditd_t:s0 tclass=capability permissive=1";
        let r = rec(
            text,
            1400,
            &[
                ("", "avc:"),
                ("", "denied"),
                ("", "{"),
                ("", "setuid"),
                ("", "}"),
                ("", "for"),
                ("pid", "15381"),
                ("comm", "\"laurel\""),
                ("capability", "7"),
                ("scontext", "system_u:system_r:auditd_t:s0"),
                ("tcontext", "system_u:system_r:auditd_t:s0"),
                ("tclass", "capability"),
                ("permissive", "1"),
            ],
            &[],
        );
        let got = serde_json::to_string(&render(vec![r], ClosedBy::Flush)).unwrap();
        assert_eq!(
            got,
            r#"{"ID":"1631798689.083:65686","AVC":[{"pid":15381,"comm":"laurel","capability":7,"scontext":"system_u:system_r:auditd_t:s0","tcontext":"system_u:system_r:auditd_t:s0","tclass":"capability","permissive":1,"denied":["setuid"]}],"summary":{"time":"2021-09-16T13:24:49.083Z","type":"AVC","records":1,"pid":15381,"closed_by":"flush"},"raw":["type=AVC msg=audit(1631798689.083:65686): avc:  denied  { setuid } for  pid=15381 comm=\"laurel\" capability=7  scontext=system_u:system_r:auditd_t:s0 tcontext=system_u:system_r:auditd_t:s0 tclass=capability permissive=1"]}"#
        );
        // a line that is not a record
        let err = Record {
            text: b"hello".to_vec(),
            error: Some("not an audit record (no type= header)".into()),
            ..Record::default()
        };
        let got = serde_json::to_string(&render(vec![err], ClosedBy::Error)).unwrap();
        assert_eq!(
            got,
            r#"{"ID":"0.000:0","summary":{"time":"1970-01-01T00:00:00.000Z","type":"","records":1,"closed_by":"error","warnings":["not an audit record (no type= header)"]},"raw":["hello"]}"#
        );
        // a PATH name holding the byte 0xff
        let mut r = rec(
            "type=PATH msg=audit(1.000:7): item=0 name=\"/tmp/X\" nametype=NORMAL",
            1302,
            &[
                ("item", "0"),
                ("name", "\"/tmp/X\""),
                ("nametype", "NORMAL"),
            ],
            &[],
        );
        for b in r.text.iter_mut().chain(r.fields[1].1.iter_mut()) {
            if *b == b'X' {
                *b = 0xff;
            }
        }
        let got = serde_json::to_string(&render(vec![r], ClosedBy::Flush)).unwrap();
        assert_eq!(
            got,
            r#"{"ID":"1.000:7","PATH":[{"item":0,"name":"/tmp/%ff","nametype":"NORMAL"}],"summary":{"time":"1970-01-01T00:00:01.000Z","type":"PATH","records":1,"paths":[{"name":"/tmp/%ff","nametype":"NORMAL"}],"closed_by":"flush"},"raw":[{"base64":"dHlwZT1QQVRIIG1zZz1hdWRpdCgxLjAwMDo3KTogaXRlbT0wIG5hbWU9Ii90bXAv/yIgbmFtZXR5cGU9Tk9STUFM"}]}"#
        );
    }

    #[test]
    fn section_shapes() {
        let sc = rec(
            "type=SYSCALL msg=audit(5.000:9): arch=c000003e syscall=59 a0=1 a1=zz",
            1300,
            &[
                ("arch", "c000003e"),
                ("syscall", "59"),
                ("a0", "1"),
                ("a1", "zz"),
                ("pid", "3"),
                ("pid", "4"),
                ("a2", "?"),
            ],
            &[
                ("ARCH", "x86_64"),
                ("pid", "9"),
                ("SADDR", "{ saddr_fam=inet laddr=1.2.3.4 }"),
            ],
        );
        let cwd = rec(
            "type=CWD msg=audit(5.000:9): cwd=\"/\"",
            1307,
            &[("cwd", "\"/\"")],
            &[],
        );
        let cwd2 = rec(
            "type=CWD msg=audit(5.000:9): cwd=\"/x\"",
            1307,
            &[("cwd", "\"/x\"")],
            &[],
        );
        let ex1 = rec(
            "type=EXECVE msg=audit(5.000:9): argc=2 a0=\"ls\"",
            1309,
            &[("argc", "2"), ("a0", "\"ls\"")],
            &[],
        );
        let ex2 = rec(
            "type=EXECVE msg=audit(5.000:9): a1=2D6C",
            1309,
            &[("a1", "2D6C")],
            &[],
        );
        let eoe = rec("type=EOE msg=audit(5.000:9): ", 1320, &[], &[]);
        let d = render(vec![sc, ex1, cwd, ex2, cwd2, eoe], ClosedBy::Eoe);
        let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["ID", "SYSCALL", "EXECVE", "CWD", "summary", "raw"]);
        assert_eq!(
            d["SYSCALL"],
            json!({"arch": "0xc000003e", "syscall": 59, "pid": 3, "ARCH": "x86_64",
                   "SADDR": "{saddr_fam=inet laddr=1.2.3.4}", "SYSCALL": "execve", "ARGV": ["0x1", "zz", ""]})
        );
        assert_eq!(d["EXECVE"], json!({"argc": 2, "ARGV": ["ls", "-l"]}));
        assert_eq!(d["CWD"], json!([{"cwd": "/"}, {"cwd": "/x"}]));
        let s = &d["summary"];
        assert_eq!(s["argv"], json!(["ls", "-l"]));
        assert_eq!(s["argc"], json!(2));
        assert_eq!(s["records"], json!(6));
        assert!(s.get("cwd").is_none()); // two CWD records: a list, no summary cwd
        assert!(s.get("closed_by").is_none());
    }
}

#[cfg(test)]
mod render_props {
    use super::*;
    use proptest::prelude::*;

    const KEYS: [&str; 25] = [
        "pid",
        "auid",
        "uid",
        "ogid",
        "exit",
        "arch",
        "mode",
        "cap_fp",
        "name",
        "exe",
        "comm",
        "proctitle",
        "cwd",
        "key",
        "tty",
        "success",
        "res",
        "op",
        "acct",
        "hostname",
        "info",
        "dev",
        "nametype",
        "zzz",
        "old-ses",
    ];

    fn token() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::sample::select(vec![
                "(null)",
                "?",
                "",
                "0",
                "-2",
                "c000003e",
                "0100755",
                "yes",
                "abc",
                "ABCD",
                "(none)",
                "'abc'",
                "'x y'",
                "\"q\"",
                "\"a b\"",
                "\"%+\"",
                "x%y",
                "'",
                "\"",
                "é",
                "2F746D70",
                "unset",
                "1_0",
                " 7",
                "0x1f",
                "99999999999999999999",
            ])
            .prop_map(|t| t.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    fn record(
        rtype: u32,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
        enrich: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Record {
        let text = b"type=PATH msg=audit(1.000:1): ...".to_vec();
        Record {
            body_start: text.len() - 3,
            text,
            rtype,
            name: b"PATH".to_vec(),
            sec: 1,
            serial: 1,
            fields,
            enrich,
            ..Record::default()
        }
    }

    proptest! {
        // Python: tests/events/test_interpret.py::test_section_values_match_convert
        #[test]
        fn section_values_match_convert(
            fields in prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), token(), 0..8)
        ) {
            let fields: Vec<(Vec<u8>, Vec<u8>)> =
                fields.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect();
            let want: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| {
                    let k = std::str::from_utf8(k).unwrap();
                    (k.to_owned(), values::convert(values::converter(k.as_bytes()), v))
                })
                .collect();
            let mut rd = Renderer::new(false, true);
            let got = rd.section(&record(1302, fields, Vec::new()), None);
            prop_assert_eq!(Value::Object(got), Value::Object(want));
        }

        #[test]
        fn render_never_panics(
            rtypes in prop::collection::vec(prop::sample::select(vec![0u32, 1300, 1302, 1306, 1307, 1309, 1320, 1327, 1100, 1400]), 1..5),
            fields in prop::collection::vec((prop_oneof![
                prop::sample::select(vec!["", "msg", "a0", "arch", "syscall", "exit", "saddr", "proctitle", "argc", "a1", "a0[1]", "a1_len", "uid", "res"]).prop_map(|k| k.as_bytes().to_vec()),
                prop::collection::vec(any::<u8>(), 0..6),
            ], token()), 0..10),
            enrich in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..4), token()), 0..3),
            text in prop::collection::vec(any::<u8>(), 0..40),
            node in prop::option::of(prop::collection::vec(any::<u8>(), 0..5)),
        ) {
            let records: Vec<Record> = rtypes
                .iter()
                .map(|&t| Record { text: text.clone(), node: node.clone(), name: format!("T{t}").into_bytes(), ..record(t, fields.clone(), enrich.clone()) })
                .collect();
            let ev = Event { node, sec: 1, msec: 2, serial: 3, records, closed_by: ClosedBy::Window, duplicates: 1, seq: 0, began: 0, seen: 0.0 };
            let mut out = Vec::new();
            Renderer::new(false, true).render_json(&ev, &mut out);
            let v: Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(&v["ID"], &Value::String("1.002:3".into()));
        }
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
