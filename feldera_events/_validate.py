"""Checks of what callers hand the client: pipeline names, event ids, selectors, URL, headers.

Each raises a TypeError or ValueError naming what was wrong, before any request;
none echoes a value that may be a secret.
"""

from __future__ import annotations

import os
import re
import ssl
import uuid
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from yarl import URL

from ._fields import Selector

__all__ = [
    "LATEST",
    "check_base_url",
    "check_header_value",
    "check_headers",
    "check_pipeline_name",
    "check_positive_int",
    "normalize_event_id",
    "normalize_selector",
    "shown_url",
    "ssl_setting",
]

LATEST: Final = "latest"


def check_pipeline_name(pipeline_name: object) -> str:
    """Validate a pipeline name (client side, before any request)."""
    if not isinstance(pipeline_name, str):
        raise TypeError(f"pipeline_name must be a string, got {type(pipeline_name).__name__}")
    if not pipeline_name:
        raise ValueError("pipeline_name must not be empty")
    if pipeline_name in (".", ".."):
        # A dot-segment: a normalising proxy would resolve it to another route.
        raise ValueError(f"pipeline_name must not be {pipeline_name!r}")
    for index, ch in enumerate(pipeline_name):
        if "\ud800" <= ch <= "\udfff":
            # Not echoed: it cannot be printed. 0xDC80-0xDCFF is an undecodable byte of a
            # command-line argument (surrogateescape).
            what = (
                f"the byte 0x{ord(ch) - 0xDC00:02X}"
                if 0xDC80 <= ord(ch) <= 0xDCFF
                else f"U+{ord(ch):04X}"
            )
            raise ValueError(f"pipeline_name is not valid UTF-8 text ({what} at position {index})")
    return pipeline_name


def normalize_event_id(event_id: object) -> str:
    """``'latest'`` or a canonical UUID string; anything else is a ValueError."""
    if isinstance(event_id, uuid.UUID):
        return str(event_id)
    if not isinstance(event_id, str):
        raise TypeError(
            f"event_id must be 'latest', a UUID string or uuid.UUID, got {type(event_id).__name__}"
        )
    if event_id == LATEST:
        return LATEST
    try:
        return str(uuid.UUID(event_id))
    except ValueError:
        hint = " (did you mean 'latest'?)" if event_id.strip().lower() == LATEST else ""
        raise ValueError(f"event_id must be 'latest' or a UUID, got {event_id!r}{hint}") from None


def normalize_selector(selector: object) -> Selector:
    """A :class:`Selector` from a member or its string value; anything else is a ValueError."""
    if isinstance(selector, str) and selector in Selector._value2member_map_:
        return Selector(selector)
    allowed = ", ".join(repr(s.value) for s in Selector)
    raise ValueError(f"selector must be one of {allowed}, got {selector!r}")


def shown_url(url: str) -> str:
    """``url`` for a message: quoted, without its user info (``user:password@``), query
    string or fragment, whether or not it parses (they are where secrets go by mistake)."""
    text = re.split(r"[?#]", url.strip(), maxsplit=1)[0]
    scheme, sep, rest = text.partition("://")
    if sep:
        netloc, slash, path = rest.partition("/")
        if "@" in netloc:
            netloc = "…@" + netloc.rpartition("@")[2]
        text = f"{scheme}{sep}{netloc}{slash}{path}"
    elif "@" in text:
        text = "…@" + text.rpartition("@")[2]
    return repr(text)


def check_base_url(url: object, what: str = "url") -> str:
    """The base URL without a trailing slash; a ValueError naming ``what`` if it is not one.

    No message echoes the URL's credentials or query string (:func:`shown_url`)."""
    if not isinstance(url, str):
        raise TypeError(f"{what} must be a string, got {type(url).__name__}")
    shown = shown_url(url)
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ValueError(f"{what} is not a valid URL ({exc}): {shown}") from None
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry credentials; pass the API key as api_key=")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query string or fragment")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http:// or https:// URL with a host, got {shown}")
    try:
        port = parts.port
    except ValueError:  # out of range
        port = 0
    if port == 0:
        raise ValueError(f"{what} has an invalid port (not 1-65535): {shown}")
    base = url.strip().rstrip("/")
    try:
        host = URL(base).raw_host
    except (ValueError, TypeError, UnicodeError):
        host = None
    if not host or any(ch.isspace() or _is_control(ch) for ch in parts.netloc):
        raise ValueError(f"{what} has an invalid host: {shown}")
    return base


def _is_control(ch: str) -> bool:
    return ch < " " or ch == "\x7f"


_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def check_header_value(what: str, value: object) -> str:
    """``value`` if it can go into an HTTP header; a ValueError naming ``what`` if not.

    The value itself is never echoed (it may be a secret); the offending character
    and its position are.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    for index, ch in enumerate(value):
        if _is_control(ch):
            raise ValueError(
                f"{what} contains a control character (U+{ord(ch):04X} at position {index}),"
                " which is not allowed in an HTTP header"
            )
        if "\ud800" <= ch <= "\udfff":
            raise ValueError(
                f"{what} contains an unpaired surrogate (U+{ord(ch):04X} at position {index}),"
                " which cannot be sent in an HTTP header"
            )
    return value


def check_headers(tenant: str | None, headers: object) -> dict[str, str]:
    """The ``Feldera-Tenant`` header (when ``tenant`` is set) and the caller's headers, checked."""
    checked: dict[str, str] = {}
    if tenant:
        checked["Feldera-Tenant"] = check_header_value("the tenant", tenant)
    if headers is not None and not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping, got {type(headers).__name__}")
    for name, value in (headers or {}).items():
        if not isinstance(name, str):
            raise TypeError(f"header names must be strings, got {type(name).__name__}")
        if not name or not set(name) <= _TOKEN_CHARS:
            raise ValueError(
                f"header name {name!r} is not a valid HTTP header name (letters, digits and "
                "!#$%&'*+-.^_`|~ only)"
            )
        if name.lower() == "authorization":
            # The key is known as a key only through api_key= (withheld from every error).
            raise ValueError(
                "headers must not set Authorization: pass the API key as api_key= (it is "
                "sent as 'Authorization: Bearer <key>' and withheld from every error)"
            )
        checked[name] = check_header_value(f"the value of header {name!r}", value)
    return checked


def check_positive_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def ssl_setting(verify: object) -> bool | ssl.SSLContext:
    """What aiohttp's ``ssl=`` gets for ``verify=`` (a bool, a CA bundle path or a context;
    a path from ``FELDERA_HTTPS_TLS_CERT`` comes the same way)."""
    if isinstance(verify, ssl.SSLContext | bool):
        return verify
    if isinstance(verify, str | os.PathLike):
        path = os.fspath(verify)
        if not os.path.isfile(path):
            raise ValueError(
                f"CA bundle {path!r} (verify= or FELDERA_HTTPS_TLS_CERT) does not exist"
            )
        try:
            return ssl.create_default_context(cafile=path)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"CA bundle {path!r} could not be loaded: {exc}") from None
    raise TypeError(f"verify must be a bool, a CA bundle path or an ssl.SSLContext, got {verify!r}")
