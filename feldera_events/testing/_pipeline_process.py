"""Owns what the simulated pipeline process answers through the manager: ``/ingress`` (data
accepted, counted and discarded) and ``/stats`` (a ``ControllerStatus`` of zeros and those
counts), and the 503s the manager gives while no process can answer.

Pure.  There is no SQL engine: rows are never parsed or computed; a worker panic on
input happens only when scripted (``fail_next_input``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from feldera_events.testing._model import FakeAPIError
from feldera_events.testing._rows import Pipeline

__all__ = ["RecordCounter", "controller_status", "require_reachable"]

#: Runtime statuses in which the pipeline process answers the manager's forwarded requests.
_ANSWERING = ("Running", "Paused")


def require_reachable(p: Pipeline, request: str) -> None:
    """Raise the manager's 503 when ``request`` (``/stats``, ``/ingress``) cannot reach
    the pipeline process: not deployed (``PipelineInteractionNotDeployed``), or deployed
    but not (yet) running or paused (``PipelineInteractionUnreachable``)."""
    s = p.s
    rs, desired = s["deployment_resources_status"], s["deployment_resources_desired_status"]
    if rs != "Provisioned":
        status = p.combined_status()
        raise FakeAPIError(
            503,
            "PipelineInteractionNotDeployed",
            f"Unable to interact with pipeline because the deployment status ({status.lower()}) "
            f'indicates it is not (yet) fully provisioned pipeline-id={p.id} pipeline-name="'
            f'{p.name}"',
            {"pipeline_name": p.name, "status": rs, "desired_status": desired},
        )
    runtime = s["deployment_runtime_status"]
    if runtime not in _ANSWERING:
        error = (
            f"deployment status is currently '{str(runtime).lower()}' -- wait for it to become "
            "'running' or 'paused' again"
        )
        raise FakeAPIError(
            503,
            "PipelineInteractionUnreachable",
            f"Error sending HTTP request to pipeline: {error} Failed request: {request} "
            f'pipeline-id={p.id} pipeline-name="{p.name}"',
            {"pipeline_name": p.name, "request": request, "error": error},
        )


class RecordCounter:
    """Counts the input records of a request body fed in chunks, as a CSV or
    newline-delimited JSON push counts them (its non-empty lines), keeping no data."""

    def __init__(self) -> None:
        self.records = 0
        self.size = 0
        self._open_line = False  # the last chunk ended inside a non-empty line

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        *complete, rest = chunk.split(b"\n")
        for line in complete:
            if self._open_line or line.strip():
                self.records += 1
            self._open_line = False
        self._open_line = self._open_line or bool(rest.strip())

    def finish(self) -> int:
        """The record count, the last line included."""
        if self._open_line:
            self.records += 1
            self._open_line = False
        return self.records


def controller_status(p: Pipeline, now: dt.datetime) -> dict[str, Any]:
    """The ``ControllerStatus`` body of ``GET /stats`` for a running or paused pipeline."""
    started = p.process_started or now
    uptime_ms = max(0, int((now - started).total_seconds() * 1000))
    records, size = p.input_records, p.input_bytes
    return {
        "global_metrics": {
            "state": "Paused" if p.s["deployment_runtime_status"] == "Paused" else "Running",
            "bootstrap_in_progress": False,
            "transaction_status": "NoTransaction",
            "transaction_id": 0,
            "transaction_initiators": {
                "transaction_id": None,
                "initiated_by_api": None,
                "initiated_by_connectors": {},
            },
            "concurrent_bootstrap_phase": "Inactive",
            "rss_bytes": 64 * 1024 * 1024,
            "memory_pressure": "low",
            "memory_pressure_epoch": 0,
            "cpu_msecs": uptime_ms // 100,
            "uptime_msecs": uptime_ms,
            "start_time": int(started.timestamp()),
            "incarnation_uuid": p.s["deployment_id"] or p.id,
            "initial_start_time": int(started.timestamp()),
            "storage_bytes": 0,
            "storage_mb_secs": 0,
            "runtime_elapsed_msecs": 0,
            "buffered_input_records": 0,
            "buffered_input_bytes": 0,
            "total_input_records": records,
            "total_input_bytes": size,
            "total_processed_records": records,
            "total_processed_bytes": size,
            "total_completed_records": records,
            "output_stall_msecs": 0,
            "total_initiated_steps": 0,
            "total_completed_steps": 0,
            "pipeline_complete": False,
        },
        "inputs": [],
        "outputs": [],
    }
