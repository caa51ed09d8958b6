"""The ``wait`` command: runs the waits, shows progress and retries, reports failures and the JSON result."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, Final, Literal, TextIO
from urllib.parse import unquote, urlsplit

from .._acceptors import Until
from .._client import EventsClient
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    FelderaError,
)
from .._fields import Selector
from .._pipeline_event import PipelineEvent
from .._policies import PollPolicy, RetryPolicy
from .._poller import Outcome, Poller, Since, WaitResult
from .._wait_errors import ApprovalRequiredError, DeploymentFailedError, WaitTimeoutError
from ._process import interrupt_exit_code
from ._progress import LineProgress, LiveProgress, make_progress, wrap_for
from ._render import (
    EXIT_OK,
    MESSAGE_LIMIT,
    OUTCOMES,
    STATUS_LIMIT,
    approval_words,
    combine_exit_codes,
    connection_text,
    error_line,
    event_line,
    github_annotation,
    in_github_actions,
    names_shortened,
    outcome_exit_code,
    outcome_style,
    outcome_word,
    quoted,
    safe_text,
    short_name,
)

__all__ = ["failure_text", "reporting_retries", "run_wait"]

#: The path of every request a wait makes: ``/v0/pipelines/{name}/events[/...]``.
_EVENTS_PATH: Final = re.compile(r"/v0/pipelines/([^/]+)/events")


def failure_text(exc: BaseException) -> str:
    """A short name for a failed request: ``HTTP 503 LockTookTooLong``, ``connection refused``,
    ``connection failed (CAUSE)``."""
    if isinstance(exc, APIStatusError):
        return f"HTTP {exc.status_code} {safe_text(exc.error_code or '', 60)}".rstrip()
    if isinstance(exc, APITimeoutError):
        return "request timed out"
    if isinstance(exc, APIConnectionError):
        cause: BaseException | None = exc
        while cause is not None:  # the OS error at the bottom says it best
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            if isinstance(cause, ConnectionResetError):
                return "connection reset"
            cause = cause.__cause__ or getattr(cause, "os_error", None)
        text = safe_text(connection_text(exc), None)
        lowered = text.lower()
        if "refused" in lowered or "connect call failed" in lowered:
            return "connection refused"
        # Whole: a log line keeps it all; the live display cuts it to the row's width.
        return f"connection failed ({text})"
    return type(exc).__name__


class _RetryReporter(logging.Handler):
    """Shows the SDK's warnings about failed requests and polls as retries in a display.

    The SDK logs each failed request or poll that it retries at WARNING, with the
    exception among the record's arguments; the record belongs to the pipeline named
    in the failed request's URL (else to ``default``).
    """

    def __init__(
        self, report: Callable[[str, BaseException], None], default: str | None, level: int
    ) -> None:
        super().__init__(level)
        self._report = report
        self._default = default

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        exc = next((a for a in args if isinstance(a, BaseException)), None)
        if exc is None:
            return
        # The waits of one as_completed call all run in tasks the poller creates, so no
        # context of ours tells them apart; the failed request's URL does.
        url = getattr(exc, "url", None)
        match = _EVENTS_PATH.search(urlsplit(url).path) if isinstance(url, str) else None
        name = unquote(match[1]) if match else self._default
        if name is not None:
            self._report(name, exc)


@contextlib.contextmanager
def reporting_retries(
    report: Callable[[str, BaseException], None],
    pipeline: str | None = None,
    *,
    level: int = logging.WARNING,
) -> Iterator[None]:
    """While inside: ``report(pipeline, exc)`` for each retried failure of a request for
    a pipeline's events (``pipeline``: the name when the error names no such URL).

    ``level=logging.INFO`` also reports the first failed attempt to reach a manager that
    a cluster wait polls through (logged at INFO: a manager may still be starting).
    """
    handler = _RetryReporter(report, pipeline, level)
    lib = logging.getLogger("feldera_events")
    saved = lib.level
    if lib.getEffectiveLevel() > level:
        lib.setLevel(level)
    lib.addHandler(handler)
    try:
        yield
    finally:
        lib.removeHandler(handler)
        lib.setLevel(saved)


async def _timeline(
    client: EventsClient,
    name: str,
    first_seen: PipelineEvent | None,
    fallback: list[PipelineEvent],
    remaining: float | None,
) -> list[PipelineEvent]:
    """The events since the wait began (from the first one it saw), oldest first.

    One request, no retries, within ``remaining`` seconds (what is left of the wait's
    deadline; None: no deadline); ``fallback`` (the events the wait saw) when no time
    is left or the request fails.
    """
    if remaining is not None and remaining <= 0:
        return fallback
    try:
        async with asyncio.timeout(remaining):
            events = await client.list_events(
                name, selector=Selector.ALL, retry=RetryPolicy.disabled()
            )
    except (FelderaError, TimeoutError):
        return fallback
    events.sort(key=lambda e: (e.recorded_at, e.event_id))
    if first_seen is None:
        return events[-20:]
    start = (first_seen.recorded_at, first_seen.event_id)
    return [e for e in events if (e.recorded_at, e.event_id) >= start]


#: What a wait with ``since`` waits for: a new provisioning, or a new run.
_NEW: Final = {"provisioned": "provisioning", "running": "run"}


def _failure_report(
    result: WaitResult,
    timeline: list[PipelineEvent],
    url: str,
    failures: list[str],
    until: Until = "provisioned",
    first_seen: PipelineEvent | None = None,
) -> tuple[str, str, str]:
    """(report text, annotation title, annotation message) for a wait that did not succeed.

    ``failures``: the retried request failures of this wait, oldest first; ``timeline``
    the events from ``first_seen`` on (the first event the wait saw: the status it found).
    """
    name = result.pipeline_name
    err = result.error
    word = outcome_style(result).word
    title = f"Pipeline {short_name(name)} {word}"
    lines: list[str] = []
    if isinstance(err, DeploymentFailedError):
        # The server's words, each on its one line (safe_text: no line of theirs).
        code = safe_text(err.error_code, STATUS_LIMIT) if err.error_code else None
        message = safe_text(err.message, MESSAGE_LIMIT)
        summary = f"{code or '(no error code)'}: {message}"
        lines.append(f"pipeline {quoted(name)} {word} after {result.elapsed:.1f}s")
        lines.append(f"  error_code: {code or '-'}")
        lines.append(f"  message:    {message}")
    elif isinstance(err, WaitTimeoutError):
        last = err.last_event.status_text() if err.last_event is not None else "no event seen"
        if err.held_at_since:  # only a new success counted, and none came
            summary = (
                f"no new {_NEW[until]} since the wait began, within {err.timeout:g}s: it was "
                f"already {until} when the wait began, and still is (status: {last})"
            )
        else:
            summary = f"not {until} within {err.timeout:g}s (last status: {last})"
        if err.awaiting_approval is not None:  # it could not run: nobody approved
            summary += f"; {approval_words(name, err.awaiting_approval)}"
        if err.last_error:  # the wait ended in a stretch of failed polls: the poller's count
            summary += f"; last error: {err.last_error}"
        elif failures:
            summary += f"; {len(failures)} failed request(s), the last: {failures[-1]}"
        lines.append(f"pipeline {quoted(name)} {word}: {summary}")
    elif isinstance(err, ApprovalRequiredError):
        title = f"Pipeline {short_name(name)} awaits approval"
        summary = approval_words(name, err.event)
        lines.append(f"pipeline {quoted(name)} {word} after {result.elapsed:.1f}s: {summary}")
        lines.append("  (--no-wait-for-approval: the wait ends here; approving lets it run)")
    elif outcome_style(result).key == "timed_out":  # the deadline came before any answer
        summary = f"no answer within the --timeout ({result.elapsed:.3g}s)"
        lines.append(f"pipeline {quoted(name)} {word}: {summary}")
    else:
        title = f"Pipeline {short_name(name)}: error"
        summary = error_line(err, url, name) if err is not None else "unknown error"
        lines.append(f"pipeline {quoted(name)}: {summary}")
    previous: PipelineEvent | None = None
    if timeline and first_seen is not None and timeline[0].event_id == first_seen.event_id:
        # Recorded before the wait began (the status it found), not since.
        previous, timeline = timeline[0], timeline[1:]
        lines.append(f"  status when the wait began: {event_line(previous)}")
    if timeline:
        which = "events since the wait began" if first_seen is not None else "the latest events"
        lines.append(f"  {which} (oldest first):")
        for ev in timeline:
            lines.append(f"    {event_line(ev, previous)}")
            previous = ev
    return names_shortened("\n".join(lines), name), title, names_shortened(summary, name)


#: The keys of every ``event`` in ``wait --json`` (absent fields are null).
EVENT_KEYS: Final = (
    "event_id",
    "recorded_at",
    "deployment_resources_status",
    "deployment_resources_status_details",
    "deployment_resources_desired_status",
    "deployment_runtime_status",
    "deployment_runtime_status_details",
    "deployment_runtime_desired_status",
    "deployment_has_error",
    "deployment_error",
    "program_status",
    "storage_status",
    "storage_status_details",
)


def event_json(ev: PipelineEvent) -> dict[str, Any]:
    """An event for ``--json``: the same keys whatever was fetched (unknown extras kept)."""
    data = ev.to_dict()
    return {key: data.get(key) for key in EVENT_KEYS} | {
        k: v for k, v in data.items() if k not in EVENT_KEYS
    }


def _result_json(
    result: WaitResult, timeline: list[PipelineEvent] | None, failures: list[str]
) -> dict[str, Any]:
    err = result.error
    out: dict[str, Any] = {
        "outcome": outcome_style(result).key,
        "exit_code": outcome_exit_code(result),
        "elapsed": round(result.elapsed, 3),
        "event": event_json(result.event) if result.event is not None else None,
        "failed_requests": len(failures),
        "error_code": None,
        "message": None,
    }
    if isinstance(err, DeploymentFailedError | APIStatusError):
        out["error_code"] = err.error_code
        out["message"] = err.message
    elif err is not None:
        out["message"] = str(err)
    if out["message"] is not None:  # for people: the name shortened (the key is exact)
        out["message"] = names_shortened(out["message"], result.pipeline_name)
    if timeline is not None:
        out["timeline"] = [event_json(ev) for ev in timeline]
    return out


async def run_wait(
    client: EventsClient,
    names: list[str],
    *,
    timeout: float | None,
    until: Until = "provisioned",
    since: Since | None = None,
    poll: PollPolicy | None = None,
    json_output: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    wait_for_approval: bool = True,
    fleet: bool | Literal["auto"] = "auto",
) -> int:
    """The ``wait`` command on an open client; returns the exit code.

    ``until``: ``"provisioned"`` or ``"running"`` (see :meth:`Poller.as_completed`);
    ``since``: as the poller's (the CLI's ``--since-now`` passes ``"now"``: the
    server's latest event, never this machine's clock); ``fleet``: as the poller's. No
    request starts after the
    deadline: the failure timelines are read within what is left of it.

    Interrupted (SIGINT/SIGTERM cancel it), it still prints its ``--json`` document,
    with outcome ``interrupted`` for the pipelines not done, and then re-raises.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    names = list(dict.fromkeys(names))
    progress_stream = stderr if json_output else stdout
    poller = Poller(client, poll=poll, fleet=fleet)
    first_seen: dict[str, PipelineEvent] = {}
    seen: dict[str, list[PipelineEvent]] = {name: [] for name in names}
    failures: dict[str, list[str]] = {name: [] for name in names}
    results: dict[str, WaitResult] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()
    progress: LiveProgress | LineProgress

    def on_failure(name: str, exc: BaseException) -> None:
        text = failure_text(exc)
        failures[name].append(text)
        progress.retrying(name, text)

    def on_event(name: str, ev: PipelineEvent) -> None:
        first_seen.setdefault(name, ev)
        seen[name].append(ev)
        progress.event(name, ev)

    default = names[0] if len(names) == 1 else None
    try:
        async with make_progress(progress_stream, names) as progress:
            with reporting_retries(on_failure, default):
                # One as_completed for every pipeline (it spreads the first polls), each
                # result shown the moment it is known.
                stream = poller.as_completed(
                    names,
                    timeout=timeout,
                    until=until,
                    since=since,
                    on_event=on_event,
                    wait_for_approval=wait_for_approval,
                )
                async with contextlib.aclosing(stream) as done:
                    async for result in done:
                        results[result.pipeline_name] = result
                        progress.finished(result)
    except asyncio.CancelledError:
        if json_output:
            elapsed = loop.time() - start
            for name in names:
                if name not in results:
                    last = seen[name][-1] if seen[name] else None
                    results[name] = WaitResult(name, Outcome.CANCELLED, last, None, elapsed, until)
            code = interrupt_exit_code()
            doc = _json_document(client, names, results, {}, failures, code, elapsed)
            for pipeline in doc["pipelines"].values():
                if pipeline["outcome"] == "cancelled":
                    pipeline["outcome"] = OUTCOMES["interrupted"].key
                    pipeline["exit_code"] = code
            stdout.write(json.dumps(doc, indent=2) + "\n")
            stdout.flush()
        raise

    timelines: dict[str, list[PipelineEvent]] = {}
    deadline = None if timeout is None else start + timeout
    for name in names:
        result = results[name]
        if result.outcome in (Outcome.FAILED, Outcome.TIMED_OUT):
            remaining = None if deadline is None else deadline - loop.time()
            timelines[name] = await _timeline(
                client, name, first_seen.get(name), seen[name], remaining
            )

    code = combine_exit_codes([outcome_exit_code(results[name]) for name in names])
    github = in_github_actions()
    annotations = stderr if json_output else stdout
    reported_errors: set[str] = set()
    for name in names:
        result = results[name]
        if result.ok:
            continue
        if outcome_style(result).key == "error" and result.error is not None:
            line = error_line(result.error, client.url, name)
            if line not in reported_errors:  # e.g. one unreachable URL, many pipelines
                reported_errors.add(line)
                stderr.write(f"error: {line}\n")
            if github:
                title = f"Pipeline {short_name(name)}: error"
                annotations.write(github_annotation(title, line) + "\n")
            continue
        report, title, summary = _failure_report(
            result, timelines.get(name, []), client.url, failures[name], until, first_seen.get(name)
        )
        progress_stream.write(wrap_for(progress_stream, report) + "\n")
        if github:
            annotations.write(github_annotation(title, summary) + "\n")
    elapsed = loop.time() - start
    if json_output:
        doc = _json_document(client, names, results, timelines, failures, code, elapsed)
        stdout.write(json.dumps(doc, indent=2) + "\n")
    elif len(names) > 1:  # one pipeline: its progress line (or row) said it all
        stdout.write(_summary([results[name] for name in names], until, elapsed) + "\n")
    stdout.flush()
    stderr.flush()
    return code


def _summary(results: list[WaitResult], until: Until, elapsed: float) -> str:
    """The last line of a wait on several pipelines: ``all 30 pipelines provisioned in
    12.3s``, or how many ended how: ``29 provisioned, 1 failed (30 pipelines, 12.3s)``."""
    if all(r.ok for r in results):
        return f"all {len(results)} pipelines {until} in {elapsed:.1f}s"
    ordered = sorted(results, key=lambda r: list(OUTCOMES).index(outcome_style(r).key))
    counts = collections.Counter(outcome_word(result).lower() for result in ordered)
    said = ", ".join(f"{n} {word}" for word, n in counts.items())
    return f"{said} ({len(results)} pipelines, {elapsed:.1f}s)"


def _json_document(
    client: EventsClient,
    names: list[str],
    results: dict[str, WaitResult],
    timelines: dict[str, list[PipelineEvent]],
    failures: dict[str, list[str]],
    code: int,
    elapsed: float,
) -> dict[str, Any]:
    return {
        "ok": code == EXIT_OK,
        "exit_code": code,
        "elapsed": round(elapsed, 3),
        "url": client.url,
        "pipelines": {
            name: _result_json(results[name], timelines.get(name), failures[name]) for name in names
        },
    }
