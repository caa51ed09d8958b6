"""Item 7: hostile JSON is refused as ResponseValidationError; what is accepted prints."""

from __future__ import annotations

import json

import pytest
from helpers import event_json, loopback, respond_json, respond_raw

from feldera_events import APIStatusError, EventsClient, ResponseValidationError, RetryPolicy
from feldera_events._body import MAX_JSON_DEPTH
from hostile import deep_event, nested
from hostile.checks import one_line


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500])
async def test_too_deep_bodies_are_refused(depth: int) -> None:
    async with (
        loopback(respond_json(deep_event(depth)), respond_json([deep_event(depth - 1)])) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(ResponseValidationError) as info:
            await client.get_event("p", selector="all")
        assert f"body refused: JSON nested deeper than {MAX_JSON_DEPTH} levels" in one_line(
            info.value
        )
        with pytest.raises(ResponseValidationError, match="nested deeper"):
            await client.list_events("p", selector="all")
    assert len(srv.seen) == 2  # not retried


async def test_absurdly_deep_bodies_are_refused() -> None:
    # Deeper than the interpreter's recursion limit: json itself gives up.
    depth = 100_000
    async with (
        loopback(respond_raw("[" * depth + "]" * depth)) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(ResponseValidationError, match="nested deeper"):
            await client.get_event("p")


def test_nested_counts_levels() -> None:
    assert nested(1) == ["bottom"]
    assert nested(2) == {"d": ["bottom"]}


async def test_the_deepest_accepted_event_can_be_printed() -> None:
    rich_pretty = pytest.importorskip("rich.pretty")
    async with (
        loopback(respond_json(deep_event(MAX_JSON_DEPTH))) as srv,
        EventsClient(srv.url) as client,
    ):
        event = await client.get_event("p", selector="all")
    assert repr(event) and str(event) and event.describe()
    wire = json.dumps(event.to_dict())
    assert json.loads(wire) == deep_event(MAX_JSON_DEPTH)
    assert rich_pretty.pretty_repr(event)
    print(event, wire)  # printing is the point


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (json.dumps(event_json()).replace('"Stopped"', "NaN", 1), "NaN is not valid JSON"),
        ('{"x": Infinity}', "Infinity is not valid JSON"),
        (json.dumps(event_json(program_status="\ud800")), "unpaired surrogate"),
        ('{"\\udfff": 1}', "unpaired surrogate"),
        (b'{"a": "\xed\xa0\x80"}', "not valid JSON .*can't decode"),  # an encoded surrogate
    ],
    ids=["nan", "infinity", "surrogate-value", "surrogate-key", "surrogate-bytes"],
)
async def test_unprintable_json_is_refused(body: str | bytes, match: str) -> None:
    async with (
        loopback(respond_raw(body)) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(ResponseValidationError, match=match) as info:
            await client.get_event("p")
    one_line(info.value)


async def test_a_too_deep_error_body_is_shown_as_text() -> None:
    body = {"message": "deep", "error_code": "X", "details": nested(500)}
    async with (
        loopback(respond_json(body, status=400)) as srv,
        EventsClient(srv.url, retry=RetryPolicy.disabled()) as client,
    ):
        with pytest.raises(APIStatusError) as info:
            await client.get_event("p")
    assert info.value.details is None and info.value.error_code is None
    assert one_line(info.value).startswith('HTTP 400: {"message": "deep"')
