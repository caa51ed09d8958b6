"""What every model is made of: :class:`OpenEnum` (a string enum that accepts values it
does not know), :data:`UNSET` (a field the server did not send) and :class:`Selector`
(which fields it sends), with the converter hooks of open enums.
"""

from __future__ import annotations

import enum
from typing import Any, Final, Literal, Self, TypeAlias

from ._convert import _json_type, converter

__all__ = ["JSON", "UNSET", "OpenEnum", "Selector", "Unset"]


class Unset(enum.Enum):
    """The type of :data:`UNSET`: a field not sent (not selected); ``None`` is a ``null``. Falsy."""

    UNSET = "UNSET"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"


#: Marks a field that was not part of the response (e.g. ``*_details`` with
#: ``selector=status``), as opposed to ``None`` for an explicit ``null``.
UNSET: Final = Unset.UNSET


class OpenEnum(enum.StrEnum):
    """A string enum that accepts values it does not know.

    Feldera adds enum values over time (``Coordination`` is recent). Looking up an
    unknown value never raises: it returns a pseudo-member whose ``value`` is the
    wire string (so it round-trips back out), whose ``name`` is ``UNKNOWN``, which
    is equal to no known member and for which :attr:`is_known` is False.
    """

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        cache: dict[str, Self] = cls.__dict__.get("_unknown_cache_") or {}
        if not cache:
            type.__setattr__(cls, "_unknown_cache_", cache)
        member = cache.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = "UNKNOWN"
            member._value_ = value
            if len(cache) < 1024:  # bound what a misbehaving server can make us keep
                cache[value] = member
        return member

    @property
    def is_known(self) -> bool:
        """True for a value this version of feldera-events knows."""
        return self._value_ in type(self)._value2member_map_

    def __repr__(self) -> str:
        if self.is_known:
            return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"
        return f"<{type(self).__name__} (unknown): {self._value_!r}>"


class Selector(OpenEnum):
    """``selector`` query parameter: which fields an event response carries."""

    ALL = "all"
    STATUS = "status"


#: Any JSON value (the untyped ``*_details`` fields).
JSON: TypeAlias = Any


def _structure_open_enum(value: Any, cls: type[OpenEnum]) -> OpenEnum:
    if not isinstance(value, str):
        raise TypeError(f"expected a string for {cls.__name__}, got {_json_type(value)}")
    return cls._value2member_map_.get(value) or cls(value)  # type: ignore[return-value]


# Class-based hooks dispatch on subclasses too (functools.singledispatch), so the
# OpenEnum hook, being more specific than the str hook, wins for every status enum.
converter.register_structure_hook(OpenEnum, _structure_open_enum)
converter.register_unstructure_hook(OpenEnum, lambda e: e.value)
