"""``wait`` on the new wait engine: ``--until running``, one ``as_completed`` for all
pipelines, ``--since-now`` anchored on the server, no request after the deadline, and
a Ctrl-C while the program is still importing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from cli_support import ROOT, RUN_TIMEOUT, clean_env, finish, run_cli, spawn
from helpers import event_json

from feldera_events.cli._render import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
)
from feldera_events.testing import FakeFeldera, Fault, Timings

FAST = ("--poll-interval", "0.05")


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=20) as server:
        yield server


# -- --until running ---------------------------------------------------------------------


async def test_until_running_fails_on_a_panic_during_initialization(fake: FakeFeldera) -> None:
    # 'slow' never leaves Initializing within the test (100000 s / 20): a plain wait
    # can only see Provisioned/Initializing, and succeeds.
    fake.create_pipeline("slow", timings=Timings(initializing=100_000))
    fake.fail_next_start("slow", "worker_panic")
    fake.start("slow")
    ran = await run_cli("wait", "slow", "--timeout", "60", *FAST, url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    assert re.search(r"  slow  provisioned after \d", ran.stdout), ran.stdout
    # 'p' panics after 1 s of Initializing: --until running can only end with the panic.
    fake.create_pipeline("p", timings=Timings(initializing=20))
    fake.fail_next_start("p", "worker_panic")
    fake.start("p")
    ran = await run_cli(
        "wait", "p", "--until", "running", "--timeout", "60", "--json", *FAST, url=fake.url
    )
    assert ran.returncode == EXIT_FAILED, ran
    doc = json.loads(ran.stdout)["pipelines"]["p"]
    assert doc["outcome"] == "failed" and doc["error_code"] == "RuntimeError.WorkerPanic", doc
    assert "error_code: RuntimeError.WorkerPanic" in ran.stderr


async def test_until_running_succeeds_once_the_runtime_runs(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    ran = await run_cli("wait", "p", "--until", "running", "--timeout", "60", *FAST, url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    # The progress lines (not a terminal: one per change) say what was waited for, too.
    assert re.search(r"\bp\s+running after \d", ran.stdout), ran.stdout
    assert "provisioned after" not in ran.stdout, ran.stdout
    assert fake.latest_event("p")["deployment_runtime_status"] == "Running"  # type: ignore[index]


async def test_until_rejects_other_values() -> None:
    ran = await run_cli("wait", "p", "--until", "stopped", "--timeout", "1")
    assert ran.returncode == 2 and "invalid choice: 'stopped'" in ran.stderr, ran


# -- many pipelines: one as_completed call ----------------------------------------------


async def test_all_pipelines_are_waited_on_by_one_as_completed_call(
    fake: FakeFeldera, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feldera_events import EventsClient, Poller
    from feldera_events.cli._wait_command import run_wait

    calls: list[tuple[list[str], dict[str, Any]]] = []
    original = Poller.as_completed

    def spy(self: Poller, names: Any, **kwargs: Any) -> Any:
        calls.append((list(names), kwargs))
        return original(self, names, **kwargs)

    monkeypatch.setattr(Poller, "as_completed", spy)
    for name in ("a", "b", "c"):
        fake.create_pipeline(name)
    fake.start("a")
    fake.start("b")
    fake.start("c")

    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, s: str) -> int:
            self.text += s
            return len(s)

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

    out = Sink()
    async with EventsClient(fake.url) as client:
        code = await run_wait(
            client, ["a", "b", "c"], timeout=60, until="running", stdout=out, stderr=out
        )  # type: ignore[arg-type]
    assert code == EXIT_OK, out.text
    assert len(calls) == 1, calls
    assert calls[0][0] == ["a", "b", "c"] and calls[0][1]["until"] == "running"
    assert "all 3 pipelines running in" in out.text


# -- --since-now is the server's now -----------------------------------------------------


@attrs.define
class EventServer:
    """One pipeline ``p`` whose events are ``events`` (newest last), served from a loopback
    server whose clock differs from ours; ``after_first_latest`` runs once, after the
    first answer to ``/events/latest``."""

    events: list[dict[str, Any]]
    after_first_latest: Callable[[], None] | None = None
    url: str = ""
    latest_reads: int = 0

    async def latest(self, request: web.Request) -> web.Response:
        body = self.events[-1]
        self.latest_reads += 1
        if self.latest_reads == 1 and self.after_first_latest is not None:
            self.after_first_latest()
        return web.json_response(body)

    async def one(self, request: web.Request) -> web.Response:
        for ev in self.events:
            if ev["event_id"] == request.match_info["id"]:
                return web.json_response(ev)
        return web.json_response(
            {"message": "no", "error_code": "UnknownPipelineEvent"}, status=404
        )

    async def listing(self, request: web.Request) -> web.Response:
        return web.json_response(list(reversed(self.events)))  # newest first, as Feldera


@pytest.fixture
async def event_server() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def make(server: EventServer) -> EventServer:
        app = web.Application()
        app.router.add_get("/v0/pipelines/p/events/latest", server.latest)
        app.router.add_get("/v0/pipelines/p/events/{id}", server.one)
        app.router.add_get("/v0/pipelines/p/events", server.listing)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        server.url = f"http://127.0.0.1:{port}"
        return server

    yield make
    for runner in runners:
        await runner.cleanup()


def stamp(offset: float) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)
    return when.isoformat().replace("+00:00", "Z")


def event(offset: float, **fields: Any) -> dict[str, Any]:
    return event_json(event_id=str(uuid.uuid4()), recorded_at=stamp(offset), **fields)


PROVISIONED = {
    "deployment_resources_status": "Provisioned",
    "deployment_resources_desired_status": "Provisioned",
    "deployment_runtime_status": "Running",
    "deployment_runtime_desired_status": "Running",
}


async def test_since_now_is_not_fooled_by_a_server_clock_ahead(
    event_server: Callable[..., Any],
) -> None:
    # The server's clock is 120 s ahead: its (old) Provisioned looks like the future to
    # us. Anchored on our clock, --since-now would take it as the outcome and exit 0.
    server = await event_server(EventServer([event(120, **PROVISIONED)]))
    ran = await run_cli("wait", "p", "--timeout", "1", "--since-now", *FAST, url=server.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert server.latest_reads >= 2


async def test_since_now_sees_a_new_failure_from_a_server_clock_behind(
    event_server: Callable[..., Any],
) -> None:
    # The server's clock is 60 s behind: a failure it records after the wait began looks
    # like the past to us. Anchored on our clock, --since-now would ignore it (exit 3).
    failed = event(
        -59,
        deployment_resources_status="Stopping",
        deployment_resources_desired_status="Stopped",
        deployment_has_error=True,
    )
    server = EventServer([event(-60, deployment_resources_desired_status="Provisioned")])
    server.after_first_latest = lambda: server.events.append(failed)
    server = await event_server(server)
    ran = await run_cli("wait", "p", "--timeout", "10", "--since-now", *FAST, url=server.url)
    assert ran.returncode == EXIT_FAILED, ran


# -- the deadline ------------------------------------------------------------------------


async def test_no_request_after_the_deadline_and_the_last_error_named() -> None:
    seen: list[float] = []

    async def bad_gateway(request: web.Request) -> web.Response:
        seen.append(time.monotonic())
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", bad_gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        ran = await run_cli("wait", "proxy", "--timeout", "2", url=url)
        ended = time.monotonic()
    finally:
        await runner.cleanup()
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert seen, ran
    # The wait begins before its first request: nothing after first + 2 s (+ slack for
    # a loaded machine), and the program ends soon after (today's 7.5 s: a timeline
    # read with full retries after the deadline).
    assert seen[-1] - seen[0] < 2.5, [t - seen[0] for t in seen]
    assert ended - seen[0] < 5.0, (ended - seen[0], ran)
    assert re.search(r"last error: HTTP 502.* \((once|\d+ times)\)", ran.stdout), ran.stdout


# -- Ctrl-C while importing ---------------------------------------------------------------


async def test_ctrl_c_while_the_console_script_imports_is_quiet() -> None:
    script = Path(sys.executable).with_name("feldera-events")
    assert "_feldera_events_main" in script.read_text(), (
        f"{script} predates the launcher: reinstall the project (pip install -e .)"
    )
    env = clean_env(
        {
            "FELDERA_EVENTS_TEST_BLOCK_IMPORT": "1",
            "PYTHONPATH": str(ROOT / "tests" / "import_hook"),
        }
    )
    started = time.monotonic()
    proc = await spawn([str(script), "--version"], env=env)
    assert proc.stderr is not None
    line = await asyncio.wait_for(proc.stderr.readline(), RUN_TIMEOUT)
    assert line == b"importing feldera_events\n", line
    proc.send_signal(signal.SIGINT)
    ran = await finish(proc, started, RUN_TIMEOUT)
    assert ran.returncode == EXIT_INTERRUPTED, ran
    assert "Traceback" not in ran.stderr and "KeyboardInterrupt" not in ran.stderr, ran
    assert ran.stdout == ""


async def test_retries_are_shown_on_the_pipeline_whose_polls_failed(fake: FakeFeldera) -> None:
    for name in ("a", "b"):
        fake.create_pipeline(name, timings=Timings(provisioning=100))  # 5 s at speed 20
        fake.start(name)
    fake.inject(
        Fault.status(503, error_code="LockTookTooLong", message="busy"), pipeline="b", times=2
    )
    ran = await run_cli("wait", "a", "b", "--timeout", "60", *FAST, url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    assert "b  retrying: HTTP 503 LockTookTooLong, once" in ran.stdout, ran.stdout
    assert "a  retrying" not in ran.stdout, ran.stdout


# -- --fleet ------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "lists"), [((), True), (("--fleet", "off"), False)])
async def test_wait_on_several_pipelines_lists_them_unless_fleet_off(
    fake: FakeFeldera, option: tuple[str, ...], lists: bool
) -> None:
    for name in ("a", "b", "c"):
        fake.create_pipeline(name)
        fake.start(name)
    ran = await run_cli("wait", "a", "b", "c", "--timeout", "60", *FAST, *option, url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    counts = fake.request_counts()
    assert ("list_pipelines" in counts) is lists, counts
    assert counts["get_pipeline_event"] >= 3


async def test_fleet_takes_auto_on_or_off() -> None:
    ran = await run_cli("wait", "p", "--timeout", "1", "--fleet", "yes")
    assert ran.returncode == 2 and "invalid choice: 'yes'" in ran.stderr, ran
