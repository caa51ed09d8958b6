"""Fleet: one client waits on 1,000 pipelines whose provisioning is spread over a minute.

The simulated manager (``feldera_events.testing.FakeFeldera``, real timings: the runner
reacts in 50 ms, provisioning takes 2 s) runs in a subprocess with N stopped pipelines;
the client runs in a subprocess of its own, so each side's CPU time is its own. The
client starts ``Poller.as_completed`` (``wait_many``, one result as each wait returns) on
all N pipelines through ONE ``EventsClient`` with ``PollPolicy(initial=I, maximum=I,
jitter=0.2)``; once every wait has polled once, the manager starts pipeline i at
``i * W / N`` seconds (the spread W). Both processes sample their counters every poll
interval. Reported per poll interval, and summed up:

* requests the manager served, per operation (``FakeFeldera.request_counts()``);
* pipelines that changed (a new latest event), and those of them still waited on: the
  physical limit of a poll interval is one list request plus one read per waited
  pipeline that changed (issue 23);
* client CPU per waited pipeline per interval (``time.process_time()`` of the client
  process, divided by the pipelines still waited on), and the manager's CPU;
* detection latency: from the ``recorded_at`` of a pipeline's first ``Provisioned``
  event to the moment its wait returns, p50/p99.

Modes: ``per-pipeline`` (every wait polls its own pipeline's ``latest``: today's
polling, the baseline) and ``fleet`` (one list per interval for the whole fleet,
``Poller(..., fleet=True)``; measured as soon as ``Poller`` takes ``fleet=``, "not
available yet" until then). Also measured: what one ``GET /v0/pipelines?selector=status``
costs the manager and the client at 1,000 and 5,000 pipelines.

    python benchmarks/bench_fleet.py [--quick] [--mode per-pipeline|fleet|both]
                                     [--pipelines N] [--interval S] [--spread S]
    python benchmarks/bench_fleet.py --run MODE N INTERVAL SPREAD   # one run, JSON out
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import inspect
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aiohttp
from _common import Server, common_args, machine, percentile, results_path, table, write_section

from feldera_events import EventsClient, Poller, PollPolicy
from feldera_events._shared_poll import BREAK_EVEN, unchanged

LAUNCHER = str(Path(__file__).with_name("_fake_launcher.py"))
MODES = ("per-pipeline", "fleet")
LATENCY_SLACK = 0.1
LIST_OPERATION = "list_pipelines"
EVENT_OPERATION = "get_pipeline_event"


class FleetUnavailable(Exception):
    """``Poller`` does not take ``fleet=`` yet."""


def fleet_available() -> bool:
    """Whether ``Poller`` takes ``fleet=``: detected, so this script measures fleet
    polling as soon as it lands, with no change here."""
    try:
        return "fleet" in inspect.signature(Poller).parameters
    except (TypeError, ValueError):  # pragma: no cover - a signature Python cannot read
        return False


def make_poller(client: EventsClient, mode: str, poll: PollPolicy) -> Poller:
    """The poller of one mode: ``per-pipeline`` forces fleet polling off once it exists."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if mode == "fleet" and not fleet_available():
        raise FleetUnavailable("Poller has no fleet= option yet")
    # Passed by name only when Poller knows it (this still runs before fleet polling).
    options: dict[str, Any] = {"fleet": mode == "fleet"} if fleet_available() else {}
    return Poller(client, poll=poll, **options)


async def _command(server: Server, line: str) -> Any:
    answer = await asyncio.to_thread(server.command, line)
    if answer.startswith("ERROR"):
        raise RuntimeError(f"launcher: {answer}")
    return answer if answer == "OK" else json.loads(answer)


# ----------------------------------------------------------------------------- one run
async def run_one(
    mode: str, n: int, interval: float, spread: float, speed: float
) -> dict[str, Any]:
    """One mode, in this process (the client): raw samples and what they add up to."""
    with Server(
        [LAUNCHER, "--pipelines", str(n), "--speed", str(speed)], ready_timeout=300
    ) as fake:
        async with EventsClient(fake.url) as client:
            await client.get_event("pipeline-1")  # opens the session and one connection
            poll = PollPolicy(initial=interval, maximum=interval, jitter=0.2)
            poller = make_poller(client, mode, poll)
            names = [f"pipeline-{i}" for i in range(1, n + 1)]
            ended: dict[str, float] = {}
            outcomes: Counter[str] = Counter()
            client_samples: list[tuple[float, float]] = []

            async def sample_client() -> None:
                next_at = time.monotonic()
                while True:
                    client_samples.append((time.time(), time.process_time()))
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))

            async def consume() -> None:
                stream = poller.as_completed(names, timeout=spread + 120 + n / 100)
                async for result in stream:
                    ended[result.pipeline_name] = time.time()
                    outcomes[result.outcome.value] += 1

            gc.collect()
            await _command(fake, f"sample {interval}")
            sampler = asyncio.create_task(sample_client())
            wall0 = time.time()
            task = asyncio.create_task(consume())
            # Start the pipelines once every wait has read its pipeline once (the first
            # reads are spread over one interval), or after five intervals.
            first_round_deadline = time.monotonic() + 5 * interval
            while time.monotonic() < first_round_deadline:
                await asyncio.sleep(interval / 4)
                stats = await _command(fake, "stats")
                if stats["counts"].get(EVENT_OPERATION, 0) >= n:
                    break
            go_at = time.time()
            await _command(fake, f"go {spread}")
            await task
            wall1 = time.time()
            sampler.cancel()
            client_samples.append((time.time(), time.process_time()))
            samples = await _command(fake, "samples")
            provisioned = await _command(fake, "provisioned")
    return summarize(
        mode=mode,
        n=n,
        interval=interval,
        spread=spread,
        speed=speed,
        wall=(wall0, go_at, wall1),
        ended=ended,
        outcomes=dict(outcomes),
        fake_samples=samples,
        client_samples=client_samples,
        provisioned=provisioned,
    )


def _interpolate(samples: list[tuple[float, float]], t: float) -> float:
    """The client's CPU seconds at time ``t``, linear between its samples."""
    times = [s[0] for s in samples]
    i = bisect.bisect_left(times, t)
    if i <= 0:
        return samples[0][1]
    if i >= len(samples):
        return samples[-1][1]
    (t0, c0), (t1, c1) = samples[i - 1], samples[i]
    return c0 + (c1 - c0) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0)


def summarize(
    *,
    mode: str,
    n: int,
    interval: float,
    spread: float,
    speed: float,
    wall: tuple[float, float, float],
    ended: dict[str, float],
    outcomes: dict[str, int],
    fake_samples: list[dict[str, Any]],
    client_samples: list[tuple[float, float]],
    provisioned: dict[str, float],
) -> dict[str, Any]:
    wall0, go_at, wall1 = wall
    never = math.inf
    rows = []
    for k in range(len(fake_samples) - 1):
        a, b = fake_samples[k], fake_samples[k + 1]
        t0, t1 = a["t"], b["t"]
        ops = {op: b["counts"].get(op, 0) - a["counts"].get(op, 0) for op in b["counts"]}
        waited = sum(1 for name in ended if ended[name] > t0) + (n - len(ended))
        changed = b["changed"]
        changed_waited = sum(1 for name in changed if ended.get(name, never) > t0)
        client_cpu = _interpolate(client_samples, t1) - _interpolate(client_samples, t0)
        rows.append(
            {
                "k": k,
                "t": t0 - go_at,
                "seconds": t1 - t0,
                "full": (t1 - t0) >= 0.5 * interval,
                "waited": waited,
                "requests": sum(ops.values()),
                "list": ops.get(LIST_OPERATION, 0),
                "latest": ops.get(EVENT_OPERATION, 0),
                "changed": len(changed),
                "changed_waited": changed_waited,
                "client_cpu": client_cpu,
                "fake_cpu": b["cpu"] - a["cpu"],
            }
        )
    waited_rows = [r for r in rows if r["full"] and r["waited"] > 0]
    latency = [ended[name] - provisioned[name] for name in ended if name in provisioned]
    first, last = fake_samples[0], fake_samples[-1]
    totals = {op: last["counts"].get(op, 0) - first["counts"].get(op, 0) for op in last["counts"]}
    span = last["t"] - first["t"]
    client_cpu = _interpolate(client_samples, last["t"]) - _interpolate(client_samples, first["t"])
    pipeline_intervals = sum(r["waited"] * r["seconds"] / interval for r in rows)
    requests = sum(r["requests"] for r in waited_rows)
    limit = sum(1 + r["changed_waited"] for r in waited_rows)
    return {
        "mode": mode,
        "pipelines": n,
        "interval": interval,
        "spread": spread,
        "speed": speed,
        "succeeded": outcomes.get("succeeded", 0),
        "outcomes": outcomes,
        "wall_s": wall1 - wall0,
        "span_s": span,
        "totals": totals,
        "intervals": len(waited_rows),
        "requests_per_interval": requests / max(len(waited_rows), 1),
        "requests_per_interval_max": max((r["requests"] for r in waited_rows), default=0),
        "changed_waited_per_interval": sum(r["changed_waited"] for r in waited_rows)
        / max(len(waited_rows), 1),
        "limit_per_interval": limit / max(len(waited_rows), 1),
        "over_limit": requests / max(limit, 1),
        "client_cpu_s": client_cpu,
        "client_us_per_pipeline_interval": client_cpu / max(pipeline_intervals, 1e-9) * 1e6,
        "client_cpu_util": client_cpu / span,
        "fake_cpu_util": (last["cpu"] - first["cpu"]) / span,
        "latency_n": len(latency),
        "p50_s": percentile(latency, 0.50),
        "p99_s": percentile(latency, 0.99),
        "max_s": max(latency, default=float("nan")),
        "rows": rows,
    }


def scenario(mode: str, n: int, interval: float, spread: float, speed: float) -> dict[str, Any]:
    """One run in a fresh client process."""
    argv = [sys.executable, __file__, "--run", mode, str(n), str(interval), str(spread)]
    argv += ["--speed", str(speed)]
    print(
        f"-- {mode}: {n} waits, {interval:g} s interval, provisioning spread over {spread:g} s ...",
        flush=True,
    )
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if not sum(result["totals"].values()) or not result["latency_n"]:  # measured nothing
        raise RuntimeError(f"{mode}: no requests or no provisioned pipeline were seen")
    print(
        f"   {result['requests_per_interval']:.1f} requests/interval "
        f"(limit {result['limit_per_interval']:.1f}), "
        f"{result['client_us_per_pipeline_interval']:.0f} µs client CPU per waited pipeline "
        f"per interval, p99 {result['p99_s']:.3f} s, client CPU "
        f"{result['client_cpu_util']:.0%}, fake CPU {result['fake_cpu_util']:.0%}",
        flush=True,
    )
    return result


# ----------------------------------------------------------------------------- list cost
async def list_cost(n: int, rounds: int) -> dict[str, Any]:
    """What one ``GET /v0/pipelines?selector=status`` of ``n`` running pipelines costs:
    the manager's CPU (every entry changed since the last list, and none changed), the
    wall time the client sees, and the client's ``json.loads``."""
    with Server([LAUNCHER, "--pipelines", str(n), "--speed", "10"], ready_timeout=300) as fake:
        url = f"{fake.url}/v0/pipelines?selector=status"
        async with aiohttp.ClientSession() as session:

            async def listing() -> bytes:
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    return await resp.read()

            await _command(fake, "go 0")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # until every pipeline runs (and is listed)
                entries = json.loads(await listing())
                if all(e["deployment_status"] == "Running" for e in entries):
                    break
                await asyncio.sleep(0.2)

            async def measure(count: int, changed: bool) -> tuple[float, float, int]:
                wall = cpu = 0.0
                for _ in range(count):
                    if changed:  # one more event each (a start again): every entry changed
                        await _command(fake, "go 0")
                    before = await _command(fake, "stats")  # the starts ran before this
                    t0 = time.perf_counter()
                    body = await listing()
                    wall += time.perf_counter() - t0
                    after = await _command(fake, "stats")
                    cpu += after["cpu"] - before["cpu"]
                return wall / count, cpu / count, len(body)

            cold_wall, cold_cpu, size = await measure(max(1, rounds // 4), changed=True)
            warm_wall, warm_cpu, size = await measure(rounds, changed=False)
            body = await listing()
            t0 = time.perf_counter()
            for _ in range(rounds):
                json.loads(body)
            loads = (time.perf_counter() - t0) / rounds
        async with EventsClient(fake.url) as client:
            fleet_cpu, read_cpu = await break_even(client, n, rounds)
    return {
        "pipelines": n,
        "bytes": size,
        "cold_cpu_ms": cold_cpu * 1e3,
        "cold_wall_ms": cold_wall * 1e3,
        "warm_cpu_ms": warm_cpu * 1e3,
        "warm_wall_ms": warm_wall * 1e3,
        "loads_ms": loads * 1e3,
        "fleet_list_cpu_ms": fleet_cpu * 1e3,
        "read_cpu_us": read_cpu * 1e6,
        "break_even": read_cpu / (fleet_cpu / n),
    }


READS_IN_FLIGHT = 32


async def break_even(client: EventsClient, n: int, rounds: int) -> tuple[float, float]:
    """Client CPU (this process's ``process_time``) of one fleet round's list of ``n``
    pipelines, none changed (what a fleet poll does with it: read it through the client,
    index it by name, compare every entry with the last one), and of one ``latest`` read
    (``get_event``, 32 in flight: how the waits' own polls run). The break-even: how many
    list entries cost one read."""
    names = [f"pipeline-{i}" for i in range(1, n + 1)]
    previous = {e["name"]: e for e in await client._pipeline_statuses()}
    await asyncio.gather(*(client.get_event(name) for name in names[:READS_IN_FLIGHT]))
    gc.collect()
    list_cpu = []
    for _ in range(rounds):
        t0 = time.process_time()
        entries = await client._pipeline_statuses()
        listed = {entry["name"]: entry for entry in entries}
        same = sum(unchanged(listed[name], previous[name]) for name in names)
        list_cpu.append(time.process_time() - t0)
        assert same == n, "the pipelines changed while the list was measured"
    reads = max(2_000, READS_IN_FLIGHT * rounds)
    todo = iter(range(reads))

    async def worker() -> None:
        for i in todo:
            await client.get_event(names[i % n])

    t0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(READS_IN_FLIGHT)))
    read_cpu = (time.process_time() - t0) / reads
    return percentile(list_cpu, 0.5), read_cpu


# ----------------------------------------------------------------------------- tables
def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1e3:.0f}"


SUMMARY_HEADERS = [
    "mode",
    "pipelines",
    "interval",
    "spread",
    "provisioned",
    "requests per interval (max)",
    "of which list / latest (whole run)",
    "waited pipelines changed per interval",
    "limit: 1 + changed",
    "requests / limit",
    "client CPU µs per waited pipeline per interval",
    "CPU client / fake",
    "p50 / p99 latency ms",
]


def summary_row(r: dict[str, Any]) -> list[object]:
    p99_ok = r["p99_s"] < r["interval"] + LATENCY_SLACK
    return [
        r["mode"],
        f"{r['pipelines']:,}",
        f"{r['interval']:g} s",
        f"{r['spread']:g} s",
        f"{r['succeeded']:,}/{r['pipelines']:,}",
        f"{r['requests_per_interval']:,.1f} ({r['requests_per_interval_max']:,})",
        f"{r['totals'].get(LIST_OPERATION, 0):,} / {r['totals'].get(EVENT_OPERATION, 0):,}",
        f"{r['changed_waited_per_interval']:.1f}",
        f"{r['limit_per_interval']:.1f}",
        f"{r['over_limit']:.1f}x",
        f"{r['client_us_per_pipeline_interval']:.0f}",
        f"{r['client_cpu_util']:.0%} / {r['fake_cpu_util']:.0%}",
        f"{_ms(r['p50_s'])} / {_ms(r['p99_s'])} ({'within' if p99_ok else '**not within**'} "
        "one interval)",
    ]


SERIES_HEADERS = [
    "from go",
    "waited (mean)",
    "requests per interval",
    "list / latest",
    "changed per interval (waited)",
    "limit: 1 + changed",
    "client CPU µs per waited pipeline",
    "fake CPU",
]


def series(r: dict[str, Any], window: int) -> list[list[object]]:
    """The per-interval rows, averaged over windows of ``window`` intervals."""
    rows = [row for row in r["rows"] if row["full"]]
    out: list[list[object]] = []
    for i in range(0, len(rows), window):
        part = rows[i : i + window]
        m = len(part)
        seconds = sum(p["seconds"] for p in part)
        waited_intervals = sum(p["waited"] for p in part)
        out.append(
            [
                f"{part[0]['t']:+.1f} to {part[-1]['t'] + part[-1]['seconds']:+.1f} s",
                f"{waited_intervals / m:,.0f}",
                f"{sum(p['requests'] for p in part) / m:,.1f}",
                f"{sum(p['list'] for p in part) / m:,.1f} / {sum(p['latest'] for p in part) / m:,.1f}",
                f"{sum(p['changed'] for p in part) / m:.1f} "
                f"({sum(p['changed_waited'] for p in part) / m:.1f})",
                f"{sum(1 + p['changed_waited'] for p in part) / m:.1f}",
                f"{sum(p['client_cpu'] for p in part) / max(waited_intervals, 1) * 1e6:.0f}"
                if waited_intervals
                else "-",
                f"{sum(p['fake_cpu'] for p in part) / seconds:.0%}",
            ]
        )
    return out


LIST_HEADERS = [
    "pipelines listed",
    "body",
    "manager CPU ms: every entry changed / none",
    "wall ms (client sees): changed / none",
    "client json.loads ms",
    "client CPU ms: a fleet round's list (µs an entry)",
    "client CPU µs: one latest read (32 in flight)",
    "break-even: entries a read costs",
]


def list_row(r: dict[str, Any]) -> list[object]:
    return [
        f"{r['pipelines']:,}",
        f"{r['bytes'] / 1024:,.0f} KiB ({r['bytes'] / r['pipelines']:,.0f} B each)",
        f"{r['cold_cpu_ms']:.1f} / {r['warm_cpu_ms']:.1f}",
        f"{r['cold_wall_ms']:.1f} / {r['warm_wall_ms']:.1f}",
        f"{r['loads_ms']:.1f}",
        f"{r['fleet_list_cpu_ms']:.1f} ({r['fleet_list_cpu_ms'] * 1e3 / r['pipelines']:.1f})",
        f"{r['read_cpu_us']:.0f}",
        f"{r['break_even']:.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_args(parser)
    parser.add_argument(
        "--mode",
        choices=(*MODES, "both", "lists"),
        default="both",
        help="which runs (lists: only what one list costs, and the break-even)",
    )
    parser.add_argument("--pipelines", type=int, help="waited pipelines (default 1,000)")
    parser.add_argument("--interval", type=float, help="poll interval, seconds (default 1)")
    parser.add_argument("--spread", type=float, help="provisioning spread, seconds (default 60)")
    parser.add_argument("--speed", type=float, default=None, help="the fake's time scale")
    parser.add_argument("--run", nargs=4, metavar=("MODE", "N", "INTERVAL", "SPREAD"))
    args = parser.parse_args(argv)
    if args.run:
        mode, n, interval, spread = args.run
        result = asyncio.run(
            run_one(mode, int(n), float(interval), float(spread), args.speed or 1.0)
        )
        print(json.dumps(result))
        return 0

    if args.quick:  # provisioning in 0.2 s; checks that everything runs
        n, interval, spread, speed, window, sizes, rounds = 40, 0.3, 2.0, 10.0, 2, [50], 3
    else:
        n, interval, spread, speed, window, sizes, rounds = 1_000, 1.0, 60.0, 1.0, 10, [], 20
        sizes = [1_000, 5_000]
    n = args.pipelines or n
    interval = args.interval or interval
    spread = args.spread if args.spread is not None else spread
    speed = args.speed or speed
    modes = {"both": MODES, "lists": ()}.get(args.mode, (args.mode,))

    load = os.getloadavg()[0]  # the machine is shared: say how busy it was
    results, missing = [], []
    for mode in modes:
        if mode == "fleet" and not fleet_available():
            print("-- fleet: not available yet (Poller has no fleet= option)", flush=True)
            missing.append(mode)
            continue
        results.append(scenario(mode, n, interval, spread, speed))
    costs = []
    for size in sizes:
        print(f"-- one status list of {size:,} pipelines ...", flush=True)
        costs.append(asyncio.run(list_cost(size, rounds)))

    rows = [summary_row(r) for r in results]
    rows += [[mode, "not available yet", *[""] * (len(SUMMARY_HEADERS) - 2)] for mode in missing]
    lines = [
        "## Fleet",
        "",
        f"{machine()}; load average {load:.2f} when it started, "
        f"{os.getloadavg()[0]:.2f} when it ended",
        "",
        "The machine is shared: its 2 cores also run other engineers' tests and builds "
        "while this runs, so CPU times and latencies move from run to run (both modes ran "
        "one after the other in the same run, under the same kind of load).",
        "",
        f"One client, {n:,} waits (`Poller.as_completed`, i.e. `wait_many` one result at a "
        f"time) on {n:,} pipelines of the simulated manager (`FakeFeldera` in another "
        f"process, provisioning 2 s after a 50 ms runner reaction, speed {speed:g}); "
        f"pipeline i starts at i x {spread:g}/{n:,} s once every wait has polled once. "
        f"Poll interval {interval:g} s, jitter 0.2. Both processes sample their counters "
        "every interval. Requests: what the manager served per interval "
        "(`FakeFeldera.request_counts()`), averaged over the intervals while waits were "
        "running; limit: one list plus one read per waited pipeline that changed in the "
        "interval (issue 23). Client CPU: the client process's CPU time over the "
        "pipeline-intervals waited. Latency: from the `recorded_at` of a pipeline's "
        "first `Provisioned` event to its wait returning.",
        "",
        "`per-pipeline` is today's polling (each wait reads its own pipeline's `latest`): "
        "the baseline that fleet polling (`fleet`: one list per interval for every "
        "pipeline the client waits on) is measured against in the same run.",
        "",
        table(SUMMARY_HEADERS, rows),
    ]
    for r in results:
        lines += [
            "",
            f"`{r['mode']}`, per {window} intervals (mean per interval):",
            "",
            table(SERIES_HEADERS, series(r, window)),
        ]
    if costs:
        lines += [
            "",
            "One `GET /v0/pipelines?selector=status` of running pipelines (best case for the "
            "manager: no entry changed since the last list, mean of "
            f"{rounds}; worst: every entry changed, mean of {max(1, rounds // 4)}); manager "
            "CPU includes answering the benchmark's `stats` command; `json.loads` of the "
            'body in the client. Break-even (`fleet="auto"`): the client\'s CPU for one '
            "`latest` read (`EventsClient.get_event`, 32 in flight, best case: no wait "
            "machine) over its CPU per entry for one fleet round's list (read through the "
            "client: strict JSON, key withholding, shape check; indexed by name; every "
            "entry compared with the last list's), median of "
            f"{rounds}. Fleet polling lists while the list has at most (W - 1) x "
            f"`BREAK_EVEN` = (W - 1) x {BREAK_EVEN} entries for W waited pipelines "
            "(one list costs about one read plus its entries).",
            "",
            table(LIST_HEADERS, [list_row(c) for c in costs]),
        ]
    md = "\n".join(lines)
    quick_note = "\n\n_(--quick: sizes too small to mean anything)_" if args.quick else ""
    print(md + quick_note)
    for r in results:  # every interval, for the curious (not written to RESULTS.md)
        print(f"\n{r['mode']}: every interval")
        print(
            table(
                ["t from go", "waited", "requests", "list", "latest", "changed (waited)"],
                [
                    [
                        f"{row['t']:+.1f}",
                        row["waited"],
                        row["requests"],
                        row["list"],
                        row["latest"],
                        f"{row['changed']} ({row['changed_waited']})",
                    ]
                    for row in r["rows"]
                ],
            )
        )
    write_section(results_path(args), "fleet", md + quick_note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
