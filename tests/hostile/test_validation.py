"""Items 3 and 5 (URL part): bad headers, names and URLs fail at construction, in one line."""

from __future__ import annotations

import aiohttp
import pytest
from helpers import loopback

from feldera_events import EventsClient
from hostile.checks import one_line

CONTROLS = ["\n", "\r", "\x00", "\x01", "\t", "\x1b", "\x7f"]
#: Not a control character, but aiohttp would drop it silently: the server would see
#: another key or tenant.
SURROGATE = "\ud800"


@pytest.mark.parametrize(
    "char", [*CONTROLS, SURROGATE], ids=[f"U+{ord(c):04X}" for c in [*CONTROLS, SURROGATE]]
)
@pytest.mark.parametrize("where", ["tenant", "api_key", "header value"])
def test_control_characters_are_refused_at_construction(where: str, char: str) -> None:
    value = f"sec{char}ret-value"
    kwargs: dict[str, object] = {
        "tenant": {"tenant": value},
        "api_key": {"api_key": value},
        "header value": {"headers": {"X-Custom": value}},
    }[where]
    what = "unpaired surrogate" if char == SURROGATE else "control character"
    with pytest.raises(ValueError, match=what) as info:
        EventsClient("http://127.0.0.1:1", **kwargs)  # type: ignore[arg-type]
    text = one_line(info.value)
    assert "ret-value" not in text  # the value (maybe a secret) is not echoed
    assert f"U+{ord(char):04X} at position 3" in text


@pytest.mark.parametrize("name", ["X Bad", "X:Y", "", "Ünï", "X\nY", "(x)", "a/b"])
def test_header_names_must_be_tokens(name: str) -> None:
    with pytest.raises(ValueError, match="is not a valid HTTP header name") as info:
        EventsClient("http://127.0.0.1:1", headers={name: "v"})
    one_line(info.value)


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_a_key_in_headers_is_refused_for_api_key(name: str) -> None:
    # Sent, it would never be known as a key: echoed back, it would be printed (issue 21).
    with pytest.raises(ValueError, match="pass the API key as api_key=") as info:
        EventsClient("http://127.0.0.1:1", headers={name: "Bearer SECRET123"})
    assert "SECRET123" not in one_line(info.value)


async def test_a_key_on_a_given_session_is_refused_for_api_key() -> None:
    async with aiohttp.ClientSession(headers={"authorization": "Bearer SECRET123"}) as session:
        with pytest.raises(ValueError, match="pass the API key as api_key=") as info:
            EventsClient("http://127.0.0.1:1", session=session)
    assert "SECRET123" not in one_line(info.value)


async def test_valid_headers_are_accepted_and_sent_as_given() -> None:
    # Token characters in the name (_ and .), a space and a non-ASCII letter in the value.
    async with (
        loopback() as srv,
        EventsClient(srv.url, headers={"X-Trace_Id.v2": "a b é"}, tenant="acme") as client,
    ):
        await client.get_event("p")
    sent = {k.lower(): v for k, v in srv.last.headers.items()}
    assert sent["x-trace_id.v2"] == "a b é"  # UTF-8 on the wire, as given
    assert sent["feldera-tenant"] == "acme"


@pytest.mark.parametrize("name", [".", ".."])
async def test_dot_segment_pipeline_names_are_refused(name: str) -> None:
    async with loopback() as srv, EventsClient(srv.url) as client:
        with pytest.raises(ValueError, match="pipeline_name must not be"):
            await client.get_event(name)
        with pytest.raises(ValueError, match="pipeline_name must not be"):
            await client.list_events(name)
    assert srv.seen == []


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://127.0.0.1:99999", "invalid port"),
        ("http://127.0.0.1:0", "invalid port"),
        ("http://127.0.0.1:http", "invalid port"),
        ("http://exa mple.com", "invalid host"),
        ("http://bad\x01host", "invalid host"),
        ("http://[::1", "not a valid URL"),
    ],
)
def test_invalid_urls_are_a_one_line_value_error(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        EventsClient(url)
    assert not isinstance(info.value, UnicodeError)
    one_line(info.value)
