"""Process-wide switches and configuration read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

__all__ = ["EnvConfig", "is_testing", "set_testing"]

_testing = False


def set_testing(enabled: bool = True) -> None:
    """Turn testing mode on or off for this process.

    In testing mode the request retry policy still retries, but without waiting
    between attempts, so tests of retry behaviour run at full speed without
    patching sleeps. Poll intervals of waits are not affected (they are the
    behaviour under test); give those a fast :class:`PollPolicy` instead.
    """
    global _testing
    _testing = bool(enabled)


def is_testing() -> bool:
    """Whether :func:`set_testing` turned testing mode on."""
    return _testing


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
