"""Untrusted text (feldera_events._text): safe_text, excerpt, contains_key."""

from __future__ import annotations

import pytest

from feldera_events._text import contains_key, excerpt, safe_text

#: Characters that must never reach a terminal or a CI log as they are.
DANGEROUS = {
    "\n": "\\n",
    "\r": "\\r",
    "\x1b": "\\x1b",  # ESC: cursor movement, colours, OSC (window title), clear screen
    "\x07": "\\x07",  # BEL: ends an OSC sequence
    "\x00": "\\x00",
    "\x7f": "\\x7f",
    "\x9b": "\\x9b",  # C1 CSI: the one-byte ESC [
    "\u2028": "\\u2028",  # line separator: a new line to some viewers
    "\u202e": "\\u202e",  # right-to-left override: reorders what follows
    "\ud800": "\\ud800",  # an unpaired surrogate cannot even be encoded
}


@pytest.mark.parametrize("char", sorted(DANGEROUS))
def test_safe_text_writes_every_control_character_as_a_visible_escape(char: str) -> None:
    shown = safe_text(f"a{char}::warning::b")
    assert shown == f"a{DANGEROUS[char]}::warning::b"
    assert shown.isprintable()


def test_safe_text_keeps_printable_text_as_it_is() -> None:
    text = "Provisioned → Stopped, error café 'x' \\n 50% ✓"
    assert safe_text(text) is text or safe_text(text) == text


def test_safe_text_is_bounded() -> None:
    assert safe_text("x" * 1000, 10) == "xxxxxxxxxx… (990 more characters)"
    # Escapes count against the bound: 30 ESCs are shown as at most 20 characters.
    shown = safe_text("\x1b" * 30, 20)
    assert shown.startswith("\\x1b" * 5 + "…") and "(25 more characters)" in shown
    assert safe_text("abc", None) == "abc"
    assert safe_text(None) == "None"  # anything, as its str()


def test_excerpt_reads_only_the_start_of_a_body() -> None:
    assert excerpt(b"  a\n  b\t c  ") == "a b c"
    assert excerpt(b"x" * 10_000_000, 10) == "xxxxxxxxxx... (9999990 more bytes)"
    assert excerpt(b"ab " * 1000, 8) == "ab ab ab... (2992 more bytes)"
    assert excerpt(b"a\x1b[2Jb") == "a\\x1b[2Jb"  # safe
    assert excerpt("x" * 1000, limit=10) == "xxxxxxxxxx... (990 more characters)"


def test_contains_key_in_a_mixed_form() -> None:
    # Each character on its own: half escaped, half percent-encoded, half raw.
    key = "ab/c d"
    assert contains_key("x a\\u0062%2Fc+d y", [key])
    assert contains_key(b"x a\\u0062\\/c%20d y", [key])
    assert contains_key({"m": ["x", {"k": "a\\u0062/c d"}]}, [key])
    assert not contains_key("ab/c", [key])
    assert not contains_key("AB%2FC D", [key])  # the key's own letters are not case-free
    assert not contains_key("anything", ["", ""])


def test_contains_key_beyond_the_bmp() -> None:
    key = "k\U0001f600y"
    assert contains_key('"k\\ud83d\\ude00y"', [key])
    assert contains_key("k%F0%9F%98%80y", [key])


# -- bounds and edges (issue 24, mutation testing) ---------------------------------------


def test_the_default_bounds_of_a_server_text_and_of_a_message() -> None:
    from feldera_events import APIConnectionError, ServerError

    assert safe_text("x" * 501) == "x" * 500 + "… (1 more characters)"
    assert safe_text("x" * 500) == "x" * 500
    shown = str(APIConnectionError("y" * 2001))
    assert shown == "y" * 2000 + "… (1 more characters)"
    coded = str(ServerError("m", status_code=500, error_code="C" * 101))
    assert coded == "HTTP 500 " + "C" * 100 + "… (1 more characters): m"


def test_an_excerpt_with_no_room_shows_nothing_and_counts_the_whole_body() -> None:
    assert excerpt("abc", 0) == "... (3 more characters)"
    assert excerpt(b"abc", 0) == "... (3 more bytes)"


def test_an_excerpt_with_room_for_no_more_than_the_space_stops_before_it() -> None:
    # "ab" fills 2 of 3; the space before "cd" would fill the third, with nothing after it.
    assert excerpt("ab cd", 3) == "ab... (3 more characters)"
    assert excerpt("ab cd", 4) == "ab c... (1 more characters)"


def test_a_key_in_a_utf16_body_with_its_byte_order_mark_is_found() -> None:
    # The BOM leaves only the fourth of the first four bytes zero.
    body = '{"a": "xx-secret-key-xx"}'.encode("utf-16")
    assert body[:4].count(0) == 1
    assert contains_key(body, ["secret-key"])
    assert contains_key({"nested": [body]}, ["secret-key"])
    assert not contains_key(body, ["other-key"])


def test_an_escape_mark_alone_is_no_key() -> None:
    # A body with % or \ is searched with the regex of every form: it must still find
    # only the key, in text and in bytes.
    for body in ('{"a": "100% \\\\ done"}', b'{"a": "100% \\\\ done"}'):
        assert not contains_key(body, ["secret-key"])
        assert not contains_key([body], ["secret-key"])


def test_the_default_bound_of_an_excerpt() -> None:
    assert excerpt("x" * 501) == "x" * 500 + "... (1 more characters)"
    assert excerpt("x" * 500) == "x" * 500


def test_a_key_echoed_in_json_escapes_at_the_edge_of_the_bmp_is_found() -> None:
    # U+FFFF is the last character with a \\u escape of its own; U+10000 the first that
    # needs a surrogate pair.
    assert contains_key(r'{"m": "k\uFFFFy"}', ["k\uffffy"])
    assert contains_key(rb'{"m": "k\ud800\udc00y"}', ["k\U00010000y"])


def test_safe_text_stops_at_the_first_escape_that_does_not_fit() -> None:
    # The ESC's escape (4 characters) does not fit in 6 after "abcd": the "x" after it,
    # which would, is not shown either (the text is cut, never shown with a hole).
    assert safe_text("abcd\x1bx", 6) == "abcd… (2 more characters)"


def test_an_escape_that_fills_the_limit_exactly_is_the_last_thing_shown() -> None:
    # "\x00" is 4 characters: the limit of 4 is full, so the "a" after it is not shown.
    assert safe_text("\x00ab", 4) == "\\x00… (2 more characters)"


def test_a_status_line_is_bounded_at_200_characters() -> None:
    from feldera_events import PipelineEvent
    from feldera_events._convert import structure

    data = {
        "event_id": "0197a2b4-6f1e-7c3a-9d2e-1b2c3d4e5f60",
        "recorded_at": "2026-08-20T10:11:12Z",
        "deployment_resources_status": "R" * 201,  # unknown values are kept as they came
        "deployment_resources_desired_status": "R" * 201,
        "deployment_runtime_status": None,
        "deployment_runtime_desired_status": None,
        "deployment_has_error": False,
        "program_status": "Success",
        "storage_status": "InUse",
    }
    ev = structure(data, PipelineEvent)
    assert ev.status_text() == "R" * 200 + "… (1 more characters)"


def test_a_key_in_bytes_inside_parsed_data_is_found() -> None:
    assert contains_key([b"xx-secret-key-xx"], ["secret-key"])
    assert contains_key({"b": bytearray(b"xx-secret-key-xx")}, ["secret-key"])
    assert not contains_key([b"xx-other-xx"], ["secret-key"])


def test_an_excerpt_cut_inside_a_word_counts_what_is_left_in_the_bodys_own_unit() -> None:
    assert excerpt("ééé", 2) == "éé... (1 more characters)"
    assert excerpt("ééé".encode(), 2) == "éé... (2 more bytes)"  # 2 bytes each


def test_a_key_with_a_space_echoed_with_a_plus_is_found() -> None:
    assert contains_key('{"q": "my+key"}', ["my key"])
    assert contains_key(b'{"q": "my+key"}', ["my key"])
    assert not contains_key('{"q": "my+key"}', ["mykey"])
