"""The ``feldera-events`` CLI as a subprocess against the simulated manager."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cli_support import ROOT, clean_env, cli_argv, finish, interrupt, run_cli, spawn
from helpers import refused_port

from feldera_events.cli._render import (
    EXIT_API,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    combine_exit_codes,
    github_annotation,
)
from feldera_events.testing import FakeFeldera, Timings

SECRET = "apikey:do-not-print-me-0123456789"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  ")
FAST = ("--poll-interval", "0.05")


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=20) as server:
        yield server


def no_traceback(text: str) -> None:
    assert "Traceback" not in text


# -- wait: exit codes -------------------------------------------------------------------


async def test_wait_provisioned_exits_0_with_log_lines(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    ran = await run_cli("wait", "p", "--timeout", "30", *FAST, url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    assert ran.stderr == ""
    lines = ran.stdout.splitlines()
    # Not a terminal: timestamped lines, one per status change, no escape sequences.
    assert "\x1b" not in ran.stdout
    assert all(STAMP.match(line) for line in lines), lines
    assert any("Provisioned" in line for line in lines)
    # One pipeline: its progress line says how it ended, and no other line repeats it.
    assert re.search(r"  p  provisioned after \d+\.\ds$", lines[-1]), lines
    assert sum("provisioned" in line for line in lines) == 1, lines
    status_lines = [line for line in lines if "(recorded" in line]
    assert len(status_lines) == len({line.split("  ")[2] for line in status_lines})


async def test_wait_deployment_failure_exits_1_with_error_and_timeline(
    fake: FakeFeldera,
) -> None:
    # 2 s of Provisioning at speed 20, started once the CLI polls; a stop that never ends.
    fake.create_pipeline("p", provisioning_timeout=40, timings=Timings(stopping=1e9))
    fake.fail_next_start("p", "provisioning_timeout")
    started = time.monotonic()
    proc = await spawn(
        cli_argv("wait", "p", "--timeout", "30", *FAST), env=clean_env({"FELDERA_HOST": fake.url})
    )
    await fake.wait_for_requests(1, timeout=30, operation="get_pipeline_event")
    fake.start("p")
    ran = await finish(proc, started, 60)
    assert ran.returncode == EXIT_FAILED, ran
    out = ran.stdout
    assert "pipeline 'p' FAILED" in out
    assert "error_code: PipelineProvisioningTimeout" in out
    assert "provisioning timed out" in out
    assert "events since the wait began" in out
    timeline = out.split("events since the wait began (oldest first):", 1)[1]
    # The wait fails as soon as the pipeline is Stopping with the error (the stop never
    # ends here, so the timeline cannot reach Stopped). Status lines, not the error code:
    # "PipelineProvisioningTimeout" contains "Provisioning".
    rows = [line.strip() for line in timeline.strip().splitlines()]
    assert any("Provisioning → Provisioned" in row for row in rows), timeline
    assert "Stopping → Stopped, error PipelineProvisioningTimeout" in rows[-1], timeline
    assert "::error" not in out  # not under GitHub Actions
    no_traceback(ran.output)


async def test_wait_stopped_by_someone_exits_1(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", timings=Timings(provisioning=10_000))
    fake.start("p")
    started = time.monotonic()
    proc = await spawn(
        cli_argv("wait", "p", "--timeout", "60", "--json", *FAST),
        env=clean_env({"FELDERA_HOST": fake.url}),
    )
    await fake.wait_for_requests(1, timeout=30, operation="get_pipeline_event")
    fake.stop("p", force=True)
    ran = await finish(proc, started, 60)
    assert ran.returncode == EXIT_FAILED, ran
    # One name everywhere: the progress line, the summary and the JSON outcome.
    assert json.loads(ran.stdout)["pipelines"]["p"]["outcome"] == "stopped"
    assert re.search(r"  p  STOPPED after \d", ran.stderr), ran.stderr
    assert "pipeline 'p' STOPPED after" in ran.stderr


async def test_wait_timeout_exits_3(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")  # never started
    ran = await run_cli("wait", "p", "--timeout", "0.5", *FAST, url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert "not provisioned within 0.5s" in ran.stdout
    assert "(last status: Stopped)" in ran.stdout


async def test_since_now_ignores_an_earlier_provisioned(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_resources_status="Provisioned")
    ran = await run_cli("wait", "p", "--timeout", "0.5", "--since-now", *FAST, url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran
    ran = await run_cli("wait", "p", "--timeout", "30", *FAST, url=fake.url)
    assert ran.returncode == EXIT_OK, ran


async def test_unknown_pipeline_exits_4_naming_pipeline_and_url(fake: FakeFeldera) -> None:
    ran = await run_cli("wait", "nope", "--timeout", "30", url=fake.url)
    assert ran.returncode == EXIT_API, ran
    assert f"error: pipeline 'nope' not found at {fake.url}" in ran.stderr
    assert len(ran.stderr.splitlines()) == 1
    no_traceback(ran.output)
    for args in (("get", "nope"), ("list", "nope"), ("watch", "nope")):
        ran = await run_cli(*args, url=fake.url)
        assert ran.returncode == EXIT_API, (args, ran)
        assert (
            ran.stderr == f"error: pipeline 'nope' not found at {fake.url} (UnknownPipelineName)\n"
        )


async def test_unreachable_url_exits_4_within_seconds() -> None:
    with refused_port() as port:  # held: nothing else can listen there meanwhile
        url = port.url
        ran = await run_cli("wait", "a", "b", "--timeout", "300", url=url)
        assert ran.returncode == EXIT_API, ran
        # A wrong URL is not waited on until the 300 s timeout: it fails within seconds (the
        # bound leaves room for an interpreter start on a loaded machine).
        assert ran.elapsed < 20, ran
        # One line for the two pipelines: the URL is the problem, not the pipelines.
        assert ran.stderr.splitlines() == [
            line for line in ran.stderr.splitlines() if line.startswith("error: cannot reach")
        ]
        assert len(ran.stderr.splitlines()) == 1
        assert url in ran.stderr
        no_traceback(ran.output)
        ran = await run_cli("get", "p", url=url)
        assert ran.returncode == EXIT_API and url in ran.stderr


async def test_authentication_failure_exits_4_without_printing_the_key() -> None:
    async with FakeFeldera(speed=20, api_keys=["apikey:right"]) as fake:
        fake.create_pipeline("p")
        ran = await run_cli("-v", "--api-key", SECRET, "wait", "p", "--timeout", "30", url=fake.url)
        assert ran.returncode == EXIT_API, ran
        assert "authentication failed" in ran.stderr
        assert SECRET not in ran.output
        # The key from the environment, verbose logging, a successful list: still never shown.
        ran = await run_cli(
            "list", "p", "-vv", url=fake.url, env={"FELDERA_API_KEY": "apikey:right"}
        )
        assert ran.returncode == EXIT_OK, ran
        assert "apikey:right" not in ran.output
        ran = await run_cli("get", "p", "--api-key", SECRET, "-vv", url=fake.url)
        assert ran.returncode == EXIT_API and SECRET not in ran.output


@pytest.mark.parametrize(
    "args",
    [
        ("get", "p", "not-a-uuid"),
        ("get", "p", "LATEST"),
        ("get", "p", "--selector", "everything"),
        ("list", "p", "--limit", "0"),
        ("wait", "p"),  # --timeout is required
        ("wait", "p", "--timeout", "0"),
        ("wait", "", "--timeout", "5"),
        ("--url", "ftp://example.com", "get", "p"),
        ("--url", "http://user:pw@example.com", "list", "p"),
        ("--url", "https://example.com", "--ca-cert", "/nonexistent/ca.pem", "get", "p"),
        ("--url", "https://example.com", "--ca-cert", "/", "get", "p"),  # a directory
        ("--url", "http://127.0.0.1:99999", "get", "p"),  # bad port
        ("wait", "p", "--timeout", "soon"),
        ("bogus-command",),
        (),
    ],
)
async def test_usage_errors_exit_2_before_any_request(
    fake: FakeFeldera, args: tuple[str, ...]
) -> None:
    fake.create_pipeline("p")
    ran = await run_cli(*args, url=fake.url)
    assert ran.returncode == 2, ran
    no_traceback(ran.output)
    assert fake.requests == []
    assert "pw" not in ran.stderr


async def test_mixed_outcomes_follow_the_documented_precedence(fake: FakeFeldera) -> None:
    fake.create_pipeline("ok")
    fake.create_pipeline("bad", provisioning_timeout=4)
    fake.create_pipeline("idle")
    fake.fail_next_start("bad", "provisioning_timeout")
    fake.start("ok")
    fake.start("bad")
    ran = await run_cli("wait", "ok", "bad", "idle", "--timeout", "3", *FAST, url=fake.url)
    assert ran.returncode == EXIT_FAILED, ran  # 1 > 3 > 0
    ran = await run_cli("wait", "ok", "bad", "missing", "--timeout", "3", *FAST, url=fake.url)
    assert ran.returncode == EXIT_API, ran  # 4 > 1
    ran = await run_cli("wait", "ok", "idle", "--timeout", "0.5", *FAST, url=fake.url)
    assert ran.returncode == EXIT_TIMEOUT, ran  # 3 > 0


def test_exit_code_precedence_unit() -> None:
    assert combine_exit_codes([0, 3, 1, 4]) == 4
    assert combine_exit_codes([0, 3, 1]) == 1
    assert combine_exit_codes([3, 0]) == 3
    assert combine_exit_codes([0, 0]) == 0
    assert combine_exit_codes([0, 130, 4]) == 130


async def test_help_documents_exit_codes() -> None:
    ran = await run_cli("--help")
    assert ran.returncode == 0
    for text in ("exit codes", "130", "143", "FELDERA_API_KEY", "false/0/no/off"):
        assert text in ran.stdout
    ran = await run_cli("wait", "--help")
    assert ran.returncode == 0 and "exit codes:" in ran.stdout and "--since-now" in ran.stdout
    assert "4 > 1 > 5 > 3 > 0" in ran.stdout and "'none' to wait forever" in ran.stdout
    # Each command lists its own exit codes.
    ran = await run_cli("wait-cluster", "--help")
    assert "3    the manager answered, but was still unhealthy" in ran.stdout
    assert "4 > 1 > 5 > 3 > 0" not in ran.stdout
    ran = await run_cli("health", "--help")
    assert "1    a service is unhealthy" in ran.stdout
    ran = await run_cli("get", "--help")
    assert re.search(r"PIPELINE +pipeline name", ran.stdout) and "  3 " not in ran.stdout


# -- wait: --json and GitHub Actions ----------------------------------------------------


async def test_wait_json_output(fake: FakeFeldera) -> None:
    fake.create_pipeline("ok")
    # The stop never ends: the wait fails at Stopping with the error, as documented (it
    # used to expect Stopped, a race against the fake's 50 ms stop).
    fake.create_pipeline("bad", provisioning_timeout=4, timings=Timings(stopping=1e9))
    fake.fail_next_start("bad", "provisioning_timeout")
    fake.start("ok")
    fake.start("bad")
    ran = await run_cli("wait", "ok", "bad", "--timeout", "30", "--json", *FAST, url=fake.url)
    assert ran.returncode == EXIT_FAILED, ran
    doc = json.loads(ran.stdout)  # stdout is exactly one JSON document
    assert doc["exit_code"] == 1 and doc["ok"] is False and doc["url"] == fake.url
    ok, bad = doc["pipelines"]["ok"], doc["pipelines"]["bad"]
    assert ok["outcome"] == "succeeded" and ok["exit_code"] == 0
    assert ok["event"]["deployment_resources_status"] == "Provisioned"
    assert ok["error_code"] is None and ok["elapsed"] > 0
    assert bad["outcome"] == "failed"
    assert bad["error_code"] == "PipelineProvisioningTimeout"
    assert "provisioning timed out" in bad["message"]
    assert bad["event"]["deployment_error"]["error_code"] == "PipelineProvisioningTimeout"
    assert bad["timeline"][-1]["deployment_resources_status"] == "Stopping"
    assert bad["timeline"][-1]["deployment_has_error"] is True
    # The final event has the same keys whatever the outcome.
    assert set(ok["event"]) == set(bad["event"]) and "deployment_error" in ok["event"]
    assert ok["failed_requests"] == 0
    # Progress went to stderr: status lines (not the error code, which contains
    # "Provisioning") and the error.
    assert re.search(r"  bad +Stopping → Stopped, has error", ran.stderr), ran.stderr
    assert re.search(r"  ok +Provisioned\S* ", ran.stderr), ran.stderr
    assert "error_code: PipelineProvisioningTimeout" in ran.stderr


async def test_wait_json_timeout_and_error(fake: FakeFeldera) -> None:
    fake.create_pipeline("idle")
    ran = await run_cli(
        "wait", "idle", "missing", "--timeout", "0.5", "--json", *FAST, url=fake.url
    )
    assert ran.returncode == EXIT_API, ran
    doc = json.loads(ran.stdout)
    assert doc["pipelines"]["idle"]["outcome"] == "timed_out"
    assert doc["pipelines"]["idle"]["event"]["deployment_resources_status"] == "Stopped"
    assert "deployment_resources_status_details" in doc["pipelines"]["idle"]["event"]
    assert doc["pipelines"]["missing"]["outcome"] == "error"
    assert doc["pipelines"]["missing"]["error_code"] == "UnknownPipelineName"


async def test_github_actions_annotation(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", provisioning_timeout=4)
    fake.fail_next_start("p", "provisioning_timeout")
    fake.start("p")
    ran = await run_cli(
        "wait", "p", "--timeout", "30", *FAST, url=fake.url, env={"GITHUB_ACTIONS": "true"}
    )
    assert ran.returncode == EXIT_FAILED, ran
    annotations = [line for line in ran.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    assert annotations[0].startswith(
        "::error title=Pipeline p FAILED::PipelineProvisioningTimeout: "
    )
    # Errors are annotated too.
    ran = await run_cli(
        "wait", "nope", "--timeout", "30", url=fake.url, env={"GITHUB_ACTIONS": "true"}
    )
    assert ran.returncode == EXIT_API
    assert "::error title=Pipeline nope%3A error::pipeline 'nope' not found" in ran.stdout


def test_github_annotation_escapes() -> None:
    # A newline (server text) is shown escaped, never sent: the command stays one line.
    assert github_annotation("a: b, c", "50%\nnext") == "::error title=a%3A b%2C c::50%25\\nnext"


# -- wait: terminal rendering -----------------------------------------------------------


# -- get / list / watch -----------------------------------------------------------------


async def test_get_prints_the_event_as_json(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    first = fake.events("p")[-1]
    ran = await run_cli("get", "p", url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    latest = json.loads(ran.stdout)
    assert latest["event_id"] == first["event_id"]
    assert "deployment_error" in latest  # selector=all by default
    ran = await run_cli("get", "p", first["event_id"].upper(), "--selector", "status", url=fake.url)
    assert ran.returncode == EXIT_OK, ran
    data = json.loads(ran.stdout)
    assert data["event_id"] == first["event_id"] and "deployment_error" not in data
    ran = await run_cli("get", "p", "0197a2b4-6f1e-7c3a-9d2e-1b2c3d4e5f60", url=fake.url)
    assert ran.returncode == EXIT_API and "does not exist" in ran.stderr


async def test_list_formats_and_limit(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_runtime_status="Running")
    total = len(fake.events("p"))
    ran = await run_cli("list", "p", url=fake.url)  # not a terminal: JSON
    assert ran.returncode == EXIT_OK, ran
    events = json.loads(ran.stdout)
    assert len(events) == total and events[0]["deployment_runtime_status"] == "Running"
    ran = await run_cli("list", "p", "--format", "jsonl", "--limit", "2", url=fake.url)
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [e["event_id"] for e in lines] == [e["event_id"] for e in events[:2]]
    ran = await run_cli("list", "p", "--format", "table", "--selector", "all", url=fake.url)
    rows = ran.stdout.splitlines()
    assert rows[0].split() == [
        "RECORDED_AT",
        "STATUS",
        "PROGRAM",
        "STORAGE",
        "ERROR",
        "EVENT_ID",
    ]
    assert len(rows) == total + 1
    assert rows[1].split()[1:5] == ["Provisioned/Running", "Success", "InUse", "-"]


async def test_watch_prints_new_events_until_ctrl_c(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    started = time.monotonic()
    proc = await spawn(cli_argv("watch", "p", "--jsonl"), env=clean_env({"FELDERA_HOST": fake.url}))
    assert proc.stdout is not None
    first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    assert first["deployment_resources_status"] == "Stopped"
    fake.start("p")
    seen = []
    while not seen or seen[-1] != "Provisioned":
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        seen.append(json.loads(line)["deployment_resources_status"])
    assert "Provisioning" in seen
    ran = await interrupt(proc, started)
    assert ran.returncode == 130, ran
    assert ran.stderr == ""


async def test_watch_text_lines(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    started = time.monotonic()
    proc = await spawn(cli_argv("watch", "p"), env=clean_env({"FELDERA_HOST": fake.url}))
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert STAMP.match(line) and line.split("  ")[1].strip() == "Stopped"
    ran = await interrupt(proc, started)
    assert ran.returncode == 130 and ran.stderr == ""


async def test_ctrl_c_during_wait_exits_130_quietly(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")  # never started: the wait would last its whole timeout
    started = time.monotonic()
    proc = await spawn(
        cli_argv("wait", "p", "--timeout", "600", *FAST), env=clean_env({"FELDERA_HOST": fake.url})
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert b"Stopped" in line
    ran = await interrupt(proc, started)
    assert ran.returncode == 130, ran
    assert ran.stderr == ""
    assert ran.elapsed < 60


# -- fake-server and demo ---------------------------------------------------------------


async def test_fake_server_serves_until_ctrl_c() -> None:
    started = time.monotonic()
    proc = await spawn(cli_argv("fake-server", "--port", "0", "--pipelines", "2", "--speed", "50"))
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    match = re.search(r"listening on (http://\S+)", line)
    assert match, line
    url = match.group(1)
    ran = await run_cli("list", "pipeline-2", url=url)
    assert ran.returncode == EXIT_OK, ran
    assert json.loads(ran.stdout)[0]["deployment_resources_status"] == "Stopped"
    ran = await interrupt(proc, started)
    assert ran.returncode == 130, ran
    no_traceback(ran.output)


async def test_fake_server_with_api_key() -> None:
    started = time.monotonic()
    proc = await spawn(
        cli_argv("fake-server", "--port", "0", "--pipelines", "1", "--api-key", "apikey:k")
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    url = line.split("listening on ", 1)[1].split()[0]
    assert (await run_cli("get", "pipeline-1", url=url)).returncode == EXIT_API
    ran = await run_cli("get", "pipeline-1", "--api-key", "apikey:k", url=url)
    assert ran.returncode == EXIT_OK, ran
    await interrupt(proc, started)


async def test_fake_server_port_in_use_is_a_clear_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        ran = await run_cli("fake-server", "--port", str(port))
    assert ran.returncode == 2, ran
    assert f"cannot listen on 127.0.0.1:{port}" in ran.stderr
    no_traceback(ran.output)


async def test_demo_end_to_end() -> None:
    """The demo without a terminal (the suite runs it twice in all: here, and on a
    terminal in tests/test_cli_display.py; the `feldera-events demo` commands of the
    README and the docs are this run, see tests/doc_blocks.py). It exits 0, takes about what --help says,
    and tells its story."""
    ran = await run_cli("--help")
    stated = float(re.search(r"simulated\s+manager\s+\(~(\d+)\s+s\)", ran.stdout)[1])  # type: ignore[index]
    ran = await run_cli("demo", timeout=100)
    assert ran.returncode == EXIT_OK, ran
    # Not shorter than stated (the demo's own timings), and not far longer on a loaded
    # machine (an interpreter start included).
    assert stated * 0.8 <= ran.elapsed <= stated * 5, (stated, ran.elapsed)
    assert "Traceback" not in ran.stderr
    out = ran.stdout
    assert "Started a simulated pipeline manager (FakeFeldera) at http://127.0.0.1:" in out
    assert "POST /v0/pipelines/orders/start -> 202" in out
    assert "orders" in out and "provisioned after" in out
    assert "fraud-detector" in out and "FAILED" in out
    assert "error_code: PipelineProvisioningTimeout" in out
    assert "Try next:" in out
    assert ran.stderr == ""


async def test_python_dash_m_and_console_script_agree() -> None:
    ran = await run_cli("--version")
    assert ran.returncode == 0 and ran.stdout.startswith("feldera-events ")
    assert (ROOT / "feldera_events" / "__main__.py").exists()
    # The installed console script (pyproject [project.scripts]) next to this Python.
    script = Path(sys.executable).with_name("feldera-events")
    assert script.is_file(), (
        f"no console script at {script}: install the project (pip install -e .)"
    )
    for args in (("--version",), ("--help",), ("wait", "--help")):
        by_script = await finish(await spawn([str(script), *args]), time.monotonic(), 60)
        by_module = await run_cli(*args)
        assert by_script.returncode == 0, by_script
        assert (by_script.stdout, by_script.stderr) == (by_module.stdout, by_module.stderr)
