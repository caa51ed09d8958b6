"""Untrusted text: the one way server text is shown to people, excerpts, and finding a key in it.

Whatever a server sends (a body, an error message, an enum value) may have been chosen
by an attacker or by whoever wrote a pipeline's SQL or data. :func:`safe_text` is the
one function that renders it for people and logs; :func:`contains_key` finds an API key
in any form a server may echo it. Pure functions of text, below every other module.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = [
    "BODY_EXCERPT_LIMIT",
    "CODE_LIMIT",
    "MESSAGE_LIMIT",
    "SAFE_TEXT_LIMIT",
    "STATUS_LIMIT",
    "WITHHELD",
    "contains_key",
    "excerpt",
    "safe_text",
    "withhold_strings",
]

#: How much of a response body an exception keeps (and shows) at most.
BODY_EXCERPT_LIMIT = 500

#: How many characters of one server text :func:`safe_text` shows by default.
SAFE_TEXT_LIMIT = 500

#: The most an exception's ``str()`` shows (its server texts are bounded one by one too).
MESSAGE_LIMIT = 2000

#: The most of a server's error code an exception's ``str()`` shows.
CODE_LIMIT = 100

#: The most of one status line (:meth:`PipelineEvent.status_text`) shown.
STATUS_LIMIT = 200


def safe_text(text: object, limit: int | None = SAFE_TEXT_LIMIT) -> str:
    """THE rendering of untrusted text (what a server sent) for people and logs.

    One inert line: every character ``str.isprintable`` refuses except the space
    (control characters such as ESC, BEL, CR and the newline, DEL and the C1 controls,
    line and paragraph separators, bidirectional overrides, unpaired surrogates) is
    written as its visible Python escape (``\\n``, ``\\x1b``, ``\\u202e``), so the text
    can neither move a terminal's cursor, retitle or clear it, nor start a line of its
    own in a CI log (a forged ``::warning::`` workflow command), nor reorder what is
    around it. At most ``limit`` characters (None: no limit) of the result, then ``…``
    and how many characters of ``text`` were left out. Costs in proportion to ``limit``,
    whatever the length of ``text``. ``--json`` output never goes through here: JSON
    escapes the exact text.
    """
    if not isinstance(text, str):
        text = str(text)
    head = text if limit is None else text[:limit]
    if head.isprintable():
        shown, used = head, len(head)
    else:
        pieces: list[str] = []
        size = 0
        for ch in head:
            piece = ch if ch.isprintable() else repr(ch)[1:-1]  # its Python escape
            if limit is not None and size + len(piece) > limit:
                break
            pieces.append(piece)
            size += len(piece)
        shown, used = "".join(pieces), len(pieces)
    left = len(text) - used
    if left > 0:
        return f"{shown}… ({left} more characters)"
    return shown


#: A run of non-space characters, at most this long per match: an excerpt of a body that
#: is one huge word copies no more of it than it shows.
_WORD_STR = re.compile(r"\S{1,256}")
_WORD_BYTES = re.compile(rb"\S{1,256}")


def excerpt(body: bytes | str | None, limit: int = BODY_EXCERPT_LIMIT) -> str:
    """A short excerpt of a response body for a message: runs of whitespace become one
    space, the text is made safe (:func:`safe_text`), at most ``limit`` characters, then
    how much of ``body`` was left out (bytes for a body, characters for a text).

    Reads only the start of ``body``: an excerpt of a 32 MiB body costs what an excerpt
    of a short one does (no copy of the whole, no list of its words).
    """
    if body is None:
        return ""
    text_input = isinstance(body, str)
    shown: list[str] = []
    size = 0
    end = 0  # where in ``body`` the shown text ends
    last = -1  # where the previous match ended (adjacent matches are one word)
    words = _WORD_STR.finditer(body) if isinstance(body, str) else _WORD_BYTES.finditer(body)
    for match in words:
        piece = match.group()
        word = piece if isinstance(piece, str) else piece.decode("utf-8", errors="replace")
        gap = " " if shown and match.start() != last else ""
        room = limit - size - len(gap)
        if len(word) > room:
            if room > 0:
                part = word[:room]
                shown.append(gap + part)
                used = len(part) if text_input else len(part.encode("utf-8", errors="replace"))
                end = match.start() + min(used, len(piece))
            unit = "characters" if text_input else "bytes"
            return f"{safe_text(''.join(shown), None)}... ({len(body) - end} more {unit})"
        shown.append(gap + word)
        size += len(gap) + len(word)
        end = last = match.end()
    return safe_text("".join(shown), None)


#: What replaces a server text that contains the API key.
WITHHELD = "withheld: it contains the API key"


def _hex(value: int, digits: int) -> str:
    """A regex for ``value`` in ``digits`` hex digits, either case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{digits}x}")


def _escaped_forms(ch: str) -> list[str]:
    """Regexes (ASCII) for one character of a key in every form a server may echo it
    but raw: percent-encoded (its UTF-8 bytes, either hex case; ``+`` for a space),
    a JSON ``\\u`` escape (either case; a surrogate pair beyond the BMP) or a JSON
    short escape (``\\/``, ``\\"``, ``\\\\``)."""
    forms = ["".join("%" + _hex(b, 2) for b in ch.encode("utf-8"))]
    if ch == " ":
        forms.append(r"\+")
    code = ord(ch)
    if code < 0x10000:
        forms.append(r"\\u" + _hex(code, 4))
    else:
        high, low = divmod(code - 0x10000, 0x400)
        forms.append(r"\\u" + _hex(0xD800 + high, 4) + r"\\u" + _hex(0xDC00 + low, 4))
    if ch in '/"\\':
        forms.append(re.escape("\\" + ch))
    return forms


@functools.lru_cache(maxsize=16)
def _key_patterns(keys: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[bytes]]:
    """One regex (for text, and for UTF-8 bytes) that finds any of ``keys`` raw or in any
    of the forms of :func:`_escaped_forms`, each character on its own (a key echoed half
    escaped is found too)."""

    def pattern(raw: Callable[[str], str]) -> str:
        return "|".join(
            "".join("(?:" + "|".join([raw(ch), *_escaped_forms(ch)]) + ")" for ch in key)
            for key in keys
        )

    # For bytes, a raw character is its UTF-8 bytes (every other form is ASCII).
    as_bytes = pattern(lambda ch: re.escape(ch.encode("utf-8")).decode("latin-1"))
    return re.compile(pattern(re.escape)), re.compile(as_bytes.encode("latin-1"))


@functools.lru_cache(maxsize=16)
def _plan(keys: tuple[str, ...]) -> tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[str, ...]]:
    """For ``keys``: their UTF-8 bytes, and what comes before every form of a character
    but the raw one (``%``, ``\\``, and ``+`` for a key with a space), as bytes and text:
    only a text holding one of these needs the regex, else a substring search decides."""
    marks = ("%", "\\", "+") if any(" " in key for key in keys) else ("%", "\\")
    return tuple(k.encode("utf-8") for k in keys), tuple(m.encode() for m in marks), marks


def _holds(text: str | bytes, keys: tuple[str, ...]) -> bool:
    raw, byte_marks, marks = _plan(keys)
    if isinstance(text, str):
        needles: tuple[str | bytes, ...] = keys
        escapes: tuple[str | bytes, ...] = marks
    else:
        needles, escapes = raw, byte_marks
    for needle in needles:  # plain loops: this runs on every answer's body
        if needle in text:  # type: ignore[operator]
            return True
    for mark in escapes:
        if mark in text:  # type: ignore[operator]
            pattern = _key_patterns(keys)[0 if isinstance(text, str) else 1]
            return pattern.search(text) is not None  # type: ignore[arg-type]
    return False


def contains_key(value: Any, keys: Iterable[str]) -> bool:
    """Whether ``value`` (text, bytes or parsed JSON) contains one of ``keys``.

    In every form a server may echo a key (:func:`_escaped_forms`: raw, JSON-escaped with
    ``\\/`` or ``\\u`` escapes in either case, percent-encoded in either case or with
    ``+`` for a space, each character on its own); parsed JSON is walked (keys and
    values). Costs one pass over the text, no copy of it: a body is searched as bytes
    (UTF-8; a UTF-16 or UTF-32 JSON body is decoded first).
    """
    wanted = tuple(key for key in keys if key)
    if not wanted:
        return False
    if type(value) is bytes and 0 not in value[:4]:  # a UTF-8 body: the common case
        return _holds(value, wanted)
    todo: list[Iterator[Any]] = [iter((value,))]
    while todo:
        item = next(todo[-1], _END)
        if item is _END:
            todo.pop()
        elif isinstance(item, str):
            if _holds(item, wanted):
                return True
        elif isinstance(item, bytes | bytearray):
            data = bytes(item) if isinstance(item, bytearray) else item
            if data[:4].count(0):  # UTF-16 or UTF-32 JSON: searched as the text it is
                text = data.decode(json.detect_encoding(data), errors="replace")
                if _holds(text, wanted):
                    return True
            if _holds(data, wanted):
                return True
        elif isinstance(item, dict):
            todo.append(iter(item.keys()))
            todo.append(iter(item.values()))
        elif isinstance(item, list | tuple):
            todo.append(iter(item))
    return False


_END: Any = object()


def withhold_strings(data: Any, keys: Iterable[str]) -> Any:
    """Parsed JSON with every string (value or object key) that holds one of ``keys``
    replaced by :data:`WITHHELD`, whole; everything else as it was (nested at most
    ``MAX_JSON_DEPTH`` levels: the parser's limit)."""
    wanted = tuple(key for key in keys if key)
    if isinstance(data, str):
        return WITHHELD if contains_key(data, wanted) else data
    if isinstance(data, dict):
        return {
            withhold_strings(name, wanted): withhold_strings(value, wanted)
            for name, value in data.items()
        }
    if isinstance(data, list):
        return [withhold_strings(item, wanted) for item in data]
    return data
