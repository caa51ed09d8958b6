"""Extract the parts of Feldera's OpenAPI spec this project depends on.

Usage::

    python tests/tools/extract_schemas.py [PATH_TO_OPENAPI_JSON]

Reads the upstream spec (default ``tests/data/feldera-openapi.json.gz``, a gzipped copy
of upstream's ``openapi.json`` kept in the repository; a path ending in ``.gz`` is read
gzipped) and writes ``tests/data/feldera_openapi_subset.json``: a small, valid
OpenAPI 3 document holding the operations listed in ``PATHS`` and every schema they
reference (transitively), plus the named ``EXTRA_SCHEMAS``.  The test suite validates
against that subset; ``tests/test_contract.py`` checks the subset against a fresh
extraction from the stored copy. After an upstream release: replace the stored copy
(``gzip -9 -n -c openapi.json > tests/data/feldera-openapi.json.gz``), re-run this
script and review the diff.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT / "tests" / "data" / "feldera-openapi.json.gz"


def load_spec(path: Path) -> Any:
    """The OpenAPI document at ``path`` (gzipped if the name ends in ``.gz``)."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return json.loads(data.decode("utf-8"))


OUTPUT = ROOT / "tests" / "data" / "feldera_openapi_subset.json"

PATHS = [
    "/v0/pipelines/{pipeline_name}/events",
    "/v0/pipelines/{pipeline_name}/events/{event_id}",
    "/v0/cluster/events",
    "/v0/cluster/events/{event_id}",
    "/v0/cluster_healthz",
    "/v0/config",
    "/v0/pipelines",
    "/v0/pipelines/{pipeline_name}",
    "/v0/pipelines/{pipeline_name}/start",
    "/v0/pipelines/{pipeline_name}/stop",
    "/v0/pipelines/{pipeline_name}/pause",
    "/v0/pipelines/{pipeline_name}/resume",
    "/v0/pipelines/{pipeline_name}/clear",
    "/v0/pipelines/{pipeline_name}/dismiss_error",
    "/v0/pipelines/{pipeline_name}/approve",
    "/v0/pipelines/{pipeline_name}/ingress/{table_name}",
    "/v0/pipelines/{pipeline_name}/stats",
    "/v0/api_keys",
    "/v0/api_keys/{api_key_name}",
]

EXTRA_SCHEMAS = [
    "PipelineMonitorEventSelectedInfo",
    "PipelineMonitorEventFieldSelector",
    "ErrorResponse",
    "ResourcesStatus",
    "ResourcesDesiredStatus",
    "RuntimeStatus",
    "RuntimeDesiredStatus",
    "StorageStatus",
    "ProgramStatus",
    "CombinedStatus",
    "CombinedDesiredStatus",
    "RuntimeStatusDetails",
    "PipelineDiff",
    "StorageStatusDetails",
    "ClusterMonitorEventSelectedInfo",
    "ClusterMonitorEventFieldSelector",
    "MonitorStatus",
]


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    all_schemas = spec["components"]["schemas"]
    paths = {p: spec["paths"][p] for p in PATHS}
    wanted: set[str] = set(EXTRA_SCHEMAS) | _refs(paths)
    done: set[str] = set()
    while wanted - done:
        name = sorted(wanted - done)[0]
        done.add(name)
        wanted |= _refs(all_schemas[name])
    return {
        "openapi": spec["openapi"],
        "info": {
            "title": spec["info"]["title"] + " (subset for feldera-events tests)",
            "version": spec["info"]["version"],
        },
        "paths": paths,
        "components": {
            "schemas": {n: all_schemas[n] for n in sorted(done)},
            "securitySchemes": spec["components"].get("securitySchemes", {}),
        },
    }


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    spec = load_spec(src)
    subset = extract(spec)
    OUTPUT.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"wrote {OUTPUT.relative_to(ROOT)}: {len(subset['paths'])} paths, "
        f"{len(subset['components']['schemas'])} schemas (spec {subset['info']['version']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
