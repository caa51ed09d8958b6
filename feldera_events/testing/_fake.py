"""``FakeFeldera``: the simulated pipeline manager (lifecycle engine and control API)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from feldera_events.testing._faults import Fault, FaultHandle, FaultRule, normalize_operations
from feldera_events.testing._model import (
    Clock,
    FakeAPIError,
    RequestRecord,
    Timings,
    UUIDv7Factory,
    format_timestamp,
)
from feldera_events.testing._state import (
    CLUSTER_SERVICES,
    CLUSTER_STATUS_KEYS,
    EVENT_STATUS_KEYS,
    PROGRAM_COMPILING,
    PROGRAM_FAILED,
    SINCE_OF,
    ClusterState,
    Event,
    Pipeline,
)

__all__ = ["FakeFeldera"]

StartFailure = Literal["provisioning_timeout", "worker_panic", "provision_check"]
CompileError = Literal["sql", "rust", "system"]
MonitorStatus = Literal["InitialUnhealthy", "Unhealthy", "Healthy"]

_COMPILE_STEPS = ["CompilingSql", "SqlCompiled", "CompilingRust", "Success"]

#: Write this in ``program_code`` to make a REST-created pipeline fail to compile.
SQL_ERROR_MARKER = "-- fake: sql_error"
RUST_ERROR_MARKER = "-- fake: rust_error"


def unknown_pipeline(name: str) -> FakeAPIError:
    return FakeAPIError(
        404, "UnknownPipelineName", f"Unknown pipeline name '{name}'", {"pipeline_name": name}
    )


def _illegal_action(p: Pipeline, new_desired: str, hint: str) -> FakeAPIError:
    status = p.s["deployment_resources_status"]
    desired = p.s["deployment_resources_desired_status"]
    return FakeAPIError(
        400,
        "IllegalPipelineAction",
        f"Deployment resources status (current: '{status}', desired: '{desired}') cannot have "
        f"desired changed to '{new_desired}'. {hint}",
        {
            "status": status,
            "current_desired_status": desired,
            "new_desired_status": new_desired,
            "hint": hint,
        },
    )


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
        self.api_keys: frozenset[str] | None = None if api_keys is None else frozenset(api_keys)
        self.tenants: frozenset[str] | None = None if tenants is None else frozenset(tenants)
        self.retention = retention
        self.cleanup_interval = cleanup_interval
        self.provisioning_timeout = provisioning_timeout
        self.timings = timings or Timings()
        self.unavailable_blips = unavailable_blips
        self.heartbeats = heartbeats
        self.cluster_events_enabled = cluster_events
        self.cluster_retention = cluster_retention
        self.version = version
        self._rng = random.Random(seed)
        self._fault_rng = random.Random(seed + 1)
        self._ids = UUIDv7Factory(self._rng)
        self._clock = Clock()
        self._pipelines: dict[str, Pipeline] = {}
        self._cluster = ClusterState(self._clock.now())
        self._fault_rules: list[FaultRule] = []
        self._requests: deque[RequestRecord] = deque(maxlen=request_log_limit)
        self._changed = asyncio.Event()
        self._answering = asyncio.Event()
        self._answering.set()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._cleaner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._url: str | None = None
        self._in_flight = 0
        #: Test hook: called as ``observer(operation_id, status, content_type, body)`` for
        #: every complete response (not for resets); used to validate against the spec.
        self.response_observer: Callable[[str | None, int, str, bytes], None] | None = None

    # ================================================================== server lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (only after the server started)."""
        if self._url is None:
            raise RuntimeError("FakeFeldera is not started")
        return self._url

    async def start_server(self) -> None:
        """Bind and serve; writes the first cluster event and starts the cleaner."""
        from feldera_events.testing._http import build_app

        if self._runner is not None:
            raise RuntimeError("FakeFeldera already started")
        self._loop = asyncio.get_running_loop()
        app = build_app(self)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner, self._site = runner, site
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.port
        self._url = f"http://{self.host}:{self.port}"
        self._cleaner = asyncio.create_task(self._cleaner_loop())
        self._cluster_startup()

    async def close(self) -> None:
        """Stop serving, abort hanging requests, cancel timers and the cleaner."""
        self._closing.set()
        self._answering.set()
        if self._cleaner is not None:
            self._cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaner
            self._cleaner = None
        for p in self._pipelines.values():
            p.cancel_timers()
        if self._cluster.startup_timer is not None:
            self._cluster.startup_timer.cancel()
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

    # ================================================================== internals
    def _delay(self, seconds: float) -> float:
        return max(0.0, seconds / self.speed)

    def _later(self, seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        return loop.call_later(self._delay(seconds), callback)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _get(self, name: str) -> Pipeline:
        p = self._pipelines.get(name)
        if p is None:
            raise unknown_pipeline(name)
        return p

    def _update(self, p: Pipeline, ts: dt.datetime, **fields: Any) -> None:
        before = (p.combined_status(), p.combined_desired_status())
        for key, value in fields.items():
            if key in SINCE_OF and p.s[key] != value:
                p.since[SINCE_OF[key]] = ts if value is not None else None
            p.s[key] = value
        if p.combined_status() != before[0]:
            p.since["deployment_status_since"] = ts
        if p.combined_desired_status() != before[1]:
            p.since["deployment_desired_status_since"] = ts

    def _record(self, p: Pipeline, ts: dt.datetime | None = None) -> None:
        """Write one event: a snapshot of the pipeline's status fields."""
        if not p.record_events:
            self._notify()
            return
        ts = ts or self._clock.now()
        data: dict[str, Any] = {
            "event_id": str(self._ids.new(int(ts.timestamp() * 1000))),
            "recorded_at": format_timestamp(ts),
        }
        data.update(p.snapshot())
        p.events.append(Event(data, EVENT_STATUS_KEYS))
        self._notify()

    def _write(self, p: Pipeline, ts: dt.datetime | None = None, **fields: Any) -> None:
        ts = ts or self._clock.now()
        self._update(p, ts, **fields)
        self._record(p, ts)

    def _schedule(self, p: Pipeline, seconds: float, step: Callable[[Pipeline], None]) -> None:
        if p.timer is not None:
            p.timer.cancel()

        def fire() -> None:
            p.timer = None
            if self._pipelines.get(p.name) is p:
                step(p)

        p.timer = self._later(seconds, fire)

    # ---------------------------------------------------------------- compile
    def _begin_compile(self, p: Pipeline, error: CompileError | None) -> None:
        if p.compile_timer is not None:
            p.compile_timer.cancel()
        plan = list(_COMPILE_STEPS)
        if error == "sql":
            plan = ["CompilingSql", "SqlError"]
        elif error == "rust":
            plan = ["CompilingSql", "SqlCompiled", "CompilingRust", "RustError"]
        elif error == "system":
            plan = ["CompilingSql", "SqlCompiled", "CompilingRust", "SystemError"]
        p.compile_plan = plan
        self._schedule_compile(p)

    def _schedule_compile(self, p: Pipeline) -> None:
        def fire() -> None:
            p.compile_timer = None
            if self._pipelines.get(p.name) is p and p.compile_plan:
                self._compile_step(p)

        p.compile_timer = self._later(p.timings.compile_step, fire)

    def _compile_step(self, p: Pipeline) -> None:
        status = p.compile_plan.pop(0)
        if status == "SqlError":
            p.program_error = {
                "sql_compilation": {
                    "exit_code": 1,
                    "messages": [
                        {
                            "start_line_number": 1,
                            "start_column": 1,
                            "end_line_number": 1,
                            "end_column": 6,
                            "warning": False,
                            "error_type": "Error parsing SQL",
                            "message": "Encountered an unexpected token",
                            "snippet": "    1|SELEKT 1\n      ^^^^^^\n",
                        }
                    ],
                },
                "rust_compilation": None,
                "system_error": None,
            }
        elif status == "RustError":
            p.program_error = {
                "sql_compilation": {"exit_code": 0, "messages": []},
                "rust_compilation": {
                    "exit_code": 101,
                    "stdout": "",
                    "stderr": "error[E0308]: mismatched types (simulated)",
                },
                "system_error": None,
            }
        elif status == "SystemError":
            p.program_error = {
                "sql_compilation": {"exit_code": 0, "messages": []},
                "rust_compilation": None,
                "system_error": "Compiler server crashed (simulated)",
            }
        elif status == "Success":
            p.program_error = {
                "sql_compilation": {"exit_code": 0, "messages": []},
                "rust_compilation": {"exit_code": 0, "stdout": "", "stderr": ""},
                "system_error": None,
            }
        self._write(p, program_status=status)
        if p.compile_plan:
            self._schedule_compile(p)
        else:
            self._reconcile(p)

    # ---------------------------------------------------------------- runner automaton
    def _reconcile(self, p: Pipeline) -> None:
        """Decide the pipeline's next automatic step, as the runner would."""
        rs = p.s["deployment_resources_status"]
        desired = p.s["deployment_resources_desired_status"]
        t = p.timings
        if rs == "Stopped":
            if desired != "Provisioned":
                return
            program = p.s["program_status"]
            if program in PROGRAM_COMPILING:
                return  # the runner waits; the last compile step reconciles again
            if program in PROGRAM_FAILED:
                self._schedule(p, t.runner_reaction, self._fail_compilation)
            elif p.start_failures and p.start_failures[0] == "provision_check":
                p.start_failures.popleft()
                self._schedule(p, t.runner_reaction, self._fail_provision_check)
            else:
                self._schedule(p, t.runner_reaction, self._to_provisioning)
        elif rs == "Provisioning":
            if desired == "Stopped":
                self._schedule(p, t.runner_reaction, self._to_stopping)
            elif p.pending_failure == "provisioning_timeout":
                self._schedule(p, p.provisioning_timeout, self._fail_provisioning_timeout)
            else:
                self._schedule(p, t.provisioning, self._to_provisioned)
        elif rs == "Provisioned":
            runtime = p.s["deployment_runtime_status"]
            runtime_desired = p.s["deployment_runtime_desired_status"]
            if desired == "Stopped":
                self._schedule(p, t.runner_reaction, self._to_stopping)
            elif runtime == "Suspended":
                self._schedule(p, t.runner_reaction, self._suspended_to_stopping)
            elif runtime_desired == "Suspended":
                self._schedule(p, t.suspending, self._to_suspended)
            elif runtime == "Initializing":
                if p.pending_failure == "worker_panic":
                    self._schedule(p, t.initializing, lambda q: self._fail_runtime(q, None))
                else:
                    self._schedule(p, t.initializing, self._runtime_follows)
            elif runtime != runtime_desired and runtime != "Unavailable":
                self._schedule(p, t.runtime_change, self._runtime_follows)
            else:
                self._start_realism(p)
        elif rs == "Stopping":
            self._schedule(p, t.stopping, self._to_stopped)

    def _stop_realism(self, p: Pipeline) -> None:
        for attr in ("blip_timer", "heartbeat_timer"):
            handle = getattr(p, attr)
            if handle is not None:
                handle.cancel()
                setattr(p, attr, None)

    def _start_realism(self, p: Pipeline) -> None:
        t = p.timings
        if self.unavailable_blips and p.blip_timer is None:

            def blip() -> None:
                p.blip_timer = None
                if (
                    self._pipelines.get(p.name) is p
                    and p.s["deployment_resources_status"] == "Provisioned"
                    and p.s["deployment_runtime_status"] == p.s["deployment_runtime_desired_status"]
                ):
                    self._write(
                        p,
                        deployment_runtime_status="Unavailable",
                        deployment_runtime_status_details={
                            "reason": "Unable to reach pipeline: status probe timed out"
                        },
                    )
                    self._schedule(p, t.blip_duration, self._runtime_follows)

            p.blip_timer = self._later(t.blip_interval, blip)
        if self.heartbeats and p.heartbeat_timer is None:

            def beat() -> None:
                p.heartbeat_timer = None
                if (
                    self._pipelines.get(p.name) is p
                    and p.s["deployment_resources_status"] == "Provisioned"
                ):
                    self._record(p)
                    self._start_realism(p)

            p.heartbeat_timer = self._later(t.heartbeat, beat)

    def _to_provisioning(self, p: Pipeline) -> None:
        if p.start_failures:
            p.pending_failure = p.start_failures.popleft()
        else:
            p.pending_failure = None
        self._write(
            p,
            deployment_resources_status="Provisioning",
            deployment_resources_status_details=None,
            deployment_error=None,
            deployment_id=str(uuid.uuid4()),
            storage_status="InUse",
        )
        self._reconcile(p)

    def _to_provisioned(self, p: Pipeline) -> None:
        self._write(
            p,
            deployment_resources_status="Provisioned",
            deployment_resources_status_details=None,
            deployment_runtime_status="Initializing",
            deployment_runtime_status_details={"reason": "Pipeline is initializing"},
            deployment_runtime_desired_status=p.s["deployment_initial"] or "Running",
        )
        self._reconcile(p)

    def _runtime_follows(self, p: Pipeline) -> None:
        self._write(
            p,
            deployment_runtime_status=p.s["deployment_runtime_desired_status"],
            deployment_runtime_status_details=None,
        )
        self._reconcile(p)

    def _to_suspended(self, p: Pipeline) -> None:
        self._write(
            p, deployment_runtime_status="Suspended", deployment_runtime_status_details=None
        )
        self._reconcile(p)

    def _system_stop(self, p: Pipeline, error: dict[str, Any] | None) -> None:
        """The runner sets desired Stopped and moves on, in one transaction: two events
        with the same ``recorded_at`` (the first without the error)."""
        self._stop_realism(p)
        ts = self._clock.now()
        self._write(p, ts, deployment_resources_desired_status="Stopped")
        if p.s["deployment_resources_status"] == "Stopped":
            self._write(p, ts, deployment_error=error)
            return
        self._write(
            p,
            ts,
            deployment_resources_status="Stopping",
            deployment_resources_status_details=None,
            deployment_runtime_status=None,
            deployment_runtime_status_details=None,
            deployment_runtime_desired_status=None,
            deployment_error=error,
        )
        self._reconcile(p)

    def _suspended_to_stopping(self, p: Pipeline) -> None:
        self._system_stop(p, None)

    def _to_stopping(self, p: Pipeline) -> None:
        self._stop_realism(p)
        self._write(
            p,
            deployment_resources_status="Stopping",
            deployment_resources_status_details=None,
            deployment_runtime_status=None,
            deployment_runtime_status_details=None,
            deployment_runtime_desired_status=None,
        )
        self._reconcile(p)

    def _to_stopped(self, p: Pipeline) -> None:
        p.pending_failure = None
        self._write(
            p,
            deployment_resources_status="Stopped",
            deployment_resources_status_details=None,
            deployment_id=None,
        )
        self._reconcile(p)

    def _fail_compilation(self, p: Pipeline) -> None:
        program = p.s["program_status"]
        what = {"SqlError": "SQL", "RustError": "Rust", "SystemError": "System"}[program]
        self._system_stop(
            p,
            {
                "message": "Not possible to start the pipeline because the program failed "
                "to compile",
                "error_code": "StartFailedDueToFailedCompilation",
                "details": {
                    "compiler_error": f"{what} error occurred (see `program_error` for more "
                    "information)"
                },
            },
        )

    def _fail_provision_check(self, p: Pipeline) -> None:
        message = p.failure_message.pop(
            "provision_check", "Provision check failed: the requested resources are unavailable"
        )
        self._system_stop(
            p,
            {
                "message": message,
                "error_code": "RunnerProvisionCheckFailed",
                "details": {"pipeline_id": p.id},
            },
        )

    def _fail_provisioning_timeout(self, p: Pipeline) -> None:
        timeout = p.provisioning_timeout
        self._system_stop(
            p,
            {
                "message": f"Pipeline {p.id} provisioning timed out (timeout: {timeout:g}s)",
                "error_code": "PipelineProvisioningTimeout",
                "details": {"pipeline_id": p.id, "timeout": {"secs": int(timeout), "nanos": 0}},
            },
        )

    def _fail_runtime(self, p: Pipeline, message: str | None) -> None:
        p.pending_failure = None
        text = message or p.failure_message.pop(
            "worker_panic", "worker thread 0 panicked at 'simulated panic' (simulated)"
        )
        self._system_stop(
            p,
            {
                "message": f"A fatal error occurred in the pipeline runtime: {text}",
                "error_code": "RuntimeError.WorkerPanic",
                "details": {"panic_info": [{"worker": 0, "message": text}]},
            },
        )

    # ================================================================== control API: pipelines
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
        if name in self._pipelines:
            raise FakeAPIError(409, "DuplicateName", "An entity with this name already exists")
        if not name:
            raise FakeAPIError(400, "EmptyName", "Name cannot be be empty")
        compiling = compile or compile_error is not None
        now = self._clock.now()
        p = Pipeline(
            name,
            now=now,
            timings=timings or self.timings,
            program_code=program_code,
            description=description,
            runtime_config=runtime_config,
            program_status="Pending" if compiling else program_status,
            platform_version=self.version,
        )
        rc_timeout = (runtime_config or {}).get("provisioning_timeout_secs")
        p.provisioning_timeout = (
            provisioning_timeout
            if provisioning_timeout is not None
            else float(rc_timeout)
            if rc_timeout is not None
            else self.provisioning_timeout
        )
        p.record_events = record_events
        p.start_failures.extend(start_failures)
        self._pipelines[name] = p
        self._record(p, now)
        p.record_events = True
        if compiling:
            self._begin_compile(p, compile_error)

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
        p = self._get(name)
        if not self._fully_stopped(p):
            raise FakeAPIError(
                400,
                "UpdateRestrictedToStopped",
                "Pipeline can only be updated while stopped. Stop it first by invoking '/stop'.",
            )
        p.version += 1
        if description is not None:
            p.description = description
        if runtime_config is not None:
            p.runtime_config = runtime_config
        if program_code is not None and program_code != p.program_code:
            p.program_code = program_code
            p.program_version += 1
            self._write(p, program_status="Pending")
            if compile_error is None:
                if SQL_ERROR_MARKER in program_code:
                    compile_error = "sql"
                elif RUST_ERROR_MARKER in program_code:
                    compile_error = "rust"
            self._begin_compile(p, compile_error)
        else:
            self._record(p)

    def start(
        self,
        name: str,
        initial: Literal["running", "paused", "standby"] | str = "running",
        *,
        dismiss_error: bool = True,
    ) -> None:
        """``POST /start``: desired Provisioned (one event), then the runner provisions."""
        p = self._get(name)
        runtime_initial = {"running": "Running", "paused": "Paused", "standby": "Standby"}.get(
            initial
        )
        if runtime_initial is None:
            raise FakeAPIError(
                400,
                "InvalidInitialParameter",
                f"Invalid value for 'initial': '{initial}' (must be 'running', 'paused' or "
                "'standby')",
                {"initial": initial},
            )
        rs = p.s["deployment_resources_status"]
        desired = p.s["deployment_resources_desired_status"]
        if desired == "Provisioned":
            if p.s["deployment_runtime_desired_status"] == "Suspended":
                raise _illegal_action(
                    p,
                    "Provisioned",
                    "Cannot restart the pipeline while it is suspending. Wait for it to stop "
                    "before starting a new instance of the pipeline.",
                )
            return  # already (being) started
        if rs != "Stopped":
            raise _illegal_action(
                p,
                "Provisioned",
                "Cannot restart the pipeline while it is stopping. Wait for it to stop before "
                "starting a new instance of the pipeline.",
            )
        if p.s["storage_status"] == "Clearing":
            raise _illegal_action(
                p,
                "Provisioned",
                "Cannot start the pipeline while its storage is being cleared.",
            )
        changes: dict[str, Any] = {
            "deployment_resources_desired_status": "Provisioned",
            "deployment_initial": runtime_initial,
        }
        if p.s["deployment_error"] is not None:
            if not dismiss_error:
                raise FakeAPIError(
                    400,
                    "CannotStartWithUndismissedError",
                    "Cannot start a pipeline which has a deployment error that has not been "
                    "dismissed. Dismiss it first by invoking '/dismiss_error', or start with "
                    "'?dismiss_error=true'.",
                    {"deployment_error": p.s["deployment_error"]},
                )
            changes["deployment_error"] = None
        self._write(p, **changes)
        self._reconcile(p)

    def stop(self, name: str, force: bool = True) -> None:
        """``POST /stop``: ``force=True`` (this method's default) deprovisions right away;
        ``force=False`` (the REST default) suspends first: runtime Suspended, then Stopping."""
        p = self._get(name)
        rs = p.s["deployment_resources_status"]
        desired = p.s["deployment_resources_desired_status"]
        if desired == "Stopped":
            return  # already stopped or stopping
        if force or rs != "Provisioned":
            self._write(p, deployment_resources_desired_status="Stopped")
            self._reconcile(p)
            return
        if p.s["deployment_runtime_desired_status"] == "Suspended":
            return
        self._write(p, deployment_runtime_desired_status="Suspended")
        self._reconcile(p)

    def _runtime_action(self, name: str, target: str, code: str, verb: str) -> None:
        p = self._get(name)
        if (
            p.s["deployment_resources_status"] != "Provisioned"
            or p.s["deployment_resources_desired_status"] != "Provisioned"
        ):
            raise FakeAPIError(
                400,
                code,
                f"You can only call /{verb} when the pipeline is not Stopped, Provisioning or "
                "Stopping.",
            )
        if p.s["deployment_runtime_desired_status"] == "Suspended":
            raise FakeAPIError(
                400,
                code,
                f"Cannot /{verb} a pipeline that is suspending.",
            )
        if p.s["deployment_runtime_desired_status"] == target:
            return
        self._write(p, deployment_runtime_desired_status=target)
        self._reconcile(p)

    def pause(self, name: str) -> None:
        """``POST /pause``: runtime desired Paused (event), then the runtime follows (event)."""
        self._runtime_action(name, "Paused", "PauseWhileNotProvisioned", "pause")

    def resume(self, name: str) -> None:
        """``POST /resume``: runtime desired Running (event), then the runtime follows (event)."""
        self._runtime_action(name, "Running", "ResumeWhileNotProvisioned", "resume")

    def clear(self, name: str) -> None:
        """``POST /clear``: storage InUse -> Clearing -> Cleared (only while stopped)."""
        p = self._get(name)
        storage = p.s["storage_status"]
        if storage == "Clearing":
            return
        if storage == "Cleared":
            raise FakeAPIError(
                400,
                "InvalidStorageStatusTransition",
                "Cannot transition from storage status 'cleared' to 'clearing'",
                {"current_status": "Cleared", "new_status": "Clearing"},
            )
        rs = p.s["deployment_resources_status"]
        if rs != "Stopped":
            raise FakeAPIError(
                400,
                "StorageStatusImmutableUnlessStopped",
                f"Cannot transition storage status from '{storage}' to 'Clearing' with "
                f"resources status '{rs}'. Storage status cannot be changed unless the "
                "pipeline is stopped.",
                {"resources_status": rs, "current_status": storage, "new_status": "Clearing"},
            )
        self._write(p, storage_status="Clearing", storage_status_details=None)

        def cleared(q: Pipeline) -> None:
            self._write(q, storage_status="Cleared", storage_status_details=None)

        self._schedule(p, p.timings.clearing, cleared)

    def dismiss_error(self, name: str) -> None:
        """``POST /dismiss_error``: clears ``deployment_error`` (one event) when fully
        stopped; a no-op without an error."""
        p = self._get(name)
        if p.s["deployment_error"] is None:
            return
        if not self._fully_stopped(p):
            raise FakeAPIError(
                400,
                "DismissErrorRestrictedToFullyStopped",
                "Cannot dismiss the deployment error of a pipeline which is not fully stopped "
                "(both current and desired status must be Stopped).",
            )
        self._write(p, deployment_error=None)

    def delete_pipeline(self, name: str) -> None:
        """``DELETE``: only when fully stopped with storage cleared; drops its events."""
        p = self._get(name)
        if not self._fully_stopped(p):
            raise FakeAPIError(
                400,
                "DeleteRestrictedToFullyStopped",
                "Cannot delete a pipeline which is not fully stopped. Stop the pipeline first "
                "fully by invoking the '/stop' endpoint.",
            )
        if p.s["storage_status"] != "Cleared":
            raise FakeAPIError(
                400,
                "DeleteRestrictedToClearedStorage",
                "Cannot delete pipeline unless its storage is cleared. Clear storage first "
                "using `/clear`.",
            )
        p.cancel_timers()
        del self._pipelines[name]
        self._notify()

    @staticmethod
    def _fully_stopped(p: Pipeline) -> bool:
        return bool(
            p.s["deployment_resources_status"] == "Stopped"
            and p.s["deployment_resources_desired_status"] == "Stopped"
        )

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
        p = self._get(name)
        p.start_failures.append(kind)
        if message is not None:
            p.failure_message[kind] = message

    def panic(self, name: str, message: str | None = None) -> None:
        """Make a Provisioned pipeline fail now with ``RuntimeError.WorkerPanic``: two events
        with one ``recorded_at`` (desired Stopped, then Stopping with the error)."""
        p = self._get(name)
        if p.s["deployment_resources_status"] != "Provisioned":
            raise FakeAPIError(
                400,
                "IllegalPipelineAction",
                f"Pipeline '{name}' is not Provisioned; only a running pipeline can panic.",
            )
        self._fail_runtime(p, message)

    def set_runtime_status(
        self, name: str, runtime_status: str, details: dict[str, Any] | None = None
    ) -> None:
        """Force a runtime status on a Provisioned pipeline (e.g. ``AwaitingApproval``,
        ``Bootstrapping``, ``Unavailable``); one event.  The engine does not move it on."""
        p = self._get(name)
        if p.s["deployment_resources_status"] != "Provisioned":
            raise FakeAPIError(
                400, "IllegalPipelineAction", f"Pipeline '{name}' is not Provisioned."
            )
        if p.timer is not None:
            p.timer.cancel()
            p.timer = None
        self._write(
            p, deployment_runtime_status=runtime_status, deployment_runtime_status_details=details
        )

    def heartbeat(self, name: str) -> None:
        """Write a duplicate event (same status fields), as the runner does every 600 s."""
        self._record(self._get(name))

    # ---------------------------------------------------------------- inspection
    def pipelines(self) -> list[str]:
        """Names of the existing pipelines."""
        return list(self._pipelines)

    def events(self, name: str) -> list[dict[str, Any]]:
        """Retained events, newest first, as wire JSON with ``selector=all``."""
        return self._get(name).events.newest_first()

    def latest_event(self, name: str) -> dict[str, Any] | None:
        """The newest event (``selector=all``) or ``None``."""
        event = self._get(name).events.latest()
        return None if event is None else dict(event.data)

    def status(self, name: str) -> dict[str, Any]:
        """Current status fields (event field names, plus ``deployment_status``,
        ``deployment_desired_status``, ``deployment_initial``, ``deployment_id``)."""
        return self._get(name).status_view()

    def run_cleanup(self) -> int:
        """Run the retention cleaner now; returns how many events it deleted."""
        removed = 0
        for p in self._pipelines.values():
            removed += p.events.trim(self.retention)
        removed += self._cluster.events.trim(max(1, self.cluster_retention))
        if removed:
            self._notify()
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
            p = self._pipelines.get(name)
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
            p = self._pipelines.get(name)
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
            hits = [r for r in self._requests if all(getattr(r, k) == v for k, v in fields.items())]
            return (hits,) if len(hits) >= count else None

        result: tuple[list[RequestRecord]] = await self.wait_for(
            check, timeout=timeout, what=f"{count} requests matching {fields}"
        )
        return result[0]

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered (e.g. held by ``stop_answering``)."""
        return self._in_flight

    def _peek(self, name: str) -> str:
        p = self._pipelines.get(name)
        return "missing" if p is None else str(p.status_view())

    # ================================================================== cluster
    def _cluster_write(self) -> None:
        ts = self._clock.now()
        data: dict[str, Any] = {
            "id": str(self._ids.new(int(ts.timestamp() * 1000))),
            "recorded_at": format_timestamp(ts),
        }
        data.update(self._cluster.snapshot())
        self._cluster.events.append(Event(data, CLUSTER_STATUS_KEYS))
        self._notify()

    def _cluster_startup(self) -> None:
        self._cluster_write()

        def healthy() -> None:
            self._cluster.startup_timer = None
            self.set_cluster_health(api="Healthy", compiler="Healthy", runner="Healthy")

        self._cluster.startup_timer = self._later(self.timings.cluster_startup, healthy)

    def set_cluster_health(
        self,
        *,
        api: MonitorStatus | None = None,
        compiler: MonitorStatus | None = None,
        runner: MonitorStatus | None = None,
        message: str | None = None,
    ) -> None:
        """Set service health; writes one cluster event if anything changed."""
        now = self._clock.now()
        changed = False
        for service, value in (("api", api), ("compiler", compiler), ("runner", runner)):
            if value is None or self._cluster.status[service] == value:
                continue
            was_healthy = self._cluster.healthy(service)
            self._cluster.status[service] = value
            self._cluster.messages[service] = message or (
                "Service is healthy" if value == "Healthy" else "Service is unhealthy"
            )
            if was_healthy != self._cluster.healthy(service):
                self._cluster.unchanged_since[service] = now
            changed = True
        if self._cluster.startup_timer is not None and changed:
            self._cluster.startup_timer.cancel()
            self._cluster.startup_timer = None
        if changed:
            self._cluster_write()

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
        return self._cluster.events.newest_first()

    def cluster_health(self) -> dict[str, Any]:
        """The ``HealthStatus`` body ``/v0/cluster_healthz`` would send now."""
        checked = format_timestamp(self._clock.now())
        out: dict[str, Any] = {"all_healthy": self._cluster.all_healthy()}
        for service in CLUSTER_SERVICES:
            out[service] = {
                "healthy": self._cluster.healthy(service),
                "message": self._cluster.messages[service],
                "unchanged_since": format_timestamp(self._cluster.unchanged_since[service]),
                "checked_at": checked,
            }
        return out

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
        rule = FaultRule(
            fault=fault,
            pipeline=pipeline,
            operations=normalize_operations(operations),
            path_contains=path_contains,
            remaining=times,
            probability=probability,
        )
        self._fault_rules.append(rule)
        return FaultHandle(rule, self._fault_rules)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._fault_rules.clear()

    def stop_answering(self) -> None:
        """Keep accepting connections but answer nothing until ``resume_answering``."""
        self._answering.clear()

    def resume_answering(self) -> None:
        """Answer again (held requests proceed)."""
        self._answering.set()

    @property
    def requests(self) -> list[RequestRecord]:
        """The request log, oldest first (bounded by ``request_log_limit``)."""
        return list(self._requests)

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._requests.clear()

    # hooks for _http
    def _log_request(self, record: RequestRecord) -> None:
        self._requests.append(record)
        self._notify()

    def _pick_fault(self, operation: str | None, pipeline: str | None, path: str) -> Fault | None:
        for rule in list(self._fault_rules):
            if rule.matches(operation, pipeline, path) and rule.fire(self._fault_rng):
                return rule.fault
        return None
