"""The pytest plugin (``pytest11`` entry point) works in a project that only installed us.

Each test runs pytest in a subprocess (the current interpreter) in a temporary directory
holding nothing but the test file: no conftest, no ini file, strict asyncio mode.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Uses the fixtures without importing anything from feldera_events.
USER_TEST = """
import pytest

pytestmark = pytest.mark.asyncio


@pytest.fixture
def feldera_fake_options():
    return {"speed": 200, "api_keys": ["apikey:secret"]}


async def test_the_fixtures_work_together(feldera_fake, feldera_client):
    feldera_fake.create_pipeline("orders")
    feldera_fake.start("orders")
    await feldera_fake.wait_for_status("orders", deployment_status="Running", timeout=30)
    event = await feldera_client.get_event("orders")
    assert event.combined_status.value == "Running"
    assert feldera_fake.speed == 200
    reads = [r for r in feldera_fake.requests if r.operation == "get_pipeline_event"]
    assert [r.status for r in reads] == [200]  # the client sent the fake's API key


@pytest.mark.feldera_fake(speed=50, seed=3)
async def test_a_marker_wins_over_the_options_fixture(feldera_fake):
    assert feldera_fake.speed == 50
    assert feldera_fake.api_keys == frozenset({"apikey:secret"})
"""

# Testing mode: on during a test that uses the fixtures, restored after it.
MODE_TEST = """
import pytest

from feldera_events._testing_mode import is_testing
from feldera_events.testing import set_testing


def test_1_mode_is_off_to_begin_with():
    set_testing(False)
    assert not is_testing()


@pytest.mark.asyncio
async def test_2_the_fixture_switches_it_on(feldera_fake):
    assert is_testing()


def test_3_and_restores_it():
    assert not is_testing()


@pytest.mark.asyncio
@pytest.mark.feldera_fake(speedd=3)
async def test_4_a_misspelt_option_is_named(feldera_fake):
    pass
"""


def run_pytest(
    tmp_path: Path, name: str, source: str, *args: str, loop_scope_option: bool = True
) -> subprocess.CompletedProcess[str]:
    (tmp_path / name).write_text(textwrap.dedent(source))
    # pytest-asyncio's own request (it warns while this is unset); nothing of ours.
    options = ["-o", "asyncio_default_fixture_loop_scope=function"] if loop_scope_option else []
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FELDERA_", "PYTEST_")) and k != "PYTHONPATH"
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            *options,
            *args,
            name,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,  # below the per-test timeout (pyproject): this one names the run
    )


def test_plugin_fixtures_in_a_bare_project(tmp_path: Path) -> None:
    ran = run_pytest(tmp_path, "test_app.py", USER_TEST)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"\b2 passed\b", ran.stdout), ran.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_app.py"]


def test_testing_mode_is_switched_on_and_restored(tmp_path: Path) -> None:
    ran = run_pytest(tmp_path, "test_mode.py", MODE_TEST)
    assert re.search(r"\b3 passed\b", ran.stdout), ran.stdout + ran.stderr
    assert "1 error" in ran.stdout, ran.stdout
    assert "speedd" in ran.stdout  # the bad option is named


def test_marker_is_registered(tmp_path: Path) -> None:
    ran = run_pytest(tmp_path, "test_none.py", "", "--markers")
    assert "@pytest.mark.feldera_fake(**options)" in ran.stdout


def test_the_testing_guides_example_runs_as_a_project(tmp_path: Path) -> None:
    """The testing guide's test file and pytest configuration, copied into an empty
    project, pass with warnings as errors (so no deprecation warning either)."""
    guide = (ROOT / "docs" / "guides" / "testing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w+)\n(.*?)```", guide, flags=re.S)
    test_file = next(code for info, code in blocks if info == "python" and "feldera_fake" in code)
    config = next(code for info, code in blocks if info == "toml" and "asyncio_default" in code)
    (tmp_path / "pyproject.toml").write_text(config)
    ran = run_pytest(tmp_path, "test_deploy.py", test_file, loop_scope_option=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"\b2 passed\b", ran.stdout), ran.stdout
    assert "warning" not in ran.stdout.lower(), ran.stdout


@pytest.mark.parametrize("name", ["feldera_fake", "feldera_client", "feldera_fake_options"])
def test_fixture_names_do_not_clash_with_the_suites(name: str) -> None:
    for conftest in (ROOT / "tests").rglob("conftest.py"):
        assert f"def {name}(" not in conftest.read_text(), conftest
