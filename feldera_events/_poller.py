"""Poller: wait until a pipeline is provisioned (or stopped, or anything), and watch it.

A wait polls ``GET /v0/pipelines/{name}/events/latest?selector=status`` on a
:class:`PollPolicy` schedule until an acceptor says *success* or *failure*, or the
overall deadline passes. Requests go through the client with retries disabled: the
poller itself decides what a failed request means for the wait (see
:meth:`Poller.wait_for`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import enum
import functools
import inspect
import logging
import random
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeAlias, TypeVar

import attrs
import tenacity

from ._client import EventsClient, check_pipeline_name, normalize_selector
from ._cluster import ClusterEvent
from ._errors import (
    APIConnectionError,
    APIStatusError,
    ClusterWaitTimeoutError,
    DeploymentFailedError,
    DeploymentStoppedError,
    EventNotFoundError,
    FelderaError,
    NoEventsYetError,
    PipelineNotFoundError,
    RateLimitError,
    ServerError,
    WaitError,
    WaitTimeoutError,
)
from ._models import (
    DeploymentError,
    PipelineEvent,
    ResourcesDesiredStatus,
    ResourcesStatus,
    Selector,
)
from ._retry import RetryPolicy

__all__ = [
    "ClusterEventCallback",
    "EventCallback",
    "Outcome",
    "PollPolicy",
    "Poller",
    "Since",
    "Verdict",
    "WaitResult",
    "wait_until_provisioned",
]

logger = logging.getLogger("feldera_events")
T = TypeVar("T")

#: ``since=``: an event, an event id, or a timezone-aware datetime.
Since: TypeAlias = PipelineEvent | uuid.UUID | str | _dt.datetime
#: ``on_event=``: called (and awaited, if async) once per new event observed.
EventCallback: TypeAlias = Callable[[PipelineEvent], Awaitable[None] | None]
#: ``on_event=`` of :meth:`Poller.wait_until_cluster_healthy`: once per new cluster event.
ClusterEventCallback: TypeAlias = Callable[[ClusterEvent], Awaitable[None] | None]

_NO_RETRY = RetryPolicy.disabled()
_FIRST_PROGRESS_LOG = 5.0


def _check_positive(name: str) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_: object, __: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"PollPolicy.{name} must be a number > 0, got {value!r}")

    return check


def _check_jitter(_: object, __: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"PollPolicy.jitter must be a fraction in [0, 1), got {value!r}")


def _check_factor(_: object, __: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
        raise ValueError(f"PollPolicy.factor must be a number >= 1, got {value!r}")


def _check_grow_after(_: object, __: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"PollPolicy.grow_after must be a number of seconds >= 0, got {value!r}")


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

    initial: float = attrs.field(default=1.0, validator=_check_positive("initial"))
    factor: float = attrs.field(default=1.5, validator=_check_factor)
    maximum: float = attrs.field(default=5.0, validator=_check_positive("maximum"))
    jitter: float = attrs.field(default=0.2, validator=_check_jitter)
    grow_after: float = attrs.field(default=60.0, validator=_check_grow_after)

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


class Verdict(enum.Enum):
    """What an acceptor says about an event."""

    SUCCESS = "success"
    FAILURE = "failure"
    CONTINUE = "continue"


class Outcome(enum.Enum):
    """How one wait of :meth:`Poller.wait_many` ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    ERROR = "error"
    CANCELLED = "cancelled"


@attrs.frozen
class WaitResult:
    """The outcome of one pipeline's wait in :meth:`Poller.wait_many`."""

    pipeline_name: str
    outcome: Outcome
    #: The final event (success), the failed event, or the last event seen.
    event: PipelineEvent | None
    #: The exception that ended the wait (None on success).
    error: BaseException | None
    #: Seconds from the start of the wait to its end.
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED


@attrs.define
class _Since:
    """The ``since=`` point of a wait: events at or before it are never terminal.

    From an event (or an id the server still had): exact, ordered as the server
    orders events, by ``(recorded_at, event_id)`` (events written in one transaction
    share a ``recorded_at``). From an id that was cleaned up: UUIDv7 order of the ids.
    From a datetime: ``recorded_at`` alone.
    """

    recorded_at: _dt.datetime | None
    event_id: uuid.UUID | None
    event: PipelineEvent | None = None

    def covers(self, ev: PipelineEvent) -> bool:
        """True when ``ev`` was recorded at or before this point."""
        if self.recorded_at is not None and self.event_id is not None:
            return _order_key(ev) <= (self.recorded_at, self.event_id)
        if self.event_id is not None:
            return ev.event_id.int <= self.event_id.int
        assert self.recorded_at is not None
        return ev.recorded_at <= self.recorded_at


_BEGINNING = _dt.datetime.min.replace(tzinfo=_dt.UTC)


def _order_key(ev: PipelineEvent) -> tuple[_dt.datetime, uuid.UUID]:
    return (ev.recorded_at, ev.event_id)


def _is_duplicate(ev: PipelineEvent, previous: PipelineEvent) -> bool:
    """A heartbeat duplicate: the same status fields, details and error as before."""
    return (
        ev.same_status(previous)
        and ev.deployment_error == previous.deployment_error
        and ev.deployment_resources_status_details == previous.deployment_resources_status_details
        and ev.deployment_runtime_status_details == previous.deployment_runtime_status_details
        and ev.storage_status_details == previous.storage_status_details
    )


def _is_transient_answer(exc: BaseException) -> bool:
    """A failure worth polling through once the server has answered in this wait.

    501 Not Implemented is not: the server says it will never do this.
    """
    if isinstance(exc, ServerError) and exc.status_code == 501:
        return False
    if isinstance(exc, APIConnectionError | ServerError | RateLimitError):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code == 408


def _next_threshold(threshold: float, elapsed: float) -> float:
    """The first of ``threshold``, ``2 * threshold``, ... that lies after ``elapsed``."""
    threshold = max(threshold, 0.001)
    while threshold <= elapsed:
        threshold *= 2
    return threshold


_STOPPING_OR_STOPPED = (ResourcesStatus.STOPPING, ResourcesStatus.STOPPED)


class _WaitState:
    """What a single wait has seen so far."""

    def __init__(self, name: str, timeout: float | None, what: str) -> None:
        self.name = name
        self.timeout = timeout
        self.what = what
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.deadline = None if timeout is None else self.start + timeout
        self.polls = 0
        self.reached = False
        self.last_event: PipelineEvent | None = None
        self.next_log = _FIRST_PROGRESS_LOG
        self.logged = False
        self.interval: float | None = None
        self.final_poll_done = False
        #: Consecutive failed requests (server reached / never reached).
        self.failures = 0
        self.unreached_failures = 0
        self.last_error: FelderaError | None = None
        self.last_connection_error: APIConnectionError | None = None
        # wait_until_provisioned's bookkeeping
        self.since: _Since | None = None
        self.seen_desired_provisioned = False
        self.left_provisioned = False
        self.checked_candidate: uuid.UUID | None = None
        self.stopped_by_user = False

    @property
    def elapsed(self) -> float:
        return self.loop.time() - self.start

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.loop.time()

    def answered(self) -> None:
        self.polls += 1
        self.reached = True

    def observe(self, ev: PipelineEvent) -> None:
        """Note what an event after ``since`` says about the deployment's progress."""
        resources = ev.deployment_resources_status
        if resources is not ResourcesStatus.PROVISIONED:
            self.left_provisioned = True
            if ev.deployment_resources_desired_status is ResourcesDesiredStatus.PROVISIONED:
                # Asked to be provisioned and not there yet: a later stop without an
                # error is someone stopping it (a provisioned pipeline being restarted
                # goes through Stopping with desired Stopped first, and that is fine).
                self.seen_desired_provisioned = True

    def deadline_error(self, url: str) -> FelderaError:
        """The error for a deadline that passed: a timeout, or, for a server never
        reached in this wait, a connection error (a wrong URL is not a timeout)."""
        if not self.reached:
            last = self.last_connection_error
            detail = f": {last.message}" if last is not None else ""
            err: FelderaError = APIConnectionError(
                f"could not reach {url} within the {self.timeout:g}s deadline of this wait{detail}",
                url=url,
            )
            err.__cause__ = last
            return err
        timeout = self.timeout_error()
        if self.failures:
            timeout.__cause__ = self.last_error  # the wait ended in a stretch of errors
        return timeout

    def timeout_error(self) -> WaitTimeoutError:
        return WaitTimeoutError(
            self.name,
            timeout=self.timeout,
            elapsed=self.elapsed,
            polls=self.polls,
            last_event=self.last_event,
            what=self.what,
        )

    def progress_log(self) -> None:
        """An INFO line after 5 s, 10 s, 20 s, ... of a wait (one per threshold)."""
        if self.elapsed < self.next_log:
            return
        self.logged = True
        self.next_log = _next_threshold(self.next_log, self.elapsed)
        last = self.last_event.describe() if self.last_event is not None else "no event yet"
        if self.failures and self.last_error is not None:
            last += f"; the last {self.failures} requests failed: {self.last_error}"
        logger.info(
            "still waiting for pipeline %r to reach %s after %.0fs (%d polls; %s)",
            self.name,
            self.what,
            self.elapsed,
            self.polls,
            last,
        )


Acceptor: TypeAlias = Callable[[PipelineEvent, _WaitState], Verdict]


class _ClusterWaitState(_WaitState):
    """A wait for the cluster: whatever ends it at the deadline is a ClusterWaitTimeoutError
    (also for a server never reached: waiting for a manager to come up is the point)."""

    def __init__(self, timeout: float | None, url: str) -> None:
        super().__init__("", timeout, "all services healthy")
        self.url = url
        self.event: ClusterEvent | None = None
        #: Failed connection attempts before the server first answered.
        self.attempts = 0

    def deadline_error(self, url: str) -> FelderaError:
        err = self.timeout_error()
        if not self.reached:
            err.__cause__ = self.last_connection_error
        return err

    def progress_log(self) -> None:
        """An INFO line after 5 s, 10 s, 20 s, ... of a cluster wait."""
        if self.elapsed < self.next_log:
            return
        self.logged = True
        self.next_log = _next_threshold(self.next_log, self.elapsed)
        if not self.reached:
            where = f"{self.url} not reached yet, {self.attempts} connection attempts"
        elif self.event is None:
            where = f"{self.polls} polls; no event yet"
        else:
            where = f"{self.polls} polls; {self.event.describe()}"
        logger.info(
            "still waiting for the cluster to be healthy after %.0fs (%s)", self.elapsed, where
        )

    def timeout_error(self) -> ClusterWaitTimeoutError:
        last = self.last_connection_error
        return ClusterWaitTimeoutError(
            timeout=self.timeout,
            elapsed=self.elapsed,
            polls=self.polls,
            event=self.event,
            reached=self.reached,
            url=self.url,
            attempts=self.attempts,
            last_error=None if last is None else str(last),
        )


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(
            f"timeout must be a number of seconds > 0, or None to wait forever; got {timeout!r}"
        )
    return float(timeout)


class Poller:
    """Waits on and watches pipelines through one :class:`EventsClient`.

    A poller holds no per-wait state: one poller (and one client, one connection
    pool) can serve hundreds of concurrent waits.
    """

    def __init__(self, client: EventsClient, *, poll: PollPolicy | None = None) -> None:
        if not isinstance(client, EventsClient):
            raise TypeError(f"client must be an EventsClient, got {type(client).__name__}")
        if poll is not None and not isinstance(poll, PollPolicy):
            raise TypeError(f"poll must be a PollPolicy, got {type(poll).__name__}")
        self._client = client
        self._poll = poll or PollPolicy()

    @property
    def client(self) -> EventsClient:
        return self._client

    @property
    def poll_policy(self) -> PollPolicy:
        return self._poll

    def __repr__(self) -> str:
        return f"Poller(client={self._client!r}, poll={self._poll!r})"

    # -- waits -----------------------------------------------------------------------

    async def wait_until_provisioned(
        self,
        pipeline_name: str,
        *,
        timeout: float | None,
        since: Since | None = None,
        on_event: EventCallback | None = None,
        wait_for_pipeline: bool = False,
    ) -> PipelineEvent:
        """Wait until the pipeline's resources status is ``Provisioned``; return that event.

        Raises :class:`DeploymentFailedError` when it fails: ``Stopped`` with an
        error, or already ``Stopping`` with an error and desired ``Stopped`` (which
        only a new ``/start`` undoes); it carries the server's ``error_code``,
        ``message`` and ``details``. Raises :class:`DeploymentStoppedError` when,
        after asking to be provisioned, it is stopped without an error, and
        :class:`WaitTimeoutError` when ``timeout`` seconds pass (``timeout=None`` waits
        forever and must be said explicitly).

        Events recorded at or before ``since`` are never terminal. If the pipeline
        was provisioned at ``since``, only a *new* provisioning counts: a later event
        of the same deployment (a pause, a heartbeat) does not end the wait; the
        pipeline must have left ``Provisioned`` after ``since`` (checked against the
        list endpoint when polling may have missed it).
        """

        def accept(ev: PipelineEvent, state: _WaitState) -> Verdict:
            resources = ev.deployment_resources_status
            if resources is ResourcesStatus.PROVISIONED:
                return Verdict.SUCCESS
            stopping = (
                resources in _STOPPING_OR_STOPPED
                and ev.deployment_resources_desired_status is ResourcesDesiredStatus.STOPPED
            )
            if stopping and ev.deployment_has_error:
                # deployment_error is set on the move to Stopping and only a new
                # /start clears it: the outcome is final, no need to wait for Stopped.
                return Verdict.FAILURE
            if stopping and state.seen_desired_provisioned:
                state.stopped_by_user = True
                return Verdict.FAILURE
            return Verdict.CONTINUE

        return await self._wait(
            pipeline_name,
            accept,
            timeout=timeout,
            since=since,
            on_event=on_event,
            wait_for_pipeline=wait_for_pipeline,
            what="Provisioned",
            next_after_since=True,
        )

    async def wait_until_stopped(
        self,
        pipeline_name: str,
        *,
        timeout: float | None,
        since: Since | None = None,
        on_event: EventCallback | None = None,
        wait_for_pipeline: bool = False,
    ) -> PipelineEvent:
        """Wait until the pipeline's resources status is ``Stopped``; return that event.

        A pipeline that stopped because of an error is stopped too: check
        ``event.has_failed`` on the result.
        """

        def accept(ev: PipelineEvent, state: _WaitState) -> Verdict:
            if ev.deployment_resources_status is ResourcesStatus.STOPPED:
                return Verdict.SUCCESS
            return Verdict.CONTINUE

        return await self._wait(
            pipeline_name,
            accept,
            timeout=timeout,
            since=since,
            on_event=on_event,
            wait_for_pipeline=wait_for_pipeline,
            what="Stopped",
        )

    async def wait_for(
        self,
        pipeline_name: str,
        condition: Callable[[PipelineEvent], bool],
        *,
        timeout: float | None,
        failure: Callable[[PipelineEvent], bool] | None = None,
        since: Since | None = None,
        on_event: EventCallback | None = None,
        wait_for_pipeline: bool = False,
        description: str = "the condition",
    ) -> PipelineEvent:
        """Wait until ``condition(event)`` is true for the latest event; return that event.

        ``failure(event)`` true ends the wait with :class:`DeploymentFailedError`
        (carrying the event's deployment error, if it has one). ``failure`` is checked
        first. Rules for errors, ``since`` and ``timeout`` are those of
        :meth:`wait_until_provisioned`:

        * 404 ``NoPipelineMonitorEventsAvailable``: keep polling. 404
          ``UnknownPipelineName``: :class:`PipelineNotFoundError` at once, unless
          ``wait_for_pipeline=True``. 400, 401, 403, other 404s and
          :class:`ResponseValidationError`: raised at once.
        * Once the server has answered in this wait, 5xx, 408, 429, connection
          errors and per-request timeouts are polled through (honouring
          ``Retry-After``) until the deadline.
        * A server never reached in this wait: :class:`APIConnectionError` as soon as
          the client's retry policy gives up (its ``attempts`` and ``timeout``) or the
          deadline comes, whichever is first, so a wrong URL fails in seconds.
        """
        if not callable(condition):
            raise TypeError("condition must be a callable taking a PipelineEvent")
        if failure is not None and not callable(failure):
            raise TypeError("failure must be None or a callable taking a PipelineEvent")

        def accept(ev: PipelineEvent, state: _WaitState) -> Verdict:
            if failure is not None and failure(ev):
                return Verdict.FAILURE
            return Verdict.SUCCESS if condition(ev) else Verdict.CONTINUE

        return await self._wait(
            pipeline_name,
            accept,
            timeout=timeout,
            since=since,
            on_event=on_event,
            wait_for_pipeline=wait_for_pipeline,
            what=description,
        )

    async def wait_many(
        self,
        pipeline_names: Iterable[str],
        *,
        timeout: float | None,
        since: Since | None = None,
        on_event: Callable[[str, PipelineEvent], Awaitable[None] | None] | None = None,
        wait_for_pipeline: bool = False,
        fail_fast: bool = False,
    ) -> dict[str, WaitResult]:
        """Wait until every named pipeline is provisioned, concurrently; report each outcome.

        Returns one :class:`WaitResult` per pipeline, in the order given. One
        pipeline's failure, timeout or error does not stop the others, unless
        ``fail_fast=True``: then the first wait that does not succeed cancels the
        rest (their outcome is ``CANCELLED``). Cancelling ``wait_many`` itself
        cancels every wait and raises :class:`asyncio.CancelledError`.

        With more pipelines than the client has connections (``max_connections``),
        the first polls are spread at random over one poll interval, so they do not
        all queue on the connection pool at once.
        """
        names = list(dict.fromkeys(check_pipeline_name(n) for n in pipeline_names))
        _check_timeout(timeout)
        if not names:
            return {}
        loop = asyncio.get_running_loop()
        start = loop.time()
        results: dict[str, WaitResult] = {}
        last_seen: dict[str, PipelineEvent] = {}
        spread = len(names) > self._client._connection_limit()

        async def one(name: str) -> None:
            async def seen(ev: PipelineEvent) -> None:
                last_seen[name] = ev
                if on_event is not None:
                    res = on_event(name, ev)
                    if inspect.isawaitable(res):
                        await res

            try:
                remaining = timeout
                if spread:
                    # More waits than connections: spread the first polls over one
                    # interval instead of queueing them all at once on the pool.
                    delay = random.uniform(0.0, self._poll.initial)
                    if timeout is not None:
                        delay = min(delay, timeout / 2)
                        remaining = timeout - delay
                    await asyncio.sleep(delay)
                ev = await self.wait_until_provisioned(
                    name,
                    timeout=remaining,
                    since=since,
                    on_event=seen,
                    wait_for_pipeline=wait_for_pipeline,
                )
            except DeploymentFailedError as exc:
                results[name] = WaitResult(
                    name, Outcome.FAILED, exc.event or last_seen.get(name), exc, loop.time() - start
                )
            except WaitTimeoutError as exc:
                results[name] = WaitResult(
                    name, Outcome.TIMED_OUT, exc.last_event, exc, loop.time() - start
                )
            except Exception as exc:  # CancelledError is a BaseException: it propagates
                results[name] = WaitResult(
                    name, Outcome.ERROR, last_seen.get(name), exc, loop.time() - start
                )
            else:
                results[name] = WaitResult(name, Outcome.SUCCEEDED, ev, None, loop.time() - start)
                return
            if fail_fast:
                for task in tasks:
                    if task is not asyncio.current_task():
                        task.cancel()

        tasks = [asyncio.ensure_future(one(name)) for name in names]
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        out: dict[str, WaitResult] = {}
        for name, task in zip(names, tasks, strict=True):
            if name in results:
                out[name] = results[name]
            elif task.cancelled():
                err = asyncio.CancelledError("cancelled by fail_fast")
                out[name] = WaitResult(
                    name, Outcome.CANCELLED, last_seen.get(name), err, loop.time() - start
                )
            else:  # an unexpected exception escaped one(): report it, don't lose it
                exc = task.exception()
                out[name] = WaitResult(
                    name, Outcome.ERROR, last_seen.get(name), exc, loop.time() - start
                )
        return out

    # -- cluster ---------------------------------------------------------------------

    async def wait_until_cluster_healthy(
        self,
        *,
        timeout: float | None,
        on_event: ClusterEventCallback | None = None,
    ) -> ClusterEvent:
        """Wait until the latest cluster monitor event says ``all_healthy``; return it.

        Made for the first step of a CI job, where the manager may still be starting:

        * Connection errors (refused, reset, per-request timeouts) are polled through
          until the deadline, whether or not the server has answered yet.
        * Unhealthy events, 404 ``NoClusterMonitorEventsAvailable``, 5xx (but 501),
          408 and 429 are polled through too (honouring ``Retry-After``).
        * :class:`ClusterEventsUnsupportedError` (Feldera < v0.292), 400, 401, 403,
          501, other 404s and :class:`ResponseValidationError` are raised at once.

        ``on_event`` is called (and awaited, if async) once per new event.
        ``timeout`` (seconds; ``None`` waits forever and must be said explicitly)
        ends the wait with :class:`ClusterWaitTimeoutError`, which names the services
        that were unhealthy in the last event, or says the server was never reached.
        """
        timeout = _check_timeout(timeout)
        if on_event is not None and not callable(on_event):
            raise TypeError("on_event must be None or a callable taking a ClusterEvent")
        state = _ClusterWaitState(timeout, self._client.url)
        try:
            return await self._cluster_wait_loop(state, on_event)
        finally:
            if state.logged:
                logger.info(
                    "wait for the cluster to be healthy ended after %.1fs and %d polls",
                    state.elapsed,
                    state.polls,
                )

    async def _cluster_wait_loop(
        self, state: _ClusterWaitState, on_event: ClusterEventCallback | None
    ) -> ClusterEvent:
        failures = 0
        while True:
            try:
                ev: ClusterEvent | None = await self._request(
                    state,
                    self._client._get_cluster_event(
                        "latest", retry=_NO_RETRY, deadline=state.deadline
                    ),
                )
                failures = 0
            except NoEventsYetError:
                ev = None
            except APIConnectionError as exc:
                if not state.reached:
                    # The manager is not listening (yet): poll on the normal schedule.
                    state.attempts += 1
                    level = logging.INFO if state.attempts == 1 else logging.DEBUG
                    logger.log(
                        level,
                        "cluster wait: connection attempt %d to %s failed (%s); still waiting",
                        state.attempts,
                        state.url,
                        exc,
                    )
                    await self._sleep(state, self._next_poll(state, changed=False))
                    continue
                failures += 1
                await self._sleep(state, self._error_backoff(failures, exc))
                continue
            except FelderaError as exc:
                if not _is_transient_answer(exc):  # 501 included: never transient
                    raise
                failures += 1
                await self._sleep(state, self._error_backoff(failures, exc))
                continue

            changed = False
            if ev is not None:
                changed = state.event is None or ev.id != state.event.id
                state.event = ev
                if changed and on_event is not None:
                    result = on_event(ev)
                    if inspect.isawaitable(result):
                        await result
                if ev.all_healthy:
                    return ev
            await self._sleep(state, self._next_poll(state, changed))  # logs progress

    # -- watch -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def watch(
        self,
        pipeline_name: str,
        *,
        since: Since | None = None,
        include_duplicates: bool = False,
        timeout: float | None = None,
        selector: Selector | str = Selector.STATUS,
    ) -> AsyncIterator[AsyncIterator[PipelineEvent]]:
        """Watch a pipeline: an async iterator of its events, each once, oldest first.

        Without ``since`` the iteration starts with the current latest event (the
        pipeline's state now); with ``since`` it starts with the first event recorded
        after it that is still retained. When several events were recorded between
        two polls, the ones in between are fetched from the list endpoint (only
        then), so no transition is lost. Heartbeat duplicates (the same status fields,
        details and error as the previous event) are dropped unless
        ``include_duplicates``. Transient errors are retried forever with backoff (or
        until ``timeout``, when given, which raises :class:`WaitTimeoutError`); other
        errors end the iteration by raising.

        Leaving the ``async with`` block stops the watch, cancelling a request in
        flight. A step may be awaited with a time limit
        (``asyncio.wait_for(anext(events), 5)``): when the limit passes, the step
        goes on and the next ``anext`` picks it up, so no event is lost.
        """
        name = check_pipeline_name(pipeline_name)
        timeout = _check_timeout(timeout)
        normalize_selector(selector)
        stream = _WatchStream(self._watch(name, since, include_duplicates, timeout, selector))
        try:
            yield stream
        finally:
            await stream.aclose()

    async def _watch(
        self,
        name: str,
        since: Since | None,
        include_duplicates: bool,
        timeout: float | None,
        selector: Selector | str,
    ) -> AsyncGenerator[PipelineEvent, None]:
        state = _WaitState(name, timeout, "the end of the watch")
        state.reached = True  # a watch never gives up on an unreachable server by itself
        if since is not None:
            state.since = await self._resolve_since(name, since, state, wait_for_pipeline=False)
        previous: PipelineEvent | None = None
        last_yielded: PipelineEvent | None = None
        while True:
            try:
                latest: PipelineEvent | None = await self._call_in_wait(
                    state,
                    lambda: self._client._get_event(
                        name, "latest", selector=selector, retry=_NO_RETRY, deadline=state.deadline
                    ),
                )
            except NoEventsYetError:
                latest = None
                if previous is None and state.since is None:
                    # No events yet: when they come, every one of them is new.
                    state.since = _Since(_BEGINNING, None)
            new: list[PipelineEvent] = []
            if latest is not None and (previous is None or latest.event_id != previous.event_id):
                if previous is None and state.since is None:
                    new = [latest]
                else:
                    new = await self._backfill(state, previous, latest, selector)
                previous = latest  # only once the events in between are in hand
                state.last_event = latest
            for ev in new:
                if (
                    not include_duplicates
                    and last_yielded is not None
                    and _is_duplicate(ev, last_yielded)
                ):
                    continue
                last_yielded = ev
                yield ev
            await self._sleep(state, self._next_poll(state, changed=bool(new)))

    async def _backfill(
        self,
        state: _WaitState,
        previous: PipelineEvent | None,
        latest: PipelineEvent,
        selector: Selector | str,
    ) -> list[PipelineEvent]:
        """The events after ``previous`` (or ``since``) up to ``latest``, oldest first."""
        events = await self._call_in_wait(
            state,
            lambda: self._client._list_events(
                state.name, selector=selector, retry=_NO_RETRY, deadline=state.deadline
            ),
        )
        since = state.since
        if previous is not None:
            cut = _order_key(previous)
            newer = [ev for ev in events if _order_key(ev) > cut]
        elif since is not None:
            newer = [ev for ev in events if not since.covers(ev)]
        else:
            newer = list(events)
        latest_key = _order_key(latest)
        newer = [ev for ev in newer if _order_key(ev) <= latest_key]
        newer.sort(key=_order_key)
        latest_is_new = (
            _order_key(latest) > _order_key(previous)
            if previous is not None
            else since is None or not since.covers(latest)
        )
        if (not newer or newer[-1].event_id != latest.event_id) and latest_is_new:
            newer.append(latest)
        return newer

    # -- the wait loop ---------------------------------------------------------------

    async def _wait(
        self,
        pipeline_name: str,
        accept: Acceptor,
        *,
        timeout: float | None,
        since: Since | None,
        on_event: EventCallback | None,
        wait_for_pipeline: bool,
        what: str,
        next_after_since: bool = False,
    ) -> PipelineEvent:
        name = check_pipeline_name(pipeline_name)
        timeout = _check_timeout(timeout)
        if on_event is not None and not callable(on_event):
            raise TypeError("on_event must be None or a callable taking a PipelineEvent")
        state = _WaitState(name, timeout, what)
        try:
            return await self._wait_loop(
                state, accept, since, on_event, wait_for_pipeline, next_after_since
            )
        finally:
            if state.logged:
                logger.info(
                    "wait for pipeline %r (%s) ended after %.1fs and %d polls",
                    name,
                    what,
                    state.elapsed,
                    state.polls,
                )

    async def _wait_loop(
        self,
        state: _WaitState,
        accept: Acceptor,
        since: Since | None,
        on_event: EventCallback | None,
        wait_for_pipeline: bool,
        next_after_since: bool,
    ) -> PipelineEvent:
        name = state.name
        if since is not None:
            state.since = await self._resolve_since(name, since, state, wait_for_pipeline)
            if state.since.event is not None:
                state.observe(state.since.event)
                state.left_provisioned = False  # only what happens after `since` counts
        while True:
            try:
                ev: PipelineEvent | None = await self._call_in_wait(
                    state,
                    lambda: self._client._get_event(
                        name, "latest", retry=_NO_RETRY, deadline=state.deadline
                    ),
                )
            except NoEventsYetError:
                ev = None
            except PipelineNotFoundError:
                if not wait_for_pipeline:
                    raise
                ev = None

            changed = False
            if ev is not None:
                changed = state.last_event is None or ev.event_id != state.last_event.event_id
                state.last_event = ev
                if changed and on_event is not None:
                    result = on_event(ev)
                    if inspect.isawaitable(result):
                        await result
                if state.since is None or not state.since.covers(ev):
                    state.observe(ev)
                    verdict = accept(ev, state)
                    if (
                        verdict is Verdict.SUCCESS
                        and next_after_since
                        and not await self._is_new_provisioning(state, ev)
                    ):
                        verdict = Verdict.CONTINUE
                    if verdict is Verdict.SUCCESS:
                        return ev
                    if verdict is Verdict.FAILURE:
                        failed = await self._failure(state, ev, accept)
                        if failed is not None:
                            raise failed
            await self._sleep(state, self._next_poll(state, changed))

    async def _is_new_provisioning(self, state: _WaitState, candidate: PipelineEvent) -> bool:
        """Whether a Provisioned event after ``since`` is a new provisioning.

        It is unless the pipeline was already provisioned at ``since`` and has not
        left ``Provisioned`` since: then it is the same deployment (paused, a
        heartbeat, a details update). Polls can miss a quick restart, so the events
        between ``since`` and the candidate are read from the list endpoint once.
        """
        since = state.since
        if since is None or state.left_provisioned:
            return True
        at_since = since.event
        if at_since is not None and not at_since.is_provisioned:
            return True
        if state.checked_candidate == candidate.event_id:
            return False
        events = await self._call_in_wait(
            state,
            lambda: self._client._list_events(state.name, retry=_NO_RETRY, deadline=state.deadline),
        )
        key = _order_key(candidate)
        between = [ev for ev in events if not since.covers(ev) and _order_key(ev) <= key]
        if any(not ev.is_provisioned for ev in between):
            state.left_provisioned = True
            return True
        if at_since is None:
            before = [ev for ev in events if since.covers(ev)]
            if not before or not max(before, key=_order_key).is_provisioned:
                return True  # not provisioned at `since` (or nothing is known of it)
        state.checked_candidate = candidate.event_id
        return False

    async def _failure(
        self, state: _WaitState, ev: PipelineEvent, accept: Acceptor
    ) -> WaitError | None:
        """The exception for a failed event, with the server's error (``selector=all``).

        If the event was cleaned up before we could read it in full, tenacity retries
        with ``latest``; if that one is no longer a failure, return None (keep
        waiting: the next poll reports it).
        """
        name = state.name
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(EventNotFoundError),
            stop=tenacity.stop_after_attempt(2),  # `latest` cannot be cleaned up
            wait=tenacity.wait_none(),
            reraise=True,
        )
        full: PipelineEvent = ev
        async for attempt in retrying:
            with attempt:
                event_id: str | uuid.UUID = (
                    ev.event_id if attempt.retry_state.attempt_number == 1 else "latest"
                )
                full = await self._call_in_wait(
                    state,
                    functools.partial(
                        self._client._get_event,
                        name,
                        event_id,
                        selector=Selector.ALL,
                        retry=_NO_RETRY,
                        deadline=state.deadline,
                    ),
                )
        if full.event_id != ev.event_id:
            if attempt.retry_state.attempt_number > 1:
                logger.info(
                    "event %s of pipeline %r was cleaned up before it could be read in full; "
                    "read the latest event instead",
                    ev.event_id,
                    name,
                )
            state.stopped_by_user = False
            if accept(full, state) is not Verdict.FAILURE:
                return None
        error = full.deployment_error
        if isinstance(error, DeploymentError):
            return DeploymentFailedError(
                name,
                full,
                error_code=error.error_code,
                message=error.message,
                details=error.details,
            )
        if state.stopped_by_user:
            return DeploymentStoppedError(
                name,
                full,
                message=(
                    f"it was stopped without an error while waiting for {state.what} "
                    f"(status {full.describe()})"
                ),
            )
        if full.deployment_has_error:
            message = f"deployment failed (status {full.describe()}); the server sent no error"
        else:
            message = f"the failure condition matched (status {full.describe()})"
        return DeploymentFailedError(name, full, error_code=None, message=message)

    # -- helpers ---------------------------------------------------------------------

    async def _resolve_since(
        self, name: str, since: Since, state: _WaitState, wait_for_pipeline: bool
    ) -> _Since:
        if isinstance(since, PipelineEvent):
            return _Since(since.recorded_at, since.event_id, since)
        if isinstance(since, _dt.datetime):
            if since.tzinfo is None or since.utcoffset() is None:
                raise ValueError("since must be a timezone-aware datetime (e.g. with tzinfo=UTC)")
            return _Since(since, None)
        if isinstance(since, str | uuid.UUID):
            if isinstance(since, str) and since == "latest":
                raise ValueError("since must be an event, an event id or a datetime, not 'latest'")
            try:
                event_id = since if isinstance(since, uuid.UUID) else uuid.UUID(since)
            except ValueError:
                raise ValueError(
                    f"since must be an event, an event id (UUID) or a datetime, got {since!r}"
                ) from None
            try:
                ev = await self._call_in_wait(
                    state,
                    lambda: self._client._get_event(
                        name, event_id, retry=_NO_RETRY, deadline=state.deadline
                    ),
                )
            except (EventNotFoundError, PipelineNotFoundError) as exc:
                if isinstance(exc, PipelineNotFoundError) and not wait_for_pipeline:
                    raise
                if event_id.version != 7:
                    raise
                # Cleaned up (or the pipeline is not there yet): the manager's ids are
                # UUIDv7, ordered by the time they were made.
                return _Since(None, event_id)
            return _Since(ev.recorded_at, ev.event_id, ev)
        raise TypeError(
            f"since must be a PipelineEvent, an event id or a datetime, got {type(since).__name__}"
        )

    async def _call_in_wait(self, state: _WaitState, call: Callable[[], Awaitable[T]]) -> T:
        """Make one request of a wait (``call`` makes it), under the wait's rules.

        Once the server has answered in this wait, transient failures are retried
        within the deadline (honouring ``Retry-After``). Before that, connection
        errors are retried only as the client's retry policy allows, then raised.
        Everything else is raised.
        """
        policy = self._client.retry_policy
        while True:
            try:
                result = await self._request(state, call())
            except APIConnectionError as exc:
                state.last_error = exc
                if not state.reached:
                    state.unreached_failures += 1
                    gave_up = state.unreached_failures >= policy.attempts or (
                        policy.timeout is not None and state.elapsed >= policy.timeout
                    )
                    if gave_up:
                        raise
                    await self._sleep(state, policy.backoff(state.unreached_failures, exc), exc)
                    continue
                state.failures += 1
                await self._sleep(state, self._error_backoff(state.failures, exc))
                continue
            except FelderaError as exc:
                if not _is_transient_answer(exc):
                    raise
                state.last_error = exc
                state.failures += 1
                await self._sleep(state, self._error_backoff(state.failures, exc))
                continue
            state.failures = 0
            return result

    async def _request(self, state: _WaitState, call: Awaitable[T]) -> T:
        """Await one request within the wait's deadline."""
        if state.deadline is not None and state.loop.time() >= state.deadline:
            if inspect.iscoroutine(call):
                call.close()
            raise state.deadline_error(self._client.url)
        try:
            async with asyncio.timeout_at(state.deadline) as scope:
                result = await call
        except APIConnectionError as exc:  # before TimeoutError: APITimeoutError is both
            state.last_connection_error = exc
            raise
        except TimeoutError as exc:
            if scope.expired():
                err = state.deadline_error(self._client.url)
                raise err from err.__cause__
            raise exc
        except APIStatusError:
            state.answered()
            raise
        state.answered()
        return result

    def _next_poll(self, state: _WaitState, changed: bool) -> float:
        if changed:
            state.interval = None
        state.interval = self._poll.next_interval(state.interval, state.elapsed)
        return self._poll.jittered(state.interval)

    def _error_backoff(self, failures: int, exc: BaseException) -> float:
        """How long to wait after a transient failure, once the server was reached."""
        policy = self._client.retry_policy
        backoff = policy.backoff(failures, exc)
        wait = max(backoff, self._poll.initial)
        logger.warning(
            "polling failed (%s: %s); polling again in %.1fs", type(exc).__name__, exc, wait
        )
        return wait

    async def _sleep(
        self, state: _WaitState, seconds: float, cause: BaseException | None = None
    ) -> None:
        """Sleep before the next request of a wait, never past its deadline.

        When the deadline comes before the next poll would, the sleep is shortened
        once so that a last poll still happens before the deadline (as Smithy
        waiters do), instead of sleeping to the deadline only to give up.
        """
        state.progress_log()
        remaining = state.remaining()
        if remaining is not None:
            if remaining <= 0:
                if cause is not None:
                    raise cause
                raise state.deadline_error(self._client.url)
            if seconds >= remaining:
                if not state.final_poll_done and remaining > 0.02:
                    state.final_poll_done = True
                    seconds = remaining - min(remaining / 2, 1.0)
                else:
                    seconds = remaining
        await asyncio.sleep(max(seconds, 0.0))


class _WatchStream(AsyncIterator[PipelineEvent]):
    """The iterator :meth:`Poller.watch` yields.

    Each step runs as a task of its own, awaited through :func:`asyncio.shield`: a
    caller that gives up on a step (``asyncio.wait_for``) leaves it running for the
    next ``anext``, and :meth:`aclose` can cancel a step in flight from any task.
    """

    def __init__(self, gen: AsyncGenerator[PipelineEvent, None]) -> None:
        self._gen = gen
        self._step: asyncio.Task[PipelineEvent | None] | None = None
        self._closed = False

    def __aiter__(self) -> _WatchStream:
        return self

    async def _next(self) -> PipelineEvent | None:
        try:
            return await self._gen.__anext__()
        except StopAsyncIteration:
            return None

    async def __anext__(self) -> PipelineEvent:
        if self._closed:
            raise StopAsyncIteration
        if self._step is None:
            self._step = asyncio.ensure_future(self._next())
        step = self._step
        try:
            result = await asyncio.shield(step)
        except asyncio.CancelledError:
            if not step.done():
                raise  # the caller was cancelled: the step goes on for the next anext
            self._step = None
            if self._closed:
                raise StopAsyncIteration from None  # closed by the watch's exit
            raise
        except BaseException:
            self._step = None
            raise
        self._step = None
        if result is None:
            self._closed = True
            raise StopAsyncIteration
        return result

    async def aclose(self) -> None:
        self._closed = True
        step, self._step = self._step, None
        if step is not None:
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
        await self._gen.aclose()


async def wait_until_provisioned(
    pipeline_name: str,
    *,
    timeout: float | None,
    since: Since | None = None,
    on_event: EventCallback | None = None,
    wait_for_pipeline: bool = False,
    poll: PollPolicy | None = None,
    **client_options: Any,
) -> PipelineEvent:
    """One-shot :meth:`Poller.wait_until_provisioned` with a client of its own.

    ``client_options`` go to :class:`EventsClient` (``url``, ``api_key``, ``tenant``,
    ``timeout`` as :class:`Timeouts` under the name ``request_timeouts``, ...);
    the client is closed when the wait ends, however it ends.
    """
    request_timeouts = client_options.pop("request_timeouts", None)
    if request_timeouts is not None:
        client_options["timeout"] = request_timeouts
    async with EventsClient(**client_options) as client:
        return await Poller(client, poll=poll).wait_until_provisioned(
            pipeline_name,
            timeout=timeout,
            since=since,
            on_event=on_event,
            wait_for_pipeline=wait_for_pipeline,
        )
