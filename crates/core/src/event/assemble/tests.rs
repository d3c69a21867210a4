//! Exact tests of event assembly (port of tests/events/test_assembler.py): closing (EOE, single, window,
//! flush, tick), interleaving, duplicates, late records, serial gaps and rollover. The corpus cases are in
//! tests/assemble_golden.rs.

use super::{is_single, Assembler, Stats};
use crate::event::{ClosedBy, Event};
use crate::record::Record;

const SEC: u64 = 1700000000;

fn rtype(name: &str) -> u32 {
    match name {
        "SYSCALL" => 1300,
        "PATH" => 1302,
        "SOCKADDR" => 1306,
        "CWD" => 1307,
        "EXECVE" => 1309,
        "EOE" => 1320,
        "USER_LOGIN" => 1112,
        "SERVICE_START" => 1130,
        _ => panic!("type {name}"),
    }
}

/// A record as the parser makes it of `[node=N ]type=NAME msg=audit(SEC.MSEC:SERIAL):[ BODY]`.
fn rec_at(name: &str, serial: u64, body: &str, sec: u64, msec: u64, node: Option<&str>) -> Record {
    let prefix = node.map(|n| format!("node={n} ")).unwrap_or_default();
    let head = format!("{prefix}type={name} msg=audit({sec}.{msec:03}:{serial}):");
    let text = if body.is_empty() {
        head.clone()
    } else {
        format!("{head} {body}")
    };
    Record {
        body_start: (head.len() + 1).min(text.len()),
        text: text.into_bytes(),
        node: node.map(|n| n.as_bytes().to_vec()),
        rtype: rtype(name),
        name: name.as_bytes().to_vec(),
        sec,
        msec,
        serial,
        ..Record::default()
    }
}

fn rec(name: &str, serial: u64, body: &str) -> Record {
    rec_at(name, serial, body, SEC, 0, None)
}

fn names(ev: &Event) -> Vec<String> {
    ev.records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.name).into_owned())
        .collect()
}

fn shape(events: &[Event]) -> Vec<(u64, Vec<String>, ClosedBy)> {
    events
        .iter()
        .map(|e| (e.serial, names(e), e.closed_by))
        .collect()
}

fn sh(serial: u64, names: &[&str], how: ClosedBy) -> (u64, Vec<String>, ClosedBy) {
    (serial, names.iter().map(|s| s.to_string()).collect(), how)
}

fn push(asm: &mut Assembler, r: Record) -> Vec<Event> {
    let mut out = Vec::new();
    asm.push(r, &mut out);
    out
}

fn flush(asm: &mut Assembler) -> Vec<Event> {
    let mut out = Vec::new();
    asm.flush(&mut out);
    out
}

fn tick(asm: &mut Assembler, now: f64) -> Vec<Event> {
    let mut out = Vec::new();
    asm.tick(now, &mut out);
    out
}

/// Push every record; what each push returned, what flush returned, and the assembler.
fn run(records: Vec<Record>, mut asm: Assembler) -> (Vec<Vec<Event>>, Vec<Event>, Assembler) {
    let per_push = records.into_iter().map(|r| push(&mut asm, r)).collect();
    let flushed = flush(&mut asm);
    (per_push, flushed, asm)
}

fn texts(ev: &Event) -> Vec<Vec<u8>> {
    ev.records.iter().map(|r| r.text.clone()).collect()
}

use ClosedBy::{Eoe, Flush, Late, Single, Window};

// -- closing ------------------------------------------------------------------------------------------------

#[test]
fn eoe_closes_the_event() {
    let sc = rec("SYSCALL", 10, "arch=c000003e syscall=59");
    let ex = rec("EXECVE", 10, "argc=1 a0=\"id\"");
    let eoe = rec("EOE", 10, "");
    let want = vec![sc.clone(), ex.clone(), eoe.clone()];
    let (per_push, flushed, asm) = run(vec![sc, ex, eoe], Assembler::default());
    assert!(per_push[0].is_empty() && per_push[1].is_empty());
    assert_eq!(per_push[2].len(), 1);
    let ev = &per_push[2][0];
    assert_eq!(
        shape(&per_push[2]),
        [sh(10, &["SYSCALL", "EXECVE", "EOE"], Eoe)]
    );
    assert_eq!(ev.records, want);
    assert_eq!(ev.id(), "1700000000.000:10");
    assert!(flushed.is_empty());
    assert_eq!(
        asm.stats,
        Stats {
            records: 3,
            events: 1,
            closed_eoe: 1,
            ..Stats::default()
        }
    );
    let names: Vec<&str> = asm.stats.list().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "records",
            "events",
            "errors",
            "closed_eoe",
            "closed_single",
            "closed_window",
            "closed_flush",
            "late",
            "duplicates",
            "serial_gaps",
            "serial_jumps"
        ]
    );
    assert_eq!(asm.stats.list()[0], ("records", 3));
}

#[test]
fn lone_eoe_is_an_event_of_its_own() {
    let (per_push, flushed, asm) = run(vec![rec("EOE", 5, "")], Assembler::default());
    assert_eq!(shape(&per_push[0]), [sh(5, &["EOE"], Eoe)]);
    assert!(flushed.is_empty());
    assert_eq!(asm.stats.closed_eoe, 1);
}

#[test]
fn interleaved_records_of_two_events() {
    let recs = vec![
        rec("SYSCALL", 1, "syscall=59"),
        rec("SYSCALL", 2, "syscall=42"),
        rec("CWD", 1, "cwd=\"/\""),
        rec("SOCKADDR", 2, "saddr=0100"),
        rec("EOE", 2, ""),
        rec("EOE", 1, ""),
    ];
    let (per_push, flushed, asm) = run(recs, Assembler::default());
    assert!(per_push[..4].iter().all(Vec::is_empty));
    assert_eq!(
        shape(&per_push[4]),
        [sh(2, &["SYSCALL", "SOCKADDR", "EOE"], Eoe)]
    );
    assert_eq!(
        shape(&per_push[5]),
        [sh(1, &["SYSCALL", "CWD", "EOE"], Eoe)]
    );
    assert!(flushed.is_empty());
    assert_eq!(asm.stats.serial_gaps, 0);
}

#[test]
fn same_serial_different_timestamp_or_node_are_different_events() {
    let recs = vec![
        rec_at("SYSCALL", 7, "a=1", SEC, 1, None),
        rec_at("SYSCALL", 7, "a=1", SEC, 2, None),
        rec_at("SYSCALL", 7, "a=1", SEC, 0, Some("n1")),
    ];
    let (_, flushed, asm) = run(recs, Assembler::default());
    let got: Vec<(Option<Vec<u8>>, u64, ClosedBy)> = flushed
        .iter()
        .map(|e| (e.node.clone(), e.msec, e.closed_by))
        .collect();
    assert_eq!(
        got,
        [
            (None, 1, Flush),
            (None, 2, Flush),
            (Some(b"n1".to_vec()), 0, Flush)
        ]
    );
    assert_eq!(asm.stats.duplicates, 0);
}

#[test]
fn events_out_of_serial_order() {
    // Auditbeat setuid.log order 531/529/530: no gap remains once all three arrived
    let recs = vec![
        rec("SYSCALL", 531, ""),
        rec("SYSCALL", 529, ""),
        rec("SYSCALL", 530, ""),
    ];
    let (_, flushed, asm) = run(recs, Assembler::default());
    let serials: Vec<u64> = flushed.iter().map(|e| e.serial).collect();
    assert_eq!(serials, [531, 529, 530]);
    assert_eq!(asm.stats.serial_gaps, 0);
}

#[test]
fn duplicate_record_is_counted_not_added() {
    let recs = vec![
        rec("SYSCALL", 3, "syscall=59"),
        rec("SYSCALL", 3, "syscall=59"),
        rec("EOE", 3, ""),
    ];
    let (per_push, flushed, asm) = run(recs, Assembler::default());
    assert_eq!(per_push[2].len(), 1);
    let ev = &per_push[2][0];
    assert_eq!(names(ev), ["SYSCALL", "EOE"]);
    assert_eq!(ev.duplicates, 1);
    assert_eq!(asm.stats.duplicates, 1);
    assert_eq!(asm.stats.records, 3);
    assert!(flushed.is_empty());
}

#[test]
fn duplicates_in_a_large_event_use_the_index() {
    let mut asm = Assembler::default();
    for i in 0..100 {
        assert!(push(&mut asm, rec("PATH", 3, &format!("item={i}"))).is_empty());
    }
    for i in [0, 31, 32, 99, 50, 0] {
        assert!(push(&mut asm, rec("PATH", 3, &format!("item={i}"))).is_empty());
    }
    push(&mut asm, rec("PATH", 3, "item=100"));
    let out = push(&mut asm, rec("EOE", 3, ""));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].records.len(), 102);
    assert_eq!(out[0].duplicates, 6);
    assert_eq!(asm.stats.duplicates, 6);
}

#[test]
fn same_type_different_text_is_not_a_duplicate() {
    let p0 = rec("PATH", 3, "item=0");
    let p1 = rec("PATH", 3, "item=1");
    let want = vec![p0.clone(), p1.clone()];
    let (_, flushed, asm) = run(vec![p0, p1], Assembler::default());
    assert_eq!(flushed.len(), 1);
    assert_eq!(flushed[0].records, want);
    assert_eq!(asm.stats.duplicates, 0);
}

#[test]
fn late_record_after_close_is_its_own_late_event() {
    let late = rec("PATH", 4, "item=0 name=\"/x\"");
    let late_text = late.text.clone();
    let recs = vec![rec("SYSCALL", 4, ""), rec("EOE", 4, ""), late];
    let (per_push, flushed, asm) = run(recs, Assembler::default());
    assert_eq!(shape(&per_push[1]), [sh(4, &["SYSCALL", "EOE"], Eoe)]);
    assert_eq!(shape(&per_push[2]), [sh(4, &["PATH"], Late)]);
    assert_eq!(texts(&per_push[2][0]), [late_text]);
    assert!(flushed.is_empty());
    let s = &asm.stats;
    assert_eq!((s.late, s.events, s.closed_eoe), (1, 2, 1));
}

#[test]
fn error_record_is_an_error_event() {
    // elastic_go-libaudit/auparse/audit-rhel7.log line 31, as the parser makes it
    let bad = Record {
        text: b"type=UNKNOWN[1329] msg=?".to_vec(),
        name: b"UNKNOWN[1329]".to_vec(),
        rtype: 1329,
        error: Some("no audit(SEC.MSEC:SERIAL) stamp in header: 'msg=?'".into()),
        ..Record::default()
    };
    let (per_push, flushed, asm) = run(vec![bad.clone()], Assembler::default());
    assert_eq!(
        shape(&per_push[0]),
        [sh(0, &["UNKNOWN[1329]"], ClosedBy::Error)]
    );
    assert_eq!(per_push[0][0].records, [bad]);
    assert!(flushed.is_empty());
    let s = &asm.stats;
    assert_eq!((s.errors, s.events, s.serial_gaps), (1, 1, 0));
}

// -- serial numbers -----------------------------------------------------------------------------------------

#[test]
fn gap_across_rollover_is_counted() {
    let recs = vec![rec("SYSCALL", 4294967294, ""), rec("SYSCALL", 1, "")];
    let (_, _, asm) = run(recs, Assembler::default());
    assert_eq!(asm.stats.serial_gaps, 2); // 4294967295 and 0
}

#[test]
fn gap_filled_by_out_of_order_event_is_uncounted() {
    let mut asm = Assembler::default();
    push(&mut asm, rec("SYSCALL", 100, ""));
    push(&mut asm, rec("SYSCALL", 103, ""));
    assert_eq!(asm.stats.serial_gaps, 2);
    push(&mut asm, rec("SYSCALL", 102, ""));
    assert_eq!(asm.stats.serial_gaps, 1);
    push(&mut asm, rec("SYSCALL", 101, ""));
    assert_eq!(asm.stats.serial_gaps, 0);
    // a serial below the highest that was never missing (a repeat) changes nothing
    push(&mut asm, rec_at("SYSCALL", 100, "", SEC, 5, None));
    assert_eq!(asm.stats.serial_gaps, 0);
}

#[test]
fn gaps_are_per_node() {
    let recs = vec![
        rec_at("SYSCALL", 1, "", SEC, 0, Some("a")),
        rec_at("SYSCALL", 50, "", SEC, 0, Some("b")),
        rec_at("SYSCALL", 2, "", SEC, 0, Some("a")),
    ];
    let (_, _, asm) = run(recs, Assembler::default());
    assert_eq!(asm.stats.serial_gaps, 0);
}

#[test]
fn large_jump_is_a_jump_not_a_gap() {
    let recs = vec![rec("SYSCALL", 5, ""), rec("SYSCALL", 5 + (1 << 20) + 1, "")];
    let (_, _, asm) = run(recs, Assembler::default());
    assert_eq!((asm.stats.serial_gaps, asm.stats.serial_jumps), (0, 1));
}

#[test]
fn largest_gap_is_counted_in_constant_memory() {
    let recs = vec![rec("SYSCALL", 5, ""), rec("SYSCALL", 5 + (1 << 20), "")];
    let (_, _, asm) = run(recs, Assembler::default());
    assert_eq!(
        (asm.stats.serial_gaps, asm.stats.serial_jumps),
        ((1 << 20) - 1, 0)
    );
}

// -- single-record types ------------------------------------------------------------------------------------

#[test]
fn single_types() {
    let got: Vec<bool> = [1112, 1130, 1201, 1300, 1320, 1400, 1420, 2100, 2999, 3000]
        .iter()
        .map(|&t| is_single(t))
        .collect();
    assert_eq!(
        got,
        [true, true, true, false, false, false, false, true, true, false]
    );
}

#[test]
fn user_login_closes_after_the_single_window() {
    // hillu_linux-audit-parser-rs/line-user-login.txt (USER_LOGIN = 1112)
    let login = rec_at(
        "USER_LOGIN",
        117286,
        "pid=1712 uid=0 auid=1000 ses=764 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" \
         hostname=other-host.invalid addr=10.10.10.10 terminal=ssh res=success'\x1dUID=\"root\" \
         AUID=\"ec2-user\" ID=\"ec2-user\"",
        1725003193,
        327,
        None,
    );
    let mut asm = Assembler::new(512, 3.0, 3);
    assert!(push(&mut asm, login).is_empty());
    assert!(push(&mut asm, rec("SYSCALL", 117287, "")).is_empty());
    assert!(push(&mut asm, rec("SYSCALL", 117288, "")).is_empty());
    let out = push(&mut asm, rec("SYSCALL", 117289, ""));
    assert_eq!(shape(&out), [sh(117286, &["USER_LOGIN"], Single)]);
    assert_eq!(asm.stats.closed_single, 1);
    assert_eq!(
        shape(&flush(&mut asm)),
        [
            sh(117287, &["SYSCALL"], Flush),
            sh(117288, &["SYSCALL"], Flush),
            sh(117289, &["SYSCALL"], Flush),
        ]
    );
}

#[test]
fn single_record_closed_by_flush_says_single() {
    let (_, flushed, asm) = run(vec![rec("USER_LOGIN", 9, "pid=1")], Assembler::default());
    assert_eq!(shape(&flushed), [sh(9, &["USER_LOGIN"], Single)]);
    assert_eq!((asm.stats.closed_single, asm.stats.closed_flush), (1, 0));
}

#[test]
fn late_kernel_record_after_single_window() {
    // once the single window has closed the user message, a record with its serial is late
    let mut asm = Assembler::new(512, 3.0, 1);
    push(&mut asm, rec("SERVICE_START", 20, "pid=1"));
    let out = push(&mut asm, rec("SYSCALL", 21, ""));
    assert_eq!(shape(&out), [sh(20, &["SERVICE_START"], Single)]);
    assert_eq!(
        shape(&push(&mut asm, rec("SYSCALL", 20, ""))),
        [sh(20, &["SYSCALL"], Late)]
    );
}

#[test]
fn duplicate_of_a_single_moves_it_to_pending() {
    // the repeated record is counted; the event now waits for the record window, not the single window
    let mut asm = Assembler::new(4, 3.0, 1);
    push(&mut asm, rec("USER_LOGIN", 9, "pid=1"));
    assert!(push(&mut asm, rec("USER_LOGIN", 9, "pid=1")).is_empty());
    assert!(push(&mut asm, rec("SYSCALL", 10, "")).is_empty());
    assert!(push(&mut asm, rec("SYSCALL", 11, "")).is_empty());
    let out = push(&mut asm, rec("SYSCALL", 12, ""));
    assert_eq!(shape(&out), [sh(9, &["USER_LOGIN"], Window)]);
    assert_eq!(out[0].duplicates, 1);
}

// -- window, flush, tick ------------------------------------------------------------------------------------

#[test]
fn window_closes_old_events() {
    let mut asm = Assembler::new(2, 3.0, 16);
    assert!(push(&mut asm, rec("SYSCALL", 1, "")).is_empty());
    assert!(push(&mut asm, rec("SYSCALL", 2, "")).is_empty());
    assert_eq!(
        shape(&push(&mut asm, rec("SYSCALL", 3, ""))),
        [sh(1, &["SYSCALL"], Window)]
    );
    assert_eq!(
        shape(&push(&mut asm, rec("SYSCALL", 4, ""))),
        [sh(2, &["SYSCALL"], Window)]
    );
    assert_eq!(
        shape(&flush(&mut asm)),
        [sh(3, &["SYSCALL"], Flush), sh(4, &["SYSCALL"], Flush)]
    );
    let s = &asm.stats;
    assert_eq!((s.closed_window, s.closed_flush, s.events), (2, 2, 4));
}

#[test]
fn window_counts_from_the_last_record_of_an_event() {
    // "closed when it has seen no record for `window` records": an event that keeps receiving records stays
    // open
    let mut asm = Assembler::new(2, 3.0, 16);
    push(&mut asm, rec("SYSCALL", 1, ""));
    push(&mut asm, rec("SYSCALL", 2, ""));
    assert!(push(&mut asm, rec("PATH", 1, "item=0")).is_empty());
    assert_eq!(
        shape(&push(&mut asm, rec("SYSCALL", 3, ""))),
        [sh(2, &["SYSCALL"], Window)]
    );
    assert!(push(&mut asm, rec("PATH", 1, "item=1")).is_empty());
    // what is left at the end closes in the order the events began
    assert_eq!(
        shape(&flush(&mut asm)),
        [
            sh(1, &["SYSCALL", "PATH", "PATH"], Flush),
            sh(3, &["SYSCALL"], Flush)
        ]
    );
    assert_eq!(asm.stats.late, 0);
}

#[test]
fn flush_closes_everything_in_arrival_order() {
    let recs = vec![
        rec("SYSCALL", 8, ""),
        rec("USER_LOGIN", 9, "pid=1"),
        rec("SYSCALL", 7, ""),
    ];
    let (_, flushed, mut asm) = run(recs, Assembler::default());
    assert_eq!(
        shape(&flushed),
        [
            sh(9, &["USER_LOGIN"], Single),
            sh(8, &["SYSCALL"], Flush),
            sh(7, &["SYSCALL"], Flush),
        ]
    );
    assert!(flush(&mut asm).is_empty());
    // a record for a flushed event is late
    assert_eq!(
        shape(&push(&mut asm, rec("PATH", 8, "item=0"))),
        [sh(8, &["PATH"], Late)]
    );
}

#[test]
fn closed_keys_are_forgotten_after_8192() {
    let mut asm = Assembler::default();
    for serial in 1..=8193 {
        assert_eq!(push(&mut asm, rec("EOE", serial, "")).len(), 1);
    }
    // serial 1 is forgotten: a new event; serial 2 is remembered: late
    assert!(push(&mut asm, rec("PATH", 1, "")).is_empty());
    assert_eq!(
        shape(&push(&mut asm, rec("PATH", 2, ""))),
        [sh(2, &["PATH"], Late)]
    );
}

#[test]
fn tick_closes_by_wall_clock() {
    // The window counts from when the assembler saw an event's latest record (its last tick), not from the
    // event's own timestamp: replayed or queued records with old timestamps are not cut off mid-event.
    let mut asm = Assembler::new(512, 3.0, 16);
    push(&mut asm, rec_at("SYSCALL", 1, "", 5, 0, None)); // before the first tick: counts from it
    assert!(tick(&mut asm, 1000.0).is_empty());
    assert!(tick(&mut asm, 1002.4).is_empty());
    push(&mut asm, rec_at("SYSCALL", 2, "", 6, 500, None)); // seen at 1002.4
    push(&mut asm, rec_at("USER_LOGIN", 3, "pid=1", 6, 900, None));
    assert!(tick(&mut asm, 1002.5).is_empty());
    push(&mut asm, rec_at("PATH", 2, "item=0", 6, 500, None)); // seen at 1002.5 now
    assert!(tick(&mut asm, 1002.9).is_empty());
    // 1000.0 < 1003.001 - 3
    assert_eq!(
        shape(&tick(&mut asm, 1003.001)),
        [sh(1, &["SYSCALL"], Window)]
    );
    // singles wait min(1 s, window_seconds) from the tick they were seen at: 1002.4 >= 1003.3 - 1
    assert!(tick(&mut asm, 1003.3).is_empty());
    assert_eq!(
        shape(&tick(&mut asm, 1003.5)),
        [sh(3, &["USER_LOGIN"], Single)]
    );
    assert!(tick(&mut asm, 1005.4).is_empty());
    assert_eq!(
        shape(&tick(&mut asm, 1005.6)),
        [sh(2, &["SYSCALL", "PATH"], Window)]
    );
    assert!(flush(&mut asm).is_empty());
    assert_eq!((asm.stats.closed_window, asm.stats.closed_single), (2, 1));
}
