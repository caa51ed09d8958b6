"""API keys made through the API, and the simulated pipeline process (ingress, stats, a
scripted panic on input), over HTTP against FakeFeldera.

Upstream's ``test_api_keys.py`` creates a key with ``POST /v0/api_keys`` and deletes it;
its lifecycle tests wait for ``/stats`` to answer before they push data, and its panic
test pushes rows that make a view panic (``RuntimeError.WorkerPanic``).
"""

from __future__ import annotations

import json

import aiohttp

from feldera_events.testing import FakeFeldera, Timings
from tests.testing.conftest import SPEED, attach_audit

ADMIN = "apikey:admin"


async def test_created_keys_authenticate_until_deleted() -> None:
    async with (
        FakeFeldera(speed=SPEED, api_keys=[ADMIN], timings=Timings(cluster_startup=0.0)) as fake,
        aiohttp.ClientSession() as s,
    ):
        audit = attach_audit(fake)
        fake.create_pipeline("p")
        keys = f"{fake.url}/v0/api_keys"
        admin = {"Authorization": f"Bearer {ADMIN}"}
        async with s.post(keys, json={"name": "ci", "role": "write"}, headers=admin) as r:
            assert r.status == 201
            created = await r.json()
        assert created["name"] == "ci" and created["id"]
        assert created["api_key"].startswith("apikey:") and len(created["api_key"]) > 64
        new = {"Authorization": f"Bearer {created['api_key']}"}
        async with s.get(f"{fake.url}/v0/pipelines/p/events/latest", headers=new) as r:
            assert r.status == 200  # the new key is accepted like a configured one
        async with s.post(keys, json={"name": "ci"}, headers=new) as r:
            assert (r.status, (await r.json())["error_code"]) == (409, "DuplicateName")
        async with s.post(keys, json={"name": "reader"}, headers=new) as r:
            assert r.status == 201  # no role given: read, the manager's default
        async with s.get(keys, headers=admin) as r:
            listed = await r.json()
        assert [(k["name"], k["role"]) for k in listed] == [("ci", "write"), ("reader", "read")]
        assert all(set(k) == {"id", "name", "role"} for k in listed)  # never the secret
        async with s.get(f"{keys}/ci", headers=admin) as r:
            assert await r.json() == [{"id": created["id"], "name": "ci", "role": "write"}]
        async with s.delete(f"{keys}/ci", headers=admin) as r:
            assert r.status == 200
        async with s.get(f"{fake.url}/v0/pipelines/p/events/latest", headers=new) as r:
            assert r.status == 401  # deleted: refused
        for method in ("GET", "DELETE"):
            async with s.request(method, f"{keys}/ci", headers=admin) as r:
                body = await r.json()
                assert (r.status, body["error_code"], body["details"]) == (
                    404,
                    "UnknownApiKey",
                    {"name": "ci"},
                )
        async with s.post(keys, json={"name": "x", "role": "owner"}, headers=admin) as r:
            assert r.status == 400  # only read or write keys can be made
        async with s.post(keys, json={"name": "x"}) as r:
            assert r.status == 401  # making a key needs a key
        assert created["api_key"] not in repr(fake.requests)
        # The fake's own store of created keys never shows a secret either.
        made = fake._app.handlers.api_keys
        assert made and all(key.secret not in repr(made) for key in made.values())
        assert not audit.errors, audit.errors


async def test_ingress_and_stats_need_a_running_pipeline(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p")
    url = f"{fake.url}/v0/pipelines/p"
    for path, method in (("stats", "GET"), ("ingress/t1", "POST")):
        async with session.request(method, f"{url}/{path}", data="1\n") as r:
            body = await r.json()
            assert (r.status, body["error_code"]) == (503, "PipelineInteractionNotDeployed")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    async with session.get(f"{url}/stats") as r:
        assert r.status == 200
        metrics = (await r.json())["global_metrics"]
    assert (metrics["state"], metrics["total_input_records"]) == ("Running", 0)
    for data in ("1\n2\n3\n", "4\r\n5\r\n6"):
        async with session.post(
            f"{url}/ingress/t1", data=data, headers={"Content-Type": "text/plain"}
        ) as r:
            assert r.status == 200
            assert (await r.json())["token"]
    async with session.get(f"{url}/stats") as r:
        metrics = (await r.json())["global_metrics"]
    assert (metrics["total_input_records"], metrics["total_input_bytes"]) == (6, 13)
    fake.pause("p")
    await fake.wait_for_status("p", deployment_status="Paused")
    async with session.get(f"{url}/stats") as r:
        assert (await r.json())["global_metrics"]["state"] == "Paused"
    fake.set_runtime_status("p", "Unavailable")
    async with session.get(f"{url}/stats") as r:
        body = await r.json()
        assert (r.status, body["error_code"]) == (503, "PipelineInteractionUnreachable")
    async with session.post(f"{fake.url}/v0/pipelines/nope/ingress/t1", data="1") as r:
        assert (r.status, (await r.json())["error_code"]) == (404, "UnknownPipelineName")
    assert fake.status("p")["deployment_error"] is None  # input alone never fails it


async def test_fail_next_input_panics_the_pipeline_after_accepting_the_input(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.fail_next_input("p", "index out of bounds")  # before the pipeline exists
    async with session.post(
        f"{fake.url}/v0/pipelines",
        json={
            "name": "p",
            "program_code": "CREATE TABLE t1(c1 INTEGER); "
            "CREATE VIEW v1 AS SELECT ELEMENT(ARRAY [2, 3]) FROM t1;",
        },
    ) as r:
        assert r.status == 201
    await fake.wait_for_status("p", program_status="Success")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    async with session.post(f"{fake.url}/v0/pipelines/p/ingress/t1", data="1\n2\n3\n") as r:
        assert r.status == 200  # accepted, then a worker panics
    status = await fake.wait_for_status("p", deployment_status="Stopped")
    error = status["deployment_error"]
    assert error["error_code"] == "RuntimeError.WorkerPanic"
    assert "index out of bounds" in error["message"]
    # Once: the next run takes input without failing.
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    async with session.post(f"{fake.url}/v0/pipelines/p/ingress/t1", data="4\n") as r:
        assert r.status == 200
    assert fake.status("p")["deployment_error"] is None
    assert json.dumps(fake.events("p")).count("RuntimeError.WorkerPanic") == 2  # Stopping, Stopped
