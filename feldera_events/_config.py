"""A client's configuration: settings from the environment, :class:`Timeouts`, its User-Agent."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version

import aiohttp
import attrs

from ._policies import number

__all__ = ["EnvConfig", "Timeouts", "package_version", "user_agent"]

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


_POSITIVE_SECONDS = number(lambda v: v > 0, "a number of seconds > 0 or None", optional=True)


@attrs.frozen(kw_only=True)
class Timeouts:
    """Per-request time limits, in seconds (None: no limit).

    ``connect`` bounds establishing a connection (TCP and TLS); ``request`` bounds one
    whole request, from sending it to reading the last byte of the answer. Neither is
    the overall deadline of a wait: waits take their own ``timeout=``.
    """

    connect: float | None = attrs.field(default=10.0, validator=_POSITIVE_SECONDS)
    request: float | None = attrs.field(default=30.0, validator=_POSITIVE_SECONDS)

    @classmethod
    def of(cls, timeout: Timeouts | float | None) -> Timeouts:
        """``timeout=`` as the client takes it: Timeouts, a request limit in seconds, or None
        (the defaults)."""
        if isinstance(timeout, Timeouts):
            return timeout
        return cls() if timeout is None else cls(request=timeout)

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.request, sock_connect=self.connect)


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
