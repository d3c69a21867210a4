//! The pipeline's rows do not depend on what else it writes: over every golden log (`MANIFEST.tsv`), the
//! rows of a pipeline that renders the event JSON (names and `raw` array included) equal those of one that
//! renders rows only (`auditsql run` without outputs: no names, no `raw`, the mappers read the records),
//! with the process tree off and on.

use std::fs;
use std::path::{Path, PathBuf};

use auditsql_core::pipeline::{Batch, Pipeline, Settings};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (path relative to the repository, format) of every golden log.
fn logs() -> Vec<(String, String)> {
    let manifest = fs::read_to_string(repo().join("crates/core/testdata/golden/MANIFEST.tsv"))
        .expect("MANIFEST.tsv");
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_owned(), f.nth(1)?.to_owned()))
        })
        .collect()
}

fn rows(log: &[u8], events_json: bool, process_tree: bool) -> Batch {
    let mut p = Pipeline::new(Settings {
        resolve_ids: false,
        events_json,
        process_tree,
        tree_key: Some(b"auditsql_tree".to_vec()),
        ..Settings::default()
    });
    let mut b = Batch::default();
    p.feed_lines(log, &mut b);
    p.finish(&mut b);
    b
}

#[test]
fn rows_only_pipelines_give_the_same_rows() {
    let logs = logs();
    assert_eq!(logs.len(), 207);
    let mut compared = [0; 2];
    for (path, _format) in &logs {
        // the corpus sits beside the repository (../shared); a missing file is a broken checkout
        let log = fs::read(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        for tree in [false, true] {
            let full = rows(&log, true, tree);
            let lean = rows(&log, false, tree);
            assert_eq!(full.events, lean.events, "{path}");
            assert_eq!(full.rows.len(), lean.rows.len(), "{path} (tree {tree})");
            for (i, (a, b)) in full.rows.iter().zip(&lean.rows).enumerate() {
                assert_eq!(a, b, "{path} (tree {tree}): row {i}");
            }
            compared[usize::from(tree)] += full.rows.len();
        }
    }
    // tree off: the goldens' rows (testdata/golden/*.rows.jsonl); tree on adds process_tree rows
    assert_eq!(compared, [1446, 1646]);
}
