//! `process_file_events`: file changes under watched paths. (Port of tables/file.py; its module state, the
//! inode → path memory, is [`FileState`].)

use serde_json::Value;

use super::common::Common;
use super::lru::Bounded;
use super::process::mode_text;
use super::socket::{exit_of, node_key, success_of, syscall_args, Success};
use super::summary::Summary;
use super::value::{as_int, cell, py_int, text, text_cell, text_of, PyInt};
use super::{Cell, Object, ProcessTree, Row};

/// `process_file_events`' columns, in the registry's order.
pub const COLUMNS: &[&str] = &[
    "operation",
    "pid",
    "ppid",
    "time",
    "executable",
    "partial",
    "cwd",
    "path",
    "dest_path",
    "uid",
    "gid",
    "auid",
    "euid",
    "egid",
    "fsuid",
    "fsgid",
    "suid",
    "sgid",
    "uptime",
    "eid",
    "syscall",
    "success",
    "exit_code",
    "errno",
    "key",
    "inode",
    "mode",
    "process_start",
];

/// The key of the watch rules (Python: `FILE_KEY`).
pub const FILE_KEY: &str = "auditsql_file";

/// syscall → operation class; "open" is decided from the flags, "unlink" may become "rmdir"
/// (Python: `_OPS`; its keys are `FILE_SYSCALLS`).
pub fn operation_of(syscall: &str) -> Option<&'static str> {
    Some(match syscall {
        "open" | "openat" | "openat2" | "creat" | "open_by_handle_at" => "open",
        "truncate" | "ftruncate" | "truncate64" | "ftruncate64" => "truncate",
        "unlink" | "unlinkat" => "unlink",
        "rmdir" => "rmdir",
        "rename" | "renameat" | "renameat2" => "rename",
        "link" | "linkat" => "link",
        "symlink" | "symlinkat" => "symlink",
        "mkdir" | "mkdirat" => "mkdir",
        "mknod" | "mknodat" => "create",
        "chmod" | "fchmod" | "fchmodat" | "fchmodat2" => "chmod",
        "chown" | "fchown" | "lchown" | "fchownat" | "chown32" | "fchown32" | "lchown32" => "chown",
        "setxattr" | "lsetxattr" | "fsetxattr" => "setxattr",
        "removexattr" | "lremovexattr" | "fremovexattr" => "removexattr",
        _ => return None,
    })
}

/// Which arguments hold the directory descriptors a relative name is resolved against: (source,
/// destination) (Python: `_DIRFD`).
fn dirfd_args(syscall: &str) -> (Option<usize>, Option<usize>) {
    match syscall {
        "openat" | "openat2" | "unlinkat" | "mkdirat" | "mknodat" | "fchmodat" | "fchmodat2"
        | "fchownat" => (Some(0), None),
        "renameat" | "renameat2" | "linkat" => (Some(0), Some(2)),
        "symlinkat" => (None, Some(1)),
        _ => (None, None),
    }
}

const AT_FDCWD: u64 = 0xFFFF_FF9C; // -100 as the kernel prints a 32-bit int argument
const AT_REMOVEDIR: u64 = 0x200;
const O_ACCMODE: u64 = 0o3;
const O_TRUNC: u64 = 0o1000;
const CREAT_FLAGS: i128 = 0o1 | 0o100 | 0o1000; // creat(2) is open(O_WRONLY|O_CREAT|O_TRUNC)
const INODES_MAX: usize = 65536;

/// (node, dev, inode)
type InoKey = (Option<String>, Option<String>, i128);

/// The file mapper's memory: (node, device, inode) → absolute path, from the names events resolved;
/// bounded.
#[derive(Debug)]
pub struct FileState {
    inodes: Bounded<InoKey, String>,
}

impl Default for FileState {
    fn default() -> Self {
        FileState {
            inodes: Bounded::new(INODES_MAX),
        }
    }
}

fn has_file_key(key: Option<&Value>) -> bool {
    match key {
        Some(Value::String(k)) => k == FILE_KEY || k.split("%01").any(|p| p == FILE_KEY),
        _ => false,
    }
}

/// Does the event make a `process_file_events` row: PATH records, and a file syscall or the watch key?
pub fn is_file_event(event: &Object, s: &Summary) -> bool {
    if !event.contains_key("PATH") {
        return false;
    }
    let known = s
        .syscall
        .and_then(Value::as_str)
        .is_some_and(|name| operation_of(name).is_some());
    known || has_file_key(s.key)
}

fn nametype_is(item: &Object, t: &str) -> bool {
    item.get("nametype").and_then(Value::as_str) == Some(t)
}

fn ino_key(node: &Option<String>, item: Option<&Object>) -> Option<InoKey> {
    let item = item?;
    let ino = item.get("inode").and_then(py_int)?;
    let dev = item.get("dev").and_then(Value::as_str).map(str::to_owned);
    Some((node.clone(), dev, ino))
}

fn is_cwd(dirfd: Option<&PyInt>) -> bool {
    dirfd.map_or(true, |d| d.and(0xFFFF_FFFF) == AT_FDCWD)
}

/// Python's `posixpath.normpath`.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (slashes == 0 && comps.is_empty()) || comps.last() == Some(&"..") {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let mut out = "/".repeat(slashes);
    out.push_str(&comps.join("/"));
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

/// Python's `posixpath.join(a, b)` for a relative `b`.
fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') {
        return b.to_owned();
    }
    if a.is_empty() || a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

fn first<'a>(items: &[&'a Object], t: &str) -> Option<&'a Object> {
    items.iter().copied().find(|it| nametype_is(it, t))
}

fn last<'a>(items: &[&'a Object], t: &str) -> Option<&'a Object> {
    items.iter().rev().copied().find(|it| nametype_is(it, t))
}

fn subject_of<'a>(items: &[&'a Object]) -> Option<&'a Object> {
    items
        .iter()
        .copied()
        .find(|it| !nametype_is(it, "PARENT"))
        .or_else(|| items.first().copied())
}

/// `item.get("inode") == other.get("inode")` for int inodes.
fn same_inode(a: &Object, b: &Object) -> bool {
    match (a.get("inode"), b.get("inode")) {
        (Some(x), Some(y)) => match (py_int(x), py_int(y)) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64().is_some() && x.as_f64() == y.as_f64(),
        },
        _ => false,
    }
}

fn open_flags(name: &str, args: &[Option<PyInt>], event: &Object) -> Option<PyInt> {
    match name {
        "creat" => Some(PyInt::Small(CREAT_FLAGS)),
        "open" => args.get(1).cloned().flatten(),
        "openat" | "open_by_handle_at" => args.get(2).cloned().flatten(),
        "openat2" => {
            let rec = match event.get("OPENAT2") {
                Some(Value::Array(a)) if !a.is_empty() => a.first(),
                other => other,
            };
            as_int(rec?.as_object()?.get("oflag"), 16)
        }
        _ => None,
    }
}

/// Where a path came from, for `_learn`.
struct Resolved {
    path: Option<String>,
    whole: bool,
}

impl FileState {
    /// Forget the remembered inode paths.
    pub fn reset(&mut self) {
        self.inodes.clear();
    }

    /// (absolute path or the name as written, resolved from this event alone?) of one PATH item.
    fn resolve(
        &self,
        node: &Option<String>,
        item: Option<&Object>,
        dirfd: Option<&PyInt>,
        parent: Option<&Object>,
        cwd: Option<&str>,
    ) -> Resolved {
        let Some(it) = item else {
            return Resolved {
                path: None,
                whole: false,
            };
        };
        let name = text(it.get("name")).filter(|n| !n.is_empty());
        let Some(name) = name else {
            let known = ino_key(node, Some(it)).and_then(|k| self.inodes.get(&k).cloned());
            return Resolved {
                path: known,
                whole: false,
            };
        };
        if name.starts_with('/') {
            return Resolved {
                path: Some(normpath(&name)),
                whole: true,
            };
        }
        if is_cwd(dirfd) {
            return match cwd.filter(|c| !c.is_empty()) {
                Some(c) => Resolved {
                    path: Some(normpath(&join(c, &name))),
                    whole: true,
                },
                None => Resolved {
                    path: Some(name),
                    whole: false,
                },
            };
        }
        let known = ino_key(node, parent).and_then(|k| self.inodes.get(&k));
        match known {
            Some(k) => Resolved {
                path: Some(normpath(&join(k, &name))),
                whole: false,
            },
            None => Resolved {
                path: Some(name),
                whole: false,
            },
        }
    }

    fn remember(&mut self, key: InoKey, path: String) {
        self.inodes.set(key, path);
    }

    /// Update the inode → path memory after a successful call.
    #[allow(clippy::too_many_arguments)]
    fn learn(
        &mut self,
        node: &Option<String>,
        op: &str,
        subject: Option<&Object>,
        dest: Option<&Object>,
        src: &Resolved,
        dst: &Resolved,
        cwd: Option<&str>,
        parents: &[&Object],
        src_fd: Option<&PyInt>,
        dest_fd: Option<&PyInt>,
    ) {
        if let (Some(first), Some(last)) = (parents.first(), parents.last()) {
            for (par, fd) in [(*first, src_fd), (*last, dest_fd)] {
                if let Some(key) = ino_key(node, Some(par)) {
                    if is_cwd(fd) {
                        let r = self.resolve(node, Some(par), fd, None, cwd);
                        if let (true, Some(p)) = (r.whole, r.path) {
                            if !p.is_empty() {
                                self.remember(key, p);
                            }
                        }
                    }
                }
            }
        }
        if op == "unlink" || op == "rmdir" {
            if let Some(key) = ino_key(node, subject) {
                self.inodes.remove(&key);
            }
            return;
        }
        if dest.is_some() {
            if let Some(key) = ino_key(node, dest) {
                if let (true, Some(p)) = (dst.whole, &dst.path) {
                    if !p.is_empty() {
                        self.remember(key, p.clone());
                    }
                }
            }
            return;
        }
        if let Some(key) = ino_key(node, subject) {
            if let (true, Some(p)) = (src.whole, &src.path) {
                if !p.is_empty() {
                    self.remember(key, p.clone());
                }
            }
        }
    }

    /// The row of a file event (see [`is_file_event`]).
    pub fn file_row(
        &mut self,
        event: &Object,
        s: &Summary,
        common: &Common,
        tree: Option<&dyn ProcessTree>,
    ) -> Option<Row> {
        let Some(Value::Array(paths)) = event.get("PATH") else {
            return None;
        };
        let items: Vec<&Object> = paths.iter().filter_map(Value::as_object).collect();
        if items.is_empty() {
            return None;
        }
        let name = s.syscall.and_then(Value::as_str).unwrap_or("");
        let class = operation_of(name);
        if class.is_none() && !has_file_key(s.key) {
            return None;
        }
        let args = syscall_args(event);
        let node = node_key(event.get("NODE"));
        let cwd = text(s.cwd);
        let (src_arg, dest_arg) = dirfd_args(name);
        let arg = |i: Option<usize>| i.and_then(|i| args.get(i).cloned().flatten());
        let src_fd = arg(src_arg);
        let mut dest_fd = arg(dest_arg);
        let parents: Vec<&Object> = items
            .iter()
            .copied()
            .filter(|it| nametype_is(it, "PARENT"))
            .collect();
        let src_parent = parents.first().copied();
        let dest_parent = parents.last().copied();
        let mut subject: Option<&Object> = None;
        let mut dest: Option<&Object> = None;
        let mut symlink_target: Option<String> = None;
        let mut op_name: String;
        match class {
            Some("rename") => {
                dest = last(&items, "CREATE");
                if let Some(d) = dest.filter(|d| d.get("inode").and_then(py_int).is_some()) {
                    subject = items
                        .iter()
                        .copied()
                        .find(|it| nametype_is(it, "DELETE") && same_inode(it, d));
                }
                if subject.is_none() {
                    subject = first(&items, "DELETE").or_else(|| subject_of(&items));
                }
                op_name = "rename".into();
            }
            Some("link") => {
                dest = last(&items, "CREATE");
                subject = items
                    .iter()
                    .copied()
                    .find(|it| !nametype_is(it, "PARENT") && !nametype_is(it, "CREATE"));
                op_name = "link".into();
            }
            Some("symlink") => {
                dest = last(&items, "CREATE");
                let target = items
                    .iter()
                    .copied()
                    .find(|it| !nametype_is(it, "PARENT") && !nametype_is(it, "CREATE"));
                symlink_target = target.and_then(|t| text(t.get("name")));
                subject = dest;
                op_name = "symlink".into();
            }
            Some("open") => {
                if let Some(created) = first(&items, "CREATE") {
                    subject = Some(created);
                    op_name = "create".into();
                } else {
                    subject = subject_of(&items);
                    op_name = match open_flags(name, &args, event) {
                        None => "write",
                        Some(f) if !matches!(f.and(O_ACCMODE), 1 | 2) => "open",
                        Some(f) if f.and(O_TRUNC) != 0 => "open+truncate",
                        Some(_) => "write",
                    }
                    .into();
                }
            }
            Some(o @ ("unlink" | "rmdir")) => {
                subject = first(&items, "DELETE").or_else(|| subject_of(&items));
                op_name = o.into();
                if name == "unlinkat" {
                    if let Some(Some(a)) = args.get(2) {
                        if a.and(AT_REMOVEDIR) != 0 {
                            op_name = "rmdir".into();
                        }
                    }
                }
            }
            Some(o @ ("mkdir" | "create")) => {
                subject = first(&items, "CREATE").or_else(|| subject_of(&items));
                op_name = o.into();
            }
            Some(o) => {
                subject = subject_of(&items);
                op_name = o.into();
            }
            None => {
                // a call a watch reported that has no name of its own here
                if let Some(c) = first(&items, "CREATE") {
                    (op_name, subject) = ("create".into(), Some(c));
                } else if let Some(d) = first(&items, "DELETE") {
                    (op_name, subject) = ("unlink".into(), Some(d));
                } else {
                    op_name = if name.is_empty() { "unknown" } else { name }.into();
                    subject = subject_of(&items);
                }
            }
        }
        let op = op_name.as_str();
        if dest_arg.is_none() {
            dest_fd = src_fd.clone();
        }
        let src = if op == "symlink" {
            Resolved {
                whole: symlink_target.is_some(),
                path: symlink_target,
            }
        } else {
            self.resolve(&node, subject, src_fd.as_ref(), src_parent, cwd.as_deref())
        };
        let dst = match dest {
            Some(d) => self.resolve(
                &node,
                Some(d),
                dest_fd.as_ref(),
                dest_parent,
                cwd.as_deref(),
            ),
            None => Resolved {
                path: None,
                whole: true,
            },
        };
        let partial = !(src.whole && dst.whole);
        let exit_code = exit_of(s);
        let success = success_of(s, exit_code.as_ref());
        if success == Success::True {
            self.learn(
                &node,
                op,
                subject,
                dest,
                &src,
                &dst,
                cwd.as_deref(),
                &parents,
                src_fd.as_ref(),
                dest_fd.as_ref(),
            );
        }
        let described = if op != "symlink" { subject } else { dest };
        let (mut inode, mut mode) = (Cell::Null, Cell::Null);
        if let Some(d) = described {
            if d.get("inode").and_then(py_int).is_some() {
                inode = cell(d.get("inode"));
            }
            mode = text_cell(mode_text(d.get("mode")));
        }
        let pid = s.pid;
        let errno = match s.errno {
            Some(Value::String(e)) if success != Success::True => Cell::Text(e.clone()),
            _ => Cell::Null,
        };
        let start = match (tree, pid.and_then(py_int)) {
            (Some(t), Some(p)) => i64::try_from(p)
                .ok()
                .and_then(|p| t.process_start(node.as_deref(), p)),
            _ => None,
        };
        let cells = vec![
            Cell::Text(op.to_owned()),
            cell(pid),
            cell(s.ppid),
            common.time.clone(),
            text_of(s.exe),
            Cell::Text(if partial { "true" } else { "false" }.to_owned()),
            text_cell(cwd),
            text_cell(src.path),
            text_cell(dst.path),
            cell(s.uid),
            cell(s.gid),
            cell(s.auid),
            cell(s.euid),
            cell(s.egid),
            cell(s.fsuid),
            cell(s.fsgid),
            cell(s.suid),
            cell(s.sgid),
            common.uptime.clone(),
            common.eid.clone(),
            if name.is_empty() {
                Cell::Null
            } else {
                Cell::Text(name.to_owned())
            },
            Cell::Int(i64::from(success == Success::True)),
            exit_code.map_or(Cell::Null, |e| e.cell()),
            errno,
            text_of(s.key),
            inode,
            mode,
            start.map_or(Cell::Null, Cell::Real),
        ];
        Some(Row {
            table: "process_file_events",
            cells,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_is_posixpaths() {
        for (p, want) in [
            ("//abs//f", "//abs/f"),
            ("///a/../..", "/"),
            ("a/../..", ".."),
            ("", "."),
            ("/srv/a b/./x/../f", "/srv/a b/f"),
            ("../a/./b/", "../a/b"),
            ("/..", "/"),
        ] {
            assert_eq!(normpath(p), want, "{p}");
        }
    }
}
