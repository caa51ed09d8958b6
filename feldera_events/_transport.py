"""The transport of one request: redirects, body reading and decoding, JSON, errors from answers.

Everything here is a function of what it is given (the keys to withhold among it):
:class:`EventsClient` holds the state and calls in. No text that contains an API key
leaves this module in an exception.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import email.utils
import json
import re
import ssl
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import unquote

import aiohttp
from yarl import URL

from ._config import Timeouts
from ._errors import (
    CLUSTER_UNSUPPORTED_MESSAGE,
    MAX_REDIRECTS,
    NOT_FOUND_CODES,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClusterEventsUnsupportedError,
    ConnectionSetupError,
    RedirectError,
    ResponseTooLargeError,
    ResponseValidationError,
    scrub,
    status_error_class,
)
from ._text import WITHHELD, contains_key, excerpt, withhold_strings

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_BODY_SIZE",
    "ERROR_JSON_LIMIT",
    "MAX_JSON_DEPTH",
    "JSONRefused",
    "follow",
    "json_body",
    "parse_json",
    "read_body",
    "request_options",
    "scrub",
    "speaks_tls",
    "status_error",
    "transport_error",
    "value_budget",
]

#: Responses larger than this are refused (32 MiB), counted after decompression.
DEFAULT_MAX_BODY_SIZE: Final = 32 * 1024 * 1024

#: JSON nested deeper than this (objects and arrays, the outermost included) is refused
#: as a ResponseValidationError: serde_json, which the manager uses, stops at 128 too,
#: and everything accepted stays printable (repr, json.dumps, rich).
MAX_JSON_DEPTH: Final = 128

#: An error answer's body is read as a Feldera error (JSON) only up to this size; a larger
#: one (no Feldera error is) is quoted as an excerpt and never parsed.
ERROR_JSON_LIMIT: Final = 1 << 20

#: A JSON body holding more values than this is refused before it is parsed (the least of
#: the budget: see :func:`value_budget`).
MIN_VALUE_BUDGET: Final = 1 << 16

#: An identity body of at most this many bytes (by its Content-Length) is read at once.
_READ_AT_ONCE: Final = 65536
#: The most one zlib call inflates at once (see _BodyDecoder.feed).
_INFLATE_STEP: Final = 1 << 20

#: The content codings the client asks for and decodes itself (bounded by max_body_size).
ACCEPT_ENCODING: Final = "gzip, deflate"


class JSONRefused(ValueError):
    """Valid JSON the client refuses: too deep, or a string that cannot be printed."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


#: The strict decoder, made once (``json.loads`` with keyword arguments makes one a call).
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def value_budget(max_body_size: int) -> int:
    """How many JSON values a body may hold for a client with ``max_body_size``.

    Parsed, one JSON value costs far more than its bytes (``{}`` is 2 bytes, a Python
    dict about 64), so a body of tiny values could cost 30 times the cap; one value per
    16 bytes of the cap keeps a parse within a few times ``max_body_size`` (an event is
    hundreds of bytes for some twenty values).
    """
    return max(max_body_size // 16, MIN_VALUE_BUDGET)


def parse_json(body: bytes, max_values: int | None = None) -> Any:
    """Strict JSON: no NaN/Infinity, at most MAX_JSON_DEPTH levels, printable strings,
    and at most ``max_values`` values (None: any number).

    Raises ValueError with a readable reason for anything else. The same parser as
    ``json.loads`` (the C scanner); the checks cost little where they cannot fail.
    """
    if max_values is not None and len(body) > max_values:
        # Every value but the first follows a comma or opens a container: an upper bound
        # (commas in strings count too), counted without parsing.
        count = body.count(b",") + body.count(b"[") + body.count(b"{") + 1
        if count > max_values:
            raise JSONRefused(
                f"a JSON body of more than {max_values} values (about {count}); "
                "raise max_body_size to accept it"
            )
    try:
        # What json.loads does with bytes, with our decoder, and strict decoding: an
        # encoded surrogate (json.loads lets one through) cannot be printed either.
        data = _DECODER.decode(body.decode(json.detect_encoding(body)))
    except RecursionError:
        raise JSONRefused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    # Every level opens with a bracket: a body with few of them cannot be too deep,
    # and counting bytes is far cheaper than walking the parsed containers.
    shallow = body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH
    # Only containers are visited (a 720-event list costs a fraction of json.loads).
    todo: list[tuple[Any, int]] = [] if shallow or type(data) not in (dict, list) else [(data, 1)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_JSON_DEPTH:
            raise JSONRefused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        for value in item.values() if type(item) is dict else item:
            if type(value) is dict or type(value) is list:
                todo.append((value, depth + 1))
    # A string can only hold a surrogate that UTF-8 cannot encode through a \uD8xx-\uDFxx
    # escape (raw bytes are decoded strictly): look for strings only if there is one.
    if b"\\u" in body and _SURROGATE_ESCAPE.search(body):
        _check_strings(data)
    return data


_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _check_strings(data: Any) -> None:
    todo: list[Any] = [data]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise JSONRefused(
                    "a JSON string holds an unpaired surrogate (\\ud800-\\udfff), "
                    "which cannot be printed"
                ) from None
        elif isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.UTC)
        seconds = (when - _dt.datetime.now(_dt.UTC)).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN or inf
        return None
    return max(seconds, 0.0)


class _BodyDecoder:
    """Decodes a body's ``Content-Encoding`` chunk by chunk, never past a byte budget.

    aiohttp's own decompression (before 3.14) inflates a whole network read at once, so
    a small gzip bomb could cost gigabytes before any size check; here every
    ``decompress`` call is capped at what the budget still allows.
    """

    def __init__(self, encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            self.mode: str | None = None
        elif len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
            self.mode = codings[0]
        else:
            # Not echoed in full: it is server text.
            raise ValueError(f"unsupported Content-Encoding {excerpt(encoding, 40)!r}")
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        self._fed = False
        self._raw_deflate_tried = False

    def feed(self, data: bytes, budget: int) -> list[bytes]:
        """Decoded ``data``, in pieces: at most ``budget + 1`` bytes (more than budget:
        too large).

        Inflated a step at a time and never joined here: one ``decompress`` call as large
        as the budget, or a join of the pieces, would hold the output twice.
        """
        if self.mode is None or not data:
            return [data]
        out: list[bytes] = []
        produced = 0
        while True:
            limit = min(budget - produced + 1, _INFLATE_STEP)
            try:
                piece = self._obj.decompress(data, limit)
            except zlib.error as exc:
                if self.mode == "deflate" and not self._fed and not self._raw_deflate_tried:
                    # "deflate" sent without its zlib header, as some servers do.
                    self._raw_deflate_tried = True
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise ValueError(f"body is not valid {self.mode} ({exc})") from None
            self._fed = True
            out.append(piece)
            produced += len(piece)
            if produced > budget:
                break
            if len(piece) == limit or self._obj.unconsumed_tail:
                data = self._obj.unconsumed_tail  # more output is due from this input
                continue
            if self._obj.eof and self._obj.unused_data:
                # The next member of a multi-member gzip stream.
                data = self._obj.unused_data
                self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)
                continue
            break
        return out

    def finish(self) -> None:
        if self.mode is not None and self._fed and not self._obj.eof:
            raise ValueError(f"{self.mode} body ends before its compressed stream does")


_NOT_TLS_REASONS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)

TLS_HINT: Final = (
    "pass the CA bundle that signed its certificate (--ca-cert, FELDERA_HTTPS_TLS_CERT) "
    "or turn verification off (--insecure, FELDERA_TLS_INSECURE=1)"
)


def _origin(url: str) -> str:
    try:
        return str(URL(url).origin())
    except ValueError:
        return url


def follow(visited: list[str], location: str, status: int, keys: list[str]) -> str:
    """The URL a same-origin redirect leads to; a RedirectError for anything else."""
    current = visited[-1]
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
        shown = shown or repr(excerpt(location, 200))
        raise RedirectError(
            f"redirect with an invalid Location {shown}", status_code=status, url=current
        )
    nxt = str(target)
    shown = shown or excerpt(nxt, 300)
    if target.user is not None or target.password is not None:
        # Credentials in a URL are never ours to send, nor to show.
        if not secret:
            shown = excerpt(str(target.with_user(None)), 300) + " (its user info left out)"
        raise RedirectError(
            f"redirect to a URL with credentials not followed: GET {current} -> {shown}",
            status_code=status,
            url=current,
        )
    if secret:
        # The key is never sent in a URL, nor shown in the errors that name the next hop.
        raise RedirectError(
            f"redirect not followed: GET {current} -> {shown}", status_code=status, url=current
        )
    if target_origin != URL(current, encoded=True).origin():
        raise RedirectError(
            f"redirect to another origin not followed: GET {current} -> {shown} "
            "(Feldera does not redirect this route: use the final URL)",
            status_code=status,
            url=current,
            location=nxt if shown == nxt else None,
        )
    if nxt in visited:
        chain = " -> ".join([*visited[visited.index(nxt) :], shown])
        raise RedirectError(
            f"redirect loop: {chain}",
            status_code=status,
            url=current,
            location=nxt if shown == nxt else None,
        )
    if len(visited) > MAX_REDIRECTS:
        raise RedirectError(
            f"too many redirects: GET {visited[0]} was redirected {len(visited)} times "
            f"(last to {shown})",
            status_code=status,
            url=current,
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
    origin = _origin(url)
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
            hint=TLS_HINT,
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
    if isinstance(exc, aiohttp.ClientError):
        detail = str(exc) or type(exc).__name__
        return APIConnectionError(f"connection error on GET {url}: {detail}", url=url)
    if isinstance(exc, OSError):
        return APIConnectionError(f"connection error on GET {url}: {exc}", url=url)
    return APIConnectionError(
        f"connection error on GET {url}: {type(exc).__name__}: {exc}", url=url
    )


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
    spoke = False
    try:
        async with asyncio.timeout(limit):
            _, writer = await asyncio.open_connection(parsed.host, parsed.port, ssl=context)
            spoke = True
            writer.close()
            await writer.wait_closed()
    except (OSError, TimeoutError, ssl.SSLError):
        if writer is not None:
            writer.transport.abort()
    return spoke


async def read_body(
    resp: aiohttp.ClientResponse, url: str, cap: int, keys: Callable[[], list[str]]
) -> bytes:
    """The decoded body, read in chunks and refused once above max_body_size.

    ``keys`` gives the keys to withhold from errors (asked only when there is one).
    """
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
        decoder = _BodyDecoder(encoding)
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
    async for chunk in resp.content.iter_chunked(65536):
        try:
            pieces = decoder.feed(chunk, cap - size)
        except ValueError as exc:
            raise ResponseValidationError(str(exc), status_code=resp.status, url=url) from None
        size += sum(map(len, pieces))
        if size > cap:
            what = "decoded " if decoder.mode else ""
            raise ResponseTooLargeError(
                f"{what}response body is larger than max_body_size={cap} bytes (stopped reading)",
                status_code=resp.status,
                url=url,
            )
        chunks.extend(pieces)
    try:
        decoder.finish()
    except ValueError as exc:
        raise ResponseValidationError(str(exc), status_code=resp.status, url=url) from None
    return b"".join(chunks)


def request_options(
    headers: dict[str, str] | None,
    key: str | None,
    timeout: aiohttp.ClientTimeout | None,
    ssl_context: bool | ssl.SSLContext | None,
) -> dict[str, Any]:
    """The keyword arguments of a GET: ``key`` as a bearer token (None: none to add);
    None for what the session carries already. Redirects are followed by the client,
    within the origin only (:func:`follow`), and bodies decoded by :func:`read_body`."""
    kwargs: dict[str, Any] = {"allow_redirects": False, "auto_decompress": False}
    if key is not None:
        headers = {**(headers or {}), "Authorization": f"Bearer {key}"}
    if headers is not None:
        kwargs["headers"] = headers
    if timeout is not None:
        kwargs["timeout"] = timeout
    if ssl_context is not None:
        kwargs["ssl"] = ssl_context
    return kwargs


def json_body(
    body: bytes,
    status: int,
    url: str,
    keys: Callable[[], list[str]],
    max_values: int | None = None,
) -> Any:
    """The strict JSON of a body (at most ``max_values`` values), every string in it that
    holds a key withheld (:func:`withhold_strings`); a ResponseValidationError (key
    withheld) if it is not JSON."""
    try:
        data = parse_json(body, max_values)
        known = keys()
        # One pass over the bytes; the parsed strings only when the JSON escapes a
        # backslash or a character of an escape (their text may hold an escaped key).
        if contains_key(body, known) or (
            (b"\\\\" in body or b"\\u00" in body) and contains_key(data, known)
        ):
            return withhold_strings(data, known)
        return data
    except JSONRefused as exc:
        problem = f"body refused: {exc}"
    except ValueError as exc:
        problem = f"body is not valid JSON ({exc})"
    # Raised outside the except block: a JSONDecodeError keeps the whole body
    # (up to max_body_size, possibly an echoed key) in its ``doc`` attribute.
    if contains_key(body, keys()):
        raise ResponseValidationError(f"{problem}; body {WITHHELD}", status_code=status, url=url)
    raise ResponseValidationError(problem, status_code=status, body=excerpt(body), url=url)


def status_error(
    status: int,
    reason: str,
    body: bytes,
    url: str,
    retry_after: str | None,
    keys: list[str] | None = None,
    route: str = "pipeline",
) -> APIStatusError:
    """The error for an HTTP error answer on a ``route`` (see :func:`status_error_class`)."""
    keys = keys or []
    error_code: str | None = None
    details: Any = None
    message = ""
    try:
        # Feldera's 401 is JSON served as text/plain: ignore the content type. A body
        # larger than any Feldera error is quoted, never parsed.
        data = parse_json(body) if body and len(body) <= ERROR_JSON_LIMIT else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        message = data["message"]
        code = data.get("error_code")
        error_code = code if isinstance(code, str) else None
        details = data.get("details")
    else:
        message = excerpt(body, limit=200) or reason or "no body"
    shown_body = excerpt(body)
    if contains_key(body, keys) or contains_key(data, keys) or contains_key(reason, keys):
        # Seen through JSON escapes too (the parsed data). Left out whole, never edited:
        # a short key may be part of ordinary words.
        # A known code is public text; any other code that holds the key goes too.
        if error_code not in NOT_FOUND_CODES and contains_key(error_code, keys):
            error_code = None
        message = f"message and body {WITHHELD}"
        details = None
        shown_body = ""
    cls = status_error_class(status, error_code, route)
    if cls is ClusterEventsUnsupportedError:
        message = CLUSTER_UNSUPPORTED_MESSAGE.format(said=message)
    return cls(
        message,
        status_code=status,
        error_code=error_code,
        details=details,
        retry_after=_parse_retry_after(retry_after),
        url=url,
        body=shown_body,
    )
