"""The ``fake-server`` command: a FakeFeldera scripted from the command line (its pipelines and programs, start and input failures, faults, cluster health), through its public API only.

``python -m feldera_events.testing`` runs this same command (``feldera_events/testing/__main__.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import sys
from typing import Any, Final

from ._render import EXIT_INTERRUPTED, UsageError, quoted, safe_text

__all__ = ["add_fake_server_options", "cmd_fake_server"]

START_FAILURES: Final = ("provisioning_timeout", "worker_panic", "provision_check")
#: Seconds of Provisioning before a scripted ``provisioning_timeout`` fails (simulated).
_PROVISIONING_TIMEOUT = 10.0


def parse_fault(text: str) -> tuple[str, float | None]:
    """``503``, ``503:RETRY_AFTER``, ``502``, ``latency:SECONDS`` -> (kind, number)."""
    kind, _, arg = text.partition(":")
    if kind not in ("503", "502", "latency"):
        raise argparse.ArgumentTypeError(
            f"expected 503[:RETRY_AFTER], 502 or latency:SECONDS, got {text!r}"
        )
    if kind == "latency" and not arg:
        raise argparse.ArgumentTypeError("latency needs seconds, e.g. latency:2")
    if kind == "502" and arg:
        raise argparse.ArgumentTypeError("502 takes no argument")
    number: float | None = None
    if arg:
        try:
            number = float(arg)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds in {text!r}") from None
        if not 0 <= number < float("inf"):
            raise argparse.ArgumentTypeError(f"seconds must be 0 or more in {text!r}")
    return kind, number


def parse_pipeline(text: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME=PROGRAM`` (SQL text, or ``@FILE`` to read it from a file)."""
    name, sep, program = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"expected NAME or NAME=PROGRAM, got {text!r}")
    if not sep:
        return name, None
    if program.startswith("@"):
        try:
            with open(program[1:], encoding="utf-8") as file:
                return name, file.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise argparse.ArgumentTypeError(
                f"cannot read the program of {name!r} from {program[1:]!r}: {reason}"
            ) from None
    return name, program


def parse_start_failure(text: str) -> tuple[str, str]:
    """``PIPELINE=KIND`` (KIND one of :data:`START_FAILURES`)."""
    name, sep, kind = text.rpartition("=")
    if not sep or not name or kind not in START_FAILURES:
        raise argparse.ArgumentTypeError(
            f"expected PIPELINE=KIND with KIND one of {', '.join(START_FAILURES)}, got {text!r}"
        )
    return name, kind


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {text!r}")
    return value


def _speed(text: str) -> float:
    """``--speed``: a time-scale factor > 0 (not a number of seconds)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a number > 0 (a time-scale factor), got {text!r}"
        )
    return value


def add_fake_server_options(fake: argparse.ArgumentParser) -> None:
    """The ``fake-server`` command's options (also ``python -m feldera_events.testing``)."""

    fake.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    fake.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0: a free one)")
    fake.add_argument(
        "--api-key",
        dest="server_api_keys",
        action="append",
        metavar="KEY",
        help="require this API key (repeatable; default: no authentication)",
    )
    fake.add_argument(
        "--pipelines",
        type=int,
        default=0,
        metavar="N",
        help="create N compiled pipelines named pipeline-1 ... pipeline-N (default 0)",
    )
    fake.add_argument(
        "--pipeline",
        action="append",
        type=parse_pipeline,
        metavar="NAME[=PROGRAM]",
        help="create a pipeline named NAME: compiled, with a default program; with "
        "=PROGRAM, that SQL text (quote it for the shell, e.g. 'orders=CREATE TABLE o (x "
        "INT);', or =@FILE to read it from a file), compiled at start-up by the simulated "
        "compiler (the empty program and DDL compile, invalid-sql ends in SqlError); "
        "repeatable",
    )
    fake.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="time-scale factor: 10 makes every simulated step ten times faster (default 1)",
    )
    fake.add_argument(
        "--fail-next-start",
        action="append",
        type=parse_start_failure,
        metavar="PIPELINE=KIND",
        help="make PIPELINE's next start fail; KIND: provisioning_timeout (Provisioning for "
        "10 simulated seconds, then PipelineProvisioningTimeout), worker_panic (fails once "
        "Provisioned), provision_check (fails at once); repeatable",
    )
    fake.add_argument(
        "--fail-next-input",
        action="append",
        metavar="PIPELINE",
        help="make the next input pushed to PIPELINE (POST /v0/pipelines/PIPELINE/ingress/"
        "TABLE) panic it (RuntimeError.WorkerPanic); PIPELINE may be created later; "
        "repeatable (twice: the next two inputs, one per run)",
    )
    fake.add_argument(
        "--fault",
        action="append",
        type=parse_fault,
        metavar="FAULT",
        help="answer requests to the events endpoints badly: 503 (LockTookTooLong), "
        "503:SECONDS (with Retry-After), 502 (a proxy's bad gateway), latency:SECONDS; "
        "repeatable",
    )
    fake.add_argument(
        "--fault-probability",
        type=float,
        default=1.0,
        metavar="P",
        help="chance that a --fault hits a request (default 1: every request)",
    )
    fake.add_argument(
        "--degrade-cluster",
        action="append",
        choices=("api", "compiler", "runner"),
        metavar="SERVICE",
        help="mark a cluster service unhealthy: api, compiler or runner; repeatable",
    )


async def _serve(args: argparse.Namespace) -> None:
    # Here, not at the top: aiohttp's server side (some 50 ms) only for this command.
    from ..testing import FakeAPIError, FakeFeldera, Fault

    programs: dict[str, str | None] = {f"pipeline-{i}": None for i in range(1, args.pipelines + 1)}
    for name, program in args.pipeline or []:
        if name in programs:
            raise UsageError(f"pipeline {name!r} is named twice (--pipeline, --pipelines)")
        programs[name] = program
    failing = dict(args.fail_next_start or [])
    unknown = sorted(set(failing) - set(programs))
    if unknown:
        raise UsageError(
            f"--fail-next-start names {unknown[0]!r}, which is not among the created "
            f"pipelines ({', '.join(programs) or 'none: use --pipelines N'})"
        )
    fake = FakeFeldera(
        host=args.host, port=args.port, api_keys=args.server_api_keys, speed=args.speed
    )
    try:
        await fake.start_server()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    try:
        for name, program in programs.items():
            options: dict[str, Any] = {}
            if failing.get(name) == "provisioning_timeout":
                options["provisioning_timeout"] = _PROVISIONING_TIMEOUT
            if program is not None:  # compiled by the simulated compiler, step by step
                options.update(program_code=program, compile=True)
            try:
                fake.create_pipeline(name, **options)
            except FakeAPIError as exc:  # a name the manager would refuse
                raise UsageError(f"--pipeline {quoted(name)}: {safe_text(exc.message)}") from None
            if name in failing:
                fake.fail_next_start(name, failing[name])
        for name in args.fail_next_input or []:
            fake.fail_next_input(name)
        for kind, number in args.fault or []:
            if kind == "503":
                fault = Fault.status(
                    503,
                    error_code="LockTookTooLong",
                    message="simulated: the database lock took too long",
                    retry_after=number,
                )
            elif kind == "502":
                fault = Fault.proxy_502()
            else:
                fault = Fault.latency(number or 0.0)
            fake.inject(
                fault, probability=None if args.fault_probability == 1 else args.fault_probability
            )
        if args.degrade_cluster:
            fake.recover_cluster()  # the others healthy at once, not "starting up"
        for service in args.degrade_cluster or []:
            fake.degrade_cluster(service)
        out = sys.stdout
        out.write(f"FakeFeldera listening on {fake.url} (speed={args.speed:g})\n")
        for name in programs:
            note = f"  (next start fails: {failing[name]})" if name in failing else ""
            state = "compiled" if programs[name] is None else "compiling its program"
            out.write(f"  pipeline {name}: {state}, stopped{note}\n")
        for name, count in collections.Counter(args.fail_next_input or []).items():
            what = "next input" if count == 1 else f"next {count} inputs"
            out.write(f"  {what} to {name} (POST .../ingress/TABLE): a worker panics\n")
        for kind, number in args.fault or []:
            arg = "" if number is None else f":{number:g}"
            out.write(
                f"  fault {kind}{arg} on the events endpoints, "
                f"probability {args.fault_probability:g}\n"
            )
        for service in args.degrade_cluster or []:
            out.write(f"  cluster service {service}: unhealthy\n")
        new = next(n for n in ("my-pipeline", "new-pipeline", "pipeline-x") if n not in programs)
        body = json.dumps({"name": new, "program_code": ""})
        # With keys required, the lines send one from FELDERA_API_KEY (the shell expands
        # it; the watch reads it): the key itself is never printed.
        auth = ""
        if args.server_api_keys:
            out.write("a key is required: export FELDERA_API_KEY=<an --api-key value> first\n")
            auth = ' -H "Authorization: Bearer $FELDERA_API_KEY"'
        out.write(
            f"create one: curl -X POST {fake.url}/v0/pipelines{auth} "
            f"-H 'Content-Type: application/json' -d '{body}'\n"
        )
        first = next(iter(programs), new)
        out.write(f"start one:  curl -X POST {fake.url}/v0/pipelines/{first}/start{auth}\n")
        out.write(f"watch it:   feldera-events --url {fake.url} watch {first}\n")
        out.write("Ctrl-C stops the server.\n")
        out.flush()
        await asyncio.Event().wait()  # until cancelled (Ctrl-C, SIGTERM)
    finally:
        await fake.close()


def cmd_fake_server(args: argparse.Namespace) -> int:
    if args.pipelines < 0:
        raise UsageError("--pipelines must be 0 or more")
    if not 0 < args.fault_probability <= 1:
        raise UsageError("--fault-probability must be more than 0 and at most 1")
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(_serve(args))
    return EXIT_INTERRUPTED
