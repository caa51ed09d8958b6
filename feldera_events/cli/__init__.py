"""The ``feldera-events`` command line (also ``python -m feldera_events``): a package on top of the SDK.

Its modules are listed in ARCHITECTURE.md. Only this package imports rich.
"""

from __future__ import annotations

from ._main import main
from ._parser import EXIT_CODES_HELP, build_parser

__all__ = ["EXIT_CODES_HELP", "build_parser", "main"]
