//! The reader on the real kernel, read-only: a NETLINK_AUDIT socket joins the multicast group
//! AUDIT_NLGRP_READLOG (a copy of every record; needs CAP_AUDIT_READ, changes no audit state: no daemon
//! registration, no rule, no `enabled`), reads for 2 s and prints what it saw. With audit disabled it may
//! see nothing. Run: `cargo test -p auditsql-core --test netlink_kernel -- --ignored --nocapture`.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use auditsql_core::netlink::{Reader, ReaderSettings};
use nix::sys::socket::{
    bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// The audit multicast group (`AUDIT_NLGRP_READLOG`); `nl_groups` is a bit mask, group 1 is bit 0.
const AUDIT_NLGRP_READLOG: u32 = 1;

#[test]
#[ignore = "reads the real kernel's audit multicast group (root)"]
fn multicast_readlog_for_two_seconds() {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkAudit,
    )
    .expect("a NETLINK_AUDIT socket");
    bind(
        fd.as_raw_fd(),
        &NetlinkAddr::new(0, 1 << (AUDIT_NLGRP_READLOG - 1)),
    )
    .expect("joining AUDIT_NLGRP_READLOG (needs CAP_AUDIT_READ)");
    let reader = Reader::start(fd, ReaderSettings::default()).expect("the reader thread");
    let end = Instant::now() + Duration::from_secs(2);
    let mut frames = 0usize;
    let mut shown = 0usize;
    while Instant::now() < end {
        let buf = reader.take(Duration::from_millis(200), 4096, usize::MAX);
        for (msg_type, payload, trunc) in &buf {
            frames += 1;
            if shown < 5 {
                shown += 1;
                let head = &payload[..payload.len().min(100)];
                println!(
                    "type {msg_type} trunc {trunc}: {}",
                    String::from_utf8_lossy(head)
                );
            }
        }
        reader.recycle(buf);
    }
    reader.stop();
    frames += reader.take(Duration::ZERO, usize::MAX, usize::MAX).len();
    let c = reader.counters();
    println!("taken {frames}; counters {c:?}; error {:?}", reader.error());
    assert_eq!(reader.error(), None);
    assert_eq!(c.foreign, 0);
    assert_eq!(c.errors, 0);
    assert_eq!(frames as u64, c.messages);
}
