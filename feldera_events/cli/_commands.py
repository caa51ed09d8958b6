"""The CLI's commands other than ``wait`` and ``fake-server``: get, list, watch, wait-cluster, cluster-events, health, demo; and logging."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, TextIO, TypeVar

from .._cluster_event import ClusterEvent
from .._errors import APIConnectionError, FelderaError, NoEventsYetError
from .._fields import Selector
from .._pipeline_event import PipelineEvent
from .._policies import PollPolicy
from .._poller import Poller
from .._wait_errors import ClusterWaitTimeoutError
from ._process import until_stdout_lost
from ._render import (
    EVENT_COLUMNS,
    EXIT_API,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_UNHEALTHY,
    STATUS_LIMIT,
    error_line,
    event_line,
    event_row,
    exit_code_for,
    format_time,
    github_annotation,
    in_github_actions,
    quoted,
    render_table,
    safe_text,
)
from ._settings import open_client
from ._wait_command import failure_text, reporting_retries, run_wait

_E = TypeVar("_E", PipelineEvent, ClusterEvent)

# -- configuration ----------------------------------------------------------------------


class _SafeFormatter(logging.Formatter):
    """Log lines for people: one line each, whatever server text a record quotes."""

    def format(self, record: logging.LogRecord) -> str:
        return safe_text(super().format(record), None)


def _setup_logging(verbosity: int) -> None:
    lib = logging.getLogger("feldera_events")
    lib.propagate = False
    if verbosity <= 0:
        # No handler would send WARNING records to Python's last-resort handler on
        # stderr; the CLI reports errors itself, in one line.
        lib.addHandler(logging.NullHandler())
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    lib.addHandler(handler)
    lib.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


#: ``wait --fleet``: Poller's ``fleet=``.
_FLEET: Final[dict[str, bool | Literal["auto"]]] = {"auto": "auto", "on": True, "off": False}


async def _cmd_wait(args: argparse.Namespace) -> int:
    # The server's latest event anchors --since-now (read first): no client clock.
    since = "now" if args.since_now else None
    poll = PollPolicy(initial=args.poll_interval, maximum=max(5.0, args.poll_interval))
    async with open_client(args) as client:
        return await run_wait(
            client,
            args.pipelines,
            timeout=args.timeout,
            until=args.until,
            since=since,
            poll=poll,
            json_output=args.json,
            wait_for_approval=args.wait_for_approval,
            fleet=_FLEET[args.fleet],
        )


# -- get / list / watch -----------------------------------------------------------------


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2)


async def _cmd_get(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        ev = await client.get_event(args.pipeline, args.event_id, selector=args.selector)
    sys.stdout.write(_dumps(ev.to_dict()) + "\n")
    return EXIT_OK


async def _cmd_list(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        events = await client.list_events(args.pipeline, selector=args.selector)
    empty = f"pipeline {quoted(args.pipeline)} has no events recorded yet"
    return _print_list(args, events, EVENT_COLUMNS, event_row, empty)


def _watch_line(text: str, out: TextIO) -> None:
    out.write(f"{format_time(_dt.datetime.now(_dt.UTC))}  {text}\n")
    out.flush()


async def _cmd_watch(args: argparse.Namespace) -> int:
    failures: list[BaseException] = []
    # With --jsonl stdout holds only events: what happens to the polls goes to stderr.
    notes = sys.stderr if args.jsonl else sys.stdout

    def on_failure(_: str, exc: BaseException) -> None:
        failures.append(exc)
        n = len(failures)
        if n & (n - 1) == 0:  # 1, 2, 4, 8...: a long outage stays short
            what = failure_text(exc)
            if n == 1 and isinstance(exc, APIConnectionError):
                _watch_line(f"the server went away ({what}); polling on", notes)
            else:
                _watch_line(f"retrying: {what}, {'once' if n == 1 else f'{n} times'}", notes)

    def on_response(status: int) -> None:
        if failures and status < 500:
            n = len(failures)
            polls = "1 failed poll" if n == 1 else f"{n} failed polls"
            _watch_line(f"the server answers again after {polls}", notes)
            failures.clear()

    async with open_client(args, on_response=on_response) as client:
        # Fail fast (exit 4) on a wrong URL, key or name: the watch itself retries
        # forever once it runs.
        with contextlib.suppress(NoEventsYetError):
            await client.get_event(args.pipeline, "latest")
        previous: PipelineEvent | None = None
        with reporting_retries(on_failure, args.pipeline):
            watching = Poller(client).watch(args.pipeline, selector=Selector.ALL)
            # Until stdout is lost (| head -1 has its line): main then exits as for a
            # broken pipe.
            async with (
                watching as events,
                contextlib.aclosing(until_stdout_lost(events)) as lines,
            ):
                async for ev in lines:
                    line = json.dumps(ev.to_dict()) if args.jsonl else event_line(ev, previous)
                    previous = ev
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
    return EXIT_OK  # stdout was lost (else a watch ends by Ctrl-C or an error)


# -- cluster ----------------------------------------------------------------------------


async def _cmd_wait_cluster(args: argparse.Namespace) -> int:
    out = sys.stderr if args.json else sys.stdout
    failures: list[BaseException] = []
    event_seen = False

    def on_event(ev: ClusterEvent) -> None:
        nonlocal event_seen
        event_seen = True
        failures.clear()
        said = safe_text(ev.describe(), STATUS_LIMIT)
        _watch_line(f"cluster  {said}  (recorded {format_time(ev.recorded_at)})", out)

    def on_failure(_: str, exc: BaseException) -> None:
        # On stderr: the manager not answering yet (once), then failed polls (1, 2, 4...).
        failures.append(exc)
        n = len(failures)
        what = failure_text(exc)
        if not event_seen and isinstance(exc, APIConnectionError) and n == 1:
            line = f"the manager at {client.url} does not answer yet ({what}); polling on"
            _watch_line(line, sys.stderr)
        elif n & (n - 1) == 0:
            _watch_line(f"retrying: {what}, {'once' if n == 1 else f'{n} times'}", sys.stderr)

    async with open_client(args) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        event: ClusterEvent | None = None
        error: FelderaError | None = None
        try:
            with reporting_retries(on_failure, "cluster", level=logging.INFO):
                event = await Poller(client).wait_until_cluster_healthy(
                    timeout=args.timeout, on_event=on_event
                )
            code = EXIT_OK
        except ClusterWaitTimeoutError as exc:
            error, event = exc, exc.event
            code = EXIT_TIMEOUT if exc.reached else EXIT_API
            # The manager was never reached: say so, with the timeout the wait ran out of.
            reach = f"cannot reach the Feldera manager at {client.url} within {args.timeout:g}s"
            line = str(exc) if exc.reached else reach
        except FelderaError as exc:
            error, code, line = exc, exit_code_for(exc), error_line(exc, client.url)
        elapsed = loop.time() - start
    if error is not None:
        sys.stderr.write(f"error: {line}\n")
        if in_github_actions():
            out.write(github_annotation("Feldera cluster not healthy", line) + "\n")
    elif not args.json:
        sys.stdout.write(f"all services healthy after {elapsed:.1f}s\n")
    if args.json:
        doc = {
            "ok": code == EXIT_OK,
            "exit_code": code,
            "elapsed": round(elapsed, 3),
            "url": client.url,
            "event": event.to_dict() if event is not None else None,
            "unhealthy_components": event.unhealthy_components if event is not None else None,
            "message": str(error) if error is not None else None,
        }
        sys.stdout.write(_dumps(doc) + "\n")
    return code


CLUSTER_COLUMNS = ("RECORDED_AT", "ALL_HEALTHY", "API", "COMPILER", "RUNNER", "ID")


def _cluster_row(ev: ClusterEvent) -> tuple[str, ...]:
    return (
        format_time(ev.recorded_at),
        "yes" if ev.all_healthy else "no",
        safe_text(ev.api_status.value, STATUS_LIMIT),
        safe_text(ev.compiler_status.value, STATUS_LIMIT),
        safe_text(ev.runner_status.value, STATUS_LIMIT),
        str(ev.id),
    )


async def _cmd_cluster_events(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        events = await client.list_cluster_events(selector=args.selector)
    return _print_list(args, events, CLUSTER_COLUMNS, _cluster_row)


def _print_list(
    args: argparse.Namespace,
    events: Sequence[_E],
    columns: Sequence[str],
    row: Callable[[_E], Sequence[str]],
    empty: str | None = None,
) -> int:
    """``list`` and ``cluster-events`` output (``--format``, ``--limit``): a table (or
    ``empty`` instead of one without rows), JSON lines or one JSON array."""
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    events = events[: args.limit]
    if fmt == "table" and not events and empty:
        sys.stdout.write(empty + "\n")
    elif fmt == "table":
        sys.stdout.write(render_table(columns, [row(ev) for ev in events]) + "\n")
    elif fmt == "jsonl":
        for ev in events:
            sys.stdout.write(json.dumps(ev.to_dict()) + "\n")
    else:
        sys.stdout.write(_dumps([ev.to_dict() for ev in events]) + "\n")
    return EXIT_OK


# -- health -----------------------------------------------------------------------------


def _since(when: _dt.datetime) -> str:
    seconds = max(0.0, (_dt.datetime.now(_dt.UTC) - when).total_seconds())
    if seconds < 120:
        ago = f"{seconds:.0f}s"
    elif seconds < 7200:
        ago = f"{seconds / 60:.0f} min"
    else:
        ago = f"{seconds / 3600:.1f} h"
    return f"{format_time(when)} ({ago} ago)"


async def _cmd_health(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        health = await client.cluster_health()
    code = EXIT_OK if health.all_healthy else EXIT_UNHEALTHY
    if args.json:
        doc = {"ok": health.all_healthy, "exit_code": code, "url": client.url}
        sys.stdout.write(_dumps(doc | health.to_dict()) + "\n")
        return code
    rows = [
        (
            safe_text(name, STATUS_LIMIT),
            "healthy" if s.healthy else "UNHEALTHY",
            _since(s.unchanged_since),
            safe_text(s.message, STATUS_LIMIT),
        )
        for name, s in health.services.items()
    ]
    sys.stdout.write(render_table(("SERVICE", "HEALTH", "SINCE", "MESSAGE"), rows) + "\n")
    verdict = "all services healthy" if health.all_healthy else "the cluster is NOT healthy"
    sys.stdout.write(f"{verdict} (checked {format_time(health.api.checked_at)})\n")
    return code
