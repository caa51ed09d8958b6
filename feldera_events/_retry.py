"""The request retry policy: what is transient, how long to wait, when to give up.

Built on tenacity. Defaults and where they come from:

========================  ===========  ==================================================
setting                   default      why
========================  ===========  ==================================================
``attempts``              4            the official SDK's ``RetryConfig.max_retries=3``
                                       (4 tries in all)
``timeout``               60 s         a deadline for one call with all its retries, as
                                       stamina's 45 s ``timeout``; Smithy waiters insist
                                       a caller always has a total time
``wait_initial``          0.5 s        between stamina's 0.1 s and the official SDK's
                                       2 s: reading events is cheap, a blip is short
``wait_exp_base``         2            the official SDK and stamina
``wait_max``              30 s         a single wait never longer than half the deadline
                                       (official SDK 64 s, stamina 5 s)
``wait_jitter``           1.0 s        stamina's ``wait_jitter``: hundreds of waiters
                                       sharing one manager must not retry in step
``max_retry_after``       60 s         ``Retry-After`` is honoured up to this (Feldera's
                                       503s say 5 s), and never past the deadline
``retry_statuses``        408 429 500  the official SDK and the spec's own guidance
                          502 503 504  (502/503/504), plus 500: the manager's 500s are
                                       database errors (Postgres restarting), and
                                       every request this SDK makes is a GET
========================  ===========  ==================================================

Connection errors and per-request timeouts are transient too. Other 4xx, 501,
``ResponseValidationError`` and cancellation are never retried; after the last
attempt the real exception is raised, never ``tenacity.RetryError``.

**One rule.** :meth:`RetryPolicy.is_transient` is the only place that says whether a
failure is transient, for client calls (retried here, with tenacity) and for waits
(polled through by the wait machine) alike: a ``retry_statuses`` given by a user
applies to both. :meth:`RetryPolicy.should_retry` adds the one other rule, for a
server never reached: until a wait has had an answer from the server, connection
errors are retried only within ``attempts`` and ``timeout``, so a wrong URL fails in
seconds instead of at the wait's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import tenacity

from ._config import number
from ._errors import APIConnectionError, APIStatusError, APITimeoutError, FelderaError
from ._testing_mode import is_testing

__all__ = ["RetryPolicy", "call_with_retry"]

T = TypeVar("T")
logger = logging.getLogger("feldera_events")

DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


_AT_LEAST_0 = number(lambda v: v >= 0, "a number >= 0")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How transient failures of one request are retried (see the module docs for defaults).

    ``attempts`` counts every try, the first included (1 disables retries);
    ``timeout`` is the deadline in seconds for the call and all its retries (None:
    attempts alone limit it). Waits grow as ``wait_initial * wait_exp_base**n``, capped
    at ``wait_max``, plus up to ``wait_jitter`` seconds of random jitter; a
    ``Retry-After`` header replaces the computed wait, capped at ``max_retry_after``.
    A retry whose wait would end past the deadline is not made: the last error is
    raised instead.
    """

    attempts: int = attrs.field(
        default=4, validator=number(lambda v: v >= 1, "an integer >= 1", integer=True)
    )
    timeout: float | None = attrs.field(
        default=60.0, validator=number(lambda v: v > 0, "> 0 or None", optional=True)
    )
    wait_initial: float = attrs.field(default=0.5, validator=_AT_LEAST_0)
    wait_max: float = attrs.field(default=30.0, validator=_AT_LEAST_0)
    wait_exp_base: float = attrs.field(
        default=2.0, validator=number(lambda v: v >= 1, "a number >= 1")
    )
    wait_jitter: float = attrs.field(default=1.0, validator=_AT_LEAST_0)
    max_retry_after: float = attrs.field(default=60.0, validator=_AT_LEAST_0)
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=frozenset
    )

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)

    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` is worth another attempt under this policy."""
        if isinstance(exc, APIConnectionError):
            return True
        return isinstance(exc, APIStatusError) and exc.status_code in self.retry_statuses

    def should_retry(
        self, exc: BaseException, *, failures: int, elapsed: float, reached: bool = True
    ) -> bool:
        """Whether a wait should try again after ``exc``, its ``failures``-th failure in a row.

        Transient failures (:meth:`is_transient`) are; once the server has answered in
        the wait (``reached``), the wait's own deadline is the only limit. Before that,
        a server never reached is tried only ``attempts`` times and for ``timeout``
        seconds (``elapsed`` since the wait began).
        """
        if not self.is_transient(exc):
            return False
        if reached or not isinstance(exc, APIConnectionError):
            return True
        if failures >= self.attempts:
            return False
        return self.timeout is None or elapsed < self.timeout

    def backoff(self, retry_number: int, exc: BaseException | None = None) -> float:
        """The wait before retry number ``retry_number`` (1 for the first retry)."""
        if is_testing():
            return 0.0
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, APIStatusError) and retry_after is not None:
            return min(max(float(retry_after), 0.0), self.max_retry_after)
        exp = self.wait_initial * self.wait_exp_base ** (retry_number - 1)
        wait = min(exp, self.wait_max)
        if self.wait_jitter:
            wait += random.uniform(0, self.wait_jitter)
        return wait


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    describe: str,
    deadline: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    ends_within: float | None = None,
    first_failure: FelderaError | None = None,
    started: float | None = None,
) -> T:
    """Run ``call`` under ``policy``.

    ``describe`` names the request in log lines (method and path, no secrets);
    ``deadline`` is an absolute ``clock()`` time that the retries must not pass,
    in addition to the policy's own ``timeout``. ``ends_within`` says that one
    ``call`` ends (returns or raises) within that many seconds by its own timeouts:
    a first attempt that cannot outlast the policy's ``timeout`` then runs without a
    timer of its own (arming and cancelling one costs several µs a request).

    The first attempt is made directly: setting up tenacity costs about 45 µs a call,
    more than the rest of the client's own work on a request (see benchmarks/), and
    nearly every request succeeds at once. Only a first attempt that fails
    transiently enters the retry loop, which replays that failure as its own first
    attempt: the same attempt count, backoff, log lines and deadline.

    A caller that made the first attempt itself (one coroutine layer less on the hot
    path) passes its transient failure as ``first_failure`` and the ``clock()`` time
    it began as ``started``: the retries go on from there as if made here.
    """
    start = clock() if started is None else started
    policy_limit = start + policy.timeout if policy.timeout is not None else None
    limit = policy_limit
    if deadline is not None:
        limit = deadline if limit is None else min(limit, deadline)

    async def bounded() -> T:
        # The policy's timeout bounds an attempt already in flight too, not only the
        # decision to make another one.
        if policy_limit is None:
            return await call()
        assert policy.timeout is not None
        scope = asyncio.timeout(max(policy_limit - clock(), 0.0))
        try:
            async with scope:
                return await call()
        except TimeoutError:
            if not scope.expired():
                raise
        raise APITimeoutError(
            f"{describe} did not finish within the retry policy's timeout of {policy.timeout:g}s"
        )

    first: FelderaError | None = first_failure
    if first is None:
        try:
            if policy_limit is None or (
                ends_within is not None and start + ends_within <= policy_limit
            ):
                return await call()
            return await bounded()
        except FelderaError as exc:
            if policy.attempts <= 1 or not policy.is_transient(exc):
                raise
            first = exc

    async def replay() -> T:
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        return await bounded()

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return policy.backoff(state.attempt_number, exc)

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        return limit is not None and clock() + (state.upcoming_sleep or 0.0) > limit

    def retry(state: tenacity.RetryCallState) -> bool:
        if state.outcome is None or not state.outcome.failed:
            return False
        exc = state.outcome.exception()
        return isinstance(exc, FelderaError) and policy.is_transient(exc)

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
        retry=retry,
        stop=stop,
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
        sleep=sleep,
    )
    return await retrying(replay)
