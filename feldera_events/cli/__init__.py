"""The ``feldera-events`` command line (also ``python -m feldera_events``): a package on top of the SDK.

Modules, from the bottom: ``_render`` (exit codes, the outcome table, the time formatter,
the table renderer, status/event/error lines, GitHub annotations), ``_process`` (signals,
streams a closed reader cannot break), ``_progress`` (the rich live display and the log
lines), ``_settings`` (the client from options and environment), ``_wait`` (the ``wait``
runner), ``_fake_server``, ``_demo``, ``_commands`` (the other commands), ``_parser``
(arguments and help), ``_main`` (dispatch). Only this package imports rich.
"""

from __future__ import annotations

from ._main import main
from ._parser import EXIT_CODES_HELP, build_parser

__all__ = ["EXIT_CODES_HELP", "build_parser", "main"]
