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
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self, TypeAlias, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import attrs
from yarl import URL

from ._cluster import ClusterEvent, fetch_cluster_event, fetch_cluster_events
from ._config import EnvConfig
from ._convert import structure, structure_list
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    ResponseTooLargeError,
    ResponseValidationError,
    excerpt,
    status_error_class,
)
from ._models import ClusterHealth, PipelineEvent, Selector
from ._retry import RetryPolicy, call_with_retry

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
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

#: Responses larger than this are refused unread (32 MiB).
DEFAULT_MAX_BODY_SIZE: Final = 32 * 1024 * 1024

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
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be an http:// or https:// URL with a host, got {url!r}")
    if parts.username or parts.password:
        raise ValueError("url must not carry credentials; pass the API key as api_key=")
    if parts.query or parts.fragment:
        # Not echoed: a query string is where people put tokens by mistake.
        raise ValueError("url must not have a query string or fragment")
    return url.strip().rstrip("/")


def _check_header_value(what: str, value: str) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError(f"{what} contains characters that are not allowed in an HTTP header")
    return value


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


def _redact(body: bytes, key: str | None) -> bytes:
    """``body`` with every occurrence of ``key`` replaced (keys never reach exception text)."""
    if key and key.encode() in body:
        return body.replace(key.encode(), b"<redacted>")
    return body


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
            key = _check_header_value("api_key", key) or None
        elif key is not None and not callable(key):
            raise TypeError("api_key must be a string or a zero-argument callable returning one")
        self._api_key: ApiKey | None = key
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

        base_headers = {"User-Agent": _user_agent(), "Accept": "application/json"}
        if tenant:
            base_headers[TENANT_HEADER] = _check_header_value("tenant", tenant)
        for name, value in (headers or {}).items():
            base_headers[name] = _check_header_value(f"header {name!r}", value)
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
            raise ResponseValidationError(
                exc.reason,
                status_code=200,
                body=excerpt(json.dumps(data, default=str)),
                url=self._url + path,
            ) from exc.__cause__

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
        return _check_header_value("the api_key callable's result", value) or None

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
        try:
            async with session.get(URL(url, encoded=True), **kwargs) as resp:
                body = await self._read_body(resp, url)
                status = resp.status
                reason = resp.reason or ""
                retry_after = resp.headers.get("Retry-After")
        except (ResponseValidationError, asyncio.CancelledError):
            raise
        except TimeoutError as exc:
            raise APITimeoutError(
                f"GET {url} timed out (per-request timeouts: connect={self._timeouts.connect}s, "
                f"request={self._timeouts.request}s)",
                url=url,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise APIConnectionError(f"cannot connect to {url}: {exc}", url=url) from exc
        except aiohttp.ClientError as exc:
            detail = str(exc) or type(exc).__name__
            raise APIConnectionError(f"connection error on GET {url}: {detail}", url=url) from exc
        except OSError as exc:
            raise APIConnectionError(f"connection error on GET {url}: {exc}", url=url) from exc
        if 200 <= status < 300 or status in accept:
            try:
                return json.loads(body)
            except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
                problem = str(exc)
            # Raised outside the except block: a JSONDecodeError keeps the whole body
            # (up to max_body_size, possibly an echoed key) in its ``doc`` attribute.
            raise ResponseValidationError(
                f"body is not valid JSON ({problem})",
                status_code=status,
                body=excerpt(_redact(body, key)),
                url=url,
            )
        # A server or proxy may echo the Authorization header back in an error page.
        raise self._status_error(status, reason, _redact(body, key), url, retry_after)

    async def _read_body(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        cap = self._max_body_size
        length = resp.content_length
        if length is not None and length > cap:
            raise ResponseTooLargeError(
                f"response body of {length} bytes is larger than max_body_size={cap}",
                status_code=resp.status,
                url=url,
            )
        if length is not None:
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > cap:
                raise ResponseTooLargeError(
                    f"response body is larger than max_body_size={cap} bytes (stopped reading)",
                    status_code=resp.status,
                    url=url,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _status_error(
        status: int, reason: str, body: bytes, url: str, retry_after: str | None
    ) -> APIStatusError:
        error_code: str | None = None
        details: Any = None
        message = ""
        try:
            # Feldera's 401 is JSON served as text/plain: ignore the content type.
            data = json.loads(body) if body else None
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            message = data["message"]
            code = data.get("error_code")
            error_code = code if isinstance(code, str) else None
            details = data.get("details")
        else:
            message = excerpt(body, limit=200) or reason or "no body"
        cls = status_error_class(status, error_code)
        return cls(
            message,
            status_code=status,
            error_code=error_code,
            details=details,
            retry_after=_parse_retry_after(retry_after),
            url=url,
            body=excerpt(body),
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
