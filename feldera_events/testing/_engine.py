"""Owns the lifecycle engine's control rules: what each request may do to a pipeline.

Pure like the automaton underneath (no sockets, no asyncio): every method here is one
REST operation's rules, applied to the rows and raising the ``FakeAPIError`` the
manager would answer.  ``FakeFeldera`` (the facade) and the HTTP application both call
these methods; neither reaches into the engine's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from feldera_events.testing._automaton import Automaton, CompileError, StartFailure
from feldera_events.testing._model import FakeAPIError, Scheduler, Timings, UUIDv7Factory
from feldera_events.testing._state import PROGRAM_FAILED, Pipeline

__all__ = ["RUST_ERROR_MARKER", "SQL_ERROR_MARKER", "Engine"]

#: Write this in ``program_code`` to make a REST-created pipeline fail to compile.
SQL_ERROR_MARKER = "-- fake: sql_error"
RUST_ERROR_MARKER = "-- fake: rust_error"

_INITIAL = {"running": "Running", "paused": "Paused", "standby": "Standby"}


def compile_error_of(program_code: str) -> CompileError | None:
    """The compile outcome of program text: a scripted marker, else ``SqlError`` for text
    with no ``CREATE`` statement (upstream's test compiles ``invalid-sql``), else success."""
    if SQL_ERROR_MARKER in program_code:
        return "sql"
    if RUST_ERROR_MARKER in program_code:
        return "rust"
    if "create" not in program_code.lower():
        return "sql"
    return None


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


def fully_stopped(p: Pipeline) -> bool:
    return bool(
        p.s["deployment_resources_status"] == "Stopped"
        and p.s["deployment_resources_desired_status"] == "Stopped"
    )


class Engine:
    """The simulated manager's pipelines: control rules over the runner automaton.

    :param scheduler: runs delayed steps; an asyncio loop in production, a manual
        scheduler in unit tests.
    :param now: ``recorded_at`` source (must not go backwards).
    :param on_change: called after every state change.
    """

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        now: Callable[[], Any],
        ids: UUIDv7Factory,
        on_change: Callable[[], None] = lambda: None,
        speed: float = 1.0,
        timings: Timings | None = None,
        provisioning_timeout: float = 20.0,
        version: str = "0.337.0",
        unavailable_blips: bool = False,
        heartbeats: bool = False,
    ) -> None:
        self.automaton = Automaton(
            scheduler=scheduler,
            now=now,
            ids=ids,
            on_change=on_change,
            speed=speed,
            unavailable_blips=unavailable_blips,
            heartbeats=heartbeats,
        )
        self.timings = timings or Timings()
        self.provisioning_timeout = provisioning_timeout
        self.version = version

    # ---------------------------------------------------------------- lookup
    def get(self, name: str) -> Pipeline:
        """The pipeline row, or ``UnknownPipelineName``."""
        return self.automaton.get(name)

    def find(self, name: str) -> Pipeline | None:
        return self.automaton.pipelines.get(name)

    def all(self) -> list[Pipeline]:
        return list(self.automaton.pipelines.values())

    # ---------------------------------------------------------------- pipelines
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
    ) -> Pipeline:
        a = self.automaton
        if name in a.pipelines:
            raise FakeAPIError(409, "DuplicateName", "An entity with this name already exists")
        if not name:
            raise FakeAPIError(400, "EmptyName", "Name cannot be be empty")
        compiling = compile or compile_error is not None
        now = a.now()
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
        a.pipelines[name] = p
        a.record(p, now)
        p.record_events = True
        if compiling:
            a.begin_compile(p, compile_error)
        return p

    def update_pipeline(
        self,
        name: str,
        *,
        program_code: str | None = None,
        description: str | None = None,
        runtime_config: dict[str, Any] | None = None,
        compile_error: CompileError | None = None,
        udf_rust: str | None = None,
        udf_toml: str | None = None,
        program_config: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> Pipeline:
        """``PUT``/``PATCH`` of an existing pipeline: ``None`` leaves a field as it is.

        Description and tags may change at any time; anything else only when fully
        stopped.  One event; a changed program (code, UDFs, program config) recompiles
        from ``Pending``.
        """
        a = self.automaton
        p = a.get(name)
        deployment_fields = (program_code, runtime_config, udf_rust, udf_toml, program_config)
        if not fully_stopped(p) and any(f is not None for f in deployment_fields):
            raise FakeAPIError(
                400,
                "UpdateRestrictedToStopped",
                "Pipeline can only be updated while stopped. Stop it first by invoking '/stop'.",
            )
        p.version += 1
        if description is not None:
            p.description = description
        if tags is not None:
            p.tags = list(tags)
        if runtime_config is not None:
            p.runtime_config = runtime_config
        program_changed = False
        for attr, value in (
            ("program_code", program_code),
            ("udf_rust", udf_rust),
            ("udf_toml", udf_toml),
            ("program_config", program_config),
        ):
            if value is not None and value != getattr(p, attr):
                setattr(p, attr, value)
                program_changed = True
        if program_changed:
            p.program_version += 1
            a.write(p, program_status="Pending")
            a.begin_compile(p, compile_error or compile_error_of(p.program_code))
        else:
            a.record(p)
        return p

    def delete_pipeline(self, name: str) -> None:
        a = self.automaton
        p = a.get(name)
        if not fully_stopped(p):
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
        del a.pipelines[name]
        a.on_change()

    # ---------------------------------------------------------------- deployment
    def start(
        self,
        name: str,
        initial: str = "running",
        *,
        dismiss_error: bool = True,
        bootstrap_policy: str = "allow",
    ) -> None:
        a = self.automaton
        p = a.get(name)
        runtime_initial = _INITIAL.get(initial)
        if runtime_initial is None:
            raise FakeAPIError(
                400,
                "InvalidInitialParameter",
                f"Invalid value for 'initial': '{initial}' (must be 'running', 'paused' or "
                "'standby')",
                {"initial": initial},
            )
        program = p.s["program_status"]
        if program in PROGRAM_FAILED:
            # Since v0.303 the API refuses at once (no event); the runner's
            # StartFailedDueToFailedCompilation remains for a start during compilation.
            raise FakeAPIError(
                400,
                "CannotStartWithCompilationError",
                f"Cannot start pipeline '{name}' because its program failed to compile "
                f"(program status: {program}). Fix the program first.",
                {"program_status": program},
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
        p.bootstrap_policy = bootstrap_policy
        a.write(p, **changes)
        a.reconcile(p)

    def approve(self, name: str) -> None:
        """``POST /approve``: a pipeline at ``AwaitingApproval`` bootstraps and runs; a
        pipeline that is not deployed answers 503, as the manager does."""
        p = self.automaton.get(name)
        if p.s["deployment_resources_status"] != "Provisioned":
            raise FakeAPIError(
                503,
                "PipelineInteractionNotDeployed",
                f"Unable to interact with pipeline '{name}' because it is not deployed.",
                {"status": p.combined_status(), "desired_status": p.combined_desired_status()},
            )
        self.automaton.approve(p)

    def stop(self, name: str, force: bool = True) -> None:
        a = self.automaton
        p = a.get(name)
        rs = p.s["deployment_resources_status"]
        desired = p.s["deployment_resources_desired_status"]
        if desired == "Stopped":
            return  # already stopped or stopping
        if force or rs != "Provisioned":
            a.write(p, deployment_resources_desired_status="Stopped")
            a.reconcile(p)
            return
        if p.s["deployment_runtime_desired_status"] == "Suspended":
            return
        a.write(p, deployment_runtime_desired_status="Suspended")
        a.reconcile(p)

    def _runtime_action(self, name: str, target: str, code: str, verb: str) -> None:
        a = self.automaton
        p = a.get(name)
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
            raise FakeAPIError(400, code, f"Cannot /{verb} a pipeline that is suspending.")
        if (p.runtime_target or p.s["deployment_runtime_desired_status"]) == target:
            return
        # No event now: the pipeline process pauses or resumes at once, and the runner
        # records runtime and runtime desired together at its next probe.
        p.runtime_target = target
        a.reconcile(p)

    def pause(self, name: str) -> None:
        self._runtime_action(name, "Paused", "PauseWhileNotProvisioned", "pause")

    def resume(self, name: str) -> None:
        self._runtime_action(name, "Running", "ResumeWhileNotProvisioned", "resume")

    def clear(self, name: str) -> None:
        a = self.automaton
        p = a.get(name)
        storage = p.s["storage_status"]
        if storage in ("Clearing", "Cleared"):
            return  # transit_storage_status_to_clearing_if_not_cleared: a no-op success
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
        a.write(p, storage_status="Clearing", storage_status_details=None)

        def cleared(q: Pipeline) -> None:
            q.checkpoint_program = None  # nothing left to bootstrap from
            a.write(q, storage_status="Cleared", storage_status_details=None)

        a.schedule(p, p.timings.clearing, cleared)

    def dismiss_error(self, name: str) -> None:
        a = self.automaton
        p = a.get(name)
        if p.s["deployment_error"] is None:
            return
        if not fully_stopped(p):
            raise FakeAPIError(
                400,
                "DismissErrorRestrictedToFullyStopped",
                "Cannot dismiss the deployment error of a pipeline which is not fully stopped "
                "(both current and desired status must be Stopped).",
            )
        a.write(p, deployment_error=None)

    # ---------------------------------------------------------------- scripted failures
    def fail_next_start(
        self, name: str, kind: StartFailure = "worker_panic", *, message: str | None = None
    ) -> None:
        p = self.automaton.get(name)
        p.start_failures.append(kind)
        if message is not None:
            p.failure_message[kind] = message

    def panic(self, name: str, message: str | None = None) -> None:
        p = self.automaton.get(name)
        if p.s["deployment_resources_status"] != "Provisioned":
            raise FakeAPIError(
                400,
                "IllegalPipelineAction",
                f"Pipeline '{name}' is not Provisioned; only a running pipeline can panic.",
            )
        self.automaton.fail_runtime(p, message)

    def set_runtime_status(
        self, name: str, runtime_status: str, details: dict[str, Any] | None = None
    ) -> None:
        a = self.automaton
        p = a.get(name)
        if p.s["deployment_resources_status"] != "Provisioned":
            raise FakeAPIError(
                400, "IllegalPipelineAction", f"Pipeline '{name}' is not Provisioned."
            )
        a.cancel_step(p)
        a.write(
            p, deployment_runtime_status=runtime_status, deployment_runtime_status_details=details
        )

    def heartbeat(self, name: str) -> None:
        self.automaton.record(self.automaton.get(name))

    # ---------------------------------------------------------------- retention, shutdown
    def trim_events(self, keep: int) -> int:
        """Delete all but the newest ``keep`` events of every pipeline; how many went."""
        return sum(p.events.trim(keep) for p in self.automaton.pipelines.values())

    def cancel_timers(self) -> None:
        for p in self.automaton.pipelines.values():
            p.cancel_timers()
