"""Issue 21: what a server sends reaches people inert (escaped, one line, bounded, no key),
and the CLI's streams: a closed stdout, an encoding that cannot show a character, output
that cannot be written.

The server's text here is what a hostile proxy or a pipeline's panic message may hold:
ESC and BEL sequences (retitle or clear a terminal), a newline followed by a GitHub
Actions workflow command (``::warning ...`` on a line of its own), a right-to-left
override, and the API key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import os
import re
import shlex
import time
import uuid
from typing import Any

import pytest
from aiohttp import web
from cli_support import RUN_TIMEOUT, clean_env, cli_argv, finish, run, run_cli, spawn
from helpers import Handler, error_json, event_json, loopback
from hostile import ECHO_FORMS, echo_authorization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feldera_events import (
    EventsClient,
    FelderaError,
    PipelineEvent,
    Poller,
    PollPolicy,
    RetryPolicy,
    WaitTimeoutError,
)
from feldera_events._convert import structure
from feldera_events.cli._commands import _SafeFormatter
from feldera_events.cli._progress import LineProgress, LiveProgress
from feldera_events.cli._render import (
    EVENT_COLUMNS,
    EXIT_API,
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_OUTPUT,
    EXIT_TIMEOUT,
    error_line,
    event_line,
    event_row,
    render_table,
)
from feldera_events.cli._wait_command import failure_text, run_wait

#: A panic message as an attacker would write it.
HOSTILE = "boom\x1b]0;PWNED\x07\x1b[2J\r\n::warning file=x.py::forged\u202eevil\u2028end"
#: How it must be shown: every control character as a visible escape.
SHOWN = "boom\\x1b]0;PWNED\\x07\\x1b[2J\\r\\n::warning file=x.py::forged\\u202eevil\\u2028end"


def assert_inert(output: str) -> None:
    """No line of ``output`` holds a control character, and only our own annotations
    (``::error title=``) start a line with a workflow command."""
    for line in output.split("\n"):
        assert line.isprintable(), repr(line)
        if line.lstrip().startswith("::"):
            assert line.startswith("::error title="), line


def failed_event(selector: str, *, code: str, message: str, **extra: Any) -> dict[str, Any]:
    """A pipeline stopped with an error (the full event has ``code`` and ``message``)."""
    fields: dict[str, Any] = {"deployment_has_error": True, **extra}
    if selector == "all":
        fields["deployment_error"] = {"error_code": code, "message": message, "details": None}
    return event_json(selector=selector, **fields)


def failed_pipeline(*, code: str = "WorkerPanic", message: str = HOSTILE, **extra: Any) -> Handler:
    """Every pipeline has failed with ``code`` and ``message``: latest, by id, the list."""

    async def handler(request: web.Request) -> web.StreamResponse:
        selector = request.query.get("selector", "status")
        if request.path.endswith("/events"):
            return web.json_response([failed_event("all", code=code, message=message, **extra)])
        return web.json_response(failed_event(selector, code=code, message=message, **extra))

    return handler


# -- the server's text, shown inert --------------------------------------------------------


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
async def test_wait_shows_a_hostile_error_escaped_and_forges_no_line(json_output: bool) -> None:
    code = "Panic\n::warning::code\x1b[31m"
    args = ["wait", "p", "--timeout", "30", *(["--json"] if json_output else [])]
    async with loopback(failed_pipeline(code=code, program_status="X\x1b]0;T\x07")) as srv:
        ran = await run_cli(*args, url=srv.url, env={"GITHUB_ACTIONS": "true"})
    assert ran.returncode == EXIT_FAILED, ran
    if json_output:  # the exact text, JSON-escaped
        doc = json.loads(ran.stdout)
        assert doc["pipelines"]["p"]["message"] == HOSTILE
        assert doc["pipelines"]["p"]["error_code"] == code
        assert_inert(ran.stderr)
    else:
        assert_inert(ran.stdout + ran.stderr)
        assert f"message:    {SHOWN}" in ran.stdout
        assert "error_code: Panic\\n::warning::code\\x1b[31m" in ran.stdout
        assert "program X\\x1b]0;T\\x07" in ran.stdout  # an unknown enum value, in the timeline
    assert "::error title=Pipeline p FAILED::Panic\\n::warning::code" in ran.output


async def test_an_error_message_is_one_inert_line_on_stderr() -> None:
    body = error_json("Bad\x1b[2J", f"bad request {HOSTILE}")
    async with loopback(lambda _: _json(body, 400)) as srv:
        ran = await run_cli("get", "p", url=srv.url)
    assert ran.returncode == EXIT_API
    assert ran.stdout == ""
    assert_inert(ran.stderr)
    assert ran.stderr.count("\n") == 1
    assert f"HTTP 400 Bad\\x1b[2J: bad request {SHOWN}" in ran.stderr


async def test_health_shows_a_services_message_escaped() -> None:
    stamp = "2026-08-20T10:11:12Z"
    service = {"healthy": True, "message": "ok", "unchanged_since": stamp, "checked_at": stamp}
    body = {
        "all_healthy": False,
        "api": service,
        "compiler": service,
        "runner": {**service, "healthy": False, "message": HOSTILE},
    }
    async with loopback(lambda _: _json(body, 503)) as srv:
        ran = await run_cli("health", url=srv.url)
    assert ran.returncode == 1  # unhealthy: as a failed wait (2 is for usage errors only)
    assert_inert(ran.stdout + ran.stderr)
    assert SHOWN in ran.stdout


@pytest.mark.parametrize("form", ["percent-encoded", "form-encoded", "unicode-escaped"])
async def test_a_key_echoed_in_an_error_never_reaches_stderr_or_wait_json(form: str) -> None:
    # Issue 21: a 401 quoting the Authorization header URL-encoded printed the key on
    # stderr and in wait --json.
    env = {"FELDERA_API_KEY": KEY}
    async with loopback(echo_authorization(401, form=form, as_json=True)) as srv:
        get = await run_cli("get", "p", url=srv.url, env=env)
        wait = await run_cli("wait", "p", "--timeout", "5", "--json", url=srv.url, env=env)
    for ran in (get, wait):
        assert ran.returncode == EXIT_API, ran
        assert "SECRET123" not in ran.output
        assert ECHO_FORMS[form]("SECRET123") not in ran.output
    assert "withheld: it contains the API key" in get.stderr
    doc = json.loads(wait.stdout)
    assert doc["pipelines"]["p"]["message"] == "message and body withheld: it contains the API key"


def status_event(**fields: Any) -> PipelineEvent:
    event: PipelineEvent = structure(event_json(**fields), PipelineEvent)
    return event


async def test_the_live_display_and_the_lines_show_a_status_escaped() -> None:
    # A status the server made up (enum values are kept as they come: lenient).
    ev = status_event(deployment_resources_status=HOSTILE)
    live_out = io.StringIO()
    async with LiveProgress(live_out, ["p"]) as live:
        live.event("p", ev)
        live.retrying("p", "HTTP 503")
    lines_out = io.StringIO()
    async with LineProgress(lines_out, ["p"]) as plain:
        plain.event("p", ev)
    assert_inert(lines_out.getvalue())
    assert SHOWN[:40] in lines_out.getvalue()
    screen = live_out.getvalue()  # rich's own CSI sequences, and no other control
    assert "PWNED" in screen and "\x1b]0;" not in screen and "\x07" not in screen
    assert "\u202e" not in screen and "\r\n::warning" not in screen


@pytest.mark.parametrize("display", ["lines", "live"])
async def test_a_hostile_pipeline_name_is_shown_escaped(display: str) -> None:
    # Review of issue 21: `GITHUB_ACTIONS=true feldera-events wait $'p\n::warning::x\x1b[2J'`
    # printed a log line starting with `::warning::x` and a raw ESC: names were printed
    # raw (the progress lines' labels, the live rows).
    name = "p\n::warning::x\x1b[2J"
    ev = status_event(deployment_resources_status="Provisioning")
    out = io.StringIO()
    shown = "p\\n::warning::x\\x1b[2J"
    if display == "lines":
        async with LineProgress(out, [name]) as plain:
            plain.event(name, ev)
            plain.retrying(name, "HTTP 503")
        assert_inert(out.getvalue())
        assert out.getvalue().count(shown) == 2
    else:
        async with LiveProgress(out, [name]) as live:
            live.event(name, ev)
        screen = _CSI.sub("", out.getvalue().replace("\r", ""))
        assert "\x1b" not in screen and "\n::warning" not in screen
        assert shown in screen


async def test_wait_with_a_hostile_name_forges_no_line() -> None:
    name = "p\n::warning::x\x1b[2J"
    async with loopback(failed_pipeline(message="boom")) as srv:
        ran = await run_cli(
            "wait", name, "--timeout", "30", url=srv.url, env={"GITHUB_ACTIONS": "true"}
        )
    assert ran.returncode == EXIT_FAILED, ran
    assert_inert(ran.output)
    assert "pipeline 'p\\n::warning::x\\x1b[2J' FAILED" in ran.stdout
    # The annotation's title: escaped, and its colons percent-encoded (a property).
    assert "::error title=Pipeline p\\n%3A%3Awarning%3A%3Ax\\x1b[2J FAILED::" in ran.output


# -- any server text, every output path (Hypothesis) -----------------------------------------

KEY = "tok/en+SECRET123/x y"
#: The pieces an attacker would try, the key in every form among them.
PIECES = [
    "\x1b", "\x07", "\x1b]0;PWNED\x07", "\x1b[2J", "\x1b[1A", "\r", "\n", "\r\n", "\t",
    "\n::warning::forged", "::error::x", "%0A::warning::y", "\u2028", "\u2029", "\u202e",
    "\u200b", "\x9b31m", "\x00", "\x7f", "\\", "\\n", "%", "%25", "é", "→", " ",
    *(ECHO_FORMS[form](f"Bearer {KEY}") for form in sorted(ECHO_FORMS)),
]  # fmt: skip
server_text = st.one_of(
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=6).map("".join),
    st.just("x" * 5000 + "\n::warning::late"),  # long: every field is bounded
)
#: Pipeline names as a server may list them (anything the client sends; not the key).
pipeline_names = server_text.filter(
    lambda n: (
        n not in ("", ".", "..")
        and not any(0xD800 <= ord(c) <= 0xDFFF for c in n)
        and "SECRET123" not in n
        and not any(form("SECRET123") in n for form in ECHO_FORMS.values())
    )
)
#: rich's own control sequences in the live display (a server's ESC is always escaped).
_CSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def assert_safe(output: str, where: str) -> None:
    """Inert (:func:`assert_inert`), bounded (but JSON: the exact text, escaped), and
    without the key in any form."""
    assert_inert(output)
    for line in output.split("\n") if where != "get" else ():
        assert len(line) < 3000, (where, len(line))
    for form in ECHO_FORMS.values():
        assert form("SECRET123") not in output, (where, output)


def hostile_server(kind: str, status: int, text: str, code: str, extra: str) -> Handler:
    """``kind`` "event": a failed pipeline whose error and program status are the texts;
    "error": every answer a Feldera error of ``status``; "html": a proxy's page."""
    if kind == "event":
        return failed_pipeline(code=code, message=text, program_status=extra or "X")

    async def handler(_: web.Request) -> web.StreamResponse:
        if kind == "error":
            body = {"message": text, "error_code": code, "details": {"pipeline_name": extra}}
            return web.json_response(body, status=status)
        return web.Response(text=f"<h1>{text}</h1>{code}", status=status, content_type="text/html")

    return handler


async def every_output(
    kind: str, status: int, text: str, code: str, extra: str, name: str = "p"
) -> dict[str, str]:
    """What the CLI prints for people from what ``hostile_server`` answers about pipeline
    ``name``: wait's lines, report and annotations, get's and list's error lines or
    output, the list table, watch's lines, the live display."""
    out: dict[str, str] = {}
    handler = hostile_server(kind, status, text, code, extra)
    async with (
        loopback(handler) as srv,
        EventsClient(srv.url, api_key=KEY, retry=RetryPolicy(attempts=2)) as client,
    ):
        stdout, stderr = io.StringIO(), io.StringIO()
        poll = PollPolicy(initial=0.05, maximum=0.05)
        await run_wait(client, [name], timeout=0.5, poll=poll, stdout=stdout, stderr=stderr)
        out["wait"] = stdout.getvalue() + stderr.getvalue()
        events: list[PipelineEvent] = []
        failure = "HTTP 503"
        try:
            events = await client.list_events(name, selector="all")
        except FelderaError as exc:
            out["list"] = error_line(exc, client.url, name)
            failure = failure_text(exc)
        else:
            out["list"] = render_table(EVENT_COLUMNS, [event_row(ev) for ev in events])
            out["watch"] = "\n".join(event_line(ev) for ev in events)
            out["get"] = json.dumps([ev.to_dict() for ev in events], indent=2)  # JSON: exact
        live = io.StringIO()
        async with LiveProgress(live, [name]) as display:
            for ev in events:
                display.event(name, ev)
            display.retrying(name, failure)
        frames = re.split(r"\r\x1b\[2K", live.getvalue())
        out["live"] = "\n".join(_CSI.sub("", frame) for frame in frames)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["event", "error", "html"]),
    status=st.sampled_from([400, 401, 403, 404, 500, 502]),
    text=server_text,
    code=server_text,
    extra=server_text,
    name=pipeline_names,
)
def test_no_server_text_comes_out_unsafe(
    kind: str, status: int, text: str, code: str, extra: str, name: str
) -> None:
    # Issue 21 item 6: control characters, escapes and the key in each form, anywhere a
    # server may put them, through the CLI's output paths (GitHub Actions annotations on).
    # The pipeline's name too (a fleet script passes on the names a server lists).
    saved = os.environ.get("GITHUB_ACTIONS")
    os.environ["GITHUB_ACTIONS"] = "true"
    try:
        outputs = asyncio.run(every_output(kind, status, text, code, extra, name))
    finally:
        if saved is None:
            del os.environ["GITHUB_ACTIONS"]
        else:
            os.environ["GITHUB_ACTIONS"] = saved
    for where, output in outputs.items():
        assert_safe(output, where)


class FakeTime:
    """A clock that only moves when the poller sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_library_log_lines_and_messages_quote_a_status_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The progress line of a long wait and the timeout quote the last status.
    body = event_json(deployment_resources_status=HOSTILE)
    t = FakeTime()
    caplog.set_level(logging.INFO, logger="feldera_events")
    async with loopback(lambda _: _json(body, 200)) as srv, EventsClient(srv.url) as client:
        poller = Poller(client, clock=t.clock, sleep=t.sleep)
        with pytest.raises(WaitTimeoutError) as info:
            await poller.wait_until_provisioned("p", timeout=6)
    lines = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert lines and all(line.isprintable() and SHOWN[:30] in line for line in lines), lines
    assert str(info.value).isprintable() and SHOWN[:30] in str(info.value)
    assert info.value.last_event is not None  # the attribute keeps the exact text
    assert info.value.last_event.deployment_resources_status.value == HOSTILE


def test_the_clis_log_lines_are_one_line() -> None:
    record = logging.LogRecord("feldera_events", logging.INFO, "x", 1, "said %s", (HOSTILE,), None)
    assert _SafeFormatter("%(message)s").format(record) == f"said {SHOWN}"


def _json(body: Any, status: int) -> Any:
    async def respond() -> web.StreamResponse:
        return web.json_response(body, status=status)

    return respond()


# -- streams --------------------------------------------------------------------------------


def busy_pipeline() -> Handler:
    """A pipeline with a new event at every poll (its program status flips), so a
    ``watch`` always has a line to write."""
    count = 0
    start = dt.datetime(2026, 8, 20, 10, 0, tzinfo=dt.UTC)

    def event(i: int, selector: str) -> dict[str, Any]:
        return event_json(
            selector=selector,
            event_id=str(uuid.UUID(int=(0x0197 << 112) | (7 << 76) | (2 << 62) | i)),
            recorded_at=(start + dt.timedelta(seconds=i)).isoformat(),
            program_status=("CompilingSql", "CompilingRust")[i % 2],
        )

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal count
        selector = request.query.get("selector", "status")
        if request.path.endswith("/events"):
            return web.json_response([event(i, selector) for i in range(count, -1, -1)][:50])
        count += 1
        return web.json_response(event(count, selector))

    return handler


def shell(command: str) -> list[str]:
    """``bash -c``: its redirections (``> /dev/full``, ``>&-``)."""
    return ["bash", "-c", command]


CLI = " ".join(shlex.quote(part) for part in cli_argv())


async def test_watch_ends_as_for_a_broken_pipe_when_its_reader_goes_away() -> None:
    # Issue 21: `watch | head -1` never ended while events kept coming. Here the test is
    # `head -1`: it reads one line, then closes its end of the pipe.
    read_end, write_end = os.pipe()
    async with loopback(busy_pipeline()) as srv:
        started = time.monotonic()
        proc = await spawn(
            cli_argv("watch", "p"), env=clean_env({"FELDERA_HOST": srv.url}), stdout=write_end
        )
        os.close(write_end)
        try:
            with os.fdopen(read_end) as reader:  # closed at the end of the block
                line = await asyncio.wait_for(asyncio.to_thread(reader.readline), RUN_TIMEOUT)
            ran = await finish(proc, started, RUN_TIMEOUT)  # kills it if it goes on
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert "Stopped, compiling" in line
    assert ran.returncode == EXIT_BROKEN_PIPE, ran
    assert ran.stderr == ""  # quietly, as a process SIGPIPE killed


def quiet_pipeline() -> Handler:
    """A pipeline that never changes: one event, the same at every poll."""

    async def handler(request: web.Request) -> web.StreamResponse:
        selector = request.query.get("selector", "status")
        if request.path.endswith("/events"):
            return web.json_response([event_json(selector=selector)])
        return web.json_response(event_json(selector=selector))

    return handler


async def test_watch_ends_when_its_reader_goes_away_while_no_event_comes() -> None:
    # Review of issue 21: `watch | head -1` on a quiet pipeline wrote its line, then ran
    # until killed: a gone reader was noticed only on the next write, and none came.
    read_end, write_end = os.pipe()
    async with loopback(quiet_pipeline()) as srv:
        started = time.monotonic()
        proc = await spawn(
            cli_argv("watch", "p"), env=clean_env({"FELDERA_HOST": srv.url}), stdout=write_end
        )
        os.close(write_end)
        try:
            with os.fdopen(read_end) as reader:  # closed after one line, as `head -1` does
                line = await asyncio.wait_for(asyncio.to_thread(reader.readline), RUN_TIMEOUT)
            # A generous bound: it ends within about a poll interval, nothing comes after
            # the first line, and without the fix it never ends.
            ran = await finish(proc, started, RUN_TIMEOUT)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert "Stopped" in line
    assert ran.returncode == EXIT_BROKEN_PIPE, ran
    assert ran.stderr == ""


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("get p > /dev/full", "No space left on device"),
        ("list p > /dev/full", "No space left on device"),
        ("list p >&-", "it is closed"),
        ("watch p >&-", "it is closed"),  # ends at once: nothing it writes can be read
    ],
)
async def test_output_that_cannot_be_written_is_an_error(command: str, why: str) -> None:
    # Issue 21 and issue 26 item 5: get and list exited 0 with their output lost.
    async with loopback(busy_pipeline()) as srv:
        # exec: bash becomes the CLI (a timeout kills the CLI itself, nothing is left).
        ran = await run(shell(f"exec {CLI} {command}"), env=clean_env({"FELDERA_HOST": srv.url}))
    assert ran.returncode == EXIT_OUTPUT, ran
    assert ran.stderr == f"error: cannot write the output to stdout: {why}\n"


@pytest.mark.parametrize("command", ["get nosuch >&-", "list nosuch >&-", "watch nosuch >&-"])
async def test_a_failed_command_with_stdout_closed_says_only_its_error(command: str) -> None:
    # Review of issue 26: `get nosuch >&-` printed the API error and also "cannot write the
    # output to stdout: it is closed", though it had nothing to write.
    body = error_json("UnknownPipelineName", "Unknown pipeline name 'nosuch'")
    async with loopback(lambda _: _json(body, 404)) as srv:
        ran = await run(shell(f"exec {CLI} {command}"), env=clean_env({"FELDERA_HOST": srv.url}))
    assert ran.returncode == EXIT_API, ran
    [line] = ran.stderr.splitlines()
    assert line.startswith("error: pipeline 'nosuch' not found"), ran.stderr


async def test_a_wait_keeps_its_own_code_whatever_stdout_does() -> None:
    async with loopback(failed_pipeline(message="x")) as srv:
        ran = await run(
            shell(f"{CLI} wait p --timeout 30 > /dev/full"),
            env=clean_env({"FELDERA_HOST": srv.url}),
        )
    assert ran.returncode == EXIT_FAILED, ran


async def test_an_ascii_stdout_shows_what_it_can_instead_of_nothing() -> None:
    # Issue 21: PYTHONIOENCODING=ascii turned the first "→" into an error taken for a
    # closed stdout: exit 3 with no output at all, the timeout report included.
    body = event_json(
        deployment_resources_status="Provisioning",
        deployment_resources_desired_status="Provisioned",
        program_status="Compiling café",  # the server's own non-ASCII text
    )
    async with loopback(lambda _: _json(body, 200)) as srv:
        ran = await run_cli(
            "wait", "p", "--timeout", "1", url=srv.url, env={"PYTHONIOENCODING": "ascii"}
        )
    assert ran.returncode == EXIT_TIMEOUT, ran
    assert "Provisioning -> Provisioned, program Compiling caf?" in ran.stdout
    assert "pipeline 'p' TIMED OUT: not provisioned within 1s" in ran.stdout
