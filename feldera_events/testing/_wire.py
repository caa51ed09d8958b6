"""Owns the wire details of the fake's answers: JSON bodies, actix-style query errors
(plain-text 400s), and the ``uuid`` crate's parse-error wording."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from feldera_events.testing._model import FakeAPIError

__all__ = [
    "JSON",
    "NO_CACHE",
    "bool_param",
    "error_response",
    "json_response",
    "parse_event_id",
    "query_choice",
    "query_error",
    "raw_json",
    "uuid_error_reason",
]

JSON = "application/json"
NO_CACHE = {"Cache-Control": "no-cache"}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), status=status, content_type=JSON, headers=headers
    )


def raw_json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def error_response(exc: FakeAPIError) -> web.Response:
    return raw_json(exc.to_bytes(), exc.status)


def query_error(message: str) -> web.Response:
    # actix's default QueryConfig error handler: 400 with the error as plain text.
    return web.Response(status=400, text=f"Query deserialize error: {message}")


def query_choice(
    request: web.Request, allowed: tuple[str, ...], default: str = "status", param: str = "selector"
) -> str | web.Response:
    values = request.query.getall(param, [])
    if not values:
        return default
    if len(values) > 1:
        return query_error(f"duplicate field `{param}`")
    value = values[0]
    if value not in allowed:
        expected = ", ".join(f"`{a}`" for a in allowed[:-1]) + f" or `{allowed[-1]}`"
        if len(allowed) == 2:
            expected = f"`{allowed[0]}` or `{allowed[1]}`"
        return query_error(f"unknown variant `{value}`, expected {expected}")
    return value


def bool_param(request: web.Request, name: str, default: bool) -> bool | web.Response:
    value = request.query.get(name)
    if value is None:
        return default
    if value == "true":
        return True
    if value == "false":
        return False
    return query_error("provided string was not `true` or `false`")


def parse_event_id(value: str) -> str | None:
    """Canonical UUID string, or None when it does not parse."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def uuid_error_reason(value: str) -> str:
    # Wording close to the Rust `uuid` crate's parser errors.
    hexdigits = set("0123456789abcdefABCDEF")
    stripped = value.replace("-", "")
    for index, char in enumerate(value):
        if char not in hexdigits and char != "-":
            return (
                f"invalid character: expected an optional prefix of `urn:uuid:` followed by "
                f"[0-9a-fA-F-], found `{char}` at {index + 1}"
            )
    return f"invalid length: expected length 32 for simple format, found {len(stripped)}"
