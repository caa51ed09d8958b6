"""``wait --until running`` on a pipeline that awaits approval of its changes: it says so
while waiting and at the end, and ``--no-wait-for-approval`` ends the wait at once with
its own outcome and exit code (5)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest
from cli_support import run_cli
from test_approval_waits import CHANGES, NEW, OLD
from test_cli_display import live_screen, pipeline_event

from feldera_events import PipelineEvent
from feldera_events._convert import structure
from feldera_events.cli._progress import LiveProgress
from feldera_events.cli._render import (
    EXIT_APPROVAL,
    EXIT_FAILED,
    EXIT_TIMEOUT,
    approval_words,
    combine_exit_codes,
)
from feldera_events.testing import FakeFeldera

FAST = ("--poll-interval", "0.05")
APPROVE = "POST /v0/pipelines/p/approve, or `fda approve`"


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    """``p`` ran ``OLD``, was changed to ``NEW`` and started with await_approval."""
    async with FakeFeldera(speed=50) as server:
        server.create_pipeline("p", program_code=OLD)
        server.start("p")
        await server.wait_for_status("p", deployment_status="Running")
        server.stop("p")
        await server.wait_for_status("p", deployment_status="Stopped")
        server.update_pipeline("p", program_code=NEW)
        await server.wait_for_status("p", program_status="Success")
        server.start("p", bootstrap_policy="await_approval")
        yield server


async def test_no_wait_for_approval_exits_5_at_once(fake: FakeFeldera) -> None:
    args = ("wait", "p", "--until", "running", "--no-wait-for-approval", "--timeout", "60")
    ran = await run_cli(*args, *FAST, url=fake.url)
    assert ran.returncode == EXIT_APPROVAL == 5, ran
    assert ran.elapsed < 30, ran  # at once, not at the timeout
    assert re.search(r"  p  UNAPPROVED after \d+\.\ds$", ran.stdout, re.M), ran.stdout
    assert (
        "pipeline 'p' UNAPPROVED after" in ran.stdout
        and f"it awaits approval of its changes ({CHANGES}): {APPROVE}" in ran.stdout
    ), ran.stdout
    ran = await run_cli(*args, "--json", *FAST, url=fake.url)
    assert ran.returncode == EXIT_APPROVAL, ran
    doc = json.loads(ran.stdout)["pipelines"]["p"]
    assert doc["outcome"] == "awaiting_approval" and doc["exit_code"] == EXIT_APPROVAL, doc
    assert "awaits approval of its changes" in doc["message"], doc
    assert doc["event"]["deployment_runtime_status_details"]["approval_diff"]["program_diff"]


async def test_a_wait_says_it_while_waiting_and_at_the_timeout(fake: FakeFeldera) -> None:
    ran = await run_cli("wait", "p", "--until", "running", "--timeout", "1.5", *FAST, url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    lines = ran.stdout.splitlines()
    # While waiting: a line right after the status change says what awaits approval.
    at = next(i for i, line in enumerate(lines) if "Provisioned/AwaitingApproval" in line)
    assert lines[at + 1].endswith(f"  p  it awaits approval of its changes ({CHANGES}): {APPROVE}")
    # At the end: the timeout says why it could not run.
    assert re.search(
        rf"not running within 1.5s \(last status: Provisioned/AwaitingApproval → Running\); "
        rf"it awaits approval of its changes \({CHANGES}\)",
        ran.stdout,
    ), ran.stdout


async def test_a_provisioned_wait_says_it_read_no_details(fake: FakeFeldera) -> None:
    # Review of issue 26: `--until provisioned` polls status events (no details) and said
    # "(the event does not say which)", when the wait had not read the details at all.
    ran = await run_cli("wait", "p", "--timeout", "30", *FAST, url=fake.url)
    assert ran.returncode == 0, ran
    assert (
        "it awaits approval of its changes (its details were not read: "
        f"`feldera-events get p` shows them): {APPROVE}"
    ) in ran.stdout, ran.stdout
    assert "does not say which" not in ran.stdout


def test_an_event_read_in_full_without_a_diff_does_not_say_which() -> None:
    wire = pipeline_event("Provisioned", "Provisioned").to_dict() | {
        "deployment_runtime_status": "AwaitingApproval",
        "deployment_runtime_desired_status": "Running",
        "deployment_runtime_status_details": None,  # read (selector=all): nothing said
    }
    event: PipelineEvent = structure(wire, PipelineEvent)
    assert approval_words("p", event).startswith(
        "it awaits approval of its changes (the event does not say which): POST"
    )


def test_exit_code_5_ranks_below_a_failure_above_a_timeout() -> None:
    assert combine_exit_codes([EXIT_TIMEOUT, EXIT_APPROVAL]) == EXIT_APPROVAL
    assert combine_exit_codes([EXIT_APPROVAL, EXIT_FAILED]) == EXIT_FAILED


async def test_help_documents_the_option_and_exit_5() -> None:
    ran = await run_cli("wait", "--help", env={"COLUMNS": "100"})
    assert ran.returncode == 0, ran
    text = " ".join(ran.stdout.split())
    assert "--no-wait-for-approval" in text and "AwaitingApproval" in text
    assert "5 --until running --no-wait-for-approval: a pipeline awaits approval" in text
    assert "4 > 1 > 5 > 3 > 0" in text


async def test_the_live_row_says_it_awaits_approval(monkeypatch: pytest.MonkeyPatch) -> None:
    wire = pipeline_event("Provisioned", "Provisioned").to_dict() | {
        "deployment_runtime_status": "AwaitingApproval",
        "deployment_runtime_desired_status": "Running",
        "deployment_runtime_status_details": {
            "approval_diff": {"program_diff": {"added_views": ["w"]}}
        },
    }
    awaiting: PipelineEvent = structure(wire, PipelineEvent)

    def script(progress: LiveProgress) -> None:
        progress.event("p", awaiting)

    lines = await live_screen(monkeypatch, 100, ["p"], script)
    assert len(lines) == 1 and "Provisioned/AwaitingApproval → Running" in lines[0], lines
    assert "awaits approval: views added: w" in lines[0], lines
