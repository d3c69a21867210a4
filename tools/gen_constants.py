#!/usr/bin/env python3
"""Generate auditsql's constant tables from real sources, never typed by hand.

Two steps:

1. *Collect* (default mode; needs Debian's ``python3-audit``, so run it with ``/usr/bin/python3``): ask
   libaudit (through the ``audit`` module) for every message type, machine, syscall and errno it knows, read
   the ``#define`` lines of the kernel UAPI headers, copy the audit-documentation dictionaries, and write all
   of it as plain TSV/CSV snapshots into ``tools/data/`` (with ``SOURCES.tsv`` saying where each came from).
   Live cross-checks run here too (``ausyscall ARCH --dump`` against libaudit's tables, libaudit's
   machine <-> ELF mapping against the header's ``AUDIT_ARCH_*`` values).
2. *Generate*: read the snapshots only, cross-check them against each other, and write the modules
   ``records/_msgtypes.py``, ``records/_fields.py``, ``events/_syscalls.py``, ``events/_errno.py``,
   ``events/_arches.py`` and ``kernel/_ruleconsts.py`` (audit rule tables) under ``src/auditsql/``, and the
   same tables (but the rule constants) as Rust modules of the native core under ``crates/core/src/``:
   ``record/msgtypes.rs``, ``record/fields.rs``, ``interpret/arches.rs``, ``interpret/syscalls.rs`` and
   ``interpret/errno.rs``. The Rust tables are written from the values of the generated Python modules, so
   both hold the same data.

``--from-snapshots`` skips step 1, so any python3 without the ``audit`` module regenerates the modules byte
for byte from ``tools/data/``. ``--out DIR`` writes the modules under DIR (as ``DIR/records/...``,
``DIR/events/...`` and ``DIR/kernel/...``) instead of ``src/auditsql``; ``--rust-out DIR`` writes the Rust
modules under DIR (as ``DIR/record/...`` and ``DIR/interpret/...``) instead of ``crates/core/src``.

    /usr/bin/python3 tools/gen_constants.py            # refresh snapshots and modules
    python3 tools/gen_constants.py --from-snapshots    # modules from the committed snapshots
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "tools" / "data"
DEFAULT_OUT = ROOT / "src" / "auditsql"
DEFAULT_RUST_OUT = ROOT / "crates" / "core" / "src"
DEFAULT_DOC = ROOT.parent / "shared" / "corpus" / "linux-audit_audit-documentation"
DEFAULT_INCLUDE = Path("/usr/include")

# Ranges scanned through libaudit.  Message types are 16-bit netlink types; errno values stop at the kernel's
# MAX_ERRNO (4095); syscall numbers are scanned far beyond any table (the largest is in the 400s) so an
# offset table (as mips' 4000/5000/6000 would be) would still be found.
MSG_TYPE_RANGE = range(0, 65536)
ERRNO_RANGE = range(1, 4096)
SYSCALL_RANGE = range(0, 65536)
MACHINE_ID_RANGE = range(0, 64)
# Kernel message types: the header's AUDIT_* integer defines in the message-type ranges (1000-2999), less
# the range markers (AUDIT_FIRST_USER_MSG, AUDIT_LAST_USER_MSG2, ...).
KERNEL_MSG_RANGE = range(1000, 3000)
# Machine spellings probed with audit_name_to_machine() to record which names libaudit accepts (informative
# only: the tables themselves are enumerated by machine id).  The header's arch names are probed as well.
UNAME_SPELLINGS = (
    "i486", "i586", "i686", "arm", "arm64", "armv5tejl", "armv5tel", "armv6l", "armv7l", "armv8l",
    "ppc64el", "riscv", "x32", "b32", "b64",
)  # fmt: skip

HEADERS = {
    "linux_audit_h.tsv": "linux/audit.h",
    "linux_elf_em_h.tsv": "linux/elf-em.h",
    "asm_generic_errno_base_h.tsv": "asm-generic/errno-base.h",
    "asm_generic_errno_h.tsv": "asm-generic/errno.h",
    "linux_stat_h.tsv": "linux/stat.h",
    "linux_magic_h.tsv": "linux/magic.h",
    "linux_limits_h.tsv": "linux/limits.h",
}
# glibc headers (package libc6-dev), found by glob under the include directory (multiarch path).
LIBC_HEADERS = {
    "bits_socket_h.tsv": "*/bits/socket.h",
}
# C enums snapshotted as (name, value) rows: snapshot -> (header, enum name).
HEADER_ENUMS = {
    "linux_io_uring_h.tsv": ("linux/io_uring.h", "io_uring_op"),
}
DOC_FILES = {
    "message-dictionary.csv": "specs/messages/message-dictionary.csv",
    "field-dictionary.csv": "specs/fields/field-dictionary.csv",
}

MODULES = {
    "msgtypes": Path("records") / "_msgtypes.py",
    "fields": Path("records") / "_fields.py",
    "syscalls": Path("events") / "_syscalls.py",
    "errno": Path("events") / "_errno.py",
    "arches": Path("events") / "_arches.py",
    "ruleconsts": Path("kernel") / "_ruleconsts.py",
}

RUST_MODULES = {
    "msgtypes": Path("record") / "msgtypes.rs",
    "fields": Path("record") / "fields.rs",
    "syscalls": Path("interpret") / "syscalls.rs",
    "errno": Path("interpret") / "errno.rs",
    "arches": Path("interpret") / "arches.rs",
}


def span(r: range) -> str:
    return f"{r.start}..{r.stop - 1}"


def note(msg: str) -> None:
    print(msg, file=sys.stderr)


# --------------------------------------------------------------------------------------------------------
# TSV snapshots: a header row, then one row per line, fields joined by tabs (no quoting: no field may hold a
# tab or a newline).


def write_tsv(path: Path, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    lines = []
    for row in [list(header), *rows]:
        cells = [str(c) for c in row]
        for c in cells:
            if "\t" in c or "\n" in c or "\r" in c:
                raise ValueError(f"{path.name}: cell {c!r} holds a tab or newline")
        lines.append("\t".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_tsv(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise ValueError(f"{path}:{n}: {len(cells)} cells, expected {len(header)}")
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------------------------
# C headers: object-like #defines, and a small evaluator for their integer expressions.


def parse_defines(text: str) -> list[tuple[str, str]]:
    """``(name, expression)`` of every object-like ``#define`` with a value, comments removed."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = text.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*#\s*define\s+([A-Za-z_]\w*)(\()?(.*)$", line)
        if not m or m.group(2):  # function-like macros are not constants
            continue
        expr = " ".join(m.group(3).split())
        if expr:
            out.append((m.group(1), expr))
    return out


_C_INT = re.compile(r"\b(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)[uUlL]*\b")
_BINOPS: dict[type, Callable[[int, int], int]] = {
    ast.BitOr: lambda a, b: a | b,
    ast.BitAnd: lambda a, b: a & b,
    ast.BitXor: lambda a, b: a ^ b,
    ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b,
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
}


def _c_literal(m: re.Match[str]) -> str:
    lit = m.group(1)
    if lit[:2] in ("0x", "0X"):
        return str(int(lit, 16))
    if len(lit) > 1 and lit.startswith("0"):
        return str(int(lit, 8))
    return lit


class Defines:
    """Integer values of C object-like macros, evaluated on demand (identifiers resolved recursively)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.exprs: dict[str, str] = {}
        for name, expr in pairs:
            self.exprs.setdefault(name, expr)

    def value(self, name: str, _seen: tuple[str, ...] = ()) -> int:
        if name in _seen:
            raise ValueError(f"recursive macro {name}")
        if name not in self.exprs:
            raise KeyError(f"undefined macro {name}")
        tree = ast.parse(_C_INT.sub(_c_literal, self.exprs[name]), mode="eval")
        return self._eval(tree.body, (*_seen, name))

    def _eval(self, node: ast.AST, seen: tuple[str, ...]) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            return self.value(node.id, seen)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](self._eval(node.left, seen), self._eval(node.right, seen))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._eval(node.operand, seen)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            return ~self._eval(node.operand, seen)
        raise ValueError(f"not an integer expression: {ast.dump(node)}")

    def is_literal(self, name: str) -> bool:
        """True if the macro is a plain integer literal (not an alias of another macro)."""
        return bool(re.fullmatch(r"\(?\s*" + _C_INT.pattern + r"\s*\)?", self.exprs[name]))


# --------------------------------------------------------------------------------------------------------
# Step 1: collect snapshots from the live sources.


def dpkg_version(package: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def doc_commit(doc_dir: Path) -> str:
    source_md = doc_dir / "SOURCE.md"
    if source_md.exists():
        m = re.search(r"Commit:\s*`([0-9a-f]{7,40})`", source_md.read_text(encoding="utf-8"))
        if m:
            return m.group(1)
    return "unknown"


def collect(data_dir: Path, include_dir: Path, doc_dir: Path) -> int:
    """Write every snapshot into data_dir; return the number of live cross-check failures."""
    try:
        import audit  # Debian's python3-audit
    except ImportError:
        sys.exit(
            "gen_constants: the 'audit' module (Debian package python3-audit) is missing; run with "
            "/usr/bin/python3, or use --from-snapshots"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    problems = 0
    pyaudit = f"python3-audit {dpkg_version('python3-audit')}, libaudit1 {dpkg_version('libaudit1')}"
    libc_dev = f"linux-libc-dev {dpkg_version('linux-libc-dev')}"
    sources: list[tuple[str, str, str]] = []

    # Kernel headers: every object-like #define, expression as written.
    header_defines: dict[str, list[tuple[str, str]]] = {}
    for snap, rel in HEADERS.items():
        pairs = parse_defines((include_dir / rel).read_text(encoding="utf-8"))
        header_defines[snap] = pairs
        write_tsv(data_dir / snap, ("macro", "expression"), pairs)
        sources.append((snap, f"#define lines of <{rel}> ({include_dir / rel})", libc_dev))
    libc6_dev = f"libc6-dev {dpkg_version('libc6-dev')}"
    for snap, pattern in LIBC_HEADERS.items():
        found = sorted(include_dir.glob(pattern))
        if len(found) != 1:
            sys.exit(f"gen_constants: expected one {include_dir / pattern}, found {found}")
        pairs = parse_defines(found[0].read_text(encoding="utf-8"))
        write_tsv(data_dir / snap, ("macro", "expression"), pairs)
        sources.append(
            (snap, f"#define lines of <{found[0].relative_to(include_dir)}> ({found[0]})", libc6_dev)
        )

    # audit-documentation dictionaries, copied verbatim.
    commit = doc_commit(doc_dir)
    for snap, rel in DOC_FILES.items():
        shutil.copyfile(doc_dir / snap, data_dir / snap)
        sources.append((snap, f"linux-audit/audit-documentation {rel}", f"audit-documentation {commit}"))

    # libaudit: message types.
    msgtypes = [(n, name) for n in MSG_TYPE_RANGE if (name := audit.audit_msg_type_to_name(n))]
    write_tsv(data_dir / "libaudit_msgtypes.tsv", ("number", "name"), msgtypes)
    sources.append(
        (
            "libaudit_msgtypes.tsv",
            f"audit.audit_msg_type_to_name(n), n in {span(MSG_TYPE_RANGE)}",
            pyaudit,
        )
    )

    # libaudit: machines (by id), the names it accepts for them, and their ELF/AUDIT_ARCH value.
    arch_defs = Defines(header_defines["linux_audit_h.tsv"] + header_defines["linux_elf_em_h.tsv"])
    header_arch_names = sorted(
        m.removeprefix("AUDIT_ARCH_").lower() for m in arch_defs.exprs if m.startswith("AUDIT_ARCH_")
    )
    accepted: dict[int, list[str]] = {}
    for probe in sorted({*header_arch_names, *UNAME_SPELLINGS}):
        mid = audit.audit_name_to_machine(probe)
        if mid >= 0:
            accepted.setdefault(mid, []).append(probe)
    machines = []
    for mid in MACHINE_ID_RANGE:
        name = audit.audit_machine_to_name(mid)
        if not name:
            continue
        elf = audit.audit_machine_to_elf(mid) & 0xFFFFFFFF
        machines.append((mid, name, f"0x{elf:08X}", ",".join(sorted(accepted.get(mid, [name])))))
        back = audit.audit_elf_to_machine(elf)
        if back != mid:
            note(f"CHECK FAILED: audit_elf_to_machine(0x{elf:08X}) = {back}, expected machine {mid} ({name})")
            problems += 1
    write_tsv(
        data_dir / "libaudit_machines.tsv", ("machine_id", "machine", "elf", "accepted_names"), machines
    )
    sources.append(
        (
            "libaudit_machines.tsv",
            f"audit.audit_machine_to_name/_to_elf(id), id in {span(MACHINE_ID_RANGE)};"
            " accepted_names: spellings audit_name_to_machine() accepts",
            pyaudit,
        )
    )
    for mid in set(accepted) - {m[0] for m in machines}:
        note(
            f"CHECK FAILED: audit_name_to_machine accepts {accepted[mid]} as machine {mid}, which has no name"
        )
        problems += 1

    # libaudit: syscalls per machine, cross-checked with `ausyscall MACHINE --dump`.
    syscalls = []
    for mid, mname, _elf, _names in machines:
        table = {nr: s for nr in SYSCALL_RANGE if (s := audit.audit_syscall_to_name(nr, mid))}
        syscalls.extend((mname, nr, s) for nr, s in sorted(table.items()))
        problems += check_ausyscall(mname, table)
    write_tsv(data_dir / "libaudit_syscalls.tsv", ("machine", "number", "name"), syscalls)
    sources.append(
        (
            "libaudit_syscalls.tsv",
            f"audit.audit_syscall_to_name(nr, machine), nr in {span(SYSCALL_RANGE)}",
            pyaudit,
        )
    )

    # libaudit: errno names.
    errnos = [(n, name) for n in ERRNO_RANGE if (name := audit.audit_errno_to_name(n))]
    write_tsv(data_dir / "libaudit_errno.tsv", ("number", "name"), errnos)
    sources.append(
        (
            "libaudit_errno.tsv",
            f"audit.audit_errno_to_name(n), n in {span(ERRNO_RANGE)}",
            pyaudit,
        )
    )

    # Kernel enums and libaudit's rule tables (fields, lists, actions, operators, file types, ...).
    for snap, (rel, enum) in HEADER_ENUMS.items():
        write_tsv(data_dir / snap, ("name", "value"), parse_enum((include_dir / rel).read_text(), enum))
        sources.append((snap, f"members of enum {enum} in <{rel}> ({include_dir / rel})", libc_dev))
    problems += collect_rule_tables(audit, data_dir, header_defines, pyaudit, sources)

    write_tsv(data_dir / "SOURCES.tsv", ("snapshot", "source", "version"), sorted(sources))
    return problems


def parse_enum(text: str, enum: str) -> list[tuple[str, int]]:
    """``(member, value)`` of ``enum NAME { ... };`` in a C header (implicit values count up from 0)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    m = re.search(r"\benum\s+" + re.escape(enum) + r"\s*\{(.*?)\}", text, flags=re.S)
    if not m:
        raise ValueError(f"enum {enum} not found")
    members: list[tuple[str, int]] = []
    known: list[tuple[str, str]] = []
    nxt = 0
    for item in m.group(1).split(","):
        item = " ".join(item.split())
        if not item:
            continue
        name, _, expr = (part.strip() for part in item.partition("="))
        if expr:
            nxt = Defines([*known, ("__value__", expr)]).value("__value__")
        members.append((name, nxt))
        known.append((name, str(nxt)))
        nxt += 1
    return members


# Ranges scanned through libaudit for the rule tables.
FIELD_RANGE = range(0, 1024)
FLAG_RANGE = range(0, 256)
ACTION_RANGE = range(0, 256)
ERRMSG_RANGE = range(1, 128)
ERRMSG_MARK = "@OPT@"


def _s32(value: int) -> int:
    """A u32 as the signed C int the SWIG bindings take."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def libaudit_errmsg(audit: object, number: int) -> str:
    """What ``audit_number_to_errmsg(number, MARK)`` writes to stderr (the C library prints, not returns)."""
    import os
    import tempfile

    sys.stderr.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            audit.audit_number_to_errmsg(number, ERRMSG_MARK)  # type: ignore[attr-defined]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8")


def collect_rule_tables(
    audit: object,
    data_dir: Path,
    header_defines: dict[str, list[tuple[str, str]]],
    pyaudit: str,
    sources: list[tuple[str, str, str]],
) -> int:
    """Snapshot libaudit's audit-rule tables (what auditctl accepts and prints); return check failures."""
    a: object = audit
    problems = 0
    audit_h = header_defines["linux_audit_h.tsv"]
    adefs = Defines(audit_h)
    macros = [name for name, _ in audit_h]

    # Fields: number -> name (i2s), and every spelling name_to_field() accepts among the candidates (the
    # i2s names and the header's AUDIT_* names in lower case).
    names = {n: f for n in FIELD_RANGE if (f := a.audit_field_to_name(n))}  # type: ignore[attr-defined]
    candidates = set(names.values()) | {
        m.removeprefix("AUDIT_").lower() for m in macros if m.startswith("AUDIT_")
    }
    accepted: dict[int, list[str]] = {}
    for cand in sorted(candidates):
        n = a.audit_name_to_field(cand)  # type: ignore[attr-defined]
        if n >= 0:
            accepted.setdefault(n, []).append(cand)
    for n in sorted(set(accepted) - set(names)):
        note(f"CHECK FAILED: audit_name_to_field accepts {accepted[n]} as field {n}, which has no name")
        problems += 1
    write_tsv(
        data_dir / "libaudit_fields.tsv",
        ("number", "name", "accepted_names"),
        [(n, f, ",".join(accepted.get(n, [f]))) for n, f in sorted(names.items())],
    )
    sources.append(
        (
            "libaudit_fields.tsv",
            f"audit.audit_field_to_name(n), n in {span(FIELD_RANGE)}; accepted_names: audit_name_to_field() "
            "of those names and of the lower-cased AUDIT_* names of <linux/audit.h>",
            pyaudit,
        )
    )

    # Lists (rule "flags") and actions.
    for snap, func, rng in (
        ("libaudit_flags.tsv", "audit_flag_to_name", FLAG_RANGE),
        ("libaudit_actions.tsv", "audit_action_to_name", ACTION_RANGE),
    ):
        rows = [(n, name) for n in rng if (name := getattr(a, func)(n))]
        write_tsv(data_dir / snap, ("number", "name"), rows)
        sources.append((snap, f"audit.{func}(n), n in {span(rng)}", pyaudit))

    # Operators: the header's operator block (after AUDIT_FILTERKEY, before AUDIT_OPERATORS).
    block = macros[macros.index("AUDIT_FILTERKEY") + 1 : macros.index("AUDIT_OPERATORS")]
    ops = []
    for macro in block:
        value = adefs.value(macro) & 0xFFFFFFFF
        symbol = a.audit_operator_to_symbol(_s32(value))  # type: ignore[attr-defined]
        if symbol:
            ops.append((macro, f"0x{value:08X}", symbol))
    write_tsv(data_dir / "libaudit_operators.tsv", ("macro", "value", "symbol"), ops)
    sources.append(
        (
            "libaudit_operators.tsv",
            "audit.audit_operator_to_symbol(v) for the operator #defines of <linux/audit.h> "
            "(AUDIT_NEGATE .. AUDIT_GREATER_THAN_OR_EQUAL)",
            pyaudit,
        )
    )

    # File types (-F filetype=) by the S_IF* values of <linux/stat.h>.
    sdefs = Defines(header_defines["linux_stat_h.tsv"])
    ftypes = []
    for macro in sdefs.exprs:
        if macro.startswith("S_IF") and (name := a.audit_ftype_to_name(sdefs.value(macro))):  # type: ignore[attr-defined]
            ftypes.append((macro, f"0o{sdefs.value(macro):o}", name))
            if a.audit_name_to_ftype(name) != sdefs.value(macro):  # type: ignore[attr-defined]
                note(f"CHECK FAILED: audit_name_to_ftype({name!r}) != {macro}")
                problems += 1
    write_tsv(data_dir / "libaudit_ftypes.tsv", ("macro", "value", "name"), ftypes)
    sources.append(
        (
            "libaudit_ftypes.tsv",
            "audit.audit_ftype_to_name(v) for the S_IF* #defines of <linux/stat.h>",
            pyaudit,
        )
    )

    # File system types (-F fstype=) by the *_MAGIC values of <linux/magic.h>.
    mdefs = Defines(header_defines["linux_magic_h.tsv"])
    fstypes = []
    for macro in mdefs.exprs:
        try:
            value = mdefs.value(macro) & 0xFFFFFFFF
        except (KeyError, ValueError):
            continue
        name = a.audit_fstype_to_name(_s32(value))  # type: ignore[attr-defined]
        if name:
            fstypes.append((macro, f"0x{value:08X}", name))
    write_tsv(data_dir / "libaudit_fstypes.tsv", ("macro", "value", "name"), fstypes)
    sources.append(
        ("libaudit_fstypes.tsv", "audit.audit_fstype_to_name(v) for the #defines of <linux/magic.h>", pyaudit)
    )

    # errno names audit_name_to_errno() accepts (its table has aliases its i2s direction never returns).
    edefs = header_defines["asm_generic_errno_base_h.tsv"] + header_defines["asm_generic_errno_h.tsv"]
    lib_i2s = {name for n in ERRNO_RANGE if (name := a.audit_errno_to_name(n))}  # type: ignore[attr-defined]
    errnames = sorted(lib_i2s | {m for m, _ in edefs if re.fullmatch(r"E[A-Z0-9]+", m)})
    erows = [(name, n) for name in errnames if (n := a.audit_name_to_errno(name))]  # type: ignore[attr-defined]
    write_tsv(data_dir / "libaudit_errno_names.tsv", ("name", "number"), erows)
    sources.append(
        (
            "libaudit_errno_names.tsv",
            "audit.audit_name_to_errno(name) for libaudit's own names and the E* #defines of <asm-generic/errno*.h>",
            pyaudit,
        )
    )

    # auditctl's rule error messages (audit_number_to_errmsg prints "<opt> <text>", "<text> <opt>" or "<text>").
    msgs = []
    for n in ERRMSG_RANGE:
        out = libaudit_errmsg(a, -n)
        if not out:
            continue
        line = out.rstrip("\n")
        if "\n" in line or "\t" in line:
            raise ValueError(f"audit_number_to_errmsg({-n}) printed {out!r}")
        if line.startswith(ERRMSG_MARK + " "):
            msgs.append((-n, 1, line[len(ERRMSG_MARK) + 1 :]))
        elif line.endswith(" " + ERRMSG_MARK):
            msgs.append((-n, 2, line[: -len(ERRMSG_MARK) - 1]))
        else:
            msgs.append((-n, 0, line))
    write_tsv(data_dir / "libaudit_errmsgs.tsv", ("number", "position", "text"), msgs)
    sources.append(
        (
            "libaudit_errmsgs.tsv",
            f"stderr of audit.audit_number_to_errmsg(-n, opt), n in {span(ERRMSG_RANGE)}; position 1: "
            "'<opt> <text>', 2: '<text> <opt>', 0: '<text>'",
            pyaudit,
        )
    )
    return problems


def check_ausyscall(machine: str, table: dict[int, str]) -> int:
    exe = shutil.which("ausyscall")
    if exe is None:
        note(f"note: ausyscall not found; {machine} syscall table not cross-checked")
        return 0
    out = subprocess.run([exe, machine, "--dump"], capture_output=True, text=True, check=False)
    lines = out.stdout.splitlines()
    if out.returncode != 0 or not lines or f"Using {machine} syscall table" not in lines[0]:
        note(f"CHECK FAILED: `ausyscall {machine} --dump` did not dump the {machine} table: {lines[:1]}")
        return 1
    dumped = {int(nr): name for nr, name in (line.split("\t") for line in lines[1:])}
    if dumped != table:
        diff = sorted(set(dumped.items()) ^ set(table.items()))
        note(f"CHECK FAILED: ausyscall {machine} --dump differs from audit_syscall_to_name: {diff[:10]}")
        return 1
    return 0


# --------------------------------------------------------------------------------------------------------
# Step 2: generate the modules from the snapshots.


def lit(value: object) -> str:
    """A Python literal for an int, str, bool, or tuple of those (strings double-quoted)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # ASCII, double quotes; its escapes are valid Python escapes
    if isinstance(value, tuple):
        return "(" + ", ".join(lit(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    raise TypeError(type(value))


def dict_lines(
    name: str,
    annotation: str,
    items: Iterable[tuple[object, object]],
    key_fmt: Callable[[object], str] = lit,
    comments: dict[object, str] | None = None,
    val_fmt: Callable[[object], str] = lit,
) -> list[str]:
    lines = [f"{name}: {annotation} = {{"]
    for k, v in items:
        line = f"    {key_fmt(k)}: {val_fmt(v)},"
        if comments and k in comments:
            line += f"  # {comments[k]}"
        lines.append(line)
    lines.append("}")
    return lines


def header_line(sources: str) -> str:
    return f"# Generated by tools/gen_constants.py from {sources}; do not edit."


# Docstrings of the generated modules.
DOC_MSGTYPES = """Audit message (record) types: number <-> name, names without the ``AUDIT_`` prefix.

Every number known to any of three sources is listed; the comment after each entry says which know it:
``libaudit`` (``audit_msg_type_to_name``, i.e. what auditd and ausearch print), ``kernel`` (the
``AUDIT_*`` defines of the kernel UAPI header in 1000-2999) and ``doc`` (message-dictionary.csv of
linux-audit/audit-documentation). On a name conflict libaudit wins, then the kernel header; the losing
name is kept in MSG_NUMBERS as an alias, so MSG_NUMBERS is the inverse of MSG_TYPES plus those aliases.
LIBAUDIT_TYPES: the numbers libaudit names, the ones the rule compiler (``-F msgtype=``) accepts and lists by
name.
1000-1099 are mostly netlink commands (GET, SET, ADD_RULE, ...), not log records; LOGIN (1006) and
USER (1005, deprecated) are records.
"""

DOC_FIELDS = """Audit field formats, from linux-audit/audit-documentation specs/fields/field-dictionary.csv.

FIELD_FORMATS: plain field name -> FORMAT exactly as in the CSV. When the CSV has several rows for
a name ({duplicates}), the first row's format is kept; FIELD_ROWS keeps every row.
FIELD_PATTERNS: rows whose NAME is a regular expression (``a[0-3]``, the EXECVE ``a[N][M]`` pieces),
as ``(pattern as written, format, exception record type)``; these are not in FIELD_FORMATS.
FIELD_EXCEPTIONS: plain name -> EXCEPTION for the first row of that name where it is non-empty (it
names the record type(s) where the row applies; a few upstream rows hold other text there).
FIELD_ROWS: every row ``(NAME, FORMAT, MEANING, EXCEPTION)`` in CSV order.
"""

DOC_ARCHES = """Audit arch numbers (``arch=`` of SYSCALL records): the kernel's AUDIT_ARCH_* values.

AUDIT_ARCHES: value -> name, the macro name after ``AUDIT_ARCH_`` in lower case (AUDIT_ARCH_X86_64
-> "x86_64"); the arches libaudit has syscall tables for are keys of ``_syscalls.SYSCALLS`` under the
same name. ARCH_NUMBERS is its inverse. ARCH_BITS is 64 where __AUDIT_ARCH_64BIT is set, else 32
(mips64n32 and mipsel64n32 carry the 64-bit flag but use 32-bit pointers); ARCH_BIG_ENDIAN is True
where __AUDIT_ARCH_LE is clear.

libaudit's machines and their AUDIT_ARCH value:
"""

DOC_SYSCALLS = """Syscall number <-> name per audit arch, as libaudit has them (``audit_syscall_to_name``).

Keys are the arch names of ``_arches.AUDIT_ARCHES``; arches whose tables are identical share one
dict object. Where libaudit's machine name differs from the AUDIT_ARCH_* name, the latter is used:
{renamed}.
x86_64 has no x32 entries (numbers with the 0x40000000 bit).
"""

DOC_ERRNO = """errno number <-> name (what ``exit=-N`` of a SYSCALL record means), from libaudit's
table (``audit_errno_to_name``), cross-checked with the kernel's asm-generic headers.

This is the generic (asm-generic) table, used by x86, arm, arm64, s390, riscv and most other
arches; alpha, mips, sparc and parisc number many errnos differently and are not covered (nor is
powerpc's EDEADLOCK = 58). ERRNO_NUMBERS is the inverse of ERRNO_NAMES plus the headers' alias
names (EWOULDBLOCK, EDEADLOCK).
"""


def docstring(text: str, extra: Iterable[str] = ()) -> list[str]:
    """The lines of a module docstring: text, then extra lines, then the closing quotes."""
    if '"""' in text or any('"""' in line for line in extra):
        raise ValueError("docstring text holds triple quotes")
    return ['"""' + text.rstrip("\n"), *extra, '"""', ""]


class Snapshots:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir
        self.sources = {r["snapshot"]: r for r in read_tsv(data_dir / "SOURCES.tsv")}

    def version(self, snap: str) -> str:
        return self.sources[snap]["version"]

    def tsv(self, snap: str) -> list[dict[str, str]]:
        return read_tsv(self.dir / snap)

    def csv(self, snap: str) -> list[dict[str, str]]:
        return read_csv(self.dir / snap)

    def defines(self, *snaps: str) -> Defines:
        return Defines((r["macro"], r["expression"]) for s in snaps for r in self.tsv(s))

    def snapshot_line(self, *snaps: str) -> str:
        return "# Snapshots: " + ", ".join(f"tools/data/{s}" for s in snaps) + "."


def doc_short(version: str) -> str:
    return re.sub(r"\b([0-9a-f]{12})[0-9a-f]{28}\b", r"\1", version)


def gen_msgtypes(snaps: Snapshots, report: list[str]) -> str:
    lib = {int(r["number"]): r["name"] for r in snaps.tsv("libaudit_msgtypes.tsv")}
    hdefs = snaps.defines("linux_audit_h.tsv")
    kern: dict[int, str] = {}
    for macro in hdefs.exprs:
        if not macro.startswith("AUDIT_") or re.search(r"(?:^|_)(?:FIRST|LAST)_", macro):
            continue
        if not hdefs.is_literal(macro):
            continue
        v = hdefs.value(macro)
        if v in KERNEL_MSG_RANGE:
            if v in kern:
                raise ValueError(f"linux/audit.h: {v} is both AUDIT_{kern[v]} and {macro}")
            kern[v] = macro.removeprefix("AUDIT_")
    doc: dict[int, str] = {}
    for r in snaps.csv("message-dictionary.csv"):
        doc[int(r["VALUE"])] = r["MACRO NAME"].strip().removeprefix("AUDIT_")

    srcs = (("libaudit", lib), ("kernel", kern), ("doc", doc))
    types: dict[int, str] = {}
    comments: dict[object, str] = {}
    aliases: dict[str, int] = {}
    for n in sorted(set(lib) | set(kern) | set(doc)):
        names = [(tag, table[n]) for tag, table in srcs if n in table]
        winner = names[0][1]  # libaudit, then the kernel header, then the documentation
        types[n] = winner
        comment = " ".join(tag for tag, _ in names)
        losers = [(tag, name) for tag, name in names if name != winner]
        for tag, name in losers:
            comment += f'; {tag} calls it "{name}"'
            aliases.setdefault(name, n)
            report.append(
                f"msgtypes: {n}: {names[0][0]} says {winner!r}, {tag} says {name!r} ({winner!r} kept)"
            )
        comments[n] = comment
    numbers: dict[str, int] = {}
    for n, name in types.items():
        if name in numbers:
            raise ValueError(f"message type name {name} is both {numbers[name]} and {n}")
        numbers[name] = n
    alias_comments: dict[object, str] = {}
    for name, n in aliases.items():
        if name not in numbers:
            numbers[name] = n
            alias_comments[name] = f"alias of {types[n]}"
    for tag, table in srcs:
        only = sorted(n for n in table if all(n not in t for g, t in srcs if g != tag))
        if only:
            report.append(f"msgtypes: only {tag} knows {', '.join(f'{n} {table[n]}' for n in only)}")
    lib_missing = sorted(n for n in types if n not in lib)
    if lib_missing:
        report.append(
            "msgtypes: libaudit does not know "
            + ", ".join(f"{n} {types[n]} ({'/'.join(t for t, tb in srcs if n in tb)})" for n in lib_missing)
        )

    snap_list = ("libaudit_msgtypes.tsv", "linux_audit_h.tsv", "message-dictionary.csv")
    lines = [
        header_line(
            f"libaudit ({snaps.version('libaudit_msgtypes.tsv')}), <linux/audit.h> "
            f"({snaps.version('linux_audit_h.tsv')}) and message-dictionary.csv "
            f"({doc_short(snaps.version('message-dictionary.csv'))})"
        ),
        snaps.snapshot_line(*snap_list),
        *docstring(DOC_MSGTYPES),
        *dict_lines("MSG_TYPES", "dict[int, str]", sorted(types.items()), comments=comments),
        "",
        *dict_lines("MSG_NUMBERS", "dict[str, int]", sorted(numbers.items()), comments=alias_comments),
        "",
        "#: the numbers libaudit names (audit_msg_type_to_name): what auditctl's ``-F msgtype=`` accepts by name",
        "#: and ``-l`` prints by name; for these MSG_TYPES holds libaudit's name",
        "LIBAUDIT_TYPES: frozenset[int] = frozenset(",
        "    (",
        *(f"        {n}," for n in sorted(lib)),
        "    )",
        ")",
    ]
    report.append(
        f"msgtypes: {len(types)} types ({len(lib)} libaudit, {len(kern)} kernel, {len(doc)} doc), "
        f"{len(numbers) - len(types)} alias name(s)"
    )
    return "\n".join(lines) + "\n"


PLAIN_FIELD = re.compile(r"[A-Za-z0-9_-]+")


def gen_fields(snaps: Snapshots, report: list[str]) -> str:
    rows = snaps.csv("field-dictionary.csv")
    formats: dict[str, str] = {}
    exceptions: dict[str, str] = {}
    patterns: list[tuple[str, str, str]] = []
    all_rows: list[tuple[str, str, str, str]] = []
    seen: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        name, fmt, meaning, exc = r["NAME"], r["FORMAT"], r["MEANING"], r["EXCEPTION"] or ""
        all_rows.append((name, fmt, meaning, exc))
        if not PLAIN_FIELD.fullmatch(name):
            patterns.append((name, fmt, exc))
            continue
        seen.setdefault(name, []).append(r)
        formats.setdefault(name, fmt)  # first row wins
        if exc:
            exceptions.setdefault(name, exc)
    for name, rs in seen.items():
        if len(rs) > 1:
            desc = "; ".join(f"{r['FORMAT']!r} exception={r['EXCEPTION']!r}" for r in rs)
            report.append(f"fields: {name!r} has {len(rs)} rows: {desc} (first row's format kept)")
    fmts = sorted({f for _, f, _, _ in all_rows})
    report.append(
        f"fields: {len(formats)} plain names, {len(patterns)} patterns, {len(exceptions)} exceptions, "
        f"{len(all_rows)} rows; formats: {', '.join(fmts)}"
    )

    lines = [
        header_line(f"field-dictionary.csv ({doc_short(snaps.version('field-dictionary.csv'))})"),
        snaps.snapshot_line("field-dictionary.csv"),
        *docstring(DOC_FIELDS.format(duplicates=", ".join(n for n, rs in seen.items() if len(rs) > 1))),
        *dict_lines("FIELD_FORMATS", "dict[str, str]", sorted(formats.items())),
        "",
        "FIELD_PATTERNS: list[tuple[str, str, str]] = [",
        *(f"    {lit(p)}," for p in patterns),
        "]",
        "",
        *dict_lines("FIELD_EXCEPTIONS", "dict[str, str]", sorted(exceptions.items())),
        "",
        "FIELD_ROWS: list[tuple[str, str, str, str]] = [",
        *(f"    {lit(r)}," for r in all_rows),
        "]",
    ]
    return "\n".join(lines) + "\n"


def load_arches(snaps: Snapshots) -> tuple[Defines, dict[int, str]]:
    defs = snaps.defines("linux_audit_h.tsv", "linux_elf_em_h.tsv")
    arches: dict[int, str] = {}
    for macro in defs.exprs:
        if macro.startswith("AUDIT_ARCH_"):
            v = defs.value(macro) & 0xFFFFFFFF
            name = macro.removeprefix("AUDIT_ARCH_").lower()
            if v in arches:
                raise ValueError(f"AUDIT_ARCH value 0x{v:08X} is both {arches[v]} and {name}")
            arches[v] = name
    return defs, arches


def load_machines(snaps: Snapshots, arches: dict[int, str]) -> list[tuple[str, str, int, str]]:
    """``(libaudit machine name, canonical arch name, elf, accepted names)`` per libaudit machine."""
    out = []
    for r in snaps.tsv("libaudit_machines.tsv"):
        elf = int(r["elf"], 16)
        if elf not in arches:
            raise ValueError(f"libaudit machine {r['machine']} has ELF 0x{elf:08X}, no AUDIT_ARCH_* has it")
        out.append((r["machine"], arches[elf], elf, r["accepted_names"]))
    return out


def hexkey(value: object) -> str:
    assert isinstance(value, int)
    return f"0x{value:08X}"


def gen_arches(snaps: Snapshots, report: list[str]) -> str:
    defs, arches = load_arches(snaps)
    bit64 = defs.value("__AUDIT_ARCH_64BIT")
    le = defs.value("__AUDIT_ARCH_LE")
    machines = load_machines(snaps, arches)
    for mname, canon, elf, _ in machines:
        if mname != canon:
            report.append(f"arches: libaudit machine {mname!r} is 0x{elf:08X} = AUDIT_ARCH_{canon.upper()}")
    report.append(f"arches: {len(arches)} AUDIT_ARCH_* values, {len(machines)} known to libaudit")
    numbers = {name: v for v, name in arches.items()}

    lines = [
        header_line(
            f"<linux/audit.h> and <linux/elf-em.h> ({snaps.version('linux_audit_h.tsv')}) and libaudit "
            f"({snaps.version('libaudit_machines.tsv')})"
        ),
        snaps.snapshot_line("linux_audit_h.tsv", "linux_elf_em_h.tsv", "libaudit_machines.tsv"),
        *docstring(
            DOC_ARCHES,
            [
                f"    {m} = 0x{e:08X} = {c!r} (libaudit accepts {a})"
                for m, c, e, a in sorted(machines, key=lambda x: x[1])
            ],
        ),
        *dict_lines("AUDIT_ARCHES", "dict[int, str]", sorted(arches.items()), key_fmt=hexkey),
        "",
        *dict_lines("ARCH_NUMBERS", "dict[str, int]", sorted(numbers.items()), val_fmt=hexkey),
        "",
        *dict_lines(
            "ARCH_BITS",
            "dict[int, int]",
            ((v, 64 if v & bit64 else 32) for v in sorted(arches)),
            key_fmt=hexkey,
        ),
        "",
        *dict_lines(
            "ARCH_BIG_ENDIAN", "dict[int, bool]", ((v, not v & le) for v in sorted(arches)), key_fmt=hexkey
        ),
    ]
    return "\n".join(lines) + "\n"


def gen_syscalls(snaps: Snapshots, report: list[str]) -> str:
    _, arches = load_arches(snaps)
    canon = {m: c for m, c, _, _ in load_machines(snaps, arches)}
    tables: dict[str, dict[int, str]] = {}
    for r in snaps.tsv("libaudit_syscalls.tsv"):
        tables.setdefault(canon[r["machine"]], {})[int(r["number"])] = r["name"]
    # Arches with identical tables share one dict object.
    groups: list[tuple[list[str], dict[int, str]]] = []
    for arch in sorted(tables):
        for names, table in groups:
            if table == tables[arch]:
                names.append(arch)
                break
        else:
            groups.append(([arch], tables[arch]))
    var = {arch: "_" + "_".join(names).upper() for names, _ in groups for arch in names}
    renamed = (
        "; ".join(
            f'libaudit\'s "{m}" is 0x{e:08X}, AUDIT_ARCH_{c.upper()}, here "{c}"'
            for m, c, e, _ in load_machines(snaps, arches)
            if m != c
        )
        or "none"
    )

    lines = [
        header_line(
            f"libaudit ({snaps.version('libaudit_syscalls.tsv')}), arch names from <linux/audit.h> and "
            f"<linux/elf-em.h> ({snaps.version('linux_audit_h.tsv')})"
        ),
        snaps.snapshot_line(
            "libaudit_syscalls.tsv", "libaudit_machines.tsv", "linux_audit_h.tsv", "linux_elf_em_h.tsv"
        ),
        *docstring(DOC_SYSCALLS.format(renamed=renamed)),
    ]
    for names, table in groups:
        report.append(f"syscalls: {'/'.join(names)}: {len(table)} syscalls, max {max(table)}")
        lines += [*dict_lines(var[names[0]], "dict[int, str]", sorted(table.items())), ""]
        inverse: dict[str, int] = {}
        for nr, name in sorted(table.items()):
            if name in inverse:
                raise ValueError(f"{names}: syscall {name} is both {inverse[name]} and {nr}")
            inverse[name] = nr
        lines += [*dict_lines(var[names[0]] + "_NUMBERS", "dict[str, int]", sorted(inverse.items())), ""]
    lines.append("SYSCALLS: dict[str, dict[int, str]] = {")
    lines += [f"    {lit(a)}: {var[a]}," for a in sorted(tables)]
    lines += ["}", "", "SYSCALL_NUMBERS: dict[str, dict[str, int]] = {"]
    lines += [f"    {lit(a)}: {var[a]}_NUMBERS," for a in sorted(tables)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def gen_errno(snaps: Snapshots, report: list[str]) -> str:
    lib = {int(r["number"]): r["name"] for r in snaps.tsv("libaudit_errno.tsv")}
    defs = snaps.defines("asm_generic_errno_base_h.tsv", "asm_generic_errno_h.tsv")
    hdr: dict[int, str] = {}
    hdr_aliases: dict[str, int] = {}
    for macro in defs.exprs:
        if not re.fullmatch(r"E[A-Z0-9]+", macro):
            continue
        v = defs.value(macro)
        if defs.is_literal(macro):
            if v in hdr:
                raise ValueError(f"errno {v} is both {hdr[v]} and {macro} in the headers")
            hdr[v] = macro
        else:
            hdr_aliases[macro] = v
    names = dict(lib)
    for n in sorted(set(lib) | set(hdr)):
        if lib.get(n) != hdr.get(n):
            report.append(f"errno: {n}: libaudit {lib.get(n)!r}, headers {hdr.get(n)!r}")
        if n not in lib:
            names[n] = hdr[n]
    numbers = {name: n for n, name in names.items()}
    alias_comments: dict[object, str] = {}
    for n, name in hdr.items():
        if name not in numbers:
            numbers[name] = n
            alias_comments[name] = f"header name of {names[n]}"
    for alias, n in hdr_aliases.items():
        if alias not in numbers:
            numbers[alias] = n
            alias_comments[alias] = f"alias of {names[n]}"
    report.append(
        f"errno: {len(names)} numbers (libaudit {len(lib)}, headers {len(hdr)}), "
        f"{len(numbers) - len(names)} alias name(s): {', '.join(sorted(alias_comments))}"
    )
    lines = [
        header_line(
            f"libaudit ({snaps.version('libaudit_errno.tsv')}) and <asm-generic/errno-base.h>, "
            f"<asm-generic/errno.h> ({snaps.version('asm_generic_errno_h.tsv')})"
        ),
        snaps.snapshot_line("libaudit_errno.tsv", "asm_generic_errno_base_h.tsv", "asm_generic_errno_h.tsv"),
        *docstring(DOC_ERRNO),
        *dict_lines("ERRNO_NAMES", "dict[int, str]", sorted(names.items())),
        "",
        *dict_lines("ERRNO_NUMBERS", "dict[str, int]", sorted(numbers.items()), comments=alias_comments),
    ]
    return "\n".join(lines) + "\n"


DOC_RULECONSTS = """Audit rule constants: what auditctl accepts and prints, and the kernel's rule ABI numbers.

The module-level ``AUDIT_*`` names are every integer ``#define`` of <linux/audit.h> (lists
AUDIT_FILTER_*, actions, fields, operators, AUDIT_COMPARE_*, AUDIT_PERM_*, sizes); PATH_MAX and
NAME_MAX come from <linux/limits.h>, AF_MAX from glibc's <bits/socket.h>.
Tables from libaudit (auditctl's lookups; all of them are case-insensitive there except the list and
action names):
FIELD_NAMES number -> name (``-l`` prints it), FIELD_NUMBERS every accepted name -> number;
KERNEL_ONLY_FIELDS: fields of the header's field block that libaudit does not know (name in lower
case); LIST_NAMES / ACTION_NAMES (``-a list,action``); OPERATOR_SYMBOLS value -> symbol; FILE_TYPES
(``filetype=``, S_IF* values); FS_TYPES (``fstype=``, magic numbers); MACHINES machine -> AUDIT_ARCH value, MACHINE_SPELLINGS accepted spelling -> machine,
MACHINE_ARCH machine -> the arch name keying ``events._syscalls.SYSCALLS``; ERROR_MESSAGES
libaudit's rule error number -> (position of the option text: 0 none, 1 before, 2 after; message).
From the kernel headers: FIELD_COMPARISONS AUDIT_COMPARE_* value -> (left field, right field) as
the macro names them; IO_URING_OPS the members of enum io_uring_op (IORING_OP_ and the _LAST
marker removed, lower case).
"""


def gen_ruleconsts(snaps: Snapshots, report: list[str]) -> str:
    audit_h = [(r["macro"], r["expression"]) for r in snaps.tsv("linux_audit_h.tsv")]
    adefs = snaps.defines("linux_audit_h.tsv", "linux_elf_em_h.tsv")
    macros = [m for m, _ in audit_h]
    consts: list[str] = []
    for macro, expr in audit_h:
        if not macro.startswith("AUDIT_"):
            continue
        try:
            value = adefs.value(macro)
        except (KeyError, ValueError, SyntaxError):
            continue  # not an integer expression (e.g. a cast)
        line = f"{macro} = {value if value < 4096 else f'0x{value:X}'}"
        if not adefs.is_literal(macro):
            if len(line) + len(expr) + 4 <= 110:
                line += f"  # {expr}"
            else:
                consts.append(f"# {expr}")
        consts.append(line)
    ldefs = snaps.defines("linux_limits_h.tsv")
    bdefs = snaps.defines("bits_socket_h.tsv")
    consts += [
        f"PATH_MAX = {ldefs.value('PATH_MAX')}",
        f"NAME_MAX = {ldefs.value('NAME_MAX')}",
        f"AF_MAX = {bdefs.value('AF_MAX')}",
    ]

    frows = snaps.tsv("libaudit_fields.tsv")
    field_names = {int(r["number"]): r["name"] for r in frows}
    field_numbers = {name: int(r["number"]) for r in frows for name in r["accepted_names"].split(",")}
    block = macros[macros.index("AUDIT_PID") : macros.index("AUDIT_FILTERKEY") + 1]
    kernel_only = {
        m.removeprefix("AUDIT_").lower(): adefs.value(m) for m in block if adefs.value(m) not in field_names
    }
    report.append(
        f"ruleconsts: {len(field_names)} libaudit fields ({len(field_numbers)} names), kernel-only: "
        + ", ".join(f"{k}={v}" for k, v in kernel_only.items())
    )
    ops = {int(r["value"], 16): r["symbol"] for r in snaps.tsv("libaudit_operators.tsv")}
    lists = {int(r["number"]): r["name"] for r in snaps.tsv("libaudit_flags.tsv")}
    actions = {int(r["number"]): r["name"] for r in snaps.tsv("libaudit_actions.tsv")}
    ftypes = {int(r["value"], 8): r["name"] for r in snaps.tsv("libaudit_ftypes.tsv")}
    fstypes = {int(r["value"], 16): r["name"] for r in snaps.tsv("libaudit_fstypes.tsv")}
    _, arches = load_arches(snaps)
    machine_rows = snaps.tsv("libaudit_machines.tsv")
    machines = {r["machine"]: int(r["elf"], 16) for r in machine_rows}
    spellings = {sp: r["machine"] for r in machine_rows for sp in r["accepted_names"].split(",")}
    machine_arch = {r["machine"]: arches[int(r["elf"], 16)] for r in machine_rows}
    compares: dict[int, tuple[str, str]] = {}
    for m in macros:
        if m.startswith("AUDIT_COMPARE_"):
            left, _, right = m.removeprefix("AUDIT_COMPARE_").lower().partition("_to_")
            compares[adefs.value(m)] = (left, right)
    uring = {
        int(r["value"]): r["name"].removeprefix("IORING_OP_").lower()
        for r in snaps.tsv("linux_io_uring_h.tsv")
        if r["name"] != "IORING_OP_LAST"
    }
    errmsgs = {int(r["number"]): (int(r["position"]), r["text"]) for r in snaps.tsv("libaudit_errmsgs.tsv")}
    report.append(
        f"ruleconsts: {len(consts)} constants, {len(ops)} operators, {len(lists)} lists, {len(ftypes)} file "
        f"types, {len(fstypes)} fs types, {len(compares)} comparisons, {len(uring)} io_uring ops, "
        f"{len(errmsgs)} error messages"
    )

    snap_list = (
        "linux_audit_h.tsv", "linux_elf_em_h.tsv", "linux_limits_h.tsv", "bits_socket_h.tsv",
        "linux_io_uring_h.tsv", "libaudit_fields.tsv", "libaudit_flags.tsv", "libaudit_actions.tsv",
        "libaudit_operators.tsv", "libaudit_ftypes.tsv", "libaudit_fstypes.tsv",
        "libaudit_machines.tsv", "libaudit_errmsgs.tsv",
    )  # fmt: skip
    lines = [
        header_line(
            f"<linux/audit.h> and friends ({snaps.version('linux_audit_h.tsv')}) and libaudit "
            f"({snaps.version('libaudit_fields.tsv')})"
        ),
        snaps.snapshot_line(*snap_list),
        *docstring(DOC_RULECONSTS),
        *consts,
        "",
        *dict_lines("FIELD_NAMES", "dict[int, str]", sorted(field_names.items())),
        "",
        *dict_lines("FIELD_NUMBERS", "dict[str, int]", sorted(field_numbers.items())),
        "",
        *dict_lines("KERNEL_ONLY_FIELDS", "dict[str, int]", sorted(kernel_only.items())),
        "",
        *dict_lines("OPERATOR_SYMBOLS", "dict[int, str]", sorted(ops.items()), key_fmt=hexkey),
        "",
        *dict_lines("LIST_NAMES", "dict[int, str]", sorted(lists.items())),
        "",
        *dict_lines("ACTION_NAMES", "dict[int, str]", sorted(actions.items())),
        "",
        *dict_lines("FILE_TYPES", "dict[int, str]", sorted(ftypes.items()), key_fmt=lambda v: f"0o{v:o}"),
        "",
        *dict_lines("FS_TYPES", "dict[int, str]", sorted(fstypes.items()), key_fmt=hexkey),
        "",
        *dict_lines("MACHINES", "dict[str, int]", sorted(machines.items()), val_fmt=hexkey),
        "",
        *dict_lines("MACHINE_SPELLINGS", "dict[str, str]", sorted(spellings.items())),
        "",
        *dict_lines("MACHINE_ARCH", "dict[str, str]", sorted(machine_arch.items())),
        "",
        *dict_lines("FIELD_COMPARISONS", "dict[int, tuple[str, str]]", sorted(compares.items())),
        "",
        *dict_lines("IO_URING_OPS", "dict[int, str]", sorted(uring.items())),
        "",
        *dict_lines("ERROR_MESSAGES", "dict[int, tuple[int, str]]", sorted(errmsgs.items())),
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------
# Rust modules of the native core (crates/core), written from the values of the generated Python modules:
# sorted static arrays searched by binary search (no lazy initialisation, no state).

RUST_LOOKUP_DOC = "Sorted by key: searched with binary search."


def rust_str(value: str) -> str:
    """A Rust string literal (printable ASCII only, so no escape is needed but for quote and backslash)."""
    if not all(" " <= c <= "~" for c in value):
        raise ValueError(f"not printable ASCII: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rust_header(python_text: str) -> list[str]:
    """The Python module's two header lines (sources, snapshots) as Rust line comments."""
    first, second = python_text.splitlines()[:2]
    assert first.startswith("# Generated by ") and second.startswith("# Snapshots: ")
    return ["//" + first[1:], "//" + second[1:]]


def rust_table(doc: str, name: str, ty: str, rows: list[str], public: bool = True) -> list[str]:
    """A ``#[rustfmt::skip]`` static array of ``rows`` (each a Rust expression)."""
    return [
        *(f"/// {line}" for line in doc.splitlines()),
        "#[rustfmt::skip]",
        f"{'pub ' if public else ''}static {name}: [{ty}; {len(rows)}] = [",
        *(f"    {r}," for r in rows),
        "];",
        "",
    ]


def rust_by_str(items: Iterable[tuple[str, object]]) -> list[tuple[str, object]]:
    """Sorted by the key's bytes (the order ``[u8]::cmp`` searches in)."""
    return sorted(items, key=lambda kv: kv[0].encode("ascii"))


def rust_find(table: str, key: str, by_str: bool, then: str) -> list[str]:
    """The body of a lookup (as rustfmt lays it out): binary search of ``table`` for ``key``, the index
    checked, then the ``.map(...)`` closure ``then``."""
    probe = f"k.as_bytes().cmp({key})" if by_str else f"k.cmp(&{key})"
    return [
        f"    {table}",
        f"        .binary_search_by(|&(k, _)| {probe})",
        "        .ok()",
        f"        .and_then(|i| {table}.get(i))",
        f"        .map({then})",
    ]


def rust_msgtypes(py: str, ns: dict[str, object]) -> str:
    types: dict[int, str] = ns["MSG_TYPES"]  # type: ignore[assignment]
    numbers: dict[str, int] = ns["MSG_NUMBERS"]  # type: ignore[assignment]
    lines = [
        *rust_header(py),
        "//! Audit message (record) types: number <-> name, names without the `AUDIT_` prefix.",
        "//!",
        "//! Every number libaudit, the kernel header (1000-2999) or the audit documentation knows; on a name",
        "//! conflict libaudit's name wins, then the kernel header's, and the losing name is an alias in",
        "//! [`MSG_NUMBERS`]. The same tables as `records/_msgtypes.py`.",
        "",
        *rust_table(
            f"Number -> name. {RUST_LOOKUP_DOC}",
            "MSG_TYPES",
            "(u32, &str)",
            [f"({n}, {rust_str(v)})" for n, v in sorted(types.items())],
        ),
        *rust_table(
            f"Name -> number: the inverse of [`MSG_TYPES`] plus the aliases. {RUST_LOOKUP_DOC}",
            "MSG_NUMBERS",
            "(&str, u32)",
            [f"({rust_str(k)}, {n})" for k, n in rust_by_str(numbers.items())],
        ),
        "/// The name of message type `n` (`SYSCALL` for 1300), if known.",
        "pub fn type_name(n: u32) -> Option<&'static str> {",
        *rust_find("MSG_TYPES", "n", False, "|&(_, name)| name"),
        "}",
        "",
        "/// The number of the message type called `name` (an alias included), if known.",
        "pub fn type_number(name: &[u8]) -> Option<u32> {",
        *rust_find("MSG_NUMBERS", "name", True, "|&(_, n)| n"),
        "}",
    ]
    return "\n".join(lines) + "\n"


def rust_fields(py: str, ns: dict[str, object]) -> str:
    formats: dict[str, str] = ns["FIELD_FORMATS"]  # type: ignore[assignment]
    lines = [
        *rust_header(py),
        "//! Audit field formats (`encoded`, `numeric decimal`, ...), from linux-audit/audit-documentation's",
        "//! field-dictionary.csv: plain field names only, the first row's format where a name has several.",
        "//! The same table as `FIELD_FORMATS` of `records/_fields.py`.",
        "",
        *rust_table(
            f"Field name -> format, as written in the CSV. {RUST_LOOKUP_DOC}",
            "FIELD_FORMATS",
            "(&str, &str)",
            [f"({rust_str(k)}, {rust_str(v)})" for k, v in rust_by_str(formats.items())],
        ),
        '/// The format of field `name` (`"encoded"` for `exe`), if the dictionary has it.',
        "pub fn field_format(name: &[u8]) -> Option<&'static str> {",
        *rust_find("FIELD_FORMATS", "name", True, "|&(_, f)| f"),
        "}",
    ]
    return "\n".join(lines) + "\n"


def rust_arches(py: str, ns: dict[str, object]) -> str:
    arches: dict[int, str] = ns["AUDIT_ARCHES"]  # type: ignore[assignment]
    numbers: dict[str, int] = ns["ARCH_NUMBERS"]  # type: ignore[assignment]
    bits: dict[int, int] = ns["ARCH_BITS"]  # type: ignore[assignment]
    big: dict[int, bool] = ns["ARCH_BIG_ENDIAN"]  # type: ignore[assignment]
    if not set(arches) == set(bits) == set(big):
        raise ValueError("arch tables do not have the same keys")
    lines = [
        *rust_header(py),
        "//! Audit arch numbers (`arch=` of SYSCALL records): the kernel's AUDIT_ARCH_* values, named after the",
        "//! macro in lower case (AUDIT_ARCH_X86_64 -> `x86_64`), with their pointer size and byte order. The same",
        "//! tables as `events/_arches.py`.",
        "",
        *rust_table(
            "AUDIT_ARCH_* value -> (name, pointer bits, big-endian). " + RUST_LOOKUP_DOC,
            "AUDIT_ARCHES",
            "(u32, (&str, u8, bool))",
            [
                f"(0x{v:08X}, ({rust_str(arches[v])}, {bits[v]}, {'true' if big[v] else 'false'}))"
                for v in sorted(arches)
            ],
        ),
        *rust_table(
            f"Arch name -> AUDIT_ARCH_* value. {RUST_LOOKUP_DOC}",
            "ARCH_NUMBERS",
            "(&str, u32)",
            [f"({rust_str(k)}, 0x{v:08X})" for k, v in rust_by_str(numbers.items())],
        ),
        "fn arch(n: u32) -> Option<&'static (&'static str, u8, bool)> {",
        *rust_find("AUDIT_ARCHES", "n", False, "|(_, a)| a"),
        "}",
        "",
        "/// The name of AUDIT_ARCH value `n` (`x86_64` for 0xC000003E), if known.",
        "pub fn arch_name(n: u32) -> Option<&'static str> {",
        "    arch(n).map(|a| a.0)",
        "}",
        "",
        "/// The AUDIT_ARCH value of the arch called `name`, if known.",
        "pub fn arch_number(name: &str) -> Option<u32> {",
        *rust_find("ARCH_NUMBERS", "name.as_bytes()", True, "|&(_, n)| n"),
        "}",
        "",
        "/// True if AUDIT_ARCH value `n` is a known big-endian arch (false for an unknown one).",
        "pub fn arch_big_endian(n: u32) -> bool {",
        "    arch(n).is_some_and(|a| a.2)",
        "}",
        "",
        "/// The pointer size in bits (32 or 64) of AUDIT_ARCH value `n`, if known.",
        "pub fn arch_bits(n: u32) -> Option<u8> {",
        "    arch(n).map(|a| a.1)",
        "}",
    ]
    return "\n".join(lines) + "\n"


def rust_syscalls(py: str, ns: dict[str, object]) -> str:
    syscalls: dict[str, dict[int, str]] = ns["SYSCALLS"]  # type: ignore[assignment]
    numbers: dict[str, dict[str, int]] = ns["SYSCALL_NUMBERS"]  # type: ignore[assignment]
    if set(syscalls) != set(numbers):
        raise ValueError("SYSCALLS and SYSCALL_NUMBERS have different arches")
    # Arches that share one Python dict share one Rust table, named after the arches it serves.
    shared: dict[int, list[str]] = {}
    for arch in sorted(syscalls):
        shared.setdefault(id(syscalls[arch]), []).append(arch)
    var = {arch: "_".join(archs).upper() for archs in shared.values() for arch in archs}
    lines = [
        *rust_header(py),
        "//! Syscall number <-> name per audit arch, as libaudit has them (`audit_syscall_to_name`). Arches are",
        "//! named as in [`super::arches`]; arches with identical tables share one. The same tables as",
        "//! `events/_syscalls.py`.",
        "",
    ]
    for archs in shared.values():
        table = syscalls[archs[0]]
        inverse = numbers[archs[0]]
        if any(numbers[a] is not inverse for a in archs):
            raise ValueError(f"{archs}: shared number table but not shared name table")
        if {v: k for k, v in table.items()} != inverse or min(table) < 0 or max(table) > 0xFFFFFFFF:
            raise ValueError(f"{archs}: SYSCALL_NUMBERS is not the inverse of SYSCALLS")
        lines += rust_table(
            f"Syscalls of {', '.join(archs)}: number -> name. {RUST_LOOKUP_DOC}",
            var[archs[0]],
            "(u32, &str)",
            [f"({n}, {rust_str(v)})" for n, v in sorted(table.items())],
            public=False,
        )
        lines += rust_table(
            f"Syscalls of {', '.join(archs)}: name -> number. {RUST_LOOKUP_DOC}",
            var[archs[0]] + "_NUMBERS",
            "(&str, u32)",
            [f"({rust_str(k)}, {n})" for k, n in rust_by_str(inverse.items())],
            public=False,
        )
    lines += [
        "/// The syscall tables of one arch: number -> name, name -> number.",
        "pub type Tables = (",
        "    &'static [(u32, &'static str)],",
        "    &'static [(&'static str, u32)],",
        ");",
        "",
    ]
    lines += rust_table(
        "Arch name -> its syscall [`Tables`]. " + RUST_LOOKUP_DOC,
        "SYSCALLS",
        "(&str, Tables)",
        [f"({rust_str(a)}, (&{var[a]}, &{var[a]}_NUMBERS))" for a, _ in rust_by_str(syscalls.items())],
    )
    lines += [
        "fn tables(arch: &str) -> Option<&'static Tables> {",
        *rust_find("SYSCALLS", "arch.as_bytes()", True, "|(_, t)| t"),
        "}",
        "",
        "/// The name of syscall `nr` of `arch` (an arch name: `x86_64`), if known.",
        "pub fn syscall_name(arch: &str, nr: i64) -> Option<&'static str> {",
        "    let nr = u32::try_from(nr).ok()?;",
        "    let names = tables(arch)?.0;",
        *rust_find("names", "nr", False, "|&(_, name)| name"),
        "}",
        "",
        "/// The number of the syscall called `name` on `arch` (an arch name: `x86_64`), if known.",
        "pub fn syscall_number(arch: &str, name: &str) -> Option<i64> {",
        "    let numbers = tables(arch)?.1;",
        *rust_find("numbers", "name.as_bytes()", True, "|&(_, n)| i64::from(n)"),
        "}",
    ]
    return "\n".join(lines) + "\n"


def rust_errno(py: str, ns: dict[str, object]) -> str:
    names: dict[int, str] = ns["ERRNO_NAMES"]  # type: ignore[assignment]
    numbers: dict[str, int] = ns["ERRNO_NUMBERS"]  # type: ignore[assignment]
    if min(names) < 0 or max(names) > 0xFFFFFFFF:
        raise ValueError("errno number out of u32 range")
    lines = [
        *rust_header(py),
        "//! errno number <-> name (what `exit=-N` of a SYSCALL record means): libaudit's table cross-checked",
        "//! with the kernel's asm-generic headers (the generic numbering: x86, arm, arm64, s390, riscv, ...).",
        "//! The same tables as `events/_errno.py`.",
        "",
        *rust_table(
            f"errno number -> name. {RUST_LOOKUP_DOC}",
            "ERRNO_NAMES",
            "(u32, &str)",
            [f"({n}, {rust_str(v)})" for n, v in sorted(names.items())],
        ),
        *rust_table(
            "errno name -> number: the inverse of [`ERRNO_NAMES`] plus the headers' aliases (EWOULDBLOCK,\n"
            f"EDEADLOCK). {RUST_LOOKUP_DOC}",
            "ERRNO_NUMBERS",
            "(&str, u32)",
            [f"({rust_str(k)}, {n})" for k, n in rust_by_str(numbers.items())],
        ),
        "/// The name of errno `n` (`ENOENT` for 2), if known.",
        "pub fn errno_name(n: i64) -> Option<&'static str> {",
        "    let n = u32::try_from(n).ok()?;",
        *rust_find("ERRNO_NAMES", "n", False, "|&(_, name)| name"),
        "}",
        "",
        "/// The number of the errno called `name` (an alias included), if known.",
        "pub fn errno_number(name: &str) -> Option<i64> {",
        *rust_find("ERRNO_NUMBERS", "name.as_bytes()", True, "|&(_, n)| i64::from(n)"),
        "}",
    ]
    return "\n".join(lines) + "\n"


GENERATORS: dict[str, Callable[[Snapshots, list[str]], str]] = {
    "msgtypes": gen_msgtypes,
    "fields": gen_fields,
    "syscalls": gen_syscalls,
    "errno": gen_errno,
    "arches": gen_arches,
    "ruleconsts": gen_ruleconsts,
}

# Rust module writers: (the generated Python module's text, its namespace) -> the Rust module's text.
RUST_GENERATORS: dict[str, Callable[[str, dict[str, object]], str]] = {
    "msgtypes": rust_msgtypes,
    "fields": rust_fields,
    "syscalls": rust_syscalls,
    "errno": rust_errno,
    "arches": rust_arches,
}


def generate(data_dir: Path, out_dir: Path, quiet: bool = False, rust_out: Path | None = None) -> None:
    """Write the Python modules under out_dir and the Rust modules under rust_out (if given)."""
    snaps = Snapshots(data_dir)
    report: list[str] = []
    for key, gen in GENERATORS.items():
        text = gen(snaps, report)
        code = compile(text, str(MODULES[key]), "exec")  # fail here, not at import time
        path = out_dir / MODULES[key]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("ascii"))
        report.append(f"wrote {path}")
        if rust_out is not None and key in RUST_GENERATORS:
            namespace: dict[str, object] = {}
            exec(code, namespace)  # the generated module's values: the Rust tables hold the same data
            rust_path = rust_out / RUST_MODULES[key]
            rust_path.parent.mkdir(parents=True, exist_ok=True)
            rust_path.write_bytes(RUST_GENERATORS[key](text, namespace).encode("ascii"))
            report.append(f"wrote {rust_path}")
    if not quiet:
        for line in report:
            note(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--from-snapshots",
        action="store_true",
        help="do not read the live sources; generate from the snapshots in --data-dir",
    )
    ap.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help=f"snapshot directory ({DEFAULT_DATA})"
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"package directory to write records/, events/ and kernel/ modules under ({DEFAULT_OUT})",
    )
    ap.add_argument(
        "--rust-out",
        type=Path,
        default=DEFAULT_RUST_OUT,
        help=f"source directory to write the Rust record/ and interpret/ modules under ({DEFAULT_RUST_OUT})",
    )
    ap.add_argument(
        "--include-dir", type=Path, default=DEFAULT_INCLUDE, help="kernel UAPI headers (live mode)"
    )
    ap.add_argument(
        "--doc-dir",
        type=Path,
        default=DEFAULT_DOC,
        help="copy of linux-audit/audit-documentation's dictionaries (live mode)",
    )
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    args = ap.parse_args(argv)
    problems = 0
    if not args.from_snapshots:
        problems = collect(args.data_dir, args.include_dir, args.doc_dir)
    generate(args.data_dir, args.out, quiet=args.quiet, rust_out=args.rust_out)
    if problems:
        note(f"gen_constants: {problems} live cross-check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
