"""``feldera-events demo``: one success and one failure, against a simulated manager.

Everything runs in this process: a :class:`~feldera_events.testing.FakeFeldera` on a
free loopback port, two pipelines started through the REST control endpoints (as a
deploy script would), and the ``wait`` command's own code and progress display.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import sys
import textwrap
from typing import Final, TextIO

import aiohttp

from .._client import EventsClient
from .._poller import PollPolicy
from ._wait import run_wait

__all__ = ["DEMO_PIPELINES", "run_demo"]

GOOD: Final = "orders"
BAD: Final = "fraud-detector"
DEMO_PIPELINES: Final = (GOOD, BAD)

#: Simulated seconds (speed=1, so real ones): provisioning takes 2 s; the failing
#: pipeline gives up after 5 s of Provisioning, then needs 1 s to stop. About 6 s in all
#: (the ``demo`` help says so; tests/test_cli_people.py checks it).
_PROVISIONING_TIMEOUT: Final = 5.0
_WAIT_TIMEOUT: Final = 30.0


def _say(out: TextIO, text: str = "") -> None:
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty() and not text.startswith("  "):
        # Prose wrapped at words on a terminal (command lines stay whole).
        width = shutil.get_terminal_size().columns - 1
        text = textwrap.fill(text, width, subsequent_indent="   ") if text else text
    out.write(text + "\n")
    out.flush()


async def run_demo(out: TextIO | None = None) -> int:
    """Run the demo, writing to ``out`` (stdout); returns 0."""
    from ..testing import FakeFeldera

    out = out or sys.stdout
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
        since = _dt.datetime.now(_dt.UTC)
        _say(out, "3. Started both through the REST API, as a deploy script would:")
        async with aiohttp.ClientSession() as session:
            for name in DEMO_PIPELINES:
                url = f"{fake.url}/v0/pipelines/{name}/start"
                async with session.post(url) as resp:
                    _say(out, f"     POST {url} -> {resp.status} {resp.reason}")
                    resp.raise_for_status()
        _say(
            out,
            f"4. Waiting on both, as `feldera-events wait {GOOD} {BAD} --timeout "
            f"{_WAIT_TIMEOUT:g} --since-now` does:",
        )
        _say(out)
        async with EventsClient(fake.url) as client:
            code = await run_wait(
                client,
                list(DEMO_PIPELINES),
                timeout=_WAIT_TIMEOUT,
                since=since,
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
    _say(out, "  feldera-events fake-server --port 8080 --pipelines 2     # in a second terminal")
    _say(out, "  curl -X POST http://127.0.0.1:8080/v0/pipelines/pipeline-1/start")
    _say(out, "  feldera-events --url http://127.0.0.1:8080 wait pipeline-1 --timeout 60")
    _say(out, "  feldera-events --url http://127.0.0.1:8080 list pipeline-1")
    _say(out, "  feldera-events --url http://127.0.0.1:8080 watch pipeline-2   # Ctrl-C to stop")
    _say(out, "  feldera-events --help                                    # exit codes")
    return 0
