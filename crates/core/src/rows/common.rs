//! What every mapper reads from an event: its time/uptime/eid columns, its record sections, and its raw
//! records parsed again. (Port of tables/_common.py.)

use std::collections::{HashMap, HashSet};

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

/// An event's raw records: the `raw` array of its JSON object, or the records themselves when no JSON
/// was rendered with them (`auditsql run` without outputs). Both read the same: a record's text when it
/// is UTF-8, else its bytes (what `{"base64": ...}` holds).
#[derive(Clone, Copy, Debug)]
pub enum Raw<'a> {
    Json(&'a [Value]),
    Records(&'a [Record]),
}

/// One raw record as [`Raw`] gives it.
pub enum RawItem<'a> {
    Text(&'a str),
    Bytes(std::borrow::Cow<'a, [u8]>),
    /// a `raw` item that is neither (not from the renderer)
    Other,
}

impl<'a> Raw<'a> {
    /// `records` when given, else the event's `raw` array (None when it has none).
    pub fn of(event: &'a Object, records: Option<&'a [Record]>) -> Option<Raw<'a>> {
        match (records, event.get("raw")) {
            (Some(r), _) => Some(Raw::Records(r)),
            (None, Some(Value::Array(a))) => Some(Raw::Json(a)),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        match self {
            Raw::Json(a) => a.len(),
            Raw::Records(r) => r.len(),
        }
    }

    /// The `i`th raw record.
    pub fn item(&self, i: usize) -> RawItem<'a> {
        match *self {
            Raw::Json(a) => match a.get(i) {
                Some(Value::String(s)) => RawItem::Text(s),
                Some(Value::Object(o)) => match o.get("base64") {
                    Some(Value::String(b)) => match b64decode(b) {
                        Some(bytes) => RawItem::Bytes(std::borrow::Cow::Owned(bytes)),
                        None => RawItem::Other,
                    },
                    _ => RawItem::Other,
                },
                _ => RawItem::Other,
            },
            Raw::Records(r) => match r.get(i) {
                Some(rec) => match std::str::from_utf8(&rec.text) {
                    Ok(s) => RawItem::Text(s),
                    Err(_) => RawItem::Bytes(std::borrow::Cow::Borrowed(&rec.text)),
                },
                None => RawItem::Other,
            },
        }
    }

    /// The last raw record, if any.
    pub fn last(&self) -> Option<RawItem<'a>> {
        self.len().checked_sub(1).map(|i| self.item(i))
    }
}

/// Python's `raw_by_name`: the event's raw records of the given type names, parsed again, grouped by name
/// in arrival order. Only raw lines that can hold one of the names are parsed.
pub fn raw_by_name(raw: Option<Raw<'_>>, names: &[&str]) -> HashMap<String, Vec<Record>> {
    let mut out: HashMap<String, Vec<Record>> = HashMap::new();
    let Some(raw) = raw else {
        return out;
    };
    let wanted: HashSet<&str> = names.iter().copied().collect();
    let marks = Marks::new(&wanted);
    for i in 0..raw.len() {
        let recs = match raw.item(i) {
            RawItem::Text(s) => {
                if !marks.found_in(s) {
                    continue;
                }
                parse_text(s.as_bytes(), true)
            }
            RawItem::Bytes(bytes) => parse_line(&bytes, true),
            RawItem::Other => continue,
        };
        for rec in recs {
            let Ok(name) = std::str::from_utf8(&rec.name) else {
                continue;
            };
            if wanted.contains(name) {
                out.entry(name.to_owned()).or_default().push(rec);
            }
        }
    }
    out
}

/// Python's `any(f"type={n} " in text for n in names)`, in time linear in the text: each `type=` is followed
/// to the next space (at most as far as the longest name) and the word looked up.
struct Marks<'a> {
    names: &'a HashSet<&'a str>,
    longest: usize,
    /// names with a space in them, searched for one by one
    spaced: Vec<String>,
}

impl<'a> Marks<'a> {
    fn new(names: &'a HashSet<&'a str>) -> Self {
        Marks {
            names,
            longest: names.iter().map(|n| n.len()).max().unwrap_or(0),
            spaced: names
                .iter()
                .filter(|n| n.contains(' '))
                .map(|n| format!("type={n} "))
                .collect(),
        }
    }

    fn found_in(&self, text: &str) -> bool {
        let b = text.as_bytes();
        for at in memchr::memmem::find_iter(b, b"type=") {
            let from = at + 5;
            let window = &b[from..b.len().min(from + self.longest + 1)];
            if let Some(sp) = memchr::memchr(b' ', window) {
                if let Ok(word) = std::str::from_utf8(&window[..sp]) {
                    if self.names.contains(word) {
                        return true;
                    }
                }
            }
        }
        self.spaced.iter().any(|m| text.contains(m.as_str()))
    }
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
    fn marks_are_pythons_substring_test() {
        let names: HashSet<&str> = ["USER_LOGIN", "AVC", "a b"].into_iter().collect();
        let m = Marks::new(&names);
        assert!(m.found_in("type=USER_LOGIN msg=audit(1.0:1): x"));
        assert!(m.found_in("node=n type=AVC msg=audit(1.0:1): x"));
        assert!(m.found_in("x type=type=AVC y"));
        assert!(m.found_in("type=a b c"));
        assert!(!m.found_in("type=USER_LOGIN"));
        assert!(!m.found_in("type=USER_LOGINX msg"));
        assert!(!m.found_in("type=AV msg type=AVCX"));
        assert!(!m.found_in("type=\u{e9} type="));
    }

    #[test]
    fn base64_lenient() {
        assert_eq!(b64decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(b64decode("aG\nk"), Some(b"hi".to_vec()));
    }
}
