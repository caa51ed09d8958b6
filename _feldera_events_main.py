"""The ``feldera-events`` console script's entry point, outside the package on purpose.

The console script imports its target module before calling it; had it pointed at
``feldera_events.cli``, that import (the package, aiohttp, rich...: a noticeable
fraction of a second) would run with Python's default SIGINT handling, and a Ctrl-C
then would print a ``KeyboardInterrupt`` traceback. This module imports nothing of
the package at import time: the import happens inside :func:`main`, where a Ctrl-C
ends the program quietly with exit code 130, as a Ctrl-C does later on.

``python -m feldera_events`` cannot be covered this way: Python imports the package
before its ``__main__`` runs.
"""

from __future__ import annotations

import signal

__all__ = ["main"]

#: Exit code for Ctrl-C (128 + SIGINT), as the CLI itself uses.
_EXIT_INTERRUPTED = 130


def main() -> int:
    """Import the CLI and run it; a Ctrl-C during the import exits 130 without a traceback."""
    try:
        from feldera_events.cli import main as cli_main
    except KeyboardInterrupt:
        # Quiet, as the CLI's own Ctrl-C: no traceback, no message.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        return _EXIT_INTERRUPTED
    return cli_main()
