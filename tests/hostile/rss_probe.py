"""Run in a subprocess: peak RSS growth of one client request against a hostile answer.

``python -m hostile.rss_probe DECODED_SIZE {length|chunked}`` (a gzip bomb) or
``python -m hostile.rss_probe 0 {words-500|zeros-list}`` (issue 21's two answers), with
``tests/`` on ``sys.path``, prints a JSON line ``{"growth": bytes, "cpu": seconds,
"error": "ExceptionName"}``. A fresh process, so ``ru_maxrss`` (a high-water mark)
measures this request alone.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

from helpers import loopback

from feldera_events import EventsClient, FelderaError, RetryPolicy
from hostile.servers import (
    WORDS_500,
    ZEROS_LIST,
    gzip_answer,
    gzip_bomb,
    gzip_bomb_bytes,
    gzip_repeated,
)

ANSWERS = {"words-500": WORDS_500, "zeros-list": ZEROS_LIST}


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


async def main(decoded_size: int, mode: str) -> dict[str, object]:
    route = "get"
    if mode in ANSWERS:
        route, status, parts = ANSWERS[mode]
        handler = gzip_answer(gzip_repeated(*parts), status)  # built before the baseline
    else:
        gzip_bomb_bytes(decoded_size)  # built before the baseline
        handler = gzip_bomb(decoded_size, chunked=mode == "chunked")
    error = None
    async with (
        loopback(handler) as srv,
        EventsClient(srv.url, retry=RetryPolicy.disabled()) as client,
    ):
        before = peak_rss()
        cpu = time.process_time()
        try:
            if route == "list":
                await client.list_events("p")
            else:
                await client.get_event("p")
        except FelderaError as exc:
            error = type(exc).__name__
            str(exc), repr(exc)  # what a report does with it
        cpu = time.process_time() - cpu
        after = peak_rss()
    return {"growth": after - before, "cpu": cpu, "error": error}


if __name__ == "__main__":
    size, mode = int(sys.argv[1]), sys.argv[2]
    print(json.dumps(asyncio.run(main(size, mode))))
