"""Testing your own code against the simulated manager, ``feldera_events.testing``.

Copy this file into your project and run ``pytest test_my_app.py`` (needs
``pytest`` and ``pytest-asyncio``; set ``asyncio_default_fixture_loop_scope =
function`` in your pytest configuration, as pytest-asyncio asks). ``deploy()`` stands for your application code:
it starts a pipeline through the REST API and waits until it is provisioned.
``FakeFeldera`` is a real HTTP server on 127.0.0.1; its control API scripts what
the pipelines do (failures, faults), and ``speed=`` makes simulated time fast.

(In this repository the file lives outside ``tests/`` on purpose: ``testpaths``
keeps the project's own suite from collecting it; ``tests/test_examples.py`` runs
it as a separate pytest session in a fresh directory, as a user would.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

import feldera_events
from feldera_events import DeploymentFailedError, EventsClient, PipelineEvent, Poller, PollPolicy
from feldera_events.testing import FakeFeldera, Fault

# -- your application code ------------------------------------------------------------


async def deploy(
    name: str, *, url: str, timeout: float = 300, poll: PollPolicy | None = None
) -> PipelineEvent:
    """Start a pipeline and wait until it is provisioned; return the Provisioned event."""
    since = dt.datetime.now(dt.UTC)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v0/pipelines/{name}/start") as resp,
    ):
        resp.raise_for_status()
    async with EventsClient(url) as client:
        return await Poller(client, poll=poll).wait_until_provisioned(
            name, timeout=timeout, since=since
        )


# -- its tests ------------------------------------------------------------------------

FAST = PollPolicy(initial=0.02, maximum=0.1, jitter=0.0)


@pytest.fixture(autouse=True)
def _no_retry_waits() -> None:
    # Retries still happen, without sleeping between attempts.
    feldera_events.set_testing(True)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    # speed=50: the 2 s of simulated provisioning take 40 ms.
    async with FakeFeldera(speed=50) as server:
        server.create_pipeline("orders")
        yield server


@pytest.mark.asyncio
async def test_deploy_returns_the_provisioned_event(fake: FakeFeldera) -> None:
    event = await deploy("orders", url=fake.url, timeout=30, poll=FAST)
    assert event.is_provisioned
    assert fake.status("orders")["deployment_resources_status"] == "Provisioned"


@pytest.mark.asyncio
async def test_deploy_reports_the_servers_error(fake: FakeFeldera) -> None:
    fake.fail_next_start("orders", "provision_check", message="no such storage class 'fast'")
    with pytest.raises(DeploymentFailedError) as info:
        await deploy("orders", url=fake.url, timeout=30, poll=FAST)
    assert info.value.error_code == "RunnerProvisionCheckFailed"
    assert "no such storage class" in info.value.message


@pytest.mark.asyncio
async def test_deploy_rides_out_a_busy_manager(fake: FakeFeldera) -> None:
    # The next two event reads answer 503 LockTookTooLong (with Retry-After: 5).
    busy = fake.inject(Fault.lock_took_too_long(), times=2)
    event = await deploy("orders", url=fake.url, timeout=30, poll=FAST)
    assert event.is_provisioned
    assert busy.hits == 2


@pytest.mark.asyncio
async def test_deploy_times_out(fake: FakeFeldera) -> None:
    fake.create_pipeline("slow", provisioning_timeout=10_000)
    fake.fail_next_start("slow", "provisioning_timeout")  # stays in Provisioning
    with pytest.raises(TimeoutError):
        await deploy("slow", url=fake.url, timeout=0.5, poll=FAST)
