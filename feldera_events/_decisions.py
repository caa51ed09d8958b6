"""What a machine asks for and answers with: requests, decisions and log lines, as data.

A machine (``_machines``, ``_watch``) is fed what happened and the time, and answers
with a :data:`Decision`:

* :class:`PollAt`: make ``request`` (by default: read the latest event) at time ``at``;
* :class:`Need`: make ``request`` now (read the list, or one event with ``selector=all``);
* :class:`Succeed`: the wait is over, here is the event;
* :class:`Fail`: the wait is over, raise ``error`` (at time ``at``, when given).

Every decision also carries ``emit``, the new events seen (for ``on_event``, or the
consumer of a watch), and ``log``, the lines the driver logs for it: what to say is the
machine's decision, saying it is the driver's.
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal, TypeAlias

import attrs

from ._fields import Selector

__all__ = [
    "CLUSTER",
    "DEBUG",
    "INFO",
    "LATEST",
    "LIST",
    "WARNING",
    "Decision",
    "Fail",
    "Log",
    "Need",
    "PollAt",
    "Request",
    "Succeed",
]


@attrs.frozen
class Request:
    """A request a machine needs: ``op`` ``"event"`` (one event, ``latest`` or an id),
    ``"list"`` (every retained event) or ``"cluster"`` (the latest cluster event).

    ``or_latest``: the event with that id, or, if clean-up removed it before it could be
    read, the ``latest`` one: the driver makes that second read itself (a tenacity retry
    on :class:`~feldera_events.EventNotFoundError`) and the machine judges whichever
    event comes back.
    """

    op: Literal["event", "list", "cluster"]
    event_id: str | uuid.UUID = "latest"
    selector: Selector = Selector.STATUS
    or_latest: bool = False


LATEST: Final = Request("event")
LIST: Final = Request("list")
CLUSTER: Final = Request("cluster")

#: The levels of :class:`Log` lines (the logging module's numbers).
DEBUG: Final = 10
INFO: Final = 20
WARNING: Final = 30


@attrs.frozen
class Log:
    """A line for the ``feldera_events`` logger, at ``level``: ``msg % args``, formatted by
    the logger (a handler finds the failed request's exception among ``args``)."""

    level: int
    msg: str
    args: tuple[Any, ...] = ()

    @property
    def message(self) -> str:
        return self.msg % self.args if self.args else self.msg


@attrs.frozen
class PollAt:
    at: float
    request: Request = LATEST
    emit: tuple[Any, ...] = ()
    log: tuple[Log, ...] = ()


@attrs.frozen
class Need:
    request: Request
    emit: tuple[Any, ...] = ()
    log: tuple[Log, ...] = ()


@attrs.frozen
class Succeed:
    event: Any
    emit: tuple[Any, ...] = ()
    log: tuple[Log, ...] = ()


@attrs.frozen
class Fail:
    error: BaseException
    emit: tuple[Any, ...] = ()
    #: When the wait ends (its deadline, for a timeout); None: now.
    at: float | None = None
    log: tuple[Log, ...] = ()


Decision: TypeAlias = PollAt | Need | Succeed | Fail
