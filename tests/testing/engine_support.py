"""A manual scheduler and clock for driving the lifecycle engine without sockets or asyncio."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any

from feldera_events.testing._model import UUIDv7Factory
from feldera_events.testing._operations import Engine

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class _Handle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """Time moves only in :meth:`advance`/:meth:`run`; due callbacks run in time order."""

    def __init__(self) -> None:
        self.time = 0.0
        self._queue: list[tuple[float, int, _Handle, Callable[[], None]]] = []
        self._order = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], None], /) -> _Handle:
        handle = _Handle()
        heapq.heappush(self._queue, (self.time + delay, next(self._order), handle, callback))
        return handle

    def now(self) -> dt.datetime:
        return START + dt.timedelta(seconds=self.time)

    @property
    def pending(self) -> int:
        return sum(1 for _, _, h, _ in self._queue if not h.cancelled)

    def advance(self, seconds: float) -> None:
        """Run every callback due within ``seconds`` from now, then set the time."""
        end = self.time + seconds
        while self._queue and self._queue[0][0] <= end:
            when, _, handle, callback = heapq.heappop(self._queue)
            if handle.cancelled:
                continue
            self.time = when
            callback()
        self.time = end

    def run(self, limit: float = 10_000.0) -> None:
        """Run until nothing is scheduled (or ``limit`` seconds passed)."""
        end = self.time + limit
        while self.pending and self.time < end:
            self.advance(min(self._queue[0][0], end) - self.time)


def make_engine(**options: Any) -> tuple[Engine, ManualScheduler]:
    scheduler = ManualScheduler()
    engine = Engine(
        call_later=scheduler.call_later,
        now=scheduler.now,
        ids=UUIDv7Factory(random.Random(0)),
        **options,
    )
    return engine, scheduler


Row = tuple[Any, ...]


def rows(engine: Engine, name: str, *keys: str) -> list[Row]:
    """Chosen fields of every retained event, oldest first."""
    keys = keys or (
        "deployment_resources_status",
        "deployment_resources_desired_status",
        "deployment_runtime_status",
        "deployment_runtime_desired_status",
    )
    return [tuple(e[k] for k in keys) for e in reversed(engine.get(name).events.newest_first())]
