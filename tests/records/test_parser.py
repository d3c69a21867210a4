"""Exact-value tests of the record parser on every odd shape listed in the corpus README ("Edge cases seen").

Every line is a real line from ../shared/corpus (the file is cited above each literal); where a shape does
not occur in the corpus (CRLF), the corpus line is taken and only the terminator changed.
"""

from __future__ import annotations

from auditsql._core import parse_line, parse_nested, split_enrichment
from tests.core import Record, event_records, get, names, parse_text, pipeline_events, rid

#: key under which words that are not ``key=value`` are kept
FREE_TEXT = b""

# shared/corpus/threathunters-io_laurel/record-execve.txt line 1 (node= prefix + 0x1d ENRICHED tail)
LAUREL_EXECVE_SYSCALL = (
    "node=work type=SYSCALL msg=audit(1615114232.375:15558): arch=c000003e syscall=59 success=yes exit=0 "
    "a0=63b29337fd18 a1=63b293387d58 a2=63b293375640 a3=fffffffffffff000 items=2 ppid=10883 pid=10884 "
    'auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=1 comm="whoami" '
    'exe="/usr/bin/whoami" key=(null)\x1dARCH=x86_64 SYSCALL=execve AUID="user" UID="root" GID="root" '
    'EUID="root" SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"'
)


def one(line: str) -> Record:
    recs = parse_text(line)
    assert len(recs) == 1
    assert recs[0]["text"] == line.encode()
    return recs[0]


def tokenize(body: str, detect: bool = True) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """A record body's ``(key, token)`` fields and ``(KEY, token)`` enrichment, as the parser splits the body
    of a record (the header the parser strips: ``type=X msg=audit(...):`` and one space)."""
    (r,) = parse_line(b"type=TEST msg=audit(1.000:1): " + body.encode("utf-8", "surrogateescape"), detect)
    assert r["error"] is None
    return r["fields"], r["enrich"]


def test_record_is_a_dict_of_bytes() -> None:
    # the shape auditsql._core.parse_line gives (see src/auditsql/_core.pyi)
    (r,) = parse_line(b'node=n type=CWD msg=audit(1.002:3): cwd="/"\n')
    assert r == {
        "text": b'node=n type=CWD msg=audit(1.002:3): cwd="/"',
        "node": b"n",
        "type": 1307,
        "name": "CWD",
        "sec": 1,
        "msec": 2,
        "serial": 3,
        "body": b'cwd="/"',
        "fields": [(b"cwd", b'"/"')],
        "enrich": [],
        "error": None,
    }


# -- headers ---------------------------------------------------------------------------------------------------


def test_node_prefix_and_0x1d_enrichment() -> None:
    r = one(LAUREL_EXECVE_SYSCALL)
    assert (r["node"], r["type"], r["name"], r["sec"], r["msec"], r["serial"]) == (
        b"work",
        1300,
        "SYSCALL",
        1615114232,
        375,
        15558,
    )
    assert r["error"] is None
    assert rid(r) == "1615114232.375:15558"
    assert (r["node"], r["sec"], r["msec"], r["serial"]) == (b"work", 1615114232, 375, 15558)
    assert (
        r["body"]
        == LAUREL_EXECVE_SYSCALL[len("node=work type=SYSCALL msg=audit(1615114232.375:15558): ") :].encode()
    )
    assert r["fields"] == [
        (b"arch", b"c000003e"),
        (b"syscall", b"59"),
        (b"success", b"yes"),
        (b"exit", b"0"),
        (b"a0", b"63b29337fd18"),
        (b"a1", b"63b293387d58"),
        (b"a2", b"63b293375640"),
        (b"a3", b"fffffffffffff000"),
        (b"items", b"2"),
        (b"ppid", b"10883"),
        (b"pid", b"10884"),
        (b"auid", b"1000"),
        (b"uid", b"0"),
        (b"gid", b"0"),
        (b"euid", b"0"),
        (b"suid", b"0"),
        (b"fsuid", b"0"),
        (b"egid", b"0"),
        (b"sgid", b"0"),
        (b"fsgid", b"0"),
        (b"tty", b"pts1"),
        (b"ses", b"1"),
        (b"comm", b'"whoami"'),
        (b"exe", b'"/usr/bin/whoami"'),
        (b"key", b"(null)"),
    ]
    assert r["enrich"] == [
        (b"ARCH", b"x86_64"),
        (b"SYSCALL", b"execve"),
        (b"AUID", b'"user"'),
        (b"UID", b'"root"'),
        (b"GID", b'"root"'),
        (b"EUID", b'"root"'),
        (b"SUID", b'"root"'),
        (b"FSUID", b'"root"'),
        (b"EGID", b'"root"'),
        (b"SGID", b'"root"'),
        (b"FSGID", b'"root"'),
    ]
    assert get(r, b"key") == b"(null)"
    assert get(r, b"nope", b"x") == b"x"


def test_node_prefix_path_record() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-path.txt
    line = (
        'node=work type=PATH msg=audit(1614788539.386:13232): item=0 name="/usr/bin/whoami" inode=261214 '
        "dev=ca:03 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0000000000000000 "
        "cap_fi=0000000000000000 cap_fe=0 cap_fver=0"
    )
    r = one(line)
    assert (r["node"], r["type"], r["name"], rid(r)) == (b"work", 1302, "PATH", "1614788539.386:13232")
    assert r["fields"] == [
        (b"item", b"0"),
        (b"name", b'"/usr/bin/whoami"'),
        (b"inode", b"261214"),
        (b"dev", b"ca:03"),
        (b"mode", b"0100755"),
        (b"ouid", b"0"),
        (b"ogid", b"0"),
        (b"rdev", b"00:00"),
        (b"nametype", b"NORMAL"),
        (b"cap_fp", b"0000000000000000"),
        (b"cap_fi", b"0000000000000000"),
        (b"cap_fe", b"0"),
        (b"cap_fver", b"0"),
    ]
    assert r["enrich"] == []


def test_unknown_1329_without_stamp_is_an_error_record() -> None:
    # shared/corpus/elastic_go-libaudit/auparse/audit-rhel7.log line 31
    line = "type=UNKNOWN[1329] msg=?"
    r = one(line)
    assert (r["type"], r["name"], r["node"], r["sec"], r["msec"], r["serial"]) == (
        1329,
        "UNKNOWN[1329]",
        None,
        0,
        0,
        0,
    )
    assert r["body"] == b"msg=?"
    assert r["fields"] == []
    assert r["enrich"] == []
    assert r["error"] == "no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=?'"
    assert r["text"] == b"type=UNKNOWN[1329] msg=?"


def test_unknown_1329_msg_g() -> None:
    # shared/corpus/elastic_integrations/auditd-log-pipeline/test-auditd-raw.log line 42
    line = "type=UNKNOWN[1329] msg=g"
    r = one(line)
    assert (r["type"], r["name"], r["sec"], r["serial"]) == (1329, "UNKNOWN[1329]", 0, 0)
    assert r["body"] == b"msg=g"
    assert r["error"] == "no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=g'"


def test_unknown_type_with_normal_header() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-unknown.txt
    r = one("type=UNKNOWN[1334] msg=audit(1626883065.201:216697): prog-id=45 op=UNLOAD")
    assert (r["type"], r["name"], rid(r), r["error"]) == (
        1334,
        "UNKNOWN[1334]",
        "1626883065.201:216697",
        None,
    )
    assert r["fields"] == [(b"prog-id", b"45"), (b"op", b"UNLOAD")]


def test_daemon_config_header_without_colon() -> None:
    # shared/corpus/elastic_go-libaudit/auparse/audit-rhel7.log line 12
    line = (
        "type=DAEMON_CONFIG msg=audit(1490239800.477:34) config changed, auid=0 pid=1512 "
        "subj=system_u:system_r:unconfined_service_t:s0 res=success"
    )
    r = one(line)
    assert (r["type"], r["name"], r["sec"], r["msec"], r["serial"], r["error"]) == (
        1203,
        "DAEMON_CONFIG",
        1490239800,
        477,
        34,
        None,
    )
    assert (
        r["body"]
        == b"config changed, auid=0 pid=1512 subj=system_u:system_r:unconfined_service_t:s0 res=success"
    )
    assert r["fields"] == [
        (FREE_TEXT, b"config"),
        (FREE_TEXT, b"changed,"),
        (b"auid", b"0"),
        (b"pid", b"1512"),
        (b"subj", b"system_u:system_r:unconfined_service_t:s0"),
        (b"res", b"success"),
    ]


def test_not_an_audit_record() -> None:
    r = one("hello world")
    assert (r["type"], r["name"], r["sec"], r["body"], r["fields"]) == (0, "", 0, b"", [])
    assert r["error"] == "not an audit record (no type= header)"


def test_comment_line_is_kept_as_error_record() -> None:
    # shared/corpus/threathunters-io_laurel/fork-sleep-exec.txt line 1; the read path skips such lines before
    # parsing (see test_read_path_skips_comments), the parser itself keeps them
    line = "# orphan = simple demo program"
    r = one(line)
    assert r["error"] == "not an audit record (no type= header)"
    assert r["fields"] == []


def test_empty_and_blank_lines() -> None:
    assert parse_text("") == []
    assert parse_text("  \t ") == []
    assert parse_line(b"\n") == []
    assert parse_line(b"\r\n") == []


# -- several records on one physical line ------------------------------------------------------------------------


def test_several_records_on_one_line() -> None:
    # shared/corpus/wazuh_wazuh/auditd_decoders.ini line 63 (the text after "log = "); `a1=7ff3=7fff9eff0ac0`
    # and `unconed_t` are as they are in the file
    line = (
        "type=MAC_STATUS msg=audit(1480086668.032:1327): enforcing=0 old_enforcing=1 auid=0 ses=8 "
        "type=SYSCALL msg=audit(1480086668.032:1327): arch=c000003e syscall=1 success=yes exit=1 a0=3 "
        "a1=7ff3=7fff9eff0ac0 items=0 ppid=4765 pid=4788 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 "
        'sgid=0 fsgid=0 tty=pts0 ses=8 comm="setenforce" exe="/usr/sbin/setenforce" '
        "subj=unconfined_u:unconed_t:s0-s0:c0.c1023 key=(null)"
    )
    a, b = parse_text(line)
    assert (
        a["text"]
        == b"type=MAC_STATUS msg=audit(1480086668.032:1327): enforcing=0 old_enforcing=1 auid=0 ses=8"
    )
    assert (a["type"], a["name"], rid(a)) == (1404, "MAC_STATUS", "1480086668.032:1327")
    assert a["fields"] == [(b"enforcing", b"0"), (b"old_enforcing", b"1"), (b"auid", b"0"), (b"ses", b"8")]
    assert b["text"] == line.encode()[len(a["text"]) + 1 :]
    assert (b["type"], b["name"], rid(b)) == (1300, "SYSCALL", "1480086668.032:1327")
    assert b["fields"][:7] == [
        (b"arch", b"c000003e"),
        (b"syscall", b"1"),
        (b"success", b"yes"),
        (b"exit", b"1"),
        (b"a0", b"3"),
        (b"a1", b"7ff3=7fff9eff0ac0"),
        (b"items", b"0"),
    ]
    assert b["fields"][-3:] == [
        (b"exe", b'"/usr/sbin/setenforce"'),
        (b"subj", b"unconfined_u:unconed_t:s0-s0:c0.c1023"),
        (b"key", b"(null)"),
    ]
    assert len(b["fields"]) == 24
    assert a["error"] is None and b["error"] is None


def test_several_records_with_double_space_after_header() -> None:
    # shared/corpus/wazuh_wazuh/auditd_decoders.ini line 2 (text after "log = "): SYSCALL, CWD (`):  cwd=`),
    # two PATH and a PROCTITLE on one line
    line = (
        "type=SYSCALL msg=audit(1479982525.380:50): arch=c000003e syscall=2 success=yes exit=3 a0=7ffedc40d83b "
        "a1=941 a2=1b6 a3=7ffedc40cce0 items=2 ppid=432 pid=3333 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 "
        'egid=0 sgid=0 fsgid=0 tty=pts0 ses=2 comm="touch" exe="/bin/touch" key="audit-wazuh-w" '
        'type=CWD msg=audit(1479982525.380:50):  cwd="/var/log/audit" '
        'type=PATH msg=audit(1479982525.380:50): item=0 name="/var/log/audit/tmp_directory1/" inode=399849 '
        "dev=ca:02 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT "
        "type=PATH msg=audit(1479982525.380:50): item=1 name="
        '"/var/log/audit/tmp_directory1/malware.py" inode=399852 dev=ca:02 mode=0100644 ouid=0 ogid=0 '
        "rdev=00:00 nametype=CREATE "
        "type=PROCTITLE msg=audit(1479982525.380:50): proctitle=746F756368002F7661722F6C6F672F61756469742F"
        "746D705F6469726563746F7279312F6D616C776172652E7079"
    )
    recs = parse_text(line)
    assert [r["name"] for r in recs] == ["SYSCALL", "CWD", "PATH", "PATH", "PROCTITLE"]
    assert {rid(r) for r in recs} == {"1479982525.380:50"}
    assert b" ".join(r["text"] for r in recs) == line.encode()
    cwd = recs[1]
    assert cwd["text"] == b'type=CWD msg=audit(1479982525.380:50):  cwd="/var/log/audit"'
    assert cwd["body"] == b' cwd="/var/log/audit"'
    assert cwd["fields"] == [(b"cwd", b'"/var/log/audit"')]
    assert recs[0]["fields"][-1] == (b"key", b'"audit-wazuh-w"')
    assert recs[3]["fields"][-1] == (b"nametype", b"CREATE")


def test_several_records_after_leading_whitespace() -> None:
    # the Wazuh line of test_several_records_on_one_line as the .ini file has it after "log 1 pass =":
    # a leading space. The first record keeps it in its text, and is parsed, not an error.
    line = " type=MAC_STATUS msg=audit(1480086668.032:1327): enforcing=0 type=EOE msg=audit(1480086668.032:1327): "
    a, b = parse_text(line)
    assert a["text"] == b" type=MAC_STATUS msg=audit(1480086668.032:1327): enforcing=0"
    assert (a["name"], a["error"], a["fields"]) == ("MAC_STATUS", None, [(b"enforcing", b"0")])
    assert b["text"] == b"type=EOE msg=audit(1480086668.032:1327): "
    assert (b["name"], b["type"], b["fields"]) == ("EOE", 1320, [])


def test_several_records_with_empty_bodies() -> None:
    # `type=EOE msg=audit(...): type=...`: the header's optional space is also the separator
    line = "type=EOE msg=audit(1.000:1): type=EOE msg=audit(1.000:2):  type=EOE msg=audit(1.000:3):"
    recs = parse_text(line)
    assert [r["text"] for r in recs] == [
        b"type=EOE msg=audit(1.000:1):",
        b"type=EOE msg=audit(1.000:2):",
        b"type=EOE msg=audit(1.000:3):",
    ]
    assert [(r["serial"], r["fields"]) for r in recs] == [(1, []), (2, []), (3, [])]


def test_several_records_with_node_prefixes() -> None:
    # each record of a multi-record line keeps its own node= prefix (not split off as a record of its own)
    line = (
        'node=a type=SYSCALL msg=audit(1.000:1): syscall=59 node=a type=CWD msg=audit(1.000:1): cwd="/" '
        "node=b type=EOE msg=audit(1.000:1):"
    )
    recs = parse_text(line)
    assert [(r["node"], r["name"], r["fields"]) for r in recs] == [
        (b"a", "SYSCALL", [(b"syscall", b"59")]),
        (b"a", "CWD", [(b"cwd", b'"/"')]),
        (b"b", "EOE", []),
    ]
    assert b" ".join(r["text"] for r in recs) == line.encode()


def test_blank_line_means_spaces_and_tabs_only() -> None:
    # other Unicode whitespace (0x1d, U+0085) is content: kept as an error record, not dropped
    (r,) = parse_text(" \x1d")
    assert (r["text"], r["error"]) == (b" \x1d", "not an audit record (no type= header)")
    (r,) = parse_line(b" \xc2\x85\n")
    assert r["text"] == b" \xc2\x85"


# -- ENRICHED tails --------------------------------------------------------------------------------------------


def test_enrichment_glued_without_separator_on_key() -> None:
    # shared/corpus/crowdsecurity_hub/auditd-suid-crash/auditd-suid-crash.log line 1
    line = (
        "type=SYSCALL msg=audit(1696431255.037:8272): arch=c000003e syscall=59 success=yes exit=0 "
        "a0=557ac7557210 a1=7ffdb0f8f510 a2=557ac7554e60 a3=0 items=3 ppid=192009 pid=192010 auid=1000 "
        "uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=417 "
        'comm="bash" exe="/usr/bin/bash" subj=unconfined key="susp_shell"ARCH=x86_64 SYSCALL=execve '
        'AUID="bui" UID="bui" GID="bui" EUID="bui" SUID="bui" FSUID="bui" EGID="bui" SGID="bui" FSGID="bui"'
    )
    r = one(line)
    assert r["fields"][-4:] == [
        (b"comm", b'"bash"'),
        (b"exe", b'"/usr/bin/bash"'),
        (b"subj", b"unconfined"),
        (b"key", b'"susp_shell"'),
    ]
    assert len(r["fields"]) == 26
    assert r["enrich"] == [
        (b"ARCH", b"x86_64"),
        (b"SYSCALL", b"execve"),
        (b"AUID", b'"bui"'),
        (b"UID", b'"bui"'),
        (b"GID", b'"bui"'),
        (b"EUID", b'"bui"'),
        (b"SUID", b'"bui"'),
        (b"FSUID", b'"bui"'),
        (b"EGID", b'"bui"'),
        (b"SGID", b'"bui"'),
        (b"FSGID", b'"bui"'),
    ]


def test_enrichment_glued_to_bare_value() -> None:
    # shared/corpus/crowdsecurity_hub/auditd-suid-crash/auditd-suid-crash.log line 3
    line = (
        'type=PATH msg=audit(1696431255.037:8272): item=0 name="/bin/bash" inode=19792203 dev=08:02 '
        "mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 "
        'cap_frootid=0OUID="root" OGID="root"'
    )
    r = one(line)
    assert r["fields"] == [
        (b"item", b"0"),
        (b"name", b'"/bin/bash"'),
        (b"inode", b"19792203"),
        (b"dev", b"08:02"),
        (b"mode", b"0100755"),
        (b"ouid", b"0"),
        (b"ogid", b"0"),
        (b"rdev", b"00:00"),
        (b"nametype", b"NORMAL"),
        (b"cap_fp", b"0"),
        (b"cap_fi", b"0"),
        (b"cap_fe", b"0"),
        (b"cap_fver", b"0"),
        (b"cap_frootid", b"0"),
    ]
    assert r["enrich"] == [(b"OUID", b'"root"'), (b"OGID", b'"root"')]


def test_enrichment_after_plain_space() -> None:
    # shared/corpus/elastic_integrations/auditd-log-pipeline/test-enhanced-syscall.log line 1
    line = (
        "node=praorem001 type=SYSCALL msg=audit(1723109482.048:4981103): arch=c000003e syscall=87 success=yes "
        "exit=0 a0=7f1118081d10 a1=7f1118081d10 a2=242 a3=180 items=2 ppid=560201 pid=560348 auid=1561577791 "
        "uid=2012 gid=2007 euid=2012 suid=2012 fsuid=2012 egid=2007 sgid=2007 fsgid=2007 tty=(none) ses=126 "
        'comm="httpd" exe="/app/ogc101/app/dllogc/product/13.5.0/mw_100/ohs/bin/httpd" key="delete" '
        'ARCH=x86_64 SYSCALL=unlink AUID="na-uoradbdba03" UID="dllogc" GID="oinstall" EUID="dllogc" '
        'SUID="dllogc" FSUID="dllogc" EGID="oinstall" SGID="oinstall" FSGID="oinstall"'
    )
    r = one(line)
    assert (r["node"], rid(r)) == (b"praorem001", "1723109482.048:4981103")
    assert r["fields"][-4:] == [
        (b"ses", b"126"),
        (b"comm", b'"httpd"'),
        (b"exe", b'"/app/ogc101/app/dllogc/product/13.5.0/mw_100/ohs/bin/httpd"'),
        (b"key", b'"delete"'),
    ]
    assert len(r["fields"]) == 25
    assert r["enrich"] == [
        (b"ARCH", b"x86_64"),
        (b"SYSCALL", b"unlink"),
        (b"AUID", b'"na-uoradbdba03"'),
        (b"UID", b'"dllogc"'),
        (b"GID", b'"oinstall"'),
        (b"EUID", b'"dllogc"'),
        (b"SUID", b'"dllogc"'),
        (b"FSUID", b'"dllogc"'),
        (b"EGID", b'"oinstall"'),
        (b"SGID", b'"oinstall"'),
        (b"FSGID", b'"oinstall"'),
    ]
    # --format raw: only a 0x1d byte starts the tail, the upper-case words stay fields
    fields, enrich = tokenize(r["body"].decode(), detect=False)
    assert enrich == []
    assert fields[25:27] == [(b"ARCH", b"x86_64"), (b"SYSCALL", b"unlink")]
    assert len(fields) == 36


def test_enrichment_after_quote_and_plain_space_in_user_message() -> None:
    # shared/corpus/elastic_integrations/auditd-log-pipeline/test-auditd-useradd.log line 16
    line = (
        "type=USER_START msg=audit(1784107225.880:387518118): pid=1688267 uid=0 auid=100002 ses=15441219 "
        'msg=\'op=login id=100002 exe="/usr/sbin/sshd" hostname=? addr=192.168.100.50 terminal=ssh '
        'res=success\' UID="root" AUID="serviceuser" ID="serviceuser"'
    )
    r = one(line)
    assert r["fields"] == [
        (b"pid", b"1688267"),
        (b"uid", b"0"),
        (b"auid", b"100002"),
        (b"ses", b"15441219"),
        (
            b"msg",
            b"'op=login id=100002 exe=\"/usr/sbin/sshd\" hostname=? addr=192.168.100.50 terminal=ssh res=success'",
        ),
    ]
    assert r["enrich"] == [(b"UID", b'"root"'), (b"AUID", b'"serviceuser"'), (b"ID", b'"serviceuser"')]


def test_malformed_res_glued_enrichment() -> None:
    # shared/corpus/elastic_integrations/auditd-log-pipeline/test-auditd-useradd.log line 17: the closing
    # quote of msg='...' is missing and the tail is glued to `res=success`. The payload cannot be delimited,
    # so its words are read as top-level fields; the glued tail is still recognised.
    line = (
        "type=USER_START msg=audit(1784107225.880:387518119): pid=1688268 uid=0 auid=100003 ses=15441220 "
        'msg=\'op=login id=100003 exe="/usr/sbin/sshd" hostname=? addr=192.168.100.51 terminal=ssh '
        'res=successUID="root" AUID="badformat" ID="badformat"'
    )
    r = one(line)
    assert r["error"] is None
    assert r["fields"] == [
        (b"pid", b"1688268"),
        (b"uid", b"0"),
        (b"auid", b"100003"),
        (b"ses", b"15441220"),
        (b"msg", b"'op=login"),
        (b"id", b"100003"),
        (b"exe", b'"/usr/sbin/sshd"'),
        (b"hostname", b"?"),
        (b"addr", b"192.168.100.51"),
        (b"terminal", b"ssh"),
        (b"res", b"success"),
    ]
    assert r["enrich"] == [(b"UID", b'"root"'), (b"AUID", b'"badformat"'), (b"ID", b'"badformat"')]


def test_enrichment_after_0x1d_following_nested_quote() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-user-auth.txt (AppArmor subj with a space, 0x1d tail)
    line = (
        "type=USER_AUTH msg=audit(1670424651.175:10465161): pid=1932610 uid=0 auid=4294967295 "
        "ses=4294967295 subj=/usr/sbin/cupsd (enforce) msg='op=PAM:authentication grantors=pam_permit "
        'acct="user" exe="/usr/sbin/cupsd" hostname=localhost addr=::1 terminal=cups res=success\'\x1d'
        'UID="root" AUID="unset"'
    )
    r = one(line)
    payload = (
        b'\'op=PAM:authentication grantors=pam_permit acct="user" exe="/usr/sbin/cupsd" hostname=localhost '
        b"addr=::1 terminal=cups res=success'"
    )
    assert r["fields"] == [
        (b"pid", b"1932610"),
        (b"uid", b"0"),
        (b"auid", b"4294967295"),
        (b"ses", b"4294967295"),
        (b"subj", b"/usr/sbin/cupsd (enforce)"),
        (b"msg", payload),
    ]
    assert r["enrich"] == [(b"UID", b'"root"'), (b"AUID", b'"unset"')]
    assert parse_nested(payload) == [
        (b"op", b"PAM:authentication"),
        (b"grantors", b"pam_permit"),
        (b"acct", b'"user"'),
        (b"exe", b'"/usr/sbin/cupsd"'),
        (b"hostname", b"localhost"),
        (b"addr", b"::1"),
        (b"terminal", b"cups"),
        (b"res", b"success"),
    ]


def test_split_enrichment() -> None:
    assert split_enrichment(b'a=1 b="x"\x1dA="y" B=2') == (b'a=1 b="x"', b'A="y" B=2')
    assert split_enrichment(b"a=1") == (b"a=1", None)
    assert split_enrichment(b"a=1\x1d") == (b"a=1", b"")


def test_braced_enrichment_value() -> None:
    # shared/corpus/threathunters-io_laurel/record-service-start.txt line 3 (SOCKADDR with SADDR={ ... })
    line = (
        "type=SOCKADDR msg=audit(1661853391.646:4486226): saddr=100000000000000000000000\x1d"
        "SADDR={ fam=netlink nlnk-fam=16 nlnk-pid=0 }"
    )
    r = one(line)
    assert r["fields"] == [(b"saddr", b"100000000000000000000000")]
    assert r["enrich"] == [(b"SADDR", b"{ fam=netlink nlnk-fam=16 nlnk-pid=0 }")]


# -- values ------------------------------------------------------------------------------------------------------


def test_quoted_unquoted_empty_null_and_question_mark_values() -> None:
    # shared/corpus/elastic_go-libaudit/auparse/audit-rhel7.log line 9 (`mac= pfs=`, `lport=22  exe=`)
    line = (
        "type=CRYPTO_SESSION msg=audit(1481077041.515:406): pid=1298 uid=0 auid=4294967295 ses=4294967295 "
        "subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=start direction=from-server "
        "cipher=chacha20-poly1305@openssh.com ksize=512 mac= pfs=curve25519-sha256@libssh.org spid=1299 "
        'suid=74 rport=63927 laddr=10.142.0.2 lport=22  exe="/usr/sbin/sshd" hostname=? '
        "addr=96.241.146.97 terminal=? res=success'"
    )
    r = one(line)
    assert [k for k, _ in r["fields"]] == [b"pid", b"uid", b"auid", b"ses", b"subj", b"msg"]
    assert parse_nested(get(r, b"msg") or b"") == [
        (b"op", b"start"),
        (b"direction", b"from-server"),
        (b"cipher", b"chacha20-poly1305@openssh.com"),
        (b"ksize", b"512"),
        (b"mac", b""),
        (b"pfs", b"curve25519-sha256@libssh.org"),
        (b"spid", b"1299"),
        (b"suid", b"74"),
        (b"rport", b"63927"),
        (b"laddr", b"10.142.0.2"),
        (b"lport", b"22"),
        (b"exe", b'"/usr/sbin/sshd"'),
        (b"hostname", b"?"),
        (b"addr", b"96.241.146.97"),
        (b"terminal", b"?"),
        (b"res", b"success"),
    ]


def test_empty_value_before_res() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-daemon-end.txt: `subj= res=success` and a 0x1d tail
    r = one(
        'type=DAEMON_END msg=audit(1640080836.094:7063): op=terminate auid=0 pid=27347 subj= res=success\x1dAUID="root"'
    )
    assert (r["type"], r["name"]) == (1201, "DAEMON_END")
    assert r["fields"] == [
        (b"op", b"terminate"),
        (b"auid", b"0"),
        (b"pid", b"27347"),
        (b"subj", b""),
        (b"res", b"success"),
    ]
    assert r["enrich"] == [(b"AUID", b'"root"')]


def test_null_question_mark_quoted_with_comma() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-broken-avc-info.txt holds `info="same as current
    # profile, skipping"`: a quoted value with spaces and a comma is one token
    fields, _ = tokenize('key=(null) tty=? info="same as current profile, skipping" a0="x=y"')
    assert fields == [
        (b"key", b"(null)"),
        (b"tty", b"?"),
        (b"info", b'"same as current profile, skipping"'),
        (b"a0", b'"x=y"'),
    ]


# -- nested user-space payloads ----------------------------------------------------------------------------------


def test_nested_old_style_parenthesised() -> None:
    # shared/corpus/linux-audit_audit-userspace/derived/auparse_test-buf.log line 3; auparse_test.ref reads
    # it as uid=848 exe="/bin/login" hostname=? addr=? terminal=tty3 res=success
    line = (
        "type=USER_LOGIN msg=audit(1143146623.879:146): user pid=2027 uid=0 auid=848 "
        "msg='uid=848: exe=\"/bin/login\" (hostname=?, addr=?, terminal=tty3 res=success)'"
    )
    r = one(line)
    assert r["fields"] == [
        (FREE_TEXT, b"user"),
        (b"pid", b"2027"),
        (b"uid", b"0"),
        (b"auid", b"848"),
        (b"msg", b"'uid=848: exe=\"/bin/login\" (hostname=?, addr=?, terminal=tty3 res=success)'"),
    ]
    assert parse_nested(r["fields"][-1][1]) == [
        (b"uid", b"848"),
        (b"exe", b'"/bin/login"'),
        (b"hostname", b"?"),
        (b"addr", b"?"),
        (b"terminal", b"tty3"),
        (b"res", b"success"),
    ]


def test_nested_old_style_pam_words() -> None:
    # shared/corpus/linux-audit_audit-userspace/auparse/test.log line 10
    payload = b"'PAM: session close acct=root : exe=\"/usr/sbin/crond\" (hostname=?, addr=?, terminal=cron res=success)'"
    assert parse_nested(payload) == [
        (FREE_TEXT, b"PAM:"),
        (FREE_TEXT, b"session"),
        (FREE_TEXT, b"close"),
        (b"acct", b"root"),
        (FREE_TEXT, b":"),
        (b"exe", b'"/usr/sbin/crond"'),
        (b"hostname", b"?"),
        (b"addr", b"?"),
        (b"terminal", b"cron"),
        (b"res", b"success"),
    ]


def test_nested_free_text_op() -> None:
    # shared/corpus/elastic_beats/auditbeat-auditd/passwd.log line 4
    line = (
        "type=USER_ACCT msg=audit(1610988774.279:815): pid=13812 uid=0 auid=1000 ses=14 "
        'msg=\'op=changing /etc/group; group bob/1003, new name: bobby acct="bob" exe="/usr/sbin/groupmod" '
        "hostname=ubuntu-bionic addr=? terminal=pts/2 res=success'"
    )
    r = one(line)
    assert len(r["fields"]) == 5
    assert parse_nested(r["fields"][4][1]) == [
        (b"op", b"changing"),
        (FREE_TEXT, b"/etc/group;"),
        (FREE_TEXT, b"group"),
        (FREE_TEXT, b"bob/1003,"),
        (FREE_TEXT, b"new"),
        (FREE_TEXT, b"name:"),
        (FREE_TEXT, b"bobby"),
        (b"acct", b'"bob"'),
        (b"exe", b'"/usr/sbin/groupmod"'),
        (b"hostname", b"ubuntu-bionic"),
        (b"addr", b"?"),
        (b"terminal", b"pts/2"),
        (b"res", b"success"),
    ]


def test_nested_without_quotes() -> None:
    assert parse_nested(b"op=x res=success") == [(b"op", b"x"), (b"res", b"success")]
    assert parse_nested(b"''") == []


def test_old_new_qualifiers() -> None:
    # shared/corpus/elastic_go-libaudit/auparse/test2.log line 7
    r = one("type=LOGIN msg=audit(1170021601.343:296): login pid=13015 uid=0 old auid=4294967295 new auid=0")
    assert r["fields"] == [
        (FREE_TEXT, b"login"),
        (b"pid", b"13015"),
        (b"uid", b"0"),
        (b"old-auid", b"4294967295"),
        (b"new-auid", b"0"),
    ]
    # shared/corpus/elastic_beats/filebeat-auditd/audit-rhel6.log line 8
    r = one(
        "type=LOGIN msg=audit(1489636960.072:19623791): pid=28281 uid=0 old auid=700 new auid=700 "
        "old ses=6793 new ses=12286"
    )
    assert r["fields"] == [
        (b"pid", b"28281"),
        (b"uid", b"0"),
        (b"old-auid", b"700"),
        (b"new-auid", b"700"),
        (b"old-ses", b"6793"),
        (b"new-ses", b"12286"),
    ]


def test_qualifier_not_followed_by_key_stays_a_word() -> None:
    fields, _ = tokenize("a=1 new old")
    assert fields == [(b"a", b"1"), (FREE_TEXT, b"new"), (FREE_TEXT, b"old")]


# -- AppArmor and SELinux ----------------------------------------------------------------------------------------


def test_apparmor_subj_with_mode() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-user-auth.txt (see above): `subj=/usr/sbin/cupsd (enforce)`
    fields, _ = tokenize("ses=1 subj=/usr/sbin/cupsd (enforce) msg='op=x'")
    assert fields == [(b"ses", b"1"), (b"subj", b"/usr/sbin/cupsd (enforce)"), (b"msg", b"'op=x'")]


def test_apparmor_subj_double_equals() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-broken-subj2.txt
    line = (
        "type=SYSCALL msg=audit(1634623555.431:13835339): arch=c000003e syscall=49 success=yes exit=0 a0=15 "
        "a1=55c5e046e264 a2=1c a3=7ffc8fab77ec items=0 ppid=1899774 pid=1899780 auid=4294967295 uid=0 gid=0 "
        'euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="ntpd" '
        'exe="/usr/sbin/ntpd" subj==/usr/sbin/ntpd (enforce) key=(null)'
    )
    r = one(line)
    assert r["fields"][-3:] == [
        (b"exe", b'"/usr/sbin/ntpd"'),
        (b"subj", b"=/usr/sbin/ntpd (enforce)"),
        (b"key", b"(null)"),
    ]
    assert len(r["fields"]) == 26


def test_apparmor_subj_with_braces() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-broken-subj1.txt
    fields, _ = tokenize('comm="dhclient" exe="/sbin/dhclient" subj=/{,usr/}sbin/dhclient key=(null)')
    assert fields == [
        (b"comm", b'"dhclient"'),
        (b"exe", b'"/sbin/dhclient"'),
        (b"subj", b"/{,usr/}sbin/dhclient"),
        (b"key", b"(null)"),
    ]


def test_selinux_avc_words_and_double_spaces() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-avc-denied.txt
    line = (
        'type=AVC msg=audit(1631798689.083:65686): avc:  denied  { setuid } for  pid=15381 comm="laurel" '
        "capability=7  scontext=system_u:system_r:auditd_t:s0 tcontext=system_u:system_r:auditd_t:s0 "
        "tclass=capability permissive=1"
    )
    r = one(line)
    assert (r["type"], r["name"]) == (1400, "AVC")
    assert r["fields"] == [
        (FREE_TEXT, b"avc:"),
        (FREE_TEXT, b"denied"),
        (FREE_TEXT, b"{"),
        (FREE_TEXT, b"setuid"),
        (FREE_TEXT, b"}"),
        (FREE_TEXT, b"for"),
        (b"pid", b"15381"),
        (b"comm", b'"laurel"'),
        (b"capability", b"7"),
        (b"scontext", b"system_u:system_r:auditd_t:s0"),
        (b"tcontext", b"system_u:system_r:auditd_t:s0"),
        (b"tclass", b"capability"),
        (b"permissive", b"1"),
    ]


def test_corrupted_subj_running_into_second_record() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-daemon-end-2.txt: nothing is lost, nothing invented
    line = (
        "type=DAEMON_END msg=audit(1724970459.096:8216): op=terminate auid=0 pid=12333 subj=24970459.090:670): "
        "pid=12323 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:session_open "
        'grantors=pam_keyinit,pam_keyinit,pam_limits,pam_systemd,pam_unix acct="root" exe="/usr/bin/sudo" '
        "hostname=? addr=? terminal=/dev/pts/0 res=success' res=success"
    )
    r = one(line)
    assert [k for k, _ in r["fields"]] == [
        b"op",
        b"auid",
        b"pid",
        b"subj",
        b"pid",
        b"uid",
        b"auid",
        b"ses",
        b"msg",
        b"res",
    ]
    assert r["fields"][3] == (b"subj", b"24970459.090:670):")


# -- line terminators ------------------------------------------------------------------------------------------


def test_last_line_without_trailing_newline() -> None:
    # shared/corpus/elastic_go-libaudit/auparse/audit-rhel7.log: the file's last line has no terminator
    data = (
        b"type=CONFIG_CHANGE msg=audit(1492749467.018:1209): auid=4294967295 ses=4294967295 "
        b'subj=system_u:system_r:unconfined_service_t:s0 op="add_rule" key="pam" list=4 res=1'
    )
    (r,) = parse_line(data)
    assert r["text"] == data
    assert (r["type"], rid(r)) == (1305, "1492749467.018:1209")
    assert r["fields"][-3:] == [(b"key", b'"pam"'), (b"list", b"4"), (b"res", b"1")]
    (r2,) = parse_line(data + b"\n")
    assert r2["text"] == r["text"]
    assert r2["fields"] == r["fields"]


def test_crlf_terminator() -> None:
    # shared/corpus/hillu_linux-audit-parser-rs/line-unknown.txt with a CRLF terminator
    data = b"type=UNKNOWN[1334] msg=audit(1626883065.201:216697): prog-id=45 op=UNLOAD"
    (r,) = parse_line(data + b"\r\n")
    assert r["text"] == data
    assert r["fields"] == [(b"prog-id", b"45"), (b"op", b"UNLOAD")]
    # a lone CR without LF is not a terminator: it stays in the last value, so no byte is lost
    (r,) = parse_line(data + b"\r")
    assert r["text"] == data + b"\r"
    assert r["fields"] == [(b"prog-id", b"45"), (b"op", b"UNLOAD\r")]


def test_non_utf8_bytes_are_kept() -> None:
    data = b'type=PATH msg=audit(1.002:3): item=0 name="/tmp/\xff\xfe" nametype=NORMAL'
    (r,) = parse_line(data + b"\n")
    assert r["text"] == data
    assert r["fields"][1] == (b"name", b'"/tmp/\xff\xfe"')


def test_overlong_numbers_do_not_raise() -> None:
    # a corrupted stamp with thousands of digits must give an error record, not a ValueError
    big = "9" * 5000
    (r,) = parse_text(f"type=SYSCALL msg=audit(1.2:{big}): a=1")
    assert r["error"] == "no audit(SEC.MSEC:SERIAL) stamp in header: " + repr(
        f"msg=audit(1.2:{big}): a=1"[:40]
    )
    (r,) = parse_text(f"type=UNKNOWN[{big}] msg=audit(1.2:3): a=1")
    assert (r["type"], r["error"], r["fields"]) == (0, None, [(b"a", b"1")])


def test_read_path_skips_comments() -> None:
    # shared/corpus/threathunters-io_laurel/fork-sleep-exec.txt lines 1-2 + a record line of the same file;
    # the read path (sources/logfile.py's LogSource, now the pipeline's line reader) skips and counts them
    data = (
        b"# orphan = simple demo program\n#\n\n"
        b"type=UNKNOWN[1334] msg=audit(1626883065.201:216697): prog-id=45 op=UNLOAD\n"
    )
    events, stats = pipeline_events(data)
    assert [names(event_records(ev)) for ev in events] == [["UNKNOWN[1334]"]]
    assert (stats["lines"], stats["skipped_lines"], stats["bytes"]) == (4, 3, len(data))
