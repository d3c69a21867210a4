//! `socket_events`: one row per `bind`, `connect`, `accept`/`accept4` (and i386 `socketcall`), and per
//! `sendto`/`sendmsg` that names a destination. (Port of tables/socket.py; its module state, the protocol
//! and listener memories, is [`SocketState`].)

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::Value;

use super::common::{first_section, Common};
use super::lru::Bounded;
use super::summary::Summary;
use super::value::{
    as_int, cell, py_int, py_iter, py_repr, text, text_cell, text_of, truthy, PyInt,
};
use super::{Cell, Object, ProcessTree, Row};

use crate::interpret::sockaddr::{family_name, ipv6_text};

/// `socket_events`' columns, in the registry's order.
pub const COLUMNS: &[&str] = &[
    "action",
    "pid",
    "path",
    "fd",
    "auid",
    "status",
    "family",
    "protocol",
    "local_address",
    "remote_address",
    "local_port",
    "remote_port",
    "socket",
    "success",
    "syscall",
    "exit_code",
    "errno",
    "ppid",
    "uid",
    "euid",
    "gid",
    "ses",
    "comm",
    "key",
    "process_start",
    "time",
    "uptime",
    "eid",
];

/// Syscall names this table reads (`socket` only feeds the protocol memory) (Python: `SOCKET_SYSCALLS`).
pub const SOCKET_SYSCALLS: &[&str] = &[
    "bind",
    "connect",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "socketcall",
    "socket",
];

/// Is `name` one of [`SOCKET_SYSCALLS`]?
pub fn is_socket_syscall(name: &str) -> bool {
    SOCKET_SYSCALLS.contains(&name)
}

/// The key of the `sendto`/`sendmsg` rules (Python: `UDP_KEY`).
pub const UDP_KEY: &str = "auditsql_udp";

fn action_of(call: &str) -> Option<&'static str> {
    Some(match call {
        "bind" => "bind",
        "connect" => "connect",
        "accept" | "accept4" => "accept",
        "sendto" => "sendto",
        "sendmsg" => "sendmsg",
        _ => return None,
    })
}

/// socketcall(2) call numbers (linux/net.h SYS_*).
fn socketcall_name(n: i128) -> &'static str {
    match n {
        1 => "socket",
        2 => "bind",
        3 => "connect",
        5 => "accept",
        11 => "sendto",
        16 => "sendmsg",
        18 => "accept4",
        _ => "",
    }
}

const AF_INET: i128 = 2;
const AF_INET6: i128 = 10;
const MEMORY_MAX: usize = 65536;

/// A node as the memories key it: the event's `NODE` (None when absent).
type Node = Option<String>;
/// (node, pid, fd) of a remembered listener, the fd in decimal.
pub type Listener = (Option<String>, i128, String);
/// (node, pid, fd)
type SockKey = (Node, i128, PyInt);

/// The socket mapper's memory: (node, pid, fd) → protocol from audited `socket()` calls, and → (bound
/// address, port) of sockets that may listen. Both bounded.
#[derive(Debug)]
pub struct SocketState {
    protocols: Bounded<SockKey, PyInt>,
    listeners: Bounded<SockKey, (Value, Value)>,
    /// family name → number for 0..64 (Python: `_FAMILY_NUMBERS`)
    families: HashMap<String, i64>,
}

impl Default for SocketState {
    fn default() -> Self {
        let mut families = HashMap::new();
        for n in 0..64u32 {
            families.insert(family_name(n).into_owned(), i64::from(n));
        }
        SocketState {
            protocols: Bounded::new(MEMORY_MAX),
            listeners: Bounded::new(MEMORY_MAX),
            families,
        }
    }
}

/// The event's `NODE` as a memory key (None when absent).
pub fn node_key(v: Option<&Value>) -> Node {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(py_repr(other)),
    }
}

/// `success` of the summary: True, False, or anything else (Python compares with `is True`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Success {
    True,
    False,
    Other,
}

/// The summary's `success`, judged by the return value when absent (an odd or interpreted log).
pub fn success_of(s: &Summary, exit_code: Option<&PyInt>) -> Success {
    match s.success {
        None | Some(Value::Null) => {
            if exit_code.is_some_and(PyInt::is_negative) {
                Success::False
            } else {
                Success::True
            }
        }
        Some(Value::Bool(true)) => Success::True,
        Some(Value::Bool(false)) => Success::False,
        Some(_) => Success::Other,
    }
}

/// The summary's `exit` as an int (Python: `exit if isinstance(exit, int) else as_int(exit)`).
pub fn exit_of(s: &Summary) -> Option<PyInt> {
    as_int(s.exit, 10)
}

/// The arguments of the event's syscall (`SYSCALL.ARGV`, hex), Python's `[as_int(a, 16) for a in ...]`.
pub fn syscall_args(event: &Object) -> Vec<Option<PyInt>> {
    let Some(argv) = first_section(event, "SYSCALL").and_then(|sc| sc.get("ARGV")) else {
        return Vec::new();
    };
    if !truthy(argv) {
        return Vec::new();
    }
    py_iter(argv)
        .iter()
        .map(|a| as_int(Some(a.as_ref()), 16))
        .collect()
}

/// (call name, its arguments) of the event's syscall; socketcall unpacked from the SOCKETCALL record.
fn call_args<'a>(event: &Object, name: &'a str) -> (&'a str, Vec<Option<PyInt>>) {
    let args = syscall_args(event);
    if name != "socketcall" {
        return (name, args);
    }
    let call = match args.first() {
        Some(Some(PyInt::Small(n))) => socketcall_name(*n),
        _ => "",
    };
    let mut inner = Vec::new();
    if let Some(rec) = first_section(event, "SOCKETCALL") {
        let mut i = 0;
        while let Some(v) = rec.get(&format!("a{i}")) {
            inner.push(as_int(Some(v), 16));
            i += 1;
        }
    }
    (call, inner)
}

fn protocol_of(
    family: Option<&PyInt>,
    stype: Option<&PyInt>,
    protocol: Option<&PyInt>,
) -> Option<PyInt> {
    let protocol = protocol?;
    if protocol.is(0) && family.is_some_and(|f| f.is(AF_INET) || f.is(AF_INET6)) {
        if let Some(stype) = stype {
            match stype.and(0xF) {
                1 => return Some(PyInt::Small(6)),
                2 => return Some(PyInt::Small(17)),
                _ => {}
            }
        }
    }
    Some(protocol.clone())
}

fn opt_cell(v: Option<&PyInt>) -> Cell {
    v.map_or(Cell::Null, PyInt::cell)
}

impl SocketState {
    /// Forget the remembered protocols and bound addresses.
    pub fn reset(&mut self) {
        self.protocols.clear();
        self.listeners.clear();
    }

    /// Remember a listening socket (node, pid, fd) → (address, port) (Python: `_remember_bound`).
    pub fn remember_listener(
        &mut self,
        node: Option<&str>,
        pid: i64,
        fd: i64,
        addr: &str,
        port: u16,
    ) {
        self.listeners.set(
            (
                node.map(str::to_owned),
                i128::from(pid),
                PyInt::Small(i128::from(fd)),
            ),
            (Value::String(addr.to_owned()), Value::from(port)),
        );
    }

    /// The remembered listeners, oldest first: ((node, pid, fd), (address, port)).
    pub fn listeners(&self) -> Vec<(Listener, (Value, Value))> {
        self.listeners
            .iter()
            .map(|((n, p, f), (a, port))| {
                ((n.clone(), *p, f.to_string()), (a.clone(), port.clone()))
            })
            .collect()
    }

    /// The row of a bind/connect/accept event, or of a sendto/sendmsg that named a destination.
    pub fn socket_row(
        &mut self,
        event: &Object,
        s: &Summary,
        common: &Common,
        tree: Option<&dyn ProcessTree>,
    ) -> Option<Row> {
        let name = s.syscall?.as_str()?;
        if !is_socket_syscall(name) {
            return None;
        }
        let sa = s.sockaddr.and_then(Value::as_object);
        if (name == "sendto" || name == "sendmsg") && sa.is_none() {
            return None; // no destination named: the common case, kept cheap
        }
        let (call, args) = call_args(event, name);
        let node = node_key(event.get("NODE"));
        let pid = s.pid.and_then(py_int);
        let exit_code = exit_of(s);
        let success = success_of(s, exit_code.as_ref());
        let fd: Option<PyInt> = args.first().cloned().flatten();
        if call == "socket" {
            if let (Success::True, Some(pid), Some(ex)) = (success, pid, exit_code.as_ref()) {
                let key = (node.clone(), pid, ex.clone());
                self.listeners.remove(&key); // a new socket on that number: forget the old one
                if args.len() >= 3 {
                    if let Some(p) =
                        protocol_of(args[0].as_ref(), args[1].as_ref(), args[2].as_ref())
                    {
                        self.protocols.set(key, p);
                    }
                }
            }
            return None;
        }
        let action = action_of(call)?;
        if (action == "sendto" || action == "sendmsg") && sa.is_none() {
            return None; // socketcall(SYS_SENDTO) without a destination
        }
        let protocol = match (pid, &fd) {
            (Some(pid), Some(fd)) => self
                .protocols
                .get(&(node.clone(), pid, fd.clone()))
                .cloned(),
            _ => None,
        };
        let errno = s.errno.and_then(Value::as_str);
        let status = if success == Success::True {
            if action == "accept" {
                if let (Some(pid), Some(ex)) = (pid, exit_code.as_ref()) {
                    let key = (node.clone(), pid, ex.clone());
                    self.listeners.remove(&key); // the new descriptor is a connection
                    if let Some(p) = &protocol {
                        self.protocols.set(key, p.clone());
                    }
                }
            }
            "succeeded"
        } else if action == "connect" && errno == Some("EINPROGRESS") {
            "in_progress"
        } else if action == "accept" && matches!(errno, Some("EAGAIN" | "EWOULDBLOCK")) {
            "no_client"
        } else {
            "failed"
        };
        let (mut family, mut local_address, mut remote_address) =
            (Cell::Null, Cell::Null, Cell::Null);
        let (mut local_port, mut remote_port, mut sock_path) = (Cell::Null, Cell::Null, Cell::Null);
        if let Some(sa) = sa {
            let fam = sa.get("family");
            family = if sa.contains_key("family_nr") {
                cell(sa.get("family_nr"))
            } else {
                match fam {
                    Some(Value::String(f)) if !f.is_empty() => {
                        self.families.get(f).map_or(Cell::Null, |n| Cell::Int(*n))
                    }
                    _ => Cell::Null,
                }
            };
            if sa.contains_key("path") {
                sock_path = text_cell(text(sa.get("path")));
            }
            let inet = matches!(fam, Some(Value::String(f)) if f == "inet" || f == "inet6");
            let addr = sa.get("addr").filter(|v| !v.is_null());
            let port = if inet {
                sa.get("port").filter(|v| !v.is_null())
            } else {
                None
            };
            if addr.is_some() || port.is_some() {
                if action == "bind" {
                    (local_address, local_port) = (cell(addr), cell(port));
                    if success == Success::True && port.is_some_and(truthy) {
                        if let (Some(pid), Some(fd)) = (pid, &fd) {
                            self.listeners.set(
                                (node.clone(), pid, fd.clone()),
                                (
                                    addr.cloned().unwrap_or(Value::Null),
                                    port.cloned().unwrap_or(Value::Null),
                                ),
                            );
                        }
                    }
                } else {
                    (remote_address, remote_port) = (cell(addr), cell(port));
                }
            }
        }
        if action == "accept" {
            if let (Some(pid), Some(fd)) = (pid, &fd) {
                let mut bound = self.listeners.get(&(node.clone(), pid, fd.clone()));
                if bound.is_none() {
                    if let Some(ppid) = s.ppid.and_then(py_int) {
                        bound = self.listeners.get(&(node.clone(), ppid, fd.clone()));
                        // a pre-fork server
                    }
                }
                if let Some((addr, port)) = bound {
                    local_port = cell(Some(port));
                    let wildcard = matches!(addr, Value::String(a) if a == "0.0.0.0" || a == "::");
                    if !wildcard {
                        local_address = cell(Some(addr));
                    }
                }
            }
        }
        let start = match (tree, pid) {
            (Some(t), Some(p)) => i64::try_from(p)
                .ok()
                .and_then(|p| t.process_start(node.as_deref(), p)),
            _ => None,
        };
        let cells = vec![
            Cell::Text(action.to_owned()),
            cell(s.pid),
            text_of(s.exe),
            fd.as_ref()
                .map_or(Cell::Null, |f| Cell::Text(f.to_string())),
            cell(s.auid),
            Cell::Text(status.to_owned()),
            family,
            opt_cell(protocol.as_ref()),
            local_address,
            remote_address,
            local_port,
            remote_port,
            sock_path,
            Cell::Int(if status == "failed" { 0 } else { 1 }),
            Cell::Text(name.to_owned()),
            opt_cell(exit_code.as_ref()),
            errno.map_or(Cell::Null, |e| Cell::Text(e.to_owned())),
            cell(s.ppid),
            cell(s.uid),
            cell(s.euid),
            cell(s.gid),
            cell(s.ses),
            text_of(s.comm),
            text_of(s.key),
            start.map_or(Cell::Null, Cell::Real),
            common.time.clone(),
            common.uptime.clone(),
            common.eid.clone(),
        ];
        Some(Row {
            table: "socket_events",
            cells,
        })
    }

    /// Remember the TCP sockets listening now, by (None, pid, fd), so that `accept` rows of servers
    /// started before auditsql get their `local_port`: reads `PROC/net/tcp`, `PROC/net/tcp6` and the
    /// `PROC/PID/fd` links. Returns how many (pid, fd) pairs it remembered.
    pub fn seed_listeners(&mut self, proc: &Path) -> usize {
        let mut socks = parse_proc_net(&proc.join("net/tcp"), false);
        socks.extend(parse_proc_net(&proc.join("net/tcp6"), true));
        if socks.is_empty() {
            return 0;
        }
        let wanted: HashMap<String, (String, u16)> = socks
            .into_iter()
            .map(|(ino, v)| (format!("socket:[{ino}]"), v))
            .collect();
        let Ok(dir) = std::fs::read_dir(proc) else {
            return 0;
        };
        let mut pids: Vec<(i64, std::path::PathBuf)> = dir
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let pid = decimal_name(&name)?;
                Some((pid, e.path()))
            })
            .collect();
        pids.sort_by_key(|(p, _)| *p);
        let mut n = 0;
        for (pid, path) in pids {
            let Ok(fds) = std::fs::read_dir(path.join("fd")) else {
                continue;
            };
            for e in fds.filter_map(Result::ok) {
                let Some(fd) = e.file_name().to_str().and_then(decimal_name) else {
                    continue;
                };
                let Ok(target) = std::fs::read_link(e.path()) else {
                    continue;
                };
                if let Some((addr, port)) = target.to_str().and_then(|t| wanted.get(t)) {
                    self.remember_listener(None, pid, fd, addr, *port);
                    n += 1;
                }
            }
        }
        n
    }
}

/// A /proc entry name that is a number (Python: `str.isdigit()` then `int()`).
fn decimal_name(name: &str) -> Option<i64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// inode → (local address, port) of the listening sockets (state 0A) in a /proc/net/tcp{,6} file.
/// A file that cannot be read or parsed gives what was read before the fault, as Python's does.
pub(crate) fn parse_proc_net(path: &Path, v6: bool) -> Vec<(u64, (String, u16))> {
    let mut out = Vec::new();
    let Ok(data) = std::fs::read_to_string(path) else {
        return out;
    };
    for line in data.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[3] != "0A" {
            continue;
        }
        let Some(hit) = proc_net_entry(f[1], f[9], v6) else {
            return out;
        };
        out.push(hit);
    }
    out
}

fn proc_net_entry(local: &str, inode: &str, v6: bool) -> Option<(u64, (String, u16))> {
    let (hexaddr, hexport) = local.split_once(':').unwrap_or((local, ""));
    if hexaddr.len() % 2 != 0 || !hexaddr.is_ascii() {
        return None;
    }
    let mut raw: Vec<u8> = (0..hexaddr.len() / 2)
        .map(|i| u8::from_str_radix(&hexaddr[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    // the kernel prints each 32-bit word in host byte order (little-endian here)
    for w in raw.chunks_mut(4) {
        w.reverse();
    }
    let addr = if v6 {
        let b: [u8; 16] = raw.try_into().ok()?;
        ipv6_text(b)
    } else {
        let b: [u8; 4] = raw.try_into().ok()?;
        Ipv4Addr::from(b).to_string()
    };
    let port = u16::from_str_radix(hexport, 16).ok()?;
    let ino = inode.parse().ok()?;
    Some((ino, (addr, port)))
}
