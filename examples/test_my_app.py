"""Testing your own code against the simulated manager, with the pytest plugin.

Copy this file into your project and run ``pytest test_my_app.py``. It needs
``pytest`` and ``pytest-asyncio`` (``pip install '.[pytest]'`` in a clone of
feldera-events, or its wheel: see the README's Install) and, as
pytest-asyncio asks of every project, ``asyncio_default_fixture_loop_scope =
function`` in your pytest configuration. Nothing to import for the fixtures:
installing feldera-events registers ``feldera_fake`` (a running ``FakeFeldera``, a
real HTTP server on 127.0.0.1) and ``feldera_client`` (an ``EventsClient`` on it);
testing mode (retries without waits) is on during each test that uses them.

``deploy()`` stands for your application code: it starts a pipeline through the REST
API and waits until it is provisioned. The fake's control API scripts what the
pipelines do (failures, faults), and ``speed=`` makes simulated time fast.

(In this repository the file lives outside ``tests/`` on purpose: ``testpaths``
keeps the project's own suite from collecting it; ``tests/test_examples.py`` runs
it as a separate pytest session in a fresh directory, as a user would.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest

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
pytestmark = pytest.mark.asyncio


@pytest.fixture
def feldera_fake_options() -> dict[str, Any]:
    # speed=50 for every test here: the 2 s of simulated provisioning take 40 ms.
    return {"speed": 50}


async def test_deploy_returns_the_provisioned_event(feldera_fake: FakeFeldera) -> None:
    feldera_fake.create_pipeline("orders")
    event = await deploy("orders", url=feldera_fake.url, timeout=30, poll=FAST)
    assert event.is_provisioned
    assert feldera_fake.status("orders")["deployment_resources_status"] == "Provisioned"


async def test_deploy_reports_the_servers_error(feldera_fake: FakeFeldera) -> None:
    feldera_fake.create_pipeline("orders")
    feldera_fake.fail_next_start("orders", "provision_check", message="no such storage class")
    with pytest.raises(DeploymentFailedError) as info:
        await deploy("orders", url=feldera_fake.url, timeout=30, poll=FAST)
    assert info.value.error_code == "RunnerProvisionCheckFailed"
    assert "no such storage class" in info.value.message


async def test_deploy_rides_out_a_busy_manager(feldera_fake: FakeFeldera) -> None:
    feldera_fake.create_pipeline("orders")
    # The next two event reads answer 503 LockTookTooLong (with Retry-After: 5).
    busy = feldera_fake.inject(Fault.lock_took_too_long(), times=2)
    event = await deploy("orders", url=feldera_fake.url, timeout=30, poll=FAST)
    assert event.is_provisioned
    assert busy.hits == 2


@pytest.mark.feldera_fake(speed=20, provisioning_timeout=10_000)
async def test_deploy_times_out(feldera_fake: FakeFeldera) -> None:
    feldera_fake.create_pipeline("slow")
    feldera_fake.fail_next_start("slow", "provisioning_timeout")  # stays in Provisioning
    with pytest.raises(TimeoutError):
        await deploy("slow", url=feldera_fake.url, timeout=0.5, poll=FAST)
