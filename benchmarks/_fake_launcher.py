"""Run a FakeFeldera with N stopped pipelines for the waiter benchmarks (subprocess).

``python benchmarks/_fake_launcher.py --pipelines N`` prints ``READY <url>``, then
answers one line per command read from stdin:

``go SECONDS``       start pipeline i (of N) at ``i * SECONDS / N`` from now; answers ``OK``
``stats``            answers JSON: requests served so far, this process's CPU seconds
                     (without the sampler's) and the requests per operation
``sample INTERVAL``  every INTERVAL seconds (and once now), record the time, the requests
                     per operation, this process's CPU seconds (without the sampler's own)
                     and which pipelines have a new latest event since the last sample;
                     answers ``OK``
``samples``          one last sample, stop sampling; answers JSON: the samples
``provisioned``      answers JSON: pipeline -> the ``recorded_at`` (epoch seconds) of its
                     first event with resources ``Provisioned``, for those that have one
``quit``             exits

The fake's request log is cut to one entry (a benchmark must not measure the fake's
bookkeeping) and ``requests_served`` / ``request_counts()`` count; everything else is the
simulated manager as tests use it.  Public names of ``feldera_events.testing`` only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
import time
from typing import Any

from feldera_events.testing import FakeFeldera, Timings


class Sampler:
    """Periodic snapshots of the fake's counters, its own CPU time kept apart."""

    def __init__(self, fake: FakeFeldera, names: list[str]) -> None:
        self.fake = fake
        self.names = names
        self.own_cpu = 0.0  # CPU seconds spent sampling, left out of the fake's figure
        self.samples: list[dict[str, Any]] = []
        self._latest: dict[str, str | None] = {}
        self._task: asyncio.Task[None] | None = None

    def cpu(self) -> float:
        """This process's CPU seconds, without the sampler's own."""
        return time.process_time() - self.own_cpu

    def take(self) -> None:
        cpu0, now = time.process_time(), time.time()
        changed = []
        for name in self.names:
            event = self.fake.latest_event(name)
            event_id = None if event is None else event["event_id"]
            if self._latest.get(name, event_id) != event_id:
                changed.append(name)
            self._latest[name] = event_id
        self.samples.append(
            {
                "t": now,
                "cpu": cpu0 - self.own_cpu,
                "counts": self.fake.request_counts(),
                "changed": changed,
            }
        )
        self.own_cpu += time.process_time() - cpu0

    def start(self, interval: float) -> None:
        self.take()

        async def loop() -> None:
            next_at = time.monotonic()
            while True:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                self.take()

        self._task = asyncio.get_running_loop().create_task(loop())

    async def stop(self) -> list[dict[str, Any]]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.take()
        return self.samples


def provisioned_at(fake: FakeFeldera, names: list[str]) -> dict[str, float]:
    """When each pipeline first reached resources ``Provisioned`` (epoch seconds)."""
    out = {}
    for name in names:
        for event in reversed(fake.events(name)):  # oldest first
            if event["deployment_resources_status"] == "Provisioned":
                recorded = event["recorded_at"].replace("Z", "+00:00")
                out[name] = dt.datetime.fromisoformat(recorded).timestamp()
                break
    return out


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
        sampler = Sampler(fake, names)
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
                stats = {
                    "requests": fake.requests_served,
                    "cpu": sampler.cpu(),
                    "counts": fake.request_counts(),
                }
                print(json.dumps(stats), flush=True)
            elif cmd == "sample":
                sampler.start(float(arg))
                print("OK", flush=True)
            elif cmd == "samples":
                print(json.dumps(await sampler.stop()), flush=True)
            elif cmd == "provisioned":
                print(json.dumps(provisioned_at(fake, names)), flush=True)
            else:
                print(f"ERROR unknown command {cmd!r}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipelines", type=int, required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(main(args.pipelines, args.speed))
