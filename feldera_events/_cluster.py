"""Cluster monitor events: the model, and the requests behind the client's cluster methods.

The manager checks its three services (API server, compiler server, runner) every
10 s and records a *cluster monitor event* when the overall health changes, or every
10 minutes otherwise (at most 1000 kept, none older than 72 h; the latest is never
cleaned up). The endpoints are ``GET /v0/cluster/events`` (newest first, status
fields only: it takes no ``selector``) and ``GET /v0/cluster/events/{latest|id}``
(``selector=all|status``). Both are new in Feldera v0.292; an older manager answers
a plain 404 without a Feldera error body, which becomes
:class:`ClusterEventsUnsupportedError`.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import uuid
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._convert import _json_type, _object_hooks, converter, structure, structure_list
from ._errors import ClusterEventsUnsupportedError, EventNotFoundError, NotFoundError
from ._models import UNSET, OpenEnum, Selector, Unset

if TYPE_CHECKING:
    from ._client import EventsClient
    from ._retry import RetryPolicy

__all__ = ["COMPONENTS", "ClusterEvent", "MonitorStatus"]

logger = logging.getLogger("feldera_events")

#: The services the cluster monitor checks, in the order the API lists them.
COMPONENTS: Final = ("api", "compiler", "runner")

#: ``list_cluster_events(selector="all")`` fetches each event in full with this many
#: requests in flight at most.
_FULL_FETCH_CONCURRENCY: Final = 8


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


converter.register_structure_hook(OptionalInfo, _structure_info)
converter.register_unstructure_hook(OptionalInfo, lambda value: value)
_object_hooks(ClusterEvent, unset_fields=_INFO_FIELDS)


# -- requests (called by EventsClient's cluster methods and by the poller) -----------------

CLUSTER_EVENTS_PATH: Final = "/v0/cluster/events"


def unsupported(exc: NotFoundError) -> ClusterEventsUnsupportedError:
    """The error for a route-level 404 (no Feldera error body) on a cluster route."""
    return ClusterEventsUnsupportedError(
        "this server does not support cluster events (Feldera < v0.292: the route "
        f"{CLUSTER_EVENTS_PATH} does not exist); server said: {exc.message}",
        status_code=exc.status_code,
        details=exc.details,
        retry_after=exc.retry_after,
        method=exc.method,
        url=exc.url,
        body=exc.body,
    )


async def _get_json(
    client: EventsClient,
    path: str,
    selector: Selector | None,
    *,
    retry: RetryPolicy | None,
    deadline: float | None,
) -> Any:
    try:
        return await client._get_json(path, selector, retry=retry, deadline=deadline)
    except NotFoundError as exc:
        if exc.error_code is None and not isinstance(exc, ClusterEventsUnsupportedError):
            raise unsupported(exc) from exc
        raise


async def fetch_cluster_event(
    client: EventsClient,
    event_id: str | uuid.UUID,
    *,
    selector: Selector | str,
    retry: RetryPolicy | None,
    deadline: float | None = None,
) -> ClusterEvent:
    from ._client import normalize_event_id, normalize_selector

    eid = normalize_event_id(event_id)
    sel = normalize_selector(selector)
    path = f"{CLUSTER_EVENTS_PATH}/{eid}"
    data = await _get_json(client, path, sel, retry=retry, deadline=deadline)
    event: ClusterEvent = client._structure(
        structure, data, ClusterEvent, f"{path}?selector={sel.value}"
    )
    return event


async def fetch_cluster_events(
    client: EventsClient,
    *,
    selector: Selector | str,
    retry: RetryPolicy | None,
    deadline: float | None = None,
) -> list[ClusterEvent]:
    from ._client import normalize_selector

    sel = normalize_selector(selector)
    # The list endpoint takes no selector and always sends the status fields.
    data = await _get_json(client, CLUSTER_EVENTS_PATH, None, retry=retry, deadline=deadline)
    events: list[ClusterEvent] = client._structure(
        structure_list, data, ClusterEvent, CLUSTER_EVENTS_PATH
    )
    if sel is not Selector.ALL or not events:
        return events
    return await _fetch_in_full(client, events, retry=retry, deadline=deadline)


async def _fetch_in_full(
    client: EventsClient,
    events: list[ClusterEvent],
    *,
    retry: RetryPolicy | None,
    deadline: float | None,
) -> list[ClusterEvent]:
    """Each listed event again with ``selector=all`` (one request each, a few at a time).

    An event cleaned up between the list and its own request is left out.
    """
    gate = asyncio.Semaphore(_FULL_FETCH_CONCURRENCY)

    async def one(ev: ClusterEvent) -> ClusterEvent | None:
        async with gate:
            try:
                return await fetch_cluster_event(
                    client, ev.id, selector=Selector.ALL, retry=retry, deadline=deadline
                )
            except EventNotFoundError:
                logger.debug("cluster event %s was cleaned up before it could be read", ev.id)
                return None

    # gather, not a TaskGroup: the caller gets the first error itself, not an
    # ExceptionGroup; the other requests are cancelled and awaited before it propagates.
    tasks = [asyncio.ensure_future(one(ev)) for ev in events]
    try:
        results = await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [full for full in results if full is not None]
