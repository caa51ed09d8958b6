"""The hostile servers and handlers (documented in the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import attrs
from aiohttp import web
from helpers import Handler, event_json, raw_server, read_request_head

MiB = 1024 * 1024
GiB = 1024 * MiB

HERE = Path(__file__).parent
#: A self-signed certificate for 127.0.0.1 and localhost, and its key.
CERT = str(HERE / "localhost-cert.pem")
KEY = str(HERE / "localhost-key.pem")


# -- decompression bombs ------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def gzip_bomb_bytes(decoded_size: int) -> bytes:
    """A valid single-member gzip stream of ``decoded_size`` zero bytes (a multiple of 1 MiB).

    Built without compressing ``decoded_size`` bytes: after a full flush the compressor
    starts afresh, so every further MiB of zeros compresses to the same bytes; the
    trailer's CRC and size are computed for the whole stream.
    """
    if decoded_size <= 0 or decoded_size % MiB:
        raise ValueError("decoded_size must be a positive multiple of 1 MiB")
    block = bytes(MiB)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    repeat = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    end = comp.flush(zlib.Z_FINISH)[:-8]  # the final empty block, without its trailer
    count = decoded_size // MiB
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    trailer = struct.pack("<II", crc, decoded_size & 0xFFFFFFFF)
    return first + repeat * (count - 1) + end + trailer


def gzip_bomb(decoded_size: int = GiB, *, chunked: bool = False) -> Handler:
    """A 200 ``Content-Encoding: gzip`` answer that inflates to ``decoded_size`` bytes.

    With a ``Content-Length`` (the compressed size, ~1 MB per GiB) by default, or
    chunked; written in 64 KiB pieces, so the client's flow control applies.
    """
    body = gzip_bomb_bytes(decoded_size)

    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        resp = web.StreamResponse(headers=headers)
        if chunked:
            resp.enable_chunked_encoding()
        else:
            resp.content_length = len(body)
        await resp.prepare(request)
        try:
            for start in range(0, len(body), 65536):
                await resp.write(body[start : start + 65536])
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):  # the client hung up: what we hope
            pass
        return resp

    return handler


@functools.lru_cache(maxsize=4)
def gzip_repeated(unit: bytes, count: int, prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    """A gzip stream of ``prefix + unit * count + suffix``, compressed a MiB at a time (the
    whole is never held: a probe's memory baseline stays low)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [comp.compress(prefix)]
    per_block = max(MiB // len(unit), 1)
    block = unit * per_block
    full, rest = divmod(count, per_block)
    out += [comp.compress(block) for _ in range(full)]
    out += [comp.compress(unit * rest), comp.compress(suffix), comp.flush()]
    return b"".join(out)


#: The two answers of issue 21 that once cost gigabytes, each a small gzip body:
#: a 500 whose 31 KiB body inflates to 31 MiB of two-letter words (an excerpt once split
#: it into 10 million strings), and a 200 list of 16 million zeros (once turned back into
#: JSON text for a message).
WORDS_500 = ("get", 500, (b"ab ", 31 * MiB // 3, b"", b""))
ZEROS_LIST = ("list", 200, (b"0,", 16 * MiB - 2, b"[", b"0]"))


def gzip_answer(body: bytes, status: int = 200) -> Handler:
    """A ``status`` answer with the gzip ``body`` (``Content-Encoding: gzip``, JSON type)."""

    async def handler(_: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return web.Response(body=body, status=status, headers=headers)

    return handler


def encoded_json(data: Any, encoding: str, *, status: int = 200) -> Handler:
    """``data`` as JSON under ``Content-Encoding: encoding``.

    ``gzip`` and ``deflate`` (zlib-wrapped, as RFC 9110 says) are encoded for real;
    ``raw-deflate`` sends a headerless deflate stream labelled ``deflate``, as some
    servers do; any other name is sent as the label over the plain JSON.
    """
    raw = json.dumps(data).encode()
    label = encoding
    if encoding == "gzip":
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        body = comp.compress(raw) + comp.flush()
    elif encoding == "deflate":
        body = zlib.compress(raw)
    elif encoding == "raw-deflate":
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = comp.compress(raw) + comp.flush()
        label = "deflate"
    else:
        body = raw

    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(
            body=body,
            status=status,
            headers={"Content-Type": "application/json", "Content-Encoding": label},
        )

    return handler


# -- secrets --------------------------------------------------------------------------------


def _percent_lower(value: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value, safe=""))


#: Every form in which a server may echo a text (the ``Authorization`` header): raw, JSON's
#: escaped slash, ``\\u`` escapes in either hex case, percent-encoding in either case,
#: and form encoding (``+`` for a space).
ECHO_FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda value: value,
    "slash-escaped": lambda value: value.replace("/", "\\/"),
    "unicode-escaped": lambda value: "".join(f"\\u{ord(c):04x}" for c in value),
    "unicode-escaped-upper": lambda value: "".join(f"\\u{ord(c):04X}" for c in value),
    "percent-encoded": lambda value: quote(value, safe=""),
    "percent-encoded-lower": _percent_lower,
    "form-encoded": lambda value: quote_plus(value, safe=""),
}


def echo_authorization(status: int = 200, *, form: str = "raw", as_json: bool = True) -> Handler:
    """An answer that echoes the request's ``Authorization`` header, written as
    ``ECHO_FORMS[form]`` in the body's text.

    As JSON (``{"message": "you sent ...", "error_code": "Echo", "event_id": ...}``: a
    Feldera error for error statuses, an event of the wrong shape for 2xx; a JSON escape
    form is then seen through by a JSON parser), or as ``text/html`` if not ``as_json``
    (the form stays as it is: nothing decodes it).
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        echoed = ECHO_FORMS[form](auth)
        if not as_json:
            return web.Response(
                text=f"<p>you sent {echoed}</p>", status=status, content_type="text/html"
            )
        if form == "raw":
            echoed = json.dumps(auth)[1:-1]
        text = json.dumps({"message": "you sent @", "error_code": "Echo", "event_id": "@"})
        text = text.replace("@", echoed)
        return web.Response(text=text, status=status, content_type="application/json")

    return handler


# -- redirects ------------------------------------------------------------------------------


def redirect(location: str, status: int = 302) -> Handler:
    """A ``status`` answer with ``Location: location`` (relative or absolute)."""

    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handler


# -- stalls ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def stalled() -> AsyncIterator[Counter]:
    """A server that reads each request and never answers; counts the requests.

    A raw server, so leaving the block cancels the stalled connections at once (an
    aiohttp app would wait for its handlers to finish).
    """
    box = Counter()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        box.connections += 1
        await asyncio.Event().wait()

    async with raw_server(handler) as url:
        box.url = url
        yield box


# -- hostile JSON ---------------------------------------------------------------------------


def nested(depth: int) -> Any:
    """A JSON value of ``depth`` nested objects and arrays (the outermost included)."""
    value: Any = "bottom"
    for level in range(depth):
        value = {"d": value} if level % 2 else [value]
    return value


def deep_event(depth: int, **overrides: Any) -> dict[str, Any]:
    """A ``selector=all`` event whose whole body nests ``depth`` levels (event included)."""
    return event_json(
        selector="all",
        deployment_runtime_status_details=nested(depth - 1),
        **overrides,
    )


# -- servers of their own -------------------------------------------------------------------


@attrs.define
class TLSServer:
    url: str  # https://127.0.0.1:PORT
    plain_url: str  # the same app over plain HTTP
    requests: int = 0


@contextlib.asynccontextmanager
async def tls_server(body: Any = None) -> AsyncIterator[TLSServer]:
    """An HTTPS server (self-signed :data:`CERT`) answering every GET with ``body``.

    ``body`` defaults to an event; ``requests`` counts the requests that got through
    the TLS handshake.
    """
    box = TLSServer(url="", plain_url="")
    data = event_json() if body is None else body

    async def handle(_: web.Request) -> web.StreamResponse:
        box.requests += 1
        return web.json_response(data)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERT, KEY)
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    secure = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    await secure.start()
    await plain.start()
    try:
        box.url = f"https://127.0.0.1:{_port(secure)}"
        box.plain_url = f"http://127.0.0.1:{_port(plain)}"
        yield box
    finally:
        await runner.cleanup()


def _port(site: web.TCPSite) -> int:
    server = site._server
    assert isinstance(server, asyncio.Server)
    port: int = server.sockets[0].getsockname()[1]
    return port


@attrs.define
class Counter:
    url: str = ""
    connections: int = 0


@contextlib.asynccontextmanager
async def not_http(banner: bytes = b"SSH-2.0-OpenSSH_9.6\r\n") -> AsyncIterator[Counter]:
    """A TCP port that greets like an SSH server and reads whatever is sent."""
    box = Counter()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        box.connections += 1
        writer.write(banner)
        await writer.drain()
        with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await read_request_head(reader)
        await asyncio.Event().wait()  # until the client hangs up or the server closes

    async with raw_server(handler) as url:
        box.url = url
        yield box


# -- malformed answers ----------------------------------------------------------------------

#: Malformed HTTP answers that carry the request's bearer token (``{key}``), each where
#: aiohttp's parser quotes it in its error: a header value, the status line, a header
#: name, a chunk size, a Content-Length.
MALFORMED_ECHOES: dict[str, bytes] = {
    "header-value": b"HTTP/1.1 200 OK\r\nX-E: a\x00{key}\r\nContent-Length: 2\r\n\r\n{}",
    "status-line": b"HTTP/1.1 2{key} OK\r\nContent-Length: 2\r\n\r\n{}",
    "header-name": b"HTTP/1.1 200 OK\r\nX {key}: a\r\nContent-Length: 2\r\n\r\n{}",
    "chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz{key}\r\n{}\r\n0\r\n\r\n",
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 1{key}\r\n\r\n{}",
}


@contextlib.asynccontextmanager
async def malformed_echo(kind: str) -> AsyncIterator[Counter]:
    """A server whose answer is the malformed ``MALFORMED_ECHOES[kind]``, holding the
    token of the request's ``Authorization: Bearer`` header."""
    box = Counter()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        box.connections += 1
        head = await read_request_head(reader)
        key = b""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"authorization: bearer "):
                key = line.split(b" ", 2)[2]
        writer.write(MALFORMED_ECHOES[kind].replace(b"{key}", key))
        await writer.drain()
        await asyncio.Event().wait()  # until the client hangs up or the server closes

    async with raw_server(handler) as url:
        box.url = url
        yield box
