"""Typed models of pipeline and cluster monitor events (attrs, frozen), and their converter hooks.

The models mirror the upstream OpenAPI schemas field for field, with the wire names.
The one cattrs converter lives in :mod:`feldera_events._convert`; this module
registers the hooks of its models there, and ``to_dict()`` delegates to it.
"""

from __future__ import annotations

import datetime as _dt
import enum
import uuid
from typing import Any, Final, Literal, Self, TypeAlias

import attrs

from ._convert import _json_type, _object_hooks, converter
from ._text import STATUS_LIMIT, safe_text

__all__ = [
    "COMPONENTS",
    "UNSET",
    "ClusterHealth",
    "ClusterEvent",
    "CombinedStatus",
    "DeploymentError",
    "OpenEnum",
    "MonitorStatus",
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
    "structure_status_event",
]


class Unset(enum.Enum):
    """The type of :data:`UNSET`: a field not sent (not selected); ``None`` is a ``null``. Falsy."""

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
        result: dict[str, Any] = converter.unstructure(self)
        return result


# -- cluster monitor events --------------------------------------------------
# The manager checks its three services (API server, compiler server, runner) every
# 10 s and records a cluster monitor event when the overall health changes, or every
# 10 minutes otherwise. ``GET /v0/cluster/events`` lists them (status fields only),
# ``GET /v0/cluster/events/{latest|id}`` reads one (``selector=all|status``); both
# are new in Feldera v0.292.

#: The services the cluster monitor checks, in the order the API lists them.
COMPONENTS: Final = ("api", "compiler", "runner")


class MonitorStatus(OpenEnum):
    """Health of one service in a cluster event (``MonitorStatus``)."""

    INITIAL_UNHEALTHY = "InitialUnhealthy"
    UNHEALTHY = "Unhealthy"
    HEALTHY = "Healthy"


# The spec's ClusterMonitorEventFieldSelector has exactly the values of
# PipelineMonitorEventFieldSelector ("all", "status", default "status"), so the
# cluster methods take the same :class:`Selector` (tests/test_cluster_contract.py checks).

#: A string field that may be absent (UNSET: not selected) or null (None).
OptionalInfo = str | Unset | None


@attrs.frozen
class ClusterEvent:
    """One cluster monitor event (``ClusterMonitorEventSelectedInfo``).

    The ``*_self_info`` / ``*_resources_info`` reports are only sent with
    ``selector=all``: they are :data:`UNSET` for an event fetched with
    ``selector=status`` (and for every event of the list endpoint), ``None`` when the
    server sent ``null``.
    """

    id: uuid.UUID
    recorded_at: _dt.datetime
    all_healthy: bool
    api_status: MonitorStatus
    compiler_status: MonitorStatus
    runner_status: MonitorStatus
    api_self_info: OptionalInfo = UNSET
    api_resources_info: OptionalInfo = UNSET
    compiler_self_info: OptionalInfo = UNSET
    compiler_resources_info: OptionalInfo = UNSET
    runner_self_info: OptionalInfo = UNSET
    runner_resources_info: OptionalInfo = UNSET
    #: Keys the server sent that this version does not know, kept as they came.
    additional_properties: dict[str, Any] = attrs.field(factory=dict, repr=False, hash=False)

    def status_of(self, component: str) -> MonitorStatus:
        """The status of ``"api"``, ``"compiler"`` or ``"runner"``."""
        if component not in COMPONENTS:
            raise ValueError(f"component must be one of {', '.join(COMPONENTS)}, got {component!r}")
        status: MonitorStatus = getattr(self, f"{component}_status")
        return status

    @property
    def unhealthy_components(self) -> list[str]:
        """The services whose status is not ``Healthy`` (e.g. ``["runner"]``), in API order.

        An unknown status value counts as not healthy.
        """
        return [c for c in COMPONENTS if self.status_of(c) is not MonitorStatus.HEALTHY]

    def describe(self) -> str:
        """A short human summary: ``all healthy`` or ``unhealthy: runner (Unhealthy)``."""
        if self.all_healthy:
            return "all healthy"
        bad = self.unhealthy_components
        if not bad:  # the server's conclusion disagrees with the statuses: say both
            statuses = ", ".join(f"{c} {self.status_of(c).value}" for c in COMPONENTS)
            return f"not all healthy ({statuses})"
        return "unhealthy: " + ", ".join(f"{c} ({self.status_of(c).value})" for c in bad)

    def to_dict(self) -> dict[str, Any]:
        """The event as wire JSON (unknown extra keys included, unselected keys omitted)."""
        result: dict[str, Any] = converter.unstructure(self)
        return result


_INFO_FIELDS: Final = tuple(
    f"{component}_{kind}_info" for component in COMPONENTS for kind in ("self", "resources")
)


def _structure_info(value: Any, _: Any) -> str | Unset | None:
    if value is None or value is UNSET:
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a string or null, got {_json_type(value)}")
    return value


# -- converter hooks ------------------------------------------------------------


def _structure_open_enum(value: Any, cls: type[OpenEnum]) -> OpenEnum:
    member = cls._value2member_map_.get(value) if isinstance(value, str) else None
    if member is not None:
        return member  # type: ignore[return-value]
    if not isinstance(value, str):
        raise TypeError(f"expected a string for {cls.__name__}, got {_json_type(value)}")
    return cls(value)


def _structure_optional_error(value: Any, _: Any) -> DeploymentError | Unset | None:
    if value is None:
        return None
    if value is UNSET:
        return Unset.UNSET
    error: DeploymentError = converter.structure(value, DeploymentError)
    return error


def _unstructure_optional_error(value: DeploymentError | Unset | None) -> Any:
    if value is None or value is UNSET:
        return value
    return converter.unstructure(value, DeploymentError)


# Class-based hooks dispatch on subclasses too (functools.singledispatch), so the
# OpenEnum hook, being more specific than the str hook, wins for every status enum.
converter.register_structure_hook(OpenEnum, _structure_open_enum)
converter.register_unstructure_hook(OpenEnum, lambda e: e.value)
converter.register_structure_hook(DeploymentError | None | Unset, _structure_optional_error)
converter.register_unstructure_hook(DeploymentError | None | Unset, _unstructure_optional_error)
#: The keys of a ``selector=status`` event (every poll's): the fields before the details.
_STATUS_KEYS: Final = frozenset(field.name for field in attrs.fields(PipelineEvent)[:9])


# The known members by wire value (an unknown value is left to the full hook).
_RESOURCES: Final[dict[Any, Any]] = ResourcesStatus._value2member_map_
_RESOURCES_DESIRED: Final[dict[Any, Any]] = ResourcesDesiredStatus._value2member_map_
_RUNTIME: Final[dict[Any, Any]] = RuntimeStatus._value2member_map_
_RUNTIME_DESIRED: Final[dict[Any, Any]] = RuntimeDesiredStatus._value2member_map_
_PROGRAM: Final[dict[Any, Any]] = ProgramStatus._value2member_map_
_STORAGE: Final[dict[Any, Any]] = StorageStatus._value2member_map_


def structure_status_event(data: dict[str, Any]) -> PipelineEvent | None:
    """A ``selector=status`` event with known values, built by hand (the hot path).

    None for any other data (another shape, an unknown enum value, a wrong type, a
    missing key): the generated cattrs function structures it, and says what is wrong.
    For the data it accepts it does exactly what the field hooks would do.
    """
    if len(data) > len(_STATUS_KEYS) or not _STATUS_KEYS.issuperset(data):
        return None
    get = data.get
    try:
        # A value that is not a string finds no member (an unhashable one: TypeError).
        resources = _RESOURCES.get(get("deployment_resources_status"))
        desired = _RESOURCES_DESIRED.get(get("deployment_resources_desired_status"))
        program = _PROGRAM.get(get("program_status"))
        storage = _STORAGE.get(get("storage_status"))
        runtime = get("deployment_runtime_status")
        if runtime is not None and (runtime := _RUNTIME.get(runtime)) is None:
            return None
        runtime_desired = get("deployment_runtime_desired_status")
        if runtime_desired is not None and (
            (runtime_desired := _RUNTIME_DESIRED.get(runtime_desired)) is None
        ):
            return None
    except TypeError:
        return None
    event_id = get("event_id")
    recorded_at = get("recorded_at")
    has_error = get("deployment_has_error")
    if (
        resources is None
        or desired is None
        or program is None
        or storage is None
        or type(has_error) is not bool
        or type(event_id) is not str
        or type(recorded_at) is not str
        or ("T" not in recorded_at and "t" not in recorded_at)
    ):
        return None
    try:
        uid = uuid.UUID(event_id)
        when = _dt.datetime.fromisoformat(recorded_at)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return PipelineEvent(
        uid, when, resources, desired, has_error, program, storage, runtime, runtime_desired
    )


_object_hooks(DeploymentError)
_object_hooks(
    PipelineEvent,
    fast=structure_status_event,
    unset_fields=(
        "deployment_error",
        "deployment_resources_status_details",
        "deployment_runtime_status_details",
        "storage_status_details",
    ),
)


converter.register_structure_hook(OptionalInfo, _structure_info)
converter.register_unstructure_hook(OptionalInfo, lambda value: value)
_object_hooks(ClusterEvent, unset_fields=_INFO_FIELDS)
