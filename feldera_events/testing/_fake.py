"""Owns ``FakeFeldera``, the public facade: server lifecycle, control methods, waits.

A thin layer: the lifecycle engine (``_engine``/``_automaton``), the cluster monitor
(``_monitor``), the traffic layer (``_traffic``) and the HTTP application (``_http``)
do the work; this module wires them to an asyncio loop and a TCP site.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from feldera_events.testing._automaton import CompileError, StartFailure
from feldera_events.testing._engine import Engine
from feldera_events.testing._faults import Fault, FaultHandle
from feldera_events.testing._http import build_app
from feldera_events.testing._model import (
    Clock,
    RequestRecord,
    Timings,
    UUIDv7Factory,
)
from feldera_events.testing._monitor import ClusterMonitor, MonitorStatus
from feldera_events.testing._traffic import ResponseObserver, Traffic
from feldera_events.testing._waiting import ChangeSignal, LoopScheduler, wait_until

__all__ = ["FakeFeldera"]


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

    **Fidelity.**  Driven by the official SDK through the steps of upstream's
    ``test_pipeline_events.py``, it records upstream's 34 events exactly (our
    ``tests/testing/test_official_sdk.py``).  What still differs from a real manager,
    with its upstream source or why it is inferred (README "Fidelity" says the same):

    - Timing: each step takes a fixed ``Timings`` duration, not the runner's 2.5 s / 1 s
      polls; no details-only events (10 s rule), no 20 s ``Initializing`` grace; duplicate
      heartbeats and ``Unavailable`` blips only when switched on (source:
      ``runner/pipeline_automata.rs``).
    - ``/stop?force=false`` always records the half-state (runtime Running, desired
      Suspended); a real runner records it only if a probe falls inside the checkpoint
      (inferred).  Pause and resume never record one; a real runner would if a probe
      landed mid-change (inferred: upstream's events test asserts none).
    - Compilation is scripted: ``SqlError`` for text without ``CREATE`` or with the
      ``-- fake: sql_error`` marker, ``RustError`` for ``-- fake: rust_error``, else
      success; ``program_error`` bodies are fixed samples.  The message and details of
      ``CannotStartWithCompilationError`` are ours (code and status: upstream's test).
    - No pipeline process: a worker panic comes from ``panic()`` or ``fail_next_start``,
      not from input; ``bootstrap_policy`` is validated, never acted on (no
      ``AwaitingApproval`` unless ``set_runtime_status`` says so); status details are
      ``null`` or a bare ``{"reason": ...}`` (no checkpoints, no connector stats).
    - A provision-check failure writes no storage ``InUse`` event first (inferred).
    - Auth is API keys only (no JWT, no roles: no 403 unless injected); tenants are a
      flat allow-list answering 404 ``UnknownTenant`` (inferred, untested upstream).
    - Only the routes an events client or the SDK's lifecycle calls exist (no stats,
      logs, ingress, approve...: plain 404); renaming through ``PATCH`` answers 501.
      Error messages other than the events endpoints' are close, not verbatim.
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
        self._signal = ChangeSignal()
        self._scheduler = LoopScheduler()
        clock = Clock()
        ids = UUIDv7Factory(random.Random(seed))
        self._engine = Engine(
            scheduler=self._scheduler,
            now=clock.now,
            ids=ids,
            on_change=self._signal.notify,
            speed=speed,
            timings=timings,
            provisioning_timeout=provisioning_timeout,
            version=version,
            unavailable_blips=unavailable_blips,
            heartbeats=heartbeats,
        )
        self._monitor = ClusterMonitor(
            scheduler=self._scheduler, now=clock.now, ids=ids, on_change=self._signal.notify
        )
        self._traffic = Traffic(
            api_keys=api_keys,
            tenants=tenants,
            seed=seed,
            request_log_limit=request_log_limit,
            on_change=self._signal.notify,
        )
        self._runner: web.AppRunner | None = None
        self._cleaner: asyncio.Task[None] | None = None
        self._url: str | None = None

    # ================================================================== settings
    @property
    def timings(self) -> Timings:
        """Default phase durations of new pipelines."""
        return self._engine.timings

    @timings.setter
    def timings(self, value: Timings) -> None:
        self._engine.timings = value

    @property
    def provisioning_timeout(self) -> float:
        """Default provisioning timeout of new pipelines (seconds at ``speed=1``)."""
        return self._engine.provisioning_timeout

    @provisioning_timeout.setter
    def provisioning_timeout(self, value: float) -> None:
        self._engine.provisioning_timeout = value

    @property
    def unavailable_blips(self) -> bool:
        return self._engine.automaton.unavailable_blips

    @unavailable_blips.setter
    def unavailable_blips(self, value: bool) -> None:
        self._engine.automaton.unavailable_blips = value

    @property
    def heartbeats(self) -> bool:
        return self._engine.automaton.heartbeats

    @heartbeats.setter
    def heartbeats(self, value: bool) -> None:
        self._engine.automaton.heartbeats = value

    @property
    def api_keys(self) -> frozenset[str] | None:
        """Accepted API keys (``None``: no auth)."""
        return self._traffic.api_keys

    @api_keys.setter
    def api_keys(self, value: Iterable[str] | None) -> None:
        self._traffic.api_keys = None if value is None else frozenset(value)

    @property
    def tenants(self) -> frozenset[str] | None:
        """Accepted ``Feldera-Tenant`` values (``None``: no check)."""
        return self._traffic.tenants

    @tenants.setter
    def tenants(self, value: Iterable[str] | None) -> None:
        self._traffic.tenants = None if value is None else frozenset(value)

    @property
    def response_observer(self) -> ResponseObserver | None:
        """Test hook: called as ``observer(operation_id, status, content_type, body)`` for
        every complete response (not for resets); used to validate against the spec."""
        return self._traffic.response_observer

    @response_observer.setter
    def response_observer(self, value: ResponseObserver | None) -> None:
        self._traffic.response_observer = value

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
        self._scheduler.loop = asyncio.get_running_loop()
        app = build_app(
            self._engine,
            self._monitor,
            self._traffic,
            cluster_events=self.cluster_events_enabled,
            version=self.version,
        )
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
        self._traffic.close()
        if self._cleaner is not None:
            self._cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaner
            self._cleaner = None
        self._engine.cancel_timers()
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
    def create_pipeline(
        self,
        name: str,
        *,
        program_status: str = "Success",
        compile: bool = False,
        compile_error: CompileError | None = None,
        record_events: bool = True,
        program_code: str = "CREATE TABLE t (x INT);",
        description: str = "",
        runtime_config: dict[str, Any] | None = None,
        timings: Timings | None = None,
        provisioning_timeout: float | None = None,
        start_failures: Iterable[StartFailure] = (),
    ) -> None:
        """Create a pipeline (as ``POST /v0/pipelines``), writing its first event.

        By default the program is already compiled (``program_status="Success"``);
        ``compile=True`` or ``compile_error="sql"|"rust"|"system"`` runs the compiler
        steps, one event each.  ``record_events=False`` makes a pipeline that predates
        event recording: no events until its first status change.
        ``start_failures`` scripts how the next starts fail (``fail_next_start``).
        """
        self._engine.create_pipeline(
            name,
            program_status=program_status,
            compile=compile,
            compile_error=compile_error,
            record_events=record_events,
            program_code=program_code,
            description=description,
            runtime_config=runtime_config,
            timings=timings,
            provisioning_timeout=provisioning_timeout,
            start_failures=start_failures,
        )

    def update_pipeline(
        self,
        name: str,
        *,
        program_code: str | None = None,
        description: str | None = None,
        runtime_config: dict[str, Any] | None = None,
        compile_error: CompileError | None = None,
    ) -> None:
        """Edit a stopped pipeline (as ``PUT``): one event; a new program recompiles."""
        self._engine.update_pipeline(
            name,
            program_code=program_code,
            description=description,
            runtime_config=runtime_config,
            compile_error=compile_error,
        )

    def start(
        self,
        name: str,
        initial: Literal["running", "paused", "standby"] | str = "running",
        *,
        dismiss_error: bool = True,
        bootstrap_policy: Literal["allow", "reject", "await_approval"] | str = "allow",
    ) -> None:
        """``POST /start``: desired Provisioned (one event), then the runner provisions.
        With ``bootstrap_policy="await_approval"`` a program changed since the pipeline last
        ran on its storage stops at runtime ``AwaitingApproval`` until :meth:`approve`."""
        self._engine.start(
            name, initial, dismiss_error=dismiss_error, bootstrap_policy=bootstrap_policy
        )

    def approve(self, name: str) -> None:
        """``POST /approve``: a pipeline at ``AwaitingApproval`` bootstraps, then runs."""
        self._engine.approve(name)

    def stop(self, name: str, force: bool = True) -> None:
        """``POST /stop``: ``force=True`` (this method's default) deprovisions right away;
        ``force=False`` (the REST default) suspends first: runtime Suspended, then Stopping."""
        self._engine.stop(name, force=force)

    def pause(self, name: str) -> None:
        """``POST /pause``: runtime desired Paused (event), then the runtime follows (event)."""
        self._engine.pause(name)

    def resume(self, name: str) -> None:
        """``POST /resume``: runtime desired Running (event), then the runtime follows (event)."""
        self._engine.resume(name)

    def clear(self, name: str) -> None:
        """``POST /clear``: storage InUse -> Clearing -> Cleared (only while stopped)."""
        self._engine.clear(name)

    def dismiss_error(self, name: str) -> None:
        """``POST /dismiss_error``: clears ``deployment_error`` (one event) when fully
        stopped; a no-op without an error."""
        self._engine.dismiss_error(name)

    def delete_pipeline(self, name: str) -> None:
        """``DELETE``: only when fully stopped with storage cleared; drops its events."""
        self._engine.delete_pipeline(name)

    # ---------------------------------------------------------------- failures
    def fail_next_start(
        self, name: str, kind: StartFailure = "worker_panic", *, message: str | None = None
    ) -> None:
        """Script how the pipeline's next start fails.

        - ``"provision_check"``: early start failure; stays Stopped with an error,
          desired set to Stopped.
        - ``"provisioning_timeout"``: Provisioning lasts the provisioning timeout, then
          Stopping with ``PipelineProvisioningTimeout``, then Stopped (error kept).
        - ``"worker_panic"``: Provisioned/Initializing, then ``RuntimeError.WorkerPanic``.
        """
        self._engine.fail_next_start(name, kind, message=message)

    def panic(self, name: str, message: str | None = None) -> None:
        """Make a Provisioned pipeline fail now with ``RuntimeError.WorkerPanic``: two events
        with one ``recorded_at`` (desired Stopped, then Stopping with the error)."""
        self._engine.panic(name, message)

    def set_runtime_status(
        self, name: str, runtime_status: str, details: dict[str, Any] | None = None
    ) -> None:
        """Force a runtime status on a Provisioned pipeline (e.g. ``AwaitingApproval``,
        ``Bootstrapping``, ``Unavailable``); one event.  The engine does not move it on."""
        self._engine.set_runtime_status(name, runtime_status, details)

    def heartbeat(self, name: str) -> None:
        """Write a duplicate event (same status fields), as the runner does every 600 s."""
        self._engine.heartbeat(name)

    # ---------------------------------------------------------------- inspection
    def pipelines(self) -> list[str]:
        """Names of the existing pipelines."""
        return [p.name for p in self._engine.all()]

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
        removed = self._engine.trim_events(self.retention)
        removed += self._monitor.events.trim(max(1, self.cluster_retention))
        if removed:
            self._signal.notify()
        return removed

    async def _cleaner_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cleanup_interval)
            self.run_cleanup()

    # ---------------------------------------------------------------- waiting
    async def wait_for(
        self, predicate: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait until ``predicate()`` returns something truthy (re-checked after every
        state change); return it.  Raises ``TimeoutError``."""
        return await wait_until(self._signal, predicate, timeout=timeout, what=what)

    async def wait_for_status(
        self, name: str, *, timeout: float = 5.0, **fields: Any
    ) -> dict[str, Any]:
        """Wait until every given field of ``status(name)`` equals its value, e.g.
        ``await fake.wait_for_status("p", deployment_resources_status="Provisioned")``."""

        def check() -> dict[str, Any] | None:
            p = self._engine.find(name)
            if p is None:
                return None
            view = p.status_view()
            return view if all(view.get(k) == v for k, v in fields.items()) else None

        result: dict[str, Any] = await self.wait_for(
            check, timeout=timeout, what=f"{name} to reach {fields}; now {self._peek(name)}"
        )
        return result

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
            p = self._engine.find(name)
            if p is None:
                return None
            for event in reversed(p.events.items):
                data = event.data
                if all(data.get(k) == v for k, v in fields.items()) and (
                    predicate is None or predicate(data)
                ):
                    return dict(data)
            return None

        result: dict[str, Any] = await self.wait_for(
            check, timeout=timeout, what=f"an event of {name} matching {fields or predicate}"
        )
        return result

    async def wait_for_requests(
        self, count: int, *, timeout: float = 5.0, **fields: Any
    ) -> list[RequestRecord]:
        """Wait until at least ``count`` logged requests match the given record fields."""

        def check() -> tuple[list[RequestRecord]] | None:
            hits = self._traffic.matching_requests(**fields)
            return (hits,) if len(hits) >= count else None

        result: tuple[list[RequestRecord]] = await self.wait_for(
            check, timeout=timeout, what=f"{count} requests matching {fields}"
        )
        return result[0]

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered (e.g. held by ``stop_answering``)."""
        return self._traffic.in_flight

    def _peek(self, name: str) -> str:
        p = self._engine.find(name)
        return "missing" if p is None else str(p.status_view())

    # ================================================================== cluster
    def set_cluster_health(
        self,
        *,
        api: MonitorStatus | None = None,
        compiler: MonitorStatus | None = None,
        runner: MonitorStatus | None = None,
        message: str | None = None,
    ) -> None:
        """Set service health; writes one cluster event if anything changed."""
        self._monitor.set_health(api=api, compiler=compiler, runner=runner, message=message)

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

    def cluster_health(self) -> dict[str, Any]:
        """The ``HealthStatus`` body ``/v0/cluster_healthz`` would send now."""
        return self._monitor.health_body()

    # ================================================================== faults and log
    def inject(
        self,
        fault: Fault,
        *,
        pipeline: str | None = None,
        operations: Iterable[str] | Literal["*"] | None = None,
        path_contains: str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> FaultHandle:
        """Inject ``fault`` into matching requests.

        :param pipeline: only requests about this pipeline (decoded name).
        :param operations: OpenAPI operationIds; default the two pipeline events
            operations (``list_pipeline_events``, ``get_pipeline_event``); ``"*"`` = all.
        :param path_contains: only requests whose raw path contains this.
        :param times: fire on the next N matching requests, then stop (``None`` = forever).
        :param probability: fire on each matching request with this (seeded) probability.
        Rules are tried in injection order; the first that fires wins.
        """
        return self._traffic.inject(
            fault,
            pipeline=pipeline,
            operations=operations,
            path_contains=path_contains,
            times=times,
            probability=probability,
        )

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._traffic.clear_faults()

    def stop_answering(self) -> None:
        """Keep accepting connections but answer nothing until ``resume_answering``."""
        self._traffic.stop_answering()

    def resume_answering(self) -> None:
        """Answer again (held requests proceed)."""
        self._traffic.resume_answering()

    @property
    def requests(self) -> list[RequestRecord]:
        """The request log, oldest first (bounded by ``request_log_limit``)."""
        return self._traffic.requests

    @property
    def requests_served(self) -> int:
        """How many requests were answered (or aborted) so far, beyond the log's limit."""
        return self._traffic.served

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._traffic.clear_requests()
