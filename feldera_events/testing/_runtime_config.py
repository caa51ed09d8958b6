"""Owns the rules on a pipeline's ``runtime_config``: how the manager stores it (with every
default filled in), which edits need cleared storage, and when ``initial=standby`` is allowed.

Pure.  The defaults are the upstream OpenAPI spec's (v0.337); the restricted fields and
the standby condition are those the manager's error messages name.
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


def _at(config: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a config (None where a level is no object)."""
    for key in path.split("."):
        config = config.get(key) if isinstance(config, dict) else None
    return config


#: The fields that may change only while storage is cleared, in the manager's order.
_STORAGE_BOUND = (
    "workers",
    "hosts",
    "fault_tolerance",
    "resources.storage_mb_max",
    "resources.namespace",
    "resources.storage_class",
    "clock_timezone_offset",
)


def restricted_edits(current: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields (as the manager names them) that ``new`` changes and that may change only
    while storage is cleared; both configs normalized."""
    return [f"`runtime_config.{p}`" for p in _STORAGE_BOUND if _at(new, p) != _at(current, p)]


def standby_allowed(config: dict[str, Any]) -> bool:
    """``/start?initial=standby`` needs a file storage backend with ``sync`` configured."""
    backend = _at(config, "storage.backend")
    return _at(backend, "name") == "file" and _at(backend, "config.sync") is not None
