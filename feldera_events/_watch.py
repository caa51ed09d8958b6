"""The watch machine: every event of a pipeline once, by id, oldest first (sans-IO).

A :class:`~feldera_events._machines.Machine` like the waits; it never succeeds, and the
driver runs it as a stream (:class:`~feldera_events._driver.WatchStream`).
"""

from __future__ import annotations

import collections
import uuid
from typing import Any, Final

from ._decisions import Decision, Fail, Request
from ._errors import EventNotFoundError, NoEventsYetError
from ._fields import Selector
from ._machines import Machine
from ._pipeline_event import PipelineEvent
from ._since import BEGINNING, SincePoint, SinceRule, order_key

__all__ = ["WATCH_LOOKBACK", "Watch", "is_duplicate"]

#: How many event ids a watch remembers (its look-back set): more than a pipeline
#: retains by default (about 720), so a listed event is never yielded twice.
WATCH_LOOKBACK: Final = 4096


def is_duplicate(ev: PipelineEvent, previous: PipelineEvent) -> bool:
    """A heartbeat duplicate: the same status fields, details and error as before."""
    return (
        ev.same_status(previous)
        and ev.deployment_error == previous.deployment_error
        and ev.deployment_resources_status_details == previous.deployment_resources_status_details
        and ev.deployment_runtime_status_details == previous.deployment_runtime_status_details
        and ev.storage_status_details == previous.storage_status_details
    )


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
        super().__init__(**kwargs)
        self.reached = True  # never gives up on a server by itself
        self.since = SinceRule.of(since)
        self.floor: SincePoint | None = self.since.point
        self.include_duplicates = include_duplicates
        self.latest = self.poll_request = Request("event", "latest", selector)
        self.listing = Request("list", selector=selector)
        self.lookback = lookback
        self.seen_ids: set[uuid.UUID] = set()
        self.order: collections.deque[PipelineEvent] = collections.deque()
        self.previous: PipelineEvent | None = None
        self.last_yielded: PipelineEvent | None = None
        self.settle = False  # read the list once more at the next unchanged poll

    def _begin(self, now: float) -> Decision:
        return self._need(now, self.since.first_read() or self.latest)

    def _on_answer(self, request: Request, value: Any, now: float) -> Decision:
        if self.since.to_read is not None:
            self.floor = self.since.read(value)
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
            self.since.to_read = None
            if self.floor is None and self.previous is None:
                self.floor = BEGINNING  # no events yet: every one to come is new
            return self._poll_later(now, False)
        if isinstance(exc, EventNotFoundError) and self.since.to_read is not None:
            point = self.since.unread(exc)  # an id cleaned up: its UUIDv7 order
            if point is None:
                return Fail(exc)
            self.floor = point
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
        return self._poll_later(now, bool(new), tuple(new))
