//! What the golden tests share: the manifest of corpus logs, their paths, their lines as the log reader
//! yields them, and their events assembled with the defaults.
#![allow(dead_code)] // each test crate uses part of it

use std::fs;
use std::path::{Path, PathBuf};

use auditsql_core::event::assemble::Assembler;
use auditsql_core::event::Event;
use auditsql_core::record::parse::parse_line;

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

/// A path relative to the repository root, from the crate directory (a worktree `wt/NAME` reaches the
/// shared corpus one directory further up).
pub fn repo_path(rel: &str) -> PathBuf {
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
pub fn manifest() -> Vec<(String, String, bool)> {
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
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&c| c == b'\n').filter_map(|line| {
        let blank = line.iter().all(|c| b" \t\n\r\x0b\x0c".contains(c));
        if line.first() == Some(&b'#') || blank {
            return None;
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// Every event of log text, assembled with the defaults and flushed.
pub fn events_of(data: &[u8], detect: bool) -> Vec<Event> {
    let mut asm = Assembler::default();
    let mut out = Vec::new();
    for line in lines(data) {
        for rec in parse_line(line, detect) {
            asm.push(rec, &mut out);
        }
    }
    asm.flush(&mut out);
    out
}

/// Every event of the log at `path`.
pub fn events(path: &Path, detect: bool) -> Vec<Event> {
    let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    events_of(&data, detect)
}
