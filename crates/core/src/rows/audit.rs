//! `audit_events`: one row per event, with all its records. (Port of tables/audit.py's
//! `audit_event_row`.) The records are stored once, compressed, in `blob` ([`crate::store::codec`], filled
//! by the pipeline, which holds the event); `summary`, `sections` and `raw` are derived from it on demand by
//! the store's SQL functions ([`crate::store::functions`]).

use serde_json::Value;

use super::common::{Common, Raw, RawItem};
use super::summary::Summary;
use super::value::{cell, into_string, truthy, write_json, write_json_str};
use super::{Cell, Object, Row};

/// `audit_events`' stored columns, in the registry's order (its `stored` table; the view adds the derived
/// `summary`, `sections` and `raw`).
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
    "blob",
    "time",
    "uptime",
    "eid",
];

/// Where `blob` is in [`COLUMNS`].
pub const BLOB: usize = 10;

/// Keys of an event that are not record sections.
pub const NOT_SECTIONS: &[&str] = &["ID", "NODE", "summary", "raw"];

/// Is `key` a record section of an event?
pub fn is_section(key: &str) -> bool {
    !NOT_SECTIONS.contains(&key)
}

/// The event's `audit_events` row, `blob` left NULL for the pipeline to fill.
pub fn audit_event_row(event: &Object, raw: Option<Raw<'_>>, s: &Summary, common: &Common) -> Row {
    let mut types = String::new();
    for k in event.keys().filter(|k| is_section(k)) {
        if !types.is_empty() {
            types.push(',');
        }
        types.push_str(k);
    }
    let closed_by = match s.closed_by {
        Some(Value::Null) | None => {
            let eoe = match raw.and_then(|r| r.last()) {
                Some(RawItem::Text(s)) => s.contains("type=EOE msg=audit("),
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
            Cell::Null,
            common.time.clone(),
            common.uptime.clone(),
            common.eid.clone(),
        ],
    }
}

/// `{name: section}` of every record section, compact JSON, without copying the event (the `sections`
/// column the store derives).
pub fn sections_to_json(event: &Object, size_hint: usize) -> String {
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
pub fn raw_json(raw: &Value) -> (String, usize) {
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
