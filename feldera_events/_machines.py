"""The wait machines: what every machine shares (:class:`Machine`), the pipeline wait and
the cluster wait. Sans-IO: the decisions a wait takes, and nothing else.

In the manner of h11 and httpx's ``auth_flow``, a machine never makes a request,
sleeps, reads a clock, draws a random number or logs. It is fed what happened (the
answer to the request it asked for, or the error that request raised) with the time
``now``, and answers with a :data:`~feldera_events._decisions.Decision`; random numbers
for jitter come from the ``draw`` it is handed and the testing switch as a value. The
driver (``_driver``) runs every machine alike.

What ends a pipeline wait is its acceptors (``_acceptors``); errors go through its
:class:`ErrorAcceptor` s first (no events yet: retry; unknown pipeline: fail, or retry
with ``wait_for_pipeline``), then through the one retry rule of :class:`RetryPolicy`.
``since=`` is a :class:`~feldera_events._since.SinceRule`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import attrs

from ._acceptors import (
    Acceptor,
    ErrorAcceptor,
    Seen,
    Verdict,
    accept,
    pipeline_error_acceptors,
)
from ._cluster_event import ClusterEvent
from ._decisions import (
    CLUSTER,
    DEBUG,
    INFO,
    LATEST,
    LIST,
    WARNING,
    Decision,
    Fail,
    Log,
    Need,
    PollAt,
    Request,
    Succeed,
)
from ._errors import (
    APIConnectionError,
    EventNotFoundError,
    FelderaError,
    NoEventsYetError,
    PipelineNotFoundError,
)
from ._fields import Selector
from ._pipeline_event import PipelineEvent
from ._policies import PollPolicy, RetryPolicy
from ._since import SincePoint, SinceRule
from ._text import safe_text
from ._wait_errors import (
    ApprovalRequiredError,
    ClusterWaitTimeoutError,
    DeploymentFailedError,
    WaitTimeoutError,
    awaits_approval,
    error_excerpt,
    failure_error,
)

__all__ = ["FIRST_PROGRESS_LOG", "ClusterWait", "Machine", "PipelineWait"]

#: Enum members bound once (a module global, not a descriptor lookup per poll on 3.11).
_ALL: Final = Selector.ALL
_SUCCESS: Final = Verdict.SUCCESS
_FAILURE: Final = Verdict.FAILURE

#: The first progress line of a long wait, in seconds (then 2x, 4x, ...).
FIRST_PROGRESS_LOG: Final = 5.0


class Machine:
    """What every machine shares: the deadline, the poll schedule, errors and progress.

    The driver calls :meth:`begin`, then :meth:`answered` or :meth:`failed` with the
    outcome of each request asked for (:meth:`expired` when the deadline passed first),
    and :meth:`ended` once the wait is over, however it ends.
    """

    what = "the awaited state"

    def __init__(
        self,
        *,
        now: float,
        timeout: float | None,
        poll: PollPolicy,
        retry: RetryPolicy,
        url: str,
        draw: Callable[[], float],
        testing: bool = False,
        name: str = "",
        error_acceptors: Sequence[ErrorAcceptor] = (),
    ) -> None:
        self.name = name
        self.url = url
        self.start = now
        self.timeout = timeout
        self.deadline = None if timeout is None else now + timeout
        self.poll = poll
        self.retry = retry
        #: Random numbers in [0, 1) for jitter, and the testing switch's value (no
        #: backoff): handed in by the driver, so the machine draws and reads nothing.
        self.draw = draw
        self.testing = testing
        self.error_acceptors = tuple(error_acceptors)
        self.polls = 0
        self.reached = False
        self.interval: float | None = None
        self.final_poll_done = False
        self.failures = 0  # failed requests in a row
        self.last_error: BaseException | None = None
        self.last_connection_error: APIConnectionError | None = None
        self.next_log = FIRST_PROGRESS_LOG
        self.logged = False
        self.pending: Request = LATEST
        self.poll_request: Request = LATEST
        self.last_event: PipelineEvent | None = None
        self._lines: list[Log] = []  # to log with the next decision

    @property
    def label(self) -> str:
        """What the wait is for, in log lines."""
        return f"pipeline {self.name!r} ({self.what})"

    # the driver's side -------------------------------------------------------------------

    def begin(self, now: float) -> Decision:
        return self._said(self._begin(now), now)

    def answered(self, value: Any, now: float) -> Decision:
        """The answer to :attr:`pending`."""
        self.polls += 1
        self.reached = True
        self.failures = 0
        return self._said(self._on_answer(self.pending, value, now), now)

    def failed(self, exc: BaseException, now: float) -> Decision:
        """The error :attr:`pending` raised."""
        return self._said(self._failed(exc, now), now)

    def expired(self, now: float) -> Fail:
        """The deadline passed (with a request in flight, or before one could start)."""
        return Fail(self.deadline_error(now))

    def ended(self, now: float) -> tuple[Log, ...]:
        """What to log once the wait is over: a last line, if it logged progress."""
        if not self.logged:
            return ()
        took = (self.label, now - self.start, self.polls)
        return (Log(INFO, "wait for %s ended after %.1fs and %d polls", took),)

    # for subclasses ------------------------------------------------------------------

    def _begin(self, now: float) -> Decision:
        raise NotImplementedError

    def _on_answer(self, request: Request, value: Any, now: float) -> Decision:
        raise NotImplementedError

    def _on_error(self, request: Request, exc: BaseException, now: float) -> Decision | None:
        return None

    def _failed(self, exc: BaseException, now: float) -> Decision:
        if isinstance(exc, APIConnectionError):
            self.last_connection_error = exc
        else:
            self.polls += 1
            self.reached = True
        request = self.pending
        handled = self._on_error(request, exc, now)
        if handled is not None:
            return handled
        for acceptor in self.error_acceptors:
            if isinstance(exc, acceptor.error):
                if acceptor.state is Verdict.FAILURE:
                    return Fail(exc)
                return self._poll_later(now, False, request=request)
        self.failures += 1
        self.last_error = exc
        if not self.retry.should_retry(
            exc, failures=self.failures, elapsed=now - self.start, reached=self.reached
        ):
            return Fail(exc)
        backoff = 0.0 if self.testing else self.retry.backoff(self.failures, exc, draw=self.draw())
        delay = max(backoff, self.poll.initial) if self.reached else backoff
        decision = self._schedule(now, delay, request, cause=None if self.reached else exc)
        if isinstance(decision, PollAt):
            msg = "polling failed (%s: %s); polling again in %.1fs"
            self._say(WARNING, msg, type(exc).__name__, exc, decision.at - now)
        return decision

    def _progress_line(self, elapsed: float) -> str:
        last = self.last_event.describe() if self.last_event is not None else "no event yet"
        if self.failures and self.last_error is not None:
            last += f"; the last {self.failures} requests failed: {self.last_error}"
        return (
            f"still waiting for pipeline {self.name!r} to reach {self.what} after "
            f"{elapsed:.0f}s ({self.polls} polls; {last})"
        )

    def timeout_error(self, now: float) -> WaitTimeoutError:
        return WaitTimeoutError(
            self.name,
            timeout=self.timeout,
            elapsed=now - self.start,
            polls=self.polls,
            last_event=self.last_event,
            what=self.what,
            last_error=self._last_error_text(),
            held_at_since=self._held_at_since(),
            awaiting_approval=self._awaiting(),
        )

    def _held_at_since(self) -> bool:
        return False

    def _awaiting(self) -> PipelineEvent | None:
        return None

    # what to say ---------------------------------------------------------------------

    def _say(self, level: int, msg: str, *args: Any) -> None:
        self._lines.append(Log(level, msg, args))

    def _said(self, decision: Decision, now: float) -> Decision:
        """``decision`` with the lines said while it was taken (and, before a poll, the
        progress line when one is due)."""
        if isinstance(decision, PollAt):
            self._progress(now)
        if not self._lines:
            return decision
        lines, self._lines = tuple(self._lines), []
        return attrs.evolve(decision, log=(*decision.log, *lines))

    def _progress(self, now: float) -> None:
        """A progress line after 5 s, 10 s, 20 s, ... of a wait (one per threshold)."""
        elapsed = now - self.start
        if elapsed < self.next_log:
            return
        self.logged = True
        threshold = max(self.next_log, 0.001)
        while threshold <= elapsed:
            threshold *= 2
        self.next_log = threshold
        # It quotes the last status: server text, made inert.
        self._say(INFO, "%s", safe_text(self._progress_line(elapsed), None))

    # the schedule --------------------------------------------------------------------

    def deadline_error(self, now: float) -> FelderaError:
        """A timeout; for a server never reached in this wait because connecting failed,
        a connection error (a wrong URL is not a timeout). A deadline that passed before
        the first answer with no failure seen (a very short ``timeout``) is a timeout."""
        last = self.last_connection_error
        if not self.reached and last is not None:
            err: FelderaError = APIConnectionError(
                f"could not reach {self.url} within the {self.timeout:g}s deadline of this "
                f"wait: {last.message}",
                url=self.url,
            )
            err.__cause__ = last
            return err
        timeout = self.timeout_error(now)
        if self.failures:
            timeout.__cause__ = self.last_error  # the wait ended in a stretch of errors
        return timeout

    def _last_error_text(self) -> str | None:
        if not self.failures or self.last_error is None:
            return None
        times = "once" if self.failures == 1 else f"{self.failures} times"
        return f"{error_excerpt(self.last_error)} ({times})"

    def _poll_later(
        self, now: float, changed: bool, emit: tuple[Any, ...] = (), request: Request | None = None
    ) -> Decision:
        """The next poll (of ``request``, by default the periodic one) after the poll
        interval, which starts over when something ``changed``."""
        if changed:
            self.interval = None
        self.interval = self.poll.next_interval(self.interval, now - self.start)
        delay = self.poll.jittered(self.interval, self.draw())
        return self._schedule(now, delay, request or self.poll_request, emit)

    def _need(self, now: float, request: Request, emit: tuple[Any, ...] = ()) -> Decision:
        if self.deadline is not None and now >= self.deadline:
            return Fail(self.deadline_error(now), emit)
        self.pending = request
        return Need(request, emit)

    def _schedule(
        self,
        now: float,
        delay: float,
        request: Request,
        emit: tuple[Any, ...] = (),
        cause: BaseException | None = None,
    ) -> Decision:
        """``request`` after ``delay``, never at or past the deadline.

        When the deadline comes before the next poll would, the delay is shortened once
        so that a last poll still happens before it (as Smithy waiters do); after that
        the wait ends at its deadline.
        """
        delay = max(delay, 0.0)
        if self.deadline is not None:
            remaining = self.deadline - now
            if remaining <= 0:
                return Fail(cause if cause is not None else self.deadline_error(now), emit)
            if delay >= remaining:
                if self.final_poll_done or remaining <= 0.02:
                    return Fail(self.deadline_error(self.deadline), emit, at=self.deadline)
                self.final_poll_done = True
                delay = remaining - min(remaining / 2, 1.0)
        self.pending = request
        return PollAt(now + delay, request, emit)


class PipelineWait(Machine):
    """A wait on one pipeline: provisioned, running, stopped or any condition."""

    def __init__(
        self,
        acceptors: Sequence[Acceptor],
        *,
        since: object = None,
        wait_for_pipeline: bool = False,
        what: str = "the condition",
        anew: bool = False,
        approval: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(error_acceptors=pipeline_error_acceptors(wait_for_pipeline), **kwargs)
        self.acceptors = tuple(acceptors)
        # A runtime at AwaitingApproval (a run waits for it): None, not watched; True,
        # wait for the approval; False, end the wait (ApprovalRequiredError). Either way
        # the event is read in full once, for what awaits approval.
        self.approval = approval
        self.approval_pending: PipelineEvent | None = None  # its full read under way
        self.approval_event: PipelineEvent | None = None  # the last one read
        self.what = what
        self.wait_for_pipeline = wait_for_pipeline
        self.seen = Seen(count_stops=since is None)
        self.since = SinceRule.of(since, anew=anew)
        self.candidate: PipelineEvent | None = None  # awaiting confirmation or a full read
        self.stopped = False
        self.detail_failures = 0  # failed full reads of the failure the status showed

    def _begin(self, now: float) -> Decision:
        first = self.since.first_read()
        return self._resolved(self.since.point, now) if first is None else self._need(now, first)

    def _resolved(self, point: SincePoint | None, now: float) -> Decision:
        """Poll now that the since point is known (None: no since); its event counts as seen."""
        if point is not None and point.event is not None:
            self.seen = self.seen.observe(point.event)
        return self._schedule(now, 0.0, LATEST)

    def _holds(self, ev: PipelineEvent) -> bool:
        """Whether the wait's success state holds at ``ev`` (its SUCCESS acceptors)."""
        seen = self.seen
        return any(a.state is _SUCCESS and a.matches(ev, seen) for a in self.acceptors)

    def _held_at_since(self) -> bool:
        return self.since.held(self.last_event, self._holds)

    def _awaiting(self) -> PipelineEvent | None:
        """The approval the pipeline still waits for (its last event, read in full)."""
        last, full = self.last_event, self.approval_event
        if last is None or full is None or last.event_id != full.event_id:
            return None
        return full

    def _on_answer(self, request: Request, value: Any, now: float) -> Decision:
        since = self.since
        if since.to_read is not None:
            return self._resolved(since.read(value), now)
        if request.op == "list":
            return self._confirm(value, now)
        if request.selector is _ALL:
            if self.approval_pending is not None:
                return self._awaiting_approval(value, now)
            return self._failure(value, now)
        ev: PipelineEvent = value
        changed = self.last_event is None or ev.event_id != self.last_event.event_id
        self.last_event = ev
        emit = (ev,) if changed else ()
        if not since.hides(ev):
            self.seen = seen = self.seen.observe(ev)
            verdict, acceptor = accept(self.acceptors, ev, seen)
            if verdict is _SUCCESS:
                counts = since.counts(ev, self._holds)
                if counts:
                    return Succeed(ev, emit)
                if counts is None:  # only the list can tell whether it is a new one
                    self.candidate = ev
                    return self._need(now, LIST, emit)
            else:
                since.left = True
                if verdict is _FAILURE:
                    # Read in full, for the error; or, if clean-up removed it, the latest.
                    self.candidate = ev
                    self.stopped = acceptor is not None and acceptor.stopped
                    self.detail_failures = 0
                    full = Request("event", ev.event_id, _ALL, or_latest=True)
                    return self._need(now, full, emit)
                if changed and self.approval is not None and awaits_approval(ev):
                    # Read what awaits approval; the event is emitted with its details.
                    self.approval_pending = ev
                    return self._need(now, Request("event", ev.event_id, _ALL))
        return self._poll_later(now, changed, emit)

    def _failed(self, exc: BaseException, now: float) -> Decision:
        decision = super()._failed(exc, now)
        why = f"reading the full event failed: {exc}"
        if isinstance(decision, Fail) and (error := self._unreadable(why)) is not None:
            return Fail(error, decision.emit, decision.at)  # the status said failed
        return decision

    def deadline_error(self, now: float) -> FelderaError:
        why = "the deadline came before the full event could be read"
        return self._unreadable(why) or super().deadline_error(now)

    def _reading_failure(self) -> bool:
        """Whether the request pending is the full read of a failure the status showed."""
        pending = self.pending
        return self.candidate is not None and pending.op == "event" and pending.selector is _ALL

    def _unreadable(self, why: str) -> DeploymentFailedError | None:
        """The failure the status showed while the wait reads it in full (else None)."""
        ev = self.candidate
        if ev is None or not self._reading_failure():
            return None
        return failure_error(self.name, ev, stopped=self.stopped, what=self.what, unavailable=why)

    def _awaiting_approval(self, full: PipelineEvent, now: float) -> Decision:
        self.approval_pending = None
        self.approval_event = full
        said = ApprovalRequiredError(self.name, full, what=self.what)
        if not self.approval:
            return Fail(said, (full,))
        waiting = "Waiting for it (wait_for_approval=False ends the wait instead)"
        self._say(WARNING, "%s", f"{said}. {waiting}")  # text: no retry to report
        return self._poll_later(now, True, (full,))

    def _on_error(self, request: Request, exc: BaseException, now: float) -> Decision | None:
        if self._reading_failure():
            # The failure's details get the retry policy's attempts, as one client call
            # would, whatever the deadline (none: forever): then the failure, its details
            # unavailable (``_failed``). Every error counts, those polled through too.
            self.detail_failures += 1
            return Fail(exc) if self.detail_failures >= self.retry.attempts else None
        pending = self.approval_pending
        if pending is not None and isinstance(exc, EventNotFoundError):
            return self._awaiting_approval(pending, now)  # cleaned up: the poll's event
        to_read = self.since.to_read
        if to_read is None:
            return None
        if isinstance(exc, PipelineNotFoundError) and not self.wait_for_pipeline:
            return Fail(exc)
        point = self.since.unread(exc)
        if point is not None:
            return self._resolved(point, now)
        if to_read != "now" and isinstance(exc, EventNotFoundError | PipelineNotFoundError):
            return Fail(exc)  # gone, and not a UUIDv7: no order to compare with
        return None

    def _confirm(self, events: list[PipelineEvent], now: float) -> Decision:
        candidate = self.candidate
        assert candidate is not None
        self.candidate = None
        if self.since.confirm(events, candidate, self._holds):
            return Succeed(candidate)
        # The same deployment: later polls need not read the list again for this event.
        return self._poll_later(now, False)

    def _failure(self, full: PipelineEvent, now: float) -> Decision:
        """The failed event read in full, or the latest one if clean-up removed it."""
        candidate = self.candidate
        assert candidate is not None
        self.candidate = None
        if full.event_id != candidate.event_id:
            verdict, acceptor = accept(self.acceptors, full, self.seen)
            if verdict is not Verdict.FAILURE:
                return self._poll_later(now, True)
            self.stopped = acceptor is not None and acceptor.stopped
        return Fail(failure_error(self.name, full, stopped=self.stopped, what=self.what))


class ClusterWait(Machine):
    """A wait for the cluster to be healthy. Connection errors are polled through until
    the deadline even before the server first answers: waiting for a manager to come up
    is the point."""

    what = "all services healthy"

    def __init__(self, **kwargs: Any) -> None:
        no_events = ErrorAcceptor(Verdict.CONTINUE, NoEventsYetError)
        super().__init__(error_acceptors=(no_events,), **kwargs)
        self.poll_request = CLUSTER
        self.event: ClusterEvent | None = None
        self.attempts = 0  # connection attempts before it first answered

    @property
    def label(self) -> str:
        return "the cluster to be healthy"

    def _begin(self, now: float) -> Decision:
        return self._need(now, CLUSTER)

    def _failed(self, exc: BaseException, now: float) -> Decision:
        if isinstance(exc, APIConnectionError) and not self.reached:
            self.attempts += 1
            self.last_connection_error = exc
            # The manager is not listening (yet): say so once, then at DEBUG level.
            self._say(
                INFO if self.attempts == 1 else DEBUG,
                "cluster wait: connection attempt %d to %s failed (%s); still waiting",
                self.attempts,
                self.url,
                exc,
            )
            return self._poll_later(now, False)
        # A server that answered once: the one retry rule, as for a pipeline wait.
        return super()._failed(exc, now)

    def _on_answer(self, request: Request, value: Any, now: float) -> Decision:
        ev: ClusterEvent = value
        changed = self.event is None or ev.id != self.event.id
        self.event = ev
        emit = (ev,) if changed else ()
        if ev.all_healthy:
            return Succeed(ev, emit)
        return self._poll_later(now, changed, emit)

    def deadline_error(self, now: float) -> FelderaError:
        err = self.timeout_error(now)
        if not self.reached:
            err.__cause__ = self.last_connection_error
        elif self.failures:
            err.__cause__ = self.last_error
        return err

    def _progress_line(self, elapsed: float) -> str:
        if not self.reached:
            where = f"{self.url} not reached yet, {self.attempts} connection attempts"
        elif self.event is None:
            where = f"{self.polls} polls; no event yet"
        else:
            where = f"{self.polls} polls; {self.event.describe()}"
        return f"still waiting for the cluster to be healthy after {elapsed:.0f}s ({where})"

    def timeout_error(self, now: float) -> ClusterWaitTimeoutError:
        last = self.last_connection_error if not self.reached else self.last_error
        return ClusterWaitTimeoutError(
            timeout=self.timeout,
            elapsed=now - self.start,
            polls=self.polls,
            event=self.event,
            reached=self.reached,
            url=self.url,
            attempts=self.attempts,
            last_error=None if last is None else str(last),
        )
