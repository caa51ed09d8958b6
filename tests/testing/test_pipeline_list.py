"""The pipelines list (``GET /v0/pipelines?selector=status``) as a change detector.

A fleet poller reads the list once per interval and reads ``latest`` only for the
pipelines whose entry changed, so the list must never be ahead of (or behind) the
events: every write that changes a listed status field writes the pipeline's event in
the same step (``feldera-events-api.md`` §5, §8).  A state machine drives random
lifecycles through the engine (manual clock, no sockets) and checks, after every step,
each pipeline's entry against its ``latest`` event and the manager's ``*_since`` rules
(``CASE WHEN`` in upstream's ``db/operations/pipeline.rs``; the combined stamps are
``combine_since``).  The HTTP tests check that the route serves exactly that body, as
the spec says (the suite's autouse fixture validates every response).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from feldera_events.testing import FakeAPIError, FakeFeldera, Timings
from feldera_events.testing._operations import Engine
from tests.testing.engine_support import ManualScheduler, make_engine

NAMES = st.sampled_from(["a", "b", "c"])
#: Listed status fields that every event carries too.
EVENT_FIELDS = (
    "deployment_resources_status",
    "deployment_resources_desired_status",
    "deployment_runtime_status",
    "deployment_runtime_desired_status",
    "deployment_runtime_status_details",
    "deployment_error",
    "program_status",
    "storage_status",
    "storage_status_details",
)
#: Each stamp and its field: it moves exactly when the field's value changes.
SINCE = {
    "program_status": "program_status_since",
    "deployment_resources_status": "deployment_resources_status_since",
    "deployment_resources_desired_status": "deployment_resources_desired_status_since",
    "deployment_runtime_status": "deployment_runtime_status_since",
    "deployment_runtime_desired_status": "deployment_runtime_desired_status_since",
}
#: What a fleet poller compares between two lists to decide a pipeline changed.
DETECTOR = (
    *EVENT_FIELDS,
    *SINCE.values(),
    "deployment_status",
    "deployment_status_since",
    "deployment_desired_status",
    "deployment_desired_status_since",
    "refresh_version",
)
PROGRAMS = st.sampled_from(
    ["CREATE TABLE t (x INT);", "CREATE TABLE t (y INT);", "invalid-sql", ""]
)


def combined(entry: dict[str, Any]) -> str:
    if entry["deployment_resources_status"] == "Provisioned":
        return entry["deployment_runtime_status"] or "Unavailable"
    return str(entry["deployment_resources_status"])


def later(a: str, b: str | None) -> str:
    # RFC 3339 with microseconds and Z, all in UTC: text order is time order.
    return a if b is None else max(a, b)


class ListedLifecycles(RuleBasedStateMachine):
    """Random lifecycles of a few pipelines; the list checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        timings = Timings(heartbeat=7.0, blip_interval=5.0, blip_duration=0.5)
        self.engine: Engine
        self.clock: ManualScheduler
        self.engine, self.clock = make_engine(
            timings=timings, unavailable_blips=True, heartbeats=True
        )
        #: The previous check: name -> (entry, latest event id).
        self.seen: dict[str, tuple[dict[str, Any], str]] = {}

    def act(self, action: Any, *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(FakeAPIError):  # refused as the manager does: no write
            action(*args, **kwargs)

    # ---------------------------------------------------------------- the steps
    @rule(name=NAMES, compiled=st.booleans(), program=PROGRAMS)
    def create(self, name: str, compiled: bool, program: str) -> None:
        self.act(self.engine.create_pipeline, name, compile=not compiled, program_code=program)

    @rule(
        name=NAMES,
        initial=st.sampled_from(["running", "paused"]),
        policy=st.sampled_from([None, "allow"]),
    )
    def start(self, name: str, initial: str, policy: str | None) -> None:
        self.act(self.engine.start, name, initial, bootstrap_policy=policy)

    @rule(name=NAMES, force=st.booleans())
    def stop(self, name: str, force: bool) -> None:
        self.act(self.engine.stop, name, force=force)

    @rule(name=NAMES, action=st.sampled_from(["pause", "resume", "clear", "dismiss_error"]))
    def simple_action(self, name: str, action: str) -> None:
        self.act(getattr(self.engine, action), name)

    @rule(name=NAMES)
    def approve(self, name: str) -> None:
        self.act(self.engine.approve, name)

    @rule(name=NAMES, program=PROGRAMS)
    def edit_program(self, name: str, program: str) -> None:
        self.act(self.engine.update_pipeline, name, program_code=program)

    @rule(name=NAMES, workers=st.integers(1, 3))
    def edit_runtime_config(self, name: str, workers: int) -> None:
        self.act(self.engine.update_pipeline, name, runtime_config={"workers": workers})

    @rule(name=NAMES, description=st.sampled_from(["", "orders", "fraud"]))
    def edit_metadata(self, name: str, description: str) -> None:
        # Listed, but no event: the manager's client-metadata path.
        self.act(self.engine.update_pipeline, name, description=description, tags=[description])

    @rule(
        name=NAMES,
        kind=st.sampled_from(["worker_panic", "provisioning_timeout", "provision_check"]),
    )
    def fail_next_start(self, name: str, kind: Any) -> None:
        self.act(self.engine.fail_next_start, name, kind)

    @rule(name=NAMES)
    def panic(self, name: str) -> None:
        self.act(self.engine.panic, name)

    @rule(name=NAMES, status=st.sampled_from(["Unavailable", "AwaitingApproval", "Running"]))
    def force_runtime_status(self, name: str, status: str) -> None:
        self.act(self.engine.set_runtime_status, name, status)

    @rule(name=NAMES)
    def heartbeat(self, name: str) -> None:
        self.act(self.engine.heartbeat, name)

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        self.act(self.engine.delete_pipeline, name)  # created again: a new id, a new row

    @rule(seconds=st.sampled_from([0.0, 0.01, 0.05, 0.3, 1.0, 2.5, 8.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ---------------------------------------------------------------- the checks
    @invariant()
    def the_list_agrees_with_the_events(self) -> None:
        listed = json.loads(self.engine.status_list())
        pipelines = list(self.engine.pipelines.values())
        assert [e["name"] for e in listed] == [p.name for p in pipelines]
        for entry, p in zip(listed, pipelines, strict=True):
            # The cached entry is what the row says now (no stale cache).
            assert entry == json.loads(json.dumps(p.info("status"))), p.name
            events = [e.data for e in p.events.items]  # oldest first, none trimmed here
            latest = events[-1]
            for field in EVENT_FIELDS:
                assert entry[field] == latest[field], (p.name, field)
            assert (entry["deployment_error"] is not None) is latest["deployment_has_error"]
            assert entry["deployment_status"] == combined(entry)
            self.check_since(p.name, entry, events)
            self.check_detector(p.name, entry, latest["event_id"])

    def check_since(self, name: str, entry: dict[str, Any], events: list[dict[str, Any]]) -> None:
        for field, since in SINCE.items():
            value = entry[field]
            if value is None:
                assert entry[since] is None, (name, since)
                continue
            # The stamp is the recorded_at of the event that began the current run of
            # this value (the pipeline's first event for a value it was created with).
            first = len(events) - 1
            while first > 0 and events[first - 1][field] == value:
                first -= 1
            assert entry[since] == events[first]["recorded_at"], (name, since, value)
        assert entry["deployment_status_since"] == later(
            entry["deployment_resources_status_since"], entry["deployment_runtime_status_since"]
        )
        assert entry["deployment_desired_status_since"] == later(
            entry["deployment_resources_desired_status_since"],
            entry["deployment_runtime_desired_status_since"],
        )

    def check_detector(self, name: str, entry: dict[str, Any], latest_id: str) -> None:
        before = self.seen.get(name)
        self.seen[name] = (entry, latest_id)
        if before is None or before[0]["id"] != entry["id"]:
            return  # new, or deleted and created again
        old, old_latest = before
        assert entry["refresh_version"] >= old["refresh_version"], name
        changed = [k for k in DETECTOR if entry[k] != old[k]]
        if changed:  # never ahead of the events: a listed change comes with an event
            assert latest_id != old_latest, (name, changed)


TestListedLifecycles = ListedLifecycles.TestCase
TestListedLifecycles.settings = settings(
    max_examples=80,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_refresh_version_and_stamps_of_a_start_as_the_manager_moves_them() -> None:
    """One lifecycle spelled out: desired changes write no ``refresh_version``, the
    runner's status writes one each; the combined desired stamp moves when the runtime
    desired status first appears, though the combined value (Running) stays."""
    engine, clock = make_engine()
    engine.create_pipeline("p")
    t0 = json.loads(engine.status_list())[0]
    clock.advance(1.0)
    engine.start("p")
    start = json.loads(engine.status_list())[0]
    assert start["refresh_version"] == t0["refresh_version"]
    assert start["deployment_desired_status"] == "Running"
    assert start["deployment_desired_status_since"] > t0["deployment_desired_status_since"]
    clock.run()  # InUse + Provisioning, Provisioned, Running
    running = json.loads(engine.status_list())[0]
    assert running["refresh_version"] == t0["refresh_version"] + 3
    assert running["deployment_desired_status"] == "Running"
    assert (
        running["deployment_desired_status_since"]
        == running["deployment_runtime_desired_status_since"]
        > start["deployment_desired_status_since"]
    )


# ------------------------------------------------------------------------- over HTTP
async def test_the_status_list_route_serves_every_pipeline_as_the_spec_says(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    # One pipeline in each kind of state: stopped, compiling, running, paused, failed.
    for name in ("stopped", "running", "paused", "failed"):
        fake.create_pipeline(name)
    # Each stays where it is while the test reads it: compiling (Pending) takes an hour a step.
    fake.create_pipeline("compiling", compile=True, timings=Timings(compile_step=3600))
    fake.start("running")
    fake.start("paused", "paused")
    fake.fail_next_start("failed", "provision_check")
    fake.start("failed")
    await fake.wait_for_status("running", deployment_status="Running")
    await fake.wait_for_status("paused", deployment_status="Paused")
    await fake.wait_for_status("failed", deployment_has_error=True)
    fake.update_pipeline("stopped", description="listed without an event", tags=["x"])
    async with session.get(f"{fake.url}/v0/pipelines?selector=status") as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-cache"
        listed = await r.json()
    assert [e["name"] for e in listed] == fake.pipelines()
    by_name = {e["name"]: e for e in listed}
    assert by_name["stopped"]["description"] == "listed without an event"
    assert by_name["failed"]["deployment_error"]["error_code"] == "RunnerProvisionCheckFailed"
    for name, entry in by_name.items():
        latest = fake.latest_event(name)
        assert latest is not None
        for field in EVENT_FIELDS:
            assert entry[field] == latest[field], (name, field)
        # The pipeline GET with the same selector answers the same entry.
        async with session.get(f"{fake.url}/v0/pipelines/{name}?selector=status") as r:
            assert await r.json() == entry


async def test_a_pipeline_made_over_rest_is_listed_with_its_tags(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    url = f"{fake.url}/v0/pipelines"
    body = {"name": "r", "program_code": "", "tags": ["team-a"], "description": "d"}
    async with session.get(f"{url}?selector=status") as r:
        assert await r.json() == []
    async with session.post(url, json=body) as r:
        assert r.status == 201
    async with session.get(f"{url}?selector=status") as r:
        (entry,) = await r.json()
    assert (entry["tags"], entry["description"]) == (["team-a"], "d")


@pytest.mark.parametrize("selector", ["all", "status_with_connectors"])
async def test_the_other_selectors_list_every_pipeline_too(
    fake: FakeFeldera, session: aiohttp.ClientSession, selector: str
) -> None:
    fake.create_pipeline("a")
    fake.create_pipeline("b")
    async with session.get(f"{fake.url}/v0/pipelines?selector={selector}") as r:
        assert r.headers["Cache-Control"] == "no-cache"
        assert [e["name"] for e in await r.json()] == ["a", "b"]
