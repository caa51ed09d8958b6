"""Cost per request: EventsClient.get_event against raw aiohttp and the official SDK.

A minimal aiohttp server in a subprocess answers every request with one fixed
``selector=status`` event. Measured, in alternating rounds (the best is reported):

* raw aiohttp: ``session.get(url)`` + ``await resp.json()``, nothing else;
* ``EventsClient.get_event(name)``: validation, retry wrapper, body cap, JSON and
  structuring into a ``PipelineEvent``;

each sequentially and with 32 requests in flight; and the official (synchronous)
SDK's ``FelderaClient.get_pipeline_event(name, "latest")`` sequentially, when the
``feldera`` package is importable (otherwise that row is skipped, with the reason).

    python benchmarks/bench_requests.py [--quick] [--rounds 5] [-n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Server,
    common_args,
    machine,
    median,
    results_path,
    table,
    verdict,
    write_section,
)

from feldera_events import EventsClient

PIPELINE = "bench"
IN_FLIGHT = 32


async def _timed(n: int, in_flight: int, one: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Wall and CPU seconds (this process) to make ``n`` calls of ``one``, ``in_flight`` at a time."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    share, extra = divmod(n, in_flight)
    counts = [share + (1 if i < extra else 0) for i in range(in_flight)]
    cpu, start = time.process_time(), time.perf_counter()
    if in_flight == 1:
        await worker(n)
    else:
        await asyncio.gather(*(worker(c) for c in counts if c))
    return time.perf_counter() - start, time.process_time() - cpu


async def run_raw(url: str, n: int, in_flight: int, warmup: int) -> tuple[float, float]:
    target = f"{url}/v0/pipelines/{PIPELINE}/events/latest?selector=status"
    async with aiohttp.ClientSession() as session:

        async def one() -> Any:
            async with session.get(target) as resp:
                return await resp.json()

        await _timed(warmup, in_flight, one)
        return await _timed(n, in_flight, one)


async def run_ours(url: str, n: int, in_flight: int, warmup: int) -> tuple[float, float]:
    async with EventsClient(url, api_key="") as client:

        async def one() -> Any:
            return await client.get_event(PIPELINE)

        await _timed(warmup, in_flight, one)
        return await _timed(n, in_flight, one)


def sdk_unavailable_reason() -> str | None:
    try:
        import feldera  # noqa: F401
    except ImportError as exc:
        return f"the official SDK is not installed here ({exc}); `pip install feldera` to compare"
    return None


def run_sdk(url: str, n: int, warmup: int) -> tuple[float, float]:
    from feldera.rest.feldera_client import FelderaClient

    logging.getLogger("feldera").setLevel(logging.ERROR)  # the version-mismatch warning
    client = FelderaClient(url, api_key=None)
    for _ in range(warmup):
        client.get_pipeline_event(PIPELINE, "latest")
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(n):
        client.get_pipeline_event(PIPELINE, "latest")
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_args(parser)
    parser.add_argument("-n", type=int, default=None, help="requests per measurement (3000)")
    parser.add_argument("--sdk-n", type=int, default=None, help="official SDK requests (1000)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (5)")
    args = parser.parse_args(argv)
    n = args.n or (200 if args.quick else 3000)
    sdk_n = args.sdk_n or (50 if args.quick else 1000)
    rounds = args.rounds or (1 if args.quick else 5)
    warmup = 20 if args.quick else 300
    skip_sdk = sdk_unavailable_reason()
    if skip_sdk:
        print(f"SKIP official SDK: {skip_sdk}")

    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def record(key: str, result: tuple[float, float], count: int) -> None:
        wall.setdefault(key, []).append(result[0] / count)
        cpu.setdefault(key, []).append(result[1] / count)

    with Server([str(Path(__file__).with_name("_event_server.py"))]) as server:
        for r in range(rounds):
            # Alternate the order each round so drift (other load) hits both alike.
            pairs = [("raw", run_raw), ("ours", run_ours)]
            if r % 2:
                pairs.reverse()
            for flight in (1, IN_FLIGHT):
                for label, fn in pairs:
                    record(f"{label}/{flight}", asyncio.run(fn(server.url, n, flight, warmup)), n)
            if not skip_sdk:
                record("sdk/1", run_sdk(server.url, sdk_n, min(warmup, 50)), sdk_n)
            print(f"round {r + 1}/{rounds} done", flush=True)

    # Best of the rounds: other load on the machine only ever adds time.
    per = {k: min(v) for k, v in wall.items()}
    cpu_per = {k: min(v) for k, v in cpu.items()}

    def rps(key: str) -> float:
        return 1.0 / per[key]

    def cells(key: str) -> list[object]:
        return [
            f"{rps(key):,.0f}",
            f"{per[key] * 1e6:.0f} (median {median(wall[key]) * 1e6:.0f})",
            f"{cpu_per[key] * 1e6:.0f}",
        ]

    seq = rps("ours/1") / rps("raw/1")
    conc = rps("ours/32") / rps("raw/32")
    rows: list[list[object]] = [
        ["raw aiohttp (GET + json())", "sequential", *cells("raw/1"), "1.00 (baseline)", ""],
        ["EventsClient.get_event", "sequential", *cells("ours/1"), f"{seq:.2f}x raw",
         f">= 0.9x: {verdict(seq >= 0.9)}"],
        ["raw aiohttp (GET + json())", f"{IN_FLIGHT} in flight", *cells("raw/32"),
         "1.00 (baseline)", ""],
        ["EventsClient.get_event", f"{IN_FLIGHT} in flight", *cells("ours/32"),
         f"{conc:.2f}x raw", f">= 0.9x: {verdict(conc >= 0.9)}"],
    ]  # fmt: skip
    if skip_sdk:
        rows.append(
            ["official SDK get_pipeline_event", "sequential", "skipped", "", "", skip_sdk, ""]
        )
    else:
        from importlib.metadata import version

        vs_sdk = rps("ours/1") / rps("sdk/1")
        rows.append(
            [f"official SDK {version('feldera')} get_pipeline_event", "sequential",
             *cells("sdk/1"), f"ours is {vs_sdk:.1f}x", f">= 3x: {verdict(vs_sdk >= 3)}"]
        )  # fmt: skip
    md = "\n".join(
        [
            "## Cost per request",
            "",
            machine(),
            "",
            f"Fixed `selector=status` event from a minimal aiohttp server in a subprocess; "
            f"{n} requests per measurement ({sdk_n} for the official SDK), best of "
            f"{rounds} alternating rounds (median in brackets) after {warmup} warm-up "
            "requests. Client and server share the cores, so ratios include the server's "
            "share of each request. Client CPU: this process's CPU time per request.",
            "",
            table(
                [
                    "client",
                    "mode",
                    "requests/s",
                    "µs/request",
                    "client CPU µs/request",
                    "ratio",
                    "target",
                ],
                rows,
            ),
        ]
    )
    if args.quick:
        md += "\n\n_(--quick: sizes too small to mean anything)_"
    print(md)
    write_section(results_path(args), "requests", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
