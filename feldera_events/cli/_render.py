"""Rendering for the CLI: exit codes and the outcome table, the one time formatter, the one table renderer, event lines, error lines, GitHub annotations."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from typing import Final

from .._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ClusterEventsUnsupportedError,
    DeploymentFailedError,
    EventNotFoundError,
    NoEventsYetError,
    PermissionDeniedError,
    PipelineNotFoundError,
    ResponseValidationError,
    WaitTimeoutError,
)
from .._models import DeploymentError, PipelineEvent
from .._poller import Outcome, WaitResult

__all__ = [
    "EXIT_API",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "UsageError",
    "combine_exit_codes",
    "error_line",
    "event_line",
    "exit_code_for",
    "format_time",
    "github_annotation",
    "in_github_actions",
    "outcome_exit_code",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_TIMEOUT: Final = 3
EXIT_API: Final = 4
EXIT_INTERRUPTED: Final = 130

#: When pipelines of one ``wait`` end differently, the exit code is the first of these
#: that occurred.
EXIT_PRECEDENCE: Final = (EXIT_API, EXIT_FAILED, EXIT_TIMEOUT, EXIT_OK)


def format_time(when: _dt.datetime) -> str:
    """An RFC 3339 UTC timestamp with milliseconds, e.g. ``2026-08-20T10:11:12.123Z``."""
    return when.astimezone(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UsageError(Exception):
    """Bad input found before any request: exit 2."""


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


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS", "").strip().lower() == "true"


def event_line(ev: PipelineEvent) -> str:
    text = f"{format_time(ev.recorded_at)}  {ev.describe()}"
    error = ev.deployment_error
    if isinstance(error, DeploymentError):
        text += f"  {error.error_code}: {error.message}"
    return text
