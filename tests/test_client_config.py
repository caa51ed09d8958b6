"""EventsClient construction: environment defaults, TLS settings, argument checks."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from feldera_events import EventsClient, RetryPolicy, Timeouts
from feldera_events._config import DEFAULT_HOST, EnvConfig

ENV_VARS = (
    "FELDERA_HOST",
    "FELDERA_API_KEY",
    "FELDERA_TENANT",
    "FELDERA_HTTPS_TLS_CERT",
    "FELDERA_TLS_INSECURE",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_environment() -> None:
    client = EventsClient()
    assert client.url == DEFAULT_HOST == "http://localhost:8080"
    assert client.timeouts == Timeouts()
    assert client.retry_policy == RetryPolicy()
    assert client._ssl is True
    assert "Authorization" not in client._headers
    assert not client.closed


def test_env_config_parsing() -> None:
    cfg = EnvConfig.from_env(
        {
            "FELDERA_HOST": "https://f.example/x/",
            "FELDERA_API_KEY": "k",
            "FELDERA_TENANT": "t",
            "FELDERA_HTTPS_TLS_CERT": "/ca.pem",
            "FELDERA_TLS_INSECURE": " TRUE ",
        }
    )
    assert cfg == EnvConfig("https://f.example/x/", "k", "t", "/ca.pem", True)
    assert EnvConfig.from_env({"FELDERA_HOST": "", "FELDERA_TLS_INSECURE": "0"}) == EnvConfig()


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "True"])
def test_tls_insecure_from_env(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FELDERA_TLS_INSECURE", value)
    assert EventsClient()._ssl is False
    assert EventsClient(verify=True)._ssl is True  # an explicit argument wins


def test_ca_bundle_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FELDERA_HTTPS_TLS_CERT", str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="FELDERA_HTTPS_TLS_CERT"):
        EventsClient()
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    monkeypatch.setenv("FELDERA_HTTPS_TLS_CERT", str(bad))
    with pytest.raises(ValueError, match="could not be loaded"):
        EventsClient()
    # A CA made here (not the system bundle, which some machines lack: the test ran
    # nowhere but where one happened to exist). tests/test_tls.py uses it over HTTPS.
    cafile = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(cafile))
    monkeypatch.setenv("FELDERA_HTTPS_TLS_CERT", str(cafile))
    assert isinstance(EventsClient()._ssl, ssl.SSLContext)


def test_verify_accepts_an_ssl_context() -> None:
    ctx = ssl.create_default_context()
    assert EventsClient(verify=ctx)._ssl is ctx
    assert EventsClient(verify=False)._ssl is False


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("localhost:8080", "http"),
        ("ftp://h", "http"),
        ("http://", "host"),
        ("http://user:pw@h", "credentials"),
        ("http://h/?a=1", "query"),
        ("http://h/#x", "fragment"),
    ],
)
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EventsClient(url)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="api_key"):
        EventsClient(api_key=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retry"):
        EventsClient(retry=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="session"):
        EventsClient(session=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_body_size"):
        EventsClient(max_body_size=0)
    with pytest.raises(ValueError, match="max_connections"):
        EventsClient(max_connections=0)
    with pytest.raises(ValueError, match="tenant"):
        EventsClient(tenant="a\nb")
    with pytest.raises(ValueError, match="header"):
        EventsClient(headers={"X": "a\r\nb"})


def test_timeouts() -> None:
    t = Timeouts(connect=5, request=30)
    assert t.to_aiohttp() == aiohttp.ClientTimeout(total=30, sock_connect=5)
    assert Timeouts(connect=None, request=None).to_aiohttp().total is None
    assert EventsClient(timeout=2.5).timeouts == Timeouts(request=2.5)
    for bad in (0, -1, True, "5"):
        with pytest.raises(ValueError, match="Timeouts"):
            Timeouts(request=bad)  # type: ignore[arg-type]


async def test_user_agent_names_the_version() -> None:
    import feldera_events

    ua = EventsClient()._headers["User-Agent"]
    assert ua.startswith(f"feldera-events/{feldera_events.__version__} ")
    assert f"aiohttp/{aiohttp.__version__}" in ua


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: RetryPolicy(wait_initial=True), "RetryPolicy.wait_initial"),
        (lambda: RetryPolicy(wait_max="1"), "RetryPolicy.wait_max"),
        (lambda: RetryPolicy(attempts=2.0), "RetryPolicy.attempts"),
        (lambda: RetryPolicy(timeout=0), "RetryPolicy.timeout"),
        (lambda: Timeouts(connect=False), "Timeouts.connect"),
    ],
)
def test_policies_share_one_validator_naming_class_and_field(make: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


async def test_connection_limit_is_public() -> None:
    client = EventsClient("http://127.0.0.1:1", max_connections=7)
    assert client.connection_limit() == 7
    async with client:
        assert client.connection_limit() == 7
