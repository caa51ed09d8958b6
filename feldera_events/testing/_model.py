"""Owns the fake manager's small value types: timings, errors, request records, ids, clocks,
and the protocols through which time and scheduling are injected into the engine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import uuid
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "Cancellable",
    "CallLater",
    "FakeAPIError",
    "RequestRecord",
    "Timings",
    "UUIDv7Factory",
    "format_timestamp",
]


class Cancellable(Protocol):
    """A scheduled callback that can be called off (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


#: Runs a callback after a delay in seconds (already scaled by ``speed``), as
#: ``loop.call_later``; the engine's unit tests pass a manual one whose time only moves
#: when the test says so.
CallLater = Callable[[float, Callable[[], None]], Cancellable]


@dataclasses.dataclass(frozen=True, slots=True)
class Timings:
    """Phase durations of the simulated manager, in seconds at ``speed=1``.

    Every duration is divided by ``FakeFeldera(speed=...)`` before use, so
    ``speed=100`` turns the 2 s of provisioning into 20 ms.  The defaults are
    roughly what a local runner does.  Pass one to ``FakeFeldera(timings=...)``
    or per pipeline to ``create_pipeline(timings=...)``; use
    ``dataclasses.replace(Timings(), provisioning=5.0)`` to change one field.
    """

    #: Each compiler step (Pending -> CompilingSql -> SqlCompiled -> CompilingRust -> Success).
    compile_step: float = 1.0
    #: The runner noticing a new desired status (``/start``, ``/stop``) and acting on it.
    runner_reaction: float = 0.05
    #: Provisioning -> Provisioned.
    provisioning: float = 2.0
    #: Provisioned with runtime Initializing -> the ``initial`` runtime status.
    initializing: float = 1.0
    #: Runtime desired status change (pause/resume) -> runtime status follows.
    runtime_change: float = 0.3
    #: ``/stop?force=false``: checkpoint and suspend before the runtime reports Suspended.
    suspending: float = 1.0
    #: Stopping -> Stopped.
    stopping: float = 1.0
    #: Storage Clearing -> Cleared.
    clearing: float = 1.0
    #: Realism: time between ``Unavailable`` blips while provisioned (``unavailable_blips``).
    blip_interval: float = 15.0
    #: Realism: how long a blip lasts.
    blip_duration: float = 1.0
    #: Realism: interval of duplicate heartbeat events while provisioned (``heartbeats``);
    #: the real runner writes one after 600 s without a change.
    heartbeat: float = 600.0
    #: Cluster start-up: InitialUnhealthy -> Healthy.
    cluster_startup: float = 2.0


class FakeAPIError(Exception):
    """An error the fake answers with; raised by control methods with the same rules as REST.

    ``status`` is the HTTP status, ``error_code``/``message``/``details`` the
    ``ErrorResponse`` body the REST endpoint would send.
    """

    def __init__(self, status: int, error_code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        """The wire ``ErrorResponse``."""
        return {"message": self.message, "error_code": self.error_code, "details": self.details}

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_body()).encode()


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the fake saw it (never holds the ``Authorization`` value).

    ``status`` is ``None`` when the connection was reset or the request was
    still pending when the server closed.  ``fault`` names an injected fault.
    """

    method: str
    path: str
    query: dict[str, str]
    time: float
    status: int | None
    operation: str | None = None
    pipeline: str | None = None
    fault: str | None = None
    tenant: str | None = None


def format_timestamp(value: dt.datetime) -> str:
    """RFC 3339 with microseconds and ``Z``, as chrono serializes ``DateTime<Utc>``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UUIDv7Factory:
    """Monotonic UUIDv7 ids: 48-bit ms timestamp, version 7, 12-bit sequence, random tail."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last_ms = 0
        self._seq = 0

    def new(self, at: dt.datetime) -> str:
        """The id of an event recorded ``at``."""
        ms = int(at.timestamp() * 1000)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._seq += 1
            if self._seq > 0xFFF:
                ms += 1
                self._seq = 0
        else:
            self._seq = self._rng.getrandbits(8)  # leave room to count up within one ms
        self._last_ms = ms
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= self._seq << 64
        value |= 0b10 << 62
        value |= self._rng.getrandbits(62)
        return str(uuid.UUID(int=value))
