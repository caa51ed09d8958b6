"""Owns the fake's HTTP application: routing on the raw path, auth, fault delivery, and the
monitor events handlers; the other REST handlers are ``_rest``'s.  Built from the lifecycle
engine, the cluster monitor and the traffic layer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from feldera_events.testing._faults import Fault
from feldera_events.testing._model import FakeAPIError, RequestRecord
from feldera_events.testing._monitor import ClusterMonitor
from feldera_events.testing._operations import Engine
from feldera_events.testing._rest import PIPELINE_ACTIONS, ApiKeysREST, PipelineREST
from feldera_events.testing._rows import EventLog
from feldera_events.testing._traffic import UNROUTED, Traffic
from feldera_events.testing._wire import (
    JSON,
    NO_CACHE,
    error_response,
    json_response,
    parse_event_id,
    query_choice,
    raw_json,
    uuid_error_reason,
)

__all__ = ["build_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Route:
    __slots__ = ("handler", "operation", "pipeline")

    def __init__(self, operation: str, handler: Handler, pipeline: str | None = None) -> None:
        self.operation = operation
        self.handler = handler
        self.pipeline = pipeline


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
        self.engine = engine
        self.monitor = monitor
        self.traffic = traffic
        self.cluster_events = cluster_events
        self.pipelines = PipelineREST(engine, version)
        self.api_keys = ApiKeysREST(traffic.created_keys)

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
        if isinstance(route, web.Response):
            return route
        record["operation"] = route.operation
        record["pipeline"] = route.pipeline
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        fault = self.traffic.pick_fault(route.operation, route.pipeline, raw_path)
        if fault is not None:
            record["fault"] = fault.name
            early = await self._pre_fault(request, fault)
            if early is not None:
                return early
        try:
            response = await route.handler(request)
        except FakeAPIError as exc:
            response = error_response(exc)
        if fault is not None and fault.kind in (
            "reset_mid_body",
            "truncated_body",
            "malformed_json",
        ):
            return await self._post_fault(request, fault, response)
        return response

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

    # ------------------------------------------------------------------ routing
    def _route(self, method: str, seg: list[str]) -> _Route | web.Response:
        n = len(seg)

        # Feldera registers each endpoint with actix's method macros (`#[get(...)]`), so a
        # wrong method matches no route at all: a plain 404, like an unknown path.
        def only(allowed: str, route: _Route) -> _Route | web.Response:
            return route if method == allowed else web.Response(status=404)

        rest, keys = self.pipelines, self.api_keys
        if seg == ["config"]:
            return only("GET", _Route("get_config", rest.get_config))
        if seg and seg[0] == "api_keys":
            if n == 1:
                if method == "GET":
                    return _Route("list_api_keys", keys.list_api_keys)
                return only("POST", _Route("post_api_key", keys.post_api_key))
            if n == 2:
                key_name = seg[1]
                if method == "GET":
                    return _Route("get_api_key", partial(keys.get_api_key, name=key_name))
                return only(
                    "DELETE", _Route("delete_api_key", partial(keys.delete_api_key, name=key_name))
                )
        if seg == ["cluster_healthz"] and self.cluster_events:
            return only("GET", _Route("get_cluster_health", self.cluster_health))
        if n >= 2 and seg[0] == "cluster" and seg[1] == "events" and self.cluster_events:
            if n == 2:
                return only("GET", _Route("list_cluster_events", self.list_cluster_events))
            if n == 3:
                get_event = partial(self.get_cluster_event, event_id=seg[2])
                return only("GET", _Route("get_cluster_event", get_event))
        if seg and seg[0] == "pipelines":
            if n == 1:
                if method == "GET":
                    return _Route("list_pipelines", rest.list_pipelines)
                return only("POST", _Route("post_pipeline", rest.post_pipeline))
            name = seg[1]
            if n == 2:
                for verb, operation, handler in (
                    ("GET", "get_pipeline", rest.get_pipeline),
                    ("PUT", "put_pipeline", rest.put_pipeline),
                    ("PATCH", "patch_pipeline", rest.patch_pipeline),
                    ("DELETE", "delete_pipeline", rest.delete_pipeline),
                ):
                    if method == verb:
                        return _Route(operation, partial(handler, name=name), name)
                return web.Response(status=404)
            if n == 3 and seg[2] == "stats":
                return only(
                    "GET", _Route("get_pipeline_stats", partial(rest.stats, name=name), name)
                )
            if n == 4 and seg[2] == "ingress":
                ingress = partial(rest.ingress, name=name, table=seg[3])
                return only("POST", _Route("http_input", ingress, name))
            if n == 3 and seg[2] == "events":
                listing = partial(self.list_pipeline_events, name=name)
                return only("GET", _Route("list_pipeline_events", listing, name))
            if n == 4 and seg[2] == "events":
                get_event = partial(self.get_pipeline_event, name=name, event_id=seg[3])
                return only("GET", _Route("get_pipeline_event", get_event, name))
            if n == 3 and seg[2] in PIPELINE_ACTIONS:
                act = partial(rest.action, name=name, action=seg[2])
                return only("POST", _Route(PIPELINE_ACTIONS[seg[2]], act, name))
        return web.Response(status=404)

    # ------------------------------------------------------------------ events endpoints
    async def list_pipeline_events(self, request: web.Request, name: str) -> web.StreamResponse:
        selector = query_choice(request, ("all", "status"))
        if isinstance(selector, web.Response):
            return selector
        p = self.engine.get(name)
        return raw_json(p.events.list_body(selector), headers=NO_CACHE)

    async def get_pipeline_event(
        self, request: web.Request, name: str, event_id: str
    ) -> web.StreamResponse:
        return _one_event(request, event_id, lambda: self.engine.get(name).events, "Pipeline")

    async def list_cluster_events(self, request: web.Request) -> web.StreamResponse:
        # The list endpoint has no selector: always the status fields.
        return raw_json(self.monitor.events.list_body("status"), headers=NO_CACHE)

    async def get_cluster_event(self, request: web.Request, event_id: str) -> web.StreamResponse:
        return _one_event(request, event_id, lambda: self.monitor.events, "Cluster")

    async def cluster_health(self, request: web.Request) -> web.StreamResponse:
        body = self.monitor.health_body()
        return json_response(body, 200 if body["all_healthy"] else 503)


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


def _event_id_or_400(event_id: str) -> str:
    """The canonical form of a UUID event id; 400 ``InvalidUuidParam`` if it is not one
    (checked before any lookup, as the manager does)."""
    canonical = parse_event_id(event_id)
    if canonical is None:
        reason = uuid_error_reason(event_id)
        raise FakeAPIError(
            400,
            "InvalidUuidParam",
            f"Invalid UUID string '{event_id}': {reason}",
            {"value": event_id, "error": reason},
        )
    return canonical


def _one_event(
    request: web.Request, event_id: str, log_of: Callable[[], EventLog], kind: str
) -> web.StreamResponse:
    """``GET .../events/{event_id}`` of a pipeline's or the cluster's (``kind``) event log,
    as the manager answers: the selector and the id are checked before the log is looked
    up (an unknown pipeline is a 404 only for a well-formed request)."""
    selector = query_choice(request, ("all", "status"))
    if isinstance(selector, web.Response):
        return selector
    canonical = None if event_id == "latest" else _event_id_or_400(event_id)
    log = log_of()
    if canonical is None:
        event = log.latest()
        if event is None:
            raise FakeAPIError(
                404,
                f"No{kind}MonitorEventsAvailable",
                f"There are not yet any {kind.lower()} monitor events recorded",
                None,
            )
    else:
        found = log.by_id.get(canonical)
        if found is None:
            raise FakeAPIError(
                404,
                f"Unknown{kind}MonitorEvent",
                f"{kind} monitor event with identifier '{canonical}' does not exist -- it "
                "might have been deleted as only a limited number of events are retained",
                {"event_id": canonical},
            )
        event = found
    return raw_json(event.body(selector), headers=NO_CACHE)
