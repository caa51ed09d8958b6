"""Owns ``run_fake_server``: a FakeFeldera served until Ctrl-C from blocking code (the
command line is ``feldera-events fake-server``, also ``python -m feldera_events.testing``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from feldera_events.testing._fake import FakeFeldera

__all__ = ["run_fake_server"]


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
