//! The event JSON against the goldens written by the Python implementation: every log of the manifest is
//! read as `sources/logfile.py` reads it, parsed, assembled, flushed and rendered (ids not resolved, raw
//! records on); each event must equal its line of `SLUG.events.jsonl`, key order included.
//!
//! `UPDATE_GOLDEN=1 cargo test --test render_golden` rewrites the events goldens from this output.

use std::fs;
use std::time::Instant;

use auditsql_core::event::assemble::Assembler;
use auditsql_core::event::render::Renderer;
use auditsql_core::record::parse::parse_line;
use serde_json::Value;

mod common;
use common::{events, golden_dir, lines, manifest, repo_path};

/// Compact JSON with Python's `json.dumps` spacing (`", "`, `": "`), for rewritten goldens that diff well.
fn py_spacing(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() + compact.len() / 8);
    let (mut in_str, mut esc) = (false, false);
    for c in compact.chars() {
        out.push(c);
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        } else if c == ',' || c == ':' {
            out.push(' ');
        }
    }
    out
}

#[test]
fn events_match_goldens() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let (mut total, mut matched, mut logs_ok, mut shown) = (0usize, 0usize, 0usize, 0usize);
    let rows = manifest();
    for (path, slug, detect) in &rows {
        let evs = events(&repo_path(path), *detect);
        let mut rd = Renderer::new(false, true);
        let got: Vec<String> = evs
            .iter()
            .map(|ev| {
                let mut line = Vec::new();
                rd.render_json(ev, &mut line);
                String::from_utf8(line).expect("render_json writes UTF-8")
            })
            .collect();
        let golden = golden_dir().join(format!("{slug}.events.jsonl"));
        if update {
            let text: String = got.iter().map(|l| py_spacing(l) + "\n").collect();
            fs::write(&golden, text).expect("write golden");
        }
        let want: Vec<String> = fs::read_to_string(&golden)
            .expect("events golden")
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("golden JSON");
                v.to_string()
            })
            .collect();
        let n_ok = got.iter().zip(&want).filter(|(g, w)| g == w).count();
        total += want.len();
        matched += n_ok;
        if n_ok == want.len() && got.len() == want.len() {
            logs_ok += 1;
            continue;
        }
        if got.len() != want.len() {
            eprintln!("{slug}: {} events, golden has {}", got.len(), want.len());
        }
        for (g, w) in got.iter().zip(&want).filter(|(g, w)| g != w).take(2) {
            if shown < 10 {
                shown += 1;
                eprintln!("{slug}\n got  {g}\n want {w}\n");
            }
        }
    }
    eprintln!(
        "render goldens: {matched}/{total} events match, {logs_ok}/{} logs",
        rows.len()
    );
    assert_eq!((matched, logs_ok), (total, rows.len()));
}

/// CPU time of this thread (Linux `/proc/thread-self/schedstat`), else wall time: seconds.
fn cpu_seconds(wall: Instant) -> f64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(|| wall.elapsed().as_secs_f64(), |ns| ns / 1e9)
}

/// Events per second (CPU time) of render_json, and of parse + assemble + render_json, over
/// benchmarks/data/run_mix.log (meaningful with `--release`; run with `--ignored --nocapture`).
#[test]
#[ignore]
fn speed_run_mix() {
    let path = repo_path("benchmarks/data/run_mix.log");
    let data = fs::read(&path).expect("run_mix.log");
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let evs = events(&path, false);
    let mut out = Vec::with_capacity(1 << 20);
    let wall = Instant::now();
    let t0 = cpu_seconds(wall);
    for _ in 0..rounds {
        let mut rd = Renderer::new(false, true); // a cold section cache each time through the log
        for ev in &evs {
            out.clear();
            rd.render_json(ev, &mut out);
        }
    }
    let t1 = cpu_seconds(wall);
    let mut n = 0usize;
    for _ in 0..rounds {
        let mut rd = Renderer::new(false, true);
        let mut asm = Assembler::default();
        let mut evs = Vec::new();
        for line in lines(&data) {
            for rec in parse_line(line, false) {
                asm.push(rec, &mut evs);
            }
        }
        asm.flush(&mut evs);
        for ev in &evs {
            out.clear();
            rd.render_json(ev, &mut out);
        }
        n += evs.len();
    }
    let t2 = cpu_seconds(wall);
    eprintln!(
        "run_mix.log: {} events; render_json {:.0} events/s; parse+assemble+render_json {:.0} events/s (CPU time)",
        evs.len(),
        (evs.len() * rounds) as f64 / (t1 - t0),
        n as f64 / (t2 - t1)
    );
}
