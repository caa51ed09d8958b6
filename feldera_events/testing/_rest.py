"""Owns the fake's REST handlers, one per operation (``Handlers``' methods are named after
the operationIds), and the wire details of their answers: JSON bodies, actix's
plain-text 400s for a query or body it cannot read, the ``uuid`` crate's parse errors."""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from feldera_events.testing._model import FakeAPIError
from feldera_events.testing._monitor import ClusterMonitor
from feldera_events.testing._operations import BOOTSTRAP_POLICIES, Engine
from feldera_events.testing._pipeline_process import (
    RecordCounter,
    controller_status,
    require_reachable,
)
from feldera_events.testing._rows import EventLog

__all__ = [
    "JSON",
    "PIPELINE_ACTIONS",
    "Handlers",
    "error_response",
    "json_response",
    "raw_json",
]

JSON = "application/json"
NO_CACHE = {"Cache-Control": "no-cache"}
#: ``POST /v0/pipelines/{name}/{action}``, each the operation ``post_pipeline_{action}``.
PIPELINE_ACTIONS = ("start", "stop", "pause", "resume", "clear", "dismiss_error", "approve")
_PIPELINE_SELECTORS = ("all", "status", "status_with_connectors")
#: What ``PUT`` and ``PATCH`` may change, and the empty value a ``PUT`` leaving it out sets.
_EDITS: dict[str, Any] = {
    "program_code": "",
    "description": "",
    "tags": [],
    "runtime_config": {},
    "udf_rust": "",
    "udf_toml": "",
    "program_config": None,
}
_EVENT_SELECTORS = ("all", "status")
_HEX = set("0123456789abcdefABCDEF-")
_ALPHABET = string.ascii_letters + string.digits


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return raw_json(json.dumps(body).encode(), status, headers)


def raw_json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def error_response(exc: FakeAPIError) -> web.Response:
    return raw_json(exc.to_bytes(), exc.status)


class _BadRequest(Exception):
    """A query or body actix cannot read: its plain-text 400 (``QueryConfig``,
    ``JsonConfig``'s default error handlers)."""


def _query_choice(
    request: web.Request, allowed: tuple[str, ...], default: str, param: str = "selector"
) -> str:
    values = request.query.getall(param, [])
    if not values:
        return default
    if len(values) > 1:
        raise _BadRequest(f"Query deserialize error: duplicate field `{param}`")
    value = values[0]
    if value not in allowed:
        expected = ", ".join(f"`{a}`" for a in allowed[:-1]) + f" or `{allowed[-1]}`"
        raise _BadRequest(
            f"Query deserialize error: unknown variant `{value}`, expected {expected}"
        )
    return value


def _bool_param(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name, "true" if default else "false")
    if value not in ("true", "false"):
        raise _BadRequest("Query deserialize error: provided string was not `true` or `false`")
    return value == "true"


#: The JSON type of each field a request body may carry, as the manager's serde reads it
#: (another is its 400, as a missing field is).
_FIELD_TYPES: dict[str, tuple[type, str]] = {
    **dict.fromkeys(
        ("name", "program_code", "description", "udf_rust", "udf_toml", "role"), (str, "a string")
    ),
    "tags": (list, "a sequence of strings"),
    "runtime_config": (dict, "a map"),
    "program_config": (dict, "a map"),
}


async def _json_object(request: web.Request, *required: str) -> dict[str, Any]:
    """The request's JSON object with a string at each ``required`` field."""
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise _BadRequest(f"Json deserialize error: {exc}") from None
    if not isinstance(body, dict):
        raise _BadRequest("Json deserialize error: expected a JSON object")
    for field, value in body.items():
        kind, words = _FIELD_TYPES.get(field, (object, ""))
        tags = value if kind is list and isinstance(value, list) else ()
        if value is not None and (
            not isinstance(value, kind) or not all(isinstance(tag, str) for tag in tags)
        ):
            raise _BadRequest(
                f"Json deserialize error: invalid type of `{field}`, expected {words}"
            )
    for field in required:
        if not isinstance(body.get(field), str):
            raise _BadRequest(f"Json deserialize error: missing field `{field}`")
    return body


def _event_id(value: str) -> str:
    """The canonical form of a UUID event id; 400 ``InvalidUuidParam`` if it is not one
    (checked before any lookup, as the manager does), worded as the ``uuid`` crate."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        pass
    bad = next(((i, c) for i, c in enumerate(value) if c not in _HEX), None)
    if bad is None:
        length = len(value.replace("-", ""))
        reason = f"invalid length: expected length 32 for simple format, found {length}"
    else:
        reason = (
            "invalid character: expected an optional prefix of `urn:uuid:` followed by "
            f"[0-9a-fA-F-], found `{bad[1]}` at {bad[0] + 1}"
        )
    raise FakeAPIError(
        400,
        "InvalidUuidParam",
        f"Invalid UUID string '{value}': {reason}",
        {"value": value, "error": reason},
    )


def _one_event(
    request: web.Request, event_id: str, log: Callable[[], EventLog], kind: str
) -> web.Response:
    """``GET .../events/{event_id}`` of a pipeline's or the cluster's (``kind``) event log,
    as the manager answers: the selector and the id are checked before the log is looked
    up (an unknown pipeline is a 404 only for a well-formed request)."""
    selector = _query_choice(request, _EVENT_SELECTORS, "status")
    canonical = None if event_id == "latest" else _event_id(event_id)
    events = log()
    event = events.latest() if canonical is None else events.by_id.get(canonical)
    if event is None and canonical is None:
        raise FakeAPIError(
            404,
            f"No{kind}MonitorEventsAvailable",
            f"There are not yet any {kind.lower()} monitor events recorded",
        )
    if event is None:
        raise FakeAPIError(
            404,
            f"Unknown{kind}MonitorEvent",
            f"{kind} monitor event with identifier '{canonical}' does not exist -- it "
            "might have been deleted as only a limited number of events are retained",
            {"event_id": canonical},
        )
    return raw_json(event.body(selector), headers=NO_CACHE)


_CONFIG = {
    "telemetry": "",
    "posthog": "",
    "conceptualhq": "",
    "product_fruits": "",
    "edition": "Open source",
    "version": None,
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


@dataclasses.dataclass(frozen=True)
class CreatedKey:
    """An API key made through ``POST /v0/api_keys``: its ``ApiKeyDescr``, and its secret
    (never in a repr)."""

    described: dict[str, Any]
    secret: str = dataclasses.field(repr=False)


class Handlers:
    """The manager's operations over one engine and cluster monitor."""

    def __init__(self, engine: Engine, monitor: ClusterMonitor, version: str) -> None:
        self.engine = engine
        self.monitor = monitor
        self.version = version
        #: The API keys made through ``POST /v0/api_keys``, by name, and their secrets.
        #: Accepted like a key given to ``FakeFeldera(api_keys=...)`` until deleted; their
        #: role is stored and listed, not enforced (the fake has no roles).
        self.api_keys: dict[str, CreatedKey] = {}

    async def handle(self, operation: str, request: web.Request, **params: str) -> web.Response:
        """Answer ``request`` with the handler of ``operation``."""
        try:
            response: web.Response = await getattr(self, operation)(request, **params)
        except FakeAPIError as exc:
            return error_response(exc)
        except _BadRequest as exc:
            return web.Response(status=400, text=str(exc))
        return response

    async def get_config(self, request: web.Request) -> web.Response:
        return json_response({**_CONFIG, "version": self.version})

    # ------------------------------------------------------------------ pipelines
    async def list_pipelines(self, request: web.Request) -> web.Response:
        selector = _query_choice(request, _PIPELINE_SELECTORS, "all")
        if selector == "status":  # the monitoring list: cached entries
            return raw_json(self.engine.status_list(), headers=NO_CACHE)
        listed = [p.info(selector) for p in self.engine.pipelines.values()]
        return json_response(listed, headers=NO_CACHE)

    async def get_pipeline(self, request: web.Request, name: str) -> web.Response:
        selector = _query_choice(request, _PIPELINE_SELECTORS, "all")
        p = self.engine.get(name)
        if selector == "status":
            return raw_json(p.status_entry(), headers=NO_CACHE)
        return json_response(p.info(selector), headers=NO_CACHE)

    def _create(self, body: dict[str, Any]) -> web.Response:
        self.engine.create_pipeline(
            body["name"],
            compile=True,  # the simulated compiler (or a fail_next_compile) decides
            program_code=body["program_code"],
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
        return json_response(p.info("all"), 201)

    async def post_pipeline(self, request: web.Request) -> web.Response:
        return self._create(await _json_object(request, "name", "program_code"))

    async def put_pipeline(self, request: web.Request, name: str) -> web.Response:
        body = await _json_object(request, "name", "program_code")
        if name not in self.engine.pipelines:
            if body["name"] != name:
                raise FakeAPIError(
                    400,
                    "CannotRenameNonExistingPipeline",
                    "The pipeline name in the request body does not match the one provided in "
                    "the URL path. This is not allowed when no pipeline with the name provided "
                    "in the URL path exists.",
                )
            return self._create(body)
        # A full update: the fields it leaves out become their empty values.
        self.engine.update_pipeline(name, **{k: body.get(k) or e for k, e in _EDITS.items()})
        return json_response(self.engine.get(name).info("all"), 200)

    async def patch_pipeline(self, request: web.Request, name: str) -> web.Response:
        body = await _json_object(request)
        self.engine.get(name)
        new_name = body.get("name")
        if new_name is not None and new_name != name:
            return web.Response(status=501, text="FakeFeldera does not rename pipelines")
        self.engine.update_pipeline(name, **{k: body.get(k) for k in _EDITS})
        return json_response(self.engine.get(name).info("all"), 200)

    async def delete_pipeline(self, request: web.Request, name: str) -> web.Response:
        self.engine.delete_pipeline(name)
        return web.Response(status=200)

    # ------------------------------------------------------------------ actions
    async def post_pipeline_start(self, request: web.Request, name: str) -> web.Response:
        dismiss_error = _bool_param(request, "dismiss_error", True)
        silent_bootstrap = _bool_param(request, "silent_bootstrap", False)
        concurrent_bootstrap = _bool_param(request, "concurrent_bootstrap", False)
        policy = _query_choice(request, BOOTSTRAP_POLICIES, "await_approval", "bootstrap_policy")
        self.engine.start(
            name,
            request.query.get("initial", "running"),
            bootstrap_policy=policy,
            silent_bootstrap=silent_bootstrap,
            concurrent_bootstrap=concurrent_bootstrap,
            dismiss_error=dismiss_error,
        )
        return json_response("Pipeline is starting", 202)

    async def post_pipeline_stop(self, request: web.Request, name: str) -> web.Response:
        self.engine.stop(name, force=_bool_param(request, "force", False))
        return web.Response(status=202)

    async def post_pipeline_pause(self, request: web.Request, name: str) -> web.Response:
        self.engine.pause(name)
        return web.Response(status=202)

    async def post_pipeline_resume(self, request: web.Request, name: str) -> web.Response:
        self.engine.resume(name)
        return web.Response(status=202)

    async def post_pipeline_clear(self, request: web.Request, name: str) -> web.Response:
        self.engine.clear(name)
        return web.Response(status=202)

    async def post_pipeline_dismiss_error(self, request: web.Request, name: str) -> web.Response:
        self.engine.dismiss_error(name)
        return web.Response(status=200)

    async def post_pipeline_approve(self, request: web.Request, name: str) -> web.Response:
        self.engine.approve(name)
        return json_response("Bootstrap approved", 200)

    # ------------------------------------------------------------------ the pipeline process
    async def http_input(self, request: web.Request, name: str, table: str) -> web.Response:
        require_reachable(self.engine.get(name), f"/ingress/{table}")  # before the body
        counter = RecordCounter()
        async for chunk in request.content.iter_chunked(1 << 16):
            counter.feed(chunk)  # counted and dropped: any size, no memory kept
        token = self.engine.ingress(name, table, counter.finish(), counter.size)
        return json_response({"token": token})

    async def get_pipeline_stats(self, request: web.Request, name: str) -> web.Response:
        p = self.engine.get(name)
        require_reachable(p, "/stats")
        return json_response(controller_status(p, self.engine.now()))

    # ------------------------------------------------------------------ monitor events
    async def list_pipeline_events(self, request: web.Request, name: str) -> web.Response:
        selector = _query_choice(request, _EVENT_SELECTORS, "status")
        events = self.engine.get(name).events
        return raw_json(events.list_body(selector), headers=NO_CACHE)

    async def get_pipeline_event(
        self, request: web.Request, name: str, event_id: str
    ) -> web.Response:
        return _one_event(request, event_id, lambda: self.engine.get(name).events, "Pipeline")

    async def list_cluster_events(self, request: web.Request) -> web.Response:
        # The list endpoint has no selector: always the status fields.
        return raw_json(self.monitor.events.list_body("status"), headers=NO_CACHE)

    async def get_cluster_event(self, request: web.Request, event_id: str) -> web.Response:
        return _one_event(request, event_id, lambda: self.monitor.events, "Cluster")

    async def get_cluster_health(self, request: web.Request) -> web.Response:
        body = self.monitor.health_body()
        return json_response(body, 200 if body["all_healthy"] else 503)

    # ------------------------------------------------------------------ API keys
    def _api_key(self, name: str) -> dict[str, Any]:
        """The ``ApiKeyDescr`` of a key made through the API, or 404 ``UnknownApiKey``."""
        if name not in self.api_keys:
            raise FakeAPIError(404, "UnknownApiKey", f"Unknown API key '{name}'", {"name": name})
        return self.api_keys[name].described

    async def list_api_keys(self, request: web.Request) -> web.Response:
        described = [self.api_keys[name].described for name in sorted(self.api_keys)]
        return json_response(described, headers=NO_CACHE)

    async def get_api_key(self, request: web.Request, key: str) -> web.Response:
        return json_response([self._api_key(key)], headers=NO_CACHE)

    async def post_api_key(self, request: web.Request) -> web.Response:
        body = await _json_object(request, "name")
        name, role = body["name"], body.get("role")
        if role is not None and role not in ("read", "write"):
            raise _BadRequest(
                f"Json deserialize error: unknown variant `{role}`, expected `read` or `write`"
            )
        if name in self.api_keys:
            raise FakeAPIError(409, "DuplicateName", "An entity with this name already exists")
        described = {"id": str(uuid.uuid4()), "name": name, "role": role or "read"}
        secret = "apikey:" + "".join(secrets.choice(_ALPHABET) for _ in range(128))
        self.api_keys[name] = CreatedKey(described, secret)
        # The NewApiKeyResponse: the only time the secret is shown.
        created = {"id": described["id"], "name": name, "api_key": secret}
        return json_response(created, 201, headers=NO_CACHE)

    async def delete_api_key(self, request: web.Request, key: str) -> web.Response:
        self._api_key(key)
        del self.api_keys[key]
        return web.Response(status=200)
