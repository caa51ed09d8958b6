"""Fixtures for the FakeFeldera tests: a fast fake whose every response is spec-checked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from feldera_events.testing import FakeFeldera, Timings
from tests.testing.schema_check import SchemaChecker, SchemaMismatch

#: Fast but not instantaneous: transitions take milliseconds.
SPEED = 200.0

#: The status fields of an event, in the order of upstream's events test's tuples; with
#: ``event_id`` and ``recorded_at`` the keys of an event with ``selector=status``, and with
#: the details those of ``selector=all``: the spec's PipelineMonitorEvent, written out here
#: (not taken from the fake) so the tests check it.
STATUS_FIELDS = (
    "deployment_resources_status",
    "deployment_resources_desired_status",
    "deployment_runtime_status",
    "deployment_runtime_desired_status",
    "deployment_has_error",
    "program_status",
    "storage_status",
)
STATUS_KEYS = {"event_id", "recorded_at", *STATUS_FIELDS}
ALL_KEYS = STATUS_KEYS | {
    "deployment_resources_status_details",
    "deployment_runtime_status_details",
    "storage_status_details",
    "deployment_error",
}


class ResponseAudit:
    """Server-side observer: validates every complete response the fake sends."""

    def __init__(self) -> None:
        self.checker = SchemaChecker.load()
        self.errors: list[str] = []
        self.checked = 0
        self.skip_faults = True

    def __call__(self, operation: str | None, status: int, ctype: str, body: bytes) -> None:
        try:
            self.checker.check_response(operation, status, body, ctype)
            self.checked += 1
        except (SchemaMismatch, AssertionError, ValueError, KeyError) as exc:
            self.errors.append(f"{operation} {status}: {exc}")


def attach_audit(fake: FakeFeldera) -> ResponseAudit:
    audit = ResponseAudit()
    fake.response_observer = audit
    return audit


@pytest.fixture
async def fake() -> AsyncIterator[FakeFeldera]:
    async with FakeFeldera(speed=SPEED, timings=Timings(cluster_startup=0.0)) as server:
        audit = attach_audit(server)
        yield server
        server.response_observer = None
        assert not audit.errors, audit.errors


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
