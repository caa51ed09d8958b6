"""The exception tree and its messages."""

from __future__ import annotations

import pickle

import pytest
from helpers import event_json

import feldera_events
from feldera_events import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    DeploymentFailedError,
    DeploymentStoppedError,
    EventNotFoundError,
    FelderaError,
    NoEventsYetError,
    NotFoundError,
    PermissionDeniedError,
    PipelineEvent,
    PipelineNotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    WaitError,
    WaitTimeoutError,
)
from feldera_events._convert import structure
from feldera_events._errors import status_error_class
from feldera_events._text import excerpt


def test_every_public_error_derives_from_feldera_error() -> None:
    for name in feldera_events.__all__:
        obj = getattr(feldera_events, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, FelderaError), name


@pytest.mark.parametrize(
    ("child", "parents"),
    [
        (ClientClosedError, (FelderaError, RuntimeError)),
        (APITimeoutError, (APIConnectionError, TimeoutError)),
        (BadRequestError, (APIStatusError,)),
        (AuthenticationError, (APIStatusError,)),
        (PermissionDeniedError, (APIStatusError,)),
        (PipelineNotFoundError, (NotFoundError, APIStatusError)),
        (EventNotFoundError, (NotFoundError,)),
        (NoEventsYetError, (NotFoundError,)),
        (RateLimitError, (APIStatusError,)),
        (ServerError, (APIStatusError,)),
        (ResponseTooLargeError, (ResponseValidationError,)),
        (DeploymentStoppedError, (DeploymentFailedError, WaitError)),
        (WaitTimeoutError, (WaitError, TimeoutError)),
    ],
)
def test_tree(child: type[BaseException], parents: tuple[type[BaseException], ...]) -> None:
    for parent in parents:
        assert issubclass(child, parent)


def test_docstring_draws_every_class() -> None:
    from feldera_events import _errors

    doc = _errors.__doc__ or ""
    for name in _errors.__all__:
        assert name in doc, name


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "InvalidUuidParam", BadRequestError),
        (401, "AuthenticationFailed", AuthenticationError),
        (403, "InsufficientPermissions", PermissionDeniedError),
        (404, "UnknownPipelineName", PipelineNotFoundError),
        (404, "UnknownPipelineMonitorEvent", EventNotFoundError),
        (404, "NoPipelineMonitorEventsAvailable", NoEventsYetError),
        (404, "UnknownTenant", NotFoundError),
        (404, None, NotFoundError),
        (408, None, APIStatusError),
        (409, "X", APIStatusError),
        (429, None, RateLimitError),
        (500, "DbError", ServerError),
        (502, None, ServerError),
        (503, "LockTookTooLong", ServerError),
        (504, None, ServerError),
        (418, None, APIStatusError),
    ],
)
def test_status_error_class(status: int, code: str | None, cls: type[APIStatusError]) -> None:
    assert status_error_class(status, code) is cls


def test_status_error_text_and_repr() -> None:
    err = ServerError(
        "Lock took too long",
        status_code=503,
        error_code="LockTookTooLong",
        retry_after=5.0,
        url="http://h/v0/pipelines/p/events",
    )
    assert str(err) == (
        "HTTP 503 LockTookTooLong: Lock took too long (GET http://h/v0/pipelines/p/events)"
        " [Retry-After: 5s]"
    )
    assert repr(err) == (
        "ServerError(status_code=503, error_code='LockTookTooLong', message='Lock took too long')"
    )
    assert str(APIStatusError("", status_code=502)) == "HTTP 502"


def test_errors_pickle() -> None:
    ev = structure(event_json(), PipelineEvent)
    errors: list[FelderaError] = [
        PipelineNotFoundError("m", status_code=404, error_code="UnknownPipelineName", details={}),
        ResponseValidationError("bad", status_code=200, body="{}", url="http://h/x"),
        ResponseTooLargeError("big", url="http://h/x"),
        DeploymentFailedError("p", ev, error_code="E", message="m", details=[1]),
        DeploymentStoppedError("p", ev),
        WaitTimeoutError("p", timeout=1.0, elapsed=1.2, polls=3, last_event=ev),
        APITimeoutError("t", url="http://h/x"),
    ]
    for err in errors:
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err)
        assert str(again) == str(err)


def test_wait_errors_messages() -> None:
    ev = structure(event_json(deployment_has_error=True), PipelineEvent)
    assert "failed with E: m" in str(DeploymentFailedError("p", ev, error_code="E", message="m"))
    assert "stopped" in str(DeploymentStoppedError("p", ev))
    text = str(WaitTimeoutError("p", timeout=1.0, elapsed=1.25, polls=3, last_event=ev))
    assert "1.2s" in text
    assert "3 polls" in text
    assert "2026-08-20T10:11:12Z" in text
    assert "no event seen" in str(WaitTimeoutError("p", timeout=None, elapsed=0, polls=0))


def test_excerpt() -> None:
    assert excerpt(None) == ""
    assert excerpt(b"a\n  b\t c") == "a b c"
    assert excerpt(b"\xff") == "\ufffd"
    long = excerpt("x" * 1000, limit=10)
    assert long.startswith("x" * 10)
    assert "990 more characters" in long


def test_plain_404_on_a_cluster_route_is_a_row_of_the_status_table() -> None:
    from feldera_events import ClusterEventsUnsupportedError, NotFoundError

    assert status_error_class(404, None, "cluster") is ClusterEventsUnsupportedError
    assert status_error_class(404, None) is NotFoundError  # a pipeline route
    # A Feldera error code wins over the route's row.
    assert status_error_class(404, "NoClusterMonitorEventsAvailable", "cluster").__name__ == (
        "NoEventsYetError"
    )


def test_a_cluster_wait_timeout_has_every_attribute_of_a_wait_timeout() -> None:
    """A handler of WaitTimeoutError can read its attributes on the cluster's one too."""
    from feldera_events import ClusterWaitTimeoutError, WaitTimeoutError

    err = ClusterWaitTimeoutError(timeout=5, elapsed=5.0, polls=3, reached=False, url="http://h")
    plain = WaitTimeoutError("p", timeout=5, elapsed=5.0, polls=3)
    assert set(vars(plain)) <= set(vars(err))
    assert (err.pipeline_name, err.last_event, err.held_at_since, err.awaiting_approval) == (
        "",
        None,
        False,
        None,
    )
    assert str(err) == (
        "timed out after 5.0s waiting for the Feldera cluster to be healthy: the server at "
        "http://h was never reached (0 connection attempts)"
    )
