"""The exception hierarchy of feldera-events.

Everything this package raises on purpose derives from :class:`FelderaError`,
except client-side validation of arguments, which raises :class:`ValueError`
before any request is sent::

    FelderaError
    ├── ClientClosedError            (also RuntimeError) a call after close()
    ├── APIConnectionError           the server was not reached, or the connection broke
    │   └── APITimeoutError          (also TimeoutError) a per-request timeout
    ├── ConnectionSetupError         the server was reached but cannot be talked to as
    │                                configured (TLS verification, http vs https, not
    │                                HTTP): never retried, the message has a hint
    ├── APIStatusError               the server answered with an HTTP error status
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404
    │   │   ├── PipelineNotFoundError    UnknownPipelineName
    │   │   ├── EventNotFoundError       Unknown{Pipeline,Cluster}MonitorEvent (never existed or cleaned up)
    │   │   ├── NoEventsYetError         No{Pipeline,Cluster}MonitorEventsAvailable
    │   │   └── ClusterEventsUnsupportedError  plain 404 on a cluster route (Feldera < v0.292)
    │   ├── RateLimitError           429
    │   ├── ServerError              5xx
    │   └── RedirectError            3xx to another origin, or a redirect loop (not followed)
    ├── ResponseValidationError      a 2xx body that is not JSON or not the documented shape
    │   └── ResponseTooLargeError    a body above the client's size cap (not read)
    └── WaitError                    a wait ended without success
        ├── DeploymentFailedError    Stopped with a deployment error (carries the server's error)
        │   └── DeploymentStoppedError   the pipeline was stopped (desired Stopped) without an error
        ├── ApprovalRequiredError    it awaits approval of its changes (wait_for_approval=False)
        └── WaitTimeoutError         (also TimeoutError) the overall deadline passed
            └── ClusterWaitTimeoutError  ... waiting for the cluster to be healthy

No message, repr or attribute of these exceptions contains an API key: a server
text (body, message, details, ``Location``) that contains the key in any form a
server may echo it (raw, JSON-escaped, ``\\u``-escaped, percent-encoded: see
:func:`~feldera_events._text.contains_key`) is left out whole and the exception says
so (:data:`WITHHELD`); no other text is ever edited. ``str()`` of every one is a single
inert line (:func:`~feldera_events._text.safe_text`); the attributes keep the server's
exact text.
"""

from __future__ import annotations

from typing import Any

from ._text import CODE_LIMIT, MESSAGE_LIMIT, safe_text

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ClusterEventsUnsupportedError",
    "ConnectionSetupError",
    "EventNotFoundError",
    "FelderaError",
    "NoEventsYetError",
    "NotFoundError",
    "PermissionDeniedError",
    "PipelineNotFoundError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
]


class FelderaError(Exception):
    """Base class of every error raised by feldera-events.

    Every subclass pickles the same way: its message and its attributes as they are
    (none of them ever holds an API key), not its ``__init__`` arguments.
    """

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))

    def __str__(self) -> str:
        # One inert line whatever server text the message quotes (safe_text).
        return safe_text(super().__str__(), MESSAGE_LIMIT)


def _rebuild(cls: type[FelderaError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle a :class:`FelderaError` without calling its ``__init__``."""
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class ClientClosedError(FelderaError, RuntimeError):
    """A request was made on an :class:`EventsClient` that has been closed."""


class APIConnectionError(FelderaError):
    """The server could not be reached, or the connection broke before a full answer.

    ``url`` is the request URL (never with credentials); the underlying aiohttp or
    OS error is chained as ``__cause__``.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class APITimeoutError(APIConnectionError, TimeoutError):
    """A single request took longer than its per-request timeout (:class:`Timeouts`),
    or than what was left of its :class:`RetryPolicy` ``timeout``."""


class ConnectionSetupError(FelderaError):
    """The server was reached, but not in a way any retry can fix.

    TLS certificate verification failed, the URL says ``https://`` for a server that
    speaks plain HTTP (or the reverse), or the port does not speak HTTP at all. The
    message is one line and ends with a hint (``hint``); ``url`` is the request URL.
    The underlying aiohttp or ssl error, stripped of request headers, is chained as
    ``__cause__``. Never retried (it is not an :class:`APIConnectionError`).
    """

    def __init__(self, message: str, *, url: str | None = None, hint: str = "") -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.message = message
        self.url = url
        self.hint = hint


class APIStatusError(FelderaError):
    """The server answered with an HTTP error status.

    Attributes mirror Feldera's ``ErrorResponse`` where the body had one:
    ``error_code`` and ``message`` (``error_code`` is None and ``message`` an excerpt
    of the body when the body was not a Feldera error, such as a proxy's HTML page),
    ``details`` (None when absent), and ``retry_after`` in seconds when the response
    carried a ``Retry-After`` header.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str | None = None,
        details: Any = None,
        retry_after: float | None = None,
        method: str = "GET",
        url: str | None = None,
        body: str = "",
    ) -> None:
        self.status_code = status_code
        self.error_code = error_code
        self.message = message
        self.details = details
        self.retry_after = retry_after
        self.method = method
        self.url = url
        self.body = body
        # The server's texts, each bounded (safe_text): the attributes keep them whole.
        text = f"HTTP {status_code}"
        if error_code:
            text += f" {safe_text(error_code, CODE_LIMIT)}"
        if message:
            text += f": {safe_text(message)}"
        if url:
            text += f" ({method} {url})"
        if retry_after is not None:
            text += f" [Retry-After: {retry_after:g}s]"
        super().__init__(text)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"error_code={self.error_code!r}, message={self.message!r})"
        )


class BadRequestError(APIStatusError):
    """HTTP 400 (for example ``InvalidUuidParam``, or a rejected selector)."""


class AuthenticationError(APIStatusError):
    """HTTP 401: missing, wrong or expired API key or token."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key's role is not allowed to read this pipeline."""


class NotFoundError(APIStatusError):
    """HTTP 404 (the specific Feldera cases have their own subclasses)."""


class PipelineNotFoundError(NotFoundError):
    """404 ``UnknownPipelineName``: no pipeline of that name in the tenant."""


class EventNotFoundError(NotFoundError):
    """404 ``UnknownPipelineMonitorEvent`` / ``UnknownClusterMonitorEvent``: the event
    never existed or was cleaned up."""


class NoEventsYetError(NotFoundError):
    """404 ``NoPipelineMonitorEventsAvailable`` / ``NoClusterMonitorEventsAvailable``: no
    event recorded yet (for the pipeline, or for the cluster)."""


class ClusterEventsUnsupportedError(NotFoundError):
    """A plain 404 (no Feldera error body) on a cluster monitor route.

    The cluster events endpoints are new in Feldera v0.292; an older manager has no
    such route. ``error_code`` is None; the message quotes what the server said.
    """


class RateLimitError(APIStatusError):
    """HTTP 429."""


class ServerError(APIStatusError):
    """HTTP 5xx (503 ``LockTookTooLong`` and proxy 502/504 pages among them)."""


class RedirectError(APIStatusError):
    """A 3xx answer that was not followed.

    Feldera never redirects these routes; a redirect within the same origin (scheme,
    host and port) is followed, up to :data:`MAX_REDIRECTS` hops. A redirect to another
    origin is refused before anything is sent there (``location`` is the refused
    target), and so is a redirect loop. Never retried.
    """

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        self.location = location
        super().__init__(message, **kwargs)


#: How many same-origin redirects one request follows.
MAX_REDIRECTS = 5


class ResponseValidationError(FelderaError):
    """A successful response whose body is not JSON, or not the documented shape.

    ``reason`` is a readable description (from :func:`cattrs.transform_error` for
    shape errors), ``body`` a size-capped excerpt of what was received.
    """

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        body: str = "",
        url: str | None = None,
    ) -> None:
        self.reason = reason
        self.status_code = status_code
        self.body = body
        self.url = url
        text = f"invalid response: {reason}"
        if url:
            text += f" (GET {url}"
            text += f", HTTP {status_code})" if status_code is not None else ")"
        if body:
            text += f"; body: {body}"
        super().__init__(text)


class ResponseTooLargeError(ResponseValidationError):
    """The response body was larger than the client's ``max_body_size``; it was not read."""


STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}

NOT_FOUND_CODES: dict[str, type[NotFoundError]] = {
    "UnknownPipelineName": PipelineNotFoundError,
    "UnknownPipelineMonitorEvent": EventNotFoundError,
    "NoPipelineMonitorEventsAvailable": NoEventsYetError,
    # Cluster monitor events: the same situations, for the cluster (the DB error names
    # the manager uses as error codes; FakeFeldera sends them too).
    "UnknownClusterMonitorEvent": EventNotFoundError,
    "NoClusterMonitorEventsAvailable": NoEventsYetError,
}


def status_error_class(
    status_code: int, error_code: str | None, route: str = "pipeline"
) -> type[APIStatusError]:
    """The exception class for an HTTP error status and Feldera error code on a route.

    ``route`` is ``"pipeline"`` or ``"cluster"`` (the kind of route that answered).
    """
    if status_code == 404 and error_code in NOT_FOUND_CODES:
        return NOT_FOUND_CODES[error_code]
    if status_code == 404 and error_code is None and route == "cluster":
        # No cluster routes at all: a manager older than the cluster events (v0.292).
        return ClusterEventsUnsupportedError
    if status_code >= 500:
        return ServerError
    return STATUS_CLASSES.get(status_code, APIStatusError)
