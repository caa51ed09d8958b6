"""Shared test utilities: wire-JSON event factories and loopback servers on 127.0.0.1.

The loopback servers are real sockets, so everything here works on every aiohttp
release (unlike aioresponses, which cannot run on aiohttp >= 3.14).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import attrs
from aiohttp import web

EVENT_ID = "0197a2b4-6f1e-7c3a-9d2e-1b2c3d4e5f60"
EVENT_ID_2 = "0197a2b4-6f1e-7c3a-9d2e-1b2c3d4e5f61"
RECORDED_AT = "2026-08-20T10:11:12.123456Z"

#: Keys present only with ``selector=all``.
ALL_ONLY_KEYS = (
    "deployment_error",
    "deployment_resources_status_details",
    "deployment_runtime_status_details",
    "storage_status_details",
)


def event_json(*, selector: str = "status", **overrides: Any) -> dict[str, Any]:
    """A wire-JSON event as Feldera sends it for ``selector`` (a stopped pipeline)."""
    data: dict[str, Any] = {
        "event_id": EVENT_ID,
        "recorded_at": RECORDED_AT,
        "deployment_resources_status": "Stopped",
        "deployment_resources_desired_status": "Stopped",
        "deployment_runtime_status": None,
        "deployment_runtime_desired_status": None,
        "deployment_has_error": False,
        "program_status": "Success",
        "storage_status": "Cleared",
    }
    if selector == "all":
        data.update(dict.fromkeys(ALL_ONLY_KEYS))
    data.update(overrides)
    return data


def error_json(error_code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"message": message, "error_code": error_code, "details": details}


# -- aiohttp.web loopback server ---------------------------------------------------------


@attrs.define
class Seen:
    """One request as the loopback server saw it."""

    method: str
    raw_path: str  # path and query exactly as sent on the wire (still percent-encoded)
    path: str  # decoded path
    query: dict[str, str]
    headers: dict[str, str]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.define
class Loopback:
    """A real aiohttp server on 127.0.0.1 that answers from a script and records requests.

    Each request pops the next responder from ``script`` (the last one repeats when the
    script runs dry); a responder is a handler ``(request) -> response``.
    """

    url: str
    script: list[Handler]
    seen: list[Seen] = attrs.field(factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                method=request.method,
                raw_path=request.raw_path,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
            )
        )
        responder = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return await responder(request)

    @property
    def last(self) -> Seen:
        return self.seen[-1]


def respond_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(
            text=json.dumps(body),
            status=status,
            content_type="application/json",
            headers=headers,
        )

    return handler


def respond_raw(
    body: bytes | str,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        data = body.encode() if isinstance(body, str) else body
        return web.Response(body=data, status=status, content_type=content_type, headers=headers)

    return handler


def respond_chunked(chunks: list[bytes], status: int = 200) -> Handler:
    """A chunked response (no Content-Length) made of ``chunks``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for chunk in chunks:
            try:
                await resp.write(chunk)
            except (ConnectionResetError, RuntimeError):  # the client hung up: fine
                break
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    return handler


@contextlib.asynccontextmanager
async def loopback(*script: Handler) -> AsyncIterator[Loopback]:
    """Serve ``script`` on 127.0.0.1 (a free port) for the duration of the block."""
    box = Loopback(url="", script=list(script) or [respond_json(event_json())])
    app = web.Application()
    # Any path: (?s) also matches a newline a hostile pipeline name puts in it.
    app.router.add_route("*", "/{tail:(?s:.*)}", box.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        server = site._server
        assert isinstance(server, asyncio.Server)
        port = server.sockets[0].getsockname()[1]
        box.url = f"http://127.0.0.1:{port}"
        yield box
    finally:
        await runner.cleanup()


# -- raw socket server for transport faults ----------------------------------------------

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP request head (up to the blank line)."""
    return await reader.readuntil(b"\r\n\r\n")


@contextlib.asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[str]:
    """A bare TCP server on 127.0.0.1 running ``handler`` per connection; yields its URL.

    On exit the server is closed and every connection handler still running is
    cancelled and awaited (nothing outlives the test).
    """
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)  # type: ignore[arg-type]
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            # Cancelled by the server's exit below: end normally, or asyncio's stream
            # protocol reports the cancelled handler task as an error on the loop.
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def http_response(
    status: int, body: bytes, *, headers: dict[str, str] | None = None, length: int | None = None
) -> bytes:
    """A raw HTTP/1.1 response; ``length`` overrides Content-Length (to lie about it)."""
    head = [f"HTTP/1.1 {status} X", "Content-Type: application/json", "Connection: close"]
    head.append(f"Content-Length: {len(body) if length is None else length}")
    for name, value in (headers or {}).items():
        head.append(f"{name}: {value}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def new_uuid() -> str:
    return str(uuid.uuid4())


# -- a port that refuses connections -------------------------------------------------------


class RefusedPort:
    """A loopback port held bound but not listening: connections to it are refused, and
    no other process can take it while it is held (a port found free, released and
    used later could be taken in between: a check-then-use race)."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        """Free the port (e.g. right before a server of the test listens on it)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@contextlib.contextmanager
def refused_port() -> Iterator[RefusedPort]:
    """A port that refuses connections for the duration of the block."""
    held = RefusedPort()
    try:
        yield held
    finally:
        held.release()


class VirtualTime:
    """An injected clock and sleep (``Poller(clock=vt.clock, sleep=vt.sleep)``): seconds
    pass only when something sleeps, so a wait's times and poll counts are exact.

    A sleep of ``d`` wakes at ``now + d`` (as of the call): sleeps that overlap do not add
    up. It first lets the loop turn ``TURNS`` times, enough for every request already
    started on loopback to be answered (a round trip takes a fixed number of turns, not
    of seconds), so that time moves only when the other tasks wait for it; a sleep
    cancelled meanwhile (a shared poll re-armed for an earlier round) moves no time. ``at(t, action)`` runs
    ``await action()`` once the clock has reached ``t``, inside the sleep that reached it
    (before whatever that sleep was waiting for, and every other sleep that ends then):
    real time passes, the clock stands still.
    """

    TURNS = 200

    def __init__(self, start: float = 1000.0) -> None:
        self.start = self.now = start
        self.sleeps: list[float] = []
        self._actions: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        self._acting = asyncio.Lock()

    def clock(self) -> float:
        return self.now

    def at(self, elapsed: float, action: Callable[[], Awaitable[None]]) -> None:
        self._actions.append((self.start + elapsed, action))
        self._actions.sort(key=lambda pair: pair[0])

    async def sleep(self, seconds: float) -> None:
        wake = self.now + seconds
        for _ in range(self.TURNS):
            await asyncio.sleep(0)
        self.sleeps.append(seconds)
        self.now = max(self.now, wake)
        async with self._acting:  # every sleeper waits for an action under way
            while self._actions and self._actions[0][0] <= self.now:
                _, action = self._actions.pop(0)
                await action()
