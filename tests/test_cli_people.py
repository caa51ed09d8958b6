"""The CLI for people: retries shown, timeouts that say why, closed pipes, signals,
configuration errors in CLI words, ``health``, and the scriptable ``fake-server``."""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import signal
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from cli_support import ROOT, clean_env, cli_argv, finish, run, run_cli, spawn
from helpers import refused_port
from rich.cells import cell_len

from feldera_events import (
    APIConnectionError,
    ClusterHealth,
    EventsClient,
    RetryPolicy,
    ServerError,
)
from feldera_events.cli._progress import _Row
from feldera_events.cli._render import (
    EXIT_API,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_TIMEOUT,
    EXIT_UNHEALTHY,
    EXIT_USAGE,
)
from feldera_events.cli._wait_command import failure_text
from feldera_events.testing import FakeFeldera, Fault, Timings

FAST = ("--poll-interval", "0.05")


def lock_503() -> Fault:
    return Fault.status(503, error_code="LockTookTooLong", message="lock took too long")


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=20) as server:
        yield server


# -- retries and timeouts ---------------------------------------------------------------


async def test_failed_polls_are_shown_with_a_count(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", timings=Timings(provisioning=200))  # 10 s at speed 20
    fake.inject(lock_503(), pipeline="p", times=3)
    fake.start("p")
    ran = await run_cli("wait", "p", "--timeout", "60", *FAST, url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    assert "p  retrying: HTTP 503 LockTookTooLong, once" in ran.stdout
    assert "p  retrying: HTTP 503 LockTookTooLong, 2 times" in ran.stdout


async def test_a_timeout_says_what_failed(fake: FakeFeldera) -> None:
    fake.create_pipeline("idle")
    fake.inject(lock_503(), pipeline="idle")
    ran = await run_cli("wait", "idle", "--timeout", "2", "--json", *FAST, url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    # The poller's count of the failed polls that ended the wait, and the last error.
    assert re.search(r"last error: HTTP 503 LockTookTooLong.* \((once|\d+ times)\)", ran.stderr)
    assert json.loads(ran.stdout)["pipelines"]["idle"]["failed_requests"] >= 1


async def test_tiny_timeout_is_a_timeout_and_none_waits_without_limit(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    ran = await run_cli("wait", "p", "--timeout", "0.001", url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert "cannot reach" not in ran.output
    fake.start("p")
    ran = await run_cli("wait", "p", "--timeout", "none", *FAST, url=fake.url)
    assert ran.returncode == EXIT_OK, ran


async def test_a_huge_pipeline_name_is_shortened(fake: FakeFeldera) -> None:
    name = "n" * 5000
    short = "n" * 30 + "…" + "n" * 29  # short_name: 60 characters, the ellipsis inside
    ran = await run_cli("wait", name, "--timeout", "30", url=fake.url)
    assert ran.returncode == EXIT_API, ran
    assert "not found" in ran.stderr and "…" in ran.stderr
    # Every line for people: the error (stderr) and the progress lines (stdout).
    assert re.search(rf"  {short}  ERROR after \d+\.\ds$", ran.stdout, re.M), ran.stdout
    assert max(len(line) for line in ran.output.splitlines()) < 300
    ran = await run_cli("wait", name, "--timeout", "30", "--json", url=fake.url)
    assert ran.returncode == EXIT_API, ran
    pipelines = json.loads(ran.stdout)["pipelines"]
    assert list(pipelines) == [name]  # the key stays exact: machines read it
    message = pipelines[name]["message"]
    assert name not in message and repr(short) in message and len(message) < 300, message
    assert max(len(line) for line in ran.stderr.splitlines()) < 300  # the progress lines


def test_a_long_connection_error_is_whole_in_a_retry_line() -> None:
    """Whole in a log line (non-terminal output keeps its lines whole); a live row cuts it
    to its width itself."""
    exc = APIConnectionError("connection failed", url="http://nosuchhost.invalid/v0")
    cause = "Cannot connect to host nosuchhost.invalid:80 [Name or service not known]"
    exc.__cause__ = OSError(cause.replace(":80 ", ":80 ssl:default "))
    assert failure_text(exc) == f"connection failed ({cause})"
    exc.__cause__ = OSError("x" * 100)
    assert failure_text(exc) == f"connection failed ({'x' * 100})"
    row = _Row()
    row.retrying(failure_text(exc))
    assert row.retry_text() == f"retrying: connection failed ({'x' * 100}), once"
    assert row.retry_text(60).endswith("…, once") and cell_len(row.retry_text(60)) == 60


async def test_no_ssl_default_for_an_http_url() -> None:
    with refused_port() as port:  # held: nothing else can listen there meanwhile
        url = port.url
        ran = await run_cli("get", "p", url=url)
        assert ran.returncode == EXIT_API, ran
        assert "cannot reach" in ran.stderr and "ssl:" not in ran.stderr


@pytest.mark.parametrize(("times", "polls"), [(1, "1 failed poll"), (2, "2 failed polls")])
async def test_watch_says_when_polls_fail_and_when_they_work_again(
    fake: FakeFeldera, times: int, polls: str
) -> None:
    fake.create_pipeline("p")
    started = time.monotonic()
    proc = await spawn(cli_argv("watch", "p"), env=clean_env({"FELDERA_HOST": fake.url}))
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), 30)  # the current status
    fake.inject(lock_503(), pipeline="p", times=times)
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert "retrying: HTTP 503 LockTookTooLong, once" in line
    fake.start("p")
    lines = []
    while not any("answers again" in x for x in lines):
        lines.append((await asyncio.wait_for(proc.stdout.readline(), 30)).decode())
    assert lines[-1].rstrip().endswith(f"the server answers again after {polls}"), lines
    proc.send_signal(signal.SIGINT)
    ran = await finish(proc, started, 60)
    assert ran.returncode == 130 and "Traceback" not in ran.stderr


async def test_watch_of_a_deleted_pipeline_exits_4(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")  # compiled, stopped, storage cleared: deletable
    started = time.monotonic()
    proc = await spawn(cli_argv("watch", "p"), env=clean_env({"FELDERA_HOST": fake.url}))
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), 30)  # the watch has begun
    fake.delete_pipeline("p")
    ran = await finish(proc, started, 60)
    assert ran.returncode == EXIT_API, ran  # as watch --help says
    assert "error: pipeline 'p' not found" in ran.stderr and "Traceback" not in ran.stderr


# -- pipes and signals ------------------------------------------------------------------


async def test_a_closed_pipe_does_not_change_the_outcome(fake: FakeFeldera) -> None:
    fake.create_pipeline("idle")  # never started: the wait times out (3)
    cmd = " ".join([sys.executable, "-m", "feldera_events", "wait", "idle", "--timeout", "2"])
    env = clean_env({"FELDERA_HOST": fake.url})
    ran = await run(["bash", "-c", f"set -o pipefail; {cmd} | head -1"], env=env, cwd=ROOT)
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert len(ran.stdout.splitlines()) == 1 and "Traceback" not in ran.stderr
    ran = await run(["bash", "-c", f"{cmd} >&-"], env=env, cwd=ROOT)
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert "Traceback" not in ran.stderr and "Exception ignored" not in ran.stderr


async def test_sigterm_is_handled_like_ctrl_c(fake: FakeFeldera) -> None:
    fake.create_pipeline("idle")
    started = time.monotonic()
    proc = await spawn(
        cli_argv("wait", "idle", "--timeout", "60", "--json", *FAST),
        env=clean_env({"FELDERA_HOST": fake.url}),
    )
    await fake.wait_for_requests(2, timeout=30, operation="get_pipeline_event")
    proc.send_signal(signal.SIGTERM)
    ran = await finish(proc, started, 60)
    assert ran.returncode == EXIT_TERMINATED, ran
    doc = json.loads(ran.stdout)
    assert doc["exit_code"] == EXIT_TERMINATED
    assert doc["pipelines"]["idle"]["outcome"] == "interrupted"
    assert "Traceback" not in ran.stderr


# -- configuration errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {"FELDERA_TLS_INSECURE": "maybe"}, "FELDERA_TLS_INSECURE='maybe'"),
        ((), {"FELDERA_HOST": ""}, "FELDERA_HOST is empty"),
        ((), {"FELDERA_HOST": "127.0.0.1:8080"}, "FELDERA_HOST ('127.0.0.1:8080') is not a URL"),
        (
            (),
            {"FELDERA_HOST": "https://example.com", "FELDERA_HTTPS_TLS_CERT": "/"},
            "FELDERA_HTTPS_TLS_CERT '/' is a directory",
        ),
        (
            ("--url", "https://example.com", "--ca-cert", "/nonexistent.pem"),
            {"FELDERA_HTTPS_TLS_CERT": "/other.pem"},
            "--ca-cert '/nonexistent.pem': no such file",
        ),
        (
            ("--url", "http://127.0.0.1:99999"),
            {},
            "--url ('http://127.0.0.1:99999') has an invalid port",
        ),
        (
            ("--url", "http://127.0.0.1:0"),
            {},
            "--url ('http://127.0.0.1:0') has an invalid port",
        ),
        ((), {"FELDERA_HOST": "http://[::1"}, "FELDERA_HOST ('http://[::1') is not a valid URL"),
        (("--url", "http://[zz]"), {}, "--url ('http://[zz]') is not a valid URL"),
        ((), {"FELDERA_API_KEY": "a\nb"}, "FELDERA_API_KEY contains"),
        (("--tenant", "a\rb"), {}, "--tenant contains"),
    ],
)
async def test_configuration_errors_name_their_source(
    args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    ran = await run_cli(*args, "get", "p", env=env)
    assert ran.returncode == EXIT_USAGE, ran
    assert ran.stderr.startswith(f"error: {expected}"), ran.stderr
    assert len(ran.stderr.splitlines()) == 1
    assert not re.search(r"\b(api_key|verify|tenant|url)=", ran.stderr)


@pytest.mark.parametrize(
    "command",
    [
        ("get", "p"),
        ("list", "p"),
        ("watch", "p"),
        ("wait", "p", "--timeout", "5"),
        ("health",),
        ("wait-cluster", "--timeout", "5"),
        ("cluster-events",),
    ],
)
async def test_an_invalid_url_is_one_line_for_every_command(command: tuple[str, ...]) -> None:
    ran = await run_cli("--url", "http://[::1", *command)
    assert ran.returncode == EXIT_USAGE, ran
    assert ran.stderr == "error: --url ('http://[::1') is not a valid URL (Invalid IPv6 URL)\n"


@pytest.mark.parametrize("via", ["--ca-cert", "FELDERA_HTTPS_TLS_CERT"])
async def test_a_ca_bundle_that_cannot_be_loaded_names_its_source(
    via: str, tmp_path: pathlib.Path
) -> None:
    bundle = tmp_path / "not-a-bundle.pem"
    bundle.write_text("this is not a certificate\n")
    args = ("--ca-cert", str(bundle)) if via == "--ca-cert" else ()
    env = {} if args else {"FELDERA_HTTPS_TLS_CERT": str(bundle)}
    ran = await run_cli("--url", "https://127.0.0.1:1", *args, "get", "p", env=env)
    assert ran.returncode == EXIT_USAGE, ran
    assert ran.stderr.startswith(f"error: {via} '{bundle}' could not be loaded as a CA bundle")
    assert len(ran.stderr.splitlines()) == 1


async def test_a_ca_bundle_is_not_needed_for_http(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    ran = await run_cli("get", "p", url=fake.url, env={"FELDERA_HTTPS_TLS_CERT": "/nonexistent"})
    assert ran.returncode == EXIT_OK, ran


# -- health -----------------------------------------------------------------------------


async def test_cluster_health_method(fake: FakeFeldera) -> None:
    fake.recover_cluster()
    async with EventsClient(fake.url) as client:
        health = await client.cluster_health()
        assert isinstance(health, ClusterHealth) and health.all_healthy
        fake.degrade_cluster("runner", "runner is gone")
        health = await client.cluster_health()  # a 503 with the same body
    assert not health.all_healthy and health.api.healthy and not health.runner.healthy
    assert health.runner.message == "runner is gone"
    assert health.runner.unchanged_since <= health.runner.checked_at


async def test_health_command(fake: FakeFeldera) -> None:
    fake.recover_cluster()
    ran = await run_cli("health", url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    assert "all services healthy" in ran.stdout
    fake.degrade_cluster("compiler", "compiler is gone")
    ran = await run_cli("health", url=fake.url)
    assert ran.returncode == EXIT_UNHEALTHY, ran
    rows = {line.split()[0]: line for line in ran.stdout.splitlines()[1:4]}
    assert set(rows) == {"api", "compiler", "runner"}
    assert "UNHEALTHY" in rows["compiler"] and "compiler is gone" in rows["compiler"]
    assert "healthy" in rows["api"] and "ago)" in rows["api"]
    ran = await run_cli("health", "--json", url=fake.url)
    doc = json.loads(ran.stdout)
    assert doc["exit_code"] == EXIT_UNHEALTHY and doc["compiler"]["healthy"] is False
    with refused_port() as port:
        ran = await run_cli("health", url=port.url)
    assert ran.returncode == EXIT_API, ran


# -- fake-server ------------------------------------------------------------------------


async def test_fake_server_can_be_scripted_from_the_command_line() -> None:
    started = time.monotonic()
    proc = await spawn(
        cli_argv(
            "fake-server", "--port", "0", "--speed", "20", "--pipelines", "2",
            "--fail-next-start", "pipeline-1=provision_check",
            "--degrade-cluster", "runner",
        )
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Ctrl-C"):
        lines.append((await asyncio.wait_for(proc.stdout.readline(), 30)).decode().rstrip())
    url = lines[0].split()[3]
    assert "  pipeline pipeline-1: compiled, stopped  (next start fails: provision_check)" in lines
    assert "  pipeline pipeline-2: compiled, stopped" in lines
    assert f"start one:  curl -X POST {url}/v0/pipelines/pipeline-1/start" in lines
    try:
        assert (await run_cli("health", url=url)).returncode == EXIT_UNHEALTHY
        async with aiohttp.ClientSession() as session:
            for name in ("pipeline-1", "pipeline-2"):
                async with session.post(f"{url}/v0/pipelines/{name}/start") as resp:
                    assert resp.status == 202
        ran = await run_cli("wait", "pipeline-1", "pipeline-2", "--timeout", "30", *FAST, url=url)
        assert ran.returncode == EXIT_FAILED, ran
        assert "RunnerProvisionCheckFailed" in ran.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        ran = await finish(proc, started, 60)
    assert ran.returncode == 130 and "Traceback" not in ran.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--fault", "504"),
        ("--fault", "latency"),
        ("--fail-next-start", "pipeline-1=explode"),
        ("--fail-next-start", "nope=worker_panic"),
        ("--fault-probability", "0"),
    ],
)
async def test_fake_server_bad_flags_exit_2(args: tuple[str, ...]) -> None:
    ran = await run_cli("fake-server", "--port", "0", "--pipelines", "1", *args)
    assert ran.returncode == EXIT_USAGE, ran
    assert "Traceback" not in ran.stderr


async def start_fake_server(*args: str) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    """``fake-server --port 0 --pipelines 1 ARGS``: the process, its URL, its start-up lines."""
    proc = await spawn(cli_argv("fake-server", "--port", "0", "--pipelines", "1", *args))
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Ctrl-C"):
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, lines  # the server exited
        lines.append(line.rstrip())
    return proc, lines[0].split()[3], lines


async def stop_fake_server(proc: asyncio.subprocess.Process, started: float) -> None:
    proc.send_signal(signal.SIGINT)
    ran = await finish(proc, started, 60)
    assert ran.returncode == 130 and "Traceback" not in ran.stderr, ran


@pytest.mark.parametrize(
    ("fault", "status", "retry_after", "error_code"),
    [
        ("503", 503, None, "LockTookTooLong"),
        ("503:2", 503, "2", "LockTookTooLong"),
        ("502", 502, None, None),  # a proxy's HTML page, no Feldera JSON
    ],
)
async def test_fake_server_fault_answers_the_events_endpoints_badly(
    fault: str, status: int, retry_after: str | None, error_code: str | None
) -> None:
    started = time.monotonic()
    proc, url, lines = await start_fake_server("--fault", fault)
    try:
        assert f"  fault {fault} on the events endpoints, probability 1" in lines
        async with aiohttp.ClientSession() as session:
            for path in ("events/latest", "events"):
                async with session.get(f"{url}/v0/pipelines/pipeline-1/{path}") as resp:
                    text = await resp.text()
                    assert resp.status == status, text
                    assert resp.headers.get("Retry-After") == retry_after
                    if error_code is None:
                        assert "<title>502 Bad Gateway</title>" in text, text
                    else:
                        assert json.loads(text)["error_code"] == error_code, text
            async with session.get(f"{url}/v0/pipelines/pipeline-1") as resp:
                assert resp.status == 200  # not an events endpoint: answered well
        # The SDK sees the fault too: the 503 is transient, with the server's Retry-After.
        if fault == "503:2":
            async with EventsClient(url) as client:
                with pytest.raises(ServerError) as info:
                    await client.get_event("pipeline-1", retry=RetryPolicy.disabled())
            assert info.value.error_code == "LockTookTooLong" and info.value.retry_after == 2
    finally:
        await stop_fake_server(proc, started)


async def test_fake_server_latency_fault_delays_the_events_endpoints() -> None:
    started = time.monotonic()
    proc, url, lines = await start_fake_server("--fault", "latency:0.5")
    try:
        assert "  fault latency:0.5 on the events endpoints, probability 1" in lines
        async with aiohttp.ClientSession() as session:
            begun = time.monotonic()
            async with session.get(f"{url}/v0/pipelines/pipeline-1/events/latest") as resp:
                assert resp.status == 200
                assert (await resp.json())["deployment_resources_status"] == "Stopped"
            assert time.monotonic() - begun >= 0.4  # a generous lower bound of the 0.5 s
    finally:
        await stop_fake_server(proc, started)


async def test_dash_vv_logs_each_request() -> None:
    secret = "apikey:never-shown-0123456789"
    async with FakeFeldera(speed=20, api_keys=[secret]) as fake:
        fake.create_pipeline("p")
        ran = await run_cli("get", "p", "-vv", url=fake.url, env={"FELDERA_API_KEY": secret})
        plain = await run_cli("get", "p", "-v", url=fake.url, env={"FELDERA_API_KEY": secret})
    assert ran.returncode == EXIT_OK, ran
    assert re.search(
        r"DEBUG feldera_events\.http: GET /v0/pipelines/p/events/latest\?selector=all -> 200 in [\d.]+ ms",
        ran.stderr,
    ), ran.stderr
    assert secret not in ran.output
    assert plain.returncode == EXIT_OK and "feldera_events.http" not in plain.stderr  # -v alone


async def test_argument_errors_speak_of_cli_arguments() -> None:
    ran = await run_cli("get", "p", "nope")
    assert ran.returncode == EXIT_USAGE, ran
    assert "EVENT_ID must be 'latest' or a UUID" in ran.stderr and "event_id" not in ran.stderr


async def test_watch_says_when_the_server_went_away_and_came_back() -> None:
    first = FakeFeldera(speed=20)  # a port of its own; the second server reuses it
    await first.start_server()
    port = int(first.url.rsplit(":", 1)[1])
    second: FakeFeldera | None = None
    try:
        first.create_pipeline("p")
        started = time.monotonic()
        proc = await spawn(cli_argv("watch", "p"), env=clean_env({"FELDERA_HOST": first.url}))
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 30)  # the current status
        await first.close()
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert "the server went away (connection refused); polling on" in line, line
        second = FakeFeldera(speed=20, port=port)
        await second.start_server()
        second.create_pipeline("p")
        lines: list[str] = []
        while not any("answers again" in x for x in lines):
            lines.append((await asyncio.wait_for(proc.stdout.readline(), 30)).decode())
        proc.send_signal(signal.SIGINT)
        ran = await finish(proc, started, 60)
        assert ran.returncode == 130 and "Traceback" not in ran.stderr
    finally:
        await first.close()
        if second is not None:
            await second.close()


async def test_cluster_health_503_that_is_not_about_health(fake: FakeFeldera) -> None:
    fake.inject(lock_503(), operations="*", path_contains="cluster_healthz")
    async with EventsClient(fake.url) as client:
        with pytest.raises(ServerError) as info:
            await client.cluster_health()
    assert info.value.status_code == 503 and info.value.error_code == "LockTookTooLong"
