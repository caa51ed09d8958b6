"""The lifecycle engine alone: no sockets, no asyncio, time moved by hand."""

from __future__ import annotations

import dataclasses

import pytest

from feldera_events.testing import FakeAPIError, Timings
from tests.testing.engine_support import START, make_engine, rows


def resources(engine_rows: list[tuple[object, ...]]) -> list[object]:
    return [r[0] for r in engine_rows]


def test_steps_happen_when_the_injected_clock_says() -> None:
    engine, clock = make_engine(speed=2.0, timings=Timings(runner_reaction=1.0, provisioning=4.0))
    engine.create_pipeline("p")
    engine.start("p")
    clock.advance(0.49)  # runner_reaction 1.0 / speed 2.0 = 0.5 s
    assert engine.get("p").s["deployment_resources_status"] == "Stopped"
    clock.advance(0.01)
    # Storage claimed, then Provisioning: one transaction, two events, one recorded_at.
    in_use, provisioning = list(engine.get("p").events.items)[-2:]
    assert (in_use.data["storage_status"], in_use.data["deployment_resources_status"]) == (
        "InUse",
        "Stopped",
    )
    assert provisioning.data["deployment_resources_status"] == "Provisioning"
    assert in_use.recorded_at == provisioning.recorded_at == "2026-01-01T00:00:00.500000Z"
    clock.advance(1.99)  # provisioning 4.0 / 2.0 = 2 s
    assert engine.get("p").s["deployment_resources_status"] == "Provisioning"
    clock.advance(0.01)
    assert engine.get("p").s["deployment_resources_status"] == "Provisioned"
    provisioned = engine.get("p").events.latest()
    assert provisioned is not None
    assert provisioned.recorded_at == "2026-01-01T00:00:02.500000Z"


def test_full_lifecycle_runs_to_rest_without_an_event_loop() -> None:
    engine, clock = make_engine()
    engine.create_pipeline("p")
    engine.start("p")
    clock.run()
    assert engine.get("p").status_view()["deployment_status"] == "Running"
    engine.stop("p", force=True)
    clock.run()
    assert clock.pending == 0
    seen = resources(rows(engine, "p"))
    assert [r for i, r in enumerate(seen) if i == 0 or seen[i - 1] != r] == [
        "Stopped",
        "Provisioning",
        "Provisioned",
        "Stopping",
        "Stopped",
    ]


def test_panic_writes_two_events_with_one_timestamp() -> None:
    engine, clock = make_engine()
    engine.create_pipeline("p")
    engine.start("p")
    clock.run()
    clock.advance(7.0)
    engine.panic("p", "boom")
    newest, before = engine.get("p").events.newest_first()[:2]
    assert newest["recorded_at"] == before["recorded_at"]
    assert (before["deployment_resources_status"], before["deployment_has_error"]) == (
        "Provisioned",
        False,
    )
    assert newest["deployment_resources_status"] == "Stopping"
    assert newest["deployment_error"]["error_code"] == "RuntimeError.WorkerPanic"
    assert "boom" in newest["deployment_error"]["message"]


def test_recorded_at_comes_from_the_injected_clock() -> None:
    engine, clock = make_engine()
    clock.advance(3600.0)
    engine.create_pipeline("p")
    first = engine.get("p").events.latest()
    assert first is not None
    assert first.recorded_at == (START.replace(hour=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_control_rules_raise_the_managers_errors() -> None:
    engine, _ = make_engine()
    engine.create_pipeline("p")
    with pytest.raises(FakeAPIError) as info:
        engine.pause("p")
    assert (info.value.status, info.value.error_code) == (400, "PauseWhileNotProvisioned")
    with pytest.raises(FakeAPIError) as info:
        engine.start("missing")
    assert (info.value.status, info.value.error_code) == (404, "UnknownPipelineName")


def test_delete_cancels_the_pending_steps() -> None:
    engine, clock = make_engine()
    engine.create_pipeline("p", compile=True)
    assert clock.pending == 1
    engine.delete_pipeline("p")
    assert clock.pending == 0
    assert "p" not in engine.pipelines


def test_per_pipeline_timings() -> None:
    engine, clock = make_engine()
    slow = dataclasses.replace(Timings(), provisioning=100.0)
    engine.create_pipeline("slow", timings=slow)
    engine.create_pipeline("fast")
    engine.start("slow")
    engine.start("fast")
    clock.advance(10.0)
    assert engine.get("fast").s["deployment_resources_status"] == "Provisioned"
    assert engine.get("slow").s["deployment_resources_status"] == "Provisioning"


def test_pause_and_resume_record_no_half_state() -> None:
    engine, clock = make_engine()
    engine.create_pipeline("p")
    engine.start("p")
    clock.run()
    before = len(rows(engine, "p"))
    engine.pause("p")
    assert len(rows(engine, "p")) == before  # nothing until the runner's probe
    clock.run()
    engine.resume("p")
    clock.run()
    assert rows(engine, "p")[before - 1 :] == [
        ("Provisioned", "Provisioned", "Running", "Running"),
        ("Provisioned", "Provisioned", "Paused", "Paused"),
        ("Provisioned", "Provisioned", "Running", "Running"),
    ]


def test_stop_without_force_suspends_then_the_runner_stops_it() -> None:
    engine, clock = make_engine()
    engine.create_pipeline("p")
    engine.start("p")
    clock.run()
    engine.stop("p", force=False)
    clock.run()
    keys = ("deployment_resources_status", "deployment_resources_desired_status",
            "deployment_runtime_status", "deployment_runtime_desired_status",
            "deployment_has_error", "recorded_at")  # fmt: skip
    tail = rows(engine, "p", *keys)[-5:]
    assert [r[:5] for r in tail] == [
        ("Provisioned", "Provisioned", "Running", "Suspended", False),
        ("Provisioned", "Provisioned", "Suspended", "Suspended", False),
        ("Provisioned", "Stopped", "Suspended", "Suspended", False),
        ("Stopping", "Stopped", None, None, False),
        ("Stopped", "Stopped", None, None, False),
    ]
    assert tail[2][5] == tail[3][5]  # one transaction: desired Stopped, then Stopping


def test_clear_on_cleared_storage_is_a_no_op() -> None:
    engine, _ = make_engine()
    engine.create_pipeline("p")
    engine.clear("p")
    assert len(rows(engine, "p")) == 1


def test_scripted_input_panics_queue_one_per_run() -> None:
    engine, clock = make_engine()
    engine.fail_next_input("p", "first")
    engine.fail_next_input("p")  # the input after that one, in a later run
    engine.create_pipeline("p")
    for expected in ("first", "simulated panic", None):
        engine.start("p")
        clock.run()
        assert engine.get("p").status_view()["deployment_status"] == "Running"
        engine.ingress("p", "t1", records=1, size=2)
        clock.run()
        error = engine.get("p").s["deployment_error"]
        if expected is None:
            assert error is None  # no script left: input alone never fails it
        else:
            assert error["error_code"] == "RuntimeError.WorkerPanic"
            assert expected in error["message"]
            engine.dismiss_error("p")
    assert engine.get("p").input_records == 1  # counted per run of the pipeline process
