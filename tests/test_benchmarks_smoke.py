"""Each benchmark script runs in its tiny ``--quick`` mode, so none can rot.

These are not timed assertions: the numbers of a ``--quick`` run mean nothing. The
official SDK comparison is skipped (with the reason printed) when ``feldera`` is not
importable, which is the case in the test environment.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


# The slowest test of the suite (bench_waiters: ~11 s idle, several times that on a loaded
# machine): a per-test timeout above the suite's 120 s (pyproject), its own run's below.
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("script", "section"),
    [
        ("bench_requests.py", "requests"),
        ("bench_parse.py", "parse"),
        ("bench_waiters.py", "waiters"),
        ("bench_fleet.py", "fleet"),
    ],
)
def test_benchmark_runs_in_quick_mode(script: str, section: str, tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    text = results.read_text()
    assert f"<!-- BEGIN {section} -->" in text
    assert "Machine: " in text
    assert "| " in text  # a markdown table
    if script == "bench_waiters.py":
        assert "<!-- BEGIN growth -->" in text
    if script == "bench_fleet.py":
        # Both modes are in its table: measured, or fleet "not available yet" until
        # Poller takes fleet= (the script detects it).
        assert "| mode | pipelines |" in proc.stdout
        assert "| per-pipeline | 40 |" in proc.stdout
        fleet = "| fleet | 40 |" if _poller_takes_fleet() else "| fleet | not available yet |"
        assert fleet in proc.stdout
        assert "| pipelines listed |" in proc.stdout


def _poller_takes_fleet() -> bool:
    from feldera_events import Poller

    return "fleet" in inspect.signature(Poller).parameters
