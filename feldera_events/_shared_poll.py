"""Shared polls: the waits through one client share their polls, per pipeline and as a fleet.

The layer between the wait machines (:mod:`feldera_events._machines`) and the driver
(:meth:`Driver.run <feldera_events._driver.Driver.run>`). Rounds are timed with the
driver's clock and sleep (a :class:`Timebase`: the event loop's, or the ones a
:class:`Poller` was given), so they run alike in production and in deterministic tests.

**One pipeline.** A :class:`SharedPoll` is keyed by (client, pipeline name, request):
every wait or watch whose machine polls that request *subscribes* to it for its
lifetime. While it is the only subscriber and no fleet poll covers it, the driver polls
as before (it sleeps, then makes the request itself); otherwise each poll of the
machine becomes :meth:`SharedPoll.answer`:

* **One request per round.** A round is made at the *earliest* time its members
  asked for (``PollAt.at``); every member of the round gets the same answer (or the
  same error, which goes through each member's own machine). A waiter that asked for
  a later time is simply answered early: its machine schedules its next poll from
  that answer, as after any poll.
* **Answers in order.** A waiter that asks while a round is under way joins the
  *next* round: every answer a machine is fed comes from a request started after it
  asked, so it is never older than what the machine saw.
* **Own deadline, own cancellation.** Each waiter awaits its answer under its own
  deadline; one that leaves only withdraws itself. The request runs as a task of its
  own, cancelled only when nobody waits for it any more. Nothing is left running
  once every waiter has ended.

**Many pipelines (fleet polling).** When the waits through one client poll the
``latest`` status event of two pipelines or more, a :class:`FleetPoll` makes the
rounds of all those shared polls: one ``GET /v0/pipelines?selector=status`` per round,
at the earliest time any of them asked for. The list is a change detector, never a
verdict. The manager writes a pipeline's event in the transaction that changes its
status fields, so a pipeline whose entry shows the status fields, ``*_since`` stamps,
``refresh_version``, ``id``, ``deployment_id`` and ``deployment_error`` seen before its
last ``latest`` read still has that latest event: its waits are answered with it, no
request made. One that changed, is listed for the first time or is missing from the
list gets its ``latest`` read for its waits; so does every pipeline of a round whose
list failed. To a machine, either answer is a poll. An event that changes none of
those fields (the manager's heartbeat after ten minutes unchanged) is seen with the
next change. Whether it lists at all: :meth:`FleetPoll.pays`.

Only the machine's periodic poll is shared (``latest`` with its selector, or the
cluster event); the one-off reads a machine needs now (the events list, one event
with ``selector=all``, ``since``) stay its own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final

import attrs

from ._decisions import LATEST
from ._errors import APIStatusError, ResponseValidationError
from ._pipeline_event import PipelineEvent
from ._since import order_key

__all__ = [
    "BREAK_EVEN",
    "FleetPoll",
    "FleetSetting",
    "SharedPoll",
    "Timebase",
    "active",
    "refusal",
    "subscribe",
    "unchanged",
]

logger = logging.getLogger("feldera_events")

#: Fleet polling lists while the list has at most ``(W - 1) * BREAK_EVEN`` entries for
#: W waited pipelines (``fleet="auto"``): one ``latest`` read costs the client as much
#: CPU as reading and comparing about this many entries of the list. Measured with
#: ``benchmarks/bench_fleet.py --mode lists`` on a 2-core x86_64 machine
#: (benchmarks/RESULTS.md, "Fleet"): one ``get_event`` 147-205 µs of client CPU (32 in
#: flight), one fleet round's list 20 µs an entry (strict JSON, key withholding, shape
#: check, indexing, comparing) at 1,000 and 5,000 entries: 7 to 10 entries a read.
BREAK_EVEN: Final = 8

#: The answers by which a manager refuses the list for good (and a body of another
#: shape): the client polls each pipeline instead.
_REFUSED_STATUSES: Final = frozenset({400, 403, 404, 405, 410, 501})

#: How many waits of unchanged pipelines a fleet round answers before it lets the loop
#: turn (and the reads of the changed ones be answered).
_SETTLE_BATCH: Final = 64

#: Besides every ``*_status`` and ``*_since`` field: what says a pipeline changed.
_CHANGE_FIELDS: Final = frozenset({"refresh_version", "id", "deployment_id", "deployment_error"})
_STATUS_SUFFIXES: Final = ("_status", "_since")


def unchanged(entry: dict[str, Any], before: dict[str, Any]) -> bool:
    """Whether a pipeline's entry in the list shows what ``before`` showed: its status
    fields, ``*_since`` stamps, ``refresh_version``, ``id``, ``deployment_id`` and
    ``deployment_error`` (details and other fields may differ)."""
    if entry == before:
        return True
    for key in entry.keys() | before.keys():
        if (key in _CHANGE_FIELDS or key.endswith(_STATUS_SUFFIXES)) and entry.get(
            key
        ) != before.get(key):
            return False
    return True


def refusal(exc: BaseException) -> bool:
    """Whether the list's error says the manager will not list (404, 403, 405...; a
    body of another shape), rather than that this round failed."""
    return isinstance(exc, ResponseValidationError) or (
        isinstance(exc, APIStatusError) and exc.status_code in _REFUSED_STATUSES
    )


@attrs.frozen
class Timebase:
    """The clock and sleep rounds are timed with: the event loop's by default, else the
    ones a :class:`~feldera_events.Poller` was given (equal for the same two)."""

    clock: Callable[[], float] | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def now(self) -> float:
        return self.clock() if self.clock is not None else asyncio.get_running_loop().time()


class _Timed:
    """What makes rounds at the earliest time asked for (``_next_at``): a timer (a task
    that sleeps until then; cancelled to disarm) calls ``_fire`` then."""

    def __init__(self, time: Timebase) -> None:
        self._time = time
        self._next_at = math.inf
        self._timer: asyncio.Task[None] | None = None
        self._timer_at = math.inf

    def _arm(self) -> None:
        self._disarm()
        self._timer_at = self._next_at
        self._timer = asyncio.ensure_future(self._wake(self._next_at))

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf

    def clear(self) -> None:
        """No round to make (nobody waits, or another makes the rounds)."""
        self._disarm()
        self._next_at = math.inf

    async def _wake(self, at: float) -> None:
        await self._time.sleep(max(at - self._time.now(), 0.0))
        self._timer, self._timer_at = None, math.inf
        self._fire()

    def _fire(self) -> None:
        raise NotImplementedError


@attrs.frozen
class FleetSetting:
    """How a driver's polls of ``latest`` may be made by a fleet poll: ``forced`` (list
    whatever the list's size) or not (``"auto"``), the list request, and how many reads
    a round may have in flight."""

    forced: bool
    list_pipelines: Callable[[], Awaitable[list[dict[str, Any]]]]
    limit: int


class SharedPoll(_Timed):
    """One poll shared by the waits subscribed to it (see the module's docstring)."""

    def __init__(
        self,
        perform: Callable[[], Awaitable[Any]],
        forget: Callable[[SharedPoll], None],
        time: Timebase,
        name: str = "",
    ) -> None:
        super().__init__(time)
        self.perform = perform
        self._forget = forget
        self.name = name
        self.subscribers = 0
        #: The fleet poll this poll is part of, and (``fleet``) while that one makes its rounds.
        self.member_of: FleetPoll | None = None
        self.fleet: FleetPoll | None = None
        self._waiting: list[asyncio.Future[Any]] = []  # the next round
        self._batch: list[asyncio.Future[Any]] = []  # the round under way
        self._task: asyncio.Task[Any] | None = None  # its request
        self._listed: _Round | None = None  # or the fleet round whose list it awaits

    @property
    def shared(self) -> bool:
        """Whether its polls go through :meth:`answer` (else the driver polls alone):
        more than one wait polls through it, or a fleet poll makes its rounds."""
        return self.fleet is not None or self.subscribers > 1 or bool(self._waiting) or self.busy

    @property
    def busy(self) -> bool:
        """A round is under way (its request in flight, or its fleet's list)."""
        return self._task is not None or self._listed is not None

    def unsubscribe(self) -> None:
        self.subscribers -= 1
        self._end_if_unused()

    async def answer(self, at: float) -> Any:
        """The answer of the first round made at or after the call, made no later than
        ``at`` (the timebase's time); raises what that round's request raised."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        self._next_at = min(self._next_at, at)
        if not self.busy:
            self._schedule()
        try:
            return await fut
        finally:
            if not fut.done():
                fut.cancel()
            self._withdraw(fut)

    def saw(self, value: Any) -> None:
        """A wait read this poll's request itself (a one-off read): its fleet keeps the
        newest event it knows."""
        if self.member_of is not None and isinstance(value, PipelineEvent):
            self.member_of.saw(self.name, value)

    # -- rounds: the fleet poll's side --------------------------------------------------

    def join(self, fleet: FleetPoll) -> None:
        """From now on ``fleet`` makes the rounds."""
        self.fleet = fleet
        self._disarm()
        if self._waiting and not self.busy:
            fleet.due(self._next_at)

    def leave(self) -> None:
        """From now on this poll makes its rounds itself."""
        self.fleet = None
        if self._waiting and not self.busy:
            self._arm()

    def open_round(self, listed: _Round | None = None) -> bool:
        """Make the waiting members the round under way (awaiting ``listed``'s list, if
        given); False if nobody waits."""
        batch = [f for f in self._waiting if not f.done()]
        self._waiting, self._next_at = [], math.inf
        if not batch:
            return False
        self._batch = batch
        self._listed = listed
        return True

    def read(self, pending: Awaitable[Any] | None = None) -> None:
        """Answer the round under way with ``pending`` (by default, its request made now)."""
        self._listed = None
        self._task = asyncio.ensure_future(pending or self.perform())
        self._task.add_done_callback(self._deliver)

    def settle(self, value: Any) -> None:
        """Answer the round under way with ``value``, no request made (its pipeline did
        not change)."""
        self._listed = None
        self._finish(value, None)

    # -- internals ---------------------------------------------------------------------

    def _schedule(self) -> None:
        if self.fleet is not None:
            self.fleet.due(self._next_at)
        elif self._next_at < self._timer_at:
            self._arm()

    def _fire(self) -> None:
        if self.open_round():
            self.read()

    def _deliver(self, task: asyncio.Task[Any]) -> None:
        self._task = None
        if task.cancelled():
            self._finish(None, None, cancelled=True)
        elif (exc := task.exception()) is not None:
            self._finish(None, exc)
        else:
            self._finish(task.result(), None)

    def _finish(self, value: Any, exc: BaseException | None, cancelled: bool = False) -> None:
        batch, self._batch = self._batch, []
        for fut in batch:
            if fut.done():
                continue
            if cancelled:
                fut.cancel()
            elif exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)
        if self._waiting:
            self._schedule()
        self._end_if_unused()

    def _withdraw(self, fut: asyncio.Future[Any]) -> None:
        if fut in self._waiting:
            self._waiting.remove(fut)
        elif fut in self._batch:
            self._batch.remove(fut)
        else:
            return  # answered: its round is over
        if not self._waiting:
            self.clear()
            if not self._batch and self._task is not None:
                self._task.cancel()  # nobody waits for it any more
        if not self._batch and self._listed is not None:
            listed, self._listed = self._listed, None
            listed.left()  # nobody awaits the list for this pipeline any more
            if self._waiting:
                self._schedule()
        self._end_if_unused()

    def _end_if_unused(self) -> None:
        """Once no wait subscribes or awaits an answer: stop, and leave the registry."""
        if self.subscribers > 0 or self._waiting or self._batch:
            return
        self.clear()
        if self._task is not None:
            self._task.cancel()
        if self._listed is not None:
            listed, self._listed = self._listed, None
            listed.left()
        self._forget(self)


@attrs.define
class _Round:
    """A fleet round: its list request, and how many shared polls still await it."""

    open: int = 0
    task: asyncio.Task[None] | None = None

    def left(self) -> None:
        self.open -= 1
        if self.open <= 0 and self.task is not None:
            self.task.cancel()  # nobody awaits the list any more


@attrs.define
class _ClientState:
    """What one client's polls share: its hubs (per timebase and fleet setting), and
    whether its manager refused the list."""

    hubs: dict[Hashable, _Hub] = attrs.Factory(dict)
    refused: bool = False


class FleetPoll(_Timed):
    """The rounds of the ``latest`` polls of every pipeline waited on through one client,
    made with one list each (see the module's docstring)."""

    def __init__(self, time: Timebase, setting: FleetSetting, client: _ClientState) -> None:
        super().__init__(time)
        self._list = setting.list_pipelines
        self.forced = setting.forced
        self._limit = asyncio.Semaphore(max(setting.limit, 1))
        self._client = client
        #: The shared polls of ``latest`` by pipeline name (listing or not).
        self.polls: dict[str, SharedPoll] = {}
        #: Per pipeline: its entry at a list, and the latest event read after that list.
        self._seen: dict[str, tuple[dict[str, Any], PipelineEvent]] = {}
        #: How many entries the last list had (None: not listed yet).
        self.size: int | None = None
        self.engaged = False
        self._round: _Round | None = None

    def pays(self) -> bool:
        """Whether to list: two pipelines or more, the manager never refused the list,
        and (unless forced) the list, as last seen, has at most ``(W - 1) * BREAK_EVEN``
        entries for W waited pipelines (a list costs about one read, plus its entries)."""
        waited = len(self.polls)
        if waited < 2 or self._client.refused:
            return False
        return self.forced or self.size is None or self.size <= (waited - 1) * BREAK_EVEN

    def add(self, poll: SharedPoll) -> None:
        self.polls[poll.name] = poll
        poll.member_of = self
        self._engage()
        if self.engaged and poll.fleet is None:
            poll.join(self)

    def remove(self, poll: SharedPoll) -> None:
        if self.polls.get(poll.name) is not poll:
            return
        del self.polls[poll.name]
        self._seen.pop(poll.name, None)
        poll.member_of = poll.fleet = None
        self._engage()

    def saw(self, name: str, event: PipelineEvent) -> None:
        """``event`` was read for ``name`` by other means: keep it if it is newer (a
        later list showing the same entry still means it is the latest)."""
        before = self._seen.get(name)
        if before is not None and order_key(event) > order_key(before[1]):
            self._seen[name] = (before[0], event)

    def due(self, at: float) -> None:
        """A shared poll it makes the rounds of has a waiter for ``at``."""
        self._next_at = min(self._next_at, at)
        if self._round is None and self._next_at < self._timer_at:
            self._arm()

    # -- internals ---------------------------------------------------------------------

    def _engage(self) -> None:
        engaged = self.pays()
        if engaged == self.engaged:
            return
        self.engaged = engaged
        logger.debug(
            "fleet polling %s: %d pipelines waited on, %s in the list",
            "on" if engaged else "off",
            len(self.polls),
            "?" if self.size is None else self.size,
        )
        for poll in list(self.polls.values()):
            if engaged:
                poll.join(self)
            else:
                poll.leave()
        if not engaged:
            self.clear()

    def _fire(self) -> None:
        self._next_at = math.inf
        round_ = _Round()
        members = [
            poll
            for poll in self.polls.values()
            if poll.fleet is self and poll._waiting and not poll.busy and poll.open_round(round_)
        ]
        if not members:
            return
        round_.open = len(members)
        self._round = round_
        round_.task = asyncio.ensure_future(self._list_round(round_, members))

    async def _list_round(self, round_: _Round, members: list[SharedPoll]) -> None:
        try:
            entries: list[dict[str, Any]] | None = await self._list()
        except asyncio.CancelledError:
            self._round = None  # every member left
            if self._next_at < math.inf:
                self._arm()
            raise
        except Exception as exc:  # this round reads each pipeline instead
            entries = None
            if refusal(exc):
                self._refuse(exc)
        self._round = None
        listed: dict[str, dict[str, Any]] = {}
        if entries is not None:
            self.size = len(entries)
            listed = {entry["name"]: entry for entry in entries}
            self._engage()  # the size may say it does not pay
        seen = self._seen
        quiet: list[tuple[SharedPoll, PipelineEvent]] = []
        for poll in members:
            if poll._listed is not round_:
                continue  # its waits left
            name = poll.name
            entry = listed.get(name)
            before = seen.get(name)
            if entry is not None and before is not None and unchanged(entry, before[0]):
                if entry != before[0]:
                    seen[name] = (entry, before[1])  # details moved, the status did not
                quiet.append((poll, before[1]))
            else:
                poll.read(self._read(poll, entry))
        # The reads are on their way before the waits of the pipelines that did not change
        # take their turns, a batch at a time: a thousand waits keep the loop busy a while,
        # and the answers of the reads are handled in between.
        for start in range(0, len(quiet), _SETTLE_BATCH):
            if start:
                await asyncio.sleep(0)
            for poll, event in quiet[start : start + _SETTLE_BATCH]:
                if poll._listed is round_:
                    poll.settle(event)
        if self._next_at < math.inf and self._timer is None and self.engaged:
            self._arm()

    async def _read(self, poll: SharedPoll, entry: dict[str, Any] | None) -> Any:
        """The ``latest`` read of ``poll``'s pipeline after a list that showed ``entry``."""
        async with self._limit:
            value = await poll.perform()
        name = poll.name
        if isinstance(value, PipelineEvent) and self.polls.get(name) is not None:
            if entry is not None:
                self._seen[name] = (entry, value)
            else:
                self.saw(name, value)
        return value

    def _refuse(self, exc: BaseException) -> None:
        if not self._client.refused:
            self._client.refused = True
            logger.log(
                logging.WARNING if self.forced else logging.INFO,
                "fleet polling off for this client: the manager refused the pipelines list "
                "(GET /v0/pipelines?selector=status: %s: %s); polling each pipeline instead",
                type(exc).__name__,
                str(exc),
            )
        self._engage()


@attrs.define
class _Hub:
    """The shared polls of one client for one timebase and fleet setting."""

    polls: dict[Hashable, SharedPoll] = attrs.Factory(dict)
    fleet: FleetPoll | None = None


#: client -> its polls. Weak: a client that is gone takes its polls with it.
_REGISTRY: weakref.WeakKeyDictionary[Any, _ClientState] = weakref.WeakKeyDictionary()
_LOOP_TIME: Final = Timebase()


def subscribe(
    client: Any,
    key: Hashable,
    perform: Callable[[], Awaitable[Any]],
    *,
    time: Timebase | None = None,
    fleet: FleetSetting | None = None,
) -> SharedPoll:
    """Join the shared poll of ``key`` (a pipeline name and a request) through ``client``
    (made on first use with ``perform``, the request), timed by ``time``; with ``fleet``,
    a fleet poll may make its rounds (for the request ``latest``). Call
    :meth:`SharedPoll.unsubscribe` when the wait ends."""
    time = time or _LOOP_TIME
    state = _REGISTRY.setdefault(client, _ClientState())
    hub_key = (time, None if fleet is None else fleet.forced)
    hub = state.hubs.setdefault(hub_key, _Hub())
    shared = hub.polls.get(key)
    if shared is None:
        name, request = key if isinstance(key, tuple) else ("", None)
        forget = functools.partial(_forget, client, hub_key, key)
        shared = hub.polls[key] = SharedPoll(perform, forget, time, name)
        if fleet is not None and request == LATEST:
            if hub.fleet is None:
                hub.fleet = FleetPoll(time, fleet, state)
            hub.fleet.add(shared)
    shared.subscribers += 1
    return shared


def _forget(client: Any, hub_key: Hashable, key: Hashable, shared: SharedPoll) -> None:
    """``shared`` ended (if it is still the poll of ``key``: a late call is a no-op)."""
    state = _REGISTRY.get(client)
    hub = None if state is None else state.hubs.get(hub_key)
    if state is None or hub is None or hub.polls.get(key) is not shared:
        return
    del hub.polls[key]
    if hub.fleet is not None:
        hub.fleet.remove(shared)
    if not hub.polls:
        if hub.fleet is not None:
            hub.fleet.clear()
        del state.hubs[hub_key]


def active(client: Any) -> int:
    """How many shared polls ``client`` has (for tests: 0 once every wait has ended)."""
    state = _REGISTRY.get(client)
    return 0 if state is None else sum(len(hub.polls) for hub in state.hubs.values())


def fleet_of(client: Any) -> list[FleetPoll]:
    """``client``'s fleet polls (for tests)."""
    state = _REGISTRY.get(client)
    hubs = () if state is None else state.hubs.values()
    return [hub.fleet for hub in hubs if hub.fleet is not None]
