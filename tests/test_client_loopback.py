"""EventsClient against real servers on 127.0.0.1 (runs on every aiohttp release).

An aiohttp.web app checks request shape and status mapping; bare asyncio sockets
produce transport faults (dropped connections, silence, truncated bodies).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
import uuid

import aiohttp
import pytest
from aiohttp import web
from helpers import (
    EVENT_ID,
    EVENT_ID_2,
    error_json,
    event_json,
    http_response,
    loopback,
    raw_server,
    read_request_head,
    respond_chunked,
    respond_json,
    respond_raw,
)

import feldera_events
import feldera_events.testing
from feldera_events import (
    UNSET,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    EventNotFoundError,
    EventsClient,
    NoEventsYetError,
    NotFoundError,
    PermissionDeniedError,
    PipelineNotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    RetryPolicy,
    Selector,
    ServerError,
    Timeouts,
)

NO_RETRY = RetryPolicy.disabled()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FELDERA_HOST",
        "FELDERA_API_KEY",
        "FELDERA_TENANT",
        "FELDERA_HTTPS_TLS_CERT",
        "FELDERA_TLS_INSECURE",
    ):
        monkeypatch.delenv(name, raising=False)


# -- request shape -----------------------------------------------------------------------


async def test_get_latest_event_defaults() -> None:
    async with loopback(respond_json(event_json())) as srv, EventsClient(srv.url) as client:
        ev = await client.get_event("my-pipeline")
    assert ev.event_id == uuid.UUID(EVENT_ID)
    assert ev.deployment_error is UNSET
    seen = srv.last
    assert seen.method == "GET"
    assert seen.raw_path == "/v0/pipelines/my-pipeline/events/latest?selector=status"
    assert seen.headers["User-Agent"].startswith(f"feldera-events/{feldera_events.__version__} ")
    assert seen.headers["Accept"] == "application/json"
    assert "Authorization" not in seen.headers
    assert "Feldera-Tenant" not in seen.headers


async def test_get_event_by_id_with_selector_all() -> None:
    wire = event_json(selector="all", event_id=EVENT_ID_2)
    async with loopback(respond_json(wire)) as srv, EventsClient(srv.url) as client:
        ev = await client.get_event("p", uuid.UUID(EVENT_ID_2), selector=Selector.ALL)
        assert ev.deployment_error is None
        await client.get_event("p", EVENT_ID_2.upper(), selector="all")
    assert srv.seen[0].raw_path == f"/v0/pipelines/p/events/{EVENT_ID_2}?selector=all"
    # A UUID string is sent in canonical (lower-case) form.
    assert srv.seen[1].raw_path == f"/v0/pipelines/p/events/{EVENT_ID_2}?selector=all"


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("a/b c", "a%2Fb%20c"),
        ("x?y#z", "x%3Fy%23z"),
        ("100%", "100%25"),
        ("ünï", "%C3%BCn%C3%AF"),
        ("...", "..."),  # "." and ".." are refused (dot-segments): tests/hostile
        ("a+b&c=d", "a%2Bb%26c%3Dd"),
    ],
)
async def test_pipeline_name_is_quoted_as_one_segment(name: str, encoded: str) -> None:
    async with (
        loopback(respond_json([]), respond_json(event_json())) as srv,
        EventsClient(srv.url) as client,
    ):
        assert await client.list_events(name) == []
        await client.get_event(name)
    assert srv.seen[0].raw_path == f"/v0/pipelines/{encoded}/events?selector=status"
    assert srv.seen[1].raw_path == f"/v0/pipelines/{encoded}/events/latest?selector=status"


async def test_list_events_keeps_server_order() -> None:
    events = [event_json(event_id=EVENT_ID_2), event_json(event_id=EVENT_ID)]
    async with loopback(respond_json(events)) as srv, EventsClient(srv.url) as client:
        got = await client.list_events("p", selector="all")
    assert [str(e.event_id) for e in got] == [EVENT_ID_2, EVENT_ID]
    assert srv.last.raw_path == "/v0/pipelines/p/events?selector=all"


@pytest.mark.parametrize("base", ["{url}/feldera", "{url}/feldera/", "{url}/feldera//"])
async def test_base_url_keeps_its_path_prefix(base: str) -> None:
    async with loopback(respond_json([])) as srv:
        async with EventsClient(base.format(url=srv.url)) as client:
            await client.list_events("p")
        assert srv.last.raw_path == "/feldera/v0/pipelines/p/events?selector=status"


async def test_trailing_slash_changes_nothing() -> None:
    async with loopback(respond_json([])) as srv:
        for url in (srv.url, srv.url + "/"):
            async with EventsClient(url) as client:
                await client.list_events("p")
            assert srv.last.raw_path == "/v0/pipelines/p/events?selector=status"


async def test_api_key_tenant_and_extra_headers() -> None:
    async with (
        loopback(respond_json([])) as srv,
        EventsClient(
            srv.url, api_key="apikey:abc", tenant="acme", headers={"X-Trace": "t1"}
        ) as client,
    ):
        await client.list_events("p")
    headers = srv.last.headers
    assert headers["Authorization"] == "Bearer apikey:abc"
    assert headers["Feldera-Tenant"] == "acme"
    assert headers["X-Trace"] == "t1"


async def test_sync_and_async_callable_keys_resolved_per_request() -> None:
    tokens = iter(["t1", "t2", "t3"])

    def sync_key() -> str:
        return next(tokens)

    async def async_key() -> str:
        return "async-token"

    async with loopback(respond_json([])) as srv:
        async with EventsClient(srv.url, api_key=sync_key) as client:
            await client.list_events("p")
            await client.list_events("p")
        async with EventsClient(srv.url, api_key=async_key) as client:
            await client.list_events("p")
    assert [s.headers["Authorization"] for s in srv.seen] == [
        "Bearer t1",
        "Bearer t2",
        "Bearer async-token",
    ]


async def test_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    async with loopback(respond_json([])) as srv:
        monkeypatch.setenv("FELDERA_HOST", srv.url + "/prefix/")
        monkeypatch.setenv("FELDERA_API_KEY", "apikey:env")
        monkeypatch.setenv("FELDERA_TENANT", "tenant-from-env")
        async with EventsClient() as client:
            assert client.url == srv.url + "/prefix"
            await client.list_events("p")
        # Explicit arguments win over the environment.
        async with EventsClient(srv.url, api_key="explicit", tenant="t2") as client:
            await client.list_events("p")
    first, second = srv.seen
    assert first.raw_path == "/prefix/v0/pipelines/p/events?selector=status"
    assert first.headers["Authorization"] == "Bearer apikey:env"
    assert first.headers["Feldera-Tenant"] == "tenant-from-env"
    assert second.headers["Authorization"] == "Bearer explicit"
    assert second.headers["Feldera-Tenant"] == "t2"


async def test_401_with_callable_key_refreshes_once() -> None:
    keys = iter(["old", "new", "newer"])
    calls: list[str] = []

    def key() -> str:
        calls.append("k")
        return next(keys)

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") == "Bearer new":
            return web.json_response([])
        return web.Response(
            status=401,
            text=json.dumps({"message": "expired", "error_code": "AuthenticationFailed"}),
            content_type="text/plain",
        )

    async with loopback(handler) as srv, EventsClient(srv.url, api_key=key) as client:
        assert await client.list_events("p") == []
    assert len(calls) == 2
    assert [s.headers["Authorization"] for s in srv.seen] == ["Bearer old", "Bearer new"]


async def test_401_twice_with_callable_key_raises() -> None:
    body = {"message": "no", "error_code": "AuthenticationFailed"}
    async with (
        loopback(respond_json(body, status=401)) as srv,
        EventsClient(srv.url, api_key=lambda: "k") as client,
    ):
        with pytest.raises(AuthenticationError):
            await client.list_events("p")
    assert len(srv.seen) == 2


async def test_401_with_string_key_is_not_retried() -> None:
    async with (
        loopback(respond_raw(b"", status=401, content_type="text/plain")) as srv,
        EventsClient(srv.url, api_key="k") as client,
    ):
        with pytest.raises(AuthenticationError) as info:
            await client.list_events("p")
    assert len(srv.seen) == 1
    assert info.value.message == "Unauthorized"


# -- client-side validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pipeline_name": ""}, "pipeline_name"),
        ({"pipeline_name": "p", "event_id": "Latest"}, "did you mean 'latest'"),
        ({"pipeline_name": "p", "event_id": "123"}, "event_id"),
        ({"pipeline_name": "p", "event_id": ""}, "event_id"),
        ({"pipeline_name": "p", "selector": "everything"}, "selector"),
        ({"pipeline_name": "p", "selector": Selector("unknown")}, "selector"),
    ],
)
async def test_validation_before_any_request(kwargs: dict[str, object], match: str) -> None:
    async with loopback(respond_json(event_json())) as srv, EventsClient(srv.url) as client:
        with pytest.raises(ValueError, match=match):
            await client.get_event(**kwargs)  # type: ignore[arg-type]
        if "event_id" not in kwargs:
            with pytest.raises(ValueError, match=match):
                await client.list_events(**kwargs)  # type: ignore[arg-type]
    assert srv.seen == []


# -- status -> exception mapping -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "content_type", "cls", "code"),
    [
        (
            400,
            error_json("InvalidUuidParam", "Invalid UUID string 'x'"),
            "application/json",
            BadRequestError,
            "InvalidUuidParam",
        ),
        (
            401,
            {"message": "Unauthorized API key", "error_code": "AuthenticationFailed"},
            "text/plain",
            AuthenticationError,
            "AuthenticationFailed",
        ),
        (
            403,
            {"message": "nope", "error_code": "InsufficientPermissions"},
            "application/json",
            PermissionDeniedError,
            "InsufficientPermissions",
        ),
        (
            404,
            error_json("UnknownPipelineName", "Unknown pipeline name 'p'", {"pipeline_name": "p"}),
            "application/json",
            PipelineNotFoundError,
            "UnknownPipelineName",
        ),
        (
            404,
            error_json("UnknownPipelineMonitorEvent", "gone", {"event_id": EVENT_ID}),
            "application/json",
            EventNotFoundError,
            "UnknownPipelineMonitorEvent",
        ),
        (
            404,
            error_json("NoPipelineMonitorEventsAvailable", "There are not yet any events", {}),
            "application/json",
            NoEventsYetError,
            "NoPipelineMonitorEventsAvailable",
        ),
        (
            404,
            error_json("UnknownTenant", "no tenant"),
            "application/json",
            NotFoundError,
            "UnknownTenant",
        ),
        (429, error_json("Slow", "slow down"), "application/json", RateLimitError, "Slow"),
        (500, error_json("DbError", "db down"), "application/json", ServerError, "DbError"),
        (409, error_json("Conflict", "c"), "application/json", APIStatusError, "Conflict"),
    ],
)
async def test_status_mapping(
    status: int, body: object, content_type: str, cls: type[APIStatusError], code: str
) -> None:
    async with (
        loopback(respond_raw(json.dumps(body), status=status, content_type=content_type)) as srv,
        EventsClient(srv.url, retry=NO_RETRY) as client,
    ):
        with pytest.raises(cls) as info:
            await client.get_event("p")
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.error_code == code
    assert isinstance(body, dict)
    assert err.message == body["message"]
    assert err.details == body.get("details")
    assert err.url == srv.url + "/v0/pipelines/p/events/latest?selector=status"
    assert code in str(err)


async def test_404_route_without_feldera_body() -> None:
    """An old server (< v0.292) answers the unknown route with a plain 404."""
    async with (
        loopback(respond_raw("404 Not Found", status=404, content_type="text/plain")) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(NotFoundError) as info:
            await client.list_events("p")
    assert type(info.value) is NotFoundError
    assert info.value.error_code is None
    assert info.value.message == "404 Not Found"


async def test_502_html_page_is_a_server_error_with_short_excerpt() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body>"
    async with (
        loopback(respond_raw(page, status=502, content_type="text/html")) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(ServerError) as info:
            await client.list_events("p")
    err = info.value
    assert err.status_code == 502
    assert err.error_code is None
    assert err.message.startswith("<html><head><title>502 Bad Gateway")
    assert len(err.message) < 300
    assert len(str(err)) < 500
    assert len(srv.seen) == 4  # 502 is transient: the default policy tried 4 times


async def test_503_with_retry_after_is_retried_then_succeeds() -> None:
    busy = respond_json(
        error_json("LockTookTooLong", "lock"), status=503, headers={"Retry-After": "5"}
    )
    async with (
        loopback(busy, respond_json(event_json())) as srv,
        EventsClient(srv.url) as client,
    ):
        ev = await client.get_event("p")
    assert ev.event_id == uuid.UUID(EVENT_ID)
    assert len(srv.seen) == 2


async def test_503_retry_after_is_reported_on_the_error() -> None:
    busy = respond_json(
        error_json("LockTookTooLong", "lock"), status=503, headers={"Retry-After": "5"}
    )
    async with loopback(busy) as srv, EventsClient(srv.url, retry=NO_RETRY) as client:
        with pytest.raises(ServerError) as info:
            await client.get_event("p")
    assert info.value.retry_after == 5.0
    assert "Retry-After: 5s" in str(info.value)


async def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    past = email.utils.formatdate(time.time() - 120, usegmt=True)
    async with (
        loopback(
            respond_json({}, status=503, headers={"Retry-After": when}),
            respond_json({}, status=503, headers={"Retry-After": past}),
            respond_json({}, status=503, headers={"Retry-After": "soon"}),
        ) as srv,
        EventsClient(srv.url, retry=NO_RETRY) as client,
    ):
        values = []
        for _ in range(3):
            with pytest.raises(ServerError) as info:
                await client.list_events("p")
            values.append(info.value.retry_after)
    assert values[0] is not None
    assert 100 < values[0] <= 120
    assert values[1:] == [0.0, None]


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
async def test_transient_statuses_are_retried(status: int) -> None:
    async with (
        loopback(respond_json({}, status=status), respond_json([])) as srv,
        EventsClient(srv.url) as client,
    ):
        assert await client.list_events("p") == []
    assert len(srv.seen) == 2


@pytest.mark.parametrize("status", [400, 403, 404, 501])
async def test_other_errors_are_not_retried(status: int) -> None:
    async with (
        loopback(respond_json(error_json("E", "m"), status=status)) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(APIStatusError):
            await client.list_events("p")
    assert len(srv.seen) == 1


async def test_retry_warning_logs_path_attempt_and_cause(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="feldera_events")
    async with (
        loopback(respond_json({}, status=503), respond_json([])) as srv,
        EventsClient(srv.url + "/base") as client,
    ):
        await client.list_events("a b")
    (record,) = [r for r in caplog.records if r.name == "feldera_events"]
    text = record.getMessage()
    assert "GET /base/v0/pipelines/a%20b/events?selector=status" in text
    assert "attempt 1 of 4" in text
    assert "ServerError" in text


async def test_per_call_retry_policy_overrides_client_policy() -> None:
    async with (
        loopback(respond_json({}, status=503)) as srv,
        EventsClient(srv.url, retry=RetryPolicy(attempts=5)) as client,
    ):
        with pytest.raises(ServerError):
            await client.list_events("p", retry=RetryPolicy(attempts=2))
    assert len(srv.seen) == 2


# -- bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"event_id": "' + EVENT_ID.encode(), b"not json", b"", b"\xff\xfe", b"[" * 100_000],
)
async def test_malformed_json_is_a_validation_error(body: bytes) -> None:
    async with loopback(respond_raw(body)) as srv, EventsClient(srv.url) as client:
        with pytest.raises(ResponseValidationError) as info:
            await client.get_event("p")
    # 100,000 open brackets are refused for their depth before they are found unclosed.
    assert "not valid JSON" in info.value.reason or "nested deeper" in info.value.reason
    assert info.value.status_code == 200
    assert len(str(info.value)) < 1000
    assert len(srv.seen) == 1  # never retried


async def test_wrong_shape_is_a_validation_error() -> None:
    async with (
        loopback(respond_json({"event_id": "nope"}), respond_json({"not": "a list"})) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(ResponseValidationError, match="event_id") as info:
            await client.get_event("p")
        assert info.value.url == srv.url + "/v0/pipelines/p/events/latest?selector=status"
        with pytest.raises(ResponseValidationError, match="JSON array"):
            await client.list_events("p")
    assert len(srv.seen) == 2


async def test_content_length_over_the_cap_is_refused_unread() -> None:
    big = json.dumps([event_json()] * 20).encode()
    async with (
        loopback(respond_raw(big)) as srv,
        EventsClient(srv.url, max_body_size=1000) as client,
    ):
        with pytest.raises(ResponseTooLargeError, match="max_body_size=1000"):
            await client.list_events("p")
        assert len(srv.seen) == 1


async def test_chunked_body_over_the_cap_is_refused() -> None:
    chunks = [b"[" + b" " * 600, b" " * 600, b" " * 600, b"]"]
    async with (
        loopback(respond_chunked(chunks), respond_chunked([b"[", b"]"])) as srv,
        EventsClient(srv.url, max_body_size=1000) as client,
    ):
        with pytest.raises(ResponseTooLargeError, match="stopped reading"):
            await client.list_events("p")
        # The connection pool is still healthy afterwards.
        assert await client.list_events("p") == []


async def test_default_cap_is_32_mib() -> None:
    from feldera_events._transport import DEFAULT_MAX_BODY_SIZE

    assert DEFAULT_MAX_BODY_SIZE == 32 * 1024 * 1024

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(http_response(200, b"", length=DEFAULT_MAX_BODY_SIZE + 1))
        await writer.drain()

    async with raw_server(handler) as url, EventsClient(url) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.list_events("p")


async def test_deeply_nested_error_body_is_not_a_crash() -> None:
    async with (
        loopback(respond_raw(b"[" * 100_000, status=500)) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(ServerError) as info:
            await client.list_events("p")
    assert info.value.error_code is None


async def test_error_bodies_are_capped_too() -> None:
    async with (
        loopback(respond_raw(b"x" * 5000, status=500, content_type="text/html")) as srv,
        EventsClient(srv.url, max_body_size=1000) as client,
    ):
        with pytest.raises(ResponseTooLargeError):
            await client.list_events("p")


# -- transport faults (raw sockets) ------------------------------------------------------


async def test_connection_closed_before_headers() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request_head(reader)
        writer.close()

    async with raw_server(handler) as url, EventsClient(url) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.list_events("p")
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.url == url + "/v0/pipelines/p/events?selector=status"
    assert isinstance(info.value.__cause__, aiohttp.ClientError)
    # transient: retried by the default policy (aiohttp may add its own retry per attempt)
    assert connections >= 4


async def test_connection_closed_mid_body() -> None:
    body = json.dumps(event_json()).encode()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(http_response(200, body[:20], length=len(body)))
        await writer.drain()
        writer.close()

    async with (
        raw_server(handler) as url,
        EventsClient(url, retry=NO_RETRY) as client,
    ):
        with pytest.raises(APIConnectionError):
            await client.get_event("p")


async def test_chunked_body_cut_mid_way() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\n[1, 2\r\n"
        )
        await writer.drain()
        writer.close()

    async with raw_server(handler) as url, EventsClient(url, retry=NO_RETRY) as client:
        with pytest.raises(APIConnectionError):
            await client.list_events("p")


async def test_connection_closed_then_recovers() -> None:
    body = json.dumps([]).encode()
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request_head(reader)
        if connections == 1:
            return  # hang up without an answer
        writer.write(http_response(200, body))
        await writer.drain()

    async with raw_server(handler) as url, EventsClient(url) as client:
        assert await client.list_events("p") == []
    assert connections == 2


async def test_headers_that_never_come_time_out() -> None:
    got_request = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        got_request.set()
        await asyncio.Event().wait()  # say nothing, keep the socket open

    async with (
        raw_server(handler) as url,
        EventsClient(url, timeout=Timeouts(request=0.2), retry=NO_RETRY) as client,
    ):
        start = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await client.list_events("p")
        elapsed = time.monotonic() - start
    assert got_request.is_set()
    assert elapsed < 5.0
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, APIConnectionError)
    assert "request=0.2s" in str(info.value)


async def test_timeouts_are_retried_as_transient() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request_head(reader)
        await asyncio.Event().wait()

    async with (
        raw_server(handler) as url,
        EventsClient(url, timeout=0.1, retry=RetryPolicy(attempts=2)) as client,
    ):
        with pytest.raises(APITimeoutError):
            await client.list_events("p")
    assert connections == 2


async def test_refused_connection() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with EventsClient(f"http://127.0.0.1:{port}", retry=NO_RETRY) as client:
        with pytest.raises(APIConnectionError, match="cannot connect"):
            await client.list_events("p")


# -- session lifecycle -------------------------------------------------------------------


async def test_one_session_reused_and_closed_on_exit() -> None:
    async with loopback(respond_json([])) as srv:
        client = EventsClient(srv.url)
        async with client:
            await client.list_events("p")
            session = client._session
            await client.list_events("p")
            assert client._session is session
        assert session is not None
        assert session.closed
        assert client.closed


async def test_call_after_close_raises_clear_error() -> None:
    async with loopback(respond_json([])) as srv:
        client = EventsClient(srv.url)
        async with client:
            await client.list_events("p")
        with pytest.raises(ClientClosedError, match="closed"):
            await client.list_events("p")
        with pytest.raises(ClientClosedError):
            async with client:
                pass
        await client.close()  # idempotent
    assert len(srv.seen) == 1


async def test_close_without_any_request() -> None:
    client = EventsClient("http://127.0.0.1:9")
    await client.close()
    assert client.closed
    async with EventsClient("http://127.0.0.1:9"):
        pass


async def test_injected_session_is_used_and_never_closed() -> None:
    async with loopback(respond_json([])) as srv, aiohttp.ClientSession() as session:
        async with EventsClient(srv.url, api_key="k", session=session) as client:
            await client.list_events("p")
        assert not session.closed
        assert srv.last.headers["Authorization"] == "Bearer k"
        # still usable by its owner
        async with session.get(srv.url + "/x") as resp:
            assert resp.status == 200


async def test_a_closed_injected_session_is_a_clear_error_not_retried() -> None:
    # A wait with no timeout on a session its owner closed must end, not retry forever.
    async with loopback(respond_json([])) as srv:
        session = aiohttp.ClientSession()
        async with EventsClient(srv.url, session=session) as client:
            await client.list_events("p")
            await session.close()
            with pytest.raises(ClientClosedError, match="session given as session= is closed"):
                await client.get_event("p")
            poller = feldera_events.Poller(client)
            with pytest.raises(ClientClosedError):
                await asyncio.wait_for(poller.wait_until_provisioned("p", timeout=None), 30)
    assert len(srv.seen) == 1


async def test_cancellation_mid_request_leaks_nothing() -> None:
    got_request = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        got_request.set()
        await asyncio.Event().wait()

    async with raw_server(handler) as url:

        async def use() -> None:
            async with EventsClient(url) as client:
                await client.list_events("p")

        task = asyncio.create_task(use())
        await got_request.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # the autouse leak check (gc + loop exception handler) fails the test on a leak


async def test_cancellation_during_retry_wait_leaks_nothing() -> None:
    retry_scheduled = asyncio.Event()

    class OnRetry(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            retry_scheduled.set()  # logged just before the retry wait starts

    handler = OnRetry(logging.WARNING)
    log = logging.getLogger("feldera_events")
    log.addHandler(handler)
    feldera_events.testing.set_testing(False)
    try:
        async with loopback(respond_json({}, status=503, headers={"Retry-After": "30"})) as srv:

            async def use() -> None:
                async with EventsClient(srv.url) as client:
                    await client.list_events("p")

            task = asyncio.create_task(use())
            await retry_scheduled.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert len(srv.seen) == 1
    finally:
        feldera_events.testing.set_testing(True)
        log.removeHandler(handler)


async def test_forgotten_client_without_requests_leaks_nothing() -> None:
    EventsClient("http://127.0.0.1:9")  # never entered: no session was ever made


async def test_many_concurrent_requests_share_the_pool() -> None:
    peers: set[tuple[str, int]] = set()  # one client address and port per connection

    async def answer(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername")[:2])
        return web.json_response([])

    async with loopback(answer) as srv, EventsClient(srv.url, max_connections=2) as c:
        results = await asyncio.gather(*(c.list_events(f"p{i}") for i in range(20)))
    assert results == [[]] * 20
    assert len(srv.seen) == 20
    assert 1 <= len(peers) <= 2  # 20 requests at once over at most two connections
