//! The store's event blobs: every event of the 207 golden logs survives encode → decode (records' exact
//! bytes, the records parsed again, closed_by, duplicates), and the SQL functions give back what the old
//! columns held (`SLUG.rows.jsonl`'s `summary`, `sections`, `raw`) and the renderer's event JSON.
//! Property tests: decode never panics; record bytes round-trip whatever they are.
//!
//! Two ignored tests serve `tools/train_dict.py`: `dump_samples` writes the training samples (one file per
//! event's frame), `measure` prints bytes/event and ns/event of candidate dictionaries and levels.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use auditsql_core::event::assemble::Assembler;
use auditsql_core::event::render::Renderer;
use auditsql_core::event::{ClosedBy, Event};
use auditsql_core::pipeline::looks_enriched;
use auditsql_core::record::parse::{parse_line, parse_netlink};
use auditsql_core::record::Record;
use auditsql_core::store::frame::write_event;
use auditsql_core::store::{Codec, DecodedEvent, Functions};
use proptest::prelude::*;
use serde_json::Value;

mod common;
use common::{events, events_of, golden_dir, manifest, repo_path};

/// Events of a log whose format is detected as the pipeline does.
fn events_auto(path: &Path) -> Vec<Event> {
    let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let detect = looks_enriched(&data[..data.len().min(64 * 1024)]);
    events_of(&data, detect)
}

/// What the old `audit_events` columns held, per event of an events golden (the JSON the interpreted
/// renderer wrote): `(summary, sections, raw)`, each compact JSON text: the event's `summary`, its record
/// sections (every key but ID, NODE, summary, raw), its `raw`.
fn audit_cells(slug: &str) -> Vec<(Value, Value, Value)> {
    let text =
        fs::read_to_string(golden_dir().join(format!("{slug}.events.jsonl"))).expect("events");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut ev: serde_json::Map<String, Value> =
                serde_json::from_str(l).expect("event JSON");
            let summary = ev.shift_remove("summary").unwrap_or(Value::Null);
            let raw = ev.shift_remove("raw").unwrap_or(Value::Null);
            ev.shift_remove("ID");
            ev.shift_remove("NODE");
            let text = |v: &Value| Value::String(serde_json::to_string(v).expect("JSON"));
            (text(&summary), text(&Value::Object(ev)), text(&raw))
        })
        .collect()
}

#[test]
fn golden_events_round_trip() {
    let mut codec = Codec::new();
    let mut funcs = Functions::default();
    let mut decoded = DecodedEvent::default();
    let (mut n_events, mut n_logs, mut blob_bytes, mut raw_bytes) =
        (0usize, 0usize, 0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    for (path, slug, detect) in manifest() {
        let evs = events(&repo_path(&path), detect);
        let cells = audit_cells(&slug);
        assert_eq!(
            evs.len(),
            cells.len(),
            "{slug}: events vs audit_events rows"
        );
        let mut rd = Renderer::new(false, true);
        for (i, (ev, (summary, sections, raw))) in evs.iter().zip(&cells).enumerate() {
            let mut fail = |what: &str| failures.push(format!("{slug} event {i}: {what}"));
            let blob = codec.encode(ev);
            blob_bytes += blob.len();
            raw_bytes += ev.records.iter().map(|r| r.text.len() + 1).sum::<usize>();
            codec.decode_into(&blob, &mut decoded).expect("decode");
            let texts: Vec<&[u8]> = ev.records.iter().map(|r| r.text.as_slice()).collect();
            if decoded.records().collect::<Vec<_>>() != texts {
                fail("record bytes");
            }
            if (decoded.closed_by, decoded.duplicates) != (ev.closed_by, ev.duplicates) {
                fail("closed_by/duplicates");
            }
            if decoded.to_event().records != ev.records {
                fail("records parsed again");
            }
            let mut want = Vec::new();
            rd.render_json(ev, &mut want);
            if funcs.audit_json(&blob).expect("json").as_bytes() != want {
                fail("audit_json");
            }
            if Some(funcs.audit_summary(&blob).expect("summary").as_str()) != summary.as_str() {
                fail("audit_summary");
            }
            if Some(funcs.audit_sections(&blob).expect("sections").as_str()) != sections.as_str() {
                fail("audit_sections");
            }
            if Some(funcs.audit_raw_json(&blob).expect("raw").as_str()) != raw.as_str() {
                fail("audit_raw_json");
            }
            let mut lines = Vec::new();
            for t in &texts {
                lines.extend_from_slice(t);
                lines.push(b'\n');
            }
            if funcs.audit_raw_bytes(&blob).expect("raw bytes") != lines {
                fail("audit_raw_bytes");
            }
            n_events += 1;
        }
        n_logs += 1;
    }
    eprintln!(
        "store codec: {n_events} events of {n_logs} logs; {:.0} B/event in blobs, {:.0} B/event raw",
        blob_bytes as f64 / n_events as f64,
        raw_bytes as f64 / n_events as f64
    );
    for f in failures.iter().take(20) {
        eprintln!("{f}");
    }
    assert_eq!(n_logs, 207);
    assert!(failures.is_empty(), "{} failures", failures.len());
}

/// An execve event of run_mix.log and its blob's fields.
#[test]
fn fields_and_header() {
    let evs = events(&repo_path("benchmarks/data/run_mix.log"), false);
    let ev = evs
        .iter()
        .find(|e| e.first(1309).is_some() && e.first(1302).is_some())
        .expect("an execve event");
    let mut funcs = Functions::default();
    let blob = funcs.codec().encode(ev);
    assert_eq!(blob[0], 1, "format");
    assert_eq!(blob[1], 1, "dictionary");
    assert_eq!(blob[2], 0, "closed by EOE, no duplicates");
    let d: Value = serde_json::from_str(&funcs.audit_json(&blob).unwrap()).unwrap();
    let syscall = funcs.audit_field(&blob, "SYSCALL", "syscall").unwrap();
    assert_eq!(syscall, d["SYSCALL"].get("syscall").cloned());
    assert!(syscall.is_some());
    let argc = funcs.audit_field(&blob, "EXECVE", "argc").unwrap();
    assert_eq!(argc, d["EXECVE"].get("argc").cloned());
    let name = funcs.audit_field(&blob, "PATH", "name").unwrap();
    assert_eq!(name, d["PATH"][0].get("name").cloned());
    assert_eq!(funcs.audit_field(&blob, "PATH", "no_such").unwrap(), None);
    assert_eq!(funcs.audit_field(&blob, "AVC", "name").unwrap(), None);
    assert_eq!(funcs.audit_field(&blob, "summary", "pid").unwrap(), None);
    // encode_into appends: two blobs back to back, each read alone
    let mut buf = b"head".to_vec();
    funcs.codec().encode_into(ev, &mut buf);
    let mid = buf.len();
    funcs.codec().encode_into(&evs[0], &mut buf);
    assert_eq!(&buf[4..mid], blob.as_slice());
    let d = funcs.codec().decode(&buf[mid..]).unwrap();
    assert_eq!(d.to_event().records, evs[0].records);
}

fn one_event(records: Vec<Record>, closed_by: ClosedBy, duplicates: u32) -> Event {
    let mut asm = Assembler::default();
    let mut out = Vec::new();
    for r in records.clone() {
        asm.push(r, &mut out);
    }
    asm.flush(&mut out);
    let mut ev = out.pop().expect("an event");
    ev.records = records;
    ev.closed_by = closed_by;
    ev.duplicates = duplicates;
    ev
}

#[test]
fn errors_are_one_line() {
    let rec = parse_line(
        b"type=USER_LOGIN msg=audit(1.002:3): pid=1 res=success",
        false,
    );
    let ev = one_event(rec, ClosedBy::Late, 70_000);
    let mut codec = Codec::new();
    let blob = codec.encode(&ev);
    assert_eq!(&blob[..3], &[1, 1, 4 | 8]);
    let d = codec.decode(&blob).unwrap();
    assert_eq!((d.closed_by, d.duplicates), (ClosedBy::Late, 70_000));

    let err = |b: &[u8]| Codec::new().decode(b).unwrap_err().to_string();
    let mut other = blob.clone();
    other[1] = 7;
    assert_eq!(
        err(&other),
        "blob uses dictionary 7, which this auditsql does not have"
    );
    assert_eq!(err(&[]), "corrupt event blob: empty");
    assert_eq!(
        err(&[2, 1, 0]),
        "event blob of format 2, which this auditsql does not read (it reads 1)"
    );
    assert_eq!(err(&blob[..3]), "corrupt event blob: bad header");
    // header of 6 bytes: format, dictionary, closed_by, 3 bytes of duplicates count
    assert_eq!(err(&blob[..6]), "corrupt event blob: bad zstd frame");
    let cut = &blob[..blob.len() - 2];
    assert!(err(cut).starts_with("corrupt event blob: "), "{}", err(cut));
    // a frame header claiming 1 TiB: refused before any allocation
    let mut huge = vec![1, 1, 0];
    // frame header descriptor: 8-byte content size, single segment; then the size
    huge.push(0b1110_0000);
    huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
    huge.extend_from_slice(&[1, 0, 0]);
    assert_eq!(
        err(&huge),
        "event blob claims 1099511627776 bytes, more than the 67108864 allowed"
    );
    assert!(Codec::new()
        .with_extra_dictionary(2, b"not a dictionary")
        .is_err_and(|e| e.to_string() == "dictionary 2 is not a zstd dictionary"));
}

#[test]
fn a_store_dictionary_the_program_lacks() {
    let v1 = include_bytes!("../src/store/dict/v1.zdict");
    let rec = parse_line(
        b"type=USER_LOGIN msg=audit(1.002:3): pid=1 res=success",
        false,
    );
    let ev = one_event(rec, ClosedBy::Single, 0);
    let mut newer = Codec::new().with_extra_dictionary(9, v1).unwrap();
    assert_eq!(newer.newest(), 9);
    let blob = newer.encode(&ev);
    assert_eq!(blob[1], 9);
    assert_eq!(
        Codec::new().decode(&blob).unwrap_err().to_string(),
        "blob uses dictionary 9, which this auditsql does not have"
    );
    let d = newer.decode(&blob).unwrap();
    assert_eq!(
        d.records().collect::<Vec<_>>(),
        vec![ev.records[0].text.as_slice()]
    );
    // the old blobs still read
    let old = Codec::new().encode(&ev);
    assert_eq!(old[1], 1);
    assert_eq!(newer.decode(&old).unwrap().to_event().records, ev.records);
}

#[test]
fn netlink_and_odd_records_come_back_as_they_were() {
    let recs = vec![
        // a netlink USER message whose text holds a second header: not split
        parse_netlink(
            1100,
            b"audit(1.002:3): pid=1 msg='x type=USER_LOGIN msg=audit(1.002:4): y'\n\0",
        ),
        // a truncated datagram: the pipeline's error
        Record {
            error: Some(
                "truncated: the kernel sent 9999 bytes, the receive buffer holds 8970".into(),
            ),
            ..parse_netlink(1300, b"audit(1.002:3): arch=c000003e syscall=59")
        },
        // a run of NUL bytes
        Record {
            text: vec![0; 5],
            error: Some("5 NUL bytes (a log cut short and padded)".into()),
            ..Record::default()
        },
        // an unknown type number
        parse_netlink(1329, b"audit(1.002:3): x=1"),
    ];
    let ev = one_event(recs, ClosedBy::Window, 1);
    let mut codec = Codec::new();
    let blob = codec.encode(&ev);
    let d = codec.decode(&blob).unwrap();
    assert_eq!(d.to_event().records, ev.records);
}

fn check_bytes_round_trip(codec: &mut Codec, texts: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let recs: Vec<Record> = texts
        .iter()
        .map(|t| Record {
            text: t.clone(),
            ..Record::default()
        })
        .collect();
    let ev = one_event(recs, ClosedBy::Flush, 0);
    let blob = codec.encode(&ev);
    let d = codec.decode(&blob).expect("decode");
    let got: Vec<&[u8]> = d.records().collect();
    let want: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #[test]
    fn decode_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut codec = Codec::new();
        let _ = codec.decode(&blob);
        // the same after a valid header
        let mut b = vec![1, 1, 0];
        b.extend_from_slice(&blob);
        let _ = codec.decode(&b);
        let mut f = Functions::default();
        let _ = f.audit_json(&b);
        let _ = f.audit_field(&b, "SYSCALL", "pid");
    }

    #[test]
    fn corrupted_blobs_never_panic(at in 0usize..200, byte in any::<u8>()) {
        let rec = parse_line(b"type=SYSCALL msg=audit(1.002:3): arch=c000003e syscall=59 pid=1 comm=\"x\"", false);
        let ev = one_event(rec, ClosedBy::Eoe, 0);
        let mut codec = Codec::new();
        let mut blob = codec.encode(&ev);
        let i = at % blob.len();
        blob[i] ^= byte | 1;
        if let Ok(d) = codec.decode(&blob) {
            let _ = d.to_event();
        }
        let _ = Functions::default().audit_sections(&blob);
    }

    #[test]
    fn record_bytes_round_trip(texts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)) {
        check_bytes_round_trip(&mut Codec::new(), &texts)?;
    }

    #[test]
    fn parsed_records_round_trip(
        lines in proptest::collection::vec(
            ("(node=[a-z]{1,4} )?type=(SYSCALL|PATH|USER_LOGIN|UNKNOWN\\[1329\\]|X) msg=audit\\(1\\.00[0-9]:[0-9]{1,3}\\): ",
             "([a-z]{1,4}=(\"[ -~]{0,8}\"|[0-9a-f]{1,6}|[A-Z]{1,3})| |\u{1d}[A-Z]{1,3}=[a-z]{0,3}|msg=audit\\(2\\.0:1\\)|type=PATH msg=audit\\(1\\.001:2\\): a=1|\u{0}|\n){0,12}"),
            1..5),
        detect in any::<bool>(),
        netlink in any::<bool>(),
    ) {
        let mut recs = Vec::new();
        for (head, body) in &lines {
            if netlink {
                let payload = format!("{}{}", &head[head.find("msg=").unwrap() + 4..], body);
                recs.push(parse_netlink(1300 + body.len() as u32 % 40, payload.as_bytes()));
            } else {
                let line = format!("{head}{body}");
                recs.extend(parse_line(line.as_bytes(), detect));
            }
        }
        prop_assume!(!recs.is_empty());
        let ev = one_event(recs, ClosedBy::Eoe, 0);
        let mut codec = Codec::new();
        let blob = codec.encode(&ev);
    let d = codec.decode(&blob).expect("decode");
        prop_assert_eq!(d.to_event().records, ev.records);
    }
}

// -- tools/train_dict.py's helpers ----------------------------------------------------------------------------

/// The training logs: every golden log, file_socket_kernel.log, and the first half of run_mix.log's events.
fn training_events() -> Vec<Event> {
    let mut out = Vec::new();
    for (path, _, detect) in manifest() {
        out.extend(events(&repo_path(&path), detect));
    }
    out.extend(events_auto(&repo_path(
        "tests/tables/file_socket_kernel.log",
    )));
    let mix = events_auto(&repo_path("benchmarks/data/run_mix.log"));
    let half = mix.len() / 2;
    out.extend(mix.into_iter().take(half));
    out
}

/// Writes one sample file per training event's frame into `$STORE_SAMPLES` (a directory).
#[test]
#[ignore]
fn dump_samples() {
    let dir = PathBuf::from(std::env::var("STORE_SAMPLES").expect("STORE_SAMPLES=DIR"));
    fs::create_dir_all(&dir).expect("mkdir");
    let (mut n, mut bytes) = (0usize, 0usize);
    let mut buf = Vec::new();
    for ev in training_events() {
        buf.clear();
        write_event(&ev, &mut buf);
        fs::write(dir.join(format!("{n:06}")), &buf).expect("write sample");
        n += 1;
        bytes += buf.len();
    }
    println!("samples {n} bytes {bytes}");
}

/// Bytes/event and ns/event (encode, decode) on the held-out logs, for `$STORE_DICT` (a candidate
/// dictionary file; the compiled-in one when unset) at each level of `$STORE_LEVELS` (default 3).
#[test]
#[ignore]
fn measure() {
    let mut codec = Codec::new();
    if let Ok(path) = std::env::var("STORE_DICT") {
        let bytes = fs::read(&path).expect("dictionary");
        codec = codec
            .with_extra_dictionary(100, &bytes)
            .expect("dictionary");
    }
    let levels: Vec<i32> = std::env::var("STORE_LEVELS")
        .unwrap_or_else(|_| "3".into())
        .split(',')
        .map(|l| l.trim().parse().expect("level"))
        .collect();
    let mix = events_auto(&repo_path("benchmarks/data/run_mix.log"));
    let held_mix = mix[mix.len() / 2..].to_vec();
    let mut sets = vec![("run_mix", held_mix)];
    let replay = repo_path("benchmarks/out/replay-200000.log");
    if replay.exists() {
        sets.push(("replay", events_auto(&replay)));
    }
    for (name, evs) in &sets {
        let raw: usize = evs
            .iter()
            .flat_map(|e| &e.records)
            .map(|r| r.text.len() + 1)
            .sum();
        println!(
            "set {name} events {} raw_per_event {:.1}",
            evs.len(),
            raw as f64 / evs.len() as f64
        );
        for &level in &levels {
            codec.set_level(level);
            let mut blobs: Vec<Vec<u8>> = Vec::with_capacity(evs.len());
            let mut enc = f64::MAX;
            for _ in 0..3 {
                blobs.clear();
                let t = Instant::now();
                for ev in evs {
                    blobs.push(codec.encode(ev));
                }
                enc = enc.min(t.elapsed().as_secs_f64());
            }
            let total: usize = blobs.iter().map(Vec::len).sum();
            let mut d = DecodedEvent::default();
            let mut dec = f64::MAX;
            for _ in 0..3 {
                let t = Instant::now();
                let mut n = 0usize;
                for b in &blobs {
                    codec.decode_into(b, &mut d).expect("decode");
                    n += d.records().len();
                }
                dec = dec.min(t.elapsed().as_secs_f64());
                assert!(n > 0);
            }
            let per = |s: f64| s * 1e9 / evs.len() as f64;
            println!(
                "set {name} level {level} bytes_per_event {:.1} encode_ns {:.0} decode_ns {:.0}",
                total as f64 / evs.len() as f64,
                per(enc),
                per(dec)
            );
        }
    }
}

#[test]
fn same_records_in_blobs_that_differ() {
    let line = |s: &str| parse_line(s.as_bytes(), false).pop().expect("a record");
    let recs = vec![
        line("type=SYSCALL msg=audit(1700000000.001:7): arch=c000003e syscall=59 success=yes exit=0 pid=1"),
        line("type=EOE msg=audit(1700000000.001:7): "),
    ];
    let mut codec = Codec::new();
    let eoe = codec.encode(&one_event(recs.clone(), ClosedBy::Eoe, 0));
    let window = codec.encode(&one_event(recs.clone(), ClosedBy::Window, 0));
    let other = codec.encode(&one_event(recs[..1].to_vec(), ClosedBy::Eoe, 0));
    assert_ne!(eoe, window);
    assert!(codec.same_records(&eoe, &window));
    assert!(!codec.same_records(&eoe, &other));
    assert!(!codec.same_records(&eoe, b"not a blob"));
}
