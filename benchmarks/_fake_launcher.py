"""Run a FakeFeldera with N stopped pipelines for the waiter benchmark (subprocess).

``python benchmarks/_fake_launcher.py --pipelines N`` prints ``READY <url>``, then
answers one line per command read from stdin:

``go SECONDS``  start pipeline i (of N) at ``i * SECONDS / N`` from now; answers ``OK``
``stats``       answers JSON: requests served so far and this process's CPU seconds
``quit``        exits

The fake's request log is cut to one entry (a benchmark must not measure the fake's
bookkeeping) and ``requests_served`` counts; everything else is the simulated manager
as tests use it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from feldera_events.testing import FakeFeldera, Timings


async def main(pipelines: int, speed: float) -> None:
    # Real timings: runner reaction 50 ms, provisioning 2 s, initializing 1 s.
    fake = FakeFeldera(
        speed=speed,
        timings=Timings(),
        cleanup_interval=3600.0,
        request_log_limit=1,
    )
    async with fake:
        names = [f"pipeline-{i}" for i in range(1, pipelines + 1)]
        for name in names:
            fake.create_pipeline(name)
        print(f"READY {fake.url}", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).strip()
            if not line or line == "quit":
                return
            cmd, _, arg = line.partition(" ")
            if cmd == "go":
                window = float(arg or 0)
                for i, name in enumerate(names):
                    loop.call_later(i * window / len(names), fake.start, name)
                print("OK", flush=True)
            elif cmd == "stats":
                print(
                    json.dumps({"requests": fake.requests_served, "cpu": time.process_time()}),
                    flush=True,
                )
            else:
                print(f"ERROR unknown command {cmd!r}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(main(args.pipelines, args.speed))
