//! The event JSON written straight to bytes: the bytes `serde_json::to_writer(&renderer.render(ev))`
//! writes, without building a `Map`/`Value` tree (`auditsql read`, where only the JSON is wanted).
//!
//! Each object is an [`Obj`] ([`super::obj`]): its keys and its values' JSON text in one buffer, in insertion
//! order, with `Map`'s semantics (`insert` replaces a value in place, `entry().or_insert` keeps the first);
//! the text is [`super::jsontext`]'s. The summary reads the sections' values from their JSON text. `render` (the `Map`) stays the path of the table
//! rows and the reference of this writer (tests/render_direct.rs compares the two on every corpus log and
//! on generated records).

use std::io::Write as _;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::jsontext::{
    is_number, json_i64, plain_hex, push_num, quoted, truthy, write_escaped_list, write_raw,
    write_str, write_token, write_value,
};
use super::obj::{span_of, Keys, Obj, Span};
use super::{
    arch_of, braced, execve_argv, pick_slot, proctitle_argv, sockaddr_of, Renderer, CACHE_BODY_MAX,
    CACHE_MAX, EOE, EXECVE, ID_NAMES, PATH_KEYS, PROCTITLE, P_EXIT, P_INTS, P_MSG, P_NAMES, P_RES,
    P_SUCCESS, P_SYSCALL, P_SYSCALL_NAME, P_TEXTS, P_USER, SINGLE_SECTIONS, SOCKADDR, SYSCALL,
};
use crate::event::{ClosedBy, Event};
use crate::hash::HashMap;
use crate::interpret;
use crate::interpret::ids::Identities;
use crate::record::parse::parse_nested;
use crate::record::values::{self, hex_text, lossless, text_of, Kind};
use crate::record::{Record, FREE_TEXT};

/// Bytes (or entries) beyond which a buffer is not kept for the next event, and the objects kept.
const KEEP_MAX: usize = 1 << 16;
const POOL_MAX: usize = 64;

/// The summary's keys: the first 27 are [`PICK_KEYS`]' (copied from a section at the same index), then
/// those the summary derives.
const SUM_KEYS: [&str; 45] = [
    "pid",
    "ppid",
    "auid",
    "uid",
    "euid",
    "suid",
    "fsuid",
    "gid",
    "egid",
    "sgid",
    "fsgid",
    "ses", //
    "tty",
    "comm",
    "exe",
    "subj",
    "key", //
    "op",
    "acct",
    "id",
    "hostname",
    "addr",
    "terminal",
    "res",
    "grantors",
    "cmd",
    "cwd", //
    "time",
    "type",
    "records",
    "arch",
    "syscall",
    "syscall_nr",
    "success",
    "exit",
    "errno",
    "names",
    "argv",
    "argc",
    "proctitle",
    "paths",
    "sockaddr",
    "closed_by",
    "duplicates",
    "warnings",
];
const S_CWD: usize = 26;
const S_TIME: usize = 27;
const S_TYPE: usize = 28;
const S_RECORDS: usize = 29;
const S_ARCH: usize = 30;
const S_SYSCALL: usize = 31;
const S_SYSCALL_NR: usize = 32;
const S_SUCCESS: usize = 33;
const S_EXIT: usize = 34;
const S_ERRNO: usize = 35;
const S_NAMES: usize = 36;
const S_ARGV: usize = 37;
const S_ARGC: usize = 38;
const S_PROCTITLE: usize = 39;
const S_PATHS: usize = 40;
const S_SOCKADDR: usize = 41;
const S_CLOSED_BY: usize = 42;
const S_DUPLICATES: usize = 43;
const S_WARNINGS: usize = 44;

/// The summary object: its keys are [`SUM_KEYS`], values' JSON text in `buf`, keys in first-insertion order.
#[derive(Debug, Default)]
struct Summary {
    buf: Vec<u8>,
    /// by key id; 45 long once cleared
    vals: Vec<Option<Span>>,
    order: Vec<usize>,
}

impl Summary {
    fn clear(&mut self) {
        self.buf.clear();
        self.vals.clear();
        self.vals.resize(SUM_KEYS.len(), None);
        self.order.clear();
    }

    /// `Map::insert(SUM_KEYS[id], value written by f)`.
    fn put(&mut self, id: usize, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        f(&mut self.buf);
        if let Some(slot) = self.vals.get_mut(id) {
            if slot.is_none() {
                self.order.push(id);
            }
            *slot = Some((start, self.buf.len()));
        }
    }

    fn insert(&mut self, id: usize, value: &[u8]) {
        self.put(id, |b| b.extend_from_slice(value));
    }

    fn contains(&self, id: usize) -> bool {
        self.vals.get(id).is_some_and(Option::is_some)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, &id) in self.order.iter().enumerate() {
            let (Some(k), Some(Some(v))) = (SUM_KEYS.get(id), self.vals.get(id)) else {
                continue;
            };
            out.extend_from_slice(if i > 0 { b",\"" } else { b"\"" });
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(span_of(&self.buf, *v));
        }
        out.push(b'}');
    }
}

/// Where a section of the event is.
#[derive(Clone, Debug)]
enum SecRef {
    Own(usize),
    Shared(Arc<Obj>),
}

/// A value at the top of the event object.
#[derive(Clone, Copy, Debug)]
enum Top {
    /// JSON text in `Direct::topbuf`
    Text(Span),
    Null,
    /// a section, `Direct::refs[i]`
    Sec(usize),
    /// a list of `Direct::lists`
    List(usize),
    Summary,
    Raw,
}

/// The direct writer's state, owned by the [`Renderer`]: buffers reused from event to event, and the cache
/// of sections (as JSON objects) of records whose body repeats.
#[derive(Debug, Default)]
pub(super) struct Direct {
    secs: Vec<Obj>,
    nsecs: usize,
    lists: Vec<Vec<Top>>,
    nlists: usize,
    topbuf: Vec<u8>,
    top_keys: Keys,
    top_vals: Vec<Top>,
    summary: Summary,
    cache: HashMap<Vec<u8>, Arc<Obj>>,
    /// the sections of this event: an object of `secs`, or one shared with the cache
    refs: Vec<SecRef>,
}

impl Direct {
    fn reset(&mut self) {
        self.nsecs = 0;
        self.refs.clear();
        self.nlists = 0;
        self.topbuf.clear();
        self.top_keys.clear();
        self.top_vals.clear();
        self.summary.clear();
        // a huge event leaves no huge buffers behind
        if self.topbuf.capacity() > KEEP_MAX {
            self.topbuf = Vec::new();
        }
        if self.summary.buf.capacity() > KEEP_MAX {
            self.summary.buf = Vec::new();
        }
        if self.secs.len() > POOL_MAX {
            self.secs.truncate(POOL_MAX);
        }
    }

    /// A cleared object of the pool (taken out; give it back with [`Direct::give`]).
    fn take_sec(&mut self) -> Obj {
        let mut o = match self.secs.get_mut(self.nsecs) {
            Some(o) if o.buf.capacity() <= KEEP_MAX && o.keys.spans.capacity() <= KEEP_MAX => {
                std::mem::take(o)
            }
            _ => Obj::default(),
        };
        o.clear();
        o
    }

    /// Give back an object of [`Direct::take_sec`]: a section of the event, as `Top::Sec(index)`.
    fn give(&mut self, o: Obj) -> usize {
        let i = self.nsecs;
        match self.secs.get_mut(i) {
            Some(slot) => *slot = o,
            None => self.secs.push(o),
        }
        self.nsecs += 1;
        self.refs.push(SecRef::Own(i));
        self.refs.len() - 1
    }

    /// A cached section as a section of the event (`Top::Sec(index)`).
    fn share(&mut self, o: Arc<Obj>) -> usize {
        self.refs.push(SecRef::Shared(o));
        self.refs.len() - 1
    }

    fn new_list(&mut self, first: &[Top]) -> usize {
        let i = self.nlists;
        match self.lists.get_mut(i) {
            Some(l) => {
                l.clear();
                l.extend_from_slice(first);
            }
            None => self.lists.push(first.to_vec()),
        }
        self.nlists += 1;
        i
    }

    fn top_find(&self, key: &[u8]) -> Option<usize> {
        self.top_keys.find(&self.topbuf, key)
    }

    fn top_get(&self, key: &[u8]) -> Option<Top> {
        self.top_vals.get(self.top_find(key)?).copied()
    }

    /// `d.insert(key, v)`
    fn top_insert(&mut self, key: &[u8], v: Top) {
        let h = self.top_keys.hash(key);
        match self.top_keys.find_h(&self.topbuf, key, h) {
            Some(i) => {
                if let Some(slot) = self.top_vals.get_mut(i) {
                    *slot = v;
                }
            }
            None => {
                let k0 = self.topbuf.len();
                self.topbuf.extend_from_slice(key);
                self.top_keys
                    .push_h(&self.topbuf, (k0, self.topbuf.len()), h);
                self.top_vals.push(v);
            }
        }
    }

    fn top_text(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> Top {
        let start = self.topbuf.len();
        f(&mut self.topbuf);
        Top::Text((start, self.topbuf.len()))
    }

    fn sec(&self, i: usize) -> Option<&Obj> {
        match self.refs.get(i)? {
            SecRef::Own(j) => self.secs.get(*j),
            SecRef::Shared(o) => Some(o),
        }
    }

    /// The section object a top value is, or the first of its list (`d.get(name)`, a list's first).
    fn first_obj(&self, v: Option<Top>) -> Option<&Obj> {
        match v? {
            Top::Sec(i) => self.sec(i),
            Top::List(l) => match self.lists.get(l)?.first()? {
                Top::Sec(i) => self.sec(*i),
                _ => None,
            },
            _ => None,
        }
    }

    fn write_top(&self, v: Top, ev: &Event, out: &mut Vec<u8>) {
        match v {
            Top::Text(s) => out.extend_from_slice(span_of(&self.topbuf, s)),
            Top::Null => out.extend_from_slice(b"null"),
            Top::Sec(i) => match self.sec(i) {
                Some(o) => o.write(out),
                None => out.extend_from_slice(b"null"),
            },
            Top::List(l) => {
                out.push(b'[');
                for (j, item) in self.lists.get(l).into_iter().flatten().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    self.write_top(*item, ev, out);
                }
                out.push(b']');
            }
            Top::Summary => self.summary.write(out),
            Top::Raw => {
                out.push(b'[');
                for (j, r) in ev.records.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_raw(out, &r.text);
                }
                out.push(b']');
            }
        }
    }
}

impl Renderer {
    /// The event's JSON object as one compact line of JSON, appended to `out` (no newline): the bytes
    /// `serde_json::to_writer(out, &self.render(ev))` writes, written directly.
    pub fn render_json(&mut self, ev: &Event, out: &mut Vec<u8>) {
        let mut dw = std::mem::take(&mut self.direct);
        dw.reset();
        self.direct_event(&mut dw, ev);
        out.push(b'{');
        for (j, (&k, &v)) in dw.top_keys.spans.iter().zip(&dw.top_vals).enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_str(out, span_of(&dw.topbuf, k));
            out.push(b':');
            dw.write_top(v, ev, out);
        }
        out.push(b'}');
        self.direct = dw;
    }

    /// The old path, kept as the reference of [`Renderer::render_json`]: [`Renderer::render`], serialised.
    pub fn render_json_via_map(&mut self, ev: &Event, out: &mut Vec<u8>) {
        let d = self.render(ev);
        // writing to a Vec cannot fail, and a Map<String, Value> always serialises
        let _ = serde_json::to_writer(out, &d);
    }

    /// [`Renderer::render`]'s steps, into `dw`.
    fn direct_event(&mut self, dw: &mut Direct, ev: &Event) {
        let id = dw.top_text(|b| {
            // Event::id, quoted
            let _ = write!(b, "\"{}.{:03}:{}\"", ev.sec, ev.msec, ev.serial);
        });
        dw.top_insert(b"ID", id);
        if let Some(node) = &ev.node {
            let t = dw.top_text(|b| write_str(b, lossless(node).as_bytes()));
            dw.top_insert(b"NODE", t);
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
                    dw.top_insert(b"EXECVE", Top::Null);
                }
                execve.push(rec);
                continue;
            }
            let sec = if t == PROCTITLE {
                let mut o = dw.take_sec();
                o.put(b"ARGV", true, |b| {
                    write_escaped_list(b, &proctitle_argv(rec.get(b"proctitle")))
                });
                Top::Sec(dw.give(o))
            } else {
                Top::Sec(self.direct_section(dw, rec, arch_name.as_deref()))
            };
            let name = lossless(&rec.name);
            let name = name.as_bytes();
            let slot = dw.top_find(name);
            let cur = slot.and_then(|i| dw.top_vals.get(i).copied());
            if SINGLE_SECTIONS.contains(&t) {
                match cur {
                    None => dw.top_insert(name, sec),
                    Some(Top::List(l)) => {
                        if let Some(list) = dw.lists.get_mut(l) {
                            list.push(sec);
                        }
                    }
                    Some(prev) => {
                        let l = dw.new_list(&[prev, sec]);
                        dw.top_insert(name, Top::List(l));
                    }
                }
            } else {
                match cur {
                    None | Some(Top::Null) => {
                        let l = dw.new_list(&[sec]);
                        dw.top_insert(name, Top::List(l));
                    }
                    Some(Top::List(l)) => {
                        if let Some(list) = dw.lists.get_mut(l) {
                            list.push(sec);
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        let mut warnings: Vec<String> = Vec::new();
        let mut argv: Option<Vec<Vec<u8>>> = None;
        if !execve.is_empty() {
            let (argc, args, w) = execve_argv(&execve);
            let mut o = dw.take_sec();
            o.put(b"argc", true, |b| write_value(b, &argc));
            o.put(b"ARGV", true, |b| write_escaped_list(b, &args));
            let sec = Top::Sec(dw.give(o));
            dw.top_insert(b"EXECVE", sec);
            argv = Some(args);
            warnings = w;
        }
        warnings.extend(errors);
        let mut s = std::mem::take(&mut dw.summary);
        self.direct_summary(
            dw,
            ev,
            (arch_token, arch_num, arch_name.as_deref()),
            argv.as_deref(),
            warnings,
            &mut s,
        );
        dw.summary = s;
        dw.top_insert(b"summary", Top::Summary);
        if self.raw {
            dw.top_insert(b"raw", Top::Raw);
        }
    }

    /// [`Renderer::section`] as a section of the event (its index), with the cache of repeated bodies
    /// (shared, not copied).
    fn direct_section(&mut self, dw: &mut Direct, rec: &Record, arch_name: Option<&str>) -> usize {
        let body = rec.body();
        if rec.rtype == SYSCALL || rec.error.is_some() || body.len() > CACHE_BODY_MAX {
            let mut o = dw.take_sec();
            self.direct_build(rec, arch_name, &mut o);
            return dw.give(o);
        }
        self.key.clear();
        self.key.extend_from_slice(&rec.rtype.to_le_bytes());
        self.key.extend_from_slice(body);
        if let Some(sec) = dw.cache.get(self.key.as_slice()) {
            let sec = Arc::clone(sec);
            return dw.share(sec);
        }
        let mut o = Obj::default();
        self.direct_build(rec, arch_name, &mut o);
        if dw.cache.len() >= CACHE_MAX {
            dw.cache.clear();
        }
        let o = Arc::new(o);
        dw.cache.insert(self.key.clone(), Arc::clone(&o));
        dw.share(o)
    }

    /// [`Renderer::build_section`] into `o`.
    fn direct_build(&mut self, rec: &Record, arch_name: Option<&str>, o: &mut Obj) {
        let mut free: Vec<&[u8]> = Vec::new();
        let mut argv: Option<Vec<u8>> = None;
        let is_syscall = rec.rtype == SYSCALL;
        for (k, tok) in &rec.fields {
            let kind = self.kinds.kind(k);
            match kind {
                Kind::Free => {
                    free.push(tok);
                    continue;
                }
                Kind::ScArg if is_syscall => {
                    let a = argv.get_or_insert_with(|| {
                        let mut v = Vec::with_capacity(64);
                        v.push(b'[');
                        v
                    });
                    if a.len() > 1 {
                        a.push(b',');
                    }
                    if plain_hex(tok) {
                        a.extend_from_slice(b"\"0x");
                        a.extend_from_slice(tok);
                        a.push(b'"');
                    } else {
                        let t = hex_text(tok).unwrap_or_else(|| text_of(tok).unwrap_or_default());
                        write_str(a, t.as_bytes());
                    }
                    continue;
                }
                _ => {}
            }
            // a repeated key: the first value is kept (`put` without replace)
            let key = lossless(k);
            match kind {
                Kind::Msg if tok.first() == Some(&b'\'') => {
                    if !o.contains(key.as_bytes()) {
                        let mut n = Obj::default();
                        self.direct_nested(tok, &mut n);
                        o.put(key.as_bytes(), false, |b| n.write(b));
                        o.nested = Some(Box::new(n));
                    }
                }
                Kind::Msg | Kind::ScArg => {
                    let conv = values::converter(k);
                    o.put(key.as_bytes(), false, |b| write_token(b, conv, tok));
                }
                _ => o.put(key.as_bytes(), false, |b| write_token(b, kind, tok)),
            }
        }
        if !free.is_empty() {
            free_text(&free, o);
        }
        for (k, tok) in &rec.enrich {
            o.put(lossless(k).as_bytes(), false, |b| {
                if tok.first() == Some(&b'{') {
                    write_value(b, &braced(tok));
                } else {
                    write_token(b, Kind::Text, tok);
                }
            });
        }
        if is_syscall {
            if let Some(a) = arch_name.filter(|a| !a.is_empty()) {
                o.put(b"ARCH", false, |b| write_str(b, a.as_bytes()));
            }
            if !o.contains(b"SYSCALL") {
                if let Some(name) = o
                    .get(b"syscall")
                    .and_then(json_i64)
                    .and_then(|nr| interpret::syscall_name(arch_name, nr))
                {
                    o.insert(b"SYSCALL", &quoted(name));
                }
            }
            if let Some(mut a) = argv {
                a.push(b']');
                o.insert(b"ARGV", &a);
            }
        }
        if let Some(ids) = self.ids.as_mut() {
            direct_names(ids, o);
            if let Some(mut n) = o.nested.take() {
                // ids in a user-space payload: the nested object, written again
                direct_names(ids, &mut n);
                let mut text = Vec::new();
                n.write(&mut text);
                o.insert(b"msg", &text);
                o.nested = Some(n);
            }
        }
    }

    /// [`Renderer::nested`] into `o`.
    fn direct_nested(&mut self, tok: &[u8], o: &mut Obj) {
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
            let kind = self.kinds.converter(&k);
            o.put(key.as_bytes(), false, |b| write_token(b, kind, &v));
        }
        if any_free {
            o.put(b"_text", true, |b| write_str(b, lossless(&free).as_bytes()));
        }
    }

    /// [`Renderer::summarize`] into `s`.
    fn direct_summary(
        &mut self,
        dw: &Direct,
        ev: &Event,
        (arch_token, arch_num, arch_name): (Option<&[u8]>, Option<u32>, Option<&str>),
        argv: Option<&[Vec<u8>]>,
        warnings: Vec<String>,
        s: &mut Summary,
    ) {
        if self.iso_sec != Some(ev.sec) {
            self.iso_base = super::iso_base(ev.sec);
            self.iso_sec = Some(ev.sec);
        }
        let base = self.iso_base.as_bytes();
        s.put(S_TIME, |b| {
            // Renderer::iso, quoted
            b.push(b'"');
            b.extend_from_slice(base);
            let _ = write!(b, "{:03}Z\"", ev.msec);
        });
        let ty = match (ev.records.first(), ev.records.last()) {
            (Some(first), Some(last)) => {
                if first.rtype != EOE || ev.records.len() == 1 {
                    lossless(&first.name)
                } else {
                    lossless(&last.name)
                }
            }
            _ => "".into(),
        };
        s.put(S_TYPE, |b| write_str(b, ty.as_bytes()));
        s.put(S_RECORDS, |b| push_num(b, ev.records.len() as u64));
        if let Some(sc) = dw.first_obj(dw.top_get(b"SYSCALL")) {
            let p = pick(sc);
            if ev.records.first().map(|r| r.rtype) == Some(SYSCALL) {
                s.insert(S_TYPE, b"\"SYSCALL\"");
            }
            let arch = match arch_name.filter(|a| !a.is_empty()) {
                Some(a) => Some(a.to_owned()),
                None => arch_token.and_then(hex_text),
            };
            if let Some(a) = arch {
                s.put(S_ARCH, |b| write_str(b, a.as_bytes()));
            }
            match p[P_SYSCALL] {
                Some(nr) if is_number(nr) => {
                    match json_i64(nr).and_then(|n| interpret::syscall_name(arch_name, n)) {
                        Some(name) => s.insert(S_SYSCALL, &quoted(name)),
                        None => match p[P_SYSCALL_NAME] {
                            Some(v) if truthy(v) => s.insert(S_SYSCALL, v),
                            _ => s.put(S_SYSCALL, |b| write_str(b, nr)),
                        },
                    }
                    s.insert(S_SYSCALL_NR, nr);
                }
                Some(nr) if nr.first() == Some(&b'"') => s.insert(S_SYSCALL, nr),
                _ => {}
            }
            match p[P_SUCCESS] {
                Some(b"\"yes\"") => s.insert(S_SUCCESS, b"true"),
                Some(b"\"no\"") => s.insert(S_SUCCESS, b"false"),
                _ => {}
            }
            match p[P_EXIT] {
                None | Some(b"null") => {}
                Some(ex) => {
                    s.insert(S_EXIT, ex);
                    if is_number(ex) {
                        if let Some(en) = json_i64(ex)
                            .filter(|&e| e < 0)
                            .and_then(|e| i64::try_from(e.unsigned_abs()).ok())
                            .and_then(interpret::errno_name)
                        {
                            s.insert(S_ERRNO, &quoted(en));
                        }
                    } else if ex.starts_with(b"\"E") {
                        s.insert(S_ERRNO, ex);
                    }
                }
            }
            copy_picks(&p, P_INTS, s);
            copy_picks(&p, P_TEXTS, s);
            id_names(&p, s);
        } else {
            summarize_other(dw, ev, s);
        }
        if let Some(Top::Sec(i)) = dw.top_get(b"CWD") {
            if let Some(c) = dw.sec(i).and_then(|cwd| cwd.get(b"cwd")) {
                s.insert(S_CWD, c);
            }
        }
        if let Some(argv) = argv {
            match dw.top_get(b"EXECVE") {
                Some(Top::Sec(i)) => {
                    let a = dw.sec(i).and_then(|ex| ex.get(b"ARGV")).unwrap_or(b"null");
                    s.insert(S_ARGV, a);
                }
                _ => s.put(S_ARGV, |b| write_escaped_list(b, argv)),
            }
            s.put(S_ARGC, |b| push_num(b, argv.len() as u64));
        }
        if let Some(Top::Sec(i)) = dw.top_get(b"PROCTITLE") {
            if !s.contains(S_ARGV) {
                let a = dw.sec(i).and_then(|pt| pt.get(b"ARGV")).unwrap_or(b"null");
                s.insert(S_PROCTITLE, a);
            }
        }
        if let Some(Top::List(l)) = dw.top_get(b"PATH") {
            s.put(S_PATHS, |b| {
                b.push(b'[');
                for (j, item) in dw.lists.get(l).into_iter().flatten().enumerate() {
                    if j > 0 {
                        b.push(b',');
                    }
                    let obj = match item {
                        Top::Sec(i) => dw.sec(*i),
                        _ => None,
                    };
                    path_summary(obj, b);
                }
                b.push(b']');
            });
        }
        if let Some(sa) = ev.records.iter().find(|r| r.rtype == SOCKADDR) {
            if let Some(m) = sockaddr_of(sa.get(b"saddr"), arch_num) {
                s.put(S_SOCKADDR, |b| {
                    let _ = serde_json::to_writer(b, &m);
                });
            }
        }
        if !matches!(ev.closed_by, ClosedBy::Eoe | ClosedBy::Single) {
            s.insert(S_CLOSED_BY, &quoted(ev.closed_by.as_str()));
        }
        if ev.duplicates != 0 {
            s.put(S_DUPLICATES, |b| push_num(b, u64::from(ev.duplicates)));
        }
        if !warnings.is_empty() {
            s.put(S_WARNINGS, |b| {
                b.push(b'[');
                for (j, w) in warnings.iter().enumerate() {
                    if j > 0 {
                        b.push(b',');
                    }
                    write_str(b, w.as_bytes());
                }
                b.push(b']');
            });
        }
    }
}

type Picks<'a> = [Option<&'a [u8]>; 45];

/// [`super::pick`] over an [`Obj`]: the JSON text of the section's [`PICK_KEYS`].
fn pick(o: &Obj) -> Picks<'_> {
    let mut p: Picks<'_> = [None; 45];
    for (k, v) in o.entries() {
        if let Some(slot) = pick_slot(k).and_then(|i| p.get_mut(i)) {
            *slot = Some(v);
        }
    }
    p
}

fn copy_picks(p: &Picks<'_>, slots: impl IntoIterator<Item = usize>, s: &mut Summary) {
    for i in slots {
        if let Some(Some(v)) = p.get(i) {
            if *v != b"null" {
                s.insert(i, v); // a pick below 27 is the summary key of the same index
            }
        }
    }
}

fn id_names(p: &Picks<'_>, s: &mut Summary) {
    let mut names: Vec<u8> = Vec::new();
    for (i, (f, _, _)) in ID_NAMES.iter().enumerate() {
        if let Some(Some(v)) = p.get(P_NAMES + i) {
            names.push(if names.is_empty() { b'{' } else { b',' });
            write_str(&mut names, f.as_bytes());
            names.push(b':');
            names.extend_from_slice(v);
        }
    }
    if !names.is_empty() {
        names.push(b'}');
        s.insert(S_NAMES, &names);
    }
}

/// [`super::summarize_other`] over the direct writer's sections.
fn summarize_other(dw: &Direct, ev: &Event, s: &mut Summary) {
    let Some(first) = ev.records.first() else {
        return;
    };
    let Some(sec) = dw.first_obj(dw.top_get(lossless(&first.name).as_bytes())) else {
        return;
    };
    let p = pick(sec);
    copy_picks(&p, P_INTS, s);
    let parsed;
    let msg_obj = match p[P_MSG].filter(|m| m.first() == Some(&b'{')) {
        None => None,
        Some(_) if sec.nested.is_some() => sec.nested.as_deref(),
        // not built here (never: an object `msg` is a payload): read back
        Some(m) => {
            parsed = serde_json::from_slice::<Map<String, Value>>(m)
                .ok()
                .map(|m| Obj::from_map(&m));
            parsed.as_ref()
        }
    };
    let pm;
    let src = match msg_obj {
        Some(o) => {
            pm = pick(o);
            &pm
        }
        None => &p,
    };
    copy_picks(src, P_USER, s);
    let res = src[P_RES].or(p[P_RES]);
    let ok = match res {
        Some(b"\"success\"" | b"\"1\"" | b"1") => Some(true),
        Some(b"\"failed\"" | b"\"0\"" | b"0") => Some(false),
        _ => None,
    };
    if let Some(ok) = ok {
        s.insert(S_SUCCESS, if ok { b"true" } else { b"false" });
    }
    id_names(&p, s);
}

/// [`super::path_summary`]: `name`, `nametype`, `inode`, `mode`, `ouid`, `ogid` of a PATH section.
fn path_summary(p: Option<&Obj>, out: &mut Vec<u8>) {
    let mut picked: [Option<&[u8]>; 6] = [None; 6];
    if let Some(p) = p {
        for (k, v) in p.entries() {
            if let Some(slot) = PATH_KEYS
                .iter()
                .position(|n| n.as_bytes() == k)
                .and_then(|i| picked.get_mut(i))
            {
                *slot = Some(v);
            }
        }
    }
    out.push(b'{');
    let mut first = true;
    for (k, v) in PATH_KEYS.iter().zip(picked) {
        if let Some(v) = v {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, k.as_bytes());
            out.push(b':');
            out.extend_from_slice(v);
        }
    }
    out.push(b'}');
}

/// [`super::names`] over an [`Obj`].
fn direct_names(ids: &mut Identities, o: &mut Obj) {
    for (f, up, is_group) in ID_NAMES {
        let Some(v) = o.get(f.as_bytes()) else {
            continue;
        };
        if !is_number(v) {
            continue;
        }
        let Some(id) = json_i64(v) else {
            continue;
        };
        if o.contains(up.as_bytes()) {
            continue;
        }
        let name = if is_group {
            ids.group(id)
        } else {
            ids.user(id)
        };
        if let Some(name) = name {
            o.put(up.as_bytes(), true, |b| write_str(b, name.as_bytes()));
        }
    }
}

/// [`super::free_text`] into an [`Obj`].
fn free_text(mut words: &[&[u8]], out: &mut Obj) {
    if let [b"avc:", what, b"{", rest @ ..] = words {
        let end = rest.iter().position(|w| *w == b"}").unwrap_or(rest.len());
        let perms = rest.get(..end).unwrap_or_default();
        out.put(lossless(what).as_bytes(), true, |b| {
            b.push(b'[');
            for (j, w) in perms.iter().enumerate() {
                if j > 0 {
                    b.push(b',');
                }
                write_str(b, lossless(w).as_bytes());
            }
            b.push(b']');
        });
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
        out.put(b"_text", true, |b| {
            write_str(b, lossless(&joined).as_bytes())
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn summary_keys_start_with_the_copied_picks() {
        use super::super::PICK_KEYS;
        use super::{SUM_KEYS, S_CWD};
        assert_eq!(SUM_KEYS[..27], PICK_KEYS[..27]);
        assert_eq!(SUM_KEYS[S_CWD], "cwd");
        let mut names = SUM_KEYS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SUM_KEYS.len());
    }
}
