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

use crate::hash::HashMap;

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
fn pick_slot(k: &[u8]) -> Option<usize> {
    Some(match k {
        b"pid" => 0,
        b"ppid" => 1,
        b"auid" => 2,
        b"uid" => 3,
        b"euid" => 4,
        b"suid" => 5,
        b"fsuid" => 6,
        b"gid" => 7,
        b"egid" => 8,
        b"sgid" => 9,
        b"fsgid" => 10,
        b"ses" => 11,
        b"tty" => 12,
        b"comm" => 13,
        b"exe" => 14,
        b"subj" => 15,
        b"key" => 16,
        b"op" => 17,
        b"acct" => 18,
        b"id" => 19,
        b"hostname" => 20,
        b"addr" => 21,
        b"terminal" => 22,
        b"res" => 23,
        b"grantors" => 24,
        b"cmd" => 25,
        b"cwd" => 26,
        b"AUID" => 27,
        b"UID" => 28,
        b"EUID" => 29,
        b"SUID" => 30,
        b"FSUID" => 31,
        b"GID" => 32,
        b"EGID" => 33,
        b"SGID" => 34,
        b"FSGID" => 35,
        b"OUID" => 36,
        b"OGID" => 37,
        b"OLD-AUID" => 38,
        b"NEW-AUID" => 39,
        b"syscall" => 40,
        b"success" => 41,
        b"exit" => 42,
        b"SYSCALL" => 43,
        b"msg" => 44,
        _ => return None,
    })
}

type Picks<'a> = [Option<&'a Value>; 45];

/// The values of a section's [`PICK_KEYS`], in one pass over the section (a present key holding null is
/// `Some(Null)`).
fn pick(m: &Map<String, Value>) -> Picks<'_> {
    let mut p: Picks<'_> = [None; 45];
    for (k, v) in m {
        if let Some(slot) = pick_slot(k.as_bytes()).and_then(|i| p.get_mut(i)) {
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

/// The SYSCALL fields of a lean object ([`Renderer::render_lean`]): those the summary copies that the row
/// mappers and the process tree read.
pub const LEAN_KEYS: [&str; 12] = [
    "syscall", "success", "exit", "pid", "ppid", "auid", "uid", "euid", "gid", "comm", "exe", "key",
];

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
    /// the buffers and section cache of [`Renderer::render_json`]
    direct: direct::Direct,
}

impl Renderer {
    /// A renderer; `resolve_ids` resolves uid/gid names with this host's databases.
    pub fn new(resolve_ids: bool, raw: bool) -> Self {
        Renderer {
            ids: resolve_ids.then(Identities::new),
            raw,
            kinds: Kinds::new(),
            cache: HashMap::default(),
            key: Vec::new(),
            iso_sec: None,
            iso_base: String::new(),
            direct: direct::Direct::default(),
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

    /// A lean object of a bookkeeping event: one SYSCALL record (with at most one PROCTITLE and an EOE)
    /// written by the rule keyed `key`, for callers that need its table rows but not its JSON (the process
    /// tree's fork and exit events, two thirds of a fork/exec load). It holds what the row mappers and the
    /// tracker read, each value as [`Renderer::render`] writes it: `ID`, `NODE`, a `SYSCALL` section with
    /// [`LEAN_KEYS`] and `ARGV`, an empty `PROCTITLE` (the section list of `audit_events.types`), the
    /// summary of those, and `raw`. None when the event is anything else: it is then rendered in full.
    pub fn render_lean(&mut self, ev: &Event, key: &[u8]) -> Option<Map<String, Value>> {
        let sc = ev.records.first().filter(|r| r.rtype == SYSCALL)?;
        let mut proctitle = false;
        for (i, rec) in ev.records.iter().enumerate() {
            if rec.error.is_some() || !rec.enrich.is_empty() {
                return None;
            }
            match rec.rtype {
                SYSCALL if i == 0 => {}
                PROCTITLE if !proctitle => proctitle = true,
                EOE => {}
                _ => return None,
            }
        }
        let written = sc.get(b"key")?;
        if written.strip_prefix(b"\"")?.strip_suffix(b"\"")? != key {
            return None;
        }
        let arch_token = sc.get(b"arch");
        let (arch_num, arch_name) = arch_of(arch_token);
        let mut sec = Map::with_capacity(LEAN_KEYS.len() + 1);
        let mut argv: Vec<Value> = Vec::with_capacity(4);
        for (k, tok) in &sc.fields {
            match self.kinds.kind(k) {
                Kind::Free | Kind::Msg => return None,
                Kind::ScArg => {
                    let a = hex_text(tok).unwrap_or_else(|| text_of(tok).unwrap_or_default());
                    argv.push(Value::String(a));
                }
                kind => {
                    let Some(&name) = LEAN_KEYS.iter().find(|n| n.as_bytes() == k.as_slice())
                    else {
                        continue;
                    };
                    if !sec.contains_key(name) {
                        sec.insert(name.to_owned(), values::convert(kind, tok));
                    }
                }
            }
        }
        sec.insert("ARGV".into(), Value::Array(argv));
        let mut d = Map::new();
        d.insert("ID".into(), Value::String(ev.id()));
        if let Some(node) = &ev.node {
            d.insert("NODE".into(), Value::String(lossless(node).into_owned()));
        }
        d.insert("SYSCALL".into(), Value::Object(sec));
        if proctitle {
            d.insert("PROCTITLE".into(), Value::Object(Map::new()));
        }
        let s = self.summarize(
            ev,
            &d,
            (arch_token, arch_num, arch_name.as_deref()),
            None,
            Vec::new(),
        );
        d.insert("summary".into(), Value::Object(s));
        if self.raw {
            let raw = ev.records.iter().map(|r| raw_text(&r.text)).collect();
            d.insert("raw".into(), Value::Array(raw));
        }
        Some(d)
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

mod direct;
mod jsontext;
mod obj;
#[cfg(test)]
mod tests;
