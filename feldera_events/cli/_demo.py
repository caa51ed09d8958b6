"""``feldera-events demo``: one success and one failure, against a simulated manager.

Everything runs in this process: a :class:`~feldera_events.testing.FakeFeldera` on a
free loopback port, two pipelines started through the REST control endpoints (as a
deploy script would), and the ``wait`` command's own code and progress display.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Final, TextIO

import aiohttp
from rich.cells import cell_len

from .._client import EventsClient
from .._policies import PollPolicy
from ._progress import terminal_columns, wrap_for
from ._wait_command import run_wait

__all__ = ["TRY_NEXT", "run_demo"]

GOOD: Final = "orders"
BAD: Final = "fraud-detector"
DEMO_PIPELINES: Final = (GOOD, BAD)

#: Simulated seconds (speed=1, so real ones): provisioning takes 2 s; the failing
#: pipeline gives up after 5 s of Provisioning, then needs 1 s to stop. About 6 s in all
#: (the ``demo`` help says so; tests/test_cli_people.py checks it).
_PROVISIONING_TIMEOUT: Final = 5.0
_WAIT_TIMEOUT: Final = 30.0

#: The demo's last words: commands to try by hand, each with an optional comment.
TRY_NEXT: Final = (
    ("feldera-events fake-server --port 8080 --pipelines 2", "in a second terminal"),
    ("curl -X POST http://127.0.0.1:8080/v0/pipelines/pipeline-1/start", ""),
    ("feldera-events --url http://127.0.0.1:8080 wait pipeline-1 --timeout 60", ""),
    ("feldera-events --url http://127.0.0.1:8080 list pipeline-1", ""),
    ("feldera-events --url http://127.0.0.1:8080 watch pipeline-2", "Ctrl-C to stop"),
    ("feldera-events --help", "exit codes"),
)


def _say(out: TextIO, text: str = "") -> None:
    """A line of prose, wrapped at words on a terminal (continuation lines indented)."""
    out.write(wrap_for(out, text) + "\n")
    out.flush()


def _command(out: TextIO, command: str, comment: str = "") -> None:
    """A command to try, on one line when it fits (its comment after it, aligned with the
    others if it can be); else the comment on a line of its own above it, and the command
    continued with ``\\`` at words: what is on screen still pastes into a shell."""
    width = terminal_columns(out) if out.isatty() else None

    def fits(line: str) -> bool:
        return width is None or cell_len(line) < width

    if comment:
        for line in (f"  {command:<52}  # {comment}", f"  {command}  # {comment}"):
            if fits(line):
                _say(out, line)
                return
        _say(out, f"  # {comment}")
    if fits(f"  {command}"):
        _say(out, f"  {command}")
        return
    assert width is not None  # (every line fits an unknown width)
    parts = textwrap.wrap(
        command,
        width - 3,  # a margin, and room for " \\" after every line but the last
        initial_indent="  ",
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    out.write(" \\\n".join(parts) + "\n")
    out.flush()


async def run_demo(_: argparse.Namespace) -> int:
    """The ``demo`` command: runs the demo on stdout; returns 0."""
    # Here, not at the top: aiohttp's server side (some 50 ms) only for this command.
    from ..testing import FakeFeldera

    out = sys.stdout
    _say(out, "feldera-events demo: a simulated Feldera manager, two pipelines, one wait.")
    _say(out)
    async with FakeFeldera(speed=1.0) as fake:
        _say(out, f"1. Started a simulated pipeline manager (FakeFeldera) at {fake.url}")
        fake.create_pipeline(GOOD)
        fake.create_pipeline(BAD, provisioning_timeout=_PROVISIONING_TIMEOUT)
        fake.fail_next_start(BAD, "provisioning_timeout")
        _say(
            out,
            f"2. Created pipelines {GOOD!r} and {BAD!r} (compiled, stopped); {BAD!r} is "
            f"scripted to stay in Provisioning until its {_PROVISIONING_TIMEOUT:g}s "
            "provisioning timeout.",
        )
        _say(out, "3. Started both through the REST API, as a deploy script would:")
        async with aiohttp.ClientSession() as session:
            for name in DEMO_PIPELINES:
                url = f"{fake.url}/v0/pipelines/{name}/start"
                async with session.post(url) as resp:
                    path = url.removeprefix(fake.url)  # the manager's URL is in step 1
                    _say(out, f"     POST {path} -> {resp.status} {resp.reason}")
                    resp.raise_for_status()
        _say(
            out,
            f"4. Waiting on both, as `feldera-events wait {GOOD} {BAD} --timeout "
            f"{_WAIT_TIMEOUT:g}` does (no --since-now after our own start):",
        )
        _say(out)
        async with EventsClient(fake.url) as client:
            code = await run_wait(
                client,
                list(DEMO_PIPELINES),
                timeout=_WAIT_TIMEOUT,
                poll=PollPolicy(initial=0.25, maximum=1.0, jitter=0.0),
                stdout=out,
                stderr=out,
            )
    _say(out)
    _say(out, "What happened:")
    _say(
        out,
        f"  - {GOOD!r} went Stopped -> Provisioning -> Provisioned: the wait for it succeeded.",
    )
    _say(
        out,
        f"  - {BAD!r} never left Provisioning; the manager gave up after its provisioning "
        "timeout, moved it to Stopping with the error PipelineProvisioningTimeout, then to "
        "Stopped (error kept until dismissed). The wait reported the server's error_code, "
        "message and the events since the start.",
    )
    _say(
        out,
        f"  - `feldera-events wait` would have exited {code} "
        "(1: a deployment failed); the demo itself exits 0.",
    )
    _say(out)
    _say(out, "Try next:")
    for command, comment in TRY_NEXT:
        _command(out, command, comment)
    return 0
