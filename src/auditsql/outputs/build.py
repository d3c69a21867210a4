"""The outputs ``auditsql run`` configures: ``[output.events]``, ``[output.syslog]``, ``[output.stdout]``,
``[output.nats]``, built and started before the kernel is touched.

A bad setting or an unusable destination is an :class:`~auditsql.outputs.base.OutputError` (one line; the
run exits 2). Once running, an output that fails only loses its own copies (counted in ``audit_loss``): the
store and the results log keep recording whatever the transports do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auditsql.outputs.base import Output, OutputError, Outputs

__all__ = ["build_outputs"]


def build_outputs(config: Any, host: str, say: Callable[[str], None] | None = None) -> Outputs:
    """Every enabled output of ``config.output``, started; on an error the ones started are closed again."""
    from auditsql.outputs.events import EventsOutput
    from auditsql.outputs.stdout import StdoutOutput
    from auditsql.outputs.syslog import SyslogOutput

    out = config.output
    started: list[Output] = []
    try:
        if out.events.enabled:
            e = out.events
            started.append(
                EventsOutput(
                    e.path, e.format, e.rotate, e.rotate_size, e.rotate_max_files, e.buffer, host=host
                ).start()
            )
        if out.syslog.enabled:
            s = out.syslog
            if not (s.events or s.results):
                raise OutputError("[output.syslog] is enabled with events = false and results = false")
            started.append(
                SyslogOutput(s.socket, s.facility, s.app_name, s.events, s.results, s.buffer).start()
            )
        if out.stdout.enabled:
            o = out.stdout
            if not (o.events or o.results):
                raise OutputError("[output.stdout] is enabled with events = false and results = false")
            started.append(StdoutOutput(o.events, o.results, o.buffer).start())
        if out.nats.enabled:
            started.append(_nats(config, host, say))
    except BaseException:
        for o in started:
            o.close()
        raise
    return Outputs(started)


def _nats(config: Any, host: str, say: Callable[[str], None] | None) -> Output:
    """The NATS engineer's output (``auditsql.outputs.nats``), started."""
    from auditsql.outputs import nats

    build = getattr(nats, "build_nats_output", None)
    try:
        if build is not None:
            return build(config)  # type: ignore[no-any-return]
        from auditsql.fleet.connect import NatsOptions

        opts = NatsOptions.from_config(config.output.nats)
        return nats.nats_output(opts, config.output.nats.host or host, say)
    except nats.OutputError as exc:
        raise OutputError(str(exc)) from None
