"""auditsql's own tables: ``audit_events`` (every event), ``audit_loss`` (loss over time), and the live tables
``audit_status`` and ``audit_rules`` read from the kernel when a query uses them."""

from __future__ import annotations

import errno as _errno

from auditsql.tables.registry import COMMON_EVENT_COLUMNS, Column, Table, register

__all__ = [
    "AUDIT_EVENTS",
    "AUDIT_LOSS",
    "AUDIT_STATUS",
    "AUDIT_RULES",
    "LiveTableError",
    "loss_row",
    "status_rows",
    "rules_rows",
]

AUDIT_EVENTS = register(
    Table(
        name="audit_events",
        description="Every audit event, of any type, with all its records: nothing the kernel (or a log) "
        "sent is unqueryable. `sections` holds the typed record sections and `raw` the exact record texts "
        "(see docs/event-json.md); use SQLite's JSON functions on them, e.g. "
        "`json_extract(sections, '$.PATH[0].name')`.",
        columns=(
            Column(
                "type",
                "TEXT",
                "`SYSCALL` for a syscall event, else the first record's type name (`summary.type`)",
                index=True,
            ),
            Column(
                "types",
                "TEXT",
                "The event's record type names, comma separated, in order of first "
                "arrival (`SYSCALL,EXECVE,CWD,PATH,PROCTITLE`; `EOE` not listed)",
            ),
            Column("record_count", "INTEGER", "Number of records (EOE included)"),
            Column("node", "TEXT", "The records' `node=` name, or NULL"),
            Column("syscall", "TEXT", "Syscall name of a syscall event", index=True),
            Column(
                "success",
                "INTEGER",
                "1 if the syscall (or the user-space operation, `res=`) succeeded, 0 "
                "if it failed, NULL if not said",
            ),
            Column("pid", "BIGINT", "Process ID (SYSCALL record, or the first record)", index=True),
            Column("auid", "BIGINT", "Audit user ID (SYSCALL record, or the first record)"),
            Column("key", "TEXT", "Key of the audit rule that recorded the event", index=True),
            Column(
                "closed_by",
                "TEXT",
                "How the event was closed: `eoe`, `single`, `window`, `flush`, `late`, `error`",
            ),
            Column(
                "blob",
                "BLOB",
                "The event's records, exact, compressed (zstd with a dictionary trained on audit records; "
                "docs/store.md). Read it with `audit_raw(blob)`, `audit_json(blob)`, `audit_field(blob, type, "
                "field)`",
            ),
            Column(
                "summary",
                "TEXT",
                "JSON object: the event's `summary` (docs/event-json.md), derived from `blob`",
                derived="audit_summary(blob)",
            ),
            Column(
                "sections",
                "TEXT",
                "JSON object: the typed record sections, keyed by record type name, derived from `blob` (user "
                "and group names only where the records carried them)",
                derived="audit_sections(blob)",
            ),
            Column(
                "raw",
                "TEXT",
                "JSON array: every record's exact text, in arrival order (a text that is not UTF-8 as "
                '`{"base64": ...}`), derived from `blob`',
                derived="audit_raw_json(blob)",
            ),
            *COMMON_EVENT_COLUMNS,
        ),
    )
)

AUDIT_LOSS = register(
    Table(
        name="audit_loss",
        description="Loss accounting of live runs over time: one row per observed loss (the kernel's `lost` "
        "counter going up, serial numbers that never arrived, socket overruns, truncated messages, records "
        "dropped by the reader).",
        kind="internal",
        columns=(
            Column("time", "BIGINT", "When the loss was observed, UNIX time", index=True),
            Column(
                "cause",
                "TEXT",
                "`kernel_lost`, `serial_gap`, `enobufs`, `truncated`, `queue_drop`; `proc_connector` (fork and exit "
                "notices of the process tree's proc connector dropped by the kernel); `output_drop` (an output's "
                "buffer overflowed) or `spool_drop` (the NATS spool was full); `store_full` (events the store "
                "could not take, its file system full: one row per outage, written once it could be written "
                "again); `journal_torn` (a record the journal held was cut short by a kill: auditsql run's next "
                "start cut it off); `retention` (rows retention deleted: not a loss)",
                index=True,
            ),
            Column("count", "BIGINT", "How many records were lost"),
            Column("detail", "TEXT", "Details (e.g. the missing serial numbers), or NULL"),
        ),
    )
)

AUDIT_STATUS = register(
    Table(
        name="audit_status",
        description="The kernel's audit status, read when queried (what `auditctl -s` prints). Needs "
        "root (CAP_AUDIT_CONTROL).",
        kind="live",
        columns=(
            Column("enabled", "INTEGER", "0 disabled, 1 enabled, 2 enabled and locked until reboot"),
            Column("failure", "INTEGER", "Failure mode: 0 silent, 1 printk, 2 panic"),
            Column("pid", "BIGINT", "PID of the registered audit daemon, 0 if none"),
            Column("rate_limit", "BIGINT", "Messages per second limit, 0 for none"),
            Column("backlog_limit", "BIGINT", "Maximum number of queued records"),
            Column("lost", "BIGINT", "Records the kernel dropped since boot (or the last reset)"),
            Column("backlog", "BIGINT", "Records queued now"),
            Column("backlog_wait_time", "BIGINT", "How long a task waits when the backlog is full (jiffies)"),
            Column(
                "backlog_wait_time_actual",
                "BIGINT",
                "Total time tasks waited on a full backlog (jiffies); NULL on kernels without it",
            ),
            Column("feature_bitmap", "BIGINT", "Kernel audit features (AUDIT_FEATURE_BITMAP_*)"),
            Column(
                "loginuid_immutable",
                "INTEGER",
                "1 if login uids cannot be changed once set; NULL if the kernel lacks the feature",
            ),
            Column("loginuid_immutable_locked", "INTEGER", "1 if that setting is locked"),
        ),
    )
)

AUDIT_RULES = register(
    Table(
        name="audit_rules",
        description="The kernel's audit rules, read when queried, one row per rule in kernel order, written "
        "as `auditctl -l` writes them. Needs root (CAP_AUDIT_CONTROL).",
        kind="live",
        columns=(
            Column("number", "INTEGER", "Position in the kernel's rule list, from 1"),
            Column(
                "list", "TEXT", "The filter list: `exit`, `user`, `task`, `exclude`, `filesystem`, `io_uring`"
            ),
            Column("action", "TEXT", "`always` or `never`"),
            Column("rule", "TEXT", "The rule exactly as `auditctl -l` prints it"),
            Column("key", "TEXT", "The rule's key (several joined by commas), or NULL"),
        ),
    )
)


class LiveTableError(Exception):
    """A live table could not be read; ``str()`` is one line naming the cause and the fix."""


def loss_row(rec: dict) -> tuple:
    t = rec.get("time")
    return (
        int(t) if isinstance(t, (int, float)) else None,
        rec.get("cause"),
        rec.get("count"),
        rec.get("detail"),
    )


def token_text(token: str | None) -> str | None:
    """Text that may hold surrogate escapes (bytes that were not UTF-8) → valid text (``\\xNN``)."""
    if token is None:
        return None
    try:
        token.encode("utf-8")
    except UnicodeEncodeError:
        return token.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return token


def _kernel_error(table: str, exc: OSError) -> LiveTableError:
    code = exc.errno
    if code in (_errno.EPERM, _errno.EACCES):
        return LiveTableError(
            f"cannot read {table} from the kernel: permission denied (run as root: it needs "
            "CAP_AUDIT_CONTROL)"
        )
    if code in (_errno.EPROTONOSUPPORT, _errno.ECONNREFUSED, _errno.EAFNOSUPPORT):
        return LiveTableError(f"cannot read {table}: this kernel has no audit support")
    return LiveTableError(f"cannot read {table} from the kernel: {exc.strerror or exc}")


def status_rows() -> list[tuple]:
    from auditsql.kernel.netlink import AuditSocket
    from auditsql.kernel.status import AUDIT_FEATURE_LOGINUID_IMMUTABLE, get_features, get_status

    try:
        with AuditSocket() as sock:
            st = get_status(sock)
            try:
                feats = get_features(sock)
            except OSError:
                feats = None
    except OSError as exc:
        raise _kernel_error("audit_status", exc) from exc
    immutable = locked = None
    if feats is not None and feats.supports(AUDIT_FEATURE_LOGINUID_IMMUTABLE):
        immutable = int(feats.is_set(AUDIT_FEATURE_LOGINUID_IMMUTABLE))
        locked = int(feats.is_locked(AUDIT_FEATURE_LOGINUID_IMMUTABLE))
    return [
        (
            st.enabled,
            st.failure,
            st.pid,
            st.rate_limit,
            st.backlog_limit,
            st.lost,
            st.backlog,
            st.backlog_wait_time,
            st.backlog_wait_time_actual,
            st.feature_bitmap,
            immutable,
            locked,
        )
    ]


def rules_rows() -> list[tuple]:
    from auditsql.kernel import _ruleconsts as K
    from auditsql.kernel.control import list_rules
    from auditsql.kernel.netlink import AuditSocket
    from auditsql.kernel.rules import IO_URING_LIST, ListingState, Rule, format_rule

    try:
        with AuditSocket() as sock:
            blobs = list_rules(sock)
    except OSError as exc:
        raise _kernel_error("audit_rules", exc) from exc
    state = ListingState()
    rows = []
    for n, blob in enumerate(blobs, 1):
        rule = Rule.decode(blob)
        keys: list[str] = []
        for f in rule.fields:
            if f.field & ~K.AUDIT_OPERATORS == K.AUDIT_FILTERKEY:
                txt = (f.text or b"").split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                keys.extend(k for k in txt.split("\x01") if k)
        if rule.list == K.AUDIT_FILTER_URING_EXIT:
            list_name = IO_URING_LIST
        else:
            list_name = K.LIST_NAMES.get(rule.list, str(rule.list))
        rows.append(
            (
                n,
                list_name,
                K.ACTION_NAMES.get(rule.action, str(rule.action)),
                token_text(format_rule(rule, False, state)),
                token_text(",".join(keys)) if keys else None,
            )
        )
    return rows
