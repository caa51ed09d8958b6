"""The picture of ``feldera-events wait``'s live display (docs/images/wait-live.svg).

Runs the real CLI (``python -m feldera_events wait ...``) on a pseudo-terminal of 80 x 30
against a simulated manager, feeds what it writes to a terminal emulator (pyte), and
saves the final screen, colours included, as SVG with rich's recording console::

    python docs/capture_live.py          # rewrites docs/images/wait-live.svg

Needs the ``test`` extra (pyte). The scenario is pinned so the screen's text is the same
on every run but for times and ids: ``orders`` stays Initializing for a minute once
provisioned, and ``fraud-detector`` fails at its 3 s provisioning timeout and stays
Stopping for a minute; both are started once the CLI has made its first request.
tests/test_docs.py runs :func:`capture` again and compares its text with the committed
SVG's (:func:`svg_lines`, :func:`normalized`), so the picture cannot drift silently.
"""

from __future__ import annotations

import asyncio
import fcntl
import html
import os
import pty
import re
import struct
import sys
import termios
from pathlib import Path

import pyte
from rich.console import Console
from rich.style import Style
from rich.text import Text

from feldera_events.testing import FakeFeldera, Timings

COLUMNS = 80
ROWS = 30
SVG = Path(__file__).resolve().parent / "images" / "wait-live.svg"
COMMAND = ("wait", "orders", "fraud-detector", "--timeout", "60")
TITLE = "feldera-events " + " ".join(COMMAND)
RUN_TIMEOUT = 60.0

#: pyte's names for the 16 ANSI colours, as rich names them.
_COLOURS = {"brown": "yellow", "brightbrown": "bright_yellow"}


def _colour(name: str) -> str | None:
    if name == "default":
        return None
    if re.fullmatch(r"[0-9a-f]{6}", name):
        return f"#{name}"
    name = _COLOURS.get(name, name)
    return name.replace("bright", "bright_", 1) if name.startswith("bright") else name


def _line(screen: pyte.Screen, y: int) -> Text:
    """Row ``y`` of the screen as rich text, each character with its colour and weight."""
    text = Text()
    row = screen.buffer[y]
    for x in range(screen.columns):
        char = row[x]
        style = Style(color=_colour(char.fg), bold=char.bold or None)
        text.append(char.data or " ", style=style)
    text.rstrip()
    return text


async def capture() -> list[Text]:
    """Run the CLI and return the lines of its final screen (trailing empty lines cut)."""
    output: list[bytes] = []
    async with FakeFeldera() as fake:
        fake.create_pipeline("orders", timings=Timings(provisioning=1.5, initializing=60))
        fake.create_pipeline("fraud-detector", provisioning_timeout=3, timings=Timings(stopping=60))
        fake.fail_next_start("fraud-detector", "provisioning_timeout")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("FELDERA_") and k not in ("COLUMNS", "LINES", "NO_COLOR")
        }
        env.update(FELDERA_HOST=fake.url, TERM="xterm-256color", GITHUB_ACTIONS="")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "feldera_events",
                *COMMAND,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=slave,
                stderr=slave,
                env=env,
            )
        finally:
            os.close(slave)

        def drain() -> None:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the CLI closed the terminal
                    return
                if not data:
                    return
                output.append(data)

        reader = asyncio.ensure_future(asyncio.to_thread(drain))
        try:
            # Each started once the wait has seen it stopped: the report begins the same
            # way on every run ("status when the wait began: ... Stopped").
            for name in ("orders", "fraud-detector"):
                await fake.wait_for_requests(1, pipeline=name, timeout=RUN_TIMEOUT)
            for name in ("orders", "fraud-detector"):
                fake.start(name)
            code = await asyncio.wait_for(proc.wait(), RUN_TIMEOUT)
            await asyncio.wait_for(reader, RUN_TIMEOUT)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            os.close(master)
            await asyncio.gather(reader, return_exceptions=True)
    if code != 1:  # one pipeline failed: exit 1
        raise RuntimeError(f"the CLI exited {code}: {b''.join(output)!r}")
    screen = pyte.Screen(COLUMNS, ROWS)
    pyte.ByteStream(screen).feed(b"".join(output))
    lines = [_line(screen, y) for y in range(ROWS)]
    while lines and not lines[-1].plain.strip():
        lines.pop()
    return lines


def render_svg(lines: list[Text]) -> str:
    """The lines as an SVG terminal window of :data:`COLUMNS` columns."""
    console = Console(
        record=True,
        width=COLUMNS,
        file=open(os.devnull, "w"),  # noqa: SIM115 - recorded, not written
        force_terminal=True,
        color_system="truecolor",
    )
    for line in lines:
        console.print(line, no_wrap=True, overflow="ignore", crop=False)
    console.file.close()
    return console.export_svg(title=TITLE)


_TEXT = re.compile(r'<text [^>]*clip-path="url\(#[\w-]+-line-(\d+)\)"[^>]*>(.*?)</text>')


def svg_lines(svg: str) -> list[str]:
    """The text of each line of an SVG that :func:`render_svg` made, without trailing
    blanks (empty lines too)."""
    rows: dict[int, str] = {}
    for match in _TEXT.finditer(svg):
        row = int(match.group(1))
        rows[row] = rows.get(row, "") + html.unescape(match.group(2)).replace("\xa0", " ")
    count = max(rows, default=-1) + 1
    lines = [rows.get(i, "").rstrip() for i in range(count)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def normalized(line: str) -> str:
    """A line with what differs from run to run masked: times, ids, elapsed seconds,
    and the width of the gaps around them."""
    line = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "TIME", line)
    line = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", line)
    line = re.sub(r"\b\d+\.\ds\b", "N.Ns", line)
    return " ".join(line.split())


def main() -> None:
    lines = asyncio.run(capture())
    SVG.parent.mkdir(exist_ok=True)
    SVG.write_text(render_svg(lines), encoding="utf-8")
    print(f"wrote {SVG} ({len(lines)} lines):")
    print("\n".join(line.plain for line in lines))


if __name__ == "__main__":
    main()
