"""Owns the fake's HTTP application: what happens to each request (the answering gate,
the request log and counts, auth, injected faults, the response observer) and routing on
the raw path (the manager's route table); the handlers are ``_rest``'s."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any, Literal
from urllib.parse import unquote

from aiohttp import web

from feldera_events.testing._faults import Fault, FaultHandle, FaultRule, normalize_operations
from feldera_events.testing._model import FakeAPIError, RequestRecord
from feldera_events.testing._monitor import ClusterMonitor
from feldera_events.testing._operations import Engine
from feldera_events.testing._rest import (
    JSON,
    PIPELINE_ACTIONS,
    Handlers,
    error_response,
    json_response,
    raw_json,
)

__all__ = ["FakeApp", "ResponseObserver"]

#: ``observer(operation_id, status, content_type, body)`` for every complete response.
ResponseObserver = Callable[[str | None, int, str, bytes], None]

#: The manager's routes under ``/v0``: (method, path, operationId, also the name of the
#: ``Handlers`` method that answers it).  A ``{param}`` segment matches any one (decoded)
#: segment and is handed to the handler.  Feldera registers each endpoint with actix's method macros
#: (``#[get(...)]``), so a wrong method matches no route at all: a plain 404, like an
#: unknown path.
ROUTES = (
    ("GET", "config", "get_config"),
    ("GET", "api_keys", "list_api_keys"),
    ("POST", "api_keys", "post_api_key"),
    ("GET", "api_keys/{key}", "get_api_key"),
    ("DELETE", "api_keys/{key}", "delete_api_key"),
    ("GET", "pipelines", "list_pipelines"),
    ("POST", "pipelines", "post_pipeline"),
    ("GET", "pipelines/{name}", "get_pipeline"),
    ("PUT", "pipelines/{name}", "put_pipeline"),
    ("PATCH", "pipelines/{name}", "patch_pipeline"),
    ("DELETE", "pipelines/{name}", "delete_pipeline"),
    ("GET", "pipelines/{name}/stats", "get_pipeline_stats"),
    ("POST", "pipelines/{name}/ingress/{table}", "http_input"),
    ("GET", "pipelines/{name}/events", "list_pipeline_events"),
    ("GET", "pipelines/{name}/events/{event_id}", "get_pipeline_event"),
    *(("POST", f"pipelines/{{name}}/{a}", f"post_pipeline_{a}") for a in PIPELINE_ACTIONS),
)
#: Served only with ``cluster_events=True`` (a manager older than v0.292 has none).
CLUSTER_ROUTES = (
    ("GET", "cluster_healthz", "get_cluster_health"),
    ("GET", "cluster/events", "list_cluster_events"),
    ("GET", "cluster/events/{event_id}", "get_cluster_event"),
)


def _match(parts: list[str], segments: list[str]) -> dict[str, str] | None:
    """The ``{param}`` values if ``segments`` match a route's ``parts``, else None."""
    params = {}
    for part, segment in zip(parts, segments, strict=True):
        if part.startswith("{"):
            params[part[1:-1]] = segment
        elif part != segment:
            return None
    return params


class _Reset(Exception):
    """The connection was aborted on purpose (a fault)."""


class FakeApp:
    """One fake server's requests, over one engine and cluster monitor."""

    def __init__(
        self,
        engine: Engine,
        monitor: ClusterMonitor,
        *,
        api_keys: Iterable[str] | None,
        tenants: Iterable[str] | None,
        seed: int,
        request_log_limit: int,
        on_change: Callable[[], None],
        cluster_events: bool,
        version: str,
    ) -> None:
        self.api_keys: frozenset[str] | None = None if api_keys is None else frozenset(api_keys)
        self.tenants: frozenset[str] | None = None if tenants is None else frozenset(tenants)
        self.response_observer: ResponseObserver | None = None
        self.handlers = Handlers(engine, monitor, version)
        #: (method, number of segments) -> the routes' segments and operationIds.
        self.routes: dict[tuple[str, int], list[tuple[list[str], str]]] = {}
        for method, path, operation in ROUTES + (CLUSTER_ROUTES if cluster_events else ()):
            parts = path.split("/")
            self.routes.setdefault((method, len(parts)), []).append((parts, operation))
        self.log: deque[RequestRecord] = deque(maxlen=request_log_limit)
        self.served = 0
        self.in_flight = 0
        self._counts: Counter[str] = Counter()
        self._on_change = on_change
        self._fault_rng = random.Random(seed + 1)
        self._fault_rules: list[FaultRule] = []
        self._answering = asyncio.Event()
        self._answering.set()
        self._closing = asyncio.Event()

    # ---------------------------------------------------------------- the gate
    def stop_answering(self) -> None:
        """Keep accepting connections but answer nothing until ``resume_answering``."""
        self._answering.clear()

    def resume_answering(self) -> None:
        """Answer again (held requests proceed)."""
        self._answering.set()

    def close(self) -> None:
        """Release held requests (they are aborted) and hanging faults."""
        self._closing.set()
        self._answering.set()

    async def _hold(self) -> bool:
        """Wait while answering is stopped; ``False`` when the server closes meanwhile
        (``close`` releases the gate too)."""
        if self._answering.is_set():
            return True
        await self._answering.wait()
        return not self._closing.is_set()

    # ---------------------------------------------------------------- the log
    def request_counts(self) -> dict[str, int]:
        """Requests answered (or aborted) per operation since the server started or the
        last :meth:`reset_request_counts`, e.g. ``{"get_pipeline_event": 120,
        "list_pipelines": 2}``: a new dict, keys in name order, only operations that were
        requested.

        Keys are the OpenAPI operationIds (the names ``inject(operations=...)`` takes),
        ``"healthz"`` for ``GET /healthz`` (not in the spec), and ``"unrouted"`` for a
        request that matched no route (a plain 404) or was dropped before routing (held
        by ``stop_answering`` when the server closed).  A request counts under its
        operation whatever its answer: an error, a 401, an injected fault.  The counts
        do not depend on ``request_log_limit``; their sum grows as ``requests_served``.
        """
        return dict(sorted(self._counts.items()))

    def reset_request_counts(self) -> None:
        """Start :meth:`request_counts` from zero (``requests_served`` and the request log
        are left as they are)."""
        self._counts.clear()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.log.clear()

    # ---------------------------------------------------------------- faults
    def inject(
        self,
        fault: Fault,
        *,
        pipeline: str | None = None,
        operations: Iterable[str] | Literal["*"] | None = None,
        path_contains: str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> FaultHandle:
        """Inject ``fault`` into matching requests.

        :param pipeline: only requests about this pipeline (decoded name).
        :param operations: OpenAPI operationIds; default the two pipeline events
            operations (``list_pipeline_events``, ``get_pipeline_event``); ``"*"`` = all.
        :param path_contains: only requests whose raw path contains this.
        :param times: fire on the next N matching requests, then stop (``None`` = forever).
        :param probability: fire on each matching request with this (seeded) probability.
        Rules are tried in injection order; the first that fires wins.
        """
        rule = FaultRule(
            fault=fault,
            pipeline=pipeline,
            operations=normalize_operations(operations),
            path_contains=path_contains,
            remaining=times,
            probability=probability,
        )
        self._fault_rules.append(rule)
        return FaultHandle(rule, self._fault_rules)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._fault_rules.clear()

    def _pick_fault(self, operation: str, pipeline: str | None, path: str) -> Fault | None:
        """The first injected fault that fires for this request (budgets are spent here)."""
        for rule in list(self._fault_rules):
            if rule.matches(operation, pipeline, path) and rule.fire(self._fault_rng):
                return rule.fault
        return None

    # ------------------------------------------------------------------ entry point
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?", 1)[0]
        record: dict[str, Any] = {
            "method": request.method,
            "path": raw_path,
            "query": dict(request.query),
            "time": time.monotonic(),
            "status": None,
            "tenant": request.headers.get("Feldera-Tenant"),
        }
        self.in_flight += 1
        self._on_change()
        try:
            if not await self._hold():
                self._abort(request)
            response = await self._dispatch(request, raw_path, record)
            record["status"] = response.status
            observer = self.response_observer
            if (
                observer is not None
                and record.get("fault") is None
                and isinstance(response, web.Response)
            ):
                body = response.body if isinstance(response.body, bytes) else b""
                observer(record.get("operation"), response.status, response.content_type, body)
            return response
        except _Reset:
            raise web.HTTPException() from None  # never reached by the client
        finally:
            # Answered or aborted: logged, and counted under its operation (or route).
            self.in_flight -= 1
            self.served += 1
            self._counts[record.pop("route", None) or record.get("operation") or "unrouted"] += 1
            self.log.append(RequestRecord(**record))
            self._on_change()

    @staticmethod
    def _abort(request: web.Request) -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise _Reset()

    async def _dispatch(
        self, request: web.Request, raw_path: str, record: dict[str, Any]
    ) -> web.StreamResponse:
        segments = [unquote(s) for s in raw_path.split("/")[1:]]
        if segments[:1] != ["v0"]:
            if segments == ["healthz"] and request.method == "GET":
                record["route"] = "healthz"  # not in the spec: no operationId
                return json_response({"status": "healthy"})
            return web.Response(status=404)
        route = self._route(request.method, segments[1:])
        if route is None:
            return web.Response(status=404)
        operation, params = route
        record["operation"] = operation
        record["pipeline"] = params.get("name")
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        fault = self._pick_fault(operation, record["pipeline"], raw_path)
        if fault is not None:
            record["fault"] = fault.name
            early = await self._pre_fault(request, fault)
            if early is not None:
                return early
        response = await self.handlers.handle(operation, request, **params)
        if fault is None or fault.kind == "latency":
            return response
        return await self._post_fault(request, fault, response)

    def _route(self, method: str, segments: list[str]) -> tuple[str, dict[str, str]] | None:
        """The operationId and the ``{param}`` values of the route ``segments`` match."""
        for parts, operation in self.routes.get((method, len(segments)), ()):
            params = _match(parts, segments)
            if params is not None:
                return operation, params
        return None

    # ------------------------------------------------------------------ auth
    def _authenticate(self, request: web.Request) -> web.Response | None:
        api_keys, tenants = self.api_keys, self.tenants
        if api_keys is not None:
            header = request.headers.get("Authorization")
            if header is None or not header.startswith("Bearer "):
                return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
            token = header[len("Bearer ") :].strip()
            created = (key.secret for key in self.handlers.api_keys.values())
            if token not in api_keys and token not in created:
                # actix ErrorUnauthorized: JSON text served as text/plain, no `details`.
                return web.Response(
                    status=401,
                    text=json.dumps(
                        {"message": "Unauthorized API key", "error_code": "AuthenticationFailed"}
                    ),
                )
        tenant = request.headers.get("Feldera-Tenant")
        if tenants is not None and tenant is not None and tenant not in tenants:
            return error_response(
                FakeAPIError(404, "UnknownTenant", f"Unknown tenant '{tenant}'", {"tenant": tenant})
            )
        return None

    # ------------------------------------------------------------------ faults
    async def _pre_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        if fault.kind == "status":
            return web.Response(
                status=fault.status_code,
                body=fault.body,
                headers={"Content-Type": fault.content_type, **dict(fault.headers)},
            )
        if fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "hang":
            await self._closing.wait()
            self._abort(request)
        if fault.kind == "reset_before_headers":
            self._abort(request)
        return None

    async def _post_fault(
        self, request: web.Request, fault: Fault, response: web.Response
    ) -> web.StreamResponse:
        """Spoil the answer: a body that is not JSON, or half of it sent before the
        connection is aborted (``reset_mid_body``) or closed short of its length."""
        if fault.kind == "malformed_json":
            return raw_json(fault.body, 200)
        payload = response.body if isinstance(response.body, bytes) else b""
        stream = web.StreamResponse(status=response.status, headers={"Content-Type": JSON})
        stream.content_length = len(payload) + (64 if fault.kind == "truncated_body" else 0)
        await stream.prepare(request)
        await stream.write(payload[: max(1, len(payload) // 2)])
        transport = request.transport
        if transport is not None:
            if fault.kind == "reset_mid_body":
                transport.abort()
            else:
                transport.close()
        raise _Reset()
