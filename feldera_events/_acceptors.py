"""What a wait is made of, as data: results, the decisions a machine answers with,
acceptors (what ends a wait) and since points. No I/O, no state machine.

The machines that use them are in :mod:`feldera_events._waits`.
"""

from __future__ import annotations

import datetime as _dt
import enum
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, TypeAlias

import attrs

from ._errors import (
    NoEventsYetError,
    PipelineNotFoundError,
)
from ._fields import Selector
from ._pipeline_event import PipelineEvent, ResourcesDesiredStatus, ResourcesStatus
from ._wait_errors import DeploymentStoppedError

#: Enum members bound once: ``Enum.MEMBER`` is a descriptor lookup on Python 3.11
#: (~0.3 µs, several per poll), a module global is not. Same objects, same tests.
_PROVISIONED: Final = ResourcesStatus.PROVISIONED
_STOPPED: Final = ResourcesStatus.STOPPED
_STOPPING_OR_STOPPED: Final = (ResourcesStatus.STOPPING, ResourcesStatus.STOPPED)
_DESIRED_PROVISIONED: Final = ResourcesDesiredStatus.PROVISIONED
_DESIRED_STOPPED: Final = ResourcesDesiredStatus.STOPPED

# -- results -----------------------------------------------------------------------------


class Verdict(enum.Enum):
    """What an acceptor says about an event (``CONTINUE`` is Smithy's *retry*)."""

    SUCCESS = "success"
    FAILURE = "failure"
    CONTINUE = "continue"


class Outcome(enum.Enum):
    """How one wait of :meth:`Poller.wait_many` / :meth:`Poller.as_completed` ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    ERROR = "error"
    CANCELLED = "cancelled"
    #: It waits for someone to approve its changes, and the wait was told not to wait.
    AWAITING_APPROVAL = "awaiting_approval"


#: ``until=`` of :meth:`Poller.wait_many` / :meth:`Poller.as_completed`: what a wait is for.
Until: TypeAlias = Literal["provisioned", "running"]


@attrs.frozen
class WaitResult:
    """The outcome of one pipeline's wait in :meth:`Poller.wait_many`, and how it was
    reached: :attr:`until` (what the wait was for) and :attr:`stopped`."""

    pipeline_name: str
    outcome: Outcome
    #: The final event (success), the failed event, or the last event seen.
    event: PipelineEvent | None
    #: The exception that ended the wait (None on success).
    error: BaseException | None
    #: Seconds from the start of the wait to its end.
    elapsed: float
    #: What the wait was for: ``"provisioned"`` or ``"running"``.
    until: Until = "provisioned"

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED

    @property
    def stopped(self) -> bool:
        """Failed because someone stopped the pipeline (:class:`DeploymentStoppedError`)."""
        return self.outcome is Outcome.FAILED and isinstance(self.error, DeploymentStoppedError)


# -- requests and decisions ----------------------------------------------------------------


@attrs.frozen
class Request:
    """A request a machine needs: ``op`` ``"event"`` (one event, ``latest`` or an id),
    ``"list"`` (every retained event) or ``"cluster"`` (the latest cluster event)."""

    op: Literal["event", "list", "cluster"]
    event_id: str | uuid.UUID = "latest"
    selector: Selector = Selector.STATUS


LATEST: Final = Request("event")
CLUSTER: Final = Request("cluster")


@attrs.frozen
class PollAt:
    at: float
    request: Request = LATEST
    emit: tuple[Any, ...] = ()


@attrs.frozen
class Need:
    request: Request
    emit: tuple[Any, ...] = ()


@attrs.frozen
class Succeed:
    event: Any
    emit: tuple[Any, ...] = ()


@attrs.frozen
class Fail:
    error: BaseException
    emit: tuple[Any, ...] = ()
    #: When the wait ends (its deadline, for a timeout); None: now.
    at: float | None = None


Decision: TypeAlias = PollAt | Need | Succeed | Fail

_CONTINUE: Final = Verdict.CONTINUE


# -- acceptors ------------------------------------------------------------------------------


@attrs.define
class Seen:
    """What a pipeline wait has seen (from ``since`` on); acceptors may read it.

    ``desired_provisioned``: it was asked to be provisioned and was not yet.
    ``being_stopped``: someone was stopping it (desired ``Stopped`` while its resources
    were not), noted only with ``count_stops``, for a wait without ``since``: the stop
    will end the wait, as stopped or failed. After a ``since``, a stop may be the first
    half of a restart, which the caller waits for.
    """

    count_stops: bool = True
    desired_provisioned: bool = False
    being_stopped: bool = False

    def observe(self, ev: PipelineEvent) -> None:
        resources = ev.deployment_resources_status
        desired = ev.deployment_resources_desired_status
        if resources is not _PROVISIONED and desired is _DESIRED_PROVISIONED:
            self.desired_provisioned = True
        elif self.count_stops and resources is not _STOPPED and desired is _DESIRED_STOPPED:
            self.being_stopped = True


@attrs.frozen
class Acceptor:
    """``state`` when ``matcher(event, seen)``; ``stopped`` marks a stop without an error."""

    state: Verdict
    matcher: Callable[[PipelineEvent, Seen], bool]
    stopped: bool = False


@attrs.frozen
class ErrorAcceptor:
    """``state`` (``CONTINUE`` or ``FAILURE``) for an error of type ``error``."""

    state: Verdict
    error: type[BaseException]


def _stopping(ev: PipelineEvent) -> bool:
    return (
        ev.deployment_resources_status in _STOPPING_OR_STOPPED
        and ev.deployment_resources_desired_status is _DESIRED_STOPPED
    )


def _up(ev: PipelineEvent) -> bool:
    return (
        ev.deployment_resources_status is _PROVISIONED  # ev.is_provisioned
        and ev.deployment_resources_desired_status is _DESIRED_PROVISIONED
    )


_STEADY_RUNTIME: Final = frozenset({"Running", "Paused", "Standby"})


def _running(ev: PipelineEvent) -> bool:
    runtime, desired = ev.deployment_runtime_status, ev.deployment_runtime_desired_status
    return (
        _up(ev)
        and runtime is not None
        and desired is not None
        and runtime.value == desired.value
        and runtime.value in _STEADY_RUNTIME
    )


#: Failed (the error is set on the move to Stopping and only a new /start clears it), or
#: stopped by someone after it had asked to be provisioned, or while the wait saw it.
_FAILURES: Final = (
    Acceptor(Verdict.FAILURE, lambda ev, seen: _stopping(ev) and ev.deployment_has_error),
    Acceptor(
        Verdict.FAILURE,
        lambda ev, seen: _stopping(ev) and (seen.desired_provisioned or seen.being_stopped),
        stopped=True,
    ),
)
#: Provisioned, and still meant to be (desired Provisioned: not being stopped).
PROVISIONED: Final = (*_FAILURES, Acceptor(Verdict.SUCCESS, lambda ev, seen: _up(ev)))
#: Provisioned and the runtime at its desired status (Running, Paused or Standby).
RUNNING: Final = (*_FAILURES, Acceptor(Verdict.SUCCESS, lambda ev, seen: _running(ev)))
STOPPED: Final = (
    Acceptor(
        Verdict.SUCCESS,
        lambda ev, seen: ev.deployment_resources_status is _STOPPED,
    ),
)


def condition_acceptors(
    condition: Callable[[PipelineEvent], bool],
    failure: Callable[[PipelineEvent], bool] | None,
) -> tuple[Acceptor, ...]:
    """The acceptors of :meth:`Poller.wait_for` (``failure`` checked first)."""
    success = Acceptor(Verdict.SUCCESS, lambda ev, seen: condition(ev))
    if failure is None:
        return (success,)
    return (Acceptor(Verdict.FAILURE, lambda ev, seen: failure(ev)), success)


def pipeline_error_acceptors(wait_for_pipeline: bool) -> tuple[ErrorAcceptor, ...]:
    unknown = Verdict.CONTINUE if wait_for_pipeline else Verdict.FAILURE
    return (
        ErrorAcceptor(Verdict.CONTINUE, NoEventsYetError),
        ErrorAcceptor(unknown, PipelineNotFoundError),
    )


def accept(
    acceptors: Sequence[Acceptor], ev: PipelineEvent, seen: Seen
) -> tuple[Verdict, Acceptor | None]:
    for acceptor in acceptors:
        if acceptor.matcher(ev, seen):
            return acceptor.state, acceptor
    return _CONTINUE, None


# -- since ---------------------------------------------------------------------------------

_BEGINNING: Final = _dt.datetime.min.replace(tzinfo=_dt.UTC)


def is_duplicate(ev: PipelineEvent, previous: PipelineEvent) -> bool:
    """A heartbeat duplicate: the same status fields, details and error as before."""
    return (
        ev.same_status(previous)
        and ev.deployment_error == previous.deployment_error
        and ev.deployment_resources_status_details == previous.deployment_resources_status_details
        and ev.deployment_runtime_status_details == previous.deployment_runtime_status_details
        and ev.storage_status_details == previous.storage_status_details
    )


def order_key(ev: PipelineEvent) -> tuple[_dt.datetime, uuid.UUID]:
    """The server's order of events: ``recorded_at``, then id."""
    return (ev.recorded_at, ev.event_id)


@attrs.frozen
class SincePoint:
    """Events at or before this point are never terminal.

    From an event: exact, by ``(recorded_at, event_id)`` (events of one transaction
    share a ``recorded_at``). From an id that was cleaned up: UUIDv7 order of the ids.
    From a datetime: ``recorded_at`` alone. ``latest``: the event was the server's latest
    when the wait began (``since="now"``), so any other event a later poll of ``latest``
    answers is newer, whatever its date (:meth:`hides`).
    """

    recorded_at: _dt.datetime | None
    event_id: uuid.UUID | None = None
    event: PipelineEvent | None = None
    latest: bool = False

    @classmethod
    def of(cls, ev: PipelineEvent, *, latest: bool = False) -> SincePoint:
        return cls(ev.recorded_at, ev.event_id, ev, latest)

    def hides(self, polled: PipelineEvent) -> bool:
        """Whether ``polled``, a poll's ``latest``, is at or before this point (never
        terminal): an anchor the server dated in the future hides no later event."""
        if self.latest and polled.event_id != self.event_id:
            return False
        return self.covers(polled)

    def covers(self, ev: PipelineEvent) -> bool:
        if self.recorded_at is not None and self.event_id is not None:
            return order_key(ev) <= (self.recorded_at, self.event_id)
        if self.event_id is not None:
            return ev.event_id.int <= self.event_id.int
        assert self.recorded_at is not None
        return ev.recorded_at <= self.recorded_at


BEGINNING: Final = SincePoint(_BEGINNING)


def parse_since(since: object) -> SincePoint | uuid.UUID | Literal["now"]:
    """A resolved :class:`SincePoint`, or what the machine must read first (an id, ``"now"``)."""
    if isinstance(since, PipelineEvent):
        return SincePoint.of(since)
    if isinstance(since, _dt.datetime):
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError("since must be a timezone-aware datetime (e.g. with tzinfo=UTC)")
        return SincePoint(since)
    if isinstance(since, uuid.UUID):
        return since
    if isinstance(since, str):
        if since == "now":
            return "now"
        try:
            return uuid.UUID(since)
        except ValueError:
            raise ValueError(
                "since must be an event, an event id (UUID), an aware datetime or 'now', "
                f"got {since!r}"
            ) from None
    raise TypeError(
        "since must be a PipelineEvent, an event id, a datetime or 'now', "
        f"got {type(since).__name__}"
    )
