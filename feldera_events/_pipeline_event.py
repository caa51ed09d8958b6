"""The pipeline monitor event: :class:`PipelineEvent` (``PipelineMonitorEventSelectedInfo``
field for field, with the wire names), its status enums, the deployment error it may
carry, and its status in one line. Its converter hooks are ``_status_event``'s.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any, Final

import attrs

from ._convert import _object_hooks, converter
from ._fields import JSON, UNSET, OpenEnum, Unset
from ._text import STATUS_LIMIT, safe_text

__all__ = [
    "CombinedStatus",
    "DeploymentError",
    "PipelineEvent",
    "ProgramStatus",
    "ResourcesDesiredStatus",
    "ResourcesStatus",
    "RuntimeDesiredStatus",
    "RuntimeStatus",
    "StorageStatus",
]


class ResourcesStatus(OpenEnum):
    """``deployment_resources_status``."""

    STOPPED = "Stopped"
    PROVISIONING = "Provisioning"
    PROVISIONED = "Provisioned"
    STOPPING = "Stopping"


class ResourcesDesiredStatus(OpenEnum):
    """``deployment_resources_desired_status``."""

    STOPPED = "Stopped"
    PROVISIONED = "Provisioned"


class RuntimeStatus(OpenEnum):
    """``deployment_runtime_status`` (None unless resources are Provisioned)."""

    UNAVAILABLE = "Unavailable"
    COORDINATION = "Coordination"
    STANDBY = "Standby"
    INITIALIZING = "Initializing"
    AWAITING_APPROVAL = "AwaitingApproval"
    BOOTSTRAPPING = "Bootstrapping"
    REPLAYING = "Replaying"
    PAUSED = "Paused"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    CONCURRENT_BOOTSTRAPPING = "ConcurrentBootstrapping"
    SYNCHRONIZING = "Synchronizing"


class RuntimeDesiredStatus(OpenEnum):
    """``deployment_runtime_desired_status`` (None unless resources are Provisioned)."""

    UNAVAILABLE = "Unavailable"
    COORDINATION = "Coordination"
    STANDBY = "Standby"
    PAUSED = "Paused"
    RUNNING = "Running"
    SUSPENDED = "Suspended"


class StorageStatus(OpenEnum):
    """``storage_status``."""

    CLEARED = "Cleared"
    IN_USE = "InUse"
    CLEARING = "Clearing"


class ProgramStatus(OpenEnum):
    """``program_status``: compilation of the pipeline's program."""

    PENDING = "Pending"
    COMPILING_SQL = "CompilingSql"
    SQL_COMPILED = "SqlCompiled"
    COMPILING_RUST = "CompilingRust"
    SUCCESS = "Success"
    SQL_ERROR = "SqlError"
    RUST_ERROR = "RustError"
    SYSTEM_ERROR = "SystemError"


class CombinedStatus(OpenEnum):
    """The manager's combined ``deployment_status`` (see :attr:`PipelineEvent.combined_status`)."""

    STOPPED = "Stopped"
    PROVISIONING = "Provisioning"
    UNAVAILABLE = "Unavailable"
    COORDINATION = "Coordination"
    STANDBY = "Standby"
    AWAITING_APPROVAL = "AwaitingApproval"
    INITIALIZING = "Initializing"
    BOOTSTRAPPING = "Bootstrapping"
    CONCURRENT_BOOTSTRAPPING = "ConcurrentBootstrapping"
    SYNCHRONIZING = "Synchronizing"
    REPLAYING = "Replaying"
    PAUSED = "Paused"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    STOPPING = "Stopping"


@attrs.frozen
class DeploymentError:
    """The server's ``ErrorResponse`` stored in an event's ``deployment_error``."""

    error_code: str
    message: str
    #: Error metadata; its shape depends on ``error_code``. None when absent.
    details: JSON = attrs.field(default=None, hash=False)
    #: Keys the server sent that this version does not know, kept as they came.
    additional_properties: dict[str, JSON] = attrs.field(factory=dict, repr=False, hash=False)


#: ``program_status`` words while the program is not ``Success`` (:meth:`PipelineEvent.status_text`).
_PROGRAM_WORDS: Final = {
    "Pending": "program pending",
    "CompilingSql": "compiling SQL",
    "SqlCompiled": "SQL compiled",
    "CompilingRust": "compiling Rust",
    "SqlError": "SQL error",
    "RustError": "Rust error",
    "SystemError": "compiler system error",
}


@attrs.frozen
class PipelineEvent:
    """One pipeline monitor event (``PipelineMonitorEventSelectedInfo``).

    A snapshot of the pipeline's status fields at ``recorded_at``. Fields only sent
    with ``selector=all`` are :data:`UNSET` when the event was fetched with
    ``selector=status``; ``None`` means the server sent ``null``.
    """

    event_id: uuid.UUID
    recorded_at: _dt.datetime
    deployment_resources_status: ResourcesStatus
    deployment_resources_desired_status: ResourcesDesiredStatus
    deployment_has_error: bool
    program_status: ProgramStatus
    storage_status: StorageStatus
    deployment_runtime_status: RuntimeStatus | None = None
    deployment_runtime_desired_status: RuntimeDesiredStatus | None = None
    # JSON-valued fields take no part in hashing (dicts are unhashable); equality
    # still compares them, so equal events hash alike.
    deployment_error: DeploymentError | Unset | None = attrs.field(default=UNSET, hash=False)
    deployment_resources_status_details: JSON = attrs.field(default=UNSET, hash=False)
    deployment_runtime_status_details: JSON = attrs.field(default=UNSET, hash=False)
    storage_status_details: JSON = attrs.field(default=UNSET, hash=False)
    #: Keys the server sent that this version does not know, kept as they came.
    additional_properties: dict[str, JSON] = attrs.field(factory=dict, repr=False, hash=False)

    @property
    def combined_status(self) -> CombinedStatus:
        """The manager's combined ``deployment_status``, derived as the server does.

        Stopped, Provisioning and Stopping map to themselves; Provisioned maps to the
        runtime status (``Unavailable`` when that is null).
        """
        resources = self.deployment_resources_status
        if resources is ResourcesStatus.PROVISIONED:
            runtime = self.deployment_runtime_status
            return CombinedStatus(runtime.value if runtime is not None else "Unavailable")
        return CombinedStatus(resources.value)

    @property
    def is_provisioned(self) -> bool:
        """Resources status is ``Provisioned``."""
        return self.deployment_resources_status is ResourcesStatus.PROVISIONED

    @property
    def has_failed(self) -> bool:
        """Resources status is ``Stopped`` and the deployment has an error."""
        return (
            self.deployment_resources_status is ResourcesStatus.STOPPED
            and self.deployment_has_error
        )

    def status_text(self, previous: PipelineEvent | None = None) -> str:
        """The status in one line, in the CLI's notation (plain text, escaped and bounded).

        ``RESOURCES[/RUNTIME][ → DESIRED]`` (the desired status while it differs, the
        runtime's once resources are there: ``Provisioned/Initializing → Running``), then
        the program status while not ``Success``, the storage status when it changed
        since ``previous``, and the error (``error CODE``, or ``has error``)."""
        resources = self.deployment_resources_status.value
        runtime = self.deployment_runtime_status
        desired = self.deployment_runtime_desired_status
        text = resources if runtime is None else f"{resources}/{runtime.value}"
        if self.deployment_resources_desired_status.value != resources:
            text += f" → {self.deployment_resources_desired_status.value}"
        elif runtime is not None and desired is not None and desired.value != runtime.value:
            text += f" → {desired.value}"
        parts = [text]
        if (program := self.program_status.value) != "Success":
            parts.append(_PROGRAM_WORDS.get(program, f"program {program}"))
        if previous is not None and previous.storage_status != self.storage_status:
            parts.append(f"storage {previous.storage_status.value} → {self.storage_status.value}")
        if isinstance(self.deployment_error, DeploymentError):
            parts.append(f"error {self.deployment_error.error_code}")
        elif self.deployment_has_error:
            parts.append("has error")
        return safe_text(", ".join(parts), STATUS_LIMIT)  # the server's words, made safe

    def describe(self) -> str:
        """The same as :meth:`status_text` (``Provisioned/Initializing → Running``)."""
        return self.status_text()

    def same_status(self, other: PipelineEvent) -> bool:
        """True when ``other`` has the same status fields (a heartbeat duplicate)."""
        return _status_key(self) == _status_key(other)

    def to_dict(self) -> dict[str, JSON]:
        """The event as wire JSON (unknown extra keys included, unselected keys omitted)."""
        result: dict[str, JSON] = converter.unstructure(self)
        return result


def _status_key(ev: PipelineEvent) -> tuple[object, ...]:
    return (
        ev.deployment_resources_status,
        ev.deployment_resources_desired_status,
        ev.deployment_runtime_status,
        ev.deployment_runtime_desired_status,
        ev.deployment_has_error,
        ev.program_status,
        ev.storage_status,
    )


def _structure_optional_error(value: Any, _: Any) -> DeploymentError | None:
    # UNSET is never sent: an absent key keeps the field's default.
    return None if value is None else converter.structure(value, DeploymentError)


converter.register_structure_hook(DeploymentError | None | Unset, _structure_optional_error)
_object_hooks(DeploymentError)
