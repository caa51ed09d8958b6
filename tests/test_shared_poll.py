"""Coalescing: concurrent waits on one pipeline through one client share one poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from feldera_events import (
    AuthenticationError,
    EventsClient,
    PipelineEvent,
    Poller,
    PollPolicy,
    WaitTimeoutError,
    _shared_poll,
)
from feldera_events.testing import FakeFeldera
from tests.helpers import VirtualTime

INTERVAL = 0.2
POLICY = PollPolicy(initial=INTERVAL, maximum=INTERVAL, jitter=0.2)


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=50) as server:
        server.create_pipeline("p")
        yield server


def _latest_polls(fake: FakeFeldera) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/events/latest"))


def _our_tasks() -> set[asyncio.Task[object]]:
    """Tasks running the library's code (the fake server's own tasks share the loop)."""
    ours = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        path = code.co_filename if code is not None else ""
        if (
            task is not asyncio.current_task()
            and "feldera_events" in path
            and "testing" not in path
        ):
            ours.add(task)
    return ours


def _no_other_task() -> bool:
    return not _our_tasks()


async def test_100_waiters_cost_about_one_request_per_interval(fake: FakeFeldera) -> None:
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=POLICY)
        timeouts = [1.0 + (i % 3) * 0.5 for i in range(100)]  # 1.0, 1.5 and 2.0 s
        loop = asyncio.get_running_loop()
        start = loop.time()
        results = await asyncio.gather(
            *(poller.wait_until_provisioned("p", timeout=t) for t in timeouts),
            return_exceptions=True,
        )
        elapsed = loop.time() - start
        assert all(isinstance(r, WaitTimeoutError) for r in results), results
        # Each waiter kept its own deadline.
        for r, t in zip(results, timeouts, strict=True):
            assert isinstance(r, WaitTimeoutError)
            assert r.timeout == t
            assert r.elapsed >= t - 0.05
        # About one poll per interval (2 s / 0.16-0.2 s, a few direct first polls);
        # 100 waiters polling alone would have made about 800.
        polls = _latest_polls(fake)
        intervals = elapsed / INTERVAL
        assert polls <= 2 * intervals + 10, (polls, elapsed)
        assert _shared_poll.active(client) == 0
        assert _no_other_task()


async def test_one_error_goes_to_every_waiter() -> None:
    async with FakeFeldera(speed=50, api_keys=["apikey:right"]) as fake:
        fake.create_pipeline("p")
        async with EventsClient(fake.url, api_key="apikey:wrong") as client:
            poller = Poller(client, poll=POLICY)
            results = await asyncio.gather(
                *(poller.wait_until_provisioned("p", timeout=10) for _ in range(20)),
                return_exceptions=True,
            )
            assert all(isinstance(r, AuthenticationError) for r in results), results
            # Each request's error went to every waiter of its round, and nobody asked
            # again: as many distinct errors as requests, fewer requests than waiters
            # (typically 2: the first waiter's own poll, then one round for the other
            # 19; how the waiters fall into rounds is the event loop's business).
            errors = {id(r) for r in results}
            assert len(errors) == len(fake.requests) < len(results), (errors, fake.requests)
            assert _no_other_task()


async def test_each_waiter_keeps_its_own_since(fake: FakeFeldera) -> None:
    fake.start("p")
    await fake.wait_for_status("p", deployment_resources_status="Provisioned", timeout=30)
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=POLICY)
        before = await client.get_event("p")
        # Already provisioned: waits without `since` succeed at once, waits with
        # since="now" (on the same shared poll) need a new deployment.
        now_waits = [
            asyncio.ensure_future(poller.wait_until_provisioned("p", timeout=60, since="now"))
            for _ in range(10)
        ]
        plain = await asyncio.gather(
            *(poller.wait_until_provisioned("p", timeout=60) for _ in range(10))
        )
        assert all(ev.is_provisioned for ev in plain)
        await fake.wait_for_requests(30, timeout=30)  # the since waits keep polling
        assert not any(t.done() for t in now_waits)
        fake.stop("p")
        await fake.wait_for_status("p", deployment_resources_status="Stopped", timeout=30)
        fake.start("p")
        after = await asyncio.gather(*now_waits)
        assert all(ev.event_id != before.event_id and ev.is_provisioned for ev in after)
        assert _shared_poll.active(client) == 0
        assert _no_other_task()


async def test_cancelling_one_waiter_leaves_the_shared_poll_to_the_others(
    fake: FakeFeldera,
) -> None:
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=POLICY)
        waits = [
            asyncio.ensure_future(poller.wait_until_provisioned("p", timeout=60)) for _ in range(10)
        ]
        await fake.wait_for_requests(3, timeout=30)
        waits[0].cancel()
        await asyncio.gather(waits[0], return_exceptions=True)
        assert waits[0].cancelled()
        # The shared poll goes on for the nine others...
        polled = _latest_polls(fake)
        await fake.wait_for(lambda: _latest_polls(fake) >= polled + 3, timeout=30)
        assert not any(t.done() for t in waits[1:])
        # ...and they still see the pipeline come up.
        fake.start("p")
        results = await asyncio.gather(*waits[1:])
        assert all(ev.is_provisioned for ev in results)
        assert _shared_poll.active(client) == 0
        assert _no_other_task()


async def test_cancelling_every_waiter_stops_the_shared_poll(fake: FakeFeldera) -> None:
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=POLICY)
        waits = [
            asyncio.ensure_future(poller.wait_until_provisioned("p", timeout=60)) for _ in range(10)
        ]
        await fake.wait_for_requests(3, timeout=30)
        for t in waits:
            t.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        assert all(t.cancelled() for t in waits)
        assert _shared_poll.active(client) == 0
        assert _no_other_task()


async def test_watches_share_a_poll_and_each_sees_every_event(fake: FakeFeldera) -> None:
    async with EventsClient(fake.url) as client:
        poller = Poller(client, poll=POLICY)

        async def watch() -> list[str]:
            seen: list[str] = []
            async with poller.watch("p") as events:
                async for ev in events:
                    seen.append(ev.deployment_resources_status.value)
                    if ev.is_provisioned:
                        return seen
            return seen  # pragma: no cover

        watches = [asyncio.ensure_future(watch()) for _ in range(5)]
        await fake.wait_for_requests(3, timeout=30)
        fake.start("p")
        results = await asyncio.wait_for(asyncio.gather(*watches), 60)
        for seen in results:
            assert seen[0] == "Stopped"
            assert seen[-1] == "Provisioned"
        assert _shared_poll.active(client) == 0
        assert _no_other_task()


# -- the shared poll alone (no socket: a counted request function) --------------------


class _Requests:
    """A request function that counts its calls and can be held until released."""

    def __init__(self, hold: bool = False) -> None:
        self.calls = 0
        self.cancelled = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def __call__(self) -> int:
        self.calls += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self.calls


async def _until(predicate: Callable[[], bool], what: str) -> None:
    """Let the loop turn until ``predicate()`` (a few turns; 100,000 is generous)."""
    for _ in range(100_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never: {what}")


def _subscribed(client: object, perform: Callable[[], Any], n: int) -> _shared_poll.SharedPoll:
    polls = {_shared_poll.subscribe(client, "k", perform) for _ in range(n)}
    assert len(polls) == 1  # one shared poll per (client, key)
    return polls.pop()


async def test_a_round_is_made_at_the_earliest_time_asked_for() -> None:
    client = object.__new__(type("C", (), {}))
    requests = _Requests()
    polls = [_shared_poll.subscribe(client, "k", requests) for _ in range(3)]
    shared = polls[0]
    assert all(p is shared for p in polls)
    now = asyncio.get_running_loop().time()
    answers = await asyncio.wait_for(
        asyncio.gather(shared.answer(now + 0.01), shared.answer(now + 60), shared.answer(now + 90)),
        10,
    )
    assert answers == [1, 1, 1]
    assert requests.calls == 1
    for p in polls:
        p.unsubscribe()
    assert _shared_poll.active(client) == 0


async def test_a_waiter_leaving_between_rounds_does_not_stop_the_next_round() -> None:
    client = object.__new__(type("C", (), {}))
    requests = _Requests()
    shared = _subscribed(client, requests, 3)
    at = asyncio.get_running_loop().time() + 0.2
    tasks = [asyncio.ensure_future(shared.answer(at)) for _ in range(3)]
    await _until(lambda: len(shared._waiting) == 3, "three waiting")
    tasks[0].cancel()
    assert await asyncio.wait_for(asyncio.gather(*tasks[1:]), 10) == [1, 1]
    assert requests.calls == 1
    assert tasks[0].cancelled()


async def test_a_waiter_leaving_a_round_in_flight_does_not_cancel_it() -> None:
    client = object.__new__(type("C", (), {}))
    requests = _Requests(hold=True)
    shared = _subscribed(client, requests, 3)
    at = asyncio.get_running_loop().time()
    tasks = [asyncio.ensure_future(shared.answer(at)) for _ in range(3)]
    await asyncio.wait_for(requests.started.wait(), 10)
    tasks[0].cancel()
    await asyncio.gather(tasks[0], return_exceptions=True)
    requests.release.set()
    assert await asyncio.wait_for(asyncio.gather(*tasks[1:]), 10) == [1, 1]
    assert requests.cancelled == 0


async def test_the_last_waiter_leaving_cancels_the_request_and_forgets_the_poll() -> None:
    client = object.__new__(type("C", (), {}))
    requests = _Requests(hold=True)
    polls = [_shared_poll.subscribe(client, "k", requests) for _ in range(2)]
    shared = polls[0]
    at = asyncio.get_running_loop().time()
    tasks = [asyncio.ensure_future(shared.answer(at)) for _ in range(2)]
    await asyncio.wait_for(requests.started.wait(), 10)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await _until(lambda: requests.cancelled == 1, "the request cancelled")
    for p in polls:
        p.unsubscribe()
    assert _shared_poll.active(client) == 0
    assert _no_other_task()


async def test_a_waiter_asking_during_a_round_gets_the_next_one() -> None:
    client = object.__new__(type("C", (), {}))
    requests = _Requests(hold=True)
    shared = _subscribed(client, requests, 2)
    at = asyncio.get_running_loop().time()
    first = asyncio.ensure_future(shared.answer(at))
    await asyncio.wait_for(requests.started.wait(), 10)
    second = asyncio.ensure_future(shared.answer(at))
    await _until(lambda: len(shared._waiting) == 1, "the second waiting")
    requests.release.set()
    assert await asyncio.wait_for(first, 10) == 1
    assert await asyncio.wait_for(second, 10) == 2  # a request started after it asked


async def test_an_error_goes_to_every_member_of_the_round() -> None:
    client = object.__new__(type("C", (), {}))

    async def boom() -> None:
        raise RuntimeError("boom")

    shared = _subscribed(client, boom, 3)
    at = asyncio.get_running_loop().time()
    results = await asyncio.wait_for(
        asyncio.gather(*(shared.answer(at) for _ in range(3)), return_exceptions=True), 10
    )
    assert all(isinstance(r, RuntimeError) for r in results)


# -- the shared poll with an injected clock and sleep -----------------------------------


async def test_waiters_on_one_pipeline_share_rounds_timed_by_an_injected_clock(
    fake: FakeFeldera, caplog: pytest.LogCaptureFixture
) -> None:
    """An injected clock and sleep run the shared poll too (as the event loop's do): exact
    rounds, one request each, every waiter's own deadline, poll count and progress lines."""
    vt = VirtualTime()
    caplog.set_level("INFO", logger="feldera_events")
    async with EventsClient(fake.url) as client:
        poller = Poller(
            client, poll=PollPolicy(initial=1, maximum=1, jitter=0), clock=vt.clock, sleep=vt.sleep
        )

        async def start() -> None:
            fake.start("p")
            await fake.wait_for_status("p", deployment_resources_status="Provisioned", timeout=30)

        vt.at(7.5, start)
        waits = [
            poller.wait_until_provisioned("p", timeout=6),
            poller.wait_until_provisioned("p", timeout=6),
            poller.wait_until_provisioned("p", timeout=30),
        ]
        results = await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 30)
        for err in results[:2]:
            assert isinstance(err, WaitTimeoutError)
            assert (err.elapsed, err.polls) == (6.0, 7)  # 0, 1, ... 5 s, and 5.5 s
        assert isinstance(results[2], PipelineEvent) and results[2].is_provisioned
        # The third waiter, answered early at 5.5 s, polls again at 6.5 and 7.5 s (started
        # at 7.5 s: provisioned by its round).
        assert vt.now - vt.start == 7.5
        # Rounds at 0, 1, ..., 5, 5.5, 6.5 and 7.5 s: one request each, and the first
        # waiter's first poll, its own (made before the others joined).
        assert _latest_polls(fake) == 10
        progress = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
        assert len(progress) == 3 and all("after 5s (6 polls" in line for line in progress)
        assert _shared_poll.active(client) == 0
        assert _no_other_task()
