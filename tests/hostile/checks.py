"""Checks shared by the hostile-server tests."""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Iterator


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception chained to it (causes and contexts)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [item.__cause__, item.__context__]


def assert_secret_free(exc: BaseException, secret: str) -> None:
    """``secret`` is nowhere in ``exc``, its chain, their attributes, args, traceback
    text or pickle."""
    for item in chain(exc):
        assert secret not in str(item), repr(item)
        assert secret not in repr(item), repr(item)
        assert secret not in repr(item.args), repr(item)
        for value in vars(item).values() if hasattr(item, "__dict__") else ():
            assert secret not in repr(value), (item, value)
    assert secret not in "".join(traceback.format_exception(exc))
    assert secret.encode() not in pickle.dumps(exc)


def one_line(exc: BaseException) -> str:
    """``str(exc)``, checked to be one printable line."""
    text = str(exc)
    assert text and "\n" not in text and text.isprintable(), text
    return text
