"""`system_info` and `os_version`: read from fake host trees (exact rows), from this machine's own files, and
through every way a query reaches them (`auditsql query`, the shell, scheduled queries, fleet answers)."""

from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path

import pytest

import auditsql.tables as T
from auditsql.fleet.query import answer
from auditsql.outputs.results_log import ResultsLog
from auditsql.query.engine import Engine
from auditsql.query.schedule import Job, Scheduler
from auditsql.store.sqlite import Store
from auditsql.tables.host import (
    OS_VERSION,
    SYSTEM_INFO,
    HostIdentity,
    canonical_name,
    identity,
    os_version_rows,
    system_info_rows,
)
from tests.query.test_query_cli import run

CPUINFO_2_SOCKETS = "".join(
    f"processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
    f"model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz  \nstepping\t: 4\nmicrocode\t: 0x2006e05\n"
    f"physical id\t: {n // 4}\nsiblings\t: 4\ncore id\t\t: {(n // 2) % 2}\ncpu cores\t: 2\n\n"
    for n in range(8)
)
OS_RELEASE_UBUNTU = (
    'PRETTY_NAME="Ubuntu 22.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
    'VERSION="22.04.3 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n'
    'HOME_URL="https://www.ubuntu.com/"\nUBUNTU_CODENAME=jammy\n'
)


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)
    return root


def host(root: Path, **extra: str | bytes) -> Path:
    """A host tree: hostname, arch, cpuinfo, meminfo, machine-id, os-release, DMI; ``extra`` (relative path:
    text) replaces or adds files; an empty string removes a file."""
    files: dict[str, str | bytes] = {
        "proc/sys/kernel/hostname": "web1\n",
        "proc/sys/kernel/arch": "x86_64\n",
        "proc/cpuinfo": CPUINFO_2_SOCKETS,
        "proc/meminfo": "MemTotal:       16315508 kB\nMemFree:         1021400 kB\n",
        "etc/machine-id": "0123456789abcdef0123456789ABCDEF\n",
        "etc/os-release": OS_RELEASE_UBUNTU,
        "sys/class/dmi/id/product_uuid": "4c4c4544-0051-3510-8052-b2c04f4d4e32\n",
        "sys/class/dmi/id/sys_vendor": "Dell Inc.\n",
        "sys/class/dmi/id/product_name": "PowerEdge R640\n",
        "sys/class/dmi/id/product_version": "\n",
        "sys/class/dmi/id/product_serial": "5Q5RB22\n",
        "sys/class/dmi/id/board_vendor": "Dell Inc.\n",
        "sys/class/dmi/id/board_name": "0H28RR\n",
        "sys/class/dmi/id/board_version": "A05\n",
    }
    for rel, value in extra.items():
        files.pop(rel, None)
        if value != "":
            files[rel] = value
    return tree(root, files)


def system_info(root: Path) -> dict:
    (row,) = system_info_rows(root, resolve=lambda name: f"{name}.example.org")
    return dict(zip(SYSTEM_INFO.column_names, row, strict=True))


def os_version(root: Path) -> dict:
    (row,) = os_version_rows(root)
    return dict(zip(OS_VERSION.column_names, row, strict=True))


# -- fake hosts ------------------------------------------------------------------------------------------------


def test_system_info_of_a_server(tmp_path: Path) -> None:
    assert system_info(host(tmp_path)) == {
        "hostname": "web1.example.org",
        "uuid": "4c4c4544-0051-3510-8052-b2c04f4d4e32",
        "cpu_type": "x86_64",
        "cpu_subtype": "85",
        "cpu_brand": "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
        "cpu_physical_cores": 4,
        "cpu_logical_cores": 8,
        "cpu_sockets": 2,
        "cpu_microcode": "0x2006e05",
        "physical_memory": 16315508 * 1024,
        "hardware_vendor": "Dell Inc.",
        "hardware_model": "PowerEdge R640",
        "hardware_version": "",
        "hardware_serial": "5Q5RB22",
        "board_vendor": "Dell Inc.",
        "board_model": "0H28RR",
        "board_version": "A05",
        "board_serial": None,  # unreadable (root only) or absent: NULL
        "computer_name": "web1",
        "local_hostname": "web1.example.org",
        "emulated_cpu_type": None,
    }


def test_lenovo_model_and_version_are_swapped(tmp_path: Path) -> None:
    root = host(
        tmp_path,
        **{
            "sys/class/dmi/id/sys_vendor": "LENOVO\n",
            "sys/class/dmi/id/product_name": "20QDCTO1WW\n",
            "sys/class/dmi/id/product_version": "ThinkPad X1 Carbon 7th\n",
        },
    )
    got = system_info(root)
    assert (got["hardware_vendor"], got["hardware_model"], got["hardware_version"]) == (
        "LENOVO",
        "ThinkPad X1 Carbon 7th",
        "20QDCTO1WW",
    )


@pytest.mark.parametrize(
    ("files", "uuid"),
    [
        # a placeholder SMBIOS UUID is no identity: the machine-id, as a UUID, lower case
        (
            {"sys/class/dmi/id/product_uuid": "03000200-0400-0500-0006-000700080009\n"},
            "01234567-89ab-cdef-0123-456789abcdef",
        ),
        (
            {"sys/class/dmi/id/product_uuid": "00000000-0000-0000-0000-000000000000"},
            "01234567-89ab-cdef-0123-456789abcdef",
        ),
        # the kernel's file ends in a newline; a NUL ends the string as in osquery
        (
            {"sys/class/dmi/id/product_uuid": b"EC2B1F3C-1E0F-4A7D-9B0B-3F2F0E0C1D2E\x00junk\n"},
            "EC2B1F3C-1E0F-4A7D-9B0B-3F2F0E0C1D2E",
        ),
        ({"sys/class/dmi/id/product_uuid": ""}, "01234567-89ab-cdef-0123-456789abcdef"),
        ({"sys/class/dmi/id/product_uuid": "", "etc/machine-id": ""}, ""),
        (
            {
                "sys/class/dmi/id/product_uuid": "",
                "etc/machine-id": "",
                "var/lib/dbus/machine-id": "fedcba9876543210fedcba9876543210\n",
            },
            "fedcba98-7654-3210-fedc-ba9876543210",
        ),
        # an uninitialized machine-id ("uninitialized", empty) is no identity either
        ({"sys/class/dmi/id/product_uuid": "", "etc/machine-id": "uninitialized\n"}, ""),
    ],
)
def test_uuid_sources(tmp_path: Path, files: dict, uuid: str) -> None:
    root = host(tmp_path, **files)
    assert system_info(root)["uuid"] == uuid
    assert identity(root) == HostIdentity(uuid=uuid, hostname="web1")


def test_a_host_without_dmi_or_files(tmp_path: Path) -> None:
    """A container-like tree: no DMI, nothing in /proc but the hostname and arch."""
    root = tree(tmp_path, {"proc/sys/kernel/hostname": "c1\n", "proc/sys/kernel/arch": "aarch64\n"})
    got = system_info(root)
    assert {k: v for k, v in got.items() if k not in ("cpu_logical_cores", "cpu_physical_cores")} == {
        "hostname": "c1.example.org",
        "uuid": "",
        "cpu_type": "aarch64",
        "cpu_subtype": "0",
        "cpu_brand": None,
        "cpu_sockets": None,
        "cpu_microcode": None,
        "physical_memory": -1,
        "hardware_vendor": None,
        "hardware_model": "",
        "hardware_version": None,
        "hardware_serial": None,
        "board_vendor": None,
        "board_model": None,
        "board_version": None,
        "board_serial": None,
        "computer_name": "c1",
        "local_hostname": "c1.example.org",
        "emulated_cpu_type": None,
    }
    # without /proc/cpuinfo the processors are the ones this process sees
    assert got["cpu_logical_cores"] == got["cpu_physical_cores"] == os.cpu_count()
    assert os_version(root) == {
        "name": "Unknown",
        "version": None,
        "major": 0,
        "minor": 0,
        "patch": 0,
        "build": None,
        "platform": "posix",
        "platform_like": None,
        "codename": None,
        "arch": "aarch64",
        "pid_with_namespace": 0,
        "mount_namespace_id": None,
    }


def test_cpu_brand_is_x86_only(tmp_path: Path) -> None:
    root = host(tmp_path, **{"proc/sys/kernel/arch": "aarch64\n"})
    assert (system_info(root)["cpu_type"], system_info(root)["cpu_brand"]) == ("aarch64", None)


def test_os_version_of_ubuntu(tmp_path: Path) -> None:
    assert os_version(host(tmp_path)) == {
        "name": "Ubuntu",
        "version": "22.04.3 LTS (Jammy Jellyfish)",
        "major": 22,
        "minor": 4,
        "patch": 0,
        "build": None,
        "platform": "ubuntu",
        "platform_like": "debian",
        "codename": "jammy",
        "arch": "x86_64",
        "pid_with_namespace": 0,
        "mount_namespace_id": None,
    }


def test_os_version_of_fedora(tmp_path: Path) -> None:
    text = (
        "NAME='Fedora Linux'\nVERSION=\"39 (Server Edition)\"\nID=fedora\nVERSION_ID=39\n"
        'VERSION_CODENAME=""\nBUILD_ID=1.2.3\nVARIANT_ID=server\n'
    )
    got = os_version(host(tmp_path, **{"etc/os-release": text}))
    assert {
        k: got[k] for k in ("name", "version", "major", "minor", "patch", "build", "platform", "codename")
    } == {
        "name": "Fedora Linux",
        "version": "39 (Server Edition)",
        "major": 39,
        "minor": 0,
        "patch": 0,
        "build": "1.2.3",
        "platform": "fedora",
        "codename": "",
    }


def test_os_version_three_part_version_id(tmp_path: Path) -> None:
    got = os_version(
        host(tmp_path, **{"etc/os-release": "NAME=Alpine Linux\nID=alpine\nVERSION_ID=3.19.1\n"})
    )
    assert (got["name"], got["major"], got["minor"], got["patch"], got["version"]) == (
        "Alpine Linux",
        3,
        19,
        1,
        None,
    )


def test_os_version_of_an_old_centos(tmp_path: Path) -> None:
    root = host(tmp_path, **{"etc/os-release": "", "etc/redhat-release": "CentOS release 6.10 (Final)\n"})
    got = os_version(root)
    assert {
        k: got[k]
        for k in ("name", "version", "major", "minor", "patch", "build", "platform", "platform_like")
    } == {
        "name": "CentOS",
        "version": "CentOS release 6.10 (Final)",
        "major": 6,
        "minor": 10,
        "patch": 0,
        "build": "",
        "platform": "rhel",
        "platform_like": "rhel",
    }


def test_identity_does_not_resolve(tmp_path: Path) -> None:
    root = host(tmp_path, **{"proc/sys/kernel/hostname": "db7.internal\n"})
    assert identity(root) == HostIdentity(
        uuid="4c4c4544-0051-3510-8052-b2c04f4d4e32", hostname="db7.internal"
    )


def test_canonical_name_of_a_name_that_does_not_resolve() -> None:
    assert canonical_name("no-such-host.invalid") == "no-such-host.invalid"


# -- this machine ----------------------------------------------------------------------------------------------


def test_this_machine() -> None:
    (row,) = T.live_rows("system_info")
    got = dict(zip(SYSTEM_INFO.column_names, row, strict=True))
    name = socket.gethostname()
    assert got["computer_name"] == name
    assert got["cpu_type"] == os.uname().machine
    assert got["cpu_logical_cores"] == os.sysconf("SC_NPROCESSORS_ONLN")
    assert got["physical_memory"] == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        dmi = Path("/sys/class/dmi/id/product_uuid").read_text().strip()
    except OSError:
        dmi = ""
    if dmi:
        assert got["uuid"] == dmi
    else:
        mid = Path("/etc/machine-id").read_text().strip()
        assert got["uuid"].replace("-", "") == mid
    assert identity() == HostIdentity(uuid=got["uuid"], hostname=name)
    (row,) = T.live_rows("os_version")
    osv = dict(zip(OS_VERSION.column_names, row, strict=True))
    release = dict(
        line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
    )
    assert osv["platform"] == release["ID"].strip('"')
    assert osv["name"] == release["NAME"].strip('"')
    assert osv["arch"] == os.uname().machine


# -- every way a query reaches them ----------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path):
    s = Store(str(tmp_path / "auditsql.db"))
    s.create_schema()
    yield s
    s.close()


def test_registry_declares_them_live() -> None:
    assert [t.name for t in T.live_tables()] == ["system_info", "os_version", "audit_status", "audit_rules"]
    assert SYSTEM_INFO.osquery == "system_info" and OS_VERSION.osquery == "os_version"


def test_engine_reads_them(store: Store) -> None:
    with Engine(store.path) as eng:
        cols, rows = eng.execute("SELECT uuid AS host_uuid FROM system_info")
        assert (cols, rows) == (["host_uuid"], [(identity().uuid,)])
        cols, rows = eng.execute("SELECT count(*), platform FROM os_version")
        assert rows == [(1, os_version_rows()[0][OS_VERSION.column_names.index("platform")])]


def test_query_cli(store: Store, tmp_path: Path) -> None:
    p = run(["query", "--db", store.path, "--json", "SELECT uuid, computer_name FROM system_info"], tmp_path)
    assert p.returncode == 0, p.stderr
    ident = identity()
    assert json.loads(p.stdout) == [{"uuid": ident.uuid, "computer_name": ident.hostname}]


def test_shell_lists_and_describes_them(store: Store, tmp_path: Path) -> None:
    p = run(["shell", "--db", store.path], tmp_path, stdin=b".tables s\n.schema os_version\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == (
        "  => seccomp_events\n  => selinux_events\n  => socket_events\n  => system_info\n"
        + OS_VERSION.ddl()
        + "\n"
    )


def test_scheduled_query_with_the_decorator_query(store: Store) -> None:
    out = io.BytesIO()
    sch = Scheduler(
        store.path,
        [Job("host", "SELECT uuid AS host_uuid FROM system_info", 1, snapshot=True)],
        ResultsLog(None, "web1", stream=out),  # type: ignore[arg-type]
        event_tables=[t.name for t in T.event_tables()],
        live_tables=[t.name for t in T.live_tables()],
        refresh_live=store.refresh_live,
        before_run=store.flush,
        clock=lambda: 1700000000.0,
        monotonic=lambda: 1000.0,
    )
    sch.start()
    sch.run_all()
    (line,) = [json.loads(x) for x in out.getvalue().decode().splitlines()]
    assert (line["name"], line["snapshot"]) == ("host", [{"host_uuid": identity().uuid}])


def test_fleet_answer_reads_them(store: Store) -> None:
    got = answer(store.path, "SELECT uuid FROM system_info", timeout=5, max_rows=5)
    assert (got["rows"], got["error"]) == ([[identity().uuid]], None)
    got = answer(store.path, "SELECT uuid FROM system_info", timeout=5, max_rows=5, tables=["system_info"])
    assert (got["rows"], got["error"]) == ([[identity().uuid]], None)
    # the [fleet] tables allow-list covers the live tables too, whatever the query reads of them
    why = "is not answered here (this host's [fleet] tables: process_events)"
    for sql in ("SELECT hardware_serial FROM system_info", "SELECT count(*) FROM os_version"):
        got = answer(store.path, sql, timeout=5, max_rows=5, tables=["process_events"])
        table = sql.rsplit(" ", 1)[1]
        assert (got["rows"], got["error"]) == ([], f"refused: table {table} {why}"), sql
