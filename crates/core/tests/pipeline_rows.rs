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
    let mut with_tree_facts = 0;
    for (path, _format) in &logs {
        // the corpus sits beside the repository (../shared); a missing file is a broken checkout
        let log = fs::read(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut json = Vec::new();
        for tree in [false, true] {
            let full = rows(&log, true, tree);
            json.push(full.json.clone());
            let lean = rows(&log, false, tree);
            assert_eq!(full.events, lean.events, "{path}");
            assert_eq!(full.rows.len(), lean.rows.len(), "{path} (tree {tree})");
            for (i, (a, b)) in full.rows.iter().zip(&lean.rows).enumerate() {
                assert_eq!(a, b, "{path} (tree {tree}): row {i}");
            }
            compared[usize::from(tree)] += full.rows.len();
        }
        with_tree_facts += same_but_tree_facts(&json[0], &json[1], path);
    }
    // the events whose process the tree knew (it follows exec, fork and exit; logs carry few forks)
    assert_eq!(with_tree_facts, 358);
    // tree off: the goldens' rows (testdata/golden/*.rows.jsonl); tree on adds process_tree rows
    assert_eq!(compared, [1446, 1646]);
}

/// The event JSON with the tree on is the JSON with the tree off plus `summary.tree`: how many lines have it.
fn same_but_tree_facts(off: &[u8], on: &[u8], path: &str) -> usize {
    let (off, on): (Vec<&[u8]>, Vec<&[u8]>) = (
        off.split(|&c| c == b'\n').collect(),
        on.split(|&c| c == b'\n').collect(),
    );
    assert_eq!(off.len(), on.len(), "{path}");
    let mut n = 0;
    for (a, b) in off.iter().zip(&on) {
        if a == b {
            continue;
        }
        let mut v: serde_json::Value = serde_json::from_slice(b).expect("event JSON");
        let facts = v
            .get_mut("summary")
            .and_then(serde_json::Value::as_object_mut)
            .and_then(|s| s.remove("tree"));
        assert!(facts.is_some_and(|f| f.get("start").is_some()), "{path}");
        assert_eq!(serde_json::to_vec(&v).expect("JSON"), *a, "{path}");
        n += 1;
    }
    n
}
