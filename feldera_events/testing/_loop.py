"""Owns the fake's ties to asyncio: the loop scheduler the engine runs on, the change
signal every state change fires, waiting on a predicate until it holds, and the facade's
``wait_for*`` methods built on that."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from feldera_events.testing._model import Cancellable, RequestRecord
from feldera_events.testing._operations import Engine
from feldera_events.testing._traffic import Traffic

__all__ = ["ChangeSignal", "LoopScheduler", "Waits", "wait_until"]


class LoopScheduler:
    """The engine's scheduler: ``call_later`` on the loop the fake first ran on."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def call_later(self, delay: float, callback: Callable[[], None], /) -> Cancellable:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        return self.loop.call_later(delay, callback)


class ChangeSignal:
    """Wakes every waiter once per state change (a fresh event per generation)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def notify(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


async def wait_until(
    signal: ChangeSignal, predicate: Callable[[], Any], *, timeout: float, what: str
) -> Any:
    """Return ``predicate()`` once truthy, re-checked after every change; ``TimeoutError``
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        changed = signal.event
        result = predicate()
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), remaining)


class Waits:
    """``FakeFeldera``'s waits: each wakes on every state change, never sleeps."""

    _engine: Engine
    _signal: ChangeSignal
    _traffic: Traffic

    async def wait_for(
        self, predicate: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait until ``predicate()`` returns something truthy (re-checked after every
        state change); return it.  Raises ``TimeoutError``."""
        return await wait_until(self._signal, predicate, timeout=timeout, what=what)

    async def wait_for_status(
        self, name: str, *, timeout: float = 5.0, **fields: Any
    ) -> dict[str, Any]:
        """Wait until every given field of ``status(name)`` equals its value, e.g.
        ``await fake.wait_for_status("p", deployment_resources_status="Provisioned")``."""

        def check() -> dict[str, Any] | None:
            p = self._engine.find(name)
            if p is None:
                return None
            view = p.status_view()
            return view if all(view.get(k) == v for k, v in fields.items()) else None

        result: dict[str, Any] = await self.wait_for(
            check, timeout=timeout, what=f"{name} to reach {fields}; now {self._peek(name)}"
        )
        return result

    async def wait_for_event(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 5.0,
        **fields: Any,
    ) -> dict[str, Any]:
        """Wait until a retained event (``selector=all``) matches ``predicate`` and/or the
        given fields; return the newest such event."""

        def check() -> dict[str, Any] | None:
            p = self._engine.find(name)
            if p is None:
                return None
            for event in reversed(p.events.items):
                data = event.data
                if all(data.get(k) == v for k, v in fields.items()) and (
                    predicate is None or predicate(data)
                ):
                    return dict(data)
            return None

        result: dict[str, Any] = await self.wait_for(
            check, timeout=timeout, what=f"an event of {name} matching {fields or predicate}"
        )
        return result

    async def wait_for_requests(
        self, count: int, *, timeout: float = 5.0, **fields: Any
    ) -> list[RequestRecord]:
        """Wait until at least ``count`` logged requests match the given record fields."""

        def check() -> tuple[list[RequestRecord]] | None:
            hits = self._traffic.matching_requests(**fields)
            return (hits,) if len(hits) >= count else None

        result: tuple[list[RequestRecord]] = await self.wait_for(
            check, timeout=timeout, what=f"{count} requests matching {fields}"
        )
        return result[0]

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered (e.g. held by ``stop_answering``)."""
        return self._traffic.in_flight

    def _peek(self, name: str) -> str:
        p = self._engine.find(name)
        return "missing" if p is None else str(p.status_view())
