"""The suite's leak detection really catches a forgotten session.

Runs pytest in a subprocess, with this suite's conftest.py, on tiny test files that
leak (or do not), and checks the verdicts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

LEAKY_SESSION = """\
import aiohttp

async def test_forgets_its_session():
    session = aiohttp.ClientSession()
    del session
"""

LEAKY_CLIENT = """\
import feldera_events

async def test_forgets_to_close_the_client():
    client = feldera_events.EventsClient("http://127.0.0.1:9")
    client._ensure_session()  # what any request does first
    del client
"""

CLEAN = """\
import aiohttp
import feldera_events

async def test_closes_everything():
    async with aiohttp.ClientSession():
        pass
    async with feldera_events.EventsClient("http://127.0.0.1:9") as client:
        client._ensure_session()
"""


def run_pytest(tmp_path: Path, source: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text((HERE / "conftest.py").read_text(encoding="utf-8"))
    (tmp_path / "helpers.py").write_text((HERE / "helpers.py").read_text(encoding="utf-8"))
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_case.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,  # below the per-test timeout (pyproject)
        check=False,
    )


@pytest.mark.parametrize("source", [LEAKY_SESSION, LEAKY_CLIENT], ids=["session", "client"])
def test_a_leak_fails_the_test_that_leaked(tmp_path: Path, source: str) -> None:
    result = run_pytest(tmp_path, source)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Unclosed client session" in output, output


@pytest.mark.parametrize("source", [LEAKY_SESSION, LEAKY_CLIENT], ids=["session", "client"])
def test_a_leak_is_caught_even_with_resource_warnings_ignored(tmp_path: Path, source: str) -> None:
    """The loop exception-handler check is the second layer."""
    result = run_pytest(tmp_path, source, "-W", "ignore::ResourceWarning")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "the event loop reported errors" in output, output


def test_clean_code_passes(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, CLEAN)
    assert result.returncode == 0, result.stdout + result.stderr
