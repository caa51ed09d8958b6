"""Argument parsing for the CLI: option types, help texts, the parser of every command."""

from __future__ import annotations

import argparse
from typing import Any, Final

from .._client import normalize_event_id
from .._models import Selector

EXIT_CODES_HELP: Final = """\
exit codes:
  0    every pipeline is provisioned (get/list/watch: the request succeeded)
  1    a deployment failed, or the pipeline was stopped while we waited
  2    usage or configuration error (bad option, pipeline name, event id, URL,
       CA bundle); detected before any request is sent
  3    the --timeout passed before every pipeline was provisioned
  4    API or connection error: unknown pipeline, authentication or permission
       refused, the server unreachable (a wrong URL fails within seconds, not
       at the timeout), an unexpected response
  130  interrupted (Ctrl-C)

With several pipelines the exit code is the most serious outcome, in the order
4 > 1 > 3 > 0: an API error means the check itself could not be made (a wrong
name, key or URL) and must be fixed before any other result means anything; a
failure is a definite answer, worth more than a timeout, which is none.
"""

ENVIRONMENT_HELP: Final = """\
environment:
  FELDERA_HOST            manager URL (default http://localhost:8080)
  FELDERA_API_KEY         API key or token (prefer it to --api-key, which other
                          users of the machine can see in the process list)
  FELDERA_TENANT          tenant name or id (Feldera-Tenant header)
  FELDERA_HTTPS_TLS_CERT  CA bundle for https
  FELDERA_TLS_INSECURE    "true" to skip TLS certificate verification
  GITHUB_ACTIONS          "true": failures are also printed as ::error:: annotations
"""


# -- argument types ---------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {text!r}")
    return value


def _pipeline_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a pipeline name must not be empty")
    return text


def _event_id(text: str) -> str:
    try:
        return normalize_event_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- the parser -------------------------------------------------------------------------


def _add_connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options. Sub-commands get them too (with SUPPRESS defaults, so a value
    given before the sub-command is kept), so they may come before or after it."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection options")
    group.add_argument(
        "--url",
        metavar="URL",
        default=default(None),
        help="manager URL (default: $FELDERA_HOST, else http://localhost:8080)",
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        default=default(None),
        help="API key (default: $FELDERA_API_KEY); never printed",
    )
    group.add_argument(
        "--tenant",
        metavar="TENANT",
        default=default(None),
        help="tenant (default: $FELDERA_TENANT)",
    )
    group.add_argument(
        "--ca-cert",
        metavar="PATH",
        default=default(None),
        help="CA bundle for https (default: $FELDERA_HTTPS_TLS_CERT)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        default=default(False),
        help="do not verify TLS certificates",
    )
    group.add_argument(
        "--request-timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=default(None),
        help="time limit of one HTTP request (default 30); not the overall --timeout of a wait",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log the feldera_events logger to stderr (-vv: debug)",
    )


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="feldera-events",
        description="Wait on, watch and audit Feldera pipelines through their monitor events.",
        epilog=EXIT_CODES_HELP + "\n" + ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_connection_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_connection_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, description: str, parents: list[argparse.ArgumentParser]) -> Any:
        return sub.add_parser(
            name,
            help=help,
            description=description,
            parents=parents,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    wait = add(
        "wait",
        "wait until pipelines are provisioned (a CI step)",
        "Wait until every named pipeline's resources are Provisioned, concurrently. "
        "Progress goes to stdout (to stderr with --json): a live line per pipeline on a "
        "terminal, one timestamped line per status change otherwise. A failure prints the "
        "pipeline, the server's error_code and message, and the events since the wait began.",
        [common],
    )
    wait.add_argument("pipelines", nargs="+", metavar="PIPELINE", type=_pipeline_name)
    wait.add_argument(
        "--timeout",
        required=True,
        type=_positive_float,
        metavar="SECONDS",
        help="overall deadline of the wait (required)",
    )
    wait.add_argument(
        "--since-now",
        action="store_true",
        help="only events recorded after this command started count as an outcome: for a "
        "wait that begins before the change it waits for (a start triggered afterwards, or "
        "by something else), so an earlier Provisioned or failure is not taken as the result",
    )
    wait.add_argument(
        "--json",
        action="store_true",
        help="print one JSON result object on stdout (progress goes to stderr)",
    )
    wait.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="how often to poll while the pipelines move (default 1; backs off to 5 after a minute)",
    )

    get = add(
        "get",
        "print one event as JSON",
        "Print one monitor event of a pipeline as JSON: the latest one, or EVENT_ID.",
        [common],
    )
    get.add_argument("pipeline", metavar="PIPELINE", type=_pipeline_name)
    get.add_argument(
        "event_id", nargs="?", default="latest", type=_event_id, metavar="EVENT_ID",
        help="'latest' (default) or an event id (UUID)",
    )  # fmt: skip
    get.add_argument(
        "--selector",
        choices=[s.value for s in Selector],
        default="all",
        help="which fields: all (default, with details and deployment_error) or status",
    )

    lst = add(
        "list",
        "list a pipeline's events, newest first",
        "List the retained monitor events of a pipeline, newest first.",
        [common],
    )
    lst.add_argument("pipeline", metavar="PIPELINE", type=_pipeline_name)
    lst.add_argument(
        "--selector",
        choices=[s.value for s in Selector],
        default="status",
        help="which fields: status (default) or all (adds details and deployment_error)",
    )
    lst.add_argument("--limit", type=_positive_int, metavar="N", help="only the newest N events")
    lst.add_argument(
        "--format",
        choices=["table", "json", "jsonl"],
        help="output format (default: table on a terminal, json otherwise)",
    )

    watch = add(
        "watch",
        "print a line per new event until Ctrl-C",
        "Print the pipeline's current status, then one line per new event, until Ctrl-C.",
        [common],
    )
    watch.add_argument("pipeline", metavar="PIPELINE", type=_pipeline_name)
    watch.add_argument("--jsonl", action="store_true", help="one JSON object per line")

    wait_cluster = add(
        "wait-cluster",
        "wait until the manager's services are all healthy",
        "Wait until the latest cluster monitor event says all services (API server, "
        "compiler, runner) are healthy: a first CI step after starting a manager. Connection "
        "errors are polled through until --timeout (the manager may still be starting); a "
        "manager never reached by then exits 4, an unhealthy one 3.",
        [common],
    )
    wait_cluster.add_argument(
        "--timeout",
        required=True,
        type=_positive_float,
        metavar="SECONDS",
        help="overall deadline of the wait (required)",
    )
    wait_cluster.add_argument(
        "--json", action="store_true", help="print one JSON result object on stdout"
    )

    cluster_events = add(
        "cluster-events",
        "list the manager's cluster monitor events, newest first",
        "List the retained cluster monitor events (health of the API server, compiler and "
        "runner), newest first.",
        [common],
    )
    cluster_events.add_argument(
        "--selector",
        choices=[s.value for s in Selector],
        default="status",
        help="status (default) or all (fetches each event in full: one request per event)",
    )
    cluster_events.add_argument(
        "--limit", type=_positive_int, metavar="N", help="only the newest N events"
    )
    cluster_events.add_argument(
        "--format",
        choices=["table", "json", "jsonl"],
        help="output format (default: table on a terminal, json otherwise)",
    )

    fake = add(
        "fake-server",
        "run a simulated Feldera manager until Ctrl-C",
        "Run FakeFeldera, the simulated pipeline manager of feldera_events.testing, until "
        "Ctrl-C. Its pipelines are created compiled and stopped, named pipeline-1, "
        "pipeline-2, ...; start them with POST /v0/pipelines/NAME/start.",
        [],
    )
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
        "--pipelines", type=int, default=0, metavar="N", help="pipelines to create (default 0)"
    )
    fake.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="time-scale factor: 10 makes every simulated step ten times faster (default 1)",
    )

    add(
        "demo",
        "see a success and a failure against a simulated manager (~10 s)",
        "Start a simulated manager in this process, create two pipelines, start both through "
        "the REST API and wait on them with the progress display of `wait`: one is "
        "provisioned, the other fails with PipelineProvisioningTimeout. Needs no server.",
        [],
    )
    return parser
