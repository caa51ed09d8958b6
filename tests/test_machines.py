"""The cluster wait machine and what every machine shares (progress lines, the deadline,
the schedule), fed plain data: no server, no event loop, no clock (issue 24, mutation
testing: the loopback tests of tests/test_cluster.py are too slow to run per mutant)."""

from __future__ import annotations

from typing import Any

import pytest
from test_waits import UP, _after, event, full_of, machine, watch

from feldera_events import (
    APIConnectionError,
    ClusterEvent,
    ClusterWaitTimeoutError,
    DeploymentFailedError,
    NoEventsYetError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    WaitTimeoutError,
)
from feldera_events._convert import structure
from feldera_events._decisions import (
    CLUSTER,
    DEBUG,
    INFO,
    WARNING,
    Fail,
    Log,
    Need,
    PollAt,
    Succeed,
)
from feldera_events._machines import ClusterWait
from feldera_events._policies import PollPolicy

POLL = PollPolicy(initial=1.0, maximum=1.0, jitter=0.0)
_n = iter(range(1, 1 << 30))


def cluster_event(*, healthy: bool) -> ClusterEvent:
    data = {
        "id": f"0197a2b4-6f1e-7c3a-9d2e-{next(_n):012x}",
        "recorded_at": "2026-08-20T10:11:12.123456Z",
        "all_healthy": healthy,
        "api_status": "Healthy",
        "compiler_status": "Healthy",
        "runner_status": "Healthy" if healthy else "Unhealthy",
    }
    result: ClusterEvent = structure(data, ClusterEvent)
    return result


def cluster(**kwargs: Any) -> ClusterWait:
    defaults: dict[str, Any] = {
        "now": 0.0,
        "timeout": 100.0,
        "poll": POLL,
        "retry": RetryPolicy(attempts=2, timeout=3),
        "url": "http://h:1",
        "draw": lambda: 0.0,
        "testing": True,
    }
    return ClusterWait(**{**defaults, **kwargs})


def refused() -> APIConnectionError:
    return APIConnectionError("refused", url="http://h:1")


# -- the cluster wait --------------------------------------------------------------------


def test_a_cluster_wait_reads_at_once_and_succeeds_when_all_is_healthy() -> None:
    m = cluster()
    assert m.begin(0.0) == Need(CLUSTER)
    ev = cluster_event(healthy=True)
    assert m.answered(ev, 0.5) == Succeed(ev, (ev,))


def test_a_cluster_wait_polls_while_unhealthy_and_emits_each_event_once() -> None:
    m = cluster()
    m.begin(0.0)
    ev = cluster_event(healthy=False)
    assert m.answered(ev, 0.0) == PollAt(1.0, CLUSTER, (ev,))
    assert m.answered(ev, 1.0) == PollAt(2.0, CLUSTER, ())
    assert m.polls == 2


def test_a_cluster_wait_keeps_connecting_past_the_retry_policy_until_its_deadline() -> None:
    m = cluster(timeout=10.0)
    m.begin(0.0)
    decisions = [m.failed(refused(), float(t)) for t in range(5)]  # attempts=2 in the policy
    assert all(isinstance(d, PollAt) and d.request == CLUSTER for d in decisions)
    assert [d.at for d in decisions if isinstance(d, PollAt)] == [1.0, 2.0, 3.0, 4.0, 5.0]
    # Said once at INFO, then at DEBUG.
    levels = [line.level for d in decisions for line in d.log if "connection attempt" in line.msg]
    assert levels == [INFO, DEBUG, DEBUG, DEBUG, DEBUG]
    first = decisions[0].log[0]
    assert first.args[:2] == (1, "http://h:1")
    assert (m.attempts, m.polls, m.reached) == (5, 0, False)


def test_a_cluster_never_reached_times_out_saying_so() -> None:
    m = cluster(timeout=10.0)
    m.begin(0.0)
    last = refused()
    m.failed(refused(), 1.0)
    m.failed(last, 2.0)
    fail = m.expired(10.0)
    err = fail.error
    assert isinstance(err, ClusterWaitTimeoutError)
    assert (err.reached, err.attempts, err.url, err.polls) == (False, 2, "http://h:1", 0)
    assert err.last_error == str(last)
    assert err.__cause__ is last


def test_a_cluster_reached_polls_through_errors_with_the_retry_rule() -> None:
    m = cluster(timeout=10.0)
    m.begin(0.0)
    ev = cluster_event(healthy=False)
    m.answered(ev, 0.0)
    assert isinstance(m.failed(NoEventsYetError("none", status_code=404), 1.0), PollAt)
    assert m.failures == 0  # no events yet is no failure
    err = ServerError("boom", status_code=500)
    decision = m.failed(err, 2.0)
    assert isinstance(decision, PollAt)
    assert decision.log == (
        Log(WARNING, "polling failed (%s: %s); polling again in %.1fs", ("ServerError", err, 1.0)),
    )
    # A connection error after the server answered is one failure of the retry rule.
    assert isinstance(m.failed(refused(), 3.0), PollAt)
    assert (m.attempts, m.failures, m.reached) == (0, 2, True)
    timeout = m.expired(10.0).error
    assert isinstance(timeout, ClusterWaitTimeoutError)
    assert timeout.reached and timeout.event is ev
    assert timeout.__cause__ is m.last_error and timeout.last_error == str(m.last_error)
    assert isinstance(m.failed(NotFoundError("gone", status_code=404), 4.0), Fail)


def test_a_cluster_that_answered_with_an_error_counts_as_reached() -> None:
    m = cluster(timeout=10.0)
    m.begin(0.0)
    m.failed(ServerError("boom", status_code=500), 1.0)
    assert m.reached
    # Now a refused connection is a failure of the retry rule, not an attempt.
    m.failed(refused(), 2.0)
    assert (m.attempts, m.failures) == (0, 2)
    timeout = m.expired(10.0).error
    assert isinstance(timeout, ClusterWaitTimeoutError) and timeout.reached


def test_a_cluster_timeout_after_answers_without_errors_has_no_cause() -> None:
    m = cluster(timeout=10.0)
    m.begin(0.0)
    m.answered(cluster_event(healthy=False), 0.0)
    timeout = m.expired(10.0).error
    assert timeout.__cause__ is None


def test_the_progress_lines_of_a_cluster_wait() -> None:
    m = cluster(timeout=100.0)
    m.begin(0.0)
    assert m._progress_line(6.0) == (
        "still waiting for the cluster to be healthy after 6s "
        "(http://h:1 not reached yet, 0 connection attempts)"
    )
    m.failed(NoEventsYetError("none", status_code=404), 1.0)
    assert m._progress_line(7.0).endswith("after 7s (1 polls; no event yet)")
    m.answered(cluster_event(healthy=False), 2.0)
    assert m._progress_line(8.0).endswith("after 8s (2 polls; unhealthy: runner (Unhealthy))")
    assert m.label == "the cluster to be healthy"


# -- what every machine shares: progress lines, the end, the deadline ----------------------


def progress_lines(decision: Any) -> list[Log]:
    return [line for line in decision.log if line.level == INFO]


def test_progress_lines_come_at_5_10_20_40_seconds_and_one_last_line() -> None:
    m = cluster(timeout=None)
    m.begin(0.0)
    ev = cluster_event(healthy=False)
    said = {}
    for t in (4.9, 5.0, 9.9, 10.0, 19.9, 45.0, 79.9, 80.0):
        said[t] = len(progress_lines(m.answered(ev, t)))
    assert said == {4.9: 0, 5.0: 1, 9.9: 0, 10.0: 1, 19.9: 0, 45.0: 1, 79.9: 0, 80.0: 1}
    assert m.ended(81.0) == (
        Log(INFO, "wait for %s ended after %.1fs and %d polls", (m.label, 81.0, 8)),
    )


def test_a_wait_that_never_logged_progress_ends_silently() -> None:
    m = cluster()
    m.begin(0.0)
    m.answered(cluster_event(healthy=False), 4.9)
    assert m.ended(4.95) == ()


def test_a_progress_line_is_one_inert_line() -> None:
    m = cluster(timeout=None, url="http://h:1/\n::warning::x")
    m.begin(0.0)
    (line,) = progress_lines(m.failed(refused(), 6.0))[-1:]
    assert line.msg == "%s" and "\n" not in line.args[0] and "\\n::warning::x" in line.args[0]


@pytest.mark.parametrize("remaining", [0.0, -1.0])
def test_a_schedule_at_or_past_the_deadline_fails_with_the_error_that_caused_it(
    remaining: float,
) -> None:
    m = cluster(timeout=10.0)
    m.begin(0.0)
    m.answered(cluster_event(healthy=False), 0.0)
    err = ServerError("boom", status_code=500)
    decision = m.failed(err, 10.0 - remaining)
    assert isinstance(decision, Fail) and isinstance(decision.error, WaitTimeoutError)


def test_the_interval_grows_through_no_events_yet_and_drops_back_at_a_new_event() -> None:
    growing = PollPolicy(initial=1.0, factor=2.0, maximum=64.0, jitter=0.0, grow_after=0.0)
    m = cluster(timeout=None, poll=growing)
    m.begin(0.0)
    ev = cluster_event(healthy=False)
    assert m.answered(ev, 0.0) == PollAt(1.0, CLUSTER, (ev,))  # the first interval
    assert m.answered(ev, 1.0) == PollAt(3.0, CLUSTER)  # unchanged: 2
    gone = m.failed(NoEventsYetError("none", status_code=404), 3.0)
    assert isinstance(gone, PollAt) and gone.at == 7.0  # still growing: 4
    new = cluster_event(healthy=False)
    moving = m.answered(new, 7.0)  # (with a progress line: 7 s into the wait)
    assert isinstance(moving, PollAt) and (moving.at, moving.emit) == (8.0, (new,))  # 1 again


# -- what every machine shares, seen through a pipeline wait -------------------------------


def test_a_progress_line_names_the_failures_in_a_row_until_an_answer() -> None:
    m = machine(timeout=None)
    m.begin(0.0)
    m.answered(event("Provisioning", "Provisioned"), 0.0)
    boom = ServerError("boom", status_code=500)
    m.failed(boom, 1.0)
    m.failed(boom, 2.0)
    assert m._progress_line(6.0).endswith("; the last 2 requests failed: HTTP 500: boom)")
    m.answered(event("Provisioning", "Provisioned"), 3.0)
    assert "failed" not in m._progress_line(7.0)


def test_a_server_never_reached_by_the_deadline_fails_with_its_connection_error() -> None:
    m = machine(timeout=10.0)
    m.begin(0.0)
    last = refused()
    assert isinstance(m.failed(refused(), 5.0), PollAt)
    decision = m.failed(last, 10.0)  # retried at once (testing): at the deadline
    assert isinstance(decision, Fail) and decision.error is last and decision.at is None


def test_in_testing_mode_a_failure_is_retried_without_backoff() -> None:
    m = machine(timeout=None, poll=PollPolicy(initial=0.5, maximum=0.5, jitter=0.0))
    m.begin(0.0)
    d = m.failed(refused(), 5.0)  # never reached: at once
    assert isinstance(d, PollAt) and d.at == 5.0
    m.answered(event("Provisioning", "Provisioned"), 5.0)
    d = m.failed(ServerError("boom", status_code=500), 6.0)  # reached: the poll interval
    assert isinstance(d, PollAt) and d.at == 6.5


def test_the_interval_grows_after_grow_after_seconds_of_the_wait_not_of_the_clock() -> None:
    growing = PollPolicy(initial=1.0, factor=2.0, maximum=64.0, jitter=0.0, grow_after=60.0)
    m = machine(now=1000.0, timeout=None, poll=growing)
    m.begin(1000.0)
    ev = event("Provisioning", "Provisioned")
    assert [m.answered(ev, t).at for t in (1000.0, 1010.0, 1020.0)] == [1001.0, 1011.0, 1021.0]
    assert m.answered(ev, 1060.0).at == 1062.0  # 60 s into the wait: 2 s
    assert m.answered(ev, 1062.0).at == 1066.0


def test_no_request_is_asked_for_at_the_deadline() -> None:
    assert cluster(timeout=5.0).begin(4.99) == Need(CLUSTER)
    late = cluster(timeout=5.0).begin(5.0)
    assert isinstance(late, Fail) and isinstance(late.error, ClusterWaitTimeoutError)


def test_the_first_read_of_since_now_follows_the_users_retry_statuses() -> None:
    from feldera_events import EventNotFoundError

    gone = EventNotFoundError("gone", status_code=404)
    m = machine(since="now", retry=RetryPolicy(retry_statuses={404, 503}))
    assert isinstance(m.begin(0.0), Need)
    assert isinstance(m.failed(gone, 0.1), PollAt)  # a 404 the user retries: retried
    strict = machine(since="now")
    strict.begin(0.0)
    decision = strict.failed(gone, 0.1)
    assert isinstance(decision, Fail) and decision.error is gone


@pytest.mark.parametrize(
    ("timeout", "interval", "last"),
    [(3.0, 5.0, 2.0), (3.0, 3.0, 2.0), (1.5, 5.0, 0.75), (0.03, 5.0, 0.015)],
)
def test_the_last_poll_comes_half_the_time_left_or_a_second_before_the_deadline(
    timeout: float, interval: float, last: float
) -> None:
    m = machine(timeout=timeout, poll=PollPolicy(initial=interval, maximum=interval, jitter=0.0))
    assert m.begin(0.0) == PollAt(0.0)
    ev = event("Provisioning", "Provisioned")
    decision = m.answered(ev, 0.0)
    assert isinstance(decision, PollAt) and decision.at == pytest.approx(last)
    end = m.answered(ev, decision.at)  # the last poll done: the wait ends at the deadline
    assert isinstance(end, Fail) and end.at == timeout
    assert isinstance(end.error, WaitTimeoutError)


def test_no_last_poll_within_20_ms_of_the_deadline() -> None:
    m = machine(timeout=0.02, poll=PollPolicy(initial=5.0, maximum=5.0, jitter=0.0))
    m.begin(0.0)
    end = m.answered(event("Provisioning", "Provisioned"), 0.0)
    assert isinstance(end, Fail) and end.at == 0.02


def test_a_timeout_says_how_often_the_last_error_came() -> None:
    m = machine(timeout=10.0)
    m.begin(0.0)
    m.answered(event("Provisioning", "Provisioned"), 0.0)
    m.failed(ServerError("boom", status_code=500), 1.0)
    assert m.timeout_error(10.0).last_error == "HTTP 500: boom (once)"
    m.failed(ServerError("boom", status_code=500), 2.0)
    assert m.timeout_error(10.0).last_error == "HTTP 500: boom (2 times)"
    m.answered(event("Provisioning", "Provisioned"), 3.0)
    assert m.timeout_error(10.0).last_error is None
    assert m.expired(10.0).error.__cause__ is None


def test_a_deadline_before_the_server_was_ever_reached_is_a_connection_error() -> None:
    m = machine(timeout=10.0, url="http://h:1")
    m.begin(0.0)
    last = refused()
    m.failed(last, 1.0)
    err = m.expired(10.0).error
    assert type(err) is APIConnectionError and err.__cause__ is last
    assert str(err) == "could not reach http://h:1 within the 10s deadline of this wait: refused"
    # No failure seen at all: a deadline shorter than the first answer is a timeout.
    quiet = machine(timeout=0.5)
    quiet.begin(0.0)
    assert isinstance(quiet.expired(0.5).error, WaitTimeoutError)


def test_an_error_while_the_list_decides_a_success_is_that_error_not_a_failure() -> None:
    from feldera_events._acceptors import RUNNING

    point = event(**UP)
    m = machine(RUNNING, since=point, timeout=10.0)
    m.begin(0.0)
    assert isinstance(m.answered(_after(point, 1, **UP), 0.0), Need)  # the list decides
    bad = ServerError("no", status_code=501)
    decision = m.failed(bad, 0.5)
    assert isinstance(decision, Fail) and decision.error is bad
    m = machine(RUNNING, since=point, timeout=10.0)
    m.begin(0.0)
    m.answered(_after(point, 1, **UP), 0.0)
    assert isinstance(m.expired(10.0).error, WaitTimeoutError)


def test_a_failure_cleaned_up_and_the_pipeline_started_again_polls_at_the_initial_interval() -> (
    None
):
    growing = PollPolicy(initial=1.0, factor=2.0, maximum=64.0, jitter=0.0, grow_after=0.0)
    m = machine(timeout=None, poll=growing)
    m.begin(0.0)
    waiting = event("Provisioning", "Provisioned")
    assert [m.answered(waiting, t).at for t in (0.0, 1.0, 3.0)] == [1.0, 3.0, 7.0]
    failed = event("Stopping", "Stopped", error=True, at=7)
    assert isinstance(m.answered(failed, 7.0), Need)
    restarted = full_of(event("Provisioning", "Provisioned", at=8), error=False)
    decision = m.answered(restarted, 7.5)  # the latest, read instead: moving
    assert isinstance(decision, PollAt) and decision.at == 8.5


def test_a_failure_cleaned_up_whose_latest_event_is_a_stop_is_a_stop() -> None:
    from feldera_events import DeploymentStoppedError

    m = machine()
    m.begin(0.0)
    m.answered(event("Provisioning", "Provisioned"), 0.0)
    failed = event("Stopping", "Stopped", error=True, at=1)
    assert isinstance(m.answered(failed, 1.0), Need)
    stopped = full_of(event("Stopped", "Stopped", at=2), error=False)
    decision = m.answered(stopped, 1.5)  # the latest, read instead: stopped by someone
    assert isinstance(decision, Fail) and type(decision.error) is DeploymentStoppedError


def test_a_failure_cleaned_up_whose_latest_event_failed_is_that_failure() -> None:
    m = machine()
    m.begin(0.0)
    failed = event("Stopping", "Stopped", error=True, at=1)
    assert isinstance(m.answered(failed, 1.0), Need)
    # Failed, its error not sent: a failure (not a stop), saying so.
    latest = full_of(event("Stopped", "Stopped", error=True, at=2), error=False)
    decision = m.answered(latest, 1.5)
    assert isinstance(decision, Fail) and type(decision.error) is DeploymentFailedError
    assert decision.error.event is latest and "the server sent no error" in str(decision.error)


def test_a_success_the_list_shows_to_be_the_old_one_keeps_the_interval_growing() -> None:
    from feldera_events._acceptors import RUNNING

    growing = PollPolicy(initial=1.0, factor=2.0, maximum=64.0, jitter=0.0, grow_after=0.0)
    point = event(**UP)
    m = machine(RUNNING, since=point, poll=growing, timeout=None)
    m.begin(0.0)
    same = _after(point, 1, **UP)
    assert isinstance(m.answered(same, 0.0), Need)  # the list decides
    assert m.answered([same, point], 0.0).at == 1.0  # the same deployment: polled on
    assert m.answered(same, 1.0).at == 3.0
    later = _after(point, 2, **UP)
    assert isinstance(m.answered(later, 3.0), Need)
    decision = m.answered([later, same, point], 3.5)  # still the same deployment
    assert isinstance(decision, PollAt) and decision.at == 7.5  # no change: 4 s


def test_times_are_counted_from_the_start_of_the_wait() -> None:
    # A clock that does not start at 0: the elapsed time is now - start everywhere.
    m = cluster(now=1000.0, timeout=10.0)
    m.begin(1000.0)
    ev = cluster_event(healthy=False)
    assert progress_lines(m.answered(ev, 1004.0)) == []  # 4 s into the wait
    assert len(progress_lines(m.answered(ev, 1006.0))) == 1  # 6 s: the first line
    assert m.ended(1007.0)[0].args[1] == 7.0
    err = m.expired(1010.0).error
    assert isinstance(err, ClusterWaitTimeoutError) and err.elapsed == 10.0
    # A server never reached: the retry policy's timeout counts from the start too.
    p = machine(now=1000.0, timeout=None, retry=RetryPolicy(attempts=5, timeout=10))
    p.begin(1000.0)
    assert p.timeout_error(1003.0).elapsed == 3.0
    assert isinstance(p.failed(refused(), 1005.0), PollAt)
    assert isinstance(p.failed(refused(), 1010.0), Fail)


def test_connection_attempts_to_a_cluster_back_off_with_the_poll_interval() -> None:
    growing = PollPolicy(initial=1.0, factor=2.0, maximum=64.0, jitter=0.0, grow_after=0.0)
    m = cluster(timeout=None, poll=growing)
    m.begin(0.0)
    assert [m.failed(refused(), t).at for t in (0.0, 1.0, 3.0)] == [1.0, 3.0, 7.0]


@pytest.mark.parametrize("wait_for_pipeline", [False, True])
def test_since_now_on_an_unknown_pipeline_fails_unless_waiting_for_it(
    wait_for_pipeline: bool,
) -> None:
    from feldera_events import PipelineNotFoundError

    m = machine(since="now", wait_for_pipeline=wait_for_pipeline)
    assert isinstance(m.begin(0.0), Need)
    unknown = PipelineNotFoundError("no such pipeline", status_code=404)
    decision = m.failed(unknown, 0.1)
    if wait_for_pipeline:
        assert decision == PollAt(0.1)  # since now: every event will count
    else:
        assert decision == Fail(unknown)


def test_a_watch_that_times_out_was_never_held_at_a_since_point() -> None:
    w = watch(timeout=5.0)
    w.begin(0.0)
    err = w.timeout_error(5.0)
    assert isinstance(err, WaitTimeoutError) and err.held_at_since is False
