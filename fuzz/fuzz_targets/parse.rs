//! Fuzz the record parser: `parse_line` (both modes) and `parse_netlink` must not panic on any bytes, and
//! the records of a line must cover it (in order, separated by spaces and tabs only).
#![no_main]

use auditsql_core::record::parse::{parse_line, parse_nested, parse_netlink};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = data.strip_suffix(b"\n").unwrap_or(data);
    let line = if data.ends_with(b"\n") {
        line.strip_suffix(b"\r").unwrap_or(line)
    } else {
        line
    };
    for detect in [true, false] {
        let mut pos = 0;
        for (i, r) in parse_line(data, detect).iter().enumerate() {
            if i > 0 {
                let sep = line[pos..]
                    .iter()
                    .take_while(|&&c| c == b' ' || c == b'\t')
                    .count();
                assert!(sep > 0);
                pos += sep;
            }
            assert!(line[pos..].starts_with(&r.text));
            pos += r.text.len();
            assert!(r.body_start <= r.text.len());
        }
    }
    // the first two bytes choose the netlink type, the rest is the payload
    let (msg_type, payload) = match data {
        [a, b, rest @ ..] => (1000 + u32::from(u16::from_le_bytes([*a, *b])) % 2000, rest),
        _ => (1300, data),
    };
    let r = parse_netlink(msg_type, payload);
    assert_eq!(r.rtype, msg_type);
    let _ = parse_nested(data);
});
