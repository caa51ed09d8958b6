"""Every file in examples/ runs against the simulated manager, so none can rot."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cli_support import ROOT, clean_env, cli_argv, interrupt, run, run_cli, spawn

from feldera_events.cli import build_parser
from feldera_events.testing import FakeFeldera

EXAMPLES = ROOT / "examples"


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=20) as server:
        yield server


async def run_example(script: str, *args: str, url: str) -> tuple[int, str, str]:
    ran = await run(
        [sys.executable, str(EXAMPLES / script), *args], env=clean_env({"FELDERA_HOST": url})
    )
    return ran.returncode, ran.stdout, ran.stderr


def test_every_example_is_covered() -> None:
    names = {p.name for p in EXAMPLES.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert names == {"ci_wait.py", "orchestrator.py", "test_my_app.py", "github-actions.yml"}


async def test_ci_wait_success(fake: FakeFeldera) -> None:
    for name in ("a", "b"):
        fake.create_pipeline(name)
        fake.start(name)
    code, out, err = await run_example("ci_wait.py", "a", "b", "--timeout", "30", url=fake.url)
    assert code == 0, (out, err)
    assert "a: provisioned after" in out and "b: provisioned after" in out


async def test_ci_wait_failure_and_error(fake: FakeFeldera) -> None:
    fake.create_pipeline("a")
    fake.create_pipeline("b", provisioning_timeout=4)
    fake.fail_next_start("b", "provisioning_timeout")
    fake.start("a")
    fake.start("b")
    code, out, err = await run_example("ci_wait.py", "a", "b", "--timeout", "30", url=fake.url)
    assert code == 1, (out, err)
    assert "b: FAILED with PipelineProvisioningTimeout" in err
    code, out, err = await run_example(
        "ci_wait.py", "a", "missing", "--timeout", "30", url=fake.url
    )
    assert code == 4, (out, err)


async def test_ci_wait_takes_url_argument(fake: FakeFeldera) -> None:
    fake.create_pipeline("a")
    fake.start("a")
    ran = await run(
        [sys.executable, str(EXAMPLES / "ci_wait.py"), "a", "--timeout", "30", "--url", fake.url],
        env=clean_env(),
    )
    assert ran.returncode == 0, ran


async def test_orchestrator_starts_and_watches(fake: FakeFeldera) -> None:
    names = [f"p{i}" for i in range(1, 6)]
    for name in names:
        fake.create_pipeline(name)
    code, out, err = await run_example(
        "orchestrator.py", *names, "--timeout", "30", "--parallel", "3", url=fake.url
    )
    assert code == 0, (out, err)
    for name in names:
        assert f"[{name}] start requested" in out
        assert f"[{name}] Provisioned/" in out
        assert f"[{name}] ready" in out
    assert "(desired" not in out  # the CLI's notation: "Stopped → Provisioned"
    assert "5 of 5 pipelines provisioned" in out
    starts = [r for r in fake.requests if r.operation == "post_pipeline_start"]
    assert len(starts) == 5


async def test_a_deploy_run_twice_ends_in_seconds() -> None:
    """The orchestrator run twice against one ``fake-server`` (a deploy script run again is
    normal): the second run finds the pipelines already running, its ``/start`` changes
    nothing, and the wait must take them as they are (a ``since`` taken before the start
    waited for a new provisioning until the 300 s timeout). The demo, which waits after
    its own starts the same way, ends in seconds too: tests/test_cli.py::test_demo_end_to_end."""
    started = time.monotonic()
    server = await spawn(cli_argv("fake-server", "--port", "0", "--pipelines", "2"))
    try:
        assert server.stdout is not None
        first = await asyncio.wait_for(server.stdout.readline(), 30)
        match = re.search(rb"listening on (http://\S+)", first)
        assert match, first
        url = match.group(1).decode()
        for attempt in (1, 2):
            argv = ["pipeline-1", "pipeline-2", "--timeout", "300"]  # as the docs say
            ran = await run(
                [sys.executable, str(EXAMPLES / "orchestrator.py"), *argv],
                env=clean_env({"FELDERA_HOST": url}),
            )
            assert ran.returncode == 0 and ran.elapsed < 30, (attempt, ran)
            assert "2 of 2 pipelines provisioned" in ran.stdout, (attempt, ran)
    finally:
        stopped = await interrupt(server, started)
    assert stopped.returncode == 130, stopped


async def test_orchestrator_reports_a_failure(fake: FakeFeldera) -> None:
    fake.create_pipeline("good")
    fake.create_pipeline("bad")
    fake.fail_next_start("bad", "provision_check", message="quota exceeded")
    code, out, err = await run_example("orchestrator.py", "good", "bad", url=fake.url)
    assert code == 1, (out, err)
    assert "[bad] FAILED: RunnerProvisionCheckFailed: quota exceeded" in out
    assert "1 of 2 pipelines provisioned" in out


async def test_orchestrator_unknown_pipelines_end_with_a_summary(fake: FakeFeldera) -> None:
    # As the docs show it against `fake-server --pipelines 2`: the names do not exist.
    fake.create_pipeline("pipeline-1")
    code, out, err = await run_example(
        "orchestrator.py", "orders", "pipeline-1", "--timeout", "30", url=fake.url
    )
    assert code == 1, (out, err)
    assert "Traceback" not in err and "RuntimeError" not in err
    summary = out.split("summary:", 1)[1].splitlines()
    assert any(line.split()[:3] == ["orders", "not", "started"] for line in summary), out
    assert "HTTP 404" in out
    assert any(line.split()[:2] == ["pipeline-1", "provisioned"] for line in summary), out
    assert "1 of 2 pipelines provisioned" in out


async def test_user_test_file_passes_in_a_fresh_project(tmp_path: Path) -> None:
    # As a user would run it: their own directory, no asyncio_mode=auto, warnings as errors.
    (tmp_path / "test_my_app.py").write_text((EXAMPLES / "test_my_app.py").read_text())
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    )
    ran = await run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_app.py"],
        env=clean_env(),
        cwd=tmp_path,
        timeout=100,  # below the per-test timeout (pyproject)
    )
    assert ran.returncode == 0, ran
    assert "4 passed" in ran.stdout


def _workflow_commands() -> list[str]:
    """The ``feldera-events`` commands of the workflow's ``run:`` steps."""
    text = (EXAMPLES / "github-actions.yml").read_text()
    return [m.group(1).strip() for m in re.finditer(r"run:\s*(feldera-events .+)", text)]


def test_workflow_snippet_shape() -> None:
    text = (EXAMPLES / "github-actions.yml").read_text()
    assert "\t" not in text  # YAML forbids tabs
    needed = (
        "FELDERA_HOST:",
        "FELDERA_API_KEY: ${{ secrets.",
        "pip install vendor/feldera_events-",
    )
    for piece in needed:
        assert piece in text
    commands = _workflow_commands()
    assert any(" wait " in c for c in commands)
    for command in commands:
        build_parser().parse_args(shlex.split(command)[1:])  # exits 2 if it would not parse


async def test_workflow_commands_run(fake: FakeFeldera) -> None:
    # The snippet's start step (curl POST /start) is done here through the same endpoint.
    import aiohttp

    for name in ("orders", "fraud-detector"):
        fake.create_pipeline(name)
    async with aiohttp.ClientSession() as session:
        for name in ("orders", "fraud-detector"):
            async with session.post(f"{fake.url}/v0/pipelines/{name}/start") as resp:
                assert resp.status == 202
    for command in _workflow_commands():
        ran = await run_cli(*shlex.split(command)[1:], url=fake.url, env={"GITHUB_ACTIONS": "true"})
        assert ran.returncode == 0, (command, ran)
