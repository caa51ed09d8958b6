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
import inspect
import logging
import random
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeAlias

import attrs
import tenacity

from ._client import EventsClient, check_pipeline_name
from ._cluster import ClusterEvent
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
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
    off to one poll every 5 s, so hundreds of waiters sharing one manager cost it
    tens of requests a second, not hundreds. The manager's own runner checks a
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
    recorded_at: _dt.datetime
    event_id: uuid.UUID | None

    def covers(self, ev: PipelineEvent) -> bool:
        """True when ``ev`` was recorded at or before this point (never terminal)."""
        return ev.event_id == self.event_id or ev.recorded_at <= self.recorded_at


def _order_key(ev: PipelineEvent) -> tuple[_dt.datetime, uuid.UUID]:
    return (ev.recorded_at, ev.event_id)


def _uuid7_time(value: uuid.UUID) -> _dt.datetime | None:
    if value.version != 7:
        return None
    millis = value.int >> 80
    return _dt.datetime.fromtimestamp(millis / 1000, _dt.UTC)


def _is_transient_answer(exc: BaseException) -> bool:
    """A failure worth polling through once the server has answered in this wait.

    501 Not Implemented is not: the server says it will never do this.
    """
    if isinstance(exc, ServerError) and exc.status_code == 501:
        return False
    if isinstance(exc, APIConnectionError | ServerError | RateLimitError):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code == 408


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
        self.seen_desired_provisioned = False
        self.next_log = _FIRST_PROGRESS_LOG
        self.logged = False
        self.interval: float | None = None
        self.stopped_by_user = False
        self.last_connection_error: APIConnectionError | None = None

    @property
    def elapsed(self) -> float:
        return self.loop.time() - self.start

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.loop.time()

    def answered(self) -> None:
        self.polls += 1
        self.reached = True

    def deadline_error(self, url: str) -> FelderaError:
        """The error for a deadline that passed: a timeout, or, for a server never
        reached in this wait, the connection error (a wrong URL is not a timeout)."""
        if not self.reached:
            err = APITimeoutError(
                f"no answer from {url} within the {self.timeout:g}s deadline of this wait",
                url=url,
            )
            err.__cause__ = self.last_connection_error
            return err
        return self.timeout_error()

    def timeout_error(self) -> WaitTimeoutError:
        return WaitTimeoutError(
            self.name,
            timeout=self.timeout,
            elapsed=self.elapsed,
            polls=self.polls,
            last_event=self.last_event,
            what=self.what,
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

        Raises :class:`DeploymentFailedError` when it ends up ``Stopped`` with an
        error (carrying the server's ``error_code``, ``message`` and ``details``),
        :class:`DeploymentStoppedError` when, after asking to be provisioned, it is
        stopped without an error, and :class:`WaitTimeoutError` when ``timeout``
        seconds pass (``timeout=None`` waits forever and must be said explicitly).
        Events recorded at or before ``since`` are never terminal.
        """

        def accept(ev: PipelineEvent, state: _WaitState) -> Verdict:
            if ev.deployment_resources_desired_status is ResourcesDesiredStatus.PROVISIONED:
                state.seen_desired_provisioned = True
            if ev.deployment_resources_status is ResourcesStatus.PROVISIONED:
                return Verdict.SUCCESS
            if ev.has_failed:
                return Verdict.FAILURE
            if (
                state.seen_desired_provisioned
                and ev.deployment_resources_desired_status is ResourcesDesiredStatus.STOPPED
                and not ev.deployment_has_error
            ):
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
            except (FelderaError, ValueError, TypeError) as exc:
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
                    self._cluster_progress_log(state)
                    await self._sleep(state, self._next_poll(state, changed=False))
                    continue
                failures += 1
                await self._sleep(state, self._error_backoff(failures, exc))
                continue
            except FelderaError as exc:
                not_implemented = isinstance(exc, APIStatusError) and exc.status_code == 501
                if not_implemented or not _is_transient_answer(exc):
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
            self._cluster_progress_log(state)
            await self._sleep(state, self._next_poll(state, changed))

    @staticmethod
    def _cluster_progress_log(state: _ClusterWaitState) -> None:
        """An INFO line after 5 s, 10 s, 20 s, ... of a cluster wait."""
        if state.elapsed < state.next_log:
            return
        state.logged = True
        state.next_log *= 2
        if not state.reached:
            where = f"{state.url} not reached yet, {state.attempts} connection attempts"
        elif state.event is None:
            where = f"{state.polls} polls; no event yet"
        else:
            where = f"{state.polls} polls; {state.event.describe()}"
        logger.info(
            "still waiting for the cluster to be healthy after %.0fs (%s)", state.elapsed, where
        )

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
        then), so no transition is lost. Heartbeat duplicates (same status fields as
        the previous event) are dropped unless ``include_duplicates``. Transient
        errors are retried forever with backoff (or until ``timeout``, when given,
        which raises :class:`WaitTimeoutError`); other errors end the iteration by
        raising. Leaving the ``async with`` block stops the watch.
        """
        name = check_pipeline_name(pipeline_name)
        timeout = _check_timeout(timeout)
        gen = self._watch(name, since, include_duplicates, timeout, selector)
        try:
            yield gen
        finally:
            await gen.aclose()

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
        since_point = await self._resolve_since(name, since, state) if since is not None else None
        previous: PipelineEvent | None = None
        last_yielded: PipelineEvent | None = None
        failures = 0
        while True:
            try:
                latest = await self._request(
                    state,
                    self._client._get_event(
                        name, "latest", selector=selector, retry=_NO_RETRY, deadline=state.deadline
                    ),
                )
                failures = 0
            except NoEventsYetError:
                latest = None
                if previous is None and since_point is None:
                    # No events yet: when they come, every one of them is new.
                    since_point = _Since(_dt.datetime.min.replace(tzinfo=_dt.UTC), None)
            except FelderaError as exc:
                if not _is_transient_answer(exc):
                    raise
                failures += 1
                await self._sleep(state, self._error_backoff(failures, exc))
                continue
            new: list[PipelineEvent] = []
            if latest is not None and (previous is None or latest.event_id != previous.event_id):
                if previous is None and since_point is None:
                    new = [latest]
                else:
                    new = await self._backfill(name, state, previous, since_point, latest, selector)
                previous = latest
                state.last_event = latest
            for ev in new:
                if (
                    not include_duplicates
                    and last_yielded is not None
                    and ev.same_status(last_yielded)
                ):
                    continue
                last_yielded = ev
                yield ev
            await self._sleep(state, self._next_poll(state, changed=bool(new)))

    async def _backfill(
        self,
        name: str,
        state: _WaitState,
        previous: PipelineEvent | None,
        since_point: _Since | None,
        latest: PipelineEvent,
        selector: Selector | str,
    ) -> list[PipelineEvent]:
        """The events after ``previous`` (or ``since``) up to ``latest``, oldest first."""
        try:
            events = await self._request(
                state,
                self._client._list_events(
                    name, selector=selector, retry=_NO_RETRY, deadline=state.deadline
                ),
            )
        except FelderaError as exc:
            if not _is_transient_answer(exc):
                raise
            logger.warning("watch %r: could not fetch the events in between (%s)", name, exc)
            return [latest]
        if previous is not None:
            cut = _order_key(previous)
            newer = [ev for ev in events if _order_key(ev) > cut]
        elif since_point is not None:
            newer = [ev for ev in events if not since_point.covers(ev)]
        else:
            newer = list(events)
        latest_key = _order_key(latest)
        newer = [ev for ev in newer if _order_key(ev) <= latest_key]
        newer.sort(key=_order_key)
        if (not newer or newer[-1].event_id != latest.event_id) and (
            previous is None or _order_key(latest) > _order_key(previous)
        ):
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
    ) -> PipelineEvent:
        name = check_pipeline_name(pipeline_name)
        timeout = _check_timeout(timeout)
        if on_event is not None and not callable(on_event):
            raise TypeError("on_event must be None or a callable taking a PipelineEvent")
        state = _WaitState(name, timeout, what)
        try:
            return await self._wait_loop(state, accept, since, on_event, wait_for_pipeline)
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
    ) -> PipelineEvent:
        name = state.name
        since_point = await self._resolve_since(name, since, state) if since is not None else None
        unreached_failures = 0
        failures = 0
        policy = self._client.retry_policy
        while True:
            try:
                ev: PipelineEvent | None = await self._request(
                    state,
                    self._client._get_event(
                        name, "latest", retry=_NO_RETRY, deadline=state.deadline
                    ),
                )
                failures = 0
            except NoEventsYetError:
                ev = None
            except PipelineNotFoundError:
                if not wait_for_pipeline:
                    raise
                ev = None
            except APIConnectionError as exc:
                if not state.reached:
                    unreached_failures += 1
                    gave_up = unreached_failures >= policy.attempts or (
                        policy.timeout is not None and state.elapsed >= policy.timeout
                    )
                    if gave_up:
                        raise
                    await self._sleep(state, policy.backoff(unreached_failures, exc), exc)
                    continue
                failures += 1
                await self._sleep(state, self._error_backoff(failures, exc))
                continue
            except FelderaError as exc:
                if not _is_transient_answer(exc):
                    raise
                failures += 1
                await self._sleep(state, self._error_backoff(failures, exc))
                continue

            changed = False
            if ev is not None:
                changed = state.last_event is None or ev.event_id != state.last_event.event_id
                state.last_event = ev
                if changed and on_event is not None:
                    result = on_event(ev)
                    if inspect.isawaitable(result):
                        await result
                if since_point is None or not since_point.covers(ev):
                    verdict = accept(ev, state)
                    if verdict is Verdict.SUCCESS:
                        return ev
                    if verdict is Verdict.FAILURE:
                        failed = await self._failure(state, ev, accept)
                        if failed is not None:
                            raise failed
            self._progress_log(state)
            await self._sleep(state, self._next_poll(state, changed))

    async def _failure(
        self, state: _WaitState, ev: PipelineEvent, accept: Acceptor
    ) -> WaitError | None:
        """The exception for a failed event, with the server's error (``selector=all``).

        If the event was cleaned up before we could fetch it in full, fetch
        ``latest`` instead; if that one is no longer a failure, return None (keep
        waiting).
        """
        name = state.name
        # Read the failed event in full for its error. If clean-up removed it in
        # between, tenacity retries with the latest event instead.
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(EventNotFoundError),
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_none(),
            reraise=True,
        )
        full: PipelineEvent = ev
        async for attempt in retrying:
            with attempt:
                event_id: str | uuid.UUID = (
                    ev.event_id if attempt.retry_state.attempt_number == 1 else "latest"
                )
                full = await self._request(
                    state,
                    self._client._get_event(
                        name, event_id, selector=Selector.ALL, deadline=state.deadline
                    ),
                )
        if full.event_id != ev.event_id:
            state.last_event = full
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

    async def _resolve_since(self, name: str, since: Since, state: _WaitState) -> _Since:
        if isinstance(since, PipelineEvent):
            return _Since(since.recorded_at, since.event_id)
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
                ev = await self._request(
                    state, self._client._get_event(name, event_id, deadline=state.deadline)
                )
            except EventNotFoundError:
                stamp = _uuid7_time(event_id)
                if stamp is None:
                    raise
                return _Since(stamp, event_id)
            return _Since(ev.recorded_at, ev.event_id)
        raise TypeError(
            f"since must be a PipelineEvent, an event id or a datetime, got {type(since).__name__}"
        )

    async def _request(self, state: _WaitState, call: Awaitable[Any]) -> Any:
        """Await one request within the wait's deadline."""
        if state.deadline is not None and state.loop.time() >= state.deadline:
            if inspect.iscoroutine(call):
                call.close()
            raise state.deadline_error(self._client.url)
        try:
            async with asyncio.timeout_at(state.deadline) as scope:
                result = await call
        except TimeoutError as exc:
            if scope.expired():
                err = state.deadline_error(self._client.url)
                raise err from err.__cause__
            raise exc
        except APIStatusError:
            state.answered()
            raise
        except APIConnectionError as exc:
            state.last_connection_error = exc
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
        remaining = state.remaining()
        if remaining is not None:
            if remaining <= 0:
                if cause is not None:
                    raise cause
                raise state.deadline_error(self._client.url)
            seconds = min(seconds, remaining)
        await asyncio.sleep(max(seconds, 0.0))

    def _progress_log(self, state: _WaitState) -> None:
        if state.elapsed < state.next_log:
            return
        state.logged = True
        state.next_log *= 2
        last = state.last_event.describe() if state.last_event is not None else "no event yet"
        logger.info(
            "still waiting for pipeline %r to reach %s after %.0fs (%d polls; %s)",
            state.name,
            state.what,
            state.elapsed,
            state.polls,
            last,
        )


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
