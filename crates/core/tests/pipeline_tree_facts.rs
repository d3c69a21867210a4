//! `summary.tree` (docs/event-json.md): with the process tree on, every event of a process the tree knows says
//! the same start, its parent's start, executable and arguments: a fork, an exec, a connect, a user-space
//! message and the exit of one process, through the pipeline as `auditsql run` feeds it.

use auditsql_core::pipeline::{Batch, Format, Pipeline, Settings};
use serde_json::{json, Value};

fn syscall(t: &str, serial: u64, nr: u32, pid: i64, ppid: i64, exe: &str, exit: i64) -> String {
    let comm = exe.rsplit('/').next().unwrap_or_default();
    format!(
        "type=SYSCALL msg=audit({t}:{serial}): arch=c000003e syscall={nr} success=yes exit={exit} a0=1200011 \
         a1=0 a2=0 a3=0 items=0 ppid={ppid} pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 \
         fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"{comm}\" exe=\"{exe}\" key=\"k\""
    )
}

fn log() -> String {
    [
        syscall("1000.000", 1, 59, 100, 1, "/usr/bin/bash", 0),
        r#"type=EXECVE msg=audit(1000.000:1): argc=3 a0="bash" a1="-c" a2=6375726C20782079"#.into(),
        "type=EOE msg=audit(1000.000:1): ".into(),
        syscall("1001.000", 2, 56, 100, 1, "/usr/bin/bash", 200), // clone -> 200
        "type=EOE msg=audit(1001.000:2): ".into(),
        syscall("1001.500", 3, 59, 200, 100, "/usr/bin/curl", 0),
        r#"type=EXECVE msg=audit(1001.500:3): argc=2 a0="curl" a1="x""#.into(),
        "type=EOE msg=audit(1001.500:3): ".into(),
        syscall("1002.000", 4, 42, 200, 100, "/usr/bin/curl", 0),
        "type=SOCKADDR msg=audit(1002.000:4): saddr=02001F905DB8D8220000000000000000".into(),
        "type=EOE msg=audit(1002.000:4): ".into(),
        "type=USER_CMD msg=audit(1002.500:5): pid=200 uid=1000 auid=1000 ses=3 msg='cwd=\"/\" cmd=6C73 \
         exe=\"/usr/bin/curl\" terminal=pts/0 res=success'"
            .into(),
        syscall("1003.000", 6, 231, 200, 100, "/usr/bin/curl", 0), // exit_group
        "type=EOE msg=audit(1003.000:6): ".into(),
        syscall("1004.000", 7, 61, 100, 1, "/usr/bin/bash", 200), // wait4
        "type=EOE msg=audit(1004.000:7): ".into(),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect()
}

/// Each event's (pid, syscall or type, summary.tree).
fn facts(process_tree: bool) -> Vec<(i64, String, Option<Value>)> {
    let mut p = Pipeline::new(Settings {
        format: Format::Raw,
        resolve_ids: false,
        process_tree,
        ..Settings::default()
    });
    let mut b = Batch::default();
    p.feed_lines(log().as_bytes(), &mut b);
    p.finish(&mut b);
    b.json
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value = serde_json::from_slice(l).expect("event JSON");
            let s = &v["summary"];
            let what = s.get("syscall").unwrap_or(&s["type"]);
            (
                s["pid"].as_i64().expect("pid"),
                what.as_str().expect("name").to_string(),
                s.get("tree").cloned(),
            )
        })
        .collect()
}

#[test]
fn every_event_of_a_process_carries_its_tree_facts() {
    let bash = json!({"start": 1000.0, "parent": 1});
    // curl: forked by bash at 1001.000 (its start), bash's list as exec'd (hex decoded)
    let curl = json!({"start": 1001.0, "parent": 100, "parent_start": 1000.0, "parent_exe": "/usr/bin/bash",
                      "parent_argv": ["bash", "-c", "curl x y"]});
    let want = vec![
        (100, "execve", bash.clone()),
        (100, "clone", bash.clone()),
        (200, "execve", curl.clone()),
        (200, "connect", curl.clone()),
        (200, "USER_CMD", curl.clone()),
        (200, "exit_group", curl),
        (100, "wait4", bash),
    ];
    let mut got = facts(true);
    // the user-space message waits a few records for kernel records of its own: it closes after the exit
    let user_cmd = got.remove(6);
    assert_eq!(user_cmd.1, "USER_CMD");
    got.insert(4, user_cmd);
    assert_eq!(got.len(), want.len());
    for ((pid, what, tree), (wpid, wwhat, wtree)) in got.iter().zip(&want) {
        assert_eq!((pid, what.as_str()), (wpid, *wwhat));
        assert_eq!(tree.as_ref(), Some(wtree), "{what} of {pid}");
    }
}

#[test]
fn without_the_tree_no_summary_tree() {
    let got = facts(false);
    assert_eq!(got.len(), 7);
    assert!(got.iter().all(|(_, _, tree)| tree.is_none()));
}
