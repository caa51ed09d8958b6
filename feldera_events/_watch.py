"""The watch machine: every event of a pipeline once, by id, oldest first (sans-IO).

A :class:`~feldera_events._waits.Machine` like the waits (see that module for the
decisions it answers with); it never succeeds, and the poller's driver runs it as a
stream (:class:`~feldera_events._driver.WatchStream`).
"""

from __future__ import annotations

import collections
import uuid
from typing import Any, Final

from ._acceptors import (
    BEGINNING,
    LATEST,
    Decision,
    Fail,
    Request,
    SincePoint,
    is_duplicate,
    order_key,
    parse_since,
)
from ._errors import EventNotFoundError, NoEventsYetError
from ._fields import Selector
from ._pipeline_event import PipelineEvent
from ._waits import Machine

__all__ = ["WATCH_LOOKBACK", "Watch"]

#: How many event ids a watch remembers (its look-back set): more than a pipeline
#: retains by default (about 720), so a listed event is never yielded twice.
WATCH_LOOKBACK: Final = 4096


class Watch(Machine):
    """A watch: every event once, by id, oldest first; never succeeds.

    Events are new when their id was not seen and they come after the floor (the
    starting point, raised as old ids leave the bounded look-back set), so an event
    that commits late with an earlier ``recorded_at`` is still yielded. The list is
    read when ``latest`` changes, and once more at the next poll after a read that
    found new events (a *settling* read), so a late commit is seen even when no newer
    event follows it.
    """

    what = "the end of the watch"

    def __init__(
        self,
        *,
        since: object = None,
        include_duplicates: bool = False,
        selector: Selector = Selector.STATUS,
        lookback: int = WATCH_LOOKBACK,
        **kwargs: Any,
    ) -> None:
        super().__init__(reached=True, **kwargs)  # never gives up on a server by itself
        parsed = parse_since(since) if since is not None else None
        self.floor: SincePoint | None = parsed if isinstance(parsed, SincePoint) else None
        self._since_to_read = None if isinstance(parsed, SincePoint) else parsed
        self.include_duplicates = include_duplicates
        self.latest = self.poll_request = Request("event", "latest", selector)
        self.listing = Request("list", selector=selector)
        self.lookback = lookback
        self.seen_ids: set[uuid.UUID] = set()
        self.order: collections.deque[PipelineEvent] = collections.deque()
        self.previous: PipelineEvent | None = None
        self.last_yielded: PipelineEvent | None = None
        self.settle = False  # read the list once more at the next unchanged poll

    def begin(self, now: float) -> Decision:
        to_read = self._since_to_read
        if to_read is None:
            return self._need(now, self.latest)
        return self._need(now, LATEST if to_read == "now" else Request("event", to_read))

    def _on_answer(self, request: Request, value: Any, now: float) -> Decision:
        if self._since_to_read is not None:
            self._since_to_read, self.floor = None, SincePoint.of(value)
            return self._need(now, self.latest)
        if request.op == "list":
            assert self.previous is not None
            new = self._new([*value, self.previous])
            self.settle = bool(new)
            return self._poll(now, new)
        ev: PipelineEvent = value
        self.last_event = ev
        if ev.event_id in self.seen_ids or (self.floor is not None and self.floor.covers(ev)):
            if self.settle and self.previous is not None:
                self.settle = False
                return self._need(now, self.listing)
            return self._poll(now, [])
        first = self.previous is None and self.floor is None
        self.previous = ev
        if first:
            self.floor = SincePoint.of(ev)  # the watch starts here
            return self._poll(now, self._new([ev], floor=False))
        return self._need(now, self.listing)

    def _on_error(self, request: Request, exc: BaseException, now: float) -> Decision | None:
        if isinstance(exc, NoEventsYetError) and request.op == "event":
            if self._since_to_read is not None:
                self._since_to_read = None
            if self.floor is None and self.previous is None:
                self.floor = BEGINNING  # no events yet: every one to come is new
            return self._schedule(now, self._next_interval(now, False), self.latest)
        if isinstance(exc, EventNotFoundError) and isinstance(self._since_to_read, uuid.UUID):
            if self._since_to_read.version != 7:
                return Fail(exc)
            self.floor, self._since_to_read = SincePoint(None, self._since_to_read), None
            return self._need(now, self.latest)
        return None

    def _new(self, events: list[PipelineEvent], floor: bool = True) -> list[PipelineEvent]:
        fresh: dict[uuid.UUID, PipelineEvent] = {}
        for ev in events:
            if ev.event_id in self.seen_ids or ev.event_id in fresh:
                continue
            if floor and self.floor is not None and self.floor.covers(ev):
                continue
            fresh[ev.event_id] = ev
        out: list[PipelineEvent] = []
        for ev in sorted(fresh.values(), key=order_key):
            self._remember(ev)
            last = self.last_yielded
            if self.include_duplicates or last is None or not is_duplicate(ev, last):
                out.append(ev)
                self.last_yielded = ev
        return out

    def _remember(self, ev: PipelineEvent) -> None:
        self.seen_ids.add(ev.event_id)
        self.order.append(ev)
        while len(self.order) > self.lookback:
            old = self.order.popleft()
            self.seen_ids.discard(old.event_id)
            if self.floor is None or not self.floor.covers(old):
                self.floor = SincePoint.of(old)  # forgotten ids must never come back as new

    def _poll(self, now: float, new: list[PipelineEvent]) -> Decision:
        return self._schedule(now, self._next_interval(now, bool(new)), self.latest, tuple(new))
