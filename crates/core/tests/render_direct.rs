//! The direct JSON writer (`Renderer::render_json`) against the `Map` path it replaces
//! (`Renderer::render_json_via_map`: `render`, then serde_json): the same bytes for every event of every
//! corpus log, with each renderer setting, and for events of generated records.

use auditsql_core::event::render::Renderer;
use auditsql_core::event::Event;
use proptest::prelude::*;

mod common;
use common::{events, events_of, manifest, repo_path};

/// The two writers' lines for `evs`, with one renderer each (their caches warm alike).
fn both(evs: &[Event], resolve_ids: bool, raw: bool) -> (Vec<String>, Vec<String>) {
    let (mut direct, mut via_map) = (
        Renderer::new(resolve_ids, raw),
        Renderer::new(resolve_ids, raw),
    );
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for ev in evs {
        let (mut g, mut w) = (Vec::new(), Vec::new());
        direct.render_json(ev, &mut g);
        via_map.render_json_via_map(ev, &mut w);
        got.push(String::from_utf8(g).expect("render_json writes UTF-8"));
        want.push(String::from_utf8(w).expect("serde_json writes UTF-8"));
    }
    (got, want)
}

#[test]
fn corpus_events_are_byte_identical() {
    let (mut events_seen, mut logs) = (0usize, 0usize);
    for (path, slug, detect) in manifest() {
        let evs = events(&repo_path(&path), detect);
        for (resolve_ids, raw) in [(false, true), (false, false), (true, true)] {
            let (got, want) = both(&evs, resolve_ids, raw);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{slug} (resolve_ids {resolve_ids}, raw {raw})");
            }
            events_seen += got.len();
        }
        logs += 1;
    }
    assert_eq!((logs, events_seen), (207, 3 * 893));
}

#[test]
fn one_renderer_serves_both_paths() {
    // the Map path and the direct path keep apart caches: interleaved, each still writes the same bytes
    let mut rd = Renderer::new(false, true);
    let mut n = 0;
    for (path, slug, detect) in manifest().into_iter().take(40) {
        for ev in events(&repo_path(&path), detect) {
            let (mut g, mut w) = (Vec::new(), Vec::new());
            rd.render_json(&ev, &mut g);
            rd.render_json_via_map(&ev, &mut w);
            assert_eq!(g, w, "{slug}");
            n += 1;
        }
    }
    assert!(n > 100, "{n} events");
}

const TYPES: &[&str] = &[
    "SYSCALL",
    "SYSCALL",
    "PATH",
    "PATH",
    "CWD",
    "EXECVE",
    "EXECVE",
    "PROCTITLE",
    "SOCKADDR",
    "EOE",
    "USER_LOGIN",
    "USER_AUTH",
    "USER_CMD",
    "AVC",
    "LOGIN",
    "BPRM_FCAPS",
    "CONFIG_CHANGE",
    "UNKNOWN[1399]",
    "ID",
    "summary",
];

const KEYS: &[&str] = &[
    "arch",
    "syscall",
    "success",
    "exit",
    "a0",
    "a1",
    "a2",
    "a3",
    "items",
    "ppid",
    "pid",
    "auid",
    "uid",
    "gid",
    "euid",
    "suid",
    "fsuid",
    "egid",
    "sgid",
    "fsgid",
    "tty",
    "ses",
    "comm",
    "exe",
    "subj",
    "key",
    "name",
    "inode",
    "mode",
    "ouid",
    "ogid",
    "nametype",
    "cwd",
    "argc",
    "a0",
    "a1",
    "proctitle",
    "saddr",
    "msg",
    "res",
    "op",
    "acct",
    "hostname",
    "addr",
    "terminal",
    "ARCH",
    "SYSCALL",
    "AUID",
    "UID",
    "ARGV",
    "_text",
    "old-auid",
    "new-auid",
    "cap_fp",
    "unknownkey",
    "x",
];

const VALUES: &[&str] = &[
    "0",
    "1",
    "-2",
    "-0",
    "007",
    "59",
    "4294967295",
    "99999999999999999999",
    "-9223372036854775808",
    "18446744073709551615",
    "c000003e",
    "C000003E",
    "0x1f",
    "0100644",
    "yes",
    "no",
    "success",
    "failed",
    "EPERM",
    "\"bash\"",
    "\"a b\\\\c\"",
    "\"\"",
    "'x'",
    "(null)",
    "?",
    "2F62696E2F6C73",
    "2F62696E00",
    "\"/tmp/%+\"",
    "unset",
    "x86_64",
    "root",
    "'op=PAM:session_open acct=\"root\" exe=\"/usr/bin/su\" hostname=? addr=? terminal=pts/0 res=success'",
    "'avc:  denied  { read } for pid=1 uid=0 res=0'",
    "'just text'",
    "020000358C7C4F430000000000000000",
    "0A000016000000000000000000000000000000010000000000000000",
    "{ a b }",
    "é",
    "\u{1}",
];

const WORDS: &[&str] = &[
    "avc:", "denied", "{", "read", "write", "}", "for", "free", "x=1",
];

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (prop::sample::select(KEYS), prop::sample::select(VALUES))
            .prop_map(|(k, v)| format!("{k}={v}")),
        1 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => ("[a-zA-Z_\\-]{1,6}", "[ -~]{0,8}").prop_map(|(k, v)| format!("{k}={v}")),
    ]
}

fn line() -> impl Strategy<Value = String> {
    (
        prop::sample::select(TYPES),
        prop::collection::vec(field(), 0..12),
        prop::option::of(prop::collection::vec(
            (prop::sample::select(KEYS), prop::sample::select(VALUES)),
            0..4,
        )),
        any::<bool>(),
    )
        .prop_map(|(t, fields, enrich, node)| {
            let mut l = String::new();
            if node {
                l.push_str("node=h ");
            }
            l.push_str(&format!("type={t} msg=audit(1700000000.123:42): "));
            l.push_str(&fields.join(" "));
            if let Some(e) = enrich {
                l.push('\x1d');
                let e: Vec<String> = e
                    .iter()
                    .map(|(k, v)| format!("{}={v}", k.to_uppercase()))
                    .collect();
                l.push_str(&e.join(" "));
            }
            l
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_events_are_byte_identical(
        lines in prop::collection::vec(line(), 1..8),
        detect in any::<bool>(),
        resolve_ids in any::<bool>(),
        raw in any::<bool>(),
    ) {
        let mut text = lines.join("\n");
        text.push('\n');
        let evs = events_of(text.as_bytes(), detect);
        let (got, want) = both(&evs, resolve_ids, raw);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn many_and_repeated_keys_are_byte_identical(
        t in prop::sample::select(TYPES),
        fields in prop::collection::vec(("[a-e]{1,2}|[A-E]{1,2}|_text|ARGV|SYSCALL", 0u32..40), 0..300),
        enrich in prop::collection::vec(("[a-eA-E]{1,2}", 0u32..9), 0..40),
    ) {
        // objects of many keys (the hash index) and keys written more than once (the first kept)
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let tail: Vec<String> = enrich.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let line = format!(
            "type={t} msg=audit(1.002:3): {}\x1d{}\ntype=PATH msg=audit(1.002:3): {}\n",
            body.join(" "),
            tail.join(" "),
            body.join(" "),
        );
        let evs = events_of(line.as_bytes(), true);
        let (got, want) = both(&evs, false, true);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_are_byte_identical(
        lines in prop::collection::vec(
            (prop::sample::select(TYPES), prop::collection::vec(any::<u8>(), 0..80)),
            1..5,
        ),
    ) {
        let mut text = Vec::new();
        for (t, body) in &lines {
            text.extend_from_slice(format!("type={t} msg=audit(1.002:3): ").as_bytes());
            text.extend(body.iter().map(|&c| if c == b'\n' { b' ' } else { c }));
            text.push(b'\n');
        }
        let evs = events_of(&text, true);
        let (got, want) = both(&evs, false, true);
        prop_assert_eq!(got, want);
    }
}

/// A log's event JSON lines from a pipeline.
fn pipeline_json(data: &[u8], rows: bool) -> Vec<u8> {
    use auditsql_core::pipeline::{Batch, Pipeline, Settings};
    let mut p = Pipeline::new(Settings {
        rows,
        resolve_ids: false,
        ..Settings::default()
    });
    let mut batch = Batch::default();
    p.feed_lines(data, &mut batch);
    p.finish(&mut batch);
    batch.json
}

#[test]
fn pipeline_without_rows_writes_the_same_lines() {
    // rows off (`auditsql read`): the direct writer; rows on (`run`/`import`): the Map the rows read
    let mut logs = 0;
    for (path, slug, _) in manifest() {
        let data = std::fs::read(repo_path(&path)).expect("corpus log");
        let direct = pipeline_json(&data, false);
        let via_map = pipeline_json(&data, true);
        assert_eq!(direct, via_map, "{slug}");
        logs += 1;
    }
    assert_eq!(logs, 207);
}
