"""Owns the fake's ties to asyncio: the loop scheduler the engine runs on, the change
signal every state change fires, and waiting on a predicate until it holds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from feldera_events.testing._model import Cancellable

__all__ = ["ChangeSignal", "LoopScheduler", "wait_until"]


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
