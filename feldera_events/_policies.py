"""The policies a wait and a retry follow: :class:`RetryPolicy` and :class:`PollPolicy`.

Values only, and pure: nothing here sleeps, reads a clock or draws a random number.
Where a policy jitters, the caller draws the random number and passes it in (``draw``,
uniform in [0, 1)): the retry loop (``_retry``) and the wait machines, whose driver
hands them a random source. :func:`number` is the validator every policy (and
:class:`~feldera_events.Timeouts`) checks its numbers with.

:class:`RetryPolicy`'s defaults and where they come from:

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
``ResponseValidationError`` and cancellation are never retried.

**One rule.** :meth:`RetryPolicy.is_transient` is the only place that says whether a
failure is transient, for client calls (retried with tenacity, ``_retry``) and for waits
(polled through by the wait machine) alike: a ``retry_statuses`` given by a user
applies to both. :meth:`RetryPolicy.should_retry` adds the one other rule, for a
server never reached: until a wait has had an answer from the server, connection
errors are retried only within ``attempts`` and ``timeout``, so a wrong URL fails in
seconds instead of at the wait's deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

import attrs

from ._errors import APIConnectionError, APIStatusError

__all__ = ["DEFAULT_RETRY_STATUSES", "PollPolicy", "RetryPolicy", "number"]


def number(
    ok: Callable[[float], bool], must: str, *, optional: bool = False, integer: bool = False
) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """An attrs validator: a real number (never a bool) for which ``ok`` holds.

    ``None`` passes when ``optional``; ``integer`` refuses floats. The ValueError names
    the class and field (``RetryPolicy.attempts must be an integer >= 1, got 0``).
    attrs' own ``ge``/``gt`` accept ``True`` as 1 and do not name the class, hence
    this one validator for every policy.
    """
    kinds: tuple[type, ...] = (int,) if integer else (int, float)

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, kinds) or not ok(cast(float, value)):
            raise ValueError(
                f"{type(instance).__name__}.{attribute.name} must be {must}, got {value!r}"
            )

    return check


#: The HTTP statuses :class:`RetryPolicy` retries by default (see the module docs).
DEFAULT_RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


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

    def backoff(self, retry_number: int, exc: BaseException | None = None, *, draw: float) -> float:
        """The wait before retry number ``retry_number`` (1 for the first retry) after
        ``exc``: its ``Retry-After``, else the exponential wait plus ``draw`` (a random
        number in [0, 1) the caller drew) times ``wait_jitter``."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, APIStatusError) and retry_after is not None:
            return min(max(float(retry_after), 0.0), self.max_retry_after)
        exp = self.wait_initial * self.wait_exp_base ** (retry_number - 1)
        wait = min(exp, self.wait_max)
        return wait + draw * self.wait_jitter


@attrs.frozen(kw_only=True)
class PollPolicy:
    """When a wait polls.

    The interval starts at ``initial`` seconds and stays there for the first
    ``grow_after`` seconds of a wait, then grows by ``factor`` per poll up to
    ``maximum``. Each interval is shortened by a random fraction of up to ``jitter``
    (never lengthened), and clamped to the time left before the deadline. Whenever a
    new event shows up, the interval drops back to ``initial``: a pipeline that is
    moving gets watched closely.

    Why these defaults: a CI job waiting on a pipeline wants to notice
    ``Provisioned`` within about a second of it happening, and most deployments
    settle within a minute, so polls stay at 1 s (less up to 20 % jitter) for the
    first minute. A wait that lasts longer is waiting for something slow (a
    provisioning timeout is 20 s to minutes, a stuck cluster longer); it then backs
    off to one poll every 5 s: in the first minute N waiters cost a manager about
    N requests a second (each a cheap indexed read), after it N/5. Fleets larger
    than that should pass a slower policy. The manager's own runner checks a
    pipeline every 1 to 2.5 s, so polling faster than that buys nothing; the jitter
    keeps a fleet of waiters started together from polling in lockstep.
    """

    initial: float = attrs.field(default=1.0, validator=number(lambda v: v > 0, "a number > 0"))
    factor: float = attrs.field(default=1.5, validator=number(lambda v: v >= 1, "a number >= 1"))
    maximum: float = attrs.field(default=5.0, validator=number(lambda v: v > 0, "a number > 0"))
    jitter: float = attrs.field(
        default=0.2, validator=number(lambda v: 0 <= v < 1, "a fraction in [0, 1)")
    )
    grow_after: float = attrs.field(
        default=60.0,
        validator=number(lambda v: v >= 0, "a number of seconds >= 0"),
    )

    def __attrs_post_init__(self) -> None:
        if self.maximum < self.initial:
            raise ValueError(
                f"PollPolicy.maximum ({self.maximum}) must be >= initial ({self.initial})"
            )

    def next_interval(self, previous: float | None, elapsed: float) -> float:
        """The nominal interval after ``previous`` (None for the first), ``elapsed`` into a wait."""
        if previous is None or elapsed < self.grow_after:
            return self.initial
        return min(previous * self.factor, self.maximum)

    def jittered(self, interval: float, draw: float) -> float:
        """``interval`` shortened by ``draw`` (a random number in [0, 1) the caller drew)
        times ``jitter``."""
        return interval * (1.0 - draw * self.jitter)
