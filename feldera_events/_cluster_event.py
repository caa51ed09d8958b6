"""The cluster's health: :class:`ClusterEvent` (a cluster monitor event, with
:class:`MonitorStatus` per service) and :class:`ClusterHealth` (``/v0/cluster_healthz``).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any, Final, Self, TypeVar

import attrs

from ._convert import _json_type, _object_hooks, converter, structure
from ._errors import ResponseValidationError
from ._fields import UNSET, OpenEnum, Unset

__all__ = ["COMPONENTS", "ClusterEvent", "ClusterHealth", "MonitorStatus", "ServiceHealth"]

T = TypeVar("T")


def _from_json(cls: type[T], data: Any) -> T:
    try:
        return structure(data, cls)
    except ResponseValidationError as exc:
        raise ValueError(exc.reason) from None


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
        return _from_json(cls, data)


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
        return _from_json(cls, data)

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


def _structure_info(value: Any, _: Any) -> str | None:
    # UNSET is never sent: an absent key keeps the field's default.
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected a string or null, got {_json_type(value)}")
    return value


converter.register_structure_hook(OptionalInfo, _structure_info)
_object_hooks(
    ClusterEvent,
    unset_fields=tuple(f"{c}_{kind}_info" for c in COMPONENTS for kind in ("self", "resources")),
)
