"""The ``feldera-events`` entry point: parse, dispatch to a command, turn the end into an exit code.

Every command turns its outcome into one of the documented exit codes (see
``EXIT_CODES_HELP``); bad input and API errors become one line on stderr, never a
traceback; Ctrl-C exits 130 and SIGTERM 143, quietly. The API key is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from ._commands import (
    _cmd_cluster_events,
    _cmd_get,
    _cmd_health,
    _cmd_list,
    _cmd_wait,
    _cmd_wait_cluster,
    _cmd_watch,
    _setup_logging,
)
from ._demo import run_demo
from ._fake_server import cmd_fake_server
from ._parser import build_parser
from ._process import handle_signals, interrupt_exit_code, output_failure, safe_std_streams
from ._render import EXIT_OK, EXIT_USAGE, CommandError

__all__ = ["main"]

_ASYNC_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "wait": _cmd_wait,
    "get": _cmd_get,
    "list": _cmd_list,
    "watch": _cmd_watch,
    "demo": run_demo,
    "wait-cluster": _cmd_wait_cluster,
    "cluster-events": _cmd_cluster_events,
    "health": _cmd_health,
}


#: The commands whose output is the point: when stdout cannot take it, they exit
#: non-zero (``output_failure``). A wait's outcome is its exit code, whatever stdout does.
_OUTPUT_COMMANDS = frozenset({"get", "list", "watch", "cluster-events", "health"})


async def _run_async(args: argparse.Namespace) -> int:
    with handle_signals():
        return await _ASYNC_COMMANDS[args.command](args)


def _run(args: argparse.Namespace) -> int:
    if args.command == "fake-server":
        return cmd_fake_server(args)
    try:
        return asyncio.run(_run_async(args))
    except asyncio.CancelledError:  # SIGTERM (or SIGINT) cancelled the command
        return _interrupted()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    with safe_std_streams():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help(sys.stdout)
                return EXIT_USAGE
            _setup_logging(args.verbose)
            try:
                code = _run(args)
            except CommandError as exc:
                sys.stderr.write(f"error: {exc}\n")
                code = exc.code
            failure = output_failure() if args.command in _OUTPUT_COMMANDS else None
            # A failure the command saw itself stays its code.
            return failure if failure is not None and code == EXIT_OK else code
        except KeyboardInterrupt:
            return _interrupted()


def _interrupted() -> int:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    # Quiet: no traceback, no message; the shell shows the interruption.
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return interrupt_exit_code()
