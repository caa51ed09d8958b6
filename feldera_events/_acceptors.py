"""What ends a wait, as data: acceptors, and the table of the waits made of them.

As in botocore's waiters and Smithy's waiter rules, an :class:`Acceptor` is a matcher
and a state (``SUCCESS``, ``FAILURE``, or ``CONTINUE``, Smithy's *retry*); the first
that matches decides. A matcher is a plain function of the event; an acceptor that also
depends on what the wait saw before names a test of :class:`Seen`, a value the machine
passes in. :class:`ErrorAcceptor` does the same for errors. :data:`WAITS` is the one
definition of ``wait_until_provisioned``, ``_running`` and ``_stopped``: the poller's
methods and the one-shot functions are made from it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Final, Literal, TypeAlias

import attrs

from ._errors import NoEventsYetError, PipelineNotFoundError
from ._pipeline_event import PipelineEvent, ResourcesDesiredStatus, ResourcesStatus

__all__ = [
    "PROVISIONED",
    "RUNNING",
    "STOPPED",
    "WAITS",
    "Acceptor",
    "ErrorAcceptor",
    "Seen",
    "Until",
    "Verdict",
    "Wait",
    "accept",
    "condition_acceptors",
    "pipeline_error_acceptors",
]

#: Enum members bound once: ``Enum.MEMBER`` is a descriptor lookup on Python 3.11
#: (~0.3 µs, several per poll), a module global is not. Same objects, same tests.
_PROVISIONED: Final = ResourcesStatus.PROVISIONED
_STOPPED: Final = ResourcesStatus.STOPPED
_STOPPING_OR_STOPPED: Final = (ResourcesStatus.STOPPING, ResourcesStatus.STOPPED)
_DESIRED_PROVISIONED: Final = ResourcesDesiredStatus.PROVISIONED
_DESIRED_STOPPED: Final = ResourcesDesiredStatus.STOPPED


class Verdict(enum.Enum):
    """What an acceptor says about an event (``CONTINUE`` is Smithy's *retry*)."""

    SUCCESS = "success"
    FAILURE = "failure"
    CONTINUE = "continue"


@attrs.frozen
class Seen:
    """What a pipeline wait has seen (from ``since`` on) that an acceptor may ask about.

    A value: :meth:`observe` returns the next one. ``desired_provisioned``: it was asked
    to be provisioned and was not yet. ``being_stopped``: someone was stopping it
    (desired ``Stopped`` while its resources were not), noted only with ``count_stops``,
    for a wait without ``since``: the stop will end the wait, as stopped or failed. After
    a ``since``, a stop may be the first half of a restart, which the caller waits for.
    """

    count_stops: bool = True
    desired_provisioned: bool = False
    being_stopped: bool = False

    def observe(self, ev: PipelineEvent) -> Seen:
        resources = ev.deployment_resources_status
        desired = ev.deployment_resources_desired_status
        # Desired Provisioned and Stopped exclude each other: one test at most applies.
        asked = desired is _DESIRED_PROVISIONED and resources is not _PROVISIONED
        if asked and not self.desired_provisioned:
            return attrs.evolve(self, desired_provisioned=True)
        stopping = desired is _DESIRED_STOPPED and resources is not _STOPPED
        if stopping and self.count_stops and not self.being_stopped:
            return attrs.evolve(self, being_stopped=True)
        return self


@attrs.frozen
class Acceptor:
    """``state`` when ``matcher(event)`` holds and, if given, ``seen(what the wait saw)``
    too; ``stopped`` marks a stop without an error."""

    state: Verdict
    matcher: Callable[[PipelineEvent], bool]
    seen: Callable[[Seen], bool] | None = None
    stopped: bool = False

    def matches(self, ev: PipelineEvent, seen: Seen) -> bool:
        return self.matcher(ev) and (self.seen is None or self.seen(seen))


@attrs.frozen
class ErrorAcceptor:
    """``state`` (``CONTINUE`` or ``FAILURE``) for an error of type ``error``."""

    state: Verdict
    error: type[BaseException]


# -- matchers ----------------------------------------------------------------------------


def stopping(ev: PipelineEvent) -> bool:
    """Stopping or Stopped, and meant to be (desired Stopped)."""
    return (
        ev.deployment_resources_status in _STOPPING_OR_STOPPED
        and ev.deployment_resources_desired_status is _DESIRED_STOPPED
    )


def stopping_with_error(ev: PipelineEvent) -> bool:
    """Failed: the error is set on the move to Stopping, and only a new /start clears it."""
    return stopping(ev) and ev.deployment_has_error


def provisioned(ev: PipelineEvent) -> bool:
    """Provisioned, and still meant to be (desired Provisioned: not being stopped)."""
    return (
        ev.deployment_resources_status is _PROVISIONED
        and ev.deployment_resources_desired_status is _DESIRED_PROVISIONED
    )


_STEADY_RUNTIME: Final = frozenset({"Running", "Paused", "Standby"})


def running(ev: PipelineEvent) -> bool:
    """Provisioned and the runtime at its desired status (Running, Paused or Standby)."""
    runtime, desired = ev.deployment_runtime_status, ev.deployment_runtime_desired_status
    return (
        provisioned(ev)
        and runtime is not None
        and desired is not None
        and runtime.value == desired.value
        and runtime.value in _STEADY_RUNTIME
    )


def resources_stopped(ev: PipelineEvent) -> bool:
    return ev.deployment_resources_status is _STOPPED


def asked_or_being_stopped(seen: Seen) -> bool:
    """It had asked to be provisioned, or the wait saw a stop under way."""
    return seen.desired_provisioned or seen.being_stopped


# -- the waits ----------------------------------------------------------------------------

_FAILURES: Final = (
    Acceptor(Verdict.FAILURE, stopping_with_error),
    Acceptor(Verdict.FAILURE, stopping, seen=asked_or_being_stopped, stopped=True),
)
PROVISIONED: Final = (*_FAILURES, Acceptor(Verdict.SUCCESS, provisioned))
RUNNING: Final = (*_FAILURES, Acceptor(Verdict.SUCCESS, running))
STOPPED: Final = (Acceptor(Verdict.SUCCESS, resources_stopped),)

#: ``until=`` of :meth:`Poller.wait_many` / :meth:`Poller.as_completed`: what a wait is for.
Until: TypeAlias = Literal["provisioned", "running"]


@attrs.frozen
class Wait:
    """One wait of the table: its acceptors, the goal named in messages (``what``), whether
    a success that held at ``since`` must be a new one (``anew``), and whether it watches
    a runtime that awaits approval (``approval``: ``wait_for_approval=``)."""

    what: str
    acceptors: tuple[Acceptor, ...]
    anew: bool = False
    approval: bool = False


#: What ends each ``wait_until_*`` wait, by name.
WAITS: Final[dict[str, Wait]] = {
    "provisioned": Wait("Provisioned", PROVISIONED, anew=True),
    "running": Wait("Running", RUNNING, anew=True, approval=True),
    "stopped": Wait("Stopped", STOPPED),
}


def condition_acceptors(
    condition: Callable[[PipelineEvent], bool],
    failure: Callable[[PipelineEvent], bool] | None,
) -> tuple[Acceptor, ...]:
    """The acceptors of :meth:`Poller.wait_for` (``failure`` checked first)."""
    success = Acceptor(Verdict.SUCCESS, condition)
    if failure is None:
        return (success,)
    return (Acceptor(Verdict.FAILURE, failure), success)


def pipeline_error_acceptors(wait_for_pipeline: bool) -> tuple[ErrorAcceptor, ...]:
    unknown = Verdict.CONTINUE if wait_for_pipeline else Verdict.FAILURE
    return (
        ErrorAcceptor(Verdict.CONTINUE, NoEventsYetError),
        ErrorAcceptor(unknown, PipelineNotFoundError),
    )


_CONTINUE: Final = Verdict.CONTINUE


def accept(
    acceptors: Sequence[Acceptor], ev: PipelineEvent, seen: Seen
) -> tuple[Verdict, Acceptor | None]:
    for acceptor in acceptors:
        if acceptor.matches(ev, seen):
            return acceptor.state, acceptor
    return _CONTINUE, None
