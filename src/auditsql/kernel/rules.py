"""Audit rules: auditctl's syntax <-> ``struct audit_rule_data``, byte for byte what auditctl sends.

Three directions:

* :func:`parse_args` / :func:`parse_rule` read one auditctl command line (or one line of a rules file,
  split with :func:`split_rule_line`) with auditctl's own option semantics - order matters, as in
  auditctl: ``-F arch=`` must come before ``-S`` and picks the syscall table, ``-k`` and ``-F key=`` are
  collected and appended as the last field, a rule without ``-S`` on a syscall list gets every syscall,
  ``-w`` becomes an exit rule on ``path``/``dir`` with a ``perm`` field, and so on.  The result is a
  :class:`Command` whose :class:`Rule` encodes (:meth:`Rule.encode`) to exactly the bytes auditctl 3.0.9
  puts in its ``AUDIT_ADD_RULE`` message.
* :meth:`Rule.decode` reads the bytes the kernel lists (``AUDIT_LIST_RULES``); ``encode(decode(b)) == b``.
* :func:`format_rules` prints rules exactly as ``auditctl -l`` does, quirks included (the arch of a rule
  picks the syscall table for the following rules that have none, unknown fields print as ``f24=1``).

Beyond auditctl 3.0.9 (which this follows everywhere else): the ``io_uring`` list with io_uring operation
names for ``-S`` (as audit-userspace 3.1+ does), and the kernel's ``loginuid_set`` field, which libaudit
does not know (it lists as auditctl prints it, ``f24=1``).

All tables (fields, operators, lists, machines, syscalls, errno, message types, file and file system
types, error messages) are generated from the kernel headers and libaudit by ``tools/gen_constants.py``.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat as stat_mod
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from auditsql.events import _syscalls
from auditsql.events._errno import ERRNO_NAMES, ERRNO_NUMBERS
from auditsql.records._msgtypes import LIBAUDIT_TYPES, MSG_NUMBERS, MSG_TYPES

from . import _ruleconsts as K

__all__ = [
    "AUDIT_RULE_DATA_SIZE",
    "Command",
    "ListingState",
    "Rule",
    "RuleError",
    "RuleField",
    "format_rule",
    "format_rules",
    "kernel_normalize",
    "parse_args",
    "parse_rule",
    "split_rule_line",
]

# libaudit.h (not a kernel header): the separator of several keys in one key field, the mask of the list
# number in a rule's flags, and the "no list given yet" marker.
AUDIT_KEY_SEPARATOR = 0x01
AUDIT_FILTER_MASK = 0x07
AUDIT_FILTER_UNSET = 0x80
#: audit-userspace 3.1+'s name of AUDIT_FILTER_URING_EXIT (libaudit 3.0.9 has no name for it).
IO_URING_LIST = "io_uring"

# struct audit_rule_data { __u32 flags, action, field_count, mask[64], fields[64], values[64],
#                          fieldflags[64], buflen; char buf[]; }  -- host byte order
_N = K.AUDIT_MAX_FIELDS
_HEAD = struct.Struct(f"=3I{K.AUDIT_BITMASK_SIZE}I{_N}I{_N}I{_N}II")
AUDIT_RULE_DATA_SIZE = _HEAD.size  # 1040
_U32 = 0xFFFFFFFF

#: fields whose value is a string in ``buf`` (values[i] holds its length), as the kernel and auditctl -l
#: treat them.
STRING_FIELDS = frozenset(
    {
        *range(K.AUDIT_SUBJ_USER, K.AUDIT_OBJ_LEV_HIGH + 1),
        K.AUDIT_WATCH,
        K.AUDIT_DIR,
        K.AUDIT_FILTERKEY,
        K.AUDIT_EXE,
    }
) - {K.AUDIT_PPID}

_OPERATORS = {symbol: value for value, symbol in K.OPERATOR_SYMBOLS.items()}
_ELF_MACHINE = {elf: machine for machine, elf in K.MACHINES.items()}
_LIST_NUMBERS = {name: number for number, name in K.LIST_NAMES.items()}
_IO_URING_NUMBERS = {name: number for number, name in K.IO_URING_OPS.items()}
# AUDIT_COMPARE_* by (field, field) number, both orders (libaudit accepts either order).
_COMPARE = {
    (K.FIELD_NUMBERS[left], K.FIELD_NUMBERS[right]): value
    for value, (left, right) in K.FIELD_COMPARISONS.items()
} | {
    (K.FIELD_NUMBERS[right], K.FIELD_NUMBERS[left]): value
    for value, (left, right) in K.FIELD_COMPARISONS.items()
}
# libaudit's audit_determine_machine(): "b32" on a 64-bit machine means this machine.
_MACHINE_32 = {"x86_64": "i386", "ppc64": "ppc", "s390x": "s390", "aarch64": "armeb"}
_ARCH_64BIT = K.AUDIT_ARCH_X86_64 & ~K.AUDIT_ARCH_I386 & 0x80000000  # __AUDIT_ARCH_64BIT
_UNSET = 4294967295


class RuleError(ValueError):
    """A rule or command auditctl refuses; the message is auditctl's."""


# ----------------------------------------------------------------------------------------------------------
# The rule model and its binary form


@dataclass
class RuleField:
    """One field of a rule: ``field`` (AUDIT_* number), ``op`` (AUDIT_EQUAL, ...), ``value`` (u32).

    String fields (path, dir, key, exe, subj_*/obj_* labels) carry their bytes in ``text`` and their length
    in ``value``.
    """

    field: int
    op: int
    value: int
    text: bytes | None = None


@dataclass
class Rule:
    """``struct audit_rule_data`` as a Python object."""

    list: int = K.AUDIT_FILTER_EXIT
    action: int = K.AUDIT_ALWAYS
    mask: list[int] = field(default_factory=lambda: [0] * K.AUDIT_BITMASK_SIZE)
    fields: list[RuleField] = field(default_factory=lambda: [])
    prepend: bool = False

    @property
    def flags(self) -> int:
        return self.list | (K.AUDIT_FILTER_PREPEND if self.prepend else 0)

    @property
    def buf(self) -> bytes:
        return b"".join(f.text for f in self.fields if f.text is not None)

    def encode(self) -> bytes:
        """The ``audit_rule_data`` bytes (1040 + buflen), as auditctl builds them."""
        if len(self.fields) > _N:
            raise RuleError(f"Too many fields in rule: {len(self.fields)}")
        pad = [0] * (_N - len(self.fields))
        buf = self.buf
        head = _HEAD.pack(
            self.flags & _U32,
            self.action & _U32,
            len(self.fields),
            *(w & _U32 for w in self.mask),
            *(f.field & _U32 for f in self.fields),
            *pad,
            *(f.value & _U32 for f in self.fields),
            *pad,
            *(f.op & _U32 for f in self.fields),
            *pad,
            len(buf),
        )
        return head + buf

    @classmethod
    def decode(cls, data: bytes) -> Rule:
        """Parse ``audit_rule_data`` bytes (e.g. one ``AUDIT_LIST_RULES`` reply); padding after buf is ignored."""
        if len(data) < AUDIT_RULE_DATA_SIZE:
            raise ValueError(f"audit_rule_data of {len(data)} bytes, need at least {AUDIT_RULE_DATA_SIZE}")
        words = _HEAD.unpack_from(data)
        flags, action, count = words[0:3]
        nb = K.AUDIT_BITMASK_SIZE
        mask = list(words[3 : 3 + nb])
        fnums = words[3 + nb : 3 + nb + _N]
        values = words[3 + nb + _N : 3 + nb + 2 * _N]
        fflags = words[3 + nb + 2 * _N : 3 + nb + 3 * _N]
        buflen = words[-1]
        if count > _N:
            raise ValueError(f"field_count {count} above {_N}")
        buf = data[AUDIT_RULE_DATA_SIZE : AUDIT_RULE_DATA_SIZE + buflen]
        if len(buf) != buflen:
            raise ValueError(f"buflen {buflen} but only {len(buf)} bytes follow the struct")
        fields: list[RuleField] = []
        offset = 0
        for i in range(count):
            text = None
            if fnums[i] & ~K.AUDIT_OPERATORS in STRING_FIELDS:
                text = buf[offset : offset + values[i]]
                if len(text) != values[i]:
                    raise ValueError(f"field {i}: string of {values[i]} bytes runs past buflen {buflen}")
                offset += values[i]
            fields.append(RuleField(fnums[i], fflags[i], values[i], text))
        if offset != buflen:
            raise ValueError(f"string fields hold {offset} bytes, buflen is {buflen}")
        return cls(
            list=flags & ~K.AUDIT_FILTER_PREPEND,
            action=action,
            mask=mask,
            fields=fields,
            prepend=bool(flags & K.AUDIT_FILTER_PREPEND),
        )

    def field_numbers(self) -> list[int]:
        return [f.field & ~K.AUDIT_OPERATORS for f in self.fields]


def kernel_normalize(data: bytes) -> bytes:
    """What the kernel lists for a rule added with ``data`` (auditctl's bytes).

    The kernel drops AUDIT_FILTER_PREPEND from the flags and replaces the syscall-class bits (the top
    AUDIT_SYSCALL_CLASSES bits of the mask, which auditctl sets only with ``-S all``) by the syscalls of
    those classes - already all set in that case - so it clears them.  Everything else comes back as sent.
    """
    rule = Rule.decode(data)
    rule.prepend = False
    top = K.AUDIT_BITMASK_SIZE * 32
    for i in range(K.AUDIT_SYSCALL_CLASSES):
        bit = top - i - 1
        rule.mask[bit // 32] &= ~(1 << (bit % 32))
    return rule.encode()


# ----------------------------------------------------------------------------------------------------------
# C library semantics the parser needs


def _isdigit(s: str) -> bool:
    return bool(s) and s[0] in "0123456789"


def c_strtol(s: str, base: int = 0, unsigned: bool = False) -> tuple[int, bool]:
    """glibc ``strtol``/``strtoul`` on x86_64 (64-bit long): (value, ERANGE); trailing junk is ignored."""
    i, n = 0, len(s)
    while i < n and s[i] in " \t\n\v\f\r":
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    hexdigits = "0123456789abcdefABCDEF"
    if base in (0, 16) and s[i : i + 2] in ("0x", "0X") and i + 2 < n and s[i + 2] in hexdigits:
        base, i = 16, i + 2
    elif base == 0:
        base = 8 if i < n and s[i] == "0" else 10
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"[:base]
    j = i
    while j < n and s[j].lower() in digits:
        j += 1
    if j == i:
        return 0, False
    mag = int(s[i:j], base)
    if unsigned:
        if mag > 2**64 - 1:
            return 2**64 - 1, True
        return ((-mag) % 2**64 if neg else mag), False
    if neg:
        return (-(2**63), True) if mag > 2**63 else (-mag, False)
    return (2**63 - 1, True) if mag > 2**63 - 1 else (mag, False)


def _strtol(s: str) -> int:
    return c_strtol(s)[0] & _U32


def _strtoul(s: str) -> int:
    return c_strtol(s, unsigned=True)[0] & _U32


def _int32(value: int) -> int:
    value &= _U32
    return value - 2**32 if value & 0x80000000 else value


def detect_machine(uname_machine: str | None = None) -> str | None:
    """libaudit's machine name for ``uname -m`` (audit_detect_machine), None if libaudit has none."""
    name = uname_machine if uname_machine is not None else os.uname().machine
    return K.MACHINE_SPELLINGS.get(name.lower())


def _syscall_numbers(machine: str | None) -> dict[str, int] | None:
    if machine is None:
        return None
    return _syscalls.SYSCALL_NUMBERS.get(K.MACHINE_ARCH[machine])


def _syscall_names(machine: str | None) -> dict[int, str] | None:
    if machine is None:
        return None
    return _syscalls.SYSCALLS.get(K.MACHINE_ARCH[machine])


def _errmsg(number: int, opt: str) -> str:
    """libaudit's audit_number_to_errmsg() text for an -EAU_* code."""
    position, text = K.ERROR_MESSAGES.get(number, (0, f"rule error {number}"))
    if position == 1:
        return f"{opt} {text}"
    if position == 2:
        return f"{text} {opt}"
    return text


# ----------------------------------------------------------------------------------------------------------
# Rules-file lines


def split_rule_line(line: str) -> list[str] | None:
    """A rules-file line as auditctl splits it, or None for a blank or comment line.

    auditctl splits on single spaces only (tabs stay inside tokens), turns ``\\ `` into a space and
    ``\\\\`` into a backslash in every token but the first, and treats a line whose first token starts
    with ``#`` as a comment.  The trailing newline is removed, a carriage return is not.
    """
    line = line.split("\n", 1)[0]
    if not line.lstrip(" "):
        return None
    # preprocess(): mark escaped spaces and backslashes so the split does not see them.
    chars = list(line)
    esc = False
    for i, c in enumerate(chars):
        if c == "\\" and not esc:
            esc = True
        elif esc:
            if c == " ":
                chars[i - 1] = chars[i] = "\x07"
            elif c == "\\":
                chars[i - 1] = chars[i] = "\x04"
            esc = False
    tokens = [t for t in "".join(chars).split(" ") if t]
    if not tokens:
        return None
    if tokens[0].startswith("#"):
        return None
    limit = len(line) // 3  # auditctl's argv array has strlen/3 + 3 slots: "auditctl", the option, NULL
    out = [tokens[0]]
    for tok in tokens[1 : limit + 1]:
        out.append(tok.replace("\x07\x07", " ").replace("\x04\x04", "\\"))
    return out


# ----------------------------------------------------------------------------------------------------------
# Command lines


@dataclass
class Command:
    """What one auditctl command line (or rules-file line) asks for.

    ``actions`` run in order (each a tuple: ``("set", knob, value)``, ``("status", interpret)``,
    ``("list", key, interpret)``, ``("delete_all", key)``, ``("message", text)``, ``("ignore_errors",)``,
    ``("continue_on_errors",)``, ``("reset_lost",)``, ``("reset_backlog_wait_time_actual",)``,
    ``("loginuid_immutable",)``, ``("trim",)``, ``("make_equivalent", mount, subtree)``, ``("signal",
    name)``, ``("version",)``, ``("help",)``); then ``rule`` is added or deleted (``rule_op``).
    ``print_status``: auditctl prints the status after setting a knob (when no rule is sent).
    ``deprecated``: a rule on the ``possible`` action, which auditctl reports and skips.
    """

    rule: Rule | None = None
    rule_op: str | None = None
    actions: list[tuple[object, ...]] = field(default_factory=list)
    print_status: bool = False
    warnings: list[str] = field(default_factory=list)
    deprecated: bool = False


_SHORT = "hicslDvtC:e:f:r:b:a:A:d:S:F:m:R:w:W:k:p:q:"
_LONG = {
    "loginuid-immutable": False,
    "backlog_wait_time": True,
    "reset-lost": False,
    "reset_backlog_wait_time_actual": False,
    "signal": True,
}


#: options without an argument that only queue an action (auditctl's -i, -c, -t, -v and long options)
_FLAG_ACTIONS = {
    "i": "ignore_errors",
    "c": "continue_on_errors",
    "t": "trim",
    "v": "version",
    "--loginuid-immutable": "loginuid_immutable",
    "--reset-lost": "reset_lost",
    "--reset_backlog_wait_time_actual": "reset_backlog_wait_time_actual",
}

_TAKES_ARG = {c: _SHORT[k + 1 : k + 2] == ":" for k, c in enumerate(_SHORT) if c != ":"}


class _Args:
    """GNU getopt_long over argv (argv[0] is the program), with permutation of non-options."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.i = 1
        self.nextchar = ""
        self.nonopts: list[str] = []
        self.current = ""

    def __iter__(self) -> _Args:
        return self

    def __next__(self) -> tuple[str, str | None]:
        takes = _TAKES_ARG
        if not self.nextchar:
            while True:
                if self.i >= len(self.argv):
                    raise StopIteration
                arg = self.argv[self.i]
                if arg == "--":
                    self.nonopts.extend(self.argv[self.i + 1 :])
                    self.i = len(self.argv)
                    raise StopIteration
                if arg.startswith("-") and arg != "-":
                    break
                self.nonopts.append(arg)
                self.i += 1
            self.current = arg
            self.i += 1
            if arg.startswith("--"):
                name, eq, value = arg[2:].partition("=")
                matches = [n for n in _LONG if n == name] or [n for n in _LONG if n.startswith(name)]
                if len(matches) != 1:
                    return "?", None
                name = matches[0]
                if _LONG[name]:
                    if eq:
                        return "--" + name, value
                    if self.i < len(self.argv):
                        self.i += 1
                        return "--" + name, self.argv[self.i - 1]
                    return "?", None
                if eq:
                    return "?", None
                return "--" + name, None
            self.nextchar = arg[1:]
        c, self.nextchar = self.nextchar[0], self.nextchar[1:]
        if c not in takes:
            return "?", None
        if not takes[c]:
            return c, None
        if self.nextchar:
            value, self.nextchar = self.nextchar, ""
            return c, value
        if self.i < len(self.argv):
            self.i += 1
            return c, self.argv[self.i - 1]
        return "?", None

    @property
    def optind(self) -> int:
        return self.i


@dataclass
class _State:
    add: int = AUDIT_FILTER_UNSET
    delete: int = AUDIT_FILTER_UNSET
    action: int = -1
    exclude: bool = False
    multiple: int = 0
    syscall_added: bool = False
    perm_added: bool = False
    arch_added: bool = False
    exe_added: bool = False
    fs_added: bool = False
    elf: int = 0
    key: str = ""
    list_requested: bool = False


def _lookup_list(name: str) -> int | None:
    if name == IO_URING_LIST:
        return K.AUDIT_FILTER_URING_EXIT
    return _LIST_NUMBERS.get(name)


class _Parser:
    def __init__(
        self,
        machine: str | None,
        features: int,
        lineno: int,
        is_dir: Callable[[str], bool],
        lookup_user: Callable[[str], int | None],
        lookup_group: Callable[[str], int | None],
    ) -> None:
        self.machine_name = machine
        self.features = features
        self.lineno = lineno
        self.is_dir = is_dir
        self.lookup_user = lookup_user
        self.lookup_group = lookup_group
        self.st = _State()
        self.rule = Rule(list=0, action=0)
        self.cmd = Command()

    # -- helpers ---------------------------------------------------------------------------------------
    def _host_machine(self) -> str | None:
        return detect_machine(self.machine_name)

    def _elf_machine(self) -> str | None:
        if not self.st.elf:
            return self._host_machine()
        return _ELF_MACHINE.get(self.st.elf)

    def _flags(self) -> int:
        if self.st.add != AUDIT_FILTER_UNSET:
            return self.st.add & AUDIT_FILTER_MASK
        if self.st.delete != AUDIT_FILTER_UNSET:
            return self.st.delete & AUDIT_FILTER_MASK
        return AUDIT_FILTER_UNSET

    def _list_of(self, value: int) -> int:
        return value & (AUDIT_FILTER_MASK | AUDIT_FILTER_UNSET)

    # -- -a / -A / -d ------------------------------------------------------------------------------------
    def _rule_setup(self, opt: str, which: str) -> int:
        """auditctl's audit_rule_setup(): 0 ok, 1 deprecated action, 2 bad keyword, 3 several rules."""
        self.st.multiple += 1
        if self.st.multiple != 1:
            return 3
        first, comma, second = opt.partition(",")
        if not comma or "," in second:
            return 2
        filt = getattr(self.st, which)
        action = self.st.action

        def lookup_action(s: str) -> int:
            nonlocal action
            if s == "always":
                action = K.AUDIT_ALWAYS
            elif s == "never":
                action = K.AUDIT_NEVER
            elif s == "possible":
                return 1
            else:
                return 2
            return 0

        def lookup_filter(s: str) -> int:
            nonlocal filt
            number = _lookup_list(s)
            if number is None:
                return 2
            filt = number
            if number == K.AUDIT_FILTER_EXCLUDE:
                self.st.exclude = True
            return 0

        try:
            if lookup_action(first) == 2:
                rc = lookup_filter(first)
                if rc:
                    return rc
            if filt == AUDIT_FILTER_UNSET:
                lookup_filter(second)
            else:
                rc = lookup_action(second)
                if rc:
                    return rc
            if filt == AUDIT_FILTER_UNSET or action == -1:
                return 2
            return 0
        finally:
            setattr(self.st, which, filt)
            self.st.action = action

    # -- -S ------------------------------------------------------------------------------------------------
    def _syscall_by_name(self, mask: list[int], name: str) -> int:
        """audit_rule_syscallbyname_data(): 0 ok, -1 unknown, -2 no syscall table for the arch."""
        if name == "all":
            mask[:] = [_U32] * K.AUDIT_BITMASK_SIZE
            return 0
        machine = self._elf_machine()
        if machine is None:
            return -2
        table = _syscall_numbers(machine) or {}
        nr = table.get(name.lower(), -1)
        if nr < 0 and _isdigit(name):
            nr = _int32(c_strtol(name)[0])
        if nr < 0:
            return -1
        if nr // 32 > K.AUDIT_BITMASK_SIZE - 1:
            return -1
        mask[nr // 32] |= 1 << (nr % 32)
        return 0

    def _parse_syscalls(self, opt: str) -> int:
        if "," in opt:
            for part in (p for p in opt.split(",") if p):
                rc = self._syscall_by_name(self.rule.mask, part)
                if rc:
                    if rc == -1:
                        raise RuleError(f"Syscall name unknown: {part}")
                    return rc
            return 0
        return self._syscall_by_name(self.rule.mask, opt)

    def _io_uring_by_name(self, name: str) -> int:
        if name == "all":
            self.rule.mask[:] = [_U32] * K.AUDIT_BITMASK_SIZE
            return 0
        nr = _IO_URING_NUMBERS.get(name.lower(), -1)
        if nr < 0 and _isdigit(name):
            nr = _int32(c_strtol(name)[0])
        if nr < 0 or nr // 32 > K.AUDIT_BITMASK_SIZE - 1:
            return -1
        self.rule.mask[nr // 32] |= 1 << (nr % 32)
        return 0

    def _option_S(self, opt: str) -> None:
        st = self.st
        if K.AUDIT_FILTER_URING_EXIT in (self._list_of(st.add), self._list_of(st.delete)):
            for part in [p for p in opt.split(",") if p] if "," in opt else [opt]:
                if self._io_uring_by_name(part):
                    raise RuleError(f"io_uring op unknown: {opt}")
            st.syscall_added = True
            return
        lists = (self._list_of(st.add), self._list_of(st.delete))
        if K.AUDIT_FILTER_TASK in lists:
            raise RuleError("Error: syscall auditing being added to task list")
        if K.AUDIT_FILTER_USER in lists:
            raise RuleError("Error: syscall auditing being added to user list")
        if K.AUDIT_FILTER_FS in lists:
            raise RuleError("Error: syscall auditing being added to filesystem list")
        if st.exclude:
            raise RuleError("Error: syscall auditing cannot be put on exclude list")
        unknown_arch = not st.elf
        if unknown_arch:
            machine = self._host_machine()
            if machine is None:
                raise RuleError("Error detecting machine type")
            st.elf = K.MACHINES[machine]
        rc = self._parse_syscalls(opt)
        if rc == -1:
            raise RuleError(f"Syscall name unknown: {opt}")
        if rc == -2:
            raise RuleError(f"Elf type unknown: 0x{st.elf:x}")
        st.syscall_added = True
        if unknown_arch and st.add != AUDIT_FILTER_UNSET:
            self._check_mismatch(opt)

    def _check_mismatch(self, opt: str) -> None:
        """auditctl's 32/64-bit warning for -S without -F arch (a warning only)."""
        machine = _ELF_MACHINE.get(self.st.elf, "")
        other = _MACHINE_32.get(machine) if machine != "aarch64" else None  # auditctl has no arm case here
        saved = self.st.elf
        if other is not None:
            self.st.elf = K.MACHINES[other]
        mask = [0] * K.AUDIT_BITMASK_SIZE
        for part in (p for p in opt.split(",") if p):
            self._syscall_by_name(mask, part)
        self.st.elf = saved
        # auditctl memcmp()s AUDIT_BITMASK_SIZE *bytes* of the masks: the first 16 words.
        if mask[: K.AUDIT_BITMASK_SIZE // 4] != self.rule.mask[: K.AUDIT_BITMASK_SIZE // 4]:
            where = f" in line {self.lineno}" if self.lineno else ""
            self.cmd.warnings.append(
                f"WARNING - 32/64 bit syscall mismatch{where}, you should specify an arch"
            )

    # -- -F ------------------------------------------------------------------------------------------------
    def _determine_machine(self, arch: str) -> str | None:
        """audit_determine_machine(): the machine for an arch spelling, None where libaudit errs."""
        bits = 0
        if arch.lower() == "b64":
            bits, machine = 64, self._host_machine()
        elif arch.lower() == "b32":
            bits, machine = 32, self._host_machine()
        else:
            machine = K.MACHINE_SPELLINGS.get(arch.lower())
            if machine is None:
                value, erange = c_strtol(arch, 16, unsigned=True)
                if erange:
                    return None
                machine = _ELF_MACHINE.get(value & _U32)
        if machine is None:
            return None
        if bits == 32:
            machine = _MACHINE_32.get(machine, machine)
        if machine in ("i386", "ppc", "s390", "armeb"):
            return None if bits == 64 else machine
        if machine in ("aarch64", "ppc64le"):
            return None if bits == 32 else machine
        if machine in ("x86_64", "ppc64", "s390x"):
            return machine
        return None

    def fieldpair(self, pair: str, flags: int, *, keydep: bool = True) -> None:
        """audit_rule_fieldpair_data(): append one ``-F name op value`` field."""
        rule = self.rule
        if len(rule.fields) >= _N - 1:
            raise RuleError(_errmsg(-28, pair))
        for sym in ("!=", ">=", "<=", "&=", "=", ">", "<", "&"):
            pos = pair.find(sym)
            if pos >= 0:
                name, value, op = pair[:pos], pair[pos + len(sym) :], _OPERATORS[sym]
                break
        else:
            raise RuleError(_errmsg(-1, pair))
        opt = name  # libaudit's message shows the pair cut at the operator
        if not name:
            raise RuleError(_errmsg(-22, opt))
        if not value:
            raise RuleError(_errmsg(-20, opt))
        number = K.FIELD_NUMBERS.get(name.lower())
        if number is None:
            number = K.KERNEL_ONLY_FIELDS.get(name.lower())
        if number is None:
            raise RuleError(_errmsg(-2, opt))
        fnum = number

        if flags == K.AUDIT_FILTER_EXCLUDE:
            if not self.features & K.AUDIT_FEATURE_BITMAP_EXCLUDE_EXTEND:
                if fnum != K.AUDIT_MSGTYPE:
                    raise RuleError(_errmsg(-30, opt))
            elif fnum not in (
                K.AUDIT_PID,
                K.AUDIT_UID,
                K.AUDIT_GID,
                K.AUDIT_LOGINUID,
                K.AUDIT_MSGTYPE,
                *range(K.AUDIT_SUBJ_USER, K.AUDIT_SUBJ_CLR + 1),
                K.AUDIT_EXE,
            ):
                raise RuleError(_errmsg(-12, opt))
        if flags == K.AUDIT_FILTER_FS and not self.features & K.AUDIT_FEATURE_BITMAP_FILTER_FS:
            raise RuleError(_errmsg(-35, opt))

        exit_list = flags in (K.AUDIT_FILTER_EXIT, K.AUDIT_FILTER_URING_EXIT)
        text: bytes | None = None
        st = self.st
        if fnum in (
            K.AUDIT_UID,
            K.AUDIT_EUID,
            K.AUDIT_SUID,
            K.AUDIT_FSUID,
            K.AUDIT_LOGINUID,
            K.AUDIT_OBJ_UID,
        ):
            if _isdigit(value):
                val = _strtoul(value)
            elif len(value) >= 2 and value[0] == "-" and _isdigit(value[1:]):
                val = _strtol(value)
            elif value == "unset":
                val = _UNSET
            else:
                uid = self.lookup_user(value)
                if uid is None:
                    raise RuleError(f"Unknown user: {value}")
                val = uid & _U32
        elif fnum in (K.AUDIT_GID, K.AUDIT_EGID, K.AUDIT_SGID, K.AUDIT_FSGID, K.AUDIT_OBJ_GID):
            if _isdigit(value):
                val = _strtol(value)
            else:
                gid = self.lookup_group(value)
                if gid is None:
                    raise RuleError(f"Unknown group: {value}")
                val = gid & _U32
        elif fnum == K.AUDIT_EXIT:
            if not exit_list:
                raise RuleError(_errmsg(-7, opt))
            if _isdigit(value) or (len(value) >= 2 and value[0] == "-" and _isdigit(value[1:])):
                val = _strtol(value)
            else:
                sign, ename = (-1, value[1:]) if value.startswith("-") else (1, value)
                number = ERRNO_NUMBERS.get(ename.upper(), 0) * sign
                if number == 0:
                    raise RuleError(_errmsg(-15, opt))
                val = number & _U32
        elif fnum == K.AUDIT_MSGTYPE:
            if flags not in (K.AUDIT_FILTER_EXCLUDE, K.AUDIT_FILTER_USER):
                raise RuleError(_errmsg(-9, opt))
            if _isdigit(value):
                val = _strtol(value)
            else:
                mtype = _msg_type_number(value)
                if mtype <= 0:
                    raise RuleError(_errmsg(-8, opt))
                val = mtype
        elif fnum in STRING_FIELDS:
            if fnum in range(K.AUDIT_OBJ_USER, K.AUDIT_OBJ_LEV_HIGH + 1) or fnum in (
                K.AUDIT_WATCH,
                K.AUDIT_DIR,
            ):
                if not exit_list:
                    raise RuleError(_errmsg(-7, opt))
                if fnum in (K.AUDIT_WATCH, K.AUDIT_DIR):
                    st.perm_added = True
            if fnum == K.AUDIT_EXE:
                if not self.features & K.AUDIT_FEATURE_BITMAP_EXECUTABLE_PATH:
                    raise RuleError(_errmsg(-30, opt))
                if op not in (K.AUDIT_NOT_EQUAL, K.AUDIT_EQUAL):
                    raise RuleError(_errmsg(-13, opt))
                st.exe_added = True
            if (
                fnum == K.AUDIT_FILTERKEY
                and keydep
                and not (st.syscall_added or st.perm_added or st.exe_added or st.fs_added)
            ):
                raise RuleError(_errmsg(-19, opt))
            text = value.encode("utf-8", "surrogateescape")
            if fnum == K.AUDIT_FILTERKEY and len(text) > K.AUDIT_MAX_KEY_LEN or len(text) > K.PATH_MAX:
                raise RuleError(_errmsg(-11, opt))
            val = len(text)
        elif fnum == K.AUDIT_ARCH:
            if st.syscall_added:
                raise RuleError(_errmsg(-3, opt))
            if op not in (K.AUDIT_NOT_EQUAL, K.AUDIT_EQUAL):
                raise RuleError(_errmsg(-13, opt))
            if _isdigit(value):
                elf, erange = c_strtol(value, unsigned=True)
                if erange or (elf & _U32) not in _ELF_MACHINE:
                    raise RuleError(_errmsg(-5, opt))
                st.elf = elf & _U32
            else:
                machine = self._determine_machine(value)
                if machine is None:
                    raise RuleError(_errmsg(-5, opt))
                st.elf = K.MACHINES[machine]
            val = st.elf
            st.arch_added = True
        elif fnum == K.AUDIT_PERM:
            if not exit_list:
                raise RuleError(_errmsg(-7, opt))
            if op != K.AUDIT_EQUAL:
                raise RuleError(_errmsg(-29, opt))
            if len(value) > 4:
                raise RuleError(_errmsg(-11, opt))
            val = _perm_bits(value)
            if val is None:
                raise RuleError(_errmsg(-14, opt))
        elif fnum == K.AUDIT_FILETYPE:
            if not exit_list:
                raise RuleError(_errmsg(-7, opt))
            ftype = _FILE_TYPE_NUMBERS.get(value.lower())
            if ftype is None:
                raise RuleError(_errmsg(-16, opt))
            val = ftype
        elif fnum == K.AUDIT_FSTYPE:
            if flags != K.AUDIT_FILTER_FS:
                raise RuleError(_errmsg(-34, opt))
            if op not in (K.AUDIT_NOT_EQUAL, K.AUDIT_EQUAL):
                raise RuleError(_errmsg(-13, opt))
            val = _strtoul(value) if _isdigit(value) else _FS_TYPE_NUMBERS.get(value.lower(), _U32)
            if val == _U32:
                raise RuleError(_errmsg(-36, opt))
            st.fs_added = True
        elif K.AUDIT_ARG0 <= fnum <= K.AUDIT_ARG3:
            if _isdigit(value):
                val = _strtoul(value)
            elif len(value) >= 2 and value[0] == "-" and _isdigit(value[1:]):
                val = _strtol(value)
            else:
                raise RuleError(_errmsg(-21, opt))
        elif fnum == K.AUDIT_SESSIONID:
            if not self.features & K.AUDIT_FEATURE_BITMAP_SESSIONID_FILTER:
                raise RuleError(_errmsg(-30, opt))
            if flags not in (K.AUDIT_FILTER_EXCLUDE, K.AUDIT_FILTER_USER, K.AUDIT_FILTER_EXIT):
                raise RuleError(_errmsg(-31, opt))
            if _isdigit(value):
                val = _strtoul(value)
            elif len(value) >= 2 and value[0] == "-" and _isdigit(value[1:]):
                val = _strtol(value)
            elif value == "unset":
                val = _UNSET
            else:
                val = 0  # libaudit leaves the (zeroed) value as it is
        elif fnum == K.AUDIT_SADDR_FAM:
            val = _strtoul(value)
            if val >= K.AF_MAX:
                raise RuleError(_errmsg(-37, opt))
        else:
            if fnum in (K.AUDIT_DEVMAJOR, K.AUDIT_DEVMINOR, K.AUDIT_INODE, K.AUDIT_SUCCESS) and not exit_list:
                raise RuleError(_errmsg(-7, opt))
            if fnum == K.AUDIT_INODE and op not in (K.AUDIT_NOT_EQUAL, K.AUDIT_EQUAL):
                raise RuleError(_errmsg(-13, opt))
            if fnum == K.AUDIT_PPID and not exit_list:
                raise RuleError(_errmsg(-7, opt))
            if not _isdigit(value):
                raise RuleError(_errmsg(-21, opt))
            val = _strtoul(value) if fnum == K.AUDIT_INODE else _strtol(value)
        rule.fields.append(RuleField(fnum, op, val, text))

    def interfield(self, pair: str, flags: int) -> None:
        """audit_rule_interfield_comp_data(): ``-C field op field``."""
        if len(self.rule.fields) >= _N - 1:
            raise RuleError(_errmsg(-28, pair))
        pos = pair.find("!=")
        if pos >= 0:
            left, right, op = pair[:pos], pair[pos + 2 :], K.AUDIT_NOT_EQUAL
        else:
            pos = pair.find("=")
            if pos < 0:
                raise RuleError(_errmsg(-13, pair))
            left, right, op = pair[:pos], pair[pos + 1 :], K.AUDIT_EQUAL
        if not left:
            raise RuleError(_errmsg(-24, left))
        if not right:
            raise RuleError(_errmsg(-25, left))
        f1 = K.FIELD_NUMBERS.get(left.lower())
        if f1 is None:
            raise RuleError(_errmsg(-26, left))
        f2 = K.FIELD_NUMBERS.get(right.lower())
        if f2 is None:
            raise RuleError(_errmsg(-27, left))
        if flags != K.AUDIT_FILTER_EXIT:
            raise RuleError(_errmsg(-7, left))
        value = _COMPARE.get((f1, f2))
        if value is None:
            raise RuleError(_errmsg(-33, left))
        self.rule.fields.append(RuleField(K.AUDIT_FIELD_COMPARE, op, value))

    # -- -w / -W / -p -----------------------------------------------------------------------------------
    def _watch(self, path: str) -> None:
        if len(path.encode("utf-8", "surrogateescape")) >= K.PATH_MAX:
            raise RuleError("The path passed for the watch is too big")
        if not path.startswith("/"):
            raise RuleError("The path must start with '/'")
        base = os.path.basename(path.rstrip("/")) or "/"
        if len(base.encode("utf-8", "surrogateescape")) > K.NAME_MAX:
            raise RuleError("The base name of the path is too big")
        if ".." in path:
            self.cmd.warnings.append("Warning - relative path notation is not supported")
        if "*" in path or "?" in path:
            self.cmd.warnings.append("Warning - wildcard notation is not supported")
        if len(path) > 2 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        ftype = K.AUDIT_DIR if self.is_dir(path) else K.AUDIT_WATCH
        if self.rule.fields:
            raise RuleError("Rule is not empty")
        text = path.encode("utf-8", "surrogateescape")
        all_perms = K.AUDIT_PERM_READ | K.AUDIT_PERM_WRITE | K.AUDIT_PERM_EXEC | K.AUDIT_PERM_ATTR
        self.rule = Rule(
            list=K.AUDIT_FILTER_EXIT,
            action=K.AUDIT_ALWAYS,
            mask=[_U32] * K.AUDIT_BITMASK_SIZE,
            fields=[
                RuleField(ftype, K.AUDIT_EQUAL, len(text), text),
                RuleField(K.AUDIT_PERM, K.AUDIT_EQUAL, all_perms),
            ],
        )
        self.st.perm_added = True

    def _perms(self, opt: str) -> None:
        if len(opt) > 4:
            raise RuleError(f"permission {opt} is too long")
        val = 0
        for c in opt:
            bit = _PERM_LETTERS.get(c.lower())
            if bit is None:
                raise RuleError(f"Permission {c} isn't supported")
            val |= bit
        fields = self.rule.fields
        if not fields:
            raise RuleError("Permissions should be preceeded by other fields")
        found = False
        for f in fields:
            if f.field == K.AUDIT_PERM:
                f.value = val
                found = True
        if not found:
            if len(fields) >= _N - 1:
                raise RuleError("Too many fields when adding permissions")
            fields.append(RuleField(K.AUDIT_PERM, K.AUDIT_EQUAL, val))
        self.st.perm_added = True

    def _add_key(self, opt: str) -> None:
        key = self.st.key
        if len(opt) + len(key) + (1 if key else 0) > K.AUDIT_MAX_KEY_LEN:
            raise RuleError("key option exceeds size limit")
        if chr(AUDIT_KEY_SEPARATOR) in opt:
            self.cmd.warnings.append(f"key {opt} has illegal character")
        self.st.key = key + chr(AUDIT_KEY_SEPARATOR) + opt if key else opt

    # -- the whole command line ---------------------------------------------------------------------------
    def run(self, argv: list[str]) -> Command:
        st, cmd = self.st, self.cmd
        count = len(argv)
        args = _Args(argv)
        retval = 0
        stopped = False
        while True:
            if retval < 0:
                stopped = True
                break
            try:
                opt, optarg = next(args)
            except StopIteration:
                break
            if opt in _FLAG_ACTIONS:  # options that only ask for an action
                cmd.actions.append((_FLAG_ACTIONS[opt],))
                retval = -2
            elif opt == "h":
                cmd.actions.append(("help",))
                retval = -1
            elif opt == "s":
                interpret = False
                if count > 3:
                    raise RuleError("Too many options for status command")
                if args.optind == 2 and count == 3:
                    if argv[2] != "-i":
                        raise RuleError("Only -i option is allowed")
                    interpret = True
                    count -= 1
                cmd.actions.append(("status", interpret))
                retval = -2
            elif opt in ("e", "f"):
                if optarg not in ("0", "1", "2"):
                    what = "Enable" if opt == "e" else "Failure"
                    raise RuleError(f"{what} must be 0, 1, or 2 was {optarg}")
                cmd.actions.append(("set", "enabled" if opt == "e" else "failure", int(optarg)))
                cmd.print_status = True
            elif opt in ("r", "b", "--backlog_wait_time"):
                knob, what = {
                    "r": ("rate_limit", "Rate"),
                    "b": ("backlog_limit", "Backlog"),
                    "--backlog_wait_time": ("backlog_wait_time", "Backlog_wait_time"),
                }[opt]
                assert optarg is not None
                if not _isdigit(optarg):
                    raise RuleError(f"{what} must be a numeric value was {optarg}")
                value, erange = c_strtol(optarg, unsigned=True)
                if erange:
                    noun = {"r": "rate", "b": "backlog"}.get(opt, "backlog_wait_time")
                    raise RuleError(f"Error converting {noun}")
                cmd.actions.append(("set", knob, value & _U32))
                cmd.print_status = True
            elif opt == "l":
                key, interpret = "", False
                if count > 4:
                    raise RuleError("Wrong number of options for list request")
                if count == 3:
                    if argv[args.optind] != "-i":
                        raise RuleError("Only -k or -i options are allowed")
                    interpret = True
                    count -= 1
                elif count == 4:
                    if args.optind >= len(argv) or argv[args.optind] != "-k":
                        raise RuleError("Only -k or -i options are allowed")
                    key = argv[3][: K.AUDIT_MAX_KEY_LEN]
                    count -= 2
                cmd.actions.append(("list", key, interpret))
                st.list_requested = True
                retval = -2
            elif opt in ("a", "A"):
                assert optarg is not None
                if "task" in optarg and st.syscall_added:
                    raise RuleError(
                        "Syscall auditing requested for task list"
                        if opt == "a"
                        else "Error: syscall auditing requested for task list"
                    )
                rc = self._rule_setup(optarg, "add")
                if rc == 3:
                    raise RuleError("Multiple rule insert/delete operations are not allowed")
                if rc == 2:
                    raise RuleError(f"{'Append' if opt == 'a' else 'Add'} rule - bad keyword {optarg}")
                if rc == 1:
                    cmd.warnings.append("Append rule - possible is deprecated")
                    cmd.deprecated = True
                    return cmd
                if opt == "A":
                    st.add |= K.AUDIT_FILTER_PREPEND
                retval = 1
            elif opt == "d":
                assert optarg is not None
                rc = self._rule_setup(optarg, "delete")
                if rc == 3:
                    raise RuleError("Multiple rule insert/delete operations are not allowed")
                if rc == 2:
                    raise RuleError(f"Delete rule - bad keyword {optarg}")
                if rc == 1:
                    cmd.warnings.append("Delete rule - possible is deprecated")
                    cmd.deprecated = True
                    return cmd
                retval = 1
            elif opt == "S":
                assert optarg is not None
                self._option_S(optarg)
            elif opt == "F":
                assert optarg is not None
                flags = self._flags()
                if flags == AUDIT_FILTER_UNSET and (
                    args.optind >= count or "arch=" not in optarg or argv[args.optind] != "-t"
                ):
                    raise RuleError("List must be given before field")
                if optarg.startswith("key="):
                    self._add_key(optarg[4:])
                else:
                    self.fieldpair(optarg, flags)
            elif opt == "C":
                assert optarg is not None
                self.interfield(optarg, self._flags())
            elif opt == "m":
                assert optarg is not None
                if count > 3:
                    raise RuleError("The -m option must be only the only option and takes 1 parameter")
                if any(ord(c) < 32 for c in optarg):
                    raise RuleError("Illegal character in audit event")
                cmd.actions.append(("message", optarg))
                retval = -2
            elif opt == "R":
                raise RuleError("Error - nested rule files not supported")
            elif opt == "D":
                key = ""
                if count > 4 or count == 3:
                    raise RuleError("Wrong number of options for Delete all request")
                if count == 4:
                    if argv[args.optind] != "-k":
                        raise RuleError("Only the -k option is allowed")
                    key = argv[3][: K.AUDIT_MAX_KEY_LEN]
                    count -= 2
                cmd.actions.append(("delete_all", key))
                retval = -2
            elif opt == "w":
                assert optarg is not None
                if st.add != AUDIT_FILTER_UNSET or st.delete != AUDIT_FILTER_UNSET:
                    raise RuleError("watch option can't be given with a syscall")
                st.add, st.action, st.syscall_added = K.AUDIT_FILTER_EXIT, K.AUDIT_ALWAYS, True
                self._watch(optarg)
                retval = 1
            elif opt == "W":
                assert optarg is not None
                st.delete, st.action, st.syscall_added = K.AUDIT_FILTER_EXIT, K.AUDIT_ALWAYS, True
                self._watch(optarg)
                retval = 1
            elif opt == "k":
                assert optarg is not None
                if not (st.syscall_added or st.perm_added or st.exe_added or st.fs_added) or (
                    st.add == AUDIT_FILTER_UNSET and st.delete == AUDIT_FILTER_UNSET
                ):
                    raise RuleError("key option needs a watch or syscall given prior to it")
                self._add_key(optarg)
            elif opt == "p":
                assert optarg is not None
                if st.add == AUDIT_FILTER_UNSET and st.delete == AUDIT_FILTER_UNSET:
                    raise RuleError("permission option needs a watch given prior to it")
                self._perms(optarg)
                retval = 1
            elif opt == "q":
                assert optarg is not None
                if st.syscall_added:
                    raise RuleError("Syscall auditing requested for make equivalent")
                mount, comma, sub = optarg.partition(",")
                if not comma or not sub or "," in sub:
                    raise RuleError("Error parsing equivalent parts")
                cmd.actions.append(("make_equivalent", mount, sub))
                retval = -2
            elif opt == "--signal":
                assert optarg is not None
                if optarg.upper() not in ("TERM", "HUP", "USR1", "USR2", "CONT"):
                    raise RuleError(f"{optarg} is an unsupported signal")
                cmd.actions.append(("signal", optarg.upper()))
                retval = -2
            else:
                bad = args.current if args.optind >= 2 else " "
                if self.lineno:
                    raise RuleError(f"Option {bad} on line {self.lineno} is invalid")
                raise RuleError(f"Option {bad} is invalid")
        # Arguments left over: non-options (GNU getopt moves them to the end), or options after one that
        # ends the command (-s, -l, -D, -i, -c, -v, ...), less what -s/-l/-D took as their own.
        leftover = (args.optind < count or bool(args.nextchar)) if stopped else bool(args.nonopts)
        if leftover and retval != -1:
            raise RuleError("parameter passed without an option given")

        if st.key and not st.list_requested:
            self.fieldpair("key=" + st.key, self._flags() if self._flags() != AUDIT_FILTER_UNSET else 0)

        if retval > 0:
            rule = self.rule
            if st.add != AUDIT_FILTER_UNSET:
                flags, cmd.rule_op = st.add, "add"
            elif st.delete != AUDIT_FILTER_UNSET:
                flags, cmd.rule_op = st.delete, "delete"
            else:
                raise RuleError("a rule needs a list: -a, -A or -d")
            if flags & AUDIT_FILTER_MASK != K.AUDIT_FILTER_TASK and not st.syscall_added:
                rule.mask = [_U32] * K.AUDIT_BITMASK_SIZE
            rule.list = flags & ~K.AUDIT_FILTER_PREPEND & 0xFF
            rule.prepend = bool(flags & K.AUDIT_FILTER_PREPEND)
            rule.action = st.action
            cmd.rule = rule
            cmd.print_status = False
        elif retval == 0 and st.syscall_added:
            raise RuleError("Error - no list specified")
        return cmd


_PERM_LETTERS = {
    "r": K.AUDIT_PERM_READ,
    "w": K.AUDIT_PERM_WRITE,
    "x": K.AUDIT_PERM_EXEC,
    "a": K.AUDIT_PERM_ATTR,
}
_FILE_TYPE_NUMBERS = {name: number for number, name in K.FILE_TYPES.items()}
_FS_TYPE_NUMBERS = {name: number for number, name in K.FS_TYPES.items()}


def _perm_bits(text: str) -> int | None:
    val = 0
    for c in text:
        bit = _PERM_LETTERS.get(c.lower())
        if bit is None:
            return None
        val |= bit
    return val


def _msg_type_number(name: str) -> int:
    """libaudit's audit_name_to_msg_type(): names (any case), ``UNKNOWN[n]``, or digits."""
    number = MSG_NUMBERS.get(name.upper())
    if number in LIBAUDIT_TYPES and MSG_TYPES[number] == name.upper():  # libaudit's own names only
        return number
    if name.startswith("UNKNOWN["):
        end = name.find("]", 8)
        if end < 0:
            return -1
        return _int32(c_strtol(name[8:end][:7], 10)[0])
    if _isdigit(name):
        return _int32(c_strtol(name, 10)[0])
    return -1


def _lookup_user(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _lookup_group(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def _is_dir(path: str) -> bool:
    try:
        return stat_mod.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def parse_args(
    argv: list[str],
    *,
    lineno: int = 0,
    machine: str | None = None,
    features: int = K.AUDIT_FEATURE_BITMAP_ALL,
    is_dir: Callable[[str], bool] = _is_dir,
    lookup_user: Callable[[str], int | None] = _lookup_user,
    lookup_group: Callable[[str], int | None] = _lookup_group,
) -> Command:
    """Parse auditctl options (``argv`` without the program name) as auditctl 3.0.9 does.

    ``machine``: the ``uname -m`` to assume (default: this host's); it picks the syscall table when no
    ``-F arch=`` precedes ``-S`` and what ``b32``/``b64`` mean.  ``features``: the kernel's
    ``feature_bitmap`` (AUDIT_GET), which decides whether ``exe``, ``sessionid``, extended exclude rules
    and the filesystem list are allowed (default: all).  ``is_dir``, ``lookup_user``, ``lookup_group``:
    how ``-w`` tells directories from files and how user and group names resolve (default: this host).
    Raises :class:`RuleError` with auditctl's message.
    """
    parser = _Parser(machine, features, lineno, is_dir, lookup_user, lookup_group)
    return parser.run(["auditctl", *argv])


def parse_rule(text: str | list[str], **kwargs: object) -> Rule:
    """One rule (``-a``/``-A``/``-d``/``-w``/``-W`` line) -> :class:`Rule`; anything else is an error."""
    argv = split_rule_line(text) if isinstance(text, str) else list(text)
    if not argv:
        raise RuleError("empty rule")
    cmd = parse_args(argv, **kwargs)  # type: ignore[arg-type]
    if cmd.rule is None:
        raise RuleError(f"not a rule: {' '.join(argv)}")
    return cmd.rule


# ----------------------------------------------------------------------------------------------------------
# auditctl -l


@dataclass
class ListingState:
    """auditctl -l keeps the arch of the last printed rule that had one (its ``_audit_elf``) and uses it
    for the syscall names of following rules without one; this carries it from rule to rule."""

    elf: int = 0
    machine: str | None = None  # uname -m; None: this host


def _op(op: int) -> str:
    return K.OPERATOR_SYMBOLS.get(op & K.AUDIT_OPERATORS, "(null)")


def _is_watch(rule: Rule) -> bool:
    perm = False
    for f in rule.field_numbers():
        if f == K.AUDIT_PERM:
            perm = True
        if f not in (K.AUDIT_PERM, K.AUDIT_FILTERKEY, K.AUDIT_DIR, K.AUDIT_WATCH):
            return False
    everything = True
    if rule.list not in (K.AUDIT_FILTER_USER, K.AUDIT_FILTER_TASK, K.AUDIT_FILTER_EXCLUDE, K.AUDIT_FILTER_FS):
        everything = all(w == _U32 for w in rule.mask[: K.AUDIT_BITMASK_SIZE - 1])
    return perm and everything


def _list_name(number: int) -> str:
    if number == K.AUDIT_FILTER_URING_EXIT:
        return IO_URING_LIST
    return K.LIST_NAMES.get(number, "(null)")


def format_rule(rule: Rule, interpret: bool = False, state: ListingState | None = None) -> str:
    """One rule as ``auditctl -l`` prints it (without the newline)."""
    state = state if state is not None else ListingState()
    host = detect_machine(state.machine)
    out: list[str] = []
    watch = _is_watch(rule)
    if not watch:
        out.append(f"-a {K.ACTION_NAMES.get(rule.action, '(null)')},{_list_name(rule.list)}")
        for f in rule.fields:
            if f.field & ~K.AUDIT_OPERATORS == K.AUDIT_ARCH:
                state.elf = f.value
                machine = _ELF_MACHINE.get(f.value)
                if machine is None:
                    out.append(f" -F arch{_op(f.op)}0x{f.value:X}")
                elif interpret:
                    out.append(f" -F arch{_op(f.op)}{machine}")
                else:
                    out.append(f" -F arch{_op(f.op)}{'b64' if f.value & _ARCH_64BIT else 'b32'}")
        _format_syscalls(rule, state, host, out)

    for f in rule.fields:
        fnum = f.field & ~K.AUDIT_OPERATORS
        op = _op(f.op)
        if fnum == K.AUDIT_ARCH:
            continue
        name = K.FIELD_NAMES.get(fnum)
        text = (f.text or b"").split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if name is None:
            out.append(f" f{_int32(f.field)}{op}{_int32(f.value)}")
        elif fnum == K.AUDIT_MSGTYPE:
            v = _int32(f.value)
            out.append(f" -F {name}{op}{MSG_TYPES[v] if v in LIBAUDIT_TYPES else v}")
        elif fnum in STRING_FIELDS and fnum not in (
            K.AUDIT_WATCH,
            K.AUDIT_DIR,
            K.AUDIT_EXE,
            K.AUDIT_FILTERKEY,
        ):
            out.append(f" -F {name}{op}{text}")
        elif fnum in (K.AUDIT_WATCH, K.AUDIT_DIR):
            out.append(f"-w {text}" if watch else f" -F {name}={text}")
        elif fnum == K.AUDIT_EXE:
            out.append(f" -F exe={text}")
        elif fnum == K.AUDIT_FILTERKEY:
            for key in (k for k in text.split(chr(AUDIT_KEY_SEPARATOR)) if k):
                out.append(f" -k {key}" if watch else f" -F key={key}")
        elif fnum == K.AUDIT_PERM:
            perms = "".join(c for c, bit in _PERM_LETTERS.items() if f.value & bit)
            out.append(f" -p {perms}" if watch else f" -F perm={perms}")
        elif fnum == K.AUDIT_INODE:
            out.append(f" -F {name}{op}{f.value}")
        elif fnum == K.AUDIT_FIELD_COMPARE:
            pair = K.FIELD_COMPARISONS.get(f.value)
            if pair is not None:
                out.append(f" -C {pair[0]}{op}{pair[1]}")
        elif K.AUDIT_ARG0 <= fnum <= K.AUDIT_ARG3:
            out.append(f" -F {name}{op}0x{f.value:X}")
        elif fnum == K.AUDIT_EXIT:
            value = _int32(f.value)
            err = ERRNO_NAMES.get(abs(value))
            if value < 0 and err:
                out.append(f" -F {name}{op}-{err}")
            else:
                out.append(f" -F {name}{op}{value}")
        elif fnum == K.AUDIT_FSTYPE:
            out.append(f" -F {name}{op}{K.FS_TYPES.get(f.value, _int32(f.value))}")
        elif fnum in (K.AUDIT_LOGINUID, K.AUDIT_SESSIONID) and interpret and f.value == _U32:
            out.append(f" -F {name}{op}unset")
        else:
            out.append(f" -F {name}{op}{_int32(f.value)}")
    return "".join(out)


def _format_syscalls(rule: Rule, state: ListingState, host: str | None, out: list[str]) -> int:
    if rule.list in (K.AUDIT_FILTER_USER, K.AUDIT_FILTER_TASK, K.AUDIT_FILTER_EXCLUDE, K.AUDIT_FILTER_FS):
        return 0
    if all(w == _U32 for w in rule.mask[: K.AUDIT_BITMASK_SIZE - 1]):
        out.append(" -S all")
        return K.AUDIT_BITMASK_SIZE - 1
    if rule.list == K.AUDIT_FILTER_URING_EXIT:
        names: dict[int, str] | None = K.IO_URING_OPS
    else:
        machine = _ELF_MACHINE.get(state.elf) if state.elf else host
        names = _syscall_names(machine)
    numbers = [i for i in range(K.AUDIT_BITMASK_SIZE * 32) if rule.mask[i // 32] & (1 << (i % 32))]
    if numbers:
        out.append(" -S " + ",".join((names or {}).get(i, str(i)) for i in numbers))
    return len(numbers)


def format_rules(rules: Iterable[Rule], interpret: bool = False, machine: str | None = None) -> str:
    """``auditctl -l`` output for rules in kernel order: one line each, or ``No rules``."""
    state = ListingState(machine=machine)
    lines = [format_rule(r, interpret, state) for r in rules]
    if not lines:
        return "No rules\n"
    return "".join(line + "\n" for line in lines)
