"""How a wait treats each kind of answer, and the failure at ``Stopping``.

Promises of the docs (docs/guides/asyncio.md, docs/concepts.md) checked here, through the public API against the simulated manager:

* a deployment failure is raised as soon as the pipeline is ``Stopping`` with an error
  (the stop is slowed down so it never reaches ``Stopped``: no race decides it);
* 400, 403 and a malformed body end a wait at once (no retry, one request);
* 408 and 429 are polled through;
* an async ``api_key`` callable is asked again after a 401 (a fresh token);
* ``Timeouts(connect=)`` bounds connecting to a listener that never accepts;
* a wait that first sees the pipeline after it has failed reports the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from feldera_events import (
    APIConnectionError,
    BadRequestError,
    DeploymentFailedError,
    EventsClient,
    PermissionDeniedError,
    Poller,
    PollPolicy,
    ResourcesStatus,
    ResponseValidationError,
    RetryPolicy,
    Timeouts,
    WaitTimeoutError,
)
from feldera_events.testing import FakeFeldera, Fault, Timings

FAST = PollPolicy(initial=0.02, maximum=0.05, jitter=0.0)
#: A stop that never ends by itself (speed 50: about 230 days).
NEVER_STOPS = Timings(stopping=1e9)


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=50) as server:
        yield server


@pytest.fixture
async def poller(fake: FakeFeldera) -> AsyncIterator[Poller]:
    async with EventsClient(fake.url) as client:
        yield Poller(client, poll=FAST)


def faulted(fake: FakeFeldera) -> list[str]:
    return [r.fault for r in fake.requests if r.fault is not None]


# -- failure at Stopping ----------------------------------------------------------------


async def test_failure_is_raised_at_stopping_with_the_error(
    fake: FakeFeldera, poller: Poller
) -> None:
    fake.create_pipeline("p", timings=NEVER_STOPS, provisioning_timeout=2)
    fake.fail_next_start("p", "provisioning_timeout")
    fake.start("p")
    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_until_provisioned("p", timeout=60)
    err = info.value
    # The stop never ends: the error can only have come from the Stopping event.
    assert err.event.deployment_resources_status is ResourcesStatus.STOPPING
    assert err.event.deployment_has_error is True
    assert err.error_code == "PipelineProvisioningTimeout"
    latest = fake.latest_event("p")
    assert latest is not None and latest["deployment_resources_status"] == "Stopping"
    assert str(err.event.event_id) == latest["event_id"]


async def test_a_wait_begun_after_the_failure_reports_it(fake: FakeFeldera, poller: Poller) -> None:
    """docs/guides/asyncio.md: a wait that first sees the pipeline after it has already failed reports
    that failure at its first poll (the error stays until a new /start); with ``since``
    at the failure, it waits past it."""
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.panic("p", "a moment after Provisioned")
    await fake.wait_for_status("p", deployment_status="Stopped")
    for wait in (poller.wait_until_provisioned, poller.wait_until_running):
        with pytest.raises(DeploymentFailedError) as info:
            await wait("p", timeout=60)
        assert info.value.error_code == "RuntimeError.WorkerPanic"
    polls = [r for r in fake.requests if r.operation == "get_pipeline_event"]
    assert len(polls) == 4  # each: its first poll, then the failed event in full
    failed = await poller.client.get_event("p")
    with pytest.raises(WaitTimeoutError):
        await poller.wait_until_provisioned("p", timeout=0.3, since=failed)


# -- answers that end a wait at once ----------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status(400, error_code="InvalidSelector"), BadRequestError),
        (Fault.status(403, error_code="Forbidden", message="not yours"), PermissionDeniedError),
        (Fault.malformed_json(), ResponseValidationError),
    ],
    ids=["400", "403", "malformed"],
)
async def test_answers_no_retry_can_fix_end_the_wait_at_once(
    fake: FakeFeldera, poller: Poller, fault: Fault, error: type[Exception]
) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    fake.inject(fault)  # every request, forever: only giving up ends the wait
    started = time.monotonic()
    with pytest.raises(error):
        await poller.wait_until_provisioned("p", timeout=60)
    assert faulted(fake) == [fault.name]  # one request, not retried
    assert time.monotonic() - started < 30


# -- answers a wait polls through -------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(408, error_code="RequestTimeout", message="request timeout"),
        Fault.too_many_requests(retry_after=0),
    ],
    ids=["408", "429"],
)
async def test_408_and_429_are_polled_through(
    fake: FakeFeldera, poller: Poller, fault: Fault
) -> None:
    fake.create_pipeline("p")
    handle = fake.inject(fault, times=6)
    fake.start("p")
    ev = await poller.wait_until_provisioned("p", timeout=60)
    assert ev.is_provisioned
    assert handle.hits == 6 and handle.exhausted
    assert faulted(fake) == [fault.name] * 6


# -- authentication ---------------------------------------------------------------------


async def test_an_async_api_key_is_asked_again_after_a_401() -> None:
    tokens = iter(["apikey:expired", "apikey:fresh"])
    asked: list[str] = []

    async def api_key() -> str:
        await asyncio.sleep(0)
        asked.append(next(tokens))
        return asked[-1]

    async with FakeFeldera(speed=50, api_keys=["apikey:fresh"]) as fake:
        fake.create_pipeline("p")
        async with EventsClient(fake.url, api_key=api_key) as client:
            ev = await client.get_event("p")
        assert str(ev.event_id) == fake.events("p")[0]["event_id"]
        assert asked == ["apikey:expired", "apikey:fresh"]
        assert [r.status for r in fake.requests] == [401, 200]


# -- the connect timeout ----------------------------------------------------------------


@contextlib.contextmanager
def listener_that_never_accepts() -> Iterator[int]:
    """A listening socket whose accept queue is full: new connections are never set up.

    The listener never calls ``accept``; a few connections fill its backlog (of 0 or 1),
    after which the kernel drops further SYNs and ``connect`` hangs.
    """
    server = socket.socket()
    fillers: list[socket.socket] = []
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port: int = server.getsockname()[1]
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", port))
            fillers.append(s)
        yield port
    finally:
        for s in fillers:
            s.close()
        server.close()


async def test_connect_timeout_bounds_a_connection_never_accepted() -> None:
    with listener_that_never_accepts() as port:
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        async with EventsClient(
            url, timeout=Timeouts(connect=0.5, request=120), retry=RetryPolicy(attempts=1)
        ) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.get_event("p")
        elapsed = time.monotonic() - started
    assert "connect=0.5s" in str(info.value), info.value
    assert url in str(info.value)
    # Far below the 120 s request limit: the connect limit ended the attempt.
    assert 0.4 <= elapsed < 30, elapsed


async def test_a_deadline_before_the_first_answer_is_a_timeout(fake: FakeFeldera) -> None:
    # The server is slow, not unreachable: nothing failed, the wait's own deadline came
    # first. That is a timeout (the CLI's exit 3), not "cannot reach" (exit 4).
    fake.create_pipeline("p")
    fake.inject(Fault.latency(5.0), times=1)
    async with EventsClient(fake.url) as client:
        with pytest.raises(WaitTimeoutError) as info:
            await Poller(client).wait_until_provisioned("p", timeout=0.2)
    assert not isinstance(info.value, APIConnectionError)
    assert info.value.pipeline_name == "p" and info.value.last_event is None
