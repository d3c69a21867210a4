//! `user_events`: one row per user-space message record (PAM, login, account management...). (Port of
//! tables/user.py.)

use serde_json::Value;

use super::common::{raw_by_name, sections_of, Common, Raw};
use super::value::{as_int, parse_int, text_of, token_text, PyInt};
use super::{Cell, Object, Row};
use crate::record::msgtypes;

/// `user_events`' columns, in the registry's order.
pub const COLUMNS: &[&str] = &[
    "uid",
    "auid",
    "pid",
    "message",
    "type",
    "path",
    "address",
    "terminal",
    "type_name",
    "ses",
    "op",
    "acct",
    "id",
    "hostname",
    "res",
    "time",
    "uptime",
    "eid",
];

/// A section name → its record type number (`USER_LOGIN` → 1112, `UNKNOWN[1420]` → 1420; else 0).
pub fn type_number(name: &str) -> i128 {
    if let Some(n) = msgtypes::type_number(name.as_bytes()) {
        return i128::from(n);
    }
    match name
        .strip_prefix("UNKNOWN[")
        .and_then(|r| r.strip_suffix(']'))
    {
        Some(inner) if !inner.is_empty() => match parse_int(inner, 10) {
            Some(PyInt::Small(n)) => n,
            _ => 0, // not a number; or past i128, in no range of ours
        },
        _ => 0,
    }
}

/// Is `n` a user-space message type (1100-1199, 2100-2999)?
pub fn is_user_type(n: i128) -> bool {
    (1100..=1199).contains(&n) || (2100..=2999).contains(&n)
}

/// The `msg='…'` payload without its quotes, as valid text.
fn payload(token: &[u8]) -> String {
    let t = if token.len() >= 2 && token[0] == b'\'' && token[token.len() - 1] == b'\'' {
        &token[1..token.len() - 1]
    } else {
        token
    };
    token_text(t)
}

fn get<'a>(src: &'a Object, sec: &'a Object, key: &str) -> Option<&'a Value> {
    match src.get(key) {
        None | Some(Value::Null) if !std::ptr::eq(src, sec) => sec.get(key),
        v => v,
    }
}

fn int_cell(v: Option<&Value>) -> Cell {
    as_int(v, 10).map_or(Cell::Null, |v| v.cell())
}

/// One `user_events` row per record of the user-space sections `names` of the event.
pub fn user_rows(
    event: &Object,
    raw: Option<Raw<'_>>,
    names: &[&str],
    common: &Common,
    out: &mut Vec<Row>,
) {
    let mut raws = raw_by_name(raw, names);
    for name in names {
        let recs = raws.remove(*name).unwrap_or_default();
        for (k, sec) in sections_of(event.get(*name)).into_iter().enumerate() {
            let Some(sec) = sec else {
                continue;
            };
            let src = match sec.get("msg") {
                Some(Value::Object(m)) => m,
                _ => sec,
            };
            let message = recs
                .get(k)
                .and_then(|r| r.get(b"msg"))
                .map(payload)
                .map_or(Cell::Null, Cell::Text);
            out.push(Row {
                table: "user_events",
                cells: vec![
                    int_cell(sec.get("uid")),
                    int_cell(sec.get("auid")),
                    int_cell(sec.get("pid")),
                    message,
                    super::value::int_cell(type_number(name)),
                    text_of(get(src, sec, "exe")),
                    text_of(get(src, sec, "addr")),
                    text_of(get(src, sec, "terminal")),
                    Cell::Text((*name).to_owned()),
                    int_cell(sec.get("ses")),
                    text_of(get(src, sec, "op")),
                    text_of(get(src, sec, "acct")),
                    text_of(get(src, sec, "id")),
                    text_of(get(src, sec, "hostname")),
                    text_of(get(src, sec, "res")),
                    common.time.clone(),
                    common.uptime.clone(),
                    common.eid.clone(),
                ],
            });
        }
    }
}
