//! A restart replays the journal from the store's mark: every event is stored once, whatever record the
//! previous run had processed last (issue 13, item 3).

use auditsql_core::netlink::journal::{Replay, Writer};
use auditsql_core::pipeline::{Batch, Pipeline, Settings};

fn records() -> Vec<(u16, String)> {
    let hdr = |s: u64| format!("audit(1700000000.{:03}:{s}): ", s % 1000);
    let syscall = |s: u64| {
        format!(
            "{}arch=c000003e syscall=59 success=yes exit=0 items=0 ppid=1 pid={s} uid=0 comm=\"true\" exe=\"/bin/true\"",
            hdr(s)
        )
    };
    // an event without EOE opens first and stays open to the end (closed by the final flush)
    let mut out = vec![(1300, syscall(500))];
    for s in (1..=40).step_by(2) {
        // two events interleaved, as two CPUs' records are
        out.push((1300, syscall(s)));
        out.push((1300, syscall(s + 1)));
        out.push((1309, format!("{}argc=1 a0=\"true\"", hdr(s))));
        out.push((1320, hdr(s)));
        out.push((1309, format!("{}argc=1 a0=\"true\"", hdr(s + 1))));
        out.push((1320, hdr(s + 1)));
    }
    out.push((1306, format!("{}op=x", hdr(500))));
    out
}

fn settings() -> Settings {
    Settings {
        resolve_ids: false,
        ..Settings::default()
    }
}

fn lines(b: &Batch) -> Vec<String> {
    String::from_utf8(b.json.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_replay_from_the_mark_stores_every_event_once_whatever_the_cut() {
    let dir = std::env::temp_dir().join(format!("auditsql-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let recs = records();
    let mut w = Writer::new(&dir, 0, 300); // small segments: the replay crosses several
    for (t, text) in &recs {
        let mut buf = Vec::new();
        buf.extend_from_slice(&t.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&(text.len() as u32).to_ne_bytes());
        buf.extend_from_slice(text.as_bytes());
        w.append(&buf).unwrap();
    }
    // the uninterrupted run
    let mut whole = Pipeline::new(settings());
    let mut b = Batch::default();
    let mut r = Replay::open(&dir, 0, u64::MAX).unwrap();
    while whole.replay(&mut r, 7, &mut b).unwrap() > 0 {}
    whole.finish(&mut b);
    let mut expect = lines(&b);
    assert_eq!(expect.len(), 41);
    expect.sort();

    for cut in 0..=recs.len() {
        // the run killed after `cut` records: what it stored, and its mark
        let mut first = Pipeline::new(settings());
        let mut stored = Batch::default();
        let mut r = Replay::open(&dir, 0, u64::MAX).unwrap();
        first.replay(&mut r, cut, &mut stored).unwrap();
        let mark = first.mark();
        // the next start: replay from the mark, then the end of input
        let mut next = Pipeline::new(settings());
        next.begin_replay(mark.end, &mark.open);
        let mut again = Batch::default();
        let mut r = Replay::open(&dir, mark.start, u64::MAX).unwrap();
        while next.replay(&mut r, 5, &mut again).unwrap() > 0 {}
        next.end_replay();
        next.finish(&mut again);
        let mut got = lines(&stored);
        got.extend(lines(&again));
        got.sort();
        assert_eq!(got, expect, "cut after {cut} records");
        // the oldest open event holds the mark back: the event without EOE, from the first record on
        if cut > 0 {
            assert_eq!(mark.start, 0, "cut {cut}");
        }
    }
}
