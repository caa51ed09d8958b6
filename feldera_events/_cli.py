"""The ``feldera-events`` command line (also ``python -m feldera_events``).

Every command turns its outcome into one of the documented exit codes (see
``EXIT_CODES_HELP``); bad input and API errors become one line on stderr, never a
traceback; Ctrl-C exits 130 quietly. The API key is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, TextIO

from ._client import EventsClient, Timeouts, normalize_event_id
from ._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ClusterEventsUnsupportedError,
    EventNotFoundError,
    FelderaError,
    NoEventsYetError,
    PermissionDeniedError,
    PipelineNotFoundError,
    ResponseValidationError,
)
from ._models import ClusterEvent, DeploymentError, PipelineEvent, Selector
from ._poller import Outcome, Poller, PollPolicy, WaitResult
from ._progress import format_time, make_progress
from ._wait_errors import (
    ClusterWaitTimeoutError,
    DeploymentFailedError,
    DeploymentStoppedError,
    WaitTimeoutError,
)

__all__ = ["EXIT_CODES_HELP", "build_parser", "main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_TIMEOUT: Final = 3
EXIT_API: Final = 4
EXIT_INTERRUPTED: Final = 130

#: When pipelines of one ``wait`` end differently, the exit code is the first of these
#: that occurred.
EXIT_PRECEDENCE: Final = (EXIT_API, EXIT_FAILED, EXIT_TIMEOUT, EXIT_OK)

EXIT_CODES_HELP: Final = """\
exit codes:
  0    every pipeline is provisioned (get/list/watch: the request succeeded)
  1    a deployment failed, or the pipeline was stopped while we waited
  2    usage or configuration error (bad option, pipeline name, event id, URL,
       CA bundle); detected before any request is sent
  3    the --timeout passed before every pipeline was provisioned
  4    API or connection error: unknown pipeline, authentication or permission
       refused, the server unreachable (a wrong URL fails within seconds, not
       at the timeout), an unexpected response
  130  interrupted (Ctrl-C)

With several pipelines the exit code is the most serious outcome, in the order
4 > 1 > 3 > 0: an API error means the check itself could not be made (a wrong
name, key or URL) and must be fixed before any other result means anything; a
failure is a definite answer, worth more than a timeout, which is none.
"""

ENVIRONMENT_HELP: Final = """\
environment:
  FELDERA_HOST            manager URL (default http://localhost:8080)
  FELDERA_API_KEY         API key or token (prefer it to --api-key, which other
                          users of the machine can see in the process list)
  FELDERA_TENANT          tenant name or id (Feldera-Tenant header)
  FELDERA_HTTPS_TLS_CERT  CA bundle for https
  FELDERA_TLS_INSECURE    "true" to skip TLS certificate verification
  GITHUB_ACTIONS          "true": failures are also printed as ::error:: annotations
"""

logger = logging.getLogger("feldera_events")


class UsageError(Exception):
    """Bad input found before any request: exit 2."""


# -- argument types ---------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {text!r}")
    return value


def _pipeline_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a pipeline name must not be empty")
    return text


def _event_id(text: str) -> str:
    try:
        return normalize_event_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- the parser -------------------------------------------------------------------------


def _add_connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options. Sub-commands get them too (with SUPPRESS defaults, so a value
    given before the sub-command is kept), so they may come before or after it."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection options")
    group.add_argument(
        "--url",
        metavar="URL",
        default=default(None),
        help="manager URL (default: $FELDERA_HOST, else http://localhost:8080)",
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        default=default(None),
        help="API key (default: $FELDERA_API_KEY); never printed",
    )
    group.add_argument(
        "--tenant",
        metavar="TENANT",
        default=default(None),
        help="tenant (default: $FELDERA_TENANT)",
    )
    group.add_argument(
        "--ca-cert",
        metavar="PATH",
        default=default(None),
        help="CA bundle for https (default: $FELDERA_HTTPS_TLS_CERT)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        default=default(False),
        help="do not verify TLS certificates",
    )
    group.add_argument(
        "--request-timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=default(None),
        help="time limit of one HTTP request (default 30); not the overall --timeout of a wait",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log the feldera_events logger to stderr (-vv: debug)",
    )


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="feldera-events",
        description="Wait on, watch and audit Feldera pipelines through their monitor events.",
        epilog=EXIT_CODES_HELP + "\n" + ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_connection_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_connection_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, description: str, parents: list[argparse.ArgumentParser]) -> Any:
        return sub.add_parser(
            name,
            help=help,
            description=description,
            parents=parents,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    wait = add(
        "wait",
        "wait until pipelines are provisioned (a CI step)",
        "Wait until every named pipeline's resources are Provisioned, concurrently. "
        "Progress goes to stdout (to stderr with --json): a live line per pipeline on a "
        "terminal, one timestamped line per status change otherwise. A failure prints the "
        "pipeline, the server's error_code and message, and the events since the wait began.",
        [common],
    )
    wait.add_argument("pipelines", nargs="+", metavar="PIPELINE", type=_pipeline_name)
    wait.add_argument(
        "--timeout",
        required=True,
        type=_positive_float,
        metavar="SECONDS",
        help="overall deadline of the wait (required)",
    )
    wait.add_argument(
        "--since-now",
        action="store_true",
        help="only events recorded after this command started count as an outcome: for a "
        "wait that begins before the change it waits for (a start triggered afterwards, or "
        "by something else), so an earlier Provisioned or failure is not taken as the result",
    )
    wait.add_argument(
        "--json",
        action="store_true",
        help="print one JSON result object on stdout (progress goes to stderr)",
    )
    wait.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="how often to poll while the pipelines move (default 1; backs off to 5 after a minute)",
    )

    get = add(
        "get",
        "print one event as JSON",
        "Print one monitor event of a pipeline as JSON: the latest one, or EVENT_ID.",
        [common],
    )
    get.add_argument("pipeline", metavar="PIPELINE", type=_pipeline_name)
    get.add_argument(
        "event_id", nargs="?", default="latest", type=_event_id, metavar="EVENT_ID",
        help="'latest' (default) or an event id (UUID)",
    )  # fmt: skip
    get.add_argument(
        "--selector",
        choices=[s.value for s in Selector],
        default="all",
        help="which fields: all (default, with details and deployment_error) or status",
    )

    lst = add(
        "list",
        "list a pipeline's events, newest first",
        "List the retained monitor events of a pipeline, newest first.",
        [common],
    )
    lst.add_argument("pipeline", metavar="PIPELINE", type=_pipeline_name)
    lst.add_argument(
        "--selector",
        choices=[s.value for s in Selector],
        default="status",
        help="which fields: status (default) or all (adds details and deployment_error)",
    )
    lst.add_argument("--limit", type=_positive_int, metavar="N", help="only the newest N events")
    lst.add_argument(
        "--format",
        choices=["table", "json", "jsonl"],
        help="output format (default: table on a terminal, json otherwise)",
    )

    watch = add(
        "watch",
        "print a line per new event until Ctrl-C",
        "Print the pipeline's current status, then one line per new event, until Ctrl-C.",
        [common],
    )
    watch.add_argument("pipeline", metavar="PIPELINE", type=_pipeline_name)
    watch.add_argument("--jsonl", action="store_true", help="one JSON object per line")

    wait_cluster = add(
        "wait-cluster",
        "wait until the manager's services are all healthy",
        "Wait until the latest cluster monitor event says all services (API server, "
        "compiler, runner) are healthy: a first CI step after starting a manager. Connection "
        "errors are polled through until --timeout (the manager may still be starting); a "
        "manager never reached by then exits 4, an unhealthy one 3.",
        [common],
    )
    wait_cluster.add_argument(
        "--timeout",
        required=True,
        type=_positive_float,
        metavar="SECONDS",
        help="overall deadline of the wait (required)",
    )
    wait_cluster.add_argument(
        "--json", action="store_true", help="print one JSON result object on stdout"
    )

    cluster_events = add(
        "cluster-events",
        "list the manager's cluster monitor events, newest first",
        "List the retained cluster monitor events (health of the API server, compiler and "
        "runner), newest first.",
        [common],
    )
    cluster_events.add_argument(
        "--selector",
        choices=[s.value for s in Selector],
        default="status",
        help="status (default) or all (fetches each event in full: one request per event)",
    )
    cluster_events.add_argument(
        "--limit", type=_positive_int, metavar="N", help="only the newest N events"
    )
    cluster_events.add_argument(
        "--format",
        choices=["table", "json", "jsonl"],
        help="output format (default: table on a terminal, json otherwise)",
    )

    fake = add(
        "fake-server",
        "run a simulated Feldera manager until Ctrl-C",
        "Run FakeFeldera, the simulated pipeline manager of feldera_events.testing, until "
        "Ctrl-C. Its pipelines are created compiled and stopped, named pipeline-1, "
        "pipeline-2, ...; start them with POST /v0/pipelines/NAME/start.",
        [],
    )
    fake.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    fake.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0: a free one)")
    fake.add_argument(
        "--api-key",
        dest="server_api_keys",
        action="append",
        metavar="KEY",
        help="require this API key (repeatable; default: no authentication)",
    )
    fake.add_argument(
        "--pipelines", type=int, default=0, metavar="N", help="pipelines to create (default 0)"
    )
    fake.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="time-scale factor: 10 makes every simulated step ten times faster (default 1)",
    )

    add(
        "demo",
        "see a success and a failure against a simulated manager (~10 s)",
        "Start a simulated manager in this process, create two pipelines, start both through "
        "the REST API and wait on them with the progress display of `wait`: one is "
        "provisioned, the other fails with PipelineProvisioningTimeout. Needs no server.",
        [],
    )
    return parser


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


# -- errors -----------------------------------------------------------------------------


def _cause_text(exc: BaseException) -> str:
    cause = exc.__cause__
    while cause is not None and isinstance(cause, APIConnectionError):
        cause = cause.__cause__
    if cause is not None and str(cause):
        return str(cause)
    return getattr(exc, "message", None) or str(exc)


def error_line(exc: BaseException, url: str, pipeline: str | None = None) -> str:
    """One readable line for an error (never with the API key)."""
    where = f" at {url}"
    if isinstance(exc, ClusterEventsUnsupportedError):
        return f"the manager{where} has no cluster monitor events (they are new in Feldera v0.292)"
    if isinstance(exc, PipelineNotFoundError):
        name = pipeline
        if isinstance(exc.details, dict) and isinstance(exc.details.get("pipeline_name"), str):
            name = exc.details["pipeline_name"]
        return f"pipeline {name!r} not found{where} (UnknownPipelineName)"
    if isinstance(exc, NoEventsYetError):
        return f"pipeline {pipeline!r} has no events recorded yet{where}"
    if isinstance(exc, EventNotFoundError):
        return f"{exc.message} (pipeline {pipeline!r}{where})"
    if isinstance(exc, AuthenticationError):
        return (
            f"authentication failed{where}: {exc.message or 'no credentials'} "
            "(check --api-key or FELDERA_API_KEY)"
        )
    if isinstance(exc, PermissionDeniedError):
        return f"permission denied{where}: {exc.message}"
    if isinstance(exc, APIStatusError):
        code = f" {exc.error_code}" if exc.error_code else ""
        return f"the manager{where} answered HTTP {exc.status_code}{code}: {exc.message}"
    if isinstance(exc, APIConnectionError):
        return f"cannot reach the Feldera manager{where}: {_cause_text(exc)}"
    if isinstance(exc, ResponseValidationError):
        return f"unexpected response from {url}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, UsageError | ValueError | TypeError):
        return EXIT_USAGE
    if isinstance(exc, DeploymentFailedError):
        return EXIT_FAILED
    if isinstance(exc, WaitTimeoutError):
        return EXIT_TIMEOUT
    return EXIT_API


def outcome_exit_code(result: WaitResult) -> int:
    if result.outcome is Outcome.SUCCEEDED:
        return EXIT_OK
    if result.outcome is Outcome.FAILED:
        return EXIT_FAILED
    if result.outcome is Outcome.TIMED_OUT:
        return EXIT_TIMEOUT
    if result.outcome is Outcome.CANCELLED:
        return EXIT_INTERRUPTED
    return exit_code_for(result.error) if result.error is not None else EXIT_API


def combine_exit_codes(codes: Sequence[int]) -> int:
    """The most serious code by :data:`EXIT_PRECEDENCE` (anything else wins outright)."""
    for code in codes:
        if code not in EXIT_PRECEDENCE:
            return code
    for code in EXIT_PRECEDENCE:
        if code in codes:
            return code
    return EXIT_OK


def _gha_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotation(title: str, message: str) -> str:
    """A GitHub Actions ``::error::`` workflow command."""
    return f"::error title={_gha_escape(title, prop=True)}::{_gha_escape(message)}"


def _in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS", "").strip().lower() == "true"


# -- wait -------------------------------------------------------------------------------


def _event_line(ev: PipelineEvent) -> str:
    text = f"{format_time(ev.recorded_at)}  {ev.describe()}"
    error = ev.deployment_error
    if isinstance(error, DeploymentError):
        text += f"  {error.error_code}: {error.message}"
    return text


async def _timeline(
    client: EventsClient, name: str, first_seen: PipelineEvent | None, fallback: list[PipelineEvent]
) -> list[PipelineEvent]:
    """The events since the wait began (from the first one it saw), oldest first."""
    try:
        events = await client.list_events(name, selector=Selector.ALL)
    except FelderaError:
        return fallback
    events.sort(key=lambda e: (e.recorded_at, e.event_id))
    if first_seen is None:
        return events[-20:]
    start = (first_seen.recorded_at, first_seen.event_id)
    return [e for e in events if (e.recorded_at, e.event_id) >= start]


def _failure_report(
    result: WaitResult, timeline: list[PipelineEvent], url: str
) -> tuple[str, str, str]:
    """(report text, annotation title, annotation message) for a wait that did not succeed."""
    name = result.pipeline_name
    err = result.error
    lines: list[str] = []
    if isinstance(err, DeploymentFailedError):
        kind = "was stopped" if isinstance(err, DeploymentStoppedError) else "failed"
        title = f"Pipeline {name} {kind}"
        code = err.error_code or "(no error code)"
        summary = f"{code}: {err.message}"
        lines.append(f"pipeline {name!r} {kind} after {result.elapsed:.1f}s")
        lines.append(f"  error_code: {err.error_code or '-'}")
        lines.append(f"  message:    {err.message}")
    elif isinstance(err, WaitTimeoutError):
        title = f"Pipeline {name} timed out"
        last = err.last_event.describe() if err.last_event is not None else "no event seen"
        summary = f"not provisioned within {err.timeout:g}s (last status: {last})"
        lines.append(f"pipeline {name!r} {summary}")
    else:
        title = f"Pipeline {name}: error"
        summary = error_line(err, url, name) if err is not None else "unknown error"
        lines.append(f"pipeline {name!r}: {summary}")
    if timeline:
        lines.append("  events since the wait began (oldest first):")
        lines.extend(f"    {_event_line(ev)}" for ev in timeline)
    return "\n".join(lines), title, summary


def _result_json(result: WaitResult, timeline: list[PipelineEvent] | None) -> dict[str, Any]:
    err = result.error
    out: dict[str, Any] = {
        "outcome": result.outcome.value,
        "exit_code": outcome_exit_code(result),
        "elapsed": round(result.elapsed, 3),
        "event": result.event.to_dict() if result.event is not None else None,
        "error_code": None,
        "message": None,
    }
    if isinstance(err, DeploymentFailedError | APIStatusError):
        out["error_code"] = err.error_code
        out["message"] = err.message
    elif err is not None:
        out["message"] = str(err)
    if timeline is not None:
        out["timeline"] = [ev.to_dict() for ev in timeline]
    return out


async def run_wait(
    client: EventsClient,
    names: list[str],
    *,
    timeout: float,
    since: _dt.datetime | None = None,
    poll: PollPolicy | None = None,
    json_output: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The ``wait`` command on an open client; returns the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    names = list(dict.fromkeys(names))
    progress_stream = stderr if json_output else stdout
    poller = Poller(client, poll=poll)
    first_seen: dict[str, PipelineEvent] = {}
    seen: dict[str, list[PipelineEvent]] = {name: [] for name in names}
    results: dict[str, WaitResult] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()

    async with make_progress(progress_stream, names) as progress:

        def on_event(name: str, ev: PipelineEvent) -> None:
            first_seen.setdefault(name, ev)
            seen[name].append(ev)
            progress.event(name, ev)

        async def one(name: str) -> None:
            # One wait_many per pipeline: the same outcome rules, and each pipeline's
            # result is shown the moment it is known.
            done = await poller.wait_many([name], timeout=timeout, since=since, on_event=on_event)
            results[name] = done[name]
            progress.finished(done[name])

        await asyncio.gather(*(one(name) for name in names))

    timelines: dict[str, list[PipelineEvent]] = {}
    for name in names:
        result = results[name]
        if result.outcome in (Outcome.FAILED, Outcome.TIMED_OUT):
            timelines[name] = await _timeline(client, name, first_seen.get(name), seen[name])

    codes = [outcome_exit_code(results[name]) for name in names]
    code = combine_exit_codes(codes)
    github = _in_github_actions()
    reported_errors: set[str] = set()
    for name in names:
        result = results[name]
        if result.ok:
            continue
        if result.outcome is Outcome.ERROR and result.error is not None:
            line = error_line(result.error, client.url, name)
            if line not in reported_errors:  # e.g. one unreachable URL, many pipelines
                reported_errors.add(line)
                stderr.write(f"error: {line}\n")
            if github:
                (stderr if json_output else stdout).write(
                    github_annotation(f"Pipeline {name}: error", line) + "\n"
                )
            continue
        report, title, summary = _failure_report(result, timelines.get(name, []), client.url)
        progress_stream.write(report + "\n")
        if github:
            (stderr if json_output else stdout).write(github_annotation(title, summary) + "\n")
    if json_output:
        doc = {
            "ok": code == EXIT_OK,
            "exit_code": code,
            "elapsed": round(loop.time() - start, 3),
            "url": client.url,
            "pipelines": {name: _result_json(results[name], timelines.get(name)) for name in names},
        }
        stdout.write(json.dumps(doc, indent=2) + "\n")
    elif code == EXIT_OK:
        stdout.write(
            f"all {len(names)} pipeline(s) provisioned in {loop.time() - start:.1f}s\n"
            if len(names) > 1
            else f"pipeline {names[0]!r} provisioned in {loop.time() - start:.1f}s\n"
        )
    stdout.flush()
    stderr.flush()
    return code


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
                    line = json.dumps(ev.to_dict()) if args.jsonl else _event_line(ev)
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
        if _in_github_actions():
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
    from .testing import run_fake_server

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


# -- main -------------------------------------------------------------------------------

_ASYNC_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "wait": _cmd_wait,
    "get": _cmd_get,
    "list": _cmd_list,
    "watch": _cmd_watch,
    "demo": _cmd_demo,
    "wait-cluster": _cmd_wait_cluster,
    "cluster-events": _cmd_cluster_events,
}


def _run(args: argparse.Namespace) -> int:
    if args.command == "fake-server":
        return _cmd_fake_server(args)
    return asyncio.run(_ASYNC_COMMANDS[args.command](args))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stdout)
            return EXIT_USAGE
        _setup_logging(args.verbose)
        try:
            return _run(args)
        except UsageError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return EXIT_USAGE
        except FelderaError as exc:  # pragma: no cover - commands report their own
            sys.stderr.write(f"error: {error_line(exc, args.url or '(FELDERA_HOST)')}\n")
            return exit_code_for(exc)
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        # The reader went away (`feldera-events list p | head`): not an error of ours.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _interrupted() -> int:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    # Quiet: no traceback, no message; the shell shows the interruption.
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return EXIT_INTERRUPTED
