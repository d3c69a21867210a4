//! SOCKADDR `saddr=` bytes → a decoded address. (Port of events/sockaddr.py.)
//!
//! The kernel copies the syscall's `struct sockaddr` as the program passed it (`addrlen` bytes), so a buffer
//! can be short, padded, or of a family nobody decodes. The family is in the machine's byte order
//! (big-endian on ppc64/s390x); ports are in network order; netlink pids in the machine's order.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{families, is_big_endian};
use crate::record::encoding::{decode_encoded, escape};

/// The name of address family `family` (`inet`), or its number as text.
pub fn family_name(family: u32) -> Cow<'static, str> {
    match families::family(family) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(family.to_string()),
    }
}

/// Bytes `[at, at + N)` of `data` as an array, if there are that many.
fn take<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(data: &[u8], at: usize, big: bool) -> u32 {
    let b = take::<2>(data, at).unwrap_or_default();
    u32::from(if big {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

fn u32_at(data: &[u8], at: usize, big: bool) -> u32 {
    let b = take::<4>(data, at).unwrap_or_default();
    if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// Python's `str(ipaddress.IPv6Address)` (3.11): lower-case hex groups, the first longest run of two or
/// more zero groups written `::`; no dotted IPv4 form.
pub fn ipv6_text(addr: [u8; 16]) -> String {
    let groups: [u16; 8] =
        std::array::from_fn(|i| u16::from_be_bytes([addr[2 * i], addr[2 * i + 1]]));
    let (mut best_start, mut best_len) = (0usize, 0usize);
    let (mut start, mut len) = (0usize, 0usize);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if len == 0 {
                start = i;
            }
            len += 1;
            if len > best_len {
                (best_start, best_len) = (start, len);
            }
        } else {
            len = 0;
        }
    }
    let hex = |gs: &[u16]| {
        gs.iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len > 1 {
        format!(
            "{}::{}",
            hex(&groups[..best_start]),
            hex(&groups[best_start + best_len..])
        )
    } else {
        hex(&groups)
    }
}

/// Decode a sockaddr buffer; unknown families and short buffers say why. Keys and their order as the
/// Python decoder's.
pub fn decode_sockaddr(data: &[u8], big_endian: bool) -> Map<String, Value> {
    let mut out = Map::new();
    if data.len() < 2 {
        out.insert("family".into(), Value::Null);
        out.insert("error".into(), "buffer too short for a family".into());
        out.insert("len".into(), data.len().into());
        return out;
    }
    let big = big_endian;
    let fam = u16_at(data, 0, big);
    out.insert("family".into(), family_name(fam).into_owned().into());
    let mut put = |k: &str, v: Value| {
        out.insert(k.into(), v);
    };
    match fam {
        1 => {
            // AF_UNIX
            let path = &data[2..];
            match path.first() {
                None => put("path", "".into()), // unnamed socket
                Some(0) => {
                    // abstract: every byte after the leading NUL; trailing NUL padding is not part of it
                    let name = &path[1..];
                    let end = name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    put("path", format!("@{}", escape(&name[..end])).into());
                    put("abstract", true.into());
                }
                Some(_) => {
                    let end = memchr::memchr(0, path).unwrap_or(path.len());
                    put("path", escape(&path[..end]).into());
                }
            }
        }
        2 => match take::<4>(data, 4) {
            // AF_INET
            Some(a) => {
                put("port", u16_at(data, 2, true).into());
                put("addr", std::net::Ipv4Addr::from(a).to_string().into());
            }
            None => put("error", "buffer too short for sockaddr_in".into()),
        },
        10 => match take::<16>(data, 8) {
            // AF_INET6
            Some(a) => {
                put("port", u16_at(data, 2, true).into());
                put("flowinfo", u32_at(data, 4, true).into());
                put("addr", ipv6_text(a).into());
                if data.len() >= 28 {
                    put("scope_id", u32_at(data, 24, big).into());
                }
            }
            None => put("error", "buffer too short for sockaddr_in6".into()),
        },
        16 => {
            // AF_NETLINK
            if data.len() < 12 {
                put("error", "buffer too short for sockaddr_nl".into());
            } else {
                put("pid", u32_at(data, 4, big).into());
                put("groups", u32_at(data, 8, big).into());
            }
        }
        17 => {
            // AF_PACKET
            if data.len() >= 12 {
                put("protocol", u16_at(data, 2, true).into());
                put("ifindex", (u32_at(data, 4, big) as i32).into());
            }
        }
        40 => {
            // AF_VSOCK
            if data.len() >= 12 {
                put("port", u32_at(data, 4, big).into());
                put("cid", u32_at(data, 8, big).into());
            }
        }
        _ => {
            put("error", "family not decoded".into());
            put("family_nr", fam.into());
        }
    }
    out
}

/// A SOCKADDR record's `saddr=` token decoded for the event's arch; None for no token, `(null)`, `?`.
pub fn sockaddr_of(token: Option<&[u8]>, arch: Option<u32>) -> Option<Map<String, Value>> {
    let data = decode_encoded(token?)?;
    Some(decode_sockaddr(&data, is_big_endian(arch)))
}

#[cfg(test)]
mod tests {
    use super::{decode_sockaddr, family_name, ipv6_text, sockaddr_of};
    use serde_json::{json, Value};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// The decoded map as JSON text: key order included.
    fn dec(data: &[u8]) -> String {
        Value::Object(decode_sockaddr(data, false)).to_string()
    }

    fn js(v: Value) -> String {
        v.to_string()
    }

    #[test]
    fn ipv6_text_as_python() {
        // every value checked against Python 3.11's str(ipaddress.IPv6Address(...))
        for (s, want) in [
            ("00000000000000000000ffff01020304", "::ffff:102:304"),
            ("00000000000000000000000001020304", "::102:304"),
            ("00000000000000000000000000000000", "::"),
            ("00000000000000000000000000000001", "::1"),
            ("00010000000000000000000000000000", "1::"),
            ("00010000000000010000000000000001", "1:0:0:1::1"),
            ("00010000000100000001000000010000", "1:0:1:0:1:0:1:0"),
            ("00000000000100000000000100000000", "::1:0:0:1:0:0"),
            ("00010002000300040005000600070000", "1:2:3:4:5:6:7:0"),
            ("00000001000200030004000500060007", "0:1:2:3:4:5:6:7"),
            ("00010000000200030004000500060007", "1:0:2:3:4:5:6:7"),
            ("0000000000000000ffff000001020304", "::ffff:0:102:304"),
            ("0064ff9b000000000000000001020304", "64:ff9b::102:304"),
            ("fe800000000000000000000000000001", "fe80::1"),
            ("0000000000000000000000000000ffff", "::ffff"),
            ("20010db800000000000000000000000a", "2001:db8::a"),
        ] {
            let a: [u8; 16] = hex(s).try_into().unwrap();
            assert_eq!(ipv6_text(a), want, "{s}");
        }
    }

    #[test]
    fn inet() {
        // threathunters-io_laurel/record-connect.txt: saddr=02002BCB7F0000010000000000000000
        assert_eq!(
            dec(&hex("02002BCB7F0000010000000000000000")),
            js(json!({"family": "inet", "port": 11211, "addr": "127.0.0.1"}))
        );
        assert_eq!(
            dec(&hex("02002BCB7F00")),
            js(json!({"family": "inet", "error": "buffer too short for sockaddr_in"}))
        );
    }

    #[test]
    fn inet6() {
        // threathunters-io_laurel/record-connect.txt: ::1 port 11211, no scope bytes beyond 28
        assert_eq!(
            dec(&hex(
                "0A002BCB000000000000000000000000000000000000000100000000"
            )),
            js(
                json!({"family": "inet6", "port": 11211, "flowinfo": 0, "addr": "::1", "scope_id": 0})
            )
        );
        let mut data = hex("0A00001600000007FE800000000000000000000000000001");
        data.extend(2u32.to_le_bytes());
        assert_eq!(
            dec(&data),
            js(
                json!({"family": "inet6", "port": 22, "flowinfo": 7, "addr": "fe80::1", "scope_id": 2})
            )
        );
        // without the scope field (an old 24-byte sockaddr_in6)
        assert_eq!(
            dec(&data[..24]),
            js(json!({"family": "inet6", "port": 22, "flowinfo": 7, "addr": "fe80::1"}))
        );
        assert_eq!(
            dec(&data[..23]),
            js(json!({"family": "inet6", "error": "buffer too short for sockaddr_in6"}))
        );
    }

    #[test]
    fn unix() {
        // threathunters-io_laurel/record-nscd.txt (path, then NUL and stack garbage)
        let saddr = "01002F7661722F72756E2F6E7363642F736F636B65740000603B7B47FC7F0000303C7B47FC7F0000020000000\
                     0000000140000001600010308000000000000000C03B7B47FC7F0000103B7B47FC7F0000200000";
        assert_eq!(
            dec(&hex(&saddr[..saddr.len() / 2 * 2])),
            js(json!({"family": "unix", "path": "/var/run/nscd/socket"}))
        );
        // hillu_linux-audit-parser-rs/line-sockaddr-unix.txt
        let saddr = b"01002F746D702F2E7B46443244443844342D463641412D344437342D413645312D4145464142313833444545427D";
        assert_eq!(
            js(Value::Object(
                sockaddr_of(Some(saddr), Some(0xC000003E)).unwrap()
            )),
            js(json!({"family": "unix", "path": "/tmp/.{FD2DD8D4-F6AA-4D74-A6E1-AEFAB183DEEB}"}))
        );
        assert_eq!(
            dec(b"\x01\x00\x00my-abstract\x00\x00\x00"),
            js(json!({"family": "unix", "path": "@my-abstract", "abstract": true}))
        );
        // bytes that are not text are escaped like every other byte string
        assert_eq!(
            dec(b"\x01\x00\x00a%\xff"),
            js(json!({"family": "unix", "path": "@a%25%ff", "abstract": true}))
        );
        assert_eq!(
            dec(b"\x01\x00\x00\x00\x00"),
            js(json!({"family": "unix", "path": "@", "abstract": true}))
        );
        // hillu_linux-audit-parser-rs/line-sockaddr-unix-2.txt: saddr=0100
        assert_eq!(dec(&hex("0100")), js(json!({"family": "unix", "path": ""})));
    }

    #[test]
    fn netlink_packet_vsock() {
        // threathunters-io_laurel/record-service-start.txt
        assert_eq!(
            dec(&hex("100000000000000000000000")),
            js(json!({"family": "netlink", "pid": 0, "groups": 0}))
        );
        assert_eq!(
            dec(&hex("10000000D204000001000000")),
            js(json!({"family": "netlink", "pid": 1234, "groups": 1}))
        );
        assert_eq!(
            dec(&hex("1000000000000000")),
            js(json!({"family": "netlink", "error": "buffer too short for sockaddr_nl"}))
        );
        assert_eq!(
            dec(&hex("11000008FEFFFFFF00000000")),
            js(json!({"family": "packet", "protocol": 8, "ifindex": -2}))
        );
        assert_eq!(dec(&hex("1100000800")), js(json!({"family": "packet"})));
        assert_eq!(
            dec(&hex("2800000039050000FFFFFFFF")),
            js(json!({"family": "vsock", "port": 1337, "cid": 4294967295u32}))
        );
    }

    #[test]
    fn unknown_and_short() {
        // hillu_linux-audit-parser-rs/line-sockaddr-unknown-1.txt: all zero
        assert_eq!(
            dec(&[0; 16]),
            js(json!({"family": "unspec", "error": "family not decoded", "family_nr": 0}))
        );
        assert_eq!(
            dec(&hex("7777AABB")),
            js(json!({"family": "30583", "error": "family not decoded", "family_nr": 30583}))
        );
        assert_eq!(family_name(30583), "30583");
        assert_eq!(family_name(2), "inet");
        assert_eq!(family_name(1), "unix");
        assert_eq!(family_name(16), "netlink");
        assert_eq!(family_name(12), "decnet");
        assert_eq!(family_name(1 << 20), "1048576");
        assert_eq!(
            dec(b"\x02"),
            js(json!({"family": null, "error": "buffer too short for a family", "len": 1}))
        );
        assert_eq!(
            dec(b""),
            js(json!({"family": null, "error": "buffer too short for a family", "len": 0}))
        );
    }

    #[test]
    fn big_endian_ppc64() {
        // threathunters-io_laurel/record-bind-ipv4-bigendian.txt: arch=80000015, saddr=0002D903...
        let saddr = b"0002D903000000000000000000000000";
        assert_eq!(
            js(Value::Object(
                sockaddr_of(Some(saddr), Some(0x80000015)).unwrap()
            )),
            js(json!({"family": "inet", "port": 55555, "addr": "0.0.0.0"}))
        );
        // read little-endian, the same bytes are family 512
        assert_eq!(
            js(Value::Object(
                sockaddr_of(Some(saddr), Some(0xC000003E)).unwrap()
            )),
            js(json!({"family": "512", "error": "family not decoded", "family_nr": 512}))
        );
        assert_eq!(sockaddr_of(None, None), None);
        assert_eq!(sockaddr_of(Some(b"(null)"), None), None);
    }
}
