"""The package's structure: every module imports on its own, and each says what it owns."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import feldera_events

PACKAGE = Path(feldera_events.__file__).parent

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="feldera_events.")
    if not info.name.endswith("__main__")  # runs the CLI when imported
)


def test_every_module_is_listed() -> None:
    assert "feldera_events._client" in MODULES
    assert "feldera_events.testing._fake" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module: str) -> None:
    """A fresh interpreter imports the module first: no import order hides a cycle."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=100,  # below the per-test timeout (pyproject)
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("module", MODULES)
def test_module_docstring_says_what_it_owns(module: str) -> None:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and doc.strip(), f"{module} has no docstring"


#: The decision modules (pyproject's "the decisions are pure" contract) and what none of
#: them may import, even through another module.
DECISIONS = ("_decisions", "_since", "_acceptors", "_machines", "_watch")
IMPURE = ("asyncio", "aiohttp", "random", "tenacity", "socket", "feldera_events._testing_mode")


def test_the_decision_modules_import_no_io_clock_or_randomness() -> None:
    """A fresh interpreter imports the decision modules and what they import, nothing
    else: the package's ``__init__`` (which imports the whole SDK) is replaced by a bare
    package, so sys.modules afterwards holds exactly their closure."""
    code = f"""
import importlib, sys, types
package = types.ModuleType("feldera_events")
package.__path__ = [{str(PACKAGE)!r}]
sys.modules["feldera_events"] = package
for name in {DECISIONS!r}:
    importlib.import_module("feldera_events." + name)
print(" ".join(sorted(m for m in {IMPURE!r} if m in sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"imported by the decision modules: {done.stdout}"


#: A module longer than this is a signal to look at it (does it hold more than one idea?),
#: not a limit to cut at: a module that holds one idea may be long.
LOOK_AT_LINES = 800


@pytest.mark.parametrize("module", MODULES)
def test_a_module_longer_than_800_lines_is_looked_at(module: str) -> None:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= LOOK_AT_LINES, (
        f"{module} has {lines} lines: does it hold one idea? If it does, raise LOOK_AT_LINES "
        "and say why in ARCHITECTURE.md; if not, cut it where its ideas part"
    )


def test_every_test_has_a_time_limit(pytestconfig: pytest.Config) -> None:
    """pytest-timeout is active with the suite's per-test limit (pyproject): a hang fails
    its test instead of holding CI until its own limit."""
    assert pytestconfig.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed"
    assert 30 <= float(pytestconfig.getini("timeout")) <= 300
