"""A CI step in Python: wait until pipelines are provisioned, exit non-zero if not.

    export FELDERA_HOST=https://feldera.example.com
    export FELDERA_API_KEY=apikey:...
    python examples/ci_wait.py orders fraud-detector --timeout 600

The manager URL comes from ``--url`` or ``FELDERA_HOST``; the API key from
``FELDERA_API_KEY``. Exit codes match ``feldera-events wait``: 0 all provisioned,
1 a deployment failed, 3 timed out, 4 API or connection error (4 > 1 > 3 > 0).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from feldera_events import (
    DeploymentFailedError,
    EventsClient,
    Outcome,
    PipelineEvent,
    Poller,
)

EXIT_CODE = {Outcome.SUCCEEDED: 0, Outcome.FAILED: 1, Outcome.TIMED_OUT: 3, Outcome.ERROR: 4}
PRECEDENCE = (4, 1, 3, 0)


def progress(name: str, event: PipelineEvent) -> None:
    print(f"{name}: {event.status_text()}", flush=True)


async def wait_all(names: list[str], timeout: float, url: str | None) -> int:
    async with EventsClient(url) as client:  # url=None: FELDERA_HOST
        results = await Poller(client).wait_many(names, timeout=timeout, on_event=progress)
    codes = []
    for name, result in results.items():
        code = EXIT_CODE.get(result.outcome, 4)
        codes.append(code)
        if result.ok:
            print(f"{name}: provisioned after {result.elapsed:.1f}s")
        elif isinstance(result.error, DeploymentFailedError):
            err = result.error
            print(f"{name}: FAILED with {err.error_code}: {err.message}", file=sys.stderr)
        else:
            print(f"{name}: {result.outcome.value}: {result.error}", file=sys.stderr)
    return next(code for code in PRECEDENCE if code in codes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipelines", nargs="+")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--url", help="manager URL (default: $FELDERA_HOST)")
    args = parser.parse_args()
    try:
        return asyncio.run(wait_all(args.pipelines, args.timeout, args.url))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
