"""The poller against the simulated manager on loopback (scaled timings)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import tenacity

import feldera_events
from feldera_events import (
    APIConnectionError,
    AuthenticationError,
    DeploymentFailedError,
    DeploymentStoppedError,
    EventsClient,
    Outcome,
    PipelineEvent,
    PipelineNotFoundError,
    Poller,
    PollPolicy,
    ResourcesStatus,
    RetryPolicy,
    Timeouts,
    WaitTimeoutError,
)
from feldera_events.testing import FakeFeldera, Fault

FAST = PollPolicy(initial=0.02, maximum=0.05, jitter=0.0)
#: A bound on every stream a test consumes (a watch, as_completed): a regression that
#: never ends one fails the test instead of hanging it.
STREAM_TIMEOUT = 30.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=50) as server:
        yield server


@pytest.fixture
async def client(fake: FakeFeldera) -> AsyncIterator[EventsClient]:
    async with EventsClient(fake.url) as c:
        yield c


@pytest.fixture
def poller(client: EventsClient) -> Poller:
    return Poller(client, poll=FAST)


@pytest.fixture
def real_waits() -> Iterator[None]:
    """Turn testing mode off, so Retry-After and backoff really wait."""
    feldera_events.testing.set_testing(False)
    try:
        yield
    finally:
        feldera_events.testing.set_testing(True)


def event_ids(fake: FakeFeldera, name: str) -> list[str]:
    return [e["event_id"] for e in reversed(fake.events(name))]


async def test_real_start_provisions_and_reports_each_event(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p")
    seen: list[PipelineEvent] = []
    fake.start("p")
    ev = await poller.wait_until_provisioned("p", timeout=10, on_event=seen.append)
    assert ev.is_provisioned
    assert ev.deployment_resources_status is ResourcesStatus.PROVISIONED
    assert ev.event_id == seen[-1].event_id
    assert len({e.event_id for e in seen}) == len(seen)  # each new event once
    assert str(ev.event_id) in event_ids(fake, "p")


async def test_async_on_event_callback_is_awaited(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    seen: list[str] = []

    async def record(ev: PipelineEvent) -> None:
        await asyncio.sleep(0)
        seen.append(ev.deployment_resources_status.value)

    await poller.wait_until_provisioned("p", timeout=10, on_event=record)
    assert seen[-1] == "Provisioned"


async def test_provisioning_timeout_fails_with_server_error(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provisioning_timeout")
    fake.start("p")
    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_until_provisioned("p", timeout=20)
    err = info.value
    assert not isinstance(err, DeploymentStoppedError)
    assert err.pipeline_name == "p"
    assert err.error_code == "PipelineProvisioningTimeout"
    assert err.message
    assert err.event is not None
    assert err.event.deployment_has_error
    # Failed as soon as it was Stopping with the error: only a new /start undoes that.
    assert err.event.deployment_resources_status in (
        ResourcesStatus.STOPPING,
        ResourcesStatus.STOPPED,
    )
    assert "'p'" in str(err) and "PipelineProvisioningTimeout" in str(err)
    assert err.message in str(err)


async def test_worker_panic_fails_with_runtime_error(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await poller.wait_until_provisioned("p", timeout=10)
    since = await poller.client.get_event("p")
    fake.panic("p", "worker 3 panicked")
    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_until_provisioned("p", timeout=10, since=since)
    assert info.value.error_code == "RuntimeError.WorkerPanic"
    assert "worker 3 panicked" in str(info.value)
    sent = {e["event_id"]: e for e in fake.events("p")}[str(info.value.event.event_id)]
    assert info.value.details == sent["deployment_error"]["details"]
    assert info.value.details  # the fake's panic sends details


async def test_start_failure_at_provision_check(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provision_check", message="no such storage class")
    fake.start("p")
    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_until_provisioned("p", timeout=10)
    assert "no such storage class" in info.value.message


async def test_stop_mid_wait_is_its_own_failure(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=1000))
    fake.start("p")

    def stop_when_provisioning(ev: PipelineEvent) -> None:
        if ev.deployment_resources_status is ResourcesStatus.PROVISIONING:
            fake.stop("p", force=True)

    with pytest.raises(DeploymentStoppedError) as info:
        await poller.wait_until_provisioned("p", timeout=10, on_event=stop_when_provisioning)
    assert info.value.error_code is None
    assert "stopped" in str(info.value)
    assert "'p'" in str(info.value)


async def failing_then_cleaned_up(fake: FakeFeldera, client: EventsClient) -> tuple[Any, str]:
    """A wait whose failed event the cleaner removes between the status poll and the
    selector=all read: what it raised, and the id of the event cleaned up."""
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provision_check", message="boom")
    fake.start("p")
    cleaned: list[str] = []

    def on_event(ev: PipelineEvent) -> None:
        if ev.has_failed and not cleaned:
            # A newer event arrives and the cleaner removes the failed one.
            fake.heartbeat("p")
            assert fake.run_cleanup() >= 1
            cleaned.append(str(ev.event_id))

    with pytest.raises(DeploymentFailedError) as info:
        await Poller(client, poll=FAST).wait_until_provisioned("p", timeout=10, on_event=on_event)
    assert cleaned
    return info.value, cleaned[0]


async def test_failed_event_cleaned_up_before_full_read() -> None:
    async with (
        FakeFeldera(speed=50, retention=1, cleanup_interval=3600) as fake,
        EventsClient(fake.url) as client,
    ):
        err, cleaned = await failing_then_cleaned_up(fake, client)
        assert err.message == "boom"
        assert err.event is not None
        assert str(err.event.event_id) != cleaned
        reads = [r for r in fake.requests if r.query.get("selector") == "all"]
        assert [r.status for r in reads] == [404, 200]
        assert reads[0].path.endswith(cleaned)
        assert reads[1].path.endswith("/latest")


async def test_the_read_after_clean_up_is_a_tenacity_retry(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 22 item 5: the machine asks for "this event in full, or latest if clean-up
    removed it"; tenacity makes the second read (a retry on EventNotFoundError), and the
    wait reports the failure it reads."""
    retryings: list[tenacity.AsyncRetrying] = []

    class Recorded(tenacity.AsyncRetrying):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            retryings.append(self)

    monkeypatch.setattr(tenacity, "AsyncRetrying", Recorded)
    caplog.set_level(logging.DEBUG, logger="feldera_events")
    async with (
        FakeFeldera(speed=50, retention=1, cleanup_interval=3600) as fake,
        EventsClient(fake.url) as client,
    ):
        err, cleaned = await failing_then_cleaned_up(fake, client)
    assert err.message == "boom"
    (retrying,) = retryings  # the polls' own requests all succeeded at once
    assert retrying.statistics["attempt_number"] == 2
    said = [r.getMessage() for r in caplog.records if "cleaned up" in r.getMessage()]
    assert said == [f"event {cleaned} was cleaned up before it could be read; reading latest"]


async def test_no_events_yet_keeps_polling(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p", record_events=False)
    task = asyncio.create_task(poller.wait_until_provisioned("p", timeout=10))
    await fake.wait_for(lambda: sum(r.status == 404 for r in fake.requests) >= 2)
    assert not task.done()
    fake.start("p")
    ev = await task
    assert ev.is_provisioned


async def test_unknown_pipeline_fails_at_once(fake: FakeFeldera, poller: Poller) -> None:
    with pytest.raises(PipelineNotFoundError) as info:
        await poller.wait_until_provisioned("nope", timeout=10)
    assert info.value.error_code == "UnknownPipelineName"
    assert len(fake.requests) == 1


async def test_wait_for_pipeline_that_is_created_later(fake: FakeFeldera, poller: Poller) -> None:
    task = asyncio.create_task(
        poller.wait_until_provisioned("later", timeout=10, wait_for_pipeline=True)
    )
    await fake.wait_for(lambda: len(fake.requests) >= 2)
    assert not task.done()
    fake.create_pipeline("later")
    fake.start("later")
    assert (await task).is_provisioned


async def test_authentication_error_raised_at_once() -> None:
    async with FakeFeldera(speed=50, api_keys=["apikey:right"]) as fake:
        fake.create_pipeline("p")
        async with EventsClient(fake.url, api_key="apikey:wrong") as client:
            with pytest.raises(AuthenticationError):
                await Poller(client, poll=FAST).wait_until_provisioned("p", timeout=10)
        assert len(fake.requests) == 1


async def test_since_ignores_the_current_provisioned_state(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    first = await poller.wait_until_provisioned("p", timeout=10)
    await fake.wait_for_status("p", deployment_runtime_status="Running")
    current = await poller.client.get_event("p")
    fake.clear_requests()  # count only this wait's polls
    task = asyncio.create_task(poller.wait_until_provisioned("p", timeout=10, since=current))
    await fake.wait_for(lambda: len(fake.requests) >= 5)
    assert not task.done()  # Provisioned, but not after `since`
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_resources_status="Stopped")
    fake.start("p")
    second = await task
    assert second.recorded_at > current.recorded_at
    assert second.event_id != first.event_id


async def test_since_skips_a_stale_error(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provision_check")
    fake.start("p")
    with pytest.raises(DeploymentFailedError):
        await poller.wait_until_provisioned("p", timeout=10)
    now = dt.datetime.now(dt.UTC)
    fake.clear_requests()  # count only this wait's polls
    task = asyncio.create_task(poller.wait_until_provisioned("p", timeout=10, since=now))
    await fake.wait_for(lambda: len(fake.requests) >= 8)
    assert not task.done()  # the old error is not terminal
    fake.start("p")  # dismisses the error by default
    assert (await task).is_provisioned


def _latest_polls(fake: FakeFeldera) -> int:
    return sum(r.path.endswith("/latest") for r in fake.requests)


@pytest.mark.parametrize("cleaned_up", [False, True], ids=["retained", "cleaned-up"])
async def test_since_accepts_an_event_id(cleaned_up: bool) -> None:
    """``since=<id>``: the event is read by its id before any poll, and only what comes
    after it counts. Retained: the pipeline is still Provisioned at it, so a new
    provisioning is needed. Cleaned up (404): the manager's UUIDv7 ids order the events,
    and the wait goes on to the next provisioning instead of failing on the 404."""
    async with (
        FakeFeldera(speed=50, retention=1, cleanup_interval=3600) as fake,
        EventsClient(fake.url) as client,
    ):
        poller = Poller(client, poll=FAST)
        fake.create_pipeline("p")
        fake.start("p")
        await fake.wait_for_status("p", deployment_runtime_status="Running")
        current = await client.get_event("p")
        since = str(current.event_id)
        if cleaned_up:
            fake.stop("p", force=True)
            await fake.wait_for_status("p", deployment_resources_status="Stopped")
            assert fake.run_cleanup() >= 1  # keeps only the Stopped event
            assert since not in {e["event_id"] for e in fake.events("p")}
        fake.clear_requests()  # count only this wait's requests
        task = asyncio.create_task(poller.wait_until_provisioned("p", timeout=30, since=since))
        await fake.wait_for(lambda: task.done() or _latest_polls(fake) >= 5)
        # Nothing at or before `since` ends it.
        assert not task.done(), f"the wait ended: {task.exception() or task.result()!r}"
        first = fake.requests[0]
        assert first.path.endswith(f"/events/{since}")
        assert first.status == (404 if cleaned_up else 200)
        if not cleaned_up:
            fake.stop("p", force=True)
            await fake.wait_for_status("p", deployment_resources_status="Stopped")
        fake.start("p")
        ev = await asyncio.wait_for(task, 60)
    assert ev.is_provisioned
    assert ev.recorded_at > current.recorded_at


async def test_since_rejects_naive_datetime(poller: Poller) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await poller.wait_until_provisioned("p", timeout=1, since=dt.datetime(2026, 1, 1))


async def test_timeout_is_required_and_validated(poller: Poller) -> None:
    with pytest.raises(TypeError):
        await poller.wait_until_provisioned("p")  # type: ignore[call-arg]
    for bad in (0, -1, "10", float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            await poller.wait_until_provisioned("p", timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pipeline_name"):
        await poller.wait_until_provisioned("", timeout=1)


async def test_transient_errors_after_first_answer_do_not_end_the_wait(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=20))
    fake.start("p")

    injected: list[bool] = []

    def on_event(ev: PipelineEvent) -> None:
        if not injected:
            injected.append(True)
            fake.inject(Fault.lock_took_too_long(), pipeline="p", times=2)
            fake.inject(Fault.reset_before_headers(), pipeline="p", times=2)
            fake.inject(Fault.proxy_502(), pipeline="p", times=1)
            fake.inject(Fault.status(500, error_code="DBError", message="db"), times=1)

    ev = await poller.wait_until_provisioned("p", timeout=20, on_event=on_event)
    assert ev.is_provisioned
    faults = [r.fault for r in fake.requests if r.fault]
    assert len(faults) == 6


async def test_retry_after_is_honoured(fake: FakeFeldera, poller: Poller, real_waits: None) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await poller.wait_until_provisioned("p", timeout=10)
    fake.clear_requests()
    fake.inject(Fault.status(503, error_code="LockTookTooLong", retry_after=0.5), times=1)
    await poller.wait_until_provisioned("p", timeout=10)
    first, second = fake.requests[0], fake.requests[1]
    assert first.status == 503
    assert second.time - first.time >= 0.45


async def test_retry_after_is_clamped_by_the_deadline(
    fake: FakeFeldera, poller: Poller, real_waits: None
) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=1000))
    fake.start("p")
    await fake.wait_for_status("p", deployment_resources_status="Provisioning")
    fake.inject(Fault.lock_took_too_long())  # Retry-After: 5, forever
    start = time.monotonic()
    with pytest.raises(WaitTimeoutError) as info:
        await poller.wait_until_provisioned("p", timeout=1.0)
    elapsed = time.monotonic() - start
    # Not the 5 s Retry-After: the deadline cuts the sleep short (room for a loaded machine).
    assert 1.0 <= elapsed < 4.0
    assert info.value.polls >= 1


async def test_timeout_accuracy_when_server_stops_answering(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=1000))
    fake.start("p")
    await fake.wait_for_status("p", deployment_resources_status="Provisioning")

    def hang(ev: PipelineEvent) -> None:
        fake.stop_answering()

    start = time.monotonic()
    with pytest.raises(WaitTimeoutError) as info:
        await poller.wait_until_provisioned("p", timeout=1.0, on_event=hang)
    elapsed = time.monotonic() - start
    fake.resume_answering()
    # Far below the 30 s request timeout: the deadline cancels the request in flight
    # (bounds with room for a loaded machine; the client teardown is inside them).
    assert 1.0 <= elapsed < 10.0
    err = info.value
    assert isinstance(err, TimeoutError)
    assert err.pipeline_name == "p"
    assert err.last_event is not None
    assert err.last_event.deployment_resources_status is ResourcesStatus.PROVISIONING
    assert err.polls >= 1
    assert 1.0 <= err.elapsed <= elapsed
    assert "'p'" in str(err)


async def test_wrong_url_fails_fast_with_connection_error() -> None:
    # A port nothing listens on: connection refused on every attempt.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    url = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    async with EventsClient(url, retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(APIConnectionError) as info:
            await Poller(client, poll=FAST).wait_until_provisioned("p", timeout=600)
    assert time.monotonic() - start < 5
    assert not isinstance(info.value, TimeoutError)
    assert url in str(info.value)
    assert isinstance(info.value.__cause__, OSError)  # the refused connection


async def test_cancellation_propagates_and_leaves_nothing_open(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=1000))
    fake.start("p")
    first = asyncio.Event()
    async with EventsClient(fake.url) as client:
        task = asyncio.create_task(
            Poller(client, poll=FAST).wait_until_provisioned(
                "p", timeout=None, on_event=lambda ev: first.set()
            )
        )
        await asyncio.wait_for(first.wait(), STREAM_TIMEOUT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert client.closed


async def test_one_shot_wait_makes_and_closes_its_own_client(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    ev = await feldera_events.wait_until_provisioned("p", timeout=10, url=fake.url, poll=FAST)
    assert ev.is_provisioned


async def test_wait_until_stopped(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await poller.wait_until_provisioned("p", timeout=10)
    fake.stop("p", force=False)
    ev = await poller.wait_until_stopped("p", timeout=10, since=await poller.client.get_event("p"))
    assert ev.deployment_resources_status is ResourcesStatus.STOPPED
    assert not ev.has_failed


async def test_wait_for_generic_condition_and_failure(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    fake.start("p", initial="paused")
    ev = await poller.wait_for(
        "p",
        lambda e: e.combined_status.value == "Paused",
        timeout=10,
        description="Paused",
    )
    assert ev.combined_status.value == "Paused"
    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_for("p", lambda e: False, failure=lambda e: e.is_provisioned, timeout=10)
    assert "failure condition" in str(info.value)


async def test_unknown_status_values_are_not_terminal() -> None:
    """A status this version does not know keeps the wait going."""
    events = [
        _event("Hibernating", desired="Provisioned"),
        _event("Provisioned", desired="Provisioned", runtime="Running"),
    ]
    calls: list[int] = []

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        calls.append(1)
        return aiohttp.web.json_response(events[min(len(calls), len(events)) - 1])

    app = aiohttp.web.Application()
    app.router.add_get("/v0/pipelines/{name}/events/{event_id}", handler)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with EventsClient(f"http://127.0.0.1:{port}") as client:
            seen: list[PipelineEvent] = []
            ev = await Poller(client, poll=FAST).wait_until_provisioned(
                "p", timeout=10, on_event=seen.append
            )
        assert not seen[0].deployment_resources_status.is_known
        assert seen[0].deployment_resources_status.value == "Hibernating"
        assert ev.is_provisioned
    finally:
        await runner.cleanup()


def _event(resources: str, *, desired: str, runtime: str | None = None) -> dict[str, Any]:
    import uuid

    return {
        "event_id": str(uuid.uuid4()),
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
        "deployment_resources_status": resources,
        "deployment_resources_desired_status": desired,
        "deployment_runtime_status": runtime,
        "deployment_runtime_desired_status": runtime,
        "deployment_has_error": False,
        "program_status": "Success",
        "storage_status": "InUse",
    }


async def test_unavailable_blips_are_not_terminal(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_runtime_status="Running")
    fake.set_runtime_status("p", "Unavailable")  # the runner lost contact for a moment
    seen: list[str] = []

    def on_event(ev: PipelineEvent) -> None:
        seen.append(ev.combined_status.value)
        if ev.combined_status.value == "Unavailable":
            fake.set_runtime_status("p", "Running")

    ev = await poller.wait_for(
        "p",
        lambda e: e.combined_status.value == "Running",
        failure=lambda e: e.has_failed,
        timeout=10,
        on_event=on_event,
    )
    assert seen[0] == "Unavailable"
    assert ev.combined_status.value == "Running"


async def test_many_concurrent_waits_share_a_bounded_pool() -> None:
    created: list[int] = []

    async def on_create(*args: Any) -> None:
        created.append(1)

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_create)
    async with FakeFeldera(speed=20) as fake:
        names = [f"p{i}" for i in range(200)]
        for i, name in enumerate(names):
            fake.create_pipeline(name)
            if i % 10 == 0:
                fake.fail_next_start(name, "provision_check")
            fake.start(name)
        connector = aiohttp.TCPConnector(limit=10)
        async with (
            aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session,
            EventsClient(fake.url, session=session) as client,
        ):
            poller = Poller(client, poll=PollPolicy(initial=0.05, maximum=0.1, jitter=0.5))
            results = await poller.wait_many(names, timeout=60)
    assert list(results) == names
    outcomes = [r.outcome for r in results.values()]
    assert outcomes.count(Outcome.FAILED) == 20
    assert outcomes.count(Outcome.SUCCEEDED) == 180
    for name, r in results.items():
        assert r.event is not None, name
        if r.outcome is Outcome.SUCCEEDED:
            assert r.event.is_provisioned, name
        else:
            assert r.event.deployment_has_error, name
    assert 1 <= len(created) <= 10


async def test_wait_many_fail_fast_cancels_the_rest(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("bad")
    fake.fail_next_start("bad", "provision_check")
    fake.create_pipeline("slow", timings=feldera_events.testing.Timings(provisioning=1000))
    fake.start("bad")
    fake.start("slow")
    results = await poller.wait_many(["bad", "slow"], timeout=30, fail_fast=True)
    assert results["bad"].outcome is Outcome.FAILED
    assert isinstance(results["bad"].error, DeploymentFailedError)
    assert results["slow"].outcome is Outcome.CANCELLED


async def test_wait_many_reports_timeouts_and_errors(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("slow", timings=feldera_events.testing.Timings(provisioning=1000))
    fake.start("slow")
    fake.create_pipeline("ok")
    fake.start("ok")
    # Provisioned before the 0.5 s wait begins: its success does not race the deadline.
    await fake.wait_for_status("ok", deployment_resources_status="Provisioned")
    results = await poller.wait_many(["ok", "slow", "missing"], timeout=0.5)
    assert results["ok"].ok
    assert results["slow"].outcome is Outcome.TIMED_OUT
    assert results["missing"].outcome is Outcome.ERROR
    assert isinstance(results["missing"].error, PipelineNotFoundError)


# -- watch --------------------------------------------------------------------------


async def test_watch_backfills_every_transition_in_order(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    async with EventsClient(fake.url) as client:
        # Slow polls against a fast pipeline: several events land between two polls.
        poller = Poller(client, poll=PollPolicy(initial=0.3, maximum=0.3, jitter=0.0))
        got: list[PipelineEvent] = []
        async with asyncio.timeout(STREAM_TIMEOUT), poller.watch("p") as events:
            async for ev in events:
                got.append(ev)
                if len(got) == 1:
                    fake.start("p")
                if ev.combined_status.value == "Running":
                    break
    expected = [e["event_id"] for e in reversed(fake.events("p"))]
    assert [str(e.event_id) for e in got] == expected
    statuses = [e.combined_status.value for e in got]
    assert statuses[:1] == ["Stopped"]
    assert "Provisioning" in statuses and "Initializing" in statuses
    keys = [(e.recorded_at, e.event_id) for e in got]
    assert keys == sorted(keys)
    latest_polls = [r for r in fake.requests if r.operation == "get_pipeline_event"]
    list_polls = [r for r in fake.requests if r.operation == "list_pipeline_events"]
    assert 1 <= len(list_polls) < len(latest_polls)


@pytest.mark.parametrize("include", [False, True])
async def test_watch_drops_heartbeat_duplicates_unless_asked(
    fake: FakeFeldera, poller: Poller, include: bool
) -> None:
    fake.create_pipeline("p")
    got: list[PipelineEvent] = []
    async with (
        asyncio.timeout(STREAM_TIMEOUT),
        poller.watch("p", include_duplicates=include) as events,
    ):
        async for ev in events:
            got.append(ev)
            if len(got) == 1:
                fake.heartbeat("p")
                fake.heartbeat("p")
                fake.start("p")
            if ev.deployment_resources_status is ResourcesStatus.PROVISIONING:
                break
    dups = sum(a.same_status(b) for a, b in itertools.pairwise(got))
    assert dups == (2 if include else 0)


async def test_watch_with_timeout_raises_wait_timeout(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    with pytest.raises(WaitTimeoutError):
        # A plain TimeoutError (not the watch's own WaitTimeoutError) if the watch hangs.
        async with asyncio.timeout(STREAM_TIMEOUT), poller.watch("p", timeout=0.3) as events:
            async for _ev in events:
                pass


async def test_watch_raises_fatal_errors(fake: FakeFeldera, poller: Poller) -> None:
    with pytest.raises(PipelineNotFoundError):
        async with asyncio.timeout(STREAM_TIMEOUT), poller.watch("missing") as events:
            async for _ev in events:
                pass


async def test_watch_retries_transient_errors(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    resets = fake.inject(Fault.reset_before_headers(), times=3)
    locks = fake.inject(Fault.lock_took_too_long(), times=2)
    async with poller.watch("p") as events:
        ev = await asyncio.wait_for(anext(aiter(events)), STREAM_TIMEOUT)
    assert ev.deployment_resources_status is ResourcesStatus.STOPPED
    # Every fault was served (and retried through) before the first event came.
    assert (resets.hits, locks.hits) == (3, 2)
    served = [(r.fault, r.status) for r in fake.requests]
    assert served == [
        *[("reset_before_headers", None)] * 3,
        *[("status_503", 503)] * 2,
        (None, 200),
    ], served


async def test_a_callable_key_that_hangs_is_held_to_the_waits_deadline(fake: FakeFeldera) -> None:
    """The request timeout does not bound the call of a callable API key: the wait's own
    deadline must (issue 22: one attempt bound, None for a callable key)."""
    fake.create_pipeline("p")
    never = asyncio.Event()

    async def key() -> str:
        await never.wait()
        return "k"

    async with EventsClient(fake.url, api_key=key, timeout=Timeouts(request=0.1)) as client:
        wait = Poller(client, poll=FAST).wait_until_provisioned("p", timeout=1.5)
        with pytest.raises(WaitTimeoutError):
            await asyncio.wait_for(wait, STREAM_TIMEOUT)


async def test_per_request_timeout_is_transient_after_first_answer(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=10))
    fake.start("p")
    handles = []
    started = time.monotonic()
    async with EventsClient(fake.url, timeout=Timeouts(request=0.2)) as client:

        def once(ev: PipelineEvent) -> None:
            if not handles:  # after the first answer, whatever its status
                handles.append(fake.inject(Fault.latency(60.0), times=1))

        ev = await Poller(client, poll=FAST).wait_until_provisioned("p", timeout=90, on_event=once)
    assert ev.is_provisioned
    assert handles and handles[0].hits == 1  # the slow answer was served
    # ... and not waited for: the 0.2 s request timeout ended it, then polling went on.
    assert time.monotonic() - started < 30


async def test_watch_of_a_pipeline_without_events_yields_all_of_them(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", record_events=False)
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=PollPolicy(initial=0.3, maximum=0.3, jitter=0.0))
        got: list[PipelineEvent] = []

        async def start_after_first_poll() -> None:
            await fake.wait_for(lambda: any(r.status == 404 for r in fake.requests))
            fake.start("p")

        starter = asyncio.create_task(start_after_first_poll())
        async with asyncio.timeout(STREAM_TIMEOUT), poller.watch("p") as events:
            async for ev in events:
                got.append(ev)
                if ev.combined_status.value == "Running":
                    break
        await starter
    assert [str(e.event_id) for e in got] == [e["event_id"] for e in reversed(fake.events("p"))]
    assert len(got) >= 3


async def test_long_waits_log_progress_at_growing_intervals(
    fake: FakeFeldera, client: EventsClient, caplog: pytest.LogCaptureFixture
) -> None:
    """One poll a second for 45 s of an injected clock: progress lines at 5, 10, 20 and
    40 s (doubling, not one per poll), then one line when the wait ends. No wall time is
    involved, so the counts are exact."""
    fake.create_pipeline("p")
    t = FakeTime()
    poller = Poller(
        client, poll=PollPolicy(initial=1, maximum=1, jitter=0), clock=t.clock, sleep=t.sleep
    )
    caplog.set_level("INFO", logger="feldera_events")
    ev = await poller.wait_for("p", lambda e: t.now - 1000.0 >= 45, timeout=100)
    assert ev.deployment_resources_status is ResourcesStatus.STOPPED
    progress = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert [line.split(" after ")[1].split("s ")[0] for line in progress] == ["5", "10", "20", "40"]
    assert all("'p'" in line for line in progress)
    ended = [r.getMessage() for r in caplog.records if "ended after" in r.getMessage()]
    assert len(ended) == 1 and "ended after 45.0s and 46 polls" in ended[0], ended


async def test_manager_restarting_mid_wait_does_not_fail_the_wait() -> None:
    """Connection refused after the server has answered is transient: keep polling."""
    first = FakeFeldera(speed=50)
    await first.start_server()
    port = int(first.url.rsplit(":", 1)[1])
    first.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=1000))
    first.start("p")
    restarted = asyncio.Event()
    second: list[FakeFeldera] = []

    async def restart() -> None:
        await first.close()  # the manager goes away: connections are refused
        await first_refusals()
        fake = FakeFeldera(speed=50, port=port)
        await fake.start_server()
        second.append(fake)
        fake.create_pipeline("p")
        fake.start("p")
        restarted.set()

    refusals: list[str] = []
    two_refusals = asyncio.Event()

    class Counter(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "polling failed" in record.getMessage():
                refusals.append(record.getMessage())
                if len(refusals) >= 2:
                    two_refusals.set()

    async def first_refusals() -> None:
        await asyncio.wait_for(two_refusals.wait(), STREAM_TIMEOUT)

    handler = Counter()
    logging.getLogger("feldera_events").addHandler(handler)
    tasks: list[asyncio.Task[None]] = []
    try:
        async with EventsClient(first.url) as client:

            def on_event(ev: PipelineEvent) -> None:
                if not tasks:
                    tasks.append(asyncio.create_task(restart()))

            ev = await Poller(client, poll=FAST).wait_until_provisioned(
                "p", timeout=30, on_event=on_event
            )
        await tasks[0]
        assert restarted.is_set()
        assert ev.is_provisioned
        assert len(refusals) >= 2
        assert any("APIConnectionError" in r for r in refusals)
    finally:
        logging.getLogger("feldera_events").removeHandler(handler)
        for fake in second:
            await fake.close()


# -- review findings: each of these failed before the fix it names -------------------


async def test_since_the_first_of_two_same_timestamp_events(
    fake: FakeFeldera, poller: Poller
) -> None:
    """A system stop writes two events with one recorded_at; since= the first must
    still let the second (with the error) end the wait."""
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_runtime_status="Running")
    fake.panic("p", "boom")
    newest, second_newest = fake.events("p")[:2]
    assert newest["recorded_at"] == second_newest["recorded_at"]
    first_of_pair = await poller.client.get_event("p", second_newest["event_id"])
    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_until_provisioned("p", timeout=5, since=first_of_pair)
    assert info.value.error_code == "RuntimeError.WorkerPanic"


async def test_since_a_provisioned_event_needs_a_new_provisioning(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_runtime_status="Running")
    current = await poller.client.get_event("p")
    task = asyncio.create_task(poller.wait_until_provisioned("p", timeout=20, since=current))
    fake.pause("p")  # still Provisioned: the same deployment
    await fake.wait_for_status("p", deployment_runtime_status="Paused")
    fake.heartbeat("p")
    polls = len(fake.requests)
    await fake.wait_for(lambda: len(fake.requests) >= polls + 10)
    assert not task.done()
    fake.stop("p", force=True)  # a restart: stop, then start
    await fake.wait_for_status("p", deployment_resources_status="Stopped")
    fake.start("p")
    ev = await task
    assert ev.is_provisioned
    # The event returned belongs to the new deployment: it comes after the Stopped one.
    stopped_at = [
        dt.datetime.fromisoformat(e["recorded_at"])
        for e in fake.events("p")
        if e["deployment_resources_status"] == "Stopped"
        and dt.datetime.fromisoformat(e["recorded_at"]) > current.recorded_at
    ]
    assert stopped_at
    assert ev.recorded_at > max(stopped_at)


async def test_restart_missed_by_polls_is_found_in_the_list(fake: FakeFeldera) -> None:
    """Polls can miss a quick restart entirely; the list endpoint shows it happened."""
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_runtime_status="Running")
    async with EventsClient(fake.url) as client:
        current = await client.get_event("p")
        fake.stop("p", force=True)
        await fake.wait_for_status("p", deployment_resources_status="Stopped")
        fake.start("p")
        await fake.wait_for_status("p", deployment_runtime_status="Running")
        # The wait's first poll already sees the new deployment Provisioned.
        ev = await Poller(client, poll=FAST).wait_until_provisioned("p", timeout=5, since=current)
    assert ev.recorded_at > current.recorded_at


async def test_transient_errors_on_the_full_read_of_a_failure_do_not_end_the_wait(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provision_check", message="boom")
    fake.start("p")

    # All but the last of the retry policy's attempts at the details fail.
    fails = poller.client.retry_policy.attempts - 1

    def on_event(ev: PipelineEvent) -> None:
        if ev.deployment_has_error:
            fake.inject(Fault.lock_took_too_long(), path_contains=str(ev.event_id), times=fails)

    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_until_provisioned("p", timeout=10, on_event=on_event)
    assert info.value.message == "boom"
    assert fails >= 1 and sum(r.status == 503 for r in fake.requests) == fails


@pytest.mark.parametrize("timeout", [60.0, None], ids=["deadline", "no-deadline"])
async def test_a_failure_whose_full_read_always_fails_ends_after_the_retry_attempts(
    fake: FakeFeldera, poller: Poller, timeout: float | None
) -> None:
    # Issue 24 (review): latest Stopped with an error, `selector=all` always a 500: the
    # wait took its whole 60 s deadline, and never ended without one. Now: the retry
    # policy's attempts at the details, then the failure, its details unavailable.
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provision_check", message="boom")
    fake.start("p")
    reads: list[str] = []

    def on_event(ev: PipelineEvent) -> None:
        if ev.deployment_has_error and not reads:
            reads.append(str(ev.event_id))
            fake.inject(Fault.status(500, body="db down"), path_contains=reads[0])

    async with asyncio.timeout(STREAM_TIMEOUT):
        with pytest.raises(DeploymentFailedError) as info:
            await poller.wait_until_provisioned("p", timeout=timeout, on_event=on_event)
    assert "the error details are unavailable (reading the full event failed" in str(info.value)
    assert info.value.event.deployment_has_error
    attempts = poller.client.retry_policy.attempts
    assert sum(r.status == 500 and reads[0] in r.path for r in fake.requests) == attempts


async def test_server_never_reached_before_the_deadline_is_not_a_timeout(
    fake: FakeFeldera,
) -> None:
    fake.stop_answering()  # accepts connections, never answers
    start = time.monotonic()
    async with EventsClient(
        fake.url, timeout=Timeouts(request=0.2), retry=RetryPolicy(attempts=100)
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await Poller(client, poll=FAST).wait_until_provisioned("p", timeout=1.0)
    fake.resume_answering()
    # Ends at the 1 s deadline, not after 100 attempts of 0.2 s (room for a loaded machine).
    assert time.monotonic() - start < 10.0
    assert not isinstance(info.value, TimeoutError)
    assert fake.url in str(info.value)
    assert isinstance(info.value.__cause__, feldera_events.APITimeoutError)


async def test_watch_since_the_latest_event_does_not_yield_it(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p")
    latest = await poller.client.get_event("p")
    got: list[PipelineEvent] = []
    async with asyncio.timeout(STREAM_TIMEOUT), poller.watch("p", since=latest) as events:
        fake.start("p")
        async for ev in events:
            got.append(ev)
            if ev.deployment_resources_status is ResourcesStatus.PROVISIONING:
                break
    assert latest.event_id not in {e.event_id for e in got}
    assert all(e.recorded_at >= latest.recorded_at for e in got)


async def test_watch_backfill_errors_lose_no_events(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.inject(Fault.lock_took_too_long(), operations=["list_pipeline_events"], times=3)
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=PollPolicy(initial=0.3, maximum=0.3, jitter=0.0))
        got: list[PipelineEvent] = []
        async with asyncio.timeout(STREAM_TIMEOUT), poller.watch("p") as events:
            async for ev in events:
                got.append(ev)
                if len(got) == 1:
                    fake.start("p")
                if ev.combined_status.value == "Running":
                    break
    assert [str(e.event_id) for e in got] == [e["event_id"] for e in reversed(fake.events("p"))]
    assert sum(r.status == 503 for r in fake.requests) == 3


async def test_watch_survives_a_step_timeout_and_closes_with_a_step_in_flight(
    fake: FakeFeldera,
) -> None:
    fake.create_pipeline("p")
    got: list[PipelineEvent] = []

    async def drain(events: AsyncIterator[PipelineEvent]) -> None:
        async for ev in events:
            got.append(ev)

    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=FAST)
        async with poller.watch("p") as events:
            first = await asyncio.wait_for(anext(events), STREAM_TIMEOUT)
            assert first.deployment_resources_status is ResourcesStatus.STOPPED
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(events), 0.1)  # nothing new yet
            fake.start("p")
            second = await asyncio.wait_for(anext(events), 5)  # the same stream goes on
            assert second.deployment_resources_desired_status.value == "Provisioned"
            fake.stop_answering()
            reader = asyncio.create_task(drain(events))  # another task reads on
            await fake.wait_for(lambda: fake.in_flight >= 1)
        # Leaving the block cancelled the reader's request in flight and ended its loop.
        await asyncio.wait_for(reader, 5)
        fake.resume_answering()
    assert reader.done() and not reader.cancelled() and reader.exception() is None
    # What the reader got (events the last answers held, if any) came after `second`,
    # each once, in the server's order.
    ids = [ev.event_id for ev in got]
    assert len(set(ids)) == len(ids)
    assert first.event_id not in ids and second.event_id not in ids
    assert [ev.recorded_at for ev in got] == sorted(ev.recorded_at for ev in got)


async def test_wait_many_fail_fast_on_an_unexpected_exception(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("ok")
    fake.start("ok")
    fake.create_pipeline("slow", timings=feldera_events.testing.Timings(provisioning=1000))
    fake.start("slow")

    def on_event(name: str, ev: PipelineEvent) -> None:
        if name == "ok" and ev.is_provisioned:
            raise KeyError("a bug in the caller's callback")

    results = await poller.wait_many(["ok", "slow"], timeout=10, fail_fast=True, on_event=on_event)
    assert results["ok"].outcome is Outcome.ERROR
    assert isinstance(results["ok"].error, KeyError)
    assert results["slow"].outcome is Outcome.CANCELLED


async def test_a_last_poll_happens_before_the_deadline(
    fake: FakeFeldera, client: EventsClient
) -> None:
    """One poll every 5 s and a 1.5 s timeout: the poll after the first is moved before
    the deadline (halfway to it), and sees what happened meanwhile. An injected clock:
    the pipeline is provisioned while that sleep "lasts", with no wall-time margin."""
    fake.create_pipeline("p")
    t = FakeTime()

    async def sleep(seconds: float) -> None:
        await t.sleep(seconds)
        if len(t.sleeps) == 2:  # the last look before the deadline
            fake.start("p")
            await fake.wait_for_status("p", deployment_resources_status="Provisioned", timeout=30)

    slow = Poller(
        client, poll=PollPolicy(initial=5, maximum=5, jitter=0.0), clock=t.clock, sleep=sleep
    )
    ev = await slow.wait_until_provisioned("p", timeout=1.5)
    assert ev.is_provisioned
    assert t.sleeps == [0, 0.75]  # not 5 s later (past the deadline): 0.75 s before it


async def test_cancellation_with_a_request_in_flight(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    async with EventsClient(fake.url) as client:
        fake.stop_answering()
        task = asyncio.create_task(
            Poller(client, poll=FAST).wait_until_provisioned("p", timeout=None)
        )
        await fake.wait_for(lambda: fake.in_flight >= 1)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Cancelling does not wait for the held request (the server never answers it).
        assert time.monotonic() - start < 10.0
        fake.resume_answering()
    assert client.closed


# -- issue 10: injected clock and sleep, waits that mean what they say ----------------------


class FakeTime:
    """A clock that only moves when the poller sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_progress_log_schedule_with_an_injected_clock(
    fake: FakeFeldera, client: EventsClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=10**6))
    fake.start("p")
    t = FakeTime()
    poller = Poller(
        client, poll=PollPolicy(initial=1, maximum=1, jitter=0), clock=t.clock, sleep=t.sleep
    )
    caplog.set_level("INFO", logger="feldera_events")
    with pytest.raises(WaitTimeoutError):
        await poller.wait_until_provisioned("p", timeout=30)
    lines = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert [line.split(" after ")[1].split("s ")[0] for line in lines] == ["5", "10", "20"]
    assert sum(t.sleeps) == pytest.approx(30)


async def test_poll_policy_growth_jitter_and_reset(fake: FakeFeldera, client: EventsClient) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=10**6))
    t = FakeTime()

    async def sleep(seconds: float) -> None:
        await t.sleep(seconds)
        if len(t.sleeps) == 9:
            fake.start("p")  # new events: the interval drops back to initial
            await fake.wait_for_status("p", deployment_resources_status="Provisioning")

    policy = PollPolicy(initial=1, factor=2, maximum=5, grow_after=3, jitter=0)
    poller = Poller(client, poll=policy, clock=t.clock, sleep=sleep)
    with pytest.raises(WaitTimeoutError):
        await poller.wait_for("p", lambda e: False, timeout=60)
    # 1 s for the first 3 s, then x2 up to 5 s; back to 1 s after the new event.
    assert t.sleeps[:9] == [0, 1, 1, 1, 2, 4, 5, 5, 5]
    assert t.sleeps[9:11] == [1, 2]
    jittered = PollPolicy(initial=1, jitter=0.25)
    assert [jittered.jittered(2.0, draw) for draw in (0.0, 0.5, 0.999)] == [2.0, 1.75, 1.5005]


async def test_wait_until_running_fails_on_an_initialization_panic(
    fake: FakeFeldera, poller: Poller
) -> None:
    # Initializing lasts 20 s here (speed=50): provisioned is reached, running never is.
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(initializing=1000))
    fake.fail_next_start("p", "worker_panic", message="division by zero")
    fake.start("p")
    ev = await poller.wait_until_provisioned("p", timeout=10)  # its documented meaning
    assert ev.deployment_runtime_status is not None
    assert ev.deployment_runtime_status.value == "Initializing"
    fake.create_pipeline("q")
    fake.fail_next_start("q", "worker_panic", message="division by zero")
    fake.start("q")
    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_until_running("q", timeout=10)
    assert info.value.error_code == "RuntimeError.WorkerPanic"
    assert "division by zero" in str(info.value)
    fake.create_pipeline("r")
    fake.start("r")
    ok = await poller.wait_until_running("r", timeout=10)
    assert ok.combined_status.value == "Running"


async def test_a_wait_that_sees_a_stop_under_way_ends_as_stopped(fake: FakeFeldera) -> None:
    # Stopping lasts 20 s here (speed=50): whichever status the first poll sees
    # (Provisioned or Stopping, desired Stopped), the wait ends as stopped at Stopping.
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(stopping=1000))
    fake.start("p")
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=FAST)
        await poller.wait_until_provisioned("p", timeout=10)
        fake.stop("p", force=True)
        began = time.monotonic()
        with pytest.raises(DeploymentStoppedError) as info:
            await poller.wait_until_provisioned("p", timeout=10)
    assert time.monotonic() - began < 10
    assert info.value.event is not None
    assert info.value.event.deployment_resources_status is ResourcesStatus.STOPPING
    assert "stopped without an error" in str(info.value)


async def test_wait_until_running_since_an_initializing_pipeline(fake: FakeFeldera) -> None:
    # Initializing lasts 1 s here: a `since` taken while it initializes must not hide
    # the run that follows (since="now" resolves the same way: tests/test_waits.py).
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(initializing=50))
    fake.start("p")
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=FAST)
        init = await poller.wait_until_provisioned("p", timeout=10)
        assert init.deployment_runtime_status is not None
        assert init.deployment_runtime_status.value == "Initializing"
        ran = await poller.wait_until_running("p", timeout=10, since=init)
    assert ran.combined_status.value == "Running"
    assert ran.recorded_at > init.recorded_at


async def test_a_pipeline_being_stopped_is_not_provisioned() -> None:
    being_stopped = _event("Provisioned", desired="Provisioned", runtime="Running")
    being_stopped["deployment_resources_desired_status"] = "Stopped"

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response(being_stopped)

    app = aiohttp.web.Application()
    app.router.add_get("/v0/pipelines/{name}/events/{event_id}", handler)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with EventsClient(f"http://127.0.0.1:{port}") as client:
            with pytest.raises(WaitTimeoutError) as info:
                await Poller(client, poll=FAST).wait_until_provisioned("p", timeout=0.3)
    finally:
        await runner.cleanup()
    last = info.value.last_event
    assert last is not None
    assert last.is_provisioned
    assert info.value.polls >= 2


async def test_user_retry_statuses_apply_to_waits(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    fake.inject(Fault.status(409, error_code="Conflict", message="busy"), times=2)
    async with EventsClient(fake.url, retry=RetryPolicy(retry_statuses={409})) as client:
        ev = await Poller(client, poll=FAST).wait_until_provisioned("p", timeout=10)
    assert ev.is_provisioned
    assert sum(r.status == 409 for r in fake.requests) == 2


async def test_since_now_is_anchored_on_the_server(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_runtime_status="Running")
    # Whatever the client's clock says, the current Provisioned event is old news.
    with pytest.raises(WaitTimeoutError):
        await poller.wait_until_provisioned("p", timeout=0.5, since="now")
    task = asyncio.create_task(poller.wait_until_provisioned("p", timeout=10, since="now"))
    await fake.wait_for(lambda: len(fake.requests) >= 30)
    fake.panic("p", "boom")
    with pytest.raises(DeploymentFailedError):
        await task


async def test_timeout_names_the_last_error(fake: FakeFeldera, client: EventsClient) -> None:
    fake.create_pipeline("p", timings=feldera_events.testing.Timings(provisioning=10**6))
    fake.start("p")
    await fake.wait_for_status("p", deployment_resources_status="Provisioning")
    fake.inject(Fault.proxy_502())
    t = FakeTime()
    policy = PollPolicy(initial=0.2, maximum=0.2, jitter=0.0)
    poller = Poller(client, poll=policy, clock=t.clock, sleep=t.sleep)
    with pytest.raises(WaitTimeoutError) as info:
        await poller.wait_until_provisioned("p", timeout=0.5)
    # Polls at 0, 0.2, 0.4 and a last one at 0.45; it ends at its deadline (an injected
    # clock: exactly), neither at its last poll nor later.
    assert t.now - 1000.0 == pytest.approx(0.5)
    assert info.value.elapsed == pytest.approx(0.5)
    assert info.value.polls == 4
    assert "last error: HTTP 502" in str(info.value)
    assert " times)" in str(info.value)


async def test_as_completed_yields_each_result_as_it_ends(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("slow", timings=feldera_events.testing.Timings(provisioning=60))
    fake.create_pipeline("fast")
    fake.start("slow")
    fake.start("fast")
    async with asyncio.timeout(STREAM_TIMEOUT):
        got = [r.pipeline_name async for r in poller.as_completed(["slow", "fast"], timeout=20)]
    assert got == ["fast", "slow"]


async def test_a_wait_result_knows_how_it_was_reached(fake: FakeFeldera, poller: Poller) -> None:
    fake.create_pipeline("runs")
    fake.create_pipeline("stopped", timings=feldera_events.testing.Timings(provisioning=1000))
    fake.start("runs")
    fake.start("stopped")

    def stop_when_provisioning(name: str, ev: PipelineEvent) -> None:
        if name == "stopped" and ev.deployment_resources_status is ResourcesStatus.PROVISIONING:
            fake.stop("stopped", force=True)

    async with asyncio.timeout(STREAM_TIMEOUT):
        results = {
            r.pipeline_name: r
            async for r in poller.as_completed(
                ["runs", "stopped"], timeout=20, until="running", on_event=stop_when_provisioning
            )
        }
    assert results["runs"].until == "running"
    assert results["runs"].ok
    assert not results["runs"].stopped
    assert results["stopped"].until == "running"
    assert results["stopped"].outcome is Outcome.FAILED
    assert results["stopped"].stopped
    assert isinstance(results["stopped"].error, DeploymentStoppedError)
