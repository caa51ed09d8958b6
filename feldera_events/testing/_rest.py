"""Owns the fake's REST handlers outside the monitor events: ``/config``, the pipelines'
CRUD and actions, ``/ingress`` and ``/stats`` (over the engine), and the API keys (over
the traffic layer's key registry).

Each handler turns a request into one engine (or registry) call and its answer into the
manager's response; a ``FakeAPIError`` raised here is answered by the HTTP application.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from feldera_events.testing._api_keys import ApiKeyRegistry
from feldera_events.testing._deployment import BOOTSTRAP_POLICIES
from feldera_events.testing._model import FakeAPIError
from feldera_events.testing._operations import Engine
from feldera_events.testing._pipeline_process import RecordCounter, require_reachable
from feldera_events.testing._wire import NO_CACHE, bool_param, json_response, query_choice, raw_json

__all__ = ["PIPELINE_ACTIONS", "ApiKeysREST", "PipelineREST"]

#: ``POST /v0/pipelines/{name}/{action}`` -> operationId.
PIPELINE_ACTIONS = {
    "start": "post_pipeline_start",
    "stop": "post_pipeline_stop",
    "pause": "post_pipeline_pause",
    "resume": "post_pipeline_resume",
    "clear": "post_pipeline_clear",
    "dismiss_error": "post_pipeline_dismiss_error",
    "approve": "post_pipeline_approve",
}

_PIPELINE_SELECTORS = ("all", "status", "status_with_connectors")


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object, or actix's plain-text 400 (``Json deserialize error``)."""
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError as exc:
        return web.Response(status=400, text=f"Json deserialize error: {exc}")
    if not isinstance(body, dict):
        return web.Response(status=400, text="Json deserialize error: expected a JSON object")
    return body


def _missing(field: str) -> web.Response:
    return web.Response(status=400, text=f"Json deserialize error: missing field `{field}`")


class PipelineREST:
    """``/v0/config`` and ``/v0/pipelines/...`` over one engine."""

    def __init__(self, engine: Engine, version: str) -> None:
        self.engine = engine
        self.version = version

    async def get_config(self, request: web.Request) -> web.StreamResponse:
        return json_response(
            {
                "telemetry": "",
                "posthog": "",
                "conceptualhq": "",
                "product_fruits": "",
                "edition": "Open source",
                "version": self.version,
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

    # ------------------------------------------------------------------ CRUD
    async def list_pipelines(self, request: web.Request) -> web.StreamResponse:
        selector = query_choice(request, _PIPELINE_SELECTORS, "all")
        if isinstance(selector, web.Response):
            return selector
        if selector == "status":  # the monitoring list: cached entries
            return raw_json(self.engine.status_list(), headers=NO_CACHE)
        return json_response(
            [p.info(selector) for p in self.engine.pipelines.values()], headers=NO_CACHE
        )

    async def get_pipeline(self, request: web.Request, name: str) -> web.StreamResponse:
        selector = query_choice(request, _PIPELINE_SELECTORS, "all")
        if isinstance(selector, web.Response):
            return selector
        p = self.engine.get(name)
        if selector == "status":
            return raw_json(p.status_entry(), headers=NO_CACHE)
        return json_response(p.info(selector), headers=NO_CACHE)

    async def _post_put_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        if not isinstance(body.get("name"), str):
            return _missing("name")
        if not isinstance(body.get("program_code"), str):
            return _missing("program_code")
        return body

    def _create_from_body(self, body: dict[str, Any]) -> dict[str, Any]:
        code: str = body["program_code"]
        self.engine.create_pipeline(
            body["name"],
            compile=True,  # the simulated compiler (or a fail_next_compile) decides
            program_code=code,
            description=body.get("description") or "",
            runtime_config=body.get("runtime_config") or None,
            tags=body.get("tags") or [],
        )
        p = self.engine.get(body["name"])
        p.udf_rust = body.get("udf_rust") or ""
        p.udf_toml = body.get("udf_toml") or ""
        if body.get("program_config"):
            p.program_config = dict(body["program_config"])
        p.changed()
        return p.info("all")

    async def post_pipeline(self, request: web.Request) -> web.StreamResponse:
        body = await self._post_put_body(request)
        if isinstance(body, web.Response):
            return body
        return json_response(self._create_from_body(body), 201)

    async def put_pipeline(self, request: web.Request, name: str) -> web.StreamResponse:
        body = await self._post_put_body(request)
        if isinstance(body, web.Response):
            return body
        engine = self.engine
        if engine.pipelines.get(name) is None:
            if body["name"] != name:
                raise FakeAPIError(
                    400,
                    "CannotRenameNonExistingPipeline",
                    "The pipeline name in the request body does not match the one provided in "
                    "the URL path. This is not allowed when no pipeline with the name provided "
                    "in the URL path exists.",
                )
            return json_response(self._create_from_body(body), 201)
        # A full update: the fields it leaves out become their empty values.
        engine.update_pipeline(
            name,
            program_code=body["program_code"],
            description=body.get("description") or "",
            tags=list(body.get("tags") or []),
            runtime_config=body.get("runtime_config") or {},
            udf_rust=body.get("udf_rust") or "",
            udf_toml=body.get("udf_toml") or "",
            program_config=body.get("program_config") or None,
        )
        return json_response(engine.get(name).info("all"), 200)

    async def patch_pipeline(self, request: web.Request, name: str) -> web.StreamResponse:
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        self.engine.get(name)
        new_name = body.get("name")
        if new_name is not None and new_name != name:
            return web.Response(status=501, text="FakeFeldera does not rename pipelines")
        tags = body.get("tags")
        self.engine.update_pipeline(
            name,
            program_code=body.get("program_code"),
            description=body.get("description"),
            runtime_config=body.get("runtime_config"),
            udf_rust=body.get("udf_rust"),
            udf_toml=body.get("udf_toml"),
            program_config=body.get("program_config"),
            tags=None if tags is None else list(tags),
        )
        return json_response(self.engine.get(name).info("all"), 200)

    async def delete_pipeline(self, request: web.Request, name: str) -> web.StreamResponse:
        self.engine.delete_pipeline(name)
        return web.Response(status=200)

    # ------------------------------------------------------------------ actions
    async def action(self, request: web.Request, name: str, action: str) -> web.StreamResponse:
        engine = self.engine
        if action == "start":
            flags: dict[str, bool] = {}
            for flag, default in (
                ("dismiss_error", True),
                ("silent_bootstrap", False),
                ("concurrent_bootstrap", False),
            ):
                value = bool_param(request, flag, default)
                if isinstance(value, web.Response):
                    return value
                flags[flag] = value
            policy = query_choice(request, BOOTSTRAP_POLICIES, "await_approval", "bootstrap_policy")
            if isinstance(policy, web.Response):
                return policy
            engine.start(
                name, request.query.get("initial", "running"), bootstrap_policy=policy, **flags
            )
            return json_response("Pipeline is starting", 202)
        if action == "stop":
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

    # ------------------------------------------------------------------ the pipeline process
    async def ingress(self, request: web.Request, name: str, table: str) -> web.StreamResponse:
        require_reachable(self.engine.get(name), f"/ingress/{table}")  # before the body
        counter = RecordCounter()
        async for chunk in request.content.iter_chunked(1 << 16):
            counter.feed(chunk)  # counted and dropped: any size, no memory kept
        token = self.engine.ingress(name, table, counter.finish(), counter.size)
        return json_response({"token": token})

    async def stats(self, request: web.Request, name: str) -> web.StreamResponse:
        return json_response(self.engine.stats(name))


class ApiKeysREST:
    """``/v0/api_keys`` over the key registry."""

    def __init__(self, keys: ApiKeyRegistry) -> None:
        self.keys = keys

    async def list_api_keys(self, request: web.Request) -> web.StreamResponse:
        return json_response(self.keys.describe_all(), headers=NO_CACHE)

    async def get_api_key(self, request: web.Request, name: str) -> web.StreamResponse:
        return json_response([self.keys.describe(name)], headers=NO_CACHE)

    async def post_api_key(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        name, role = body.get("name"), body.get("role")
        if not isinstance(name, str):
            return _missing("name")
        if role is not None and role not in ("read", "write"):
            return web.Response(
                status=400,
                text=f"Json deserialize error: unknown variant `{role}`, expected `read` or "
                "`write`",
            )
        return json_response(self.keys.create(name, role or "read"), 201, headers=NO_CACHE)

    async def delete_api_key(self, request: web.Request, name: str) -> web.StreamResponse:
        self.keys.delete(name)
        return web.Response(status=200)
