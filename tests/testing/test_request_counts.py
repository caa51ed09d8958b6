"""``FakeFeldera.request_counts()``: requests per operation, for tests and benchmarks."""

from __future__ import annotations

import aiohttp

from feldera_events.testing import FakeFeldera, Fault


async def get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as r:
        await r.read()
        return r.status


async def test_requests_are_counted_per_operation_whatever_their_answer(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    assert fake.request_counts() == {}
    fake.create_pipeline("p")
    served = fake.requests_served
    fake.inject(Fault.status(503), operations=["get_pipeline_event"], times=1)
    for _ in range(3):  # the first one gets the injected 503: counted all the same
        await get(session, f"{fake.url}/v0/pipelines/p/events/latest")
    assert await get(session, f"{fake.url}/v0/pipelines/missing/events/latest") == 404
    for _ in range(2):
        await get(session, f"{fake.url}/v0/pipelines?selector=status")
    await get(session, f"{fake.url}/healthz")
    assert await get(session, f"{fake.url}/v0/no-such-route") == 404
    assert await get(session, f"{fake.url}/elsewhere") == 404
    async with session.post(f"{fake.url}/v0/pipelines/p/start") as r:
        assert r.status == 202
    counts = fake.request_counts()
    assert counts == {
        "get_pipeline_event": 4,
        "healthz": 1,
        "list_pipelines": 2,
        "post_pipeline_start": 1,
        "unrouted": 2,
    }
    assert list(counts) == sorted(counts)
    assert sum(counts.values()) == fake.requests_served - served
    counts["list_pipelines"] = 99  # a copy: the fake's counts are its own
    assert fake.request_counts()["list_pipelines"] == 2

    fake.reset_request_counts()
    assert fake.request_counts() == {}
    assert fake.requests_served - served == 10  # untouched by the reset
    await get(session, f"{fake.url}/v0/pipelines/p/events")
    assert fake.request_counts() == {"list_pipeline_events": 1}


async def test_counts_outlive_the_request_log_and_include_refused_keys() -> None:
    async with (
        FakeFeldera(speed=200, api_keys=["apikey:ok"], request_log_limit=1) as fake,
        aiohttp.ClientSession() as session,
    ):
        fake.create_pipeline("p")
        url = f"{fake.url}/v0/pipelines/p/events/latest"
        async with session.get(url) as r:
            assert r.status == 401
        for _ in range(3):
            async with session.get(url, headers={"Authorization": "Bearer apikey:ok"}) as r:
                assert r.status == 200
        assert len(fake.requests) == 1
        assert fake.request_counts() == {"get_pipeline_event": 4}
