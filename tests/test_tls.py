"""TLS against a real HTTPS server on loopback, with a throwaway CA made at test time.

The docs promise (docs/guides/configuration.md, TLS): a CA bundle (``verify=PATH``, ``FELDERA_HTTPS_TLS_CERT``,
``--ca-cert``), turning verification off (``verify=False``, ``FELDERA_TLS_INSECURE``,
``--insecure``), and verification on by default. Each is checked here against an
``https://127.0.0.1`` server whose certificate only the throwaway CA vouches for.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trustme
from aiohttp import web
from cli_support import run_cli
from helpers import EVENT_ID, event_json

from feldera_events import EventsClient, FelderaError, RetryPolicy


@attrs.define
class HttpsServer:
    url: str
    ca_file: Path
    paths: list[str] = attrs.field(factory=list)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
async def https(ca: trustme.CA, ca_file: Path) -> AsyncIterator[HttpsServer]:
    """An aiohttp server on https://127.0.0.1 answering every GET with one event."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    box = HttpsServer(url="", ca_file=ca_file)

    async def handle(request: web.Request) -> web.StreamResponse:
        box.paths.append(request.path)
        return web.json_response(event_json())

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    try:
        port = runner.addresses[0][1]
        box.url = f"https://127.0.0.1:{port}"
        yield box
    finally:
        await runner.cleanup()


@pytest.fixture
def no_tls_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FELDERA_HTTPS_TLS_CERT", "FELDERA_TLS_INSECURE", "FELDERA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


async def _get(client: EventsClient) -> str:
    async with client:
        ev = await client.get_event("p")
    return str(ev.event_id)


async def test_the_server_certificate_is_verified_by_default(
    https: HttpsServer, no_tls_env: None
) -> None:
    client = EventsClient(https.url, retry=RetryPolicy(attempts=2))
    with pytest.raises(FelderaError) as info:
        await _get(client)
    assert https.url in str(info.value)
    assert https.paths == []  # the handshake failed: no request reached the server


async def test_a_ca_bundle_path_makes_the_certificate_trusted(
    https: HttpsServer, no_tls_env: None
) -> None:
    assert await _get(EventsClient(https.url, verify=str(https.ca_file))) == EVENT_ID
    assert https.paths == ["/v0/pipelines/p/events/latest"]


async def test_an_ssl_context_is_used_as_given(
    ca: trustme.CA, https: HttpsServer, no_tls_env: None
) -> None:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    assert await _get(EventsClient(https.url, verify=ctx)) == EVENT_ID


async def test_ca_bundle_from_feldera_https_tls_cert(
    https: HttpsServer, no_tls_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FELDERA_HTTPS_TLS_CERT", str(https.ca_file))
    assert await _get(EventsClient(https.url)) == EVENT_ID


async def test_verify_false_accepts_an_untrusted_certificate(
    https: HttpsServer, no_tls_env: None
) -> None:
    assert await _get(EventsClient(https.url, verify=False)) == EVENT_ID


@pytest.mark.parametrize("value", ["1", "true"])
async def test_feldera_tls_insecure_accepts_an_untrusted_certificate(
    https: HttpsServer, no_tls_env: None, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FELDERA_TLS_INSECURE", value)
    assert await _get(EventsClient(https.url)) == EVENT_ID


async def test_an_explicit_verify_wins_over_feldera_tls_insecure(
    https: HttpsServer, no_tls_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FELDERA_TLS_INSECURE", "1")
    with pytest.raises(FelderaError):
        await _get(EventsClient(https.url, verify=True, retry=RetryPolicy(attempts=2)))
    assert https.paths == []


# -- the CLI: --ca-cert, --insecure, FELDERA_HTTPS_TLS_CERT, FELDERA_TLS_INSECURE ------------


async def test_cli_refuses_an_untrusted_certificate(https: HttpsServer) -> None:
    ran = await run_cli("get", "p", url=https.url)
    assert ran.returncode == 4, ran
    assert https.url in ran.stderr
    assert "Traceback" not in ran.output
    assert https.paths == []


async def test_cli_ca_cert_flag(https: HttpsServer) -> None:
    ran = await run_cli("--ca-cert", str(https.ca_file), "get", "p", url=https.url)
    assert ran.returncode == 0, ran
    assert json.loads(ran.stdout)["event_id"] == EVENT_ID
    assert https.paths == ["/v0/pipelines/p/events/latest"]


async def test_cli_ca_cert_from_the_environment(https: HttpsServer) -> None:
    ran = await run_cli(
        "get", "p", url=https.url, env={"FELDERA_HTTPS_TLS_CERT": str(https.ca_file)}
    )
    assert ran.returncode == 0, ran
    assert json.loads(ran.stdout)["event_id"] == EVENT_ID


async def test_cli_insecure_flag(https: HttpsServer) -> None:
    ran = await run_cli("--insecure", "get", "p", url=https.url)
    assert ran.returncode == 0, ran
    assert json.loads(ran.stdout)["event_id"] == EVENT_ID


async def test_cli_insecure_from_the_environment(https: HttpsServer) -> None:
    ran = await run_cli("get", "p", url=https.url, env={"FELDERA_TLS_INSECURE": "true"})
    assert ran.returncode == 0, ran
    assert json.loads(ran.stdout)["event_id"] == EVENT_ID
