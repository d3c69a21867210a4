//! Tests of the renderer: exact values, Python's examples (docs/event-json.md, tests/events), property tests,
//! and the renderer alone against the goldens.

mod pieces {
    use super::super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso_base(0), "1970-01-01T00:00:00.");
        assert_eq!(iso_base(1_615_114_232), "2021-03-07T10:50:32.");
        assert_eq!(iso_base(951_782_400), "2000-02-29T00:00:00.");
        assert_eq!(iso_base(253_402_300_799), "9999-12-31T23:59:59.");
        assert_eq!(iso_base(253_402_300_800), "10000-01-01T00:00:00.");
        // never panics, whatever the second
        assert_eq!(iso_base(u64::MAX), "584554051223-11-09T07:00:15.");
    }

    #[test]
    fn pick_slots() {
        for (i, k) in PICK_KEYS.iter().enumerate() {
            assert_eq!(pick_slot(k.as_bytes()), Some(i), "{k}");
        }
        for (i, (_, up, _)) in ID_NAMES.iter().enumerate() {
            assert_eq!(PICK_KEYS[P_NAMES + i], *up);
        }
        let user = [
            "op", "acct", "id", "exe", "hostname", "addr", "terminal", "res", "grantors", "cmd",
            "cwd",
        ];
        assert_eq!(P_USER.map(|i| PICK_KEYS[i]), user);
        assert_eq!(PICK_KEYS[P_RES], "res");
        assert_eq!(
            [P_SYSCALL, P_SUCCESS, P_EXIT, P_SYSCALL_NAME, P_MSG].map(|i| PICK_KEYS[i]),
            ["syscall", "success", "exit", "SYSCALL", "msg"]
        );
        assert_eq!(pick_slot(b"nope"), None);
    }

    #[test]
    fn free_words() {
        let mut m = Map::new();
        let w: Vec<&[u8]> = vec![b"avc:", b"denied", b"{", b"read", b"write", b"}", b"for"];
        free_text(&w, &mut m);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"denied": ["read", "write"]})
        );
        let mut m = Map::new();
        let w: Vec<&[u8]> = vec![b"avc:", b"denied", b"{", b"read", b"for", b"x"];
        free_text(&w, &mut m);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"denied": ["read", "for", "x"]})
        );
        let mut m = Map::new();
        let w: Vec<&[u8]> = vec![b"avc:", b"granted", b"{", b"}", b"for", b"a", b"b\xff"];
        free_text(&w, &mut m);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"granted": [], "_text": "a b%ff"})
        );
        let mut m = Map::new();
        let w: Vec<&[u8]> = vec![b"policy", b"loaded%"];
        free_text(&w, &mut m);
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"_text": "policy loaded%"})
        );
    }

    #[test]
    fn braced_values() {
        assert_eq!(
            braced(b"{ saddr_fam=inet laddr=1.2.3.4 }"),
            "{saddr_fam=inet laddr=1.2.3.4}"
        );
        assert_eq!(braced(b"{}"), "{}");
        assert_eq!(braced(b"{  }"), "{}");
        assert_eq!(braced(b"{x"), "{x");
        assert_eq!(braced(b"{"), "{");
    }

    #[test]
    fn raw_texts() {
        assert_eq!(raw_text(b"type=X a=\xc3\xa4"), "type=X a=ä");
        assert_eq!(raw_text(b"a\xff"), serde_json::json!({"base64": "Yf8="}));
    }
}

mod render_tests {
    use super::super::*;
    use serde_json::json;

    /// A record as the parser makes it: `text` is `type=NAME msg=audit(S.M:N): body`.
    fn rec(text: &str, rtype: u32, fields: &[(&str, &str)], enrich: &[(&str, &str)]) -> Record {
        let body_start = text.find("): ").map_or(text.len(), |i| i + 3);
        let name = text
            .split("type=")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .unwrap_or("");
        let stamp = text.split("audit(").nth(1).unwrap_or("0.0:0)");
        let (sec, rest) = stamp.split_once('.').unwrap_or(("0", "0:0)"));
        let (msec, rest) = rest.split_once(':').unwrap_or(("0", "0)"));
        let serial = rest.split(')').next().unwrap_or("0");
        let node = text
            .strip_prefix("node=")
            .and_then(|t| t.split(' ').next())
            .map(|n| n.as_bytes().to_vec());
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.as_bytes().into(), v.as_bytes().into()))
                .collect()
        };
        Record {
            text: text.as_bytes().to_vec(),
            node,
            rtype,
            name: name.as_bytes().to_vec(),
            sec: sec.parse().unwrap(),
            msec: msec.parse().unwrap(),
            serial: serial.parse().unwrap(),
            body_start,
            fields: pairs(fields),
            enrich: pairs(enrich),
            error: None,
        }
    }

    fn event(records: Vec<Record>, closed_by: ClosedBy) -> Event {
        let f = &records[0];
        Event {
            node: f.node.clone(),
            sec: f.sec,
            msec: f.msec,
            serial: f.serial,
            records,
            closed_by,
            duplicates: 0,
            seq: 0,
            began: 0,
            seen: 0.0,
        }
    }

    fn render(records: Vec<Record>, closed_by: ClosedBy) -> Value {
        Value::Object(Renderer::new(false, true).render(&event(records, closed_by)))
    }

    fn syscall(fields: &[(&str, &str)]) -> Value {
        let r = rec("type=SYSCALL msg=audit(1.000:1): ...", 1300, fields, &[]);
        render(vec![r], ClosedBy::Flush)["summary"].clone()
    }

    #[test]
    fn syscall_summaries() {
        for (arch, nr, arch_name, name) in [
            ("c00000b7", "221", "aarch64", "execve"),
            ("40000003", "11", "i386", "execve"),
            ("c000003e", "59", "x86_64", "execve"),
            ("80000015", "11", "ppc64", "execve"),
        ] {
            let s = syscall(&[
                ("arch", arch),
                ("syscall", nr),
                ("success", "yes"),
                ("exit", "0"),
                ("pid", "5"),
            ]);
            assert_eq!(
                (
                    &s["arch"],
                    &s["syscall"],
                    &s["syscall_nr"],
                    &s["success"],
                    &s["exit"]
                ),
                (
                    &json!(arch_name),
                    &json!(name),
                    &json!(nr.parse::<u64>().unwrap()),
                    &json!(true),
                    &json!(0)
                )
            );
        }
        let s = syscall(&[
            ("arch", "deadbeef"),
            ("syscall", "59"),
            ("success", "yes"),
            ("exit", "0"),
        ]);
        assert_eq!(
            (&s["arch"], &s["syscall"], &s["syscall_nr"]),
            (&json!("0xdeadbeef"), &json!("59"), &json!(59))
        );
        let s = syscall(&[
            ("arch", "c000003e"),
            ("syscall", "42"),
            ("success", "no"),
            ("exit", "-2"),
            ("a0", "4"),
        ]);
        assert_eq!(
            s,
            json!({"time": "1970-01-01T00:00:01.000Z", "type": "SYSCALL", "records": 1, "arch": "x86_64",
                   "syscall": "connect", "syscall_nr": 42, "success": false, "exit": -2, "errno": "ENOENT",
                   "closed_by": "flush"})
        );
        let s = syscall(&[
            ("arch", "c000003e"),
            ("syscall", "0"),
            ("success", "yes"),
            ("exit", "2"),
        ]);
        assert!(s.get("errno").is_none());
        // an interpreted log writes the names itself
        let s = syscall(&[
            ("arch", "x86_64"),
            ("syscall", "open"),
            ("success", "no"),
            ("exit", "EACCES"),
        ]);
        assert_eq!(
            (&s["arch"], &s["syscall"], &s["exit"], &s["errno"]),
            (
                &json!("x86_64"),
                &json!("open"),
                &json!("EACCES"),
                &json!("EACCES")
            )
        );
        assert!(s.get("syscall_nr").is_none());
    }

    #[test]
    fn proctitle_section() {
        let r = rec(
            "type=PROCTITLE msg=audit(1.000:1): proctitle=746F756368002F746D702F6120620A",
            1327,
            &[("proctitle", "746F756368002F746D702F6120620A")],
            &[],
        );
        let d = render(vec![r], ClosedBy::Flush);
        assert_eq!(d["PROCTITLE"], json!({"ARGV": ["touch", "/tmp/a b%0a"]}));
        assert_eq!(d["summary"]["proctitle"], json!(["touch", "/tmp/a b%0a"]));
    }

    #[test]
    fn docs_examples() {
        // docs/event-json.md, hillu_linux-audit-parser-rs/line-user-acct.txt
        let text = "type=USER_ACCT msg=audit(1615113648.981:15220): pid=9460 uid=1000 auid=1000 ses=1 msg='op=PAM:accounting grantors=pam_permit acct=\"user\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/1 res=success'\u{1d}UID=\"user\" AUID=\"user\"";
        let msg = "'op=PAM:accounting grantors=pam_permit acct=\"user\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/1 res=success'";
        let r = rec(
            text,
            1101,
            &[
                ("pid", "9460"),
                ("uid", "1000"),
                ("auid", "1000"),
                ("ses", "1"),
                ("msg", msg),
            ],
            &[("UID", "\"user\""), ("AUID", "\"user\"")],
        );
        let got = serde_json::to_string(&render(vec![r], ClosedBy::Single)).unwrap();
        assert_eq!(
            got,
            r#"{"ID":"1615113648.981:15220","USER_ACCT":[{"pid":9460,"uid":1000,"auid":1000,"ses":1,"msg":{"op":"PAM:accounting","grantors":"pam_permit","acct":"user","exe":"/usr/bin/sudo","hostname":null,"addr":null,"terminal":"/dev/pts/1","res":"success"},"UID":"user","AUID":"user"}],"summary":{"time":"2021-03-07T10:40:48.981Z","type":"USER_ACCT","records":1,"pid":9460,"auid":1000,"uid":1000,"ses":1,"op":"PAM:accounting","acct":"user","exe":"/usr/bin/sudo","terminal":"/dev/pts/1","res":"success","grantors":"pam_permit","success":true,"names":{"auid":"user","uid":"user"}},"raw":["type=USER_ACCT msg=audit(1615113648.981:15220): pid=9460 uid=1000 auid=1000 ses=1 msg='op=PAM:accounting grantors=pam_permit acct=\"user\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/1 res=success'\u001dUID=\"user\" AUID=\"user\""]}"#
        );
        // line-avc-denied.txt
        let text = "type=AVC msg=audit(1631798689.083:65686): avc:  denied  { setuid } for  pid=15381 comm=\"laurel\" capability=7  scontext=system_u:system_r:auditd_t:s0 tcontext=system_u:system_r:auditd_t:s0 tclass=capability permissive=1";
        let r = rec(
            text,
            1400,
            &[
                ("", "avc:"),
                ("", "denied"),
                ("", "{"),
                ("", "setuid"),
                ("", "}"),
                ("", "for"),
                ("pid", "15381"),
                ("comm", "\"laurel\""),
                ("capability", "7"),
                ("scontext", "system_u:system_r:auditd_t:s0"),
                ("tcontext", "system_u:system_r:auditd_t:s0"),
                ("tclass", "capability"),
                ("permissive", "1"),
            ],
            &[],
        );
        let got = serde_json::to_string(&render(vec![r], ClosedBy::Flush)).unwrap();
        assert_eq!(
            got,
            r#"{"ID":"1631798689.083:65686","AVC":[{"pid":15381,"comm":"laurel","capability":7,"scontext":"system_u:system_r:auditd_t:s0","tcontext":"system_u:system_r:auditd_t:s0","tclass":"capability","permissive":1,"denied":["setuid"]}],"summary":{"time":"2021-09-16T13:24:49.083Z","type":"AVC","records":1,"pid":15381,"closed_by":"flush"},"raw":["type=AVC msg=audit(1631798689.083:65686): avc:  denied  { setuid } for  pid=15381 comm=\"laurel\" capability=7  scontext=system_u:system_r:auditd_t:s0 tcontext=system_u:system_r:auditd_t:s0 tclass=capability permissive=1"]}"#
        );
        // a line that is not a record
        let err = Record {
            text: b"hello".to_vec(),
            error: Some("not an audit record (no type= header)".into()),
            ..Record::default()
        };
        let got = serde_json::to_string(&render(vec![err], ClosedBy::Error)).unwrap();
        assert_eq!(
            got,
            r#"{"ID":"0.000:0","summary":{"time":"1970-01-01T00:00:00.000Z","type":"","records":1,"closed_by":"error","warnings":["not an audit record (no type= header)"]},"raw":["hello"]}"#
        );
        // a PATH name holding the byte 0xff
        let mut r = rec(
            "type=PATH msg=audit(1.000:7): item=0 name=\"/tmp/X\" nametype=NORMAL",
            1302,
            &[
                ("item", "0"),
                ("name", "\"/tmp/X\""),
                ("nametype", "NORMAL"),
            ],
            &[],
        );
        for b in r.text.iter_mut().chain(r.fields[1].1.iter_mut()) {
            if *b == b'X' {
                *b = 0xff;
            }
        }
        let got = serde_json::to_string(&render(vec![r], ClosedBy::Flush)).unwrap();
        assert_eq!(
            got,
            r#"{"ID":"1.000:7","PATH":[{"item":0,"name":"/tmp/%ff","nametype":"NORMAL"}],"summary":{"time":"1970-01-01T00:00:01.000Z","type":"PATH","records":1,"paths":[{"name":"/tmp/%ff","nametype":"NORMAL"}],"closed_by":"flush"},"raw":[{"base64":"dHlwZT1QQVRIIG1zZz1hdWRpdCgxLjAwMDo3KTogaXRlbT0wIG5hbWU9Ii90bXAv/yIgbmFtZXR5cGU9Tk9STUFM"}]}"#
        );
    }

    #[test]
    fn section_shapes() {
        let sc = rec(
            "type=SYSCALL msg=audit(5.000:9): arch=c000003e syscall=59 a0=1 a1=zz",
            1300,
            &[
                ("arch", "c000003e"),
                ("syscall", "59"),
                ("a0", "1"),
                ("a1", "zz"),
                ("pid", "3"),
                ("pid", "4"),
                ("a2", "?"),
            ],
            &[
                ("ARCH", "x86_64"),
                ("pid", "9"),
                ("SADDR", "{ saddr_fam=inet laddr=1.2.3.4 }"),
            ],
        );
        let cwd = rec(
            "type=CWD msg=audit(5.000:9): cwd=\"/\"",
            1307,
            &[("cwd", "\"/\"")],
            &[],
        );
        let cwd2 = rec(
            "type=CWD msg=audit(5.000:9): cwd=\"/x\"",
            1307,
            &[("cwd", "\"/x\"")],
            &[],
        );
        let ex1 = rec(
            "type=EXECVE msg=audit(5.000:9): argc=2 a0=\"ls\"",
            1309,
            &[("argc", "2"), ("a0", "\"ls\"")],
            &[],
        );
        let ex2 = rec(
            "type=EXECVE msg=audit(5.000:9): a1=2D6C",
            1309,
            &[("a1", "2D6C")],
            &[],
        );
        let eoe = rec("type=EOE msg=audit(5.000:9): ", 1320, &[], &[]);
        let d = render(vec![sc, ex1, cwd, ex2, cwd2, eoe], ClosedBy::Eoe);
        let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["ID", "SYSCALL", "EXECVE", "CWD", "summary", "raw"]);
        assert_eq!(
            d["SYSCALL"],
            json!({"arch": "0xc000003e", "syscall": 59, "pid": 3, "ARCH": "x86_64",
                   "SADDR": "{saddr_fam=inet laddr=1.2.3.4}", "SYSCALL": "execve", "ARGV": ["0x1", "zz", ""]})
        );
        assert_eq!(d["EXECVE"], json!({"argc": 2, "ARGV": ["ls", "-l"]}));
        assert_eq!(d["CWD"], json!([{"cwd": "/"}, {"cwd": "/x"}]));
        let s = &d["summary"];
        assert_eq!(s["argv"], json!(["ls", "-l"]));
        assert_eq!(s["argc"], json!(2));
        assert_eq!(s["records"], json!(6));
        assert!(s.get("cwd").is_none()); // two CWD records: a list, no summary cwd
        assert!(s.get("closed_by").is_none());
    }
}

mod render_props {
    use super::super::*;
    use proptest::prelude::*;

    const KEYS: [&str; 25] = [
        "pid",
        "auid",
        "uid",
        "ogid",
        "exit",
        "arch",
        "mode",
        "cap_fp",
        "name",
        "exe",
        "comm",
        "proctitle",
        "cwd",
        "key",
        "tty",
        "success",
        "res",
        "op",
        "acct",
        "hostname",
        "info",
        "dev",
        "nametype",
        "zzz",
        "old-ses",
    ];

    fn token() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::sample::select(vec![
                "(null)",
                "?",
                "",
                "0",
                "-2",
                "c000003e",
                "0100755",
                "yes",
                "abc",
                "ABCD",
                "(none)",
                "'abc'",
                "'x y'",
                "\"q\"",
                "\"a b\"",
                "\"%+\"",
                "x%y",
                "'",
                "\"",
                "é",
                "2F746D70",
                "unset",
                "1_0",
                " 7",
                "0x1f",
                "99999999999999999999",
            ])
            .prop_map(|t| t.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    fn as_fields(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<crate::record::Field> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_slice().into(), v.as_slice().into()))
            .collect()
    }

    fn record(
        rtype: u32,
        fields: Vec<crate::record::Field>,
        enrich: Vec<crate::record::Field>,
    ) -> Record {
        let text = b"type=PATH msg=audit(1.000:1): ...".to_vec();
        Record {
            body_start: text.len() - 3,
            text,
            rtype,
            name: b"PATH".to_vec(),
            sec: 1,
            serial: 1,
            fields,
            enrich,
            ..Record::default()
        }
    }

    proptest! {
        // Python: tests/events/test_interpret.py::test_section_values_match_convert
        #[test]
        fn section_values_match_convert(
            fields in prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), token(), 0..8)
        ) {
            let fields: Vec<crate::record::Field> =
                fields.into_iter().map(|(k, v)| (k.as_bytes().into(), v.into())).collect();
            let want: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| {
                    let k = std::str::from_utf8(k).unwrap();
                    (k.to_owned(), values::convert(values::converter(k.as_bytes()), v))
                })
                .collect();
            let mut rd = Renderer::new(false, true);
            let got = rd.section(&record(1302, fields, Vec::new()), None);
            prop_assert_eq!(Value::Object(got), Value::Object(want));
        }

        #[test]
        fn render_never_panics(
            rtypes in prop::collection::vec(prop::sample::select(vec![0u32, 1300, 1302, 1306, 1307, 1309, 1320, 1327, 1100, 1400]), 1..5),
            fields in prop::collection::vec((prop_oneof![
                prop::sample::select(vec!["", "msg", "a0", "arch", "syscall", "exit", "saddr", "proctitle", "argc", "a1", "a0[1]", "a1_len", "uid", "res"]).prop_map(|k| k.as_bytes().to_vec()),
                prop::collection::vec(any::<u8>(), 0..6),
            ], token()), 0..10),
            enrich in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..4), token()), 0..3),
            text in prop::collection::vec(any::<u8>(), 0..40),
            node in prop::option::of(prop::collection::vec(any::<u8>(), 0..5)),
        ) {
            let records: Vec<Record> = rtypes
                .iter()
                .map(|&t| Record { text: text.clone(), node: node.clone(), name: format!("T{t}").into_bytes(), ..record(t, as_fields(&fields), as_fields(&enrich)) })
                .collect();
            let ev = Event { node, sec: 1, msec: 2, serial: 3, records, closed_by: ClosedBy::Window, duplicates: 1, seq: 0, began: 0, seen: 0.0 };
            let mut out = Vec::new();
            Renderer::new(false, true).render_json(&ev, &mut out);
            let v: Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(&v["ID"], &Value::String("1.002:3".into()));
        }
    }
}

/// The renderer alone against the goldens: records from `SLUG.records.jsonl` (no parser), grouped into events
/// as `SLUG.events.jsonl` lists them in `raw` (no assembler).
mod golden_records {
    use super::super::*;
    use std::collections::HashMap;

    fn bytes(v: &Value) -> Vec<u8> {
        match v {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Object(m) => base64::engine::general_purpose::STANDARD
                .decode(m.get("b64").and_then(Value::as_str).unwrap_or(""))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn pairs(v: &Value) -> Vec<crate::record::Field> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|p| (bytes(&p[0]).into(), bytes(&p[1]).into()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn record(v: &Value) -> Record {
        let text = bytes(&v["text"]);
        let body = bytes(&v["body"]);
        let body_start = text.len().saturating_sub(body.len());
        Record {
            text,
            node: (!v["node"].is_null()).then(|| bytes(&v["node"])),
            rtype: v["type"].as_u64().unwrap_or(0) as u32,
            name: bytes(&v["name"]),
            sec: v["sec"].as_u64().unwrap_or(0),
            msec: v["msec"].as_u64().unwrap_or(0),
            serial: v["serial"].as_u64().unwrap_or(0),
            body_start,
            fields: pairs(&v["fields"]),
            enrich: pairs(&v["enrich"]),
            error: v["error"].as_str().map(str::to_owned),
        }
    }

    #[test]
    fn render_from_golden_records() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden");
        let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
        let (mut total, mut matched, mut shown) = (0, 0, 0);
        for line in manifest.lines().filter(|l| !l.starts_with('#')) {
            let slug = line.split('\t').nth(1).unwrap();
            let recs = std::fs::read_to_string(dir.join(format!("{slug}.records.jsonl"))).unwrap();
            let mut by_text: HashMap<Vec<u8>, Record> = HashMap::new();
            for l in recs.lines() {
                let r = record(&serde_json::from_str(l).unwrap());
                by_text.entry(r.text.clone()).or_insert(r);
            }
            let evs = std::fs::read_to_string(dir.join(format!("{slug}.events.jsonl"))).unwrap();
            let mut rd = Renderer::new(false, true);
            for l in evs.lines() {
                let want: Value = serde_json::from_str(l).unwrap();
                let records: Vec<Record> = want["raw"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| by_text[&bytes(t)].clone())
                    .collect();
                let s = &want["summary"];
                let closed_by = match s["closed_by"].as_str() {
                    Some("window") => ClosedBy::Window,
                    Some("flush") => ClosedBy::Flush,
                    Some("late") => ClosedBy::Late,
                    Some("error") => ClosedBy::Error,
                    _ => ClosedBy::Eoe,
                };
                let first = &records[0];
                let ev = Event {
                    node: first.node.clone(),
                    sec: first.sec,
                    msec: first.msec,
                    serial: first.serial,
                    records,
                    closed_by,
                    duplicates: s["duplicates"].as_u64().unwrap_or(0) as u32,
                    seq: 0,
                    began: 0,
                    seen: 0.0,
                };
                let got = serde_json::to_string(&rd.render(&ev)).unwrap();
                let want = serde_json::to_string(&want).unwrap();
                total += 1;
                if got == want {
                    matched += 1;
                } else if shown < 5 {
                    shown += 1;
                    eprintln!("{slug}\n got {got}\nwant {want}\n");
                }
            }
        }
        eprintln!("render from golden records: {matched}/{total} events match");
        assert_eq!(matched, total);
    }
}
