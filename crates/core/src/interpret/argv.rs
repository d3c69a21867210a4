//! argv from EXECVE records (split arguments joined, across records) and from PROCTITLE. (Port of the argv
//! part of events/interpret.py.)

use std::collections::BTreeMap;

use super::py::{self, PyInt};
use crate::record::encoding::{decode_encoded, escape};
use crate::record::Record;

/// Pieces of one split argument: part number → bytes.
type Parts = BTreeMap<PyInt, Vec<u8>>;

/// Python's `s[:-1]` on the text these bytes held: drop the last character (a valid UTF-8 sequence, or
/// one invalid byte).
fn drop_last_char(s: &[u8]) -> &[u8] {
    for n in (1..=4.min(s.len())).rev() {
        let tail = &s[s.len() - n..];
        if let Ok(t) = std::str::from_utf8(tail) {
            if t.chars().count() == 1 {
                return &s[..s.len() - n];
            }
        }
    }
    &s[..s.len().saturating_sub(1)]
}

/// argc, argv (bytes, in order) and warnings from an event's EXECVE records.
///
/// Handles `aN="..."`, hex `aN=...`, and split arguments `aN_len=L aN[0]=... aN[1]=...` continued over
/// several records; reports argc mismatches and split arguments whose length disagrees with `aN_len`.
/// An argc beyond the i64 range is returned as None (its warning still says it).
pub fn execve_argv(records: &[&Record]) -> (Option<i64>, Vec<Vec<u8>>, Vec<String>) {
    let mut argc: Option<PyInt> = None;
    let mut whole: BTreeMap<PyInt, Vec<u8>> = BTreeMap::new();
    // index -> (first-seen order, pieces by part)
    let mut pieces: BTreeMap<PyInt, (usize, Parts)> = BTreeMap::new();
    let mut lengths: BTreeMap<PyInt, PyInt> = BTreeMap::new();
    let mut warnings = Vec::new();
    for rec in records {
        for (k, tok) in &rec.fields {
            if k.first() != Some(&b'a') {
                continue;
            }
            if k.as_slice() == b"argc" {
                match py::int(tok) {
                    Some(n) => argc = Some(n),
                    None => warnings.push(format!("argc is not a number: {}", py::repr(tok))),
                }
                continue;
            }
            let rest = &k[1..];
            let bracket = memchr::memchr(b'[', rest);
            if let Some(b) = bracket.filter(|&b| b > 0) {
                let inner = drop_last_char(&rest[b + 1..]);
                let (Some(idx), Some(part)) = (py::int(&rest[..b]), py::int(inner)) else {
                    continue;
                };
                let order = pieces.len();
                pieces
                    .entry(idx)
                    .or_insert_with(|| (order, BTreeMap::new()))
                    .1
                    .insert(part, decode_encoded(tok).unwrap_or_default());
            } else if let Some(num) = rest.strip_suffix(b"_len") {
                if let (Some(idx), Some(len)) = (py::int(num), py::int(tok)) {
                    lengths.insert(idx, len);
                }
            } else if let Some(idx) = py::int(rest) {
                whole.insert(idx, decode_encoded(tok).unwrap_or_default());
            }
        }
    }
    let mut pieces: Vec<(PyInt, (usize, Parts))> = pieces.into_iter().collect();
    pieces.sort_by_key(|(_, (order, _))| *order);
    for (idx, (_, parts)) in pieces {
        let joined: Vec<u8> = parts.values().flatten().copied().collect();
        // aN_len counts the bytes as the kernel encoded them: hex doubles the length
        if let Some(want) = lengths.get(&idx) {
            let n = joined.len() as i64;
            if want.small() != Some(n) && want.small() != Some(2 * n) {
                warnings.push(format!(
                    "a{idx}: {} bytes received, a{idx}_len={want}",
                    joined.len()
                ));
            }
        }
        if !contiguous(parts.keys()) {
            warnings.push(format!("a{idx}: pieces missing ({} received)", parts.len()));
        }
        whole.insert(idx, joined);
    }
    let contiguous_args = contiguous(whole.keys());
    let argv: Vec<Vec<u8>> = whole.into_values().collect();
    if !argv.is_empty() && !contiguous_args {
        warnings.push("argument indexes are not contiguous".to_string());
    }
    if let Some(n) = &argc {
        if n.small() != Some(argv.len() as i64) {
            warnings.push(format!("argc={n} but {} arguments", argv.len()));
        }
    }
    (argc.and_then(|n| n.small()), argv, warnings)
}

/// Sorted keys are exactly 0, 1, 2, ...
fn contiguous<'a>(keys: impl Iterator<Item = &'a PyInt>) -> bool {
    keys.enumerate()
        .all(|(i, k)| k.small() == i64::try_from(i).ok())
}

/// PROCTITLE: NUL-separated argv (hex) or a quoted single string; the kernel truncates it at 128 bytes.
pub fn proctitle_argv(token: Option<&[u8]>) -> Vec<Vec<u8>> {
    let Some(b) = token.and_then(decode_encoded) else {
        return Vec::new();
    };
    if b.is_empty() {
        return Vec::new();
    }
    let b = b.strip_suffix(b"\0").unwrap_or(&b);
    b.split(|&c| c == 0).map(<[u8]>::to_vec).collect()
}

/// Each argument in laurel's escaped text form.
pub fn escaped(items: &[Vec<u8>]) -> Vec<String> {
    items.iter().map(|b| escape(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::{drop_last_char, execve_argv, proctitle_argv};
    use crate::record::Record;

    /// An EXECVE record with these fields (the assembler and argv only read the fields).
    fn rec(fields: &[(&str, &str)]) -> Record {
        Record {
            rtype: 1309,
            name: b"EXECVE".to_vec(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.as_bytes().into(), v.as_bytes().into()))
                .collect(),
            ..Record::default()
        }
    }

    fn run(recs: &[Record]) -> (Option<i64>, Vec<Vec<u8>>, Vec<String>) {
        execve_argv(&recs.iter().collect::<Vec<_>>())
    }

    fn v(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn w(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn split_argument_across_records() {
        // threathunters-io_laurel/record-execve-long.txt shape: a1_len, a1[0] a1[1] a1[2] over three records
        let r1 = rec(&[
            ("argc", "2"),
            ("a0", "\"/bin/echo\""),
            ("a1_len", "12"),
            ("a1[0]", "6261"),
        ]);
        let r2 = rec(&[("a1[1]", "6161")]);
        let r3 = rec(&[("a1[2]", "6167")]);
        assert_eq!(
            run(&[r1, r2, r3]),
            (Some(2), v(&["/bin/echo", "baaaag"]), w(&[]))
        );
    }

    #[test]
    fn split_argument_missing_piece() {
        // a1[1] never came: a1_len=12 (hex digits, 6 bytes) disagrees with the 4 bytes received
        let r1 = rec(&[
            ("argc", "2"),
            ("a0", "\"x\""),
            ("a1_len", "12"),
            ("a1[0]", "6162"),
        ]);
        let r3 = rec(&[("a1[2]", "6566")]);
        assert_eq!(
            run(&[r1, r3]),
            (
                Some(2),
                v(&["x", "abef"]),
                w(&[
                    "a1: 4 bytes received, a1_len=12",
                    "a1: pieces missing (2 received)"
                ])
            )
        );
        // a1_len counts the hex digits the kernel wrote, so 8 for these 4 bytes is not a mismatch
        let r1 = rec(&[
            ("argc", "2"),
            ("a0", "\"x\""),
            ("a1_len", "8"),
            ("a1[0]", "6162"),
        ]);
        let r2 = rec(&[("a1[1]", "6566")]);
        assert_eq!(run(&[r1, r2]), (Some(2), v(&["x", "abef"]), w(&[])));
    }

    #[test]
    fn hex_arguments() {
        let r = rec(&[
            ("argc", "3"),
            ("a0", "\"sh\""),
            ("a1", "\"-c\""),
            ("a2", "6563686F2068656C6C6F"),
        ]);
        assert_eq!(run(&[r]), (Some(3), v(&["sh", "-c", "echo hello"]), w(&[])));
        let r = rec(&[("argc", "1"), ("a0", "2F746D702F0A")]);
        assert_eq!(run(&[r]), (Some(1), v(&["/tmp/\n"]), w(&[])));
    }

    #[test]
    fn argc_mismatch() {
        let r = rec(&[("argc", "3"), ("a0", "\"ls\""), ("a1", "\"-l\"")]);
        assert_eq!(
            run(&[r]),
            (Some(3), v(&["ls", "-l"]), w(&["argc=3 but 2 arguments"]))
        );
        let r = rec(&[("argc", "x"), ("a0", "\"ls\"")]);
        assert_eq!(
            run(&[r]),
            (None, v(&["ls"]), w(&["argc is not a number: 'x'"]))
        );
        let r = rec(&[("argc", "3"), ("a0", "\"ls\""), ("a2", "\"-l\"")]);
        assert_eq!(
            run(&[r]),
            (
                Some(3),
                v(&["ls", "-l"]),
                w(&[
                    "argument indexes are not contiguous",
                    "argc=3 but 2 arguments"
                ])
            )
        );
        // hillu_linux-audit-parser-rs/line-execve.txt: argc=0 with a0 present
        let r = rec(&[("argc", "0"), ("a0", "\"x\"")]);
        assert_eq!(
            run(&[r]),
            (Some(0), v(&["x"]), w(&["argc=0 but 1 arguments"]))
        );
    }

    #[test]
    fn many_arguments_in_numeric_order() {
        let names: Vec<String> = (0..12).map(|i| format!("a{i}")).collect();
        let vals: Vec<String> = (0..12).map(|i| format!("\"arg{i}\"")).collect();
        let want: Vec<String> = (0..12).map(|i| format!("arg{i}")).collect();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        let mut f: Vec<(&str, &str)> = vec![("argc", "12")];
        f.extend((0..12).map(|i| (names[i].as_str(), vals[i].as_str())));
        assert_eq!(run(&[rec(&f)]), (Some(12), v(&want), w(&[])));
        // the same arguments written out of order, across two records
        let mut late: Vec<(&str, &str)> = vec![("argc", "12")];
        late.extend(
            [11, 10, 2]
                .iter()
                .map(|&i| (names[i].as_str(), vals[i].as_str())),
        );
        let early: Vec<(&str, &str)> = [0, 1, 3, 4, 5, 6, 7, 8, 9]
            .iter()
            .map(|&i| (names[i].as_str(), vals[i].as_str()))
            .collect();
        assert_eq!(
            run(&[rec(&late), rec(&early)]),
            (Some(12), v(&want), w(&[]))
        );
    }

    #[test]
    fn empty_and_null_arguments() {
        let r = rec(&[
            ("argc", "3"),
            ("a0", "\"x\""),
            ("a1", "\"\""),
            ("a2", "(null)"),
        ]);
        assert_eq!(run(&[r]), (Some(3), v(&["x", "", ""]), w(&[])));
    }

    #[test]
    fn odd_keys_read_as_python_int_reads_them() {
        // indexes as int() reads them: leading zeros, underscores, a sign; other keys are ignored
        let r = rec(&[
            ("argc", "\"2\""),
            ("a01", "\"b\""),
            ("a+0", "\"a\""),
            ("a", "\"no\""),
            ("auid", "\"no\""),
            ("a1[x]", "\"no\""),
            ("a2_len", "zz"),
        ]);
        assert_eq!(
            run(&[r]),
            (None, v(&["a", "b"]), w(&["argc is not a number: '\"2\"'"]))
        );
        // a negative index sorts first and breaks contiguity; a huge one is kept and printed exactly
        let r = rec(&[
            ("a0", "\"x\""),
            ("a-1", "\"m\""),
            ("a99999999999999999999[0]", "\"h\""),
            ("a99999999999999999999_len", "3"),
            ("argc", "99999999999999999999"),
        ]);
        assert_eq!(
            run(&[r]),
            (
                None,
                v(&["m", "x", "h"]),
                w(&[
                    "a99999999999999999999: 1 bytes received, a99999999999999999999_len=3",
                    "argument indexes are not contiguous",
                    "argc=99999999999999999999 but 3 arguments"
                ])
            )
        );
        // the last character inside [] is dropped whatever it is, as Python's rest[b + 1 : -1]
        let r = rec(&[("a0[0)", "\"p\""), ("a0[1é", "\"q\"")]);
        assert_eq!(run(&[r]), (None, v(&["pq"]), w(&[])));
    }

    #[test]
    fn pieces_warnings_in_first_seen_order() {
        let r = rec(&[("a3[1]", "\"c\""), ("a1[1]", "\"b\""), ("a3[2]", "\"d\"")]);
        assert_eq!(
            run(&[r]),
            (
                None,
                v(&["b", "cd"]),
                w(&[
                    "a3: pieces missing (2 received)",
                    "a1: pieces missing (1 received)",
                    "argument indexes are not contiguous"
                ])
            )
        );
    }

    #[test]
    fn last_char() {
        assert_eq!(drop_last_char(b"12]"), b"12");
        assert_eq!(drop_last_char("1é".as_bytes()), b"1");
        assert_eq!(drop_last_char(b"1\xa9"), b"1");
        assert_eq!(drop_last_char(b"\xc3"), b"");
        assert_eq!(drop_last_char(b""), b"");
        assert_eq!(drop_last_char("a😀".as_bytes()), b"a");
    }

    #[test]
    fn proctitle() {
        // threathunters-io_laurel/record-bind-ipv4-bigendian.txt
        assert_eq!(
            proctitle_argv(Some(b"6E63002D6C002D70003535353535")),
            v(&["nc", "-l", "-p", "55555"])
        );
        // a trailing NUL ends the last argument; an empty argument in the middle is kept
        assert_eq!(proctitle_argv(Some(b"6100")), v(&["a"]));
        assert_eq!(proctitle_argv(Some(b"61000062")), v(&["a", "", "b"]));
        assert_eq!(proctitle_argv(Some(b"610000")), v(&["a", ""]));
        // a quoted proctitle (no NUL, no space) is one argument
        assert_eq!(proctitle_argv(Some(b"\"bash\"")), v(&["bash"]));
        assert_eq!(proctitle_argv(Some(b"00")), v(&[""]));
        assert_eq!(proctitle_argv(Some(b"(null)")), v(&[]));
        assert_eq!(proctitle_argv(Some(b"")), v(&[]));
        assert_eq!(proctitle_argv(None), v(&[]));
    }
}
