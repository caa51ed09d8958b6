"""Owns ``FakeFeldera``, the public facade: server lifecycle, settings, control methods,
waits, and ``run_fake_server``.

A thin layer: the engine (``_operations``), the cluster monitor and the HTTP application
do the work; this module ties them to an asyncio loop and a TCP site.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Concatenate, Generic, Literal, ParamSpec, Self, TypeVar, overload

from aiohttp import web

from feldera_events.testing._http import FakeApp, ResponseObserver
from feldera_events.testing._model import RequestRecord, Timings, UUIDv7Factory
from feldera_events.testing._monitor import ClusterMonitor
from feldera_events.testing._operations import Engine

__all__ = ["Delegate", "FakeFeldera", "Setting", "run_fake_server"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
S = TypeVar("S")


class Delegate(Generic[P, R]):
    """A method of the facade that is a method of one of its parts, defined once:
    ``start = Delegate("_engine", Engine.start)`` makes ``fake.start`` the bound
    ``fake._engine.start``, with its signature and docstring (docs/griffe_roles.py
    documents it as the part's method)."""

    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self.part = part
        self.method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, fake: None, owner: type) -> Callable[Concatenate[Any, P], R]: ...
    @overload
    def __get__(self, fake: object, owner: type) -> Callable[P, R]: ...
    def __get__(self, fake: object, owner: type) -> Callable[..., R]:
        if fake is None:
            return self.method  # as a method of the class: help(), inspect.signature
        bound: Callable[P, R] = getattr(getattr(fake, self.part), self.method.__name__)
        return bound


class Setting(Generic[T, S]):
    """A setting of the facade kept by one of its parts: ``timings = Setting("_engine",
    "timings", doc)`` reads and writes ``fake._engine.timings``; ``convert`` turns what is
    assigned (``S``) into what is kept (``T``)."""

    def __init__(
        self, part: str, name: str, doc: str, convert: Callable[[S], T] | None = None
    ) -> None:
        self.part = part
        self.name = name
        self.convert = convert
        self.__doc__ = doc

    @overload
    def __get__(self, fake: None, owner: type) -> Self: ...
    @overload
    def __get__(self, fake: object, owner: type) -> T: ...
    def __get__(self, fake: object, owner: type) -> T | Self:
        if fake is None:
            return self
        value: T = getattr(getattr(fake, self.part), self.name)
        return value

    def __set__(self, fake: object, value: S) -> None:
        kept = value if self.convert is None else self.convert(value)
        setattr(getattr(fake, self.part), self.name, kept)


def _frozen(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


class FakeFeldera:
    """A simulated Feldera pipeline manager on loopback.

    Use it as ``async with FakeFeldera(speed=100) as fake:`` (or ``await
    fake.start_server()`` ... ``await fake.close()``); ``fake.url`` is its base URL.
    Control methods are synchronous and must be called from the event loop the
    server runs on; they apply the same rules and raise the same ``FakeAPIError``
    as the REST endpoints.

    :param speed: every simulated duration is divided by it (``Timings``).
    :param api_keys: accepted API keys (``Authorization: Bearer <key>``); ``None``
        disables auth, as an OSS manager without an auth provider.
    :param tenants: accepted ``Feldera-Tenant`` values; ``None`` disables the check.
    :param retention: events kept per pipeline by the cleaner (real default 720).
    :param cleanup_interval: seconds between cleaner runs (real seconds, not scaled).
    :param seed: seeds ids' random bits and fault probabilities.
    :param provisioning_timeout: seconds at ``speed=1`` (scaled) before a pipeline
        stuck in Provisioning fails; used by ``fail_next_start("provisioning_timeout")``.
    :param unavailable_blips: while provisioned, the runtime reports ``Unavailable``
        briefly every ``Timings.blip_interval``.
    :param heartbeats: while provisioned, write a duplicate event every ``Timings.heartbeat``.
    :param cluster_events: serve the cluster monitor routes (``False`` acts like a
        manager older than v0.292: plain 404).
    :param cluster_retention: cluster events kept (real: 1000).

    **Fidelity.**  Upstream's own platform tests are its judge: driven through the
    official SDK, it passes those of the lifecycle, cluster events, cluster health and
    API key tests that need neither the SQL engine nor the enterprise edition, and records
    the 34 events of ``test_pipeline_events.py`` exactly.  README "Fidelity" lists what
    runs and what still differs: fixed ``Timings``; a compiler that checks only the shape
    of each statement; no pipeline process (ingress is counted and dropped, ``/stats`` is
    zeros); API keys without roles; only the routes a client and those tests use.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        api_keys: Iterable[str] | None = None,
        tenants: Iterable[str] | None = None,
        retention: int = 720,
        cleanup_interval: float = 30.0,
        seed: int = 0,
        provisioning_timeout: float = 20.0,
        timings: Timings | None = None,
        unavailable_blips: bool = False,
        heartbeats: bool = False,
        cluster_events: bool = True,
        cluster_retention: int = 1000,
        version: str = "0.337.0",
        request_log_limit: int = 100_000,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.host = host
        self.port = port
        self.speed = speed
        self.retention = retention
        self.cleanup_interval = cleanup_interval
        self.cluster_events_enabled = cluster_events
        self.cluster_retention = cluster_retention
        self.version = version
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed = asyncio.Event()
        self._last_now = dt.datetime.fromtimestamp(0, dt.UTC)
        ids = UUIDv7Factory(random.Random(seed))
        self._engine = Engine(
            call_later=self._call_later,
            now=self._now,
            ids=ids,
            on_change=self._notify,
            speed=speed,
            timings=timings,
            provisioning_timeout=provisioning_timeout,
            version=version,
            unavailable_blips=unavailable_blips,
            heartbeats=heartbeats,
        )
        self._monitor = ClusterMonitor(
            call_later=self._call_later, now=self._now, ids=ids, on_change=self._notify
        )
        self._app = FakeApp(
            self._engine,
            self._monitor,
            api_keys=api_keys,
            tenants=tenants,
            seed=seed,
            request_log_limit=request_log_limit,
            on_change=self._notify,
            cluster_events=cluster_events,
            version=version,
        )
        self._runner: web.AppRunner | None = None
        self._cleaner: asyncio.Task[None] | None = None
        self._url: str | None = None

    # ================================================================== ties to asyncio
    def _call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """The engine's timers, on the loop the fake first ran on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop.call_later(delay, callback)

    def _now(self) -> dt.datetime:
        """Wall-clock timestamps that never go backwards (``recorded_at`` ordering)."""
        self._last_now = max(self._last_now, dt.datetime.now(dt.UTC))
        return self._last_now

    def _notify(self) -> None:
        """Wakes every waiter once per state change (a fresh event per change)."""
        self._changed.set()
        self._changed = asyncio.Event()

    # ================================================================== settings
    timings = Setting[Timings, Timings](
        "_engine", "timings", "Default phase durations of new pipelines."
    )
    provisioning_timeout = Setting[float, float](
        "_engine",
        "provisioning_timeout",
        "Default provisioning timeout of new pipelines (seconds at ``speed=1``).",
    )
    unavailable_blips = Setting[bool, bool](
        "_engine", "unavailable_blips", "Whether provisioned pipelines blip ``Unavailable``."
    )
    heartbeats = Setting[bool, bool](
        "_engine", "heartbeats", "Whether provisioned pipelines write heartbeat events."
    )
    api_keys = Setting[frozenset[str] | None, Iterable[str] | None](
        "_app", "api_keys", "Accepted API keys (``None``: no auth).", _frozen
    )
    tenants = Setting[frozenset[str] | None, Iterable[str] | None](
        "_app", "tenants", "Accepted ``Feldera-Tenant`` values (``None``: no check).", _frozen
    )
    response_observer = Setting[ResponseObserver | None, ResponseObserver | None](
        "_app",
        "response_observer",
        "Test hook: called as ``observer(operation_id, status, content_type, body)`` for "
        "every complete response (not for resets); used to validate against the spec.",
    )

    # ================================================================== server lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (only after the server started)."""
        if self._url is None:
            raise RuntimeError("FakeFeldera is not started")
        return self._url

    async def start_server(self) -> None:
        """Bind and serve; writes the first cluster event and starts the cleaner."""
        if self._runner is not None:
            raise RuntimeError("FakeFeldera already started")
        self._loop = asyncio.get_running_loop()
        app = web.Application(handler_args={"max_field_size": 65536})
        app.router.add_route("*", "/{tail:.*}", self._app.dispatch)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        for address in runner.addresses:
            self.port = address[1]
            break
        self._url = f"http://{self.host}:{self.port}"
        self._cleaner = asyncio.create_task(self._cleaner_loop())
        self._monitor.begin(max(0.0, self.timings.cluster_startup / self.speed))

    async def close(self) -> None:
        """Stop serving, abort hanging requests, cancel timers and the cleaner."""
        self._app.close()
        if self._cleaner is not None:
            self._cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaner
            self._cleaner = None
        for p in self._engine.pipelines.values():
            self._engine.cancel(p, *p.timers)
        self._monitor.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._url = None

    async def __aenter__(self) -> Self:
        await self.start_server()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ================================================================== pipelines
    create_pipeline = Delegate("_engine", Engine.create_pipeline)
    update_pipeline = Delegate("_engine", Engine.update_pipeline)
    start = Delegate("_engine", Engine.start)
    approve = Delegate("_engine", Engine.approve)
    stop = Delegate("_engine", Engine.stop)
    pause = Delegate("_engine", Engine.pause)
    resume = Delegate("_engine", Engine.resume)
    clear = Delegate("_engine", Engine.clear)
    dismiss_error = Delegate("_engine", Engine.dismiss_error)
    delete_pipeline = Delegate("_engine", Engine.delete_pipeline)

    # ---------------------------------------------------------------- failures
    fail_next_start = Delegate("_engine", Engine.fail_next_start)
    fail_next_compile = Delegate("_engine", Engine.fail_next_compile)
    fail_next_input = Delegate("_engine", Engine.fail_next_input)
    panic = Delegate("_engine", Engine.panic)
    set_runtime_status = Delegate("_engine", Engine.set_runtime_status)
    heartbeat = Delegate("_engine", Engine.heartbeat)

    # ================================================================== waits
    async def wait_for(
        self, predicate: Callable[[], T | None], *, timeout: float = 5.0, what: str = "condition"
    ) -> T:
        """Wait until ``predicate()`` returns something truthy (re-checked after every
        state change); return it.  Raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            changed = self._changed
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_status(
        self, name: str, *, timeout: float = 5.0, **fields: Any
    ) -> dict[str, Any]:
        """Wait until every given field of ``status(name)`` equals its value, e.g.
        ``await fake.wait_for_status("p", deployment_resources_status="Provisioned")``."""

        def check() -> dict[str, Any] | None:
            p = self._engine.pipelines.get(name)
            view = None if p is None else p.status_view()
            return view if view and all(view.get(k) == v for k, v in fields.items()) else None

        p = self._engine.pipelines.get(name)
        now = "missing" if p is None else str(p.status_view())
        return await self.wait_for(
            check, timeout=timeout, what=f"{name} to reach {fields}; now {now}"
        )

    async def wait_for_event(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = 5.0,
        **fields: Any,
    ) -> dict[str, Any]:
        """Wait until a retained event (``selector=all``) matches ``predicate`` and/or the
        given fields; return the newest such event."""

        def check() -> dict[str, Any] | None:
            p = self._engine.pipelines.get(name)
            if p is None:
                return None
            for event in reversed(p.events.items):
                data = event.data
                if all(data.get(k) == v for k, v in fields.items()) and (
                    predicate is None or predicate(data)
                ):
                    return dict(data)
            return None

        return await self.wait_for(
            check, timeout=timeout, what=f"an event of {name} matching {fields or predicate}"
        )

    async def wait_for_requests(
        self, count: int, *, timeout: float = 5.0, **fields: Any
    ) -> list[RequestRecord]:
        """Wait until at least ``count`` logged requests match the given record fields."""

        def check() -> tuple[list[RequestRecord]] | None:
            hits = [r for r in self._app.log if all(getattr(r, k) == v for k, v in fields.items())]
            return (hits,) if len(hits) >= count else None

        what = f"{count} requests matching {fields}"
        return (await self.wait_for(check, timeout=timeout, what=what))[0]

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered (e.g. held by ``stop_answering``)."""
        return self._app.in_flight

    # ---------------------------------------------------------------- inspection
    def pipelines(self) -> list[str]:
        """Names of the existing pipelines."""
        return list(self._engine.pipelines)

    def events(self, name: str) -> list[dict[str, Any]]:
        """Retained events, newest first, as wire JSON with ``selector=all``."""
        return self._engine.get(name).events.newest_first()

    def latest_event(self, name: str) -> dict[str, Any] | None:
        """The newest event (``selector=all``) or ``None``."""
        event = self._engine.get(name).events.latest()
        return None if event is None else dict(event.data)

    def status(self, name: str) -> dict[str, Any]:
        """Current status fields (event field names, plus ``deployment_status``,
        ``deployment_desired_status``, ``deployment_initial``, ``deployment_id``)."""
        return self._engine.get(name).status_view()

    def run_cleanup(self) -> int:
        """Run the retention cleaner now; returns how many events it deleted."""
        removed = sum(p.events.trim(self.retention) for p in self._engine.pipelines.values())
        removed += self._monitor.events.trim(max(1, self.cluster_retention))
        if removed:
            self._notify()
        return removed

    async def _cleaner_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cleanup_interval)
            self.run_cleanup()

    # ================================================================== cluster
    set_cluster_health = Delegate("_monitor", ClusterMonitor.set_health)

    def degrade_cluster(
        self, service: Literal["api", "compiler", "runner"] = "runner", message: str | None = None
    ) -> None:
        """Mark one service Unhealthy (one cluster event)."""
        self.set_cluster_health(
            **{service: "Unhealthy"},  # type: ignore[arg-type]
            message=message or f"{service} is unreachable (simulated)",
        )

    def recover_cluster(self) -> None:
        """Mark every service Healthy (one cluster event if something changed)."""
        self.set_cluster_health(api="Healthy", compiler="Healthy", runner="Healthy")

    def cluster_events(self) -> list[dict[str, Any]]:
        """Retained cluster events, newest first (``selector=all`` fields)."""
        return self._monitor.events.newest_first()

    cluster_health = Delegate("_monitor", ClusterMonitor.health_body)

    # ================================================================== faults and log
    inject = Delegate("_app", FakeApp.inject)
    clear_faults = Delegate("_app", FakeApp.clear_faults)
    stop_answering = Delegate("_app", FakeApp.stop_answering)
    resume_answering = Delegate("_app", FakeApp.resume_answering)

    @property
    def requests(self) -> list[RequestRecord]:
        """The request log, oldest first (bounded by ``request_log_limit``)."""
        return list(self._app.log)

    @property
    def requests_served(self) -> int:
        """How many requests were answered (or aborted) so far, beyond the log's limit."""
        return self._app.served

    request_counts = Delegate("_app", FakeApp.request_counts)
    reset_request_counts = Delegate("_app", FakeApp.reset_request_counts)
    clear_requests = Delegate("_app", FakeApp.clear_requests)


async def _serve(
    host: str,
    port: int,
    api_keys: Sequence[str] | None,
    pipelines: int,
    speed: float,
) -> None:
    async with FakeFeldera(host=host, port=port, api_keys=api_keys, speed=speed) as fake:
        for i in range(1, pipelines + 1):
            fake.create_pipeline(f"pipeline-{i}")
        print(f"FakeFeldera listening on {fake.url} (speed={speed:g})", flush=True)
        await asyncio.Event().wait()  # until cancelled (Ctrl-C)


def run_fake_server(
    host: str = "127.0.0.1",
    port: int = 8080,
    api_keys: Sequence[str] | None = None,
    pipelines: int = 0,
    speed: float = 1.0,
) -> None:
    """Serve a FakeFeldera until Ctrl-C (blocking).  ``pipelines`` compiled, stopped
    pipelines named ``pipeline-1``... are created up front.  Returns normally on SIGINT."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(host, port, list(api_keys) if api_keys else None, pipelines, speed))
