"""Progress displays of ``wait`` (and the demo): a rich live block on a terminal, one line per change elsewhere.

Two displays with one interface, and their shared rows (:class:`Progress`):

* :class:`LiveProgress` on a terminal: one row per pipeline (mark, name, status, elapsed
  time, outcome) redrawn in place by :mod:`rich`, which handles the cursor and
  ``NO_COLOR``; each frame is laid out for the terminal's width at that moment (rows
  are cut with an ellipsis, never wrapped), so a resize leaves no debris.
* :class:`LineProgress` for everything else (CI logs, files, pipes): one timestamped
  line per status change or retry, nothing else; no escape sequences.

Both only write; the wait itself lives in :mod:`feldera_events.cli._wait_command`. Text for a
terminal besides the rows (a failure report, the demo's prose) is wrapped at words by
:func:`wrap_for`, at the width :func:`terminal_columns` measures on the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import os
import re
import textwrap
from typing import TextIO

import attrs
from rich.cells import cell_len
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from .._pipeline_event import PipelineEvent
from .._poller import Outcome, WaitResult
from .._wait_errors import approval_text, awaits_approval
from ._render import (
    OUTCOMES,
    approval_words,
    format_time,
    name_text,
    outcome_style,
    outcome_word,
    short_name,
)

__all__ = [
    "LineProgress",
    "cut_names",
    "LiveProgress",
    "Progress",
    "make_progress",
    "terminal_columns",
    "wrap_for",
]


@attrs.define
class _Row:
    """What one pipeline's row shows."""

    status: str = "waiting for the first event"
    last: PipelineEvent | None = None
    result: WaitResult | None = None
    #: Seconds the wait had run when it was interrupted (Ctrl-C, SIGTERM) before its end.
    interrupted: float | None = None
    failure: str = ""
    failures: int = 0
    #: The event, while the runtime waits for an approval of its changes.
    approval: PipelineEvent | None = None
    spinner: Spinner = attrs.field(factory=lambda: Spinner("line"))

    @property
    def done(self) -> bool:
        return self.result is not None or self.interrupted is not None

    def finished(self, result: WaitResult) -> None:
        """The outcome is known. One an event decided (provisioned, failed) drops the retry
        note: it would be stale (a request retried while the failure was read in full);
        a timeout or an error keeps it (failing requests may be why)."""
        self.result = result
        if result.outcome in (Outcome.SUCCEEDED, Outcome.FAILED):
            self.failures, self.failure = 0, ""

    def event(self, ev: PipelineEvent) -> bool:
        """Record ``ev``; False when it is a heartbeat (no status change)."""
        previous, self.last = self.last, ev
        self.failures, self.failure = 0, ""
        if previous is not None and ev.same_status(previous):
            return False
        self.status = ev.status_text(previous)
        self.approval = ev if awaits_approval(ev) else None
        return True

    def retrying(self, failure: str) -> bool:
        """Count a failed request; False once the row is done (no longer news)."""
        if self.done:
            return False
        if failure != self.failure:
            self.failures = 0
        self.failure = failure
        self.failures += 1
        return True

    def retry_text(self, width: int | None = None) -> str:
        """``retrying: CAUSE, N times``; within ``width`` cells the cause is cut first
        (the count stays)."""
        times = "once" if self.failures == 1 else f"{self.failures} times"
        text = f"retrying: {self.failure}, {times}"
        if width is None or cell_len(text) <= width:
            return text
        room = width - (cell_len(text) - cell_len(self.failure))  # what is left for the cause
        if room < 4:
            return text  # too narrow for any of the cause: rich cuts the note at its end
        cause = Text(self.failure)
        cause.truncate(room, overflow="ellipsis")
        return f"retrying: {cause.plain}, {times}"


def _approval_note(event: PipelineEvent | None) -> str:
    """The live row's note while it awaits approval: what awaits it, when the event says."""
    changes = "" if event is None else approval_text(event)
    return f"awaits approval: {changes}" if changes else "awaits approval"


def cut_names(names: list[str], width: int) -> dict[str, str]:
    """Each name within ``width`` characters: a longer one loses its middle
    (``pipel…ine-12``), and the rows stay apart: of the ways to cut, the first that
    leaves every name distinct (a third of the room for the start, then less and less
    start and more of the end, which tells ``pipeline-1`` from ``pipeline-12``)."""
    if all(len(n) <= width for n in names):
        return {n: n for n in names}
    keep = max(width - 1, 1)
    first = keep // 3
    fallback: dict[str, str] = {}
    for head in (first, *range(first - 1, -1, -1), *range(first + 1, keep + 1)):
        tail = keep - head
        tried = {
            n: n if len(n) <= width else n[:head] + "…" + (n[len(n) - tail :] if tail else "")
            for n in names
        }
        if len(set(tried.values())) == len(tried):
            return tried
        fallback = fallback or tried  # none tells them apart: the first, most readable
    return fallback


class Progress:
    """What both displays share: a row per pipeline, and the time the wait began."""

    def __init__(self, names: list[str]) -> None:
        self._rows = {name: _Row() for name in names}
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()

    def _interrupted(self, exc: BaseException | None) -> list[str]:
        """When ``__aexit__``'s ``exc`` is Ctrl-C or SIGTERM (a cancelled wait): the rows
        not done, marked interrupted."""
        if not isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
            return []
        names = [name for name, row in self._rows.items() if not row.done]
        elapsed = self._loop.time() - self._start
        for name in names:
            self._rows[name].interrupted = elapsed
        return names


class LineProgress(Progress):
    """One timestamped line per status change or retry (not a terminal)."""

    def __init__(self, stream: TextIO, names: list[str]) -> None:
        self._stream = stream
        # A long name shortened, as in every other line (whole when two would look alike).
        self._labels = {name: short_name(name) for name in names}
        if len(set(self._labels.values())) < len(names):
            self._labels = {name: name_text(name) for name in names}
        self._width = max((len(n) for n in self._labels.values()), default=0)
        super().__init__(names)

    def _write(self, name: str, text: str) -> None:
        stamp = format_time(_dt.datetime.now(_dt.UTC))
        self._stream.write(f"{stamp}  {self._labels[name]:<{self._width}}  {text}\n")
        self._stream.flush()

    def event(self, name: str, ev: PipelineEvent) -> None:
        row = self._rows[name]
        if not row.event(ev):
            return  # a heartbeat: not a status change
        elapsed = self._loop.time() - self._start
        recorded = format_time(ev.recorded_at)
        self._write(name, f"{row.status}  (recorded {recorded}; +{elapsed:.1f}s)")
        if row.approval is not None:
            self._write(name, approval_words(name, row.approval))

    def retrying(self, name: str, failure: str) -> None:
        row = self._rows[name]
        # The first failure, then at 2, 4, 8... of the same kind: a long outage stays short.
        if row.retrying(failure) and row.failures & (row.failures - 1) == 0:
            self._write(name, row.retry_text())

    def finished(self, result: WaitResult) -> None:
        self._rows[result.pipeline_name].finished(result)
        word = outcome_word(result)
        self._write(result.pipeline_name, f"{word} after {result.elapsed:.1f}s")

    async def __aenter__(self) -> LineProgress:
        return self

    async def __aexit__(self, _: object, exc: BaseException | None, __: object) -> None:
        for name in self._interrupted(exc):
            self._write(name, f"interrupted after {self._rows[name].interrupted:.1f}s")


def terminal_columns(stream: TextIO) -> int | None:
    """The width of the terminal ``stream`` writes to: ``COLUMNS`` if set, else measured
    on ``stream`` (None: not a terminal).

    Not rich's or :func:`shutil.get_terminal_size`'s: they ask stdin or stdout first, so a
    CLI whose stdin is another terminal (or one of another size) would use the wrong width.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, ValueError, OSError):
        return None


#: A list marker at the start of a line (after its indent): ``- `` or ``1. ``.
_MARKER = re.compile(r" *(?:- |\d+\. )?")


def wrap_for(stream: TextIO, text: str) -> str:
    """``text`` wrapped at words for the terminal ``stream`` writes to (unchanged when
    ``stream`` is not a terminal: logs and pipes keep whole lines).

    Each line keeps its indent; its continuation lines hang under the text after a list
    marker, else two columns deeper. No word is split (one longer than a line stays
    whole), none at a hyphen, and no line reaches the last column (where a terminal
    would wrap on its own; a continuation line hangs less where its longest word would
    otherwise reach it).
    """
    if not stream.isatty():
        return text
    width = (terminal_columns(stream) or 80) - 1
    return "\n".join(_wrap_line(line, width) for line in text.split("\n"))


def _wrap_line(line: str, width: int) -> str:
    if cell_len(line) <= width:
        return line
    body = line.lstrip(" ")
    indent = " " * (len(line) - len(body))
    lead = _MARKER.match(line)
    hang = len(lead.group()) if lead and len(lead.group()) > len(indent) else len(indent) + 2
    # Less hang where the longest word would otherwise reach the last column (a path of
    # 34 characters under 7 spaces at 40 columns: the terminal wrapped its last letter).
    hang = max(0, min(hang, width - max((len(word) for word in body.split()), default=0)))
    return textwrap.fill(
        body,
        width,
        initial_indent=indent,
        subsequent_indent=" " * hang,
        break_long_words=False,
        break_on_hyphens=False,
    )


class LiveProgress(Progress):
    """A live row per pipeline, redrawn in place by rich (a terminal)."""

    #: Redraws per second (for the elapsed time and the spinner).
    FPS = 8

    def __init__(self, stream: TextIO, names: list[str]) -> None:
        self._stream = stream
        self._console = Console(
            file=stream,
            force_terminal=True,
            # An empty NO_COLOR leaves colour on (no-color.org); some rich versions disagree.
            no_color=bool(os.environ.get("NO_COLOR")),
            highlight=False,
            width=terminal_columns(stream),
        )
        # The names as people see them (escaped), the rows' keys.
        self._shown = {name: name_text(name) for name in names}
        super().__init__(names)
        self._live = Live(
            console=self._console,
            get_renderable=self._render,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._ticker: asyncio.Task[None] | None = None

    def event(self, name: str, ev: PipelineEvent) -> None:
        if self._rows[name].event(ev):
            self._refresh()

    def retrying(self, name: str, failure: str) -> None:
        if self._rows[name].retrying(failure):
            self._refresh()

    def finished(self, result: WaitResult) -> None:
        self._rows[result.pipeline_name].finished(result)
        self._refresh()

    #: Cells a row leaves free at the right: none in the last column (a terminal would wrap
    #: there), and room for the ``^C`` a terminal echoes after the last row on Ctrl-C (were
    #: it to wrap, the final frame would be drawn a line too low: a duplicated first row).
    _MARGIN = 3
    #: The status is cut down to this before any name is cut (the name is the row's key).
    _MIN_STATUS_CELLS = 8
    _MIN_NAME = 8

    def _widths(self) -> tuple[int, int]:
        """(name, status) column widths that make each row fit the terminal: the names
        whole while the status keeps :attr:`_MIN_STATUS_CELLS` (and two thirds of the room
        at most); narrower, names are cut (:func:`cut_names`)."""
        fixed = 1 + self._ELAPSED + self._WORD + 4  # mark, elapsed, word, four gaps
        room = self._console.width - self._MARGIN - fixed  # for the name and the status
        longest = max((len(n) for n in self._shown.values()), default=1)
        # A very long name (or a wide terminal's worth of it) leaves a third to the status.
        most = max(room - self._MIN_STATUS_CELLS, self._MIN_NAME)
        name = min(longest, most, max(2 * room // 3, self._MIN_NAME))
        return name, max(1, room - name)

    _ELAPSED = 7  # "9999.9s"
    _WORD = max(len(s.word) for s in OUTCOMES.values())

    def _render(self) -> Table:
        # The width now, of the terminal the stream writes to (fixed at the start, a
        # narrowed terminal would wrap each row: debris of stale copies on screen).
        width = terminal_columns(self._stream)
        if width is not None:
            self._console.width = width
        name_width, status_width = self._widths()
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True, width=1)  # spinner or mark
        table.add_column(no_wrap=True, overflow="ellipsis", width=name_width)
        table.add_column(no_wrap=True, overflow="ellipsis", width=status_width)
        table.add_column(no_wrap=True, justify="right", width=self._ELAPSED)
        table.add_column(no_wrap=True, overflow="ellipsis", width=self._WORD)
        now = self._loop.time()
        labels = cut_names(list(self._shown.values()), name_width)
        for name, row in self._rows.items():
            status = self._status(row, status_width)
            if row.result is not None:
                style = outcome_style(row.result)
                mark: Spinner | Text = Text(style.mark, style=style.colour)
                elapsed = row.result.elapsed
                word = Text(outcome_word(row.result), style=f"bold {style.colour}")
            elif row.interrupted is not None:
                style = OUTCOMES["interrupted"]
                mark = Text(style.mark, style=style.colour)
                elapsed = row.interrupted
                word = Text(style.word, style=f"bold {style.colour}")
            else:
                mark = row.spinner
                elapsed = now - self._start
                word = Text("")
            table.add_row(mark, Text(labels[self._shown[name]]), status, f"{elapsed:.1f}s", word)
        return table

    #: The least of the status worth showing beside a retry note (else the note alone).
    _MIN_STATUS = 10

    def _status(self, row: _Row, width: int) -> Text:
        """The status cell: the status, then the retry note (if any) in yellow.

        Too narrow for both, the status is cut first (while requests fail it is the last
        known one; the note is the news), then dropped; the note's cause is cut last.
        """
        status = Text(row.status)
        if not row.failures and row.approval is None:
            return status
        note = row.retry_text() if row.failures else _approval_note(row.approval)
        room = width - 2 - cell_len(note)
        if room < self._MIN_STATUS:
            return Text(row.retry_text(width) if row.failures else note, style="yellow")
        status.truncate(room, overflow="ellipsis")
        status.append(f"  {note}", style="yellow")
        return status

    def _refresh(self) -> None:
        if self._live.is_started:
            self._live.refresh()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1 / self.FPS)
            self._refresh()

    async def __aenter__(self) -> LiveProgress:
        self._live.start(refresh=True)
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, _: object, exc: BaseException | None, __: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._interrupted(exc)  # the rows not done say so, instead of spinning on
        # The last frame stays on screen; the cursor comes back (also on Ctrl-C).
        self._live.stop()


def make_progress(stream: TextIO, names: list[str]) -> LiveProgress | LineProgress:
    """The display that fits ``stream``: live rows on a terminal, log lines otherwise
    (a success says what was waited for: ``WaitResult.until``)."""
    if stream.isatty() and os.environ.get("TERM") != "dumb":
        return LiveProgress(stream, names)
    return LineProgress(stream, names)
