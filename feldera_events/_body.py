"""A response body's bytes: its content coding undone within a byte budget, and strict
JSON. Pure: no I/O, nothing but the standard library.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any, Final

from ._text import excerpt

__all__ = [
    "MAX_JSON_DEPTH",
    "MIN_VALUE_BUDGET",
    "BodyDecoder",
    "JSONRefused",
    "parse_json",
    "value_budget",
]

#: JSON nested deeper than this (objects and arrays, the outermost included) is refused
#: as a ResponseValidationError: serde_json, which the manager uses, stops at 128 too,
#: and everything accepted stays printable (repr, json.dumps, rich).
MAX_JSON_DEPTH: Final = 128

#: A JSON body holding more values than this is refused before it is parsed (the least of
#: the budget: see :func:`value_budget`).
MIN_VALUE_BUDGET: Final = 1 << 16

#: The most one zlib call inflates at once (see _BodyDecoder.feed).
_INFLATE_STEP: Final = 1 << 20


class JSONRefused(ValueError):
    """Valid JSON the client refuses: too deep, or a string that cannot be printed."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


#: The strict decoder, made once (``json.loads`` with keyword arguments makes one a call).
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def value_budget(max_body_size: int) -> int:
    """How many JSON values a body may hold for a client with ``max_body_size``.

    Parsed, one JSON value costs far more than its bytes (``{}`` is 2 bytes, a Python
    dict about 64), so a body of tiny values could cost 30 times the cap; one value per
    16 bytes of the cap keeps a parse within a few times ``max_body_size`` (an event is
    hundreds of bytes for some twenty values).
    """
    return max(max_body_size // 16, MIN_VALUE_BUDGET)


def parse_json(body: bytes, max_values: int | None = None) -> Any:
    """Strict JSON: no NaN/Infinity, at most MAX_JSON_DEPTH levels, printable strings,
    and at most ``max_values`` values (None: any number).

    Raises ValueError with a readable reason for anything else. The same parser as
    ``json.loads`` (the C scanner); the checks cost little where they cannot fail.
    """
    if max_values is not None and len(body) > max_values:
        # Every value but the first follows a comma or opens a container: an upper bound
        # (commas in strings count too), counted without parsing.
        count = body.count(b",") + body.count(b"[") + body.count(b"{") + 1
        if count > max_values:
            raise JSONRefused(
                f"a JSON body of more than {max_values} values (about {count}); "
                "raise max_body_size to accept it"
            )
    try:
        # What json.loads does with bytes, with our decoder, and strict decoding: an
        # encoded surrogate (json.loads lets one through) cannot be printed either.
        data = _DECODER.decode(body.decode(json.detect_encoding(body)))
    except RecursionError:
        raise JSONRefused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    # Every level opens with a bracket: a body with few of them cannot be too deep,
    # and counting bytes is far cheaper than walking the parsed containers.
    shallow = body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH
    # Only containers are visited (a 720-event list costs a fraction of json.loads).
    todo: list[tuple[Any, int]] = [] if shallow or type(data) not in (dict, list) else [(data, 1)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_JSON_DEPTH:
            raise JSONRefused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        for value in item.values() if type(item) is dict else item:
            if type(value) is dict or type(value) is list:
                todo.append((value, depth + 1))
    # A string can only hold a surrogate that UTF-8 cannot encode through a \uD8xx-\uDFxx
    # escape (raw bytes are decoded strictly): look for strings only if there is one.
    if b"\\u" in body and _SURROGATE_ESCAPE.search(body):
        try:  # every string, keys too, as UTF-8: only an unpaired surrogate fails
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JSONRefused(
                "a JSON string holds an unpaired surrogate (\\ud800-\\udfff), "
                "which cannot be printed"
            ) from None
    return data


_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class BodyDecoder:
    """Decodes a body's ``Content-Encoding`` chunk by chunk, never past a byte budget.

    aiohttp's own decompression (before 3.14) inflates a whole network read at once, so
    a small gzip bomb could cost gigabytes before any size check; here every
    ``decompress`` call is capped at what the budget still allows.
    """

    def __init__(self, encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            self.mode: str | None = None
        elif len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
            self.mode = codings[0]
        else:
            # Not echoed in full: it is server text.
            raise ValueError(f"unsupported Content-Encoding {excerpt(encoding, 40)!r}")
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        self._fed = False
        self._raw_deflate_tried = False

    def feed(self, data: bytes, budget: int) -> list[bytes]:
        """Decoded ``data``, in pieces: at most ``budget + 1`` bytes (more than budget:
        too large).

        Inflated a step at a time and never joined here: one ``decompress`` call as large
        as the budget, or a join of the pieces, would hold the output twice.
        """
        if self.mode is None or not data:
            return [data]
        out: list[bytes] = []
        produced = 0
        while True:
            limit = min(budget - produced + 1, _INFLATE_STEP)
            try:
                piece = self._obj.decompress(data, limit)
            except zlib.error as exc:
                if self.mode == "deflate" and not self._fed and not self._raw_deflate_tried:
                    # "deflate" sent without its zlib header, as some servers do.
                    self._raw_deflate_tried = True
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise ValueError(f"body is not valid {self.mode} ({exc})") from None
            self._fed = True
            out.append(piece)
            produced += len(piece)
            if produced > budget:
                break
            if len(piece) == limit or self._obj.unconsumed_tail:
                data = self._obj.unconsumed_tail  # more output is due from this input
                continue
            if self._obj.eof and self._obj.unused_data:
                # The next member of a multi-member gzip stream.
                data = self._obj.unused_data
                self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)
                continue
            break
        return out

    def finish(self) -> None:
        if self.mode is not None and self._fed and not self._obj.eof:
            raise ValueError(f"{self.mode} body ends before its compressed stream does")
