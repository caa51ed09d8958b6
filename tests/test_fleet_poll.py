"""Fleet polling: one list of the pipelines per round for every pipeline a client waits on.

The fleet poll alone first (counted request functions, an injected clock: no socket),
then against the simulated manager on loopback, where requests are counted per
operation (``FakeFeldera.request_counts()``) and never timed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from feldera_events import (
    DeploymentFailedError,
    DeploymentStoppedError,
    EventsClient,
    NotFoundError,
    PipelineEvent,
    PipelineNotFoundError,
    Poller,
    PollPolicy,
    ServerError,
    WaitTimeoutError,
    _shared_poll,
)
from feldera_events._convert import structure
from feldera_events._decisions import LATEST
from feldera_events._shared_poll import BREAK_EVEN, FleetSetting, Timebase, subscribe
from feldera_events.testing import FakeFeldera, Fault, Timings
from tests.helpers import VirtualTime

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_ids = iter(range(1, 1 << 30))


def event(status: str = "Stopped", at: float = 0.0) -> PipelineEvent:
    data = {
        "event_id": str(uuid.UUID(int=(next(_ids) << 64) | (7 << 76))),
        "recorded_at": (T0 + dt.timedelta(seconds=at)).isoformat(),
        "deployment_resources_status": status,
        "deployment_resources_desired_status": "Stopped",
        "deployment_has_error": False,
        "program_status": "Success",
        "storage_status": "InUse",
    }
    result: PipelineEvent = structure(data, PipelineEvent)
    return result


def entry(name: str, status: str = "Stopped", since: str = "t0", **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "id": f"id-{name}",
        "refresh_version": 1,
        "deployment_resources_status": status,
        "deployment_resources_status_since": since,
        "deployment_runtime_status_details": None,
        **more,
    }


class Manager:
    """The list and each pipeline's ``latest`` as plain data, every request counted."""

    def __init__(self, *names: str) -> None:
        self.entries = {name: entry(name) for name in names}
        self.latest = {name: event() for name in names}
        self.lists = 0
        self.reads: dict[str, int] = {}
        self.list_error: BaseException | None = None
        self.hold = asyncio.Event()
        self.hold.set()

    async def list_pipelines(self) -> list[dict[str, Any]]:
        self.lists += 1
        await self.hold.wait()
        if self.list_error is not None:
            raise self.list_error
        return list(self.entries.values())

    def perform(self, name: str) -> Callable[[], Awaitable[Any]]:
        async def read() -> Any:
            self.reads[name] = self.reads.get(name, 0) + 1
            if name not in self.entries:
                raise PipelineNotFoundError("unknown", status_code=404)
            return self.latest[name]

        return read

    def change(self, name: str, status: str, since: str) -> PipelineEvent:
        self.entries[name] = entry(name, status, since)
        self.latest[name] = ev = event(status)
        return ev


class Client:
    """A stand-in client: the key of the registry."""


def fleet_polls(
    manager: Manager, names: list[str], *, forced: bool = True, time: Timebase | None = None
) -> tuple[Client, list[_shared_poll.SharedPoll]]:
    client = Client()
    setting = FleetSetting(forced, manager.list_pipelines, 4)
    polls = [
        subscribe(client, (name, LATEST), manager.perform(name), time=time, fleet=setting)
        for name in names
    ]
    return client, polls


async def round_of(polls: list[_shared_poll.SharedPoll], at: float = 0.0) -> list[Any]:
    """One answer for each poll, all asked for at ``at`` (loop time)."""
    when = asyncio.get_running_loop().time() + at
    return await asyncio.wait_for(
        asyncio.gather(*(p.answer(when) for p in polls), return_exceptions=True), 10
    )


def end(client: Client, polls: list[_shared_poll.SharedPoll]) -> None:
    for p in polls:
        p.unsubscribe()
    assert _shared_poll.active(client) == 0


async def test_one_list_per_round_and_a_read_only_for_what_changed() -> None:
    m = Manager("a", "b", "c")
    client, polls = fleet_polls(m, ["a", "b", "c"])
    assert all(p.shared for p in polls)  # even alone on its pipeline: the fleet makes its rounds
    first = await round_of(polls)
    assert m.lists == 1 and m.reads == {"a": 1, "b": 1, "c": 1}  # seen for the first time
    assert first == [m.latest["a"], m.latest["b"], m.latest["c"]]
    second = await round_of(polls)
    assert m.lists == 2 and m.reads == {"a": 1, "b": 1, "c": 1}  # nothing changed: no read
    assert second == first  # the event each read last, as a read would have answered
    new = m.change("b", "Provisioning", since="t1")
    third = await round_of(polls)
    assert m.lists == 3 and m.reads == {"a": 1, "b": 2, "c": 1}
    assert third == [first[0], new, first[2]]
    # Details moved, the status fields did not: no read.
    m.entries["c"]["deployment_runtime_status_details"] = {"reason": "moved"}
    assert await round_of(polls) == third
    assert m.lists == 4 and m.reads == {"a": 1, "b": 2, "c": 1}
    end(client, polls)


async def test_a_round_of_many_answers_every_wait_a_batch_at_a_time() -> None:
    """More unchanged pipelines than one batch (``_SETTLE_BATCH``): the round answers
    them a batch at a time, letting the loop turn in between; a wait that leaves
    meanwhile only withdraws itself."""
    names = [f"p{i}" for i in range(2 * _shared_poll._SETTLE_BATCH + 20)]
    m = Manager(*names)
    client, polls = fleet_polls(m, names)
    first = await round_of(polls)
    new = m.change("p5", "Provisioning", since="t1")
    now = asyncio.get_running_loop().time()
    waits = [asyncio.ensure_future(p.answer(now)) for p in polls]
    # When a wait of the first batch has its answer, one of the last batch leaves.
    waits[0].add_done_callback(lambda _: waits[-1].cancel())
    answers = await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 10)
    assert waits[-1].cancelled()
    expected = [new if name == "p5" else ev for name, ev in zip(names, first, strict=True)]
    assert answers[:-1] == expected[:-1]
    assert m.lists == 2 and sum(m.reads.values()) == len(names) + 1
    end(client, polls)


async def test_a_pipeline_missing_from_the_list_is_read_and_its_error_goes_to_its_waits() -> None:
    m = Manager("a", "b")
    client, polls = fleet_polls(m, ["a", "b"])
    await round_of(polls)
    del m.entries["b"]  # deleted
    answers = await round_of(polls)
    assert answers[0] == m.latest["a"]
    assert isinstance(answers[1], PipelineNotFoundError)
    assert m.reads == {"a": 1, "b": 2}
    end(client, polls)


async def test_a_failed_list_reads_every_pipeline_of_that_round_and_lists_again() -> None:
    m = Manager("a", "b")
    client, polls = fleet_polls(m, ["a", "b"])
    await round_of(polls)
    m.list_error = ServerError("busy", status_code=503)
    assert await round_of(polls) == [m.latest["a"], m.latest["b"]]
    assert m.reads == {"a": 2, "b": 2}
    m.list_error = None
    await round_of(polls)
    assert m.lists == 3 and m.reads == {"a": 2, "b": 2}  # still listing
    end(client, polls)


@pytest.mark.parametrize(
    "refusal",
    [
        NotFoundError("no such route", status_code=404),
        NotFoundError("forbidden", status_code=403),
        NotFoundError("method", status_code=405),
        _shared_poll.ResponseValidationError("not a list of pipelines"),
    ],
    ids=["404", "403", "405", "shape"],
)
async def test_a_refused_list_switches_the_client_to_its_own_polls_logged_once(
    refusal: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    m = Manager("a", "b", "c")
    m.list_error = refusal
    client, polls = fleet_polls(m, ["a", "b"], forced=False)
    caplog.set_level(logging.INFO, logger="feldera_events")
    assert await round_of(polls) == [m.latest["a"], m.latest["b"]]
    assert m.lists == 1 and m.reads == {"a": 1, "b": 1}
    for _ in range(3):
        await round_of(polls)
    # A third pipeline joins: no list again, for this client.
    more = subscribe(
        client, ("c", LATEST), m.perform("c"), fleet=FleetSetting(False, m.list_pipelines, 4)
    )
    await round_of([*polls, more])
    assert m.lists == 1 and m.reads == {"a": 5, "b": 5, "c": 1}
    said = [r for r in caplog.records if "fleet polling off" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO, said
    assert "polling each pipeline instead" in said[0].getMessage()
    end(client, [*polls, more])


async def test_auto_stops_listing_a_list_too_long_for_the_waits_and_forced_does_not() -> None:
    names = [f"p{i}" for i in range(BREAK_EVEN + 1)]  # listed: more than (2 - 1) * BREAK_EVEN
    for forced, lists in ((False, 1), (True, 4)):
        m = Manager(*names)
        client, polls = fleet_polls(m, names[:2], forced=forced)
        for _ in range(4):
            await round_of(polls)
        assert m.lists == lists, forced
        assert m.reads == ({"p0": 4, "p1": 4} if not forced else {"p0": 1, "p1": 1})
        end(client, polls)
    # Within the break-even: auto lists.
    m = Manager(*names[:BREAK_EVEN])
    client, polls = fleet_polls(m, names[:2], forced=False)
    for _ in range(4):
        await round_of(polls)
    assert m.lists == 4 and m.reads == {"p0": 1, "p1": 1}
    end(client, polls)


async def test_one_pipeline_is_never_listed() -> None:
    m = Manager("a", "b")
    client, polls = fleet_polls(m, ["a"])
    assert not polls[0].shared  # alone: the driver polls it itself
    end(client, polls)
    assert m.lists == 0


async def test_an_event_read_alone_that_is_newer_is_what_an_unchanged_pipeline_answers() -> None:
    """A one-off read of ``latest`` (``since="now"``) may see an event the list cannot
    show (a heartbeat changes no listed field): the fleet answers with that one, never
    with the older event it read itself (the since point would not hide it)."""
    m = Manager("a", "b")
    client, polls = fleet_polls(m, ["a", "b"])
    await round_of(polls)
    heartbeat = m.latest["a"] = event(at=600)  # a new event, the same entry
    polls[0].saw(heartbeat)
    polls[0].saw(event(at=-1))  # an older one changes nothing
    assert await round_of(polls) == [heartbeat, m.latest["b"]]
    assert m.reads == {"a": 1, "b": 1}
    end(client, polls)


async def test_a_waiter_asking_while_the_list_is_in_flight_gets_the_next_round() -> None:
    m = Manager("a", "b")
    client, polls = fleet_polls(m, ["a", "b"])
    await round_of(polls)
    m.hold.clear()
    now = asyncio.get_running_loop().time()
    first = asyncio.ensure_future(polls[0].answer(now))
    await _until(lambda: m.lists == 2)
    late = asyncio.ensure_future(polls[1].answer(now))
    new = m.change("b", "Provisioning", since="t1")  # after the list in flight was read
    m.hold.set()
    assert await asyncio.wait_for(first, 10) == m.latest["a"]
    assert await asyncio.wait_for(late, 10) == new  # from the next list, which shows it
    assert m.lists == 3
    end(client, polls)


async def test_every_waiter_leaving_cancels_the_list_and_leaves_nothing() -> None:
    m = Manager("a", "b")
    client, polls = fleet_polls(m, ["a", "b"])
    m.hold.clear()
    now = asyncio.get_running_loop().time()
    waits = [asyncio.ensure_future(p.answer(now)) for p in polls]
    await _until(lambda: m.lists == 1)
    waits[0].cancel()
    await asyncio.sleep(0)
    assert not waits[1].done()  # the list goes on for the other one
    waits[1].cancel()
    await asyncio.gather(*waits, return_exceptions=True)
    (fleet,) = _shared_poll.fleet_of(client)
    await _until(lambda: fleet._round is None)
    assert m.reads == {}
    end(client, polls)
    m.hold.set()


async def test_rounds_follow_an_injected_clock() -> None:
    """With an injected clock and sleep, a fleet round is made when the clock reaches the
    earliest time asked for: one list per round, none in between."""
    vt = VirtualTime()
    m = Manager("a", "b")
    client, polls = fleet_polls(m, ["a", "b"], time=Timebase(vt.clock, vt.sleep))
    answers = await asyncio.wait_for(
        asyncio.gather(polls[0].answer(vt.now + 5), polls[1].answer(vt.now + 9)), 10
    )
    assert answers == [m.latest["a"], m.latest["b"]]
    assert vt.now == 1005.0 and m.lists == 1
    end(client, polls)


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(100_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("never")


def test_fleet_takes_true_false_or_auto() -> None:
    client = EventsClient("http://localhost:1")
    assert Poller(client).fleet == "auto"
    assert Poller(client, fleet=False).fleet is False
    assert "fleet=True" in repr(Poller(client, fleet=True))
    for bad in (None, "on", 1, "AUTO"):
        with pytest.raises(ValueError, match=r"fleet must be True .*False .*'auto'.*got"):
            Poller(client, fleet=bad)  # type: ignore[arg-type]


# -- against the simulated manager ----------------------------------------------------

#: One poll a second, no jitter: with an injected clock, every wait's rounds fall on whole
#: seconds, with fleet polling or without.
EVERY_SECOND = PollPolicy(initial=1, maximum=1, jitter=0)


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
    }


@pytest.mark.parametrize("fleet", [True, False], ids=["fleet", "own-polls"])
async def test_n_pipelines_waited_k_changed_cost_one_list_and_k_reads_per_round(
    fleet: bool,
) -> None:
    vt = VirtualTime()
    names = [f"p{i}" for i in range(6)]
    async with FakeFeldera(speed=100) as fake, EventsClient(fake.url) as client:
        for name in names:
            fake.create_pipeline(name)
        counts: dict[str, dict[str, int]] = {}

        async def start_two() -> None:  # between the rounds at 2 s and 3 s
            counts["before"] = fake.request_counts()
            for name in names[:2]:
                fake.start(name)
            for name in names[:2]:
                await fake.wait_for_status(name, deployment_status="Running", timeout=30)

        async def after() -> None:  # between the rounds at 6 s and 7 s
            counts["after"] = fake.request_counts()

        vt.at(2.5, start_two)
        vt.at(6.5, after)
        poller = Poller(client, poll=EVERY_SECOND, clock=vt.clock, sleep=vt.sleep, fleet=fleet)
        results = await poller.wait_many(names, timeout=8.5)
        assert [r.outcome.value for r in results.values()] == ["succeeded"] * 2 + ["timed_out"] * 4
        assert all(r.elapsed == 3 for r in list(results.values())[:2])
        assert all(r.elapsed == 8.5 for r in list(results.values())[2:])
        # Rounds at 3, 4, 5 and 6 s: 6 pipelines waited, then 4; 2 changed at 3 s.
        if fleet:
            assert delta(counts["after"], counts["before"]) == {
                "list_pipelines": 4,
                "get_pipeline_event": 2,
            }
        else:
            assert delta(counts["after"], counts["before"]) == {"get_pipeline_event": 6 + 4 + 4 + 4}
        assert _shared_poll.active(client) == 0


#: A scenario: its pipelines made, it calls ``begin()`` (with fleet polling, a wait on
#: another pipeline starts then, through the same poller: two pipelines are listed), then
#: schedules what happens when (``vt.at``, seconds after ``begin``) and waits.
Scenario = Callable[
    [FakeFeldera, Poller, VirtualTime, list[str], Callable[[], None]], Awaitable[Any]
]


def _statuses(seen: list[str]) -> Callable[[PipelineEvent], None]:
    def on_event(ev: PipelineEvent) -> None:
        seen.append(f"{ev.deployment_resources_status.value}/{ev.combined_status.value}")

    return on_event


def _runs(fake: FakeFeldera, name: str = "p") -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        fake.start(name)
        await fake.wait_for_status(name, deployment_status="Running", timeout=30)

    return start


async def _provisioned(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    fake.create_pipeline("p")
    begin()
    vt.at(6.5, _runs(fake))
    ev = await poller.wait_until_provisioned("p", timeout=30, on_event=_statuses(seen))
    return (ev.combined_status.value, vt.now - vt.start)


async def _timeout(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    fake.create_pipeline("p")
    begin()
    with pytest.raises(WaitTimeoutError) as info:
        await poller.wait_until_running("p", timeout=12, on_event=_statuses(seen))
    err = info.value
    return (str(err), err.elapsed, err.polls, err.last_event is not None, vt.now - vt.start)


async def _failed(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    fake.create_pipeline("p")
    fake.fail_next_start("p", "provision_check", message="no room")

    async def start() -> None:
        fake.start("p")
        await fake.wait_for(lambda: fake.status("p")["deployment_error"] is not None, timeout=30)
        await fake.wait_for_status("p", deployment_resources_status="Stopped", timeout=30)

    begin()
    vt.at(2.5, start)
    with pytest.raises(DeploymentFailedError) as info:
        await poller.wait_until_provisioned("p", timeout=30, on_event=_statuses(seen))
    return (info.value.error_code, "no room" in str(info.value), vt.now - vt.start)


async def _stopped(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    fake.create_pipeline("p", timings=dataclasses.replace(Timings(), provisioning=10**6))

    async def start() -> None:
        fake.start("p")
        await fake.wait_for_status("p", deployment_resources_status="Provisioning", timeout=30)

    async def stop() -> None:
        fake.stop("p")
        await fake.wait_for_status("p", deployment_resources_status="Stopped", timeout=30)

    begin()
    vt.at(1.5, start)
    vt.at(3.5, stop)
    with pytest.raises(DeploymentStoppedError) as info:
        await poller.wait_until_provisioned("p", timeout=30, on_event=_statuses(seen))
    return (type(info.value).__name__, vt.now - vt.start)


async def _since_now(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    fake.create_pipeline("p")
    await _runs(fake)()
    before = await poller.client.get_event("p")

    async def restart() -> None:
        fake.stop("p")
        await fake.wait_for_status("p", deployment_resources_status="Stopped", timeout=30)
        await _runs(fake)()

    begin()
    vt.at(3.5, restart)
    ev = await poller.wait_until_running("p", timeout=30, since="now", on_event=_statuses(seen))
    return (ev.event_id != before.event_id, ev.combined_status.value, vt.now - vt.start)


async def _unknown(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    begin()
    with pytest.raises(PipelineNotFoundError) as info:
        await poller.wait_until_provisioned("nope", timeout=30)
    return (info.value.error_code, vt.now - vt.start)


async def _created_later(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    async def create() -> None:
        fake.create_pipeline("p")
        await _runs(fake)()

    begin()
    vt.at(2.5, create)
    ev = await poller.wait_until_provisioned(
        "p", timeout=30, wait_for_pipeline=True, on_event=_statuses(seen)
    )
    return (ev.combined_status.value, vt.now - vt.start)


async def _transient(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    fake.create_pipeline("p")
    fake.inject(Fault.status(503, error_code="LockTookTooLong"), pipeline="p", times=2)
    begin()
    vt.at(4.5, _runs(fake))
    ev = await poller.wait_until_provisioned("p", timeout=30, on_event=_statuses(seen))
    return (ev.combined_status.value, vt.now - vt.start)


async def _watch(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    fake.create_pipeline("p")
    begin()
    vt.at(2.5, _runs(fake))
    async with poller.watch("p", timeout=30) as events:
        async for ev in events:
            _statuses(seen)(ev)
            if ev.combined_status.value == "Running":
                break
    return vt.now - vt.start


async def _cancelled(
    fake: FakeFeldera, poller: Poller, vt: VirtualTime, seen: list[str], begin: Callable[[], None]
) -> Any:
    fake.create_pipeline("p")
    begin()
    task = asyncio.ensure_future(poller.wait_until_provisioned("p", timeout=None))

    async def cancel() -> None:
        task.cancel()

    vt.at(3.5, cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    return (task.cancelled(), vt.now - vt.start)


SCENARIOS: dict[str, Scenario] = {
    "provisioned": _provisioned,
    "timeout": _timeout,
    "failed": _failed,
    "stopped-by-someone": _stopped,
    "since-now": _since_now,
    "unknown-pipeline": _unknown,
    "wait-for-pipeline": _created_later,
    "transient-errors": _transient,
    "watch": _watch,
    "cancelled": _cancelled,
}


async def _run(scenario: Scenario, fleet: bool) -> tuple[Any, list[str], list[str], int]:
    """The scenario's result, its on_event statuses and log lines, and how many lists the
    manager served."""
    vt = VirtualTime()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    lib = logging.getLogger("feldera_events")
    saved = lib.level
    lib.setLevel(logging.INFO)
    lib.addHandler(handler)
    try:
        async with FakeFeldera(speed=100) as fake, EventsClient(fake.url) as client:
            poller = Poller(client, poll=EVERY_SECOND, clock=vt.clock, sleep=vt.sleep, fleet=fleet)
            bystander: list[asyncio.Future[Any]] = []

            def begin() -> None:
                vt.start = vt.now
                if fleet:
                    fake.create_pipeline("q")
                    wait = poller.wait_for("q", lambda ev: False, timeout=None)
                    bystander.append(asyncio.ensure_future(wait))

            seen: list[str] = []
            result = await asyncio.wait_for(scenario(fake, poller, vt, seen, begin), 60)
            for task in bystander:
                task.cancel()
            await asyncio.gather(*bystander, return_exceptions=True)
            assert _shared_poll.active(client) == 0
            lists = fake.request_counts().get("list_pipelines", 0)
    finally:
        lib.removeHandler(handler)
        lib.setLevel(saved)
    lines = [
        re.sub(r"127\.0\.0\.1:\d+", "HOST", r.getMessage())
        for r in records
        if "'q'" not in r.getMessage()
    ]
    return result, seen, lines, lists


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_wait_ends_as_it_would_without_fleet_polling(name: str) -> None:
    """The same scenario (an injected clock: times and poll counts are exact) with fleet
    polling and without: the same result, events seen, timing, errors and log lines."""
    own = await _run(SCENARIOS[name], fleet=False)
    fleet = await _run(SCENARIOS[name], fleet=True)
    assert own[3] == 0
    assert fleet[3] > 0  # the fleet's list made the rounds
    assert fleet[:3] == own[:3]


@pytest.mark.parametrize("status", [404, 403, 405])
async def test_a_manager_refusing_the_list_is_polled_pipeline_by_pipeline(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime()
    caplog.set_level(logging.INFO, logger="feldera_events")
    async with FakeFeldera(speed=100) as fake, EventsClient(fake.url) as client:
        for name in ("a", "b", "c"):
            fake.create_pipeline(name)
        fake.inject(Fault.status(status), operations=["list_pipelines"])
        vt.at(3.5, _runs(fake, "b"))
        poller = Poller(client, poll=EVERY_SECOND, clock=vt.clock, sleep=vt.sleep, fleet=True)
        results = await poller.wait_many(["a", "b", "c"], timeout=5.5)
        assert [r.outcome.value for r in results.values()] == [
            "timed_out",
            "succeeded",
            "timed_out",
        ]
        assert results["b"].elapsed == 4
        counts = fake.request_counts()
        assert counts["list_pipelines"] == 1
        # Every round from then on reads each pipeline: at 0 (a: alone, then b and c after
        # the refused list), 1 to 5 s and 5.25 s.
        assert counts["get_pipeline_event"] == 3 + 3 * 4 + 2 + 2
    said = [r for r in caplog.records if "fleet polling off" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING  # fleet=True: asked for
    assert f"HTTP {status}" in said[0].getMessage()


def test_the_break_even_said_is_the_one_used() -> None:
    from feldera_events.cli._parser import build_parser

    assert f"``{BREAK_EVEN} * (W - 1)``" in (Poller.__doc__ or "")
    wait = build_parser()._subparsers._group_actions[0].choices["wait"]  # type: ignore[union-attr]
    fleet = next(a for a in wait._actions if a.dest == "fleet")
    assert f"at most {BREAK_EVEN} entries per pipeline" in (fleet.help or "")


@pytest.mark.parametrize(
    "body",
    [
        {"pipelines": []},
        [{"name": 1}],
        # Names only: nothing in it could ever show a change.
        [{"name": "a", "id": "id-a"}, {"name": "b", "id": "id-b"}],
        # A status field left out (the spec requires it in every entry).
        [
            {"name": n, "deployment_resources_status": "Stopped", "deployment_status": "Stopped"}
            for n in ("a", "b")
        ],
    ],
    ids=["object", "name-not-a-string", "names-only", "no-since"],
)
async def test_a_list_of_another_shape_is_a_refusal(
    body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A manager whose list cannot tell a change (another shape, entries without the
    status fields): the client polls each pipeline from then on, logged once."""
    from aiohttp import web

    from tests.helpers import event_json, loopback

    async def manager(request: web.Request) -> web.StreamResponse:
        if request.path == "/v0/pipelines":
            return web.json_response(body)
        return web.json_response(event_json())

    async def paths(fleet: bool) -> list[str]:
        vt = VirtualTime()
        async with loopback(manager) as server, EventsClient(server.url) as client:
            poller = Poller(client, poll=EVERY_SECOND, clock=vt.clock, sleep=vt.sleep, fleet=fleet)
            results = await poller.wait_many(["a", "b"], timeout=3.5)
            assert [r.outcome.value for r in results.values()] == ["timed_out"] * 2
            assert _shared_poll.active(client) == 0
            return [seen.path for seen in server.seen]

    own = await paths(fleet=False)
    caplog.set_level(logging.INFO, logger="feldera_events")
    fleet = await paths(fleet=True)
    assert fleet.count("/v0/pipelines") == 1
    # From then on, every pipeline is polled as often as without fleet polling.
    for name in ("a", "b"):
        read = f"/v0/pipelines/{name}/events/latest"
        assert fleet.count(read) == own.count(read) > 2, (fleet, own)
    said = [r for r in caplog.records if "fleet polling off" in r.getMessage()]
    assert len(said) == 1, said
    assert "ResponseValidationError" in said[0].getMessage()
