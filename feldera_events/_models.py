"""Typed models of the pipeline monitor events API (attrs, frozen).

The models mirror the upstream OpenAPI schemas field for field, with the wire names.
Structuring and unstructuring live in :mod:`feldera_events._convert` (one cattrs
converter); ``to_dict()`` here delegates to it.
"""

from __future__ import annotations

import datetime as _dt
import enum
import uuid
from typing import Any, Final, Literal, Self, TypeAlias

import attrs

__all__ = [
    "UNSET",
    "ClusterHealth",
    "CombinedStatus",
    "DeploymentError",
    "OpenEnum",
    "PipelineEvent",
    "ProgramStatus",
    "ResourcesDesiredStatus",
    "ResourcesStatus",
    "ServiceHealth",
    "RuntimeDesiredStatus",
    "RuntimeStatus",
    "Selector",
    "StorageStatus",
    "Unset",
]


class Unset(enum.Enum):
    """The type of :data:`UNSET`: a field the server did not send (not selected).

    Distinct from ``None``, which means the server sent ``null``. Falsy.
    """

    UNSET = "UNSET"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"


#: Marks a field that was not part of the response (e.g. ``*_details`` with
#: ``selector=status``), as opposed to ``None`` for an explicit ``null``.
UNSET: Final = Unset.UNSET


class OpenEnum(enum.StrEnum):
    """A string enum that accepts values it does not know.

    Feldera adds enum values over time (``Coordination`` is recent). Looking up an
    unknown value never raises: it returns a pseudo-member whose ``value`` is the
    wire string (so it round-trips back out), whose ``name`` is ``UNKNOWN``, which
    is equal to no known member and for which :attr:`is_known` is False.
    """

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        cache: dict[str, Self] = cls.__dict__.get("_unknown_cache_") or {}
        if not cache:
            type.__setattr__(cls, "_unknown_cache_", cache)
        member = cache.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = "UNKNOWN"
            member._value_ = value
            if len(cache) < 1024:  # bound what a misbehaving server can make us keep
                cache[value] = member
        return member

    @property
    def is_known(self) -> bool:
        """True for a value this version of feldera-events knows."""
        return self._value_ in type(self)._value2member_map_

    def __repr__(self) -> str:
        if self.is_known:
            return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"
        return f"<{type(self).__name__} (unknown): {self._value_!r}>"


class Selector(OpenEnum):
    """``selector`` query parameter: which fields an event response carries."""

    ALL = "all"
    STATUS = "status"


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


#: Any JSON value (the untyped ``*_details`` fields).
JSON: TypeAlias = Any


@attrs.frozen
class DeploymentError:
    """The server's ``ErrorResponse`` stored in an event's ``deployment_error``."""

    error_code: str
    message: str
    #: Error metadata; its shape depends on ``error_code``. None when absent.
    details: JSON = attrs.field(default=None, hash=False)
    #: Keys the server sent that this version does not know, kept as they came.
    additional_properties: dict[str, JSON] = attrs.field(factory=dict, repr=False, hash=False)


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

    def describe(self) -> str:
        """A short human summary such as ``Provisioned/Running`` or ``Stopped (error)``."""
        text = str(self.deployment_resources_status.value)
        if self.deployment_runtime_status is not None:
            text += f"/{self.deployment_runtime_status.value}"
        text += f" (desired {self.deployment_resources_desired_status.value}"
        if self.deployment_has_error:
            text += ", has error"
        return text + ")"

    def same_status(self, other: PipelineEvent) -> bool:
        """True when ``other`` has the same status fields (a heartbeat duplicate)."""
        return _status_key(self) == _status_key(other)

    def to_dict(self) -> dict[str, JSON]:
        """The event as wire JSON (unknown extra keys included, unselected keys omitted)."""
        from ._convert import converter

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


def _health_time(data: dict[str, Any], key: str) -> _dt.datetime:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a date-time string, got {value!r}")
    when = _dt.datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"{key} must carry a time zone, got {value!r}")
    return when


@attrs.frozen
class ServiceHealth:
    """One service in :class:`ClusterHealth` (``ServiceStatus`` of ``/v0/cluster_healthz``)."""

    healthy: bool
    #: The report of its most recent health check.
    message: str
    #: About when it last turned healthy or unhealthy (bounded by event retention).
    unchanged_since: _dt.datetime
    #: When the most recent cluster monitor event was recorded.
    checked_at: _dt.datetime

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Parse the wire JSON; :class:`ValueError` when it is not a ``ServiceStatus``."""
        if not isinstance(data, dict):
            raise ValueError(f"a service status must be an object, got {type(data).__name__}")
        healthy, message = data.get("healthy"), data.get("message")
        if not isinstance(healthy, bool) or not isinstance(message, str):
            raise ValueError("a service status needs a boolean 'healthy' and a string 'message'")
        return cls(
            healthy,
            message,
            _health_time(data, "unchanged_since"),
            _health_time(data, "checked_at"),
        )


@attrs.frozen
class ClusterHealth:
    """``GET /v0/cluster_healthz``: the health of the cluster and of each service."""

    all_healthy: bool
    api: ServiceHealth
    compiler: ServiceHealth
    runner: ServiceHealth

    @property
    def services(self) -> dict[str, ServiceHealth]:
        """``{"api": ..., "compiler": ..., "runner": ...}``."""
        return {"api": self.api, "compiler": self.compiler, "runner": self.runner}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Parse the wire JSON; :class:`ValueError` when it is not a ``HealthStatus``."""
        if not isinstance(data, dict) or not isinstance(data.get("all_healthy"), bool):
            raise ValueError("a health status must be an object with a boolean 'all_healthy'")
        return cls(
            data["all_healthy"],
            *(ServiceHealth.from_json(data.get(name)) for name in ("api", "compiler", "runner")),
        )

    def to_dict(self) -> dict[str, Any]:
        """Wire JSON (times in RFC 3339)."""
        return {
            "all_healthy": self.all_healthy,
            **{
                name: {
                    "healthy": s.healthy,
                    "message": s.message,
                    "unchanged_since": s.unchanged_since.isoformat(),
                    "checked_at": s.checked_at.isoformat(),
                }
                for name, s in self.services.items()
            },
        }
