"""Configuration read from the environment, the shared number validator, the version and User-Agent."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, cast

import aiohttp
import attrs

__all__ = ["EnvConfig", "number", "package_version", "user_agent"]

_TRUE = frozenset({"1", "true", "yes", "on"})
DEFAULT_HOST = "http://localhost:8080"


@attrs.frozen
class EnvConfig:
    """The client settings taken from environment variables (same names as the official SDK)."""

    host: str = DEFAULT_HOST
    api_key: str | None = attrs.field(default=None, repr=False)
    tenant: str | None = None
    ca_cert: str | None = None
    insecure: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EnvConfig:
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("FELDERA_HOST") or DEFAULT_HOST,
            api_key=env.get("FELDERA_API_KEY") or None,
            tenant=env.get("FELDERA_TENANT") or None,
            ca_cert=env.get("FELDERA_HTTPS_TLS_CERT") or None,
            insecure=env.get("FELDERA_TLS_INSECURE", "").strip().lower() in _TRUE,
        )


Validator = Callable[[object, "attrs.Attribute[Any]", Any], None]


def number(
    ok: Callable[[float], bool], must: str, *, optional: bool = False, integer: bool = False
) -> Validator:
    """An attrs validator: a real number (never a bool) for which ``ok`` holds.

    ``None`` passes when ``optional``; ``integer`` refuses floats. The ValueError names
    the class and field (``RetryPolicy.attempts must be an integer >= 1, got 0``).
    attrs' own ``ge``/``gt`` accept ``True`` as 1 and do not name the class, hence
    this one validator for every policy.
    """
    kinds: tuple[type, ...] = (int,) if integer else (int, float)

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, kinds) or not ok(cast(float, value)):
            raise ValueError(
                f"{type(instance).__name__}.{attribute.name} must be {must}, got {value!r}"
            )

    return check


def package_version() -> str:
    """This package's installed version (``0+unknown`` when run from a source tree)."""
    try:
        return version("feldera-events")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def user_agent() -> str:
    """The client's ``User-Agent``: this package, aiohttp and Python, with versions."""
    return (
        f"feldera-events/{package_version()} aiohttp/{aiohttp.__version__} "
        f"{platform.python_implementation()}/{platform.python_version()}"
    )
