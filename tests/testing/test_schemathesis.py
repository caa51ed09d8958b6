"""Property-based conformance: schemathesis runs the upstream spec's two pipeline events
operations against a running fake; no 5xx, every response conforms.

Runs only where schemathesis is installed (CI: its own venv)::

    python -m venv /tmp/venv-fake
    /tmp/venv-fake/bin/pip install -e '.[test]' schemathesis   # tested with schemathesis 4.32.5
    /tmp/venv-fake/bin/python -m pytest tests/testing/test_schemathesis.py
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip(
    "schemathesis",
    reason="schemathesis not installed (pip install schemathesis) -- runs in its CI step",
)
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    status_code_conformance,
)

from feldera_events.testing import FakeFeldera, Timings  # noqa: E402
from tests.testing.schema_check import SUBSET  # noqa: E402

API_KEY = "apikey:schemathesis"
schema = schemathesis.openapi.from_path(str(SUBSET)).include(
    operation_id=["list_pipeline_events", "get_pipeline_event"]
)


class ThreadedFake:
    """A FakeFeldera on its own event loop in a daemon thread (for sync test tools)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.fake = FakeFeldera(
            speed=1000, api_keys=[API_KEY], timings=Timings(cluster_startup=0.0)
        )
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._setup())
        self._ready.set()
        self.loop.run_forever()

    async def _setup(self) -> None:
        await self.fake.start_server()
        for name in ("p", "a-b_c", "0"):
            self.fake.create_pipeline(name)
            self.fake.start(name)
        self.fake.create_pipeline("empty", record_events=False)

    def __enter__(self) -> FakeFeldera:
        self._thread.start()
        assert self._ready.wait(10)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with ThreadedFake() as fake:
        yield fake.url


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_events_operations_conform(case: schemathesis.Case, fake_url: str) -> None:
    response = case.call_and_validate(
        base_url=fake_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        # The spec documents neither the auth 401 (schemathesis probes without the header)
        # nor actix's plain-text 400 for a bad `selector`, both of which the real manager
        # sends (see the API notes, sections 1 and 2.3); tests/testing/test_http.py checks
        # those two answers exactly.
        # Like serde without `deny_unknown_fields`, the manager ignores unknown query keys,
        # which schemathesis' negative-data check would count as accepting invalid input.
        # The same plain-text 400 and the `text/plain` auth 401 also fail the content-type
        # check on purpose; every JSON body is still validated (response_schema_conformance).
        excluded_checks=[
            status_code_conformance,
            negative_data_rejection,
            content_type_conformance,
            # `event_id` is a plain string in the spec, so "0" is "valid" data, yet the
            # manager answers the documented 400 InvalidUuidParam for it.
            positive_data_acceptance,
        ],
    )
    assert response.status_code < 500
