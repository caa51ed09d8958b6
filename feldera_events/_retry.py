"""Retries with tenacity: the loop around one request (``call_with_retry``), and the
read of an event that clean-up may have removed (``event_or_latest``).

The policy (``_policies``) says what is transient and how long to wait; this module
draws the jitter and reads the testing switch. The real exception is raised after the
last attempt, never ``tenacity.RetryError``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity

from ._errors import APITimeoutError, EventNotFoundError, FelderaError
from ._policies import RetryPolicy
from ._testing_mode import is_testing

__all__ = ["call_with_retry", "event_or_latest"]

T = TypeVar("T")
logger = logging.getLogger("feldera_events")


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    describe: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    ends_within: float | None = None,
) -> T:
    """Run ``call`` under ``policy``; ``describe`` names the request in log lines (method
    and path, no secrets).

    The first attempt is made directly, the one fast path: setting up tenacity costs
    some 70 µs of CPU a call, a third of a request to a local server (measured with and
    without, issue 22), and nearly every request succeeds at once. Only a first attempt
    that fails transiently enters the retry loop, which replays that failure as its own
    first attempt: the same attempt count, backoff, log lines and deadline.
    ``ends_within`` (:func:`~feldera_events._client.attempt_bound`) says that one
    ``call`` ends within that many seconds by its own timeouts: a first attempt that
    cannot outlast the policy's ``timeout`` then runs without a timer of its own.
    """
    start = clock()
    timeout = policy.timeout
    try:
        if timeout is None or (ends_within is not None and ends_within <= timeout):
            return await call()
        return await _bounded(call, policy, start + timeout, clock, describe)
    except FelderaError as exc:
        if policy.attempts <= 1 or not policy.is_transient(exc):
            raise
        first = exc
    return await _retry(call, policy, first, start, describe, sleep, clock)


async def _bounded(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    limit: float,
    clock: Callable[[], float],
    describe: str,
) -> T:
    """``call``, ended at ``limit``: the policy's timeout bounds an attempt already in
    flight too, not only the decision to make another one."""
    scope = asyncio.timeout(max(limit - clock(), 0.0))
    try:
        async with scope:
            return await call()
    except TimeoutError:
        if not scope.expired():
            raise
    raise APITimeoutError(
        f"{describe} did not finish within the retry policy's timeout of {policy.timeout:g}s"
    )


async def _retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    first: FelderaError | None,
    start: float,
    describe: str,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
) -> T:
    """The retries after ``first``, the first attempt's transient failure (tenacity)."""
    limit = None if policy.timeout is None else start + policy.timeout

    async def replay() -> T:
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        if limit is None:
            return await call()
        return await _bounded(call, policy, limit, clock, describe)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if is_testing():
            return 0.0
        return policy.backoff(state.attempt_number, exc, draw=random.random())

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        return limit is not None and clock() + (state.upcoming_sleep or 0.0) > limit

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        logger.warning(
            "%s failed (attempt %d of %d): %s: %s; retrying in %.2fs",
            describe,
            state.attempt_number,
            policy.attempts,
            type(exc).__name__,
            exc,
            state.upcoming_sleep,
        )

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, FelderaError) and policy.is_transient(exc)
        ),
        stop=stop,
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
        sleep=sleep,
    )
    return await retrying(replay)


async def event_or_latest(
    read: Callable[[str | uuid.UUID], Awaitable[T]], event_id: str | uuid.UUID
) -> T:
    """``read(event_id)``; if clean-up removed that event first (:class:`EventNotFoundError`),
    ``read("latest")`` instead: one retry, made by tenacity, at once.

    A wait asks for this when the status showed a failure and it needs the event in full
    (the error's details); whichever event comes back, the wait judges it (the latest
    may be a newer one).
    """
    ids = iter((event_id, "latest"))

    async def attempt() -> T:
        return await read(next(ids))

    def cleaned_up(state: tenacity.RetryCallState) -> None:
        logger.debug("event %s was cleaned up before it could be read; reading latest", event_id)

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(EventNotFoundError),
        stop=tenacity.stop_after_attempt(2),
        before_sleep=cleaned_up,
        reraise=True,
    )
    return await retrying(attempt)
