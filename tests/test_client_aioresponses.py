"""Request shape and status mapping with aioresponses (no sockets at all).

aioresponses 0.7.9 cannot run on aiohttp >= 3.14 (pnuckowski/aioresponses#289), so
conftest.py skips this module there; tests/test_client_loopback.py covers the same
behaviour with real sockets on every release, and .ci/run runs this module on the
oldest aiohttp we support.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aioresponses import aioresponses
from helpers import EVENT_ID, error_json, event_json
from yarl import URL

from feldera_events import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    EventNotFoundError,
    EventsClient,
    NoEventsYetError,
    NotFoundError,
    PermissionDeniedError,
    PipelineNotFoundError,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    Selector,
    ServerError,
)

pytestmark = pytest.mark.aioresponses

BASE = "http://feldera.test:8080"


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FELDERA_HOST", "FELDERA_API_KEY", "FELDERA_TENANT"):
        monkeypatch.delenv(name, raising=False)


def sent(mock: aioresponses) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, encoded URL, request kwargs) of every request made."""
    out = []
    for (method, url), calls in mock.requests.items():
        for call in calls:
            out.append((method, str(url), call.kwargs))
    return out


async def test_get_latest_defaults(mock: aioresponses) -> None:
    url = f"{BASE}/v0/pipelines/my-pipeline/events/latest?selector=status"
    mock.get(url, payload=event_json())
    async with EventsClient(BASE) as client:
        ev = await client.get_event("my-pipeline")
    assert ev.event_id == uuid.UUID(EVENT_ID)
    ((method, got, kwargs),) = sent(mock)
    assert method == "GET"
    assert got == url
    headers = kwargs["headers"]
    assert headers["User-Agent"].startswith("feldera-events/")
    assert "Authorization" not in headers
    assert "Feldera-Tenant" not in headers


async def test_quoting_selector_auth_tenant(mock: aioresponses) -> None:
    url = f"{BASE}/prefix/v0/pipelines/a%2Fb%20c/events/{EVENT_ID}?selector=all"
    mock.get(URL(url, encoded=True), payload=event_json(selector="all"))
    async with EventsClient(
        BASE + "/prefix/", api_key="apikey:k", tenant="acme", headers={"X-A": "1"}
    ) as client:
        await client.get_event("a/b c", uuid.UUID(EVENT_ID), selector=Selector.ALL)
    ((_, got, kwargs),) = sent(mock)
    assert got == url
    assert kwargs["headers"]["Authorization"] == "Bearer apikey:k"
    assert kwargs["headers"]["Feldera-Tenant"] == "acme"
    assert kwargs["headers"]["X-A"] == "1"


async def test_list_events(mock: aioresponses) -> None:
    mock.get(f"{BASE}/v0/pipelines/p/events?selector=all", payload=[event_json(), event_json()])
    async with EventsClient(BASE) as client:
        assert len(await client.list_events("p", selector="all")) == 2


async def test_callable_key_refreshed_after_401(mock: aioresponses) -> None:
    url = f"{BASE}/v0/pipelines/p/events?selector=status"
    mock.get(
        url,
        status=401,
        body=json.dumps({"message": "expired", "error_code": "AuthenticationFailed"}),
        content_type="text/plain",
    )
    mock.get(url, payload=[])
    keys = iter(["old", "new"])
    async with EventsClient(BASE, api_key=lambda: next(keys)) as client:
        assert await client.list_events("p") == []
    auth = [kw["headers"]["Authorization"] for _, _, kw in sent(mock)]
    assert auth == ["Bearer old", "Bearer new"]


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, error_json("InvalidUuidParam", "bad"), BadRequestError),
        (401, {"message": "no", "error_code": "AuthenticationFailed"}, AuthenticationError),
        (403, {"message": "no", "error_code": "InsufficientPermissions"}, PermissionDeniedError),
        (404, error_json("UnknownPipelineName", "no"), PipelineNotFoundError),
        (404, error_json("UnknownPipelineMonitorEvent", "gone"), EventNotFoundError),
        (404, error_json("NoPipelineMonitorEventsAvailable", "none"), NoEventsYetError),
        (404, error_json("Other", "x"), NotFoundError),
        (429, error_json("Slow", "x"), RateLimitError),
        (500, error_json("Db", "x"), ServerError),
        (503, error_json("LockTookTooLong", "x"), ServerError),
        (409, error_json("Conflict", "x"), APIStatusError),
    ],
)
async def test_status_mapping(
    mock: aioresponses, status: int, body: dict[str, Any], cls: type[APIStatusError]
) -> None:
    mock.get(
        f"{BASE}/v0/pipelines/p/events/latest?selector=status",
        status=status,
        body=json.dumps(body),
        content_type="text/plain" if status == 401 else "application/json",
    )
    async with EventsClient(BASE, retry=RetryPolicy.disabled()) as client:
        with pytest.raises(cls) as info:
            await client.get_event("p")
    assert type(info.value) is cls
    assert info.value.error_code == body["error_code"]
    assert info.value.message == body["message"]


async def test_502_html_and_retry(mock: aioresponses) -> None:
    url = f"{BASE}/v0/pipelines/p/events?selector=status"
    mock.get(url, status=502, body="<html>Bad Gateway</html>", content_type="text/html")
    mock.get(url, payload=[])
    async with EventsClient(BASE) as client:
        assert await client.list_events("p") == []
    assert len(sent(mock)) == 2


async def test_503_retry_after_reported(mock: aioresponses) -> None:
    mock.get(
        f"{BASE}/v0/pipelines/p/events?selector=status",
        status=503,
        payload=error_json("LockTookTooLong", "busy"),
        headers={"Retry-After": "5"},
    )
    async with EventsClient(BASE, retry=RetryPolicy.disabled()) as client:
        with pytest.raises(ServerError) as info:
            await client.list_events("p")
    assert info.value.retry_after == 5.0


async def test_malformed_json(mock: aioresponses) -> None:
    mock.get(f"{BASE}/v0/pipelines/p/events?selector=status", body="[{", status=200)
    async with EventsClient(BASE) as client:
        with pytest.raises(ResponseValidationError):
            await client.list_events("p")
