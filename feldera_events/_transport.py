"""One request over HTTP: same-origin redirects, reading a body within a cap, the TLS
probe, and aiohttp's exceptions turned into ours (request headers and keys out).

Functions of what :class:`EventsClient` gives them (the keys to withhold among it).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Final
from urllib.parse import unquote

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._body import BodyDecoder
from ._config import Timeouts
from ._errors import (
    MAX_REDIRECTS,
    APIConnectionError,
    APITimeoutError,
    ConnectionSetupError,
    RedirectError,
    ResponseTooLargeError,
    ResponseValidationError,
)
from ._text import WITHHELD, contains_key, excerpt

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_BODY_SIZE",
    "follow",
    "read_body",
    "scrub",
    "speaks_tls",
    "transport_error",
]

#: Responses larger than this are refused (32 MiB), counted after decompression.
DEFAULT_MAX_BODY_SIZE: Final = 32 * 1024 * 1024

#: An identity body of at most this many bytes (by its Content-Length) is read at once.
_READ_AT_ONCE: Final = 65536
#: The content codings the client asks for and decodes itself (bounded by max_body_size).
ACCEPT_ENCODING: Final = "gzip, deflate"
#: What OpenSSL says when the server answers a TLS hello with something else.
_NOT_TLS_REASONS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)


def follow(visited: list[str], location: str, status: int, keys: list[str]) -> str:
    """The URL a same-origin redirect leads to; a RedirectError for anything else."""
    current = visited[-1]

    def refused(message: str, shown_location: str | None = None) -> RedirectError:
        return RedirectError(message, status_code=status, url=current, location=shown_location)

    # Seen through percent-encoding too: yarl decodes the Location when it shows it.
    secret = contains_key(location, keys) or contains_key(unquote(location), keys)
    shown = f"(Location {WITHHELD})" if secret else None
    try:
        target = URL(current, encoded=True).join(URL(location))
        target_origin = target.origin()
    except (ValueError, TypeError):
        target = None
    if target is None:
        # Raised outside the except block: yarl's error quotes the Location.
        raise refused(f"redirect with an invalid Location {shown or repr(excerpt(location, 200))}")
    nxt = str(target)
    shown = shown or excerpt(nxt, 300)
    if target.user is not None or target.password is not None:
        # Credentials in a URL are never ours to send, nor to show.
        if not secret:
            shown = excerpt(str(target.with_user(None)), 300) + " (its user info left out)"
        raise refused(f"redirect to a URL with credentials not followed: GET {current} -> {shown}")
    if secret:
        # The key is never sent in a URL, nor shown in the errors that name the next hop.
        raise refused(f"redirect not followed: GET {current} -> {shown}")
    target_shown = nxt if shown == nxt else None
    if target_origin != URL(current, encoded=True).origin():
        raise refused(
            f"redirect to another origin not followed: GET {current} -> {shown} "
            "(Feldera does not redirect this route: use the final URL)",
            target_shown,
        )
    if nxt in visited:
        chain = " -> ".join([*visited[visited.index(nxt) :], shown])
        raise refused(f"redirect loop: {chain}", target_shown)
    if len(visited) > MAX_REDIRECTS:
        raise refused(
            f"too many redirects: GET {visited[0]} was redirected {len(visited)} times "
            f"(last to {shown})"
        )
    visited.append(nxt)
    return nxt


async def transport_error(
    exc: Exception,
    url: str,
    timeouts: Timeouts,
    probe_tls: Callable[[str], Awaitable[bool]] | None = None,
) -> Exception:
    """The feldera-events error for an exception raised while talking to ``url``.

    ``probe_tls`` (None: do not probe) asks whether a plain-HTTP server that hung up
    speaks TLS.
    """
    try:
        origin = str(URL(url).origin())
    except ValueError:
        origin = url
    if isinstance(exc, TimeoutError):
        return APITimeoutError(
            f"GET {url} timed out (per-request timeouts: connect={timeouts.connect}s, "
            f"request={timeouts.request}s)",
            url=url,
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        detail = getattr(exc.certificate_error, "verify_message", None) or str(
            exc.certificate_error
        )
        return ConnectionSetupError(
            f"TLS certificate verification failed for {origin}: {detail}",
            url=url,
            hint="pass the CA bundle that signed its certificate (--ca-cert, "
            "FELDERA_HTTPS_TLS_CERT) or turn verification off (--insecure, FELDERA_TLS_INSECURE=1)",
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        os_error = getattr(exc, "os_error", None)
        reason = getattr(os_error, "reason", None) or ""
        if reason in _NOT_TLS_REASONS:
            plain = "http://" + origin.removeprefix("https://")
            return ConnectionSetupError(
                f"the server at {origin} does not speak TLS (HTTPS)",
                url=url,
                hint=f"is it a plain HTTP server? try {plain}",
            )
        return ConnectionSetupError(
            f"TLS handshake with {origin} failed: {reason or os_error or exc}",
            url=url,
            hint="check the URL's scheme and port, and the server's TLS setup",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(f"cannot connect to {url}: {exc}", url=url)
    if (
        isinstance(exc, aiohttp.ServerDisconnectedError)
        and url.startswith("http://")
        and probe_tls is not None
        and await probe_tls(url)
    ):
        secure = "https://" + origin.removeprefix("http://")
        return ConnectionSetupError(
            f"the server at {origin} speaks TLS, not plain HTTP",
            url=url,
            hint=f"use an https:// URL: {secure}",
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        # Raised while reading the status line or headers: not an HTTP answer.
        detail = (exc.message or "").split("\n")[0].strip().rstrip(":")
        return ConnectionSetupError(
            f"the server at {origin} does not speak HTTP ({detail or 'invalid answer'})",
            url=url,
            hint="check the URL's port",
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        detail = str(exc) or type(exc).__name__
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return APIConnectionError(f"connection error on GET {url}: {detail}", url=url)


async def speaks_tls(url: str, connect_timeout: float | None, budget: float | None = None) -> bool:
    """Whether the server at ``url`` completes a TLS handshake (certificate unchecked).

    Asked only after a plain-HTTP server hung up without a byte, which is what a TLS
    server does with a plain request. The connect and the close share one limit: 3 s,
    ``connect_timeout`` and ``budget`` (what is left of the request's time), the least.
    """
    parsed = URL(url, encoded=True)
    if parsed.host is None or parsed.port is None:
        return False
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    limit = min(connect_timeout or 3.0, 3.0, 3.0 if budget is None else budget)
    if limit <= 0:
        return False
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(limit):
            _, writer = await asyncio.open_connection(parsed.host, parsed.port, ssl=context)
            writer.close()
            await writer.wait_closed()
    except (OSError, TimeoutError, ssl.SSLError):
        if writer is None:
            return False
        writer.transport.abort()  # it spoke TLS: only the close failed
    return True


async def read_body(
    resp: aiohttp.ClientResponse, url: str, cap: int, keys: Callable[[], list[str]]
) -> bytes:
    """The decoded body, read in chunks and refused once above ``cap`` (max_body_size);
    ``keys`` gives the keys to withhold from errors (asked only when there is one)."""
    length = resp.content_length
    if length is not None and length > cap:
        raise ResponseTooLargeError(
            f"response body of {length} bytes is larger than max_body_size={cap}",
            status_code=resp.status,
            url=url,
        )
    encoding = resp.headers.get("Content-Encoding")
    if encoding is None and length is not None and length <= _READ_AT_ONCE:
        # A small identity body of a known length (every event): read in one go.
        return await resp.read()
    try:
        decoder = BodyDecoder(encoding)
    except ValueError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        # Raised outside the except block: the ValueError holds the server's text.
        if contains_key(encoding, keys()):
            problem = f"unsupported Content-Encoding ({WITHHELD})"
        raise ResponseValidationError(problem, status_code=resp.status, url=url)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in resp.content.iter_chunked(65536):
            pieces = decoder.feed(chunk, cap - size)
            size += sum(map(len, pieces))
            if size > cap:
                what = "decoded " if decoder.mode else ""
                raise ResponseTooLargeError(
                    f"{what}response body is larger than max_body_size={cap} bytes (stopped reading)",
                    status_code=resp.status,
                    url=url,
                )
            chunks.extend(pieces)
        decoder.finish()
    except ValueError as exc:  # not valid gzip or deflate
        raise ResponseValidationError(str(exc), status_code=resp.status, url=url) from None
    return b"".join(chunks)


def scrub(exc: BaseException, keys: Sequence[str] = ()) -> BaseException:
    """``exc`` with the request headers (the API key among them) dropped from its chain,
    and any text in it that holds one of ``keys`` withheld.

    aiohttp's ``ClientResponseError`` keeps ``request_info`` (with every request
    header) and ``history`` (the responses, with their requests) in its attributes
    and ``args``; they are replaced by header-less copies. Its parser quotes the bytes
    it refused (a header, a status line: an echoed key) in messages and attributes:
    such a value is replaced, whole, by a note that it was withheld.
    """
    note = f"details {WITHHELD}"
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, aiohttp.ClientResponseError):
            info = item.request_info
            bare = aiohttp.RequestInfo(
                info.url, info.method, CIMultiDictProxy(CIMultiDict()), info.real_url
            )
            item.request_info = bare
            item.history = ()
            item.args = (bare, ())
        if keys:
            item.args = tuple(note if contains_key(repr(a), keys) else a for a in item.args)
            for name, value in list(vars(item).items()):
                if not contains_key(repr(value), keys):
                    continue
                if isinstance(value, str):
                    setattr(item, name, note)
                elif isinstance(value, bytes | bytearray):
                    setattr(item, name, note.encode())
                else:
                    setattr(item, name, None)
        todo += [c for c in (item.__cause__, item.__context__) if c is not None]
    return exc
