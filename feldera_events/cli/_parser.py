"""Argument parsing for the CLI: option types, help texts, the parser of every command."""

from __future__ import annotations

import argparse
import re
import textwrap
from typing import Any, Final

from .._config import package_version
from .._fields import Selector
from .._validate import check_pipeline_name, normalize_event_id
from ._fake_server import add_fake_server_options

EXIT_CODES_HELP: Final = """\
exit codes (each command's --help lists its own):
  0    success: every pipeline is provisioned, the cluster is healthy, the
       request succeeded
  1    wait: a deployment failed, or someone stopped the pipeline; health: a
       service is unhealthy
  2    usage or configuration error (bad option, pipeline name, event id, URL,
       CA bundle, environment variable), found before any request is sent
  3    wait, wait-cluster: the --timeout passed first
  4    API or connection error: unknown pipeline, authentication or permission
       refused, the server unreachable, an unexpected response
  5    wait --until running --no-wait-for-approval: a pipeline awaits approval
  74   get, list, watch, cluster-events, health: the output could not be written
       (a full disk, a closed stdout); 141 when its reader went away (a broken
       pipe: | head -1)
  130  interrupted (Ctrl-C); 143: terminated (SIGTERM)
"""

_INTERRUPTED = "  130  interrupted (Ctrl-C); 143: terminated (SIGTERM)\n"
_USAGE = "  2    usage or configuration error, found before any request is sent\n"
_API = "  4    API or connection error (unknown pipeline, authentication, unreachable)\n"
_OUTPUT = (
    "  74   the output could not be written (a full disk, a closed stdout)\n"
    "  141  the output's reader went away (a broken pipe: | head -1), quietly\n"
)

#: Each command's own exit codes (its --help epilog).
COMMAND_EXIT_CODES: Final = {
    "wait": "exit codes:\n"
    "  0    every pipeline is provisioned\n"
    "  1    a deployment failed, or someone stopped the pipeline\n" + _USAGE + ""
    "  3    the --timeout passed before every pipeline was provisioned\n"
    "  4    API or connection error: unknown pipeline, authentication or\n"
    "       permission refused, the server unreachable (a wrong URL fails within\n"
    "       seconds, not at the timeout), an unexpected response\n"
    "  5    --until running --no-wait-for-approval: a pipeline awaits approval of\n"
    "       its changes (runtime AwaitingApproval)\n" + _INTERRUPTED + "\n"
    "With several pipelines the exit code is the most serious outcome, in the order\n"
    "4\u00a0>\u00a01\u00a0>\u00a05\u00a0>\u00a03\u00a0>\u00a00: an API error means the check itself could not be made\n"
    "(a wrong name, key or URL) and must be fixed before any other result means\n"
    "anything; a failure is a definite answer, then a pending approval (someone must\n"
    "act), worth more than a timeout, which is none.\n",
    "get": "exit codes:\n  0    the event was printed\n" + _USAGE + _API + _OUTPUT + _INTERRUPTED,
    "list": "exit codes:\n  0    the events were printed\n"
    + _USAGE
    + _API
    + _OUTPUT
    + _INTERRUPTED,
    "watch": "exit codes (no 0: a watch ends by Ctrl-C, an error, or a lost output):\n"
    + _USAGE
    + "  4    API or connection error. Before the watch begins: an unknown pipeline,\n"
    "       authentication or permission refused, the server unreachable, an\n"
    "       unexpected response. During the watch: the pipeline deleted,\n"
    "       authentication or permission refused, an unexpected response; a server\n"
    "       that goes away or answers 408, 429, 500, 502, 503 or 504 is polled\n"
    "       through, without a limit\n"
    + _OUTPUT
    + "       (74 and 141 end the watch at once)\n"
    + _INTERRUPTED,
    "wait-cluster": "exit codes:\n"
    "  0    every service is healthy\n" + _USAGE + ""
    "  3    the manager answered, but was still unhealthy at the --timeout\n"
    "  4    the manager was never reached within --timeout, or an API error\n" + _INTERRUPTED,
    "cluster-events": "exit codes:\n  0    the events were printed\n"
    + _USAGE
    + "  4    API or connection error: authentication or permission refused, the\n"
    "       server unreachable, a manager without cluster events (before Feldera\n"
    "       v0.292), an unexpected response\n" + _OUTPUT + _INTERRUPTED,
    "health": "exit codes:\n"
    "  0    every service is healthy\n"
    "  1    a service is unhealthy (as a failed wait)\n" + _USAGE + ""
    "  4    the manager is unreachable, or an API error\n" + _OUTPUT + _INTERRUPTED,
    "fake-server": "exit codes:\n"
    "  2    bad option, or the port cannot be listened on\n"
    "  130  stopped by Ctrl-C (the normal end)\n",
    "demo": "exit codes:\n  0    the demo ran (its own wait exits 1: that is the point)\n",
}

ENVIRONMENT_HELP: Final = """\
environment:
  FELDERA_HOST            manager URL (default http://localhost:8080)
  FELDERA_API_KEY         API key or token (prefer it to --api-key, which other
                          users of the machine can see in the process list)
  FELDERA_TENANT          tenant name or id (Feldera-Tenant header)
  FELDERA_HTTPS_TLS_CERT  CA bundle file for https (ignored for http:// URLs)
  FELDERA_TLS_INSECURE    true/1/yes/on: skip TLS certificate verification;
                          false/0/no/off or empty: verify (anything else: exit 2)
  GITHUB_ACTIONS          "true": failures are also printed as ::error:: annotations
"""


#: An entry of a help table: two spaces, the term, two or more spaces, its text.
_ENTRY: Final = re.compile(r"^  (?P<term>\S(?:.*?\S)?)  +(?P<text>\S.*)$")
#: The narrowest text column of a table entry; narrower, the text goes under the term.
_MIN_TEXT: Final = 20


def _fill(text: str, width: int, first: str, rest: str) -> str:
    """``text`` filled to ``width``; a no-break space (U+00A0) keeps words together."""
    return textwrap.fill(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,  # --api-key stays whole
    ).replace("\u00a0", " ")


def _fill_table(lines: list[str], width: int, indent: str) -> str:
    """Headings (unindented lines) and entries (``  TERM  text``, continued by deeper
    indented lines), rewrapped to ``width`` with each entry's text at its own column."""
    out: list[str] = []
    entry: tuple[str, int, list[str]] | None = None

    def flush() -> None:
        if entry is None:
            return
        term, column, words = entry
        text = " ".join(words)
        if width - column >= _MIN_TEXT:
            out.append(
                _fill(text, width, indent + f"  {term}".ljust(column), indent + " " * column)
            )
        else:  # too narrow for the column: the text under the term
            out.append(_fill(f"  {term}", width, indent, indent))
            out.append(_fill(text, width, indent + " " * 6, indent + " " * 6))

    for line in lines:
        match = _ENTRY.match(line)
        if match:
            flush()
            entry = (match["term"], match.start("text"), [match["text"]])
        elif line.startswith(" ") and entry is not None:
            entry[2].append(line.strip())
        else:
            flush()
            entry = None
            out.append(_fill(line.strip(), width, indent, indent + "  "))
    flush()
    return "\n".join(out)


def _usage_parts(text: str) -> list[str]:
    """The parts of a usage line: split at blanks outside brackets."""
    parts: list[str] = []
    depth, current = 0, ""
    for char in text:
        if char == " " and depth == 0:
            if current:
                parts.append(current)
            current = ""
            continue
        depth += (char in "[({") - (char in "])}")
        current += char
    if current:
        parts.append(current)
    return parts


class _Formatter(argparse.HelpFormatter):
    """Rewraps every text to the terminal (``COLUMNS``): paragraphs, and tables (exit
    codes, environment) with their hanging indent; the usage too when argparse's own
    layout (continuation lines aligned after the command's name) would not fit."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for para in text.split("\n\n"):
            lines = para.strip("\n").split("\n")
            if any(line.startswith(" ") for line in lines):
                out.append(_fill_table(lines, width, indent))
            else:
                out.append(_fill(" ".join(line.strip() for line in lines), width, indent, indent))
        return "\n\n".join(out) + ("\n" if text.endswith("\n") else "")

    def _format_usage(self, usage: Any, actions: Any, groups: Any, prefix: Any) -> str:
        text: str = super()._format_usage(usage, actions, groups, prefix)
        lines = text.strip("\n").split("\n")
        if all(len(line) <= self._width for line in lines) or "\x1b" in text:
            return text
        head = f"{'usage: ' if prefix is None else prefix}{self._prog}"
        flat = " ".join(text.split())
        if not flat.startswith(head):
            return text
        out, line = [], head
        for part in _usage_parts(flat[len(head) :].strip()):
            if len(line) + 1 + len(part) > self._width and line.strip():
                out.append(line)
                line = " " * 6
            line += " " + part
        out.append(line)
        return "\n".join(out) + "\n\n"


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


def _timeout(text: str) -> float | None:
    """Seconds > 0, or ``none`` to wait without a time limit (said explicitly)."""
    if text.strip().lower() == "none":
        return None
    return _positive_float(text)


def _pipeline_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a pipeline name must not be empty")
    try:
        return check_pipeline_name(text)
    except ValueError as exc:  # the library's rule, in CLI words
        raise argparse.ArgumentTypeError(
            str(exc).replace("pipeline_name", "a pipeline name")
        ) from None


def _event_id(text: str) -> str:
    try:
        return normalize_event_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("event_id", "EVENT_ID")) from None


# -- the parser -------------------------------------------------------------------------


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The global options. Sub-commands get them too (from a parser whose defaults are
    SUPPRESS, so a value given before the sub-command is kept), so they may come before or
    after it."""
    group = parser.add_argument_group("connection options")
    for flag, metavar, help in (
        ("--url", "URL", "manager URL (default: $FELDERA_HOST, else http://localhost:8080)"),
        ("--api-key", "KEY", "API key (default: $FELDERA_API_KEY); never printed"),
        ("--tenant", "TENANT", "tenant (default: $FELDERA_TENANT)"),
        ("--ca-cert", "PATH", "CA bundle for https (default: $FELDERA_HTTPS_TLS_CERT)"),
    ):
        group.add_argument(flag, metavar=metavar, help=help)
    group.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    group.add_argument(
        "--request-timeout",
        metavar="SECONDS",
        type=_positive_float,
        help="time limit of one HTTP request (default 30); not the overall --timeout of a wait",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="log the feldera_events logger to stderr (-vv: debug)",
    )


def _add_pipeline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "pipeline",
        metavar="PIPELINE",
        type=_pipeline_name,
        help="pipeline name (as in the Feldera UI or `fda`)",
    )


def _add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        required=True,
        type=_timeout,
        metavar="SECONDS",
        help="overall deadline of the wait (required): seconds, or 'none' to wait forever",
    )


def _add_list_options(parser: argparse.ArgumentParser) -> None:
    """``list`` and ``cluster-events``: how many, and in which format."""
    parser.add_argument("--limit", type=_positive_int, metavar="N", help="only the newest N events")
    parser.add_argument(
        "--format",
        choices=["table", "json", "jsonl"],
        help="output format (default: table on a terminal, json otherwise)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feldera-events",
        description="Wait on, watch and audit Feldera pipelines through their monitor events.",
        epilog=EXIT_CODES_HELP + "\n" + ENVIRONMENT_HELP,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    _add_connection_options(parser)
    parser.set_defaults(verbose=0)
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _add_connection_options(common)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, description: str, *, connection: bool = True) -> Any:
        return sub.add_parser(
            name,
            help=help,
            description=description,
            parents=[common] if connection else [],
            epilog=COMMAND_EXIT_CODES[name],
            formatter_class=_Formatter,
        )

    wait = add(
        "wait",
        "wait until pipelines are provisioned or running (a CI step)",
        "Wait until every named pipeline's resources are Provisioned (or, with --until "
        "running, its runtime has started too), concurrently; the --timeout is one deadline "
        "for everything, failure reports included: no request starts after it. "
        "Progress goes to stdout (to stderr with --json): a live line per pipeline on a "
        "terminal, one timestamped line per status change otherwise. A failure prints the "
        "pipeline, the server's error_code and message, and the events since the wait began.",
    )
    wait.add_argument(
        "pipelines",
        nargs="+",
        metavar="PIPELINE",
        type=_pipeline_name,
        help="pipeline name(s) to wait on, concurrently",
    )
    _add_timeout(wait)
    wait.add_argument(
        "--until",
        choices=["provisioned", "running"],
        default="provisioned",
        help="provisioned (default): resources Provisioned, the runtime may still be "
        "Initializing; running: the runtime has also reached its desired status (Running, "
        "Paused or Standby), and a panic during initialization is a failure (exit 1)",
    )
    wait.add_argument(
        "--since-now",
        action="store_true",
        help="only events recorded after the server's latest event when the wait began "
        "count as an outcome (the server's events, not this machine's clock): for a wait "
        "that begins before the change it waits for (a start triggered afterwards, or by "
        "something else), so an earlier Provisioned or failure is not taken as the result",
    )
    wait.add_argument(
        "--no-wait-for-approval",
        dest="wait_for_approval",
        action="store_false",
        help="with --until running: a pipeline that awaits approval of its changes (runtime "
        "AwaitingApproval, after a start with bootstrap_policy=await_approval) ends its wait "
        "at once with exit 5 (a CI job cannot approve); by default the wait says what awaits "
        "approval and waits on",
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
    wait.add_argument(
        "--fleet",
        choices=["auto", "on", "off"],
        default="auto",
        help="with several pipelines, poll them all with one request to the pipelines list "
        "per interval and read only the ones that changed: auto (default) while the list "
        "has at most 8 entries per pipeline waited on beyond the first; on: whatever its "
        "size; off: poll each pipeline",
    )

    get = add(
        "get",
        "print one event as JSON",
        "Print one monitor event of a pipeline as JSON: the latest one, or EVENT_ID.",
    )
    _add_pipeline(get)
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
    )
    _add_pipeline(lst)
    lst.add_argument(
        "--selector",
        choices=[s.value for s in Selector],
        default="status",
        help="which fields: status (default) or all (adds details and deployment_error)",
    )
    _add_list_options(lst)

    watch = add(
        "watch",
        "print a line per new event until Ctrl-C",
        "Print the pipeline's current status, then one line per new event, until Ctrl-C.",
    )
    _add_pipeline(watch)
    watch.add_argument(
        "--jsonl",
        action="store_true",
        help="one JSON object per line (failed polls are said on stderr)",
    )

    wait_cluster = add(
        "wait-cluster",
        "wait until the manager's services are all healthy",
        "Wait until the latest cluster monitor event says all services (API server, "
        "compiler, runner) are healthy: a first CI step after starting a manager. Connection "
        "errors are polled through until --timeout (the manager may still be starting); a "
        "manager never reached by then exits 4, an unhealthy one 3.",
    )
    _add_timeout(wait_cluster)
    wait_cluster.add_argument(
        "--json", action="store_true", help="print one JSON result object on stdout"
    )

    cluster_events = add(
        "cluster-events",
        "list the manager's cluster monitor events, newest first",
        "List the retained cluster monitor events (health of the API server, compiler and "
        "runner), newest first.",
    )
    cluster_events.add_argument(
        "--selector",
        choices=[s.value for s in Selector],
        default="status",
        help="status (default) or all (fetches each event in full: one request per event)",
    )
    _add_list_options(cluster_events)

    fake = add(
        "fake-server",
        "run a simulated Feldera manager until Ctrl-C",
        "Run FakeFeldera, the simulated pipeline manager of feldera_events.testing, until "
        "Ctrl-C (`python -m feldera_events.testing` is the same command). It starts with "
        "the pipelines that --pipelines and --pipeline create, stopped; create more with POST "
        "/v0/pipelines, start one with POST /v0/pipelines/NAME/start (its start-up lines "
        "show both as curl commands to paste).",
        connection=False,
    )
    add_fake_server_options(fake)

    health = add(
        "health",
        "print the health of each cluster service (like `fda cluster health`)",
        "Ask the manager (GET /v0/cluster_healthz) how its services are: for the API "
        "server, the compiler and the runner, whether it is healthy, since when, and its "
        "last health-check message. One request, no waiting: see wait-cluster for that.",
    )
    health.add_argument("--json", action="store_true", help="print the answer as JSON")

    add(
        "demo",
        "see a success and a failure against a simulated manager (~6 s)",
        "Start a simulated manager in this process, create two pipelines, start both through "
        "the REST API and wait on them with the progress display of `wait`: one is "
        "provisioned, the other fails with PipelineProvisioningTimeout. Needs no server.",
        connection=False,
    )
    return parser
