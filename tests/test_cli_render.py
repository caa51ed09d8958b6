"""The status notation (``PipelineEvent.status_text``, the CLI's and the library's), the
event line and the rows of ``list --format table``, on hand-made events: what the
docs/concepts.md's "The status notation" promises, part by part."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import EVENT_ID, event_json

from feldera_events import PipelineEvent
from feldera_events._convert import structure
from feldera_events.cli._render import EVENT_COLUMNS, event_line, event_row

TIMEOUT_ERROR = {
    "error_code": "PipelineProvisioningTimeout",
    "message": "provisioning timed out (timeout: 10s)",
    "details": None,
}


def ev(**overrides: Any) -> PipelineEvent:
    """A stopped pipeline's event (status selector), with ``overrides``."""
    return structure(event_json(**overrides), PipelineEvent)


def status_text(event: PipelineEvent, previous: PipelineEvent | None = None) -> str:
    """The notation, as the CLI, the examples and ``describe()`` use it."""
    text = event.status_text(previous)
    if previous is None:
        assert event.describe() == text
    return text


def provisioned(runtime: str = "Running", desired: str = "Running", **more: Any) -> PipelineEvent:
    fields: dict[str, Any] = {
        "deployment_resources_status": "Provisioned",
        "deployment_resources_desired_status": "Provisioned",
        "deployment_runtime_status": runtime,
        "deployment_runtime_desired_status": desired,
        "storage_status": "InUse",
    }
    return ev(**(fields | more))


# -- RESOURCES[/RUNTIME][ → DESIRED] ----------------------------------------------------


def test_resources_then_runtime_and_no_arrow_when_there() -> None:
    assert status_text(ev()) == "Stopped"
    assert status_text(provisioned()) == "Provisioned/Running"


@pytest.mark.parametrize(
    ("resources", "desired", "expected"),
    [
        ("Stopped", "Provisioned", "Stopped → Provisioned"),  # right after a start
        ("Provisioning", "Provisioned", "Provisioning → Provisioned"),
        ("Stopping", "Stopped", "Stopping → Stopped"),
    ],
)
def test_the_desired_resources_status_when_it_differs(
    resources: str, desired: str, expected: str
) -> None:
    event = ev(deployment_resources_status=resources, deployment_resources_desired_status=desired)
    assert status_text(event) == expected


@pytest.mark.parametrize(
    ("runtime", "desired", "expected"),
    [
        ("Running", "Paused", "Provisioned/Running → Paused"),
        ("Initializing", "Running", "Provisioned/Initializing → Running"),
        ("Paused", "Running", "Provisioned/Paused → Running"),
        ("Paused", "Paused", "Provisioned/Paused"),
    ],
)
def test_the_desired_runtime_status_when_it_differs(
    runtime: str, desired: str, expected: str
) -> None:
    assert status_text(provisioned(runtime, desired)) == expected


def test_the_desired_resources_status_comes_before_the_runtimes() -> None:
    # Being stopped while asked to pause: one arrow, the resources' (the bigger move).
    stopping = provisioned("Running", "Paused", deployment_resources_desired_status="Stopped")
    assert status_text(stopping) == "Provisioned/Running → Stopped"


# -- details: program, storage, error ---------------------------------------------------


@pytest.mark.parametrize(
    ("program", "words"),
    [
        ("Pending", "program pending"),
        ("CompilingSql", "compiling SQL"),
        ("SqlCompiled", "SQL compiled"),
        ("CompilingRust", "compiling Rust"),
        ("SqlError", "SQL error"),
        ("RustError", "Rust error"),
        ("SystemError", "compiler system error"),
        ("Transpiling", "program Transpiling"),  # a status this version does not know
    ],
)
def test_the_program_status_while_not_success(program: str, words: str) -> None:
    assert status_text(ev(program_status=program)) == f"Stopped, {words}"


def test_the_storage_status_only_when_it_changed() -> None:
    cleared = ev()
    in_use = ev(storage_status="InUse")
    assert status_text(in_use) == "Stopped"  # no previous event: nothing to compare
    assert status_text(in_use, cleared) == "Stopped, storage Cleared → InUse"
    assert status_text(in_use, in_use) == "Stopped"


def test_the_error_its_code_or_that_there_is_one() -> None:
    failed = ev(selector="all", deployment_has_error=True, deployment_error=TIMEOUT_ERROR)
    assert status_text(failed) == "Stopped, error PipelineProvisioningTimeout"
    # selector=status: the event says there is an error, not which.
    assert status_text(ev(deployment_has_error=True)) == "Stopped, has error"


def test_every_part_in_order() -> None:
    previous = ev(storage_status="InUse")
    event = ev(
        selector="all",
        deployment_resources_status="Stopping",
        program_status="SqlError",
        storage_status="Cleared",
        deployment_has_error=True,
        deployment_error=TIMEOUT_ERROR,
    )
    assert status_text(event, previous) == (
        "Stopping → Stopped, SQL error, storage InUse → Cleared, error PipelineProvisioningTimeout"
    )


def test_the_event_line_adds_the_time_and_the_error_message() -> None:
    failed = ev(selector="all", deployment_has_error=True, deployment_error=TIMEOUT_ERROR)
    assert event_line(failed) == (
        "2026-08-20T10:11:12.123Z  Stopped, error PipelineProvisioningTimeout: "
        "provisioning timed out (timeout: 10s)"
    )
    assert event_line(provisioned()) == "2026-08-20T10:11:12.123Z  Provisioned/Running"


# -- list --format table ----------------------------------------------------------------


def test_list_table_columns() -> None:
    assert EVENT_COLUMNS == ("RECORDED_AT", "STATUS", "PROGRAM", "STORAGE", "ERROR", "EVENT_ID")
    paused = provisioned("Running", "Paused")
    assert event_row(paused) == (
        "2026-08-20T10:11:12.123Z",
        "Provisioned/Running → Paused",  # the status line's first part only
        "Success",
        "InUse",
        "-",
        EVENT_ID,
    )
    compiling = ev(program_status="CompilingSql", deployment_has_error=True)
    assert event_row(compiling)[1:5] == ("Stopped", "CompilingSql", "Cleared", "yes")
    failed = ev(selector="all", deployment_has_error=True, deployment_error=TIMEOUT_ERROR)
    assert event_row(failed)[1:5] == (
        "Stopped",
        "Success",
        "Cleared",
        "PipelineProvisioningTimeout",
    )
