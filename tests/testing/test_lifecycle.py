"""The lifecycle engine: which events the fake writes, in which order (no sleeps)."""

from __future__ import annotations

import re
import uuid

import aiohttp
import pytest

from feldera_events.testing import FakeAPIError, FakeFeldera, Timings
from tests.testing.schema_check import SchemaChecker

Row = tuple[str, str, str | None, str | None]


def rows(fake: FakeFeldera, name: str) -> list[Row]:
    """(resources, resources desired, runtime, runtime desired), oldest first."""
    return [
        (
            e["deployment_resources_status"],
            e["deployment_resources_desired_status"],
            e["deployment_runtime_status"],
            e["deployment_runtime_desired_status"],
        )
        for e in reversed(fake.events(name))
    ]


async def test_start_pause_resume_force_stop(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.pause("p")
    await fake.wait_for_status("p", deployment_status="Paused")
    fake.resume("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_status="Stopped")
    assert rows(fake, "p") == [
        ("Stopped", "Stopped", None, None),  # created
        ("Stopped", "Provisioned", None, None),  # /start
        ("Stopped", "Provisioned", None, None),  # storage InUse, still Stopped
        ("Provisioning", "Provisioned", None, None),
        ("Provisioned", "Provisioned", "Initializing", "Running"),
        ("Provisioned", "Provisioned", "Running", "Running"),
        ("Provisioned", "Provisioned", "Paused", "Paused"),  # /pause: no half-state
        ("Provisioned", "Provisioned", "Running", "Running"),  # /resume: no half-state
        ("Provisioned", "Stopped", "Running", "Running"),  # /stop?force=true
        ("Stopping", "Stopped", None, None),
        ("Stopped", "Stopped", None, None),
    ]
    storage = [e["storage_status"] for e in reversed(fake.events("p"))]
    assert storage[:2] == ["Cleared", "Cleared"]
    assert set(storage[2:]) == {"InUse"}
    # A restart with storage already InUse writes the storage again (InUse -> InUse) in
    # the transaction that moves to Provisioning: a duplicate event, then Provisioning,
    # one recorded_at (the manager's transit to Provisioning always sets storage InUse).
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    assert rows(fake, "p")[11:14] == [
        ("Stopped", "Provisioned", None, None),
        ("Stopped", "Provisioned", None, None),
        ("Provisioning", "Provisioned", None, None),
    ]
    again = list(reversed(fake.events("p")))[12:14]
    assert again[0]["recorded_at"] == again[1]["recorded_at"]


async def test_events_validate_and_are_ordered(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p", "paused")
    await fake.wait_for_status("p", deployment_status="Paused")
    checker = SchemaChecker.load()
    events = fake.events("p")
    for e in events:
        checker.validate(e, "PipelineMonitorEventSelectedInfo")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e["recorded_at"])
        assert uuid.UUID(e["event_id"]).version == 7
    keys = [(e["recorded_at"], e["event_id"]) for e in events]
    assert keys == sorted(keys, reverse=True)
    assert len({e["event_id"] for e in events}) == len(events)


async def test_suspend_path(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.stop("p", force=False)
    await fake.wait_for_status("p", deployment_status="Stopped")
    events = list(reversed(fake.events("p")))
    assert rows(fake, "p")[-5:] == [
        ("Provisioned", "Provisioned", "Running", "Suspended"),
        ("Provisioned", "Provisioned", "Suspended", "Suspended"),
        ("Provisioned", "Stopped", "Suspended", "Suspended"),
        ("Stopping", "Stopped", None, None),
        ("Stopped", "Stopped", None, None),
    ]
    # the system's desired change and the move to Stopping are one transaction
    assert events[-3]["recorded_at"] == events[-2]["recorded_at"]
    assert not any(e["deployment_has_error"] for e in events)


async def test_compile_steps(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", compile=True)
    await fake.wait_for_status("p", program_status="Success")
    assert [e["program_status"] for e in reversed(fake.events("p"))] == [
        "Pending",
        "CompilingSql",
        "SqlCompiled",
        "CompilingRust",
        "Success",
    ]


async def test_start_waits_for_compilation(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", compile=True)
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    programs = [e["program_status"] for e in reversed(fake.events("p"))]
    assert programs.index("Success") < [r[0] for r in rows(fake, "p")].index("Provisioning")


@pytest.mark.parametrize(("kind", "status"), [("sql", "SqlError"), ("rust", "RustError")])
async def test_compile_error_start_stays_stopped(fake: FakeFeldera, kind: str, status: str) -> None:
    fake.create_pipeline("p", compile_error=kind)  # type: ignore[arg-type]
    fake.start("p")  # while compiling: accepted, the runner fails it afterwards
    final = await fake.wait_for_status("p", deployment_has_error=True)
    assert final["program_status"] == status
    assert final["deployment_resources_status"] == "Stopped"
    assert final["deployment_resources_desired_status"] == "Stopped"
    assert final["deployment_error"]["error_code"] == "StartFailedDueToFailedCompilation"
    assert "Provisioning" not in [r[0] for r in rows(fake, "p")]


@pytest.mark.parametrize("kind", ["sql", "rust", "system"])
async def test_start_after_failed_compilation_is_refused_without_an_event(
    fake: FakeFeldera, kind: str
) -> None:
    fake.create_pipeline("p", compile_error=kind)  # type: ignore[arg-type]
    await fake.wait_for_status("p", program_status={"sql": "SqlError", "rust": "RustError",
                                                    "system": "SystemError"}[kind])  # fmt: skip
    count = len(fake.events("p"))
    with pytest.raises(FakeAPIError) as info:
        fake.start("p")
    assert (info.value.status, info.value.error_code) == (400, "CannotStartWithCompilationError")
    assert len(fake.events("p")) == count
    assert fake.status("p")["deployment_resources_desired_status"] == "Stopped"


async def test_provision_check_failure(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provision_check", message="no capacity")
    fake.start("p")
    status = await fake.wait_for_status("p", deployment_has_error=True)
    assert status["deployment_status"] == "Stopped"
    assert status["deployment_error"]["message"] == "no capacity"
    assert rows(fake, "p")[-2:] == [
        ("Stopped", "Stopped", None, None),
        ("Stopped", "Stopped", None, None),
    ]


async def test_provisioning_timeout() -> None:
    async with FakeFeldera(speed=200, provisioning_timeout=5.0) as fake:
        fake.create_pipeline("p")
        fake.fail_next_start("p", "provisioning_timeout")
        fake.start("p")
        # Stopping lasts 5 ms here: look for its event, not for the status (a poll of
        # the status can miss it).
        await fake.wait_for_event("p", deployment_resources_status="Stopping")
        final = await fake.wait_for_status("p", deployment_status="Stopped")
        assert final["deployment_error"]["error_code"] == "PipelineProvisioningTimeout"
        events = list(reversed(fake.events("p")))
        assert rows(fake, "p")[-4:] == [
            ("Provisioning", "Provisioned", None, None),
            ("Provisioning", "Stopped", None, None),
            ("Stopping", "Stopped", None, None),
            ("Stopped", "Stopped", None, None),
        ]
        assert events[-1]["deployment_has_error"]  # the error survives into Stopped
        # the next start dismisses it and the move into Provisioning clears it
        fake.start("p")
        ok = await fake.wait_for_status("p", deployment_status="Running")
        assert ok["deployment_error"] is None


async def test_worker_panic_two_events_same_timestamp(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.panic("p", "boom")
    await fake.wait_for_status("p", deployment_status="Stopped")
    events = list(reversed(fake.events("p")))
    first, second, last = events[-3], events[-2], events[-1]
    assert first["recorded_at"] == second["recorded_at"]
    assert first["event_id"] < second["event_id"]
    assert (first["deployment_resources_status"], first["deployment_resources_desired_status"]) == (
        "Provisioned",
        "Stopped",
    )
    assert first["deployment_error"] is None
    assert second["deployment_resources_status"] == "Stopping"
    assert second["deployment_error"]["error_code"] == "RuntimeError.WorkerPanic"
    assert last["deployment_resources_status"] == "Stopped"
    assert last["deployment_error"]["error_code"] == "RuntimeError.WorkerPanic"
    # newest first with the tie broken by event_id descending
    newest = fake.events("p")
    assert newest[1]["event_id"] == second["event_id"]
    assert newest[2]["event_id"] == first["event_id"]


async def test_scripted_worker_panic_on_start(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", start_failures=["worker_panic"])
    fake.start("p")
    final = await fake.wait_for_event(
        "p", deployment_resources_status="Stopped", deployment_has_error=True
    )
    assert final["deployment_error"]["error_code"] == "RuntimeError.WorkerPanic"
    assert ("Provisioned", "Provisioned", "Initializing", "Running") in rows(fake, "p")


async def test_undismissed_error_blocks_start(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", start_failures=["provision_check"])
    fake.start("p")
    await fake.wait_for_status("p", deployment_has_error=True)
    with pytest.raises(FakeAPIError) as info:
        fake.start("p", dismiss_error=False)
    assert (info.value.status, info.value.error_code) == (400, "CannotStartWithUndismissedError")
    before = len(fake.events("p"))
    fake.dismiss_error("p")
    assert len(fake.events("p")) == before + 1
    assert fake.latest_event("p")["deployment_has_error"] is False  # type: ignore[index]
    fake.start("p", dismiss_error=False)
    await fake.wait_for_status("p", deployment_status="Running")


async def test_dismiss_error_requires_fully_stopped(fake: FakeFeldera) -> None:
    # Stopping lasts 2 s (not 5 ms): dismiss_error runs while it is Stopping, no race.
    fake.create_pipeline("p", start_failures=["worker_panic"], timings=Timings(stopping=400))
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Stopping")
    with pytest.raises(FakeAPIError) as info:
        fake.dismiss_error("p")
    assert info.value.status == 400
    await fake.wait_for_status("p", deployment_status="Stopped")
    fake.dismiss_error("p")
    assert fake.status("p")["deployment_error"] is None


async def test_clear_storage(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.clear("p")  # already Cleared: a no-op success, no event
    assert len(fake.events("p")) == 1
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    with pytest.raises(FakeAPIError) as info:
        fake.clear("p")
    assert info.value.error_code == "StorageStatusImmutableUnlessStopped"
    with pytest.raises(FakeAPIError) as info:
        fake.delete_pipeline("p")
    assert info.value.error_code == "DeleteRestrictedToFullyStopped"
    fake.stop("p")
    await fake.wait_for_status("p", deployment_status="Stopped")
    with pytest.raises(FakeAPIError) as info:
        fake.delete_pipeline("p")
    assert info.value.error_code == "DeleteRestrictedToClearedStorage"
    fake.clear("p")
    await fake.wait_for_status("p", storage_status="Cleared")
    assert [e["storage_status"] for e in fake.events("p")[:3]] == ["Cleared", "Clearing", "InUse"]
    fake.delete_pipeline("p")
    assert "p" not in fake.pipelines()
    with pytest.raises(FakeAPIError) as info:
        fake.events("p")
    assert info.value.error_code == "UnknownPipelineName"


async def test_illegal_actions(fake: FakeFeldera) -> None:
    fake.create_pipeline("p", timings=Timings(stopping=1e9))  # start is tried while Stopping
    with pytest.raises(FakeAPIError) as info:
        fake.pause("p")
    assert info.value.error_code == "PauseWhileNotProvisioned"
    with pytest.raises(FakeAPIError) as info:
        fake.resume("p")
    assert info.value.error_code == "ResumeWhileNotProvisioned"
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.start("p")  # already started: accepted, no event
    fake.stop("p")
    await fake.wait_for_status("p", deployment_status="Stopping")
    with pytest.raises(FakeAPIError) as info:
        fake.start("p")
    assert info.value.error_code == "IllegalPipelineAction"
    assert info.value.details["status"] == "Stopping"
    with pytest.raises(FakeAPIError) as info:
        fake.create_pipeline("p")
    assert (info.value.status, info.value.error_code) == (409, "DuplicateName")


async def test_pipeline_without_events_until_first_write(fake: FakeFeldera) -> None:
    fake.create_pipeline("old", record_events=False)
    assert fake.events("old") == []
    assert fake.latest_event("old") is None
    fake.start("old")
    await fake.wait_for_status("old", deployment_status="Running")
    assert rows(fake, "old")[0] == ("Stopped", "Provisioned", None, None)


async def test_retention_cleaner() -> None:
    async with FakeFeldera(speed=500, retention=3) as fake:
        fake.create_pipeline("p")
        fake.start("p")
        await fake.wait_for_status("p", deployment_status="Running")
        ids = [e["event_id"] for e in fake.events("p")]
        assert len(ids) == 6  # more than N until the cleaner runs
        assert fake.run_cleanup() == 3
        assert [e["event_id"] for e in fake.events("p")] == ids[:3]


async def test_periodic_cleaner() -> None:
    async with FakeFeldera(speed=500, retention=2, cleanup_interval=0.01) as fake:
        fake.create_pipeline("p")
        fake.start("p")
        await fake.wait_for_status("p", deployment_status="Running")
        await fake.wait_for(lambda: len(fake.events("p")) == 2, what="the cleaner")


async def test_unavailable_blips_and_heartbeats() -> None:
    timings = Timings(blip_interval=2.0, blip_duration=1.0, heartbeat=3.0)
    async with FakeFeldera(
        speed=200, timings=timings, unavailable_blips=True, heartbeats=True
    ) as fake:
        fake.create_pipeline("p")
        fake.start("p")
        await fake.wait_for_event("p", deployment_runtime_status="Unavailable")
        await fake.wait_for(
            lambda: sum(
                1
                for a, b in zip(fake.events("p"), fake.events("p")[1:], strict=False)
                if {k: v for k, v in a.items() if k not in ("event_id", "recorded_at")}
                == {k: v for k, v in b.items() if k not in ("event_id", "recorded_at")}
            ),
            what="a heartbeat duplicate",
        )
        fake.stop("p")
        await fake.wait_for_status("p", deployment_status="Stopped")


async def test_set_runtime_status_and_combined_status(fake: FakeFeldera) -> None:
    fake.create_pipeline("p")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.set_runtime_status("p", "AwaitingApproval", {"reason": "waiting"})
    status = fake.status("p")
    assert status["deployment_status"] == "AwaitingApproval"
    assert fake.latest_event("p")["deployment_runtime_status"] == "AwaitingApproval"  # type: ignore[index]


async def test_cluster_health_transitions() -> None:
    async with FakeFeldera(speed=200) as fake:
        first = fake.cluster_events()[-1]
        assert first["api_status"] == "InitialUnhealthy"
        await fake.wait_for(lambda: fake.cluster_health()["all_healthy"], what="healthy")
        fake.degrade_cluster("runner")
        assert fake.cluster_events()[0]["runner_status"] == "Unhealthy"
        assert fake.cluster_health()["runner"]["healthy"] is False
        fake.recover_cluster()
        assert fake.cluster_events()[0]["all_healthy"] is True
        assert len(fake.cluster_events()) == 4


async def test_the_control_methods_take_what_the_rest_operations_take(fake: FakeFeldera) -> None:
    """The facade's methods are its engine's (one definition): tags, UDFs and the
    bootstrap flags too, each with its docstring for help() and the reference."""
    fake.create_pipeline("p", tags=["team:a"])
    fake.update_pipeline("p", udf_toml="[dependencies]", program_config={"profile": "dev"})
    pipeline = await _get_pipeline(fake, "p")
    assert pipeline["tags"] == ["team:a"]
    assert pipeline["udf_toml"] == "[dependencies]"
    assert pipeline["program_config"]["profile"] == "dev"
    with pytest.raises(FakeAPIError, match="InvalidBootstrapConfig"):
        fake.start("p", silent_bootstrap=True, concurrent_bootstrap=True)
    with pytest.raises(FakeAPIError, match="InvalidTag"):
        fake.create_pipeline("q", tags=[""])
    for name in ("create_pipeline", "start", "set_cluster_health", "inject", "request_counts"):
        assert getattr(FakeFeldera, name).__doc__, name
        assert getattr(fake, name).__doc__ == getattr(FakeFeldera, name).__doc__


async def _get_pipeline(fake: FakeFeldera, name: str) -> dict[str, object]:
    url = f"{fake.url}/v0/pipelines/{name}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body: dict[str, object] = await response.json()
        return body
