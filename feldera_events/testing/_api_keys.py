"""Owns the fake's API keys made through the API (``POST /v0/api_keys``): their names, ids
and roles, and whether a bearer token is one of them.

A created key authenticates like a key given to ``FakeFeldera(api_keys=...)`` until it is
deleted.  Its role (``read`` or ``write``, the manager's default ``read``) is stored and
listed, not enforced: the fake has no roles.  Pure apart from the key's random bits.
"""

from __future__ import annotations

import secrets
import string
import uuid
from typing import Any

from feldera_events.testing._model import FakeAPIError

__all__ = ["ApiKeyRegistry"]

_ALPHABET = string.ascii_letters + string.digits


class _ApiKey:
    __slots__ = ("id", "name", "role", "secret")

    def __init__(self, name: str, role: str) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.role = role
        self.secret = "apikey:" + "".join(secrets.choice(_ALPHABET) for _ in range(128))

    def __repr__(self) -> str:  # never the secret
        return f"<api key {self.name!r} role={self.role}>"

    def describe(self) -> dict[str, Any]:
        """``ApiKeyDescr``."""
        return {"id": self.id, "name": self.name, "role": self.role}


def _unknown(name: str) -> FakeAPIError:
    return FakeAPIError(404, "UnknownApiKey", f"Unknown API key '{name}'", {"name": name})


class ApiKeyRegistry:
    """The API keys created through the API, by name."""

    def __init__(self) -> None:
        self._by_name: dict[str, _ApiKey] = {}
        self._secrets: set[str] = set()

    def create(self, name: str, role: str = "read") -> dict[str, Any]:
        """A new key: the ``NewApiKeyResponse`` (the only time the secret is shown)."""
        if name in self._by_name:
            raise FakeAPIError(409, "DuplicateName", "An entity with this name already exists")
        key = _ApiKey(name, role)
        self._by_name[name] = key
        self._secrets.add(key.secret)
        return {"id": key.id, "name": key.name, "api_key": key.secret}

    def describe_all(self) -> list[dict[str, Any]]:
        return [key.describe() for key in sorted(self._by_name.values(), key=lambda k: k.name)]

    def describe(self, name: str) -> dict[str, Any]:
        key = self._by_name.get(name)
        if key is None:
            raise _unknown(name)
        return key.describe()

    def delete(self, name: str) -> None:
        key = self._by_name.pop(name, None)
        if key is None:
            raise _unknown(name)
        self._secrets.discard(key.secret)

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is a key created here and not deleted since."""
        return token in self._secrets
