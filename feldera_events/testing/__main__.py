"""``python -m feldera_events.testing``: the ``feldera-events fake-server`` command itself.

The same parser, options, start-up lines and exit codes; the one module of
``feldera_events.testing`` that imports the CLI (pyproject's import contracts say so).
"""

import sys

from feldera_events.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["fake-server", *sys.argv[1:]]))
