"""The ``feldera-events`` command line (also ``python -m feldera_events``): a package on top of the SDK.

Modules, from the bottom: ``_render`` (exit codes, the outcome table, time/table/event/error
lines, GitHub annotations), ``_progress`` (the live and line displays), ``_parser``
(arguments and help), ``_wait`` (the ``wait`` runner), ``_commands`` (the other commands),
``_demo``, ``_main`` (dispatch and exit codes).
"""

from __future__ import annotations

from ._main import main
from ._parser import EXIT_CODES_HELP, build_parser

__all__ = ["EXIT_CODES_HELP", "build_parser", "main"]
