"""The ``wait`` command: runs the waits, shows progress, reports failures and the JSON result."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import sys
from typing import Any, TextIO

from .._client import EventsClient
from .._errors import (
    APIStatusError,
    DeploymentFailedError,
    DeploymentStoppedError,
    FelderaError,
    WaitTimeoutError,
)
from .._models import PipelineEvent, Selector
from .._poller import Outcome, Poller, PollPolicy, WaitResult
from ._progress import make_progress
from ._render import (
    EXIT_OK,
    combine_exit_codes,
    error_line,
    event_line,
    github_annotation,
    in_github_actions,
    outcome_exit_code,
)


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
        lines.extend(f"    {event_line(ev)}" for ev in timeline)
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
    github = in_github_actions()
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
