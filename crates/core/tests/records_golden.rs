//! The record goldens: every corpus log of testdata/golden/MANIFEST.tsv parsed line by line (as
//! sources/logfile.py reads a file) must give exactly the records the Python parser wrote in
//! `SLUG.records.jsonl`. With `UPDATE_GOLDEN=1` the goldens are rewritten from the Rust output instead.
use auditsql_core::record::parse::parse_line;
use auditsql_core::record::Record;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::fs;
use std::path::Path;

const GOLDEN: &str = "testdata/golden";
/// The repository root, from the crate directory (where cargo runs the tests).
const ROOT: &str = "../..";

/// A byte string as the goldens write it: text if UTF-8, else `{"b64": ...}`.
fn bytes_value(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => json!({ "b64": base64::engine::general_purpose::STANDARD.encode(b) }),
    }
}

fn pairs_value(pairs: &[auditsql_core::record::Field]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| Value::Array(vec![bytes_value(k), bytes_value(v)]))
            .collect(),
    )
}

/// A record in the goldens' shape, keys in their order.
fn record_value(r: &Record) -> Value {
    let mut m = Map::new();
    m.insert("text".into(), bytes_value(&r.text));
    m.insert(
        "node".into(),
        r.node.as_deref().map_or(Value::Null, bytes_value),
    );
    m.insert("type".into(), r.rtype.into());
    m.insert("name".into(), bytes_value(&r.name));
    m.insert("sec".into(), r.sec.into());
    m.insert("msec".into(), r.msec.into());
    m.insert("serial".into(), r.serial.into());
    m.insert("body".into(), bytes_value(r.body()));
    m.insert("fields".into(), pairs_value(&r.fields));
    m.insert("enrich".into(), pairs_value(&r.enrich));
    m.insert(
        "error".into(),
        r.error.clone().map_or(Value::Null, Value::String),
    );
    Value::Object(m)
}

/// Python's `json.dumps(value)` (ensure_ascii, `", "` and `": "` separators): the goldens' bytes.
fn py_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    ' '..='~' => out.push(c),
                    _ => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_json(&Value::String(k.clone()), out);
                out.push_str(": ");
                py_json(item, out);
            }
            out.push('}');
        }
    }
}

/// The lines of a log as sources/logfile.py gives them to the parser: `#` comments and blank lines skipped.
fn log_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&c| c == b'\n')
        .filter(|line| !(line.starts_with(b"#") || line.iter().all(u8::is_ascii_whitespace)))
}

/// `(log path relative to the repository root, slug, detect)` of every MANIFEST.tsv row.
fn manifest() -> Vec<(String, String, bool)> {
    let text = fs::read_to_string(Path::new(GOLDEN).join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "MANIFEST row {l:?}");
            (cols[0].to_owned(), cols[1].to_owned(), cols[2] != "raw")
        })
        .collect()
}

#[test]
fn records_match_goldens() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let (mut logs, mut records, mut matching) = (0, 0, 0);
    let mut failures = Vec::new();
    for (path, slug, detect) in manifest() {
        let log = Path::new(ROOT).join(&path);
        let data = fs::read(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let got: Vec<Value> = log_lines(&data)
            .flat_map(|line| parse_line(line, detect))
            .map(|r| record_value(&r))
            .collect();
        let golden_path = Path::new(GOLDEN).join(format!("{slug}.records.jsonl"));
        logs += 1;
        if update {
            let mut out = String::new();
            for v in &got {
                py_json(v, &mut out);
                out.push('\n');
            }
            fs::write(&golden_path, out).expect("write golden");
            continue;
        }
        let golden_text = fs::read_to_string(&golden_path).expect("golden");
        let want: Vec<Value> = golden_text
            .lines()
            .map(|l| serde_json::from_str(l).expect("golden JSON"))
            .collect();
        if got.len() != want.len() {
            failures.push(format!(
                "{slug}: {} records, golden has {}",
                got.len(),
                want.len()
            ));
        }
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            records += 1;
            if g == w {
                matching += 1;
            } else if failures.len() < 20 {
                failures.push(format!("{slug} record {i}:\n  got  {g}\n  want {w}"));
            }
        }
        // the Python-style writer reproduces the golden file byte for byte
        let mut rewritten = String::new();
        for v in &want {
            py_json(v, &mut rewritten);
            rewritten.push('\n');
        }
        if rewritten != golden_text {
            failures.push(format!(
                "{slug}: py_json does not reproduce the golden bytes"
            ));
        }
    }
    eprintln!("records goldens: {logs} logs, {matching} of {records} records match");
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(logs >= 207, "only {logs} logs in MANIFEST.tsv");
}
