"""The errors a wait ends with: they carry the events they saw (above the models).

:class:`WaitError` and its subclasses hold a :class:`PipelineEvent` or a
:class:`ClusterEvent`, so they live one layer above :mod:`feldera_events._models`;
the rest of the hierarchy (:mod:`feldera_events._errors`) knows no model.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Final

from ._convert import format_datetime
from ._errors import APIStatusError, FelderaError, excerpt
from ._models import ClusterEvent, PipelineEvent

__all__ = [
    "ClusterWaitTimeoutError",
    "DeploymentFailedError",
    "DeploymentStoppedError",
    "WaitError",
    "WaitTimeoutError",
    "error_excerpt",
]


def _stamp(when: _dt.datetime) -> str:
    """A timestamp as the messages show it: UTC, to the second."""
    return format_datetime(when, "seconds", utc=True)


#: The title of an HTML page (a proxy's error page says what it is there).
_TITLE: Final = re.compile(r"<title>\s*([^<]{1,100}?)\s*</title>", re.IGNORECASE)


def error_excerpt(exc: BaseException) -> str:
    """A failed request in a few words, for a message that sums up a wait: an HTTP error's
    status, code and a short excerpt of its message (a proxy's HTML page: its title)."""
    if not isinstance(exc, APIStatusError):
        return excerpt(str(exc), 200)
    head = f"HTTP {exc.status_code}" + (f" {exc.error_code}" if exc.error_code else "")
    title = None if exc.error_code else _TITLE.search(exc.message)
    said = title.group(1) if title else excerpt(exc.message, 80)
    return f"{head}: {said}" if said else head


class WaitError(FelderaError):
    """A wait ended without reaching its goal."""


class DeploymentFailedError(WaitError):
    """The pipeline's deployment failed: resources status ``Stopped`` with an error.

    Carries the server's error: ``error_code``, ``message`` and ``details`` from the
    event's ``deployment_error``, plus the ``event`` itself and ``pipeline_name``.
    """

    def __init__(
        self,
        pipeline_name: str,
        event: PipelineEvent | None,
        *,
        error_code: str | None,
        message: str,
        details: Any = None,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.event = event
        self.error_code = error_code
        self.message = message
        self.details = details
        code = f" with {error_code}" if error_code else ""
        super().__init__(f"pipeline {pipeline_name!r} failed{code}: {message}")


class DeploymentStoppedError(DeploymentFailedError):
    """The pipeline was asked to stop (desired status ``Stopped``) without an error.

    Someone stopped it while we were waiting for it to be provisioned.
    """

    def __init__(
        self,
        pipeline_name: str,
        event: PipelineEvent | None,
        *,
        error_code: str | None = None,
        message: str = "",
        details: Any = None,
    ) -> None:
        message = message or (
            "it was stopped (desired status changed to Stopped, no deployment error) "
            "before it was provisioned"
        )
        super().__init__(
            pipeline_name, event, error_code=error_code, message=message, details=details
        )


class WaitTimeoutError(WaitError, TimeoutError):
    """The overall deadline of a wait passed.

    ``last_event`` is the newest event seen (None if none was), ``elapsed`` the
    seconds waited, ``polls`` how many requests the wait made. ``held_at_since``: the
    awaited state already held at ``since`` and still did, so only a new one would have
    counted (a ``since`` taken while the pipeline was up: none came).
    """

    def __init__(
        self,
        pipeline_name: str,
        *,
        timeout: float | None,
        elapsed: float,
        polls: int,
        last_event: PipelineEvent | None = None,
        what: str = "the awaited state",
        last_error: str | None = None,
        held_at_since: bool = False,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.timeout = timeout
        self.elapsed = elapsed
        self.polls = polls
        self.last_event = last_event
        self.what = what
        #: The last failed request's error (in short) and how often it failed in a row,
        #: if the wait ended in a stretch of failed polls (``HTTP 502: Bad Gateway (4 times)``).
        self.last_error = last_error
        self.held_at_since = held_at_since
        last = "no event seen"
        if last_event is not None:
            stamp = _stamp(last_event.recorded_at)
            last = f"last status {last_event.status_text()} recorded at {stamp}"
        if last_error:
            last += f"; last error: {last_error}"
        goal, held = what, ""
        if held_at_since:
            goal, held = f"{what} anew", f"it was already {what} at since, and still is; "
        super().__init__(
            f"timed out after {elapsed:.1f}s waiting for pipeline {pipeline_name!r} "
            f"to reach {goal} ({held}{polls} polls; {last})"
        )


class ClusterWaitTimeoutError(WaitTimeoutError):
    """The deadline of :meth:`Poller.wait_until_cluster_healthy` passed.

    ``event`` is the newest :class:`ClusterEvent` seen (None if none was) and
    ``unhealthy_components`` its services that were not healthy; ``reached`` is False
    when the server never answered during the wait (the last connection error is then
    chained as ``__cause__``). ``last_event`` and ``pipeline_name``, inherited from
    :class:`WaitTimeoutError`, are always None and ``""`` here.
    """

    def __init__(
        self,
        *,
        timeout: float | None,
        elapsed: float,
        polls: int,
        event: ClusterEvent | None = None,
        reached: bool = True,
        url: str | None = None,
        attempts: int = 0,
        last_error: str | None = None,
    ) -> None:
        self.pipeline_name = ""
        self.timeout = timeout
        self.elapsed = elapsed
        self.polls = polls
        self.last_event = None
        self.what = "all services healthy"
        self.event = event
        self.unhealthy_components: list[str] = [] if event is None else event.unhealthy_components
        self.reached = reached
        self.url = url
        self.attempts = attempts
        self.last_error = last_error
        head = f"timed out after {elapsed:.1f}s waiting for the Feldera cluster to be healthy"
        if not reached:
            where = f"the server at {url}" if url else "the server"
            text = f"{head}: {where} was never reached ({attempts} connection attempts"
            text += f"; last error: {last_error})" if last_error else ")"
        elif event is None:
            text = f"{head} ({polls} polls; no cluster event was recorded yet)"
        else:
            stamp = _stamp(event.recorded_at)
            bad = ", ".join(f"{c} ({event.status_of(c).value})" for c in self.unhealthy_components)
            state = f"unhealthy: {bad}" if bad else event.describe()
            text = f"{head} ({polls} polls; last event at {stamp}: {state})"
        Exception.__init__(self, text)
