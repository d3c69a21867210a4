//! The tracker's event side: fork/vfork/clone/clone3, exec, exit_group.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::proc::{Args, Proc, Text};
use super::text::{cell, event_columns, hex_low64, int_of, node_str, py_trunc, text, text_str};
use super::tracker::{Count, Due, EarlyExit, Key, Pending, ProcId, Tracker};
use super::{CLONE_PARENT, CLONE_THREAD, FLAGS_IN_A1, PENDING_MAX, START_SLACK};
use crate::rows::value::{py_str, truthy};
use crate::rows::{Cell, Object, Row};

/// The summary keys a fork (and the adoption of its caller) reads: what a pending clone3 keeps.
const FORK_KEYS: &[&str] = &["pid", "ppid", "exe", "comm", "uid", "auid", "euid", "gid"];

/// The event's `NODE` as Python holds it: None when absent or falsy.
pub(super) fn node_of(event: &Object) -> Option<Cow<'_, str>> {
    match event.get("NODE") {
        Some(Value::String(s)) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Some(Value::String(_)) | None => None,
        Some(_) => node_str(event).map(Cow::Owned),
    }
}

/// (event time in UNIX seconds with milliseconds, `[NODE:]ID`) of a rendered event (Python:
/// `_event_time`). An unparsable or non-finite time is 0 (Python raised for some of those); an `ID` that
/// is not a string is its `str()` (Python raised).
fn event_time(event: &Object) -> (f64, String) {
    let eid: Cow<'_, str> = match event.get("ID") {
        Some(Value::String(s)) if !s.is_empty() => Cow::Borrowed(s.as_str()),
        Some(v) if truthy(v) => Cow::Owned(py_str(v)),
        _ => Cow::Borrowed("0.000:0"),
    };
    let t = eid
        .find(':')
        .and_then(|i| eid[..i].trim().parse::<f64>().ok())
        .filter(|t| t.is_finite())
        .unwrap_or(0.0);
    let eid = match node_of(event) {
        Some(n) => format!("{n}:{eid}"),
        None => eid.into_owned(),
    };
    (t, eid)
}

/// `SYSCALL.ARGV[i]` as Python's `int(.., 16)`, low 64 bits; None when absent or not hex.
fn argv_hex(event: &Object, i: usize) -> Option<u64> {
    let Some(Value::Object(sc)) = event.get("SYSCALL") else {
        return None;
    };
    match sc.get("ARGV")? {
        Value::Array(a) => hex_low64(a.get(i)?.as_str()?),
        Value::String(s) => hex_low64(&s.chars().nth(i)?.to_string()),
        _ => None,
    }
}

fn shared(s: Option<String>) -> Text {
    s.map(Arc::from)
}

/// The fields of the caller a fork copies into its child and its fork row.
struct ParentView {
    pid: i64,
    start: f64,
    parent: Option<i64>,
    parent_start: Option<f64>,
    path: Text,
    cmdline: Text,
    args: Args,
    cwd: Text,
    container_id: Text,
    comm: Option<String>,
    creds: [Cell; 4],
}

/// Python's `_creds`: uid, auid, euid, gid of the summary.
fn creds(p: &mut Proc, summary: &Object) {
    p.uid = cell(summary.get("uid"));
    p.auid = cell(summary.get("auid"));
    p.euid = cell(summary.get("euid"));
    p.gid = cell(summary.get("gid"));
}

/// One argument as text (Python's `text(a) or ""`).
fn arg_text(a: &Value) -> Cow<'_, str> {
    match a {
        Value::String(s) if !s.contains('%') => Cow::Borrowed(s.as_str()),
        Value::String(s) => Cow::Owned(text_str(s)),
        other => Cow::Owned(text(Some(other)).unwrap_or_default()),
    }
}

/// Python's `" ".join(text(a) or "" for a in argv)`.
fn join_argv(argv: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&arg_text(a));
    }
    out
}

/// The arguments as [`join_argv`] joins them, one by one.
fn split_argv(argv: &[Value]) -> Arc<[Box<str>]> {
    argv.iter().map(|a| Box::from(arg_text(a))).collect()
}

enum Clone3 {
    Thread,
    Process,
    Unknown,
}

impl Tracker {
    /// The node index of an event (created when new).
    fn node_key(&mut self, event: &Object) -> u32 {
        match node_of(event) {
            Some(n) => self.intern(&n),
            None => 0,
        }
    }

    /// A fork-like syscall: the child (its return value) is a new process of the caller; fork rows go to
    /// `out` when fork events are on.
    pub(super) fn fork(
        &mut self,
        event: &Object,
        summary: &Object,
        name: &'static str,
        out: &mut Vec<Row>,
    ) {
        if summary.get("success") == Some(&Value::Bool(false)) {
            return;
        }
        let (Some(child), Some(caller)) = (int_of(summary.get("exit")), int_of(summary.get("pid")))
        else {
            return;
        };
        if child <= 0 {
            return;
        }
        let mut flags = 0;
        if name == "clone" {
            let a1 = summary
                .get("arch")
                .and_then(Value::as_str)
                .is_some_and(|a| FLAGS_IN_A1.contains(&a));
            flags = argv_hex(event, usize::from(a1)).unwrap_or(0);
            if flags & CLONE_THREAD != 0 {
                self.counters.threads += 1;
                return;
            }
        }
        let (t, eid) = event_time(event);
        let node = self.node_key(event);
        let existing_unmerged = self
            .lookup(node, child)
            .and_then(|id| self.slot(id))
            .is_some_and(|p| !p.merged);
        if name == "clone3" && !existing_unmerged {
            match self.clone3_kind(node, caller, child) {
                Clone3::Thread => {
                    self.counters.threads += 1;
                    return;
                }
                Clone3::Unknown => {
                    if self.pending.len() >= PENDING_MAX {
                        self.pending.pop_oldest();
                        self.counters.clone3_unresolved += 1;
                    }
                    let summary = FORK_KEYS
                        .iter()
                        .filter_map(|&k| summary.get(k).map(|v| (k.to_string(), v.clone())))
                        .collect();
                    self.pending.insert(
                        (node, child),
                        Pending {
                            summary,
                            name,
                            t,
                            eid,
                        },
                    );
                    return;
                }
                Clone3::Process => {}
            }
        }
        let Some(parent) = self.caller(node, caller, summary, t, &eid, true) else {
            return;
        };
        self.forked(
            node,
            child,
            parent,
            summary,
            Some(name),
            flags,
            t,
            eid,
            Some((event, out)),
        );
    }

    fn clone3_kind(&self, node: u32, caller: i64, child: i64) -> Clone3 {
        if !self.live || node != 0 {
            return Clone3::Unknown;
        }
        if self.fs.exists(&format!("{caller}/task/{child}")) {
            return Clone3::Thread;
        }
        if self.fs.exists(&child.to_string()) {
            return Clone3::Process;
        }
        Clone3::Unknown
    }

    /// The process making a syscall: known, a clone3 child now proven, or adopted (from /proc when
    /// `use_proc` and live, else from the event: `source` `exec`). Python: `_caller`.
    fn caller(
        &mut self,
        node: u32,
        pid: i64,
        summary: &Object,
        t: f64,
        eid: &str,
        use_proc: bool,
    ) -> Option<ProcId> {
        if let Some(id) = self.lookup(node, pid) {
            if let Some(p) = self.slot_mut(id) {
                if t > p.last_seen {
                    p.last_seen = t;
                }
            }
            return Some(id);
        }
        if let Some(pend) = self.pending.remove(&(node, pid)) {
            return self.materialize_with(node, pid, pend);
        }
        Some(self.adopt(node, pid, summary, t, eid, use_proc))
    }

    /// A pending clone3 child proven a process: its fork applied now (Python: `_materialize`, which
    /// recursed through a chain of pending callers; here a loop). Returns the child (which may have exited
    /// already). Its fork row, as in Python, is not written.
    pub(super) fn materialize_with(
        &mut self,
        node: u32,
        pid: i64,
        pend: Pending,
    ) -> Option<ProcId> {
        let mut chain: Vec<(i64, Pending)> = vec![(pid, pend)];
        let base = loop {
            let (_, last) = chain.last()?;
            let caller = int_of(last.summary.get("pid"))?;
            if let Some(id) = self.lookup(node, caller) {
                let t = last.t;
                if let Some(p) = self.slot_mut(id) {
                    if t > p.last_seen {
                        p.last_seen = t;
                    }
                }
                break id;
            }
            if let Some(next) = self.pending.remove(&(node, caller)) {
                chain.push((caller, next));
                continue;
            }
            break self.adopt(node, caller, &last.summary, last.t, &last.eid, true);
        };
        let mut parent = base;
        while let Some((child, pend)) = chain.pop() {
            parent = self.forked(
                node,
                child,
                parent,
                &pend.summary,
                Some(pend.name),
                0,
                pend.t,
                pend.eid,
                None,
            );
        }
        Some(parent)
    }

    fn adopt(
        &mut self,
        node: u32,
        pid: i64,
        summary: &Object,
        t: f64,
        eid: &str,
        use_proc: bool,
    ) -> ProcId {
        let mut found = None;
        if use_proc && self.live && node == 0 {
            if let Some(mut p) = self.read_proc(pid, Some(t)) {
                // a fork of it that was not seen yet may still complete it (see forked)
                p.merged = false;
                p.parent_start = p
                    .parent
                    .and_then(|pp| self.slot(self.lookup(node, pp)?))
                    .map(|pp| pp.start);
                found = Some(p);
            }
        }
        let p = match found {
            Some(p) => p,
            None => {
                let mut p = Proc::new(node, pid, t, "exec");
                if let Some(ppid) = int_of(summary.get("ppid")) {
                    p.parent = Some(ppid);
                    if let Some(pp) = self.lookup(node, ppid).and_then(|id| self.slot(id)) {
                        p.parent_start = Some(pp.start);
                        p.container_id = pp.container_id.clone();
                    }
                }
                p.path = shared(text(summary.get("exe")));
                p.comm = text(summary.get("comm"));
                creds(&mut p, summary);
                p.eid = (!eid.is_empty()).then(|| eid.to_string());
                p
            }
        };
        self.add(node, p)
    }

    /// The fork of `child` by `parent` (Python: `_forked`): completes an exec-first entry of the child, or
    /// starts a new process (ending one the pid still named). Returns the child. `name` is the audited
    /// syscall, None for a proc connector notice (whose child takes its command name and credentials from
    /// the parent, as the kernel's fork copies them).
    #[allow(clippy::too_many_arguments)]
    fn forked(
        &mut self,
        node: u32,
        child: i64,
        parent: ProcId,
        summary: &Object,
        name: Option<&'static str>,
        flags: u64,
        t: f64,
        eid: String,
        rows: Option<(&Object, &mut Vec<Row>)>,
    ) -> ProcId {
        self.counters.forks += 1;
        let par = match self.slot(parent) {
            Some(p) => ParentView {
                pid: p.pid,
                start: p.start,
                parent: p.parent,
                parent_start: p.parent_start,
                path: p.path.clone(),
                cmdline: p.cmdline.clone(),
                args: p.args.clone(),
                cwd: p.cwd.clone(),
                container_id: p.container_id.clone(),
                comm: p.comm.clone(),
                creds: [p.uid.clone(), p.auid.clone(), p.euid.clone(), p.gid.clone()],
            },
            None => ParentView {
                pid: 0,
                start: 0.0,
                parent: None,
                parent_start: None,
                path: None,
                cmdline: None,
                args: None,
                cwd: None,
                container_id: None,
                comm: None,
                creds: [Cell::Null, Cell::Null, Cell::Null, Cell::Null],
            },
        };
        let (creator_pid, creator_start) = if flags & CLONE_PARENT != 0 {
            (par.parent, par.parent_start)
        } else {
            (Some(par.pid), Some(par.start))
        };
        let key: Key = (node, child);
        let mut c = self.lookup(node, child);
        if c.is_none() {
            // its exec and exit came before this fork
            c = self.gone_unmerged.remove(&key);
            if let Some(p) = c.and_then(|id| self.slot_mut(id)) {
                p.in_gone = false;
            }
        }
        let completes = c.and_then(|id| self.slot(id)).is_some_and(|p| {
            !p.merged && p.parent == creator_pid && t <= p.start + START_SLACK && p.start - t < 60.0
        });
        let cid = match c {
            Some(id) if completes => {
                // the child's exec came first (vfork, posix_spawn): complete its entry, keep its key
                if let Some(p) = self.slot_mut(id) {
                    p.merged = true;
                    p.source = Cow::Borrowed("fork");
                    p.parent_start = creator_start;
                    p.syscall = name.map(Cow::Borrowed);
                    if p.container_id.is_none() {
                        p.container_id = par.container_id.clone();
                    }
                }
                self.mark_dirty(id);
                id
            }
            _ => {
                if let Some(old) = c {
                    if self.slot(old).is_some_and(|p| p.exit_time.is_none()) {
                        // the pid was forked again: the process we knew under it is gone
                        self.exit_proc(old, Some(t), None, "reuse", None, Count::Reused);
                    }
                    self.release(old);
                }
                let mut p = Proc::new(node, child, t, "fork");
                p.parent = creator_pid;
                p.parent_start = creator_start;
                p.path = par.path.clone();
                p.cmdline = par.cmdline.clone();
                p.args = par.args.clone();
                p.cwd = par.cwd.clone();
                if name.is_some() {
                    p.comm = text(summary.get("comm"));
                    creds(&mut p, summary);
                } else {
                    p.comm = par.comm.clone();
                    [p.uid, p.auid, p.euid, p.gid] = par.creds.clone();
                }
                p.container_id = par.container_id.clone();
                p.syscall = name.map(Cow::Borrowed);
                p.merged = true;
                p.eid = (!eid.is_empty()).then_some(eid);
                let id = self.add(node, p);
                if let Some(early) = self.early_exits.remove(&key) {
                    if early.t >= t {
                        self.exit_proc(
                            id,
                            Some(early.t),
                            early.code,
                            "exit_group",
                            Some(early.eid),
                            Count::Exits,
                        );
                    }
                }
                id
            }
        };
        if let (Some((event, out)), Some(name)) = (rows, name) {
            if self.fork_events {
                let cells = self.fork_row(cid, &par, summary, name, event);
                out.push(Row {
                    table: "process_events",
                    cells,
                });
            }
        }
        cid
    }

    /// The `process_events` row of a fork (registry column order of `process_events`).
    fn fork_row(
        &self,
        child: ProcId,
        par: &ParentView,
        summary: &Object,
        name: &str,
        event: &Object,
    ) -> Vec<Cell> {
        let common = event_columns(event, self.uptime_base);
        let g = |k: &str| cell(summary.get(k));
        let t = |k: &str| text(summary.get(k)).map_or(Cell::Null, Cell::Text);
        let shared = |s: &Text| {
            s.as_deref()
                .map_or(Cell::Null, |s| Cell::Text(s.to_string()))
        };
        let c = self.slot(child);
        vec![
            c.map_or(Cell::Null, |c| Cell::Int(c.pid)), // pid
            t("exe"),                                   // path
            Cell::Null,                                 // mode
            Cell::Null,                                 // cmdline
            Cell::Null,                                 // cmdline_size
            Cell::Null,                                 // env
            Cell::Null,                                 // env_count
            Cell::Null,                                 // env_size
            shared(&par.cwd),                           // cwd
            g("auid"),
            g("uid"),
            g("euid"),
            g("gid"),
            g("egid"),
            Cell::Null,                // owner_uid
            Cell::Null,                // owner_gid
            Cell::Null,                // atime
            Cell::Null,                // mtime
            Cell::Null,                // ctime
            Cell::Null,                // btime
            Cell::Text(String::new()), // overflows
            g("pid"),                  // parent
            g("fsuid"),
            g("suid"),
            g("fsgid"),
            g("sgid"),
            Cell::Text(name.to_string()), // syscall
            Cell::Null,                   // argv
            Cell::Null,                   // argc
            Cell::Text("succeeded".to_string()),
            g("exit"),  // exit_code
            Cell::Null, // errno
            g("ses"),
            t("tty"),
            t("comm"),
            t("key"),
            shared(&par.path),    // parent_path
            shared(&par.cmdline), // parent_cmdline
            c.map_or(Cell::Null, |c| Cell::Real(c.start)),
            c.map_or(Cell::Null, |c| shared(&c.container_id)),
            common.time,
            common.uptime,
            common.eid,
        ]
    }

    /// An exec (successful or failed) of `summary.pid`: the process's image, arguments, credentials
    /// (Python: `exec`).
    pub(super) fn exec_event(&mut self, event: &Object, summary: &Object) -> Option<ProcId> {
        let pid = int_of(summary.get("pid"))?;
        let (t, eid) = event_time(event);
        let node = self.node_key(event);
        let id = self.caller(node, pid, summary, t, &eid, false)?;
        if summary.get("success") == Some(&Value::Bool(false)) {
            return Some(id);
        }
        self.counters.execs += 1;
        let keep_args = self.keep_args;
        let p = self.slot_mut(id)?;
        p.path = shared(text(summary.get("exe")));
        (p.cmdline, p.args) = match summary.get("argv") {
            Some(Value::Array(argv)) => (
                Some(Arc::from(join_argv(argv))),
                keep_args.then(|| split_argv(argv)),
            ),
            _ => (None, None),
        };
        if let Some(cwd) = summary.get("cwd").filter(|v| !v.is_null()) {
            p.cwd = shared(text(Some(cwd)));
        }
        p.comm = text(summary.get("comm"));
        creds(p, summary);
        p.execs = p.execs.saturating_add(1);
        p.time = py_trunc(t);
        p.eid = Some(eid);
        self.mark_dirty(id);
        Some(id)
    }

    /// An `exit_group`: the SYSCALL record of the exiting process (`a0` is its status).
    pub(super) fn exit(&mut self, event: &Object, summary: &Object) {
        let Some(pid) = int_of(summary.get("pid")) else {
            return;
        };
        let (t, eid) = event_time(event);
        let node = self.node_key(event);
        let code = argv_hex(event, 0).map(|v| (v & 0xFF) as i64);
        let mut p = self.lookup(node, pid);
        if p.is_none() {
            if let Some(pend) = self.pending.remove(&(node, pid)) {
                p = self.materialize_with(node, pid, pend);
            }
        }
        let Some(id) = p else {
            // the exit of a vfork child can come before its parent's vfork: remember it for the fork
            self.last_exit = None;
            if self.early_exits.len() >= PENDING_MAX {
                self.early_exits.pop_oldest();
            }
            self.early_exits
                .insert((node, pid), EarlyExit { t, code, eid });
            return;
        };
        self.exit_proc(id, Some(t), code, "exit_group", Some(eid), Count::Exits);
        self.last_exit = Some(((node, pid), id));
    }

    /// A proc connector fork notice (`crate::netlink::connector`): `child` is a new process of `parent`, at
    /// `t` (UNIX seconds, the kernel's clock to the nanosecond). Local processes only. Held back, as exits
    /// are, until an audit record made after it arrives ([`Tracker::audit_clock`]): the parent's own
    /// records from before the fork (an exec the child inherits) come through the kernel's audit thread,
    /// maybe after the notice. A child whose exec comes first is completed by its fork, as a vfork child is.
    pub fn connector_fork(&mut self, parent: i64, child: i64, t: f64) {
        self.hold(Due::Fork { parent, child, t });
    }

    /// A proc connector exit notice: `pid` ended at `t` with wait status `status`. Held back until the
    /// audit records of the process are in ([`Tracker::audit_clock`]): the notice comes straight from the
    /// exiting process, its last records through the kernel's audit thread, maybe later.
    pub fn connector_exit(&mut self, pid: i64, status: u32, t: f64) {
        self.hold(Due::Exit { pid, status, t });
    }

    fn hold(&mut self, due: Due) {
        self.connector = true;
        if self.due.len() >= PENDING_MAX {
            if let Some(old) = self.due.pop_front() {
                self.apply_due(old);
            }
        }
        self.due.push_back(due);
    }

    /// An audit record of this host with time `t` (its syscall's entry, on the kernel's coarse clock)
    /// arrived: its syscall began after every notice older than `t`, so every record made before those
    /// notices is in (the audit thread sends in order): apply them, in order.
    #[inline]
    pub fn audit_clock(&mut self, t: f64) {
        if self.due.front().is_some_and(|d| d.t() < t) {
            self.release_notices(t);
        }
    }

    /// Apply the held notices older than `upto` (UNIX seconds; infinity: all), in order.
    pub fn release_notices(&mut self, upto: f64) {
        while self.due.front().is_some_and(|d| d.t() < upto) {
            if let Some(d) = self.due.pop_front() {
                self.apply_due(d);
            }
        }
    }

    fn apply_due(&mut self, d: Due) {
        match d {
            Due::Fork { parent, child, t } => self.apply_fork(parent, child, t),
            Due::Exit { pid, status, t } => self.apply_exit(pid, status, t),
        }
    }

    fn apply_fork(&mut self, parent: i64, child: i64, t: f64) {
        if child <= 0 {
            return;
        }
        let Some(par) = self.caller(0, parent, &Object::new(), t, "", true) else {
            return;
        };
        self.forked(
            0,
            child,
            par,
            &Object::new(),
            None,
            0,
            t,
            String::new(),
            None,
        );
    }

    fn apply_exit(&mut self, pid: i64, status: u32, t: f64) {
        let Some(id) = self.lookup(0, pid) else {
            return;
        };
        // a process that started after the exit is a newer one under the same pid
        if !self.slot(id).is_some_and(|p| p.start <= t + 0.001) {
            return;
        }
        let (code, how) = if status & 0x7f == 0 {
            (Some(i64::from((status >> 8) & 0xff)), "exit_group")
        } else {
            (None, "signal")
        };
        self.exit_proc(id, Some(t), code, how, None, Count::Exits);
    }
}
