"""Run a FakeFeldera as a standalone process (``python -m feldera_events.testing``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from feldera_events.testing._fake import FakeFeldera

__all__ = ["main", "run_fake_server"]


async def _serve(
    host: str,
    port: int,
    api_keys: Sequence[str] | None,
    pipelines: int,
    speed: float,
    ready: asyncio.Event | None = None,
) -> None:
    async with FakeFeldera(host=host, port=port, api_keys=api_keys, speed=speed) as fake:
        for i in range(1, pipelines + 1):
            fake.create_pipeline(f"pipeline-{i}")
        print(f"FakeFeldera listening on {fake.url} (speed={speed:g})", flush=True)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()  # until cancelled (Ctrl-C)


def run_fake_server(
    host: str = "127.0.0.1",
    port: int = 8080,
    api_keys: Sequence[str] | None = None,
    pipelines: int = 0,
    speed: float = 1.0,
) -> None:
    """Serve a FakeFeldera until Ctrl-C (blocking).  ``pipelines`` compiled, stopped
    pipelines named ``pipeline-1``... are created up front.  Returns normally on SIGINT."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(host, port, list(api_keys) if api_keys else None, pipelines, speed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m feldera_events.testing",
        description="Run a simulated Feldera pipeline manager until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted API key (repeatable)"
    )
    parser.add_argument("--pipelines", type=int, default=0, help="pipelines to create")
    parser.add_argument("--speed", type=float, default=1.0, help="time-scale factor")
    args = parser.parse_args(argv)
    try:
        run_fake_server(args.host, args.port, args.api_keys, args.pipelines, args.speed)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
