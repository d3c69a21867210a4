//! The assembler against the goldens written by the Python implementation: for every log of the manifest,
//! the records (as parsed by Python) pushed into an `Assembler` give the same events, in the same order,
//! closed the same way, with the same duplicates and the same stats.

use std::fs;
use std::path::{Path, PathBuf};

use auditsql_core::event::assemble::Assembler;
use auditsql_core::event::{ClosedBy, Event};
use auditsql_core::record::{Field, Record};
use base64::Engine;
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("golden base64")
}

/// A golden byte string: a JSON string, or `{"b64": ...}` / `{"base64": ...}` for bytes that are not UTF-8.
fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(m) => match m.get("b64").or_else(|| m.get("base64")) {
            Some(Value::String(s)) => b64(s),
            _ => panic!("not a golden byte string: {v}"),
        },
        _ => panic!("not a golden byte string: {v}"),
    }
}

fn pairs(v: &Value) -> Vec<Field> {
    v.as_array()
        .expect("pairs")
        .iter()
        .map(|kv| {
            let kv = kv.as_array().expect("pair");
            (bytes(&kv[0]).into(), bytes(&kv[1]).into())
        })
        .collect()
}

fn record(v: &Value) -> Record {
    let text = bytes(&v["text"]);
    let body = bytes(&v["body"]);
    Record {
        body_start: text.len() - body.len(),
        node: match &v["node"] {
            Value::Null => None,
            n => Some(bytes(n)),
        },
        rtype: v["type"].as_u64().expect("type") as u32,
        name: bytes(&v["name"]),
        sec: v["sec"].as_u64().expect("sec"),
        msec: v["msec"].as_u64().expect("msec"),
        serial: v["serial"].as_u64().expect("serial"),
        fields: pairs(&v["fields"]),
        enrich: pairs(&v["enrich"]),
        error: match &v["error"] {
            Value::Null => None,
            e => Some(e.as_str().expect("error").to_string()),
        },
        text,
    }
}

fn jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// The records of a golden log, as Python parsed them.
pub fn golden_records(slug: &str) -> Vec<Record> {
    jsonl(&golden_dir().join(format!("{slug}.records.jsonl")))
        .iter()
        .map(record)
        .collect()
}

fn assemble(records: Vec<Record>, asm: &mut Assembler) -> Vec<Event> {
    let mut out = Vec::new();
    for r in records {
        asm.push(r, &mut out);
    }
    asm.flush(&mut out);
    out
}

fn slugs() -> Vec<String> {
    fs::read_to_string(golden_dir().join("MANIFEST.tsv"))
        .expect("manifest")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').nth(1).expect("slug").to_string())
        .collect()
}

/// Differences between what the assembler made of a log and the golden events; empty when they match.
fn compare(slug: &str) -> Vec<String> {
    let mut asm = Assembler::default();
    let events = assemble(golden_records(slug), &mut asm);
    let golden = jsonl(&golden_dir().join(format!("{slug}.events.jsonl")));
    let mut diffs = Vec::new();
    if events.len() != golden.len() {
        diffs.push(format!("{} events, golden {}", events.len(), golden.len()));
    }
    for (i, (ev, g)) in events.iter().zip(&golden).enumerate() {
        let raw: Vec<Vec<u8>> = g["raw"]
            .as_array()
            .expect("raw")
            .iter()
            .map(bytes)
            .collect();
        let texts: Vec<&[u8]> = ev.records.iter().map(|r| &r.text[..]).collect();
        if texts != raw.iter().map(|r| &r[..]).collect::<Vec<_>>() {
            diffs.push(format!("event {i} ({}): records differ", ev.id()));
        }
        let summary = &g["summary"];
        match summary.get("closed_by") {
            Some(c) => {
                if c.as_str() != Some(ev.closed_by.as_str()) {
                    diffs.push(format!(
                        "event {i}: closed_by {:?}, golden {c}",
                        ev.closed_by
                    ));
                }
            }
            None => {
                // eoe or single: an event closed by EOE ends with it, a single never does
                let ends_eoe = ev.records.last().map(|r| r.rtype) == Some(1320);
                let want = if ends_eoe {
                    ClosedBy::Eoe
                } else {
                    ClosedBy::Single
                };
                if ev.closed_by != want {
                    diffs.push(format!(
                        "event {i}: closed_by {:?}, golden {want:?}",
                        ev.closed_by
                    ));
                }
            }
        }
        let dups = summary
            .get("duplicates")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if u64::from(ev.duplicates) != dups {
            diffs.push(format!(
                "event {i}: duplicates {}, golden {dups}",
                ev.duplicates
            ));
        }
    }
    let stats: Value = serde_json::from_str(
        &fs::read_to_string(golden_dir().join(format!("{slug}.stats.json"))).expect("stats"),
    )
    .expect("stats json");
    let want: Vec<(String, u64)> = stats
        .as_object()
        .expect("stats object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("stat")))
        .collect();
    let got: Vec<(String, u64)> = asm
        .stats
        .list()
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    if got != want {
        diffs.push(format!("stats {got:?}, golden {want:?}"));
    }
    diffs
}

#[test]
fn every_golden_log_assembles_as_in_python() {
    let slugs = slugs();
    assert_eq!(slugs.len(), 207);
    let mut failed = Vec::new();
    for slug in &slugs {
        let diffs = compare(slug);
        if !diffs.is_empty() {
            failed.push(format!(
                "{slug}:\n  {}",
                diffs[..diffs.len().min(5)].join("\n  ")
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} logs differ:\n{}",
        failed.len(),
        slugs.len(),
        failed.join("\n")
    );
}

fn shape(events: &[Event]) -> Vec<(u64, usize, ClosedBy)> {
    events
        .iter()
        .map(|e| (e.serial, e.records.len(), e.closed_by))
        .collect()
}

#[test]
fn out_of_order_records_reassembled_from_corpus() {
    // elastic_go-libaudit/reassembler/out_of_order.log (go-libaudit expects 58:2 59:5 60:5 61:4 62:1, 0 lost):
    // a PATH of 60 and of 61 arrive after records of later events
    let mut asm = Assembler::default();
    let events = assemble(
        golden_records("corpus_elastic_go-libaudit_reassembler_out_of_order.log"),
        &mut asm,
    );
    let f = ClosedBy::Flush;
    assert_eq!(
        shape(&events),
        [(58, 2, f), (59, 5, f), (60, 5, f), (61, 4, f), (62, 1, f)]
    );
    let names: Vec<&[u8]> = events[2].records.iter().map(|r| &r.name[..]).collect();
    assert_eq!(
        names,
        [&b"SYSCALL"[..], b"EXECVE", b"CWD", b"PATH", b"PATH"]
    );
    let s = &asm.stats;
    assert_eq!((s.serial_gaps, s.late, s.records), (0, 0, 17));
}

#[test]
fn serial_rollover_is_not_a_gap() {
    // elastic_go-libaudit/reassembler/rollover.log: 4294967294, 4294967295, 0, 1, 2
    let mut asm = Assembler::default();
    let events = assemble(
        golden_records("corpus_elastic_go-libaudit_reassembler_rollover.log"),
        &mut asm,
    );
    let got: Vec<(u64, usize)> = events.iter().map(|e| (e.serial, e.records.len())).collect();
    assert_eq!(
        got,
        [(4294967294, 1), (4294967295, 1), (0, 1), (1, 1), (2, 1)]
    );
    assert_eq!((asm.stats.serial_gaps, asm.stats.serial_jumps), (0, 0));
}

#[test]
fn lost_messages_gap_of_nine() {
    // elastic_go-libaudit/reassembler/lost_messages.log: 49 then 59; go-libaudit reports 9 lost
    let mut asm = Assembler::default();
    let events = assemble(
        golden_records("corpus_elastic_go-libaudit_reassembler_lost_messages.log"),
        &mut asm,
    );
    let got: Vec<(u64, usize)> = events.iter().map(|e| (e.serial, e.records.len())).collect();
    assert_eq!(got, [(49, 2), (59, 5), (60, 5), (61, 4), (62, 1)]);
    assert_eq!(asm.stats.serial_gaps, 9);
}

#[test]
fn service_start_with_syscall_records_is_one_event() {
    // threathunters-io_laurel/record-service-start.txt: SERVICE_START (1130), then SYSCALL, SOCKADDR,
    // UNKNOWN[1420] and EOE with the same serial
    let mut asm = Assembler::default();
    let events = assemble(
        golden_records("corpus_threathunters-io_laurel_record-service-start.txt"),
        &mut asm,
    );
    assert_eq!(shape(&events), [(4486226, 5, ClosedBy::Eoe)]);
    let names: Vec<&[u8]> = events[0].records.iter().map(|r| &r.name[..]).collect();
    assert_eq!(
        names,
        [
            &b"SERVICE_START"[..],
            b"SYSCALL",
            b"SOCKADDR",
            b"UNKNOWN[1420]",
            b"EOE"
        ]
    );
    let s = &asm.stats;
    assert_eq!((s.events, s.closed_single, s.late), (1, 0, 0));
}
