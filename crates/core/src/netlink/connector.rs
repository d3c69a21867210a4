//! The proc connector (`NETLINK_CONNECTOR`, group `CN_IDX_PROC`): the kernel's fork and exit notices, read
//! beside the audit socket so that the process tree needs no audit rule for fork, clone or `exit_group`.
//!
//! A notice costs the kernel a small fixed-size message, where an audited fork or exit costs a SYSCALL, a
//! PROCTITLE and an EOE record formatted as text, queued, sent, parsed, assembled and stored. The reader
//! turns each notice into a *frame* of its own type ([`PROC_FORK_FRAME`], [`PROC_EXIT_FRAME`], outside the
//! audit record types) in the same frame stream as the audit records: journaled with them, ordered with
//! them, replayed with them after a kill.
//!
//! Kernel facts (`include/uapi/linux/cn_proc.h`, `drivers/connector/cn_proc.c`):
//! * one datagram holds one netlink message: a 16-byte `nlmsghdr`, a 20-byte `cn_msg`, then the
//!   `proc_event`: `what` u32, `cpu` u32, `timestamp_ns` u64 (`ktime_get_ns`, the monotonic clock), then the
//!   event's data;
//! * fork: `parent_pid`, `parent_tgid`, `child_pid`, `child_tgid`; a thread has `child_pid != child_tgid`;
//! * exit: `process_pid`, `process_tgid`, `exit_code` (the wait status: `status << 8`, or the signal number,
//!   `| 0x80` with a core dump), `exit_signal`;
//! * a fork notice is sent before the child runs, so it is on the socket before any audit record of the
//!   child is made; an exit notice is sent as the process exits, possibly *before* the kernel's audit
//!   thread has delivered the process's last records (the tracker holds exits back: see
//!   `Tracker::connector_exit`).

/// Frame type of a fork notice (the audit record types stay below 3000).
pub const PROC_FORK_FRAME: u16 = 0xF001;
/// Frame type of an exit notice.
pub const PROC_EXIT_FRAME: u16 = 0xF002;

/// `proc_event.what` of a fork.
pub const PROC_EVENT_FORK: u32 = 0x0000_0001;
/// `proc_event.what` of an exit.
pub const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// Where the `proc_event` starts in a datagram: `nlmsghdr` (16) + `cn_msg` (20).
const EVENT_AT: usize = 36;
/// Where the event's data starts: the `proc_event` header is `what`, `cpu`, `timestamp_ns`.
const DATA_AT: usize = EVENT_AT + 16;

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(*d.get(at..at + 4)?.first_chunk::<4>()?))
}

fn i32_at(d: &[u8], at: usize) -> Option<i32> {
    u32_at(d, at).map(|v| v as i32)
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(*d.get(at..at + 8)?.first_chunk::<8>()?))
}

/// The fork or exit of a process a datagram holds, its time on the monotonic clock (`timestamp_ns`); None for
/// a thread's fork or exit, any other notice (exec, uid, comm, ...: the subscription's filter normally keeps
/// them out), the subscription's acknowledgement, or a datagram too short for what it says it is.
pub fn parse(d: &[u8]) -> Option<ProcFrame> {
    let what = u32_at(d, EVENT_AT)?;
    let ns = u64_at(d, EVENT_AT + 8)?;
    match what {
        PROC_EVENT_FORK => {
            let parent = i32_at(d, DATA_AT + 4)?;
            let child_pid = i32_at(d, DATA_AT + 8)?;
            let child = i32_at(d, DATA_AT + 12)?;
            (child_pid == child).then_some(ProcFrame::Fork { parent, child, ns })
        }
        PROC_EVENT_EXIT => {
            let tid = i32_at(d, DATA_AT)?;
            let pid = i32_at(d, DATA_AT + 4)?;
            let status = u32_at(d, DATA_AT + 8)?;
            (tid == pid).then_some(ProcFrame::Exit { pid, status, ns })
        }
        _ => None,
    }
}

/// A fork or an exit of a process: as [`parse`] reads it (its time on the monotonic clock), and as the
/// pipeline reads it from its frame (moved to UNIX time by [`ProcFrame::shifted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcFrame {
    /// A new process (`child`) of `parent` (both thread group ids).
    Fork {
        /// the parent's process id
        parent: i32,
        /// the child's
        child: i32,
        /// when, nanoseconds
        ns: u64,
    },
    /// A process ended (its thread group leader exited).
    Exit {
        /// the process id
        pid: i32,
        /// the wait status
        status: u32,
        /// when, nanoseconds
        ns: u64,
    },
}

impl ProcFrame {
    /// The frame's type and its 16-byte payload (native endian, as the other frames).
    pub fn encode(&self) -> (u16, [u8; 16]) {
        let mut out = [0u8; 16];
        let (t, a, b, ns) = match *self {
            ProcFrame::Fork { parent, child, ns } => {
                (PROC_FORK_FRAME, parent as u32, child as u32, ns)
            }
            ProcFrame::Exit { pid, status, ns } => (PROC_EXIT_FRAME, pid as u32, status, ns),
        };
        out[..4].copy_from_slice(&a.to_ne_bytes());
        out[4..8].copy_from_slice(&b.to_ne_bytes());
        out[8..].copy_from_slice(&ns.to_ne_bytes());
        (t, out)
    }

    /// The notice of a frame of type `msg_type`; None for other frames and short payloads.
    pub fn decode(msg_type: u32, payload: &[u8]) -> Option<ProcFrame> {
        let a = u32_at(payload, 0)?;
        let b = u32_at(payload, 4)?;
        let ns = u64_at(payload, 8)?;
        match u16::try_from(msg_type).ok()? {
            PROC_FORK_FRAME => Some(ProcFrame::Fork {
                parent: a as i32,
                child: b as i32,
                ns,
            }),
            PROC_EXIT_FRAME => Some(ProcFrame::Exit {
                pid: a as i32,
                status: b,
                ns,
            }),
            _ => None,
        }
    }

    /// Whether `msg_type` is a proc connector frame's.
    pub fn is_proc(msg_type: u32) -> bool {
        msg_type == u32::from(PROC_FORK_FRAME) || msg_type == u32::from(PROC_EXIT_FRAME)
    }

    /// The same notice with its time moved by `offset_ns` (UNIX time − monotonic time, read when it was
    /// received).
    pub fn shifted(self, offset_ns: i128) -> ProcFrame {
        let unix = |ns: u64| u64::try_from((i128::from(ns) + offset_ns).max(0)).unwrap_or(u64::MAX);
        match self {
            ProcFrame::Fork { parent, child, ns } => ProcFrame::Fork {
                parent,
                child,
                ns: unix(ns),
            },
            ProcFrame::Exit { pid, status, ns } => ProcFrame::Exit {
                pid,
                status,
                ns: unix(ns),
            },
        }
    }
}

/// UNIX time − monotonic time, in nanoseconds, now.
pub fn clock_offset_ns() -> i128 {
    use nix::time::{clock_gettime, ClockId};
    let ns = |c| {
        clock_gettime(c)
            .map(|t| i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec()))
            .unwrap_or(0)
    };
    ns(ClockId::CLOCK_REALTIME) - ns(ClockId::CLOCK_MONOTONIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram as the kernel sends it (header fields the parser does not read are zero).
    fn datagram(what: u32, ns: u64, data: &[u32]) -> Vec<u8> {
        let mut d = vec![0u8; EVENT_AT];
        d.extend_from_slice(&what.to_ne_bytes());
        d.extend_from_slice(&1u32.to_ne_bytes());
        d.extend_from_slice(&ns.to_ne_bytes());
        for v in data {
            d.extend_from_slice(&v.to_ne_bytes());
        }
        d
    }

    #[test]
    fn forks_exits_and_threads() {
        assert_eq!(
            parse(&datagram(PROC_EVENT_FORK, 7, &[100, 100, 200, 200])),
            Some(ProcFrame::Fork {
                parent: 100,
                child: 200,
                ns: 7
            })
        );
        // a thread's
        assert_eq!(
            parse(&datagram(PROC_EVENT_FORK, 7, &[100, 100, 201, 200])),
            None
        );
        assert_eq!(
            parse(&datagram(PROC_EVENT_EXIT, 9, &[200, 200, 0x100, 17])),
            Some(ProcFrame::Exit {
                pid: 200,
                status: 0x100,
                ns: 9
            })
        );
        assert_eq!(
            parse(&datagram(PROC_EVENT_EXIT, 9, &[201, 200, 0, 17])),
            None
        );
        assert_eq!(parse(&datagram(2, 9, &[200, 200])), None);
        let full = datagram(PROC_EVENT_FORK, 7, &[100, 100, 200, 200]);
        for n in 0..full.len() {
            assert_eq!(parse(&full[..n]), None, "cut at {n}");
        }
    }

    #[test]
    fn frames_round_trip() {
        for f in [
            ProcFrame::Fork {
                parent: 1,
                child: i32::MAX,
                ns: u64::MAX,
            },
            ProcFrame::Exit {
                pid: 42,
                status: 0x8b,
                ns: 1_765_000_000_123_456_789,
            },
        ] {
            let (t, payload) = f.encode();
            assert_eq!(ProcFrame::decode(u32::from(t), &payload), Some(f));
            assert!(ProcFrame::is_proc(u32::from(t)));
            assert_eq!(ProcFrame::decode(u32::from(t), &payload[..15]), None);
        }
        assert_eq!(ProcFrame::decode(1300, &[0; 16]), None);
        assert!(!ProcFrame::is_proc(1300));
    }

    #[test]
    fn monotonic_times_become_unix_times() {
        let n = ProcFrame::Exit {
            pid: 5,
            status: 0,
            ns: 1_000,
        };
        assert_eq!(
            n.shifted(1_700_000_000_000_000_000),
            ProcFrame::Exit {
                pid: 5,
                status: 0,
                ns: 1_700_000_000_000_001_000
            }
        );
        let off = clock_offset_ns();
        assert!(off > 1_600_000_000 * 1_000_000_000, "{off}");
    }
}
