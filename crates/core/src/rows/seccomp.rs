//! `seccomp_events`: one row per `SECCOMP` record. (Port of tables/seccomp.py.)

use serde_json::Value;

use super::common::Common;
use super::value::{as_int, parse_int, py_int, py_str, text, text_cell, text_of, PyInt};
use super::{Cell, Object, Row};
use crate::interpret::{arches, syscalls};

/// `seccomp_events`' columns, in the registry's order.
pub const COLUMNS: &[&str] = &[
    "auid",
    "uid",
    "gid",
    "ses",
    "pid",
    "comm",
    "exe",
    "sig",
    "arch",
    "syscall",
    "compat",
    "ip",
    "code",
    "code_data",
    "time",
    "uptime",
    "eid",
];

/// SECCOMP_RET_* action values (linux/seccomp.h) under SECCOMP_RET_ACTION_FULL.
fn action_name(action: u64) -> Option<&'static str> {
    Some(match action {
        0x8000_0000 => "KILL_PROCESS",
        0x0000_0000 => "KILL_THREAD",
        0x0003_0000 => "TRAP",
        0x0005_0000 => "ERRNO",
        0x7FC0_0000 => "USER_NOTIF",
        0x7FF0_0000 => "TRACE",
        0x7FFC_0000 => "LOG",
        0x7FFF_0000 => "ALLOW",
        _ => return None,
    })
}

const ACTION_FULL: u64 = 0xFFFF_0000;

/// Python's `arch_of(token)`: `c000003e` → (0xc000003e, "x86_64"); a name → (its number, name); else
/// (None, token).
fn arch_of(token: Option<&str>) -> (Option<PyInt>, Option<String>) {
    let Some(tok) = token.filter(|t| !t.is_empty()) else {
        return (None, None);
    };
    match parse_int(tok, 16) {
        Some(n) => {
            let name = n
                .small()
                .and_then(|v| u32::try_from(v).ok())
                .and_then(arches::arch_name);
            (Some(n), name.map(str::to_owned))
        }
        None => match arches::arch_number(tok) {
            Some(num) => (Some(PyInt::Small(i128::from(num))), Some(tok.to_owned())),
            None => (None, Some(tok.to_owned())),
        },
    }
}

/// `format(n, "x")`
fn hex(n: &PyInt) -> String {
    match n {
        PyInt::Small(v) if *v < 0 => format!("-{:x}", v.unsigned_abs()),
        PyInt::Small(v) => format!("{v:x}"),
        PyInt::Big { text, .. } => big_hex(text),
    }
}

/// Decimal text (sign, digits) → hex text.
fn big_hex(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", text),
    };
    let mut limbs: Vec<u32> = Vec::new(); // little-endian base 2^32
    for d in digits.bytes().filter(u8::is_ascii_digit) {
        let mut carry = u64::from(d - b'0');
        for l in limbs.iter_mut() {
            let v = u64::from(*l) * 10 + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            limbs.push(carry as u32);
        }
    }
    let mut out = String::from(sign);
    match limbs.split_last() {
        None => out.push('0'),
        Some((top, rest)) => {
            out.push_str(&format!("{top:x}"));
            for l in rest.iter().rev() {
                out.push_str(&format!("{l:08x}"));
            }
        }
    }
    out
}

fn int_cell(v: Option<&Value>) -> Cell {
    as_int(v, 10).map_or(Cell::Null, |v| v.cell())
}

/// One row per `SECCOMP` record of the event.
pub fn seccomp_rows(event: &Object, common: &Common, out: &mut Vec<Row>) {
    let Some(Value::Array(secs)) = event.get("SECCOMP") else {
        return;
    };
    for sec in secs.iter().filter_map(Value::as_object) {
        let arch_tok = sec.get("arch");
        let (arch_num, arch_name) = arch_of(arch_tok.and_then(Value::as_str));
        let arch = if let Some(name) = &arch_name {
            Some(name.to_uppercase())
        } else if let Some(n) = &arch_num {
            Some(format!("0x{}", hex(n)))
        } else {
            text(arch_tok)
        };
        let nr = sec.get("syscall");
        let syscall = match nr.and_then(py_int) {
            Some(n) => {
                let name = arch_name.as_deref().and_then(|a| {
                    i64::try_from(n)
                        .ok()
                        .and_then(|n| syscalls::syscall_name(a, n))
                });
                Some(match name {
                    Some(s) => s.to_owned(),
                    None => nr.map(py_str).unwrap_or_default(),
                })
            }
            None => text(nr),
        };
        let (code, code_data) = match as_int(sec.get("code"), 16) {
            Some(c) => {
                let action = c.and(ACTION_FULL);
                let name =
                    action_name(action).map_or_else(|| format!("0x{action:x}"), str::to_owned);
                (Cell::Text(name), Cell::Int(c.and(0xFFFF) as i64))
            }
            None => match sec.get("code") {
                None | Some(Value::Null) => (Cell::Null, Cell::Null),
                v => (text_of(v), Cell::Null),
            },
        };
        out.push(Row {
            table: "seccomp_events",
            cells: vec![
                int_cell(sec.get("auid")),
                int_cell(sec.get("uid")),
                int_cell(sec.get("gid")),
                int_cell(sec.get("ses")),
                int_cell(sec.get("pid")),
                text_of(sec.get("comm")),
                text_of(sec.get("exe")),
                int_cell(sec.get("sig")),
                text_cell(arch),
                text_cell(syscall),
                int_cell(sec.get("compat")),
                text_of(sec.get("ip")),
                code,
                code_data,
                common.time.clone(),
                common.uptime.clone(),
                common.eid.clone(),
            ],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_ints() {
        assert_eq!(hex(&PyInt::Small(-5)), "-5");
        assert_eq!(hex(&PyInt::Small(0xc000003e)), "c000003e");
        let big = parse_int("0x1_0000_0000_0000_0000_0000_0000_0000_00ff", 16).unwrap();
        assert_eq!(hex(&big), format!("1{}ff", "0".repeat(30)));
    }
}
