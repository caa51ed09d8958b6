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
import io
import json
import logging
from typing import Any

import pytest
from aiohttp import web
from cli_support import run_cli
from helpers import Handler, error_json, event_json, loopback

from feldera_events import EventsClient, PipelineEvent, Poller, WaitTimeoutError
from feldera_events._convert import structure
from feldera_events.cli._commands import _SafeFormatter
from feldera_events.cli._progress import LineProgress, LiveProgress
from feldera_events.cli._render import EXIT_API, EXIT_FAILED

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
    assert_inert(ran.stdout + ran.stderr)
    assert SHOWN in ran.stdout


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
