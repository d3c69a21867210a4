"""The host's own tables: `system_info` (hardware and identity) and `os_version` (the distribution), read from
the host's files each time a query uses them, as osquery's tables of those names are on Linux.

Where the values come from (every path under a root, `/` on a live host, so tests read a fake tree):

* `uuid`: the SMBIOS system UUID, `/sys/class/dmi/id/product_uuid` (readable by root only), as osquery takes
  it. osquery replaces a missing or placeholder UUID (all zeros, `03000200-0400-0500-0006-000700080009`...)
  by a random one it keeps in its database; auditsql keeps no state for it and takes the host's
  `/etc/machine-id` (else `/var/lib/dbus/machine-id`) written as a UUID, which is as stable and needs no
  write. Run as another user than root, the DMI file is unreadable and the machine-id is used: ask as root
  for the hardware UUID. Empty when neither is there.
* `hostname`, `local_hostname`: the host name resolved to its canonical name (osquery's `getFqdn`,
  `getaddrinfo` with `AI_CANONNAME`); `computer_name`: the host name itself
  (`/proc/sys/kernel/hostname`, what `gethostname()` gives).
* `cpu_*`: `/proc/cpuinfo` as osquery reads it (`model` → `cpu_subtype`, `microcode`, `siblings` → sockets);
  `cpu_brand` is the `model name` line, the CPUID brand string osquery reads with the instruction (on x86_64
  only, as osquery). `cpu_type` and `os_version.arch` are the kernel's machine name
  (`/proc/sys/kernel/arch`, `uname -m`). `physical_memory` is `MemTotal` of `/proc/meminfo` (the same
  figure as `sysconf(_SC_PHYS_PAGES)` times the page size).
* `hardware_*`, `board_*`: the SMBIOS strings the kernel exposes in `/sys/class/dmi/id/` (osquery parses
  the same SMBIOS table itself); serial numbers are readable by root only. Lenovo's model and version are
  swapped, as osquery does. NULL when the host has no DMI (most VMs without firmware tables, containers).
* `os_version`: `/etc/os-release` (`NAME`, `VERSION`, `VERSION_ID` split into `major.minor.patch`,
  `BUILD_ID`, `ID`, `ID_LIKE`, `VERSION_CODENAME`), then `/etc/redhat-release` or `/etc/gentoo-release`
  when present, exactly as osquery; defaults `Unknown`, `0`, `posix` when nothing is said.

`auditsql.tables.host.identity()` gives the host's `uuid` and `hostname` without SQL (for `host_identifier`).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from auditsql.tables.registry import Column, Table, register

__all__ = [
    "SYSTEM_INFO",
    "OS_VERSION",
    "HostIdentity",
    "identity",
    "system_info_rows",
    "os_version_rows",
    "canonical_name",
]

#: SMBIOS UUIDs some boards report for every unit: not an identity (osquery's list)
PLACEHOLDER_UUIDS = frozenset(
    (
        "00000000-0000-0000-0000-000000000000",
        "03000200-0400-0500-0006-000700080009",
        "03020100-0504-0706-0809-0a0b0c0d0e0f",
        "10000000-0000-8000-0040-000000000000",
    )
)
_DMI = "sys/class/dmi/id"
_MACHINE_IDS = ("etc/machine-id", "var/lib/dbus/machine-id")
#: os-release keys → os_version columns (``_id``: VERSION_ID, split into major.minor.patch)
_OS_RELEASE_KEYS = {
    "NAME": "name",
    "VERSION": "version",
    "BUILD_ID": "build",
    "ID": "platform",
    "ID_LIKE": "platform_like",
    "VERSION_CODENAME": "codename",
    "VERSION_ID": "_id",
}
#: an older Red Hat release line: "CentOS release 6.10 (Final)"
_REDHAT_RELEASE = re.compile(r"([\w+\s]+) .* ([0-9]+)\.([0-9]+)\.?(\w+)?")

SYSTEM_INFO = register(
    Table(
        name="system_info",
        description="System information for identification: one row, read from the host when a query uses "
        "it (no privilege needed; as root the DMI UUID and serial numbers are readable too).",
        kind="live",
        osquery="system_info",
        columns=(
            Column("hostname", "TEXT", "Network hostname including domain (the host name's canonical name)"),
            Column(
                "uuid",
                "TEXT",
                "Unique ID provided by the system: the SMBIOS UUID, else /etc/machine-id written as a UUID "
                "(osquery: a random UUID it keeps)",
            ),
            Column("cpu_type", "TEXT", "CPU type (`uname -m`)"),
            Column("cpu_subtype", "TEXT", "CPU subtype (the `model` of /proc/cpuinfo, `0` if none)"),
            Column("cpu_brand", "TEXT", "CPU brand string, contains vendor and model (x86_64 only)"),
            Column("cpu_physical_cores", "INTEGER", "Number of physical CPU cores in to the system"),
            Column("cpu_logical_cores", "INTEGER", "Number of logical CPU cores available to the system"),
            Column("cpu_sockets", "INTEGER", "Number of processor sockets in the system"),
            Column("cpu_microcode", "TEXT", "Microcode version"),
            Column("physical_memory", "BIGINT", "Total physical memory in bytes"),
            Column("hardware_vendor", "TEXT", "Hardware vendor"),
            Column("hardware_model", "TEXT", "Hardware model (`''` when the host has no DMI)"),
            Column("hardware_version", "TEXT", "Hardware version"),
            Column("hardware_serial", "TEXT", "Device serial number (root only)"),
            Column("board_vendor", "TEXT", "Board vendor"),
            Column("board_model", "TEXT", "Board model"),
            Column("board_version", "TEXT", "Board version"),
            Column("board_serial", "TEXT", "Board serial number (root only)"),
            Column("computer_name", "TEXT", "Friendly computer name (optional): the host name"),
            Column("local_hostname", "TEXT", "Local hostname (optional): as `hostname`"),
            Column("emulated_cpu_type", "TEXT", "Emulated CPU type (macOS only: NULL)"),
        ),
    )
)

OS_VERSION = register(
    Table(
        name="os_version",
        description="A single row containing the operating system name and version, read from "
        "/etc/os-release when a query uses it.",
        kind="live",
        osquery="os_version",
        columns=(
            Column("name", "TEXT", "Distribution or product name (`Unknown` when not said)"),
            Column("version", "TEXT", "Pretty, suitable for presentation, OS version"),
            Column("major", "INTEGER", "Major release version"),
            Column("minor", "INTEGER", "Minor release version"),
            Column("patch", "INTEGER", "Optional patch release"),
            Column("build", "TEXT", "Optional build-specific or variant string"),
            Column("platform", "TEXT", "OS Platform or ID (`posix` when not said)"),
            Column("platform_like", "TEXT", "Closely related platforms"),
            Column("codename", "TEXT", "OS version codename"),
            Column("arch", "TEXT", "OS Architecture"),
            Column("pid_with_namespace", "INTEGER", "Pids that contain a namespace (always 0)", hidden=True),
            Column("mount_namespace_id", "TEXT", "Mount namespace id (NULL)", hidden=True),
        ),
    )
)


# -- identity --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostIdentity:
    """What names this host: ``uuid`` (``system_info.uuid``; ``""`` when the host has none) and ``hostname``
    (the host name, osquery's ``host_identifier = hostname``: not resolved)."""

    uuid: str
    hostname: str


def identity(root: str | os.PathLike[str] = "/") -> HostIdentity:
    """The host's ``uuid`` and ``hostname``, read from the files under ``root`` (no DNS, no SQL)."""
    r = Path(root)
    return HostIdentity(uuid=host_uuid(r), hostname=host_name(r))


def host_uuid(root: Path) -> str:
    """The SMBIOS UUID when readable and not a placeholder, else the machine-id as a UUID, else ``""``."""
    dmi = _read(root / _DMI / "product_uuid")
    if dmi is not None:
        dmi = dmi.split("\0", 1)[0].strip()
        if dmi and dmi.lower() not in PLACEHOLDER_UUIDS:
            return dmi
    for name in _MACHINE_IDS:
        mid = (_read(root / name) or "").strip().lower()
        if re.fullmatch(r"[0-9a-f]{32}", mid) and mid != "0" * 32:
            return f"{mid[:8]}-{mid[8:12]}-{mid[12:16]}-{mid[16:20]}-{mid[20:]}"
    return ""


def host_name(root: Path) -> str:
    """The host name (``gethostname()``): ``/proc/sys/kernel/hostname`` under ``root``."""
    name = _read(root / "proc/sys/kernel/hostname")
    return (name if name is not None else os.uname().nodename).strip()


def canonical_name(name: str) -> str:
    """``name`` resolved to its canonical name (``getaddrinfo`` with ``AI_CANONNAME``), as osquery's
    ``getFqdn``; ``name`` itself when it does not resolve."""
    try:
        infos = socket.getaddrinfo(name, None, flags=socket.AI_CANONNAME)
    except (OSError, UnicodeError):
        return name
    return next((i[3] for i in infos if i[3]), name)


# -- rows ------------------------------------------------------------------------------------------------------


def system_info_rows(
    root: str | os.PathLike[str] = "/", *, resolve: Callable[[str], str] = canonical_name
) -> list[tuple]:
    """The one ``system_info`` row (``SYSTEM_INFO`` column order) of the host whose files are under ``root``;
    ``resolve`` turns the host name into the FQDN (``hostname`` column)."""
    r = Path(root)
    name = host_name(r)
    fqdn = resolve(name) if name else name
    machine = _machine(r)
    cpu = _cpuinfo(_read(r / "proc/cpuinfo") or "")
    hw = _dmi(r)
    row = {
        "hostname": fqdn,
        "uuid": host_uuid(r),
        "cpu_type": machine,
        "cpu_subtype": cpu["subtype"],
        "cpu_brand": cpu["brand"] if machine == "x86_64" else None,
        "cpu_physical_cores": cpu["physical"],
        "cpu_logical_cores": cpu["logical"],
        "cpu_sockets": cpu["sockets"],
        "cpu_microcode": cpu["microcode"],
        "physical_memory": _mem_total(_read(r / "proc/meminfo") or ""),
        **hw,
        "computer_name": name,
        "local_hostname": fqdn,
        "emulated_cpu_type": None,
    }
    return [tuple(row.get(c) for c in SYSTEM_INFO.column_names)]


def os_version_rows(root: str | os.PathLike[str] = "/") -> list[tuple]:
    """The one ``os_version`` row (``OS_VERSION`` column order) of the host whose files are under ``root``."""
    r = Path(root)
    row: dict[str, object] = {
        "name": "Unknown",
        "major": "0",
        "minor": "0",
        "patch": "0",
        "platform": "posix",
        "pid_with_namespace": 0,
    }
    text = _read(r / "etc/os-release")
    if text:
        row.update(_os_release(text))
    row["arch"] = _machine(r)
    for path, platform in (("etc/redhat-release", "rhel"), ("etc/gentoo-release", "gentoo")):
        release = _read(r / path)
        if release is not None:
            row["platform"] = row["platform_like"] = platform
            release = " ".join(release.split())
            m = _REDHAT_RELEASE.search(release)
            if m:
                row.update(name=m[1], major=m[2], minor=m[3], patch=m[4] or "0")
            row["version"] = release
            row["build"] = ""
            break
    for c in ("major", "minor", "patch"):
        row[c] = _int(row.get(c))
    return [tuple(row.get(c) for c in OS_VERSION.column_names)]


def _os_release(text: str) -> dict[str, str]:
    """The os_version columns an os-release file sets (osquery's reading: ``KEY=value``, one pair of quotes
    taken off; any other ``*CODENAME*`` key also sets ``codename``)."""
    out: dict[str, str] = {}
    for line in text.split("\n"):
        key, sep, value = line.partition("=")
        if not sep:
            continue
        column = _OS_RELEASE_KEYS.get(key)
        if column is None:
            if "CODENAME" not in key:
                continue
            column = "codename"
        if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
            value = value[1:-1]
        out[column] = value
        if column == "_id":
            for part, name in zip(value.split(".", 2), ("major", "minor", "patch"), strict=False):
                out[name] = part
    out.pop("_id", None)
    return out


def _cpuinfo(text: str) -> dict[str, object]:
    """What osquery reads from /proc/cpuinfo: the first processor's ``model``, ``microcode``, ``siblings``
    and ``model name``; the processors listed (logical cores) and the distinct (physical id, core id) pairs
    (physical cores, boost's ``physical_concurrency``)."""
    first, blocks = {}, []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
        if "processor" in fields:
            blocks.append(fields)
    if blocks:
        first = blocks[0]
    logical = len(blocks) or os.cpu_count() or 0
    cores = {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
    siblings = _int(first.get("siblings"))
    return {
        "subtype": first.get("model", "0"),
        "brand": first.get("model name"),
        "microcode": first.get("microcode"),
        "logical": logical or -1,
        "physical": len(cores) or logical,
        "sockets": (logical // siblings if logical and siblings else -1) if "siblings" in first else None,
    }


def _mem_total(text: str) -> int:
    m = re.search(r"^MemTotal:\s+(\d+) kB", text, re.M)
    return int(m[1]) * 1024 if m else -1


def _dmi(root: Path) -> dict[str, str | None]:
    """The SMBIOS system and board strings (``hardware_model`` ``''`` when the host has no DMI at all)."""
    d = root / _DMI
    if not d.is_dir():
        return {"hardware_model": ""}
    names = {
        "hardware_vendor": "sys_vendor",
        "hardware_model": "product_name",
        "hardware_version": "product_version",
        "hardware_serial": "product_serial",
        "board_vendor": "board_vendor",
        "board_model": "board_name",
        "board_version": "board_version",
        "board_serial": "board_serial",
    }
    out: dict[str, str | None] = {}
    for column, name in names.items():
        value = _read(d / name)
        out[column] = value.strip() if value is not None else None
    if (out["hardware_vendor"] or "").lower() == "lenovo":  # Lenovo puts the model in the version string
        out["hardware_model"], out["hardware_version"] = out["hardware_version"], out["hardware_model"]
    return out


def _machine(root: Path) -> str:
    arch = _read(root / "proc/sys/kernel/arch")
    return (arch if arch is not None else os.uname().machine).strip()


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _read(path: Path) -> str | None:
    """The file's text (bytes that are not UTF-8 as U+FFFD), or None when it cannot be read."""
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None
