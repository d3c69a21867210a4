//! One process the tree knows, and its `process_tree` row.

use std::borrow::Cow;
use std::sync::Arc;

use super::text::py_trunc;
use crate::rows::Cell;

/// Shared text: a forked child starts with its parent's path, command line, cwd and container.
pub type Text = Option<Arc<str>>;

/// One process (Python: `Proc`). `last_seen`: the latest time it was known alive (UNIX seconds).
#[derive(Clone, Debug)]
pub struct Proc {
    /// Index of the node's name in the tracker's node table (0: this host).
    pub node: u32,
    pub pid: i64,
    pub start: f64,
    pub parent: Option<i64>,
    pub parent_start: Option<f64>,
    pub path: Text,
    /// The command line: the last exec's argv joined by spaces (Python joined it lazily; same text).
    pub cmdline: Text,
    pub cwd: Text,
    pub uid: Cell,
    pub auid: Cell,
    pub euid: Cell,
    pub gid: Cell,
    pub comm: Option<String>,
    pub container_id: Text,
    pub exit_time: Option<f64>,
    pub exit_code: Option<i64>,
    pub exit_source: Option<&'static str>,
    /// `fork`, `exec`, `proc` (or what a reloaded row said).
    pub source: Cow<'static, str>,
    pub syscall: Option<Cow<'static, str>>,
    pub execs: i64,
    pub time: i64,
    pub eid: Option<String>,
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
    /// cmdline, cwd, uid, auid, euid, gid, comm, container_id, started, exit_time, exit_code, exit_source,
    /// source, syscall, execs, node, time, uptime, eid).
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
