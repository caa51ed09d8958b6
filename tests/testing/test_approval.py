"""``/start?bootstrap_policy=await_approval``: a pipeline whose program changed since it
last ran on its storage stops at runtime ``AwaitingApproval`` until ``/approve``."""

from __future__ import annotations

import aiohttp
import pytest

from feldera_events.testing import FakeAPIError, FakeFeldera

OLD = "CREATE TABLE t (x INT); CREATE VIEW v AS SELECT * FROM t; CREATE VIEW gone AS SELECT 1;"
NEW = "CREATE TABLE t (x INT); CREATE VIEW v AS SELECT x FROM t; CREATE VIEW w AS SELECT * FROM t;"


def runtimes(fake: FakeFeldera, name: str) -> list[str | None]:
    return [e["deployment_runtime_status"] for e in reversed(fake.events(name))]


async def ran_then_changed(fake: FakeFeldera) -> None:
    """``p`` ran ``OLD`` on its storage, was stopped, and now holds ``NEW``, compiled."""
    fake.create_pipeline("p", program_code=OLD)
    fake.start("p", bootstrap_policy="await_approval")  # no checkpoint yet: it just runs
    await fake.wait_for_status("p", deployment_status="Running")
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_status="Stopped")
    fake.update_pipeline("p", program_code=NEW)
    await fake.wait_for_status("p", program_status="Success")


async def test_a_changed_program_awaits_approval(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    await ran_then_changed(fake)
    start = f"{fake.url}/v0/pipelines/p/start?bootstrap_policy=await_approval"
    async with session.post(start) as resp:
        assert resp.status == 202
    await fake.wait_for_status("p", deployment_status="AwaitingApproval")
    event = fake.latest_event("p")
    assert event is not None
    assert event["deployment_runtime_desired_status"] == "Running"
    diff = event["deployment_runtime_status_details"]["approval_diff"]
    assert diff["program_diff"] == {
        "added_tables": [],
        "removed_tables": [],
        "modified_tables": [],
        "added_views": ["w"],
        "removed_views": ["gone"],
        "modified_views": ["v"],
    }
    assert diff["added_input_connectors"] == [] and diff["program_diff_error"] is None
    async with session.post(f"{fake.url}/v0/pipelines/p/approve") as resp:
        assert resp.status == 200 and await resp.json() == "Bootstrap approved"
    await fake.wait_for_status("p", deployment_status="Running")
    assert runtimes(fake, "p")[-4:] == [
        "Initializing",
        "AwaitingApproval",
        "Bootstrapping",
        "Running",
    ]


async def test_no_approval_without_a_change_or_a_checkpoint(fake: FakeFeldera) -> None:
    await ran_then_changed(fake)
    fake.start("p", bootstrap_policy="allow")  # bootstraps at once
    await fake.wait_for_status("p", deployment_status="Running")
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_status="Stopped")
    fake.start("p", bootstrap_policy="await_approval")  # nothing changed since it ran
    await fake.wait_for_status("p", deployment_status="Running")
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_status="Stopped")
    fake.update_pipeline("p", program_code=OLD)
    fake.clear("p")  # no storage, no checkpoint: nothing to bootstrap from
    await fake.wait_for_status("p", program_status="Success", storage_status="Cleared")
    fake.start("p", bootstrap_policy="await_approval")
    await fake.wait_for_status("p", deployment_status="Running")
    assert "AwaitingApproval" not in runtimes(fake, "p")


async def test_approve_of_a_pipeline_that_is_not_deployed_is_503(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    with pytest.raises(FakeAPIError) as info:
        fake.approve("p")
    assert (info.value.status, info.value.error_code) == (503, "PipelineInteractionNotDeployed")
