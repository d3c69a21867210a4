#!/usr/bin/env python3
"""Train the zstd dictionary of the compact store (crates/core/src/store/dict/vN.zdict) and measure it.

Needs the ``zstd`` command-line tool (/usr/bin/zstd, from Debian's ``zstd`` package) and cargo.

Steps, from the repository root:

1. samples: one file per event, the event's records framed exactly as the store compresses them
   (``crates/core/src/store/frame.rs``), written by the Rust test ``store_codec::dump_samples`` from every
   golden log (``crates/core/testdata/golden/MANIFEST.tsv``: the shared corpus, ``../shared/corpus``),
   ``tests/tables/file_socket_kernel.log`` and the first half of ``benchmarks/data/run_mix.log``'s events;
2. one dictionary per ``--sizes`` (``zstd --train --maxdict=SIZE --dictID=VERSION``);
3. each measured by the Rust test ``store_codec::measure`` at each of ``--levels`` on held-out events: the
   second half of run_mix.log's events and a replay log (``python3 benchmarks/replay.py --records 200000
   --vary --build-only``, written to benchmarks/out/, built when missing): bytes per event (whole blob) and
   ns per event to encode and to decode, next to the raw log's bytes per event;
4. with ``--install SIZE``: that dictionary copied to ``crates/core/src/store/dict/v{VERSION}.zdict``.

The numbers are printed as a table (paste it into codec.rs' module comment). The level itself is the
constant ``LEVEL`` in codec.rs.

Usage: python3 tools/train_dict.py [--sizes 16384,32768,65536,112640] [--levels 1,3,6,9]
                                   [--version 1] [--install SIZE] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPLAY = ROOT / "benchmarks/out/replay-200000.log"
DICT_DIR = ROOT / "crates/core/src/store/dict"
ZSTD = shutil.which("zstd") or "/usr/bin/zstd"


def cargo_test(name: str, env: dict[str, str]) -> str:
    """Run one ignored test of crates/core/tests/store_codec.rs in release mode; its stdout."""
    cmd = [
        "cargo",
        "test",
        "--release",
        "-q",
        "-p",
        "auditsql-core",
        "--test",
        "store_codec",
        "--",
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ]
    res = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def measure(dict_path: Path | None, levels: list[int]) -> list[dict]:
    """Rows of the measurement: set, level, bytes/event, encode and decode ns/event, raw bytes/event."""
    env = {"STORE_LEVELS": ",".join(map(str, levels))}
    if dict_path is not None:
        env["STORE_DICT"] = str(dict_path)
    out = cargo_test("measure", env)
    raw: dict[str, float] = {}
    rows = []
    for line in out.splitlines():
        m = re.match(r"set (\S+) events (\d+) raw_per_event ([\d.]+)", line)
        if m:
            raw[m[1]] = float(m[3])
            continue
        m = re.match(
            r"set (\S+) level (-?\d+) bytes_per_event ([\d.]+) encode_ns (\d+) decode_ns (\d+)", line
        )
        if m:
            rows.append(
                {
                    "set": m[1],
                    "level": int(m[2]),
                    "bytes": float(m[3]),
                    "enc": int(m[4]),
                    "dec": int(m[5]),
                    "raw": raw.get(m[1], 0.0),
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="16384,32768,65536,112640", help="dictionary sizes in bytes")
    ap.add_argument("--levels", default="1,3,6,9", help="zstd levels to measure")
    ap.add_argument("--version", type=int, default=1, help="the dictionary's version (and zstd dictID)")
    ap.add_argument(
        "--install", type=int, metavar="SIZE", help="copy the dictionary of this size into the crate"
    )
    ap.add_argument("--work", type=Path, help="keep samples and dictionaries here (default: a temp dir)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [int(s) for s in args.levels.split(",")]
    if not Path(ZSTD).exists():
        sys.exit("zstd not found: apt-get install zstd")
    if not REPLAY.exists():
        subprocess.run(
            [sys.executable, "benchmarks/replay.py", "--records", "200000", "--vary", "--build-only"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    work = args.work or Path(tempfile.mkdtemp(prefix="train_dict."))
    samples = work / "samples"
    shutil.rmtree(samples, ignore_errors=True)
    print(cargo_test("dump_samples", {"STORE_SAMPLES": str(samples)}).strip())

    print(
        f"{'dictionary':>10} {'level':>5} {'set':>8} {'B/event':>8} {'raw B/ev':>8} "
        f"{'enc ns/ev':>9} {'dec ns/ev':>9}"
    )
    for size in sizes:
        out = work / f"dict-{size}.zdict"
        subprocess.run(
            [
                ZSTD,
                "-q",
                "-f",
                "--train",
                "-r",
                str(samples),
                f"--maxdict={size}",
                f"--dictID={args.version}",
                "-o",
                str(out),
            ],
            check=True,
        )
        for r in measure(out, levels):
            print(
                f"{out.stat().st_size:>10} {r['level']:>5} {r['set']:>8} {r['bytes']:>8.1f} "
                f"{r['raw']:>8.1f} {r['enc']:>9} {r['dec']:>9}"
            )
        sys.stdout.flush()
    if args.install:
        src = work / f"dict-{args.install}.zdict"
        dst = DICT_DIR / f"v{args.version}.zdict"
        shutil.copyfile(src, dst)
        print(f"installed {dst.relative_to(ROOT)} ({dst.stat().st_size} bytes)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
