"""The CLI's global flags and defaults that the README and ``--help`` promise.

``--tenant`` / ``FELDERA_TENANT``, ``--request-timeout``, ``-v`` and ``list`` on a
terminal (a table by default), each run as a subprocess against the simulated manager.
(``--ca-cert`` and ``--insecure`` are in tests/test_tls.py, against an HTTPS server.)
"""

from __future__ import annotations

import asyncio
import os
import pty
import time
from collections.abc import AsyncIterator

import pytest
from cli_support import clean_env, cli_argv, finish, run_cli, spawn

from feldera_events.testing import FakeFeldera, Fault

LOCKED = Fault.status(503, error_code="LockTookTooLong", retry_after=0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=20, tenants=["acme"]) as server:
        server.create_pipeline("p")
        yield server


async def test_tenant_flag_is_sent(fake: FakeFeldera) -> None:
    ran = await run_cli("--tenant", "acme", "get", "p", url=fake.url)
    assert ran.returncode == 0, ran
    assert [r.tenant for r in fake.requests] == ["acme"]


async def test_tenant_from_the_environment(fake: FakeFeldera) -> None:
    ran = await run_cli("get", "p", url=fake.url, env={"FELDERA_TENANT": "acme"})
    assert ran.returncode == 0, ran
    assert [r.tenant for r in fake.requests] == ["acme"]
    # The flag wins over the environment.
    fake.clear_requests()
    ran = await run_cli(
        "--tenant", "other", "get", "p", url=fake.url, env={"FELDERA_TENANT": "acme"}
    )
    assert ran.returncode == 4, ran
    assert {r.tenant for r in fake.requests} == {"other"}


async def test_request_timeout_flag_bounds_each_request(fake: FakeFeldera) -> None:
    fake.stop_answering()  # connections are accepted, nothing is answered
    try:
        ran = await run_cli(
            "--request-timeout", "0.5", "get", "p", url=fake.url, env={"FELDERA_TENANT": "acme"}
        )
    finally:
        fake.resume_answering()
    assert ran.returncode == 4, ran
    assert "request=0.5s" in ran.stderr, ran
    assert "Traceback" not in ran.output
    # The default request timeout is 30 s: one unanswered request alone would take that.
    assert ran.elapsed < 25, ran


async def test_verbose_flag_logs_the_library_to_stderr(fake: FakeFeldera) -> None:
    env = {"FELDERA_TENANT": "acme"}
    fake.inject(LOCKED, times=1)  # one retried 503: the library logs a warning
    ran = await run_cli("get", "p", url=fake.url, env=env)
    assert ran.returncode == 0, ran
    assert ran.stderr == ""  # without -v the library's log is not shown
    fake.inject(LOCKED, times=1)
    ran = await run_cli("-v", "get", "p", url=fake.url, env=env)
    assert ran.returncode == 0, ran
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran
    assert " WARNING feldera_events: GET /v0/pipelines/p/events/latest" in lines[0]
    assert "LockTookTooLong" in lines[0] and "retrying" in lines[0]


async def test_list_on_a_terminal_defaults_to_a_table(fake: FakeFeldera) -> None:
    fake.start("p")
    await fake.wait_for_status("p", deployment_runtime_status="Running")  # no more events
    total = len(fake.events("p"))
    master, slave = pty.openpty()
    started = time.monotonic()
    try:
        proc = await spawn(
            cli_argv("list", "p"),
            env=clean_env({"FELDERA_HOST": fake.url, "FELDERA_TENANT": "acme", "TERM": "xterm"}),
            stdout=slave,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    try:
        reader = asyncio.ensure_future(asyncio.to_thread(drain))
        ran = await finish(proc, started, 60)
        await asyncio.wait_for(reader, 30)
    finally:
        os.close(master)
    screen = b"".join(chunks).decode()
    assert ran.returncode == 0, (ran, screen)
    rows = [row for row in screen.splitlines() if row.strip()]
    assert rows[0].split()[:3] == ["RECORDED_AT", "STATUS", "PROGRAM"], screen
    assert "EVENT_ID" in rows[0]
    assert len(rows) == total + 1, screen
    assert not screen.lstrip().startswith("[")  # not the JSON it prints into a pipe
