"""What an answer means: the JSON of a 2xx body, and the exception for an error status or
for a 2xx body of the wrong shape. No text that holds an API key leaves this module in
an exception.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
from collections.abc import Callable
from typing import Any, Final

from ._body import JSONRefused, parse_json
from ._errors import (
    NOT_FOUND_CODES,
    APIStatusError,
    ClusterEventsUnsupportedError,
    ResponseValidationError,
    status_error_class,
)
from ._text import BODY_EXCERPT_LIMIT, WITHHELD, contains_key, excerpt, withhold_strings

__all__ = ["ERROR_JSON_LIMIT", "json_body", "shape_error", "status_error"]

#: An error answer's body is read as a Feldera error (JSON) only up to this size; a larger
#: one (no Feldera error is) is quoted as an excerpt and never parsed.
ERROR_JSON_LIMIT: Final = 1 << 20


def json_body(
    body: bytes,
    status: int,
    url: str,
    keys: Callable[[], list[str]],
    max_values: int | None = None,
) -> Any:
    """The strict JSON of a body (at most ``max_values`` values), every string in it that
    holds a key withheld (:func:`withhold_strings`); a ResponseValidationError (key
    withheld) if it is not JSON."""
    try:
        data = parse_json(body, max_values)
        known = keys()
        # One pass over the bytes; the parsed strings only when the JSON escapes a
        # backslash or a character of an escape (their text may hold an escaped key).
        if contains_key(body, known) or (
            (b"\\\\" in body or b"\\u00" in body) and contains_key(data, known)
        ):
            return withhold_strings(data, known)
        return data
    except JSONRefused as exc:
        problem = f"body refused: {exc}"
    except ValueError as exc:
        problem = f"body is not valid JSON ({exc})"
    # Raised outside the except block: a JSONDecodeError keeps the whole body
    # (up to max_body_size, possibly an echoed key) in its ``doc`` attribute.
    if contains_key(body, keys()):
        raise ResponseValidationError(f"{problem}; body {WITHHELD}", status_code=status, url=url)
    raise ResponseValidationError(problem, status_code=status, body=excerpt(body), url=url)


def status_error(
    status: int,
    reason: str,
    body: bytes,
    url: str,
    retry_after: str | None,
    keys: list[str],
    route: str,
) -> APIStatusError:
    """The error for an HTTP error answer on a ``route`` (see :func:`status_error_class`)."""
    error_code: str | None = None
    details: Any = None
    try:
        # Feldera's 401 is JSON served as text/plain: ignore the content type. A body
        # larger than any Feldera error is quoted, never parsed.
        data = parse_json(body) if body and len(body) <= ERROR_JSON_LIMIT else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        message = data["message"]
        code = data.get("error_code")
        error_code = code if isinstance(code, str) else None
        details = data.get("details")
    else:
        message = excerpt(body, limit=200) or reason or "no body"
    shown_body = excerpt(body)
    if contains_key(body, keys) or contains_key(data, keys) or contains_key(reason, keys):
        # Seen through JSON escapes too (the parsed data). Left out whole, never edited:
        # a short key may be part of ordinary words.
        # A known code is public text; any other code that holds the key goes too.
        if error_code not in NOT_FOUND_CODES and contains_key(error_code, keys):
            error_code = None
        message = f"message and body {WITHHELD}"
        details = None
        shown_body = ""
    cls = status_error_class(status, error_code, route)
    if cls is ClusterEventsUnsupportedError:
        message = (
            "this server does not support cluster events (Feldera < v0.292: the route "
            f"/v0/cluster/events does not exist); server said: {message}"
        )
    return cls(
        message,
        status_code=status,
        error_code=error_code,
        details=details,
        retry_after=_parse_retry_after(retry_after),
        url=url,
        body=shown_body,
    )


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.UTC)
        seconds = (when - _dt.datetime.now(_dt.UTC)).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN or inf
        return None
    return max(seconds, 0.0)


def _holds_key(exc: BaseException | None, keys: list[str]) -> bool:
    """Whether ``exc`` or any exception chained to it shows one of ``keys``."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if contains_key(repr(exc), keys) or contains_key(str(exc), keys):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def shape_error(
    error: ResponseValidationError, data: Any, url: str, keys: list[str]
) -> ResponseValidationError:
    """The error for a 2xx body ``data`` that is not the documented shape (``error`` from
    the converter), with a bounded excerpt of the body; ``__cause__`` set to what the
    converter raised unless it (or the excerpt, or the reason) shows one of ``keys``.

    The excerpt is serialised lazily and only as far as it is shown (the body may be
    32 MiB of small values): its cost does not grow with the body.
    """
    # Room for a key that starts within the excerpt, however it is escaped (6 per char).
    want = 2 * BODY_EXCERPT_LIMIT + 6 * max((len(k) for k in keys), default=0)
    start = ""
    for piece in json.JSONEncoder(default=str).iterencode(data):
        start += piece
        if len(start) >= want:
            start = start[:want]
            break
    cause = error.__cause__
    if contains_key(start, keys) or contains_key(error.reason, keys) or _holds_key(cause, keys):
        # No cause: the converter's exceptions hold the offending values.
        return ResponseValidationError(
            f"the body is not the documented shape (details and body {WITHHELD})",
            status_code=200,
            url=url,
        )
    err = ResponseValidationError(error.reason, status_code=200, body=excerpt(start), url=url)
    err.__cause__ = cause
    return err
