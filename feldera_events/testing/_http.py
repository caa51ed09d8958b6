"""Owns the fake's HTTP application: routing on the raw path (the manager's route table),
auth and fault delivery; the handlers are ``_rest``'s.  Built from the lifecycle engine,
the cluster monitor and the traffic layer."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from feldera_events.testing._faults import Fault
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
from feldera_events.testing._traffic import UNROUTED, Traffic

__all__ = ["build_app"]

#: The manager's routes under ``/v0``: (method, path, operationId, the ``Handlers`` method
#: that answers it).  A ``{param}`` segment matches any one (decoded) segment and is handed
#: to the handler.  Feldera registers each endpoint with actix's method macros
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
    """The ``{param}`` segments of a route whose other segments are ``segments``'."""
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
    """Request handling over one engine, cluster monitor and traffic layer."""

    def __init__(
        self,
        engine: Engine,
        monitor: ClusterMonitor,
        traffic: Traffic,
        *,
        cluster_events: bool = True,
        version: str = "0.337.0",
    ) -> None:
        self.traffic = traffic
        self.handlers = Handlers(engine, monitor, traffic.created_keys, version)
        #: (method, number of segments) -> the routes' segments and operationIds.
        self.routes: dict[tuple[str, int], list[tuple[list[str], str]]] = {}
        for method, path, operation in ROUTES + (CLUSTER_ROUTES if cluster_events else ()):
            parts = path.split("/")
            self.routes.setdefault((method, len(parts)), []).append((parts, operation))

    # ------------------------------------------------------------------ entry point
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        traffic = self.traffic
        raw_path = request.raw_path.split("?", 1)[0]
        record: dict[str, Any] = {
            "method": request.method,
            "path": raw_path,
            "query": dict(request.query),
            "time": time.monotonic(),
            "status": None,
            "tenant": request.headers.get("Feldera-Tenant"),
        }
        traffic.begin()
        try:
            if not await traffic.hold():
                self._abort(request)
            response = await self._dispatch(request, raw_path, record)
            record["status"] = response.status
            observer = traffic.response_observer
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
            route = record.pop("route", None) or record.get("operation") or UNROUTED
            traffic.end(RequestRecord(**record), route)

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
        fault = self.traffic.pick_fault(operation, record["pipeline"], raw_path)
        if fault is not None:
            record["fault"] = fault.name
            early = await self._pre_fault(request, fault)
            if early is not None:
                return early
        response = await self.handlers.handle(operation, request, **params)
        if fault is not None and fault.kind in (
            "reset_mid_body",
            "truncated_body",
            "malformed_json",
        ):
            return await self._post_fault(request, fault, response)
        return response

    def _route(self, method: str, segments: list[str]) -> tuple[str, dict[str, str]] | None:
        """The operationId and the ``{param}`` values of the route ``segments`` match."""
        for parts, operation in self.routes.get((method, len(segments)), ()):
            params = _match(parts, segments)
            if params is not None:
                return operation, params
        return None

    # ------------------------------------------------------------------ auth
    def _authenticate(self, request: web.Request) -> web.Response | None:
        api_keys, tenants = self.traffic.api_keys, self.traffic.tenants
        if api_keys is not None:
            header = request.headers.get("Authorization")
            if header is None or not header.startswith("Bearer "):
                return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
            token = header[len("Bearer ") :].strip()
            if token not in api_keys and not self.traffic.created_keys.accepts(token):
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
            await self.traffic.wait_closed()
            self._abort(request)
        if fault.kind == "reset_before_headers":
            self._abort(request)
        return None

    async def _post_fault(
        self, request: web.Request, fault: Fault, response: web.StreamResponse
    ) -> web.StreamResponse:
        body = response.body if isinstance(response, web.Response) else b""
        payload = body if isinstance(body, bytes) else b""
        if fault.kind == "malformed_json":
            return raw_json(fault.body, 200)
        stream = web.StreamResponse(status=response.status, headers={"Content-Type": JSON})
        if fault.kind == "truncated_body":
            stream.content_length = len(payload) + 64
        else:
            stream.content_length = len(payload)
        await stream.prepare(request)
        await stream.write(payload[: max(1, len(payload) // 2)])
        transport = request.transport
        if transport is not None:
            if fault.kind == "reset_mid_body":
                transport.abort()
            else:
                transport.close()
        raise _Reset()


def build_app(
    engine: Engine,
    monitor: ClusterMonitor,
    traffic: Traffic,
    *,
    cluster_events: bool = True,
    version: str = "0.337.0",
) -> web.Application:
    """The aiohttp application answering for ``engine``, ``monitor`` and ``traffic``."""
    handler = FakeApp(engine, monitor, traffic, cluster_events=cluster_events, version=version)
    app = web.Application(handler_args={"max_field_size": 65536})
    app.router.add_route("*", "/{tail:.*}", handler.dispatch)
    return app
