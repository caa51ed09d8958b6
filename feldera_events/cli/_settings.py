"""The client from the CLI's options and environment: each setting resolved once, every error naming where the value came from.

Options win over environment variables; nothing is left for the library to read from
the environment, so its messages (which speak of Python arguments) never reach a CLI
user: a bad value is a :class:`UsageError` (exit 2) in CLI words.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs

from .._client import EventsClient
from .._config import Timeouts
from .._errors import FelderaError
from .._validate import check_base_url, shown_url
from ._render import CommandError, UsageError, error_line, exit_code_for

__all__ = ["open_client"]

DEFAULT_URL = "http://localhost:8080"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@attrs.frozen
class Settings:
    """Resolved connection settings, and where each came from: ``sources`` names the option
    or variable behind each of the client's arguments (for messages)."""

    url: str
    api_key: str | None = attrs.field(repr=False)
    tenant: str | None
    #: False (no verification), True (system CAs) or the CA bundle's context (loaded once).
    verify: bool | ssl.SSLContext
    sources: dict[str, str]


def _pick(
    option: str | None, flag: str, env: Mapping[str, str], var: str
) -> tuple[str | None, str]:
    if option is not None:
        return option, flag
    if var in env:
        return env[var], var
    return None, ""


def _check_url(url: str, source: str) -> str:
    # Never with its credentials or query string (where tokens go by mistake).
    where = f"{source} ({shown_url(url)})" if source != "default" else shown_url(url)
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise UsageError(f"{where} is not a valid URL ({exc})") from None
    if parts.username or parts.password:
        raise UsageError(f"{source} must not carry credentials; use FELDERA_API_KEY or --api-key")
    if parts.query or parts.fragment:
        raise UsageError(f"{source} must not have a query string or fragment")
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"{where} is not a URL: it must start with http:// or https://")
    if not parts.hostname:
        raise UsageError(f"{where} has no host name")
    try:
        parts.port  # noqa: B018 - the check
    except ValueError:
        raise UsageError(f"{where} has an invalid port (expected 1 to 65535)") from None
    try:
        check_base_url(url, what=where)  # the client's own rules (port 0, the host...)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return url.strip()


def resolve_settings(args: argparse.Namespace) -> Settings:
    """The settings from ``args`` and the environment, or a :class:`UsageError`."""
    env = os.environ
    url, url_source = _pick(args.url, "--url", env, "FELDERA_HOST")
    if url is None:
        url, url_source = DEFAULT_URL, "default"
    elif not url.strip():
        raise UsageError(f"{url_source} is empty: give a manager URL such as {DEFAULT_URL}")
    url = _check_url(url, url_source)
    api_key, key_source = _pick(args.api_key, "--api-key", env, "FELDERA_API_KEY")
    tenant, tenant_source = _pick(args.tenant, "--tenant", env, "FELDERA_TENANT")

    insecure_text = env.get("FELDERA_TLS_INSECURE", "").strip().lower()
    if insecure_text not in _TRUE | _FALSE:
        raise UsageError(
            f"FELDERA_TLS_INSECURE={env['FELDERA_TLS_INSECURE']!r}: expected true or false "
            "(also 1/0, yes/no, on/off)"
        )
    ca_cert, ca_source = _pick(args.ca_cert, "--ca-cert", env, "FELDERA_HTTPS_TLS_CERT")
    verify: bool | ssl.SSLContext = True
    verify_source = ""
    if args.insecure or insecure_text in _TRUE:
        verify, verify_source = False, "--insecure" if args.insecure else "FELDERA_TLS_INSECURE"
    elif ca_cert and urlsplit(url).scheme == "https":  # an http:// URL needs no CA bundle
        if os.path.isdir(ca_cert):
            raise UsageError(f"{ca_source} {ca_cert!r} is a directory, not a CA bundle file")
        if not os.path.exists(ca_cert):
            raise UsageError(f"{ca_source} {ca_cert!r}: no such file")
        try:  # loaded once, here: the client gets the context
            verify = ssl.create_default_context(cafile=ca_cert)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(
                f"{ca_source} {ca_cert!r} could not be loaded as a CA bundle: {exc}"
            ) from None
        verify_source = ca_source
    sources = {
        "api_key": key_source or "--api-key",
        "tenant": tenant_source or "--tenant",
        "verify": verify_source or "--ca-cert",
        "url": url_source,
    }
    return Settings(url, api_key or None, tenant or None, verify, sources)


def _cli_words(message: str, sources: dict[str, str]) -> str:
    """A library message in CLI words: ``api_key=`` becomes ``--api-key``/``FELDERA_API_KEY``."""
    # The client's own words for its arguments ("the API key contains ...").
    message = message.replace("the API key", sources["api_key"])
    message = message.replace("the tenant", sources["tenant"])
    for python_name, source in sources.items():
        message = re.sub(rf"(?<![-\w]){python_name}\b=?", source, message)
    return message


def _traced_session(
    *, log_requests: bool, on_response: Callable[[int], None] | None
) -> aiohttp.ClientSession:
    """A session that logs each request at DEBUG: method, path, status, time (``-vv``),
    and tells ``on_response`` the status of every answer."""
    log = logging.getLogger("feldera_events.http")

    async def on_start(_: Any, ctx: SimpleNamespace, params: Any) -> None:
        ctx.started = time.monotonic()

    async def on_end(_: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
        if on_response is not None:
            on_response(params.response.status)
        if log_requests:
            said = f"-> {params.response.status} in"
            log.debug("%s %s %s %.1f ms", params.method, params.url.path_qs, said, _ms(ctx))

    async def on_error(
        _: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestExceptionParams
    ) -> None:
        if log_requests:
            said = f"-> {type(params.exception).__name__} after"
            log.debug("%s %s %s %.1f ms", params.method, params.url.path_qs, said, _ms(ctx))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    trace.on_request_exception.append(on_error)
    return aiohttp.ClientSession(trace_configs=[trace])


def _ms(ctx: SimpleNamespace) -> float:
    return (time.monotonic() - float(ctx.started)) * 1000


@contextlib.asynccontextmanager
async def open_client(
    args: argparse.Namespace, *, on_response: Callable[[int], None] | None = None
) -> AsyncIterator[EventsClient]:
    """The client from the global options (a bad value is a :class:`UsageError`); with
    ``-vv`` each request is logged at DEBUG; ``on_response(status)`` after every answer.
    An error of the SDK inside becomes a :class:`CommandError`: its line (naming the
    client's URL and the command's pipeline) and its exit code."""
    settings = resolve_settings(args)
    timeout: Timeouts | None = None
    if args.request_timeout is not None:
        timeout = Timeouts(connect=min(10.0, args.request_timeout), request=args.request_timeout)
    session = None
    if args.verbose >= 2 or on_response is not None:
        session = _traced_session(log_requests=args.verbose >= 2, on_response=on_response)
    try:
        try:
            client = EventsClient(
                settings.url,
                api_key=settings.api_key,
                tenant=settings.tenant,
                timeout=timeout,
                verify=settings.verify,
                session=session,
            )
        except (ValueError, TypeError) as exc:
            raise UsageError(_cli_words(str(exc), settings.sources)) from None
        async with client:
            try:
                yield client
            except FelderaError as exc:
                line = error_line(exc, client.url, getattr(args, "pipeline", None))
                raise CommandError(line, exit_code_for(exc)) from None
    finally:
        if session is not None:
            await session.close()
