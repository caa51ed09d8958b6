"""Words that say what happened: the CLI's messages at the edges of a wait, a watch and
a cluster wait (each run as a subprocess against the simulated manager)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator

import pytest
from cli_support import clean_env, cli_argv, interrupt, run_cli, spawn
from helpers import refused_port

from feldera_events import APIStatusError, WaitTimeoutError
from feldera_events._wait_errors import error_excerpt
from feldera_events.cli._render import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE
from feldera_events.testing import FakeFeldera, Fault

FAST = ("--poll-interval", "0.05")
LOCKED = Fault.status(503, error_code="LockTookTooLong", retry_after=0)
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=20) as server:
        yield server


# -- --since-now on a pipeline that is up -------------------------------------------------


async def test_since_now_on_a_pipeline_that_is_up_says_no_new_provisioning_came(
    fake: FakeFeldera,
) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_runtime_status="Running")
    ran = await run_cli("wait", "p", "--timeout", "1", "--since-now", *FAST, url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert "not provisioned within" not in ran.stdout, ran.stdout
    assert (
        "no new provisioning since the wait began, within 1s: it was already provisioned when "
        "the wait began, and still is (status: Provisioned/Running)" in ran.stdout
    ), ran.stdout
    ran = await run_cli(
        "wait", "p", "--until", "running", "--timeout", "1", "--since-now", "--json", *FAST,
        url=fake.url,
    )  # fmt: skip
    assert ran.returncode == EXIT_TIMEOUT, ran
    message = json.loads(ran.stdout)["pipelines"]["p"]["message"]
    assert "to reach Running anew (it was already Running at since, and still is;" in message


def test_the_library_timeout_says_it_too() -> None:
    err = WaitTimeoutError("p", timeout=1, elapsed=1.0, polls=3, what="Provisioned")
    assert "to reach Provisioned (3 polls" in str(err) and not err.held_at_since
    err = WaitTimeoutError(
        "p", timeout=1, elapsed=1.0, polls=3, what="Provisioned", held_at_since=True
    )
    text = "to reach Provisioned anew (it was already Provisioned at since, and still is; 3 polls"
    assert text in str(err) and err.held_at_since


# -- the events of a report --------------------------------------------------------------


async def test_events_since_the_wait_began_are_only_those_after_it(fake: FakeFeldera) -> None:
    """The status the wait found was recorded before it began: it is shown as such, never
    under "events since the wait began"."""
    fake.create_pipeline("idle")  # never started: its one event predates the wait
    ran = await run_cli("wait", "idle", "--timeout", "0.5", *FAST, url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert re.search(rf"^  status when the wait began: {STAMP}  Stopped$", ran.stdout, re.M)
    assert "events since the wait began" not in ran.stdout, ran.stdout


async def test_a_wait_that_begins_after_the_failure_reports_it(fake: FakeFeldera) -> None:
    """docs/guides/asyncio.md: a wait that first sees a pipeline after it has already failed reports that
    failure (exit 1), with the failed status as the one it found."""
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provision_check", message="quota exceeded")
    fake.start("p")
    await fake.wait_for_status("p", deployment_resources_desired_status="Stopped")
    ran = await run_cli("wait", "p", "--timeout", "30", *FAST, url=fake.url)
    assert ran.returncode == EXIT_FAILED, ran
    assert "message:    quota exceeded" in ran.stdout
    found = re.search(
        r"^  status when the wait began: .*error RunnerProvisionCheck", ran.stdout, re.M
    )
    assert found, ran.stdout
    assert "events since the wait began" not in ran.stdout, ran.stdout


# -- a proxy's page is not the message -----------------------------------------------------


async def test_a_502_page_is_not_quoted_whole_in_the_timeout(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.inject(Fault.proxy_502(), pipeline="p")
    ran = await run_cli("wait", "p", "--timeout", "1.5", *FAST, url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert "<html>" not in ran.stdout and "nginx" not in ran.stdout, ran.stdout
    # One 502 or more: the retry's jittered backoff may outlast the 1.5 s timeout.
    assert re.search(r"last error: HTTP 502: 502 Bad Gateway \((once|\d+ times)\)", ran.stdout), ran


def test_error_excerpt_is_short() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head>" + "<p>x</p>" * 500 + "</html>"
    assert error_excerpt(APIStatusError(page, status_code=502)) == "HTTP 502: 502 Bad Gateway"
    long = APIStatusError("y " * 500, status_code=500, error_code="E")
    assert error_excerpt(long).startswith("HTTP 500 E: y y") and len(error_excerpt(long)) < 130
    assert error_excerpt(APIStatusError("", status_code=503)) == "HTTP 503"


# -- a server that does not answer is said on stderr ----------------------------------------


async def test_watch_jsonl_says_on_stderr_when_polls_fail(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    started = time.monotonic()
    proc = await spawn(cli_argv("watch", "p", "--jsonl"), env=clean_env({"FELDERA_HOST": fake.url}))
    assert proc.stdout is not None and proc.stderr is not None
    json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))  # the current status
    fake.inject(LOCKED, pipeline="p", times=1)
    note = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    assert re.fullmatch(rf"{STAMP}  retrying: HTTP 503 LockTookTooLong, once\n", note), note
    fake.start("p")
    note = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    assert note.rstrip().endswith("the server answers again after 1 failed poll"), note
    ran = await interrupt(proc, started)
    assert ran.returncode == 130, ran
    for line in ran.stdout.splitlines():  # stdout stays JSON lines
        json.loads(line)


async def test_wait_cluster_says_at_once_that_the_manager_does_not_answer() -> None:
    with refused_port() as held:
        proc = await spawn(
            cli_argv("wait-cluster", "--timeout", "60"), env=clean_env({"FELDERA_HOST": held.url})
        )
        assert proc.stderr is not None
        note = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert re.fullmatch(
            rf"{STAMP}  the manager at {held.url} does not answer yet \(connection refused\); "
            r"polling on\n",
            note,
        ), note
        held.release()  # the manager comes up on it
        async with FakeFeldera(port=held.port, speed=20):
            ran = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == EXIT_OK, ran


# -- fake-server --speed -----------------------------------------------------------------------


async def test_fake_server_speed_is_not_a_number_of_seconds() -> None:
    ran = await run_cli("fake-server", "--speed", "0")
    assert ran.returncode == EXIT_USAGE, ran
    assert "--speed: must be a number > 0 (a time-scale factor), got '0'" in ran.stderr
    assert "seconds" not in ran.stderr, ran.stderr
