"""The live display of ``wait`` in a terminal emulator (pyte), at several widths.

The CLI runs under a pseudo-terminal of a given size; everything it writes is fed to
pyte, and the assertions are about the final screen a person would see, never about
escape sequences.
"""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import re
import signal
import struct
import termios
import time
from collections.abc import AsyncIterator, Callable

import pyte
import pytest
from cli_support import clean_env, cli_argv, finish, spawn
from helpers import event_json
from rich.spinner import Spinner

from feldera_events import Outcome, PipelineEvent, WaitResult
from feldera_events._convert import structure
from feldera_events.cli._demo import TRY_NEXT
from feldera_events.cli._progress import LineProgress, LiveProgress, cut_names, wrap_for
from feldera_events.cli._render import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_TIMEOUT,
)
from feldera_events.testing import FakeFeldera, Fault, Timings

FAST = ("--poll-interval", "0.05")
#: The longest name the manager accepts (63 bytes): wider than a narrow terminal's row.
LONG = "a-pipeline-with-a-rather-long-name-that-cannot-fit-a-narrow-tty"
ROWS = 40


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=20) as server:
        yield server


class Terminal:
    """A CLI process on a pseudo-terminal of ``columns`` x ``rows``, rendered by pyte."""

    def __init__(self, columns: int, *, stdin_columns: int | None = None, rows: int = ROWS) -> None:
        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self.screen)
        self.master, self._slave = pty.openpty()
        fcntl.ioctl(self._slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        # Optionally a second terminal, of another size, as the CLI's stdin.
        self._stdin: int | None = None
        self._stdin_master: int | None = None
        if stdin_columns is not None:
            self._stdin_master, self._stdin = pty.openpty()
            size = struct.pack("HHHH", ROWS, stdin_columns, 0, 0)
            fcntl.ioctl(self._stdin, termios.TIOCSWINSZ, size)
        self._chunks: list[bytes] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Future[None] | None = None
        self.started = 0.0

    async def start(self, *args: str, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        try:
            self.proc = await spawn(
                cli_argv(*args),
                env=clean_env({"TERM": "xterm", **env}),
                stdout=self._slave,
                stdin=self._stdin if self._stdin is not None else asyncio.subprocess.DEVNULL,
            )
        finally:
            os.close(self._slave)
            if self._stdin is not None:
                os.close(self._stdin)
        self._reader = asyncio.ensure_future(asyncio.to_thread(self._drain))

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            self._chunks.append(data)

    def output(self) -> bytes:
        return b"".join(self._chunks)

    async def finish(self) -> int:
        assert self.proc is not None and self._reader is not None
        try:
            ran = await finish(self.proc, self.started, 60)
            await asyncio.wait_for(self._reader, 30)
        finally:
            os.close(self.master)
            if self._stdin_master is not None:
                os.close(self._stdin_master)
        self._stream.feed(self.output())
        return ran.returncode

    def lines(self) -> list[str]:
        return self.lines_of(self.screen)

    @staticmethod
    def lines_of(screen: pyte.Screen) -> list[str]:
        """The screen's lines that hold something, without trailing blanks."""
        return [line.rstrip() for line in screen.display if line.strip()]


#: What a row of the live block begins with: its mark once ended (``+``, ``x``, ``!``),
#: or a frame of the "line" spinner while it waits (which frame depends on the time).
ROW_MARKS = ("+ ", "x ", "! ", *(f"{frame} " for frame in Spinner("line").frames))


def row_of(lines: list[str], name: str) -> list[str]:
    """Lines of the live block (a mark, a space, then the name, or its middle cut)."""
    found = []
    for line in lines:
        if line[:2] not in ROW_MARKS or " " not in line[2:]:
            continue
        shown = line[2:].split(" ", 1)[0]
        head, cut, tail = shown.partition("…")
        if shown == name or (cut and name.startswith(head) and name.endswith(tail)):
            found.append(line)
    return found


@pytest.mark.parametrize(
    ("columns", "stdin_columns"),
    # The last: stdin is another, wider terminal (rich would ask it first for the width).
    [(60, None), (80, None), (120, None), (60, 200)],
)
async def test_one_line_per_pipeline_at_any_width(
    fake: FakeFeldera, columns: int, stdin_columns: int | None
) -> None:
    fake.create_pipeline("orders", timings=Timings(provisioning=10))  # 0.5 s at speed 20
    fake.create_pipeline(LONG)
    fake.create_pipeline("fails")
    fake.fail_next_start("fails", "provision_check")
    for name in ("orders", LONG, "fails"):
        fake.start(name)
    term = Terminal(columns, stdin_columns=stdin_columns)
    await term.start(
        "wait", "orders", LONG, "fails", "--timeout", "30", *FAST, env={"FELDERA_HOST": fake.url}
    )
    code = await term.finish()
    lines = term.lines()
    assert code == EXIT_FAILED, lines
    # The live block is the first three lines of the screen, one per pipeline, and
    # nothing else comes before the failure report: no wrapped pieces, no stale copies.
    report = next(i for i, line in enumerate(lines) if line.startswith("pipeline 'fails'"))
    assert report == 3, lines
    for name in ("orders", LONG, "fails"):
        assert len(row_of(lines[:3], name)) == 1, (name, lines)
    assert "provisioned" in row_of(lines, "orders")[0]
    assert "FAILED" in row_of(lines, "fails")[0]
    assert all(len(line) < columns for line in lines), lines  # the report wrapped at words
    # Several pipelines: the last line counts how they ended.
    assert re.fullmatch(r"2 provisioned, 1 failed \(3 pipelines, \d+\.\ds\)", lines[-1]), lines
    assert not term.screen.cursor.hidden  # the cursor came back


@pytest.mark.parametrize(
    ("no_color", "expected"),
    # An empty NO_COLOR is no request (no-color.org: "present and not an empty string").
    [(None, "green"), ("", "green"), ("1", "default")],
)
async def test_outcome_colour_and_no_color(
    fake: FakeFeldera, no_color: str | None, expected: str
) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    term = Terminal(80)
    env = {"FELDERA_HOST": fake.url, **({"NO_COLOR": no_color} if no_color is not None else {})}
    await term.start("wait", "p", "--timeout", "30", *FAST, env=env)
    assert await term.finish() == EXIT_OK
    # One pipeline: its row says how it ended; no second line says it again.
    assert [line for line in term.lines() if "provisioned" in line] == row_of(term.lines(), "p")
    y, line = next((y, ln) for y, ln in enumerate(term.screen.display) if ln.startswith("+ p"))
    x = line.index("provisioned")
    assert term.screen.buffer[y][x].fg == expected


async def test_until_running_row_says_running(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    term = Terminal(80)
    await term.start(
        "wait", "p", "--until", "running", "--timeout", "30", *FAST, env={"FELDERA_HOST": fake.url}
    )
    assert await term.finish() == EXIT_OK
    lines = term.lines()
    row = row_of(lines, "p")
    assert len(row) == 1 and row[0].rstrip().endswith("running"), lines
    assert "provisioned" not in row[0], lines


async def test_retry_note_is_whole_at_80_columns(fake: FakeFeldera) -> None:
    """Every request answered by a proxy's 502: the row keeps the retry note whole (its
    cause and count) and cuts the status instead; the row still ends with the time and
    the outcome."""
    fake.create_pipeline("pipeline-1")
    fake.inject(Fault.proxy_502(), pipeline="pipeline-1")
    term = Terminal(80)
    await term.start("wait", "pipeline-1", "--timeout", "3", *FAST, env={"FELDERA_HOST": fake.url})
    assert await term.finish() == EXIT_TIMEOUT
    lines = term.lines()
    row = row_of(lines, "pipeline-1")
    assert len(row) == 1, lines
    note = r"  retrying: HTTP 502, (once|\d+ times) +\d+\.\ds TIMED OUT"
    assert re.fullmatch(r"! pipeline-1 waiting for .*" + note, row[0]), lines


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)]
)
async def test_interrupted_wait_restores_the_cursor(
    fake: FakeFeldera, sig: signal.Signals, code: int
) -> None:
    fake.create_pipeline("idle")  # never started: the wait goes on until the signal
    term = Terminal(80)
    await term.start("wait", "idle", "--timeout", "60", *FAST, env={"FELDERA_HOST": fake.url})
    assert term.proc is not None
    await fake.wait_for_requests(2, timeout=30)
    term.proc.send_signal(sig)
    assert await term.finish() == code
    text = "\n".join(term.lines())
    assert "Traceback" not in text
    assert not term.screen.cursor.hidden


def set_size(fd: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, columns, 0, 0))


class TerminalText(io.StringIO):
    """What a display writes, kept in memory; its ``fileno`` is a pseudo-terminal's, so
    the display measures that terminal (and a resize of it) as it would its stdout."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def text(self, start: int = 0) -> str:
        """What was written from ``start`` on, as a terminal gets it (newline: CR LF)."""
        return self.getvalue()[start:].replace("\n", "\r\n")

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return True


def pipeline_event(resources: str, desired: str) -> PipelineEvent:
    wire = event_json(
        deployment_resources_status=resources, deployment_resources_desired_status=desired
    )
    return structure(wire, PipelineEvent)


async def test_live_rows_follow_a_resize(monkeypatch: pytest.MonkeyPatch) -> None:
    """Narrowed from 120 to 60 columns mid-wait, the display draws for 60: the final
    screen holds one row per pipeline, no stale copies or wrapped pieces.

    In process, so that the resize falls between two frames, never inside one: nothing
    is drawn between the test's calls (the ticker runs only when the test awaits).
    """
    for var in ("COLUMNS", "LINES", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    master, slave = pty.openpty()
    screen = pyte.Screen(120, ROWS)
    feed = pyte.Stream(screen)
    names = ["orders", LONG]
    try:
        set_size(slave, 120)
        out = TerminalText(slave)
        async with LiveProgress(out, names) as progress:
            provisioning = pipeline_event("Provisioning", "Provisioned")
            for name in names:
                progress.event(name, provisioning)
            feed.feed(out.text())
            drawn = len(out.getvalue())
            assert len(Terminal.lines_of(screen)) == 2  # the two rows, drawn for 120
            set_size(slave, 60)
            screen.resize(ROWS, 60)
            provisioned = pipeline_event("Provisioned", "Provisioned")
            progress.event("orders", provisioned)
            progress.finished(WaitResult("orders", Outcome.SUCCEEDED, provisioned, None, 1.5))
            progress.finished(WaitResult(LONG, Outcome.TIMED_OUT, provisioning, None, 2.0))
        feed.feed(out.text(drawn))
    finally:
        os.close(master)
        os.close(slave)
    lines = Terminal.lines_of(screen)
    assert len(lines) == 2, lines
    assert len(row_of(lines, "orders")) == 1 and "provisioned" in lines[0], lines
    assert len(row_of(lines, LONG)) == 1 and "TIMED OUT" in lines[1], lines
    assert all(len(line) < 60 for line in lines), lines


#: Sentences of the demo (its prose and its failure report), as written: read back from
#: the screen with its lines joined, a word split by a wrap would not match.
DEMO_SENTENCES = (
    "2. Created pipelines 'orders' and 'fraud-detector' (compiled, stopped); "
    "'fraud-detector' is scripted to stay in Provisioning until its 5s provisioning timeout.",
    "4. Waiting on both, as `feldera-events wait orders fraud-detector --timeout 30` does "
    "(no --since-now after our own start):",
    "- 'orders' went Stopped -> Provisioning -> Provisioned: the wait for it succeeded.",
    "- 'fraud-detector' never left Provisioning; the manager gave up after its provisioning "
    "timeout, moved it to Stopping with the error PipelineProvisioningTimeout, then to "
    "Stopped (error kept until dismissed). The wait reported the server's error_code, "
    "message and the events since the start.",
    "- `feldera-events wait` would have exited 1 (1: a deployment failed); the demo itself "
    "exits 0.",
    "provisioning timed out (timeout: 5s)",
)


async def test_demo_wraps_at_words() -> None:
    """The demo at 60 columns: its prose, the failure report and the commands to try are
    wrapped at words, never by the terminal, and the live block is one line per
    pipeline. (One width: the demo takes ~6 s; the wrapping itself is tested at several
    widths above.)"""
    columns = 60
    term = Terminal(columns, rows=100)
    await term.start("demo", env={})
    assert await term.finish() == EXIT_OK
    lines = term.lines()
    # No line reaches the last column: the terminal never wrapped one (mid-word) itself.
    assert all(len(line) < columns for line in lines), lines
    text = " ".join(line.strip() for line in lines)
    for sentence in DEMO_SENTENCES:
        assert sentence in text, (sentence, lines)
    # Each command to try pastes whole: on one line, or continued with " \".
    commands = "\n".join(line.strip() for line in lines).replace(" \\\n", " ").split("\n")
    for command, comment in TRY_NEXT:
        whole = rf"{re.escape(command)}( +# {re.escape(comment)})?"
        assert any(re.fullmatch(whole, line) for line in commands), (command, lines)
    # The live block: one line per pipeline, right after step 4, right before the report.
    orders = next(i for i, line in enumerate(lines) if line.startswith("+ orders "))
    assert lines[orders - 1].endswith("start):"), lines
    assert lines[orders + 1].startswith("x fraud-detector "), lines  # whole: the row's key
    assert lines[orders + 2].startswith("pipeline 'fraud-detector' FAILED"), lines
    assert len(row_of(lines, "orders")) == 1 and len(row_of(lines, "fraud-detector")) == 1


class TtyText(io.StringIO):
    """A text stream that says it is a terminal (its width: COLUMNS)."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", [36, 40, 41, 44, 60])
@pytest.mark.parametrize(
    "text",
    [
        "     POST /v0/pipelines/fraud-detector/start -> 202 Accepted",
        "  - a list item whose words-are-rather-long-ones wrap under its marker",
        "plain prose that continues past the end of a narrow terminal's line",
    ],
)
def test_wrapped_lines_never_reach_the_last_column(
    monkeypatch: pytest.MonkeyPatch, columns: int, text: str
) -> None:
    # Review of issue 26: at 40 columns the demo's `POST /v0/pipelines/fraud-detector/start`
    # line hung under a deeper indent: 41 characters, and the terminal wrapped a lone `t`.
    # A word that fits the line keeps it from the last column, whatever the indent.
    monkeypatch.setenv("COLUMNS", str(columns))
    lines = wrap_for(TtyText(), text).split("\n")
    assert all(len(line) < columns for line in lines), lines
    assert " ".join(lines).split() == text.split()  # no word split or lost


async def live_screen(
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
    names: list[str],
    script: Callable[[LiveProgress], None],
) -> list[str]:
    """The final screen of a live display at ``columns``, driven in process by ``script``."""
    for var in ("COLUMNS", "LINES", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    master, slave = pty.openpty()
    screen = pyte.Screen(columns, ROWS)
    try:
        set_size(slave, columns)
        out = TerminalText(slave)
        async with LiveProgress(out, names) as progress:
            script(progress)
        pyte.Stream(screen).feed(out.text())
    finally:
        os.close(master)
        os.close(slave)
    return Terminal.lines_of(screen)


async def test_a_failed_row_keeps_no_stale_retry_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request retried while the failure is read in full (and a retry line that arrives
    after the failure was decided): the FAILED row shows the status, not the note."""
    failed = pipeline_event("Stopped", "Stopped")

    def script(progress: LiveProgress) -> None:
        progress.event("fails", pipeline_event("Provisioning", "Provisioned"))
        progress.retrying("fails", "HTTP 503 LockTookTooLong")  # reading the failed event
        progress.event("other", pipeline_event("Provisioning", "Provisioned"))
        progress.finished(WaitResult("fails", Outcome.FAILED, failed, None, 2.0))
        progress.retrying("fails", "HTTP 503 LockTookTooLong")  # too late: dropped
        progress.retrying("other", "HTTP 502")

    lines = await live_screen(monkeypatch, 80, ["fails", "other"], script)
    assert len(lines) == 2, lines
    assert "retrying" not in lines[0] and re.search(
        r"Provisioning → Provisioned .*FAILED$", lines[0]
    )
    assert "retrying: HTTP 502, once" in lines[1], lines


def test_a_retry_after_the_end_prints_no_line() -> None:
    out = io.StringIO()

    async def main() -> None:
        progress = LineProgress(out, ["p"])
        progress.finished(WaitResult("p", Outcome.FAILED, None, None, 1.0))
        progress.retrying("p", "HTTP 503 LockTookTooLong")

    asyncio.run(main())
    assert "FAILED after 1.0s" in out.getvalue() and "retrying" not in out.getvalue()


async def test_ctrl_c_leaves_one_row_per_pipeline_saying_interrupted(fake: FakeFeldera) -> None:
    """Ctrl-C on a terminal: the terminal echoes ``^C`` after the last row, then the
    program redraws its final frame: every row once, saying it was interrupted (no
    spinner left), and no ``^`` left over."""
    names = ["pipeline-1", "pipeline-2", "pipeline-3"]
    for name in names:
        fake.create_pipeline(name)  # never started: the wait goes on until Ctrl-C
    term = Terminal(60)
    attrs_ = termios.tcgetattr(term.master)
    attrs_[3] |= termios.ECHO | termios.ECHOCTL | termios.NOFLSH  # echo ^C, keep output
    termios.tcsetattr(term.master, termios.TCSANOW, attrs_)
    await term.start("wait", *names, "--timeout", "60", *FAST, env={"FELDERA_HOST": fake.url})
    assert term.proc is not None
    await fake.wait_for_requests(6, timeout=30)
    os.write(term.master, b"\x03")  # Ctrl-C typed: the line discipline echoes "^C"
    for _ in range(600):  # the echo comes through the line discipline's worker
        if b"^C" in term.output():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a redraw or two after the echo
    term.proc.send_signal(signal.SIGINT)
    assert await term.finish() == EXIT_INTERRUPTED
    lines = term.lines()
    assert b"^C" in term.output()
    assert len(lines) == 3, lines
    for name, line in zip(names, lines, strict=True):
        assert row_of([line], name) == [line], lines
        assert re.fullmatch(r"- \S+ +\S.* +\d+\.\ds interrupted", line), lines
    assert "^" not in "".join(lines), lines


@pytest.mark.parametrize("columns", [40, 50, 60])
async def test_names_stay_apart_in_narrow_rows(
    monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    """The name is the row's key: the status is cut first, and a name that must be cut
    loses its middle, so every row still says which pipeline it is."""
    names = [f"pipeline-{i}" for i in (1, 2, 10, 11, 12)] + ["fraud-detector", "orders"]

    def script(progress: LiveProgress) -> None:
        for name in names:
            progress.event(name, pipeline_event("Provisioning", "Provisioned"))

    lines = await live_screen(monkeypatch, columns, names, script)
    assert len(lines) == len(names), lines
    shown = [line[2:].split(" ", 1)[0] for line in lines]
    assert len(set(shown)) == len(names), lines
    for name, line in zip(names, lines, strict=True):
        assert row_of([line], name) == [line], (name, lines)
    assert all(len(line) <= columns - 3 for line in lines), lines  # room for an echoed ^C
    if columns >= 50:  # room for every name: only the status is cut
        assert shown == names, lines


def test_cut_names_keeps_the_end_that_tells_them_apart() -> None:
    assert cut_names(["orders", "pipeline-12"], 11) == {
        "orders": "orders",
        "pipeline-12": "pipeline-12",
    }
    cut = cut_names(["pipeline-1", "pipeline-12", "pipeline-13"], 8)
    assert cut == {
        "pipeline-1": "pi…ine-1",
        "pipeline-12": "pi…ne-12",
        "pipeline-13": "pi…ne-13",
    }
    # Names that differ only in the middle: the start grows until they are apart.
    cut = cut_names(["abc-x-long-suffix", "abc-y-long-suffix"], 9)
    assert len(set(cut.values())) == 2 and all(len(v) == 9 for v in cut.values()), cut
