//! One process the tree knows, and its `process_tree` row.

use std::borrow::Cow;
use std::sync::Arc;

use super::text::py_trunc;
use crate::rows::Cell;

/// Shared text: a forked child starts with its parent's path, command line, cwd and container.
pub type Text = Option<Arc<str>>;
/// Shared argument list (a forked child shares its parent's): each argument as text, as `cmdline` joins them.
pub type Args = Option<Arc<[Box<str>]>>;

/// One process (Python: `Proc`). `last_seen`: the latest time it was known alive (UNIX seconds).
#[derive(Clone, Debug)]
pub struct Proc {
    /// Index of the node's name in the tracker's node table (0: this host).
    pub node: u32,
    /// Process ID.
    pub pid: i64,
    /// Start time (UNIX seconds): with `pid`, the key.
    pub start: f64,
    /// PID of the process that created it (for /proc seeds: the ppid).
    pub parent: Option<i64>,
    /// The parent's start (None when the parent is unknown).
    pub parent_start: Option<f64>,
    /// Executable: the last exec's `exe`, else the parent's.
    pub path: Text,
    /// The command line: the last exec's argv joined by spaces (Python joined it lazily; same text).
    pub cmdline: Text,
    /// The same arguments as a list, kept when the tracker keeps them ([`super::TreeSettings::args`]); the
    /// row's `argv` (a process taken back from the store gets them from there).
    pub args: Args,
    /// Working directory at the last exec (or at the /proc seed).
    pub cwd: Text,
    /// User ID (as the event had it).
    pub uid: Cell,
    /// Audit user ID.
    pub auid: Cell,
    /// Effective user ID.
    pub euid: Cell,
    /// Group ID.
    pub gid: Cell,
    /// The kernel's 16-byte command name.
    pub comm: Option<String>,
    /// Container ID from the cgroup path.
    pub container_id: Text,
    /// When it exited (UNIX seconds).
    pub exit_time: Option<f64>,
    /// Status given to `exit_group`.
    pub exit_code: Option<i64>,
    /// How the exit was learnt: `exit_group`, `proc`, `reuse`, `restart`, `evicted`.
    pub exit_source: Option<&'static str>,
    /// `fork`, `exec`, `proc` (or what a reloaded row said).
    pub source: Cow<'static, str>,
    /// The syscall that created it (fork, vfork, clone, clone3).
    pub syscall: Option<Cow<'static, str>>,
    /// Successful execs seen in it.
    pub execs: i64,
    /// The row's `time`: of the last event that changed it (whole UNIX seconds).
    pub time: i64,
    /// The row's `eid`: of the last event that changed it.
    pub eid: Option<String>,
    /// The latest time it was known alive (UNIX seconds).
    pub last_seen: f64,
    /// Whether the fork that created it was seen (an exec-first or /proc-adopted entry waits for it).
    pub merged: bool,
    // who holds it in the tracker (its slot is freed when none does)
    pub(crate) in_map: bool,
    pub(crate) dirty: bool,
    pub(crate) in_gone: bool,
}

impl Proc {
    /// A process first known now; `source` `exec` means its fork is still to be seen.
    pub fn new(node: u32, pid: i64, start: f64, source: &'static str) -> Self {
        Proc {
            node,
            pid,
            start,
            parent: None,
            parent_start: None,
            path: None,
            cmdline: None,
            args: None,
            cwd: None,
            uid: Cell::Null,
            auid: Cell::Null,
            euid: Cell::Null,
            gid: Cell::Null,
            comm: None,
            container_id: None,
            exit_time: None,
            exit_code: None,
            exit_source: None,
            source: Cow::Borrowed(source),
            syscall: None,
            execs: 0,
            time: py_trunc(start),
            eid: None,
            last_seen: start,
            merged: source != "exec",
            in_map: false,
            dirty: false,
            in_gone: false,
        }
    }

    /// The `process_tree` row (registry column order: pid, process_start, parent, parent_start, path,
    /// cmdline, argv, cwd, uid, auid, euid, gid, comm, container_id, started, exit_time, exit_code,
    /// exit_source, source, syscall, execs, node, time, uptime, eid).
    pub fn row(&self, node: &str, uptime_base: Option<f64>) -> Vec<Cell> {
        let text = |t: &Text| {
            t.as_deref()
                .map_or(Cell::Null, |s| Cell::Text(s.to_string()))
        };
        let uptime = match uptime_base {
            Some(base) if self.time != 0 => Cell::Int(py_trunc(self.time as f64 - base).max(0)),
            _ => Cell::Null,
        };
        vec![
            Cell::Int(self.pid),
            Cell::Real(self.start),
            self.parent.map_or(Cell::Null, Cell::Int),
            self.parent_start.map_or(Cell::Null, Cell::Real),
            text(&self.path),
            text(&self.cmdline),
            self.args
                .as_deref()
                .map_or(Cell::Null, |a| Cell::Text(args_json(a))),
            text(&self.cwd),
            self.uid.clone(),
            self.auid.clone(),
            self.euid.clone(),
            self.gid.clone(),
            self.comm.clone().map_or(Cell::Null, Cell::Text),
            text(&self.container_id),
            Cell::Int(py_trunc(self.start)),
            self.exit_time.map_or(Cell::Null, Cell::Real),
            self.exit_code.map_or(Cell::Null, Cell::Int),
            self.exit_source
                .map_or(Cell::Null, |s| Cell::Text(s.to_string())),
            Cell::Text(self.source.to_string()),
            self.syscall
                .as_ref()
                .map_or(Cell::Null, |s| Cell::Text(s.to_string())),
            Cell::Int(self.execs),
            Cell::Text(node.to_string()),
            Cell::Int(self.time),
            uptime,
            self.eid.clone().map_or(Cell::Null, Cell::Text),
        ]
    }
}

/// The arguments as the compact JSON array `process_events.argv` is (`strings_json`).
pub fn args_json(args: &[Box<str>]) -> String {
    serde_json::to_string(args).unwrap_or_default()
}

/// The arguments of an `argv` cell ([`args_json`]'s text); None for anything else.
pub fn args_of_json(text: &str) -> Args {
    let list: Vec<String> = serde_json::from_str(text).ok()?;
    Some(list.into_iter().map(String::into_boxed_str).collect())
}
