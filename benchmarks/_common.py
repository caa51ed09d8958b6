"""Shared helpers of the benchmark scripts: machine line, RESULTS.md sections, subprocesses.

Not part of the package. Every server a benchmark talks to runs in a subprocess on
127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"

RESULTS_HEADER = """# Benchmark results

Written by the scripts in `benchmarks/` (each one replaces its own section); see
`benchmarks/README.md` for what is measured and how to run it (`benchmarks/run.sh`).
Numbers are from one machine and one run: compare the ratios, not the absolutes.
"""


def machine() -> str:
    """One markdown line naming the machine and the versions that matter."""
    try:
        import feldera_events

        ours = feldera_events.__version__
    except Exception:  # pragma: no cover - a broken install shows in the line
        ours = "?"
    return (
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, feldera-events {ours}, "
        f"{platform.system()} {platform.release()}; run {time.strftime('%Y-%m-%d %H:%M')}"
    )


def common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks the script runs, not speed"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results file to update (default benchmarks/RESULTS.md; --quick writes none "
        "unless this is given)",
    )


def results_path(args: argparse.Namespace) -> Path | None:
    if args.results is not None:
        return Path(args.results)
    return None if args.quick else RESULTS


def write_section(path: Path | None, name: str, markdown: str) -> None:
    """Replace (or append) the section ``name`` of the results file at ``path``."""
    if path is None:
        return
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text)
    print(f"(updated section {name!r} of {path})")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rss_kib() -> int:
    """The current resident set size of this process, in KiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_rss_kib() -> int:
    """The peak resident set size of this process so far, in KiB (Linux ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Server:
    """A server subprocess that prints ``READY <url>`` on its first stdout line."""

    def __init__(self, argv: Sequence[str], *, ready_timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        deadline = time.monotonic() + ready_timeout
        assert self.proc.stdout is not None
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("READY ") or not line:
                break
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"server {argv!r} did not start (last line {line!r})")
        self.url = line.split()[1]

    def command(self, line: str) -> str:
        """Send one command line; return the one line it answers."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
