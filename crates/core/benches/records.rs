//! Benchmarks of the record parser (`cargo bench -p auditsql-core --bench records`; harness = false: each case prints its
//! time per item). The input is the record lines of the golden logs (testdata/golden/*.records.jsonl).
use auditsql_core::record::encoding::escape;
use auditsql_core::record::parse::{parse_line, parse_netlink};
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

/// `(type, payload)` of a netlink message.
type Message = (u32, Vec<u8>);

/// The raw text of every golden record, and the netlink message of those that have a normal header (what a
/// netlink socket delivers for them).
fn golden_records() -> (Vec<Vec<u8>>, Vec<Message>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/golden")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".records.jsonl"))
        .collect();
    paths.sort();
    let (mut lines, mut netlink) = (Vec::new(), Vec::new());
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("golden");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("golden JSON");
            let Some(t) = v["text"].as_str() else {
                continue;
            };
            lines.push(t.as_bytes().to_vec());
            if let (Some(i), Some(n)) = (t.find("msg=audit("), v["type"].as_u64()) {
                if v["error"].is_null() && !t.starts_with("node=") {
                    netlink.push((
                        u32::try_from(n).unwrap_or(0),
                        t.as_bytes()[i + 4..].to_vec(),
                    ));
                }
            }
        }
    }
    (lines, netlink)
}

/// Run `pass` (one pass over `items` items of `bytes` bytes in all) for about a second; print the time.
fn bench(name: &str, items: usize, bytes: usize, mut pass: impl FnMut()) {
    pass(); // warm up
    let start = Instant::now();
    let mut passes = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        pass();
        passes += 1;
    }
    let secs = start.elapsed().as_secs_f64() / f64::from(passes);
    println!(
        "{name:<28} {:>8.0} ns/item {:>8.1} MB/s  ({items} items, {passes} passes)",
        secs * 1e9 / items as f64,
        bytes as f64 / secs / 1e6
    );
}

fn main() {
    let (lines, netlink) = golden_records();
    let bytes: usize = lines.iter().map(Vec::len).sum();
    bench("record::parse_line", lines.len(), bytes, || {
        for line in &lines {
            black_box(parse_line(black_box(line), true));
        }
    });
    let bytes: usize = lines.iter().map(Vec::len).sum();
    bench("record::encoding::escape", lines.len(), bytes, || {
        for line in &lines {
            black_box(escape(black_box(line)));
        }
    });
    let bytes: usize = netlink.iter().map(|(_, p)| p.len()).sum();
    bench("record::parse_netlink", netlink.len(), bytes, || {
        for (t, payload) in &netlink {
            black_box(parse_netlink(*t, black_box(payload)));
        }
    });
}
