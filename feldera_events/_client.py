"""EventsClient: the public client (session, keys, the routes, retries around each request)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import ssl
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self, TypeAlias, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from ._answers import json_body, shape_error, status_error
from ._body import value_budget
from ._cluster_event import ClusterEvent, ClusterHealth
from ._config import EnvConfig, Timeouts, user_agent
from ._convert import structure, structure_list
from ._errors import (
    AuthenticationError,
    ClientClosedError,
    EventNotFoundError,
    ResponseValidationError,
)
from ._fields import Selector
from ._pipeline_event import PipelineEvent
from ._policies import RetryPolicy
from ._retry import call_with_retry
from ._status_event import structure_status_event
from ._transport import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_BODY_SIZE,
    follow,
    read_body,
    scrub,
    speaks_tls,
    transport_error,
)
from ._validate import (
    LATEST,
    check_base_url,
    check_header_value,
    check_headers,
    check_pipeline_name,
    check_positive_int,
    normalize_event_id,
    normalize_selector,
    ssl_setting,
)

__all__ = ["CLUSTER_EVENTS_PATH", "ApiKey", "EventsClient", "attempt_bound"]

M = TypeVar("M")  # a model
R = TypeVar("R")  # a model, or a list of them
logger = logging.getLogger("feldera_events")

#: An API key or token, or a zero-argument callable (sync or async) returning one.
ApiKey: TypeAlias = str | Callable[[], str | Awaitable[str]]

#: ``list_cluster_events(selector="all")`` fetches each event in full with this many
#: requests in flight at most, for this many events at most (the newest).
_FULL_FETCH_CONCURRENCY: Final = 8
_FULL_FETCH_LIMIT: Final = 1000

#: How many checked pipeline names (with their event paths) a client remembers.
_PATH_CACHE_SIZE: Final = 1024

#: What an attempt may take past ``Timeouts.request``: aiohttp ends a request on the
#: loop's clock, rounding a timeout of more than 5 s up to the next whole second. The
#: redirects' hops and the TLS probe (:func:`speaks_tls`) share the request's time.
_ATTEMPT_SLACK: Final = 1.0

CLUSTER_EVENTS_PATH: Final = "/v0/cluster/events"
#: What every entry of ``GET /v0/pipelines?selector=status`` must hold for fleet polling
#: to tell a change (required by the spec): without them, the list is refused.
_LISTED_STATUS_FIELDS: Final = frozenset(
    {"deployment_status", "deployment_resources_status", "deployment_resources_status_since"}
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
        self._url = check_base_url(url if url is not None else env.host)
        self._base_path = urlsplit(self._url).path  # for log lines
        key = api_key if api_key is not None else env.api_key
        if isinstance(key, str):
            key = check_header_value("the API key", key) or None
        elif key is not None and not callable(key):
            raise TypeError("api_key must be a string or a zero-argument callable returning one")
        self._api_key: ApiKey | None = key
        # The keys a callable handed out lately: withheld from errors like a str key.
        self._recent_keys: deque[str] = deque(maxlen=4)
        self._timeouts = Timeouts.of(timeout)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        self._retry = retry or RetryPolicy()
        self._max_body_size = check_positive_int("max_body_size", max_body_size)
        self._max_connections = check_positive_int("max_connections", max_connections)
        self._max_values = value_budget(self._max_body_size)

        self._verify_given = verify is not None
        self._ssl = ssl_setting(verify if verify is not None else env.ca_cert or not env.insecure)

        self._tenant = tenant if tenant is not None else env.tenant
        self._headers = {
            "User-Agent": user_agent(),
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            **check_headers(self._tenant, headers),
        }
        self._aiohttp_timeout = self._timeouts.to_aiohttp()

        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        if session is not None and "Authorization" in session.headers:
            raise ValueError(
                "the session= carries an Authorization header: pass the API key as api_key= "
                "(withheld from every error) and a session without it"
            )
        self._session = session
        self._owns_session = session is None
        # A callable key is asked per request; a str one is on our own session.
        fixed = None if self._owns_session or not isinstance(key, str) else key
        self._fixed_kwargs = None if callable(key) else self._options(fixed)
        self._closed = False
        self._tls_probed = False
        # Pipeline name -> its checked, quoted ``latest?selector=status`` path (the
        # polls' request): get_event checks a name once per client, not once per call.
        self._latest_paths: dict[str, str] = {}
        # How long one attempt can last by its own timeouts (None: unbounded; a callable
        # key is asked outside them): see attempt_bound().
        self._attempt_bound: float | None = (
            self._timeouts.request + _ATTEMPT_SLACK
            if self._timeouts.request is not None and not callable(self._api_key)
            else None
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

    def connection_limit(self) -> int:
        """How many requests can be in flight at once over this client's connection pool.

        Without a session yet, the ``max_connections`` it will get; a pool without a
        limit counts as a very large number.
        """
        session = self._session
        connector = session.connector if session is not None else None
        if connector is not None:
            limit = connector.limit
            return limit if limit > 0 else 1 << 30
        return self._max_connections

    # -- the four routes ---------------------------------------------------------------

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
        # The polls' request, for a name this client has checked before: checked once.
        polls = event_id is LATEST and selector is Selector.STATUS and type(pipeline_name) is str
        path = self._latest_paths.get(pipeline_name) if polls else None
        if path is None:
            name = check_pipeline_name(pipeline_name)
            eid = normalize_event_id(event_id)
            sel = normalize_selector(selector)
            path = f"/v0/pipelines/{quote(name, safe='')}/events/{eid}?selector={sel.value}"
            if polls:
                if len(self._latest_paths) >= _PATH_CACHE_SIZE:
                    self._latest_paths.clear()
                self._latest_paths[pipeline_name] = path
        data = await self._get_json(path, retry=retry)
        # The hand-written hook first (what the converter would try first too).
        if type(data) is dict and (event := structure_status_event(data)) is not None:
            return event
        return self._structure(structure, data, PipelineEvent, path)

    async def list_events(
        self,
        pipeline_name: str,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
    ) -> list[PipelineEvent]:
        """Every retained event of a pipeline, newest first (``[]`` when it has none yet)."""
        name = check_pipeline_name(pipeline_name)
        sel = normalize_selector(selector)
        path = f"/v0/pipelines/{quote(name, safe='')}/events?selector={sel.value}"
        data = await self._get_json(path, retry=retry)
        return self._structure(structure_list, data, PipelineEvent, path)

    async def _pipeline_statuses(self, *, retry: RetryPolicy | None = None) -> list[dict[str, Any]]:
        """Every pipeline's entry of ``GET /v0/pipelines?selector=status`` as the manager
        sends it, for fleet polling (``_shared_poll``), which compares entries and types none.

        Raises :class:`ResponseValidationError` for any other shape, and for entries
        without the status fields that tell a change (a list that could never show one).
        """
        path = "/v0/pipelines?selector=status"
        data = await self._get_json(path, retry=retry)
        if type(data) is not list or not all(
            type(entry) is dict
            and type(entry.get("name")) is str
            and entry.keys() >= _LISTED_STATUS_FIELDS
            for entry in data
        ):
            raise ResponseValidationError(
                "not a list of pipelines, each with a name and "
                + ", ".join(sorted(_LISTED_STATUS_FIELDS)),
                url=self._url + path,
            )
        return data

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
        eid = normalize_event_id(event_id)
        sel = normalize_selector(selector)
        path = f"{CLUSTER_EVENTS_PATH}/{eid}?selector={sel.value}"
        data = await self._get_json(path, retry=retry, route="cluster")
        return self._structure(structure, data, ClusterEvent, path)

    async def list_cluster_events(
        self,
        *,
        selector: Selector | str = Selector.STATUS,
        retry: RetryPolicy | None = None,
    ) -> list[ClusterEvent]:
        """Every retained cluster monitor event, newest first.

        The list endpoint only sends the status fields. With ``selector="all"`` each
        event is then fetched in full, one request per event, 8 at a time, for the
        newest 1000 at most (older ones are left out, and a warning says how many);
        events cleaned up in between are left out.
        """
        sel = normalize_selector(selector)
        # The list endpoint takes no selector and always sends the status fields.
        data = await self._get_json(CLUSTER_EVENTS_PATH, retry=retry, route="cluster")
        events: list[ClusterEvent] = self._structure(
            structure_list, data, ClusterEvent, CLUSTER_EVENTS_PATH
        )
        if sel is not Selector.ALL:
            return events
        if len(events) > _FULL_FETCH_LIMIT:
            left, events = len(events) - _FULL_FETCH_LIMIT, events[:_FULL_FETCH_LIMIT]
            logger.warning("cluster events: the newest 1000 read in full, %d older left out", left)
        # Each event again by a few workers: never more requests, nor tasks, in flight.
        results: list[ClusterEvent | None] = [None] * len(events)
        todo = iter(enumerate(events))

        async def worker() -> None:
            for index, ev in todo:  # shared: each event goes to one worker
                try:
                    results[index] = await self.get_cluster_event(
                        ev.id, selector=Selector.ALL, retry=retry
                    )
                except EventNotFoundError:
                    logger.debug("cluster event %s was cleaned up before it could be read", ev.id)

        # gather, not a TaskGroup: the caller gets the first error itself, not an
        # ExceptionGroup; the other workers are cancelled and awaited before it propagates.
        count = min(_FULL_FETCH_CONCURRENCY, len(events))
        tasks = [asyncio.ensure_future(worker()) for _ in range(count)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return [full for full in results if full is not None]

    # -- one request -------------------------------------------------------------------

    def _structure(self, fn: Callable[[Any, type[M]], R], data: Any, cls: type[M], path: str) -> R:
        try:
            return fn(data, cls)
        except ResponseValidationError as exc:
            error = exc
        # Raised outside the except block: the converter's error is chained only when
        # it shows no key (shape_error).
        raise shape_error(error, data, self._url + path, self._keys())

    async def _get_json(
        self,
        path: str,
        *,
        retry: RetryPolicy | None,
        route: str = "pipeline",
        accept: frozenset[int] = frozenset(),
    ) -> Any:
        """The parsed JSON of a GET on ``path`` (with its query), retried by ``retry`` (the
        client's policy when None); ``route`` (``"pipeline"`` or ``"cluster"``) picks the
        status table row."""
        session = self._ensure_session()
        url = self._url + path
        policy = retry or self._retry
        # A partial, not a closure: one coroutine layer less per request.
        attempt = functools.partial(self._attempt, session, url, route, accept)
        describe = f"GET {self._base_path}{path}"
        bound = self._attempt_bound
        try:
            return await call_with_retry(attempt, policy, describe=describe, ends_within=bound)
        except AuthenticationError:
            if not callable(self._api_key):
                raise
            # A callable key may hand out a fresh token: ask it once more and retry once.
            logger.info("%s: 401 with a callable api_key; resolving it again, retrying", describe)
            return await call_with_retry(attempt, policy, describe=describe, ends_within=bound)

    async def _resolve_key(self) -> str | None:
        key = self._api_key
        if key is None or isinstance(key, str):
            return key
        value = key()
        if inspect.isawaitable(value):
            value = await value
        if not isinstance(value, str):
            raise TypeError(f"the api_key callable returned {type(value).__name__}, not a string")
        value = check_header_value("the API key (from the callable)", value)
        if value and value not in self._recent_keys:
            self._recent_keys.append(value)
        return value or None

    def _keys(self) -> list[str]:
        """Every key this client knows of (for withholding), newest first."""
        keys = list(reversed(self._recent_keys))
        if isinstance(self._api_key, str):
            keys.append(self._api_key)
        return keys

    def _options(self, key: str | None) -> dict[str, Any]:
        """A request's keyword arguments, ``key`` sent with it (None: none, or on the session).

        Redirects are followed by :meth:`_attempt` (same origin only, :func:`follow`),
        bodies decoded by :func:`read_body`; our own session carries the fixed headers,
        a str key and the timeouts.
        """
        options: dict[str, Any] = {"allow_redirects": False, "auto_decompress": False}
        headers = {} if self._owns_session else dict(self._headers)
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if headers:
            options["headers"] = headers
        if not self._owns_session:
            options["timeout"] = self._aiohttp_timeout
            if self._verify_given:
                options["ssl"] = self._ssl
        return options

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        url: str,
        route: str,
        accept: frozenset[int] = frozenset(),
    ) -> Any:
        """One GET; a JSON body for 2xx (and the statuses in ``accept``), else an error."""
        kwargs = self._fixed_kwargs or self._options(await self._resolve_key())
        current = url
        visited = [url]
        # The hops of a redirect share one request timeout: the attempt as a whole
        # ends within Timeouts.request (call_with_retry relies on it, see ends_within).
        hop_deadline = time.monotonic() + self._timeouts.request if self._timeouts.request else None
        while True:
            location: str | None = None
            try:
                async with session.get(URL(current, encoded=True), **kwargs) as resp:
                    status = resp.status
                    if 300 <= status < 400 and "Location" in resp.headers:
                        location = resp.headers["Location"]
                        body = b""
                    else:
                        body = await read_body(resp, current, self._max_body_size, self._keys)
                    reason, retry_after = resp.reason or "", resp.headers.get("Retry-After")
            except (ResponseValidationError, asyncio.CancelledError):
                raise
            except Exception as exc:
                if session.closed:  # given to us (session=), closed by its owner
                    msg = "the aiohttp session given as session= is closed"
                    raise ClientClosedError(msg) from None
                probe = (
                    None
                    if self._tls_probed
                    else functools.partial(self._probe_tls, until=hop_deadline)
                )
                cause = scrub(exc, self._keys())  # before the message is made from it
                raise await transport_error(exc, current, self._timeouts, probe) from cause
            if location is None:
                break
            current = follow(visited, location, status, self._keys())
            if hop_deadline is not None:
                kwargs = {
                    **kwargs,
                    "timeout": aiohttp.ClientTimeout(
                        total=max(hop_deadline - time.monotonic(), 0.001),
                        sock_connect=self._timeouts.connect,
                    ),
                }
        if 200 <= status < 300 or status in accept:
            return json_body(body, status, current, self._keys, self._max_values)
        # A server or proxy may echo the Authorization header back in an error page.
        raise status_error(status, reason, body, current, retry_after, self._keys(), route)

    async def _probe_tls(self, url: str, *, until: float | None) -> bool:
        # Once per client: a server that hangs up for other reasons (a restart, an
        # overloaded proxy) does not cost a probe on every retry. Within the attempt's time.
        self._tls_probed = True
        left = None if until is None else until - time.monotonic()
        return await speaks_tls(url, self._timeouts.connect, left)

    # -- cluster health ---------------------------------------------------------------

    async def cluster_health(self, *, retry: RetryPolicy | None = None) -> ClusterHealth:
        """``GET /v0/cluster_healthz``: the health of each service, as ``fda cluster health``.

        The manager answers 200 when every service is healthy and 503 with the same
        body when one is not: both return a :class:`ClusterHealth` (check
        ``all_healthy``). One attempt unless ``retry`` says otherwise (a health check
        reports the present). Raises :class:`APIStatusError` for any other answer (also
        a 503 with a Feldera error body such as ``LockTookTooLong``).
        """
        path = "/v0/cluster_healthz"
        data = await self._get_json(
            path,
            retry=retry or RetryPolicy(attempts=1),
            route="cluster",
            accept=frozenset({503}),  # "unhealthy", with the same HealthStatus body
        )
        try:
            return ClusterHealth.from_json(data)
        except ValueError as exc:
            if isinstance(data, dict) and isinstance(data.get("error_code"), str):
                # A 503 that is not about health (LockTookTooLong...): the usual error.
                body = json.dumps(data).encode()
                raise status_error(
                    503, "", body, self._url + path, None, self._keys(), "cluster"
                ) from None
            raise ResponseValidationError(
                f"not a HealthStatus: {exc}", url=self._url + path
            ) from None


def attempt_bound(client: EventsClient) -> float | None:
    """How long one attempt of ``client``'s can last by its own timeouts, in seconds (None:
    nothing bounds it). The one bound: a retry loop skips its own timer for an attempt
    that ends within it (:func:`call_with_retry`), and so does a wait's driver for a
    request that ends before the wait's deadline."""
    return client._attempt_bound
