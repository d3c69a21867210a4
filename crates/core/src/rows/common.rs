//! What every mapper reads from an event: its time/uptime/eid columns, its record sections, and its raw
//! records parsed again. (Port of tables/_common.py.)

use std::collections::HashMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;

use super::value::{int_cell, parse_int, py_str, token_text, truthy, PyInt};
use super::{Cell, Object};
use crate::record::parse::{parse_line, parse_text, split_enrichment};
use crate::record::Record;

/// The columns every event table ends with: `time`, `uptime`, `eid`.
#[derive(Clone, Debug, PartialEq)]
pub struct Common {
    pub time: Cell,
    pub uptime: Cell,
    pub eid: Cell,
}

/// Python's `event_columns`: the event's own time in whole seconds, the seconds since boot when the boot
/// time is known, and `[NODE:]SEC.MSEC:SERIAL`.
pub fn event_columns(event: &Object, uptime_base: Option<f64>) -> Common {
    let eid: String = match event.get("ID") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(v) if truthy(v) => py_str(v),
        _ => "0.000:0".to_owned(),
    };
    let (sec, msec) = id_parts(&eid).unwrap_or((PyInt::Small(0), PyInt::Small(0)));
    let mut uptime = Cell::Null;
    if let Some(base) = uptime_base {
        if !sec.is(0) {
            let x = as_f64(&sec) + as_f64(&msec) / 1000.0 - base;
            if x.is_finite() {
                let t = x.trunc().max(0.0);
                uptime = if t < 9.223_372_036_854_776e18 {
                    int_cell(t as i128)
                } else {
                    Cell::Text(format!("{t:.0}"))
                };
            }
        }
    }
    let eid = match event.get("NODE") {
        Some(node) if truthy(node) => format!("{}:{}", py_str(node), eid),
        _ => eid,
    };
    Common {
        time: sec.cell(),
        uptime,
        eid: Cell::Text(eid),
    }
}

fn as_f64(v: &PyInt) -> f64 {
    match v {
        PyInt::Small(n) => *n as f64,
        PyInt::Big { text, .. } => text.parse().unwrap_or(f64::INFINITY),
    }
}

/// `int(eid[:dot])`, `int(eid[dot + 1 : colon])` with Python's find/slice rules (-1 when not found).
fn id_parts(eid: &str) -> Option<(PyInt, PyInt)> {
    // eid[:-1]: everything but the last character
    let last = eid.char_indices().last().map_or(0, |(i, _)| i);
    let dot = eid.find('.');
    let from = dot.map_or(0, |d| d + 1);
    let colon = eid.get(from..).and_then(|t| t.find(':')).map(|c| c + from);
    let sec = &eid[..dot.unwrap_or(last)];
    let end = colon.unwrap_or(last);
    let msec = if from <= end { &eid[from..end] } else { "" };
    Some((parse_int(sec, 10)?, parse_int(msec, 10)?))
}

/// The first record section `name` of the event (a dict), or None.
pub fn first_section<'a>(event: &'a Object, name: &str) -> Option<&'a Object> {
    match event.get(name)? {
        Value::Array(a) => a.first()?.as_object(),
        v => v.as_object(),
    }
}

/// A section's value as a list of sections (Python: `secs if isinstance(secs, list) else [secs]`).
pub fn sections_of(v: Option<&Value>) -> Vec<Option<&Object>> {
    match v {
        Some(Value::Array(a)) => a.iter().map(Value::as_object).collect(),
        Some(v) => vec![v.as_object()],
        None => vec![None],
    }
}

/// Python's `raw_by_name`: the event's raw records of the given type names, parsed again, grouped by name
/// in arrival order. Only raw lines that can hold one of the names are parsed.
pub fn raw_by_name(event: &Object, names: &[&str]) -> HashMap<String, Vec<Record>> {
    let mut out: HashMap<String, Vec<Record>> = HashMap::new();
    let Some(Value::Array(raw)) = event.get("raw") else {
        return out;
    };
    let marks: Vec<String> = names.iter().map(|n| format!("type={n} ")).collect();
    for item in raw {
        let recs = match item {
            Value::String(s) => {
                if !marks.iter().any(|m| s.contains(m.as_str())) {
                    continue;
                }
                parse_text(s.as_bytes(), true)
            }
            Value::Object(o) => match o.get("base64") {
                Some(Value::String(b)) => match b64decode(b) {
                    Some(bytes) => parse_line(&bytes, true),
                    None => continue,
                },
                _ => continue,
            },
            _ => continue,
        };
        for rec in recs {
            let Ok(name) = std::str::from_utf8(&rec.name) else {
                continue;
            };
            if names.contains(&name) {
                out.entry(name.to_owned()).or_default().push(rec);
            }
        }
    }
    out
}

/// Python's `base64.b64decode` (not validating: characters outside the alphabet are dropped).
fn b64decode(s: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(s) {
        return Some(b);
    }
    let kept: Vec<u8> = s
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        .collect();
    LENIENT.decode(kept).ok()
}

/// The record as the kernel's netlink message has it: `audit(SEC.MSEC:SERIAL): body`, without auditd's
/// ENRICHED tail.
pub fn record_message(rec: &Record) -> String {
    let body = split_enrichment(rec.body()).0;
    let mut b = Vec::with_capacity(body.len() + 40);
    b.extend_from_slice(b"audit(");
    b.extend_from_slice(rec.id().as_bytes());
    b.extend_from_slice(b"): ");
    b.extend_from_slice(body);
    token_text(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cols(ev: Value, base: Option<f64>) -> (Cell, Cell, Cell) {
        let c = event_columns(ev.as_object().unwrap(), base);
        (c.time, c.uptime, c.eid)
    }

    #[test]
    fn event_columns_of_ids() {
        assert_eq!(
            cols(
                json!({"ID": "1615114232.375:15558", "NODE": "work"}),
                Some(1615114131.875)
            ),
            (
                Cell::Int(1615114232),
                Cell::Int(100),
                Cell::Text("work:1615114232.375:15558".into())
            )
        );
        assert_eq!(
            cols(json!({"ID": "0.000:0"}), Some(5.0)),
            (Cell::Int(0), Cell::Null, Cell::Text("0.000:0".into()))
        );
        assert_eq!(
            cols(json!({"NODE": ""}), None),
            (Cell::Int(0), Cell::Null, Cell::Text("0.000:0".into()))
        );
        // Python's slices: no colon → eid[dot+1:-1]; no dot → eid[:-1]
        assert_eq!(cols(json!({"ID": "12.3457"}), None).0, Cell::Int(12));
        assert_eq!(cols(json!({"ID": "123x"}), None).0, Cell::Int(123));
        assert_eq!(cols(json!({"ID": "x.1:2"}), None).0, Cell::Int(0));
        // boot after the event: 0
        assert_eq!(cols(json!({"ID": "10.500:1"}), Some(20.0)).1, Cell::Int(0));
    }

    #[test]
    fn base64_lenient() {
        assert_eq!(b64decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(b64decode("aG\nk"), Some(b"hi".to_vec()));
    }
}
