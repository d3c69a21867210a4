//! Reading `/proc` (or a tree laid out like it, for tests): a process's stat fields, links, cmdline, ids,
//! cgroup; the boot time; the host name. Every read may fail (the process is gone): failures are `None`.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::container::container_id;
use super::text::{backslash_decode, int_text};

/// Clock ticks per second of `/proc/PID/stat`'s `starttime`. Python asks `os.sysconf("SC_CLK_TCK")`; that
/// needs libc (unsafe). The kernel reports times to user space in USER_HZ, which is 100 on every Linux
/// architecture (the ABI constant, whatever the kernel's internal HZ).
pub const CLK_TCK: f64 = 100.0;

/// The wall clock (Python's `time.time()`), in UNIX seconds.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `(state, ppid, starttime ticks, comm)` of `/proc/PID/stat`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stat {
    /// The state letter (`R`, `S`, `Z`...), as written.
    pub state: Vec<u8>,
    /// Parent PID (0 for none).
    pub ppid: i64,
    /// Start time in clock ticks since boot.
    pub ticks: i64,
    /// The command name, bytes that are not UTF-8 as `\xNN`.
    pub comm: String,
}

/// What a process's `/proc` entry tells (Python: the fields `_from_proc` fills).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcInfo {
    /// The `exe` link.
    pub path: Option<String>,
    /// `cmdline`'s arguments joined by spaces (None when empty).
    pub cmdline: Option<String>,
    /// `cmdline`'s arguments (None when empty).
    pub args: Option<Vec<String>>,
    /// The `cwd` link.
    pub cwd: Option<String>,
    /// Real user ID (status `Uid:`).
    pub uid: Option<i64>,
    /// Effective user ID (status `Uid:`).
    pub euid: Option<i64>,
    /// Real group ID (status `Gid:`).
    pub gid: Option<i64>,
    /// `loginuid`.
    pub auid: Option<i64>,
    /// Container ID from `cgroup`.
    pub container_id: Option<String>,
}

/// A `/proc` tree at `root`.
#[derive(Clone, Debug)]
pub struct ProcFs {
    root: PathBuf,
}

impl ProcFs {
    /// The tree at `root` (`/proc` on a live host).
    pub fn new(root: PathBuf) -> Self {
        ProcFs { root }
    }

    fn file(&self, pid: i64, name: &str) -> PathBuf {
        self.root.join(pid.to_string()).join(name)
    }

    fn read_path(path: &Path) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }

    /// A link's target as text (bytes that are not UTF-8 as `\xNN`).
    fn readlink(path: &Path) -> Option<String> {
        let target = std::fs::read_link(path).ok()?;
        Some(backslash_decode(target.as_os_str().as_bytes()).into_owned())
    }

    /// `/proc/PID/stat`'s fields, or None when it is gone or unreadable.
    pub fn stat(&self, pid: i64) -> Option<Stat> {
        let data = Self::read_path(&self.file(pid, "stat"))?;
        let close = data.iter().rposition(|&c| c == b')')?;
        let open = data.iter().position(|&c| c == b'(')?;
        let comm = backslash_decode(data.get(open + 1..close).unwrap_or_default()).into_owned();
        let rest = data.get(close + 2..).unwrap_or_default();
        let mut f = rest
            .split(|c| b" \t\n\r\x0b\x0c".contains(c))
            .filter(|t| !t.is_empty());
        let state = f.next()?.to_vec();
        let ppid = int_bytes(f.next()?)?;
        let ticks = int_bytes(f.nth(17)?)?;
        Some(Stat {
            state,
            ppid,
            ticks,
            comm,
        })
    }

    /// The rest of a process's entry: exe, cmdline, cwd, Uid/Gid of status, loginuid, cgroup.
    pub fn info(&self, pid: i64) -> ProcInfo {
        let mut p = ProcInfo {
            path: Self::readlink(&self.file(pid, "exe")),
            ..ProcInfo::default()
        };
        if let Some(raw) = Self::read_path(&self.file(pid, "cmdline")).filter(|r| !r.is_empty()) {
            let end = raw.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            let args: Vec<String> = raw[..end]
                .split(|&c| c == 0)
                .map(|a| backslash_decode(a).into_owned())
                .collect();
            p.cmdline = Some(args.join(" "));
            p.args = Some(args);
        }
        p.cwd = Self::readlink(&self.file(pid, "cwd"));
        let status = Self::read_path(&self.file(pid, "status")).unwrap_or_default();
        for line in status.split(|&c| c == b'\n') {
            let mut ids = line
                .split(|c| b" \t\n\r\x0b\x0c".contains(c))
                .filter(|t| !t.is_empty())
                .skip(1);
            if line.starts_with(b"Uid:") {
                p.uid = ids.next().and_then(int_bytes);
                p.euid = ids.next().and_then(int_bytes);
            } else if line.starts_with(b"Gid:") {
                p.gid = ids.next().and_then(int_bytes);
                break;
            }
        }
        if let Some(lu) = Self::read_path(&self.file(pid, "loginuid")).filter(|r| !r.is_empty()) {
            p.auid = int_bytes(&lu);
        }
        if let Some(cg) = Self::read_path(&self.file(pid, "cgroup")).filter(|r| !r.is_empty()) {
            p.container_id = container_id(&String::from_utf8_lossy(&cg));
        }
        p
    }

    /// Whether `/proc/REL` exists (`REL` like `"123"` or `"123/task/124"`).
    pub fn exists(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }

    /// The pids of `/proc`'s all-digit entries, in directory order.
    pub fn pids(&self) -> Vec<i64> {
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        dir.filter_map(|e| {
            let name = e.ok()?.file_name();
            let b = name.as_bytes();
            if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(b).ok()?.parse().ok()
        })
        .collect()
    }

    /// The boot time in UNIX seconds: now − `/proc/uptime` (the boot-time clock, 10 ms resolution), else
    /// `/proc/stat`'s `btime` (whole seconds), else 0. (Python: `time.time() − CLOCK_BOOTTIME`; reading
    /// that clock needs libc.)
    pub fn boot_time(&self) -> f64 {
        let uptime = Self::read_path(&self.root.join("uptime")).and_then(|u| {
            let s = String::from_utf8(u).ok()?;
            s.split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
        });
        if let Some(up) = uptime {
            return now() - up;
        }
        let stat = Self::read_path(&self.root.join("stat")).unwrap_or_default();
        for line in stat.split(|&c| c == b'\n') {
            if let Some(v) = line.strip_prefix(b"btime ") {
                if let Some(b) = int_bytes(v) {
                    return b as f64;
                }
            }
        }
        0.0
    }

    /// The host name (`/proc/sys/kernel/hostname`: the `uname` node name Python's `gethostname` returns).
    pub fn hostname(&self) -> Option<String> {
        let raw = Self::read_path(&self.root.join("sys/kernel/hostname"))?;
        let s = String::from_utf8(raw).ok()?;
        let s = s.trim_end_matches('\n');
        (!s.is_empty()).then(|| s.to_string())
    }
}

/// Python's `int(bytes)`.
fn int_bytes(b: &[u8]) -> Option<i64> {
    int_text(std::str::from_utf8(b).ok()?)
}

/// Python's `round(x, 3)`: correctly rounded to 3 decimals (Rust's formatting and parsing are exact).
pub fn round3(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.3}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::round3;

    #[test]
    fn round3_is_pythons() {
        assert_eq!(round3(1.0005), 1.0); // 1.0005 is 1.000499999... in binary
        assert_eq!(round3(2.0015), 2.002);
        assert_eq!(round3(1_700_000_000.123_456), 1_700_000_000.123);
    }
}
