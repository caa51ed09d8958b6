"""Owns the fake's HTTP application: routing on the raw path, auth, fault delivery, and the
REST handlers, built from the lifecycle engine, the cluster monitor and the traffic layer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from feldera_events.testing._engine import Engine, compile_error_of
from feldera_events.testing._faults import Fault
from feldera_events.testing._model import FakeAPIError, RequestRecord
from feldera_events.testing._monitor import ClusterMonitor
from feldera_events.testing._state import EventLog
from feldera_events.testing._traffic import Traffic
from feldera_events.testing._wire import (
    JSON,
    NO_CACHE,
    bool_param,
    error_response,
    json_response,
    parse_event_id,
    query_choice,
    raw_json,
    uuid_error_reason,
)

__all__ = ["build_app"]

PIPELINE_ACTIONS = {
    "start": "post_pipeline_start",
    "stop": "post_pipeline_stop",
    "pause": "post_pipeline_pause",
    "resume": "post_pipeline_resume",
    "clear": "post_pipeline_clear",
    "dismiss_error": "post_pipeline_dismiss_error",
    "approve": "post_pipeline_approve",
}

#: ``/start?bootstrap_policy=``: ``await_approval`` after a program change waits for
#: ``/approve`` (``AwaitingApproval``); the others bootstrap at once.
BOOTSTRAP_POLICIES = ("allow", "reject", "await_approval")

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
        self.version = version

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
            traffic.end(RequestRecord(**record))

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
            if header[len("Bearer ") :].strip() not in api_keys:
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

        if seg == ["config"]:
            return only("GET", _Route("get_config", self.get_config))
        if seg == ["cluster_healthz"] and self.cluster_events:
            return only("GET", _Route("get_cluster_health", self.cluster_health))
        if n >= 2 and seg[0] == "cluster" and seg[1] == "events" and self.cluster_events:
            if n == 2:
                return only("GET", _Route("list_cluster_events", self.list_cluster_events))
            if n == 3:
                event_id = seg[2]

                async def get_cluster_event(request: web.Request) -> web.StreamResponse:
                    return await self.get_cluster_event(request, event_id)

                return only("GET", _Route("get_cluster_event", get_cluster_event))
        if seg and seg[0] == "pipelines":
            if n == 1:
                if method == "GET":
                    return _Route("list_pipelines", self.list_pipelines)
                return only("POST", _Route("post_pipeline", self.post_pipeline))
            name = seg[1]
            if n == 2:
                if method == "GET":
                    return _Route("get_pipeline", self._bind(self.get_pipeline, name), name)
                if method == "PUT":
                    return _Route("put_pipeline", self._bind(self.put_pipeline, name), name)
                if method == "PATCH":
                    return _Route("patch_pipeline", self._bind(self.patch_pipeline, name), name)
                if method == "DELETE":
                    return _Route("delete_pipeline", self._bind(self.delete_pipeline, name), name)
                return web.Response(status=404)
            if n == 3 and seg[2] == "events":
                handler = self._bind(self.list_pipeline_events, name)
                return only("GET", _Route("list_pipeline_events", handler, name))
            if n == 4 and seg[2] == "events":
                event_id = seg[3]

                async def get_event(request: web.Request) -> web.StreamResponse:
                    return await self.get_pipeline_event(request, name, event_id)

                return only("GET", _Route("get_pipeline_event", get_event, name))
            if n == 3 and seg[2] in PIPELINE_ACTIONS:
                action = seg[2]

                async def act(request: web.Request) -> web.StreamResponse:
                    return await self.pipeline_action(request, name, action)

                return only("POST", _Route(PIPELINE_ACTIONS[action], act, name))
        return web.Response(status=404)

    @staticmethod
    def _bind(
        fn: Callable[[web.Request, str], Awaitable[web.StreamResponse]], name: str
    ) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await fn(request, name)

        return handler

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

    # ------------------------------------------------------------------ pipelines API
    async def get_config(self, request: web.Request) -> web.StreamResponse:
        version = self.version
        return json_response(
            {
                "telemetry": "",
                "posthog": "",
                "conceptualhq": "",
                "product_fruits": "",
                "edition": "Open source",
                "version": version,
                "revision": "fake",
                "runtime_revision": "fake",
                "changelog_url": "https://docs.feldera.com/changelog/",
                "build_info": {
                    "build_timestamp": "2026-08-20T00:00:00Z",
                    "build_cpu": "x86_64",
                    "build_os": "linux",
                    "cargo_dependencies": "",
                    "cargo_features": "",
                    "cargo_debug": "false",
                    "cargo_opt_level": "3",
                    "cargo_target_triple": "x86_64-unknown-linux-gnu",
                    "rustc_version": "1.87.0",
                },
                "build_source": "feldera-events FakeFeldera",
                "license_validity": None,
                "update_info": None,
                "unstable_features": None,
            }
        )

    async def list_pipelines(self, request: web.Request) -> web.StreamResponse:
        selector = query_choice(request, ("all", "status", "status_with_connectors"), "all")
        if isinstance(selector, web.Response):
            return selector
        return json_response([p.info(selector) for p in self.engine.all()])

    async def get_pipeline(self, request: web.Request, name: str) -> web.StreamResponse:
        selector = query_choice(request, ("all", "status", "status_with_connectors"), "all")
        if isinstance(selector, web.Response):
            return selector
        return json_response(self.engine.get(name).info(selector))

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError as exc:
            return web.Response(status=400, text=f"Json deserialize error: {exc}")
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return web.Response(status=400, text="Json deserialize error: missing field `name`")
        if not isinstance(body.get("program_code"), str):
            return web.Response(
                status=400, text="Json deserialize error: missing field `program_code`"
            )
        return body

    def _create_from_body(self, body: dict[str, Any]) -> dict[str, Any]:
        code: str = body["program_code"]
        p = self.engine.create_pipeline(
            body["name"],
            compile=True,
            compile_error=compile_error_of(code),
            program_code=code,
            description=body.get("description") or "",
            runtime_config=body.get("runtime_config") or None,
        )
        p.tags = list(body.get("tags") or [])
        p.udf_rust = body.get("udf_rust") or ""
        p.udf_toml = body.get("udf_toml") or ""
        if body.get("program_config"):
            p.program_config = dict(body["program_config"])
        return p.info("all")

    async def post_pipeline(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        return json_response(self._create_from_body(body), 201)

    async def put_pipeline(self, request: web.Request, name: str) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        engine = self.engine
        if engine.find(name) is None:
            if body["name"] != name:
                raise FakeAPIError(
                    400,
                    "CannotRenameNonExistingPipeline",
                    "The pipeline name in the request body does not match the one provided in "
                    "the URL path. This is not allowed when no pipeline with the name provided "
                    "in the URL path exists.",
                )
            return json_response(self._create_from_body(body), 201)
        p = engine.update_pipeline(
            name,
            program_code=body["program_code"],
            description=body.get("description"),
            runtime_config=body.get("runtime_config") or None,
        )
        if "tags" in body:
            p.tags = list(body.get("tags") or [])
        return json_response(p.info("all"), 200)

    async def patch_pipeline(self, request: web.Request, name: str) -> web.StreamResponse:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError as exc:
            return web.Response(status=400, text=f"Json deserialize error: {exc}")
        if not isinstance(body, dict):
            return web.Response(status=400, text="Json deserialize error: expected a JSON object")
        p = self.engine.get(name)
        new_name = body.get("name")
        if new_name is not None and new_name != name:
            return web.Response(status=501, text="FakeFeldera does not rename pipelines")
        tags = body.get("tags")
        p = self.engine.update_pipeline(
            name,
            program_code=body.get("program_code"),
            description=body.get("description"),
            runtime_config=body.get("runtime_config"),
            udf_rust=body.get("udf_rust"),
            udf_toml=body.get("udf_toml"),
            program_config=body.get("program_config"),
            tags=None if tags is None else list(tags),
        )
        return json_response(p.info("all"), 200)

    async def delete_pipeline(self, request: web.Request, name: str) -> web.StreamResponse:
        self.engine.delete_pipeline(name)
        return web.Response(status=200)

    async def pipeline_action(
        self, request: web.Request, name: str, action: str
    ) -> web.StreamResponse:
        engine = self.engine
        if action == "start":
            dismiss = bool_param(request, "dismiss_error", True)
            if isinstance(dismiss, web.Response):
                return dismiss
            for flag in ("silent_bootstrap", "concurrent_bootstrap"):
                checked = bool_param(request, flag, False)
                if isinstance(checked, web.Response):
                    return checked
            policy = query_choice(request, BOOTSTRAP_POLICIES, "allow", "bootstrap_policy")
            if isinstance(policy, web.Response):
                return policy
            initial = request.query.get("initial", "running")
            engine.start(name, initial, dismiss_error=dismiss, bootstrap_policy=policy)
        elif action == "stop":
            force = bool_param(request, "force", False)
            if isinstance(force, web.Response):
                return force
            engine.stop(name, force=force)
        elif action == "pause":
            engine.pause(name)
        elif action == "resume":
            engine.resume(name)
        elif action == "clear":
            engine.clear(name)
        elif action == "dismiss_error":
            engine.dismiss_error(name)
            return web.Response(status=200)
        elif action == "approve":
            engine.approve(name)
            return json_response("Bootstrap approved", 200)
        return web.Response(status=202)


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
