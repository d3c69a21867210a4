//! The tracker's state, lookups, rows, and its /proc side: seed, reload, sweep.

use crate::hash::HashMap;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::fifo::Fifo;
use super::proc::{args_of_json, Proc};
use super::procfs::{self, round3, ProcFs, CLK_TCK};
use super::text::{int_of, py_trunc};
use super::{PENDING_MAX, START_SLACK, SWEEP_INTERVAL};
use crate::rows::{Cell, Object, ProcExt, ProcessTree, Row};

/// How a tracker runs (Python: `Tracker(live, fork_events, local_names)` and `uptime_base`).
#[derive(Clone, Debug)]
pub struct TreeSettings {
    /// Events come from this host's kernel, so `/proc` may be consulted (off for imported logs).
    pub live: bool,
    /// Add a `process_events` row for every fork.
    pub fork_events: bool,
    /// Boot time (UNIX seconds) of the host that produced the events, for the `uptime` column.
    pub uptime_base: Option<f64>,
    /// Where `/proc` is (tests point it at a fake tree).
    pub proc_root: PathBuf,
    /// `node=` names that mean this host (with `""`, and the host name when live).
    pub local_names: Vec<String>,
    /// Keep each process's argument list beside its joined command line ([`Proc::args`]): the row's `argv`
    /// and [`Tracker::facts`]' `parent_argv` (on by default; off, `argv` is NULL).
    pub args: bool,
}

impl Default for TreeSettings {
    fn default() -> Self {
        TreeSettings {
            live: true,
            fork_events: false,
            uptime_base: None,
            proc_root: PathBuf::from("/proc"),
            local_names: Vec::new(),
            args: true,
        }
    }
}

/// An index into the tracker's process slots.
pub(super) type ProcId = usize;
/// (node index, pid).
pub(super) type Key = (u32, i64);

/// A clone3 child not yet proven a process: what its fork event said.
#[derive(Debug)]
pub(super) struct Pending {
    /// The summary keys the fork reads (pid, ppid, exe, comm, uid, auid, euid, gid).
    pub summary: Object,
    pub name: &'static str,
    pub t: f64,
    pub eid: String,
}

/// An exit seen before the fork of its process.
#[derive(Debug)]
pub(super) struct EarlyExit {
    pub t: f64,
    pub code: Option<i64>,
    pub eid: String,
}

/// A proc connector notice waiting for the audit records made before it ([`Tracker::audit_clock`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Due {
    Fork { parent: i64, child: i64, t: f64 },
    Exit { pid: i64, status: u32, t: f64 },
}

impl Due {
    pub(super) fn t(&self) -> f64 {
        match *self {
            Due::Fork { t, .. } | Due::Exit { t, .. } => t,
        }
    }
}

/// Which counter an exit counts in.
#[derive(Clone, Copy, Debug)]
pub(super) enum Count {
    Exits,
    Reused,
    Swept,
    Evicted,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub forks: u64,
    pub threads: u64,
    pub execs: u64,
    pub exits: u64,
    pub reused: u64,
    pub swept: u64,
    pub clone3_unresolved: u64,
    pub evicted: u64,
    /// (reloaded, restart_exited, seeded), set by [`Tracker::start`]
    pub start: Option<(u64, u64, u64)>,
}

/// The live process tree (Python: `Tracker`). See the module docs.
#[derive(Debug)]
pub struct Tracker {
    pub(super) live: bool,
    pub(super) fork_events: bool,
    pub(super) uptime_base: Option<f64>,
    pub(super) fs: ProcFs,
    /// node names that mean this host
    local: Vec<String>,
    /// node index → name (0 is "", this host)
    node_names: Vec<String>,
    node_ids: HashMap<String, u32>,
    /// node index → pid → live process
    pub(super) nodes: Vec<Fifo<i64, ProcId>>,
    slots: Vec<Option<Proc>>,
    free: Vec<ProcId>,
    /// changed since the last drain, in the order first changed
    dirty: Vec<ProcId>,
    pub(super) pending: Fifo<Key, Pending>,
    pub(super) early_exits: Fifo<Key, EarlyExit>,
    /// exec-first entries that exited before their fork was seen
    pub(super) gone_unmerged: Fifo<Key, ProcId>,
    pub(super) boot: f64,
    next_sweep: f64,
    pub(super) counters: Counters,
    pub(super) max_procs: usize,
    /// keep [`Proc::args`] ([`TreeSettings::args`])
    pub(super) keep_args: bool,
    /// the process the last `exit_group` ended: [`Tracker::facts`] of its own event find it there
    pub(super) last_exit: Option<(Key, ProcId)>,
    /// proc connector notices held back, in arrival order ([`Tracker::connector_fork`])
    pub(super) due: std::collections::VecDeque<Due>,
    /// a proc connector notice was seen: the /proc check waits one round for a gone process's notice
    pub(super) connector: bool,
    /// (pid, start bits) → when the last /proc check found it gone, its notice still to come
    suspects: HashMap<(i64, u64), f64>,
}

impl Tracker {
    /// A tracker with nothing known yet (reads the boot time, and the host name when live).
    pub fn new(settings: TreeSettings) -> Self {
        let fs = ProcFs::new(settings.proc_root);
        let mut local = settings.local_names;
        if settings.live {
            local.extend(fs.hostname());
        }
        let boot = fs.boot_time();
        Tracker {
            live: settings.live,
            fork_events: settings.fork_events,
            uptime_base: settings.uptime_base,
            fs,
            local,
            node_names: vec![String::new()],
            node_ids: HashMap::default(),
            nodes: vec![Fifo::default()],
            slots: Vec::new(),
            free: Vec::new(),
            dirty: Vec::new(),
            pending: Fifo::default(),
            early_exits: Fifo::default(),
            gone_unmerged: Fifo::default(),
            boot,
            next_sweep: 0.0,
            counters: Counters::default(),
            max_procs: super::MAX_PROCS,
            keep_args: settings.args,
            last_exit: None,
            due: std::collections::VecDeque::new(),
            connector: false,
            suspects: HashMap::default(),
        }
    }

    /// Turn fork rows in `process_events` on or off (Python: `tables.configure(fork_events=...)`).
    pub fn set_fork_events(&mut self, on: bool) {
        self.fork_events = on;
    }

    // -- nodes and slots ---------------------------------------------------------------------------------

    fn is_local(&self, node: &str) -> bool {
        node.is_empty() || self.local.iter().any(|l| l == node)
    }

    /// The index of a node's map, created when new (Python: `_procs(_node(node))`).
    pub(super) fn intern(&mut self, node: &str) -> u32 {
        if self.is_local(node) {
            return 0;
        }
        self.intern_raw(node)
    }

    /// The index of a node name taken as is (reload: the store's node names are already normalised).
    fn intern_raw(&mut self, node: &str) -> u32 {
        if node.is_empty() {
            return 0;
        }
        if let Some(&i) = self.node_ids.get(node) {
            return i;
        }
        let i = u32::try_from(self.node_names.len()).unwrap_or(u32::MAX);
        self.node_names.push(node.to_string());
        self.node_ids.insert(node.to_string(), i);
        self.nodes.push(Fifo::default());
        i
    }

    /// The index of a node's map, if it exists (never creates one).
    pub(super) fn find(&self, node: Option<&str>) -> Option<u32> {
        match node {
            None => Some(0),
            Some(n) if self.is_local(n) => Some(0),
            Some(n) => self.node_ids.get(n).copied(),
        }
    }

    pub(super) fn node_map(&self, node: u32) -> Option<&Fifo<i64, ProcId>> {
        self.nodes.get(node as usize)
    }

    /// The live process with `pid` on `node`'s map.
    pub(super) fn lookup(&self, node: u32, pid: i64) -> Option<ProcId> {
        self.node_map(node)?.get(&pid).copied()
    }

    pub(super) fn slot(&self, id: ProcId) -> Option<&Proc> {
        self.slots.get(id)?.as_ref()
    }

    pub(super) fn slot_mut(&mut self, id: ProcId) -> Option<&mut Proc> {
        self.slots.get_mut(id)?.as_mut()
    }

    fn alloc(&mut self, p: Proc) -> ProcId {
        match self.free.pop() {
            Some(id) if id < self.slots.len() => {
                self.slots[id] = Some(p);
                id
            }
            _ => {
                self.slots.push(Some(p));
                self.slots.len() - 1
            }
        }
    }

    /// Free a slot nothing holds any more (not live, not dirty, not awaiting its fork).
    pub(super) fn release(&mut self, id: ProcId) {
        let unheld = self
            .slot(id)
            .is_some_and(|p| !p.in_map && !p.dirty && !p.in_gone);
        if unheld {
            if let Some(s) = self.slots.get_mut(id) {
                *s = None;
                self.free.push(id);
            }
        }
    }

    pub(super) fn mark_dirty(&mut self, id: ProcId) {
        if let Some(p) = self.slot_mut(id) {
            if !p.dirty {
                p.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// Put a process in its node's map (Python: `procs[pid] = p`); a process it replaces is dropped.
    pub(super) fn put(&mut self, node: u32, p: Proc) -> ProcId {
        let pid = p.pid;
        let id = self.alloc(p);
        if let Some(pr) = self.slot_mut(id) {
            pr.in_map = true;
        }
        let old = self
            .nodes
            .get_mut(node as usize)
            .and_then(|m| m.insert(pid, id));
        if let Some(old) = old.filter(|&o| o != id) {
            if let Some(o) = self.slot_mut(old) {
                o.in_map = false;
            }
            self.release(old);
        }
        id
    }

    /// A new live process (Python: `_add`): mapped, dirty; past [`Tracker`]'s cap the oldest is evicted.
    pub(super) fn add(&mut self, node: u32, p: Proc) -> ProcId {
        let id = self.put(node, p);
        self.mark_dirty(id);
        let over = self.node_map(node).map_or(0, Fifo::len) > self.max_procs;
        if over {
            let oldest = self.nodes.get_mut(node as usize).and_then(|m| m.oldest());
            if let Some(old) = oldest.and_then(|pid| self.lookup(node, pid)) {
                self.exit_proc(
                    old,
                    Some(procfs::now()),
                    None,
                    "evicted",
                    None,
                    Count::Evicted,
                );
            }
        }
        id
    }

    /// Mark a process exited (Python: `_exit`): it leaves its node's map; one whose fork was not seen waits
    /// (bounded) in `gone_unmerged` for it.
    pub(super) fn exit_proc(
        &mut self,
        id: ProcId,
        when: Option<f64>,
        code: Option<i64>,
        how: &'static str,
        eid: Option<String>,
        count: Count,
    ) {
        let Some(p) = self.slot_mut(id) else {
            return;
        };
        p.exit_time = when;
        p.exit_code = code;
        p.exit_source = Some(how);
        if let Some(w) = when {
            p.time = py_trunc(w);
        }
        if eid.is_some() {
            p.eid = eid;
        }
        let (node, pid, merged) = (p.node, p.pid, p.merged);
        if self.lookup(node, pid) == Some(id) {
            if let Some(m) = self.nodes.get_mut(node as usize) {
                m.remove(&pid);
            }
            if let Some(p) = self.slot_mut(id) {
                p.in_map = false;
            }
        }
        if !merged {
            if self.gone_unmerged.len() >= PENDING_MAX {
                if let Some((_, old)) = self.gone_unmerged.pop_oldest() {
                    self.unhold_gone(old);
                }
            }
            if let Some(prev) = self.gone_unmerged.insert((node, pid), id) {
                if prev != id {
                    self.unhold_gone(prev);
                }
            }
            if let Some(p) = self.slot_mut(id) {
                p.in_gone = true;
            }
        }
        self.mark_dirty(id);
        let c = &mut self.counters;
        match count {
            Count::Exits => c.exits += 1,
            Count::Reused => c.reused += 1,
            Count::Swept => c.swept += 1,
            Count::Evicted => c.evicted += 1,
        }
    }

    /// A process taken out of `gone_unmerged`.
    pub(super) fn unhold_gone(&mut self, id: ProcId) {
        if let Some(p) = self.slot_mut(id) {
            p.in_gone = false;
        }
        self.release(id);
    }

    // -- lookups -----------------------------------------------------------------------------------------

    /// The live process with `pid` on `node` (None or "" for this host).
    pub fn get(&self, node: Option<&str>, pid: i64) -> Option<&Proc> {
        self.slot(self.lookup(self.find(node)?, pid)?)
    }

    /// Live processes in memory (all nodes).
    pub fn size(&self) -> usize {
        self.nodes.iter().map(Fifo::len).sum()
    }

    /// The counters as (name, value), in Python's order.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = &self.counters;
        let mut out = vec![
            ("forks", c.forks),
            ("threads", c.threads),
            ("execs", c.execs),
            ("exits", c.exits),
            ("reused", c.reused),
            ("swept", c.swept),
            ("clone3_unresolved", c.clone3_unresolved),
            ("evicted", c.evicted),
        ];
        if let Some((kept, gone, seeded)) = c.start {
            out.extend([
                ("reloaded", kept),
                ("restart_exited", gone),
                ("seeded", seeded),
            ]);
        }
        out
    }

    /// `process_events`' extension columns for an exec row of `pid` (parent `ppid`) on `node`
    /// (Python: `ext`).
    pub fn ext(&self, node: Option<&str>, pid: Option<i64>, ppid: Option<i64>) -> ProcExt {
        let Some(n) = self.find(node) else {
            return ProcExt::default();
        };
        let p = pid.and_then(|pid| self.slot(self.lookup(n, pid)?));
        let pp = ppid.and_then(|pid| self.slot(self.lookup(n, pid)?));
        ProcExt {
            parent_path: pp.and_then(|q| q.path.as_deref().map(str::to_string)),
            parent_cmdline: pp.and_then(|q| q.cmdline.as_deref().map(str::to_string)),
            process_start: p.map(|q| q.start),
            container_id: p.and_then(|q| q.container_id.as_deref().map(str::to_string)),
        }
    }

    // -- rows --------------------------------------------------------------------------------------------

    /// The `process_tree` rows of every process changed since the last call, one per process, in the
    /// order they first changed. Exited processes leave memory here.
    pub fn drain(&mut self) -> Vec<Row> {
        let ids = std::mem::take(&mut self.dirty);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(p) = self.slots.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            p.dirty = false;
            let node = self
                .node_names
                .get(p.node as usize)
                .map_or("", String::as_str);
            out.push(Row {
                table: "process_tree",
                cells: p.row(node, self.uptime_base),
            });
            self.release(id);
        }
        out
    }

    // -- /proc -------------------------------------------------------------------------------------------

    /// A process read from /proc (`source` `proc`), or None when it is gone, a zombie, or started after
    /// `alive_at` (then it is not the process an event named).
    pub(super) fn read_proc(&self, pid: i64, alive_at: Option<f64>) -> Option<Proc> {
        let st = self.fs.stat(pid)?;
        if st.state == b"Z" {
            return None;
        }
        let start = round3(self.boot + st.ticks as f64 / CLK_TCK);
        if alive_at.is_some_and(|a| start > a + START_SLACK) {
            return None;
        }
        let mut p = Proc::new(0, pid, start, "proc");
        p.comm = Some(st.comm);
        p.parent = (st.ppid != 0).then_some(st.ppid);
        let info = self.fs.info(pid);
        let shared = |s: Option<String>| s.map(Arc::<str>::from);
        let int = |v: Option<i64>| v.map_or(Cell::Null, Cell::Int);
        p.path = shared(info.path);
        p.cmdline = shared(info.cmdline);
        if self.keep_args {
            p.args = info
                .args
                .map(|a| a.into_iter().map(String::into_boxed_str).collect());
        }
        p.cwd = shared(info.cwd);
        p.uid = int(info.uid);
        p.euid = int(info.euid);
        p.gid = int(info.gid);
        p.auid = int(info.auid);
        p.container_id = shared(info.container_id);
        let now = procfs::now();
        p.time = py_trunc(now);
        p.last_seen = now;
        Some(p)
    }

    /// Add every process of /proc the tree does not know yet (`source` `proc`). Returns how many.
    pub fn seed(&mut self) -> usize {
        let mut added = Vec::new();
        for pid in self.fs.pids() {
            if self.lookup(0, pid).is_some() {
                continue;
            }
            if let Some(p) = self.read_proc(pid, None) {
                added.push(self.put(0, p));
            }
        }
        for &id in &added {
            let parent = self.slot(id).and_then(|p| p.parent);
            let pstart = parent
                .and_then(|pp| self.slot(self.lookup(0, pp)?))
                .map(|pp| pp.start);
            if let Some(p) = self.slot_mut(id) {
                if pstart.is_some() {
                    p.parent_start = pstart;
                }
            }
            self.mark_dirty(id);
        }
        added.len()
    }

    /// Whether /proc/PID is still the process `id` (running, started no later than it was last known
    /// alive); then it is known alive now (Python: `_same`).
    fn same(&mut self, id: ProcId) -> bool {
        let Some(p) = self.slot(id) else {
            return false;
        };
        let (pid, last_seen) = (p.pid, p.last_seen);
        let Some(st) = self.fs.stat(pid) else {
            return false;
        };
        if st.state == b"Z" || self.boot + st.ticks as f64 / CLK_TCK > last_seen + START_SLACK {
            return false;
        }
        if let Some(p) = self.slot_mut(id) {
            p.last_seen = procfs::now();
        }
        true
    }

    /// Take back the live processes of the previous run: `rows` are the store's `process_tree` rows
    /// with `exit_time IS NULL`, each with the table's 25 columns in registry order (`SELECT pid,
    /// process_start, parent, parent_start, path, cmdline, argv, cwd, uid, auid, euid, gid, comm,
    /// container_id, started, exit_time, exit_code, exit_source, source, syscall, execs, node, time, uptime,
    /// eid FROM process_tree WHERE exit_time IS NULL`); `argv` gives back the argument list (the parent
    /// facts' `parent_argv`), as a live process has it. Local ones whose /proc start time still matches are kept
    /// (remote ones always); the others are marked exited (`restart`, a row to drain). Rows of another
    /// length, or without an integer `pid` and a numeric `process_start`, are skipped. Returns
    /// (kept, exited).
    pub fn reload(&mut self, rows: Vec<Vec<Cell>>) -> (usize, usize) {
        let now = procfs::now();
        let (mut kept, mut gone) = (0, 0);
        for row in rows {
            let Ok(r) = <[Cell; 25]>::try_from(row) else {
                continue;
            };
            let [pid, start, parent, parent_start, path, cmdline, argv, cwd, uid, auid, euid, gid, comm, container, _started, _exit_time, _exit_code, _exit_source, source, syscall, execs, node, time, _uptime, eid] =
                r;
            let (Some(pid), Some(start)) = (int_cell(&pid), real_cell(&start)) else {
                continue;
            };
            let node = self.intern_raw(text_cell(&node).as_deref().unwrap_or(""));
            let mut p = Proc::new(node, pid, start, "proc");
            if let Some(s) = text_cell(&source).filter(|s| !s.is_empty()) {
                p.source = static_name(s);
            }
            p.parent = int_cell(&parent);
            p.parent_start = real_cell(&parent_start);
            p.path = text_cell(&path).map(Arc::from);
            p.cmdline = text_cell(&cmdline).map(Arc::from);
            if self.keep_args {
                p.args = text_cell(&argv).and_then(|t| args_of_json(&t));
            }
            p.cwd = text_cell(&cwd).map(Arc::from);
            (p.uid, p.auid, p.euid, p.gid) = (uid, auid, euid, gid);
            p.comm = text_cell(&comm);
            p.container_id = text_cell(&container).map(Arc::from);
            p.syscall = text_cell(&syscall).map(static_name);
            p.execs = int_cell(&execs).unwrap_or(0);
            p.time = int_cell(&time).unwrap_or(0);
            p.eid = text_cell(&eid);
            p.merged = true;
            p.last_seen = start.max(p.time as f64 + 1.0);
            let id = self.alloc(p);
            if node == 0 && self.live && !self.same(id) {
                if let Some(p) = self.slot_mut(id) {
                    p.exit_time = Some(now);
                    p.exit_source = Some("restart");
                    p.time = py_trunc(now);
                }
                self.mark_dirty(id);
                gone += 1;
                continue;
            }
            if let Some(p) = self.slot_mut(id) {
                p.in_map = true;
            }
            let old = self
                .nodes
                .get_mut(node as usize)
                .and_then(|m| m.insert(pid, id));
            if let Some(old) = old {
                if let Some(o) = self.slot_mut(old) {
                    o.in_map = false;
                }
                self.release(old);
            }
            kept += 1;
        }
        (kept, gone)
    }

    /// Python's `start()` after `enable()`: reload the previous run's live processes, seed the rest from
    /// /proc when live, and count both. Returns (kept, exited, seeded).
    pub fn start(&mut self, rows: Vec<Vec<Cell>>) -> (usize, usize, usize) {
        let (kept, gone) = self.reload(rows);
        let seeded = if self.live { self.seed() } else { 0 };
        self.counters.start = Some((kept as u64, gone as u64, seeded as u64));
        (kept, gone, seeded)
    }

    /// Check every live local process in /proc; mark the gone ones exited (`proc`, at `now`, default the
    /// wall clock). Also settle clone3 children still unproven after [`SWEEP_INTERVAL`] and forget early
    /// exits and exec-first exits older than a minute. Returns how many exited. Nothing when not live.
    pub fn sweep(&mut self, now: Option<f64>) -> usize {
        if !self.live {
            return 0;
        }
        let now = now.unwrap_or_else(procfs::now);
        self.boot = self.fs.boot_time();
        let live: Vec<ProcId> = match self.node_map(0) {
            Some(m) => m
                .keys()
                .into_iter()
                .filter_map(|pid| m.get(&pid).copied())
                .collect(),
            None => Vec::new(),
        };
        // a process whose exit notice is held is left to it (the notice has its time and status)
        let noticed: crate::hash::HashSet<i64> = self
            .due
            .iter()
            .filter_map(|d| match *d {
                Due::Exit { pid, .. } => Some(pid),
                Due::Fork { .. } => None,
            })
            .collect();
        let live: Vec<ProcId> = live
            .into_iter()
            .filter(|&id| !self.slot(id).is_some_and(|p| noticed.contains(&p.pid)))
            .collect();
        let gone: Vec<ProcId> = live.into_iter().filter(|&id| !self.same(id)).collect();
        // with the proc connector, a process just gone has its exit notice on the way: it is marked at the
        // next check if the notice has not come by then (with this check's time)
        let mut marked = Vec::with_capacity(gone.len());
        let mut suspects = crate::hash::HashMap::default();
        for id in gone {
            let Some(key) = self.slot(id).map(|p| (p.pid, p.start.to_bits())) else {
                continue;
            };
            match self.suspects.get(&key) {
                _ if !self.connector => marked.push((id, now)),
                Some(&first) => marked.push((id, first)),
                None => {
                    suspects.insert(key, now);
                }
            }
        }
        self.suspects = suspects;
        let gone = marked;
        for &(id, when) in &gone {
            self.exit_proc(id, Some(when), None, "proc", None, Count::Swept);
        }
        let old: Vec<Key> = self
            .pending
            .keys()
            .into_iter()
            .filter(|k| {
                self.pending
                    .get(k)
                    .is_some_and(|v| v.t < now - SWEEP_INTERVAL)
            })
            .collect();
        for key in old {
            // an earlier materialisation may have taken it already (Python raised KeyError there)
            let Some(pend) = self.pending.remove(&key) else {
                continue;
            };
            let (node, pid) = key;
            let caller = int_of(pend.summary.get("pid")).unwrap_or(0);
            if node == 0
                && self.fs.exists(&pid.to_string())
                && !self.fs.exists(&format!("{caller}/task/{pid}"))
            {
                self.materialize_with(node, pid, pend);
            } else {
                self.counters.clone3_unresolved += 1;
            }
        }
        let stale: Vec<Key> = self
            .early_exits
            .keys()
            .into_iter()
            .filter(|k| self.early_exits.get(k).is_some_and(|v| v.t < now - 60.0))
            .collect();
        for key in stale {
            self.early_exits.remove(&key);
        }
        let stale: Vec<Key> = self
            .gone_unmerged
            .keys()
            .into_iter()
            .filter(|k| {
                self.gone_unmerged
                    .get(k)
                    .and_then(|&id| self.slot(id))
                    .is_some_and(|p| p.exit_time.unwrap_or(0.0) < now - 60.0)
            })
            .collect();
        for key in stale {
            if let Some(id) = self.gone_unmerged.remove(&key) {
                self.unhold_gone(id);
            }
        }
        gone.len()
    }

    /// Whether a sweep is due (every [`SWEEP_INTERVAL`] seconds of the monotonic clock).
    pub fn due(&mut self, monotonic_now: f64) -> bool {
        if monotonic_now >= self.next_sweep {
            self.next_sweep = monotonic_now + SWEEP_INTERVAL;
            return true;
        }
        false
    }

    /// The periodic hook: the /proc sweep when due.
    pub fn idle(&mut self, monotonic_now: f64) {
        if self.due(monotonic_now) {
            self.sweep(None);
        }
    }
}

#[cfg(test)]
impl Tracker {
    pub(super) fn dirty_is_empty(&self) -> bool {
        self.dirty.is_empty()
    }

    /// Process slots holding a process (live, dirty, or awaiting its fork).
    pub(super) fn slots_in_use(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

impl ProcessTree for Tracker {
    fn exec(&mut self, event: &Object, summary: &Object) -> ProcExt {
        self.exec_event(event, summary);
        let node = super::events::node_of(event);
        let pid = int_of(summary.get("pid"));
        let ppid = int_of(summary.get("ppid"));
        self.ext(node.as_deref(), pid, ppid)
    }

    fn on_event(&mut self, event: &Object, summary: &Object, out: &mut Vec<Row>) {
        match summary.get("syscall").and_then(Value::as_str) {
            Some("fork") => self.fork(event, summary, "fork", out),
            Some("vfork") => self.fork(event, summary, "vfork", out),
            Some("clone") => self.fork(event, summary, "clone", out),
            Some("clone3") => self.fork(event, summary, "clone3", out),
            Some("exit_group") => self.exit(event, summary),
            _ => {
                self.exec_event(event, summary);
            }
        }
    }

    fn process_start(&self, node: Option<&str>, pid: i64) -> Option<f64> {
        self.get(node, pid).map(|p| p.start)
    }
}

/// A known syscall or source name without allocating; others as they are.
fn static_name(s: String) -> Cow<'static, str> {
    for known in ["fork", "vfork", "clone", "clone3", "exec", "proc"] {
        if s == known {
            return Cow::Borrowed(known);
        }
    }
    Cow::Owned(s)
}

fn int_cell(c: &Cell) -> Option<i64> {
    match c {
        Cell::Int(i) => Some(*i),
        Cell::Real(f) if f.is_finite() => Some(py_trunc(*f)),
        _ => None,
    }
}

fn real_cell(c: &Cell) -> Option<f64> {
    match c {
        Cell::Int(i) => Some(*i as f64),
        Cell::Real(f) => Some(*f),
        _ => None,
    }
}

fn text_cell(c: &Cell) -> Option<String> {
    match c {
        Cell::Text(s) => Some(s.clone()),
        _ => None,
    }
}
