//! The event JSON against the goldens written by the Python implementation: every log of the manifest is
//! read as `sources/logfile.py` reads it, parsed, assembled, flushed and rendered (ids not resolved, raw
//! records on); each event must equal its line of `SLUG.events.jsonl`, key order included.
//!
//! `UPDATE_GOLDEN=1 cargo test --test render_golden` rewrites the events goldens from this output.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use auditsql_core::event::assemble::Assembler;
use auditsql_core::event::render::Renderer;
use auditsql_core::event::Event;
use auditsql_core::record::parse::parse_line;
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

/// A manifest path (relative to the repository root) from the crate directory. A git worktree one level
/// below the main checkout (`wt/NAME`) reaches the same corpus one directory further up.
fn log_path(rel: &str) -> PathBuf {
    let near = Path::new("../..").join(rel);
    if near.exists() {
        return near;
    }
    let far = Path::new("../../..").join(rel);
    if far.exists() {
        far
    } else {
        near
    }
}

/// `(path, slug, detect)` for every manifest row.
fn manifest() -> Vec<(String, String, bool)> {
    let text = fs::read_to_string(golden_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "manifest row: {l}");
            (cols[0].to_owned(), cols[1].to_owned(), cols[2] != "raw")
        })
        .collect()
}

/// The lines of a log as `LogSource` yields them: `#` comments and blank lines skipped, terminator removed.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&c| c == b'\n').filter_map(|line| {
        let blank = line.iter().all(|c| b" \t\n\r\x0b\x0c".contains(c));
        if line.first() == Some(&b'#') || blank {
            return None;
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// Every event of a log, as the Python pipeline assembled them.
fn events(path: &Path, detect: bool) -> Vec<Event> {
    let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut asm = Assembler::default();
    let mut out = Vec::new();
    for line in lines(&data) {
        for rec in parse_line(line, detect) {
            asm.push(rec, &mut out);
        }
    }
    asm.flush(&mut out);
    out
}

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
        let evs = events(&log_path(path), *detect);
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

/// Events per second through parse, assemble and render_json on benchmarks/data/run_mix.log (meaningful
/// with `--release`; run with `--ignored --nocapture`).
#[test]
#[ignore]
fn speed_run_mix() {
    let data = fs::read(log_path("benchmarks/data/run_mix.log")).expect("run_mix.log");
    let rounds = 50;
    let evs = events(&log_path("benchmarks/data/run_mix.log"), false);
    let mut out = Vec::with_capacity(1 << 20);
    let t = Instant::now();
    for _ in 0..rounds {
        let mut rd = Renderer::new(false, true); // a cold section cache each time through the log
        for ev in &evs {
            out.clear();
            rd.render_json(ev, &mut out);
        }
    }
    let render = t.elapsed().as_secs_f64();
    let t = Instant::now();
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
    let all = t.elapsed().as_secs_f64();
    let per = (evs.len() * rounds) as f64;
    eprintln!(
        "run_mix.log: {} events; render_json {:.0} events/s; parse+assemble+render {:.0} events/s",
        evs.len(),
        per / render,
        n as f64 / all
    );
}
