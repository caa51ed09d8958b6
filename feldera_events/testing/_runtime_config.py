"""Owns the rules on a pipeline's ``runtime_config``: how the manager stores it (with every
default filled in), which edits need cleared storage, and when ``initial=standby`` is allowed.

Pure.  The defaults are those the upstream OpenAPI spec gives for ``RuntimeConfig`` and
``ResourceConfig`` (v0.337); the restricted fields and the standby condition are those the
manager's error messages name (``EditRestrictedToClearedStorage``,
``InitialStandbyNotAllowed``).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["normalize_runtime_config", "restricted_edits", "standby_allowed"]

_RESOURCES_DEFAULTS: dict[str, Any] = {
    "cpu_cores_min": None,
    "cpu_cores_max": None,
    "memory_mb_min": None,
    "memory_mb_max": None,
    "storage_mb_max": None,
    "storage_class": None,
    "service_account_name": None,
    "namespace": None,
}

_DEFAULTS: dict[str, Any] = {
    "workers": 8,
    "hosts": 1,
    "storage": {
        "backend": {"name": "default"},
        "min_storage_bytes": None,
        "min_step_storage_bytes": None,
        "compression": "default",
        "cache_mib": None,
    },
    "fault_tolerance": {"model": "none", "checkpoint_interval_secs": 60},
    "cpu_profiler": True,
    "tracing": False,
    "tracing_endpoint_jaeger": "127.0.0.1:6831",
    "min_batch_size_records": 0,
    "max_buffering_delay_usecs": 0,
    "resources": _RESOURCES_DEFAULTS,
    "clock_resolution_usecs": 1000000,
    "clock_timezone_offset": None,
    "pin_cpus": [],
    "provisioning_timeout_secs": None,
    "max_parallel_connector_init": None,
    "init_containers": None,
    "checkpoint_during_suspend": True,
    "http_workers": None,
    "io_workers": None,
    "dev_tweaks": {},
    "logging": None,
    "env": {},
    "pipeline_template_configmap": None,
    "max_rss_mb": None,
    "datafusion_memory_mb": None,
}


def normalize_runtime_config(value: dict[str, Any] | None) -> dict[str, Any]:
    """``value`` as the manager stores it: every field the request left out gets its
    default (``resources`` field by field), so ``{}`` becomes the full default."""
    out = copy.deepcopy(_DEFAULTS)
    for key, item in (value or {}).items():
        if key == "resources" and isinstance(item, dict):
            out["resources"] = {**_RESOURCES_DEFAULTS, **copy.deepcopy(item)}
        else:
            out[key] = copy.deepcopy(item)
    return out


def _resource(config: dict[str, Any], key: str) -> Any:
    resources = config.get("resources")
    return resources.get(key) if isinstance(resources, dict) else None


def restricted_edits(current: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields (as the manager names them) that ``new`` changes and that may change only
    while storage is cleared; both configs normalized."""
    changed = []
    if new.get("workers") != current.get("workers"):
        changed.append("`runtime_config.workers`")
    if new.get("hosts", 1) != current.get("hosts", 1):
        changed.append("`runtime_config.hosts`")
    if new.get("fault_tolerance") != current.get("fault_tolerance"):
        changed.append("`runtime_config.fault_tolerance`")
    for key in ("storage_mb_max", "namespace", "storage_class"):
        if _resource(new, key) != _resource(current, key):
            changed.append(f"`runtime_config.resources.{key}`")
    if new.get("clock_timezone_offset") != current.get("clock_timezone_offset"):
        changed.append("`runtime_config.clock_timezone_offset`")
    return changed


def standby_allowed(config: dict[str, Any]) -> bool:
    """``/start?initial=standby`` needs a file storage backend with ``sync`` configured."""
    storage = config.get("storage")
    backend = storage.get("backend") if isinstance(storage, dict) else None
    if not isinstance(backend, dict) or backend.get("name") != "file":
        return False
    settings = backend.get("config")
    return isinstance(settings, dict) and settings.get("sync") is not None
