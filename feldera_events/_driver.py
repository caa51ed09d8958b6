"""The driver: runs one sans-IO wait machine against a client, sleeping and requesting.

:class:`Driver` is the loop every wait and watch goes through (:meth:`Driver.run`):
the machine (:mod:`feldera_events._machines`) decides, the driver sleeps, makes the
request (alone, or as a round of the pipeline's shared poll,
:mod:`feldera_events._shared_poll`) and feeds the answer back. :class:`WatchStream`
is the iterator a watch hands out. :class:`~feldera_events._poller.Poller` (the public
API) has a driver and says which machine it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import attrs

from ._client import EventsClient, attempt_bound
from ._decisions import Decision, Fail, PollAt, Request, Succeed
from ._errors import FelderaError
from ._machines import Machine
from ._pipeline_event import PipelineEvent
from ._policies import PollPolicy, RetryPolicy
from ._retry import event_or_latest
from ._shared_poll import FleetSetting, SharedPoll, Timebase, subscribe
from ._testing_mode import is_testing

__all__ = ["Driver", "WatchStream", "check_callback", "call"]

logger = logging.getLogger("feldera_events")


def check_callback(on_event: object, what: str) -> None:
    if on_event is not None and not callable(on_event):
        raise TypeError(f"on_event must be None or a callable taking a {what}")


async def call(callback: Callable[..., Any] | None, *args: Any) -> None:
    if callback is not None:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result


@attrs.frozen
class _Done:
    value: Any


class Driver:
    """Runs machines against one :class:`EventsClient`: the I/O side of every wait.

    Holds no per-wait state. It reads the clock (``clock``, seconds, monotonic; default
    the event loop's time), sleeps (``sleep``; default :func:`asyncio.sleep`), draws the
    random numbers (``draw``) and reads the testing switch, and hands the machines what
    they need of these as values (:meth:`machine_args`). Shared polls run on the same
    clock and sleep; ``fleet`` (True, False or ``"auto"``) says whether their polls of
    ``latest`` may be made by one list for every pipeline (:mod:`._shared_poll`).
    """

    def __init__(
        self,
        client: EventsClient,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        draw: Callable[[], float] = random.random,
        fleet: bool | Literal["auto"] = "auto",
    ) -> None:
        self.client = client
        #: A request can never outlast this (None: nothing bounds it but the deadline).
        self._request_bound = attempt_bound(client)
        # One attempt (the machine retries under the client's policy). When the client
        # bounds every request itself, no policy timeout: no second ``asyncio.timeout``
        # scope per poll (the wait's deadline and the request timeout bound it).
        bounded = self._request_bound is not None
        self._no_retry = (
            RetryPolicy(attempts=1, timeout=None) if bounded else RetryPolicy.disabled()
        )
        self._time = Timebase(clock, sleep or asyncio.sleep)
        self.sleep = self._time.sleep
        self.draw = draw
        self.fleet = fleet
        list_pipelines = functools.partial(client._pipeline_statuses, retry=self._no_retry)
        self._fleet = (
            None
            if fleet is False
            else FleetSetting(fleet is True, list_pipelines, client.connection_limit())
        )

    def now(self) -> float:
        return self._time.now()

    def machine_args(self, *, timeout: float | None, poll: PollPolicy, name: str) -> dict[str, Any]:
        """What a machine gets from this side: the time, the policies, a random source and
        the testing switch's value."""
        return {
            "now": self.now(),
            "timeout": timeout,
            "poll": poll,
            "retry": self.client.retry_policy,
            "url": self.client.url,
            "name": name,
            "draw": self.draw,
            "testing": is_testing(),
        }

    # -- the driver ------------------------------------------------------------------

    async def run(self, machine: Machine) -> AsyncGenerator[Any, None]:
        """Run ``machine``: yield each event it emits, then a :class:`_Done` on success;
        raise what it fails with. Every request is bounded by the machine's deadline."""
        # The poll it shares with the other waits on its pipeline through this client,
        # and with the client's other pipelines' as a fleet (``_shared_poll``).
        name, shared_req = machine.name, machine.poll_request
        shared = subscribe(
            self.client,
            (name, shared_req),
            lambda: self._perform(name, shared_req),
            time=self._time,
            fleet=self._fleet,
        )
        decision = machine.begin(self.now())
        try:
            while True:
                for line in decision.log:
                    logger.log(line.level, line.msg, *line.args)
                for ev in decision.emit:
                    yield ev
                if isinstance(decision, Succeed):
                    yield _Done(decision.event)
                    return
                if isinstance(decision, Fail):
                    if decision.at is not None:
                        await self.sleep(max(decision.at - self.now(), 0.0))
                    raise decision.error
                if isinstance(decision, PollAt):
                    if shared.shared and decision.request == shared_req:
                        decision = await self._request(
                            machine, decision.request, shared, decision.at
                        )
                        continue
                    await self.sleep(max(decision.at - self.now(), 0.0))
                seen = shared if decision.request == shared_req else None
                decision = await self._request(machine, decision.request, seen=seen)
        finally:
            shared.unsubscribe()
            for line in machine.ended(self.now()):
                logger.log(line.level, line.msg, *line.args)

    async def _request(
        self,
        machine: Machine,
        request: Request,
        shared: SharedPoll | None = None,
        at: float = 0.0,
        seen: SharedPoll | None = None,
    ) -> Decision:
        """Make ``request`` (or, with ``shared``, await the shared poll's round due no
        later than ``at``), bounded by the machine's deadline; feed the machine. A read
        of the shared poll's request made alone is told to it (``seen``)."""
        now = self.now()
        remaining = None if machine.deadline is None else machine.deadline - now
        if remaining is not None and remaining <= 0:
            return machine.expired(now)
        bound = self._request_bound
        pending = self._perform(machine.name, request) if shared is None else shared.answer(at)
        scope = None
        try:
            if remaining is None or (shared is None and bound is not None and remaining > bound):
                value = await pending  # it ends (answer or error) before the deadline
            else:
                async with asyncio.timeout(remaining) as scope:
                    value = await pending
        except TimeoutError as exc:
            if scope is not None and scope.expired():
                return machine.expired(self.now())
            if not isinstance(exc, FelderaError):  # else the request's own timeout
                raise
            return machine.failed(exc, self.now())
        except FelderaError as exc:
            return machine.failed(exc, self.now())
        if seen is not None:
            seen.saw(value)
        return machine.answered(value, self.now())

    async def _perform(self, name: str, request: Request) -> Any:
        client, retry = self.client, self._no_retry
        if request.op == "cluster":
            return await client.get_cluster_event(retry=retry)
        if request.op == "list":
            return await client.list_events(name, selector=request.selector, retry=retry)
        read = functools.partial(client.get_event, name, selector=request.selector, retry=retry)
        if request.or_latest:  # the event, or latest if clean-up removed it (tenacity)
            return await event_or_latest(read, request.event_id)
        return await read(request.event_id)

    async def wait(self, machine: Machine, on_event: Callable[[Any], Any] | None) -> Any:
        async with contextlib.aclosing(self.run(machine)) as steps:
            async for item in steps:
                if isinstance(item, _Done):
                    return item.value
                await call(on_event, item)
        raise AssertionError("a wait ended without a decision")  # pragma: no cover


class WatchStream(AsyncIterator[PipelineEvent]):
    """The iterator :meth:`Poller.watch` yields.

    Each step runs as a task of its own, awaited through :func:`asyncio.shield`: a
    caller that gives up on a step (``asyncio.wait_for``) leaves it running for the
    next ``anext``, and :meth:`aclose` can cancel a step in flight from any task.
    """

    def __init__(self, gen: AsyncGenerator[Any, None]) -> None:
        self._gen = gen
        self._step: asyncio.Task[PipelineEvent | None] | None = None
        self._closed = False

    async def _next(self) -> PipelineEvent | None:
        try:
            item = await self._gen.__anext__()
        except StopAsyncIteration:
            return None
        return None if isinstance(item, _Done) else item

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
