"""Testing mode: the one process-wide switch (:func:`feldera_events.testing.set_testing`).

At the bottom of the package and importing nothing: the retry loop (``_retry``) and the
poller read it, and ``feldera_events.testing``, which imports no other SDK module,
hands it out. The wait machines never read it: the poller passes its value in.
"""

from __future__ import annotations

__all__ = ["is_testing", "set_testing"]

_testing = False


def set_testing(enabled: bool = True) -> None:
    """Turn testing mode on or off for this process.

    In testing mode the request retry policy still retries, but without waiting
    between attempts, so tests of retry behaviour run at full speed without
    patching sleeps. Poll intervals of waits are not affected (they are the
    behaviour under test); give those a fast :class:`~feldera_events.PollPolicy` instead.
    """
    global _testing
    _testing = bool(enabled)


def is_testing() -> bool:
    """Whether :func:`set_testing` turned testing mode on."""
    return _testing
