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
