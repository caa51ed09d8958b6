"""EventsClient: the aiohttp session layer of feldera-events."""

from __future__ import annotations

import asyncio
import datetime as _dt
import email.utils
import inspect
import json
import logging
import os
import platform
import re
import ssl
import time
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self, TypeAlias, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._cluster import ClusterEvent, fetch_cluster_event, fetch_cluster_events
from ._config import EnvConfig
from ._convert import structure, structure_list
from ._errors import (
    MAX_REDIRECTS,
    NOT_FOUND_CODES,
    WITHHELD,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    ConnectionSetupError,
    RedirectError,
    ResponseTooLargeError,
    ResponseValidationError,
    contains_key,
    excerpt,
    status_error_class,
)
from ._models import ClusterHealth, PipelineEvent, Selector
from ._retry import RetryPolicy, call_with_retry

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "MAX_JSON_DEPTH",
    "ApiKey",
    "EventsClient",
    "Timeouts",
    "check_pipeline_name",
    "normalize_event_id",
    "normalize_selector",
]

T = TypeVar("T")
logger = logging.getLogger("feldera_events")

#: An API key or token, or a zero-argument callable (sync or async) returning one.
ApiKey: TypeAlias = str | Callable[[], str | Awaitable[str]]

#: Responses larger than this are refused (32 MiB), counted after decompression.
DEFAULT_MAX_BODY_SIZE: Final = 32 * 1024 * 1024

#: JSON nested deeper than this (objects and arrays, the outermost included) is refused
#: as a ResponseValidationError: serde_json, which the manager uses, stops at 128 too,
#: and everything accepted stays printable (repr, json.dumps, rich).
MAX_JSON_DEPTH: Final = 128

#: The content codings the client asks for and decodes itself (bounded by max_body_size).
ACCEPT_ENCODING: Final = "gzip, deflate"

LATEST: Final = "latest"
TENANT_HEADER: Final = "Feldera-Tenant"


def _check_timeout(name: str) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_: object, __: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(
                f"Timeouts.{name} must be a number of seconds > 0 or None, got {value!r}"
            )

    return check


@attrs.frozen(kw_only=True)
class Timeouts:
    """Per-request time limits, in seconds (None: no limit).

    ``connect`` bounds establishing a connection (TCP and TLS); ``request`` bounds one
    whole request, from sending it to reading the last byte of the answer. Neither is
    the overall deadline of a wait: waits take their own ``timeout=``.
    """

    connect: float | None = attrs.field(default=10.0, validator=_check_timeout("connect"))
    request: float | None = attrs.field(default=30.0, validator=_check_timeout("request"))

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.request, sock_connect=self.connect)


def check_pipeline_name(pipeline_name: object) -> str:
    """Validate a pipeline name (client side, before any request)."""
    if not isinstance(pipeline_name, str):
        raise TypeError(f"pipeline_name must be a string, got {type(pipeline_name).__name__}")
    if not pipeline_name:
        raise ValueError("pipeline_name must not be empty")
    if pipeline_name in (".", ".."):
        # A dot-segment: a normalising proxy would resolve it to another route.
        raise ValueError(f"pipeline_name must not be {pipeline_name!r}")
    return pipeline_name


def normalize_event_id(event_id: object) -> str:
    """``'latest'`` or a canonical UUID string; anything else is a ValueError."""
    if isinstance(event_id, uuid.UUID):
        return str(event_id)
    if not isinstance(event_id, str):
        raise TypeError(
            f"event_id must be 'latest', a UUID string or uuid.UUID, got {type(event_id).__name__}"
        )
    if event_id == LATEST:
        return LATEST
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        hint = " (did you mean 'latest'?)" if event_id.strip().lower() == LATEST else ""
        raise ValueError(f"event_id must be 'latest' or a UUID, got {event_id!r}{hint}") from None


def normalize_selector(selector: object) -> Selector:
    """A :class:`Selector` from a member or its string value; anything else is a ValueError."""
    if isinstance(selector, Selector) and selector.is_known:
        return selector
    if isinstance(selector, str) and selector in Selector._value2member_map_:
        return Selector(selector)
    allowed = ", ".join(repr(s.value) for s in Selector)
    raise ValueError(f"selector must be one of {allowed}, got {selector!r}")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _check_base_url(url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ValueError(f"url is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an http:// or https:// URL with a host, got {url!r}")
    if parts.username or parts.password:
        raise ValueError("url must not carry credentials; pass the API key as api_key=")
    if parts.query or parts.fragment:
        # Not echoed: a query string is where people put tokens by mistake.
        raise ValueError("url must not have a query string or fragment")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"url has an invalid port (not 1-65535): {url!r}") from None
    if port == 0:
        raise ValueError(f"url has an invalid port (not 1-65535): {url!r}")
    base = url.strip().rstrip("/")
    try:
        parsed = URL(base)
        host = parsed.raw_host
    except (ValueError, TypeError, UnicodeError):
        host = None
    if not host or any(ch.isspace() or _is_control(ch) for ch in parts.netloc):
        raise ValueError(f"url has an invalid host: {url!r}")
    return base


def _is_control(ch: str) -> bool:
    return ch < " " or ch == "\x7f"


_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _check_header_value(what: str, value: object) -> str:
    """``value`` if it can go into an HTTP header; a ValueError naming ``what`` if not.

    The value itself is never echoed (it may be a secret); the offending character
    and its position are.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    for index, ch in enumerate(value):
        if _is_control(ch):
            raise ValueError(
                f"{what} contains a control character (U+{ord(ch):04X} at position {index}),"
                " which is not allowed in an HTTP header"
            )
    return value


def _check_header_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"header names must be strings, got {type(name).__name__}")
    if not name or not set(name) <= _TOKEN_CHARS:
        raise ValueError(
            f"header name {name!r} is not a valid HTTP header name (letters, digits and "
            "!#$%&'*+-.^_`|~ only)"
        )
    return name


class JSONRefused(ValueError):
    """Valid JSON the client refuses: too deep, or a string that cannot be printed."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, at most MAX_JSON_DEPTH levels, printable strings.

    Raises ValueError with a readable reason for anything else.
    """
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise JSONRefused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    # Only containers are visited (a 720-event list costs a fraction of json.loads).
    todo: list[tuple[Any, int]] = [(data, 1)] if isinstance(data, dict | list) else []
    while todo:
        item, depth = todo.pop()
        if depth > MAX_JSON_DEPTH:
            raise JSONRefused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        for value in item.values() if type(item) is dict else item:
            if type(value) is dict or type(value) is list:
                todo.append((value, depth + 1))
    # A string can only hold a surrogate that UTF-8 cannot encode through a \uD8xx-\uDFxx
    # escape (raw bytes are decoded strictly): look for strings only if there is one.
    if _SURROGATE_ESCAPE.search(body):
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

    def feed(self, data: bytes, budget: int) -> bytes:
        """Decoded ``data``: at most ``budget + 1`` bytes (more than budget: too large)."""
        if self.mode is None:
            return data
        out: list[bytes] = []
        produced = 0
        while data:
            try:
                piece = self._obj.decompress(data, budget - produced + 1)
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
            if self._obj.eof and self._obj.unused_data:
                # The next member of a multi-member gzip stream.
                data = self._obj.unused_data
                self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)
                continue
            data = b""
        return b"".join(out)

    def finish(self) -> None:
        if self.mode is not None and self._fed and not self._obj.eof:
            raise ValueError(f"{self.mode} body ends before its compressed stream does")


def _scrub(exc: BaseException) -> BaseException:
    """``exc`` with the request headers (the API key among them) dropped from its chain.

    aiohttp's ``ClientResponseError`` keeps ``request_info`` (with every request
    header) and ``history`` (the responses, with their requests) in its attributes
    and ``args``; they are replaced by header-less copies.
    """
    seen: set[int] = set()
    item: BaseException | None = exc
    todo = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
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
        todo += [c for c in (item.__cause__, item.__context__) if c is not None]
    return exc


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


def _user_agent() -> str:
    from . import __version__

    return (
        f"feldera-events/{__version__} aiohttp/{aiohttp.__version__} "
        f"{platform.python_implementation()}/{platform.python_version()}"
    )


class EventsClient:
    """An async client for Feldera's pipeline monitor events API.

    Every argument is optional; unset ones come from the environment, with the names
    the official SDK uses: ``FELDERA_HOST`` (default ``http://localhost:8080``),
    ``FELDERA_API_KEY``, ``FELDERA_TENANT``, ``FELDERA_HTTPS_TLS_CERT`` (a CA bundle)
    and ``FELDERA_TLS_INSECURE``.

    Use it as an async context manager, or call :meth:`close` when done. One aiohttp
    session (one connection pool) serves every call; an injected ``session`` is used
    as it is and never closed by the client.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: ApiKey | None = None,
        tenant: str | None = None,
        timeout: Timeouts | float | None = None,
        retry: RetryPolicy | None = None,
        verify: bool | str | ssl.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        max_connections: int = 100,
    ) -> None:
        env = EnvConfig.from_env()
        self._url = _check_base_url(url if url is not None else env.host)
        key = api_key if api_key is not None else env.api_key
        if isinstance(key, str):
            key = _check_header_value("the API key", key) or None
        elif key is not None and not callable(key):
            raise TypeError("api_key must be a string or a zero-argument callable returning one")
        self._api_key: ApiKey | None = key
        # The keys a callable handed out lately: withheld from errors like a str key.
        self._recent_keys: deque[str] = deque(maxlen=4)
        tenant = tenant if tenant is not None else env.tenant
        if isinstance(timeout, Timeouts):
            self._timeouts = timeout
        elif timeout is None:
            self._timeouts = Timeouts()
        else:
            self._timeouts = Timeouts(request=timeout)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        self._retry = retry or RetryPolicy()
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 1
        ):
            raise ValueError(f"max_body_size must be a positive integer, got {max_body_size!r}")
        self._max_body_size = max_body_size
        if (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or max_connections < 1
        ):
            raise ValueError(f"max_connections must be a positive integer, got {max_connections!r}")
        self._max_connections = max_connections

        self._verify_given = verify is not None
        self._ssl: bool | ssl.SSLContext = self._ssl_setting(verify, env)

        base_headers = {
            "User-Agent": _user_agent(),
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if tenant:
            base_headers[TENANT_HEADER] = _check_header_value("the tenant", tenant)
        if headers is not None and not isinstance(headers, Mapping):
            raise TypeError(f"headers must be a mapping, got {type(headers).__name__}")
        for name, value in (headers or {}).items():
            name = _check_header_name(name)
            base_headers[name] = _check_header_value(f"the value of header {name!r}", value)
        self._tenant = tenant
        self._headers = base_headers
        self._aiohttp_timeout = self._timeouts.to_aiohttp()

        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._tls_probed = False

    @staticmethod
    def _ssl_setting(
        verify: bool | str | ssl.SSLContext | None, env: EnvConfig
    ) -> bool | ssl.SSLContext:
        if verify is None:
            verify = env.ca_cert if env.ca_cert else not env.insecure
        if isinstance(verify, ssl.SSLContext):
            return verify
        if isinstance(verify, bool):
            return verify
        if isinstance(verify, str | os.PathLike):
            path = os.fspath(verify)
            if not os.path.isfile(path):
                raise ValueError(
                    f"CA bundle {path!r} (verify= or FELDERA_HTTPS_TLS_CERT) does not exist"
                )
            try:
                return ssl.create_default_context(cafile=path)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"CA bundle {path!r} could not be loaded: {exc}") from None
        raise TypeError(
            f"verify must be a bool, a CA bundle path or an ssl.SSLContext, got {verify!r}"
        )

    # -- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL requests go to (without a trailing slash)."""
        return self._url

    @property
    def timeouts(self) -> Timeouts:
        return self._timeouts

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        key = "<set>" if self._api_key is not None else None
        return (
            f"EventsClient(url={self._url!r}, api_key={key}, tenant={self._tenant!r}, "
            f"closed={self._closed})"
        )

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's own session (an injected one is left open). Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this EventsClient is closed; create a new one")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl)
            # Our own session carries the fixed headers and timeouts, so a request
            # merges nothing it does not have to (see benchmarks/: per-request merging
            # is a measurable share of the client's CPU per request).
            headers = dict(self._headers)
            if isinstance(self._api_key, str):
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._aiohttp_timeout,
                headers=headers,
                raise_for_status=False,
            )
        return self._session

    def _connection_limit(self) -> int:
        """How many connections requests can use at once (0 or less: no limit)."""
        session = self._session
        connector = session.connector if session is not None else None
        if connector is not None:
            limit = connector.limit
            return limit if limit > 0 else 1 << 30
        return self._max_connections

    # -- public API ------------------------------------------------------------------

    async def get_event(
        self,
        pipeline_name: str,
        event_id: str | uuid.UUID = LATEST,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
    ) -> PipelineEvent:
        """One event of a pipeline: ``latest`` (the default) or the one with that id.

        Raises :class:`NoEventsYetError` for ``latest`` before the pipeline has any
        event, :class:`EventNotFoundError` for an id that is not (or no longer)
        retained, :class:`PipelineNotFoundError` for an unknown pipeline.
        """
        return await self._get_event(pipeline_name, event_id, selector=selector, retry=retry)

    async def list_events(
        self,
        pipeline_name: str,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
    ) -> list[PipelineEvent]:
        """Every retained event of a pipeline, newest first (``[]`` when it has none yet)."""
        return await self._list_events(pipeline_name, selector=selector, retry=retry)

    async def get_cluster_event(
        self,
        event_id: str | uuid.UUID = LATEST,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
    ) -> ClusterEvent:
        """One cluster monitor event: ``latest`` (the default) or the one with that id.

        Raises :class:`NoEventsYetError` for ``latest`` before the cluster monitor has
        recorded anything, :class:`EventNotFoundError` for an id that is not (or no
        longer) retained, :class:`ClusterEventsUnsupportedError` when the server has
        no cluster events endpoints (Feldera < v0.292).
        """
        return await self._get_cluster_event(event_id, selector=selector, retry=retry)

    async def list_cluster_events(
        self,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
    ) -> list[ClusterEvent]:
        """Every retained cluster monitor event, newest first.

        The list endpoint only sends the status fields. With ``selector="all"`` each
        event is then fetched in full, one request per event (up to 1000); events
        cleaned up in between are left out.
        """
        return await fetch_cluster_events(self, selector=selector, retry=retry)

    async def _get_cluster_event(
        self,
        event_id: str | uuid.UUID = LATEST,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> ClusterEvent:
        return await fetch_cluster_event(
            self, event_id, selector=selector, retry=retry, deadline=deadline
        )

    # -- internals (also used by the poller) -----------------------------------------

    async def _get_event(
        self,
        pipeline_name: str,
        event_id: str | uuid.UUID = LATEST,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> PipelineEvent:
        name = check_pipeline_name(pipeline_name)
        eid = normalize_event_id(event_id)
        sel = normalize_selector(selector)
        path = f"/v0/pipelines/{_segment(name)}/events/{eid}"
        data = await self._get_json(path, sel, retry=retry, deadline=deadline)
        where = f"{path}?selector={sel.value}"
        event: PipelineEvent = self._structure(structure, data, PipelineEvent, where)
        return event

    async def _list_events(
        self,
        pipeline_name: str,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> list[PipelineEvent]:
        name = check_pipeline_name(pipeline_name)
        sel = normalize_selector(selector)
        path = f"/v0/pipelines/{_segment(name)}/events"
        data = await self._get_json(path, sel, retry=retry, deadline=deadline)
        where = f"{path}?selector={sel.value}"
        return self._structure(structure_list, data, PipelineEvent, where)

    def _structure(
        self, fn: Callable[[Any, type[Any]], T], data: Any, cls: type[Any], path: str
    ) -> T:
        try:
            return fn(data, cls)
        except ResponseValidationError as exc:
            error = exc
        url = self._url + path
        keys = self._keys()
        if contains_key(data, keys) or contains_key(error.reason, keys):
            # Raised outside the except block, with no cause: cattrs' exceptions hold
            # the offending values, which may be the echoed key.
            raise ResponseValidationError(
                f"the body is not the documented shape (details and body {WITHHELD})",
                status_code=200,
                url=url,
            )
        raise ResponseValidationError(
            error.reason,
            status_code=200,
            body=excerpt(json.dumps(data, default=str)),
            url=url,
        ) from error.__cause__

    async def _get_json(
        self,
        path: str,
        selector: Selector | None,
        *,
        retry: RetryPolicy | None,
        deadline: float | None,
        accept: frozenset[int] = frozenset(),
    ) -> Any:
        session = self._ensure_session()
        query = f"?selector={selector.value}" if selector is not None else ""
        url = self._url + path + query
        policy = retry or self._retry

        async def attempt() -> Any:
            return await self._attempt(session, url, accept)

        describe = f"GET {urlsplit(url).path}{query}"
        try:
            return await call_with_retry(attempt, policy, describe=describe, deadline=deadline)
        except AuthenticationError:
            if not callable(self._api_key):
                raise
            if deadline is not None and time.monotonic() >= deadline:
                raise
            # A callable key may hand out a fresh token: ask it once more and retry once.
            logger.info(
                "%s: 401 with a callable api_key; resolving it again and retrying", describe
            )
            return await call_with_retry(attempt, policy, describe=describe, deadline=deadline)

    async def _resolve_key(self) -> str | None:
        key = self._api_key
        if key is None or isinstance(key, str):
            return key
        value = key()
        if inspect.isawaitable(value):
            value = await value
        if not isinstance(value, str):
            raise TypeError(f"the api_key callable returned {type(value).__name__}, not a string")
        value = _check_header_value("the API key (from the callable)", value)
        if value and value not in self._recent_keys:
            self._recent_keys.append(value)
        return value or None

    def _keys(self) -> list[str]:
        """Every key this client knows of (for withholding), newest first."""
        keys = list(reversed(self._recent_keys))
        if isinstance(self._api_key, str):
            keys.append(self._api_key)
        return keys

    async def _attempt(
        self, session: aiohttp.ClientSession, url: str, accept: frozenset[int] = frozenset()
    ) -> Any:
        """One GET; a JSON body for 2xx (and the statuses in ``accept``), else an error."""
        kwargs: dict[str, Any]
        key: str | None
        if self._owns_session:
            # Fixed headers, a str key and the timeouts are on the session already.
            kwargs = {}
            if self._api_key is None or isinstance(self._api_key, str):
                key = self._api_key
            else:
                key = await self._resolve_key()
                if key is not None:
                    kwargs["headers"] = {"Authorization": f"Bearer {key}"}
        else:
            headers = self._headers
            key = await self._resolve_key()
            if key is not None:
                headers = {**headers, "Authorization": f"Bearer {key}"}
            kwargs = {"headers": headers, "timeout": self._aiohttp_timeout}
            if self._verify_given:
                kwargs["ssl"] = self._ssl
        # Redirects are followed here, within the origin only (RedirectError otherwise),
        # and bodies are decoded here, within max_body_size.
        kwargs["allow_redirects"] = False
        kwargs["auto_decompress"] = False
        current = url
        visited = [url]
        while True:
            location: str | None = None
            try:
                async with session.get(URL(current, encoded=True), **kwargs) as resp:
                    status = resp.status
                    if 300 <= status < 400 and "Location" in resp.headers:
                        location = resp.headers["Location"]
                        body = b""
                    else:
                        body = await self._read_body(resp, current)
                    reason = resp.reason or ""
                    retry_after = resp.headers.get("Retry-After")
            except (ResponseValidationError, asyncio.CancelledError):
                raise
            except Exception as exc:
                raise await self._transport_error(exc, current) from _scrub(exc)
            if location is None:
                break
            current = self._follow(visited, location, status)
        if 200 <= status < 300 or status in accept:
            try:
                return parse_json(body)
            except JSONRefused as exc:
                problem = f"body refused: {exc}"
            except ValueError as exc:
                problem = f"body is not valid JSON ({exc})"
            # Raised outside the except block: a JSONDecodeError keeps the whole body
            # (up to max_body_size, possibly an echoed key) in its ``doc`` attribute.
            if contains_key(body, self._keys()):
                raise ResponseValidationError(
                    f"{problem}; body {WITHHELD}", status_code=status, url=current
                )
            raise ResponseValidationError(
                problem,
                status_code=status,
                body=excerpt(body),
                url=current,
            )
        # A server or proxy may echo the Authorization header back in an error page.
        raise self._status_error(status, reason, body, current, retry_after, self._keys())

    def _follow(self, visited: list[str], location: str, status: int) -> str:
        """The URL a same-origin redirect leads to; a RedirectError for anything else."""
        current = visited[-1]
        keys = self._keys()
        shown = f"(Location {WITHHELD})" if contains_key(location, keys) else None
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

    async def _transport_error(self, exc: Exception, url: str) -> Exception:
        """The feldera-events error for an exception raised while talking to ``url``."""
        origin = _origin(url)
        if isinstance(exc, TimeoutError):
            return APITimeoutError(
                f"GET {url} timed out (per-request timeouts: connect={self._timeouts.connect}s, "
                f"request={self._timeouts.request}s)",
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
            and not self._tls_probed
            and await self._speaks_tls(url)
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

    async def _speaks_tls(self, url: str) -> bool:
        """Whether the server at ``url`` completes a TLS handshake (certificate unchecked).

        Asked only after a plain-HTTP server hung up without a byte, which is what a TLS
        server does with a plain request.
        """
        # Once per client: a server that hangs up for other reasons (a restart, an
        # overloaded proxy) does not cost a probe on every retry.
        self._tls_probed = True
        parsed = URL(url, encoded=True)
        if parsed.host is None or parsed.port is None:
            return False
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        limit = min(self._timeouts.connect or 3.0, 3.0)
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(limit):
                _, writer = await asyncio.open_connection(parsed.host, parsed.port, ssl=context)
        except (OSError, TimeoutError, ssl.SSLError):
            return False
        finally:
            if writer is not None:
                writer.close()
                try:
                    async with asyncio.timeout(limit):
                        await writer.wait_closed()
                except (OSError, TimeoutError, ssl.SSLError):
                    pass
        return True

    async def _read_body(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        """The decoded body, read in chunks and refused once above max_body_size."""
        cap = self._max_body_size
        length = resp.content_length
        if length is not None and length > cap:
            raise ResponseTooLargeError(
                f"response body of {length} bytes is larger than max_body_size={cap}",
                status_code=resp.status,
                url=url,
            )
        encoding = resp.headers.get("Content-Encoding")
        try:
            decoder = _BodyDecoder(encoding)
        except ValueError as exc:
            problem = str(exc)
        else:
            problem = ""
        if problem:
            # Raised outside the except block: the ValueError holds the server's text.
            if contains_key(encoding, self._keys()):
                problem = f"unsupported Content-Encoding ({WITHHELD})"
            raise ResponseValidationError(problem, status_code=resp.status, url=url)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            try:
                data = decoder.feed(chunk, cap - size)
            except ValueError as exc:
                raise ResponseValidationError(str(exc), status_code=resp.status, url=url) from None
            size += len(data)
            if size > cap:
                what = "decoded " if decoder.mode else ""
                raise ResponseTooLargeError(
                    f"{what}response body is larger than max_body_size={cap} bytes "
                    "(stopped reading)",
                    status_code=resp.status,
                    url=url,
                )
            chunks.append(data)
        try:
            decoder.finish()
        except ValueError as exc:
            raise ResponseValidationError(str(exc), status_code=resp.status, url=url) from None
        return b"".join(chunks)

    @staticmethod
    def _status_error(
        status: int,
        reason: str,
        body: bytes,
        url: str,
        retry_after: str | None,
        keys: list[str] | None = None,
    ) -> APIStatusError:
        keys = keys or []
        error_code: str | None = None
        details: Any = None
        message = ""
        try:
            # Feldera's 401 is JSON served as text/plain: ignore the content type.
            data = parse_json(body) if body else None
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
        if contains_key(body, keys) or contains_key(reason, keys):
            # Left out whole, never edited: a short key may be part of ordinary words.
            # A known code is public text; any other code that holds the key goes too.
            if error_code not in NOT_FOUND_CODES and contains_key(error_code, keys):
                error_code = None
            message = f"message and body {WITHHELD}"
            details = None
            shown_body = ""
        cls = status_error_class(status, error_code)
        return cls(
            message,
            status_code=status,
            error_code=error_code,
            details=details,
            retry_after=_parse_retry_after(retry_after),
            url=url,
            body=shown_body,
        )

    # -- cluster health (appended) ------------------------------------------------------

    async def cluster_health(self, *, retry: RetryPolicy | None = None) -> ClusterHealth:
        """``GET /v0/cluster_healthz``: the health of each service, as ``fda cluster health``.

        The manager answers 200 when every service is healthy and 503 with the same
        body when one is not: both return a :class:`ClusterHealth` (check
        ``all_healthy``). One attempt unless ``retry`` says otherwise (a health check
        reports the present). Raises :class:`APIStatusError` for any other answer (also
        a 503 with a Feldera error body such as ``LockTookTooLong``).
        """
        path = CLUSTER_HEALTH_PATH
        data = await self._get_json(
            path,
            None,
            retry=retry or RetryPolicy(attempts=1),
            deadline=None,
            accept=frozenset({503}),  # "unhealthy", with the same HealthStatus body
        )
        try:
            return ClusterHealth.from_json(data)
        except ValueError as exc:
            if isinstance(data, dict) and isinstance(data.get("error_code"), str):
                # A 503 that is not about health (LockTookTooLong...): the usual error.
                body = json.dumps(data).encode()
                raise self._status_error(503, "", body, self._url + path, None) from None
            raise ResponseValidationError(
                f"not a HealthStatus: {exc}", url=self._url + path
            ) from None


CLUSTER_HEALTH_PATH: Final = "/v0/cluster_healthz"
