"""Rendering for the CLI: exit codes and the outcome table, the one time formatter, the one table renderer, event lines, error lines, GitHub annotations."""

from __future__ import annotations

import datetime as _dt
import os
import re
import shlex
from collections.abc import Sequence
from typing import Final
from urllib.parse import quote

import attrs

from .._convert import format_datetime
from .._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ClusterEventsUnsupportedError,
    EventNotFoundError,
    NoEventsYetError,
    PermissionDeniedError,
    PipelineNotFoundError,
    ResponseValidationError,
)
from .._fields import UNSET
from .._pipeline_event import DeploymentError, PipelineEvent
from .._poller import WaitResult
from .._text import STATUS_LIMIT, safe_text
from .._wait_errors import DeploymentFailedError, WaitTimeoutError, approval_text

__all__ = [
    "EXIT_API",
    "EXIT_APPROVAL",
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_TIMEOUT",
    "EXIT_UNHEALTHY",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "EVENT_COLUMNS",
    "OUTCOMES",
    "OutcomeStyle",
    "STATUS_LIMIT",
    "CommandError",
    "UsageError",
    "approval_words",
    "combine_exit_codes",
    "connection_text",
    "error_line",
    "event_row",
    "event_line",
    "exit_code_for",
    "format_time",
    "github_annotation",
    "in_github_actions",
    "name_text",
    "names_shortened",
    "outcome_exit_code",
    "outcome_style",
    "outcome_word",
    "quoted",
    "render_table",
    "safe_text",
    "short_name",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_TIMEOUT: Final = 3
EXIT_API: Final = 4
#: ``wait --until running --no-wait-for-approval``: a pipeline awaits approval of its changes.
EXIT_APPROVAL: Final = 5
EXIT_INTERRUPTED: Final = 130
#: ``health``: the manager answered that a service is unhealthy (as a failed wait).
EXIT_UNHEALTHY: Final = 1
#: get, list, watch, cluster-events, health: the output could not be written (a full
#: disk, a stdout closed from the start): sysexits.h's EX_IOERR.
EXIT_OUTPUT: Final = 74
#: The same when the reader went away (a broken pipe): 128 + SIGPIPE, as a process the
#: signal killed (``yes | head -1``).
EXIT_BROKEN_PIPE: Final = 141
#: SIGTERM (128 + 15): stopped by a service manager or ``kill``; handled like Ctrl-C.
EXIT_TERMINATED: Final = 143

#: When pipelines of one ``wait`` end differently, the exit code is the first of these
#: that occurred.
EXIT_PRECEDENCE: Final = (EXIT_API, EXIT_FAILED, EXIT_APPROVAL, EXIT_TIMEOUT, EXIT_OK)


def format_time(when: _dt.datetime) -> str:
    """An RFC 3339 UTC timestamp with milliseconds, e.g. ``2026-08-20T10:11:12.123Z``."""
    return format_datetime(when, "milliseconds", utc=True)


class CommandError(Exception):
    """How a command ends, in words: one line on stderr (``error: ...``), and its exit code."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.code = code


class UsageError(CommandError):
    """Bad input found before any request: exit 2."""

    def __init__(self, line: str) -> None:
        super().__init__(line, EXIT_USAGE)


# -- outcomes ---------------------------------------------------------------------------


@attrs.frozen
class OutcomeStyle:
    """How one way of ending a wait is shown: the JSON ``outcome``, the word, the colour."""

    #: The ``outcome`` of ``wait --json`` (also the key of :data:`OUTCOMES`).
    key: str
    #: The word of the progress display and the summary.
    word: str
    exit_code: int
    #: A rich style name.
    colour: str
    #: The mark of the live display's row.
    mark: str


#: THE table: every way a wait can end. ``stopped`` refines ``failed`` (someone stopped
#: the pipeline: :class:`DeploymentStoppedError`); ``interrupted`` is Ctrl-C / SIGTERM;
#: ``awaiting_approval``: ``--no-wait-for-approval`` ended the wait at an approval.
#: An ``error`` takes its exit code from the error (2 for bad input, else 4).
OUTCOMES: Final[dict[str, OutcomeStyle]] = {
    s.key: s
    for s in (
        OutcomeStyle("succeeded", "provisioned", EXIT_OK, "green", "+"),
        OutcomeStyle("failed", "FAILED", EXIT_FAILED, "red", "x"),
        OutcomeStyle("stopped", "STOPPED", EXIT_FAILED, "red", "x"),
        OutcomeStyle("timed_out", "TIMED OUT", EXIT_TIMEOUT, "yellow", "!"),
        OutcomeStyle("error", "ERROR", EXIT_API, "red", "x"),
        OutcomeStyle("awaiting_approval", "UNAPPROVED", EXIT_APPROVAL, "yellow", "?"),
        OutcomeStyle("cancelled", "cancelled", EXIT_INTERRUPTED, "yellow", "-"),
        OutcomeStyle("interrupted", "interrupted", EXIT_INTERRUPTED, "yellow", "-"),
    )
}


def outcome_style(result: WaitResult) -> OutcomeStyle:
    """The row of :data:`OUTCOMES` for how ``result`` ended."""
    if result.stopped:
        return OUTCOMES["stopped"]
    return OUTCOMES[result.outcome.value]


def outcome_word(result: WaitResult) -> str:
    """The word for how ``result`` ended: a success says what was waited for
    (``result.until``: ``"provisioned"`` or ``"running"``), anything else its
    :data:`OUTCOMES` word."""
    style = outcome_style(result)
    return result.until if style.key == "succeeded" else style.word


# -- text -------------------------------------------------------------------------------

#: Longest pipeline name shown whole in a message; longer ones are shortened.
MAX_NAME: Final = 60

#: The most of one error line or server message shown (all server text goes through
#: :func:`safe_text`: escaped, one line, bounded; ``--json`` keeps the exact text; a
#: status line: ``STATUS_LIMIT``).
LINE_LIMIT: Final = 1000
MESSAGE_LIMIT: Final = 1000


def name_text(name: str) -> str:
    """A pipeline name as people see it: whole, its control characters escaped
    (:func:`safe_text`), since a name may come from a server (a fleet script passes on
    the names a manager lists) or a hostile argument; ``--json`` keeps the exact name."""
    return safe_text(name, None)


def short_name(name: str, limit: int = MAX_NAME) -> str:
    """``name`` as people see it (:func:`name_text`), shortened to ``limit`` characters
    with an ellipsis in the middle."""
    name = name_text(name)
    if len(name) <= limit:
        return name
    keep = limit - 1
    return name[: keep - keep // 2] + "…" + name[-(keep // 2) :]


def names_shortened(text: str, name: str | None) -> str:
    """``text`` with every occurrence of a long pipeline ``name`` shortened
    (:func:`short_name`): for messages that quote the name themselves (the server's)."""
    if name is None or len(name) <= MAX_NAME:
        return text
    return text.replace(name, short_name(name))


def quoted(name: str) -> str:
    """A pipeline name for a message: quoted, escaped, and shortened when very long."""
    return f"'{short_name(name)}'"


def approval_words(name: str, event: PipelineEvent) -> str:
    """That the pipeline awaits approval, of what (the event's details, when read in full:
    else how to read them), and how to give it."""
    changes = approval_text(event)
    if not changes and event.deployment_runtime_status_details is UNSET:
        # A status event (a wait's poll): the details were not read, not empty.
        get = f"feldera-events get {shlex.quote(name_text(name))}"
        changes = f"its details were not read: `{get}` shows them"
    changes = changes or "the event does not say which"
    path = f"/v0/pipelines/{quote(name, safe='')}/approve"
    return f"it awaits approval of its changes ({changes}): POST {path}, or `fda approve`"


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """THE table renderer: left-aligned columns two spaces apart, no trailing blanks."""
    all_rows = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in all_rows
    )


EVENT_COLUMNS: Final = ("RECORDED_AT", "STATUS", "PROGRAM", "STORAGE", "ERROR", "EVENT_ID")


def event_row(ev: PipelineEvent) -> tuple[str, ...]:
    """One row of ``list --format table``: the columns of the status line."""
    error = ev.deployment_error
    if isinstance(error, DeploymentError):
        err = safe_text(error.error_code, STATUS_LIMIT)
    else:
        err = "yes" if ev.deployment_has_error else "-"
    text = ev.status_text().split(", ", 1)[0]
    return (
        format_time(ev.recorded_at),
        text,
        safe_text(ev.program_status.value, STATUS_LIMIT),
        safe_text(ev.storage_status.value, STATUS_LIMIT),
        err,
        str(ev.event_id),
    )


# -- errors -----------------------------------------------------------------------------


#: aiohttp's connector names its TLS setting even for http:// (``ssl:default``).
_SSL_NOTE = re.compile(r" ssl:(?:default|None|True|False|<[^>]*>)")


def connection_text(exc: BaseException) -> str:
    """Why a connection failed (the first cause that is not ours), without aiohttp's
    ``ssl:default`` noise."""
    cause = exc.__cause__
    while isinstance(cause, APIConnectionError):
        cause = cause.__cause__
    text = str(cause or "") or getattr(exc, "message", None) or str(exc)
    return _SSL_NOTE.sub("", text)


def error_line(exc: BaseException, url: str, pipeline: str | None = None) -> str:
    """One readable line for an error (never with the API key; a long ``pipeline`` name
    shortened, also where the server's message quotes it; the server's text made safe)."""
    return safe_text(names_shortened(_error_line(exc, url, pipeline), pipeline), LINE_LIMIT)


def _error_line(exc: BaseException, url: str, pipeline: str | None) -> str:
    where = f" at {url}"
    if isinstance(exc, ClusterEventsUnsupportedError):
        return f"the manager{where} has no cluster monitor events (they are new in Feldera v0.292)"
    if isinstance(exc, PipelineNotFoundError):
        name = pipeline
        if isinstance(exc.details, dict) and isinstance(exc.details.get("pipeline_name"), str):
            name = exc.details["pipeline_name"]
        return f"pipeline {quoted(name or '')} not found{where} (UnknownPipelineName)"
    if isinstance(exc, NoEventsYetError):
        return f"pipeline {quoted(pipeline or '')} has no events recorded yet{where}"
    if isinstance(exc, EventNotFoundError):
        return f"{exc.message} (pipeline {quoted(pipeline or '')}{where})"
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
        return f"cannot reach the Feldera manager{where}: {connection_text(exc)}"
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
    """The exit code of one pipeline's wait, from :data:`OUTCOMES` (an error's own code)."""
    style = outcome_style(result)
    if style.key == "error" and result.error is not None:
        return exit_code_for(result.error)
    return style.exit_code


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
    """A GitHub Actions ``::error::`` workflow command: one line, whatever ``title`` and
    ``message`` hold (made safe first: no server text can end it and start another)."""
    title, message = safe_text(title, LINE_LIMIT), safe_text(message, LINE_LIMIT)
    return f"::error title={_gha_escape(title, prop=True)}::{_gha_escape(message)}"


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS", "").strip().lower() == "true"


def event_line(ev: PipelineEvent, previous: PipelineEvent | None = None) -> str:
    """THE event line (timelines, ``watch``): when it was recorded, what it says."""
    text = f"{format_time(ev.recorded_at)}  {ev.status_text(previous)}"
    error = ev.deployment_error
    if isinstance(error, DeploymentError):
        text += f": {safe_text(error.message, MESSAGE_LIMIT)}"
    return text
