"""Running the ``feldera-events`` CLI (and other scripts) as subprocesses in tests.

The subprocesses are started with :func:`asyncio.create_subprocess_exec`, so a
:class:`~feldera_events.testing.FakeFeldera` running in the test's own event loop
keeps serving while they run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
#: Generous bound for one CLI run (the CLI itself answers in seconds).
RUN_TIMEOUT = 60.0


@attrs.frozen
class Ran:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without FELDERA_* and CI variables, plus ``extra``.

    COLUMNS and LINES go too: a test runner may set them (pytest-xdist workers do), and
    they would override the size of the terminal a display test gives the CLI.
    """
    dropped = ("GITHUB_ACTIONS", "NO_COLOR", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FELDERA_") and k not in dropped}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "feldera_events", *args]


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout: int | None = asyncio.subprocess.PIPE,
    stdin: int | None = asyncio.subprocess.DEVNULL,
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=stdin,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else clean_env(),
        cwd=str(cwd or ROOT),
    )


async def finish(proc: asyncio.subprocess.Process, started: float, timeout: float) -> Ran:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"subprocess did not finish within {timeout}s; stdout={out!r} stderr={err!r}"
        ) from None
    assert proc.returncode is not None
    return Ran(
        proc.returncode,
        (out or b"").decode(),
        (err or b"").decode(),
        time.monotonic() - started,
    )


async def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = RUN_TIMEOUT,
) -> Ran:
    started = time.monotonic()
    proc = await spawn(argv, env=env, cwd=cwd)
    return await finish(proc, started, timeout)


async def run_cli(
    *args: str,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> Ran:
    extra = dict(env or {})
    if url is not None:
        extra.setdefault("FELDERA_HOST", url)
    return await run(cli_argv(*args), env=clean_env(extra), timeout=timeout)


async def interrupt(proc: asyncio.subprocess.Process, started: float) -> Ran:
    """Send SIGINT (Ctrl-C) and collect the result."""
    proc.send_signal(signal.SIGINT)
    return await finish(proc, started, RUN_TIMEOUT)
