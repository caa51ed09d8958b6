"""The REST surface of the fake over real loopback HTTP (responses spec-checked by the fixture)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from feldera_events.testing import FakeFeldera, Fault, Timings
from tests.testing.conftest import ALL_KEYS, SPEED, STATUS_KEYS, attach_audit

NAME = "a-b_c"  # a name the manager accepts, its every character percent-encoded
QUOTED = "%61%2D%62%5F%63"


async def get(
    session: aiohttp.ClientSession, url: str
) -> tuple[int, aiohttp.typedefs.LooseHeaders, bytes]:
    async with session.get(url) as r:
        return r.status, r.headers, await r.read()


async def test_events_list_and_get_with_quoted_name(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline(NAME)
    fake.start(NAME)
    await fake.wait_for_status(NAME, deployment_status="Running")
    base = f"{fake.url}/v0/pipelines/{QUOTED}/events"
    status, headers, body = await get(session, base)
    assert status == 200
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Content-Type"].startswith("application/json")
    events = json.loads(body)
    assert [e["event_id"] for e in events] == [e["event_id"] for e in fake.events(NAME)]
    assert all(set(e) == STATUS_KEYS for e in events)
    status, _, body = await get(session, base + "?selector=all")
    assert all(set(e) == ALL_KEYS for e in json.loads(body))
    status, headers, body = await get(session, base + "/latest")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    assert json.loads(body)["event_id"] == events[0]["event_id"]
    oldest = events[-1]["event_id"]
    status, _, body = await get(session, f"{base}/{oldest}?selector=all")
    assert json.loads(body) == fake.events(NAME)[-1]
    # upper-case UUIDs parse too
    status, _, body = await get(session, f"{base}/{oldest.upper()}")
    assert status == 200 and json.loads(body)["event_id"] == oldest


async def test_event_errors(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    url = fake.url
    # InvalidUuidParam is checked before the pipeline lookup
    status, _, body = await get(session, f"{url}/v0/pipelines/nope/events/not-a-uuid")
    err = json.loads(body)
    assert status == 400 and err["error_code"] == "InvalidUuidParam"
    assert err["message"].startswith("Invalid UUID string 'not-a-uuid': ")
    status, _, body = await get(session, f"{url}/v0/pipelines/nope/events/latest")
    err = json.loads(body)
    assert (status, err["error_code"]) == (404, "UnknownPipelineName")
    assert err["message"] == "Unknown pipeline name 'nope'"
    assert err["details"] == {"pipeline_name": "nope"}
    status, _, body = await get(session, f"{url}/v0/pipelines/nope/events")
    assert (status, json.loads(body)["error_code"]) == (404, "UnknownPipelineName")

    fake.create_pipeline("old", record_events=False)
    status, _, body = await get(session, f"{url}/v0/pipelines/old/events")
    assert (status, json.loads(body)) == (200, [])
    status, _, body = await get(session, f"{url}/v0/pipelines/old/events/latest")
    err = json.loads(body)
    assert (status, err["error_code"]) == (404, "NoPipelineMonitorEventsAvailable")
    assert err["message"] == "There are not yet any pipeline monitor events recorded"

    # an event of another pipeline is unknown here
    fake.create_pipeline("other")
    other_id = fake.events("other")[0]["event_id"]
    status, _, body = await get(session, f"{url}/v0/pipelines/old/events/{other_id}")
    err = json.loads(body)
    assert (status, err["error_code"]) == (404, "UnknownPipelineMonitorEvent")
    assert err["details"] == {"event_id": other_id}
    assert "only a limited number of events are retained" in err["message"]

    async with session.get(f"{url}/v0/pipelines/old/events?selector=bogus") as r:
        assert r.status == 400
        assert r.content_type == "text/plain"
        assert (await r.text()).startswith("Query deserialize error: unknown variant `bogus`")


async def test_cleaned_up_event_answers_404() -> None:
    async with FakeFeldera(speed=500, retention=2) as fake, aiohttp.ClientSession() as s:
        audit = attach_audit(fake)
        fake.create_pipeline("p")
        first = fake.events("p")[0]["event_id"]
        fake.start("p")
        await fake.wait_for_status("p", deployment_status="Running")
        status, _, _ = await get(s, f"{fake.url}/v0/pipelines/p/events/{first}")
        assert status == 200
        fake.run_cleanup()
        status, _, body = await get(s, f"{fake.url}/v0/pipelines/p/events/{first}")
        assert (status, json.loads(body)["error_code"]) == (404, "UnknownPipelineMonitorEvent")
        assert not audit.errors


async def test_pipeline_rest_lifecycle(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    url = f"{fake.url}/v0/pipelines"
    body = {"name": "r", "program_code": "CREATE TABLE t (x INT);", "description": "d"}
    async with session.post(url, json=body) as r:
        assert r.status == 201
        assert (await r.json())["program_status"] == "Pending"
    async with session.post(url, json=body) as r:
        assert (r.status, (await r.json())["error_code"]) == (409, "DuplicateName")
    await fake.wait_for_status("r", program_status="Success")
    for action, expected in [
        ("start?initial=paused", "Paused"),
        ("resume", "Running"),
        ("pause", "Paused"),
        ("stop?force=true", "Stopped"),
    ]:
        async with session.post(f"{url}/r/{action}") as r:
            assert r.status == 202, await r.text()
        await fake.wait_for_status("r", deployment_status=expected)
    async with session.get(f"{url}/r?selector=status") as r:
        info = await r.json()
        assert info["deployment_status"] == "Stopped"
        assert "program_code" not in info
    async with session.get(f"{url}/r") as r:
        assert (await r.json())["program_code"].startswith("CREATE TABLE")
    async with session.get(f"{url}?selector=status_with_connectors") as r:
        assert [p["name"] for p in await r.json()] == ["r"]
    async with session.post(f"{url}/r/clear") as r:
        assert r.status == 202
    await fake.wait_for_status("r", storage_status="Cleared")
    events_before = len(fake.events("r"))
    async with session.post(f"{url}/r/clear") as r:
        assert r.status == 202  # already Cleared: a no-op success, as the real manager
    assert len(fake.events("r")) == events_before
    async with session.post(f"{url}/r/dismiss_error") as r:
        assert r.status == 200
    body["program_code"] = "CREATE TABLE t (y INT);"
    async with session.put(f"{url}/r", json=body) as r:
        assert r.status == 200
        assert (await r.json())["program_version"] == 2
    await fake.wait_for_status("r", program_status="Success")
    async with session.delete(f"{url}/r") as r:
        assert r.status == 200
    async with session.get(f"{url}/r/events") as r:
        assert (r.status, (await r.json())["error_code"]) == (404, "UnknownPipelineName")
    async with session.post(f"{url}/missing/start") as r:
        assert (r.status, (await r.json())["error_code"]) == (404, "UnknownPipelineName")
    async with session.get(f"{fake.url}/v0/config") as r:
        assert (await r.json())["version"] == "0.337.0"


async def test_patch_pipeline(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    url = f"{fake.url}/v0/pipelines/r"
    fake.create_pipeline("r")
    # The official SDK's `modify`: every field present, null meaning "leave it".
    patch = dict.fromkeys(
        ("udf_rust", "udf_toml", "program_config", "runtime_config", "tags"), None
    )
    async with session.patch(url, json={**patch, "program_code": "invalid-sql"}) as r:
        assert r.status == 200
        info = await r.json()
        assert (info["program_code"], info["program_version"]) == ("invalid-sql", 2)
    await fake.wait_for_status("r", program_status="SqlError")
    assert [e["program_status"] for e in reversed(fake.events("r"))] == [
        "Success", "Pending", "CompilingSql", "SqlError"]  # fmt: skip
    async with session.post(f"{url}/start") as r:
        assert (r.status, (await r.json())["error_code"]) == (
            400,
            "CannotStartWithCompilationError",
        )
    assert len(fake.events("r")) == 4  # the refused start wrote nothing
    # Description and tags change at any time; a deployment field needs a stopped pipeline.
    async with session.patch(url, json={"program_code": "CREATE TABLE t (y INT);"}) as r:
        assert r.status == 200
    fake.start("r")
    await fake.wait_for_status("r", deployment_status="Running")
    async with session.patch(url, json={"description": "new", "tags": ["a"]}) as r:
        assert r.status == 200
        assert ((await r.json())["description"], (await r.json())["tags"]) == ("new", ["a"])
    async with session.patch(url, json={"program_code": "CREATE TABLE t (z INT);"}) as r:
        assert (r.status, (await r.json())["error_code"]) == (400, "UpdateRestrictedToStopped")
    async with session.patch(f"{fake.url}/v0/pipelines/nope", json={"description": ""}) as r:
        assert (r.status, (await r.json())["error_code"]) == (404, "UnknownPipelineName")


async def test_start_query_parameters(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    fake.create_pipeline("r")
    url = f"{fake.url}/v0/pipelines/r/start"
    async with session.post(f"{url}?bootstrap_policy=sometimes") as r:
        assert r.status == 400
        assert "unknown variant `sometimes`" in await r.text()
    async with session.post(f"{url}?silent_bootstrap=maybe") as r:
        assert r.status == 400
    assert len(fake.events("r")) == 1
    query = "bootstrap_policy=allow&silent_bootstrap=false&dismiss_error=false"
    async with session.post(f"{url}?{query}") as r:
        assert r.status == 202
    await fake.wait_for_status("r", deployment_status="Running")


async def test_rest_stop_defaults_to_suspending(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("r")
    fake.start("r")
    await fake.wait_for_status("r", deployment_status="Running")
    async with session.post(f"{fake.url}/v0/pipelines/r/stop") as r:
        assert r.status == 202
    await fake.wait_for_status("r", deployment_status="Stopped")
    runtime = [e["deployment_runtime_status"] for e in reversed(fake.events("r"))]
    assert runtime[-4:] == ["Suspended", "Suspended", None, None]


async def test_rest_start_errors(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    fake.create_pipeline("p", start_failures=["provision_check"])
    fake.start("p")
    await fake.wait_for_status("p", deployment_has_error=True)
    async with session.post(f"{fake.url}/v0/pipelines/p/start?dismiss_error=false") as r:
        err = await r.json()
        assert (r.status, err["error_code"]) == (400, "CannotStartWithUndismissedError")
    async with session.post(f"{fake.url}/v0/pipelines/p/start?dismiss_error=maybe") as r:
        assert r.status == 400 and r.content_type == "text/plain"
    async with session.post(f"{fake.url}/v0/pipelines/p/start") as r:
        assert r.status == 202
    await fake.wait_for_status("p", deployment_status="Running")


async def test_unknown_routes_are_plain_404(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{fake.url}/v0/nothing") as r:
        assert r.status == 404 and await r.read() == b""
    async with session.post(f"{fake.url}/v0/pipelines/p/events") as r:
        assert r.status == 404 and await r.read() == b""  # actix method guards: no route


async def test_old_manager_without_cluster_routes() -> None:
    async with FakeFeldera(cluster_events=False) as fake, aiohttp.ClientSession() as s:
        for path in ("/v0/cluster/events", "/v0/cluster/events/latest", "/v0/cluster_healthz"):
            async with s.get(fake.url + path) as r:
                assert r.status == 404 and await r.read() == b""


async def test_cluster_endpoints(session: aiohttp.ClientSession) -> None:
    # A start-up that does not end by itself: the 503 is not a race against a timer.
    async with FakeFeldera(speed=200, timings=Timings(cluster_startup=1e9)) as fake:
        audit = attach_audit(fake)
        async with session.get(f"{fake.url}/v0/cluster_healthz") as r:
            assert r.status == 503  # still starting up
            assert (await r.json())["all_healthy"] is False
        fake.recover_cluster()  # the start-up ends (one Healthy event)
        async with session.get(f"{fake.url}/v0/cluster_healthz") as r:
            assert r.status == 200
        async with session.get(f"{fake.url}/v0/cluster/events") as r:
            events = await r.json()
            assert [e["api_status"] for e in events] == ["Healthy", "InitialUnhealthy"]
            assert all("api_self_info" not in e for e in events)
        async with session.get(f"{fake.url}/v0/cluster/events/latest?selector=all") as r:
            latest = await r.json()
            assert latest["id"] == events[0]["id"] and "runner_resources_info" in latest
        async with session.get(f"{fake.url}/v0/cluster/events/{events[1]['id']}") as r:
            assert r.status == 200 and "api_self_info" not in await r.json()
        fake.cluster_retention = 1
        fake.run_cleanup()
        async with session.get(f"{fake.url}/v0/cluster/events/{events[1]['id']}") as r:
            assert (r.status, (await r.json())["error_code"]) == (404, "UnknownClusterMonitorEvent")
        async with session.get(f"{fake.url}/v0/cluster/events/latest") as r:
            assert r.status == 200  # the latest is never cleaned up
        assert not audit.errors


# ---------------------------------------------------------------------------- auth, tenants
@pytest.fixture
async def secured() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(api_keys=["apikey:good"], tenants=["acme"]) as fake:
        audit = attach_audit(fake)
        fake.create_pipeline("p")
        yield fake
        assert not audit.errors


async def test_auth(secured: FakeFeldera, session: aiohttp.ClientSession) -> None:
    url = f"{secured.url}/v0/pipelines/p/events"
    async with session.get(url) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert await r.read() == b""
    async with session.get(url, headers={"Authorization": "Bearer apikey:bad"}) as r:
        assert r.status == 401
        assert r.content_type == "text/plain"
        body = json.loads(await r.read())
        assert body == {"message": "Unauthorized API key", "error_code": "AuthenticationFailed"}
    async with session.get(url, headers={"Authorization": "Bearer apikey:good"}) as r:
        assert r.status == 200
    assert all("good" not in repr(rec) for rec in secured.requests)


async def test_tenant(secured: FakeFeldera, session: aiohttp.ClientSession) -> None:
    url = f"{secured.url}/v0/pipelines/p/events"
    auth = {"Authorization": "Bearer apikey:good"}
    async with session.get(url, headers={**auth, "Feldera-Tenant": "acme"}) as r:
        assert r.status == 200
    async with session.get(url, headers={**auth, "Feldera-Tenant": "evil"}) as r:
        assert (r.status, (await r.json())["error_code"]) == (404, "UnknownTenant")
    assert secured.requests[-1].tenant == "evil"


# ---------------------------------------------------------------------------- faults
async def test_status_faults_scripted(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    fake.create_pipeline("p")
    handle = fake.inject(Fault.lock_took_too_long(), pipeline="p", times=2)
    url = f"{fake.url}/v0/pipelines/p/events/latest"
    seen = []
    for _ in range(3):
        async with session.get(url) as r:
            seen.append((r.status, r.headers.get("Retry-After")))
            if r.status == 503:
                assert (await r.json())["error_code"] == "LockTookTooLong"
    assert seen == [(503, "5"), (503, "5"), (200, None)]
    assert handle.hits == 2 and handle.exhausted
    assert [r.fault for r in fake.requests] == ["status_503", "status_503", None]
    # faults do not touch other operations by default
    fake.inject(Fault.status(500), times=1)
    async with session.get(f"{fake.url}/v0/pipelines/p") as r:
        assert r.status == 200
    fake.clear_faults()


@pytest.mark.parametrize(
    ("fault", "status", "ctype"),
    [
        (Fault.too_many_requests(), 429, "text/plain"),
        (Fault.internal_error(), 500, "application/json"),
        (Fault.proxy_502(), 502, "text/html"),
        (Fault.status(504), 504, "text/plain"),
    ],
)
async def test_status_fault_kinds(
    fake: FakeFeldera, session: aiohttp.ClientSession, fault: Fault, status: int, ctype: str
) -> None:
    fake.create_pipeline("p")
    fake.inject(fault, times=1)
    async with session.get(f"{fake.url}/v0/pipelines/p/events") as r:
        assert (r.status, r.content_type) == (status, ctype)


async def test_probability_faults_are_seeded(fake: FakeFeldera) -> None:
    async def statuses_of(server: FakeFeldera) -> list[int]:
        server.create_pipeline("p")
        handle = server.inject(Fault.status(500), probability=0.5)
        statuses = []
        async with aiohttp.ClientSession() as s:
            for _ in range(40):
                async with s.get(f"{server.url}/v0/pipelines/p/events/latest") as r:
                    statuses.append(r.status)
        assert handle.hits == statuses.count(500)
        handle.remove()
        return statuses

    first = await statuses_of(fake)  # the fixture's seed: 0
    assert 5 < first.count(500) < 35
    async with FakeFeldera(speed=SPEED, seed=0) as again:
        assert await statuses_of(again) == first  # the same seed: the same faults
    async with FakeFeldera(speed=SPEED, seed=1) as other:
        assert await statuses_of(other) != first  # another seed: others


@pytest.mark.parametrize(
    "fault", [Fault.reset_before_headers(), Fault.reset_mid_body(), Fault.truncated_body()]
)
async def test_connection_faults(fake: FakeFeldera, fault: Fault) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    # aiohttp itself retries an idempotent request once after a disconnect: fault them all
    handle = fake.inject(fault, pipeline="p")
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as s:
        with pytest.raises(aiohttp.ClientError):
            async with s.get(f"{fake.url}/v0/pipelines/p/events?selector=all") as r:
                await r.read()
        handle.remove()
        async with s.get(f"{fake.url}/v0/pipelines/p/events") as r:
            assert r.status == 200
    record = fake.requests[-2]
    assert record.fault == fault.kind and record.status is None


async def test_malformed_json(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    fake.create_pipeline("p")
    fake.inject(Fault.malformed_json(), times=1)
    async with session.get(f"{fake.url}/v0/pipelines/p/events/latest") as r:
        assert r.status == 200 and r.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(await r.read())


async def test_latency_and_hang(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    fake.create_pipeline("p")
    fake.inject(Fault.latency(5.0), times=1)
    with pytest.raises(asyncio.TimeoutError):
        async with session.get(
            f"{fake.url}/v0/pipelines/p/events", timeout=aiohttp.ClientTimeout(total=0.2)
        ) as r:
            await r.read()
    fake.inject(Fault.hang(), operations="*", times=1)
    with pytest.raises(asyncio.TimeoutError):
        async with session.get(
            f"{fake.url}/v0/config", timeout=aiohttp.ClientTimeout(total=0.2)
        ) as r:
            await r.read()


async def test_stop_answering(fake: FakeFeldera, session: aiohttp.ClientSession) -> None:
    fake.create_pipeline("p")
    fake.stop_answering()
    task = asyncio.create_task(session.get(f"{fake.url}/v0/pipelines/p/events/latest"))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), 0.2)
    fake.resume_answering()
    response = await task
    assert response.status == 200
    response.release()


async def test_close_while_hanging() -> None:
    fake = FakeFeldera(timings=Timings(cluster_startup=0.0))
    await fake.start_server()
    fake.stop_answering()
    async with aiohttp.ClientSession() as s:
        task = asyncio.create_task(s.get(f"{fake.url}/v0/config"))
        await fake.wait_for(lambda: fake.in_flight == 1, what="the request to arrive")
        await fake.close()
        with pytest.raises(aiohttp.ClientError):
            (await task).release()
