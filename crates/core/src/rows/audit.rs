//! `audit_events`: one row per event, with all its records. (Port of tables/audit.py's
//! `audit_event_row`.)

use serde_json::Value;

use super::common::Common;
use super::value::{cell, object_json, str_json, to_json, truthy};
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
pub fn audit_event_row(event: &Object, summary: &Object, common: &Common, sections: bool) -> Row {
    let mut types = String::new();
    for k in event.keys().filter(|k| is_section(k)) {
        if !types.is_empty() {
            types.push(',');
        }
        types.push_str(k);
    }
    let raw = event.get("raw");
    let closed_by = match summary.get("closed_by") {
        Some(Value::Null) | None => {
            let last = match raw {
                Some(Value::Array(a)) => a.last(),
                _ => None,
            };
            let eoe = match last {
                Some(Value::String(s)) => s.contains("type=EOE msg=audit("),
                _ => summary.get("type").and_then(Value::as_str) == Some("SYSCALL"),
            };
            Cell::Text(if eoe { "eoe" } else { "single" }.to_owned())
        }
        v => cell(v),
    };
    let success = match summary.get("success") {
        None | Some(Value::Null) => Cell::Null,
        Some(v) => Cell::Int(i64::from(truthy(v))),
    };
    let key = match summary.get("key") {
        Some(Value::String(s)) => Cell::Text(s.clone()),
        _ => Cell::Null,
    };
    let sections_json = if sections {
        Cell::Text(sections_to_json(event))
    } else {
        Cell::Null
    };
    let raw_json = match raw {
        None | Some(Value::Null) => Cell::Null,
        Some(v) => Cell::Text(to_json(v)),
    };
    Row {
        table: "audit_events",
        cells: vec![
            cell(summary.get("type")),
            Cell::Text(types),
            cell(summary.get("records")),
            cell(event.get("NODE")),
            cell(summary.get("syscall")),
            success,
            cell(summary.get("pid")),
            cell(summary.get("auid")),
            key,
            closed_by,
            Cell::Text(object_json(summary)),
            sections_json,
            raw_json,
            common.time.clone(),
            common.uptime.clone(),
            common.eid.clone(),
        ],
    }
}

/// `{name: section}` of every record section, compact JSON, without copying the event.
fn sections_to_json(event: &Object) -> String {
    let mut out = String::from("{");
    for (k, v) in event.iter().filter(|(k, _)| is_section(k)) {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&str_json(k));
        out.push(':');
        out.push_str(&to_json(v));
    }
    out.push('}');
    out
}
