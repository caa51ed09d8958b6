"""The error types added for hostile answers: place in the tree, pickling, key search."""

from __future__ import annotations

import pickle

import pytest

from feldera_events import (
    APIConnectionError,
    APIStatusError,
    ConnectionSetupError,
    FelderaError,
    RedirectError,
    RetryPolicy,
)
from feldera_events._text import contains_key


def test_tree_and_retry() -> None:
    setup = ConnectionSetupError("m", url="http://h", hint="do this")
    redirect = RedirectError("r", status_code=302, location="http://o/x", url="http://h/")
    assert isinstance(setup, FelderaError) and not isinstance(setup, APIConnectionError)
    assert isinstance(redirect, APIStatusError)
    assert not RetryPolicy().is_transient(setup)
    assert not RetryPolicy().is_transient(redirect)
    assert str(setup) == "m; do this"


def test_pickle() -> None:
    for err in (
        ConnectionSetupError("m", url="http://h", hint="do this"),
        RedirectError("r", status_code=302, location="http://o/x", url="http://h/"),
    ):
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err) and str(again) == str(err)
        assert vars(again) == vars(err)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ('xx a/b"c yy', True),
        ('xx a\\/b\\"c yy', True),  # JSON-escaped, / as \/
        ('xx a/b\\"c yy', True),
        (b'{"m": "a\\/b\\"c"}', True),
        ({"k": ['a/b"c']}, True),
        ({'a/b"c': 1}, True),
        ("a/b", False),
        ({"k": ["nothing"]}, False),
    ],
)
def test_contains_key(value: object, found: bool) -> None:
    assert contains_key(value, ['a/b"c']) is found


def test_no_key_finds_nothing() -> None:
    assert not contains_key("anything", [])
    assert not contains_key("anything", [""])
