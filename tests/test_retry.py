"""RetryPolicy and call_with_retry, with an injected clock and sleep (no real waiting)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
import tenacity

from feldera_events import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)
from feldera_events._retry import call_with_retry
from feldera_events._testing_mode import is_testing


class FakeTime:
    """A clock that only moves when the code under test sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(*errors: BaseException, result: Any = "ok") -> tuple[Callable[[], Any], list[int]]:
    """A call that raises ``errors`` in turn, then returns ``result``."""
    calls: list[int] = []

    async def call() -> Any:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return call, calls


def status(code: int, retry_after: float | None = None) -> APIStatusError:
    from feldera_events._errors import status_error_class

    return status_error_class(code, None)("m", status_code=code, retry_after=retry_after)


# -- what is transient -------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_transient_statuses(code: int) -> None:
    assert RetryPolicy().is_transient(status(code))


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 501])
def test_non_transient_statuses(code: int) -> None:
    assert not RetryPolicy().is_transient(status(code))


def test_transient_exceptions() -> None:
    assert RetryPolicy().is_transient(APIConnectionError("x"))
    assert RetryPolicy().is_transient(APITimeoutError("x"))
    assert not RetryPolicy().is_transient(ResponseValidationError("x"))
    assert not RetryPolicy().is_transient(asyncio.CancelledError())
    assert not RetryPolicy().is_transient(ValueError())
    assert RetryPolicy(retry_statuses={409}).is_transient(status(409))
    assert not RetryPolicy(retry_statuses={503}).is_transient(status(500))


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=True)
    with pytest.raises(ValueError, match="timeout"):
        RetryPolicy(timeout=0)
    with pytest.raises(ValueError, match="wait_initial"):
        RetryPolicy(wait_initial=-1)
    with pytest.raises(ValueError, match="wait_exp_base"):
        RetryPolicy(wait_exp_base=0.5)
    assert RetryPolicy.disabled().attempts == 1
    assert RetryPolicy(retry_statuses=[503]).retry_statuses == frozenset({503})


# -- the testing switch ------------------------------------------------------------------


async def test_suite_runs_in_testing_mode() -> None:
    """Testing mode: the retries happen, with no wait between them (Retry-After too)."""
    assert is_testing()
    t = FakeTime()
    call, calls = failing(status(503, retry_after=5), status(503))
    await call_with_retry(call, RetryPolicy(), describe="GET /x", sleep=t.sleep, clock=t.clock)
    assert len(calls) == 3
    assert t.sleeps == [0.0, 0.0]


@pytest.mark.usefixtures("no_testing_mode")
async def test_the_retry_loop_draws_the_jitter() -> None:
    t = FakeTime()
    policy = RetryPolicy(wait_initial=1, wait_max=1, wait_jitter=0.25, timeout=None, attempts=30)
    call, _ = failing(*[status(503)] * 29)
    await call_with_retry(call, policy, describe="GET /x", sleep=t.sleep, clock=t.clock)
    assert all(1.0 <= s <= 1.25 for s in t.sleeps)
    assert len(set(t.sleeps)) > 1  # drawn anew for each retry


def test_backoff_grows_exponentially_with_the_jitter_drawn() -> None:
    policy = RetryPolicy(wait_initial=0.5, wait_exp_base=2, wait_max=3, wait_jitter=0.25)
    for n, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        assert policy.backoff(n, draw=0.0) == base
        assert policy.backoff(n, draw=0.5) == base + 0.125
    no_jitter = RetryPolicy(wait_initial=1, wait_jitter=0)
    assert [no_jitter.backoff(n, draw=0.9) for n in (1, 2, 3)] == [1, 2, 4]


def test_backoff_retry_after_honoured_and_capped() -> None:
    policy = RetryPolicy(max_retry_after=10)
    assert policy.backoff(1, status(503, retry_after=5), draw=0.5) == 5
    assert policy.backoff(1, status(503, retry_after=0), draw=0.5) == 0
    assert policy.backoff(1, status(503, retry_after=3600), draw=0.5) == 10


# -- call_with_retry ---------------------------------------------------------------------


async def test_retries_transient_then_succeeds() -> None:
    call, calls = failing(status(503), APIConnectionError("reset"), APITimeoutError("slow"))
    assert await call_with_retry(call, RetryPolicy(attempts=4), describe="GET /x") == "ok"
    assert len(calls) == 4


async def test_a_retry_that_fails_for_good_is_not_retried_again() -> None:
    gone = NotFoundError("m", status_code=404)
    call, calls = failing(status(503), gone)
    with pytest.raises(NotFoundError) as info:
        await call_with_retry(call, RetryPolicy(attempts=4), describe="GET /x")
    assert info.value is gone and len(calls) == 2


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("m", status_code=400),
        AuthenticationError("m", status_code=401),
        NotFoundError("m", status_code=404),
        ServerError("m", status_code=501),
        ResponseValidationError("bad"),
        ValueError("not ours"),
    ],
)
async def test_never_retried(error: Exception) -> None:
    call, calls = failing(error)
    with pytest.raises(type(error)) as info:
        await call_with_retry(call, RetryPolicy(attempts=5), describe="GET /x")
    assert info.value is error
    assert len(calls) == 1


async def test_cancellation_is_never_retried() -> None:
    call, calls = failing(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await call_with_retry(call, RetryPolicy(attempts=5), describe="GET /x")
    assert len(calls) == 1


async def test_cancelling_a_retry_wait_cancels() -> None:
    started = asyncio.Event()

    async def never(_: float) -> None:
        started.set()
        await asyncio.Event().wait()

    call, calls = failing(status(503), status(503))
    task = asyncio.create_task(
        call_with_retry(call, RetryPolicy(attempts=5), describe="GET /x", sleep=never)
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) == 1


async def test_last_error_is_raised_not_retry_error() -> None:
    last = status(502)
    call, calls = failing(status(503), status(504), last)
    with pytest.raises(ServerError) as info:
        await call_with_retry(call, RetryPolicy(attempts=3), describe="GET /x")
    assert info.value is last
    assert not isinstance(info.value, tenacity.RetryError)
    assert len(calls) == 3


async def test_one_warning_per_scheduled_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="feldera_events")
    call, _ = failing(status(503), APIConnectionError("reset"), status(429), status(429))
    with pytest.raises(RateLimitError):
        await call_with_retry(
            call, RetryPolicy(attempts=4), describe="GET /v0/pipelines/p/events?selector=status"
        )
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    first = warnings[0].getMessage()
    assert "GET /v0/pipelines/p/events?selector=status" in first
    assert "attempt 1 of 4" in first
    assert "ServerError" in first
    assert "retrying in 0.00s" in first
    assert "attempt 3 of 4" in warnings[2].getMessage()


@pytest.mark.usefixtures("no_testing_mode")
async def test_retry_after_is_waited_and_capped() -> None:
    t = FakeTime()
    call, calls = failing(status(503, retry_after=5), status(503, retry_after=3600))
    policy = RetryPolicy(attempts=3, timeout=None, max_retry_after=60)
    assert await call_with_retry(call, policy, describe="x", sleep=t.sleep, clock=t.clock) == "ok"
    assert t.sleeps == [5, 60]
    assert len(calls) == 3


@pytest.mark.usefixtures("no_testing_mode")
async def test_exponential_waits_without_jitter() -> None:
    t = FakeTime()
    call, _ = failing(status(502), status(502), status(502))
    policy = RetryPolicy(attempts=4, wait_initial=0.5, wait_jitter=0, timeout=None)
    await call_with_retry(call, policy, describe="x", sleep=t.sleep, clock=t.clock)
    assert t.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.usefixtures("no_testing_mode")
async def test_no_wait_ends_past_the_policy_timeout() -> None:
    t = FakeTime()
    errors = [status(503, retry_after=4) for _ in range(10)]
    call, calls = failing(*errors)
    policy = RetryPolicy(attempts=10, timeout=10)
    with pytest.raises(ServerError) as info:
        await call_with_retry(call, policy, describe="x", sleep=t.sleep, clock=t.clock)
    # 0 -> 4 -> 8; a third 4 s wait would end at 12 > 10: give up with the real error.
    assert t.sleeps == [4, 4]
    assert t.now - 1000.0 <= 10
    assert len(calls) == 3
    assert info.value is errors[2]


async def test_the_first_attempt_counts_as_attempt_one() -> None:
    # The first attempt is made outside tenacity (the fast path); a transient failure of
    # it is replayed as the loop's attempt 1: the retries go on within the same attempts.
    call, calls = failing(status(502), status(503), status(503))
    with pytest.raises(APIStatusError):
        await call_with_retry(call, RetryPolicy(attempts=3), describe="GET /x")
    assert len(calls) == 3


@pytest.mark.usefixtures("no_testing_mode")
async def test_the_first_attempts_time_counts_against_the_policy_timeout() -> None:
    t = FakeTime()

    async def slow_failure() -> str:
        t.now += 9  # the first attempt takes 9 s of a 10 s policy
        raise status(503, retry_after=4)  # a 4 s wait would end past it

    with pytest.raises(ServerError):
        await call_with_retry(
            slow_failure,
            RetryPolicy(attempts=4, timeout=10),
            describe="GET /x",
            clock=t.clock,
            sleep=t.sleep,
        )
    assert t.sleeps == []


# -- the policy's deadline and the read after clean-up (issue 24, mutation testing) ------


async def test_a_retry_due_at_the_policy_deadline_gets_no_time_left() -> None:
    t = FakeTime()
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            t.now += 10  # the first attempt uses the whole 10 s
            raise status(503)
        await asyncio.sleep(0.01)  # the retries, due at the deadline, have no time left
        return "ok"

    with pytest.raises(
        APITimeoutError, match="did not finish within the retry policy's timeout of 10s"
    ):
        await call_with_retry(
            call,
            RetryPolicy(attempts=3, timeout=10),
            describe="GET /x",
            sleep=t.sleep,
            clock=t.clock,
        )
    assert len(calls) == 3  # each a timeout, itself transient: until the attempts run out


async def test_an_attempt_that_awaits_within_the_policy_timeout_succeeds() -> None:
    t = FakeTime()
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)  # under a timer: the 10 s the policy leaves
        return "ok"

    policy = RetryPolicy(attempts=3, timeout=10)
    assert (
        await call_with_retry(call, policy, describe="GET /x", sleep=t.sleep, clock=t.clock) == "ok"
    )
    assert len(calls) == 1  # the first attempt, not a retry after a timeout


async def test_a_cleaned_up_event_is_read_as_latest_once() -> None:
    from feldera_events import EventNotFoundError
    from feldera_events._retry import event_or_latest

    reads: list[object] = []

    async def read(event_id: object) -> str:
        reads.append(event_id)
        if event_id != "latest":
            raise EventNotFoundError("gone", status_code=404)
        return "the latest"

    assert await event_or_latest(read, "e1") == "the latest"
    assert reads == ["e1", "latest"]
    gone = EventNotFoundError("gone too", status_code=404)

    async def always_gone(event_id: object) -> str:
        reads.append(event_id)
        raise gone

    reads.clear()
    with pytest.raises(EventNotFoundError) as info:
        await event_or_latest(always_gone, "e1")
    assert info.value is gone and reads == ["e1", "latest"]


async def test_an_attempt_bounded_by_its_own_timeouts_gets_no_timer_of_the_policy() -> None:
    # ends_within says the call ends by its own timeouts within that many seconds: at
    # (or under) the policy's timeout it runs without a timer of the policy. A call that
    # breaks that promise shows it: it is not cut at the policy's 0.01 s.
    async def call() -> str:
        await asyncio.sleep(0.05)
        return "ok"

    policy = RetryPolicy(attempts=1, timeout=0.01)
    for bound in (0.01, 0.005):
        assert await call_with_retry(call, policy, describe="GET /x", ends_within=bound) == "ok"
    with pytest.raises(APITimeoutError):  # a bound above the policy's: its timer
        await call_with_retry(call, policy, describe="GET /x", ends_within=0.02)
