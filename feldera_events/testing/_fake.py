"""Owns ``FakeFeldera``, the public facade: server lifecycle, control methods, waits.

A thin layer: the lifecycle engine (``_operations``/``_background``), the cluster monitor
(``_monitor``), the traffic layer (``_traffic``) and the HTTP application (``_http``)
do the work; this module wires them to an asyncio loop and a TCP site.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from feldera_events.testing._background import CompileError, StartFailure
from feldera_events.testing._faults import Fault, FaultHandle
from feldera_events.testing._http import build_app
from feldera_events.testing._loop import ChangeSignal, LoopScheduler, Waits
from feldera_events.testing._model import (
    Clock,
    RequestRecord,
    Timings,
    UUIDv7Factory,
)
from feldera_events.testing._monitor import ClusterMonitor, MonitorStatus
from feldera_events.testing._operations import Engine
from feldera_events.testing._traffic import ResponseObserver, Traffic

__all__ = ["FakeFeldera"]


class FakeFeldera(Waits):
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
    official SDK, it passes those of ``test_pipeline_lifecycle.py``,
    ``test_cluster_events.py``, ``test_cluster_health.py`` and ``test_api_keys.py`` that
    need neither the SQL engine nor the enterprise edition, and records the 34 events of ``test_pipeline_events.py`` exactly
    (our ``tests/testing/test_official_sdk.py``).  README "Fidelity" lists, per upstream
    test file, what runs and what does not, and what still differs, with its source:
    fixed ``Timings`` instead of the runner's polls; a simulated compiler that checks only
    the shape of each statement (``_compiler``); no pipeline process (ingress is counted
    and dropped, ``/stats`` is zeros, a panic on input only when scripted with
    ``fail_next_input``); API keys without roles; the routes an events client, the SDK's
    lifecycle calls and those tests use, and no others (plain 404).
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
        ``compile=True`` runs the simulated compiler's steps on ``program_code``, one
        event each (README "Fidelity": the empty program and ordinary DDL compile,
        ``invalid-sql`` ends in ``SqlError``); ``compile_error="sql"|"rust"|"system"``
        makes them fail whatever the text.  ``record_events=False`` makes a pipeline that predates
        event recording: no events until its first status change.
        ``start_failures`` scripts how the next starts fail (``fail_next_start``).
        A name or description the manager refuses raises its ``FakeAPIError`` (400
        ``EmptyName``, ``TooLongName``: over 63 bytes, ``NameDoesNotMatchPattern``:
        letters, digits, ``-`` and ``_``, neither first nor last; ``TooLongDescription``).
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
        tags: list[str] | None = None,
    ) -> None:
        """Edit a pipeline, as ``PATCH`` does: ``None`` leaves a field as it is.  The
        description and tags change at any time, without an event; any other change needs
        a stopped pipeline, writes one event, and a new program recompiles
        (``compile_error`` fails that compilation whatever the text)."""
        self._engine.update_pipeline(
            name,
            program_code=program_code,
            description=description,
            runtime_config=runtime_config,
            compile_error=compile_error,
            tags=tags,
        )

    def start(
        self,
        name: str,
        initial: Literal["running", "paused", "standby"] | str = "running",
        *,
        bootstrap_policy: Literal["allow", "reject", "await_approval"] | None = None,
        dismiss_error: bool = True,
    ) -> None:
        """``POST /start``: desired Provisioned (one event, also when already started),
        then the runner provisions.  Refused as the manager refuses it: a different
        ``initial`` or ``bootstrap_policy`` than the start in force, ``initial="standby"``
        without file storage that syncs, storage being cleared, a failed compilation.
        ``bootstrap_policy`` defaults to the manager's ``await_approval``: a program
        changed since the pipeline last ran on its storage then stops at runtime
        ``AwaitingApproval`` until :meth:`approve` (``"allow"`` bootstraps at once)."""
        self._engine.start(
            name, initial, bootstrap_policy=bootstrap_policy, dismiss_error=dismiss_error
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
        """``POST /clear``: storage InUse -> Clearing -> Cleared (only while fully stopped:
        not while a start waits, ``StorageStatusImmutableUnlessStopped``)."""
        self._engine.clear(name)

    def dismiss_error(self, name: str) -> None:
        """``POST /dismiss_error``: clears ``deployment_error``, one event (also without an
        error, as the manager); refused while an error is set and not fully stopped."""
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

    def fail_next_compile(self, name: str, kind: CompileError = "sql") -> None:
        """The next compilation of pipeline ``name`` to start ends in ``SqlError``
        (``"sql"``), ``RustError`` or ``SystemError``, whatever its program.  The pipeline
        need not exist yet: a ``POST``/``PUT`` creating it starts that compilation; for an
        existing one, an edit of its program does."""
        self._engine.fail_next_compile(name, kind)

    def fail_next_input(self, name: str, message: str | None = None) -> None:
        """The next input pushed to pipeline ``name`` (``POST .../ingress/{table}``, as
        upstream's panicking ``ELEMENT(ARRAY [2, 3])`` view gets) is accepted, then a
        worker panics: ``RuntimeError.WorkerPanic`` with ``message``, as ``panic()``.
        The pipeline need not exist yet; called N times, the next N inputs each panic it
        (one per run: a panic stops the pipeline)."""
        self._engine.fail_next_input(name, message)

    def panic(self, name: str, message: str | None = None) -> None:
        """Make a Provisioned pipeline fail now with ``RuntimeError.WorkerPanic``: two events
        with one ``recorded_at`` (desired Stopped, then Stopping with the error)."""
        self._engine.panic(name, message)

    def set_runtime_status(
        self, name: str, runtime_status: str, details: dict[str, Any] | None = None
    ) -> None:
        """Force a runtime status on a Provisioned pipeline (e.g. ``AwaitingApproval``,
        ``Bootstrapping``, ``Unavailable``) with ``details`` (default: what a pipeline
        reports, never ``null``); one event.  The engine does not move it on."""
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

    def request_counts(self) -> dict[str, int]:
        """Requests answered (or aborted) per operation since the server started or the
        last :meth:`reset_request_counts`, e.g. ``{"get_pipeline_event": 120,
        "list_pipelines": 2}``: a new dict, keys in name order, only operations that were
        requested.

        Keys are the OpenAPI operationIds (the names ``inject(operations=...)`` takes),
        ``"healthz"`` for ``GET /healthz`` (not in the spec), and ``"unrouted"`` for a
        request that matched no route (a plain 404) or was dropped before routing (held
        by ``stop_answering`` when the server closed).  A request counts under its
        operation whatever its answer: an error, a 401, an injected fault.  The counts
        do not depend on ``request_log_limit``; their sum grows as ``requests_served``.
        """
        return self._traffic.request_counts()

    def reset_request_counts(self) -> None:
        """Start :meth:`request_counts` from zero (``requests_served`` and the request log
        are left as they are)."""
        self._traffic.reset_request_counts()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._traffic.clear_requests()
