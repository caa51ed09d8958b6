"""The CLI's exit-code table, entry by entry, as the README documents it ("`wait` exit
codes", and 74 / 141 for output that cannot be written): what a CI job branches on."""

from __future__ import annotations

import asyncio

import pytest

from feldera_events import (
    APIConnectionError,
    DeploymentFailedError,
    DeploymentStoppedError,
    PipelineNotFoundError,
    WaitTimeoutError,
)
from feldera_events._poller import Outcome, WaitResult
from feldera_events.cli import _render
from feldera_events.cli._render import (
    OUTCOMES,
    UsageError,
    combine_exit_codes,
    exit_code_for,
    outcome_exit_code,
    outcome_style,
)


def test_the_documented_codes() -> None:
    documented = {
        "EXIT_OK": 0,
        "EXIT_FAILED": 1,
        "EXIT_UNHEALTHY": 1,
        "EXIT_USAGE": 2,
        "EXIT_TIMEOUT": 3,
        "EXIT_API": 4,
        "EXIT_APPROVAL": 5,
        "EXIT_OUTPUT": 74,
        "EXIT_INTERRUPTED": 130,
        "EXIT_BROKEN_PIPE": 141,
        "EXIT_TERMINATED": 143,
    }
    assert {name: getattr(_render, name) for name in documented} == documented


def test_each_outcome_has_its_code_and_json_key() -> None:
    codes = {key: style.exit_code for key, style in OUTCOMES.items()}
    assert codes == {
        "succeeded": 0,
        "failed": 1,
        "stopped": 1,
        "timed_out": 3,
        "error": 4,
        "awaiting_approval": 5,
        "cancelled": 130,
        "interrupted": 130,
    }
    assert all(key == style.key for key, style in OUTCOMES.items())


def _error(kind: str) -> BaseException:
    if kind == "failed":
        return DeploymentFailedError("p", None, error_code="E", message="m")
    if kind == "stopped":
        return DeploymentStoppedError("p", None, message="m")
    if kind == "timeout":
        return WaitTimeoutError("p", timeout=1.0, elapsed=1.0, polls=1, last_event=None)
    if kind == "not found":
        return PipelineNotFoundError("m", status_code=404, error_code="UnknownPipelineName")
    return APIConnectionError("m", url="http://h")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad option"), 2),
        (ValueError("bad pipeline name"), 2),
        (TypeError("bad type"), 2),
        ("failed", 1),
        ("stopped", 1),
        ("timeout", 3),
        ("not found", 4),
        ("connection", 4),
        (RuntimeError("anything else"), 4),
    ],
)
def test_an_error_is_exit(error: BaseException | str, code: int) -> None:
    exc = _error(error) if isinstance(error, str) else error
    assert exit_code_for(exc) == code


def _result(outcome: Outcome, error: BaseException | None = None) -> WaitResult:
    return WaitResult("p", outcome, None, error, 1.0)


@pytest.mark.parametrize(
    ("result", "key", "code"),
    [
        (_result(Outcome.SUCCEEDED), "succeeded", 0),
        (_result(Outcome.FAILED, _error("failed")), "failed", 1),
        (_result(Outcome.FAILED, _error("stopped")), "stopped", 1),
        (_result(Outcome.TIMED_OUT, _error("timeout")), "timed_out", 3),
        (_result(Outcome.ERROR, _error("not found")), "error", 4),
        # An error takes its code from the error: bad input found by the wait is a 2.
        (_result(Outcome.ERROR, ValueError("bad name")), "error", 2),
        (_result(Outcome.ERROR), "error", 4),
        (_result(Outcome.AWAITING_APPROVAL), "awaiting_approval", 5),
        (_result(Outcome.CANCELLED), "cancelled", 130),
        # Only an error outcome takes its code from the error it carries.
        (_result(Outcome.CANCELLED, asyncio.CancelledError()), "cancelled", 130),
        (_result(Outcome.AWAITING_APPROVAL, RuntimeError("awaits")), "awaiting_approval", 5),
    ],
)
def test_a_waits_outcome_is_exit(result: WaitResult, key: str, code: int) -> None:
    assert outcome_style(result).key == key
    assert outcome_exit_code(result) == code


@pytest.mark.parametrize(
    ("codes", "combined"),
    [
        ([], 0),
        ([0, 0], 0),
        ([0, 3], 3),
        ([3, 5, 0], 5),
        ([5, 1, 3], 1),
        ([1, 4, 5], 4),
        ([0, 3, 5, 1, 4], 4),
        ([4, 1, 5, 3, 0], 4),
        # Anything outside the precedence wins outright: an interruption, bad input.
        ([4, 130], 130),
        ([2, 4], 2),
        ([143, 1], 143),
    ],
)
def test_several_pipelines_combine_by_precedence(codes: list[int], combined: int) -> None:
    # README: "the most serious outcome wins, in the order 4 > 1 > 5 > 3 > 0".
    assert combine_exit_codes(codes) == combined
