"""The official (sync, requests-based) ``feldera`` SDK drives a pipeline against the fake.

Runs only where the SDK is installed (CI: its own venv), e.g.::

    python -m venv /tmp/venv-fake
    /tmp/venv-fake/bin/pip install -e '.[test]' feldera   # tested with feldera 0.369.0
    /tmp/venv-fake/bin/python -m pytest tests/testing/test_official_sdk.py
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

pytest.importorskip(
    "feldera", reason="official SDK not installed (pip install feldera) -- runs in its CI step"
)

from feldera import FelderaClient, PipelineBuilder

from feldera_events.testing import FakeFeldera, Timings
from tests.testing.conftest import attach_audit

NAME = "sdk-pipeline_1"  # the SDK does not quote names in PUT; real names are [A-Za-z0-9_-]


def drive(url: str) -> list[dict[str, Any]]:
    client = FelderaClient(url=url, timeout=10)
    pipeline = PipelineBuilder(client, NAME, "CREATE TABLE t (x INT);").create_or_replace()
    pipeline.start()
    pipeline.pause()
    pipeline.resume()
    pipeline.stop(force=True)
    pipeline.clear_storage()
    events: list[dict[str, Any]] = client.get_pipeline_events(NAME, selector="all")
    assert pipeline.events() == client.get_pipeline_events(NAME)
    latest = pipeline.event("latest")
    assert latest["event_id"] == events[0]["event_id"]
    return events


async def test_official_sdk_lifecycle(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)  # the SDK warns that client and server versions differ
    async with FakeFeldera(speed=20, timings=Timings(cluster_startup=0.0)) as fake:
        audit = attach_audit(fake)
        events = await asyncio.to_thread(drive, fake.url)
        assert not audit.errors, audit.errors
    rows = [
        (
            e["deployment_resources_status"],
            e["deployment_resources_desired_status"],
            e["deployment_runtime_status"],
        )
        for e in reversed(events)
    ]
    deployment = [
        r for r, e in zip(rows, reversed(events), strict=True) if e["program_status"] == "Success"
    ]
    assert deployment == [
        ("Stopped", "Stopped", None),  # compiled
        ("Stopped", "Provisioned", None),  # /start
        ("Provisioning", "Provisioned", None),
        ("Provisioned", "Provisioned", "Initializing"),
        ("Provisioned", "Provisioned", "Running"),
        ("Provisioned", "Provisioned", "Running"),  # /pause: runtime desired Paused
        ("Provisioned", "Provisioned", "Paused"),
        ("Provisioned", "Provisioned", "Paused"),  # /resume: runtime desired Running
        ("Provisioned", "Provisioned", "Running"),
        ("Provisioned", "Stopped", "Running"),  # /stop?force=true
        ("Stopping", "Stopped", None),
        ("Stopped", "Stopped", None),
        ("Stopped", "Stopped", None),  # /clear: Clearing
        ("Stopped", "Stopped", None),  # Cleared
    ]
    assert [e["program_status"] for e in reversed(events)][:5] == [
        "Pending",
        "CompilingSql",
        "SqlCompiled",
        "CompilingRust",
        "Success",
    ]
    assert [e["storage_status"] for e in events[:3]] == ["Cleared", "Clearing", "InUse"]
