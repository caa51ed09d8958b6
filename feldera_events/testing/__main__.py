"""``python -m feldera_events.testing``: the ``feldera-events fake-server`` command itself.

The same parser, options, start-up lines and exit codes (2 for a bad option or a port in
use, 130 on Ctrl-C): ``python -m feldera_events.testing --port 8080 --pipelines 2`` is
``feldera-events fake-server --port 8080 --pipelines 2``.  The one module of
``feldera_events.testing`` that imports the CLI (pyproject's import contracts say so).
"""

import sys

from feldera_events.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["fake-server", *sys.argv[1:]]))
