//! Per-stage cost of the event path, without Python: `cargo bench -p auditsql-core`.
//!
//! Input: a real capture (`benchmarks/data/run_mix.log`, execs, connects, forks from `auditsql run`'s rules)
//! repeated to about 200,000 records. Each stage is timed alone on the previous stage's output, then the
//! whole pipeline (bytes → JSON lines and rows) end to end. Printed per record and per event, best of 5.

use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

use auditsql_core::event::assemble::Assembler;
use auditsql_core::event::render::Renderer;
use auditsql_core::event::Event;
use auditsql_core::pipeline::{Pipeline, Settings};
use auditsql_core::record::parse::parse_line;
use auditsql_core::record::Record;
use auditsql_core::rows::{Mapper, Row, RowOptions};
use auditsql_core::store::{Codec, DecodedEvent};

const LOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../benchmarks/data/run_mix.log"
);
const TARGET_RECORDS: usize = 200_000;
const ROUNDS: usize = 5;

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("ROUNDS > 0"))
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e9 / n.max(1) as f64
}

/// The capture repeated with serials shifted, so that events stay distinct.
fn input() -> Vec<u8> {
    let path = std::env::var("AUDITSQL_BENCH_LOG").unwrap_or_else(|_| LOG.to_owned());
    let base = std::fs::read(&path).expect("the benchmark input");
    let lines: Vec<&[u8]> = base
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut copy = 0u64;
    let mut n = 0;
    while n < TARGET_RECORDS {
        for l in &lines {
            // `:SERIAL)` → `:SERIAL+copy*10^7)`
            let s = String::from_utf8_lossy(l);
            let shifted = match (s.find(':'), s.find(')')) {
                (Some(c), Some(p)) if c < p => match s[c + 1..p].parse::<u64>() {
                    Ok(serial) => format!("{}{}{}", &s[..=c], serial + copy * 10_000_000, &s[p..]),
                    Err(_) => s.into_owned(),
                },
                _ => s.into_owned(),
            };
            out.extend_from_slice(shifted.as_bytes());
            out.push(b'\n');
            n += 1;
        }
        copy += 1;
    }
    out
}

fn main() {
    let data = input();
    let lines: Vec<&[u8]> = data
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();

    let (t_parse, records) = best(|| {
        let mut recs: Vec<Record> = Vec::with_capacity(lines.len());
        for l in &lines {
            recs.extend(parse_line(l, false));
        }
        recs
    });
    let nrec = records.len();

    let (t_asm, events) = best(|| {
        let mut asm = Assembler::new(512, 3.0, 16);
        let mut out: Vec<Event> = Vec::new();
        for r in records.iter().cloned() {
            asm.push(r, &mut out);
        }
        asm.flush(&mut out);
        out
    });
    // assembling includes cloning the records it owns: time the clones alone and subtract
    let (t_clone, _) = best(|| records.to_vec());
    let t_asm = t_asm.saturating_sub(t_clone);
    let nev = events.len();

    let (t_render, objects) = best(|| {
        let mut r = Renderer::new(false, true);
        events.iter().map(|e| r.render(e)).collect::<Vec<_>>()
    });
    let (t_json, _) = best(|| {
        let mut buf = Vec::with_capacity(data.len() * 2);
        for o in &objects {
            serde_json::to_writer(&mut buf, o).expect("serialises");
            buf.push(b'\n');
        }
        buf.len()
    });
    // what `auditsql read` does: the JSON text written directly, without the object
    let (t_direct, _) = best(|| {
        let mut r = Renderer::new(false, true);
        let mut buf = Vec::with_capacity(data.len() * 2);
        for e in &events {
            r.render_json(e, &mut buf);
            buf.push(b'\n');
        }
        buf.len()
    });
    let (t_rows, nrows) = best(|| {
        let mut m = Mapper::new(RowOptions::default());
        let mut out: Vec<Row> = Vec::new();
        for o in &objects {
            m.rows_for(o, None, None, &mut out);
        }
        black_box(&out);
        out.len()
    });
    // the store's blobs: one event's records compressed with the dictionary, and read back
    let mut codec = Codec::new();
    let (t_encode, blobs) = best(|| {
        let mut out = Vec::with_capacity(data.len() / 4);
        let mut ends = Vec::with_capacity(nev);
        for e in &events {
            codec.encode_into(e, &mut out);
            ends.push(out.len());
        }
        (out, ends)
    });
    let (t_decode, _) = best(|| {
        let mut d = DecodedEvent::default();
        let mut start = 0;
        let mut n = 0;
        for &end in &blobs.1 {
            codec
                .decode_into(&blobs.0[start..end], &mut d)
                .expect("decodes");
            n += d.records().len();
            start = end;
        }
        n
    });
    // the whole pipeline, bytes to JSON lines and rows; what `auditsql read` asks for: JSON lines only (the
    // direct writer); what `auditsql run` asks for: rows only (no JSON lines), with the process tree (its own
    // events keyed as run keys them) and without it
    let whole = |events_json: bool, rows: bool, process_tree: bool| {
        best(|| {
            let mut p = Pipeline::new(Settings {
                resolve_ids: false,
                events_json,
                rows,
                process_tree,
                tree_key: Some(b"auditsql_tree".to_vec()),
                ..Settings::default()
            });
            let mut b = auditsql_core::pipeline::Batch::default();
            for chunk in data.chunks(1 << 20) {
                p.feed_lines(chunk, &mut b);
            }
            p.finish(&mut b);
            (b.events, b.rows.len(), b.json.len())
        })
        .0
    };
    let (t_all, t_read, t_run_off, t_run_on) = (
        whole(true, true, false),
        whole(true, false, false),
        whole(false, true, false),
        whole(false, true, true),
    );

    println!("auditsql-core per-stage cost: {nrec} records, {nev} events, {nrows} rows (best of {ROUNDS})");
    println!(
        "store blobs: {:.0} bytes/event ({:.0} in the log)",
        blobs.0.len() as f64 / nev as f64,
        data.len() as f64 / nev as f64
    );
    println!(
        "{:<28} {:>12} {:>12} {:>14}",
        "stage", "ns/record", "ns/event", "records/s"
    );
    for (name, d) in [
        ("parse", t_parse),
        ("assemble", t_asm),
        ("render (event JSON object)", t_render),
        ("JSON text", t_json),
        ("render + JSON text, direct", t_direct),
        ("rows", t_rows),
        ("store blob encode", t_encode),
        ("store blob decode", t_decode),
        ("pipeline end to end", t_all),
        ("read: JSON lines, no rows", t_read),
        ("run: rows, tree off", t_run_off),
        ("run: rows, tree on", t_run_on),
    ] {
        println!(
            "{:<28} {:>12.0} {:>12.0} {:>14.0}",
            name,
            per(d, nrec),
            per(d, nev),
            nrec as f64 / d.as_secs_f64()
        );
    }
}
