//! An event's JSON → the rows of the SQL tables it fills. (Port of tables/*.py's mapping; the tables
//! themselves, names and columns, are declared once in Python's registry, src/auditsql/tables/.)
//!
//! [`Mapper`] owns the mapping options and the state the mappers carry from event to event (socket
//! protocols and listeners, the inode → path memory of file events).

pub mod audit;
pub mod common;
pub mod file;
pub mod lru;
pub mod mac;
pub mod process;
pub mod seccomp;
pub mod socket;
pub mod summary;
pub mod user;
pub mod value;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde_json::{Map, Value};

/// A rendered event (or its `summary`): the JSON object of docs/event-json.md.
pub type Object = Map<String, Value>;

/// One SQL value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    /// bytes (`audit_events.blob`: the event's records, compressed)
    Blob(Vec<u8>),
}

/// One row of one table; `cells` in the registry's column order.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub table: &'static str,
    pub cells: Vec<Cell>,
}

/// `process_events`' extension columns for an exec row, from the process tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcExt {
    pub parent_path: Option<String>,
    pub parent_cmdline: Option<String>,
    pub process_start: Option<f64>,
    pub container_id: Option<String>,
}

/// What the row mappers ask of the process tree ([`crate::proctree`] implements it).
pub trait ProcessTree {
    /// An exec event (`execve`, `execveat`): update the tree; the exec row's extension columns
    /// (Python: `tree.exec(event, summary)` then `tree.ext(node, pid, ppid)`).
    fn exec(&mut self, event: &Object, summary: &Object) -> ProcExt;
    /// A fork/clone/exit event ([`crate::proctree::TREE_SYSCALLS`]): update the tree; fork rows of
    /// `process_events` when fork events are on (Python: `tree.on_event(event, summary)`).
    fn on_event(&mut self, event: &Object, summary: &Object, out: &mut Vec<Row>);
    /// The start time (UNIX seconds) of the process the tree knows under `pid` on `node`
    /// (None or "" for the local host); None when unknown. O(1), never reads /proc.
    fn process_start(&self, node: Option<&str>, pid: i64) -> Option<f64>;
}

/// The mapping options (Python: `tables.configure`); the defaults are osquery's: both off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowOptions {
    /// rows for failed execs in `process_events` (`status='failed'`); osquery records only successful ones
    pub include_failed_execs: bool,
    /// `stat()` the executable of an exec row for atime/mtime/ctime, as osquery does
    pub stat_executable: bool,
}

/// Maps events to rows; owns the options and the state carried from event to event.
#[derive(Debug, Default)]
pub struct Mapper {
    pub options: RowOptions,
    sockets: socket::SocketState,
    files: file::FileState,
}

/// Section names that are never user, MAC or seccomp records (the common ones, answered without a lookup).
const PLAIN_SECTIONS: &[&str] = &[
    "SYSCALL",
    "EXECVE",
    "CWD",
    "PATH",
    "PROCTITLE",
    "SOCKADDR",
    "SOCKETCALL",
    "EOE",
    "BPRM_FCAPS",
];

impl Mapper {
    /// A mapper with these options and no state.
    pub fn new(options: RowOptions) -> Self {
        Mapper {
            options,
            ..Mapper::default()
        }
    }

    /// Forget the state carried between events (socket protocols and listeners, inode paths).
    pub fn reset_state(&mut self) {
        self.sockets.reset();
        self.files.reset();
    }

    /// Remember the TCP sockets listening now (read from `proc`, normally `/proc`), so that `accept` rows
    /// of servers started earlier get their `local_port`. Returns how many (pid, fd) pairs it remembered.
    pub fn seed_listeners(&mut self, proc: &Path) -> usize {
        self.sockets.seed_listeners(proc)
    }

    /// Remember one listening socket: (node, pid, fd) → (address, port).
    pub fn remember_listener(
        &mut self,
        node: Option<&str>,
        pid: i64,
        fd: i64,
        addr: &str,
        port: u16,
    ) {
        self.sockets.remember_listener(node, pid, fd, addr, port);
    }

    /// The rows one rendered event fills, appended to `out`: always one `audit_events` row, then
    /// `process_events`, `socket_events`, `process_file_events`, `user_events`, `selinux_events`,
    /// `apparmor_events`, `seccomp_events` rows as its records call for (and the tree's fork rows).
    /// `uptime_base`: the boot time (UNIX seconds) of the machine that produced the event, for `uptime`.
    pub fn rows_for(
        &mut self,
        event: &Object,
        uptime_base: Option<f64>,
        tree: Option<&mut dyn ProcessTree>,
        out: &mut Vec<Row>,
    ) {
        self.rows_for_records(event, None, uptime_base, tree, out);
    }

    /// [`Mapper::rows_for`] of an event rendered without its `raw` array: `records` are its records (the
    /// rows are the same as from the object with `raw`).
    pub fn rows_for_records(
        &mut self,
        event: &Object,
        records: Option<&[crate::record::Record]>,
        uptime_base: Option<f64>,
        mut tree: Option<&mut dyn ProcessTree>,
        out: &mut Vec<Row>,
    ) {
        let raw = common::Raw::of(event, records);
        let empty = Object::new();
        let summary = match event.get("summary") {
            Some(Value::Object(s)) => s,
            _ => &empty,
        };
        let s = summary::Summary::new(summary);
        let common = common::event_columns(event, uptime_base);
        out.push(audit::audit_event_row(event, raw, &s, &common));
        if event.contains_key("SYSCALL") {
            let name = s.syscall.and_then(Value::as_str).unwrap_or("");
            if process::is_exec(name) {
                let ext = tree.as_deref_mut().map(|t| t.exec(event, summary));
                out.extend(process::process_row(
                    event,
                    &s,
                    &common,
                    ext,
                    self.options.include_failed_execs,
                    self.options.stat_executable,
                ));
            } else if socket::is_socket_syscall(name) {
                out.extend(self.sockets.socket_row(event, &s, &common, tree.as_deref()));
            } else if crate::proctree::is_tree_syscall(name) {
                if let Some(t) = tree.as_deref_mut() {
                    t.on_event(event, summary, out);
                }
            }
            if file::is_file_event(event, &s) {
                out.extend(self.files.file_row(event, &s, &common, tree.as_deref()));
            }
        }
        let mut users: Vec<&str> = Vec::new();
        let mut macs: Vec<(&str, i128)> = Vec::new();
        let mut has_seccomp = false;
        for key in event.keys() {
            if !audit::is_section(key) || PLAIN_SECTIONS.contains(&key.as_str()) {
                continue;
            }
            let n = user::type_number(key);
            if user::is_user_type(n) {
                users.push(key);
            }
            if mac::mac_kind(key, n, None).is_some() {
                macs.push((key, n));
            }
            if n == 1326 {
                has_seccomp = true;
            }
        }
        if !users.is_empty() {
            user::user_rows(event, raw, &users, &common, out);
        }
        if !macs.is_empty() {
            mac::mac_rows(event, raw, &macs, &common, out);
        }
        if has_seccomp {
            seccomp::seccomp_rows(event, &common, out);
        }
    }
}

/// The tables the mappers fill, each with its column names in order (Python's registry must agree).
pub fn table_columns() -> Vec<(&'static str, Vec<&'static str>)> {
    [
        ("process_events", process::COLUMNS),
        ("socket_events", socket::COLUMNS),
        ("process_file_events", file::COLUMNS),
        ("user_events", user::COLUMNS),
        ("selinux_events", mac::SELINUX_COLUMNS),
        ("apparmor_events", mac::APPARMOR_COLUMNS),
        ("seccomp_events", seccomp::COLUMNS),
        ("audit_events", audit::COLUMNS),
    ]
    .into_iter()
    .map(|(t, c)| (t, c.to_vec()))
    .collect()
}
