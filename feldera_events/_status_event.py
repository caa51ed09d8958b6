"""A ``selector=status`` :class:`PipelineEvent` built by hand (every poll's answer), and
the converter hooks of :class:`PipelineEvent`, which try it first.

The generated cattrs functions structure everything else, and say what is wrong with
data that is not an event. The hand-written path does for the data it accepts exactly
what they would do, at a fraction of the cost (benchmarks/bench_parse.py).
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any, Final

import attrs

from ._convert import _object_hooks
from ._pipeline_event import (
    PipelineEvent,
    ProgramStatus,
    ResourcesDesiredStatus,
    ResourcesStatus,
    RuntimeDesiredStatus,
    RuntimeStatus,
    StorageStatus,
)

__all__ = ["structure_status_event"]

#: The keys of a ``selector=status`` event (every poll's): the fields before the details.
_STATUS_KEYS: Final = frozenset(field.name for field in attrs.fields(PipelineEvent)[:9])


# The known members by wire value (an unknown value is left to the full hook).
_RESOURCES: Final[dict[Any, Any]] = ResourcesStatus._value2member_map_
_RESOURCES_DESIRED: Final[dict[Any, Any]] = ResourcesDesiredStatus._value2member_map_
_RUNTIME: Final[dict[Any, Any]] = RuntimeStatus._value2member_map_
_RUNTIME_DESIRED: Final[dict[Any, Any]] = RuntimeDesiredStatus._value2member_map_
_PROGRAM: Final[dict[Any, Any]] = ProgramStatus._value2member_map_
_STORAGE: Final[dict[Any, Any]] = StorageStatus._value2member_map_


def structure_status_event(data: dict[str, Any]) -> PipelineEvent | None:
    """A ``selector=status`` event with known values, built by hand (the hot path).

    None for any other data (another shape, an unknown enum value, a wrong type, a
    missing key): the generated cattrs function structures it, and says what is wrong.
    For the data it accepts it does exactly what the field hooks would do.
    """
    if len(data) > len(_STATUS_KEYS) or not _STATUS_KEYS.issuperset(data):
        return None
    get = data.get
    try:
        # A value that is not a string finds no member (an unhashable one: TypeError).
        resources = _RESOURCES.get(get("deployment_resources_status"))
        desired = _RESOURCES_DESIRED.get(get("deployment_resources_desired_status"))
        program = _PROGRAM.get(get("program_status"))
        storage = _STORAGE.get(get("storage_status"))
        runtime = get("deployment_runtime_status")
        if runtime is not None and (runtime := _RUNTIME.get(runtime)) is None:
            return None
        runtime_desired = get("deployment_runtime_desired_status")
        if runtime_desired is not None and (
            (runtime_desired := _RUNTIME_DESIRED.get(runtime_desired)) is None
        ):
            return None
    except TypeError:
        return None
    event_id = get("event_id")
    recorded_at = get("recorded_at")
    has_error = get("deployment_has_error")
    if (
        resources is None
        or desired is None
        or program is None
        or storage is None
        or type(has_error) is not bool
        or type(event_id) is not str
        or type(recorded_at) is not str
        or ("T" not in recorded_at and "t" not in recorded_at)
    ):
        return None
    try:
        uid = uuid.UUID(event_id)
        when = _dt.datetime.fromisoformat(recorded_at)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return PipelineEvent(
        uid, when, resources, desired, has_error, program, storage, runtime, runtime_desired
    )


_object_hooks(
    PipelineEvent,
    fast=structure_status_event,
    unset_fields=(
        "deployment_error",
        "deployment_resources_status_details",
        "deployment_runtime_status_details",
        "storage_status_details",
    ),
)
