//! Fuzz the whole event path behind the parser: log text through the pipeline (parse, assemble, render,
//! rows, the process tree without /proc), then the same bytes as netlink messages, ticked and finished. No
//! input may panic, and everything written is valid JSON lines.
#![no_main]

use auditsql_core::pipeline::{Batch, Format, Pipeline, Settings};
use libfuzzer_sys::fuzz_target;

fn settings(format: Format) -> Settings {
    Settings {
        format,
        resolve_ids: false,
        window: 4,
        single_window: 2,
        process_tree: true,
        fork_events: true,
        live: false,
        ..Settings::default()
    }
}

fn check(b: &Batch) {
    for line in b.json.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        assert!(serde_json::from_slice::<serde_json::Value>(line).is_ok());
    }
}

fuzz_target!(|data: &[u8]| {
    // log text, in two chunks cut where the first byte says
    let cut = data.first().map_or(0, |&c| usize::from(c) % (data.len() + 1));
    for format in [Format::Auto, Format::Raw, Format::Enriched] {
        let mut p = Pipeline::new(settings(format));
        let mut b = Batch::default();
        p.feed_lines(&data[..cut], &mut b);
        p.feed_lines(&data[cut..], &mut b);
        p.tick(1e12, &mut b);
        p.finish(&mut b);
        check(&b);
    }
    // netlink messages: the data split at newlines, each led by a type from its first two bytes
    let mut p = Pipeline::new(settings(Format::Raw));
    let mut b = Batch::default();
    for part in data.split(|&c| c == b'\n') {
        let (t, payload) = match part {
            [a, c, rest @ ..] => (1100 + u32::from(u16::from_le_bytes([*a, *c])) % 1900, rest),
            _ => (1300, part),
        };
        p.feed_frame(t, payload, 0, &mut b);
    }
    p.finish(&mut b);
    check(&b);
});
