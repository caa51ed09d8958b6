"""The one cattrs converter: wire JSON primitives, model hooks (:func:`_object_hooks`, which
models call: this module knows no model), structuring with clear errors.

Strict where the spec is precise (booleans are booleans, ids are UUIDs, timestamps
carry a timezone), lenient where servers evolve (unknown enum values and unknown
keys are kept, untyped ``*_details`` pass through as they are).
"""

from __future__ import annotations

import datetime as _dt
import types
import uuid
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import ResponseValidationError

__all__ = ["converter", "format_datetime", "parse_uuid", "structure", "structure_list"]

T = TypeVar("T")

converter = cattrs.Converter(detailed_validation=True)


def _exactly(kind: type[T], words: str) -> Callable[[Any, type], T]:
    """A structure hook that takes only values of ``kind`` (cattrs' own converts them)."""

    def hook(value: Any, _: type) -> T:
        if not isinstance(value, kind):
            raise TypeError(f"expected {words}, got {_json_type(value)}")
        return value

    return hook


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None] | None:
    """The ``__set__`` of ``cls``'s slot ``name``; None if ``name`` is no slot of it."""
    slot = cls.__dict__.get(name)
    return slot.__set__ if isinstance(slot, types.MemberDescriptorType) else None


# uuid.UUID's slots, to fill one without running its __init__ (see parse_uuid). Every
# CPython this package supports has them; were they gone, parse_uuid is uuid.UUID.
_SET_UUID_INT: Final = _slot_setter(uuid.UUID, "int")
_SET_UUID_SAFE: Final = _slot_setter(uuid.UUID, "is_safe")
_SAFE_UNKNOWN: Final = uuid.SafeUUID.unknown
_new = object.__new__


def parse_uuid(text: str) -> uuid.UUID:
    """``uuid.UUID(text)``: the same value, the same errors, at about a third of the cost.

    ``uuid.UUID`` drops ``urn:``, ``uuid:``, braces and every ``-``, wants 32 hex digits
    left and reads them with ``int(..., 16)``. A text whose ``-``-less form has 32
    characters that ``int`` reads holds no ``:`` or brace, so ``uuid.UUID`` would read
    the same digits: that UUID is made here directly (its ``int`` and ``is_safe``
    slots, as its ``__init__`` sets them). Anything else (other forms, errors) is
    ``uuid.UUID``'s own doing. Most of its cost is the keyword handling of ``__init__``,
    paid for every event (benchmarks/RESULTS.md, Notes).
    """
    digits = text.replace("-", "")
    if len(digits) == 32 and _SET_UUID_INT is not None and _SET_UUID_SAFE is not None:
        try:
            value = int(digits, 16)
        except ValueError:
            pass  # uuid.UUID says what is wrong
        else:
            made: uuid.UUID = _new(uuid.UUID)
            _SET_UUID_INT(made, value)
            _SET_UUID_SAFE(made, _SAFE_UNKNOWN)
            return made
    return uuid.UUID(text)


def _structure_uuid(value: Any, _: type) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID string, got {_json_type(value)}")
    return parse_uuid(value)


def _structure_datetime(value: Any, _: type) -> _dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 date-time string, got {_json_type(value)}")
    if "T" not in value and "t" not in value:
        raise ValueError(f"expected an RFC 3339 date-time, got {value!r}")
    parsed = _dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"date-time {value!r} has no timezone")
    return parsed


def format_datetime(
    value: _dt.datetime, timespec: str = "microseconds", *, utc: bool = False
) -> str:
    """RFC 3339, ``Z`` for UTC (as Feldera writes ``recorded_at``): the one time formatter.

    Microseconds by default (wire JSON); messages and the CLI ask for ``"seconds"`` or
    ``"milliseconds"`` and ``utc=True`` (converted to UTC first).
    """
    text = (value.astimezone(_dt.UTC) if utc else value).isoformat(timespec=timespec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


converter.register_structure_hook(str, _exactly(str, "a string"))
converter.register_structure_hook(bool, _exactly(bool, "a boolean"))
converter.register_structure_hook(uuid.UUID, _structure_uuid)
converter.register_unstructure_hook(uuid.UUID, str)
converter.register_structure_hook(_dt.datetime, _structure_datetime)
converter.register_unstructure_hook(_dt.datetime, format_datetime)


def _object_hooks(
    cls: type[T],
    unset_fields: tuple[str, ...] = (),
    fast: Callable[[dict[str, Any]], T | None] | None = None,
) -> None:
    """Structure/unstructure hooks for a model that keeps unknown keys.

    Fields that default to UNSET are omitted on the way out when still UNSET.
    ``fast`` (a hand-written structure function for the common shape) is tried
    first: it returns None for anything it does not handle, and the generated
    functions below then structure the data (and say what is wrong with it).
    """
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)  # type: ignore[arg-type]
    known = frozenset(f.name for f in fields if f.name != "additional_properties")
    # The fast path skips cattrs' per-field bookkeeping; when it fails, the detailed
    # function runs on the same data to say exactly what was wrong, and where.
    fast_fn = make_dict_structure_fn(
        cls,
        converter,
        _cattrs_detailed_validation=False,
        additional_properties=override(omit=True),
    )
    detailed_fn = make_dict_structure_fn(
        cls,
        converter,
        _cattrs_detailed_validation=True,
        additional_properties=override(omit=True),
    )

    def structure_fn(data: dict[str, Any], cls: type[T]) -> T:
        try:
            return fast_fn(data, cls)
        except Exception:
            detailed_fn(data, cls)
            raise

    overrides: dict[str, Any] = {name: override(omit_if_default=True) for name in unset_fields}
    unstructure_fn = make_dict_unstructure_fn(
        cls,
        converter,
        additional_properties=override(omit=True),
        **overrides,
    )

    def structure_hook(data: Any, _: type) -> T:
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object for {cls.__name__}, got {_json_type(data)}")
        if fast is not None:
            done = fast(data)
            if done is not None:
                return done
        obj = structure_fn(data, cls)
        if len(data) > len(known) or not known.issuperset(data):  # keys we do not know
            extra = {k: v for k, v in data.items() if k not in known}
            obj = attrs.evolve(obj, additional_properties=extra)  # type: ignore[misc]
        return obj

    def unstructure_hook(obj: T) -> dict[str, Any]:
        out: dict[str, Any] = unstructure_fn(obj)
        extra: dict[str, Any] = obj.additional_properties  # type: ignore[attr-defined]
        if extra:
            out = {**extra, **out}
        return out

    converter.register_structure_hook(cls, structure_hook)
    converter.register_unstructure_hook(cls, unstructure_hook)


_VALIDATION_ERRORS = (cattrs.BaseValidationError, ValueError, TypeError, KeyError)


def _reason(exc: Exception, what: str) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        messages = cattrs.transform_error(exc, path=what)
        shown = "; ".join(messages[:5])
        if len(messages) > 5:
            shown += f"; and {len(messages) - 5} more"
        return shown
    return f"{exc} @ {what}"


def structure(data: Any, cls: type[T], *, what: str = "$") -> T:
    """Structure one model; any failure becomes :class:`ResponseValidationError`."""
    try:
        return converter.structure(data, cls)
    except _VALIDATION_ERRORS as exc:
        raise ResponseValidationError(_reason(exc, what)) from exc


def structure_list(data: Any, cls: type[T], *, what: str = "$") -> list[T]:
    """Structure a JSON array of models; any failure becomes :class:`ResponseValidationError`."""
    if not isinstance(data, list):
        raise ResponseValidationError(f"expected a JSON array, got {_json_type(data)} @ {what}")
    hook: Callable[[Any, type[T]], T] = converter.get_structure_hook(cls)
    out: list[T] = []
    for index, item in enumerate(data):
        try:
            out.append(hook(item, cls))
        except _VALIDATION_ERRORS as exc:
            raise ResponseValidationError(_reason(exc, f"{what}[{index}]")) from exc
    return out
