"""Item 6: RetryPolicy(timeout=...) bounds an attempt already in flight."""

from __future__ import annotations

import asyncio
import time

import pytest

from feldera_events import APITimeoutError, EventsClient, RetryPolicy, Timeouts
from feldera_events._retry import call_with_retry
from hostile import stalled
from hostile.checks import one_line


async def test_a_stalled_request_ends_at_the_policy_timeout() -> None:
    # The per-request timeout (60 s) would end it much later; the policy's 1 s must.
    async with (
        stalled() as srv,
        EventsClient(srv.url, timeout=Timeouts(request=60), retry=RetryPolicy(timeout=1.0)) as c,
    ):
        start = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await c.get_event("p")
        elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 15, elapsed  # generous: a loaded 2-core machine
    text = one_line(info.value)
    assert text == (
        "GET /v0/pipelines/p/events/latest?selector=status did not finish within "
        "the retry policy's timeout of 1s"
    )
    assert srv.connections == 1


async def test_the_attempts_own_timeout_errors_pass_through() -> None:
    # A TimeoutError from the attempt itself (not the policy's bound) is left as it is.
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise APITimeoutError("per-request timeout")

    with pytest.raises(APITimeoutError, match="per-request timeout"):
        await call_with_retry(call, RetryPolicy(attempts=2, timeout=30), describe="x")
    assert calls == 2


async def test_no_bound_without_a_policy_timeout() -> None:
    async def call() -> str:
        await asyncio.sleep(0)
        return "ok"

    assert await call_with_retry(call, RetryPolicy(timeout=None), describe="x") == "ok"
