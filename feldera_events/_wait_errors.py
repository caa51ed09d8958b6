"""The errors a wait ends with: they carry the events they saw (above the models).

:class:`WaitError` and its subclasses hold a :class:`PipelineEvent` or a
:class:`ClusterEvent`, so they live one layer above the models;
the rest of the hierarchy (:mod:`feldera_events._errors`) knows no model.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Final
from urllib.parse import quote

from ._cluster_event import ClusterEvent
from ._convert import format_datetime
from ._errors import APIStatusError, FelderaError
from ._pipeline_event import DeploymentError, PipelineEvent
from ._text import CODE_LIMIT, excerpt, safe_text

__all__ = [
    "ApprovalRequiredError",
    "ClusterWaitTimeoutError",
    "DeploymentFailedError",
    "DeploymentStoppedError",
    "WaitError",
    "WaitTimeoutError",
    "approval_diff",
    "approval_text",
    "awaits_approval",
    "error_excerpt",
    "failure_error",
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
    code = f" {safe_text(exc.error_code, CODE_LIMIT)}" if exc.error_code else ""  # theirs
    head = f"HTTP {exc.status_code}{code}"
    title = None if exc.error_code else _TITLE.search(exc.message)
    said = title.group(1) if title else excerpt(exc.message, 80)
    return f"{head}: {said}" if said else head


def awaits_approval(event: PipelineEvent) -> bool:
    """The runtime waits for someone to approve its changes (``AwaitingApproval``)."""
    runtime = event.deployment_runtime_status
    return runtime is not None and runtime.value == "AwaitingApproval"


def approval_diff(event: PipelineEvent) -> dict[str, Any] | None:
    """What awaits approval: ``approval_diff`` of the runtime status details (a
    ``PipelineDiff``; older managers sent it as the details themselves), else None."""
    details = event.deployment_runtime_status_details
    if not isinstance(details, dict):
        return None
    diff = details.get("approval_diff", details if "program_diff" in details else None)
    return diff if isinstance(diff, dict) else None


#: The lists of a ``PipelineDiff`` (and of its ``program_diff``), in the words shown.
_CHANGES: Final = tuple(
    (f"{change}_{kind}", f"{kind.replace('_', ' ')} {change}")
    for kind in ("tables", "views", "input_connectors", "output_connectors")
    for change in ("added", "modified", "removed")
)


def approval_text(event: PipelineEvent) -> str:
    """What awaits approval, in words (``views added: w; views modified: v``), from the
    event's details (read with ``selector=all``); "" when they say nothing. Bounded:
    at most 5 names a list, each cut to 60 characters."""
    diff = approval_diff(event)
    if diff is None:
        return ""
    program = diff.get("program_diff")
    lists = {**(program if isinstance(program, dict) else {}), **diff}
    parts = []
    for key, words in _CHANGES:
        names = lists.get(key)
        if isinstance(names, list) and names:
            shown = ", ".join(excerpt(str(n), 60) for n in names[:5])
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            parts.append(f"{words}: {shown}{more}")
    error = diff.get("program_diff_error")
    if isinstance(error, str) and error:
        parts.append(f"program changes unknown ({excerpt(error, 120)})")
    return "; ".join(parts)


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
        # The server's texts, each bounded (safe_text): the attributes keep them whole.
        code = f" with {safe_text(error_code, CODE_LIMIT)}" if error_code else ""
        super().__init__(f"pipeline {pipeline_name!r} failed{code}: {safe_text(message, 1000)}")


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


class ApprovalRequiredError(WaitError):
    """The pipeline waits for someone to approve its changes, and the wait was told not
    to wait for that (``wait_for_approval=False``): runtime ``AwaitingApproval``, as
    after a start with ``bootstrap_policy=await_approval`` of a pipeline changed since its
    checkpoint. Until approved (``POST /v0/pipelines/{name}/approve``) it does not run.

    ``event`` is the event (read with ``selector=all``), ``approval_diff`` what awaits
    approval (its details' ``PipelineDiff``; None when absent), ``changes`` that in words.
    """

    def __init__(self, pipeline_name: str, event: PipelineEvent, *, what: str = "Running") -> None:
        self.pipeline_name = pipeline_name
        self.event = event
        self.approval_diff = approval_diff(event)
        self.changes = approval_text(event)
        said = f": {self.changes}" if self.changes else " (the event does not say which)"
        super().__init__(
            f"pipeline {pipeline_name!r} awaits approval of its changes before it can reach "
            f"{what} (runtime AwaitingApproval: started with bootstrap_policy=await_approval "
            f"and changed since its checkpoint){said}; approve them with POST "
            f"/v0/pipelines/{quote(pipeline_name, safe='')}/approve, or stop it"
        )


def failure_error(
    name: str, full: PipelineEvent, *, stopped: bool, what: str, unavailable: str | None = None
) -> DeploymentFailedError:
    """The exception for a failed event (read with ``selector=all``; with ``unavailable``,
    why it could not be, and ``full`` is the status event that showed the failure)."""
    error = full.deployment_error
    if isinstance(error, DeploymentError):
        return DeploymentFailedError(
            name, full, error_code=error.error_code, message=error.message, details=error.details
        )
    status = f"(status {full.describe()})"
    if unavailable is not None:
        status += f"; the error details are unavailable ({unavailable})"
    if stopped:
        how = " without an error" if unavailable is None else ""
        message = f"it was stopped{how} while waiting for {what} {status}"
        return DeploymentStoppedError(name, full, message=message)
    if unavailable is not None:
        message = f"deployment failed {status}"
    elif full.deployment_has_error:
        message = f"deployment failed {status}; the server sent no error"
    else:
        message = f"the failure condition matched {status}"
    return DeploymentFailedError(name, full, error_code=None, message=message)


class WaitTimeoutError(WaitError, TimeoutError):
    """The overall deadline of a wait passed.

    ``last_event`` is the newest event seen (None if none was), ``elapsed`` the
    seconds waited, ``polls`` how many requests the wait made. ``held_at_since``: the
    awaited state already held at ``since`` and still did, so only a new one would have
    counted (a ``since`` taken while the pipeline was up: none came).
    ``awaiting_approval``: the last event, read in full, when the pipeline was still
    waiting for someone to approve its changes (runtime ``AwaitingApproval``).
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
        awaiting_approval: PipelineEvent | None = None,
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
        #: The last event (read in full) when it was still waiting for an approval.
        self.awaiting_approval = awaiting_approval
        last = "no event seen"
        if last_event is not None:
            stamp = _stamp(last_event.recorded_at)
            last = f"last status {last_event.status_text()} recorded at {stamp}"
        if last_error:
            last += f"; last error: {last_error}"
        if awaiting_approval is not None:
            changes = approval_text(awaiting_approval) or "the event does not say which"
            path = f"/v0/pipelines/{quote(pipeline_name, safe='')}/approve"
            last += f"; it awaits approval of its changes ({changes}): POST {path}"
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
        what = "all services healthy"
        super().__init__("", timeout=timeout, elapsed=elapsed, polls=polls, what=what)
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
        self.args = (text,)  # WaitTimeoutError's message is about a pipeline
