"""Owns what happens to requests on their way in: the answering gate, auth settings and the
API keys made through the API, the request log, in-flight counting, injected faults and
the response observer.

It knows nothing about pipelines; the HTTP application asks it before and after each
request.  Asyncio-bound only through the gate (two ``asyncio.Event``).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import string
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any, Literal

from feldera_events.testing._faults import Fault, FaultHandle, FaultRule, normalize_operations
from feldera_events.testing._model import FakeAPIError, RequestRecord

__all__ = ["UNROUTED", "ApiKeyRegistry", "ResponseObserver", "Traffic"]

#: The count of requests that matched no route (a plain 404), or were dropped before one.
UNROUTED = "unrouted"

#: ``observer(operation_id, status, content_type, body)`` for every complete response.
ResponseObserver = Callable[[str | None, int, str, bytes], None]

_ALPHABET = string.ascii_letters + string.digits


class Traffic:
    """Request-side state of one fake server."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        tenants: Iterable[str] | None = None,
        seed: int = 0,
        request_log_limit: int = 100_000,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.api_keys: frozenset[str] | None = None if api_keys is None else frozenset(api_keys)
        self.tenants: frozenset[str] | None = None if tenants is None else frozenset(tenants)
        #: Keys made through ``POST /v0/api_keys``: accepted too while auth is on.
        self.created_keys = ApiKeyRegistry()
        self.response_observer: ResponseObserver | None = None
        self._on_change = on_change
        self._fault_rng = random.Random(seed + 1)
        self._fault_rules: list[FaultRule] = []
        self._requests: deque[RequestRecord] = deque(maxlen=request_log_limit)
        self._served = 0
        self._counts: Counter[str] = Counter()
        self._in_flight = 0
        self._answering = asyncio.Event()
        self._answering.set()
        self._closing = asyncio.Event()

    # ---------------------------------------------------------------- the gate
    def stop_answering(self) -> None:
        """Keep accepting connections but answer nothing until ``resume_answering``."""
        self._answering.clear()

    def resume_answering(self) -> None:
        """Answer again (held requests proceed)."""
        self._answering.set()

    def close(self) -> None:
        """Release held requests (they are aborted) and hanging faults."""
        self._closing.set()
        self._answering.set()

    async def hold(self) -> bool:
        """Wait while answering is stopped; ``False`` when the server closes meanwhile."""
        if self._answering.is_set():
            return True
        waiters = [
            asyncio.ensure_future(self._answering.wait()),
            asyncio.ensure_future(self._closing.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        return not self._closing.is_set()

    async def wait_closed(self) -> None:
        await self._closing.wait()

    # ---------------------------------------------------------------- in flight and log
    @property
    def in_flight(self) -> int:
        return self._in_flight

    def begin(self) -> None:
        self._in_flight += 1
        self._on_change()

    def end(self, record: RequestRecord, route: str) -> None:
        """A request was answered (or aborted): log it and count it under ``route``."""
        self._in_flight -= 1
        self._served += 1
        self._counts[route] += 1
        self._requests.append(record)
        self._on_change()

    def request_counts(self) -> dict[str, int]:
        """Requests answered (or aborted) per operation since the server started or the
        last :meth:`reset_request_counts`, e.g. ``{"get_pipeline_event": 120,
        "list_pipelines": 2}``: a new dict, keys in name order, only operations that were
        requested.

        Keys are the OpenAPI operationIds (the names ``inject(operations=...)`` takes),
        ``"healthz"`` for ``GET /healthz`` (not in the spec), and ``"unrouted"`` for a
        request that matched no route (a plain 404) or was dropped before routing (held
        by ``stop_answering`` when the server closed).  A request counts under its
        operation whatever its answer: an error, a 401, an injected fault.  The counts
        do not depend on ``request_log_limit``; their sum grows as ``requests_served``.
        """
        return dict(sorted(self._counts.items()))

    def reset_request_counts(self) -> None:
        """Start :meth:`request_counts` from zero (``requests_served`` and the request log
        are left as they are)."""
        self._counts.clear()

    @property
    def served(self) -> int:
        """Requests answered (or aborted) since the start, whatever the log's limit."""
        return self._served

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self._requests)

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._requests.clear()

    def matching_requests(self, **fields: object) -> list[RequestRecord]:
        return [r for r in self._requests if all(getattr(r, k) == v for k, v in fields.items())]

    # ---------------------------------------------------------------- faults
    def inject(
        self,
        fault: Fault,
        *,
        pipeline: str | None = None,
        operations: Iterable[str] | Literal["*"] | None = None,
        path_contains: str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> FaultHandle:
        """Inject ``fault`` into matching requests.

        :param pipeline: only requests about this pipeline (decoded name).
        :param operations: OpenAPI operationIds; default the two pipeline events
            operations (``list_pipeline_events``, ``get_pipeline_event``); ``"*"`` = all.
        :param path_contains: only requests whose raw path contains this.
        :param times: fire on the next N matching requests, then stop (``None`` = forever).
        :param probability: fire on each matching request with this (seeded) probability.
        Rules are tried in injection order; the first that fires wins.
        """
        rule = FaultRule(
            fault=fault,
            pipeline=pipeline,
            operations=normalize_operations(operations),
            path_contains=path_contains,
            remaining=times,
            probability=probability,
        )
        self._fault_rules.append(rule)
        return FaultHandle(rule, self._fault_rules)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._fault_rules.clear()

    def pick_fault(self, operation: str | None, pipeline: str | None, path: str) -> Fault | None:
        """The first injected fault that fires for this request (budgets are spent here)."""
        for rule in list(self._fault_rules):
            if rule.matches(operation, pipeline, path) and rule.fire(self._fault_rng):
                return rule.fault
        return None


class ApiKeyRegistry:
    """The API keys made through ``POST /v0/api_keys``, by name: accepted like a key given
    to ``FakeFeldera(api_keys=...)`` until deleted.  Their role (``read`` or ``write``, the
    manager's default ``read``) is stored and listed, not enforced: the fake has no roles."""

    def __init__(self) -> None:
        #: name -> (its ``ApiKeyDescr``, its secret)
        self._keys: dict[str, tuple[dict[str, Any], str]] = {}

    def create(self, name: str, role: str = "read") -> dict[str, Any]:
        """A new key: the ``NewApiKeyResponse`` (the only time the secret is shown)."""
        if name in self._keys:
            raise FakeAPIError(409, "DuplicateName", "An entity with this name already exists")
        descr = {"id": str(uuid.uuid4()), "name": name, "role": role}
        secret = "apikey:" + "".join(secrets.choice(_ALPHABET) for _ in range(128))
        self._keys[name] = (descr, secret)
        return {"id": descr["id"], "name": name, "api_key": secret}

    def describe_all(self) -> list[dict[str, Any]]:
        return [self._keys[name][0] for name in sorted(self._keys)]

    def describe(self, name: str) -> dict[str, Any]:
        return self._get(name)[0]

    def delete(self, name: str) -> None:
        self._get(name)
        del self._keys[name]

    def _get(self, name: str) -> tuple[dict[str, Any], str]:
        if name not in self._keys:
            raise FakeAPIError(404, "UnknownApiKey", f"Unknown API key '{name}'", {"name": name})
        return self._keys[name]

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is a key created here and not deleted since."""
        return any(secret == token for _, secret in self._keys.values())
