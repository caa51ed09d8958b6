"""Poller: wait until a pipeline is provisioned, running, stopped (or anything), and watch it.

The public wait API. Each wait is made from the table of what ends it
(:data:`~feldera_events._acceptors.WAITS`): a :class:`Poller` method, and a one-shot
function with a client of its own, take the same options (:class:`WaitOptions`) and
build the same sans-IO machine (``_machines``), which the poller's driver
(:class:`~feldera_events._driver.Driver`) runs. The many-pipeline waits
(``as_completed``, ``wait_many``) sit on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import enum
import ssl
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from typing import Any, Final, Literal, TypeAlias, TypedDict, Unpack

import aiohttp
import attrs

from ._acceptors import WAITS, Until, Wait, condition_acceptors
from ._client import ApiKey, EventsClient
from ._cluster_event import ClusterEvent
from ._config import Timeouts
from ._driver import Driver, WatchStream, call, check_callback
from ._fields import Selector
from ._machines import ClusterWait, PipelineWait
from ._pipeline_event import PipelineEvent
from ._policies import PollPolicy, RetryPolicy
from ._since import parse_since
from ._validate import check_pipeline_name, normalize_selector
from ._wait_errors import (
    ApprovalRequiredError,
    DeploymentFailedError,
    DeploymentStoppedError,
    WaitTimeoutError,
)
from ._watch import Watch

__all__ = [
    "ClusterEventCallback",
    "EventCallback",
    "ManyOptions",
    "OneShotOptions",
    "Outcome",
    "Poller",
    "RunningOptions",
    "Since",
    "WaitOptions",
    "WaitResult",
    "wait_until_provisioned",
    "wait_until_running",
    "wait_until_stopped",
]

#: ``since=``: an event, an event id, a timezone-aware datetime, or ``"now"`` (the
#: server's latest event when the wait begins: no client clock involved).
Since: TypeAlias = PipelineEvent | uuid.UUID | str | _dt.datetime
#: ``on_event=``: called (and awaited, if async) once per new event observed.
EventCallback: TypeAlias = Callable[[PipelineEvent], Awaitable[None] | None]
#: ``on_event=`` of :meth:`Poller.wait_until_cluster_healthy`: once per new cluster event.
ClusterEventCallback: TypeAlias = Callable[[ClusterEvent], Awaitable[None] | None]


class WaitOptions(TypedDict, total=False):
    """The options of a pipeline wait besides ``timeout``, each optional.

    ``since``: events recorded at or before it never end the wait (see :data:`Since`);
    none by default. ``on_event``: called (and awaited, if async) once per new event
    the wait sees. ``wait_for_pipeline``: an unknown pipeline is polled until it exists
    instead of ending the wait with :class:`PipelineNotFoundError` (False by default).
    """

    since: Since | None
    on_event: EventCallback | None
    wait_for_pipeline: bool


class RunningOptions(WaitOptions, total=False):
    """:class:`WaitOptions`, and ``wait_for_approval`` (True by default): whether a
    runtime that awaits approval is waited for (see :meth:`Poller.wait_until_running`)."""

    wait_for_approval: bool


class ManyOptions(TypedDict, total=False):
    """The options of :meth:`Poller.as_completed` and :meth:`Poller.wait_many` besides
    ``timeout``: ``until`` (:data:`Until`, ``"provisioned"`` by default), ``fail_fast``
    (False by default), ``on_event`` (called with the pipeline's name and the event),
    and ``since``, ``wait_for_pipeline`` and ``wait_for_approval`` as for one wait."""

    until: Until
    since: Since | None
    on_event: Callable[[str, PipelineEvent], Awaitable[None] | None] | None
    wait_for_pipeline: bool
    fail_fast: bool
    wait_for_approval: bool


class OneShotOptions(RunningOptions, total=False):
    """The options of a one-shot wait: the wait's (:class:`WaitOptions`;
    ``wait_for_approval`` for :func:`wait_until_running` only), ``poll``, and the
    arguments of the :class:`EventsClient` it makes (its ``timeout``, a
    :class:`Timeouts`, under the name ``request_timeouts``)."""

    poll: PollPolicy | None
    url: str | None
    api_key: ApiKey | None
    tenant: str | None
    request_timeouts: Timeouts | float | None
    retry: RetryPolicy | None
    verify: bool | str | ssl.SSLContext | None
    headers: Mapping[str, str] | None
    session: aiohttp.ClientSession | None
    max_body_size: int
    max_connections: int


#: The options' defaults, by the waits that take them (the classes above say what each is).
_WAIT: Final[Mapping[str, Any]] = {"since": None, "on_event": None, "wait_for_pipeline": False}
_RUNNING: Final[Mapping[str, Any]] = {**_WAIT, "wait_for_approval": True}
_MANY: Final[Mapping[str, Any]] = {"until": "provisioned", **_RUNNING, "fail_fast": False}


def _options(given: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``given`` over ``defaults``; a TypeError for an option ``where`` does not take."""
    for key in given:
        if key not in defaults:
            raise TypeError(f"{where}() got an unexpected keyword argument {key!r}")
    return {**defaults, **given}


class Outcome(enum.Enum):
    """How one wait of :meth:`Poller.wait_many` / :meth:`Poller.as_completed` ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    ERROR = "error"
    CANCELLED = "cancelled"
    #: It waits for someone to approve its changes, and the wait was told not to wait.
    AWAITING_APPROVAL = "awaiting_approval"


@attrs.frozen
class WaitResult:
    """The outcome of one pipeline's wait in :meth:`Poller.wait_many`, and how it was
    reached: :attr:`until` (what the wait was for) and :attr:`stopped`."""

    pipeline_name: str
    outcome: Outcome
    #: The final event (success), the failed event, or the last event seen.
    event: PipelineEvent | None
    #: The exception that ended the wait (None on success).
    error: BaseException | None
    #: Seconds from the start of the wait to its end.
    elapsed: float
    #: What the wait was for: ``"provisioned"`` or ``"running"``.
    until: Until = "provisioned"

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED

    @property
    def stopped(self) -> bool:
        """Failed because someone stopped the pipeline (:class:`DeploymentStoppedError`)."""
        return self.outcome is Outcome.FAILED and isinstance(self.error, DeploymentStoppedError)


def _names(pipeline_names: Iterable[str]) -> list[str]:
    """The names, checked, each once; a str is refused (it would be waited on letter by
    letter: ``wait_many("orders")`` waits on o, r, d, e, s)."""
    if isinstance(pipeline_names, str | bytes):
        raise TypeError(
            "pipeline_names must be an iterable of pipeline names, not a "
            f"{type(pipeline_names).__name__} (for one pipeline: [{pipeline_names!r}])"
        )
    return list(dict.fromkeys(check_pipeline_name(n) for n in pipeline_names))


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
    pool) can serve hundreds of concurrent waits. ``clock`` (seconds, monotonic) and
    ``sleep`` default to the event loop's time and :func:`asyncio.sleep`; tests may
    pass their own to run waits without real time.

    Concurrent waits and watches on one pipeline share one poll. ``fleet``: whether
    the polls of several pipelines are made with one request to the pipelines list per
    interval (``GET /v0/pipelines?selector=status``), reading ``latest`` only for the
    pipelines that changed. ``"auto"`` (the default) does so while the list has at
    most ``8 * (W - 1)`` entries for W pipelines waited on; ``True`` whatever its
    size; ``False`` never. A manager that refuses the list turns it off for the client
    (logged once). Either way a wait ends as it would with its own polls.
    """

    def __init__(
        self,
        client: EventsClient,
        *,
        poll: PollPolicy | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        fleet: bool | Literal["auto"] = "auto",
    ) -> None:
        if not isinstance(client, EventsClient):
            raise TypeError(f"client must be an EventsClient, got {type(client).__name__}")
        if poll is not None and not isinstance(poll, PollPolicy):
            raise TypeError(f"poll must be a PollPolicy, got {type(poll).__name__}")
        if fleet is not True and fleet is not False and fleet != "auto":
            raise ValueError(
                "fleet must be True (list the pipelines whatever the list's size), False "
                f"(poll each pipeline) or 'auto' (the default), got {fleet!r}"
            )
        self._poll = poll or PollPolicy()
        # Composition, not a base class: the driver is how a machine is run (the clock,
        # the requests, the shared polls); the poller says which machine.
        self._driver = Driver(client, clock=clock, sleep=sleep, fleet=fleet)

    @property
    def client(self) -> EventsClient:
        return self._driver.client

    @property
    def poll_policy(self) -> PollPolicy:
        return self._poll

    @property
    def fleet(self) -> bool | Literal["auto"]:
        """Fleet polling: True, False or ``"auto"`` (see :class:`Poller`)."""
        return self._driver.fleet

    def __repr__(self) -> str:
        return f"Poller(client={self.client!r}, poll={self._poll!r}, fleet={self.fleet!r})"

    def _machine_args(self, timeout: float | None, name: str = "") -> dict[str, Any]:
        return self._driver.machine_args(
            timeout=_check_timeout(timeout), poll=self._poll, name=name
        )

    # -- waits -----------------------------------------------------------------------

    async def wait_until_provisioned(
        self, pipeline_name: str, *, timeout: float | None, **options: Unpack[WaitOptions]
    ) -> PipelineEvent:
        """Wait until the pipeline's resources status is ``Provisioned`` (and its desired
        status still is: a pipeline being stopped is not a success); return that event.

        The runtime may still be ``Initializing``: use :meth:`wait_until_running` when
        the pipeline must work. Raises :class:`DeploymentFailedError` when it fails:
        ``Stopping`` or ``Stopped`` with an error and desired ``Stopped`` (which only a
        new ``/start`` undoes); it carries the server's ``error_code``, ``message`` and
        ``details``. Raises :class:`DeploymentStoppedError` when, after asking to be
        provisioned, it is stopped without an error, or (without ``since``) when the
        wait sees a stop under way end without one; with ``since``, a stop may be the
        first half of a restart, and the wait goes on. :class:`WaitTimeoutError` when
        ``timeout`` seconds pass (``timeout=None`` waits forever and must be said).

        Events recorded at or before ``since`` are never terminal (``since="now"``: the
        server's latest event when the wait begins). If the pipeline was provisioned at
        ``since``, only a *new* provisioning counts (the list endpoint is read once when
        polls may have missed a restart). Errors: see :meth:`wait_for`.
        """
        return await self._until("provisioned", pipeline_name, timeout, options)

    async def wait_until_running(
        self, pipeline_name: str, *, timeout: float | None, **options: Unpack[RunningOptions]
    ) -> PipelineEvent:
        """Wait until the pipeline works: resources and desired status ``Provisioned``
        and the runtime at its desired status (``Running``, ``Paused`` or ``Standby``).

        A panic during initialization (or any failure before that) raises
        :class:`DeploymentFailedError`; otherwise as :meth:`wait_until_provisioned`.
        With ``since``, a pipeline running at ``since`` must run anew (after a restart);
        one still initializing at ``since`` succeeds once it runs.

        A runtime at ``AwaitingApproval`` (started with ``bootstrap_policy=await_approval``
        and changed since its checkpoint) runs only once someone approves its changes:
        the wait reads that event in full (``on_event`` gets it with its details), logs a
        WARNING saying what awaits approval, and waits on; a timeout then says so
        (:attr:`WaitTimeoutError.awaiting_approval`). ``wait_for_approval=False`` ends
        the wait at once instead with :class:`ApprovalRequiredError` (a CI job cannot
        approve).
        """
        return await self._until("running", pipeline_name, timeout, options)

    async def wait_until_stopped(
        self, pipeline_name: str, *, timeout: float | None, **options: Unpack[WaitOptions]
    ) -> PipelineEvent:
        """Wait until the pipeline's resources status is ``Stopped``; return that event.

        A pipeline that stopped because of an error is stopped too: check
        ``event.has_failed`` on the result.
        """
        return await self._until("stopped", pipeline_name, timeout, options)

    async def wait_for(
        self,
        pipeline_name: str,
        condition: Callable[[PipelineEvent], bool],
        *,
        timeout: float | None,
        failure: Callable[[PipelineEvent], bool] | None = None,
        description: str = "the condition",
        **options: Unpack[WaitOptions],
    ) -> PipelineEvent:
        """Wait until ``condition(event)`` is true for the latest event; return that event.

        ``failure(event)`` true ends the wait with :class:`DeploymentFailedError`
        (carrying the event's deployment error, if it has one); it is checked first.

        * 404 ``NoPipelineMonitorEventsAvailable``: keep polling. 404
          ``UnknownPipelineName``: :class:`PipelineNotFoundError` at once, unless
          ``wait_for_pipeline=True``.
        * Other errors follow the one retry rule of the client's :class:`RetryPolicy`:
          transient ones (connection errors, per-request timeouts and its
          ``retry_statuses``, by default 408, 429, 500, 502, 503, 504) are polled through
          until the deadline, honouring ``Retry-After``; the rest are raised at once.
        * A server never reached in this wait: :class:`APIConnectionError` as soon as
          the policy gives up (its ``attempts`` and ``timeout``) or the deadline comes.
        * When the deadline passes, no request is started or left running:
          :class:`WaitTimeoutError`, naming the last error if polls were failing.
        """
        if not callable(condition):
            raise TypeError("condition must be a callable taking a PipelineEvent")
        if failure is not None and not callable(failure):
            raise TypeError("failure must be None or a callable taking a PipelineEvent")
        wait = Wait(description, condition_acceptors(condition, failure))
        given = _options(options, _WAIT, "wait_for")
        return await self._pipeline_wait(pipeline_name, wait, timeout, given)

    def _until(
        self, until: str, pipeline_name: str, timeout: float | None, options: Mapping[str, Any]
    ) -> Awaitable[PipelineEvent]:
        """The wait of the table named ``until``, with ``options``."""
        wait = WAITS[until]
        given = _options(options, _RUNNING if wait.approval else _WAIT, f"wait_until_{until}")
        return self._pipeline_wait(pipeline_name, wait, timeout, given)

    def _pipeline_wait(
        self, pipeline_name: str, wait: Wait, timeout: float | None, options: dict[str, Any]
    ) -> Awaitable[PipelineEvent]:
        approval = options.get("wait_for_approval")
        if wait.approval and not isinstance(approval, bool):
            raise TypeError(f"wait_for_approval must be a bool, got {approval!r}")
        name = check_pipeline_name(pipeline_name)
        on_event = options["on_event"]
        check_callback(on_event, "PipelineEvent")
        machine = PipelineWait(
            wait.acceptors,
            since=options["since"],
            wait_for_pipeline=options["wait_for_pipeline"],
            what=wait.what,
            anew=wait.anew,
            approval=approval,
            **self._machine_args(timeout, name),
        )
        return self._driver.wait(machine, on_event)

    # -- many pipelines --------------------------------------------------------------

    async def as_completed(
        self,
        pipeline_names: Iterable[str],
        *,
        timeout: float | None,
        **options: Unpack[ManyOptions],
    ) -> AsyncGenerator[WaitResult, None]:
        """Wait for every named pipeline concurrently; yield each :class:`WaitResult` as
        its wait ends (``until`` ``"provisioned"`` or ``"running"``; with ``"running"``
        and ``wait_for_approval=False``, a pipeline awaiting approval ends its wait with
        outcome ``AWAITING_APPROVAL``: see :meth:`wait_until_running`).

        With ``fail_fast=True`` the first wait that does not succeed cancels the rest
        (yielded with outcome ``CANCELLED``). With more pipelines than the client has
        connections and fleet polling off (``Poller(fleet=False)``), the first polls are
        spread at random over one poll interval (a fleet poll reads at most as many
        pipelines at once as the client has connections).
        Leaving the loop early (``break``) cancels the waits still running once the
        iterator is closed: use ``contextlib.aclosing`` to close it at once.
        """
        given = _options(options, _MANY, "as_completed")
        names = _names(pipeline_names)
        timeout = _check_timeout(timeout)
        until, on_event, fail_fast = given["until"], given["on_event"], given["fail_fast"]
        if until not in ("provisioned", "running"):
            raise ValueError(f"until must be 'provisioned' or 'running', got {until!r}")
        if given["since"] is not None:
            parse_since(given["since"])
        if not names:
            return
        start = self._driver.now()
        spread = self.fleet is False and len(names) > self.client.connection_limit()
        last_seen: dict[str, PipelineEvent] = {}
        per_wait = {k: given[k] for k in (_RUNNING if until == "running" else _WAIT)}

        def ended(
            name: str, outcome: Outcome, event: PipelineEvent | None, error: BaseException | None
        ) -> WaitResult:
            return WaitResult(name, outcome, event, error, self._driver.now() - start, until)

        async def one(name: str) -> WaitResult:
            async def seen(ev: PipelineEvent) -> None:
                last_seen[name] = ev
                await call(on_event, name, ev)

            remaining = timeout
            try:
                if spread:  # more waits than connections: don't all queue on the pool
                    delay = self._driver.draw() * self._poll.initial
                    if timeout is not None:
                        delay = min(delay, timeout / 2)
                        remaining = timeout - delay
                    await self._driver.sleep(delay)
                ev = await self._until(until, name, remaining, {**per_wait, "on_event": seen})
            except DeploymentFailedError as exc:
                return ended(name, Outcome.FAILED, exc.event or last_seen.get(name), exc)
            except WaitTimeoutError as exc:
                return ended(name, Outcome.TIMED_OUT, exc.last_event, exc)
            except ApprovalRequiredError as exc:
                return ended(name, Outcome.AWAITING_APPROVAL, exc.event, exc)
            except Exception as exc:  # CancelledError is a BaseException: it propagates
                return ended(name, Outcome.ERROR, last_seen.get(name), exc)
            return ended(name, Outcome.SUCCEEDED, ev, None)

        tasks = {asyncio.ensure_future(one(name)): name for name in names}
        order = {name: i for i, name in enumerate(names)}
        # Each wait reports its own end (not asyncio.wait over every pending task, which
        # adds and removes a callback on each of them per completion: O(n^2) for n waits).
        finished: list[asyncio.Task[WaitResult]] = []
        wake = asyncio.Event()

        def on_done(task: asyncio.Task[WaitResult]) -> None:
            finished.append(task)
            wake.set()

        for task in tasks:
            task.add_done_callback(on_done)
        left = len(tasks)
        try:
            while left:
                await wake.wait()
                wake.clear()
                done = finished[:]
                finished.clear()
                left -= len(done)
                for task in sorted(done, key=lambda t: order[tasks[t]]):
                    if task.cancelled():
                        err = asyncio.CancelledError("cancelled by fail_fast")
                        name = tasks[task]
                        yield ended(name, Outcome.CANCELLED, last_seen.get(name), err)
                        continue
                    result = task.result()
                    yield result
                    if fail_fast and not result.ok:
                        for other in tasks:
                            other.cancel()  # a no-op for those that ended
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_many(
        self,
        pipeline_names: Iterable[str],
        *,
        timeout: float | None,
        **options: Unpack[ManyOptions],
    ) -> dict[str, WaitResult]:
        """Wait until every named pipeline is provisioned (or running), concurrently;
        return one :class:`WaitResult` per pipeline, in the order given.

        :meth:`as_completed`, collected. One pipeline's failure, timeout or error does
        not stop the others, unless ``fail_fast=True``: then the first wait that does
        not succeed cancels the rest (outcome ``CANCELLED``). Cancelling ``wait_many``
        cancels every wait and raises :class:`asyncio.CancelledError`.
        """
        names = _names(pipeline_names)
        stream = self.as_completed(names, timeout=timeout, **options)
        async with contextlib.aclosing(stream) as results:
            ended = {result.pipeline_name: result async for result in results}
        return {name: ended[name] for name in names}

    # -- cluster ---------------------------------------------------------------------

    async def wait_until_cluster_healthy(
        self,
        *,
        timeout: float | None,
        on_event: ClusterEventCallback | None = None,
    ) -> ClusterEvent:
        """Wait until the latest cluster monitor event says ``all_healthy``; return it.

        Made for the first step of a CI job, where the manager may still be starting:
        connection errors are polled through until the deadline, whether or not the
        server has answered yet; unhealthy events and 404
        ``NoClusterMonitorEventsAvailable`` too; other errors follow the client's
        :class:`RetryPolicy` (transient: polled through, honouring ``Retry-After``;
        the rest, :class:`ClusterEventsUnsupportedError` and 501 among them, raised at
        once). ``on_event`` is called (and awaited, if async) once per new event.
        ``timeout`` (``None`` waits forever and must be said) ends the wait with
        :class:`ClusterWaitTimeoutError`, naming the unhealthy services, or saying
        the server was never reached.
        """
        check_callback(on_event, "ClusterEvent")
        machine = ClusterWait(**self._machine_args(timeout))
        event: ClusterEvent = await self._driver.wait(machine, on_event)
        return event

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
        """Watch a pipeline: an async iterator of its events, each once (by id), oldest first.

        Without ``since`` the iteration starts with the current latest event (the
        pipeline's state now); with ``since`` it starts with the first event recorded
        after it that is still retained. When the latest event changes, the events in
        between are read from the list endpoint (only then), so no transition is lost,
        an event listed twice is yielded once, and one that committed late with an
        earlier ``recorded_at`` is still yielded (a bounded look-back set of ids).
        Heartbeat duplicates (the same status fields, details and error as the
        previous event) are dropped unless ``include_duplicates``. Transient errors
        are retried forever (or until ``timeout``, which raises
        :class:`WaitTimeoutError`); other errors end the iteration by raising.

        Leaving the ``async with`` block stops the watch, cancelling a request in
        flight. A step may be awaited with a time limit
        (``asyncio.wait_for(anext(events), 5)``): when the limit passes, the step
        goes on and the next ``anext`` picks it up, so no event is lost.
        """
        name = check_pipeline_name(pipeline_name)
        sel = normalize_selector(selector)
        machine = Watch(
            since=since,
            include_duplicates=include_duplicates,
            selector=sel,
            **self._machine_args(timeout, name),
        )
        async with contextlib.aclosing(WatchStream(self._driver.run(machine))) as stream:
            yield stream


# -- one-shot waits ---------------------------------------------------------------------


async def wait_until_provisioned(
    pipeline_name: str, *, timeout: float | None, **options: Unpack[OneShotOptions]
) -> PipelineEvent:
    """One-shot :meth:`Poller.wait_until_provisioned` with a client of its own.

    ``options``: the wait's, ``poll``, and :class:`EventsClient`'s (``url``, ``api_key``,
    ``tenant``, ``timeout`` as :class:`Timeouts` under the name ``request_timeouts``,
    ...: :class:`OneShotOptions`); the client is closed when the wait ends, however it
    ends.
    """
    return await _one_shot("provisioned", pipeline_name, timeout, options)


async def wait_until_running(
    pipeline_name: str, *, timeout: float | None, **options: Unpack[OneShotOptions]
) -> PipelineEvent:
    """One-shot :meth:`Poller.wait_until_running` with a client of its own (options as
    :func:`wait_until_provisioned`, and ``wait_for_approval``)."""
    return await _one_shot("running", pipeline_name, timeout, options)


async def wait_until_stopped(
    pipeline_name: str, *, timeout: float | None, **options: Unpack[OneShotOptions]
) -> PipelineEvent:
    """One-shot :meth:`Poller.wait_until_stopped` with a client of its own (options as
    :func:`wait_until_provisioned`)."""
    return await _one_shot("stopped", pipeline_name, timeout, options)


async def _one_shot(
    until: str, pipeline_name: str, timeout: float | None, options: Mapping[str, Any]
) -> PipelineEvent:
    """The wait of the table named ``until``, through a client made from ``options``."""
    wait_keys = _RUNNING if WAITS[until].approval else _WAIT
    wait_options = {k: v for k, v in options.items() if k in wait_keys}
    client_options = {k: v for k, v in options.items() if k not in wait_keys and k != "poll"}
    if "request_timeouts" in client_options:
        client_options["timeout"] = client_options.pop("request_timeouts")
    async with EventsClient(**client_options) as client:
        poller = Poller(client, poll=options.get("poll"))
        return await poller._until(until, pipeline_name, timeout, wait_options)
