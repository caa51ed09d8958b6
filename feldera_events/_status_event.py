"""A ``selector=status`` :class:`PipelineEvent` built by hand (every poll's answer), and
the converter hooks of :class:`PipelineEvent`, which try it first: the generated cattrs
functions structure everything else (benchmarks/bench_parse.py: the cost).
"""

from __future__ import annotations

import datetime as _dt
import operator
import uuid
from typing import Any, Final

import attrs

from ._convert import _object_hooks, _structure_datetime, parse_uuid
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

#: The keys of a ``selector=status`` event (every poll's): the fields before the
#: details, in the order of the class (and of ``PipelineEvent(...)``'s arguments).
_STATUS_ORDER: Final = tuple(field.name for field in attrs.fields(PipelineEvent)[:9])
_STATUS_KEYS: Final = frozenset(_STATUS_ORDER)
_status_values: Final = operator.itemgetter(*_STATUS_ORDER)
#: Every status key, each None: what ``dict.get`` gives for a key left out.
_ABSENT: Final[dict[str, Any]] = dict.fromkeys(_STATUS_ORDER)


# The known members by wire value (an unknown value is left to the full hook).
_RESOURCES: Final[dict[Any, Any]] = ResourcesStatus._value2member_map_
_RESOURCES_DESIRED: Final[dict[Any, Any]] = ResourcesDesiredStatus._value2member_map_
_RUNTIME: Final[dict[Any, Any]] = RuntimeStatus._value2member_map_
_RUNTIME_DESIRED: Final[dict[Any, Any]] = RuntimeDesiredStatus._value2member_map_
_PROGRAM: Final[dict[Any, Any]] = ProgramStatus._value2member_map_
_STORAGE: Final[dict[Any, Any]] = StorageStatus._value2member_map_


#: ``event_id`` text -> its ``recorded_at`` text and both parsed, for the events seen
#: last: most polls answer the event the previous poll did, and both parses are a pure
#: function of the texts (the UUID and the datetime are immutable, so events share them).
#: Cleared when full, as the client's path cache.
_PARSED: Final[dict[str, tuple[str, uuid.UUID, _dt.datetime]]] = {}
_PARSED_SIZE: Final = 4096


def structure_status_event(data: dict[str, Any]) -> PipelineEvent | None:
    """A ``selector=status`` event with known values, built by hand (the hot path).

    None for any other data (another shape, an unknown enum value, a wrong type, a
    missing key): the generated cattrs function structures it, and says what is wrong.
    For the data it accepts it does exactly what the field hooks would do.
    """
    if len(data) != len(_STATUS_ORDER):
        if len(data) > len(_STATUS_ORDER) or not _STATUS_KEYS.issuperset(data):
            return None
        data = {**_ABSENT, **data}  # a status key left out is None, as with .get
    try:
        (
            event_id,
            recorded_at,
            resources,
            desired,
            has_error,
            program,
            storage,
            runtime,
            runtime_desired,
        ) = _status_values(data)
    except KeyError:  # as many keys, not all of them ours
        return None
    try:
        # A value that is not a string finds no member (an unhashable one: TypeError).
        resources = _RESOURCES.get(resources)
        desired = _RESOURCES_DESIRED.get(desired)
        program = _PROGRAM.get(program)
        storage = _STORAGE.get(storage)
        if runtime is not None and (runtime := _RUNTIME.get(runtime)) is None:
            return None
        if runtime_desired is not None and (
            (runtime_desired := _RUNTIME_DESIRED.get(runtime_desired)) is None
        ):
            return None
    except TypeError:
        return None
    if (
        resources is None
        or desired is None
        or program is None
        or storage is None
        or type(has_error) is not bool
        or type(event_id) is not str
        or type(recorded_at) is not str
    ):
        return None
    parsed = _PARSED.get(event_id)
    if parsed is not None and parsed[0] == recorded_at:
        uid, when = parsed[1], parsed[2]  # a poll that found no change: parsed before
    else:
        try:
            uid = parse_uuid(event_id)
            when = _structure_datetime(recorded_at, _dt.datetime)
        except ValueError:
            return None
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.clear()
        _PARSED[event_id] = (recorded_at, uid, when)
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
