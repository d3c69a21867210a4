//! One receive call on the socket (`recvmmsg`, or `recvmsg` for a batch of one) and what each datagram is.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    getsockname, recvmmsg, recvmsg, AddressFamily, MsgFlags, MultiHeaders, SockaddrLike,
    SockaddrStorage,
};

use super::{AUDIT_FIRST_RECORD, AUDIT_REPLACE, NLMSG_HDRLEN};

/// What one datagram is, by the Python reader's rules (`NetlinkSource._read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// An audit record: its type, its payload (after the header, up to the datagram's end or the receive
    /// buffer's), and its real length when it was cut (else 0).
    Record {
        /// `nlmsg_type`.
        msg_type: u16,
        /// The bytes after the 16-byte header.
        payload: &'a [u8],
        /// The datagram's real length when it did not fit the receive buffer, else 0.
        trunc: u32,
    },
    /// A control message, an `NLMSG_ERROR` reply or an `AUDIT_REPLACE` ping.
    Ignored,
    /// Sent by another process (netlink port id not 0), not by the kernel.
    Foreign,
    /// Shorter than a netlink header.
    Short,
}

/// Classifies a received datagram: `data` is what the receive buffer holds (its length the buffer's
/// size or less), `len` the datagram's real length (`MSG_TRUNC` in the flags makes the kernel return it),
/// `cut` the `MSG_TRUNC` flag out, `sender` the sender's netlink port id (None for a non-netlink address).
pub fn classify(data: &[u8], len: usize, cut: bool, sender: Option<u32>) -> Datagram<'_> {
    if sender.is_some_and(|pid| pid != 0) {
        return Datagram::Foreign;
    }
    if len < NLMSG_HDRLEN || data.len() < NLMSG_HDRLEN {
        return Datagram::Short;
    }
    let msg_type = match data.get(4..6) {
        Some(&[a, b]) => u16::from_ne_bytes([a, b]),
        _ => return Datagram::Short,
    };
    if msg_type < AUDIT_FIRST_RECORD || msg_type == AUDIT_REPLACE {
        return Datagram::Ignored;
    }
    let got = len.min(data.len());
    let trunc = if cut || len > data.len() {
        u32::try_from(len).unwrap_or(u32::MAX)
    } else {
        0
    };
    Datagram::Record {
        msg_type,
        payload: data.get(NLMSG_HDRLEN..got).unwrap_or_default(),
        trunc,
    }
}

/// What the kernel said about one received datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) len: usize,
    pub(crate) cut: bool,
    pub(crate) sender: Option<u32>,
}

/// The socket and the receive buffers of one batch.
pub(crate) struct Receiver {
    fd: OwnedFd,
    recv_size: usize,
    bufs: Vec<u8>,
    headers: Option<MultiHeaders<SockaddrStorage>>,
    got: Vec<Meta>,
    /// the socket is a netlink socket: the kernel fills in every sender's address (on other sockets, e.g.
    /// the tests' AF_UNIX pairs, an unnamed sender leaves it unset, and there is no port id to check)
    netlink: bool,
}

fn sender_of(netlink: bool, addr: Option<SockaddrStorage>) -> Option<u32> {
    if !netlink {
        return None;
    }
    addr.and_then(|a| a.as_netlink_addr().map(|nl| nl.pid()))
}

impl Receiver {
    /// `batch` datagrams per call, each in a buffer of `recv_size` bytes.
    pub(crate) fn new(fd: OwnedFd, batch: usize, recv_size: usize) -> Self {
        let batch = batch.max(1);
        let recv_size = recv_size.max(NLMSG_HDRLEN);
        let netlink = getsockname::<SockaddrStorage>(fd.as_raw_fd())
            .is_ok_and(|a| a.family() == Some(AddressFamily::Netlink));
        Self {
            netlink,
            fd,
            recv_size,
            bufs: vec![0; batch * recv_size],
            headers: (batch > 1).then(|| MultiHeaders::preallocate(batch, None)),
            got: Vec::with_capacity(batch),
        }
    }

    /// The socket.
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Waits up to `timeout_ms` for the socket (or `also`: the proc connector's, the keeper's wake-up) to
    /// have something (a datagram or an error).
    pub(crate) fn wait(
        &self,
        also: Option<BorrowedFd<'_>>,
        timeout_ms: u16,
    ) -> Result<bool, Errno> {
        let mut fds = [
            PollFd::new(self.fd.as_fd(), PollFlags::POLLIN),
            PollFd::new(also.unwrap_or(self.fd.as_fd()), PollFlags::POLLIN),
        ];
        let n = if also.is_some() { 2 } else { 1 };
        match poll(&mut fds[..n], PollTimeout::from(timeout_ms)) {
            Ok(n) => Ok(n > 0),
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Receives what the socket holds now, up to a batch, without waiting: the number of datagrams
    /// (read them with [`Receiver::datagram`]); `EAGAIN` when there is none.
    pub(crate) fn recv(&mut self) -> Result<usize, Errno> {
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC;
        let fd = self.fd.as_raw_fd();
        let Self {
            recv_size,
            bufs,
            headers,
            got,
            netlink,
            ..
        } = self;
        let netlink = *netlink;
        got.clear();
        match headers {
            Some(headers) => {
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
                    .chunks_exact_mut(*recv_size)
                    .map(|c| [IoSliceMut::new(c)])
                    .collect();
                let results = recvmmsg(fd, headers, iovs.iter_mut(), flags, None)?;
                for m in results {
                    got.push(Meta {
                        len: m.bytes,
                        cut: m.flags.contains(MsgFlags::MSG_TRUNC),
                        sender: sender_of(netlink, m.address),
                    });
                }
            }
            None => {
                let mut iov = [IoSliceMut::new(bufs.as_mut_slice())];
                let m = recvmsg::<SockaddrStorage>(fd, &mut iov, None, flags)?;
                got.push(Meta {
                    len: m.bytes,
                    cut: m.flags.contains(MsgFlags::MSG_TRUNC),
                    sender: sender_of(netlink, m.address),
                });
            }
        }
        Ok(got.len())
    }

    /// Datagram `i` of the last [`Receiver::recv`]: what its buffer holds, and the kernel's word on it.
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], Meta)> {
        let meta = *self.got.get(i)?;
        let start = i.checked_mul(self.recv_size)?;
        let data = self.bufs.get(start..start + meta.len.min(self.recv_size))?;
        Some((data, meta))
    }
}
