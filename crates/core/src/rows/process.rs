//! `process_events`: one row per `execve`/`execveat`. (Port of tables/process.py.)

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use super::common::{first_section, Common};
use super::summary::Summary;
use super::value::{
    as_int, cell, int_cell, py_int, strings_json, text, text_cell, text_of, text_str,
};
use super::{Cell, Object, ProcExt, Row};
use crate::record::encoding::unescape;

/// `process_events`' columns, in the registry's order.
pub const COLUMNS: &[&str] = &[
    "pid",
    "path",
    "mode",
    "cmdline",
    "cmdline_size",
    "env",
    "env_count",
    "env_size",
    "cwd",
    "auid",
    "uid",
    "euid",
    "gid",
    "egid",
    "owner_uid",
    "owner_gid",
    "atime",
    "mtime",
    "ctime",
    "btime",
    "overflows",
    "parent",
    "fsuid",
    "suid",
    "fsgid",
    "sgid",
    "syscall",
    "argv",
    "argc",
    "status",
    "exit_code",
    "errno",
    "ses",
    "tty",
    "comm",
    "key",
    "parent_path",
    "parent_cmdline",
    "process_start",
    "container_id",
    "time",
    "uptime",
    "eid",
];

/// The exec syscalls (Python: `EXEC_SYSCALLS`).
pub const EXEC_SYSCALLS: &[&str] = &["execve", "execveat"];

/// Is `name` an exec syscall?
pub fn is_exec(name: &str) -> bool {
    EXEC_SYSCALLS.contains(&name)
}

/// A file mode as the kernel writes it: the JSON's `0o100755` → `0100755`.
pub fn mode_text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if s.starts_with("0o") => Some(format!("0{}", &s[2..])),
        v => text(v),
    }
}

/// Does a summary warning say the EXECVE records did not add up (`argc`, `argument indexes`, `aN: `)?
fn argv_warning(w: &str) -> bool {
    if w.starts_with("argc") || w.starts_with("argument indexes") {
        return true;
    }
    let Some(rest) = w.strip_prefix('a') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && rest[digits..].starts_with(": ")
}

/// The exec's `process_events` row, if it makes one. `ext`: the process tree's columns.
pub fn process_row(
    event: &Object,
    s: &Summary,
    common: &Common,
    ext: Option<ProcExt>,
    include_failed: bool,
    stat_executable: bool,
) -> Option<Row> {
    let failed = s.success == Some(&Value::Bool(false));
    if failed && !include_failed {
        return None;
    }
    let (mut cmdline, mut cmdline_size, mut argv_json, mut argc) =
        (Cell::Null, Cell::Null, Cell::Null, Cell::Null);
    let mut overflows = "";
    if let Some(Value::Array(argv)) = s.argv {
        // each argument as text (the rule of every text column: `text_str`); `cmdline` joins them, `argv` is
        // their JSON array (JSON escapes control characters itself); the exact bytes stay in audit_events
        let mut args: Vec<String> = Vec::with_capacity(argv.len());
        let mut size: usize = argv.len().saturating_sub(1);
        for a in argv {
            match a {
                Value::String(s) => {
                    args.push(text_str(s));
                    size += if s.contains('%') {
                        unescape(s).len()
                    } else {
                        s.len()
                    };
                }
                other => {
                    let t = text(Some(other)).unwrap_or_default();
                    size += t.len();
                    args.push(t);
                }
            }
        }
        cmdline = Cell::Text(args.join(" "));
        cmdline_size = int_cell(size as i128);
        argv_json = Cell::Text(strings_json(&args));
        argc = int_cell(argv.len() as i128);
        if let Some(Value::Array(ws)) = s.warnings {
            if ws.iter().filter_map(Value::as_str).any(argv_warning) {
                overflows = "cmdline";
            }
        }
    }
    let first_path = match event.get("PATH") {
        Some(Value::Array(a)) => a.first().and_then(Value::as_object),
        _ => None,
    };
    let (mut mode, mut owner_uid, mut owner_gid) = (Cell::Null, Cell::Null, Cell::Null);
    if let Some(p) = first_path {
        mode = text_cell(mode_text(p.get("mode")));
        owner_uid = as_int(p.get("ouid"), 10).map_or(Cell::Null, |v| v.cell());
        owner_gid = as_int(p.get("ogid"), 10).map_or(Cell::Null, |v| v.cell());
    }
    let path = if failed {
        first_path.and_then(|p| text(p.get("name")))
    } else {
        text(s.exe)
    };
    let (mut atime, mut mtime, mut ctime, mut btime) =
        (Cell::Null, Cell::Null, Cell::Null, Cell::Null);
    if stat_executable {
        if let Some(p) = path.as_deref().filter(|p| !p.is_empty()) {
            let [a, m, c] = stat_times(p);
            (atime, mtime, ctime, btime) = (a, m, c, Cell::Int(0));
        }
    }
    let cwd = first_section(event, "CWD").and_then(|c| text(c.get("cwd")));
    let exit_code = match s.exit {
        Some(v) if py_int(v).is_some() => cell(Some(v)),
        v => as_int(v, 10).map_or(Cell::Null, |v| v.cell()),
    };
    let ext = ext.unwrap_or_default();
    let cells = vec![
        cell(s.pid),
        text_cell(path),
        mode,
        cmdline,
        cmdline_size,
        Cell::Null,
        Cell::Null,
        Cell::Null,
        text_cell(cwd),
        cell(s.auid),
        cell(s.uid),
        cell(s.euid),
        cell(s.gid),
        cell(s.egid),
        owner_uid,
        owner_gid,
        atime,
        mtime,
        ctime,
        btime,
        Cell::Text(overflows.to_owned()),
        cell(s.ppid),
        cell(s.fsuid),
        cell(s.suid),
        cell(s.fsgid),
        cell(s.sgid),
        cell(s.syscall),
        argv_json,
        argc,
        Cell::Text(if failed { "failed" } else { "succeeded" }.to_owned()),
        exit_code,
        if failed { cell(s.errno) } else { Cell::Null },
        cell(s.ses),
        text_of(s.tty),
        text_of(s.comm),
        text_of(s.key),
        text_cell(ext.parent_path),
        text_cell(ext.parent_cmdline),
        ext.process_start.map_or(Cell::Null, Cell::Real),
        text_cell(ext.container_id),
        common.time.clone(),
        common.uptime.clone(),
        common.eid.clone(),
    ];
    Some(Row {
        table: "process_events",
        cells,
    })
}

/// `int(st.st_atime)`, `int(st.st_mtime)`, `int(st.st_ctime)` of `stat(path)`, as Python computes them
/// (seconds + nanoseconds × 1e-9 as a double, truncated); 0 each when the stat fails.
fn stat_times(path: &str) -> [Cell; 3] {
    let Ok(m) = std::fs::metadata(path) else {
        return [Cell::Int(0), Cell::Int(0), Cell::Int(0)];
    };
    let t = |s: i64, ns: i64| Cell::Int((s as f64 + ns as f64 * 1e-9) as i64);
    [
        t(m.atime(), m.atime_nsec()),
        t(m.mtime(), m.mtime_nsec()),
        t(m.ctime(), m.ctime_nsec()),
    ]
}
