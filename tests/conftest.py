"""Suite-wide fixtures: testing mode, leak detection, the aioresponses skip.

Leak detection has two layers:

* ``filterwarnings = error`` (pyproject) turns a ``ResourceWarning`` into an error;
  :func:`_collect_garbage_after_each_test` runs ``gc.collect()`` at the end of every
  test so ``__del__`` warnings (aiohttp's "Unclosed client session") surface in the
  test that caused them, where pytest reports them as unraisable exceptions.
* Every call of an event loop's exception handler during a test is recorded (aiohttp
  reports unclosed sessions and connections there too, as does asyncio for "Task
  exception was never retrieved"); a test that triggered one fails.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

import feldera_events
import feldera_events.testing

# A shell starts a background job (``cmd &`` without job control, as a CI script may) with
# SIGINT ignored, and every process it starts inherits that: the tests that press Ctrl-C on
# a CLI subprocess would wait for an exit that never comes. Python's own handler here makes
# each subprocess start with the default one, as it would from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

AIOHTTP_VERSION = tuple(int(p) for p in aiohttp.__version__.split(".")[:2])
AIORESPONSES_BROKEN = AIOHTTP_VERSION >= (3, 14)
AIORESPONSES_SKIP_REASON = (
    f"aioresponses cannot run on aiohttp {aiohttp.__version__} (>= 3.14: "
    "ClientResponse.__init__() missing 'stream_writer', upstream pnuckowski/aioresponses#289); "
    "the loopback tests (tests/test_client_loopback.py) cover the same behaviour, and "
    ".ci/run runs these on the oldest supported aiohttp"
)


@pytest.fixture(autouse=True, scope="session")
def _testing_mode() -> Iterator[None]:
    """No real backoff waits in the suite (tests that measure waits turn it off locally)."""
    feldera_events.testing.set_testing(True)
    yield
    feldera_events.testing.set_testing(False)


@pytest.fixture
def no_testing_mode() -> Iterator[None]:
    """Real backoff computation for this test (use with injected sleep/clock)."""
    feldera_events.testing.set_testing(False)
    yield
    feldera_events.testing.set_testing(True)


_loop_errors: list[dict[str, Any]] = []
_original_handler = asyncio.BaseEventLoop.call_exception_handler


def _recording_handler(self: asyncio.BaseEventLoop, context: dict[str, Any]) -> None:
    _loop_errors.append(context)
    _original_handler(self, context)


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Surface leaked sessions/connections/tasks in the test that leaked them."""
    _loop_errors.clear()
    asyncio.BaseEventLoop.call_exception_handler = _recording_handler  # type: ignore[method-assign]
    try:
        yield
        gc.collect()
    finally:
        asyncio.BaseEventLoop.call_exception_handler = _original_handler  # type: ignore[method-assign]
    errors, _loop_errors[:] = list(_loop_errors), []
    if errors:
        messages = "; ".join(str(c.get("message", c)) for c in errors)
        pytest.fail(f"the event loop reported errors during this test: {messages}")


@pytest.fixture(autouse=True)
def _spec_check_every_fake_response(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every FakeFeldera started in a test validates each response it sends against the
    upstream schemas (tests/data/feldera_openapi_subset.json); a mismatch fails the test.

    Injected faults (deliberately malformed answers) are not checked, nor tests marked
    ``off_spec`` (they make the fake send what the spec forbids, on purpose).
    """
    if request.node.get_closest_marker("off_spec"):
        yield
        return
    from feldera_events.testing import FakeFeldera
    from tests.testing.conftest import ResponseAudit

    audits: list[ResponseAudit] = []
    original = FakeFeldera.start_server

    async def start_server(self: FakeFeldera) -> None:
        await original(self)
        if self.response_observer is None:
            audit = ResponseAudit()
            self.response_observer = audit
            audits.append(audit)

    monkeypatch.setattr(FakeFeldera, "start_server", start_server)
    yield
    errors = [error for audit in audits for error in audit.errors]
    assert not errors, f"the simulated manager sent responses the spec does not allow: {errors}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not AIORESPONSES_BROKEN:
        return
    skip = pytest.mark.skip(reason=AIORESPONSES_SKIP_REASON)
    for item in items:
        if item.get_closest_marker("aioresponses") is not None:
            item.add_marker(skip)
