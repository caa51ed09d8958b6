"""The sample outputs in ``text`` blocks (CLI output) of README.md and the docs pages,
against real output.

tests/doc_blocks.py runs every command block and compares a ``console`` block's sample
output with what its command printed; samples in ``text`` blocks need a situation the
harness does not make (a pause, an unhealthy service, failing polls), so they would
drift unseen. Each test here makes the situation a sample describes on the
simulated manager, runs the command, and compares the deterministic parts: what is left
once timestamps, event ids, durations and ages are masked (and, for ``wait``, which
status an event line shows: whether a poll saw ``Stopping`` is a race). A sample that
is not found fails the test: change the sample and the test together.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import time

from cli_support import ROOT, clean_env, cli_argv, finish, run_cli, spawn
from doc_blocks import Block, file_blocks

from feldera_events.testing import FakeFeldera, Fault

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [block for page in PAGES for block in file_blocks(page)]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def sample(starts_with: str) -> Block:
    """The ``text`` block (of any page) whose first line starts with ``starts_with``."""
    found = [b for b in BLOCKS if b.info == "text" and b.code.startswith(starts_with)]
    assert len(found) == 1, f"no single text block starts with {starts_with!r}: {found}"
    return found[0]


def masked(line: str) -> str:
    """``line`` with timestamps and ids masked (same lengths: table columns stay put)."""
    line = TIMESTAMP.sub(lambda m: "T" * len(m.group()), line)
    return UUID.sub(lambda m: "U" * len(m.group()), line)


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


async def test_fake_server_start_up_lines() -> None:
    block = sample("$ feldera-events fake-server ")
    first, *expected = lines_of(block.code)
    argv = shlex.split(first[2:])[1:]  # the command the sample shows, without the "$ "
    started = time.monotonic()
    proc = await spawn(cli_argv(*argv, "--port", "0"))
    assert proc.stdout is not None
    got: list[str] = []
    try:
        while not got or got[-1] != expected[-1]:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, (got, expected)
            got.append(line.decode().rstrip())
    finally:
        proc.send_signal(signal.SIGINT)
        await finish(proc, started, 60)
    url = re.search(r"listening on (http://\S+)", got[0])
    assert url, got
    shown = [line.replace(url.group(1), "http://127.0.0.1:8080") for line in got]
    assert shown == expected, (shown, block.id)


async def test_list_table() -> None:
    """`list --format table`, `--limit 3` after a start and a /pause (as the sample says)."""
    block = sample("RECORDED_AT ")
    async with FakeFeldera(speed=20) as fake:
        fake.create_pipeline("p")
        fake.start("p")
        await fake.wait_for_status("p", deployment_runtime_status="Running", timeout=30)
        fake.pause("p")
        await fake.wait_for_status("p", deployment_runtime_status="Paused", timeout=30)
        ran = await run_cli("list", "p", "--limit", "3", "--format", "table", url=fake.url)
    assert ran.returncode == 0, ran
    # Exact but for the masked times and ids: the columns, the statuses, the spacing.
    assert [masked(x) for x in lines_of(ran.stdout)] == [masked(x) for x in lines_of(block.code)], (
        block.id
    )


def age_masked(line: str) -> str:
    """Masked, ages ``(5s ago)`` too, and runs of spaces as one (an age's width moves
    the columns after it)."""
    return re.sub(r" +", " ", re.sub(r"\(\d+s ago\)", "(Ns ago)", masked(line)))


async def test_health_table() -> None:
    """`health` with the runner unhealthy (the sample's situation)."""
    block = sample("SERVICE ")
    async with FakeFeldera(speed=20) as fake:
        fake.recover_cluster()
        fake.degrade_cluster("runner")
        ran = await run_cli("health", url=fake.url)
    assert ran.returncode == 1, ran  # not healthy (as a failed wait; 2 is for usage errors)
    assert [age_masked(x) for x in lines_of(ran.stdout)] == [
        age_masked(x) for x in lines_of(block.code)
    ], (ran.stdout, block.id)


def wait_line_shape(line: str) -> str:
    """A line of `wait` output as a shape: times, durations and the status an event line
    shows masked (which statuses a poll catches is a race), and the ids inside messages."""
    line = masked(line)
    line = re.sub(r"\b\d+\.\ds\b", "N.Ns", line)
    # "<time>  <name>  <status>  (recorded <time>; +N.Ns)": the status is whatever was seen.
    return re.sub(r"^(T+  \S+  ).*(  \(recorded T+; \+N\.Ns\))$", r"\1STATUS\2", line)


async def test_wait_log_lines() -> None:
    """`wait` without a terminal: pipeline-1 provisioned after two 503 LockTookTooLong
    answers, pipeline-2 failing with its provisioning timeout, as in the sample. Every
    line of the sample has the shape of a line of the real output."""
    block = sample("2026-12-05T08:09:21.194Z  pipeline-1  retrying")
    async with FakeFeldera(speed=20) as fake:
        for name in ("pipeline-1", "pipeline-2"):
            fake.create_pipeline(name)
        fake.fail_next_start("pipeline-2", "provisioning_timeout")
        # The manager's 503, without its Retry-After: 5 (the backoff is enough here).
        fake.inject(
            Fault.status(503, error_code="LockTookTooLong", message="lock"),
            pipeline="pipeline-1",
            times=2,
        )
        started = time.monotonic()
        proc = await spawn(
            cli_argv("wait", "pipeline-1", "pipeline-2", "--timeout", "60"),
            env=clean_env({"FELDERA_HOST": fake.url}),
        )
        await fake.wait_for_requests(1, timeout=60)
        fake.start("pipeline-1")
        fake.start("pipeline-2")
        ran = await finish(proc, started, 90)
    assert ran.returncode == 1, ran
    real = {wait_line_shape(line) for line in lines_of(ran.stdout)}
    shown = [line for line in lines_of(block.code) if line.strip() != "..."]
    missing = [line for line in shown if wait_line_shape(line) not in real]
    assert not missing, (missing, ran.stdout, block.id)


async def test_watch_lines() -> None:
    """`watch` of a pipeline being started (docs/guides/watching.md): the current status,
    then one line per event, each status as the sample shows it (the watch reads the
    list when several events came between two polls, so none is missed: no race)."""
    block = sample("2026-11-27T03:46:19.934Z  Stopped")
    expected = [masked(line) for line in lines_of(block.code)]
    async with FakeFeldera(speed=20) as fake:
        fake.create_pipeline("my-pipeline")
        started = time.monotonic()
        proc = await spawn(
            cli_argv("watch", "my-pipeline"), env=clean_env({"FELDERA_HOST": fake.url})
        )
        assert proc.stdout is not None
        got: list[str] = []
        try:
            while len(got) < len(expected):
                line = await asyncio.wait_for(proc.stdout.readline(), 60)
                assert line, got
                got.append(line.decode().rstrip())
                if len(got) == 1:
                    fake.start("my-pipeline")  # after the watch has shown where it began
        finally:
            proc.send_signal(signal.SIGINT)
            ran = await finish(proc, started, 60)
    assert ran.returncode == 130, ran
    assert [masked(line) for line in got] == expected, (got, block.id)
