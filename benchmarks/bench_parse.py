"""Parsing: structuring a full 720-event ``selector=all`` list into models.

Compares, per event and for the whole list, ``json.loads`` of the body alone with
``json.loads`` + ``structure_list`` (what ``EventsClient.list_events`` does after the
body arrived). The events carry realistic details: runtime details with reason and
connector_stats, storage details with checkpoints, some deployment errors.

    python benchmarks/bench_parse.py [--quick] [--repeat 50]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import common_args, machine, median, results_path, table, verdict, write_section
from _events import full_events_body

from feldera_events import PipelineEvent
from feldera_events._convert import structure_list

TARGET_MS = 15.0


def best_and_median(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples), median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    common_args(parser)
    parser.add_argument("--events", type=int, default=720)
    parser.add_argument("--repeat", type=int, default=None, help="timed repetitions (50)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 50)
    count = args.events
    body = full_events_body(count)
    data = json.loads(body)
    assert len(structure_list(data, PipelineEvent)) == count

    def loads() -> Any:
        return json.loads(body)

    def structure_only() -> Any:
        return structure_list(data, PipelineEvent)

    def both() -> Any:
        return structure_list(json.loads(body), PipelineEvent)

    gc.collect()
    results = {}
    for _ in range(2):  # interleave: loads, structure, both, twice; keep the better
        for label, fn in (("loads", loads), ("structure", structure_only), ("both", both)):
            best, med = best_and_median(fn, repeat)
            old = results.get(label)
            results[label] = (best, med) if old is None or med < old[1] else old

    def us_per_event(label: str) -> str:
        return f"{results[label][1] / count * 1e6:.1f}"

    def ms(label: str) -> str:
        return f"{results[label][1] * 1e3:.2f} (best {results[label][0] * 1e3:.2f})"

    loads_s = results["loads"][1]
    both_s = results["both"][1]
    rows = [
        ["`json.loads` alone (baseline)", us_per_event("loads"), ms("loads"), "1.00", ""],
        ["`structure_list` on parsed data", us_per_event("structure"), ms("structure"),
         f"{results['structure'][1] / loads_s:.1f}x loads", ""],
        ["`json.loads` + `structure_list`", us_per_event("both"), ms("both"),
         f"{both_s / loads_s:.1f}x loads",
         f"< {TARGET_MS:g} ms: {verdict(both_s * 1e3 < TARGET_MS)}"],
    ]  # fmt: skip
    md = "\n".join(
        [
            "## Parsing",
            "",
            machine(),
            "",
            f"{count} `selector=all` events ({len(body) / 1024:.0f} KiB of JSON, "
            f"{len(body) / count:.0f} bytes/event), median of {repeat} runs (best in "
            "brackets).",
            "",
            table(["step", "µs/event", "whole list, ms", "ratio", "target"], rows),
        ]
    )
    if args.quick:
        md += "\n\n_(--quick: sizes too small to mean anything)_"
    print(md)
    write_section(results_path(args), "parse", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
