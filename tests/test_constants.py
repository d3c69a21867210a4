"""The generated constant tables (tools/gen_constants.py): known values, reproducibility from snapshots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditsql.events import _arches, _errno, _syscalls
from auditsql.records import _fields, _msgtypes

ROOT = Path(__file__).resolve().parent.parent
GENERATED = [
    Path("records") / "_msgtypes.py",
    Path("records") / "_fields.py",
    Path("events") / "_syscalls.py",
    Path("events") / "_errno.py",
    Path("events") / "_arches.py",
]
# The same tables as Rust modules of the native core, under crates/core/src.
RUST_SRC = ROOT / "crates" / "core" / "src"
RUST_GENERATED = [
    Path("record") / "msgtypes.rs",
    Path("record") / "fields.rs",
    Path("interpret") / "syscalls.rs",
    Path("interpret") / "errno.rs",
    Path("interpret") / "arches.rs",
]


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (1300, "SYSCALL"),
        (1320, "EOE"),
        (1327, "PROCTITLE"),
        (1306, "SOCKADDR"),
        (1309, "EXECVE"),
        (1307, "CWD"),
        (1302, "PATH"),
        (1112, "USER_LOGIN"),
        (1100, "USER_AUTH"),
        (1006, "LOGIN"),
        (1400, "AVC"),
        (1329, "REPLACE"),  # kernel header and docs only (libaudit 3.0.9 lacks it)
        (1500, "APPARMOR"),  # libaudit's name wins over the docs' "AA"
    ],
)
def test_msg_types(number: int, name: str) -> None:
    assert _msgtypes.MSG_TYPES[number] == name
    assert _msgtypes.MSG_NUMBERS[name] == number


def test_msg_numbers_is_inverse_plus_aliases() -> None:
    for number, name in _msgtypes.MSG_TYPES.items():
        assert _msgtypes.MSG_NUMBERS[name] == number
    assert _msgtypes.MSG_NUMBERS["AA"] == 1500
    assert all(1000 <= n < 3000 for n in _msgtypes.MSG_TYPES)


@pytest.mark.parametrize(
    ("field", "fmt"),
    [
        ("auid", "numeric decimal"),
        ("exe", "encoded"),
        ("mode", "numeric octal"),
        ("arch", "numeric hexadecimal"),
        ("saddr", "encoded"),
        ("proctitle", "encoded"),
        ("dev", "numeric hexadecimal-tuple"),
        ("rdev", "numeric hexadecimal-tuple"),
        ("key", "encoded"),
        ("fp", "numeric hexadecimal"),
    ],
)
def test_field_formats(field: str, fmt: str) -> None:
    assert _fields.FIELD_FORMATS[field] == fmt


def test_field_patterns_kept_apart() -> None:
    patterns = {p: (fmt, exc) for p, fmt, exc in _fields.FIELD_PATTERNS}
    assert patterns["a[0-3]"] == ("numeric hexadecimal", "syscall")
    assert patterns[r"a[[:digit:]+]\[.*\]"] == ("encoded", "execve")
    assert not any(c in name for name in _fields.FIELD_FORMATS for c in "[]\\*")
    assert _fields.FIELD_EXCEPTIONS["fp"] == "crypto_key"
    assert "auid" not in _fields.FIELD_EXCEPTIONS
    assert len(_fields.FIELD_ROWS) == len(_fields.FIELD_FORMATS) + len(_fields.FIELD_PATTERNS) + 4
    formats = {fmt for _, fmt, _, _ in _fields.FIELD_ROWS}
    assert formats == {
        "encoded",
        "numeric decimal",
        "numeric hexadecimal",
        "numeric octal",
        "numeric",
        "alphanumeric",
        "alphabet",
        "numeric hexadecimal-tuple",
    }


@pytest.mark.parametrize(
    ("arch", "number", "name"),
    [
        ("x86_64", 59, "execve"),
        ("x86_64", 322, "execveat"),
        ("x86_64", 42, "connect"),
        ("x86_64", 43, "accept"),
        ("x86_64", 288, "accept4"),
        ("x86_64", 49, "bind"),
        ("x86_64", 56, "clone"),
        ("x86_64", 57, "fork"),
        ("x86_64", 58, "vfork"),
        ("x86_64", 435, "clone3"),
        ("i386", 11, "execve"),
        ("i386", 102, "socketcall"),
        ("aarch64", 221, "execve"),
        ("aarch64", 203, "connect"),
        ("ppc64", 11, "execve"),
        ("ppc64le", 11, "execve"),
        ("arm", 11, "execve"),
        ("s390x", 11, "execve"),
    ],
)
def test_syscalls(arch: str, number: int, name: str) -> None:
    assert _syscalls.SYSCALLS[arch][number] == name
    assert _syscalls.SYSCALL_NUMBERS[arch][name] == number


def test_syscall_tables_shape() -> None:
    assert _syscalls.SYSCALLS["ppc64"] is _syscalls.SYSCALLS["ppc64le"]
    assert _syscalls.SYSCALL_NUMBERS["ppc64"] is _syscalls.SYSCALL_NUMBERS["ppc64le"]
    assert set(_syscalls.SYSCALLS) == set(_syscalls.SYSCALL_NUMBERS)
    for arch, table in _syscalls.SYSCALLS.items():
        assert arch in _arches.ARCH_NUMBERS, arch
        assert {v: k for k, v in table.items()} == _syscalls.SYSCALL_NUMBERS[arch]


@pytest.mark.parametrize(
    ("number", "name"),
    [
        (2, "ENOENT"),
        (13, "EACCES"),
        (111, "ECONNREFUSED"),
        (115, "EINPROGRESS"),
        (98, "EADDRINUSE"),
        (11, "EAGAIN"),
    ],
)
def test_errno(number: int, name: str) -> None:
    assert _errno.ERRNO_NAMES[number] == name
    assert _errno.ERRNO_NUMBERS[name] == number


def test_errno_aliases() -> None:
    assert _errno.ERRNO_NUMBERS["EWOULDBLOCK"] == 11
    assert _errno.ERRNO_NUMBERS["EDEADLOCK"] == 35
    assert _errno.ERRNO_NAMES[35] == "EDEADLK"
    assert "EWOULDBLOCK" not in _errno.ERRNO_NAMES.values()


@pytest.mark.parametrize(
    ("number", "name", "bits", "big_endian"),
    [
        (0xC000003E, "x86_64", 64, False),
        (0x40000003, "i386", 32, False),
        (0xC00000B7, "aarch64", 64, False),
        (0x40000028, "arm", 32, False),
        (0x00000028, "armeb", 32, True),
        (0x00000014, "ppc", 32, True),
        (0x80000015, "ppc64", 64, True),
        (0xC0000015, "ppc64le", 64, False),
        (0x00000016, "s390", 32, True),
        (0x80000016, "s390x", 64, True),
        (0xC00000F3, "riscv64", 64, False),
        (0x40000008, "mipsel", 32, False),
        (0x00000008, "mips", 32, True),
    ],
)
def test_arches(number: int, name: str, bits: int, big_endian: bool) -> None:
    assert _arches.AUDIT_ARCHES[number] == name
    assert _arches.ARCH_NUMBERS[name] == number
    assert _arches.ARCH_BITS[number] == bits
    assert _arches.ARCH_BIG_ENDIAN[number] is big_endian


def test_arch_tables_consistent() -> None:
    assert {v: k for k, v in _arches.AUDIT_ARCHES.items()} == _arches.ARCH_NUMBERS
    assert set(_arches.ARCH_BITS) == set(_arches.AUDIT_ARCHES) == set(_arches.ARCH_BIG_ENDIAN)


def test_headers() -> None:
    for rel in GENERATED:
        first = (ROOT / "src" / "auditsql" / rel).read_text(encoding="ascii").splitlines()[0]
        assert first.startswith("# Generated by tools/gen_constants.py from "), rel
        assert first.endswith("; do not edit."), rel
    for rel in RUST_GENERATED:
        first = (RUST_SRC / rel).read_text(encoding="ascii").splitlines()[0]
        assert first.startswith("// Generated by tools/gen_constants.py from "), rel
        assert first.endswith("; do not edit."), rel


@pytest.mark.parametrize(
    ("rel", "row"),
    [
        (Path("record") / "msgtypes.rs", '(1300, "SYSCALL"),'),
        (Path("record") / "msgtypes.rs", '("AA", 1500),'),
        (Path("record") / "fields.rs", '("exe", "encoded"),'),
        (Path("interpret") / "arches.rs", '(0xC000003E, ("x86_64", 64, false)),'),
        (Path("interpret") / "syscalls.rs", '("ppc64le", (&PPC_PPC64_PPC64LE, &PPC_PPC64_PPC64LE_NUMBERS)),'),
        (Path("interpret") / "errno.rs", '("EWOULDBLOCK", 11),'),
    ],
)
def test_rust_rows(rel: Path, row: str) -> None:
    """A few rows of the Rust tables, as written (crates/core/tests/generated_tables.rs checks the lookups)."""
    assert "    " + row in (RUST_SRC / rel).read_text(encoding="ascii").splitlines()


def test_regenerate_from_snapshots(tmp_path: Path) -> None:
    """tools/gen_constants.py --from-snapshots (any python3, no `audit` module) reproduces the modules,
    Python and Rust."""
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "gen_constants.py"),
            "--from-snapshots",
            "-q",
            "--out",
            str(tmp_path),
            "--rust-out",
            str(tmp_path / "rust"),
        ],
        check=True,
        cwd=tmp_path,
    )
    for rel in GENERATED:
        committed = (ROOT / "src" / "auditsql" / rel).read_bytes()
        assert (tmp_path / rel).read_bytes() == committed, f"{rel} differs from its regeneration"
    for rel in RUST_GENERATED:
        committed = (RUST_SRC / rel).read_bytes()
        assert (tmp_path / "rust" / rel).read_bytes() == committed, f"{rel} differs from its regeneration"


# -- the native core reads the same tables ----------------------------------------------------------------------


def test_core_syscall_names_are_the_tables() -> None:
    from auditsql import _core

    for arch, table in _syscalls.SYSCALLS.items():
        got = {nr: _core.syscall_name(arch, nr) for nr in table}
        assert got == table, arch
    assert _core.syscall_name("x86_64", max(_syscalls.SYSCALLS["x86_64"]) + 1000) is None
    assert _core.syscall_name("no-such-arch", 59) is None


def test_core_errno_names_are_the_table() -> None:
    from auditsql import _core

    assert {n: _core.errno_name(n) for n in _errno.ERRNO_NAMES} == _errno.ERRNO_NAMES
    assert _core.errno_name(0) is None


def test_core_arches_are_the_table() -> None:
    from auditsql import _core

    for number, name in _arches.AUDIT_ARCHES.items():
        assert _core.arch_of(f"{number:x}".encode()) == (number, name)
        assert _core.arch_of(name.encode()) == (number, name)


def test_core_message_types_are_the_table() -> None:
    from auditsql import _core

    for number, name in _msgtypes.MSG_TYPES.items():
        (rec,) = _core.parse_line(f"type={name} msg=audit(1.000:1): a=1".encode())
        assert (rec["type"], rec["name"]) == (number, name)
        assert _core.parse_netlink(number, b"audit(1.000:1): a=1")["name"] == name


def test_core_field_formats_are_the_dictionary() -> None:
    # an encoded field decodes hex ("41" is "A"); a decimal one is a number; hexadecimal and octal are written
    # 0x/0o (the common fields the renderer types alike everywhere keep their own typing)
    from auditsql import _core

    common = {
        "arch",
        "syscall",
        "items",
        "pid",
        "ppid",
        "exit",
        "ses",
        "success",
        "tty",
        "comm",
        "exe",
        "subj",
    }
    common |= {"key", "uring_op"}
    want = {"encoded": "A", "numeric decimal": 41, "numeric hexadecimal": "0x41", "numeric octal": "0o41"}
    for field, fmt in _fields.FIELD_FORMATS.items():
        if field in common or fmt not in want:
            continue
        assert _core.convert(field, b"41") == want[fmt], field
