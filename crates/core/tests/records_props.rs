//! Properties of the parser and the encodings (port of the hypothesis tests of
//! tests/records/test_encoding.py): the parser never panics, its records cover the line exactly, well-formed
//! lines round-trip; escape → unescape gives the bytes back and escape's text is clean UTF-8.
use auditsql_core::record::encoding::{decode_encoded, escape, unescape};
use auditsql_core::record::msgtypes::MSG_NUMBERS;
use auditsql_core::record::parse::{parse_line, parse_nested, parse_netlink, parse_text, tokenize};
use auditsql_core::record::Field;
use proptest::prelude::*;
use std::sync::OnceLock;

/// Record lines of the goldens (the corpus, as the Python parser read it), to mutate.
fn corpus_lines() -> &'static [Vec<u8>] {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let dir = std::path::Path::new("testdata/golden");
        let mut out = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("goldens")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if !path.to_string_lossy().ends_with(".records.jsonl") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("golden");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
                if let Some(t) = v["text"].as_str() {
                    out.push(t.as_bytes().to_vec());
                }
            }
        }
        assert!(out.len() > 2000);
        out
    })
}

const FRAGMENTS: &[&[u8]] = &[
    b"type=SYSCALL msg=audit(1.002:3): ",
    b"node=n type=EOE msg=audit(1615114232.375:15558):",
    b"type=UNKNOWN[1329] msg=?",
    b"type=X msg=audit(9",
    b" ",
    b"\t",
    b"  ",
    b"a=1 ",
    b"k=",
    b"\"",
    b"'",
    b"=",
    b"{",
    b"}",
    b"(enforce)",
    b"subj=",
    b"msg='",
    b"old ",
    b"new ",
    b"\x1d",
    b"AUID=",
    b"\xff",
    b"\xc3\xa4",
    b"\r",
    b"\n",
    b"\x00",
    b"\x85",
    b"\xe2\x80\xa8",
    b"99999999999999999999",
    b"18446744073709551616",
    b"(",
    b")",
    b": ",
    b",",
    b"0OUID=",
];

fn fragment_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
                prop::collection::vec(any::<u8>(), 0..4)
            ],
            0..30
        )
        .prop_map(|parts| parts.concat()),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Flip(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..6).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), prop::sample::select(FRAGMENTS))
            .prop_map(|(p, f)| Mutation::Insert(p, f.to_vec())),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
    ]
}

fn mutated_line() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<prop::sample::Index>(),
        prop::collection::vec(mutation(), 1..6),
    )
        .prop_map(|(i, muts)| {
            let lines = corpus_lines();
            let mut line = lines[i.index(lines.len())].clone();
            for m in muts {
                let len = line.len();
                match m {
                    Mutation::Delete(p, n) if len > 0 => {
                        let p = p % len;
                        line.drain(p..(p + n).min(len));
                    }
                    Mutation::Insert(p, f) => {
                        let p = p % (len + 1);
                        line.splice(p..p, f);
                    }
                    Mutation::Flip(p, b) if len > 0 => line[p % len] = b,
                    _ => {}
                }
            }
            line
        })
}

/// The records of a line cover it exactly: in order, separated by spaces and tabs only.
fn assert_cover(data: &[u8], detect: bool) {
    let recs = parse_line(data, detect);
    let mut body = data.strip_suffix(b"\n").unwrap_or(data);
    if data.ends_with(b"\n") {
        body = body.strip_suffix(b"\r").unwrap_or(body);
    }
    if recs.is_empty() {
        assert!(body.iter().all(|&c| c == b' ' || c == b'\t'), "{data:?}");
        return;
    }
    let mut pos = 0;
    for (i, r) in recs.iter().enumerate() {
        assert!(!r.text.is_empty());
        if i > 0 {
            let sep = body[pos..]
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
            assert!(sep > 0, "{data:?}");
            pos += sep;
        }
        assert!(body[pos..].starts_with(&r.text), "{data:?}");
        pos += r.text.len();
        assert!(r.text.ends_with(r.body()));
        assert!(r.body_start <= r.text.len());
    }
    assert_eq!(pos, body.len(), "{data:?}");
}

fn exercise(data: &[u8]) {
    assert_cover(data, true);
    assert_cover(data, false);
    let r = parse_netlink(1300, data);
    assert_eq!(r.rtype, 1300);
    let _ = parse_netlink(u32::MAX, data);
    let _ = parse_nested(data);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics_on_bytes(data in fragment_line()) {
        exercise(&data);
    }

    #[test]
    fn parser_never_panics_on_mutated_corpus_lines(data in mutated_line()) {
        exercise(&data);
    }

    #[test]
    fn unescape_inverts_escape(data in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert_eq!(unescape(&escape(&data)), data);
    }

    #[test]
    fn escape_is_clean_utf8(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let out = escape(&data);
        // a String is UTF-8; no C0 control or DEL, '%' only starts an escape, no '+', no BOM
        let unclean = |c: char| c.is_ascii_control() || c == '+' || c == '\u{feff}';
        prop_assert!(!out.chars().any(unclean), "{:?}", out);
        let b = out.as_bytes();
        for (i, _) in b.iter().enumerate().filter(|(_, &c)| c == b'%') {
            prop_assert!(b.len() > i + 2);
            prop_assert!(b[i + 1..i + 3].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
        }
    }

    #[test]
    fn valid_text_escapes_to_itself_but_the_escaped(s in "\\PC*") {
        let out = escape(s.as_bytes());
        let plain = s.chars().all(|c| c != '%' && c != '+' && c != '\u{feff}' && !c.is_ascii_control());
        prop_assert_eq!(plain, out == s);
    }

    #[test]
    fn decode_encoded_of_hex(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let upper: String = data.iter().map(|b| format!("{b:02X}")).collect();
        prop_assert_eq!(decode_encoded(upper.as_bytes()), Some(data.clone()));
        prop_assert_eq!(decode_encoded(upper.to_lowercase().as_bytes()), Some(data));
    }
}

// -- round trip of well-formed lines (the Python test's audit_lines strategy) --------------------------------

fn word(first: &'static str, rest: &'static str, max: usize) -> impl Strategy<Value = String> {
    let pattern = format!("[{first}][{rest}]{{0,{max}}}");
    proptest::string::string_regex(&pattern).expect("regex")
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!#-~]{0,20}".prop_map(|s| format!("\"{s}\"")),
        prop::collection::vec(any::<u8>(), 0..24)
            .prop_map(|b| b.iter().map(|x| format!("{x:02X}")).collect()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| format!("{n:x}")),
        prop::sample::select(&["(null)", "?", "(none)", ""][..]).prop_map(str::to_owned),
    ]
}

fn enrich_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!#-~]{0,20}".prop_map(|s| format!("\"{s}\"")),
        "[a-z0-9_]{1,10}"
    ]
}

#[derive(Clone, Debug)]
struct Line {
    text: String,
    node: Option<String>,
    name: String,
    rtype: u32,
    stamp: (u64, u64, u64),
    fields: Vec<(String, String)>,
    enrich: Vec<(String, String)>,
}

fn audit_line() -> impl Strategy<Value = Line> {
    let names: Vec<(&'static str, u32)> = MSG_NUMBERS.to_vec();
    (
        prop::option::of(word("a-z0-9", "a-z0-9.-", 15)),
        prop_oneof![
            prop::sample::select(names).prop_map(|(n, t)| (n.to_owned(), t)),
            (1000u32..3000).prop_map(|n| (format!("UNKNOWN[{n}]"), n)),
        ],
        // the Python test drew sec below 2^40; here below the year 10000 (later stamps are error records)
        (0u64..253_402_300_800, 0u64..1000, 0u64..1 << 32),
        prop::collection::vec((word("a-z", "a-z0-9_-", 11), value()), 0..12),
        prop::collection::vec((word("A-Z", "A-Z0-9_", 8), enrich_value()), 0..4),
    )
        .prop_map(|(node, (name, rtype), stamp, fields, enrich)| {
            let mut text = node
                .as_ref()
                .map(|n| format!("node={n} "))
                .unwrap_or_default();
            text += &format!(
                "type={name} msg=audit({}.{:03}:{}):",
                stamp.0, stamp.1, stamp.2
            );
            if !fields.is_empty() {
                text += " ";
                text += &fields
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            if !enrich.is_empty() {
                text += "\x1d";
                text += &enrich
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            // a type name may also be an alias of another number (AA is APPARMOR's)
            Line {
                text,
                node,
                name,
                rtype,
                stamp,
                fields,
                enrich,
            }
        })
}

fn as_fields(pairs: &[(String, String)]) -> Vec<Field> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().into(), v.as_bytes().into()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn parser_round_trip(line in audit_line(), detect in any::<bool>()) {
        let recs = parse_text(line.text.as_bytes(), detect);
        prop_assert_eq!(recs.len(), 1);
        let r = &recs[0];
        prop_assert_eq!(&r.text, line.text.as_bytes());
        prop_assert_eq!(&r.error, &None);
        prop_assert_eq!(r.node.as_deref(), line.node.as_deref().map(str::as_bytes));
        prop_assert_eq!((&r.name[..], r.rtype), (line.name.as_bytes(), line.rtype));
        prop_assert_eq!((r.sec, r.msec, r.serial), line.stamp);
        prop_assert_eq!(&r.fields, &as_fields(&line.fields));
        prop_assert_eq!(&r.enrich, &as_fields(&line.enrich));
        for term in [&b""[..], b"\n", b"\r\n"] {
            let recs = parse_line(&[line.text.as_bytes(), term].concat(), detect);
            prop_assert_eq!(&recs[0].text, line.text.as_bytes());
            prop_assert_eq!(&recs[0].fields, &as_fields(&line.fields));
        }
        // the same record from netlink: the body is tokenized without detection
        let payload = &line.text[line.text.find("audit(").unwrap_or(0)..];
        let n = parse_netlink(line.rtype, payload.as_bytes());
        prop_assert_eq!((n.sec, n.msec, n.serial, n.rtype), (line.stamp.0, line.stamp.1, line.stamp.2, line.rtype));
        prop_assert_eq!(&n.fields, &tokenize(r.body(), false).0);
    }

    #[test]
    fn several_records_on_one_line_round_trip(
        lines in prop::collection::vec(audit_line(), 2..5),
        sep in prop::sample::select(&[" ", "  ", "\t", " \t "][..]),
    ) {
        // only the last record may carry a 0x1d tail (a tail runs to the end of the line)
        let n = lines.len();
        let texts: Vec<&str> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if i + 1 < n { l.text.split('\x1d').next().unwrap_or_default() } else { &l.text[..] })
            .collect();
        let joined = texts.join(sep);
        let recs = parse_text(joined.as_bytes(), true);
        let got: Vec<&[u8]> = recs.iter().map(|r| &r.text[..]).collect();
        let want: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        prop_assert_eq!(got, want);
        for (r, l) in recs.iter().zip(&lines) {
            prop_assert_eq!(&r.fields, &as_fields(&l.fields));
            prop_assert_eq!(r.serial, l.stamp.2);
        }
    }
}
