"""The official (sync, requests-based) ``feldera`` SDK drives pipelines against the fake.

``test_upstream_pipeline_events_sequence`` performs the steps of upstream's platform test
``python/tests/platform/test_pipeline_events.py`` (feldera/feldera, unchanged since
v0.328) and asserts its 34 events exactly; the expected tuples are written from
``feldera-events-api.md`` section 7.  The worker panic comes from one row pushed through
the SDK, scripted with ``fake.fail_next_input`` (there is no SQL engine to evaluate the
panicking view).

The other tests state, each in our own words, a behaviour upstream's
``test_pipeline_lifecycle.py``, ``test_api_keys.py``, ``test_cluster_events.py`` and
``test_cluster_health.py`` pin, driven through the SDK (and its ``requests``, for the
routes upstream's tests call raw) as those tests drive a real manager
(``feldera-events-api.md`` section 9). ``tests/testing/test_manager_rules.py`` states the
same rules over plain HTTP in the normal suite.

Runs only where the SDK is installed (CI: its own venv, ``.ci/run`` leg 3), e.g.::

    python -m venv /tmp/venv-fake
    /tmp/venv-fake/bin/pip install -e '.[test]' feldera   # tested with feldera 0.369.0
    /tmp/venv-fake/bin/python -m pytest -rs tests/testing/test_official_sdk.py
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import pytest

pytest.importorskip(
    "feldera", reason="official SDK not installed (pip install feldera) -- runs in .ci/run leg 3"
)

import requests  # the official SDK's own HTTP library
from feldera import FelderaClient, Pipeline, PipelineBuilder
from feldera.enums import (
    BootstrapPolicy,
    PipelineFieldSelector,
    PipelineStatus,
    ProgramStatus,
    StorageStatus,
)
from feldera.rest.errors import FelderaAPIError

from feldera_events.testing import FakeFeldera, Timings
from tests.testing.conftest import ALL_KEYS, STATUS_FIELDS, STATUS_KEYS, attach_audit

NAME = "sdk-pipeline_1"  # the SDK does not quote names in PUT; real names are [A-Za-z0-9_-]
SQL = "CREATE TABLE t1(i1 INTEGER); CREATE VIEW v1 AS SELECT * FROM t1;"
PANIC_SQL = (
    "CREATE TABLE t1(i1 INTEGER) WITH ('materialized' = 'true');\n"
    "CREATE VIEW v1 AS SELECT i1 / 0 AS crash FROM t1;"
)


_ = None
# feldera-events-api.md section 7, oldest first: resources, resources desired, runtime,
# runtime desired, has_error, program, storage.
UPSTREAM_SEQUENCE = [
    ("Stopped", "Stopped", _, _, False, "Pending", "Cleared"),  # 1
    ("Stopped", "Stopped", _, _, False, "CompilingSql", "Cleared"),
    ("Stopped", "Stopped", _, _, False, "SqlCompiled", "Cleared"),
    ("Stopped", "Stopped", _, _, False, "CompilingRust", "Cleared"),
    ("Stopped", "Stopped", _, _, False, "Success", "Cleared"),  # 5
    ("Stopped", "Provisioned", _, _, False, "Success", "Cleared"),  # /start
    ("Stopped", "Provisioned", _, _, False, "Success", "InUse"),  # storage before Provisioning
    ("Provisioning", "Provisioned", _, _, False, "Success", "InUse"),
    ("Provisioned", "Provisioned", "Initializing", "Running", False, "Success", "InUse"),
    ("Provisioned", "Provisioned", "Running", "Running", False, "Success", "InUse"),  # 10
    ("Provisioned", "Provisioned", "Paused", "Paused", False, "Success", "InUse"),  # /pause
    ("Provisioned", "Provisioned", "Running", "Running", False, "Success", "InUse"),  # /resume
    ("Provisioned", "Stopped", "Running", "Running", False, "Success", "InUse"),  # /stop force
    ("Stopping", "Stopped", _, _, False, "Success", "InUse"),
    ("Stopped", "Stopped", _, _, False, "Success", "InUse"),  # 15
    ("Stopped", "Stopped", _, _, False, "Success", "Clearing"),  # /clear
    ("Stopped", "Stopped", _, _, False, "Success", "Cleared"),
    ("Stopped", "Stopped", _, _, False, "Pending", "Cleared"),  # PATCH invalid-sql
    ("Stopped", "Stopped", _, _, False, "CompilingSql", "Cleared"),
    ("Stopped", "Stopped", _, _, False, "SqlError", "Cleared"),  # 20; refused /start: nothing
    ("Stopped", "Stopped", _, _, False, "Pending", "Cleared"),  # PATCH valid SQL
    ("Stopped", "Stopped", _, _, False, "CompilingSql", "Cleared"),
    ("Stopped", "Stopped", _, _, False, "SqlCompiled", "Cleared"),
    ("Stopped", "Stopped", _, _, False, "CompilingRust", "Cleared"),
    ("Stopped", "Stopped", _, _, False, "Success", "Cleared"),  # 25
    ("Stopped", "Provisioned", _, _, False, "Success", "Cleared"),  # /start?bootstrap_policy
    ("Stopped", "Provisioned", _, _, False, "Success", "InUse"),
    ("Provisioning", "Provisioned", _, _, False, "Success", "InUse"),
    ("Provisioned", "Provisioned", "Initializing", "Running", False, "Success", "InUse"),
    ("Provisioned", "Provisioned", "Running", "Running", False, "Success", "InUse"),  # 30
    ("Provisioned", "Stopped", "Running", "Running", False, "Success", "InUse"),  # panic
    ("Stopping", "Stopped", _, _, True, "Success", "InUse"),  # same recorded_at as 31
    ("Stopped", "Stopped", _, _, True, "Success", "InUse"),
    ("Stopped", "Stopped", _, _, False, "Success", "InUse"),  # /dismiss_error
]


def as_tuples(events_newest_first: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Upstream's reduction, oldest first: drop runtime ``Unavailable``, then consecutive
    duplicates."""
    out: list[tuple[Any, ...]] = []
    for event in reversed(events_newest_first):
        if event["deployment_runtime_status"] == "Unavailable":
            continue
        row = tuple(event[k] for k in STATUS_FIELDS)
        if not out or out[-1] != row:
            out.append(row)
    return out


@pytest.fixture
async def fake() -> Any:
    async with FakeFeldera(speed=50, timings=Timings(cluster_startup=0.0)) as server:
        audit = attach_audit(server)
        yield server
        server.response_observer = None
        assert not audit.errors, audit.errors


def until_running(client: FelderaClient) -> None:
    """Upstream's steps up to the start that will panic."""
    pipeline = PipelineBuilder(client, NAME, SQL).create_or_replace()
    pipeline.start()
    pipeline.pause()
    pipeline.resume()
    pipeline.stop(force=True)
    pipeline.clear_storage()

    other = PipelineBuilder(client, f"{NAME}-other", SQL).create_or_replace()
    other.clear_storage()  # already Cleared: a no-op success
    other.start()
    other.stop(force=True)
    other.clear_storage()

    pipeline.modify(sql="invalid-sql")
    with pytest.raises(RuntimeError):
        client._wait_for_compilation(NAME)
    with pytest.raises(FelderaAPIError) as info:
        pipeline.start()
    assert (info.value.status_code, info.value.error_code) == (
        400,
        "CannotStartWithCompilationError",
    )

    pipeline.modify(sql=PANIC_SQL)
    client._wait_for_compilation(NAME)
    pipeline.start(bootstrap_policy=BootstrapPolicy.ALLOW)
    client.push_to_pipeline(NAME, "t1", "csv", "1\n", wait=False)  # the row that panics


def after_panic(client: FelderaClient) -> list[dict[str, Any]]:
    p = Pipeline.get(NAME, client)
    p.wait_for_status(PipelineStatus.STOPPED, timeout=60)
    assert p.deployment_error()["error_code"] == "RuntimeError.WorkerPanic"
    p.dismiss_error()

    events: list[dict[str, Any]] = p.events()
    assert events == p.events(selector="status")
    assert events[0] == p.event("latest")
    assert all(set(e) == STATUS_KEYS for e in events)
    everything: list[dict[str, Any]] = p.events(selector="all")
    assert all(set(e) == ALL_KEYS for e in everything)
    recorded = [e["recorded_at"] for e in events]
    assert recorded == sorted(recorded, reverse=True)
    for event, full in zip(events, everything, strict=True):
        assert p.event(event["event_id"]) == event
        assert p.event(event["event_id"], selector="all") == full
    return everything


async def test_upstream_pipeline_events_sequence(
    fake: FakeFeldera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)  # the SDK warns that client and server versions differ
    # The client's constructor makes a request: never on the loop the fake serves on.
    client = await asyncio.to_thread(FelderaClient, url=fake.url, timeout=30)
    fake.fail_next_input(NAME, "attempt to divide by zero")
    await asyncio.to_thread(until_running, client)
    events = await asyncio.to_thread(after_panic, client)

    assert as_tuples(events) == UPSTREAM_SEQUENCE
    # The runner's desired-status change and the move to Stopping (with the error) are
    # one transaction: one recorded_at (events are newest first).
    stopping = next(i for i, e in enumerate(events) if e["deployment_has_error"] and
                    e["deployment_resources_status"] == "Stopping")  # fmt: skip
    assert events[stopping + 1]["deployment_resources_desired_status"] == "Stopped"
    assert events[stopping + 1]["deployment_resources_status"] == "Provisioned"
    assert events[stopping]["recorded_at"] == events[stopping + 1]["recorded_at"]
    # The other pipeline's events are its own.
    assert fake.status(f"{NAME}-other")["storage_status"] == "Cleared"
    others = {o["event_id"] for o in fake.events(f"{NAME}-other")}
    assert others and not others & {e["event_id"] for e in events}


def drive_stop_without_force(url: str) -> list[dict[str, Any]]:
    client = FelderaClient(url=url, timeout=30)
    pipeline = PipelineBuilder(client, NAME, SQL).create_or_replace()
    pipeline.start()
    pipeline.stop(force=False)
    events: list[dict[str, Any]] = client.get_pipeline_events(NAME, selector="all")
    return events


async def test_official_sdk_stop_without_force(
    fake: FakeFeldera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    events = await asyncio.to_thread(drive_stop_without_force, fake.url)
    assert as_tuples(events)[-5:] == [
        ("Provisioned", "Provisioned", "Running", "Suspended", False, "Success", "InUse"),
        ("Provisioned", "Provisioned", "Suspended", "Suspended", False, "Success", "InUse"),
        ("Provisioned", "Stopped", "Suspended", "Suspended", False, "Success", "InUse"),
        ("Stopping", "Stopped", _, _, False, "Success", "InUse"),
        ("Stopped", "Stopped", _, _, False, "Success", "InUse"),
    ]


# -- upstream's lifecycle rules, through the SDK ------------------------------------------
# Each test runs its SDK steps in a worker thread (the SDK is synchronous; the fake serves
# on the test's loop) and states what upstream's test_pipeline_lifecycle.py pins.


def sdk_client(url: str, api_key: str | None = None) -> FelderaClient:
    return FelderaClient(url=url, timeout=30, api_key=api_key)


def refresh_version(client: FelderaClient, name: str) -> int:
    version: int = client.http.get(f"/pipelines/{name}?selector=status")["refresh_version"]
    return version


def api_error(call: Any) -> FelderaAPIError:
    with pytest.raises(FelderaAPIError) as info:
        call()
    return info.value


def starts_and_bootstrap_policies(url: str) -> None:
    client = sdk_client(url)
    pipeline = PipelineBuilder(client, "starts", "").create_or_replace()  # the empty program
    assert pipeline.program_status() == ProgramStatus.Success
    assert refresh_version(client, "starts") == 3
    pipeline.start()
    pipeline.start()  # the same initial and policy: accepted
    assert api_error(pipeline.start_paused).error_code == "InitialImmutableUnlessStopped"
    pipeline.stop(force=True)
    pipeline.start_paused()  # stopped: a new initial is fine
    pipeline.start_paused()
    assert api_error(pipeline.start).error_code == "InitialImmutableUnlessStopped"
    pipeline.stop(force=True)
    for policy, other in [
        (BootstrapPolicy.ALLOW, BootstrapPolicy.REJECT),
        (BootstrapPolicy.REJECT, BootstrapPolicy.AWAIT_APPROVAL),
        (BootstrapPolicy.AWAIT_APPROVAL, BootstrapPolicy.ALLOW),
    ]:
        assert pipeline.bootstrap_policy() is None
        pipeline.start(bootstrap_policy=policy)
        assert pipeline.bootstrap_policy() == policy
        pipeline.start(bootstrap_policy=policy)
        error = api_error(lambda other=other: pipeline.start(bootstrap_policy=other))
        assert error.error_code == "BootstrapPolicyImmutableUnlessStopped"
        pipeline.stop(force=True)
        assert pipeline.bootstrap_policy() is None  # a forced stop removes it
    error = api_error(
        lambda: client.http.post(path="/pipelines/starts/start", params={"initial": "standby"})
    )
    assert (error.status_code, error.error_code) == (400, "InitialStandbyNotAllowed")


async def test_official_sdk_start_rules(
    fake: FakeFeldera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    await asyncio.to_thread(starts_and_bootstrap_policies, fake.url)


def storage_and_clear(url: str) -> None:
    client = sdk_client(url)
    pipeline = PipelineBuilder(client, "storage", "").create_or_replace()
    assert pipeline.storage_status() == StorageStatus.CLEARED
    assert pipeline.storage_status_details() is None
    pipeline.clear_storage()  # already cleared: no effect, no error
    pipeline.start()
    assert pipeline.storage_status() == StorageStatus.INUSE
    assert pipeline.storage_status_details() == {"checkpoints": []}
    for wait in (True, False):
        error = api_error(lambda wait=wait: pipeline.clear_storage(wait=wait))
        assert error.error_code == "StorageStatusImmutableUnlessStopped"
    pipeline.stop(force=True)
    assert pipeline.storage_status() == StorageStatus.INUSE
    assert pipeline.storage_status_details() == {"checkpoints": []}
    # Paused is not stopped: clear is refused (400), storage stays in use.
    pipeline.start()
    pipeline.pause()
    error = api_error(lambda: client.http.post(path="/pipelines/storage/clear"))
    assert (error.status_code, error.error_code) == (400, "StorageStatusImmutableUnlessStopped")
    pipeline.stop(force=True)
    assert pipeline.storage_status() == StorageStatus.INUSE
    # A start waiting on a recompilation: still Stopped, but storage may not be cleared.
    client.patch_pipeline(name="storage", sql="CREATE TABLE t1 (c1 INT);")
    pipeline.start(wait=False)
    error = api_error(lambda: pipeline.clear_storage(wait=False))
    assert error.error_code == "StorageStatusImmutableUnlessStopped"
    pipeline.stop(force=True)
    pipeline.clear_storage()
    assert pipeline.storage_status() == StorageStatus.CLEARED
    assert pipeline.storage_status_details() is None


def clearing(url: str) -> None:
    """While storage clears (for as long as the test runs: its timings), a start is
    refused and another clear is accepted."""
    client = sdk_client(url)
    pipeline = PipelineBuilder(client, "clearing", "").create_or_replace()
    pipeline.start()
    pipeline.stop(force=True)
    pipeline.clear_storage(wait=False)
    assert pipeline.storage_status() == StorageStatus.CLEARING
    error = api_error(pipeline.start)
    assert (error.status_code, error.error_code) == (400, "CannotStartWhileClearingStorage")
    pipeline.stop(force=True)
    pipeline.clear_storage(wait=False)  # clearing already: accepted
    assert pipeline.storage_status() == StorageStatus.CLEARING


async def test_official_sdk_storage_and_clear(
    fake: FakeFeldera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    await asyncio.to_thread(storage_and_clear, fake.url)
    # No window to race: clearing takes hours (at speed 50) for pipelines made from now on.
    fake.timings = dataclasses.replace(fake.timings, clearing=1e6)
    await asyncio.to_thread(clearing, fake.url)


#: The runtime_config fields only cleared storage lets change (open-source edition):
#: field as the error names it, the edit, the value read back at the edit's path.
RESTRICTED_EDITS: list[tuple[str, dict[str, Any], Any]] = [
    ("workers", {"workers": 16}, 16),
    ("resources.storage_mb_max", {"resources": {"storage_mb_max": 10000}}, 10000),
    ("resources.namespace", {"resources": {"namespace": "example"}}, "example"),
    ("resources.storage_class", {"resources": {"storage_class": "example"}}, "example"),
]


def read_config(client: FelderaClient, name: str, path: str) -> Any:
    value: Any = client.http.get(f"/pipelines/{name}?selector=all")["runtime_config"]
    for key in path.split("."):
        value = value[key]
    return value


def restricted_edit(
    client: FelderaClient, pipeline: Pipeline, field: str, edit: dict[str, Any], value: Any
) -> None:
    """With storage in use the edit is refused, naming the field, and changes nothing;
    after a clear it is made; an empty runtime_config restores the defaults."""
    name = pipeline.name
    pipeline.start()
    pipeline.stop(force=True)
    config = {**client.http.get(f"/pipelines/{name}?selector=all")["runtime_config"], **edit}
    error = api_error(lambda: client.patch_pipeline(name=name, runtime_config=config))
    assert (error.status_code, error.error_code) == (400, "EditRestrictedToClearedStorage")
    assert error.details["not_allowed"] == [f"`runtime_config.{field}`"]
    assert read_config(client, name, field) != value
    pipeline.clear_storage()
    client.patch_pipeline(name=name, runtime_config=config)
    assert read_config(client, name, field) == value
    client.patch_pipeline(name=name, runtime_config={})
    assert read_config(client, name, field) != value


def edits_and_versions(url: str) -> None:
    client = sdk_client(url)
    pipeline = PipelineBuilder(client, "edits", "").create_or_replace()
    pipeline.start()
    assert refresh_version(client, "edits") <= 15
    pipeline.stop(force=True)
    pipeline.clear_storage()
    assert refresh_version(client, "edits") <= 25
    for field, edit, value in RESTRICTED_EDITS:
        restricted_edit(client, pipeline, field, edit, value)
    # Deleted while its program compiles, then made again: it compiles from scratch.
    client.patch_pipeline(name="edits", sql="CREATE TABLE t (x INT);")
    client.delete_pipeline("edits")
    PipelineBuilder(client, "edits", "").create_or_replace()
    assert client.get_pipeline("edits", PipelineFieldSelector.STATUS).program_version == 1
    # What the real compiler rejects fails here too, with its message shape.
    PipelineBuilder(client, "bad", "INVALID SQL").create_or_replace(wait=False)
    with pytest.raises(RuntimeError, match="Error parsing SQL"):
        client._wait_for_compilation("bad")
    error = api_error(Pipeline.get("bad", client).start)
    assert error.error_code == "CannotStartWithCompilationError"


async def test_official_sdk_edits_versions_and_compiler(
    fake: FakeFeldera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    await asyncio.to_thread(edits_and_versions, fake.url)


def api_keys(url: str) -> None:
    admin = sdk_client(url, api_key="apikey:admin")
    created = admin.create_api_key("ci-key")
    assert created["name"] == "ci-key" and created["id"] and created["api_key"]
    ci = sdk_client(url, api_key=created["api_key"])
    assert ci.pipelines() == []  # the new key authenticates
    admin.http.delete(path="/api_keys/ci-key")
    error = api_error(ci.pipelines)
    assert error.status_code == 401


async def test_official_sdk_api_keys(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    async with FakeFeldera(
        speed=50, api_keys=["apikey:admin"], timings=Timings(cluster_startup=0.0)
    ) as server:
        audit = attach_audit(server)
        await asyncio.to_thread(api_keys, server.url)
        assert not audit.errors, audit.errors


# -- stop and start rules ---------------------------------------------------------------------


def stops(url: str) -> None:
    client = sdk_client(url)
    pipeline = PipelineBuilder(client, "stops", "").create_or_replace()
    before = len(client.get_pipeline_events("stops"))
    pipeline.stop(force=True)  # already stopped: accepted, and the manager writes its row
    assert pipeline.status() == PipelineStatus.STOPPED
    assert len(client.get_pipeline_events("stops")) == before + 1
    pipeline.start()
    pipeline.stop(force=True, wait=False)
    # Stopping (for as long as this test runs: its timings) must end before a start.
    assert client.get_pipeline("stops", PipelineFieldSelector.STATUS).deployment_status == (
        "Stopping"
    )
    error = api_error(pipeline.start)
    assert (error.status_code, error.error_code) == (400, "IllegalPipelineAction")
    pipeline.stop(force=True, wait=False)  # stopping again: accepted


async def test_official_sdk_stop_rules(fake: FakeFeldera, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    fake.timings = dataclasses.replace(fake.timings, stopping=1e6)  # hours at speed 50
    await asyncio.to_thread(stops, fake.url)


def start_after_early_compilation(url: str) -> None:
    """Upstream's steps: start once the program is past Pending/CompilingSql."""
    client = sdk_client(url)
    pipeline = PipelineBuilder(
        client, "early", "CREATE TABLE foo (bar INTEGER);"
    ).create_or_replace(wait=False)
    deadline = time.monotonic() + 60
    while pipeline.program_status() in (ProgramStatus.Pending, ProgramStatus.CompilingSql):
        assert time.monotonic() < deadline, "the program never got past CompilingSql"
        time.sleep(0.05)  # as upstream polls
    pipeline.start(wait=False)  # accepted, compiled or not
    pipeline.wait_for_status(PipelineStatus.RUNNING, timeout=60)


def start_while_compiling(url: str) -> None:
    """A start while the program compiles is accepted: the pipeline waits, Stopped with
    desired Provisioned, for the compiler."""
    client = sdk_client(url)
    pipeline = PipelineBuilder(client, "compiling", "CREATE TABLE t (x INT);").create_or_replace(
        wait=False
    )
    pipeline.start(wait=False)
    status = client.get_pipeline("compiling", PipelineFieldSelector.STATUS)
    assert pipeline.program_status() in (ProgramStatus.Pending, ProgramStatus.CompilingSql)
    assert (status.deployment_status, status.deployment_desired_status) == ("Stopped", "Running")


async def test_official_sdk_start_during_compilation(
    fake: FakeFeldera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    await asyncio.to_thread(start_after_early_compilation, fake.url)
    fake.timings = dataclasses.replace(fake.timings, compile_step=1e6)  # never compiles here
    await asyncio.to_thread(start_while_compiling, fake.url)


# -- cluster health and events (upstream's test_cluster_health.py, test_cluster_events.py) ----

#: The keys of a cluster event, exactly (upstream compares sorted key lists).
CLUSTER_STATUS_KEYS = {
    "id",
    "recorded_at",
    "all_healthy",
    "api_status",
    "compiler_status",
    "runner_status",
}
CLUSTER_ALL_KEYS = CLUSTER_STATUS_KEYS | {
    "api_self_info",
    "api_resources_info",
    "compiler_self_info",
    "compiler_resources_info",
    "runner_self_info",
    "runner_resources_info",
}


def health(url: str) -> tuple[int, Any, int, Any]:
    """``/healthz`` (unversioned: the API server and its database) and
    ``/v0/cluster_healthz``: (status, body) each, as upstream reads them."""
    server = requests.get(f"{url}/healthz", timeout=30)
    cluster = requests.get(f"{url}/v0/cluster_healthz", timeout=30)
    return server.status_code, server.json(), cluster.status_code, cluster.json()


async def test_official_sdk_health_endpoints(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    # A cluster start-up that does not end by itself: the 503 is not a race with a timer.
    async with FakeFeldera(speed=50, timings=Timings(cluster_startup=1e9)) as server:
        audit = attach_audit(server)
        status, body, cluster_status, cluster = await asyncio.to_thread(health, server.url)
        assert (status, body) == (200, {"status": "healthy"})
        assert (cluster_status, cluster["all_healthy"]) == (503, False)  # not healthy: 503
        server.recover_cluster()
        status, body, cluster_status, cluster = await asyncio.to_thread(health, server.url)
        assert (status, body) == (200, {"status": "healthy"})
        assert (cluster_status, cluster["all_healthy"]) == (200, True)  # healthy: 200
        assert not audit.errors, audit.errors


def cluster_events(url: str) -> None:
    client = sdk_client(url)
    latest_all = client.get_cluster_event("latest", selector="all")
    latest = client.get_cluster_event("latest")
    by_id_all = client.get_cluster_event(latest_all["id"], selector="all")
    by_id = client.get_cluster_event(latest["id"])
    listed = client.get_cluster_events()
    assert latest in listed
    assert latest == by_id
    assert latest_all == by_id_all
    assert set(latest_all) == set(by_id_all) == CLUSTER_ALL_KEYS
    assert set(latest) == set(by_id) == CLUSTER_STATUS_KEYS
    assert listed and all(set(event) == CLUSTER_STATUS_KEYS for event in listed)


async def test_official_sdk_cluster_events(
    fake: FakeFeldera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    await asyncio.to_thread(cluster_events, fake.url)
