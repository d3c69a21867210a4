//! The reader without the kernel: hand-built netlink datagrams on an AF_UNIX datagram pair (fault
//! injection), and a NETLINK_USERSOCK pair for the foreign sender.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    bind, getsockname, send, sendto, socket, socketpair, AddressFamily, MsgFlags, NetlinkAddr,
    SockFlag, SockProtocol, SockType,
};

use super::*;

const SEC: Duration = Duration::from_secs(1);

/// A netlink message: the 16-byte header (`nlmsg_len` as given) and the payload.
fn nlmsg_len(msg_type: u16, nlmsg_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&nlmsg_len.to_ne_bytes());
    m.extend_from_slice(&msg_type.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&7u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.extend_from_slice(payload);
    m
}

/// A netlink message whose `nlmsg_len` counts the header (multicast's way).
fn nlmsg(msg_type: u16, payload: &[u8]) -> Vec<u8> {
    nlmsg_len(msg_type, (16 + payload.len()) as u32, payload)
}

/// (the reader's end, the sender's end)
fn pair() -> (OwnedFd, OwnedFd) {
    socketpair(
        AddressFamily::Unix,
        SockType::Datagram,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair")
}

fn put(fd: &OwnedFd, datagram: &[u8]) {
    let n = send(fd.as_raw_fd(), datagram, MsgFlags::empty()).expect("send");
    assert_eq!(n, datagram.len());
}

fn settings(policy: Policy, buffer_bytes: usize, batch: usize, recv_size: usize) -> ReaderSettings {
    ReaderSettings {
        policy,
        buffer_bytes,
        buffer_frames: usize::MAX,
        batch,
        recv_size,
        ..ReaderSettings::default()
    }
}

/// Waits (up to 5 s) until `done` holds for the reader's counters.
fn wait_for(reader: &Reader, done: impl Fn(&CounterSnapshot) -> bool) -> CounterSnapshot {
    let deadline = Instant::now() + 5 * SEC;
    loop {
        let c = reader.counters();
        if done(&c) {
            return c;
        }
        assert!(Instant::now() < deadline, "timed out: {c:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn frames(buf: &FrameBuf) -> Vec<(u16, Vec<u8>, u32)> {
    buf.iter().map(|(t, p, n)| (t, p.to_vec(), n)).collect()
}

/// A record payload of `n` bytes.
fn body(i: usize, n: usize) -> Vec<u8> {
    let mut b = format!("audit(1700000000.{i:03}:{i}): x=").into_bytes();
    b.resize(n, b'y');
    b
}

// -- classify ---------------------------------------------------------------------------------------------

#[test]
fn classify_follows_the_python_reader() {
    let rec = nlmsg(1300, b"audit(1.002:3): a=b");
    assert_eq!(
        classify(&rec, rec.len(), false, Some(0)),
        Datagram::Record {
            msg_type: 1300,
            payload: b"audit(1.002:3): a=b",
            trunc: 0
        }
    );
    // the first record type is kept; control messages, NLMSG_ERROR, NLMSG_DONE and AUDIT_REPLACE are not
    let first = nlmsg(1100, b"x");
    assert!(matches!(
        classify(&first, first.len(), false, None),
        Datagram::Record { msg_type: 1100, .. }
    ));
    for t in [2u16, 3, 1000, 1001, 1099, AUDIT_REPLACE] {
        let m = nlmsg(t, b"\x01\x02\x03\x04");
        assert_eq!(
            classify(&m, m.len(), false, Some(0)),
            Datagram::Ignored,
            "type {t}"
        );
    }
    // a sender other than the kernel, before anything else (even a short datagram)
    assert_eq!(
        classify(&rec, rec.len(), false, Some(4242)),
        Datagram::Foreign
    );
    assert_eq!(classify(b"abc", 3, false, Some(9)), Datagram::Foreign);
    // shorter than the header
    assert_eq!(classify(b"", 0, false, None), Datagram::Short);
    assert_eq!(classify(&rec[..15], 15, false, Some(0)), Datagram::Short);
    // the header alone: an empty payload
    let bare = nlmsg(1305, b"");
    assert!(matches!(
        classify(&bare, 16, false, None),
        Datagram::Record { payload: b"", .. }
    ));
    // cut: the buffer holds less than the datagram's length; trunc is the real length
    assert_eq!(
        classify(&rec[..20], rec.len(), true, None),
        Datagram::Record {
            msg_type: 1300,
            payload: b"audi",
            trunc: rec.len() as u32
        }
    );
    // nlmsg_len is never read: the unicast socket's header-less length, or nonsense, changes nothing
    for len in [0u32, 3, 19, 0xffff_ffff] {
        let m = nlmsg_len(1300, len, b"audit(1.002:3): a=b");
        assert!(matches!(
            classify(&m, m.len(), false, None),
            Datagram::Record {
                payload: b"audit(1.002:3): a=b",
                trunc: 0,
                ..
            }
        ));
    }
}

// -- the reader on a socket pair ------------------------------------------------------------------------

#[test]
fn records_controls_short_and_truncated_datagrams() {
    for batch in [1, 4, 32] {
        let (rd, wr) = pair();
        let big = nlmsg(1309, &body(9, 300)); // 316 bytes on the wire, the receive buffer holds 256
        let datagrams = [
            nlmsg(1300, &body(1, 40)),
            nlmsg(1000, b"status"),   // AUDIT_GET: a control message
            nlmsg(1309, &body(2, 7)), // EXECVE
            nlmsg(AUDIT_REPLACE, b"\x01\0\0\0"), // the daemon ping
            nlmsg(2, &[0u8; 20]),     // NLMSG_ERROR (an ack)
            b"short".to_vec(),        // < 16 bytes
            Vec::new(),               // empty
            nlmsg(1320, b""),         // EOE: header only, kept with an empty payload
            big.clone(),
            nlmsg_len(1307, 5, b"audit(1.002:3): cwd=\"/\""), // unicast's nlmsg_len
        ];
        for d in &datagrams {
            put(&wr, d);
        }
        let reader = Reader::start(rd, settings(Policy::Block, 1 << 20, batch, 256)).unwrap();
        let c = wait_for(&reader, |c| c.messages + c.ignored + c.errors == 10);
        let expect_bytes: usize = [0usize, 2, 7, 8, 9]
            .iter()
            .map(|&i| datagrams[i].len())
            .sum();
        assert_eq!(
            c,
            CounterSnapshot {
                messages: 5,
                bytes: expect_bytes as u64,
                truncated: 1,
                enobufs: 0,
                queue_drops: 0,
                queue_full: 0,
                ignored: 3,
                foreign: 0,
                errors: 2,
                journal_bytes: 0,
                journal_errors: 0,
                proc_notices: 0,
                proc_enobufs: 0,
            },
            "batch {batch}"
        );
        assert_eq!(reader.pending(), 5);
        let got = reader.take(SEC, 100, usize::MAX);
        assert_eq!(
            frames(&got),
            vec![
                (1300, body(1, 40), 0),
                (1309, body(2, 7), 0),
                (1320, Vec::new(), 0),
                (1309, big[16..256].to_vec(), 316),
                (1307, b"audit(1.002:3): cwd=\"/\"".to_vec(), 0),
            ]
        );
        assert_eq!(got.len(), 5);
        assert_eq!(got.bytes(), 5 * 10 + 40 + 7 + 240 + 23);
        assert_eq!(reader.pending(), 0);
        assert!(!reader.finished());
        reader.stop();
        assert!(reader.finished());
        assert_eq!(reader.error(), None);
        assert!(reader.take(SEC, 100, usize::MAX).is_empty());
    }
}

#[test]
fn block_policy_stops_at_buffer_bytes_and_resumes_after_take() {
    // frames of 10 + 30 bytes; the buffer is full at 100 bytes: three frames (120) fill it
    let (rd, wr) = pair();
    for i in 0..10 {
        put(&wr, &nlmsg(1300, &body(i, 30)));
    }
    let reader = Reader::start(rd, settings(Policy::Block, 100, 1, 256)).unwrap();
    for round in 1..=3u64 {
        let c = wait_for(&reader, |c| c.queue_full == round);
        // waiting, not reading: the rest stays in the socket
        std::thread::sleep(Duration::from_millis(50));
        let c2 = reader.counters();
        assert_eq!(c, c2);
        assert_eq!(c.messages, 3 * round);
        assert_eq!(c.queue_drops, 0);
        assert_eq!(reader.pending(), 3);
        assert_eq!(reader.held_bytes(), 120);
        let got = reader.take(SEC, 1000, usize::MAX);
        let first = 3 * (round as usize - 1);
        let want: Vec<_> = (first..first + 3).map(|i| (1300, body(i, 30), 0)).collect();
        assert_eq!(frames(&got), want);
    }
    let c = wait_for(&reader, |c| c.messages == 10);
    assert_eq!(c.queue_full, 3);
    assert_eq!(reader.pending(), 1);
    assert_eq!(
        frames(&reader.take(SEC, 1000, usize::MAX)),
        vec![(1300, body(9, 30), 0)]
    );
    reader.stop();
    assert_eq!(reader.counters().queue_full, 3);
    assert_eq!(reader.counters().queue_drops, 0);
}

#[test]
fn block_policy_keeps_the_whole_batch_it_received() {
    // recvmmsg took 4 datagrams before the limit was seen: all 4 are kept, then the reader waits
    let (rd, wr) = pair();
    for i in 0..10 {
        put(&wr, &nlmsg(1300, &body(i, 30)));
    }
    let reader = Reader::start(rd, settings(Policy::Block, 100, 4, 256)).unwrap();
    let c = wait_for(&reader, |c| c.queue_full == 1);
    assert_eq!(c.messages, 4);
    assert_eq!(reader.pending(), 4);
    reader.take(SEC, 1000, usize::MAX);
    let c = wait_for(&reader, |c| c.queue_full == 2);
    assert_eq!(c.messages, 8);
    reader.take(SEC, 1000, usize::MAX);
    let c = wait_for(&reader, |c| c.messages == 10);
    assert_eq!(c.queue_full, 2);
    assert_eq!(reader.pending(), 2);
}

#[test]
fn drop_policy_counts_what_does_not_fit() {
    let (rd, wr) = pair();
    for i in 0..10 {
        put(&wr, &nlmsg(1300, &body(i, 30)));
    }
    put(&wr, &nlmsg(1000, b"control"));
    let reader = Reader::start(rd, settings(Policy::Drop, 100, 8, 256)).unwrap();
    let c = wait_for(&reader, |c| c.messages == 10 && c.ignored == 1);
    assert_eq!(c.queue_drops, 7);
    assert_eq!(c.queue_full, 7);
    assert_eq!(c.bytes, 10 * 46);
    assert_eq!(reader.pending(), 3);
    let got = reader.take(SEC, 1000, usize::MAX);
    assert_eq!(
        frames(&got),
        (0..3).map(|i| (1300, body(i, 30), 0)).collect::<Vec<_>>()
    );
    // room again
    put(&wr, &nlmsg(1300, &body(10, 30)));
    put(&wr, &nlmsg(1300, &body(11, 30)));
    let c = wait_for(&reader, |c| c.messages == 12);
    assert_eq!(c.queue_drops, 7);
    assert_eq!(
        frames(&reader.take(SEC, 1000, usize::MAX)),
        vec![(1300, body(10, 30), 0), (1300, body(11, 30), 0)]
    );
}

#[test]
fn buffer_frames_limits_both_policies() {
    for policy in [Policy::Drop, Policy::Block] {
        let (rd, wr) = pair();
        for i in 0..5 {
            put(&wr, &nlmsg(1300, &body(i, 30)));
        }
        let s = ReaderSettings {
            buffer_frames: 2,
            ..settings(policy, 1 << 20, 1, 256)
        };
        let reader = Reader::start(rd, s).unwrap();
        let c = match policy {
            Policy::Drop => wait_for(&reader, |c| c.messages == 5),
            Policy::Block => wait_for(&reader, |c| c.queue_full == 1),
        };
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(reader.counters(), c);
        assert_eq!(reader.pending(), 2);
        let (drops, messages) = match policy {
            Policy::Drop => (3, 5),
            Policy::Block => (0, 2),
        };
        assert_eq!(
            (c.queue_drops, c.queue_full, c.messages),
            (drops, drops.max(1), messages)
        );
        assert_eq!(
            frames(&reader.take(SEC, 100, usize::MAX)),
            (0..2).map(|i| (1300, body(i, 30), 0)).collect::<Vec<_>>()
        );
    }
}

#[test]
fn stop_keeps_what_was_read() {
    let (rd, wr) = pair();
    for i in 0..5 {
        put(&wr, &nlmsg(1300, &body(i, 50)));
    }
    let reader = Reader::start(rd, ReaderSettings::default()).unwrap();
    wait_for(&reader, |c| c.messages == 5);
    reader.stop();
    reader.stop(); // idempotent
    assert!(reader.finished());
    assert_eq!(reader.error(), None);
    assert_eq!(reader.pending(), 5);
    // after the stop, take does not wait
    let t = Instant::now();
    let got = reader.take(10 * SEC, 2, usize::MAX);
    assert_eq!(
        frames(&got),
        (0..2).map(|i| (1300, body(i, 50), 0)).collect::<Vec<_>>()
    );
    let got = reader.take(10 * SEC, 100, usize::MAX);
    assert_eq!(
        frames(&got),
        (2..5).map(|i| (1300, body(i, 50), 0)).collect::<Vec<_>>()
    );
    assert!(reader.take(10 * SEC, 100, usize::MAX).is_empty());
    assert!(t.elapsed() < SEC);
    // the socket is closed: the sender sees no peer
    assert!(send(wr.as_raw_fd(), b"x", MsgFlags::MSG_DONTWAIT).is_err());
}

#[test]
fn stop_drains_the_socket_past_the_limit() {
    // blocked with 7 records still in the socket: stop hands them over (the Python reader's flush)
    let (rd, wr) = pair();
    for i in 0..10 {
        put(&wr, &nlmsg(1300, &body(i, 30)));
    }
    let reader = Reader::start(rd, settings(Policy::Block, 100, 1, 256)).unwrap();
    wait_for(&reader, |c| c.queue_full == 1);
    assert_eq!(reader.pending(), 3);
    let t = Instant::now();
    reader.stop();
    assert!(t.elapsed() < SEC);
    assert_eq!(reader.counters().messages, 10);
    let got = reader.take(SEC, 1000, usize::MAX);
    assert_eq!(
        frames(&got),
        (0..10).map(|i| (1300, body(i, 30), 0)).collect::<Vec<_>>()
    );
}

#[test]
fn stop_is_noticed_while_waiting() {
    let (rd, _wr) = pair();
    let reader = Reader::start(rd, ReaderSettings::default()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    reader.stop();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(reader.finished());
}

#[test]
fn take_waits_for_the_first_frame() {
    let (rd, wr) = pair();
    let reader = Reader::start(rd, ReaderSettings::default()).unwrap();
    // nothing: empty after the timeout
    let t = Instant::now();
    assert!(reader
        .take(Duration::from_millis(150), 10, usize::MAX)
        .is_empty());
    assert!(t.elapsed() >= Duration::from_millis(150));
    // zero timeout: no wait at all
    assert!(reader.take(Duration::ZERO, 10, usize::MAX).is_empty());
    // a frame arriving while take waits wakes it
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        put(&wr, &nlmsg(1300, b"late"));
        wr
    });
    let t = Instant::now();
    let got = reader.take(10 * SEC, 10, usize::MAX);
    assert!(t.elapsed() < 5 * SEC);
    assert_eq!(frames(&got), vec![(1300, b"late".to_vec(), 0)]);
    drop(sender.join());
}

#[test]
fn take_limits_split_the_buffer() {
    let (rd, wr) = pair();
    for i in 0..6 {
        put(&wr, &nlmsg(1300, &body(i, 40)));
    }
    let reader = Reader::start(rd, ReaderSettings::default()).unwrap();
    wait_for(&reader, |c| c.messages == 6);
    // 50 bytes a frame: 120 bytes hold two
    assert_eq!(
        frames(&reader.take(SEC, 100, 120)),
        (0..2).map(|i| (1300, body(i, 40), 0)).collect::<Vec<_>>()
    );
    // a frame is taken whatever the byte limit
    assert_eq!(
        frames(&reader.take(SEC, 100, 1)),
        vec![(1300, body(2, 40), 0)]
    );
    // max_frames 0 takes one
    assert_eq!(
        frames(&reader.take(SEC, 0, usize::MAX)),
        vec![(1300, body(3, 40), 0)]
    );
    assert_eq!(reader.pending(), 2);
    assert_eq!(reader.held_bytes(), 100);
    assert_eq!(
        frames(&reader.take(SEC, 5, 100)),
        (4..6).map(|i| (1300, body(i, 40), 0)).collect::<Vec<_>>()
    );
    assert_eq!(reader.held_bytes(), 0);
}

#[test]
fn many_chunks_in_order_and_recycled() {
    // 60 frames of 60,000 bytes (3.6 MB: several chunks), sent while the reader reads
    let (rd, wr) = pair();
    let reader = Reader::start(rd, ReaderSettings::default()).unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..60 {
            put(&wr, &nlmsg(1309, &body(i, 60_000)));
        }
        wr
    });
    let c = wait_for(&reader, |c| c.messages == 60);
    assert_eq!(c.bytes, 60 * 60_016);
    assert_eq!(c.truncated, 0);
    assert_eq!(reader.pending(), 60);
    let mut seen = 0;
    while seen < 60 {
        let got = reader.take(SEC, 7, 1 << 20);
        assert!(!got.is_empty() && got.len() <= 7);
        for (t, p, trunc) in &got {
            assert_eq!((t, p, trunc), (1309, &body(seen, 60_000)[..], 0));
            seen += 1;
        }
        reader.recycle(got);
    }
    assert_eq!(reader.pending(), 0);
    drop(sender.join());
}

#[test]
fn a_socket_error_ends_the_reader_with_an_error() {
    // not a socket: poll says readable, recvmsg fails with ENOTSOCK
    let (r, w) = nix::unistd::pipe().unwrap();
    nix::unistd::write(&w, b"x").unwrap();
    let reader = Reader::start(r, ReaderSettings::default()).unwrap();
    let deadline = Instant::now() + 5 * SEC;
    while !reader.finished() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let e = reader.error().expect("an error");
    assert_eq!(e.op, "recvmsg");
    assert_eq!(e.errno, nix::errno::Errno::ENOTSOCK);
    assert!(reader.take(SEC, 10, usize::MAX).is_empty());
    reader.stop();
    assert_eq!(reader.error(), Some(e));
    assert_eq!(
        e.to_string(),
        "netlink reader: recvmsg failed: Socket operation on non-socket (ENOTSOCK)"
    );
}

#[test]
fn frame_buf_push_and_iter() {
    let mut b = FrameBuf::new();
    assert!(b.is_empty());
    b.push(1300, b"abc", 0);
    b.push(1320, b"", 70000);
    assert_eq!(b.len(), 2);
    assert_eq!(b.bytes(), 23);
    assert_eq!(
        frames(&b),
        vec![(1300, b"abc".to_vec(), 0), (1320, Vec::new(), 70000)]
    );
}

// -- a netlink sender that is not the kernel -------------------------------------------------------------

fn usersock() -> Option<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkUserSock,
    )
    .ok()?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).ok()?;
    Some(fd)
}

#[test]
fn foreign_netlink_sender() {
    // NETLINK_USERSOCK lets one process's sockets talk (no privilege, no audit state): the receiver sees
    // the sender's port id, not 0
    let (Some(rd), Some(wr)) = (usersock(), usersock()) else {
        eprintln!("NETLINK_USERSOCK unavailable: skipped");
        return;
    };
    let to: NetlinkAddr = getsockname(rd.as_raw_fd()).unwrap();
    assert_ne!(to.pid(), 0);
    let reader = Reader::start(rd, settings(Policy::Block, 1 << 20, 8, RECV_SIZE)).unwrap();
    for i in 0..3 {
        sendto(
            wr.as_raw_fd(),
            &nlmsg(1300, &body(i, 30)),
            &to,
            MsgFlags::empty(),
        )
        .unwrap();
    }
    let c = wait_for(&reader, |c| c.foreign == 3);
    assert_eq!(c.messages, 0);
    assert_eq!(reader.pending(), 0);
}

/// CPU ticks (user + system) of this process so far.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

#[test]
#[ignore = "a measurement: cargo test --release -p auditsql-core measure_batch -- --ignored --nocapture"]
fn measure_batch() {
    // the socket is filled first (a forced 1 GiB send buffer, as root), then drained: only the reading costs
    use nix::sys::socket::{setsockopt, sockopt::SndBufForce};
    const N: usize = 100_000;
    for batch in [1usize, 8, 32, 64, 1, 8, 32, 64] {
        let (rd, wr) = pair();
        if setsockopt(&wr, SndBufForce, &(1 << 30)).is_err() {
            eprintln!("SO_SNDBUFFORCE needs root: skipped");
            return;
        }
        let payload = nlmsg(1300, &body(0, 300));
        for _ in 0..N {
            put(&wr, &payload);
        }
        let cpu = cpu_ticks();
        let t = Instant::now();
        let reader =
            Reader::start(rd, settings(Policy::Block, 512 << 20, batch, RECV_SIZE)).unwrap();
        wait_for(&reader, |c| c.messages == N as u64);
        let elapsed = t.elapsed();
        let ticks = cpu_ticks() - cpu;
        println!("batch {batch:3}: {N} datagrams in {elapsed:?}, {ticks} CPU ticks (reader + polling test thread)");
    }
}

#[test]
fn gather_waits_for_the_batch_then_takes_it_whole() {
    let (rd, wr) = pair();
    let reader = Reader::start(rd, settings(Policy::Block, 1 << 20, 32, 256)).unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..6 {
            put(&wr, &nlmsg(1300, &body(i, 20)));
            std::thread::sleep(Duration::from_millis(5));
        }
        wr
    });
    // the linger outlasts the sender: the six frames come in one take, the first waited for
    let got = reader.gather(SEC, Duration::from_millis(400), 6, usize::MAX);
    assert_eq!(
        frames(&got),
        (0..6).map(|i| (1300, body(i, 20), 0)).collect::<Vec<_>>()
    );
    let _wr = sender.join().unwrap();
    // nothing held: the first wait times out and the linger is not entered
    let t = Instant::now();
    assert!(reader
        .gather(
            Duration::from_millis(20),
            Duration::from_secs(5),
            6,
            usize::MAX
        )
        .is_empty());
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn gather_ends_its_linger_at_the_deadline_with_what_it_has() {
    let (rd, wr) = pair();
    let reader = Reader::start(rd, settings(Policy::Block, 1 << 20, 32, 256)).unwrap();
    put(&wr, &nlmsg(1300, &body(1, 20)));
    let t = Instant::now();
    let got = reader.gather(SEC, Duration::from_millis(50), 100, usize::MAX);
    assert_eq!(frames(&got), vec![(1300, body(1, 20), 0)]);
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(t.elapsed() < SEC);
}

#[test]
fn a_full_buffer_ends_the_linger_of_a_consumer_that_wants_more() {
    let (rd, wr) = pair();
    for i in 0..5 {
        put(&wr, &nlmsg(1300, &body(i, 20)));
    }
    let s = ReaderSettings {
        buffer_frames: 3,
        ..settings(Policy::Block, 1 << 20, 1, 256)
    };
    let reader = Reader::start(rd, s).unwrap();
    let t = Instant::now();
    let got = reader.gather(SEC, Duration::from_secs(30), 100, usize::MAX);
    assert_eq!(got.len(), 3);
    assert!(t.elapsed() < Duration::from_secs(5));
    let rest = reader.gather(SEC, Duration::from_millis(20), 100, usize::MAX);
    assert_eq!(rest.len(), 2);
}

static IDLE_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_idle() {
    IDLE_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[test]
fn the_end_of_a_burst_is_told_once_not_every_idle_moment() {
    let (rd, wr) = pair();
    let s = ReaderSettings {
        on_idle: Some(count_idle),
        ..settings(Policy::Block, 64 << 20, 32, 256)
    };
    let reader = Reader::start(rd, s).unwrap();
    let total = super::reader::IDLE_AFTER_FRAMES as usize + 10;
    let sender = std::thread::spawn(move || {
        let msg = nlmsg(1300, &body(1, 20));
        for _ in 0..total {
            loop {
                match send(wr.as_raw_fd(), &msg, MsgFlags::empty()) {
                    Ok(_) => break,
                    Err(nix::errno::Errno::ENOBUFS | nix::errno::Errno::EAGAIN) => {
                        std::thread::sleep(Duration::from_micros(50))
                    }
                    Err(e) => panic!("send: {e}"),
                }
            }
        }
        wr
    });
    let mut got = 0;
    while got < total {
        got += reader.take(SEC, 100_000, usize::MAX).len();
    }
    let _wr = sender.join().unwrap();
    // idle now: told once, and not again while nothing comes
    let deadline = Instant::now() + Duration::from_secs(5);
    while IDLE_CALLS.load(std::sync::atomic::Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(IDLE_CALLS.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_journaled_reader_writes_every_frame_before_handing_it_over() {
    use super::journal::{Replay, Writer};
    let dir = std::env::temp_dir().join(format!("auditsql-reader-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (rd, wr) = pair();
    let early: Vec<(u16, &[u8], u32)> = vec![(1300, b"early one", 0), (1320, b"early two", 0)];
    let journal = Writer::new(&dir, 1000, 1 << 20);
    let reader = Reader::start_journaled(
        rd,
        settings(Policy::Block, 1 << 20, 4, 256),
        Some(journal),
        &early,
    )
    .unwrap();
    for i in 0..6 {
        put(&wr, &nlmsg(1300, &body(i, 20)));
    }
    put(&wr, &nlmsg(1000, b"a control message: not journaled"));
    let c = wait_for(&reader, |c| c.messages == 8);
    let got = reader.take(SEC, 100, usize::MAX);
    assert_eq!(got.len(), 8);
    let taken: Vec<(u64, u64, u16, Vec<u8>)> = got
        .iter_at()
        .map(|(pos, end, t, p, _)| (pos, end, t, p.to_vec()))
        .collect();
    assert_eq!(taken[0], (1000, 1019, 1300, b"early one".to_vec()));
    assert_eq!(taken[1], (1019, 1038, 1320, b"early two".to_vec()));
    assert_eq!(c.journal_bytes, taken[7].1 - 1000);
    assert_eq!(c.journal_errors, 0);
    let mut r = Replay::open(&dir, 0, u64::MAX).unwrap();
    let mut replayed = Vec::new();
    while let Some((pos, t, _, range)) = r.next_frame().unwrap() {
        let p = r.data()[range].to_vec();
        replayed.push((pos, pos + 10 + p.len() as u64, t, p));
    }
    assert_eq!(replayed, taken);
    // a frame taken in two parts keeps its positions
    for i in 6..9 {
        put(&wr, &nlmsg(1300, &body(i, 20)));
    }
    wait_for(&reader, |c| c.messages == 11);
    let one = reader.take(SEC, 1, usize::MAX);
    let rest = reader.take(SEC, 10, usize::MAX);
    let first: Vec<u64> = one.iter_at().map(|f| f.0).collect();
    let next: Vec<u64> = rest.iter_at().map(|f| f.0).collect();
    assert_eq!(first, vec![taken[7].1]);
    assert_eq!(next.len(), 2);
    assert_eq!(next[0], one.iter_at().next().unwrap().1);
}

/// A proc connector datagram as the kernel sends it: netlink header, `cn_msg` (zeros here), `proc_event`.
fn cn_proc(what: u32, ns: u64, data: &[u32]) -> Vec<u8> {
    let mut d = nlmsg(3, &[0u8; 20]);
    d.extend_from_slice(&what.to_ne_bytes());
    d.extend_from_slice(&0u32.to_ne_bytes());
    d.extend_from_slice(&ns.to_ne_bytes());
    for v in data {
        d.extend_from_slice(&v.to_ne_bytes());
    }
    d
}

#[test]
fn proc_notices_come_before_the_records_received_with_them() {
    use super::connector::{ProcFrame, PROC_EVENT_EXIT, PROC_EVENT_FORK};
    let (rd, wr) = pair();
    let (prd, pwr) = pair();
    // queued before the audit record is: a fork, a thread, an exec notice (not kept), an exit
    put(&pwr, &cn_proc(PROC_EVENT_FORK, 5, &[10, 10, 11, 11]));
    put(&pwr, &cn_proc(PROC_EVENT_FORK, 6, &[10, 10, 12, 11]));
    put(&pwr, &cn_proc(2, 7, &[11, 11]));
    put(&pwr, &cn_proc(PROC_EVENT_EXIT, 8, &[11, 11, 3 << 8, 17]));
    put(&wr, &nlmsg(1300, &body(1, 40)));
    let reader = Reader::start_with(
        rd,
        Some(prd),
        settings(Policy::Block, 1 << 20, 8, 4096),
        None,
        &[],
    )
    .unwrap();
    let c = wait_for(&reader, |c| c.messages == 1 && c.proc_notices == 2);
    assert_eq!((c.proc_enobufs, c.foreign, c.errors), (0, 0, 0));
    let got = frames(&reader.take(SEC, 100, usize::MAX));
    let types: Vec<u16> = got.iter().map(|f| f.0).collect();
    assert_eq!(
        types,
        vec![
            super::connector::PROC_FORK_FRAME,
            super::connector::PROC_EXIT_FRAME,
            1300
        ]
    );
    let off = super::connector::clock_offset_ns();
    match ProcFrame::decode(u32::from(got[0].0), &got[0].1) {
        Some(ProcFrame::Fork { parent, child, ns }) => {
            assert_eq!((parent, child), (10, 11));
            // moved to UNIX time by the offset read at the drain (the clock is not set meanwhile)
            assert!((i128::from(ns) - (5 + off)).abs() < 1_000_000_000, "{ns}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ProcFrame::decode(u32::from(got[1].0), &got[1].1),
        Some(ProcFrame::Exit {
            pid: 11,
            status: 0x300,
            ..
        })
    ));
    // notices alone (no audit record) are read too: the reader polls both sockets
    put(&pwr, &cn_proc(PROC_EVENT_FORK, 9, &[11, 11, 13, 13]));
    wait_for(&reader, |c| c.proc_notices == 3);
    assert_eq!(frames(&reader.take(SEC, 100, usize::MAX)).len(), 1);
    drop(wr);
    drop(pwr);
}
