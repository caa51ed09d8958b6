"""The CLI's commands other than ``wait``: get, list, watch, the cluster commands, fake-server, demo; and the client built from the options."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .._client import EventsClient, Timeouts
from .._cluster import ClusterEvent
from .._errors import ClusterWaitTimeoutError, FelderaError, NoEventsYetError
from .._models import DeploymentError, PipelineEvent, Selector
from .._poller import Poller, PollPolicy
from ._render import (
    EXIT_API,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    UsageError,
    error_line,
    event_line,
    exit_code_for,
    format_time,
    github_annotation,
    in_github_actions,
)
from ._wait import run_wait

# -- configuration ----------------------------------------------------------------------


def _setup_logging(verbosity: int) -> None:
    lib = logging.getLogger("feldera_events")
    if verbosity <= 0:
        # No handler would send WARNING records to Python's last-resort handler on
        # stderr; the CLI reports errors itself, in one line.
        lib.addHandler(logging.NullHandler())
        lib.propagate = False
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    lib.addHandler(handler)
    lib.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
    lib.propagate = False


def _make_client(args: argparse.Namespace) -> EventsClient:
    """The client from the global options; a ValueError/TypeError is a configuration error."""
    verify: bool | str | None = None
    if args.ca_cert:
        verify = args.ca_cert
    elif args.insecure:
        verify = False
    timeout: Timeouts | None = None
    if args.request_timeout is not None:
        timeout = Timeouts(connect=min(10.0, args.request_timeout), request=args.request_timeout)
    try:
        return EventsClient(
            args.url,
            api_key=args.api_key,
            tenant=args.tenant,
            timeout=timeout,
            verify=verify,
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


async def _cmd_wait(args: argparse.Namespace) -> int:
    since = _dt.datetime.now(_dt.UTC) if args.since_now else None
    poll = PollPolicy(initial=args.poll_interval, maximum=max(5.0, args.poll_interval))
    async with _make_client(args) as client:
        return await run_wait(
            client,
            args.pipelines,
            timeout=args.timeout,
            since=since,
            poll=poll,
            json_output=args.json,
        )


# -- get / list / watch -----------------------------------------------------------------


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2)


async def _cmd_get(args: argparse.Namespace) -> int:
    async with _make_client(args) as client:
        try:
            ev = await client.get_event(args.pipeline, args.event_id, selector=args.selector)
        except FelderaError as exc:
            return _report_error(exc, client.url, args.pipeline)
    sys.stdout.write(_dumps(ev.to_dict()) + "\n")
    return EXIT_OK


_TABLE_COLUMNS = (
    "RECORDED_AT",
    "RESOURCES",
    "DESIRED",
    "RUNTIME",
    "ERROR",
    "PROGRAM",
    "STORAGE",
    "EVENT_ID",
)


def _table_row(ev: PipelineEvent) -> tuple[str, ...]:
    error = ev.deployment_error
    if isinstance(error, DeploymentError):
        err = error.error_code
    else:
        err = "yes" if ev.deployment_has_error else "-"
    runtime = ev.deployment_runtime_status.value if ev.deployment_runtime_status else "-"
    return (
        format_time(ev.recorded_at),
        ev.deployment_resources_status.value,
        ev.deployment_resources_desired_status.value,
        runtime,
        err,
        ev.program_status.value,
        ev.storage_status.value,
        str(ev.event_id),
    )


def render_table(events: Sequence[PipelineEvent]) -> str:
    rows = [_TABLE_COLUMNS, *(_table_row(ev) for ev in events)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_TABLE_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def _cmd_list(args: argparse.Namespace) -> int:
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    async with _make_client(args) as client:
        try:
            events = await client.list_events(args.pipeline, selector=args.selector)
        except FelderaError as exc:
            return _report_error(exc, client.url, args.pipeline)
    if args.limit is not None:
        events = events[: args.limit]
    if fmt == "table":
        if events:
            sys.stdout.write(render_table(events) + "\n")
        else:
            sys.stdout.write(f"pipeline {args.pipeline!r} has no events recorded yet\n")
    elif fmt == "jsonl":
        for ev in events:
            sys.stdout.write(json.dumps(ev.to_dict()) + "\n")
    else:
        sys.stdout.write(_dumps([ev.to_dict() for ev in events]) + "\n")
    return EXIT_OK


async def _cmd_watch(args: argparse.Namespace) -> int:
    async with _make_client(args) as client:
        try:
            # Fail fast (exit 4) on a wrong URL, key or name: the watch itself retries
            # forever once it runs.
            with contextlib.suppress(NoEventsYetError):
                await client.get_event(args.pipeline, "latest")
            async with Poller(client).watch(args.pipeline, selector=Selector.ALL) as events:
                async for ev in events:
                    line = json.dumps(ev.to_dict()) if args.jsonl else event_line(ev)
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
        except FelderaError as exc:
            return _report_error(exc, client.url, args.pipeline)
    return EXIT_OK  # pragma: no cover - a watch ends by Ctrl-C or an error


def _report_error(exc: FelderaError, url: str, pipeline: str | None) -> int:
    sys.stderr.write(f"error: {error_line(exc, url, pipeline)}\n")
    return exit_code_for(exc)


# -- cluster ----------------------------------------------------------------------------


async def _cmd_wait_cluster(args: argparse.Namespace) -> int:
    out = sys.stderr if args.json else sys.stdout

    def on_event(ev: ClusterEvent) -> None:
        stamp = format_time(_dt.datetime.now(_dt.UTC))
        out.write(f"{stamp}  cluster  {ev.describe()}  (recorded {format_time(ev.recorded_at)})\n")
        out.flush()

    async with _make_client(args) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        event: ClusterEvent | None = None
        error: FelderaError | None = None
        try:
            event = await Poller(client).wait_until_cluster_healthy(
                timeout=args.timeout, on_event=on_event
            )
            code = EXIT_OK
        except ClusterWaitTimeoutError as exc:
            error = exc
            event = exc.event
            code = EXIT_TIMEOUT if exc.reached else EXIT_API
        except FelderaError as exc:
            error = exc
            code = exit_code_for(exc)
        elapsed = loop.time() - start
        url = client.url
    if error is not None:
        if isinstance(error, ClusterWaitTimeoutError) and error.reached:
            line = str(error)
        elif isinstance(error, ClusterWaitTimeoutError):
            line = f"cannot reach the Feldera manager at {url} within {args.timeout:g}s"
        else:
            line = error_line(error, url)
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
            "url": url,
            "event": event.to_dict() if event is not None else None,
            "unhealthy_components": event.unhealthy_components if event is not None else None,
            "message": str(error) if error is not None else None,
        }
        sys.stdout.write(_dumps(doc) + "\n")
    return code


def render_cluster_table(events: Sequence[ClusterEvent]) -> str:
    header = ("RECORDED_AT", "ALL_HEALTHY", "API", "COMPILER", "RUNNER", "ID")
    rows = [header] + [
        (
            format_time(ev.recorded_at),
            "yes" if ev.all_healthy else "no",
            ev.api_status.value,
            ev.compiler_status.value,
            ev.runner_status.value,
            str(ev.id),
        )
        for ev in events
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def _cmd_cluster_events(args: argparse.Namespace) -> int:
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    async with _make_client(args) as client:
        try:
            events = await client.list_cluster_events(selector=args.selector)
        except FelderaError as exc:
            return _report_error(exc, client.url, None)
    if args.limit is not None:
        events = events[: args.limit]
    if fmt == "table":
        sys.stdout.write(render_cluster_table(events) + "\n")
    elif fmt == "jsonl":
        for ev in events:
            sys.stdout.write(json.dumps(ev.to_dict()) + "\n")
    else:
        sys.stdout.write(_dumps([ev.to_dict() for ev in events]) + "\n")
    return EXIT_OK


# -- fake-server / demo -----------------------------------------------------------------


def _cmd_fake_server(args: argparse.Namespace) -> int:
    from ..testing import run_fake_server

    if args.pipelines < 0:
        raise UsageError("--pipelines must be 0 or more")
    try:
        run_fake_server(
            host=args.host,
            port=args.port,
            api_keys=args.server_api_keys,
            pipelines=args.pipelines,
            speed=args.speed,
        )
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    # run_fake_server returns only once Ctrl-C stopped it.
    return EXIT_INTERRUPTED


async def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return await run_demo()
