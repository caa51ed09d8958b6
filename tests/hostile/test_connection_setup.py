"""Item 5: errors no retry can fix fail at once, with a hint."""

from __future__ import annotations

import asyncio
import logging

import pytest
from helpers import raw_server

from feldera_events import APIConnectionError, ConnectionSetupError, EventsClient, RetryPolicy
from hostile import CERT, not_http, tls_server
from hostile.checks import one_line


def retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]


async def test_tls_verification_failure_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "feldera_events")
    async with tls_server() as srv, EventsClient(srv.url) as client:
        with pytest.raises(ConnectionSetupError) as info:
            await client.get_event("p")
    text = one_line(info.value)
    assert f"TLS certificate verification failed for {srv.url}" in text
    assert "--ca-cert" in text and "--insecure" in text
    assert not isinstance(info.value, APIConnectionError)
    assert retries(caplog) == []


async def test_the_same_server_with_its_ca_works() -> None:
    async with tls_server() as srv, EventsClient(srv.url, verify=CERT) as client:
        await client.get_event("p")
    assert srv.requests == 1


async def test_https_against_a_plain_http_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "feldera_events")
    async with tls_server() as srv:
        url = srv.plain_url.replace("http://", "https://")
        async with EventsClient(url, verify=False) as client:
            with pytest.raises(ConnectionSetupError) as info:
                await client.get_event("p")
    text = one_line(info.value)
    assert f"the server at {url} does not speak TLS (HTTPS)" in text
    assert f"try {srv.plain_url}" in text
    assert retries(caplog) == []


async def test_http_against_a_tls_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "feldera_events")
    async with tls_server() as srv:
        url = srv.url.replace("https://", "http://")
        async with EventsClient(url) as client:
            with pytest.raises(ConnectionSetupError) as info:
                await client.get_event("p")
    text = one_line(info.value)
    assert f"the server at {url} speaks TLS, not plain HTTP" in text
    assert f"use an https:// URL: {srv.url}" in text
    assert retries(caplog) == []


async def test_a_port_that_does_not_speak_http(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "feldera_events")
    async with not_http() as srv, EventsClient(srv.url) as client:
        with pytest.raises(ConnectionSetupError) as info:
            await client.get_event("p")
    text = one_line(info.value)
    assert f"the server at {srv.url} does not speak HTTP" in text
    assert srv.connections == 1
    assert retries(caplog) == []


async def test_a_server_that_hangs_up_is_probed_for_tls_once_per_client() -> None:
    hellos = 0  # TLS ClientHellos: the client's probes

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hellos
        # Read what was sent (closing with unread bytes would be a reset), then hang up.
        data = await reader.read(65536)
        hellos += data.startswith(b"\x16")  # a TLS handshake record
        if data.startswith(b"GET ") and b"\r\n\r\n" not in data:
            await reader.readuntil(b"\r\n\r\n")

    async with (
        raw_server(hang_up) as url,
        EventsClient(url, retry=RetryPolicy(attempts=3)) as client,
    ):
        for _ in range(2):
            with pytest.raises(APIConnectionError, match="Server disconnected"):
                await client.get_event("p")
    assert hellos == 1  # two calls of 3 attempts each, one TLS probe
