"""Test-only start-up hook (on ``PYTHONPATH`` in ``tests/test_cli_waits.py`` only).

With ``FELDERA_EVENTS_TEST_BLOCK_IMPORT=1`` the first import of ``feldera_events``
writes ``importing feldera_events`` to stderr and blocks until a signal arrives: a
Ctrl-C (SIGINT) then raises ``KeyboardInterrupt`` from inside that import, at a
moment the test knows, with no race.
"""

import os
import sys

if os.environ.get("FELDERA_EVENTS_TEST_BLOCK_IMPORT") == "1":
    import importlib.abc
    import signal

    class _BlockImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
            if name == "feldera_events":
                sys.meta_path.remove(self)
                sys.stderr.write("importing feldera_events\n")
                sys.stderr.flush()
                while True:  # until a signal's handler raises
                    signal.pause()
            return

    sys.meta_path.insert(0, _BlockImport())
