"""Validate Feldera wire JSON against the upstream OpenAPI schemas (reusable test helper).

The schemas come from ``tests/data/feldera_openapi_subset.json``.  OpenAPI 3.0 is not
JSON Schema: ``nullable: true`` is rewritten into ``anyOf [..., null]`` before the
document is registered, and ``$ref``s resolve through a ``referencing`` registry.

    checker = SchemaChecker.load()
    checker.check_response("get_pipeline_event", 200, body_bytes, "application/json")
    checker.validate({"message": "m", "error_code": "X", "details": None}, "ErrorResponse")
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SUBSET = Path(__file__).resolve().parents[1] / "data" / "feldera_openapi_subset.json"
BASE_URI = "urn:feldera-openapi"

__all__ = ["SUBSET", "SchemaChecker", "SchemaMismatch"]


class SchemaMismatch(AssertionError):
    """A response that the upstream spec does not allow."""


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema object -> JSON Schema 2020-12 (``nullable``, ``example``)."""
    if isinstance(node, list):
        return [_to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k not in ("example", "examples")}
    if out.pop("nullable", False):
        if set(out) <= {"description", "default", "title"}:
            return out  # untyped: anything goes, null included
        rest = dict(out)
        return {"anyOf": [rest, {"type": "null"}]}
    return out


class SchemaChecker:
    """Response validator over the OpenAPI subset."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        converted = _to_json_schema(document)
        self._registry: Registry[Any] = Registry().with_resource(
            BASE_URI, Resource.from_contents(converted, default_specification=DRAFT202012)
        )
        self._operations: dict[str, dict[str, Any]] = {}
        for methods in document["paths"].values():
            for op in methods.values():
                if isinstance(op, dict) and "operationId" in op:
                    self._operations[op["operationId"]] = op

    @classmethod
    @functools.cache
    def load(cls, path: Path = SUBSET) -> SchemaChecker:
        return cls(json.loads(path.read_text()))

    def _validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(
            schema,
            registry=self._registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )

    def validate(self, instance: Any, schema_name: str) -> None:
        """Validate ``instance`` against ``#/components/schemas/<schema_name>``."""
        self._run({"$ref": f"{BASE_URI}#/components/schemas/{schema_name}"}, instance, schema_name)

    def _run(self, schema: dict[str, Any], instance: Any, what: str) -> None:
        errors = sorted(self._validator(schema).iter_errors(instance), key=lambda e: e.path)
        if errors:
            detail = "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
            raise SchemaMismatch(f"{what}: {detail}")

    def response_schema(self, operation_id: str, status: int) -> dict[str, Any] | None:
        """The JSON schema for that operation and status, or None when the spec gives none
        (an undocumented status raises)."""
        op = self._operations[operation_id]
        responses = op["responses"]
        spec = responses.get(str(status)) or responses.get("default")
        if spec is None:
            raise SchemaMismatch(f"{operation_id}: status {status} is not in the spec")
        content = spec.get("content", {}).get("application/json")
        if content is None:
            return None
        schema = _to_json_schema(content["schema"])
        return _rebase(schema)

    def check_response(
        self, operation_id: str | None, status: int, body: bytes, content_type: str = ""
    ) -> None:
        """Assert that a response conforms to the spec for ``operation_id``.

        Documented deviations of the real manager are accepted: a plain-text 400 from
        actix's query extractor, the auth 401 (bare, or ``AuthenticationFailed`` JSON
        without ``details``), and statuses produced on purpose by fault injection should
        not be passed here.
        """
        if operation_id is None:
            return
        if status == 401:
            if body:
                payload = json.loads(body)
                assert payload["error_code"] == "AuthenticationFailed", payload
                assert "details" not in payload
            return
        if status == 400 and content_type.startswith("text/plain"):
            assert body.startswith((b"Query deserialize error:", b"Json deserialize error:"))
            return
        schema = self.response_schema(operation_id, status)
        if schema is None:
            return
        try:
            instance = json.loads(body)
        except ValueError as exc:
            raise SchemaMismatch(
                f"{operation_id} {status}: body is not JSON: {body[:80]!r}"
            ) from exc
        self._run(schema, instance, f"{operation_id} {status}")


def _rebase(node: Any) -> Any:
    if isinstance(node, list):
        return [_rebase(x) for x in node]
    if isinstance(node, dict):
        return {
            k: (
                BASE_URI + v
                if k == "$ref" and isinstance(v, str) and v.startswith("#")
                else _rebase(v)
            )
            for k, v in node.items()
        }
    return node
