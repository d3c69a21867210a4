//! The socket keeper's drain: while no agent reads the registered audit socket (the agent was killed), the
//! keeper appends what the kernel sends to the agent's journal, so nothing waits in the socket buffer and the
//! next agent replays it as it replays its own frames (`auditsql.kernel.keeper`, docs/reliability.md).
//!
//! One thread, no buffer beyond one hand-over: receive what the socket holds (the reader's
//! [`Receiver`](super::recv)), classify it as the reader does, append the records to the journal with one
//! `write(2)` per wake-up, and look at the wake descriptor (a new agent connecting) between wake-ups. Past
//! `cap_bytes` journaled it stops reading: the kernel's backlog fills and the kernel counts what it drops.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::frames::push_frame;
use super::journal::{Writer, SEGMENT_BYTES};
use super::reader::{HAND_OVER_BYTES, POLL_MS};
use super::recv::{classify, Datagram, Receiver};
use super::RECV_SIZE;

/// Datagrams per receive call.
const BATCH: usize = 64;

/// Why [`drain`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainEnd {
    /// The wake descriptor became readable (a new agent connects, or the keeper is told to stop).
    Woken,
    /// `cap_bytes` were journaled: the socket is no longer read.
    Cap,
    /// The deadline passed.
    Deadline,
}

impl DrainEnd {
    /// `"woken"`, `"cap"` or `"deadline"`.
    pub fn name(self) -> &'static str {
        match self {
            DrainEnd::Woken => "woken",
            DrainEnd::Cap => "cap",
            DrainEnd::Deadline => "deadline",
        }
    }
}

/// What [`drain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Records journaled.
    pub frames: u64,
    /// Bytes journaled (frame headers included).
    pub bytes: u64,
    /// The journal position after the last frame.
    pub end: u64,
    /// Receive calls that failed with `ENOBUFS` (the socket buffer overflowed: the kernel dropped records).
    pub enobufs: u64,
    /// Datagrams that were no record (control messages, `AUDIT_REPLACE` pings) or from another sender.
    pub ignored: u64,
    /// Journal writes that failed.
    pub journal_errors: u64,
}

/// Drains `sock` into the journal `dir` from position `start` until `wake` is readable, `cap_bytes` are
/// journaled, or `deadline`. `sock` is a duplicate of the registered audit socket.
pub fn drain(
    sock: OwnedFd,
    wake: BorrowedFd<'_>,
    dir: &Path,
    start: u64,
    cap_bytes: u64,
    deadline: Option<Instant>,
) -> Result<(DrainEnd, DrainReport), Errno> {
    let mut rx = Receiver::new(sock, BATCH, RECV_SIZE);
    let mut writer = Writer::new(dir, start, SEGMENT_BYTES);
    let mut report = DrainReport {
        end: start,
        ..DrainReport::default()
    };
    let mut buf: Vec<u8> = Vec::new();
    let end = loop {
        if report.bytes >= cap_bytes {
            break DrainEnd::Cap;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break DrainEnd::Deadline;
        }
        match rx.recv() {
            Ok(n) => {
                for i in 0..n {
                    let Some((data, meta)) = rx.datagram(i) else {
                        break;
                    };
                    match classify(data, meta.len, meta.cut, meta.sender) {
                        Datagram::Record {
                            msg_type,
                            payload,
                            trunc,
                        } => {
                            push_frame(&mut buf, msg_type, trunc, payload);
                            report.frames += 1;
                        }
                        _ => report.ignored += 1,
                    }
                }
                if buf.len() >= HAND_OVER_BYTES {
                    write(&mut writer, &mut buf, &mut report);
                }
            }
            Err(Errno::EAGAIN) => {
                write(&mut writer, &mut buf, &mut report);
                if woken(wake, Duration::ZERO)? {
                    break DrainEnd::Woken;
                }
                // as the reader does: one write per wake-up, then wait (the deadline looked at each time)
                rx.wait(Some(wake), POLL_MS)?;
            }
            Err(Errno::EINTR) => {}
            Err(Errno::ENOBUFS) => report.enobufs += 1,
            Err(e) => {
                write(&mut writer, &mut buf, &mut report);
                return Err(e);
            }
        }
    };
    write(&mut writer, &mut buf, &mut report);
    Ok((end, report))
}

fn write(writer: &mut Writer, buf: &mut Vec<u8>, report: &mut DrainReport) {
    if buf.is_empty() {
        return;
    }
    if writer.append(buf).is_err() {
        report.journal_errors += 1;
    } else {
        report.bytes += buf.len() as u64;
    }
    report.end = writer.position();
    buf.clear();
}

fn woken(wake: BorrowedFd<'_>, wait: Duration) -> Result<bool, Errno> {
    let mut fds = [PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(n) => Ok(n > 0),
        Err(Errno::EINTR) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::journal::Replay;
    use nix::sys::socket::{send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

    fn datagram(msg_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        d.extend_from_slice(&msg_type.to_ne_bytes());
        d.extend_from_slice(&[0u8; 10]);
        d.extend_from_slice(payload);
        d
    }

    /// A fresh journal directory named `name`, the audit socket's pair, and the wake-up pair.
    #[allow(clippy::type_complexity)]
    fn setup(name: &str) -> (std::path::PathBuf, (OwnedFd, OwnedFd), (OwnedFd, OwnedFd)) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pair = |t| socketpair(AddressFamily::Unix, t, None, SockFlag::empty()).unwrap();
        (dir, pair(SockType::Datagram), pair(SockType::Stream))
    }

    #[test]
    fn records_are_journaled_until_woken_and_control_messages_left_out() {
        let (dir, (ours, theirs), (wake_r, wake_w)) = setup("auditsql-keeper");
        for (t, p) in [(1300u16, &b"one"[..]), (2, b"ack"), (1309, b"two")] {
            send(
                std::os::fd::AsRawFd::as_raw_fd(&theirs),
                &datagram(t, p),
                MsgFlags::empty(),
            )
            .unwrap();
        }
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            send(
                std::os::fd::AsRawFd::as_raw_fd(&wake_w),
                b"x",
                MsgFlags::empty(),
            )
            .unwrap();
            wake_w
        });
        let (end, rep) = drain(ours, wake_r.as_fd(), &dir, 100, u64::MAX, None).unwrap();
        drop(waker.join().unwrap());
        assert_eq!(end, DrainEnd::Woken);
        assert_eq!(
            (rep.frames, rep.bytes, rep.ignored, rep.end),
            (2, 26, 1, 126)
        );
        let mut r = Replay::open(&dir, 100, u64::MAX).unwrap();
        let mut got = Vec::new();
        while let Some((pos, t, _, range)) = r.next_frame().unwrap() {
            got.push((pos, t, r.data()[range].to_vec()));
        }
        assert_eq!(
            got,
            vec![(100, 1300, b"one".to_vec()), (113, 1309, b"two".to_vec())]
        );
        drop(theirs);
    }

    #[test]
    fn the_cap_stops_the_reading() {
        let (dir, (ours, theirs), (wake_r, _wake_w)) = setup("auditsql-keeper-cap");
        for _ in 0..5 {
            send(
                std::os::fd::AsRawFd::as_raw_fd(&theirs),
                &datagram(1300, b"abc"),
                MsgFlags::empty(),
            )
            .unwrap();
        }
        let (end, rep) = drain(ours, wake_r.as_fd(), &dir, 0, 13, None).unwrap();
        assert_eq!(end, DrainEnd::Cap);
        assert_eq!(rep.frames, 5); // one receive call's worth, then the cap
        let deadline = Some(Instant::now());
        let (ours2, _t2) = socketpair(
            AddressFamily::Unix,
            SockType::Datagram,
            None,
            SockFlag::empty(),
        )
        .unwrap();
        let (end, rep) = drain(ours2, wake_r.as_fd(), &dir, 65, u64::MAX, deadline).unwrap();
        assert_eq!((end, rep.frames, rep.end), (DrainEnd::Deadline, 0, 65));
    }
}
