"""The simulated manager as a process: ``feldera-events fake-server``, the same command as
``python -m feldera_events.testing``, and ``run_fake_server``.

Start-up lines, options and exit codes are one command's: the docs' pipeline names
exist with ``--pipeline``, and the lines say how to create and start one (curl commands
that work as printed).
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.cli_support import clean_env, cli_argv, finish, run, spawn

MODULE = [sys.executable, "-m", "feldera_events.testing"]
#: The CLI as a shell command (``feldera-events`` may not be on PATH in a test venv).
CLI = " ".join(shlex.quote(part) for part in cli_argv())


async def start(argv: list[str]) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    """Spawn a fake-server command; its process, URL and start-up lines."""
    proc = await spawn(argv)
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Ctrl-C"):
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, lines  # the server exited
        lines.append(line.rstrip("\n"))
    match = re.search(r"listening on (http://\S+)", lines[0])
    assert match, lines
    return proc, match.group(1), lines


async def stop(proc: asyncio.subprocess.Process, started: float) -> None:
    proc.send_signal(signal.SIGINT)
    ran = await finish(proc, started, 60)
    assert ran.returncode == 130, ran
    assert "Traceback" not in ran.stderr, ran.stderr


async def test_python_m_testing_is_the_fake_server_command() -> None:
    args = ["--port", "0", "--pipelines", "1", "--pipeline", "orders", "--speed", "50"]
    outputs = []
    for argv in (MODULE + args, cli_argv("fake-server", *args)):
        started = time.monotonic()
        proc, url, lines = await start(argv)
        try:
            async with (
                aiohttp.ClientSession() as s,
                s.get(f"{url}/v0/pipelines/orders/events/latest") as r,
            ):
                assert (await r.json())["deployment_resources_status"] == "Stopped"
        finally:
            await stop(proc, started)
        outputs.append([line.replace(url, "URL") for line in lines])
    assert outputs[0] == outputs[1]
    assert "  pipeline pipeline-1: compiled, stopped" in outputs[0]
    assert "  pipeline orders: compiled, stopped" in outputs[0]
    helps = [await run([*MODULE, "--help"]), await run(cli_argv("fake-server", "--help"))]
    assert helps[0].returncode == helps[1].returncode == 0
    assert helps[0].stdout == helps[1].stdout
    assert "--pipeline NAME[=PROGRAM]" in helps[0].stdout
    bad = [await run([*MODULE, "--speed", "0"]), await run(cli_argv("fake-server", "--speed", "0"))]
    assert bad[0].returncode == bad[1].returncode == 2
    assert bad[0].stderr == bad[1].stderr


async def test_pipelines_by_name_with_programs_and_the_curl_lines(tmp_path: Path) -> None:
    program = tmp_path / "fraud.sql"
    program.write_text("CREATE TABLE tx (amount INT);\nCREATE VIEW big AS SELECT * FROM tx;\n")
    started = time.monotonic()
    proc, url, lines = await start(
        cli_argv(
            "fake-server", "--port", "0", "--speed", "50",
            "--pipeline", "my-pipeline",
            "--pipeline", "orders=CREATE TABLE orders (id INT);",
            "--pipeline", f"fraud-detector=@{program}",
            "--pipeline", "broken=invalid-sql",
            "--fail-next-input", "fraud-detector",
        )
    )  # fmt: skip
    try:
        assert "  pipeline my-pipeline: compiled, stopped" in lines
        assert "  pipeline orders: compiling its program, stopped" in lines
        assert "  next input to fraud-detector (POST .../ingress/TABLE): a worker panics" in lines
        create = next(line for line in lines if line.startswith("create one: "))
        start_line = next(line for line in lines if line.startswith("start one:  "))
        assert start_line == f"start one:  curl -X POST {url}/v0/pipelines/my-pipeline/start"
        async with aiohttp.ClientSession() as s:
            # The create line, as a shell would run it.
            words = shlex.split(create.removeprefix("create one: "))
            assert words[:4] == ["curl", "-X", "POST", f"{url}/v0/pipelines"]
            body = json.loads(words[words.index("-d") + 1])
            async with s.post(words[3], json=body) as r:
                assert r.status == 201
            for name in ("my-pipeline", body["name"], "orders", "fraud-detector"):
                async with s.post(f"{url}/v0/pipelines/{name}/start") as r:
                    assert r.status == 202, name  # early starts wait for the compiler
            status = await wait_for(s, url, "broken", "program_status", "SqlError")
            assert status["deployment_status"] == "Stopped"
            for name in ("my-pipeline", body["name"], "orders", "fraud-detector"):
                await wait_for(s, url, name, "deployment_status", "Running")
            async with s.post(f"{url}/v0/pipelines/fraud-detector/ingress/tx", data="7\n") as r:
                assert r.status == 200
            status = await wait_for(s, url, "fraud-detector", "deployment_status", "Stopped")
            assert status["deployment_error"]["error_code"] == "RuntimeError.WorkerPanic"
    finally:
        await stop(proc, started)


async def test_with_an_api_key_the_printed_lines_send_it() -> None:
    # Review of issue 26: with --api-key the printed curl lines answered 401 and the
    # watch line exited 4. They now send the key from FELDERA_API_KEY (never printed).
    key = "sekret-key-123"
    started = time.monotonic()
    proc, _, lines = await start(
        cli_argv("fake-server", "--port", "0", "--speed", "50", "--api-key", key,
                 "--pipeline", "orders")
    )  # fmt: skip
    try:
        assert not any(key in line for line in lines), lines
        assert any("export FELDERA_API_KEY=" in line for line in lines), lines
        env = clean_env({"FELDERA_API_KEY": key})
        create = next(line for line in lines if line.startswith("create one: "))
        start_line = next(line for line in lines if line.startswith("start one:  "))
        watch = next(line for line in lines if line.startswith("watch it:   "))
        for line in (create, start_line):  # as a shell runs them: -w prints the status
            command = line.split(": ", 1)[1] + " -s -o /dev/null -w '%{http_code}'"
            ran = await run(["bash", "-c", command], env=env)
            assert ran.stdout in ("201", "202"), (line, ran)
        # The watch line prints the pipeline's events (it exited 4 on a 401).
        command = watch.removeprefix("watch it:   ").replace("feldera-events", CLI, 1)
        ran = await run(["bash", "-c", f"{command} | head -1"], env=env)
        assert re.match(r"\d{4}-\d\d-\d\dT\S+Z  \S", ran.stdout), ran  # an event's line
    finally:
        await stop(proc, started)


async def wait_for(
    session: aiohttp.ClientSession, url: str, name: str, field: str, value: str
) -> dict[str, object]:
    """Poll the pipeline until ``field`` is ``value`` (a generous 30 s bound)."""
    deadline = time.monotonic() + 30
    while True:
        async with session.get(f"{url}/v0/pipelines/{name}?selector=status") as r:
            status: dict[str, object] = await r.json()
        if status[field] == value:
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pipelines", "1", "--pipeline", "pipeline-1"), "'pipeline-1' is named twice"),
        (("--pipeline", "a", "--pipeline", "a=CREATE TABLE t (x INT);"), "'a' is named twice"),
        (("--pipeline", "=CREATE TABLE t (x INT);"), "expected NAME or NAME=PROGRAM"),
        (("--pipeline", "a=@/nonexistent/program.sql"), "cannot read the program of 'a'"),
        (("--fail-next-start", "orders=worker_panic"), "not among the created pipelines"),
        (("--pipeline", "bad/name"), "--pipeline 'bad/name': Name 'bad/name' should be"),
        (("--pipeline", "."), "--pipeline '.': Name '.' should be non-empty"),
        (("--pipeline", "a" * 64), "is longer (64) than maximum allowed (63)"),
    ],
)
async def test_bad_pipeline_options_exit_2(args: tuple[str, ...], message: str) -> None:
    ran = await run(cli_argv("fake-server", "--port", "0", *args))
    assert ran.returncode == 2, ran
    assert message in ran.stderr
    assert "Traceback" not in ran.stderr


async def test_run_fake_server_serves_until_sigint() -> None:
    code = (
        "from feldera_events.testing import run_fake_server; run_fake_server(port=0, pipelines=1)"
    )
    started = time.monotonic()
    proc = await spawn([sys.executable, "-c", code])
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    url = line.split("listening on ")[1].split()[0]
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{url}/v0/pipelines/pipeline-1/events/latest") as r,
    ):
        assert r.status == 200
    proc.send_signal(signal.SIGINT)
    ran = await finish(proc, started, 60)
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran
