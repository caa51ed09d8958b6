"""Shared polls: concurrent waits on one pipeline through one client share one poll.

The layer between the wait machines (:mod:`feldera_events._machines`) and the driver
(:meth:`Driver._run <feldera_events._driver.Driver._run>`). A :class:`SharedPoll`
is keyed by (client, pipeline name, request): every wait or watch whose machine polls
that request *subscribes* to it for its lifetime. While it is the only subscriber,
the driver polls as before (it sleeps, then makes the request itself); with two or
more, each poll of the machine becomes :meth:`SharedPoll.answer`:

* **One request per round.** A round is made at the *earliest* time its members
  asked for (``PollAt.at``); every member of the round gets the same answer (or the
  same error, which goes through each member's own machine). A waiter that asked for
  a later time is simply answered early: its machine schedules its next poll from
  that answer, as after any poll. So 100 waiters with a 1 s interval cost about one
  request per interval (a little more: the earliest of 100 jittered times).
* **Answers in order.** A waiter that asks while a request is in flight joins the
  *next* round, never the one in flight: every answer a machine is fed comes from a
  request started after it asked, so it is never older than what the machine saw
  (its ``since`` and dedupe logic see time move forward only).
* **Own deadline, own cancellation.** Each waiter awaits its answer under its own
  deadline; one that leaves (timeout, cancellation, success) only withdraws itself.
  The request runs as a task of its own: it is cancelled only when the last member
  of its round leaves, and the round's timer when nobody waits any more. Nothing is
  left running once every waiter has ended; when the client closes, a request in
  flight fails and that error goes to its round.

Only the machine's periodic poll is shared (``latest`` with its selector, or the
cluster event); the one-off reads a machine needs now (the list, one event with
``selector=all``, ``since``) stay its own. Sharing needs the event loop's clock:
a :class:`Poller` given its own ``clock`` or ``sleep`` does not share.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

__all__ = ["SharedPoll", "subscribe"]

#: client -> key -> shared poll. Weak: a client that is gone takes its polls with it.
_REGISTRY: weakref.WeakKeyDictionary[Any, dict[Hashable, SharedPoll]] = weakref.WeakKeyDictionary()


def subscribe(client: Any, key: Hashable, perform: Callable[[], Awaitable[Any]]) -> SharedPoll:
    """Join the shared poll of ``key`` through ``client`` (made on first use with
    ``perform``, the request); call :meth:`SharedPoll.unsubscribe` when the wait ends."""
    polls = _REGISTRY.get(client)
    if polls is None:
        polls = _REGISTRY[client] = {}
    shared = polls.get(key)
    if shared is None:
        shared = polls[key] = SharedPoll(perform, lambda: _forget(client, key))
    shared.subscribers += 1
    return shared


def _forget(client: Any, key: Hashable) -> None:
    polls = _REGISTRY.get(client)
    if polls is not None:
        polls.pop(key, None)
        if not polls:
            _REGISTRY.pop(client, None)


def active(client: Any) -> int:
    """How many shared polls ``client`` has (for tests: 0 once every wait has ended)."""
    return len(_REGISTRY.get(client, ()))


class SharedPoll:
    """One poll shared by the waits subscribed to it (see the module's docstring)."""

    def __init__(self, perform: Callable[[], Awaitable[Any]], forget: Callable[[], None]) -> None:
        self._perform = perform
        self._forget = forget
        self.subscribers = 0
        #: Rounds made (requests started): for tests and benchmarks.
        self.rounds = 0
        self._waiting: list[asyncio.Future[Any]] = []  # the next round
        self._next_at = math.inf
        self._batch: list[asyncio.Future[Any]] = []  # the round in flight
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    @property
    def shared(self) -> bool:
        """Whether more than one wait polls through it (else the driver polls alone)."""
        return self.subscribers > 1 or bool(self._waiting) or self._task is not None

    def unsubscribe(self) -> None:
        self.subscribers -= 1
        if self.subscribers <= 0 and not self._waiting and not self._batch:
            self._stop()
            self._forget()

    async def answer(self, at: float) -> Any:
        """The answer of the first round made at or after the call, made no later than
        ``at`` (loop time); raises what that round's request raised."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._waiting.append(fut)
        if at < self._next_at:
            self._next_at = at
        if self._task is None and self._next_at < self._timer_at:
            self._arm(loop)
        try:
            return await fut
        finally:
            if not fut.done():
                fut.cancel()
            self._withdraw(fut)

    # -- internals ---------------------------------------------------------------------

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = self._next_at
        self._timer = loop.call_at(self._next_at, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        batch, self._waiting, self._next_at = self._waiting, [], math.inf
        batch = [f for f in batch if not f.done()]
        if not batch:
            return
        self._batch = batch
        self.rounds += 1
        self._task = asyncio.ensure_future(self._perform())
        self._task.add_done_callback(self._deliver)

    def _deliver(self, task: asyncio.Task[Any]) -> None:
        batch, self._batch, self._task = self._batch, [], None
        if task.cancelled():
            for fut in batch:
                fut.cancel()
        else:
            exc = task.exception()
            for fut in batch:
                if fut.done():
                    continue
                if exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(task.result())
        if self._waiting:
            self._arm(task.get_loop())
        elif self.subscribers <= 0:
            self._forget()

    def _withdraw(self, fut: asyncio.Future[Any]) -> None:
        if fut in self._waiting:
            self._waiting.remove(fut)
        elif fut in self._batch:
            self._batch.remove(fut)
        else:
            return  # answered: its round is over
        if not self._waiting:
            if self._timer is not None:
                self._timer.cancel()
                self._timer, self._timer_at, self._next_at = None, math.inf, math.inf
            if not self._batch and self._task is not None:
                self._task.cancel()  # nobody waits for it any more
        if self.subscribers <= 0 and not self._waiting and not self._batch:
            self._stop()
            self._forget()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at, self._next_at = None, math.inf, math.inf
        if self._task is not None:
            self._task.cancel()
