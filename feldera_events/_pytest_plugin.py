"""The pytest plugin (``pytest11`` entry point): fixtures ``feldera_fake`` and ``feldera_client``.

It lives here, not in ``feldera_events.testing``, which never imports the SDK: it hands
out an ``EventsClient``. ``feldera_events.testing`` (aiohttp's server side, some 50 ms)
is imported by the ``feldera_fake`` fixture, not when pytest loads the plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from feldera_events._client import EventsClient
from feldera_events._testing_mode import is_testing, set_testing

if TYPE_CHECKING:  # imported by the fixture (see the module's docstring)
    from feldera_events.testing import FakeFeldera

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = ["feldera_client", "feldera_fake", "feldera_fake_options"]

MARKER = "feldera_fake"
_NEEDS_ASYNCIO = "the {name} fixture needs pytest-asyncio (pip install pytest-asyncio)"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): FakeFeldera keyword arguments for the feldera_fake fixture "
        "(e.g. speed=50, api_keys=['apikey:k'])",
    )


@pytest.fixture
def feldera_fake_options() -> dict[str, Any]:
    """``FakeFeldera`` keyword arguments for ``feldera_fake``; override to change them
    for many tests (a marker on a test still wins)."""
    return {}


@pytest.fixture
def _feldera_testing_mode() -> Iterator[None]:
    previous = is_testing()
    set_testing(True)
    try:
        yield
    finally:
        set_testing(previous)


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def feldera_fake(
        request: pytest.FixtureRequest,
        feldera_fake_options: dict[str, Any],
        _feldera_testing_mode: None,
    ) -> AsyncIterator[FakeFeldera]:
        """A running ``FakeFeldera`` (default ``speed=100``), closed after the test.

        Its options are the constructor's keyword arguments, from ``feldera_fake_options``
        and then from ``@pytest.mark.feldera_fake(...)`` on the test, its class or its
        module (the closest marker wins per option). The SDK's testing mode (retries
        without waiting) is on for the test and restored after it.
        """
        from feldera_events.testing import FakeFeldera

        options = {"speed": 100.0, **feldera_fake_options}
        for marker in reversed(list(request.node.iter_markers(MARKER))):  # the closest last
            if marker.args:
                pytest.fail(
                    f"@pytest.mark.{MARKER} takes keyword arguments only (FakeFeldera options), "
                    f"got positional {marker.args!r}",
                    pytrace=False,
                )
            options.update(marker.kwargs)
        try:
            fake = FakeFeldera(**options)
        except TypeError as exc:
            pytest.fail(f"feldera_fake: bad FakeFeldera options: {exc}", pytrace=False)
        async with fake:
            yield fake

    @pytest_asyncio.fixture
    async def feldera_client(
        feldera_fake: FakeFeldera, _feldera_testing_mode: None
    ) -> AsyncIterator[EventsClient]:
        """An ``EventsClient`` on ``feldera_fake`` (with its first API key in sorted order,
        when it has ``api_keys``), closed after the test."""
        keys = feldera_fake.api_keys
        api_key = min(keys) if keys else None
        async with EventsClient(feldera_fake.url, api_key=api_key) as client:
            yield client

else:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture
    def feldera_fake() -> None:
        pytest.fail(_NEEDS_ASYNCIO.format(name="feldera_fake"), pytrace=False)

    @pytest.fixture
    def feldera_client() -> None:
        pytest.fail(_NEEDS_ASYNCIO.format(name="feldera_client"), pytrace=False)
