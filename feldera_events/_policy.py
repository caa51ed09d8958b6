"""The time policies: Timeouts (how long one request may take) and PollPolicy (when a wait polls)."""

from __future__ import annotations

import random

import aiohttp
import attrs

from ._config import number

__all__ = ["PollPolicy", "Timeouts"]

_SECONDS_OR_NONE = "a number of seconds > 0 or None"


@attrs.frozen(kw_only=True)
class Timeouts:
    """Per-request time limits, in seconds (None: no limit).

    ``connect`` bounds establishing a connection (TCP and TLS); ``request`` bounds one
    whole request, from sending it to reading the last byte of the answer. Neither is
    the overall deadline of a wait: waits take their own ``timeout=``.
    """

    connect: float | None = attrs.field(
        default=10.0, validator=number(lambda v: v > 0, _SECONDS_OR_NONE, optional=True)
    )
    request: float | None = attrs.field(
        default=30.0, validator=number(lambda v: v > 0, _SECONDS_OR_NONE, optional=True)
    )

    @classmethod
    def of(cls, timeout: Timeouts | float | None) -> Timeouts:
        """``timeout=`` as the client takes it: Timeouts, a request limit in seconds, or None
        (the defaults)."""
        if isinstance(timeout, Timeouts):
            return timeout
        return cls() if timeout is None else cls(request=timeout)

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.request, sock_connect=self.connect)


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

    def jittered(self, interval: float) -> float:
        if not self.jitter:
            return interval
        return interval * (1.0 - random.uniform(0.0, self.jitter))
