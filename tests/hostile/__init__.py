"""Hostile servers: what an attacker, a broken proxy or an unlucky set-up answers.

Every server listens on 127.0.0.1 (a free port) and is meant to be reused by any
test that needs it. Two kinds:

* **Handlers** for :func:`helpers.loopback` (a real aiohttp server that records every
  request it sees in ``.seen``)::

      async with loopback(gzip_bomb(GiB)) as srv, EventsClient(srv.url) as client:
          ...

  - :func:`gzip_bomb` -- a 200 whose ~1 MB gzip body inflates to ``decoded_size``
    (zeros), with a ``Content-Length`` or chunked; :func:`gzip_bomb_bytes` builds it.
  - :func:`gzip_answer` -- any status with a gzip body; :func:`gzip_repeated` builds
    one a MiB at a time. ``WORDS_500`` and ``ZEROS_LIST`` are issue 21's two costly
    answers (a 500 of 31 MiB of words, a 200 list of 16 million zeros).
  - :func:`encoded_json` -- a well-formed JSON body under a ``Content-Encoding``
    (``gzip``, ``deflate``, raw deflate, or anything you name).
  - :func:`echo_authorization` -- a 2xx or error answer that echoes the request's
    ``Authorization`` header in a JSON body of the wrong shape or an HTML page, in one of
    ``ECHO_FORMS`` (raw, ``\\/``, ``\\u`` escapes, percent- or form-encoded).
  - :func:`redirect` -- a 3xx to any ``Location`` (another origin, the same path for
    a loop, an invalid one).
  - :func:`deep_event` / :func:`nested` -- an event whose ``*_details`` nest ``depth``
    levels deep.

* **Servers** of their own (async context managers yielding a URL):

  - :func:`tls_server` -- HTTPS with the self-signed certificate in this directory
    (``localhost-cert.pem``, valid for 127.0.0.1 and localhost until 2126); give the
    client ``verify=CERT`` to trust it, or nothing to see verification fail. Its
    ``.plain_url`` is the same app over plain HTTP on another port.
  - :func:`not_http` -- a TCP port that answers like an SSH server, counting
    connections in the yielded :class:`Counter`.
  - :func:`stalled` -- reads each request and never answers (a :class:`Counter`
    of requests).
  - :func:`malformed_echo` -- answers with malformed HTTP (a bad header value,
    status line, header name, chunk size or Content-Length: ``MALFORMED_ECHOES``)
    that holds the request's bearer token where aiohttp's parser quotes it.

Nothing here sleeps in place of synchronisation; every server and connection is
closed when its ``async with`` block ends.
"""

from __future__ import annotations

from .servers import (
    CERT,
    ECHO_FORMS,
    KEY,
    MALFORMED_ECHOES,
    WORDS_500,
    ZEROS_LIST,
    Counter,
    GiB,
    MiB,
    TLSServer,
    deep_event,
    echo_authorization,
    encoded_json,
    gzip_answer,
    gzip_bomb,
    gzip_bomb_bytes,
    gzip_repeated,
    malformed_echo,
    nested,
    not_http,
    redirect,
    stalled,
    tls_server,
)

__all__ = [
    "CERT",
    "ECHO_FORMS",
    "KEY",
    "MALFORMED_ECHOES",
    "WORDS_500",
    "ZEROS_LIST",
    "Counter",
    "GiB",
    "MiB",
    "TLSServer",
    "deep_event",
    "echo_authorization",
    "encoded_json",
    "gzip_bomb",
    "gzip_answer",
    "gzip_bomb_bytes",
    "gzip_repeated",
    "malformed_echo",
    "nested",
    "not_http",
    "redirect",
    "stalled",
    "tls_server",
]
