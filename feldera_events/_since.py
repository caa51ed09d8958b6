"""``since=``: the point before which no event ends a wait, and the restart rule.

A :class:`SincePoint` says which events are at or before ``since`` (never terminal).
A :class:`SinceRule` is what a wait does with it, in one place: read the point first
when it is an id or ``"now"``, fall back when that read fails (nothing yet, or cleaned
up), and, for a wait whose success must be a *new* one (``anew``), tell whether a
success after the point is a new one or the one that already held at it.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable, Sequence
from typing import Final, Literal

import attrs

from ._decisions import LATEST, Request
from ._errors import EventNotFoundError, NoEventsYetError, PipelineNotFoundError
from ._pipeline_event import PipelineEvent

__all__ = ["BEGINNING", "SincePoint", "SinceRule", "order_key", "parse_since"]


def order_key(ev: PipelineEvent) -> tuple[_dt.datetime, uuid.UUID]:
    """The server's order of events: ``recorded_at``, then id."""
    return (ev.recorded_at, ev.event_id)


@attrs.frozen
class SincePoint:
    """Events at or before this point are never terminal.

    From an event: exact, by ``(recorded_at, event_id)`` (events of one transaction
    share a ``recorded_at``). From an id that was cleaned up: UUIDv7 order of the ids.
    From a datetime: ``recorded_at`` alone. ``latest``: the event was the server's latest
    when the wait began (``since="now"``), so any other event a later poll of ``latest``
    answers is newer, whatever its date (:meth:`hides`).
    """

    recorded_at: _dt.datetime | None
    event_id: uuid.UUID | None = None
    event: PipelineEvent | None = None
    latest: bool = False

    @classmethod
    def of(cls, ev: PipelineEvent, *, latest: bool = False) -> SincePoint:
        return cls(ev.recorded_at, ev.event_id, ev, latest)

    def hides(self, polled: PipelineEvent) -> bool:
        """Whether ``polled``, a poll's ``latest``, is at or before this point (never
        terminal): an anchor the server dated in the future hides no later event."""
        if self.latest and polled.event_id != self.event_id:
            return False
        return self.covers(polled)

    def covers(self, ev: PipelineEvent) -> bool:
        if self.recorded_at is not None and self.event_id is not None:
            return order_key(ev) <= (self.recorded_at, self.event_id)
        if self.event_id is not None:
            return ev.event_id.int <= self.event_id.int
        assert self.recorded_at is not None
        return ev.recorded_at <= self.recorded_at


#: Before every event: every event to come is new.
BEGINNING: Final = SincePoint(_dt.datetime.min.replace(tzinfo=_dt.UTC))


def parse_since(since: object) -> SincePoint | uuid.UUID | Literal["now"]:
    """A resolved :class:`SincePoint`, or what the machine must read first (an id, ``"now"``)."""
    if isinstance(since, PipelineEvent):
        return SincePoint.of(since)
    if isinstance(since, _dt.datetime):
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError("since must be a timezone-aware datetime (e.g. with tzinfo=UTC)")
        return SincePoint(since)
    if isinstance(since, uuid.UUID):
        return since
    if isinstance(since, str):
        if since == "now":
            return "now"
        try:
            return uuid.UUID(since)
        except ValueError:
            raise ValueError(
                "since must be an event, an event id (UUID), an aware datetime or 'now', "
                f"got {since!r}"
            ) from None
    raise TypeError(
        "since must be a PipelineEvent, an event id, a datetime or 'now', "
        f"got {type(since).__name__}"
    )


@attrs.define
class SinceRule:
    """What ``since=`` means for one wait (no ``since``: no point, nothing hidden).

    ``to_read``: the id or ``"now"`` still to be read before the point is known.
    ``anew``: a success that already held at the point counts only once it is a new one
    (after a restart). ``left``: an event after the point at which the success did not
    hold was seen, so any later success is new. ``checked``: a success the list showed
    to be the one that held at the point (not read again for it).
    """

    point: SincePoint | None = None
    to_read: uuid.UUID | Literal["now"] | None = None
    anew: bool = False
    left: bool = False
    checked: uuid.UUID | None = None

    @classmethod
    def of(cls, since: object, *, anew: bool = False) -> SinceRule:
        if since is None:
            return cls()
        parsed = parse_since(since)
        if isinstance(parsed, SincePoint):
            return cls(parsed, anew=anew)
        return cls(to_read=parsed, anew=anew)

    # -- the point ---------------------------------------------------------------------

    def first_read(self) -> Request | None:
        """The request that finds the point (``latest`` for ``"now"``), or None."""
        to_read = self.to_read
        if to_read is None:
            return None
        return LATEST if to_read == "now" else Request("event", to_read)

    def read(self, ev: PipelineEvent) -> SincePoint:
        """The answer to :meth:`first_read`: the point is that event."""
        self.point = SincePoint.of(ev, latest=self.to_read == "now")
        self.to_read = None
        return self.point

    def unread(self, exc: BaseException) -> SincePoint | None:
        """The point when :meth:`first_read` failed with ``exc``; None: the error stands.

        ``"now"`` with no event yet (or no pipeline yet): every event to come is new, and
        none held before. An id that is gone (cleaned up): the manager's ids are UUIDv7,
        ordered by the time they were made, so the id itself is the point.
        """
        to_read = self.to_read
        if to_read == "now" and isinstance(exc, NoEventsYetError | PipelineNotFoundError):
            point, self.anew = BEGINNING, False
        elif (
            isinstance(to_read, uuid.UUID)
            and to_read.version == 7
            and isinstance(exc, EventNotFoundError | PipelineNotFoundError)
        ):
            point = SincePoint(None, to_read)
        else:
            return None
        self.point, self.to_read = point, None
        return point

    def hides(self, polled: PipelineEvent) -> bool:
        return self.point is not None and self.point.hides(polled)

    # -- the restart rule -----------------------------------------------------------------

    def counts(self, ev: PipelineEvent, holds: Callable[[PipelineEvent], bool]) -> bool | None:
        """Whether a success at ``ev`` (after the point) ends the wait: True; False: it is
        the one that held at the point (:meth:`confirm` said so); None: only the list can
        tell (read it and :meth:`confirm`). ``holds``: whether the success holds at an event.

        A success is new unless it held at the point and every poll since saw it hold
        (polls can miss a quick restart); one still initializing at the point is new.
        """
        point = self.point
        if not self.anew or point is None or self.left:
            return True
        if point.event is not None and not holds(point.event):
            return True
        return False if self.checked == ev.event_id else None

    def confirm(
        self,
        events: Sequence[PipelineEvent],
        candidate: PipelineEvent,
        holds: Callable[[PipelineEvent], bool],
    ) -> bool:
        """Whether ``candidate`` is a new success by the list ``events``: the success did not
        hold at an event between the point and it, or (a point known without its event)
        at the last event at or before the point, or nothing is known before it."""
        point = self.point
        assert point is not None
        key = order_key(candidate)
        between = [ev for ev in events if not point.covers(ev) and order_key(ev) <= key]
        if any(not holds(ev) for ev in between):
            self.left = True
            return True
        if point.event is None:
            before = [ev for ev in events if point.covers(ev)]
            if not before or not holds(max(before, key=order_key)):
                return True
        self.checked = candidate.event_id
        return False

    def held(self, last: PipelineEvent | None, holds: Callable[[PipelineEvent], bool]) -> bool:
        """The success held at the point and still holds at ``last``: only a new one would
        have counted (a timeout says so)."""
        return (
            self.anew
            and self.point is not None
            and not self.left
            and last is not None
            and holds(last)
        )
