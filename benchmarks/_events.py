"""Realistic wire events for the benchmarks (deterministic; no server needed)."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any

_T0 = dt.datetime(2025, 11, 1, 12, 0, tzinfo=dt.UTC)


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uuid7(rng: random.Random, when: dt.datetime) -> str:
    ms = int(when.timestamp() * 1000)
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
    return str(uuid.UUID(int=value | rng.getrandbits(62)))


def status_event(name: str = "bench") -> dict[str, Any]:
    """A ``selector=status`` event of a running pipeline (what a poll returns)."""
    rng = random.Random(name)
    return {
        "event_id": _uuid7(rng, _T0),
        "recorded_at": _ts(_T0),
        "deployment_resources_status": "Provisioned",
        "deployment_resources_desired_status": "Provisioned",
        "deployment_runtime_status": "Running",
        "deployment_runtime_desired_status": "Running",
        "deployment_has_error": False,
        "program_status": "Success",
        "storage_status": "InUse",
    }


def full_events(count: int = 720, seed: int = 720) -> list[dict[str, Any]]:
    """``count`` ``selector=all`` events, newest first, as the list endpoint returns them.

    A pipeline cycling through start, run (with connector stats and checkpoints), pause,
    failures with a deployment error, and stop; every detail field is filled the way
    the manager fills it.
    """
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    for i in range(count):
        when = _T0 + dt.timedelta(seconds=10 * i)
        phase = i % 12
        ev: dict[str, Any] = {
            "event_id": _uuid7(rng, when),
            "recorded_at": _ts(when),
            "deployment_resources_desired_status": "Provisioned",
            "deployment_has_error": False,
            "deployment_error": None,
            "program_status": "Success",
            "storage_status": "InUse",
            "deployment_resources_status_details": None,
            "deployment_runtime_status_details": None,
            "storage_status_details": None,
        }
        if phase == 0:
            ev.update(
                deployment_resources_status="Provisioning",
                deployment_runtime_status=None,
                deployment_runtime_desired_status=None,
                deployment_resources_status_details={
                    "reason": "waiting for the pod to be scheduled",
                    "deployment_id": str(uuid.UUID(int=rng.getrandbits(128))),
                },
            )
        elif phase in (1, 2, 3, 4, 5, 6, 7, 8):
            if rng.random() < 0.5:
                checkpoints = [
                    *checkpoints[-2:],
                    {
                        "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                        "fingerprint": rng.getrandbits(63),
                        "identifier": None if rng.random() < 0.7 else f"cp-{i}",
                        "processed_records": rng.randrange(10**9),
                        "size": rng.randrange(10**10),
                        "steps": rng.randrange(10**6),
                    },
                ]
            runtime = "Initializing" if phase == 1 else ("Paused" if phase == 6 else "Running")
            ev.update(
                deployment_resources_status="Provisioned",
                deployment_runtime_status=runtime,
                deployment_runtime_desired_status="Paused" if phase == 6 else "Running",
                deployment_runtime_status_details={
                    "reason": "Pipeline is initializing" if phase == 1 else None,
                    "connector_stats": {"num_errors": rng.randrange(3)},
                    "approval_diff": None,
                },
                storage_status_details={"checkpoints": list(checkpoints)},
            )
        elif phase in (9, 10):
            ev.update(
                deployment_resources_status="Stopping",
                deployment_resources_desired_status="Stopped",
                deployment_runtime_status=None,
                deployment_runtime_desired_status=None,
                deployment_has_error=phase == 10,
                deployment_error=(
                    {
                        "message": "The pipeline runtime panicked: index out of bounds: the "
                        "len is 3 but the index is 7 (crates/dbsp/src/operator/join.rs:411)",
                        "error_code": "RuntimeError.WorkerPanic",
                        "details": {
                            "worker": rng.randrange(8),
                            "location": "crates/dbsp/src/operator/join.rs:411",
                        },
                    }
                    if phase == 10
                    else None
                ),
            )
        else:
            ev.update(
                deployment_resources_status="Stopped",
                deployment_resources_desired_status="Stopped",
                deployment_runtime_status=None,
                deployment_runtime_desired_status=None,
                storage_status="InUse",
                storage_status_details={"checkpoints": list(checkpoints)},
            )
        events.append(ev)
    events.reverse()
    return events


def full_events_body(count: int = 720) -> bytes:
    return json.dumps(full_events(count)).encode()
