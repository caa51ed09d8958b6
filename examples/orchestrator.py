"""Start many pipelines and watch them come up, with live progress from ``on_event``.

    FELDERA_HOST=http://localhost:8080 python examples/orchestrator.py p1 p2 p3 --timeout 300

Each pipeline is started through the manager's REST API (``POST
/v0/pipelines/{name}/start``), then waited on with ``Poller.wait_until_provisioned``.
Starts run at most ``--parallel`` at a time; one ``EventsClient`` (one connection
pool) serves every wait. A start the manager refuses (an unknown name, ...) is
reported for that pipeline and never aborts the others; the run ends with a
per-pipeline summary. Exit code: 0 when every pipeline is provisioned, 1 otherwise.

The wait takes no ``since``: once our own ``/start`` has succeeded, the desired status
is ``Provisioned`` and any old error is dismissed (the start records an event saying
so), so the latest event can be neither an old failure nor the ``Provisioned`` of a
stopped deployment. A pipeline that is already running (the script run a second time:
its ``/start`` changes nothing) is reported provisioned at once. A ``since`` taken
here would wait for a *new* provisioning, which never comes for a pipeline that is
already up: ``since`` is for a wait that begins before a change someone else makes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import aiohttp

from feldera_events import DeploymentFailedError, EventsClient, FelderaError, PipelineEvent, Poller


class StartError(Exception):
    """The manager refused ``POST /start`` (unknown pipeline, not compiled, ...)."""


async def start_pipeline(session: aiohttp.ClientSession, url: str, name: str) -> None:
    headers = {}
    api_key = os.environ.get("FELDERA_API_KEY")
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    async with session.post(f"{url}/v0/pipelines/{name}/start", headers=headers) as resp:
        if resp.status >= 400:
            text = await resp.text()
            try:
                body = json.loads(text)
                detail = f"{body['error_code']}: {body['message']}"
            except (ValueError, KeyError, TypeError):
                detail = text[:200]
            raise StartError(f"POST /start answered HTTP {resp.status} ({detail})")


async def deploy(
    name: str,
    *,
    session: aiohttp.ClientSession,
    poller: Poller,
    limit: asyncio.Semaphore,
    timeout: float,
) -> tuple[str, str]:
    """(outcome, detail) of one pipeline: one bad start never aborts the others."""

    def on_event(event: PipelineEvent) -> None:
        print(f"[{name}] {event.status_text()}", flush=True)

    async with limit:
        try:
            await start_pipeline(session, poller.client.url, name)
            print(f"[{name}] start requested", flush=True)
            # No since: after our own successful /start, the latest event is this start's.
            event = await poller.wait_until_provisioned(name, timeout=timeout, on_event=on_event)
        except StartError as err:
            print(f"[{name}] NOT STARTED: {err}", flush=True)
            return "not started", str(err)
        except DeploymentFailedError as err:
            print(f"[{name}] FAILED: {err.error_code}: {err.message}", flush=True)
            return "failed", f"{err.error_code}: {err.message}"
        except TimeoutError as err:  # WaitTimeoutError is a TimeoutError
            print(f"[{name}] TIMED OUT: {err}", flush=True)
            return "timed out", str(err)
        except (FelderaError, aiohttp.ClientError) as err:
            print(f"[{name}] ERROR: {err}", flush=True)
            return "error", str(err)
    print(f"[{name}] ready ({event.combined_status.value})", flush=True)
    return "provisioned", event.combined_status.value


async def orchestrate(names: list[str], *, url: str | None, timeout: float, parallel: int) -> int:
    limit = asyncio.Semaphore(parallel)
    async with EventsClient(url) as client, aiohttp.ClientSession() as session:
        poller = Poller(client)
        results = await asyncio.gather(
            *(
                deploy(name, session=session, poller=poller, limit=limit, timeout=timeout)
                for name in names
            )
        )
    print()
    print("summary:")
    width = max(len(name) for name in names)
    for name, (outcome, detail) in zip(names, results, strict=True):
        print(f"  {name:<{width}}  {outcome:<11}  {detail}")
    ok = sum(outcome == "provisioned" for outcome, _ in results)
    print(f"{ok} of {len(names)} pipelines provisioned")
    return 0 if ok == len(names) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipelines", nargs="+")
    parser.add_argument("--url", help="manager URL (default: $FELDERA_HOST)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--parallel", type=int, default=10, help="starts in flight at once")
    args = parser.parse_args()
    try:
        return asyncio.run(
            orchestrate(args.pipelines, url=args.url, timeout=args.timeout, parallel=args.parallel)
        )
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
