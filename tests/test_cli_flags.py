"""The CLI's global flags and defaults that the docs (reference/cli.md) and ``--help`` promise.

``--tenant`` / ``FELDERA_TENANT``, ``--request-timeout``, ``-v`` and ``list`` on a
terminal (a table by default), each run as a subprocess against the simulated manager.
(``--ca-cert`` and ``--insecure`` are in tests/test_tls.py, against an HTTPS server.)
Every ``--help`` screen fits the terminal.
"""

from __future__ import annotations

import asyncio
import os
import pty
import time
from collections.abc import AsyncIterator

import pytest
from cli_support import clean_env, cli_argv, finish, run_cli, spawn

from feldera_events.cli import main
from feldera_events.cli._parser import COMMAND_EXIT_CODES
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


# -- help screens -----------------------------------------------------------------------


def help_screen(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("width", [60, 80])
@pytest.mark.parametrize(
    "command", [(), *((name,) for name in COMMAND_EXIT_CODES)], ids=lambda c: " ".join(c) or "main"
)
def test_every_help_screen_fits_the_terminal(
    command: tuple[str, ...],
    width: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    out = help_screen(command, capsys)
    assert "exit codes" in out  # the epilog is there, rewrapped
    too_long = [line for line in out.splitlines() if len(line) > width]
    assert not too_long, too_long


def test_help_tables_keep_their_hanging_indent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = help_screen((), capsys)
    lines = out.splitlines()
    at = lines.index('  GITHUB_ACTIONS          "true": failures are also')
    assert lines[at + 1] == " " * 26 + "printed as ::error:: annotations"
    out = help_screen(("wait",), capsys)
    assert "4 > 1 > 5 > 3 > 0" in out  # kept on one line


def test_watch_and_cluster_events_help_say_what_ends_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    watch = " ".join(help_screen(("watch",), capsys).split())
    assert "no 0: a watch ends by Ctrl-C, an error, or a lost output" in watch
    assert "141 the output's reader went away (a broken pipe: | head -1)" in watch
    assert "During the watch: the pipeline deleted" in watch
    cluster = " ".join(help_screen(("cluster-events",), capsys).split())
    assert "pipeline" not in cluster.split("exit codes")[1]
    assert "a manager without cluster events" in cluster
