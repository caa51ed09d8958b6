"""Owns the simulated cluster monitor: per-service health, its event log, ``/cluster_healthz``
(pure, like the pipeline engine)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, Literal

from feldera_events.testing._model import CallLater, Cancellable, UUIDv7Factory, format_timestamp
from feldera_events.testing._rows import EventLog

__all__ = ["CLUSTER_SERVICES", "ClusterMonitor", "MonitorStatus"]

MonitorStatus = Literal["InitialUnhealthy", "Unhealthy", "Healthy"]

CLUSTER_SERVICES = ("api", "compiler", "runner")
CLUSTER_STATUS_KEYS = ("all_healthy", "api_status", "compiler_status", "runner_status")


class ClusterMonitor:
    """One status per service and the cluster event log.

    :param startup: seconds (already scaled) from :meth:`begin` until every service is
        Healthy, unless a health change comes first.
    """

    def __init__(
        self,
        *,
        call_later: CallLater,
        now: Callable[[], dt.datetime],
        ids: UUIDv7Factory,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._call_later = call_later
        self._now = now
        self._ids = ids
        self._on_change = on_change
        start = now()
        self.status: dict[str, str] = dict.fromkeys(CLUSTER_SERVICES, "InitialUnhealthy")
        self.messages: dict[str, str] = dict.fromkeys(CLUSTER_SERVICES, "Starting up")
        self.unchanged_since: dict[str, dt.datetime] = dict.fromkeys(CLUSTER_SERVICES, start)
        self.events = EventLog("id", CLUSTER_STATUS_KEYS)
        self._startup: Cancellable | None = None

    def healthy(self, service: str) -> bool:
        return self.status[service] == "Healthy"

    def all_healthy(self) -> bool:
        return all(self.healthy(s) for s in CLUSTER_SERVICES)

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {"all_healthy": self.all_healthy()}
        for service in CLUSTER_SERVICES:
            out[f"{service}_status"] = self.status[service]
        for service in CLUSTER_SERVICES:
            out[f"{service}_self_info"] = self.messages[service]
            out[f"{service}_resources_info"] = (
                "All resources are ready" if self.healthy(service) else "Resources not ready"
            )
        return out

    def _write(self) -> None:
        ts = self._now()
        self.events.append(self._ids.new(ts), ts, self.snapshot())
        self._on_change()

    def begin(self, startup: float) -> None:
        """The first event (every service InitialUnhealthy), then Healthy after ``startup``."""
        self._write()
        healthy = functools.partial(
            self.set_health, api="Healthy", compiler="Healthy", runner="Healthy"
        )
        self._startup = self._call_later(max(0.0, startup), healthy)

    def cancel(self) -> None:
        if self._startup is not None:
            self._startup.cancel()
            self._startup = None

    def set_health(
        self,
        *,
        api: MonitorStatus | None = None,
        compiler: MonitorStatus | None = None,
        runner: MonitorStatus | None = None,
        message: str | None = None,
    ) -> None:
        """Set service health; writes one cluster event if anything changed."""
        now = self._now()
        changed = False
        for service, value in (("api", api), ("compiler", compiler), ("runner", runner)):
            if value is None or self.status[service] == value:
                continue
            was_healthy = self.healthy(service)
            self.status[service] = value
            self.messages[service] = message or (
                "Service is healthy" if value == "Healthy" else "Service is unhealthy"
            )
            if was_healthy != self.healthy(service):
                self.unchanged_since[service] = now
            changed = True
        if changed:
            self.cancel()
            self._write()

    def health_body(self) -> dict[str, Any]:
        """The ``HealthStatus`` body ``/v0/cluster_healthz`` would send now."""
        checked = format_timestamp(self._now())
        out: dict[str, Any] = {"all_healthy": self.all_healthy()}
        for service in CLUSTER_SERVICES:
            out[service] = {
                "healthy": self.healthy(service),
                "message": self.messages[service],
                "unchanged_since": format_timestamp(self.unchanged_since[service]),
                "checked_at": checked,
            }
        return out
