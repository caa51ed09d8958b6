"""Cluster monitor events: the client methods and the cluster wait, against FakeFeldera."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from helpers import RefusedPort, loopback, refused_port, respond_json

from feldera_events import (
    UNSET,
    APIConnectionError,
    ClusterEvent,
    ClusterEventsUnsupportedError,
    ClusterWaitTimeoutError,
    EventNotFoundError,
    EventsClient,
    MonitorStatus,
    NoEventsYetError,
    NotFoundError,
    Poller,
    PollPolicy,
    Selector,
    ServerError,
    WaitTimeoutError,
)
from feldera_events.testing import FakeFeldera, Fault, Timings
from tests.testing.schema_check import SchemaChecker

FAST = PollPolicy(initial=0.02, maximum=0.05, jitter=0.0)
CLUSTER_OPS = ["get_cluster_event", "list_cluster_events"]
INFO_FIELDS = tuple(
    f"{c}_{k}_info" for c in ("api", "compiler", "runner") for k in ("self", "resources")
)


class Audit:
    """Validates every response the fake sends against the spec subset."""

    def __init__(self) -> None:
        self.checker = SchemaChecker.load()
        self.errors: list[str] = []
        self.checked: dict[str, int] = {}

    def __call__(self, operation: str | None, status: int, ctype: str, body: bytes) -> None:
        try:
            self.checker.check_response(operation, status, body, ctype)
        except AssertionError as exc:
            self.errors.append(f"{operation} {status}: {exc}")
        key = f"{operation} {status}"
        self.checked[key] = self.checked.get(key, 0) + 1


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=200, timings=Timings(cluster_startup=0.0)) as server:
        await server.wait_for(lambda: server.cluster_health()["all_healthy"], what="healthy")
        yield server


@pytest.fixture
def audit(fake: FakeFeldera) -> Iterator[Audit]:
    checker = Audit()
    fake.response_observer = checker
    yield checker
    fake.response_observer = None
    assert not checker.errors, checker.errors


@pytest.fixture
async def client(fake: FakeFeldera) -> AsyncIterator[EventsClient]:
    async with EventsClient(fake.url) as c:
        yield c


@pytest.fixture
def poller(client: EventsClient) -> Poller:
    return Poller(client, poll=FAST)


def cluster_requests(fake: FakeFeldera) -> list[Any]:
    return [r for r in fake.requests if r.operation in CLUSTER_OPS]


# -- client: get / list ------------------------------------------------------------------


async def test_get_latest_with_status_selector_leaves_infos_unset(
    fake: FakeFeldera, client: EventsClient, audit: Audit
) -> None:
    ev = await client.get_cluster_event()
    wire = fake.cluster_events()[0]
    assert isinstance(ev, ClusterEvent)
    assert str(ev.id) == wire["id"]
    assert ev.recorded_at.tzinfo is not None
    assert ev.all_healthy is True
    assert ev.api_status is ev.compiler_status is ev.runner_status is MonitorStatus.HEALTHY
    for name in INFO_FIELDS:
        assert getattr(ev, name) is UNSET, name
    assert ev.unhealthy_components == []
    assert ev.describe() == "all healthy"
    assert fake.requests[-1].query == {"selector": "status"}
    assert audit.checked.get("get_cluster_event 200")


async def test_get_with_all_selector_has_the_reports(
    fake: FakeFeldera, client: EventsClient, audit: Audit
) -> None:
    fake.degrade_cluster("runner", message="runner is down")
    ev = await client.get_cluster_event("latest", selector="all")
    wire = fake.cluster_events()[0]
    assert str(ev.id) == wire["id"]
    for name in INFO_FIELDS:
        assert getattr(ev, name) == wire[name], name
    assert ev.runner_self_info == "runner is down"
    assert ev.all_healthy is False
    assert ev.unhealthy_components == ["runner"]
    assert ev.describe() == "unhealthy: runner (Unhealthy)"
    assert ev.to_dict() == wire
    assert fake.requests[-1].query == {"selector": "all"}


async def test_null_reports_are_none_not_unset() -> None:
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": "2026-08-20T10:11:12.123456Z",
        "all_healthy": True,
        "api_status": "Healthy",
        "compiler_status": "Healthy",
        "runner_status": "Healthy",
        **dict.fromkeys(INFO_FIELDS),
    }
    SchemaChecker.load().validate(body, "ClusterMonitorEventSelectedInfo")
    async with loopback(respond_json(body)) as server, EventsClient(server.url) as client:
        ev = await client.get_cluster_event(selector=Selector.ALL)
    for name in INFO_FIELDS:
        assert getattr(ev, name) is None, name
    assert ev.to_dict() == body


async def test_get_by_id_accepts_uuid_and_string(
    fake: FakeFeldera, client: EventsClient, audit: Audit
) -> None:
    fake.degrade_cluster("api")
    fake.recover_cluster()
    wires = fake.cluster_events()
    older = wires[1]
    by_str = await client.get_cluster_event(older["id"])
    by_uuid = await client.get_cluster_event(uuid.UUID(older["id"]), selector="all")
    assert by_str.id == by_uuid.id == uuid.UUID(older["id"])
    assert by_str.unhealthy_components == ["api"]
    assert by_uuid.api_self_info == older["api_self_info"]
    assert by_str.api_self_info is UNSET


async def test_list_is_newest_first_and_sends_no_selector(
    fake: FakeFeldera, client: EventsClient, audit: Audit
) -> None:
    fake.degrade_cluster("compiler")
    fake.recover_cluster()
    events = await client.list_cluster_events()
    assert [str(e.id) for e in events] == [w["id"] for w in fake.cluster_events()]
    assert len(events) >= 4  # start-up, healthy, degraded, recovered
    assert [e.recorded_at for e in events] == sorted((e.recorded_at for e in events), reverse=True)
    assert all(getattr(e, n) is UNSET for e in events for n in INFO_FIELDS)
    # The list endpoint takes no selector (spec: no parameters): none is sent.
    assert fake.requests[-1].operation == "list_cluster_events"
    assert fake.requests[-1].query == {}
    assert audit.checked.get("list_cluster_events 200")


async def test_list_with_all_selector_fetches_each_event_in_full(
    fake: FakeFeldera, client: EventsClient, audit: Audit
) -> None:
    fake.degrade_cluster("runner")
    fake.recover_cluster()
    fake.clear_requests()
    events = await client.list_cluster_events(selector="all")
    wires = fake.cluster_events()
    assert [e.to_dict() for e in events] == wires
    gets = [r for r in fake.requests if r.operation == "get_cluster_event"]
    assert len(gets) == len(wires)
    assert all(r.query == {"selector": "all"} for r in gets)


async def test_list_with_all_selector_leaves_out_events_cleaned_up_meanwhile(
    fake: FakeFeldera, client: EventsClient
) -> None:
    fake.degrade_cluster("runner")
    gone = fake.cluster_events()[-1]["id"]  # the oldest
    fake.inject(
        Fault.status(404, error_code="UnknownClusterMonitorEvent", message="gone"),
        operations=["get_cluster_event"],
        path_contains=gone,
    )
    events = await client.list_cluster_events(selector=Selector.ALL)
    assert [str(e.id) for e in events] == [w["id"] for w in fake.cluster_events()[:-1]]


@pytest.mark.off_spec
async def test_unknown_monitor_status_is_preserved(fake: FakeFeldera, client: EventsClient) -> None:
    fake.set_cluster_health(runner="Degraded")  # type: ignore[arg-type]  # a future value
    ev = await client.get_cluster_event(selector="all")
    assert ev.runner_status.value == "Degraded"
    assert not ev.runner_status.is_known
    assert ev.runner_status != MonitorStatus.UNHEALTHY
    assert ev.unhealthy_components == ["runner"]
    assert "runner (Degraded)" in ev.describe()
    assert ev.to_dict()["runner_status"] == "Degraded"
    [listed, *_] = await client.list_cluster_events()
    assert listed.runner_status.value == "Degraded"


async def test_event_cleaned_up_is_event_not_found() -> None:
    async with FakeFeldera(
        speed=200, timings=Timings(cluster_startup=0.0), cluster_retention=1
    ) as fake:
        await fake.wait_for(lambda: fake.cluster_health()["all_healthy"], what="healthy")
        fake.degrade_cluster("runner")
        old = fake.cluster_events()[-1]["id"]
        async with EventsClient(fake.url) as c:
            assert (await c.get_cluster_event(old)).id == uuid.UUID(old)
            assert fake.run_cleanup() >= 1
            with pytest.raises(EventNotFoundError) as info:
                await c.get_cluster_event(old)
            assert info.value.error_code == "UnknownClusterMonitorEvent"
            assert info.value.status_code == 404
            # The latest is never cleaned up.
            latest = await c.get_cluster_event()
            assert [str(e.id) for e in await c.list_cluster_events()] == [str(latest.id)]


async def test_no_events_yet_is_no_events_yet_error(
    fake: FakeFeldera, client: EventsClient
) -> None:
    fake.inject(
        Fault.status(404, error_code="NoClusterMonitorEventsAvailable", message="none yet"),
        operations=["get_cluster_event"],
        times=1,
    )
    with pytest.raises(NoEventsYetError) as info:
        await client.get_cluster_event()
    assert info.value.error_code == "NoClusterMonitorEventsAvailable"
    assert not isinstance(info.value, ClusterEventsUnsupportedError)


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"event_id": "Latest"}, ValueError),
        ({"event_id": "not-a-uuid"}, ValueError),
        ({"event_id": 7}, TypeError),
        ({"selector": "everything"}, ValueError),
    ],
)
async def test_arguments_are_checked_before_any_request(
    fake: FakeFeldera, client: EventsClient, kwargs: dict[str, Any], exc: type[Exception]
) -> None:
    fake.clear_requests()
    with pytest.raises(exc):
        await client.get_cluster_event(**kwargs)
    if "selector" in kwargs:
        with pytest.raises(exc):
            await client.list_cluster_events(selector=kwargs["selector"])
    assert cluster_requests(fake) == []


async def test_server_errors_are_retried_by_the_client(
    fake: FakeFeldera, client: EventsClient
) -> None:
    fake.inject(Fault.proxy_502(), operations=CLUSTER_OPS, times=2)
    assert (await client.list_cluster_events())[0].all_healthy


# -- an older manager ----------------------------------------------------------------------


async def test_old_manager_is_unsupported_at_once() -> None:
    async with FakeFeldera(cluster_events=False) as fake, EventsClient(fake.url) as client:
        start = time.monotonic()
        with pytest.raises(ClusterEventsUnsupportedError) as got:
            await client.get_cluster_event()
        with pytest.raises(ClusterEventsUnsupportedError):
            await client.list_cluster_events(selector="all")
        with pytest.raises(ClusterEventsUnsupportedError) as waited:
            await Poller(client, poll=FAST).wait_until_cluster_healthy(timeout=60)
        assert time.monotonic() - start < 10
        for err in (got.value, waited.value):
            assert isinstance(err, NotFoundError)
            assert err.status_code == 404
            assert err.error_code is None
            assert "does not support cluster events" in str(err)
            assert "v0.292" in str(err)
            # A row of the status table, not a re-raised 404: what the server said is quoted.
            assert "server said: " in str(err)
        assert len(fake.requests) == 3  # a 404 is never retried


# -- the wait ------------------------------------------------------------------------------


async def test_wait_returns_at_once_when_healthy(fake: FakeFeldera, poller: Poller) -> None:
    ev = await poller.wait_until_cluster_healthy(timeout=10)
    assert ev.all_healthy
    assert str(ev.id) == fake.cluster_events()[0]["id"]


async def test_wait_succeeds_after_degrade_then_recover(
    fake: FakeFeldera, poller: Poller, audit: Audit
) -> None:
    fake.degrade_cluster("runner")
    seen: list[ClusterEvent] = []

    async def on_event(ev: ClusterEvent) -> None:  # async callbacks are awaited
        seen.append(ev)

    task = asyncio.create_task(poller.wait_until_cluster_healthy(timeout=30, on_event=on_event))
    await fake.wait_for_requests(3, operation="get_cluster_event", timeout=10)
    assert not task.done()
    fake.degrade_cluster("compiler")  # a second unhealthy event
    await fake.wait_for(lambda: len(seen) >= 2, timeout=10, what="the second event")
    fake.recover_cluster()
    ev = await asyncio.wait_for(task, 30)
    assert ev.all_healthy
    assert [e.unhealthy_components for e in seen] == [["runner"], ["compiler", "runner"], []]
    assert len({e.id for e in seen}) == len(seen)  # once per new event
    assert seen[-1] == ev


async def test_wait_polls_through_no_events_and_server_errors(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.inject(
        Fault.status(404, error_code="NoClusterMonitorEventsAvailable", message="none yet"),
        operations=["get_cluster_event"],
        times=2,
    )
    fake.inject(Fault.lock_took_too_long(), operations=["get_cluster_event"], times=1)
    fake.inject(Fault.internal_error(), operations=["get_cluster_event"], times=1)
    ev = await poller.wait_until_cluster_healthy(timeout=30)
    assert ev.all_healthy
    assert len(cluster_requests(fake)) == 5


async def test_wait_raises_not_implemented_at_once(fake: FakeFeldera, poller: Poller) -> None:
    fake.inject(
        Fault.status(501, error_code="NotImplemented", message="enterprise only"),
        operations=["get_cluster_event"],
    )
    with pytest.raises(ServerError) as info:
        await poller.wait_until_cluster_healthy(timeout=30)
    assert info.value.status_code == 501
    assert len(cluster_requests(fake)) == 1


async def test_wait_timeout_names_the_unhealthy_components(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.degrade_cluster("compiler")
    fake.degrade_cluster("api")
    with pytest.raises(ClusterWaitTimeoutError) as info:
        await poller.wait_until_cluster_healthy(timeout=0.3)
    err = info.value
    assert isinstance(err, WaitTimeoutError)
    assert isinstance(err, TimeoutError)
    assert err.reached
    assert err.unhealthy_components == ["api", "compiler"]
    assert err.event is not None and str(err.event.id) == fake.cluster_events()[0]["id"]
    assert "api (Unhealthy), compiler (Unhealthy)" in str(err)
    assert "runner" not in str(err)
    assert err.polls >= 1


async def test_wait_keeps_going_until_a_server_listens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    held = RefusedPort()  # refuses until the manager comes up there (nothing else can)
    port = held.port
    attempts: list[logging.LogRecord] = []
    enough = asyncio.Event()

    class Counter(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("cluster wait: connection attempt"):
                attempts.append(record)
                if len(attempts) >= 2:
                    enough.set()

    caplog.set_level(logging.DEBUG, logger="feldera_events")
    handler = Counter()
    logging.getLogger("feldera_events").addHandler(handler)
    try:
        async with EventsClient(f"http://127.0.0.1:{port}") as client:
            poller = Poller(client, poll=FAST)
            task = asyncio.create_task(poller.wait_until_cluster_healthy(timeout=60))
            await asyncio.wait_for(enough.wait(), 30)
            assert not task.done()
            held.release()  # the manager comes up on the port the wait polls
            async with FakeFeldera(
                port=port, speed=200, timings=Timings(cluster_startup=0.5)
            ) as fake:
                ev = await asyncio.wait_for(task, 60)
                assert ev.all_healthy
                assert str(ev.id) == fake.cluster_events()[0]["id"]
                # It saw the start-up (InitialUnhealthy) first or came in after it; either
                # way it returned the healthy event the manager recorded.
    finally:
        held.release()
        logging.getLogger("feldera_events").removeHandler(handler)
    assert len(attempts) >= 2


async def test_wait_on_a_server_never_reached_times_out_saying_so() -> None:
    with refused_port() as held:  # nothing else can listen there meanwhile
        port = held.port
        async with EventsClient(held.url) as client:
            with pytest.raises(ClusterWaitTimeoutError) as info:
                await Poller(client, poll=FAST).wait_until_cluster_healthy(timeout=0.5)
    err = info.value
    assert not err.reached
    assert err.event is None
    assert err.attempts >= 1
    assert f"127.0.0.1:{port}" in str(err)
    assert "never reached" in str(err)
    assert err.__cause__ is None or isinstance(err.__cause__, APIConnectionError)


async def test_wait_cancelled_leaves_nothing_open(fake: FakeFeldera) -> None:
    fake.degrade_cluster("runner")
    async with EventsClient(fake.url) as client:
        task = asyncio.create_task(
            Poller(client, poll=FAST).wait_until_cluster_healthy(timeout=None)
        )
        await fake.wait_for_requests(2, operation="get_cluster_event", timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert client.closed
    await fake.wait_for(lambda: fake.in_flight == 0, what="no request in flight")


async def test_wait_arguments(poller: Poller) -> None:
    with pytest.raises(TypeError):
        await poller.wait_until_cluster_healthy()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="timeout"):
        await poller.wait_until_cluster_healthy(timeout=0)
    with pytest.raises(TypeError, match="on_event"):
        await poller.wait_until_cluster_healthy(timeout=1, on_event="x")  # type: ignore[arg-type]


async def test_progress_log_of_a_wait_on_an_unreached_server() -> None:
    from feldera_events import APIConnectionError, RetryPolicy
    from feldera_events._machines import ClusterWait
    from feldera_events._policies import PollPolicy

    machine = ClusterWait(
        now=0.0,
        timeout=None,
        poll=PollPolicy(),
        retry=RetryPolicy(),
        url="http://h:1",
        draw=lambda: 0.0,
    )
    machine.begin(0.0)
    lines = []
    for now in (1.0, 3.0, 5.0):  # refused three times, the third 5 s into the wait
        lines += machine.failed(APIConnectionError("refused"), now).log
    assert [line.level for line in lines] == [
        logging.INFO,
        logging.DEBUG,
        logging.DEBUG,
        logging.INFO,
    ]
    assert lines[0].message == (
        "cluster wait: connection attempt 1 to http://h:1 failed (refused); still waiting"
    )
    assert "http://h:1 not reached yet, 3 connection attempts" in lines[-1].message
    (ended,) = machine.ended(6.0)
    assert "the cluster to be healthy ended after 6.0s" in ended.message
