"""A minimal aiohttp server answering every event request with one fixed event.

``python benchmarks/_event_server.py [--port 0]`` prints ``READY <url>`` and serves
until terminated. It also answers ``GET /v0/config`` (the official SDK asks for it
when constructed). Nothing else: the point is a server as cheap as possible, so the
client's cost shows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _events import status_event

EVENT = json.dumps(status_event()).encode()
CONFIG = json.dumps(
    {"version": "0.0.0-bench", "edition": "Open source", "telemetry": "", "revision": "bench"}
).encode()


async def event(_: web.Request) -> web.Response:
    return web.Response(body=EVENT, content_type="application/json")


async def config(_: web.Request) -> web.Response:
    return web.Response(body=CONFIG, content_type="application/json")


async def main(host: str, port: int) -> None:
    app = web.Application()
    app.router.add_get("/v0/pipelines/{name}/events/{event_id}", event)
    app.router.add_get("/v0/config", config)
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"READY http://{host}:{bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.host != "127.0.0.1":
        parser.error("benchmarks serve on 127.0.0.1 only")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.host, args.port))
