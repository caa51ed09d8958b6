"""Owns fault injection: what can go wrong between a client and the manager, and its budget."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterable
from typing import Any, Literal

__all__ = ["EVENTS_OPERATIONS", "Fault", "FaultHandle", "FaultRule"]

#: The operations faults apply to by default: the two pipeline events endpoints.
EVENTS_OPERATIONS = frozenset({"list_pipeline_events", "get_pipeline_event"})

FaultKind = Literal[
    "status",
    "latency",
    "hang",
    "reset_before_headers",
    "reset_mid_body",
    "truncated_body",
    "malformed_json",
]

PROXY_502_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour; build it with the class methods, pass it to ``FakeFeldera.inject``."""

    kind: FaultKind
    status_code: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return f"status_{self.status_code}" if self.kind == "status" else self.kind

    @classmethod
    def status(
        cls,
        status: int,
        *,
        error_code: str | None = None,
        message: str | None = None,
        details: Any = None,
        retry_after: float | str | None = None,
        body: str | bytes | None = None,
        content_type: str | None = None,
    ) -> Fault:
        """Answer with ``status``; a Feldera ``ErrorResponse`` body when ``error_code`` is given,
        else ``body`` (default empty).  ``retry_after`` adds a ``Retry-After`` header."""
        if error_code is not None:
            payload = {
                "message": message if message is not None else f"Injected {error_code}",
                "error_code": error_code,
                "details": details,
            }
            raw = json.dumps(payload).encode()
            ctype = content_type or "application/json"
        else:
            raw = body.encode() if isinstance(body, str) else (body or b"")
            ctype = content_type or (
                "application/json" if raw[:1] in (b"{", b"[") else "text/plain"
            )
        headers: tuple[tuple[str, str], ...] = ()
        if retry_after is not None:
            value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
            headers = (("Retry-After", value),)
        return cls("status", status_code=status, body=raw, content_type=ctype, headers=headers)

    @classmethod
    def lock_took_too_long(cls) -> Fault:
        """The real manager's DB-contention answer: 503 ``LockTookTooLong``, ``Retry-After: 5``."""
        return cls.status(
            503,
            error_code="LockTookTooLong",
            message="The database lock took too long to acquire",
            retry_after=5,
        )

    @classmethod
    def too_many_requests(cls, retry_after: float | None = 1) -> Fault:
        """429 from a rate-limiting proxy (plain text)."""
        return cls.status(429, body="Too Many Requests", retry_after=retry_after)

    @classmethod
    def internal_error(cls) -> Fault:
        """500 with a Feldera body (as for an unreachable Postgres)."""
        return cls.status(
            500,
            error_code="PostgresPoolError",
            message="Postgres connection pool error: 'timed out'",
            details={"error": "timed out"},
        )

    @classmethod
    def proxy_502(cls) -> Fault:
        """A reverse proxy's HTML 502 page (no Feldera JSON)."""
        return cls.status(502, body=PROXY_502_HTML, content_type="text/html")

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Delay the answer by ``seconds`` (real seconds, not scaled by ``speed``)."""
        return cls("latency", seconds=seconds)

    @classmethod
    def hang(cls) -> Fault:
        """Accept the request and never answer (until the server closes)."""
        return cls("hang")

    @classmethod
    def reset_before_headers(cls) -> Fault:
        """Abort the TCP connection before any byte of the response."""
        return cls("reset_before_headers")

    @classmethod
    def reset_mid_body(cls) -> Fault:
        """Send the headers and half of the real body, then abort the connection."""
        return cls("reset_mid_body")

    @classmethod
    def truncated_body(cls) -> Fault:
        """Announce the full ``Content-Length`` plus extra, send part of the body, close."""
        return cls("truncated_body")

    @classmethod
    def malformed_json(cls) -> Fault:
        """200 ``application/json`` with a body that is not JSON."""
        return cls("malformed_json", body=b'{"event_id": "0198c', status_code=200)


@dataclasses.dataclass(slots=True)
class FaultRule:
    """A fault with its scope and budget (internal; ``FaultHandle`` is the public view)."""

    fault: Fault
    pipeline: str | None
    operations: frozenset[str] | None  # None = every operation
    path_contains: str | None
    remaining: int | None
    probability: float | None
    hits: int = 0

    def matches(self, operation: str | None, pipeline: str | None, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.operations is not None and operation not in self.operations:
            return False
        if self.pipeline is not None and pipeline != self.pipeline:
            return False
        return self.path_contains is None or self.path_contains in path

    def fire(self, rng: random.Random) -> bool:
        if self.probability is not None and rng.random() >= self.probability:
            return False
        self.hits += 1
        if self.remaining is not None:
            self.remaining -= 1
        return True


class FaultHandle:
    """What ``inject`` returns: how often the fault fired, and a way to remove it."""

    def __init__(self, rule: FaultRule, rules: list[FaultRule]) -> None:
        self._rule = rule
        self._rules = rules

    @property
    def hits(self) -> int:
        """How many requests this fault has hit so far."""
        return self._rule.hits

    @property
    def exhausted(self) -> bool:
        """True once a ``times=`` budget is used up."""
        return self._rule.remaining is not None and self._rule.remaining <= 0

    def remove(self) -> None:
        """Stop injecting this fault."""
        if self._rule in self._rules:
            self._rules.remove(self._rule)


def normalize_operations(
    operations: Iterable[str] | Literal["*"] | None,
) -> frozenset[str] | None:
    if operations is None:
        return EVENTS_OPERATIONS
    if operations == "*":
        return None
    if isinstance(operations, str):
        return frozenset({operations})
    return frozenset(operations)
