"""Many waiters: one client waits on 100 to 10,000 pipelines of a simulated manager.

The simulated manager (``feldera_events.testing.FakeFeldera``, real timings: the
runner reacts in 50 ms, provisioning takes 2 s) runs in a subprocess with N stopped
pipelines. One client (in a subprocess of its own, so its peak RSS is its own)
starts ``Poller.wait_many`` on all of them with ``PollPolicy(initial=I, maximum=I,
jitter=0.2)``; once every waiter has polled once, the manager starts pipeline i at
``i * W / N`` seconds (the stagger window W). Reported per scenario:

* client CPU time per poll: ``time.process_time()`` of the client process over the
  whole wait, divided by the requests the manager served in that time;
* peak RSS (``ru_maxrss``), and RSS per waiter: (peak - RSS before the waiters
  were created) / N;
* detection latency: from the ``recorded_at`` of the ``Provisioned`` event to the
  moment the wait sees it (its ``on_event`` callback, just before it returns),
  p50 and p99;
* each process's CPU utilisation, to show whether the manager was the bottleneck.

    python benchmarks/bench_waiters.py [--quick] [--only headline|growth|coalescing]
    python benchmarks/bench_waiters.py --one N INTERVAL STAGGER   # one scenario, JSON out
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Server,
    common_args,
    machine,
    peak_rss_kib,
    percentile,
    results_path,
    rss_kib,
    table,
    verdict,
    write_section,
)

from feldera_events import EventsClient, PipelineEvent, Poller, PollPolicy, WaitTimeoutError

LAUNCHER = str(Path(__file__).with_name("_fake_launcher.py"))
CPU_TARGET_MS = 0.3
RSS_TARGET_KIB = 20.0
LATENCY_SLACK = 0.1


async def _stats(server: Server) -> dict[str, float]:
    answer = await asyncio.to_thread(server.command, "stats")
    stats: dict[str, float] = json.loads(answer)
    return stats


async def run_one(
    n: int, interval: float, stagger: float, speed: float, raw: bool = False
) -> dict[str, Any]:
    with Server(
        [LAUNCHER, "--pipelines", str(n), "--speed", str(speed)], ready_timeout=300
    ) as fake:
        async with EventsClient(fake.url) as client:
            await client.get_event("pipeline-1")  # opens the session and one connection
            poller = Poller(client, poll=PollPolicy(initial=interval, maximum=interval, jitter=0.2))
            names = [f"pipeline-{i}" for i in range(1, n + 1)]
            seen_at: dict[str, float] = {}

            def on_event(name: str, ev: PipelineEvent) -> None:
                if ev.is_provisioned:
                    seen_at[name] = time.time() - ev.recorded_at.timestamp()

            gc.collect()
            base_rss = rss_kib()
            before = await _stats(fake)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if raw:
                task = asyncio.create_task(_raw_waits(client, names, interval, seen_at))
            else:
                task = asyncio.create_task(
                    poller.wait_many(names, timeout=stagger + 120 + n / 100, on_event=on_event)
                )
            # Start the pipelines once every waiter has polled once (10k first polls
            # go through a 100-connection pool: that takes a few seconds).
            first_round_deadline = time.monotonic() + 120
            while time.monotonic() < first_round_deadline:
                await asyncio.sleep(0.25)
                if (await _stats(fake))["requests"] - before["requests"] >= n:
                    break
            first_round = time.perf_counter() - wall0
            await asyncio.to_thread(fake.command, f"go {stagger}")
            results = await task
            cpu1, wall1 = time.process_time(), time.perf_counter()
            after = await _stats(fake)
            peak = peak_rss_kib()
    polls = int(after["requests"] - before["requests"])
    lat = list(seen_at.values())
    wall = wall1 - wall0
    return {
        "waiters": n,
        "interval": interval,
        "stagger": stagger,
        "speed": speed,
        "raw": raw,
        "succeeded": len(seen_at) if raw else sum(1 for r in results.values() if r.ok),
        "polls": polls,
        "wall_s": wall,
        "first_round_s": first_round,
        "client_cpu_s": cpu1 - cpu0,
        "cpu_per_poll_ms": (cpu1 - cpu0) / max(polls, 1) * 1e3,
        "client_cpu_util": (cpu1 - cpu0) / wall,
        "fake_cpu_util": (after["cpu"] - before["cpu"]) / wall,
        "polls_per_s": polls / wall,
        "base_rss_kib": base_rss,
        "peak_rss_kib": peak,
        "rss_per_waiter_kib": (peak - base_rss) / n,
        "p50_s": percentile(lat, 0.50),
        "p99_s": percentile(lat, 0.99),
        "max_s": max(lat) if lat else float("nan"),
    }


async def _raw_waits(
    client: EventsClient, names: list[str], interval: float, seen_at: dict[str, float]
) -> dict[str, Any]:
    """The hand-written alternative: GET latest, json.loads, check, sleep (no model)."""
    session = client._ensure_session()

    async def one(name: str) -> None:
        url = f"{client.url}/v0/pipelines/{name}/events/latest?selector=status"
        while True:
            async with session.get(url) as resp:
                ev = await resp.json()
            if ev["deployment_resources_status"] == "Provisioned":
                recorded = dt.datetime.fromisoformat(ev["recorded_at"]).timestamp()
                seen_at[name] = time.time() - recorded
                return
            await asyncio.sleep(interval * (1.0 - random.uniform(0.0, 0.2)))

    await asyncio.gather(*(one(name) for name in names))
    return {}


async def run_coalescing(n: int, interval: float, duration: float) -> dict[str, Any]:
    """``n`` waits on one (stopped) pipeline through one client for ``duration``
    seconds (each times out): the requests the manager served, per poll interval."""
    with Server([LAUNCHER, "--pipelines", "1"], ready_timeout=120) as fake:
        async with EventsClient(fake.url) as client:
            await client.get_event("pipeline-1")  # opens the session and one connection
            poller = Poller(client, poll=PollPolicy(initial=interval, maximum=interval, jitter=0.2))
            before = await _stats(fake)
            wall0 = time.perf_counter()
            results = await asyncio.gather(
                *(poller.wait_until_provisioned("pipeline-1", timeout=duration) for _ in range(n)),
                return_exceptions=True,
            )
            wall = time.perf_counter() - wall0
            after = await _stats(fake)
    requests = int(after["requests"] - before["requests"])
    return {
        "waiters": n,
        "interval": interval,
        "wall_s": wall,
        "requests": requests,
        "per_interval": requests / (wall / interval),
        "timed_out": sum(1 for r in results if isinstance(r, WaitTimeoutError)),
    }


def coalescing_section(sizes: list[int], interval: float, duration: float, intro: str) -> str:
    rows = []
    for n in sizes:
        print(f"-- {n} waiters on one pipeline, {interval:g} s interval ...", flush=True)
        r = asyncio.run(run_coalescing(n, interval, duration))
        rows.append(
            [
                f"{n:,}",
                f"{interval:g} s",
                f"{r['wall_s']:.1f} s",
                f"{r['requests']:,}",
                f"{r['per_interval']:.2f}",
                f"{n / max(r['per_interval'], 1e-9):.0f}x",
                f"{r['timed_out']:,}/{n:,}",
            ]
        )
    headers = [
        "waiters on one pipeline",
        "poll interval",
        "wall",
        "requests served",
        "requests per interval",
        "saved vs one poll per waiter",
        "waits timed out as asked",
    ]
    return "\n".join(
        [
            "## Coalescing",
            "",
            intro,
            "",
            f"N waits (`wait_until_provisioned`, `timeout={duration:g}`) on one stopped pipeline "
            "through one client, jitter 0.2. Concurrent waits on one pipeline share one poll "
            "(a round at the earliest time any of them asked for), so requests per interval "
            "stay about 1 (a little more: the earliest of N jittered times, and the first "
            "waiter's first poll is its own).",
            "",
            table(headers, rows),
        ]
    )


def scenario(
    n: int, interval: float, stagger: float, speed: float, raw: bool = False
) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--one", str(n), str(interval), str(stagger)]
    argv += ["--speed", str(speed), *(["--raw"] if raw else [])]
    who = "raw aiohttp loops" if raw else "waiters"
    print(f"-- {n} {who}, {interval:g} s poll interval, {stagger:g} s stagger ...", flush=True)
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=900)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"   {result['polls']} polls in {result['wall_s']:.1f} s, "
        f"{result['cpu_per_poll_ms']:.3f} ms CPU/poll, "
        f"{result['rss_per_waiter_kib']:.1f} KiB/waiter, p99 {result['p99_s']:.3f} s, "
        f"client CPU {result['client_cpu_util']:.0%}, fake CPU {result['fake_cpu_util']:.0%}",
        flush=True,
    )
    return result


def _row(r: dict[str, Any], targets: bool) -> list[object]:
    cpu = f"{r['cpu_per_poll_ms']:.3f}"
    rss = f"{r['rss_per_waiter_kib']:.1f}"
    p99 = f"{r['p99_s'] * 1e3:.0f}"
    if targets:
        cpu += f" ({verdict(r['cpu_per_poll_ms'] < CPU_TARGET_MS)})"
        rss += f" ({verdict(r['rss_per_waiter_kib'] < RSS_TARGET_KIB)})"
        p99 += f" ({verdict(r['p99_s'] < r['interval'] + LATENCY_SLACK)})"
    bottleneck = " (bottleneck)" if r["fake_cpu_util"] > 0.9 else ""
    return [
        f"{r['waiters']:,}",
        f"{r['interval']:g} s",
        f"{r['stagger']:g} s",
        f"{r['succeeded']:,}/{r['waiters']:,}",
        f"{r['polls']:,} ({r['polls_per_s']:,.0f}/s)",
        cpu,
        f"{r['peak_rss_kib'] / 1024:.0f}",
        rss,
        f"{r['p50_s'] * 1e3:.0f}",
        p99,
        f"{r['client_cpu_util']:.0%} / {r['fake_cpu_util']:.0%}{bottleneck}",
    ]


HEADERS = [
    "waiters",
    "poll interval",
    "stagger",
    "provisioned",
    "polls",
    "client CPU ms/poll",
    "peak RSS MiB",
    "RSS KiB/waiter",
    "p50 latency ms",
    "p99 latency ms",
    "CPU client / fake",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_args(parser)
    parser.add_argument("--one", nargs=3, metavar=("N", "INTERVAL", "STAGGER"))
    parser.add_argument("--speed", type=float, default=1.0, help="fake's time scale")
    parser.add_argument("--only", choices=("headline", "growth", "coalescing"))
    parser.add_argument(
        "--raw", action="store_true", help="with --one: hand-written aiohttp loops instead"
    )
    args = parser.parse_args(argv)
    if args.one:
        n, interval, stagger = int(args.one[0]), float(args.one[1]), float(args.one[2])
        print(json.dumps(asyncio.run(run_one(n, interval, stagger, args.speed, args.raw))))
        return 0

    if args.quick:
        speed = 10.0  # provisioning in 0.2 s
        headline = [(30, 0.2, 0.5)]
        growth = [(10, 0.3, 0.3), (20, 0.3, 0.3)]
    else:
        speed = 1.0
        headline = [(1_000, 1.0, 60.0), (10_000, 10.0, 60.0)]
        growth = [(100, 10.0, 20.0), (1_000, 10.0, 20.0), (10_000, 10.0, 20.0)]
    path = results_path(args)
    intro = [
        machine(),
        "",
        "Simulated manager (`FakeFeldera`, provisioning 2 s after a 50 ms runner "
        f"reaction, speed {speed:g}) in one process, the client in another, sharing the "
        "cores. Polls are `GET .../events/latest?selector=status`, jitter 0.2 (polls "
        "come 0.8 to 1.0 interval apart). Latency: `recorded_at` of the `Provisioned` "
        "event to the wait seeing it. `CPU client / fake`: each process's CPU time over "
        "the run's wall time (a fake near 100% is the bottleneck).",
    ]
    quick_note = "\n\n_(--quick: sizes too small to mean anything)_" if args.quick else ""
    if args.only in (None, "coalescing"):
        md = coalescing_section(
            [1, 10, 100], 0.2 if args.quick else 1.0, 1.0 if args.quick else 20.0, machine()
        )
        print(md + quick_note)
        write_section(path, "coalescing", md + quick_note)
    if args.only in (None, "headline"):
        rows = [_row(scenario(*s, speed), targets=True) for s in headline]
        # The hand-written alternative on the first scenario, as a baseline for CPU/poll.
        base = _row(scenario(*headline[0], speed, raw=True), targets=False)
        base[0] += " (raw aiohttp loop, baseline)"
        rows.insert(1, base)
        md = "\n".join(
            [
                "## Many waiters",
                "",
                *intro,
                "",
                f"Targets: client CPU < {CPU_TARGET_MS} ms/poll, < {RSS_TARGET_KIB:g} KiB "
                f"RSS/waiter, p99 latency < poll interval + {LATENCY_SLACK * 1e3:.0f} ms.",
                "",
                table(HEADERS, rows),
            ]
        )
        print(md + quick_note)
        write_section(path, "waiters", md + quick_note)
    if args.only in (None, "growth"):
        results = [scenario(*s, speed) for s in growth]
        base = results[0]
        rows = []
        for r in results:
            row = _row(r, targets=False)
            row.insert(
                6,
                f"{r['cpu_per_poll_ms'] / base['cpu_per_poll_ms']:.2f}x / "
                f"{r['rss_per_waiter_kib'] / max(base['rss_per_waiter_kib'], 1e-9):.2f}x",
            )
            rows.append(row)
        headers = list(HEADERS)
        headers.insert(6, f"per-poll CPU / per-waiter RSS vs {base['waiters']:,}")
        md = "\n".join(
            [
                "## Growth",
                "",
                *intro,
                "",
                "The same measurement at 100, 1,000 and 10,000 waiters with one poll interval "
                "and a shorter stagger window (to bound the run): linear growth shows as flat "
                "per-poll CPU and per-waiter RSS.",
                "",
                table(headers, rows),
            ]
        )
        print(md + quick_note)
        write_section(path, "growth", md + quick_note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
