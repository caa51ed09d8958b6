"""Waiting on an approval: a pipeline started with ``bootstrap_policy=await_approval``
after a program change stops at runtime ``AwaitingApproval`` until someone approves.

The wait says so (the event with its details, a WARNING, the timeout's message) and,
with ``wait_for_approval=False``, ends at once (:class:`ApprovalRequiredError`). The
decision is the machine's (fed plain data here), the rest runs against FakeFeldera.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_waits import event, machine

from feldera_events import (
    ApprovalRequiredError,
    EventNotFoundError,
    EventsClient,
    Outcome,
    PipelineEvent,
    Poller,
    PollPolicy,
    Selector,
    WaitTimeoutError,
)
from feldera_events._acceptors import RUNNING
from feldera_events._convert import structure
from feldera_events._decisions import Fail, Need, PollAt, Request
from feldera_events.testing import FakeFeldera

FAST = PollPolicy(initial=0.02, maximum=0.05, jitter=0.0)
OLD = "CREATE TABLE t (x INT); CREATE VIEW v AS SELECT * FROM t;"
NEW = "CREATE TABLE t (x INT); CREATE VIEW v AS SELECT x FROM t; CREATE VIEW w AS SELECT * FROM t;"
CHANGES = "views added: w; views modified: v"
DIFF = {
    "program_diff": {
        "added_tables": [],
        "removed_tables": [],
        "modified_tables": [],
        "added_views": ["w"],
        "removed_views": [],
        "modified_views": ["v"],
    },
    "program_diff_error": None,
    "added_input_connectors": ["kafka_in"],
}


def with_details(ev: PipelineEvent, details: Any) -> PipelineEvent:
    data = ev.to_dict() | {
        "deployment_error": None,
        "deployment_resources_status_details": None,
        "deployment_runtime_status_details": details,
        "storage_status_details": None,
    }
    result: PipelineEvent = structure(data, PipelineEvent)
    return result


# -- the machine ------------------------------------------------------------------------


@pytest.mark.parametrize("wait", [True, False])
def test_the_machine_reads_the_approval_then_waits_or_ends(wait: bool) -> None:
    m = machine(RUNNING, what="Running", approval=wait)
    m.begin(0.0)
    assert isinstance(
        m.answered(event("Provisioned", "Provisioned", "Initializing", "Running"), 0.1), PollAt
    )
    awaiting = event("Provisioned", "Provisioned", "AwaitingApproval", "Running", at=1)
    # Not emitted yet: it is read in full first, and emitted with its details.
    assert m.answered(awaiting, 1.0) == Need(Request("event", awaiting.event_id, Selector.ALL))
    # Of that event only: cleaned up, it is the poll's event that awaits approval, never
    # whatever `latest` says by then (`or_latest` is the failure's read alone).
    assert m.pending.or_latest is False
    full = with_details(awaiting, {"approval_diff": DIFF})
    decision = m.answered(full, 1.1)
    assert decision.emit == (full,)
    if wait:
        assert isinstance(decision, PollAt)
        (said,) = decision.log  # the driver logs it: a WARNING
        assert said.level == logging.WARNING
        assert CHANGES in said.message and "/v0/pipelines/p/approve" in said.message
        # The same event again: no second read; the deadline: a timeout naming the approval.
        assert isinstance(m.answered(awaiting, 2.0), PollAt)
        err = m.timeout_error(100.0)
        assert err.awaiting_approval == full
        assert f"it awaits approval of its changes ({CHANGES}; input connectors added" in str(err)
    else:
        assert isinstance(decision, Fail) and isinstance(decision.error, ApprovalRequiredError)
        assert decision.error.approval_diff == DIFF and decision.error.event == full
        assert decision.error.changes == f"{CHANGES}; input connectors added: kafka_in"


def test_a_timeout_names_an_approval_only_while_the_last_event_awaits_it() -> None:
    m = machine(RUNNING, what="Running", approval=True)
    m.begin(0.0)
    awaiting = event("Provisioned", "Provisioned", "AwaitingApproval", "Running", at=1)
    m.answered(awaiting, 1.0)
    m.answered(with_details(awaiting, {"approval_diff": DIFF}), 1.1)
    assert m.timeout_error(50.0).awaiting_approval is not None
    # Approved: the runtime moves on; a timeout now says nothing of an approval.
    m.answered(event("Provisioned", "Provisioned", "Initializing", "Running", at=2), 2.0)
    err = m.timeout_error(100.0)
    assert err.awaiting_approval is None and "approval" not in str(err)


def test_after_reading_an_approval_the_wait_polls_at_the_initial_interval() -> None:
    growing = PollPolicy(initial=1.0, factor=2.0, maximum=64.0, jitter=0.0, grow_after=0.0)
    m = machine(RUNNING, what="Running", approval=True, poll=growing, timeout=None)
    m.begin(0.0)
    starting = event("Provisioned", "Provisioned", "Initializing", "Running")
    assert [m.answered(starting, t).at for t in (0.0, 1.0, 3.0)] == [1.0, 3.0, 7.0]
    awaiting = event("Provisioned", "Provisioned", "AwaitingApproval", "Running", at=7)
    m.answered(awaiting, 7.0)
    decision = m.answered(with_details(awaiting, {"approval_diff": DIFF}), 7.0)
    assert isinstance(decision, PollAt) and decision.at == 8.0  # something moved: 1 s


def test_an_approval_cleaned_up_before_its_read_still_ends_the_wait() -> None:
    m = machine(RUNNING, what="Running", approval=False)
    m.begin(0.0)
    awaiting = event("Provisioned", "Provisioned", "AwaitingApproval", "Running")
    assert isinstance(m.answered(awaiting, 0.1), Need)
    decision = m.failed(EventNotFoundError("gone", status_code=404), 0.2)
    assert isinstance(decision, Fail) and isinstance(decision.error, ApprovalRequiredError)
    assert decision.emit == (awaiting,) and decision.error.changes == ""


def test_older_managers_sent_the_diff_as_the_details() -> None:
    m = machine(RUNNING, what="Running", approval=False)
    m.begin(0.0)
    awaiting = event("Provisioned", "Provisioned", "AwaitingApproval", "Running")
    m.answered(awaiting, 0.1)
    decision = m.answered(with_details(awaiting, DIFF), 0.2)
    assert isinstance(decision, Fail) and isinstance(decision.error, ApprovalRequiredError)
    assert decision.error.changes.startswith(CHANGES)


def test_a_provisioned_wait_does_not_look_at_approvals() -> None:
    m = machine()  # until provisioned: an AwaitingApproval pipeline is provisioned
    m.begin(0.0)
    awaiting = event("Provisioned", "Provisioned", "AwaitingApproval", "Running")
    assert m.answered(awaiting, 0.1).__class__.__name__ == "Succeed"


# -- against the simulated manager ------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
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


@pytest.fixture
async def poller(fake: FakeFeldera) -> AsyncIterator[Poller]:
    async with EventsClient(fake.url) as client:
        yield Poller(client, poll=FAST)


async def test_a_wait_says_what_awaits_approval_and_times_out(
    fake: FakeFeldera, poller: Poller, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[PipelineEvent] = []
    with (
        caplog.at_level(logging.WARNING, logger="feldera_events"),
        pytest.raises(WaitTimeoutError) as info,
    ):
        await poller.wait_until_running("p", timeout=1.5, on_event=seen.append)
    err = info.value
    assert err.awaiting_approval is not None
    assert f"it awaits approval of its changes ({CHANGES}): POST /v0/pipelines/p/approve" in str(
        err
    )
    approvals = [ev for ev in seen if ev.deployment_runtime_status == "AwaitingApproval"]
    assert len(approvals) == 1 and approvals[0].deployment_runtime_status_details is not None
    warnings = [r.getMessage() for r in caplog.records if "awaits approval" in r.getMessage()]
    assert len(warnings) == 1 and CHANGES in warnings[0], caplog.records


async def test_wait_for_approval_false_ends_the_wait_at_once(
    fake: FakeFeldera, poller: Poller
) -> None:
    started = time.monotonic()
    with pytest.raises(ApprovalRequiredError) as info:
        await poller.wait_until_running("p", timeout=60, wait_for_approval=False)
    assert time.monotonic() - started < 30  # at once, not at the timeout
    assert info.value.changes == CHANGES and info.value.pipeline_name == "p"
    results = await poller.wait_many(["p"], timeout=60, until="running", wait_for_approval=False)
    assert results["p"].outcome is Outcome.AWAITING_APPROVAL
    assert isinstance(results["p"].error, ApprovalRequiredError)


async def test_a_wait_goes_on_through_an_approval(fake: FakeFeldera, poller: Poller) -> None:
    seen: list[PipelineEvent] = []

    def on_event(ev: PipelineEvent) -> None:
        seen.append(ev)
        if ev.deployment_runtime_status == "AwaitingApproval":
            fake.approve("p")  # someone approves while the wait goes on

    ev = await poller.wait_until_running("p", timeout=30, on_event=on_event)
    assert ev.deployment_runtime_status == "Running"
    runtimes = [e.deployment_runtime_status for e in seen]
    assert "AwaitingApproval" in runtimes and runtimes[-1] == "Running", runtimes


async def test_wait_for_approval_must_be_a_bool(poller: Poller) -> None:
    with pytest.raises(TypeError, match="wait_for_approval must be a bool"):
        await poller.wait_until_running("p", timeout=1, wait_for_approval="no")  # type: ignore[arg-type]
