//! The native netlink reader: a thread that drains an audit netlink socket into a buffer of frames.
//!
//! It replaces the forked reader process of `auditsql.kernel.sources` (`reader="process"`): a thread that
//! holds no GIL does nothing but `recvmmsg` records off the socket into a byte buffer (up to
//! [`ReaderSettings::buffer_bytes`], 512 MiB by default), and the processing side [`Reader::take`]s them in
//! batches. The kernel facts it relies on (see the Python module's doc):
//!
//! * every audit record is one netlink message in one datagram; the record type is `nlmsg_type`;
//! * the payload is the datagram's bytes after the 16-byte header, up to the *datagram* length: on the
//!   unicast (daemon) socket `nlmsg_len` does not count the header, so it is never used;
//! * a datagram longer than the receive buffer (64 KiB) is kept, cut, and counted (`MSG_TRUNC`);
//! * a full socket buffer makes the next receive fail with `ENOBUFS` (counted; reading continues);
//! * types below 1100 (netlink's own and the audit control messages, `NLMSG_ERROR` replies among them) and
//!   `AUDIT_REPLACE` pings are no records: counted as `ignored`; a datagram from a sender other than the
//!   kernel (netlink port id not 0) is `foreign`.

pub mod connector;
mod counters;
mod frames;
pub mod journal;
pub mod keeper;
mod reader;
mod recv;

#[cfg(test)]
mod tests;

pub use counters::{CounterSnapshot, Counters};
pub use frames::{FrameBuf, FrameIter};
pub use reader::{Policy, Reader, ReaderError, ReaderSettings};
pub use recv::{classify, Datagram};

/// The first audit record type; 1000-1099 are control messages, 1-15 netlink's own.
pub const AUDIT_FIRST_RECORD: u16 = 1100;
/// The kernel's "is the daemon still alive?" ping to a registered daemon.
pub const AUDIT_REPLACE: u16 = 1329;
/// The netlink message header: `nlmsg_len` u32, `nlmsg_type` u16, `nlmsg_flags` u16, `nlmsg_seq` u32,
/// `nlmsg_pid` u32.
pub const NLMSG_HDRLEN: usize = 16;
/// The receive buffer per datagram: userspace's MAX_AUDIT_MESSAGE_LENGTH (8970) + header, rounded up
/// generously (the Python reader's `RECV_SIZE`).
pub const RECV_SIZE: usize = 1 << 16;
/// What the reader holds at most while the processing side catches up (the Python reader process's).
pub const DEFAULT_BUFFER_BYTES: usize = 512 << 20;
