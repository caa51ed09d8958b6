"""The process around a command: SIGINT/SIGTERM become a cancellation (exit 130/143), and standard streams a gone reader cannot break.

A closed stdout (``| head -1`` after its line, ``>&-``) never changes the outcome of a
wait: writes to it are dropped, the command finishes and exits with its own code. For
the commands whose output is the point (get, list, watch, cluster-events, health) it
does: :func:`output_failure`. A character the stream cannot encode is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import os
import select
import signal
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, Final, TextIO, TypeVar

from ._render import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_TERMINATED

__all__ = [
    "handle_signals",
    "interrupt_exit_code",
    "output_failure",
    "safe_std_streams",
    "until_stdout_lost",
]

_T = TypeVar("_T")

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


#: Our own characters that an ASCII (or other narrow) stream cannot show, as it can.
_FALLBACK: Final = str.maketrans({"→": "->", "…": "...", "\u00a0": " "})


class SafeStream:
    """A text stream whose writes never raise because the reader went away or it is closed.

    A failed write sets ``broken`` and keeps the error (``error``: None when the stream
    was closed from the start); ``dropped`` says whether some output was lost (a write
    to a broken stream, a failed write or flush, a watch ended by the loss): a command
    that wrote nothing lost nothing. A character the stream's encoding cannot show
    (``PYTHONIOENCODING=ascii``, a C locale) is replaced (``→`` by ``->``, others by
    ``?``) instead of failing the write.
    """

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self.broken = stream is None
        self.error: BaseException | None = None
        self.dropped = False
        self.lost: list[asyncio.Future[None]] = []  # resolved when a write fails

    def reader_gone(self) -> None:
        """The reader went away (seen without a write): as a write would have failed."""
        if not self.broken:
            self._failed(BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)))

    def _failed(self, exc: BaseException) -> None:
        self.broken = True
        self.dropped = True  # what was being written (or flushed)
        self.error = exc
        for waiter in self.lost:
            if not waiter.done():
                waiter.set_result(None)
        # Python flushes sys.stdout at exit: point the descriptor at /dev/null so that
        # flush cannot fail with "Exception ignored ... BrokenPipeError" either.
        stream = self._stream
        with contextlib.suppress(Exception):
            assert stream is not None
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)

    def _replaced(self, text: str) -> str:
        encoding = getattr(self._stream, "encoding", None) or "utf-8"
        return text.translate(_FALLBACK).encode(encoding, "replace").decode(encoding)

    def write(self, text: str) -> int:
        if self.broken:
            self.dropped = self.dropped or bool(text)
        else:
            assert self._stream is not None
            try:
                try:
                    self._stream.write(text)
                except UnicodeEncodeError:  # before anything was written
                    self._stream.write(self._replaced(text))
            except (OSError, ValueError) as exc:
                self._failed(exc)
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                assert self._stream is not None
                self._stream.flush()
            except (OSError, ValueError) as exc:
                self._failed(exc)

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


def output_failure() -> int | None:
    """The exit code of a command whose output is the point when stdout could not take it:
    None when it could, or when it had nothing to write (a command that failed before its
    output says only its own error); ``EXIT_BROKEN_PIPE`` when the reader went away
    (quietly, as a process killed by SIGPIPE); ``EXIT_OUTPUT`` for anything else (a full
    disk, a stdout closed from the start), said on stderr, as ``ls`` does."""
    stdout = sys.stdout
    if not isinstance(stdout, SafeStream):
        return None
    stdout.flush()
    if not stdout.broken or not stdout.dropped:
        return None
    error = stdout.error
    if isinstance(error, BrokenPipeError):
        return EXIT_BROKEN_PIPE
    why = "it is closed" if error is None else (getattr(error, "strerror", None) or str(error))
    sys.stderr.write(f"error: cannot write the output to stdout: {why}\n")
    return EXIT_OUTPUT


#: How often a watch looks whether the reader of its stdout pipe went away.
READER_CHECK_INTERVAL: Final = 0.25


def _pipe_fd(stream: SafeStream) -> int | None:
    """The descriptor of ``stream`` when it is a pipe or a socket, whose reader can go
    away while nothing is written (a file or a terminal has no reader to lose)."""
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return None
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    return fd if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else None


def _reader_gone(fd: int) -> bool:
    """Whether the read end of ``fd`` is closed: poll() reports POLLERR for a pipe whose
    readers are all gone, POLLHUP for a socket closed by its peer (both always reported,
    whatever is asked for; asking for nothing else never blocks or reads)."""
    poller = select.poll()
    poller.register(fd, 0)
    try:
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except OSError:  # pragma: no cover - poll itself failed: nothing known
        return False


async def _stdout_lost() -> None:
    """Return once stdout's reader is gone (at once if stdout was closed from the
    start): a write to it failed, or, for a pipe or a socket, its reader closed its end
    while nothing was written (checked every :data:`READER_CHECK_INTERVAL`). Never for a
    stream that is not a :class:`SafeStream`."""
    stream = sys.stdout
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    if not isinstance(stream, SafeStream):
        await waiter
        return
    if stream.broken:
        return
    stream.lost.append(waiter)
    fd = _pipe_fd(stream)
    try:
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=None if fd is None else READER_CHECK_INTERVAL)
            if fd is not None and not waiter.done() and _reader_gone(fd):
                stream.reader_gone()
    finally:
        if waiter in stream.lost:
            stream.lost.remove(waiter)


async def until_stdout_lost(items: AsyncIterator[_T]) -> AsyncGenerator[_T, None]:
    """``items`` until stdout's reader is gone: a watch whose reader went away
    (``| head -1`` has its line) ends on the next write, or, for a pipe or a socket,
    within :data:`READER_CHECK_INTERVAL` while no event comes."""
    lost = asyncio.ensure_future(_stdout_lost())
    step: asyncio.Future[_T] | None = None
    try:
        while not lost.done():
            step = asyncio.ensure_future(items.__anext__())
            await asyncio.wait({step, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                break
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            step = None
            yield item
        # Ended by the loss: the items still to come are output that was lost.
        if isinstance(sys.stdout, SafeStream):
            sys.stdout.dropped = True
    finally:
        # Also when cancelled (Ctrl-C): nothing left running, no exception unretrieved.
        pending = [task for task in (step, lost) if task is not None]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


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
