"""Owns the fake manager's rows: a pipeline's status fields, its event log, and their wire views."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections import deque
from typing import Any, NamedTuple

from feldera_events.testing._model import Cancellable, Timings, format_timestamp

__all__ = ["Event", "EventLog", "Pipeline"]

PROGRAM_COMPILING = ("Pending", "CompilingSql", "SqlCompiled", "CompilingRust")
PROGRAM_FAILED = ("SqlError", "RustError", "SystemError")

#: Status fields of a pipeline (and of an event with ``selector=all``), in wire order.
STATUS_KEYS = (
    "deployment_resources_status",
    "deployment_resources_desired_status",
    "deployment_runtime_status",
    "deployment_runtime_desired_status",
    "deployment_has_error",
    "program_status",
    "storage_status",
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Event(NamedTuple):
    """One stored monitor event, serialized once per selector."""

    event_id: str
    recorded_at: str
    data: dict[str, Any]
    all_bytes: bytes
    status_bytes: bytes

    def body(self, selector: str) -> bytes:
        return self.all_bytes if selector == "all" else self.status_bytes


class EventLog:
    """Events of one subject, oldest first, with an id index and cached list bodies.
    ``id_key`` names an event's id (a pipeline's ``event_id``, the cluster's ``id``);
    ``selector=status`` shows it, ``recorded_at`` and the ``status_keys``."""

    __slots__ = ("_list_cache", "by_id", "id_key", "items", "status_keys")

    def __init__(
        self, id_key: str = "event_id", status_keys: tuple[str, ...] = STATUS_KEYS
    ) -> None:
        self.items: deque[Event] = deque()
        self.by_id: dict[str, Event] = {}
        self._list_cache: dict[str, bytes] = {}
        self.id_key = id_key
        self.status_keys = (id_key, "recorded_at", *status_keys)

    def append(self, event_id: str, ts: dt.datetime, fields: dict[str, Any]) -> None:
        """Record an event with these ``fields`` (``selector=all``) after its id and time."""
        recorded_at = format_timestamp(ts)
        data = {self.id_key: event_id, "recorded_at": recorded_at, **fields}
        status = {k: data[k] for k in self.status_keys}
        event = Event(event_id, recorded_at, data, _dumps(data), _dumps(status))
        self.items.append(event)
        self.by_id[event_id] = event
        self._list_cache.clear()

    def latest(self) -> Event | None:
        return self.items[-1] if self.items else None

    def trim(self, keep: int) -> int:
        removed = max(0, len(self.items) - keep)
        for _ in range(removed):
            del self.by_id[self.items.popleft().event_id]
        if removed:
            self._list_cache.clear()
        return removed

    def list_body(self, selector: str) -> bytes:
        cached = self._list_cache.get(selector)
        if cached is None:
            cached = b"[" + b",".join(e.body(selector) for e in reversed(self.items)) + b"]"
            self._list_cache[selector] = cached
        return cached

    def newest_first(self) -> list[dict[str, Any]]:
        return [dict(e.data) for e in reversed(self.items)]


@dataclasses.dataclass(eq=False)
class Pipeline:
    """A simulated pipeline row plus the engine's bookkeeping."""

    name: str
    created_at: dt.datetime
    timings: Timings
    program_code: str
    description: str
    tags: list[str]
    runtime_config: dict[str, Any]
    platform_version: str
    program_status: dataclasses.InitVar[str]
    id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    udf_rust: str = ""
    udf_toml: str = ""
    program_config: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"profile": "optimized", "cache": True, "runtime_version": None}
    )
    version: int = 1
    program_version: int = 1
    refresh_version: int = 1
    program_error: dict[str, Any] = dataclasses.field(default_factory=dict)
    events: EventLog = dataclasses.field(default_factory=EventLog)
    #: ``info("status")`` as wire bytes, until the next :meth:`changed`.
    status_cache: bytes | None = None
    # Engine bookkeeping.
    #: Pending timers by kind (``Automaton.schedule``).
    timers: dict[str, Cancellable] = dataclasses.field(default_factory=dict)
    compile_plan: list[str] = dataclasses.field(default_factory=list)
    start_failures: deque[str] = dataclasses.field(default_factory=deque)
    failure_message: dict[str, str] = dataclasses.field(default_factory=dict)
    provisioning_timeout: float = 20.0
    pending_failure: str | None = None
    #: The simulated pipeline process: when it started, what it was sent (``/stats``).
    process_started: dt.datetime | None = None
    input_records: int = 0
    input_bytes: int = 0
    completion_tokens: int = 0
    #: What a /pause or /resume asked of the pipeline process; the runner records it
    #: (runtime and runtime desired at once) at its next probe.
    runtime_target: str | None = None
    #: The program the storage's checkpoint was made with (None: no checkpoint, e.g.
    #: cleared storage); with ``bootstrap_policy=await_approval``, a start of another
    #: program waits for approval.
    checkpoint_program: str | None = None

    def __post_init__(self, program_status: str) -> None:
        # The status row (wire names).
        self.s: dict[str, Any] = {
            "deployment_resources_status": "Stopped",
            "deployment_resources_status_details": None,
            "deployment_resources_desired_status": "Stopped",
            "deployment_runtime_status": None,
            "deployment_runtime_status_details": None,
            "deployment_runtime_desired_status": None,
            "deployment_error": None,
            "program_status": program_status,
            "storage_status": "Cleared",
            "storage_status_details": None,
            "deployment_initial": None,
            "deployment_id": None,
            # What /start set (BootstrapConfig), until the move to Stopping.
            "bootstrap_policy": None,
            "silent_bootstrap": False,
            "concurrent_bootstrap": False,
        }
        now = self.created_at
        self.since: dict[str, dt.datetime | None] = {
            "program_status_since": now,
            "deployment_resources_status_since": now,
            "deployment_resources_desired_status_since": now,
            "deployment_runtime_status_since": None,
            "deployment_runtime_desired_status_since": None,
        }

    # -- derived fields -----------------------------------------------------------------
    def changed(self) -> None:
        """Forget the cached list entry: every change to what :meth:`info` shows calls it
        (the automaton's writes and events, and the edits that write no event)."""
        self.status_cache = None

    def status_entry(self) -> bytes:
        """``info("status")`` as compact JSON, the entry of ``GET /v0/pipelines?selector=status``;
        made once per change, so a list of thousands of pipelines costs a join."""
        entry = self.status_cache
        if entry is None:
            entry = self.status_cache = _dumps(self.info("status"))
        return entry

    def combined_since(self, which: str) -> str:
        """``deployment_{which}_since`` (``status``, ``desired_status``): the later of the
        resources and runtime stamps, as the manager's ``combine_since`` derives it."""
        resources = self.since[f"deployment_resources_{which}_since"]
        runtime = self.since[f"deployment_runtime_{which}_since"]
        assert resources is not None  # the resources stamps are never null
        return format_timestamp(resources if runtime is None else max(resources, runtime))

    def combined_status(self) -> str:
        rs = self.s["deployment_resources_status"]
        if rs == "Provisioned":
            return self.s["deployment_runtime_status"] or "Unavailable"
        return str(rs)

    def combined_desired_status(self) -> str:
        if self.s["deployment_resources_desired_status"] == "Stopped":
            return "Stopped"
        return str(
            self.s["deployment_runtime_desired_status"]
            or self.s["deployment_initial"]
            or "Unavailable"
        )

    def snapshot(self) -> dict[str, Any]:
        """The event fields (``selector=all``) without id and timestamp."""
        s = self.s
        return {
            "deployment_resources_status": s["deployment_resources_status"],
            "deployment_resources_status_details": s["deployment_resources_status_details"],
            "deployment_resources_desired_status": s["deployment_resources_desired_status"],
            "deployment_runtime_status": s["deployment_runtime_status"],
            "deployment_runtime_status_details": s["deployment_runtime_status_details"],
            "deployment_runtime_desired_status": s["deployment_runtime_desired_status"],
            "deployment_has_error": s["deployment_error"] is not None,
            "deployment_error": s["deployment_error"],
            "program_status": s["program_status"],
            "storage_status": s["storage_status"],
            "storage_status_details": s["storage_status_details"],
        }

    def status_view(self) -> dict[str, Any]:
        """Current status fields, plus the combined statuses (for ``FakeFeldera.status``)."""
        view = self.snapshot()
        view["deployment_status"] = self.combined_status()
        view["deployment_desired_status"] = self.combined_desired_status()
        view["deployment_initial"] = self.s["deployment_initial"]
        view["deployment_id"] = self.s["deployment_id"]
        return view

    def info(self, selector: str) -> dict[str, Any]:
        """``PipelineInfo`` (``all``) or ``PipelineSelectedInfo`` (``status``...)."""

        s = self.s
        since = {k: None if v is None else format_timestamp(v) for k, v in self.since.items()}
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "tags": list(self.tags),
            "created_at": format_timestamp(self.created_at),
            "version": self.version,
            "platform_version": self.platform_version,
        }
        if selector == "all":
            out.update(
                runtime_config=self.runtime_config,
                program_code=self.program_code,
                udf_rust=self.udf_rust,
                udf_toml=self.udf_toml,
                program_config=self.program_config,
            )
        if selector != "all":
            out["program_config"] = self.program_config  # the status selectors send it too
        out.update(
            program_version=self.program_version,
            program_status=s["program_status"],
            program_status_since=since["program_status_since"],
        )
        if selector == "all":
            out.update(program_error=self.program_error, program_info=None)
        out.update(
            refresh_version=self.refresh_version,
            storage_status=s["storage_status"],
            storage_status_details=s["storage_status_details"],
            deployment_id=s["deployment_id"],
            deployment_initial=s["deployment_initial"],
            deployment_error=s["deployment_error"],
            deployment_status=self.combined_status(),
            deployment_status_since=self.combined_since("status"),
            deployment_desired_status=self.combined_desired_status(),
            deployment_desired_status_since=self.combined_since("desired_status"),
            deployment_resources_status=s["deployment_resources_status"],
            deployment_resources_status_since=since["deployment_resources_status_since"],
            deployment_resources_desired_status=s["deployment_resources_desired_status"],
            deployment_resources_desired_status_since=since[
                "deployment_resources_desired_status_since"
            ],
            deployment_runtime_status=s["deployment_runtime_status"],
            deployment_runtime_status_since=since["deployment_runtime_status_since"],
            deployment_runtime_status_details=s["deployment_runtime_status_details"],
            deployment_runtime_desired_status=s["deployment_runtime_desired_status"],
            deployment_runtime_desired_status_since=since[
                "deployment_runtime_desired_status_since"
            ],
            bootstrap_policy=s["bootstrap_policy"],
            silent_bootstrap=s["silent_bootstrap"],
            concurrent_bootstrap=s["concurrent_bootstrap"],
        )
        if selector == "all":  # the status selectors leave the resources details out
            out["deployment_resources_status_details"] = s["deployment_resources_status_details"]
        if selector == "status_with_connectors":
            out["connectors"] = (
                {"num_errors": 0} if s["deployment_resources_status"] == "Provisioned" else None
            )
        return out
