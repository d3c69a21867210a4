//! Exact-value tests of the record parser (port of tests/records/test_parser.py): every odd shape listed in
//! the corpus README, each a real corpus line (the Python test cites the file), plus the bad inputs of the
//! native core's requirements.
use auditsql_core::record::parse::{
    parse_line, parse_nested, parse_netlink, parse_text, split_enrichment, tokenize, NOT_AUDIT,
    SERIAL_RANGE, TIMESTAMP_RANGE,
};
use auditsql_core::record::{Field, Record, FREE_TEXT};

/// shared/corpus/threathunters-io_laurel/record-execve.txt line 1 (node= prefix + 0x1d ENRICHED tail)
const LAUREL_EXECVE_SYSCALL: &str = concat!(
    "node=work type=SYSCALL msg=audit(1615114232.375:15558): arch=c000003e syscall=59 success=yes exit=0 ",
    "a0=63b29337fd18 a1=63b293387d58 a2=63b293375640 a3=fffffffffffff000 items=2 ppid=10883 pid=10884 ",
    "auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=1 comm=\"whoami\" ",
    "exe=\"/usr/bin/whoami\" key=(null)\x1dARCH=x86_64 SYSCALL=execve AUID=\"user\" UID=\"root\" GID=\"root\" ",
    "EUID=\"root\" SUID=\"root\" FSUID=\"root\" EGID=\"root\" SGID=\"root\" FSGID=\"root\""
);

fn fields(pairs: &[(&str, &str)]) -> Vec<Field> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().into(), v.as_bytes().into()))
        .collect()
}

fn keys(r: &Record) -> Vec<String> {
    r.fields
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}

fn one(line: &str) -> Record {
    let mut recs = parse_text(line.as_bytes(), true);
    assert_eq!(recs.len(), 1, "{line:?}");
    let r = recs.remove(0);
    assert_eq!(r.text, line.as_bytes());
    r
}

fn header(r: &Record) -> (Option<&[u8]>, u32, &[u8], u64, u64, u64) {
    (r.node.as_deref(), r.rtype, &r.name, r.sec, r.msec, r.serial)
}

const F: &str = ""; // FREE_TEXT as a &str

// -- headers ----------------------------------------------------------------------------------------------

#[test]
fn node_prefix_and_0x1d_enrichment() {
    let r = one(LAUREL_EXECVE_SYSCALL);
    assert_eq!(
        header(&r),
        (
            Some(&b"work"[..]),
            1300,
            &b"SYSCALL"[..],
            1615114232,
            375,
            15558
        )
    );
    assert_eq!(r.error, None);
    assert_eq!(r.id(), "1615114232.375:15558");
    let head = "node=work type=SYSCALL msg=audit(1615114232.375:15558): ";
    assert_eq!(r.body(), &LAUREL_EXECVE_SYSCALL.as_bytes()[head.len()..]);
    assert_eq!(
        r.fields,
        fields(&[
            ("arch", "c000003e"),
            ("syscall", "59"),
            ("success", "yes"),
            ("exit", "0"),
            ("a0", "63b29337fd18"),
            ("a1", "63b293387d58"),
            ("a2", "63b293375640"),
            ("a3", "fffffffffffff000"),
            ("items", "2"),
            ("ppid", "10883"),
            ("pid", "10884"),
            ("auid", "1000"),
            ("uid", "0"),
            ("gid", "0"),
            ("euid", "0"),
            ("suid", "0"),
            ("fsuid", "0"),
            ("egid", "0"),
            ("sgid", "0"),
            ("fsgid", "0"),
            ("tty", "pts1"),
            ("ses", "1"),
            ("comm", "\"whoami\""),
            ("exe", "\"/usr/bin/whoami\""),
            ("key", "(null)"),
        ])
    );
    assert_eq!(
        r.enrich,
        fields(&[
            ("ARCH", "x86_64"),
            ("SYSCALL", "execve"),
            ("AUID", "\"user\""),
            ("UID", "\"root\""),
            ("GID", "\"root\""),
            ("EUID", "\"root\""),
            ("SUID", "\"root\""),
            ("FSUID", "\"root\""),
            ("EGID", "\"root\""),
            ("SGID", "\"root\""),
            ("FSGID", "\"root\""),
        ])
    );
    assert_eq!(r.get(b"key"), Some(&b"(null)"[..]));
    assert_eq!(r.get(b"nope"), None);
}

#[test]
fn node_prefix_path_record() {
    let line = concat!(
        "node=work type=PATH msg=audit(1614788539.386:13232): item=0 name=\"/usr/bin/whoami\" inode=261214 ",
        "dev=ca:03 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0000000000000000 ",
        "cap_fi=0000000000000000 cap_fe=0 cap_fver=0"
    );
    let r = one(line);
    assert_eq!(
        (r.node.as_deref(), r.rtype, &r.name[..]),
        (Some(&b"work"[..]), 1302, &b"PATH"[..])
    );
    assert_eq!(r.id(), "1614788539.386:13232");
    assert_eq!(
        r.fields,
        fields(&[
            ("item", "0"),
            ("name", "\"/usr/bin/whoami\""),
            ("inode", "261214"),
            ("dev", "ca:03"),
            ("mode", "0100755"),
            ("ouid", "0"),
            ("ogid", "0"),
            ("rdev", "00:00"),
            ("nametype", "NORMAL"),
            ("cap_fp", "0000000000000000"),
            ("cap_fi", "0000000000000000"),
            ("cap_fe", "0"),
            ("cap_fver", "0"),
        ])
    );
    assert!(r.enrich.is_empty());
}

#[test]
fn unknown_1329_without_stamp_is_an_error_record() {
    let r = one("type=UNKNOWN[1329] msg=?");
    assert_eq!(header(&r), (None, 1329, &b"UNKNOWN[1329]"[..], 0, 0, 0));
    assert_eq!(r.body(), b"msg=?");
    assert!(r.fields.is_empty() && r.enrich.is_empty());
    assert_eq!(
        r.error.as_deref(),
        Some("no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=?'")
    );
}

#[test]
fn unknown_1329_msg_g() {
    let r = one("type=UNKNOWN[1329] msg=g");
    assert_eq!(header(&r), (None, 1329, &b"UNKNOWN[1329]"[..], 0, 0, 0));
    assert_eq!(r.body(), b"msg=g");
    assert_eq!(
        r.error.as_deref(),
        Some("no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=g'")
    );
}

#[test]
fn unknown_type_with_normal_header() {
    let r = one("type=UNKNOWN[1334] msg=audit(1626883065.201:216697): prog-id=45 op=UNLOAD");
    assert_eq!(
        (r.rtype, &r.name[..], r.id(), r.error),
        (
            1334,
            &b"UNKNOWN[1334]"[..],
            "1626883065.201:216697".into(),
            None
        )
    );
    assert_eq!(r.fields, fields(&[("prog-id", "45"), ("op", "UNLOAD")]));
}

#[test]
fn daemon_config_header_without_colon() {
    let line = concat!(
        "type=DAEMON_CONFIG msg=audit(1490239800.477:34) config changed, auid=0 pid=1512 ",
        "subj=system_u:system_r:unconfined_service_t:s0 res=success"
    );
    let r = one(line);
    assert_eq!(
        header(&r),
        (None, 1203, &b"DAEMON_CONFIG"[..], 1490239800, 477, 34)
    );
    assert_eq!(r.error, None);
    assert_eq!(
        r.body(),
        b"config changed, auid=0 pid=1512 subj=system_u:system_r:unconfined_service_t:s0 res=success"
    );
    assert_eq!(
        r.fields,
        fields(&[
            (F, "config"),
            (F, "changed,"),
            ("auid", "0"),
            ("pid", "1512"),
            ("subj", "system_u:system_r:unconfined_service_t:s0"),
            ("res", "success"),
        ])
    );
}

#[test]
fn not_an_audit_record() {
    let r = one("hello world");
    assert_eq!(
        (r.rtype, &r.name[..], r.sec, r.body(), r.fields.len()),
        (0, &b""[..], 0, &b""[..], 0)
    );
    assert_eq!(r.error.as_deref(), Some(NOT_AUDIT));
    assert_eq!(NOT_AUDIT, "not an audit record (no type= header)");
}

#[test]
fn comment_line_is_kept_as_error_record() {
    let r = one("# orphan = simple demo program");
    assert_eq!(r.error.as_deref(), Some(NOT_AUDIT));
    assert!(r.fields.is_empty());
}

#[test]
fn empty_and_blank_lines() {
    assert!(parse_text(b"", true).is_empty());
    assert!(parse_text(b"  \t ", true).is_empty());
    assert!(parse_line(b"\n", true).is_empty());
    assert!(parse_line(b"\r\n", true).is_empty());
}

// -- several records on one physical line -------------------------------------------------------------------

#[test]
fn several_records_on_one_line() {
    let line = concat!(
        "type=MAC_STATUS msg=audit(1480086668.032:1327): enforcing=0 old_enforcing=1 auid=0 ses=8 ",
        "type=SYSCALL msg=audit(1480086668.032:1327): arch=c000003e syscall=1 success=yes exit=1 a0=3 ",
        "a1=7ff3=7fff9eff0ac0 items=0 ppid=4765 pid=4788 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 ",
        "sgid=0 fsgid=0 tty=pts0 ses=8 comm=\"setenforce\" exe=\"/usr/sbin/setenforce\" ",
        "subj=unconfined_u:unconed_t:s0-s0:c0.c1023 key=(null)"
    );
    let recs = parse_text(line.as_bytes(), true);
    assert_eq!(recs.len(), 2);
    let (a, b) = (&recs[0], &recs[1]);
    assert_eq!(
        a.text,
        b"type=MAC_STATUS msg=audit(1480086668.032:1327): enforcing=0 old_enforcing=1 auid=0 ses=8"
    );
    assert_eq!(
        (a.rtype, &a.name[..], a.id()),
        (1404, &b"MAC_STATUS"[..], "1480086668.032:1327".into())
    );
    assert_eq!(
        a.fields,
        fields(&[
            ("enforcing", "0"),
            ("old_enforcing", "1"),
            ("auid", "0"),
            ("ses", "8")
        ])
    );
    assert_eq!(b.text, &line.as_bytes()[a.text.len() + 1..]);
    assert_eq!(
        (b.rtype, &b.name[..], b.id()),
        (1300, &b"SYSCALL"[..], "1480086668.032:1327".into())
    );
    assert_eq!(
        b.fields[..7],
        fields(&[
            ("arch", "c000003e"),
            ("syscall", "1"),
            ("success", "yes"),
            ("exit", "1"),
            ("a0", "3"),
            ("a1", "7ff3=7fff9eff0ac0"),
            ("items", "0"),
        ])
    );
    assert_eq!(
        b.fields[b.fields.len() - 3..],
        fields(&[
            ("exe", "\"/usr/sbin/setenforce\""),
            ("subj", "unconfined_u:unconed_t:s0-s0:c0.c1023"),
            ("key", "(null)"),
        ])
    );
    assert_eq!(b.fields.len(), 24);
    assert!(a.error.is_none() && b.error.is_none());
}

#[test]
fn several_records_with_double_space_after_header() {
    let line = concat!(
        "type=SYSCALL msg=audit(1479982525.380:50): arch=c000003e syscall=2 success=yes exit=3 a0=7ffedc40d83b ",
        "a1=941 a2=1b6 a3=7ffedc40cce0 items=2 ppid=432 pid=3333 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 ",
        "egid=0 sgid=0 fsgid=0 tty=pts0 ses=2 comm=\"touch\" exe=\"/bin/touch\" key=\"audit-wazuh-w\" ",
        "type=CWD msg=audit(1479982525.380:50):  cwd=\"/var/log/audit\" ",
        "type=PATH msg=audit(1479982525.380:50): item=0 name=\"/var/log/audit/tmp_directory1/\" inode=399849 ",
        "dev=ca:02 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT ",
        "type=PATH msg=audit(1479982525.380:50): item=1 name=",
        "\"/var/log/audit/tmp_directory1/malware.py\" inode=399852 dev=ca:02 mode=0100644 ouid=0 ogid=0 ",
        "rdev=00:00 nametype=CREATE ",
        "type=PROCTITLE msg=audit(1479982525.380:50): proctitle=746F756368002F7661722F6C6F672F61756469742F",
        "746D705F6469726563746F7279312F6D616C776172652E7079"
    );
    let recs = parse_text(line.as_bytes(), true);
    let names: Vec<&[u8]> = recs.iter().map(|r| &r.name[..]).collect();
    assert_eq!(
        names,
        [&b"SYSCALL"[..], b"CWD", b"PATH", b"PATH", b"PROCTITLE"]
    );
    assert!(recs.iter().all(|r| r.id() == "1479982525.380:50"));
    let joined: Vec<&[u8]> = recs.iter().map(|r| &r.text[..]).collect();
    assert_eq!(joined.join(&b' '), line.as_bytes());
    let cwd = &recs[1];
    assert_eq!(
        cwd.text,
        b"type=CWD msg=audit(1479982525.380:50):  cwd=\"/var/log/audit\""
    );
    assert_eq!(cwd.body(), b" cwd=\"/var/log/audit\"");
    assert_eq!(cwd.fields, fields(&[("cwd", "\"/var/log/audit\"")]));
    assert_eq!(
        recs[0].fields.last(),
        fields(&[("key", "\"audit-wazuh-w\"")]).first()
    );
    assert_eq!(
        recs[3].fields.last(),
        fields(&[("nametype", "CREATE")]).first()
    );
}

#[test]
fn several_records_after_leading_whitespace() {
    let line = " type=MAC_STATUS msg=audit(1480086668.032:1327): enforcing=0 type=EOE msg=audit(1480086668.032:1327): ";
    let recs = parse_text(line.as_bytes(), true);
    assert_eq!(recs.len(), 2);
    assert_eq!(
        recs[0].text,
        b" type=MAC_STATUS msg=audit(1480086668.032:1327): enforcing=0"
    );
    assert_eq!(
        (&recs[0].name[..], &recs[0].error, &recs[0].fields),
        (&b"MAC_STATUS"[..], &None, &fields(&[("enforcing", "0")]))
    );
    assert_eq!(recs[1].text, b"type=EOE msg=audit(1480086668.032:1327): ");
    assert_eq!(
        (&recs[1].name[..], recs[1].rtype, recs[1].fields.len()),
        (&b"EOE"[..], 1320, 0)
    );
}

#[test]
fn several_records_with_empty_bodies() {
    let line =
        "type=EOE msg=audit(1.000:1): type=EOE msg=audit(1.000:2):  type=EOE msg=audit(1.000:3):";
    let recs = parse_text(line.as_bytes(), true);
    let texts: Vec<&[u8]> = recs.iter().map(|r| &r.text[..]).collect();
    assert_eq!(
        texts,
        [
            &b"type=EOE msg=audit(1.000:1):"[..],
            b"type=EOE msg=audit(1.000:2):",
            b"type=EOE msg=audit(1.000:3):"
        ]
    );
    let serials: Vec<(u64, usize)> = recs.iter().map(|r| (r.serial, r.fields.len())).collect();
    assert_eq!(serials, [(1, 0), (2, 0), (3, 0)]);
}

#[test]
fn several_records_with_node_prefixes() {
    let line = concat!(
        "node=a type=SYSCALL msg=audit(1.000:1): syscall=59 node=a type=CWD msg=audit(1.000:1): cwd=\"/\" ",
        "node=b type=EOE msg=audit(1.000:1):"
    );
    let recs = parse_text(line.as_bytes(), true);
    type Got<'a> = (Option<&'a [u8]>, &'a [u8], &'a Vec<Field>);
    let got: Vec<Got> = recs
        .iter()
        .map(|r| (r.node.as_deref(), &r.name[..], &r.fields))
        .collect();
    assert_eq!(
        got,
        [
            (
                Some(&b"a"[..]),
                &b"SYSCALL"[..],
                &fields(&[("syscall", "59")])
            ),
            (Some(&b"a"[..]), &b"CWD"[..], &fields(&[("cwd", "\"/\"")])),
            (Some(&b"b"[..]), &b"EOE"[..], &fields(&[])),
        ]
    );
    let joined: Vec<&[u8]> = recs.iter().map(|r| &r.text[..]).collect();
    assert_eq!(joined.join(&b' '), line.as_bytes());
}

#[test]
fn blank_line_means_spaces_and_tabs_only() {
    let recs = parse_text(b" \x1d", true);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (&recs[0].text[..], recs[0].error.as_deref()),
        (&b" \x1d"[..], Some(NOT_AUDIT))
    );
    let recs = parse_line(b" \xc2\x85\n", true);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].text, b" \xc2\x85");
}

// -- ENRICHED tails -----------------------------------------------------------------------------------------

#[test]
fn enrichment_glued_without_separator_on_key() {
    let line = concat!(
        "type=SYSCALL msg=audit(1696431255.037:8272): arch=c000003e syscall=59 success=yes exit=0 ",
        "a0=557ac7557210 a1=7ffdb0f8f510 a2=557ac7554e60 a3=0 items=3 ppid=192009 pid=192010 auid=1000 ",
        "uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=417 ",
        "comm=\"bash\" exe=\"/usr/bin/bash\" subj=unconfined key=\"susp_shell\"ARCH=x86_64 SYSCALL=execve ",
        "AUID=\"bui\" UID=\"bui\" GID=\"bui\" EUID=\"bui\" SUID=\"bui\" FSUID=\"bui\" EGID=\"bui\" SGID=\"bui\" FSGID=\"bui\""
    );
    let r = one(line);
    assert_eq!(
        r.fields[r.fields.len() - 4..],
        fields(&[
            ("comm", "\"bash\""),
            ("exe", "\"/usr/bin/bash\""),
            ("subj", "unconfined"),
            ("key", "\"susp_shell\"")
        ])
    );
    assert_eq!(r.fields.len(), 26);
    assert_eq!(
        r.enrich,
        fields(&[
            ("ARCH", "x86_64"),
            ("SYSCALL", "execve"),
            ("AUID", "\"bui\""),
            ("UID", "\"bui\""),
            ("GID", "\"bui\""),
            ("EUID", "\"bui\""),
            ("SUID", "\"bui\""),
            ("FSUID", "\"bui\""),
            ("EGID", "\"bui\""),
            ("SGID", "\"bui\""),
            ("FSGID", "\"bui\""),
        ])
    );
}

#[test]
fn enrichment_glued_to_bare_value() {
    let line = concat!(
        "type=PATH msg=audit(1696431255.037:8272): item=0 name=\"/bin/bash\" inode=19792203 dev=08:02 ",
        "mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 ",
        "cap_frootid=0OUID=\"root\" OGID=\"root\""
    );
    let r = one(line);
    assert_eq!(
        r.fields,
        fields(&[
            ("item", "0"),
            ("name", "\"/bin/bash\""),
            ("inode", "19792203"),
            ("dev", "08:02"),
            ("mode", "0100755"),
            ("ouid", "0"),
            ("ogid", "0"),
            ("rdev", "00:00"),
            ("nametype", "NORMAL"),
            ("cap_fp", "0"),
            ("cap_fi", "0"),
            ("cap_fe", "0"),
            ("cap_fver", "0"),
            ("cap_frootid", "0"),
        ])
    );
    assert_eq!(
        r.enrich,
        fields(&[("OUID", "\"root\""), ("OGID", "\"root\"")])
    );
}

#[test]
fn enrichment_after_plain_space() {
    let line = concat!(
        "node=praorem001 type=SYSCALL msg=audit(1723109482.048:4981103): arch=c000003e syscall=87 success=yes ",
        "exit=0 a0=7f1118081d10 a1=7f1118081d10 a2=242 a3=180 items=2 ppid=560201 pid=560348 auid=1561577791 ",
        "uid=2012 gid=2007 euid=2012 suid=2012 fsuid=2012 egid=2007 sgid=2007 fsgid=2007 tty=(none) ses=126 ",
        "comm=\"httpd\" exe=\"/app/ogc101/app/dllogc/product/13.5.0/mw_100/ohs/bin/httpd\" key=\"delete\" ",
        "ARCH=x86_64 SYSCALL=unlink AUID=\"na-uoradbdba03\" UID=\"dllogc\" GID=\"oinstall\" EUID=\"dllogc\" ",
        "SUID=\"dllogc\" FSUID=\"dllogc\" EGID=\"oinstall\" SGID=\"oinstall\" FSGID=\"oinstall\""
    );
    let r = one(line);
    assert_eq!(
        (r.node.as_deref(), r.id()),
        (Some(&b"praorem001"[..]), "1723109482.048:4981103".into())
    );
    assert_eq!(
        r.fields[r.fields.len() - 4..],
        fields(&[
            ("ses", "126"),
            ("comm", "\"httpd\""),
            (
                "exe",
                "\"/app/ogc101/app/dllogc/product/13.5.0/mw_100/ohs/bin/httpd\""
            ),
            ("key", "\"delete\""),
        ])
    );
    assert_eq!(r.fields.len(), 25);
    assert_eq!(
        r.enrich,
        fields(&[
            ("ARCH", "x86_64"),
            ("SYSCALL", "unlink"),
            ("AUID", "\"na-uoradbdba03\""),
            ("UID", "\"dllogc\""),
            ("GID", "\"oinstall\""),
            ("EUID", "\"dllogc\""),
            ("SUID", "\"dllogc\""),
            ("FSUID", "\"dllogc\""),
            ("EGID", "\"oinstall\""),
            ("SGID", "\"oinstall\""),
            ("FSGID", "\"oinstall\""),
        ])
    );
    // --format raw: only a 0x1d byte starts the tail, the upper-case words stay fields
    let (raw_fields, raw_enrich) = tokenize(r.body(), false);
    assert!(raw_enrich.is_empty());
    assert_eq!(
        raw_fields[25..27],
        fields(&[("ARCH", "x86_64"), ("SYSCALL", "unlink")])
    );
    assert_eq!(raw_fields.len(), 36);
}

#[test]
fn enrichment_after_quote_and_plain_space_in_user_message() {
    let line = concat!(
        "type=USER_START msg=audit(1784107225.880:387518118): pid=1688267 uid=0 auid=100002 ses=15441219 ",
        "msg='op=login id=100002 exe=\"/usr/sbin/sshd\" hostname=? addr=192.168.100.50 terminal=ssh ",
        "res=success' UID=\"root\" AUID=\"serviceuser\" ID=\"serviceuser\""
    );
    let r = one(line);
    assert_eq!(
        r.fields,
        fields(&[
            ("pid", "1688267"),
            ("uid", "0"),
            ("auid", "100002"),
            ("ses", "15441219"),
            ("msg", "'op=login id=100002 exe=\"/usr/sbin/sshd\" hostname=? addr=192.168.100.50 terminal=ssh res=success'"),
        ])
    );
    assert_eq!(
        r.enrich,
        fields(&[
            ("UID", "\"root\""),
            ("AUID", "\"serviceuser\""),
            ("ID", "\"serviceuser\"")
        ])
    );
}

#[test]
fn malformed_res_glued_enrichment() {
    let line = concat!(
        "type=USER_START msg=audit(1784107225.880:387518119): pid=1688268 uid=0 auid=100003 ses=15441220 ",
        "msg='op=login id=100003 exe=\"/usr/sbin/sshd\" hostname=? addr=192.168.100.51 terminal=ssh ",
        "res=successUID=\"root\" AUID=\"badformat\" ID=\"badformat\""
    );
    let r = one(line);
    assert_eq!(r.error, None);
    assert_eq!(
        r.fields,
        fields(&[
            ("pid", "1688268"),
            ("uid", "0"),
            ("auid", "100003"),
            ("ses", "15441220"),
            ("msg", "'op=login"),
            ("id", "100003"),
            ("exe", "\"/usr/sbin/sshd\""),
            ("hostname", "?"),
            ("addr", "192.168.100.51"),
            ("terminal", "ssh"),
            ("res", "success"),
        ])
    );
    assert_eq!(
        r.enrich,
        fields(&[
            ("UID", "\"root\""),
            ("AUID", "\"badformat\""),
            ("ID", "\"badformat\"")
        ])
    );
}

#[test]
fn enrichment_after_0x1d_following_nested_quote() {
    let line = concat!(
        "type=USER_AUTH msg=audit(1670424651.175:10465161): pid=1932610 uid=0 auid=4294967295 ",
        "ses=4294967295 subj=/usr/sbin/cupsd (enforce) msg='op=PAM:authentication grantors=pam_permit ",
        "acct=\"user\" exe=\"/usr/sbin/cupsd\" hostname=localhost addr=::1 terminal=cups res=success'\x1d",
        "UID=\"root\" AUID=\"unset\""
    );
    let r = one(line);
    let payload = concat!(
        "'op=PAM:authentication grantors=pam_permit acct=\"user\" exe=\"/usr/sbin/cupsd\" hostname=localhost ",
        "addr=::1 terminal=cups res=success'"
    );
    assert_eq!(
        r.fields,
        fields(&[
            ("pid", "1932610"),
            ("uid", "0"),
            ("auid", "4294967295"),
            ("ses", "4294967295"),
            ("subj", "/usr/sbin/cupsd (enforce)"),
            ("msg", payload),
        ])
    );
    assert_eq!(
        r.enrich,
        fields(&[("UID", "\"root\""), ("AUID", "\"unset\"")])
    );
    assert_eq!(
        parse_nested(payload.as_bytes()),
        fields(&[
            ("op", "PAM:authentication"),
            ("grantors", "pam_permit"),
            ("acct", "\"user\""),
            ("exe", "\"/usr/sbin/cupsd\""),
            ("hostname", "localhost"),
            ("addr", "::1"),
            ("terminal", "cups"),
            ("res", "success"),
        ])
    );
}

#[test]
fn split_enrichment_cases() {
    assert_eq!(
        split_enrichment(b"a=1 b=\"x\"\x1dA=\"y\" B=2"),
        (&b"a=1 b=\"x\""[..], Some(&b"A=\"y\" B=2"[..]))
    );
    assert_eq!(split_enrichment(b"a=1"), (&b"a=1"[..], None));
    assert_eq!(split_enrichment(b"a=1\x1d"), (&b"a=1"[..], Some(&b""[..])));
}

#[test]
fn braced_enrichment_value() {
    let r = one("type=SOCKADDR msg=audit(1661853391.646:4486226): saddr=100000000000000000000000\x1dSADDR={ fam=netlink nlnk-fam=16 nlnk-pid=0 }");
    assert_eq!(r.fields, fields(&[("saddr", "100000000000000000000000")]));
    assert_eq!(
        r.enrich,
        fields(&[("SADDR", "{ fam=netlink nlnk-fam=16 nlnk-pid=0 }")])
    );
}

// -- values -------------------------------------------------------------------------------------------------

#[test]
fn quoted_unquoted_empty_null_and_question_mark_values() {
    let line = concat!(
        "type=CRYPTO_SESSION msg=audit(1481077041.515:406): pid=1298 uid=0 auid=4294967295 ses=4294967295 ",
        "subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=start direction=from-server ",
        "cipher=chacha20-poly1305@openssh.com ksize=512 mac= pfs=curve25519-sha256@libssh.org spid=1299 ",
        "suid=74 rport=63927 laddr=10.142.0.2 lport=22  exe=\"/usr/sbin/sshd\" hostname=? ",
        "addr=96.241.146.97 terminal=? res=success'"
    );
    let r = one(line);
    assert_eq!(keys(&r), ["pid", "uid", "auid", "ses", "subj", "msg"]);
    assert_eq!(
        parse_nested(r.get(b"msg").unwrap_or_default()),
        fields(&[
            ("op", "start"),
            ("direction", "from-server"),
            ("cipher", "chacha20-poly1305@openssh.com"),
            ("ksize", "512"),
            ("mac", ""),
            ("pfs", "curve25519-sha256@libssh.org"),
            ("spid", "1299"),
            ("suid", "74"),
            ("rport", "63927"),
            ("laddr", "10.142.0.2"),
            ("lport", "22"),
            ("exe", "\"/usr/sbin/sshd\""),
            ("hostname", "?"),
            ("addr", "96.241.146.97"),
            ("terminal", "?"),
            ("res", "success"),
        ])
    );
}

#[test]
fn empty_value_before_res() {
    let r = one("type=DAEMON_END msg=audit(1640080836.094:7063): op=terminate auid=0 pid=27347 subj= res=success\x1dAUID=\"root\"");
    assert_eq!((r.rtype, &r.name[..]), (1201, &b"DAEMON_END"[..]));
    assert_eq!(
        r.fields,
        fields(&[
            ("op", "terminate"),
            ("auid", "0"),
            ("pid", "27347"),
            ("subj", ""),
            ("res", "success")
        ])
    );
    assert_eq!(r.enrich, fields(&[("AUID", "\"root\"")]));
}

#[test]
fn null_question_mark_quoted_with_comma() {
    let (f, _) = tokenize(
        b"key=(null) tty=? info=\"same as current profile, skipping\" a0=\"x=y\"",
        true,
    );
    assert_eq!(
        f,
        fields(&[
            ("key", "(null)"),
            ("tty", "?"),
            ("info", "\"same as current profile, skipping\""),
            ("a0", "\"x=y\"")
        ])
    );
}

// -- nested user-space payloads -----------------------------------------------------------------------------

#[test]
fn nested_old_style_parenthesised() {
    let line = concat!(
        "type=USER_LOGIN msg=audit(1143146623.879:146): user pid=2027 uid=0 auid=848 ",
        "msg='uid=848: exe=\"/bin/login\" (hostname=?, addr=?, terminal=tty3 res=success)'"
    );
    let r = one(line);
    assert_eq!(
        r.fields,
        fields(&[
            (F, "user"),
            ("pid", "2027"),
            ("uid", "0"),
            ("auid", "848"),
            (
                "msg",
                "'uid=848: exe=\"/bin/login\" (hostname=?, addr=?, terminal=tty3 res=success)'"
            ),
        ])
    );
    assert_eq!(
        parse_nested(&r.fields[4].1),
        fields(&[
            ("uid", "848"),
            ("exe", "\"/bin/login\""),
            ("hostname", "?"),
            ("addr", "?"),
            ("terminal", "tty3"),
            ("res", "success"),
        ])
    );
}

#[test]
fn nested_old_style_pam_words() {
    let payload = "'PAM: session close acct=root : exe=\"/usr/sbin/crond\" (hostname=?, addr=?, terminal=cron res=success)'";
    assert_eq!(
        parse_nested(payload.as_bytes()),
        fields(&[
            (F, "PAM:"),
            (F, "session"),
            (F, "close"),
            ("acct", "root"),
            (F, ":"),
            ("exe", "\"/usr/sbin/crond\""),
            ("hostname", "?"),
            ("addr", "?"),
            ("terminal", "cron"),
            ("res", "success"),
        ])
    );
}

#[test]
fn nested_free_text_op() {
    let line = concat!(
        "type=USER_ACCT msg=audit(1610988774.279:815): pid=13812 uid=0 auid=1000 ses=14 ",
        "msg='op=changing /etc/group; group bob/1003, new name: bobby acct=\"bob\" exe=\"/usr/sbin/groupmod\" ",
        "hostname=ubuntu-bionic addr=? terminal=pts/2 res=success'"
    );
    let r = one(line);
    assert_eq!(r.fields.len(), 5);
    assert_eq!(
        parse_nested(&r.fields[4].1),
        fields(&[
            ("op", "changing"),
            (F, "/etc/group;"),
            (F, "group"),
            (F, "bob/1003,"),
            (F, "new"),
            (F, "name:"),
            (F, "bobby"),
            ("acct", "\"bob\""),
            ("exe", "\"/usr/sbin/groupmod\""),
            ("hostname", "ubuntu-bionic"),
            ("addr", "?"),
            ("terminal", "pts/2"),
            ("res", "success"),
        ])
    );
}

#[test]
fn nested_without_quotes() {
    assert_eq!(
        parse_nested(b"op=x res=success"),
        fields(&[("op", "x"), ("res", "success")])
    );
    assert_eq!(parse_nested(b"''"), fields(&[]));
    assert_eq!(parse_nested(b"'"), fields(&[(F, "'")]));
    // the colon rule needs digits before the colon, and `: ` somewhere in the payload
    assert_eq!(
        parse_nested(b"a=1: b=x:"),
        fields(&[("a", "1"), ("b", "x:")])
    );
    assert_eq!(parse_nested(b"a=1:"), fields(&[("a", "1:")]));
    assert_eq!(parse_nested(b"a=: b=1"), fields(&[("a", ":"), ("b", "1")]));
}

#[test]
fn old_new_qualifiers() {
    let r = one("type=LOGIN msg=audit(1170021601.343:296): login pid=13015 uid=0 old auid=4294967295 new auid=0");
    assert_eq!(
        r.fields,
        fields(&[
            (F, "login"),
            ("pid", "13015"),
            ("uid", "0"),
            ("old-auid", "4294967295"),
            ("new-auid", "0")
        ])
    );
    let r = one(concat!(
        "type=LOGIN msg=audit(1489636960.072:19623791): pid=28281 uid=0 old auid=700 new auid=700 ",
        "old ses=6793 new ses=12286"
    ));
    assert_eq!(
        r.fields,
        fields(&[
            ("pid", "28281"),
            ("uid", "0"),
            ("old-auid", "700"),
            ("new-auid", "700"),
            ("old-ses", "6793"),
            ("new-ses", "12286"),
        ])
    );
}

#[test]
fn qualifier_not_followed_by_key_stays_a_word() {
    assert_eq!(
        tokenize(b"a=1 new old", true).0,
        fields(&[("a", "1"), (F, "new"), (F, "old")])
    );
    assert_eq!(
        tokenize(b"old old a=1", true).0,
        fields(&[(F, "old"), ("old-a", "1")])
    );
    assert_eq!(
        tokenize(b"new x a=1", true).0,
        fields(&[(F, "new"), (F, "x"), ("a", "1")])
    );
}

// -- AppArmor and SELinux -----------------------------------------------------------------------------------

#[test]
fn apparmor_subj_with_mode() {
    let (f, _) = tokenize(b"ses=1 subj=/usr/sbin/cupsd (enforce) msg='op=x'", true);
    assert_eq!(
        f,
        fields(&[
            ("ses", "1"),
            ("subj", "/usr/sbin/cupsd (enforce)"),
            ("msg", "'op=x'")
        ])
    );
}

#[test]
fn apparmor_subj_double_equals() {
    let line = concat!(
        "type=SYSCALL msg=audit(1634623555.431:13835339): arch=c000003e syscall=49 success=yes exit=0 a0=15 ",
        "a1=55c5e046e264 a2=1c a3=7ffc8fab77ec items=0 ppid=1899774 pid=1899780 auid=4294967295 uid=0 gid=0 ",
        "euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"ntpd\" ",
        "exe=\"/usr/sbin/ntpd\" subj==/usr/sbin/ntpd (enforce) key=(null)"
    );
    let r = one(line);
    assert_eq!(
        r.fields[r.fields.len() - 3..],
        fields(&[
            ("exe", "\"/usr/sbin/ntpd\""),
            ("subj", "=/usr/sbin/ntpd (enforce)"),
            ("key", "(null)")
        ])
    );
    assert_eq!(r.fields.len(), 26);
}

#[test]
fn apparmor_subj_with_braces() {
    let (f, _) = tokenize(
        b"comm=\"dhclient\" exe=\"/sbin/dhclient\" subj=/{,usr/}sbin/dhclient key=(null)",
        true,
    );
    assert_eq!(
        f,
        fields(&[
            ("comm", "\"dhclient\""),
            ("exe", "\"/sbin/dhclient\""),
            ("subj", "/{,usr/}sbin/dhclient"),
            ("key", "(null)"),
        ])
    );
}

#[test]
fn selinux_avc_words_and_double_spaces() {
    let line = concat!(
        "type=AVC msg=audit(1631798689.083:65686): avc:  denied  { setuid } for  pid=15381 comm=\"laurel\" ",
        "capability=7  scontext=system_u:system_r:auditd_t:s0 tcontext=system_u:system_r:auditd_t:s0 ",
        "tclass=capability permissive=1"
    );
    let r = one(line);
    assert_eq!((r.rtype, &r.name[..]), (1400, &b"AVC"[..]));
    assert_eq!(
        r.fields,
        fields(&[
            (F, "avc:"),
            (F, "denied"),
            (F, "{"),
            (F, "setuid"),
            (F, "}"),
            (F, "for"),
            ("pid", "15381"),
            ("comm", "\"laurel\""),
            ("capability", "7"),
            ("scontext", "system_u:system_r:auditd_t:s0"),
            ("tcontext", "system_u:system_r:auditd_t:s0"),
            ("tclass", "capability"),
            ("permissive", "1"),
        ])
    );
}

#[test]
fn corrupted_subj_running_into_second_record() {
    let line = concat!(
        "type=DAEMON_END msg=audit(1724970459.096:8216): op=terminate auid=0 pid=12333 subj=24970459.090:670): ",
        "pid=12323 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:session_open ",
        "grantors=pam_keyinit,pam_keyinit,pam_limits,pam_systemd,pam_unix acct=\"root\" exe=\"/usr/bin/sudo\" ",
        "hostname=? addr=? terminal=/dev/pts/0 res=success' res=success"
    );
    let r = one(line);
    assert_eq!(
        keys(&r),
        ["op", "auid", "pid", "subj", "pid", "uid", "auid", "ses", "msg", "res"]
    );
    assert_eq!(
        r.fields[3],
        (b"subj"[..].into(), b"24970459.090:670):"[..].into())
    );
}

// -- line terminators ---------------------------------------------------------------------------------------

#[test]
fn last_line_without_trailing_newline() {
    let data: &[u8] = concat!(
        "type=CONFIG_CHANGE msg=audit(1492749467.018:1209): auid=4294967295 ses=4294967295 ",
        "subj=system_u:system_r:unconfined_service_t:s0 op=\"add_rule\" key=\"pam\" list=4 res=1"
    )
    .as_bytes();
    let r = parse_line(data, true);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].text, data);
    assert_eq!(
        (r[0].rtype, r[0].id()),
        (1305, "1492749467.018:1209".into())
    );
    assert_eq!(
        r[0].fields[r[0].fields.len() - 3..],
        fields(&[("key", "\"pam\""), ("list", "4"), ("res", "1")])
    );
    let r2 = parse_line(&[data, b"\n"].concat(), true);
    assert_eq!(r2, r);
}

#[test]
fn crlf_terminator() {
    let data = b"type=UNKNOWN[1334] msg=audit(1626883065.201:216697): prog-id=45 op=UNLOAD";
    let r = parse_line(&[&data[..], b"\r\n"].concat(), true);
    assert_eq!(r[0].text, data);
    assert_eq!(r[0].fields, fields(&[("prog-id", "45"), ("op", "UNLOAD")]));
    // a lone CR without LF is not a terminator: it stays in the last value, so no byte is lost
    let r = parse_line(&[&data[..], b"\r"].concat(), true);
    assert_eq!(r[0].text, [&data[..], b"\r"].concat());
    assert_eq!(
        r[0].fields,
        fields(&[("prog-id", "45"), ("op", "UNLOAD\r")])
    );
}

#[test]
fn non_utf8_bytes_are_kept() {
    let data = b"type=PATH msg=audit(1.002:3): item=0 name=\"/tmp/\xff\xfe\" nametype=NORMAL";
    let r = parse_line(&[&data[..], b"\n"].concat(), true);
    assert_eq!(r[0].text, data);
    assert_eq!(
        r[0].fields[1],
        (b"name"[..].into(), b"\"/tmp/\xff\xfe\""[..].into())
    );
}

#[test]
fn overlong_numbers_do_not_raise() {
    let big = "9".repeat(5000);
    let r = one(&format!("type=SYSCALL msg=audit(1.2:{big}): a=1"));
    let rest = format!("msg=audit(1.2:{big}): a=1");
    assert_eq!(
        r.error,
        Some(format!(
            "no audit(SEC.MSEC:SERIAL) stamp in header: '{}'",
            &rest[..40]
        ))
    );
    let r = one(&format!("type=UNKNOWN[{big}] msg=audit(1.2:3): a=1"));
    assert_eq!(
        (r.rtype, r.error, r.fields),
        (0, None, fields(&[("a", "1")]))
    );
}

// -- bad input (the native core's requirements) -------------------------------------------------------------

#[test]
fn invalid_utf8_in_key_node_and_word() {
    let r = parse_line(
        b"node=\xffh\xc3 type=PATH msg=audit(1.002:3): k\xfe=v \xfaword x=\"\xc0\"\n",
        true,
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].node.as_deref(), Some(&b"\xffh\xc3"[..]));
    assert_eq!(r[0].error, None);
    assert_eq!(
        r[0].fields,
        vec![
            (b"k\xfe"[..].into(), b"v"[..].into()),
            (FREE_TEXT.into(), b"\xfaword"[..].into()),
            (b"x"[..].into(), b"\"\xc0\""[..].into()),
        ]
    );
    // a non-ASCII upper-case first letter continues an ENRICHED value in an all-tokens scan, as in Python
    let (f, e) = tokenize(b"a=1\x1d\xc3\x89X=1 y z", true);
    assert_eq!(f, fields(&[("a", "1")]));
    assert_eq!(e, fields(&[("ÉX", "1 y z")]));
    let (_, e) = tokenize(b"a=1\x1d\xc3\xa9x=1 y", true);
    assert_eq!(e, fields(&[("éx", "1"), (F, "y")]));
}

#[test]
fn stamps_out_of_range_are_error_records() {
    type Case<'a> = (&'a str, Option<&'a str>, (u64, u64, u64));
    let cases: &[Case] = &[
        // the largest values that fit
        (
            "type=EOE msg=audit(253402300799.18446744073709551615:18446744073709551615): ",
            None,
            (253402300799, u64::MAX, u64::MAX),
        ),
        (
            "type=EOE msg=audit(253402300800.000:1): ",
            Some(TIMESTAMP_RANGE),
            (0, 0, 0),
        ),
        (
            "type=EOE msg=audit(18446744073709551616.000:1): ",
            Some(TIMESTAMP_RANGE),
            (0, 0, 0),
        ),
        (
            "type=EOE msg=audit(99999999999999999999.000:1): ",
            Some(TIMESTAMP_RANGE),
            (0, 0, 0),
        ),
        (
            "type=EOE msg=audit(1.18446744073709551616:1): ",
            Some(TIMESTAMP_RANGE),
            (0, 0, 0),
        ),
        (
            "type=EOE msg=audit(1.000:9223372036854775808): ",
            None,
            (1, 0, 1 << 63),
        ),
        (
            "type=EOE msg=audit(1.000:18446744073709551616): ",
            Some(SERIAL_RANGE),
            (0, 0, 0),
        ),
        (
            "type=EOE msg=audit(1.000:99999999999999999999): ",
            Some(SERIAL_RANGE),
            (0, 0, 0),
        ),
    ];
    for &(line, error, stamp) in cases {
        let full = format!("node=n {line}a=1");
        let r = one(&full);
        assert_eq!(r.error.as_deref(), error, "{line}");
        assert_eq!((r.sec, r.msec, r.serial), stamp, "{line}");
        assert_eq!(
            (r.node.as_deref(), r.rtype, &r.name[..]),
            (Some(&b"n"[..]), 1320, &b"EOE"[..])
        );
        assert_eq!(r.body(), b"a=1");
        assert_eq!(r.fields.len(), usize::from(error.is_none()));
        let n = parse_netlink(1320, &full.as_bytes()[full.find("audit(").unwrap_or(0)..]);
        assert_eq!((n.error.as_deref(), n.sec, n.rtype), (error, stamp.0, 1320));
    }
    assert_eq!(TIMESTAMP_RANGE, "timestamp out of range");
    assert_eq!(SERIAL_RANGE, "serial out of range");
}

#[test]
fn syslog_and_other_text_are_not_audit_records() {
    for line in [
        "Dec  6 21:36:37 host audispd: node=h type=SYSCALL msg=audit(1.2:3): a=1",
        "<14>1 2026-12-06T21:36:37Z host auditd - - - type=EOE msg=audit(1.2:3):",
        "{\"type\": \"SYSCALL\"}",
        "\u{feff}type=EOE msg=audit(1.2:3):",
        "types=EOE msg=audit(1.2:3):",
    ] {
        let r = one(line);
        assert_eq!(r.error.as_deref(), Some(NOT_AUDIT), "{line}");
        assert_eq!(
            (r.rtype, r.sec, r.body(), r.fields.len()),
            (0, 0, &b""[..], 0)
        );
    }
}

#[test]
fn ten_megabyte_token_and_line() {
    let head = "type=PROCTITLE msg=audit(1.2:3): ";
    // one token with no '='
    let mut line = head.as_bytes().to_vec();
    line.extend(std::iter::repeat_n(b'x', 10 << 20));
    let r = parse_line(&line, true);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].fields.len(), 1);
    assert_eq!(r[0].fields[0].1.len(), 10 << 20);
    // a 10 MB line of short fields
    let mut line = head.as_bytes().to_vec();
    let n = (10 << 20) / 8;
    for i in 0..n {
        line.extend_from_slice(format!("a{:03}=xy ", i % 1000).as_bytes());
    }
    let r = parse_line(&line, true);
    assert_eq!(r[0].fields.len(), n);
    // shapes that defeat a naive rescan: unclosed quotes and braces, over and over
    for unit in [
        &b"a={ "[..],
        b"a=\" ",
        b"a=' ",
        b"a='\" ",
        b"b=X=Y= ",
        b" type=A msg=audit(",
        b"node=x ",
    ] {
        let mut line = head.as_bytes().to_vec();
        let count = (4 << 20) / unit.len();
        for _ in 0..count {
            line.extend_from_slice(unit);
        }
        let r = parse_line(&line, true);
        assert!(!r.is_empty());
        assert!(r.iter().map(|r| r.text.len()).sum::<usize>() <= line.len());
    }
}

// -- the Python parser's shortcuts, kept (found by a differential run against it) ----------------------------

#[test]
fn user_message_shortcut_keeps_head_quotes_apart() {
    // the head before ` msg='...'` is read on its own: its unclosed `"` does not pair with the payload's
    let (f, e) = tokenize(b"pid=1 ses=\"3 subj=x msg='op=a exe=\"/b\" res=ok' ", true);
    assert_eq!(
        f,
        fields(&[
            ("pid", "1"),
            ("ses", "\"3"),
            ("subj", "x"),
            ("msg", "'op=a exe=\"/b\" res=ok'")
        ])
    );
    assert!(e.is_empty());
    // with detection, an upper-case key in the head sends the line to the full scan (and to the tail)
    assert_eq!(
        tokenize(b"A=1 msg='x' ", true),
        (vec![], fields(&[("A", "1"), ("msg", "'x'")]))
    );
    assert_eq!(
        tokenize(b"A=1 msg='x' ", false),
        (fields(&[("A", "1"), ("msg", "'x'")]), vec![])
    );
}

#[test]
fn plain_shape_check_counts_a_quote_as_separator() {
    // Python's fast path takes `"` between two tokens for the separator when a quoted value holds the space
    for detect in [true, false] {
        assert_eq!(
            tokenize(b"a=\"3 }\"\"k=", detect).0,
            fields(&[("a", "\"3 }\""), ("k", "")])
        );
    }
    assert_eq!(
        tokenize(b"x\x1d A=\"1 2\"\"B=3 ", true),
        (fields(&[(F, "x")]), fields(&[("A", "\"1 2\""), ("B", "3")]))
    );
}

#[test]
fn upper_case_keys_as_python_sees_them() {
    // title case is not upper case; a non-ASCII upper-case key is not an ENRICHED key
    assert_eq!(
        tokenize("\u{1c5}a=1 b=2".as_bytes(), true).0,
        fields(&[("\u{1c5}a", "1"), ("b", "2")])
    );
    assert_eq!(
        tokenize("\u{c9}=1 b".as_bytes(), true).0,
        fields(&[("\u{c9}", "1"), (F, "b")])
    );
}

#[test]
fn unicode_decimal_digits_in_headers() {
    // Python's `\d` (type=X[N], the next record's `msg=audit(N`) is any decimal digit
    let r = one("type=X[\u{661}\u{662}] msg=audit(1.2:3): a=1");
    assert_eq!(
        (&r.name[..], r.rtype, r.error.as_deref()),
        ("X[\u{661}\u{662}]".as_bytes(), 0, None)
    );
    let recs = parse_text(
        "type=A msg=audit(1.2:3): a=1 type=B msg=audit(\u{664}".as_bytes(),
        true,
    );
    assert_eq!(recs.len(), 2);
    assert_eq!(
        recs[1].error.as_deref(),
        Some("no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=audit(\u{664}'")
    );
    // and the old login colon rule strips after decimal digits of any script
    assert_eq!(
        parse_nested("a=\u{1d7ce}: b".as_bytes()),
        fields(&[("a", "\u{1d7ce}"), (F, "b")])
    );
    // the error text is Python's repr() of the first 40 characters
    let r = one("type=X msg=\u{2065}\u{e9}\u{a0}'\u{ff}");
    assert_eq!(
        r.error.as_deref(),
        Some("no audit(SEC.MSEC:SERIAL) stamp in header: \"msg=\\u2065\u{e9}\\xa0'\u{ff}\"")
    );
    let r = parse_line(b"type=X msg=\xff\xfe\"'", true);
    assert_eq!(
        r[0].error.as_deref(),
        Some("no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=\\udcff\\udcfe\"\\''")
    );
}
