"""The process around a command: SIGINT/SIGTERM become a cancellation (exit 130/143), and standard streams a gone reader cannot break.

A closed stdout (``| head -1`` after its line, ``>&-``) never changes a command's
outcome: writes to it are dropped, the command finishes and exits with its own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from ._render import EXIT_INTERRUPTED, EXIT_TERMINATED

__all__ = ["SafeStream", "handle_signals", "interrupt_exit_code", "safe_std_streams"]

_received: list[int] = []


def interrupt_exit_code() -> int:
    """130 after SIGINT (or none seen), 143 after SIGTERM."""
    return EXIT_TERMINATED if signal.SIGTERM in _received else EXIT_INTERRUPTED


def _on_signal(sig: int, task: asyncio.Task[Any]) -> None:
    _received.append(sig)
    task.cancel()


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Within a running loop: SIGINT and SIGTERM cancel the current task, alike."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, _on_signal, sig, task)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class SafeStream:
    """A text stream whose writes never raise because the reader went away or it is closed."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.broken = stream is None

    def _failed(self) -> None:
        self.broken = True
        # Python flushes sys.stdout at exit: point the descriptor at /dev/null so that
        # flush cannot fail with "Exception ignored ... BrokenPipeError" either.
        stream = self._stream
        with contextlib.suppress(Exception):
            assert stream is not None
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                assert self._stream is not None
                self._stream.write(text)
            except (OSError, ValueError):
                self._failed()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                assert self._stream is not None
                self._stream.flush()
            except (OSError, ValueError):
                self._failed()

    def isatty(self) -> bool:
        try:
            return not self.broken and self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self._stream is None:
            raise OSError("stream is closed")
        return self._stream.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def safe_std_streams() -> Iterator[None]:
    """sys.stdout and sys.stderr as :class:`SafeStream` while the command runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout = SafeStream(saved[0])
    sys.stderr = SafeStream(saved[1])
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout, sys.stderr = saved
