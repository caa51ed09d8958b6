"""Run in a subprocess: peak RSS growth of one client request against a gzip bomb.

``python -m hostile.rss_probe DECODED_SIZE {length|chunked}`` (with ``tests/`` on
``sys.path``) prints a JSON line ``{"growth": bytes, "error": "ExceptionName"}``.
A fresh process, so ``ru_maxrss`` (a high-water mark) measures this request alone.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys

from helpers import loopback

from feldera_events import EventsClient, FelderaError, RetryPolicy
from hostile.servers import gzip_bomb, gzip_bomb_bytes


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


async def main(decoded_size: int, chunked: bool) -> dict[str, object]:
    gzip_bomb_bytes(decoded_size)  # built before the baseline
    error = None
    async with (
        loopback(gzip_bomb(decoded_size, chunked=chunked)) as srv,
        EventsClient(srv.url, retry=RetryPolicy.disabled()) as client,
    ):
        before = peak_rss()
        try:
            await client.get_event("p")
        except FelderaError as exc:
            error = type(exc).__name__
        after = peak_rss()
    return {"growth": after - before, "error": error}


if __name__ == "__main__":
    size, mode = int(sys.argv[1]), sys.argv[2]
    print(json.dumps(asyncio.run(main(size, mode == "chunked"))))
