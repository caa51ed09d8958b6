"""Owns the rules of the REST operations on pipelines (the lifecycle engine, ``Engine``):
create, edit and delete, the deployment actions (``/start``, ``/stop``, ...) and which
events each writes, the simulated compiler's scripted outcomes and scripted failures.

Pure like the automaton underneath: each method applies one operation's rules and
raises the ``FakeAPIError`` the manager would answer; the facade and the HTTP
application call them alike.  Each accepted ``/start``, ``/stop?force=true`` and
``/dismiss_error`` is one write of the row, so one event even when nothing changed (as
the manager; upstream's events test folds such duplicates away); a refusal writes none.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import Any, Final, Literal

from feldera_events.testing._background import (
    NOT_DESIRED_PROVISIONED,
    Automaton,
    StartFailure,
    runtime_details,
)
from feldera_events.testing._compiler import CompileError, program_error_after
from feldera_events.testing._model import FakeAPIError, Timings
from feldera_events.testing._pipeline_process import require_reachable
from feldera_events.testing._rows import PROGRAM_FAILED, Pipeline
from feldera_events.testing._runtime_config import (
    normalize_runtime_config,
    restricted_edits,
    standby_allowed,
)

__all__ = ["BOOTSTRAP_POLICIES", "Engine", "check_metadata", "check_pipeline_name"]

_INITIAL = {"running": "Running", "paused": "Paused", "standby": "Standby"}
#: ``/start?bootstrap_policy=``; a start without one stores ``await_approval`` (the
#: manager's default): a program changed since the storage's checkpoint then waits for
#: ``/approve`` (``AwaitingApproval``); the others bootstrap at once.
BOOTSTRAP_POLICIES = ("allow", "reject", "await_approval")


def _bad_request(error_code: str, message: str, details: Any = None) -> FakeAPIError:
    """The manager's refusal of a request it will not carry out: a 400 ``ErrorResponse``."""
    return FakeAPIError(400, error_code, message, details)


def fully_stopped(p: Pipeline) -> bool:
    return bool(
        p.s["deployment_resources_status"] == "Stopped"
        and p.s["deployment_resources_desired_status"] == "Stopped"
    )


def _illegal_action(p: Pipeline, new_desired: str, hint: str) -> FakeAPIError:
    status = p.s["deployment_resources_status"]
    desired = p.s["deployment_resources_desired_status"]
    return _bad_request(
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


# -- what the manager accepts as a name, tags and a description (v0.337:
# crates/pipeline-manager/src/db/types/utils.rs, validate_pipeline_name and friends).

#: A Kubernetes label value, without dots: letters, digits, '-' and '_', neither first nor last.
NAME_PATTERN: Final = "^([A-Za-z0-9][-A-Za-z0-9_]*)?[A-Za-z0-9]$"
_NAME_DESCRIPTION: Final = (
    "be non-empty and only contain lowercase (a-z), uppercase (A-Z), number (0-9), "
    "underscore (_) or hyphen (-) characters, but cannot start or end with hyphen or "
    "underscore"
)
_NAME: Final = re.compile(NAME_PATTERN.removeprefix("^").removesuffix("$"))
#: In bytes (a Kubernetes label value's limit).
MAX_NAME_BYTES: Final = 63
_TAG: Final = re.compile(r"[a-zA-Z0-9 ._/|\\:=-]+")
MAX_TAG_CHARS: Final = 50
MAX_TAGS: Final = 50
MAX_DESCRIPTION_CHARS: Final = 300


def check_pipeline_name(name: str) -> None:
    """Raise the manager's 400 for a pipeline name it refuses (``EmptyName``,
    ``TooLongName``, ``NameDoesNotMatchPattern``)."""
    if not name:
        raise _bad_request("EmptyName", "Name cannot be be empty")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise _bad_request(
            "TooLongName",
            f"Name '{name}' is longer ({size}) than maximum allowed ({MAX_NAME_BYTES})",
            {"name": name, "length": size, "maximum": MAX_NAME_BYTES},
        )
    if not _NAME.fullmatch(name):
        raise _bad_request(
            "NameDoesNotMatchPattern",
            f"Name '{name}' should {_NAME_DESCRIPTION} (pattern: '{NAME_PATTERN}')",
            {"name": name, "pattern": NAME_PATTERN, "pattern_description": _NAME_DESCRIPTION},
        )


def check_metadata(description: str | None, tags: Iterable[str] | None) -> None:
    """Raise the manager's 400 for a description or tags it refuses
    (``TooLongDescription``, ``TooManyTags``, ``InvalidTag`` naming the first rule the
    first bad tag breaks); None: not given."""
    if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
        raise _bad_request(
            "TooLongDescription",
            f"Description is longer ({len(description)}) than maximum allowed "
            f"({MAX_DESCRIPTION_CHARS})",
            {"length": len(description), "maximum": MAX_DESCRIPTION_CHARS},
        )
    if tags is None:
        return
    tags = list(tags)
    if len(tags) > MAX_TAGS:
        raise _bad_request(
            "TooManyTags",
            f"Pipeline has more tags ({len(tags)}) than the maximum allowed ({MAX_TAGS})",
            {"count": len(tags), "maximum": MAX_TAGS},
        )
    for tag in tags:
        if not tag:
            reason = "it cannot be empty"
        elif len(tag) > MAX_TAG_CHARS:
            reason = f"it is {len(tag)} characters long, but the maximum is {MAX_TAG_CHARS}"
        elif not _TAG.fullmatch(tag):
            reason = (
                "it may contain only ASCII letters (a-z, A-Z), numbers (0-9), or one of "
                "space, '.', '_', '/', '|', '\\', ':', '=' and '-'"
            )
        else:
            continue
        raise _bad_request(
            "InvalidTag", f"Tag '{tag}' is invalid: {reason}", {"tag": tag, "reason": reason}
        )


class Engine(Automaton):
    """The simulated manager's pipelines: the rules of each REST operation over the
    runner automaton (its constructor's parameters)."""

    def status_list(self) -> bytes:
        """The body of ``GET /v0/pipelines?selector=status``: every pipeline's entry, in
        creation order, each serialised once per change (thousands cost a join)."""
        entries = b",".join([p.status_entry() for p in self.pipelines.values()])
        return b"[" + entries + b"]"

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
        tags: Iterable[str] | None = None,
    ) -> None:
        """Create a pipeline (as ``POST /v0/pipelines``), writing its first event.

        By default the program is already compiled (``program_status="Success"``);
        ``compile=True`` runs the simulated compiler's steps on ``program_code``, one
        event each (README "Fidelity" says what compiles); ``compile_error`` (``"sql"``,
        ``"rust"``, ``"system"``) makes them fail whatever the text.  ``record_events=False``
        makes a pipeline that predates event recording: no events until its first status
        change.
        ``start_failures`` scripts how the next starts fail (``fail_next_start``).  A name,
        description or tags the manager refuses raise its 400 ``FakeAPIError``:
        ``EmptyName``, ``TooLongName`` (over 63 bytes), ``NameDoesNotMatchPattern``
        (letters, digits, ``-`` and ``_``, neither first nor last), ``TooLongDescription``,
        ``TooManyTags``, ``InvalidTag``.
        """
        check_pipeline_name(name)
        check_metadata(description, tags)
        if name in self.pipelines:
            raise FakeAPIError(409, "DuplicateName", "An entity with this name already exists")
        compiling = compile or compile_error is not None
        now = self.now()
        p = Pipeline(
            name,
            now,
            timings or self.timings,
            program_code,
            description,
            list(tags or []),
            normalize_runtime_config(runtime_config),
            self.version,
            "Pending" if compiling else program_status,
        )
        p.program_error = program_error_after(p.s["program_status"], program_code)
        if not compiling:  # compiled already: the compiler's writes are in its history
            p.refresh_version = 3 if program_status == "Success" else 2
        if provisioning_timeout is None:
            configured = p.runtime_config.get("provisioning_timeout_secs")
            provisioning_timeout = self.provisioning_timeout if configured is None else configured
        p.provisioning_timeout = float(provisioning_timeout)
        p.start_failures.extend(start_failures)
        self.pipelines[name] = p
        if record_events:
            self.record(p, now)
        else:
            self.on_change()  # a pipeline that predates event recording: listed, no event
        if compiling:
            self.begin_compile(p, compile_error)

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
    ) -> None:
        """Edit a pipeline, as ``PATCH`` does (``PUT`` of an existing one too): ``None``
        leaves a field as it is.

        As the manager: an edit that changes nothing is a no-op (no event); one that
        changes only the description or tags is allowed at any time and writes no event;
        any other change needs a fully stopped pipeline (``UpdateRestrictedToStopped``),
        and some ``runtime_config`` fields also cleared storage
        (``EditRestrictedToClearedStorage``, ``details.not_allowed`` naming them).  It
        increments ``version`` and ``refresh_version`` and writes one event; a changed
        program (code, UDFs, program config) goes back to ``Pending`` and recompiles
        (``compile_error`` fails that compilation whatever the text).
        """
        p = self.get(name)
        # As the manager: only what changes is checked (a value stored before a rule
        # existed stays until changed).
        check_metadata(
            None if description == p.description else description,
            None if tags is None or list(tags) == p.tags else tags,
        )
        new_config = None if runtime_config is None else normalize_runtime_config(runtime_config)
        program = {
            "program_code": program_code,
            "udf_rust": udf_rust,
            "udf_toml": udf_toml,
            "program_config": program_config,
        }
        program_changed = any(v is not None and v != getattr(p, k) for k, v in program.items())
        core_changed = program_changed or (
            new_config is not None and new_config != p.runtime_config
        )
        if core_changed and not fully_stopped(p):
            raise _bad_request(
                "UpdateRestrictedToStopped",
                "Pipeline can only be updated while stopped. Stop it first by invoking '/stop'.",
            )
        if description is not None:
            p.description = description
        if tags is not None:
            p.tags = list(tags)
        if not core_changed:
            p.changed()  # listed, without an event (the manager's client-metadata path)
            self.on_change()
            return
        if new_config is not None and p.s["storage_status"] != "Cleared":
            not_allowed = restricted_edits(p.runtime_config, new_config)
            if not_allowed:
                raise _bad_request(
                    "EditRestrictedToClearedStorage",
                    "The following pipeline edits are not allowed while storage is not "
                    f"cleared: {', '.join(not_allowed)}",
                    {"not_allowed": not_allowed},
                )
        p.version += 1
        p.refresh_version += 1
        if new_config is not None:
            p.runtime_config = new_config
        if not program_changed:
            self.record(p)
            return
        for attr, value in program.items():
            if value is not None:
                setattr(p, attr, value)
        p.program_version += 1
        p.program_error = program_error_after("Pending", p.program_code)
        self.write(p, program_status="Pending")
        self.begin_compile(p, compile_error)

    def delete_pipeline(self, name: str) -> None:
        """``DELETE``: only when fully stopped with storage cleared, also while its
        program compiles (the compilation is dropped with it); drops its events."""
        p = self.get(name)
        if not fully_stopped(p):
            raise _bad_request(
                "DeleteRestrictedToFullyStopped",
                "Cannot delete a pipeline which is not fully stopped. Stop the pipeline first "
                "fully by invoking the '/stop' endpoint.",
            )
        if p.s["storage_status"] != "Cleared":
            raise _bad_request(
                "DeleteRestrictedToClearedStorage",
                "Cannot delete pipeline unless its storage is cleared. Clear storage first "
                "using `/clear`.",
            )
        self.cancel(p, *p.timers)
        del self.pipelines[name]
        self.on_change()

    # ---------------------------------------------------------------- deployment actions
    def start(
        self,
        name: str,
        initial: Literal["running", "paused", "standby"] | str = "running",
        *,
        bootstrap_policy: Literal["allow", "reject", "await_approval"] | str | None = None,
        silent_bootstrap: bool = False,
        concurrent_bootstrap: bool = False,
        dismiss_error: bool = True,
    ) -> None:
        """``POST /start``: desired Provisioned (one event, also when already started),
        then the runner provisions.

        ``bootstrap_policy`` defaults to the manager's ``await_approval``: a program
        changed since the pipeline last ran on its storage then stops at runtime
        ``AwaitingApproval`` until :meth:`approve` (``"allow"`` bootstraps at once).
        Refused as the manager refuses it, in its order: bad bootstrap settings or
        ``initial``; a stop under way (``IllegalPipelineAction``); an error not dismissed;
        storage being cleared; a failed compilation; another ``initial`` or bootstrap
        setting than the start in force (``InitialImmutableUnlessStopped``,
        ``BootstrapPolicyImmutableUnlessStopped``); ``initial=standby`` without a file
        storage backend that syncs (``InitialStandbyNotAllowed``).
        """
        policy = "await_approval" if bootstrap_policy is None else bootstrap_policy
        if policy not in BOOTSTRAP_POLICIES:
            raise ValueError(f"bootstrap_policy must be one of {BOOTSTRAP_POLICIES}: {policy!r}")
        if silent_bootstrap and concurrent_bootstrap:
            raise _bad_request(
                "InvalidBootstrapConfig",
                "Invalid bootstrap configuration: silent_bootstrap and concurrent_bootstrap "
                "cannot both be set",
                {"reason": "silent_bootstrap and concurrent_bootstrap cannot both be set"},
            )
        runtime_initial = _INITIAL.get(initial)
        if runtime_initial is None:
            raise _bad_request(
                "InvalidInitialParameter",
                f"Invalid value for 'initial': '{initial}' (must be 'running', 'paused' or "
                "'standby')",
                {"initial": initial},
            )
        p = self.get(name)
        s = p.s
        rs, desired = s["deployment_resources_status"], s["deployment_resources_desired_status"]
        if desired == "Stopped" and rs != "Stopped":
            raise _illegal_action(
                p,
                "Provisioned",
                "Cannot restart the pipeline while it is stopping. Wait until it is stopped "
                "before starting the pipeline again.",
            )
        if desired == "Provisioned" and s["deployment_runtime_desired_status"] == "Suspended":
            raise _illegal_action(
                p,
                "Provisioned",
                "Cannot restart the pipeline while it is suspending. Wait for it to stop "
                "before starting a new instance of the pipeline.",
            )
        if not dismiss_error and s["deployment_error"] is not None:
            raise _bad_request(
                "CannotStartWithUndismissedError",
                "Cannot process `/start?dismiss_error=false` if the `deployment_error` is set. "
                "Dismiss it first by calling `/dismiss_error`, or start with "
                "`/start?dismiss_error=true`.",
            )
        if s["storage_status"] == "Clearing":
            raise _bad_request(
                "CannotStartWhileClearingStorage",
                "Cannot process `/start` if the `storage_status` is `Clearing`. Wait for the "
                "storage to become cleared before trying again.",
            )
        program = s["program_status"]
        if program in PROGRAM_FAILED:
            raise _bad_request(
                "CannotStartWithCompilationError",
                "Cannot process `/start` if the `program_status` is `SqlError`, `RustError` or "
                f"`SystemError` (it is `{program}`). Make changes to fix the error, which will "
                "trigger recompilation.",
            )
        if s["deployment_initial"] is not None and s["deployment_initial"] != runtime_initial:
            raise _bad_request(
                "InitialImmutableUnlessStopped",
                "Initial desired runtime status cannot be changed unless the pipeline is "
                "desired to become Stopped.",
            )
        bootstrap: dict[str, Any] = {
            "bootstrap_policy": policy,
            "silent_bootstrap": silent_bootstrap,
            "concurrent_bootstrap": concurrent_bootstrap,
        }
        if s["bootstrap_policy"] is not None and any(s[k] != v for k, v in bootstrap.items()):
            raise _bad_request(
                "BootstrapPolicyImmutableUnlessStopped",
                "Bootstrap policy cannot be changed unless the pipeline is desired to become "
                "Stopped.",
            )
        if runtime_initial == "Standby" and not standby_allowed(p.runtime_config):
            raise _bad_request(
                "InitialStandbyNotAllowed",
                "Initial desired runtime status can only be set to Standby if: (1) "
                "`runtime_config.storage.backend.name` is set to `file`, and (2) "
                "`runtime_config.storage.backend.config.sync` is configured.",
            )
        self.write(
            p,
            deployment_resources_desired_status="Provisioned",
            deployment_initial=runtime_initial,
            deployment_error=None,
            **bootstrap,
        )
        if desired == "Stopped":
            self.reconcile(p)  # else: already (being) started, the runner is on its way

    def stop(self, name: str, force: bool = True) -> None:
        """``POST /stop``: ``force=True`` (this method's default) sets desired Stopped and
        deprovisions right away (one event, also when it already was); ``force=False``
        (the REST default) on a Provisioned pipeline suspends first: runtime Suspended,
        then Stopping."""
        p = self.get(name)
        rs = p.s["deployment_resources_status"]
        desired = p.s["deployment_resources_desired_status"]
        if force or rs != "Provisioned" or desired == "Stopped":
            changes: dict[str, Any] = {"deployment_resources_desired_status": "Stopped"}
            if rs == "Stopped":  # nothing was provisioned: the start is forgotten at once
                changes.update(NOT_DESIRED_PROVISIONED)
                if desired == "Provisioned":
                    self.cancel(p, "step")  # the runner's pending step towards Provisioning
            self.write(p, **changes)
            if desired == "Provisioned":
                self.reconcile(p)
            return
        if p.s["deployment_runtime_desired_status"] == "Suspended":
            return  # already suspending
        self.write(p, deployment_runtime_desired_status="Suspended")
        self.reconcile(p)

    def _runtime_action(self, name: str, target: str, code: str, verb: str) -> None:
        p = self.get(name)
        if (
            p.s["deployment_resources_status"] != "Provisioned"
            or p.s["deployment_resources_desired_status"] != "Provisioned"
        ):
            raise _bad_request(
                code,
                f"You can only call /{verb} when the pipeline is not Stopped, Provisioning or "
                "Stopping.",
            )
        if p.s["deployment_runtime_desired_status"] == "Suspended":
            raise _bad_request(code, f"Cannot /{verb} a pipeline that is suspending.")
        if (p.runtime_target or p.s["deployment_runtime_desired_status"]) == target:
            return
        # No event now: the pipeline process pauses or resumes at once, and the runner
        # records runtime and runtime desired together at its next probe.
        p.runtime_target = target
        self.reconcile(p)

    def pause(self, name: str) -> None:
        """``POST /pause``: the pipeline pauses; the runner's next probe records runtime and
        runtime desired Paused together (one event)."""
        self._runtime_action(name, "Paused", "PauseWhileNotProvisioned", "pause")

    def resume(self, name: str) -> None:
        """``POST /resume``: the pipeline runs again; the runner's next probe records runtime
        and runtime desired Running together (one event)."""
        self._runtime_action(name, "Running", "ResumeWhileNotProvisioned", "resume")

    def clear(self, name: str) -> None:
        """``POST /clear``: storage InUse -> Clearing (one event) -> Cleared (one event);
        only while fully stopped (not while a start waits,
        ``StorageStatusImmutableUnlessStopped``).  Cleared: nothing to do, no event;
        Clearing: one more Clearing event (the manager writes the row again)."""
        p = self.get(name)
        storage = p.s["storage_status"]
        if storage == "Cleared":
            return
        if not fully_stopped(p):
            rs = p.s["deployment_resources_status"]
            desired = p.s["deployment_resources_desired_status"]
            raise _bad_request(
                "StorageStatusImmutableUnlessStopped",
                f"Cannot transition storage status from '{storage}' to 'Clearing' with "
                f"resources status '{rs}' and desired status '{desired}'. Storage status "
                "cannot be changed unless the pipeline is fully stopped.",
                {
                    "resources_status": rs,
                    "resources_desired_status": desired,
                    "current_status": storage,
                    "new_status": "Clearing",
                },
            )
        self.write(p, storage_status="Clearing", storage_status_details=None)
        if storage == "Clearing":
            return  # the clearing under way goes on

        def cleared(q: Pipeline) -> None:
            q.checkpoint_program = None  # nothing left to bootstrap from
            self.write(q, storage_status="Cleared", storage_status_details=None)

        self.schedule(p, p.timings.clearing, cleared)

    def approve(self, name: str) -> None:
        """``POST /approve``: a pipeline at ``AwaitingApproval`` bootstraps and runs; a
        pipeline that is not deployed answers 503, as the manager does."""
        p = self.get(name)
        if p.s["deployment_resources_status"] != "Provisioned":
            raise FakeAPIError(
                503,
                "PipelineInteractionNotDeployed",
                f"Unable to interact with pipeline '{name}' because it is not deployed.",
                {"status": p.combined_status(), "desired_status": p.combined_desired_status()},
            )
        if p.s["deployment_runtime_status"] == "AwaitingApproval":
            p.checkpoint_program = p.program_code
            self.write(
                p,
                refresh=True,
                deployment_runtime_status="Bootstrapping",
                deployment_runtime_status_details=runtime_details("Bootstrapping"),
            )
            self.schedule(p, p.timings.initializing, self._runtime_follows)

    def dismiss_error(self, name: str) -> None:
        """``POST /dismiss_error``: clears ``deployment_error`` (one event, also without an
        error, as the manager); refused while an error is set and the pipeline is not
        fully stopped."""
        p = self.get(name)
        if p.s["deployment_error"] is not None and not fully_stopped(p):
            raise _bad_request(
                "DismissErrorRestrictedToFullyStopped",
                "The pipeline must have both status `Stopped` and desired status `Stopped` to "
                "dismiss the `deployment_error` if it is set.",
            )
        self.write(p, deployment_error=None)

    # ---------------------------------------------------------------- scripted failures
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
        p = self.get(name)
        p.start_failures.append(kind)
        if message is not None:
            p.failure_message[kind] = message

    def fail_next_compile(self, name: str, kind: CompileError = "sql") -> None:
        """The next compilation of pipeline ``name`` to start ends in ``SqlError``
        (``"sql"``), ``RustError`` or ``SystemError``, whatever its program.  The pipeline
        need not exist yet: a ``POST``/``PUT`` creating it starts that compilation; for an
        existing one, an edit of its program does."""
        if kind not in ("sql", "rust", "system"):
            raise ValueError(f"kind must be 'sql', 'rust' or 'system': {kind!r}")
        self.compile_scripts[name] = kind

    def fail_next_input(self, name: str, message: str | None = None) -> None:
        """The next input pushed to pipeline ``name`` (``POST .../ingress/{table}``, as
        upstream's panicking ``ELEMENT(ARRAY [2, 3])`` view gets) is accepted, then a
        worker panics: ``RuntimeError.WorkerPanic`` with ``message``, as ``panic()``.
        The pipeline need not exist yet; called N times, the next N inputs each panic it
        (one per run: a panic stops the pipeline)."""
        self.input_scripts.setdefault(name, deque()).append(message)

    def ingress(self, name: str, table: str, records: int, size: int) -> str:
        """``POST /ingress/{table}`` of ``records`` records in ``size`` bytes, after the body
        was read: the data is counted and discarded (no table is checked:
        no SQL engine); a completion token comes back.  A scripted ``fail_next_input``
        makes the pipeline panic right after it accepted the data."""
        p = self.get(name)
        require_reachable(p, f"/ingress/{table}")
        p.input_records += records
        p.input_bytes += size
        scripted = self.input_scripts.get(name)
        if scripted:
            message = scripted.popleft()
            self.schedule(p, p.timings.runner_reaction, lambda q: self.fail_runtime(q, message))
        p.completion_tokens += 1
        return f"{p.s['deployment_id']}:{p.completion_tokens}"

    def panic(self, name: str, message: str | None = None) -> None:
        """Make a Provisioned pipeline fail now with ``RuntimeError.WorkerPanic``: two events
        with one ``recorded_at`` (desired Stopped, then Stopping with the error)."""
        p = self.get(name)
        if p.s["deployment_resources_status"] != "Provisioned":
            raise _bad_request(
                "IllegalPipelineAction",
                f"Pipeline '{name}' is not Provisioned; only a running pipeline can panic.",
            )
        self.fail_runtime(p, message)

    def set_runtime_status(
        self, name: str, runtime_status: str, details: dict[str, Any] | None = None
    ) -> None:
        """Force a runtime status on a Provisioned pipeline (e.g. ``AwaitingApproval``,
        ``Bootstrapping``, ``Unavailable``) with ``details`` (default: what a pipeline
        reports, never ``null``); one event.  The engine does not move it on."""
        p = self.get(name)
        if p.s["deployment_resources_status"] != "Provisioned":
            raise _bad_request("IllegalPipelineAction", f"Pipeline '{name}' is not Provisioned.")
        self.cancel(p, "step")
        self.write(
            p,
            refresh=True,
            deployment_runtime_status=runtime_status,
            deployment_runtime_status_details=(
                runtime_details(runtime_status) if details is None else details
            ),
        )

    def heartbeat(self, name: str) -> None:
        """Write a duplicate event (same status fields), as the runner does every 600 s."""
        self.write(self.get(name), refresh=True)  # the runner's "remain" write
