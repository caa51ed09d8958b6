"""A body's content coding and strict JSON (feldera_events._body), as plain functions: no
server (issue 24, mutation testing; tests/hostile covers the same over a socket)."""

from __future__ import annotations

import gzip
import json
import os
import tracemalloc
import zlib
from typing import Any

import pytest

from feldera_events._body import (
    MAX_JSON_DEPTH,
    MIN_VALUE_BUDGET,
    BodyDecoder,
    JSONRefused,
    parse_json,
    value_budget,
)


def nested(depth: int) -> bytes:
    """JSON ``depth`` levels deep, objects and arrays taking turns."""
    body = b"1"
    for level in range(depth):
        body = b"[" + body + b"]" if level % 2 else b'{"k":' + body + b"}"
    return body


# -- strict JSON -------------------------------------------------------------------------


def test_the_depth_limit_is_128_levels_counted_from_the_outermost() -> None:
    assert MAX_JSON_DEPTH == 128
    assert parse_json(nested(128)) is not None
    with pytest.raises(JSONRefused, match=r"^JSON nested deeper than 128 levels$"):
        parse_json(nested(129))
    # Brackets in a string make a body of 128 levels look deeper: walked, it is taken.
    assert parse_json(b'{"s": "[", "v": ' + nested(127) + b"}")["s"] == "["
    # Brackets inside strings make a body look deep; it is walked and found shallow.
    padded = b'{"s": "' + b"[" * 200 + b'", "v": ' + nested(100) + b"}"
    assert parse_json(padded)["s"] == "[" * 200


def test_a_deep_value_in_an_object_after_shallow_ones_is_found() -> None:
    body = b'{"a": [1], "b": {"c": 2}, "deep": ' + nested(128) + b"}"
    with pytest.raises(JSONRefused, match="nested deeper"):
        parse_json(body)
    deep_list = b"[1, [2], " + nested(128) + b"]"
    with pytest.raises(JSONRefused, match="nested deeper"):
        parse_json(deep_list)


def test_a_scalar_body_is_never_walked() -> None:
    assert parse_json(b'"' + b"{" * 200 + b'"') == "{" * 200


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_constants_outside_the_standard_are_refused(constant: bytes) -> None:
    with pytest.raises(ValueError, match="is not valid JSON"):
        parse_json(b"[" + constant + b"]")


@pytest.mark.parametrize("escape", [rb"\ud800", rb"\uDBFF", rb"\udc00", rb"\uDFFF"])
def test_an_unpaired_surrogate_escape_is_refused_wherever_it_is(escape: bytes) -> None:
    for body in (
        b'"x' + escape + b'"',
        b'{"k": ["a", "x' + escape + b'"]}',
        b'{"x' + escape + b'": 1}',
        b'{"a": 1, "b": {"c": "x' + escape + b'"}}',
    ):
        with pytest.raises(JSONRefused, match="unpaired surrogate"):
            parse_json(body)


def test_a_surrogate_pair_and_other_escapes_are_accepted() -> None:
    assert parse_json(rb'["\ud83d\ude00", "\u00e9", "\uD7FF", "\uE000"]') == [
        "\U0001f600",
        "é",
        "\ud7ff",
        "\ue000",
    ]


def test_the_value_budget_counts_values_without_parsing() -> None:
    body = b"[" + b",".join([b"0"] * 100) + b"]"  # 100 values and the list: 101
    assert parse_json(body, max_values=101) == [0] * 100
    with pytest.raises(JSONRefused, match=r"^a JSON body of more than 100 values \(about 101\)"):
        parse_json(body, max_values=100)
    # A body no longer than the budget cannot hold more values: not counted.
    assert parse_json(b"[1,2]", max_values=5) == [1, 2]
    with pytest.raises(json.JSONDecodeError):  # its own fault, not one of too many values
        parse_json(b"[[[", max_values=3)
    assert parse_json(b"[[[[1]]]]", max_values=9) == [[[[1]]]]
    with pytest.raises(JSONRefused):
        parse_json(b"[[[[1]]]]", max_values=4)
    with pytest.raises(JSONRefused):
        parse_json(b'[{"a":{}}, {}]', max_values=4)


def test_the_value_budget_is_one_value_per_16_bytes_of_the_cap_at_least_65536() -> None:
    assert MIN_VALUE_BUDGET == 65536
    assert value_budget(0) == 65536
    assert value_budget(16 * 65536) == 65536
    assert value_budget(16 * 65537 + 15) == 65537
    assert value_budget(32 * 1024 * 1024) == 2 * 1024 * 1024


# -- content coding ----------------------------------------------------------------------

DATA = b'{"event": "' + b"x" * 5000 + b'"}'


@pytest.mark.parametrize("encoding", [None, "", "identity", " Identity , "])
def test_no_coding_passes_the_body_through(encoding: str | None) -> None:
    decoder = BodyDecoder(encoding)
    assert decoder.mode is None
    assert decoder.feed(b"abc", 1) == [b"abc"]  # the budget is checked by the caller
    decoder.finish()


@pytest.mark.parametrize(
    ("encoding", "mode"),
    [("gzip", "gzip"), ("x-gzip", "x-gzip"), ("deflate", "deflate"), (" GZIP , identity", "gzip")],
)
def test_one_known_coding_is_undone(encoding: str, mode: str) -> None:
    decoder = BodyDecoder(encoding)
    assert decoder.mode == mode
    packed = gzip.compress(DATA) if "gzip" in mode else zlib.compress(DATA)
    assert b"".join(decoder.feed(packed, len(DATA))) == DATA
    decoder.finish()


@pytest.mark.parametrize("encoding", ["br", "gzip, gzip", "gzip, deflate", "compress"])
def test_other_codings_are_refused(encoding: str) -> None:
    with pytest.raises(ValueError, match=r"^unsupported Content-Encoding"):
        BodyDecoder(encoding)


def test_a_refused_coding_is_quoted_within_40_characters() -> None:
    with pytest.raises(ValueError, match="unsupported") as info:
        BodyDecoder("x" * 100)
    assert "x" * 40 + "..." in str(info.value) and "x" * 41 not in str(info.value)


def test_deflate_without_its_zlib_header_is_undone() -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    packed = raw.compress(DATA) + raw.flush()
    decoder = BodyDecoder("deflate")
    assert b"".join(decoder.feed(packed, len(DATA))) == DATA
    decoder.finish()


def test_gzip_that_is_not_gzip_is_refused_at_once() -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    packed = raw.compress(DATA) + raw.flush()
    with pytest.raises(ValueError, match=r"^body is not valid gzip \("):
        BodyDecoder("gzip").feed(packed, len(DATA))
    with pytest.raises(ValueError, match=r"^body is not valid deflate \("):
        BodyDecoder("deflate").feed(b"\xff" * 20, 100)


def test_deflate_falls_back_to_raw_only_before_any_output() -> None:
    decoder = BodyDecoder("deflate")
    packed = zlib.compress(DATA)
    decoder.feed(packed[:10], len(DATA))  # the zlib header and a start: taken
    with pytest.raises(ValueError, match="not valid deflate"):
        decoder.feed(b"\xff" * 20, len(DATA))


def test_the_output_stops_one_byte_past_the_budget() -> None:
    packed = gzip.compress(DATA)
    for budget in (0, 1, 100, len(DATA) - 1):
        out = BodyDecoder("gzip").feed(packed, budget)
        assert sum(map(len, out)) == budget + 1
    whole = BodyDecoder("gzip").feed(packed, len(DATA))
    assert sum(map(len, whole)) == len(DATA)


def test_a_budget_larger_than_one_inflate_step_is_kept_to_the_byte() -> None:
    big = b"y" * (3 * (1 << 20))
    budget = (1 << 20) + (1 << 19)
    out = BodyDecoder("gzip").feed(gzip.compress(big), budget)
    assert sum(map(len, out)) == budget + 1


def test_a_body_larger_than_one_inflate_step_comes_whole_in_pieces() -> None:
    big = b"y" * (3 * (1 << 20) + 5)
    out = BodyDecoder("gzip").feed(gzip.compress(big), len(big))
    assert b"".join(out) == big
    assert max(map(len, out)) == 1 << 20


@pytest.mark.parametrize("size", [1 << 20, 3 << 20, (3 << 20) + 5])
@pytest.mark.parametrize("chunk", [100, 1 << 16])
def test_a_body_fed_in_network_chunks_comes_whole_whatever_its_size(size: int, chunk: int) -> None:
    big = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    packed = gzip.compress(big)
    decoder = BodyDecoder("gzip")
    out = [
        p for i in range(0, len(packed), chunk) for p in decoder.feed(packed[i : i + chunk], size)
    ]
    decoder.finish()
    assert b"".join(out) == big


def test_every_member_of_a_multi_member_deflate_body_is_undone() -> None:
    decoder = BodyDecoder("deflate")
    assert b"".join(decoder.feed(zlib.compress(b"one ") + zlib.compress(b"two"), 100)) == b"one two"
    decoder.finish()


def test_every_member_of_a_multi_member_gzip_body_is_undone() -> None:
    packed = gzip.compress(b"one ") + gzip.compress(b"two ") + gzip.compress(b"three")
    decoder = BodyDecoder("gzip")
    assert b"".join(decoder.feed(packed, 100)) == b"one two three"
    decoder.finish()


def test_a_body_fed_in_pieces_is_undone_and_a_cut_one_refused() -> None:
    packed = gzip.compress(DATA)
    decoder = BodyDecoder("gzip")
    out = [p for i in range(0, len(packed), 7) for p in decoder.feed(packed[i : i + 7], 10**6)]
    assert b"".join(out) == DATA
    decoder.finish()
    cut = BodyDecoder("gzip")
    cut.feed(packed[: len(packed) // 2], 10**6)
    with pytest.raises(ValueError, match=r"^gzip body ends before its compressed stream does$"):
        cut.finish()
    BodyDecoder("gzip").finish()  # nothing fed: nothing to end


# -- reading a body within max_body_size (_transport.read_body) ----------------------------


class Response:
    """What read_body reads of an aiohttp response: a body in network chunks."""

    def __init__(self, body: bytes, *, length: bool = True, encoding: str | None = None) -> None:
        self.body = body
        self.content_length = len(body) if length else None
        self.headers = {"Content-Encoding": encoding} if encoding else {}
        self.status = 200
        self.content = self
        self.how = ""

    async def read(self) -> bytes:
        self.how = "at once"
        return self.body

    async def iter_chunked(self, n: int) -> Any:
        self.how = "in chunks"
        for i in range(0, len(self.body), n):
            yield self.body[i : i + n]


def read(resp: Response, cap: int) -> Any:
    from feldera_events._transport import read_body

    return read_body(resp, "http://h/x", cap, list)  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [100, 70_000])  # read at once, or in chunks
async def test_a_body_of_exactly_max_body_size_is_read_and_one_byte_more_refused(
    length: bool, size: int
) -> None:
    from feldera_events import ResponseTooLargeError

    body = os.urandom(size)
    assert await read(Response(body, length=length), size) == body
    with pytest.raises(ResponseTooLargeError, match=f"larger than max_body_size={size - 1}"):
        await read(Response(body, length=length), size - 1)


async def test_a_decoded_body_of_exactly_max_body_size_is_read_and_one_byte_more_refused() -> None:
    from feldera_events import ResponseTooLargeError

    body = os.urandom(200_000)
    packed = gzip.compress(body)
    assert await read(Response(packed, length=False, encoding="gzip"), len(body)) == body
    with pytest.raises(
        ResponseTooLargeError, match=r": decoded response body is larger than max_body_size="
    ):
        await read(Response(packed, length=False, encoding="gzip"), len(body) - 1)


async def test_a_body_that_inflates_past_the_cap_late_is_never_inflated_far_past_it() -> None:
    from feldera_events import ResponseTooLargeError

    cap = 1 << 20
    packed = gzip.compress(os.urandom(900_000) + bytes(30 << 20))  # a bomb after 900 KB
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError):
            await read(Response(packed, encoding="gzip"), cap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # What was kept (900 KB), at most the rest of the budget, and the chunk in hand
    # (about 1.3 MiB): never the cap inflated once more on top (about 2.8 MiB).
    assert peak < 2 * cap


@pytest.mark.parametrize(
    ("size", "length", "encoding", "how"),
    [
        (100, True, None, "at once"),  # an event: one read
        (65536, True, None, "at once"),
        (65537, True, None, "in chunks"),
        (100, False, None, "in chunks"),  # no Content-Length
        (100, True, "identity", "in chunks"),  # any Content-Encoding header
    ],
)
async def test_a_small_identity_body_of_known_length_is_read_at_once(
    size: int, length: bool, encoding: str | None, how: str
) -> None:
    body = os.urandom(size)
    resp = Response(body, length=length, encoding=encoding)
    assert await read(resp, 1 << 20) == body
    assert resp.how == how
