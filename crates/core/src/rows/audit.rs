//! `audit_events`: one row per event, with all its records. (Port of tables/audit.py's
//! `audit_event_row`.)

use serde_json::Value;

use super::common::Common;
use super::summary::Summary;
use super::value::{cell, into_string, object_json, truthy, write_json, write_json_str};
use super::{Cell, Object, Row};

/// `audit_events`' columns, in the registry's order.
pub const COLUMNS: &[&str] = &[
    "type",
    "types",
    "record_count",
    "node",
    "syscall",
    "success",
    "pid",
    "auid",
    "key",
    "closed_by",
    "summary",
    "sections",
    "raw",
    "time",
    "uptime",
    "eid",
];

/// Keys of an event that are not record sections.
pub const NOT_SECTIONS: &[&str] = &["ID", "NODE", "summary", "raw"];

/// Is `key` a record section of an event?
pub fn is_section(key: &str) -> bool {
    !NOT_SECTIONS.contains(&key)
}

/// The event's `audit_events` row; `sections`: fill the `sections` column.
pub fn audit_event_row(event: &Object, s: &Summary, common: &Common, sections: bool) -> Row {
    let mut types = String::new();
    for k in event.keys().filter(|k| is_section(k)) {
        if !types.is_empty() {
            types.push(',');
        }
        types.push_str(k);
    }
    let raw = event.get("raw");
    let closed_by = match s.closed_by {
        Some(Value::Null) | None => {
            let last = match raw {
                Some(Value::Array(a)) => a.last(),
                _ => None,
            };
            let eoe = match last {
                Some(Value::String(s)) => s.contains("type=EOE msg=audit("),
                _ => s.rtype.and_then(Value::as_str) == Some("SYSCALL"),
            };
            Cell::Text(if eoe { "eoe" } else { "single" }.to_owned())
        }
        v => cell(v),
    };
    let success = match s.success {
        None | Some(Value::Null) => Cell::Null,
        Some(v) => Cell::Int(i64::from(truthy(v))),
    };
    let key = match s.key {
        Some(Value::String(s)) => Cell::Text(s.clone()),
        _ => Cell::Null,
    };
    let (raw_json, raw_size) = match raw {
        None | Some(Value::Null) => (Cell::Null, 256),
        Some(v) => {
            let (json, size) = raw_json(v);
            (Cell::Text(json), size)
        }
    };
    let sections_json = if sections {
        // the sections hold about what the raw records held
        Cell::Text(sections_to_json(event, raw_size + raw_size / 2))
    } else {
        Cell::Null
    };
    Row {
        table: "audit_events",
        cells: vec![
            cell(s.rtype),
            Cell::Text(types),
            cell(s.records),
            cell(event.get("NODE")),
            cell(s.syscall),
            success,
            cell(s.pid),
            cell(s.auid),
            key,
            closed_by,
            Cell::Text(object_json(s.map)),
            sections_json,
            raw_json,
            common.time.clone(),
            common.uptime.clone(),
            common.eid.clone(),
        ],
    }
}

/// `{name: section}` of every record section, compact JSON, without copying the event.
fn sections_to_json(event: &Object, size_hint: usize) -> String {
    let mut buf = Vec::with_capacity(size_hint);
    buf.push(b'{');
    for (k, v) in event.iter().filter(|(k, _)| is_section(k)) {
        if buf.len() > 1 {
            buf.push(b',');
        }
        write_json_str(&mut buf, k);
        buf.push(b':');
        write_json(&mut buf, v);
    }
    buf.push(b'}');
    into_string(buf)
}

/// The raw records' JSON, its size guessed from their lengths.
fn raw_json(raw: &Value) -> (String, usize) {
    let hint = match raw {
        Value::Array(a) => {
            a.iter()
                .map(|r| r.as_str().map_or(64, |s| s.len() + s.len() / 8 + 4))
                .sum::<usize>()
                + 2
        }
        _ => 64,
    };
    let mut buf = Vec::with_capacity(hint);
    write_json(&mut buf, raw);
    (into_string(buf), hint)
}
