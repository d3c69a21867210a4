//! The container ID in a process's cgroup path.

/// The container ID in the text of a `/proc/PID/cgroup` file (or one cgroup path), or None.
///
/// Recognised: a 64-lower-case-hex-digit ID as a path component (`/docker/ID`, cgroupfs kubepods
/// `/kubepods/.../ID`) or after a prefix ending in `-` or `:` with an optional `.scope`
/// (`docker-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope`, `libpod-ID.scope`,
/// `...:cri-containerd:ID`). The innermost (last) match wins. (Python's regex
/// `(?:^|[/:-])([0-9a-f]{64})(?:\.scope)?(?=/|$)` over each line, after `N:controllers:` when the line
/// starts with a digit and has two colons.)
pub fn container_id(cgroup: &str) -> Option<String> {
    let mut found = None;
    for line in py_splitlines(cgroup) {
        let path =
            if line.matches(':').count() >= 2 && line.starts_with(|c: char| c.is_ascii_digit()) {
                line.splitn(3, ':').nth(2).unwrap_or(line)
            } else {
                line
            };
        if let Some(id) = last_id(path.as_bytes()) {
            found = Some(id);
        }
    }
    found
}

/// The last match of the pattern in one path. Matches cannot overlap (an ID and `.scope` hold none of
/// `/:-`), so the last match is the one with the greatest start.
fn last_id(b: &[u8]) -> Option<String> {
    const ID: usize = 64;
    let n = b.len();
    if n < ID {
        return None;
    }
    (0..=n - ID).rev().find_map(|s| {
        if s > 0 && !matches!(b[s - 1], b'/' | b':' | b'-') {
            return None;
        }
        let id = &b[s..s + ID];
        if !id.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let e = s + ID;
        let ends = |i: usize| i == n || b[i] == b'/';
        let scoped = b[e..].starts_with(b".scope") && ends(e + 6);
        (scoped || ends(e)).then(|| String::from_utf8_lossy(id).into_owned())
    })
}

/// Python's `str.splitlines()`: split at `\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`-`\x1e`, `\x85`, U+2028,
/// U+2029; no empty last line for a trailing terminator.
fn py_splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let brk = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if brk {
            out.push(&s[start..i]);
            let mut next = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = it.peek() {
                    it.next();
                    next = j + 1;
                }
            }
            start = next;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{container_id, py_splitlines};

    const CID: &str = "4a7c8e0b1f2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7";

    #[test]
    fn container_ids_from_cgroups() {
        for t in [
            "0::/system.slice/docker-{}.scope",
            "12:memory:/docker/{}\n11:cpu:/docker/{}\n0::/",
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-{}.scope",
            "0::/kubepods/besteffort/pod0b3b0c47-1d7f-4c0e-a0b2-3a4f5e6d7c8b/{}",
            "0::/kubepods.slice/kubepods-pod1.slice/crio-{}.scope",
            "0::/machine.slice/libpod-{}.scope/container",
            "0::/system.slice/containerd.service/kubepods-besteffort-pod1.slice:cri-containerd:{}",
            "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{}.scope",
        ] {
            assert_eq!(container_id(&t.replace("{}", CID)).as_deref(), Some(CID), "{t}");
        }
    }

    #[test]
    fn no_container_ids() {
        let short = format!("0::/system.slice/docker-{}.scope", &CID[..63]);
        let wrapped = format!("0::/system.slice/x{CID}y.scope");
        for t in [
            "0::/user.slice/user-1000.slice/session-3.scope",
            "0::/system.slice/ssh.service",
            "0::/",
            short.as_str(),
            wrapped.as_str(),
            "",
        ] {
            assert_eq!(container_id(t), None, "{t}");
        }
    }

    #[test]
    fn round_trips_and_innermost_wins() {
        let other = "f".repeat(64);
        for tpl in [
            "/docker/{}",
            "/system.slice/docker-{}.scope",
            "/a/cri-containerd-{}.scope/b",
            "/x:crio:{}",
        ] {
            for prefix in ["0::", "3:pids:", ""] {
                let t = format!("{prefix}{}", tpl.replace("{}", CID));
                assert_eq!(container_id(&t).as_deref(), Some(CID), "{t}");
            }
        }
        assert_eq!(
            container_id(&format!("/docker/{other}/{CID}")).as_deref(),
            Some(CID)
        );
        assert_eq!(
            container_id(&format!("{CID}\n0::/docker/{other}")),
            Some(other.clone())
        );
        assert_eq!(container_id(&format!("{CID}.scope")).as_deref(), Some(CID));
        assert_eq!(container_id(&format!("/{CID}.scopex")), None);
        assert_eq!(container_id(&format!("/{}", CID.to_uppercase())), None);
    }

    #[test]
    fn never_fails_on_odd_text() {
        for t in ["\u{2028}ä:1:2", "1:2", ":::::", "\r\n\r", "1::\u{85}/x"] {
            let got = container_id(t);
            assert!(got.is_none());
        }
    }

    proptest::proptest! {
        #[test]
        fn never_fails(text in "\\PC{0,200}") {
            let got = container_id(&text);
            proptest::prop_assert!(got.map_or(true, |g| g.len() == 64 && text.contains(&g)));
        }

        #[test]
        fn finds_any_id(
            cid in "[0-9a-f]{64}",
            tpl in proptest::sample::select(vec!["/docker/{}", "/system.slice/docker-{}.scope", "/a/cri-containerd-{}.scope/b", "/x:crio:{}"]),
            prefix in proptest::sample::select(vec!["0::", "3:pids:", ""]),
        ) {
            let t = format!("{prefix}{}", tpl.replace("{}", &cid));
            proptest::prop_assert_eq!(container_id(&t), Some(cid));
        }
    }

    #[test]
    fn splitlines_like_python() {
        assert_eq!(py_splitlines("a\r\nb\rc\n"), vec!["a", "b", "c"]);
        assert_eq!(py_splitlines("a\n\nb"), vec!["a", "", "b"]);
        assert_eq!(py_splitlines(""), Vec::<&str>::new());
        assert_eq!(py_splitlines("x\u{2028}y"), vec!["x", "y"]);
    }
}
