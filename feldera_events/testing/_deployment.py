"""Owns the rules of the deployment actions: ``/start``, ``/stop``, ``/pause``, ``/resume``,
``/clear`` and ``/dismiss_error``, and which events each writes.

Pure, like the automaton underneath.  Each accepted ``/start`` and ``/stop?force=true``,
and each ``/dismiss_error``, is one write of the pipeline row, so it writes one event even
when nothing changed (as the manager does; upstream's own events test folds such
duplicates away).  A refused action writes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from feldera_events.testing._background import Automaton, runtime_details
from feldera_events.testing._model import FakeAPIError
from feldera_events.testing._rows import PROGRAM_FAILED, Pipeline
from feldera_events.testing._runtime_config import standby_allowed

__all__ = ["BOOTSTRAP_POLICIES", "DeploymentRules", "fully_stopped"]

_INITIAL = {"running": "Running", "paused": "Paused", "standby": "Standby"}
#: ``/start?bootstrap_policy=``; a start without one stores ``await_approval`` (the
#: manager's default): a program changed since the storage's checkpoint then waits for
#: ``/approve`` (``AwaitingApproval``); the others bootstrap at once.
BOOTSTRAP_POLICIES = ("allow", "reject", "await_approval")


def fully_stopped(p: Pipeline) -> bool:
    return bool(
        p.s["deployment_resources_status"] == "Stopped"
        and p.s["deployment_resources_desired_status"] == "Stopped"
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


class DeploymentRules(Automaton):
    """The deployment actions of :class:`~feldera_events.testing._operations.Engine`."""

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
        Refused as the manager refuses it, checked in its order: the bootstrap settings and ``initial``; a stop
        still under way (``IllegalPipelineAction``); an error not dismissed; storage
        being cleared; a failed compilation; a different ``initial`` or bootstrap
        setting than the start already in force (``InitialImmutableUnlessStopped``,
        ``BootstrapPolicyImmutableUnlessStopped``); ``initial=standby`` without a file
        storage backend that syncs (``InitialStandbyNotAllowed``).
        """
        policy = "await_approval" if bootstrap_policy is None else bootstrap_policy
        if policy not in BOOTSTRAP_POLICIES:
            raise ValueError(f"bootstrap_policy must be one of {BOOTSTRAP_POLICIES}: {policy!r}")
        if silent_bootstrap and concurrent_bootstrap:
            raise FakeAPIError(
                400,
                "InvalidBootstrapConfig",
                "Invalid bootstrap configuration: silent_bootstrap and concurrent_bootstrap "
                "cannot both be set",
                {"reason": "silent_bootstrap and concurrent_bootstrap cannot both be set"},
            )
        runtime_initial = _INITIAL.get(initial)
        if runtime_initial is None:
            raise FakeAPIError(
                400,
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
        error = None if dismiss_error else s["deployment_error"]
        if error is not None:
            raise FakeAPIError(
                400,
                "CannotStartWithUndismissedError",
                "Cannot process `/start?dismiss_error=false` if the `deployment_error` is set. "
                "Dismiss it first by calling `/dismiss_error`, or start with "
                "`/start?dismiss_error=true`.",
            )
        if s["storage_status"] == "Clearing":
            raise FakeAPIError(
                400,
                "CannotStartWhileClearingStorage",
                "Cannot process `/start` if the `storage_status` is `Clearing`. Wait for the "
                "storage to become cleared before trying again.",
            )
        program = s["program_status"]
        if program in PROGRAM_FAILED:
            raise FakeAPIError(
                400,
                "CannotStartWithCompilationError",
                "Cannot process `/start` if the `program_status` is `SqlError`, `RustError` or "
                f"`SystemError` (it is `{program}`). Make changes to fix the error, which will "
                "trigger recompilation.",
            )
        if s["deployment_initial"] is not None and s["deployment_initial"] != runtime_initial:
            raise FakeAPIError(
                400,
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
            raise FakeAPIError(
                400,
                "BootstrapPolicyImmutableUnlessStopped",
                "Bootstrap policy cannot be changed unless the pipeline is desired to become "
                "Stopped.",
            )
        if runtime_initial == "Standby" and not standby_allowed(p.runtime_config):
            raise FakeAPIError(
                400,
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
                changes.update(
                    deployment_initial=None,
                    bootstrap_policy=None,
                    silent_bootstrap=False,
                    concurrent_bootstrap=False,
                )
                if desired == "Provisioned":
                    self.cancel_step(p)  # the runner's pending step towards Provisioning
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
            raise FakeAPIError(
                400,
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
            raise FakeAPIError(
                400,
                "DismissErrorRestrictedToFullyStopped",
                "The pipeline must have both status `Stopped` and desired status `Stopped` to "
                "dismiss the `deployment_error` if it is set.",
            )
        self.write(p, deployment_error=None)
