//! The row mappers against the goldens: every event of `SLUG.events.jsonl`, mapped by one [`Mapper`] per log
//! (state carries across events), gives the rows of `SLUG.rows.jsonl` (written by the Python
//! implementation). `UPDATE_GOLDEN=1` rewrites the rows goldens from the port.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use auditsql_core::rows::value::float_repr;
use auditsql_core::rows::{table_columns, Cell, Mapper, Object, Row};
use base64::Engine as _;
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

fn slugs() -> Vec<String> {
    let manifest = fs::read_to_string(golden_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').nth(1).map(str::to_owned))
        .collect()
}

fn rows_of(slug: &str) -> Vec<Row> {
    let text =
        fs::read_to_string(golden_dir().join(format!("{slug}.events.jsonl"))).expect("events");
    let mut mapper = Mapper::default();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let event: Object = serde_json::from_str(line).expect("event JSON");
        mapper.rows_for(&event, None, None, &mut out);
    }
    out
}

/// A cell as the goldens write it.
fn cell_json(c: &Cell) -> String {
    match c {
        Cell::Null => "null".into(),
        Cell::Int(n) => n.to_string(),
        Cell::Real(f) => format!(
            "{{\"real\": {}}}",
            serde_json::to_string(&float_repr(*f)).unwrap()
        ),
        Cell::Text(s) => serde_json::to_string(s).unwrap(),
        Cell::Blob(b) => format!(
            "{{\"b64\": \"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode(b)
        ),
    }
}

/// A row as the goldens write it (Python's `json.dumps`, `ensure_ascii=False`).
fn row_line(r: &Row) -> String {
    let cells: Vec<String> = r.cells.iter().map(cell_json).collect();
    format!("[\"{}\", [{}]]", r.table, cells.join(", "))
}

fn cell_matches(c: &Cell, want: &Value) -> bool {
    match (c, want) {
        (Cell::Null, Value::Null) => true,
        (Cell::Int(n), Value::Number(w)) => w.as_i64() == Some(*n),
        (Cell::Text(s), Value::String(w)) => s == w,
        (Cell::Real(f), Value::Object(o)) => {
            o.get("real").and_then(Value::as_str) == Some(&float_repr(*f))
        }
        _ => false,
    }
}

fn row_matches(r: &Row, want: &Value) -> bool {
    let Some([table, cells]) = want.as_array().map(Vec::as_slice) else {
        return false;
    };
    let Some(cells) = cells.as_array() else {
        return false;
    };
    table.as_str() == Some(r.table)
        && cells.len() == r.cells.len()
        && r.cells.iter().zip(cells).all(|(c, w)| cell_matches(c, w))
}

#[test]
fn rows_match_the_goldens() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let (mut matched, mut total, mut logs_ok) = (0usize, 0usize, 0usize);
    let mut report = String::new();
    let slugs = slugs();
    for slug in &slugs {
        let got = rows_of(slug);
        let path = golden_dir().join(format!("{slug}.rows.jsonl"));
        if update {
            let text: String = got.iter().map(|r| row_line(r) + "\n").collect();
            fs::write(&path, text).expect("write rows golden");
        }
        let want_text = fs::read_to_string(&path).expect("rows golden");
        let want: Vec<Value> = want_text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).expect("rows golden JSON"))
            .collect();
        total += want.len();
        let mut shown = 0;
        let mut ok = got.len() == want.len();
        for (i, w) in want.iter().enumerate() {
            match got.get(i) {
                Some(r) if row_matches(r, w) => matched += 1,
                other => {
                    ok = false;
                    if shown < 2 {
                        shown += 1;
                        let _ = writeln!(
                            report,
                            "{slug} row {i}:\n  want {w}\n  got  {}",
                            other.map_or("(none)".into(), row_line)
                        );
                    }
                }
            }
        }
        if got.len() > want.len() {
            let _ = writeln!(
                report,
                "{slug}: {} rows more than the golden",
                got.len() - want.len()
            );
        }
        logs_ok += usize::from(ok);
    }
    eprintln!(
        "rows goldens: {matched}/{total} rows match; {logs_ok}/{} logs whole",
        slugs.len()
    );
    assert!(report.is_empty(), "{report}");
    assert_eq!(logs_ok, slugs.len());
}

/// The columns the core fills are the registry's: docs/tables.md is written from the registry (and a
/// Python test fails when it is stale).
#[test]
fn table_columns_are_the_registrys() {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tables.md"))
            .expect("docs/tables.md");
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for line in doc.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            tables.push((name.trim().to_owned(), Vec::new()));
        } else if line.starts_with("# ") {
            // a section that is not a table (the SQL functions): its lines are no table's columns
            tables.push((String::new(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix("| `") {
            // a derived column is computed on read, not in the rows (its flags end with "derived)*")
            if line.contains("derived)*") {
                continue;
            }
            if let (Some(end), Some(t)) = (rest.find('`'), tables.last_mut()) {
                t.1.push(rest[..end].to_owned());
            }
        }
    }
    for (table, cols) in table_columns() {
        let declared = tables
            .iter()
            .find(|(n, _)| n == table)
            .unwrap_or_else(|| panic!("{table} not in docs/tables.md"));
        assert_eq!(cols, declared.1, "{table}");
    }
}
