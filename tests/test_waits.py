"""The wait machine, fed plain data: no server, no event loop, no clock."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feldera_events import (
    APIConnectionError,
    DeploymentFailedError,
    DeploymentStoppedError,
    NoEventsYetError,
    PipelineEvent,
    PipelineNotFoundError,
    RetryPolicy,
    Selector,
    ServerError,
    WaitTimeoutError,
)
from feldera_events._acceptors import (
    PROVISIONED,
    RUNNING,
    STOPPED,
    WAITS,
    Seen,
    Verdict,
    accept,
    condition_acceptors,
)
from feldera_events._convert import structure
from feldera_events._decisions import (
    CLUSTER,
    DEBUG,
    INFO,
    LATEST,
    LIST,
    WARNING,
    Fail,
    Need,
    PollAt,
    Request,
    Succeed,
)
from feldera_events._errors import APIStatusError, status_error_class
from feldera_events._machines import PipelineWait
from feldera_events._policies import PollPolicy
from feldera_events._since import SinceRule
from feldera_events._watch import Watch, is_duplicate

POLL = PollPolicy(initial=1.0, maximum=1.0, jitter=0.0)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_ids = iter(range(1, 1 << 30))


def event(
    resources: str = "Stopped",
    desired: str = "Stopped",
    runtime: str | None = None,
    runtime_desired: str | None = None,
    *,
    error: bool = False,
    at: float = 0.0,
    full: bool = False,
) -> PipelineEvent:
    # UUIDv7-like ids that grow: (recorded_at, id) orders them like the server.
    data: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=(next(_ids) << 64) | (7 << 76))),
        "recorded_at": (T0 + dt.timedelta(seconds=at)).isoformat(),
        "deployment_resources_status": resources,
        "deployment_resources_desired_status": desired,
        "deployment_runtime_status": runtime,
        "deployment_runtime_desired_status": runtime_desired,
        "deployment_has_error": error,
        "program_status": "Success",
        "storage_status": "InUse",
    }
    if full:
        data["deployment_error"] = (
            {"error_code": "RuntimeError.WorkerPanic", "message": "panic", "details": {}}
            if error
            else None
        )
    result: PipelineEvent = structure(data, PipelineEvent)
    return result


def http(status: int, code: str | None = None) -> APIStatusError:
    return status_error_class(status, code)("m", status_code=status, error_code=code)


def machine(acceptors: Any = PROVISIONED, **kwargs: Any) -> PipelineWait:
    defaults: dict[str, Any] = {
        "now": 0.0,
        "timeout": 100.0,
        "poll": POLL,
        "retry": RetryPolicy(),
        "url": "http://h",
        "name": "p",
        "draw": lambda: 0.0,
        "testing": True,
        "what": "Provisioned",
        "anew": True,
    }
    return PipelineWait(acceptors, **{**defaults, **kwargs})


def full_of(ev: PipelineEvent, *, error: bool) -> PipelineEvent:
    data = ev.to_dict()
    data["deployment_error"] = (
        {"error_code": "RuntimeError.WorkerPanic", "message": "panic", "details": {}}
        if error
        else None
    )
    result: PipelineEvent = structure(data, PipelineEvent)
    return result


# -- what a machine asks for and says --------------------------------------------------


def test_the_log_levels_of_decisions_are_the_logging_modules() -> None:
    # The machines may not import logging; the driver hands these numbers to a logger.
    assert (DEBUG, INFO, WARNING) == (logging.DEBUG, logging.INFO, logging.WARNING)


def test_only_the_read_of_a_failure_may_fall_back_to_the_latest_event() -> None:
    assert not any(r.or_latest for r in (LATEST, LIST, CLUSTER, Request("event", "x")))
    m = machine()
    m.begin(0.0)
    failed = event("Stopping", "Stopped", error=True)
    decision = m.answered(failed, 0.0)
    assert isinstance(decision, Need) and decision.request.or_latest is True


# -- what ends a wait ------------------------------------------------------------------


def test_provisioned_succeeds_and_emits_the_event() -> None:
    m = machine()
    assert m.begin(0.0) == PollAt(0.0, Request("event"))
    ev = event("Provisioned", "Provisioned", "Initializing", "Running")
    assert m.answered(ev, 0.1) == Succeed(ev, (ev,))


def test_provisioned_while_being_stopped_is_not_a_success() -> None:
    m = machine()
    m.begin(0.0)
    stopping = event("Provisioned", "Stopped", "Running", "Running")
    decision = m.answered(stopping, 0.1)
    assert isinstance(decision, PollAt)
    assert decision.at == pytest.approx(1.1)


@pytest.mark.parametrize("error", [False, True])
@pytest.mark.parametrize("since", [False, True], ids=["no-since", "since"])
def test_a_stop_seen_under_way_ends_the_wait_as_stopped_or_failed(error: bool, since: bool) -> None:
    # Without `since`, the stop seen under way ends the wait at Stopping (stopped, or
    # failed with the error). After a `since`, a stop alone may be the first half of a
    # restart: there the error alone must end the wait, already at Stopping (docs:
    # "raised as soon as the pipeline is Stopping with an error and desired Stopped").
    up = event("Provisioned", "Provisioned", "Running", "Running", at=-1)
    m = machine(since=up if since else None)
    m.begin(0.0)
    assert isinstance(
        m.answered(event("Provisioned", "Stopped", "Running", "Running"), 0.1), PollAt
    )
    stopping = event("Stopping", "Stopped", error=error, at=1)
    decision = m.answered(stopping, 1.0)
    if since and not error:
        assert isinstance(decision, PollAt)  # the first half of a restart: polled on
        return
    assert decision == Need(
        Request("event", stopping.event_id, Selector.ALL, or_latest=True), (stopping,)
    )
    fail = m.answered(full_of(stopping, error=error), 1.1)
    assert isinstance(fail, Fail)
    if error:
        assert type(fail.error) is DeploymentFailedError
        assert fail.error.error_code == "RuntimeError.WorkerPanic"
    else:
        assert isinstance(fail.error, DeploymentStoppedError)


def test_a_stopped_pipeline_is_waited_on_until_someone_starts_it() -> None:
    m = machine()
    m.begin(0.0)
    assert isinstance(m.answered(event("Stopped", "Stopped", at=1), 1.0), PollAt)
    assert isinstance(m.answered(event("Stopped", "Provisioned", at=2), 2.0), PollAt)
    up = event("Provisioned", "Provisioned", "Running", "Running", at=3)
    assert m.answered(up, 3.0) == Succeed(up, (up,))


@pytest.mark.parametrize("at_since", ["Provisioned", "Stopping"])
def test_a_stop_after_since_is_the_first_half_of_a_restart(at_since: str) -> None:
    # With `since`, the caller waits for what comes after it: a stop under way (at
    # `since` or after it) may be followed by a start, which is what they wait for.
    m = machine(since=event(at_since, "Stopped", at=1))
    m.begin(0.0)
    assert isinstance(m.answered(event("Stopping", "Stopped", at=1.5), 1.5), PollAt)
    assert isinstance(m.answered(event("Stopped", "Stopped", at=2), 2.0), PollAt)
    assert isinstance(m.answered(event("Provisioning", "Provisioned", at=3), 3.0), PollAt)
    up = event("Provisioned", "Provisioned", "Running", "Running", at=4)
    assert m.answered(up, 4.0) == Succeed(up, (up,))


def test_running_since_an_initializing_event_succeeds_when_it_runs() -> None:
    init = event("Provisioned", "Provisioned", "Initializing", "Running", at=1)
    m = machine(RUNNING, since=init, what="Running")
    m.begin(0.0)
    running = event("Provisioned", "Provisioned", "Running", "Running", at=2)
    # Not running at `since`: running now is new, no list read needed.
    assert m.answered(running, 2.0) == Succeed(running, (running,))
    now = machine(RUNNING, since="now", what="Running")  # --since-now while initializing
    assert now.begin(0.0) == Need(Request("event"))
    assert isinstance(now.answered(init, 0.1), PollAt)
    assert now.answered(running, 2.0) == Succeed(running, (running,))


def test_running_since_a_running_event_needs_a_new_run() -> None:
    before = event("Provisioned", "Provisioned", "Running", "Running", at=1)
    m = machine(RUNNING, since=before, what="Running")
    m.begin(0.0)
    again = event("Provisioned", "Provisioned", "Running", "Running", at=2)
    assert m.answered(again, 2.0) == Need(Request("list"), (again,))
    # The list shows nothing but running between: the same run, keep polling.
    assert isinstance(m.answered([again, before], 2.1), PollAt)
    m2 = machine(RUNNING, since=before, what="Running")
    m2.begin(0.0)
    assert m2.answered(again, 2.0) == Need(Request("list"), (again,))
    restarted = event("Provisioned", "Provisioned", "Initializing", "Running", at=1.5)
    assert m2.answered([again, restarted, before], 2.1) == Succeed(again)


@pytest.mark.parametrize("since", [False, True], ids=["no-since", "since"])
def test_running_waits_for_the_runtime_and_fails_on_an_initialization_panic(
    since: bool,
) -> None:
    # With `since` (taken while it initialized), no stop is counted as such: only the
    # error can end the wait at Stopping, and it must.
    before = event("Provisioned", "Provisioned", "Initializing", "Running", at=0.5)
    m = machine(RUNNING, what="Running", since=before if since else None)
    m.begin(0.0)
    init = event("Provisioned", "Provisioned", "Initializing", "Running", at=1)
    assert isinstance(m.answered(init, 1.0), PollAt)
    half = event("Provisioned", "Stopped", "Initializing", "Running", at=2)
    assert isinstance(m.answered(half, 2.0), PollAt)
    failed = event("Stopping", "Stopped", error=True, at=2)
    need = m.answered(failed, 3.0)
    assert need == Need(Request("event", failed.event_id, Selector.ALL, or_latest=True), (failed,))
    fail = m.answered(full_of(failed, error=True), 3.1)
    assert isinstance(fail, Fail)
    assert isinstance(fail.error, DeploymentFailedError)
    assert fail.error.error_code == "RuntimeError.WorkerPanic"


@pytest.mark.parametrize(
    ("runtime", "desired", "ok"),
    [
        ("Running", "Running", True),
        ("Paused", "Paused", True),
        ("Standby", "Standby", True),
        ("Initializing", "Running", False),
        ("Unavailable", "Running", False),
        ("Paused", "Running", False),
        ("Suspended", "Suspended", False),
    ],
)
def test_running_means_the_runtime_reached_its_desired_status(
    runtime: str, desired: str, ok: bool
) -> None:
    m = machine(RUNNING)
    m.begin(0.0)
    decision = m.answered(event("Provisioned", "Provisioned", runtime, desired), 0.0)
    assert isinstance(decision, Succeed) is ok


def test_stopped_without_error_after_asking_to_be_provisioned() -> None:
    m = machine()
    m.begin(0.0)
    m.answered(event("Provisioning", "Provisioned", at=1), 1.0)
    stopping = event("Stopping", "Stopped", at=2)
    need = m.answered(stopping, 2.0)
    assert isinstance(need, Need)
    fail = m.answered(full_of(stopping, error=False), 2.1)
    assert isinstance(fail, Fail)
    assert isinstance(fail.error, DeploymentStoppedError)


def test_error_acceptors() -> None:
    m = machine()
    m.begin(0.0)
    assert isinstance(m.failed(http(404, "NoPipelineMonitorEventsAvailable"), 0.0), PollAt)
    unknown = http(404, "UnknownPipelineName")
    assert m.failed(unknown, 1.0) == Fail(unknown)
    m = machine(wait_for_pipeline=True)
    m.begin(0.0)
    assert isinstance(m.failed(http(404, "UnknownPipelineName"), 0.0), PollAt)
    assert isinstance(http(404, "UnknownPipelineName"), PipelineNotFoundError)
    assert isinstance(http(404, "NoPipelineMonitorEventsAvailable"), NoEventsYetError)


def test_one_retry_rule_applies_the_users_statuses() -> None:
    conflict = http(409)
    m = machine(retry=RetryPolicy(retry_statuses={409}))
    m.begin(0.0)
    m.answered(event(), 0.0)
    assert isinstance(m.failed(conflict, 1.0), PollAt)
    m = machine()
    m.begin(0.0)
    assert m.failed(conflict, 1.0) == Fail(conflict)


def test_server_never_reached_gives_up_with_the_policy() -> None:
    m = machine(retry=RetryPolicy(attempts=3))
    m.begin(0.0)
    refused = APIConnectionError("refused")
    assert isinstance(m.failed(refused, 0.0), PollAt)
    assert isinstance(m.failed(refused, 0.5), PollAt)
    assert m.failed(refused, 1.0) == Fail(refused)
    # Once the server has answered, the deadline is the only limit.
    m = machine(retry=RetryPolicy(attempts=1))
    m.begin(0.0)
    m.answered(event(), 0.0)
    for i in range(10):
        assert isinstance(m.failed(refused, float(i)), PollAt)


def test_timeout_names_the_last_error_and_no_request_after_the_deadline() -> None:
    m = machine(timeout=5.0)
    m.begin(0.0)
    m.answered(event("Provisioning", "Provisioned"), 0.0)
    bad = http(502)
    now, decision = 0.0, m.failed(bad, 0.0)
    while isinstance(decision, PollAt):
        assert decision.at < 5.0  # never a request at or after the deadline
        now = decision.at
        decision = m.failed(bad, now)
    assert isinstance(decision, Fail)
    assert decision.at == 5.0
    err = decision.error
    assert isinstance(err, WaitTimeoutError)
    assert "last error: HTTP 502" in str(err)
    assert f"({m.failures} times)" in str(err)
    assert err.__cause__ is bad


def test_a_last_poll_before_the_deadline() -> None:
    m = machine(timeout=3.0, poll=PollPolicy(initial=5.0, maximum=5.0, jitter=0.0))
    m.begin(0.0)
    decision = m.answered(event("Provisioning", "Provisioned"), 0.0)
    assert isinstance(decision, PollAt)
    assert 0 < decision.at < 3.0
    decision = m.answered(event("Provisioning", "Provisioned"), decision.at)
    assert isinstance(decision, Fail)
    assert decision.at == 3.0


def test_since_now_reads_the_servers_latest_event_first() -> None:
    old = event("Provisioned", "Provisioned", "Running", "Running", at=1000)
    m = machine(since="now")
    assert m.begin(0.0) == Need(Request("event"))
    m.answered(old, 0.0)  # the server's latest, whatever the client's clock says
    assert isinstance(m.answered(old, 1.0), PollAt)  # covered: not terminal
    new_failure = event("Stopping", "Stopped", error=True, at=1001)
    assert isinstance(m.answered(new_failure, 3.0), Need)


@pytest.mark.parametrize("status", [400, 401])
def test_a_failure_whose_full_read_fails_is_still_a_failure(status: int) -> None:
    # Issue 21: the status said failed; a full read that kept failing made it a timeout
    # (or an API error). The outcome is the failure, its details said to be unavailable.
    m = machine()
    m.begin(0.0)
    failed = event("Stopping", "Stopped", error=True)
    assert isinstance(m.answered(failed, 0.0), Need)
    decision = m.failed(http(status), 0.5)  # never retried: the wait ends now
    assert isinstance(decision, Fail)
    err = decision.error
    assert type(err) is DeploymentFailedError and err.event is failed
    assert err.error_code is None
    assert "the error details are unavailable" in err.message
    assert f"HTTP {status}" in err.message


def test_a_failed_event_cleaned_up_is_judged_by_the_latest_read_instead() -> None:
    """Issue 22 item 5: the full read of a failure asks for the event or, if clean-up removed
    it first, the latest (the driver reads that); the machine judges whichever comes back."""
    failed = event("Stopping", "Stopped", error=True)
    m = machine()
    m.begin(0.0)
    full = Request("event", failed.event_id, Selector.ALL, or_latest=True)
    assert m.answered(failed, 0.0) == Need(full, (failed,))
    latest = full_of(event("Stopped", "Stopped", error=True, at=1), error=True)
    decision = m.answered(latest, 0.5)  # still failed: that failure, with its error
    assert isinstance(decision, Fail) and isinstance(decision.error, DeploymentFailedError)
    assert decision.error.event is latest
    assert decision.error.error_code == "RuntimeError.WorkerPanic"
    m = machine()
    m.begin(0.0)
    m.answered(failed, 0.0)
    restarted = full_of(event("Provisioning", "Provisioned", at=2), error=False)
    assert isinstance(m.answered(restarted, 0.5), PollAt)  # started again meanwhile: wait on


def test_a_failure_whose_full_read_fails_until_the_deadline_is_still_a_failure() -> None:
    m = machine(timeout=10.0)
    m.begin(0.0)
    failed = event("Stopping", "Stopped", error=True)
    m.answered(failed, 0.0)
    decision = m.failed(http(500), 0.0)  # retried (the wait's one retry rule)...
    while isinstance(decision, PollAt):
        decision = m.failed(http(500), decision.at)
    assert isinstance(decision, Fail)  # ...within the policy's attempts and the deadline
    assert isinstance(decision.error, DeploymentFailedError)
    assert "the error details are unavailable" in decision.error.message
    # The same when the deadline passes with the full read in flight (the driver's call).
    m = machine(timeout=10.0)
    m.begin(0.0)
    m.answered(failed, 0.0)
    expired = m.expired(10.0).error
    assert isinstance(expired, DeploymentFailedError)
    assert "the deadline came before the full event could be read" in expired.message
    # A stop without an error stays a stop.
    stop = machine(timeout=10.0)
    stop.begin(0.0)
    stop.answered(event("Provisioning", "Provisioned"), 0.0)
    stop.answered(event("Stopping", "Stopped", at=1.0), 1.0)
    assert type(stop.expired(10.0).error) is DeploymentStoppedError


@pytest.mark.parametrize("timeout", [60.0, None], ids=["deadline", "no-deadline"])
@pytest.mark.parametrize(
    "error",
    [http(500), http(404, "NoPipelineMonitorEventsAvailable"), http(404, "UnknownPipelineName")],
    ids=["500", "no-events", "pipeline-gone"],
)
def test_a_failure_whose_full_read_keeps_failing_ends_after_the_retry_attempts(
    timeout: float | None, error: Exception
) -> None:
    # Issue 24 (review): status latest = Stopped with an error, `selector=all` always
    # failing: the wait read the details until its deadline (60 s), and forever without
    # one. The details get the retry policy's attempts, as one client call would; then
    # the failure, its details said to be unavailable, at once.
    m = machine(timeout=timeout, retry=RetryPolicy(attempts=3), wait_for_pipeline=True)
    m.begin(0.0)
    failed = event("Stopped", "Stopped", error=True)
    full = Request("event", failed.event_id, Selector.ALL, or_latest=True)
    assert m.answered(failed, 0.0) == Need(full, (failed,))
    reads, now = 1, 0.0
    decision = m.failed(error, now)
    while isinstance(decision, PollAt) and reads < 50:
        assert decision.request == full
        now, reads = decision.at, reads + 1
        decision = m.failed(error, now)
    assert reads == 3
    assert isinstance(decision, Fail) and decision.at is None  # now, not at the deadline
    err = decision.error
    assert type(err) is DeploymentFailedError and err.event is failed
    assert "the error details are unavailable (reading the full event failed" in err.message
    assert not any("polling again" in line.msg for line in decision.log)


def test_the_attempts_at_a_failures_details_start_anew_with_each_failure() -> None:
    m = machine(retry=RetryPolicy(attempts=2))
    m.begin(0.0)
    failed = event("Stopping", "Stopped", error=True)
    m.answered(failed, 0.0)
    decision = m.failed(http(503), 0.0)
    assert isinstance(decision, PollAt)  # one more attempt
    restarted = full_of(event("Provisioning", "Provisioned", at=2), error=False)
    assert isinstance(m.answered(restarted, decision.at), PollAt)  # restarted meanwhile
    again = event("Stopping", "Stopped", error=True, at=3)
    m.answered(again, 5.0)
    decision = m.failed(http(503), 5.0)  # the new failure's first attempt, not a third
    assert isinstance(decision, PollAt)
    decision = m.answered(full_of(again, error=True), decision.at)
    assert isinstance(decision, Fail) and isinstance(decision.error, DeploymentFailedError)
    assert decision.error.error_code == "RuntimeError.WorkerPanic"


def test_since_now_sees_a_failure_after_an_anchor_dated_in_the_future() -> None:
    # Issue 21: the anchor was the latest event when the wait began, so any other event
    # a later poll answers as the latest is newer, whatever the dates say (an anchor the
    # server dated in the future once hid the failure: the wait ended as a timeout).
    future = event("Provisioned", "Provisioned", "Running", "Running", at=10**6)
    m = machine(since="now")
    m.begin(0.0)
    m.answered(future, 0.0)
    assert isinstance(m.answered(future, 1.0), PollAt)  # the anchor itself: old news
    failed = event("Stopping", "Stopped", error=True, at=999)
    decision = m.answered(failed, 2.0)
    assert decision == Need(
        Request("event", failed.event_id, Selector.ALL, or_latest=True), (failed,)
    )
    since_event = machine(since=future)  # an event given as since is compared by date
    since_event.begin(0.0)
    assert isinstance(since_event.answered(failed, 1.0), PollAt)


def test_since_now_without_events_counts_every_event() -> None:
    m = machine(since="now")
    m.begin(0.0)
    assert isinstance(m.failed(http(404, "NoPipelineMonitorEventsAvailable"), 0.0), PollAt)
    ev = event("Provisioned", "Provisioned", "Running", "Running", at=-5)
    assert isinstance(m.answered(ev, 1.0), Succeed)


def with_id(ev: PipelineEvent, event_id: uuid.UUID) -> PipelineEvent:
    data = ev.to_dict()
    data["event_id"] = str(event_id)
    result: PipelineEvent = structure(data, PipelineEvent)
    return result


def test_since_a_datetime_an_event_recorded_exactly_at_it_does_not_count() -> None:
    at = T0 + dt.timedelta(seconds=10)
    failed = event("Stopping", "Stopped", error=True, at=10)
    assert failed.recorded_at == at
    m = machine(since=at)
    m.begin(0.0)
    assert isinstance(m.answered(failed, 1.0), PollAt)  # at `since`: not after it
    later = event("Stopping", "Stopped", error=True, at=10.000001)  # one microsecond on
    assert m.answered(later, 2.0) == Need(
        Request("event", later.event_id, Selector.ALL, or_latest=True), (later,)
    )
    # The same boundary for a success.
    m = machine(since=at, anew=False)
    m.begin(0.0)
    up = event("Provisioned", "Provisioned", "Running", "Running", at=10)
    assert isinstance(m.answered(up, 1.0), PollAt)
    up_later = event("Provisioned", "Provisioned", "Running", "Running", at=10.000001)
    assert m.answered(up_later, 2.0) == Succeed(up_later, (up_later,))


def test_since_a_cleaned_up_event_id_orders_by_the_uuidv7_id() -> None:
    """The `since` event was cleaned up (404 on reading it): the manager's ids are UUIDv7,
    so events with an id up to it (whatever their recorded_at) are at or before it."""
    since = uuid.UUID(int=(1000 << 80) | (7 << 76) | (2 << 62) | 5)  # RFC 4122 variant
    assert since.version == 7
    m = machine(since=str(since))
    assert m.begin(0.0) == Need(Request("event", since))
    gone = http(404, "UnknownPipelineMonitorEvent")
    assert isinstance(m.failed(gone, 0.1), PollAt)  # resolved: no failure, polling starts
    failed = event("Stopping", "Stopped", error=True, at=50)
    # The id itself, and an older id recorded "later" (a clock step): not after `since`.
    assert isinstance(m.answered(with_id(failed, since), 1.0), PollAt)
    older = uuid.UUID(int=since.int - 1)
    assert isinstance(m.answered(with_id(failed, older), 2.0), PollAt)
    newer = uuid.UUID(int=since.int + 1)
    # The next id, even recorded "earlier", is after it.
    after = with_id(event("Stopping", "Stopped", error=True, at=-50), newer)
    assert m.answered(after, 3.0) == Need(
        Request("event", newer, Selector.ALL, or_latest=True), (after,)
    )


def test_since_a_cleaned_up_id_that_is_not_uuidv7_cannot_be_ordered() -> None:
    since = uuid.UUID("0197a2b4-6f1e-4c3a-9d2e-1b2c3d4e5f60")  # version 4: no time order
    m = machine(since=since)
    assert m.begin(0.0) == Need(Request("event", since))
    gone = http(404, "UnknownPipelineMonitorEvent")
    assert m.failed(gone, 0.1) == Fail(gone)


# -- watch ------------------------------------------------------------------------------


def watch(**kwargs: Any) -> Watch:
    defaults: dict[str, Any] = {
        "now": 0.0,
        "timeout": None,
        "poll": POLL,
        "retry": RetryPolicy(),
        "url": "http://h",
        "name": "p",
        "draw": lambda: 0.0,
        "testing": True,
    }
    return Watch(**{**defaults, **kwargs})


def test_watch_yields_a_duplicate_once_and_a_late_commit() -> None:
    w = watch(include_duplicates=True)
    w.begin(0.0)
    first = event(at=10)
    assert w.answered(first, 0.0).emit == (first,)
    a = event("Provisioning", "Provisioned", at=12)
    b = event("Provisioned", "Provisioned", "Running", "Running", at=13)
    assert w.answered(b, 1.0) == Need(Request("list"))
    got = w.answered([b, a, a, first], 1.1).emit
    assert got == (a, b)
    late = event("Provisioning", "Provisioned", "Running", "Running", at=11)
    c = event("Stopping", "Stopped", at=14)
    assert isinstance(w.answered(c, 2.0), Need)
    got = w.answered([c, b, a, late, first], 2.1).emit
    assert got == (late, c)  # committed late with an earlier recorded_at: still yielded


def test_watch_sees_a_late_commit_that_no_newer_event_follows() -> None:
    w = watch()
    w.begin(0.0)
    first = event(at=10)
    w.answered(first, 0.0)
    b = event("Provisioning", "Provisioned", at=13)
    assert w.answered(b, 1.0) == Need(Request("list"))
    assert w.answered([b, first], 1.1).emit == (b,)
    # `latest` stays b; the settling read at the next poll finds what committed late.
    late = event("Stopped", "Provisioned", at=12)
    assert w.answered(b, 2.0) == Need(Request("list"))
    decision = w.answered([b, late, first], 2.1)
    assert isinstance(decision, PollAt) and decision.emit == (late,)
    assert w.answered(b, 3.0) == Need(Request("list"))  # it found one: settle again
    assert w.answered([b, late, first], 3.1).emit == ()
    assert isinstance(w.answered(b, 4.0), PollAt)  # settled: no more list reads


statuses = st.sampled_from(
    [
        ("Stopped", "Stopped", None, None, False),
        ("Stopped", "Provisioned", None, None, False),
        ("Provisioning", "Provisioned", None, None, False),
        ("Provisioned", "Provisioned", "Initializing", "Running", False),
        ("Provisioned", "Provisioned", "Running", "Running", False),
        ("Provisioned", "Stopped", "Running", "Running", False),
        ("Stopping", "Stopped", None, None, True),
        ("Stopping", "Stopped", None, None, False),
        ("Stopped", "Stopped", None, None, True),
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(statuses, min_size=1, max_size=30), st.data())
def test_watch_property_each_event_once_oldest_first(
    rows: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    """Random histories, polled at random points: every event after the start is
    yielded exactly once, and the yield order is the server's order."""
    history = [event(*r[:4], error=r[4], at=i) for i, r in enumerate(rows)]
    w = watch(include_duplicates=True, lookback=data.draw(st.integers(5, 50)))
    w.begin(0.0)
    yielded: list[PipelineEvent] = []
    visible = data.draw(st.integers(1, len(history)))
    yielded += w.answered(history[visible - 1], 0.0).emit
    start = history[visible - 1]
    now = 1.0
    while visible < len(history):
        visible = data.draw(st.integers(visible + 1, len(history)))
        decision = w.answered(history[visible - 1], now)
        if isinstance(decision, Need):
            listed = list(reversed(history[:visible]))
            if data.draw(st.booleans()):
                listed += listed[:2]  # a duplicate in the list
            decision = w.answered(listed, now)
        yielded += decision.emit
        now += 1
    ids = [e.event_id for e in yielded]
    assert len(ids) == len(set(ids))
    assert ids == [e.event_id for e in history if e.recorded_at >= start.recorded_at]


Row = tuple[str, str, str | None, str | None, bool]
_STEADY = ("Running", "Paused", "Standby")


def _holds(row: Row, running: bool) -> bool:
    """The documented success state: resources Provisioned and still desired so; for
    running, the runtime at its desired status (Running, Paused or Standby)."""
    resources, desired, runtime, runtime_desired, _ = row
    up = resources == "Provisioned" and desired == "Provisioned"
    return up and (not running or (runtime == runtime_desired and runtime in _STEADY))


def expected_end(
    rows: list[Row], running: bool, *, since: Row | None = None, counted_from: int = 0
) -> tuple[int, str] | None:
    """Where the documented rules (docs/guides/asyncio.md) end a wait fed ``rows[counted_from:]`` one by one, and how
    (``"succeeded"``, ``"failed"``, ``"stopped"``); None: it polls on.

    * Failed: resources Stopping or Stopped, desired Stopped, with an error.
    * Stopped (no error): Stopping/Stopped, desired Stopped, after it asked to be
      provisioned (a desired Provisioned not reached yet) or, without ``since``, after a
      stop was seen under way (desired Stopped, resources not yet Stopped).
    * Succeeded: the success state holds; after a ``since`` at which it held, only once it
      stopped holding in between (a new provisioning or run).
    """
    asked = False
    stopping_seen = False
    left = since is None or not _holds(since, running)
    if since is not None and since[0] != "Provisioned" and since[1] == "Provisioned":
        asked = True
    for i in range(counted_from, len(rows)):
        row = rows[i]
        resources, desired, _, _, error = row
        if resources != "Provisioned" and desired == "Provisioned":
            asked = True
        if since is None and resources != "Stopped" and desired == "Stopped":
            stopping_seen = True
        if resources in ("Stopping", "Stopped") and desired == "Stopped":
            if error:
                return i, "failed"
            if asked or stopping_seen:
                return i, "stopped"
        if _holds(row, running):
            if left:
                return i, "succeeded"
        else:
            left = True
    return None


def run_wait(m: PipelineWait, history: list[PipelineEvent]) -> tuple[int, str] | None:
    """Feed ``history`` one event per poll (the list reads, full reads and answers a
    server would give); where and how the wait ended, or None."""
    for i, ev in enumerate(history):
        decision = m.answered(ev, float(i))
        if isinstance(decision, Need) and decision.request == Request("list"):
            decision = m.answered(list(reversed(history[: i + 1])), float(i))
        if isinstance(decision, Need):  # a failure: read in full
            assert decision.request == Request("event", ev.event_id, Selector.ALL, or_latest=True)
            decision = m.answered(full_of(ev, error=ev.deployment_has_error), float(i))
            assert isinstance(decision, Fail)
            if type(decision.error) is DeploymentFailedError:
                assert decision.error.error_code == ("RuntimeError.WorkerPanic")
                return i, "failed"
            assert isinstance(decision.error, DeploymentStoppedError), decision
            return i, "stopped"
        if isinstance(decision, Succeed):
            assert decision.event is ev
            return i, "succeeded"
        assert isinstance(decision, PollAt), decision
    return None


@settings(max_examples=150, deadline=None)
@given(st.lists(statuses, min_size=1, max_size=30))
def test_waits_property_verdicts(rows: list[Row]) -> None:
    """Fed any sequence, a provisioned or running wait ends exactly where the documented
    rules say (succeeded, failed or stopped), and how; it never ends before, and never
    polls on past it."""
    history = [event(*r[:4], error=r[4], at=i) for i, r in enumerate(rows)]
    for acceptors in (PROVISIONED, RUNNING):
        m = machine(acceptors, anew=False)
        m.begin(0.0)
        assert run_wait(m, history) == expected_end(rows, acceptors is RUNNING)


def test_server_errors_are_transient_by_default() -> None:
    assert RetryPolicy().is_transient(ServerError("m", status_code=500))
    assert not RetryPolicy().is_transient(ServerError("m", status_code=501))


@settings(max_examples=150, deadline=None)
@given(st.lists(statuses, min_size=2, max_size=30), st.data())
def test_waits_property_nothing_at_or_before_since_is_terminal(
    rows: list[Row], data: st.DataObject
) -> None:
    """Events recorded at or before ``since`` (several may share its recorded_at) never
    end a wait; after it, the wait ends exactly where the documented rules say (a stop
    alone is not counted, a success must be a new one when it held at ``since``)."""
    history = [event(*r[:4], error=r[4], at=i // 2) for i, r in enumerate(rows)]
    at = data.draw(st.integers(0, len(history) - 1))
    since = history[at]
    for acceptors in (PROVISIONED, RUNNING):
        m = machine(acceptors, since=since)
        m.begin(0.0)
        ended = run_wait(m, history)
        assert ended is None or ended[0] > at  # nothing at or before `since` ends it
        assert ended == expected_end(
            rows, acceptors is RUNNING, since=rows[at], counted_from=at + 1
        )


def test_watch_since_now_starts_after_the_servers_latest_event() -> None:
    w = watch(since="now")
    assert w.begin(0.0) == Need(Request("event"))
    old = event(at=5)
    older = event(at=4)
    assert isinstance(w.answered(old, 0.0), Need)  # then the first poll
    assert w.answered(old, 0.1).emit == ()  # the anchor itself is not new
    new = event("Stopped", "Provisioned", at=6)
    assert w.answered(new, 1.0) == Need(Request("list"))
    assert w.answered([new, old, older], 1.1).emit == (new,)


# -- since: the point and the restart rule, case by case (issue 24, mutation testing) ----


class _NoOffset(dt.tzinfo):
    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None


def test_since_refuses_a_datetime_whose_zone_has_no_offset() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        machine(since=dt.datetime(2026, 1, 1, tzinfo=_NoOffset()))


def test_since_refuses_a_string_that_is_neither_now_nor_an_id_in_its_own_words() -> None:
    with pytest.raises(ValueError, match="since must be an event, an event id") as info:
        machine(since="yesterday")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_since_now_whose_first_read_fails_transiently_reads_it_again() -> None:
    # Only "no event (or pipeline) yet" makes every event new; a 500 is retried, and the
    # point is then the event that read answers.
    up = event("Provisioned", "Provisioned", "Running", "Running")
    m = machine(since="now")
    m.begin(0.0)
    decision = m.failed(http(500), 0.0)
    assert isinstance(decision, PollAt) and decision.request == LATEST
    assert isinstance(m.answered(up, decision.at), PollAt)  # the point: not a success
    assert m.since.point is not None and m.since.point.event is up


def _after(ev: PipelineEvent, seconds: float, **kwargs: Any) -> PipelineEvent:
    return event(at=(ev.recorded_at - T0).total_seconds() + seconds, **kwargs)


UP: dict[str, Any] = {
    "resources": "Provisioned",
    "desired": "Provisioned",
    "runtime": "Running",
    "runtime_desired": "Running",
}


def test_since_a_success_seen_to_leave_and_come_back_counts_without_the_list() -> None:
    point = event(**UP)
    m = machine(RUNNING, since=point)
    m.begin(0.0)
    assert isinstance(m.answered(_after(point, 1, **UP), 0.0), Need)  # the list decides
    m.answered([point], 0.5)  # the same deployment: go on
    m.answered(_after(point, 2, resources="Stopping", desired="Stopped"), 1.0)  # left
    back = _after(point, 3, **UP)
    assert m.answered(back, 2.0) == Succeed(back, (back,))


def test_since_a_success_the_list_showed_to_be_the_old_one_does_not_count_later() -> None:
    point = event(**UP)
    m = machine(RUNNING, since=point)
    m.begin(0.0)
    same = _after(point, 1, **UP)
    assert m.answered(same, 0.0) == Need(LIST, (same,))
    assert isinstance(m.answered([same, point], 0.5), PollAt)  # held all along
    assert isinstance(m.answered(same, 1.5), PollAt)  # polled again: still not new
    assert m.polls == 3


@pytest.mark.parametrize(
    ("before", "counts"),
    [
        ([], True),  # nothing known at or before the point: new
        (["up"], False),  # it held at the point: the same success
        (["up", "stopped"], True),  # it did not hold at the point: new
    ],
    ids=["nothing-before", "held-before", "not-held-before"],
)
def test_since_a_datetime_a_success_is_new_by_the_last_event_at_the_point(
    before: list[str], counts: bool
) -> None:
    # A point known without its event (a datetime, a cleaned-up id): the list says what
    # held at the last event at or before it.
    at = T0 + dt.timedelta(seconds=100)
    m = machine(RUNNING, since=at)
    m.begin(0.0)
    kinds = {"up": UP, "stopped": {"resources": "Stopped", "desired": "Stopped"}}
    history = [event(at=90 + i, **kinds[k]) for i, k in enumerate(before)]
    candidate = event(at=110, **UP)
    assert m.answered(candidate, 0.0) == Need(LIST, (candidate,))
    decision = m.answered([candidate, *reversed(history)], 0.5)
    assert decision == Succeed(candidate) if counts else isinstance(decision, PollAt)


def _held_rule(**kwargs: Any) -> SinceRule:
    point = event(**UP)
    rule = SinceRule.of(point, anew=kwargs.pop("anew", True))
    return attrs.evolve(rule, **kwargs)


@pytest.mark.parametrize(
    ("rule", "last", "held"),
    [
        ({}, "up", True),
        ({"anew": False}, "up", False),
        ({"point": None}, "up", False),
        ({"left": True}, "up", False),
        ({}, None, False),
        ({}, "stopped", False),
    ],
    ids=["held", "not-anew", "no-point", "left", "no-last", "not-holding"],
)
def test_since_held_at_the_point_only_when_every_part_says_so(
    rule: dict[str, Any], last: str | None, held: bool
) -> None:
    # What a timeout says (held_at_since): the success held at the point and still does.
    events = {"up": event(**UP), "stopped": event("Stopped", "Stopped"), None: None}

    def holds(ev: PipelineEvent) -> bool:
        return ev.deployment_resources_status.value == "Provisioned"

    assert _held_rule(**rule).held(events[last], holds) is held


# -- the table of waits and the acceptors of wait_for (issue 24, mutation testing) -------


def test_the_table_of_waits() -> None:
    # provisioned and running: a success that held at `since` must be a new one (a
    # restart); stopped: already stopped at `since` is stopped. Only `running` looks at
    # approvals (wait_for_approval=).
    assert {name: (w.anew, w.approval) for name, w in WAITS.items()} == {
        "provisioned": (True, False),
        "running": (True, True),
        "stopped": (False, False),
    }


def test_the_stopped_wait_succeeds_at_stopped_only() -> None:
    m = machine(STOPPED, what="Stopped")
    m.begin(0.0)
    assert isinstance(m.answered(event("Provisioned", "Provisioned"), 0.0), PollAt)
    assert isinstance(m.answered(event("Stopping", "Stopped", at=1), 1.0), PollAt)
    stopped = event("Stopped", "Stopped", at=2)
    assert m.answered(stopped, 2.0) == Succeed(stopped, (stopped,))


def test_wait_for_checks_its_failure_first_and_only_when_given() -> None:
    def up(ev: PipelineEvent) -> bool:
        return ev.deployment_resources_status.value == "Provisioned"

    def broken(ev: PipelineEvent) -> bool:
        return ev.deployment_has_error

    failing_up = event("Provisioned", "Provisioned", error=True)
    verdicts = condition_acceptors(up, broken)
    assert accept(verdicts, failing_up, Seen())[0] is Verdict.FAILURE
    assert accept(condition_acceptors(up, None), failing_up, Seen())[0] is Verdict.SUCCESS


# -- the watch, case by case (issue 24, mutation testing) ---------------------------------


def _with(ev: PipelineEvent, **fields: Any) -> PipelineEvent:
    """``ev`` under a new id, with ``fields`` changed (a heartbeat, or not)."""
    data = {**ev.to_dict(), **fields, "event_id": str(uuid.UUID(int=ev.event_id.int + 1))}
    result: PipelineEvent = structure(data, PipelineEvent)
    return result


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"deployment_error": {"error_code": "E", "message": "m", "details": None}},
        {"deployment_resources_status_details": {"reason": "r"}},
        {"deployment_runtime_status_details": {"reason": "r"}},
        {"storage_status_details": {"reason": "r"}},
    ],
    ids=["heartbeat", "error", "resources-details", "runtime-details", "storage-details"],
)
def test_a_duplicate_is_the_same_status_details_and_error(change: dict[str, Any]) -> None:
    ev = full_of(event("Provisioned", "Provisioned", "Running", "Running"), error=False)
    assert is_duplicate(_with(ev, **change), ev) is (change == {})


def test_a_watch_leaves_out_heartbeat_duplicates_by_default() -> None:
    w = watch()
    w.begin(0.0)
    first = event("Provisioned", "Provisioned", "Running", "Running", at=1)
    w.answered(first, 0.0)
    beat = _with(first, recorded_at=(T0 + dt.timedelta(seconds=2)).isoformat())
    assert w.answered(beat, 1.0) == Need(LIST)
    assert w.answered([beat, first], 1.1).emit == ()


def test_a_watch_never_gives_up_on_a_server_it_never_reached() -> None:
    w = watch(retry=RetryPolicy(attempts=2, timeout=1.0))
    decision = w.begin(0.0)
    for n in range(5):
        decision = w.failed(APIConnectionError("refused", url="http://h"), 10.0 * n)
        assert isinstance(decision, PollAt)


def test_a_watch_that_finds_nothing_new_polls_without_reading_the_list() -> None:
    w = watch()
    w.begin(0.0)
    first = event(at=1)
    w.answered(first, 0.0)
    assert isinstance(w.answered(first, 1.0), PollAt)


def test_a_watch_started_before_any_event_yields_every_event() -> None:
    # No events yet: every event to come is new, those between two polls too (the list).
    poll = PollPolicy(initial=1.0, factor=2.0, maximum=8.0, jitter=0.0, grow_after=0.0)
    w = watch(poll=poll, include_duplicates=True)
    w.begin(0.0)
    none_yet = http(404, "NoPipelineMonitorEventsAvailable")
    decision, now, waits = w.failed(none_yet, 0.0), 0.0, []
    for _ in range(3):  # polled at the policy's growing intervals
        assert isinstance(decision, PollAt) and decision.request == LATEST
        waits.append(decision.at - now)
        now = decision.at
        decision = w.failed(none_yet, now)
    assert waits == [1.0, 2.0, 4.0]
    history = [event(at=i) for i in range(3)]
    assert w.answered(history[-1], now) == Need(LIST)
    assert w.answered(list(reversed(history)), now).emit == tuple(history)


def test_a_watch_retries_a_failed_first_poll_and_starts_at_its_answer() -> None:
    w = watch()
    w.begin(0.0)
    assert isinstance(w.failed(http(500), 0.0), PollAt)  # not "no events yet"
    first = event(at=1)
    assert w.answered(first, 1.0).emit == (first,)


def test_a_watch_since_an_event_keeps_it_through_no_events_yet() -> None:
    point = event(at=5)
    w = watch(since=point)
    w.begin(0.0)
    assert isinstance(w.failed(http(404, "NoPipelineMonitorEventsAvailable"), 0.0), PollAt)
    after = event(at=6)
    assert w.answered(after, 1.0) == Need(LIST)
    assert w.answered([after, point, event(at=4)], 1.1).emit == (after,)


def test_a_watch_since_a_cleaned_up_id_starts_after_it_and_other_errors_retry() -> None:
    since = uuid.UUID(int=(1000 << 80) | (7 << 76) | (2 << 62) | 5)
    w = watch(since=str(since))
    assert w.begin(0.0) == Need(Request("event", since))
    assert isinstance(w.failed(http(500), 0.0), PollAt)  # retried, as any poll
    gone = http(404, "UnknownPipelineMonitorEvent")
    assert w.failed(gone, 1.0) == Need(LATEST)  # the id is the point (UUIDv7 order)
    newer = with_id(event(at=0), uuid.UUID(int=since.int + 1))
    older = with_id(event(at=9), uuid.UUID(int=since.int - 1))
    assert w.answered(newer, 1.0) == Need(LIST)
    assert w.answered([newer, older], 1.1).emit == (newer,)
    not_v7 = watch(since=uuid.UUID("0197a2b4-6f1e-4c3a-9d2e-1b2c3d4e5f60"))
    not_v7.begin(0.0)
    assert not_v7.failed(gone, 0.0) == Fail(gone)


def test_a_watch_forgets_ids_beyond_its_lookback_and_never_yields_them_again() -> None:
    w = watch(lookback=1, include_duplicates=True)
    w.begin(0.0)
    first = event(at=10)
    w.answered(first, 0.0)
    a, b = event(at=11), event(at=12)
    w.answered(b, 1.0)
    assert w.answered([b, a, first], 1.1).emit == (a, b)  # a's id forgotten already
    c = event(at=13)
    w.answered(c, 2.0)
    assert w.answered([c, b, a, first], 2.1).emit == (c,)  # a: at or before the floor


def test_a_watch_floor_only_rises_as_ids_are_forgotten() -> None:
    # A late commit remembered after newer events is forgotten after them: the floor
    # stays at the newest forgotten event, so none of them comes back as new.
    w = watch(lookback=2, include_duplicates=True)
    w.begin(0.0)
    first = event(at=10)
    w.answered(first, 0.0)
    b = event(at=13)
    w.answered(b, 1.0)
    assert w.answered([b, first], 1.1).emit == (b,)
    late, c = event(at=12), event(at=14)
    w.answered(c, 2.0)
    assert w.answered([c, b, late, first], 2.1).emit == (late, c)
    d = event(at=15)
    w.answered(d, 3.0)
    assert w.answered([d, c, b, late, first], 3.1).emit == (d,)
    e = event(at=16)
    w.answered(e, 4.0)
    assert w.answered([e, d, c, b, late, first], 4.1).emit == (e,)


def test_a_watch_remembers_exactly_lookback_ids() -> None:
    # Two ids remembered: the floor stays at the start, and a late commit after it is new.
    w = watch(lookback=2, include_duplicates=True)
    w.begin(0.0)
    first = event(at=10)
    w.answered(first, 0.0)
    a, b = event(at=12), event(at=13)
    w.answered(b, 1.0)
    assert w.answered([b, a, first], 1.1).emit == (a, b)
    late, c = event(at=11), event(at=14)
    w.answered(c, 2.0)
    assert w.answered([c, b, a, late, first], 2.1).emit == (late, c)
