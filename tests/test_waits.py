"""The wait machine, fed plain data: no server, no event loop, no clock."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

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
from feldera_events._acceptors import PROVISIONED, RUNNING
from feldera_events._convert import structure
from feldera_events._decisions import Fail, Need, PollAt, Request, Succeed
from feldera_events._errors import APIStatusError, status_error_class
from feldera_events._machines import PipelineWait
from feldera_events._policies import PollPolicy
from feldera_events._watch import Watch

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
    assert isinstance(decision, Fail)  # ...until the deadline or the rule says no more
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
