"""Owns what happens to pipelines in the background, by itself: the compiler's steps and
the runner's automaton.

Pure: time comes from an injected ``now`` and every delay goes through an injected
``call_later``, so the engine's unit tests drive it with a manual clock.  The rules of
the requests (``_operations``) write through :meth:`Automaton.write` and hand the
pipeline back with :meth:`Automaton.reconcile`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from feldera_events.testing._compiler import CompileError, compile_outcome, program_error_after
from feldera_events.testing._model import CallLater, FakeAPIError, Timings, UUIDv7Factory
from feldera_events.testing._rows import PROGRAM_COMPILING, PROGRAM_FAILED, Pipeline

__all__ = ["NOT_DESIRED_PROVISIONED", "Automaton", "StartFailure", "runtime_details"]

#: ``CREATE TABLE name ...;`` / ``CREATE [MATERIALIZED] VIEW name ...;`` of a program.
_RELATION = re.compile(r"create\s+(?:materialized\s+)?(table|view)\s+([\w\"]+)[^;]*", re.IGNORECASE)


def _relations(program: str, kind: str) -> dict[str, str]:
    """``{name: statement}`` of a program's ``tables`` or ``views`` (``kind``)."""
    return {
        m.group(2).strip('"').lower(): " ".join(m.group(0).split())
        for m in _RELATION.finditer(program)
        if m.group(1).lower() + "s" == kind
    }


StartFailure = Literal["provisioning_timeout", "worker_panic", "provision_check"]

_COMPILE_PLANS: dict[CompileError | None, list[str]] = {
    None: ["CompilingSql", "SqlCompiled", "CompilingRust", "Success"],
    "sql": ["CompilingSql", "SqlError"],
    "rust": ["CompilingSql", "SqlCompiled", "CompilingRust", "RustError"],
    "system": ["CompilingSql", "SqlCompiled", "CompilingRust", "SystemError"],
}

#: Program statuses whose write increments ``refresh_version`` (the compiler's other
#: steps, ``CompilingSql`` and ``CompilingRust``, do not).
_REFRESHING_PROGRAM_STATUSES = frozenset(
    {"Pending", "SqlCompiled", "Success", "SqlError", "RustError", "SystemError"}
)

#: What the move to Stopping (or an early start that fails and stays Stopped) forgets: the
#: ``initial`` and ``bootstrap_policy`` a ``/start`` set.
NOT_DESIRED_PROVISIONED: dict[str, Any] = {
    "deployment_initial": None,
    "bootstrap_policy": None,
    "silent_bootstrap": False,
    "concurrent_bootstrap": False,
}


def runtime_details(runtime_status: str) -> dict[str, Any]:
    """The ``RuntimeStatusDetails`` a pipeline process reports with its status: never
    ``null`` while there is a runtime status; connector statistics (no errors: nothing
    is parsed) while it runs or is paused."""
    if runtime_status in ("Running", "Paused"):
        return {"connector_stats": {"num_errors": 0}}
    return {}


class Automaton:
    """The pipelines, how their events are written, and the steps nobody asked for.

    :param call_later: runs delayed steps (delays are divided by ``speed`` first).
    :param now: the ``recorded_at`` of the next event (must not go backwards).
    :param on_change: called after every state change (wakes the facade's waits).
    """

    def __init__(
        self,
        *,
        call_later: CallLater,
        now: Callable[[], dt.datetime],
        ids: UUIDv7Factory,
        on_change: Callable[[], None] = lambda: None,
        speed: float = 1.0,
        timings: Timings | None = None,
        provisioning_timeout: float = 20.0,
        version: str = "0.337.0",
        unavailable_blips: bool = False,
        heartbeats: bool = False,
    ) -> None:
        self.call_later = call_later
        self.now = now
        self.ids = ids
        self.on_change = on_change
        self.speed = speed
        self.timings = timings or Timings()
        self.provisioning_timeout = provisioning_timeout
        self.version = version
        self.unavailable_blips = unavailable_blips
        self.heartbeats = heartbeats
        self.pipelines: dict[str, Pipeline] = {}
        #: ``fail_next_compile``: pipeline name -> how its next compilation ends.
        self.compile_scripts: dict[str, CompileError] = {}
        #: ``fail_next_input``: pipeline name -> the panic messages of its next inputs, in
        #: order (``None``: a default message).
        self.input_scripts: dict[str, deque[str | None]] = {}

    # ---------------------------------------------------------------- primitives
    def get(self, name: str) -> Pipeline:
        p = self.pipelines.get(name)
        if p is None:
            raise FakeAPIError(
                404,
                "UnknownPipelineName",
                f"Unknown pipeline name '{name}'",
                {"pipeline_name": name},
            )
        return p

    def alive(self, p: Pipeline) -> bool:
        """Whether ``p`` is still the pipeline of that name (not deleted or replaced)."""
        return self.pipelines.get(p.name) is p

    def update(self, p: Pipeline, ts: dt.datetime, **fields: Any) -> None:
        """Change status fields and their ``*_since`` stamps (no event): a field's stamp
        moves to the write's time when its value changes, and is ``None`` while the field
        is (the manager's ``CASE WHEN``)."""
        for key, value in fields.items():
            since = f"{key}_since"
            if since in p.since and p.s[key] != value:
                p.since[since] = ts if value is not None else None
            p.s[key] = value
        p.changed()

    def record(self, p: Pipeline, ts: dt.datetime | None = None) -> None:
        """Write one event: a snapshot of the pipeline's status fields."""
        p.changed()  # what was written before it (refresh_version, the row) is listed now
        ts = ts or self.now()
        p.events.append(self.ids.new(ts), ts, p.snapshot())
        self.on_change()

    def write(
        self, p: Pipeline, ts: dt.datetime | None = None, *, refresh: bool = False, **fields: Any
    ) -> None:
        """One DB write: change fields, then record the event.  ``refresh``: the write is
        one that increments ``refresh_version`` (a resources or runtime status write by
        the runner; see ``_compile_step`` for the compiler's)."""
        ts = ts or self.now()
        self.update(p, ts, **fields)
        if refresh:
            p.refresh_version += 1
        self.record(p, ts)

    def schedule(
        self, p: Pipeline, seconds: float, step: Callable[[Pipeline], None], timer: str = "step"
    ) -> None:
        """Run ``step(p)`` after ``seconds`` unless ``p`` is gone by then: the pipeline's one
        pending ``timer`` of its kind (a runner ``step``, a ``compile`` step, a ``blip``, a
        ``heartbeat``), replacing any earlier one."""
        self.cancel(p, timer)

        def fire() -> None:
            p.timers.pop(timer, None)
            if self.alive(p):
                step(p)

        p.timers[timer] = self.call_later(max(0.0, seconds / self.speed), fire)

    @staticmethod
    def cancel(p: Pipeline, *timers: str) -> None:
        for timer in timers:
            handle = p.timers.pop(timer, None)
            if handle is not None:
                handle.cancel()

    # ---------------------------------------------------------------- compiler
    def begin_compile(self, p: Pipeline, error: CompileError | None) -> None:
        """Run the compiler's steps (one event each) from ``Pending``, ending as ``error``
        if given, else as a scripted ``fail_next_compile``, else as the simulated compiler
        says of the text."""
        scripted = self.compile_scripts.pop(p.name, None)  # spent even when ``error`` wins
        outcome = error or scripted or compile_outcome(p.program_code)
        p.compile_plan = list(_COMPILE_PLANS[outcome])
        self.schedule(p, p.timings.compile_step, self._compile_step, "compile")

    def _compile_step(self, p: Pipeline) -> None:
        status = p.compile_plan.pop(0)
        p.program_error = program_error_after(status, p.program_code)
        self.write(p, refresh=status in _REFRESHING_PROGRAM_STATUSES, program_status=status)
        if p.compile_plan:
            self.schedule(p, p.timings.compile_step, self._compile_step, "compile")
        else:
            self.reconcile(p)

    # ---------------------------------------------------------------- runner
    def reconcile(self, p: Pipeline) -> None:
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
                self.schedule(p, t.runner_reaction, self._fail_compilation)
            elif p.start_failures and p.start_failures[0] == "provision_check":
                p.start_failures.popleft()
                self.schedule(p, t.runner_reaction, self._fail_provision_check)
            else:
                self.schedule(p, t.runner_reaction, self._to_provisioning)
        elif rs == "Provisioning":
            if desired == "Stopped":
                self.schedule(p, t.runner_reaction, self._to_stopping)
            elif p.pending_failure == "provisioning_timeout":
                self.schedule(p, p.provisioning_timeout, self._fail_provisioning_timeout)
            else:
                self.schedule(p, t.provisioning, self._to_provisioned)
        elif rs == "Provisioned":
            runtime = p.s["deployment_runtime_status"]
            runtime_desired = p.s["deployment_runtime_desired_status"]
            target = p.runtime_target or runtime_desired
            if desired == "Stopped":
                self.schedule(p, t.runner_reaction, self._to_stopping)
            elif runtime == "Suspended":
                self.schedule(p, t.runner_reaction, self._system_stop)
            elif runtime_desired == "Suspended":
                self.schedule(p, t.suspending, self._to_suspended)
            elif runtime == "Initializing":
                if p.pending_failure == "worker_panic":
                    self.schedule(p, t.initializing, lambda q: self.fail_runtime(q, None))
                elif (diff := self._approval_diff(p)) is not None:
                    self.schedule(p, t.initializing, lambda q: self._await_approval(q, diff))
                else:
                    self.schedule(p, t.initializing, self._runtime_follows)
            elif runtime == "AwaitingApproval":
                return  # until approve()
            elif (runtime != "Unavailable" and target != runtime) or target != runtime_desired:
                self.schedule(p, t.runtime_change, self._runtime_follows)
            else:
                self._start_realism(p)
        elif rs == "Stopping":
            self.schedule(p, t.stopping, self._to_stopped)

    def _start_realism(self, p: Pipeline) -> None:
        if self.unavailable_blips and "blip" not in p.timers:
            self.schedule(p, p.timings.blip_interval, self._blip, "blip")
        if self.heartbeats and "heartbeat" not in p.timers:
            self.schedule(p, p.timings.heartbeat, self._beat, "heartbeat")

    def _blip(self, p: Pipeline) -> None:
        s = p.s
        if (
            s["deployment_resources_status"] == "Provisioned"
            and s["deployment_runtime_status"] == s["deployment_runtime_desired_status"]
        ):
            self.write(
                p,
                refresh=True,
                deployment_runtime_status="Unavailable",
                deployment_runtime_status_details={
                    "reason": "Unable to reach pipeline: status probe timed out"
                },
            )
            self.schedule(p, p.timings.blip_duration, self._runtime_follows)

    def _beat(self, p: Pipeline) -> None:
        if p.s["deployment_resources_status"] == "Provisioned":
            self.write(p, refresh=True)  # the runner's "remain" write
            self._start_realism(p)

    def _to_provisioning(self, p: Pipeline) -> None:
        # One transaction, two events with one recorded_at: storage claimed (InUse, also
        # when it already was), then Provisioning.
        p.pending_failure = p.start_failures.popleft() if p.start_failures else None
        ts = self.now()
        self.write(p, ts, storage_status="InUse")
        self.write(
            p,
            ts,
            refresh=True,
            deployment_resources_status="Provisioning",
            deployment_resources_status_details=None,
            deployment_error=None,
            deployment_id=str(uuid.uuid4()),
        )
        self.reconcile(p)

    def _approval_diff(self, p: Pipeline) -> dict[str, Any] | None:
        """With ``bootstrap_policy=await_approval``, a program changed since the storage's
        checkpoint waits for approval: the ``PipelineDiff`` of its tables and views."""
        old = p.checkpoint_program
        policy = p.s["bootstrap_policy"]
        if policy != "await_approval" or old is None or old == p.program_code:
            return None
        diff: dict[str, Any] = {}
        for kind in ("tables", "views"):
            was, now = _relations(old, kind), _relations(p.program_code, kind)
            diff[f"added_{kind}"] = sorted(now.keys() - was.keys())
            diff[f"removed_{kind}"] = sorted(was.keys() - now.keys())
            diff[f"modified_{kind}"] = sorted(
                n for n in now.keys() & was.keys() if now[n] != was[n]
            )
        connectors: dict[str, list[str]] = {
            f"{c}_{d}_connectors": []
            for c in ("added", "modified", "removed")
            for d in ("input", "output")
        }
        return {"program_diff": diff, "program_diff_error": None, **connectors}

    def _await_approval(self, p: Pipeline, diff: dict[str, Any]) -> None:
        self.write(
            p,
            refresh=True,
            deployment_runtime_status="AwaitingApproval",
            deployment_runtime_status_details={"approval_diff": diff},
        )

    def _to_provisioned(self, p: Pipeline) -> None:
        p.runtime_target = None
        ts = self.now()
        p.process_started, p.input_records, p.input_bytes = ts, 0, 0
        self.write(
            p,
            ts,
            refresh=True,
            deployment_resources_status="Provisioned",
            deployment_resources_status_details=None,
            deployment_runtime_status="Initializing",
            deployment_runtime_status_details={"reason": "Pipeline is initializing"},
            deployment_runtime_desired_status=p.s["deployment_initial"] or "Running",
        )
        self.reconcile(p)

    def _runtime_follows(self, p: Pipeline) -> None:
        # The runner's probe sees the pipeline process at rest: a pause or resume is
        # complete inside it long before, so status and desired status change together.
        target = p.runtime_target or p.s["deployment_runtime_desired_status"]
        p.runtime_target = None
        p.checkpoint_program = p.program_code  # it runs this program on this storage
        self.write(
            p,
            refresh=True,
            deployment_runtime_status=target,
            deployment_runtime_desired_status=target,
            deployment_runtime_status_details=runtime_details(target),
            # The pipeline process reports its storage (no checkpoints are simulated).
            storage_status_details=p.s["storage_status_details"] or {"checkpoints": []},
        )
        self.reconcile(p)

    def _to_suspended(self, p: Pipeline) -> None:
        self.write(
            p,
            refresh=True,
            deployment_runtime_status="Suspended",
            deployment_runtime_status_details=runtime_details("Suspended"),
        )
        self.reconcile(p)

    def _system_stop(
        self, p: Pipeline, error_code: str | None = None, message: str = "", details: Any = None
    ) -> None:
        """The runner sets desired Stopped and moves on, in one transaction: two events
        with the same ``recorded_at`` (the first without the error, if any)."""
        error = None
        if error_code is not None:
            error = {"message": message, "error_code": error_code, "details": details}
        self.cancel(p, "blip", "heartbeat")
        p.runtime_target = None
        ts = self.now()
        self.write(p, ts, deployment_resources_desired_status="Stopped")
        if p.s["deployment_resources_status"] == "Stopped":
            self.write(p, ts, refresh=True, deployment_error=error, **NOT_DESIRED_PROVISIONED)
            return
        self._to_stopping(p, ts, deployment_error=error)

    def _to_stopping(self, p: Pipeline, ts: dt.datetime | None = None, **error: Any) -> None:
        self.cancel(p, "blip", "heartbeat")
        p.runtime_target = None
        self.write(
            p,
            ts,
            refresh=True,
            **NOT_DESIRED_PROVISIONED,
            deployment_resources_status="Stopping",
            deployment_resources_status_details=None,
            deployment_runtime_status=None,
            deployment_runtime_status_details=None,
            deployment_runtime_desired_status=None,
            **error,
        )
        self.reconcile(p)

    def _to_stopped(self, p: Pipeline) -> None:
        p.pending_failure = None
        self.write(
            p,
            refresh=True,
            deployment_resources_status="Stopped",
            deployment_resources_status_details=None,
            deployment_id=None,
        )
        self.reconcile(p)

    # ---------------------------------------------------------------- failures
    def _fail_compilation(self, p: Pipeline) -> None:
        what = {"SqlError": "SQL", "RustError": "Rust", "SystemError": "System"}
        self._system_stop(
            p,
            "StartFailedDueToFailedCompilation",
            "Not possible to start the pipeline because the program failed to compile",
            {
                "compiler_error": f"{what[p.s['program_status']]} error occurred (see "
                "`program_error` for more information)"
            },
        )

    def _fail_provision_check(self, p: Pipeline) -> None:
        self._system_stop(
            p,
            "RunnerProvisionCheckFailed",
            p.failure_message.pop(
                "provision_check", "Provision check failed: the requested resources are unavailable"
            ),
            {"pipeline_id": p.id},
        )

    def _fail_provisioning_timeout(self, p: Pipeline) -> None:
        timeout = p.provisioning_timeout
        self._system_stop(
            p,
            "PipelineProvisioningTimeout",
            f"Pipeline {p.id} provisioning timed out (timeout: {timeout:g}s)",
            {"pipeline_id": p.id, "timeout": {"secs": int(timeout), "nanos": 0}},
        )

    def fail_runtime(self, p: Pipeline, message: str | None) -> None:
        """A fatal runtime error (``RuntimeError.WorkerPanic``), as the runner records it."""
        p.pending_failure = None
        text = message or p.failure_message.pop(
            "worker_panic", "worker thread 0 panicked at 'simulated panic' (simulated)"
        )
        self._system_stop(
            p,
            "RuntimeError.WorkerPanic",
            f"A fatal error occurred in the pipeline runtime: {text}",
            {"panic_info": [{"worker": 0, "message": text}]},
        )
