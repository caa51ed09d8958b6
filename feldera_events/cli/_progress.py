"""Progress displays of the ``wait`` command (and the ``demo``).

Two renderers with one interface:

* :class:`TerminalProgress` for a terminal: one live line per pipeline (status and
  elapsed time) redrawn in place with ANSI cursor movement, several times a second.
* :class:`LineProgress` for everything else (CI logs, files, pipes): one timestamped
  line per status change, nothing else; no escape sequences.

Both only write; the wait itself lives in :mod:`feldera_events.cli._wait`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import os
from typing import Protocol, TextIO

from .._models import PipelineEvent
from .._poller import Outcome, WaitResult
from ._render import format_time

__all__ = [
    "LineProgress",
    "Progress",
    "TerminalProgress",
    "make_progress",
    "outcome_text",
]

#: ANSI sequences (ECMA-48): cursor up N lines, erase line, hide/show cursor, colours.
CSI = "\x1b["
ERASE_LINE = CSI + "2K"
HIDE_CURSOR = CSI + "?25l"
SHOW_CURSOR = CSI + "?25h"
_SPINNER = "|/-\\"
_COLOURS = {
    Outcome.SUCCEEDED: "32",  # green
    Outcome.FAILED: "31",  # red
    Outcome.ERROR: "31",
    Outcome.TIMED_OUT: "33",  # yellow
    Outcome.CANCELLED: "33",
}


def outcome_text(result: WaitResult) -> str:
    """A short word for how a wait ended."""
    return {
        Outcome.SUCCEEDED: "provisioned",
        Outcome.FAILED: "FAILED",
        Outcome.TIMED_OUT: "TIMED OUT",
        Outcome.ERROR: "ERROR",
        Outcome.CANCELLED: "cancelled",
    }[result.outcome]


class Progress(Protocol):
    """What the wait reports to a display."""

    def event(self, name: str, ev: PipelineEvent) -> None: ...

    def finished(self, result: WaitResult) -> None: ...

    async def __aenter__(self) -> Progress: ...

    async def __aexit__(self, *exc: object) -> None: ...


class LineProgress:
    """One timestamped line per status change (not a terminal)."""

    def __init__(self, stream: TextIO, names: list[str]) -> None:
        self._stream = stream
        self._width = max((len(n) for n in names), default=0)
        self._last: dict[str, PipelineEvent] = {}
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()

    def _write(self, name: str, text: str) -> None:
        stamp = format_time(_dt.datetime.now(_dt.UTC))
        self._stream.write(f"{stamp}  {name:<{self._width}}  {text}\n")
        self._stream.flush()

    def event(self, name: str, ev: PipelineEvent) -> None:
        previous = self._last.get(name)
        self._last[name] = ev
        if previous is not None and ev.same_status(previous):
            return  # a heartbeat: not a status change
        elapsed = self._loop.time() - self._start
        recorded = format_time(ev.recorded_at)
        self._write(name, f"{ev.describe()}  (recorded {recorded}; +{elapsed:.1f}s)")

    def finished(self, result: WaitResult) -> None:
        self._write(result.pipeline_name, f"{outcome_text(result)} after {result.elapsed:.1f}s")

    async def __aenter__(self) -> LineProgress:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Row:
    __slots__ = ("elapsed", "result", "status")

    def __init__(self) -> None:
        self.status = "waiting for the first event"
        self.result: WaitResult | None = None
        self.elapsed = 0.0


class TerminalProgress:
    """A live line per pipeline, redrawn in place (a terminal)."""

    #: Seconds between redraws (for the elapsed time and the spinner).
    TICK = 0.1

    def __init__(self, stream: TextIO, names: list[str], *, colour: bool | None = None) -> None:
        self._stream = stream
        self._names = names
        self._width = max((len(n) for n in names), default=0)
        self._rows = {name: _Row() for name in names}
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._drawn = 0
        self._frame = 0
        self._ticker: asyncio.Task[None] | None = None
        self._colour = (not os.environ.get("NO_COLOR")) if colour is None else colour

    def event(self, name: str, ev: PipelineEvent) -> None:
        self._rows[name].status = ev.describe()
        self._draw()

    def finished(self, result: WaitResult) -> None:
        row = self._rows[result.pipeline_name]
        row.result = result
        row.elapsed = result.elapsed
        self._draw()

    def _line(self, name: str, row: _Row) -> str:
        if row.result is None:
            mark = _SPINNER[self._frame % len(_SPINNER)]
            elapsed = self._loop.time() - self._start
            return f" {mark} {name:<{self._width}}  {row.status:<48} {elapsed:6.1f}s"
        word = outcome_text(row.result)
        if self._colour:
            word = f"{CSI}{_COLOURS[row.result.outcome]}m{word}{CSI}0m"
        mark = "+" if row.result.ok else "x"
        return f" {mark} {name:<{self._width}}  {row.status:<48} {row.elapsed:6.1f}s  {word}"

    def _draw(self) -> None:
        out = []
        if self._drawn:
            out.append(f"{CSI}{self._drawn}A")  # back to the first line of the block
        for name in self._names:
            out.append(f"\r{ERASE_LINE}{self._line(name, self._rows[name])}\n")
        self._drawn = len(self._names)
        self._stream.write("".join(out))
        self._stream.flush()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.TICK)
            self._frame += 1
            self._draw()

    async def __aenter__(self) -> TerminalProgress:
        self._stream.write(HIDE_CURSOR)
        self._draw()
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._draw()
        self._stream.write(SHOW_CURSOR)
        self._stream.flush()


def make_progress(stream: TextIO, names: list[str]) -> TerminalProgress | LineProgress:
    """The display that fits ``stream``: live lines on a terminal, log lines otherwise."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty() and os.environ.get("TERM") != "dumb":
        return TerminalProgress(stream, names)
    return LineProgress(stream, names)
