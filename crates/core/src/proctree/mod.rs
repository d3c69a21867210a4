//! The process tree: every process keyed by (pid, start time), from audited fork/clone/exec/exit and /proc.
//! (Port of the live state machine of `src/auditsql/tables/proctree.py`; the `process_tree` table, its DDL,
//! the `process_ancestry` view and the audit rules stay declared in Python. docs/process-tree.md has the
//! design.)
//!
//! * [`Tracker`] keeps the live processes in memory, per node, pid → [`Proc`]. A process's key is
//!   `(pid, process_start)`: a forked child starts at its fork event's time; a process seeded from
//!   `/proc` at boot time + `starttime` / [`procfs::CLK_TCK`]. A vfork child's exec comes before its
//!   parent's fork event: the exec creates the entry (`source` `exec`), the fork completes it.
//! * `clone` with `CLONE_THREAD` is a thread, skipped. `clone3` hides its flags: its child is a thread when
//!   `/proc/CALLER/task/CHILD` exists, a process when `/proc/CHILD` does, else it waits (bounded) for an
//!   event of its own that proves it a process.
//! * Exits: `exit_group`'s SYSCALL record; a periodic [`Tracker::sweep`] of `/proc` for the rest; a pid
//!   forked again ends the process that had it.
//! * Memory: an exited process leaves memory once its row is drained ([`Tracker::drain`]); side tables
//!   are bounded ([`PENDING_MAX`]), live processes per node too ([`MAX_PROCS`]).

mod container;
mod events;
mod facts;
mod fifo;
mod proc;
pub mod procfs;
mod text;
mod tracker;

#[cfg(test)]
mod tests;

pub use container::container_id;
pub use facts::Facts;
pub use proc::{Args, Proc};
pub use tracker::{Tracker, TreeSettings};

/// fork-like syscalls the tree follows (Python: `FORK_SYSCALLS`)
pub const FORK_SYSCALLS: &[&str] = &["fork", "vfork", "clone", "clone3"];
/// exit syscalls the tree follows (Python: `EXIT_SYSCALLS`)
pub const EXIT_SYSCALLS: &[&str] = &["exit_group"];

/// Is `name` one of the syscalls the tree follows (Python: `TREE_SYSCALLS`)?
pub fn is_tree_syscall(name: &str) -> bool {
    FORK_SYSCALLS.contains(&name) || EXIT_SYSCALLS.contains(&name)
}

/// `clone` flag: the child is a thread of the caller.
pub const CLONE_THREAD: u64 = 0x10000;
/// `clone` flag: the child's parent is the caller's parent.
pub const CLONE_PARENT: u64 = 0x8000;
/// Seconds of slack when comparing a /proc start time (10 ms ticks) with event times (a coarse clock).
pub const START_SLACK: f64 = 0.05;
/// Seconds between two /proc checks of the live processes.
pub const SWEEP_INTERVAL: f64 = 5.0;
/// clone3 children waiting for proof that they are processes, exits seen before their fork, and exec-first
/// entries that exited before their fork: at most this many each (the oldest go first).
pub const PENDING_MAX: usize = 65536;
/// Live processes kept per node at most (a remote node cannot be checked in /proc); the oldest go first.
pub const MAX_PROCS: usize = 1_000_000;
/// Arches whose clone(2) takes the flags as the second argument.
pub const FLAGS_IN_A1: &[&str] = &["s390", "s390x"];
