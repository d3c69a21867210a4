//! The process tree. (Port of tables/proctree.py.)

/// fork-like syscalls the tree follows (Python: `FORK_SYSCALLS`)
pub const FORK_SYSCALLS: &[&str] = &["fork", "vfork", "clone", "clone3"];
/// exit syscalls the tree follows (Python: `EXIT_SYSCALLS`)
pub const EXIT_SYSCALLS: &[&str] = &["exit_group"];

/// Is `name` one of the syscalls the tree follows (Python: `TREE_SYSCALLS`)?
pub fn is_tree_syscall(name: &str) -> bool {
    FORK_SYSCALLS.contains(&name) || EXIT_SYSCALLS.contains(&name)
}
