"""Issue 21, the low-severity defects: names that are not UTF-8, URL errors, failures
whose details cannot be read, wait_many on a str, the cluster fan-out, the TLS probe."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import pytest
from aiohttp import web
from cli_support import clean_env, cli_argv, finish, run_cli, spawn
from helpers import event_json, loopback, raw_server, read_request_head

from feldera_events import (
    DeploymentFailedError,
    EventsClient,
    Poller,
    RetryPolicy,
    Selector,
    Timeouts,
)
from feldera_events.cli._render import EXIT_FAILED, EXIT_USAGE
from hostile.checks import one_line

# -- names that are not UTF-8 --------------------------------------------------------------


@pytest.mark.parametrize("command", ["get", "list", "watch", "wait"])
async def test_a_name_that_is_not_utf8_is_a_usage_error(command: str) -> None:
    # Issue 21: a traceback (exit 1). argv holds the undecodable byte as a surrogate.
    argv = [*cli_argv(command), b"p\xffq"]
    extra = ["--timeout", "5"] if command == "wait" else []
    started = time.monotonic()
    proc = await spawn([*argv, *extra], env=clean_env({"FELDERA_HOST": "http://127.0.0.1:9"}))
    ran = await finish(proc, started, 60)
    assert ran.returncode == EXIT_USAGE, ran
    assert "not valid UTF-8 text (the byte 0xFF at position 1)" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_the_library_refuses_such_a_name_too() -> None:
    from feldera_events._validate import check_pipeline_name

    with pytest.raises(ValueError, match="not valid UTF-8") as info:
        check_pipeline_name("p\udcff")
    assert one_line(info.value).isascii()


# -- URL errors -------------------------------------------------------------------------------

BAD_URLS = [
    "http://user:hunter2pw@127.0.0.1:99999",  # a bad port, after credentials
    "ftp://user:hunter2pw@host",  # a bad scheme
    "http://user:hunter2pw@[::1",  # not even parsed
    "http://127.0.0.1:99999/?token=hunter2pw",  # a bad port, and a token
    "http://exa mple.com/#hunter2pw",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_url_never_echoes_credentials_or_a_query(url: str) -> None:
    with pytest.raises(ValueError, match="url") as info:
        EventsClient(url)
    assert "hunter2pw" not in one_line(info.value)


@pytest.mark.parametrize("url", BAD_URLS)
async def test_a_bad_url_option_never_echoes_credentials_or_a_query(url: str) -> None:
    for ran in (
        await run_cli("get", "p", "--url", url),
        await run_cli("get", "p", env={"FELDERA_HOST": url}),
    ):
        assert ran.returncode == EXIT_USAGE, ran
        assert "hunter2pw" not in ran.output


# -- a failure seen in the status is a failure ------------------------------------------------

START = dt.datetime(2026, 8, 20, 10, 0, tzinfo=dt.UTC)


def failing_server(*, full_read_status: int = 200, anchor: dict[str, Any] | None = None) -> Any:
    """``latest`` is a failure (after ``anchor``, when given, for the first read); reading
    it in full answers ``full_read_status``."""
    failed_id = str(uuid.UUID(int=(0x0197 << 112) | (7 << 76) | (2 << 62) | 5))
    reads = 0

    def failed(selector: str) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if selector == "all":
            extra["deployment_error"] = {"error_code": "E", "message": "m", "details": None}
        return event_json(
            selector=selector,
            event_id=failed_id,
            recorded_at=START.isoformat(),
            deployment_resources_status="Stopped",
            deployment_has_error=True,
            **extra,
        )

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal reads
        selector = request.query.get("selector", "status")
        if request.path.endswith("/events"):
            return web.json_response([failed("all")])
        if request.path.endswith("/latest"):
            reads += 1
            if anchor is not None and reads == 1:
                return web.json_response(anchor)
            return web.json_response(failed(selector))
        if full_read_status != 200:
            body = {"message": "boom", "error_code": "DbError", "details": None}
            return web.json_response(body, status=full_read_status)
        return web.json_response(failed("all"))

    return handler


async def test_a_failure_whose_full_read_keeps_failing_is_a_failure() -> None:
    # Issue 21: it ended as a timeout (exit 3) where the status said failed.
    async with (
        loopback(failing_server(full_read_status=500)) as srv,
        EventsClient(srv.url) as client,
    ):
        with pytest.raises(DeploymentFailedError) as info:
            await Poller(client).wait_until_provisioned("p", timeout=3)
        ran = await run_cli("wait", "p", "--timeout", "3", url=srv.url)
    assert "the error details are unavailable" in info.value.message
    assert info.value.error_code is None and info.value.event is not None
    assert ran.returncode == EXIT_FAILED, ran
    assert "FAILED" in ran.stdout and "the error details are unavailable" in ran.stdout


async def test_a_failure_after_an_anchor_dated_in_the_future_is_a_failure() -> None:
    # Issue 21: with --since-now, the server's latest event (the anchor) dated in the
    # future made every later event look older than it: the failure ended as a timeout.
    anchor = event_json(
        event_id=str(uuid.UUID(int=(0x0197 << 112) | (7 << 76) | (2 << 62) | 1)),
        recorded_at="2099-01-01T00:00:00Z",
        deployment_resources_status="Provisioned",
        deployment_resources_desired_status="Provisioned",
    )
    async with loopback(failing_server(anchor=anchor)) as srv:
        ran = await run_cli("wait", "p", "--since-now", "--timeout", "10", url=srv.url)
    assert ran.returncode == EXIT_FAILED, ran
    assert "error_code: E" in ran.stdout


# -- wait_many refuses a str -----------------------------------------------------------------


async def test_wait_many_refuses_a_str() -> None:
    # Issue 21: wait_many("orders") waited on o, r, d, e and s.
    async with loopback() as srv, EventsClient(srv.url) as client:
        poller = Poller(client)
        with pytest.raises(TypeError, match=r"for one pipeline: \['orders'\]"):
            await poller.wait_many("orders", timeout=1)
        with pytest.raises(TypeError, match="not a str"):
            await anext(poller.as_completed("orders", timeout=1))
    assert srv.seen == []


# -- the cluster fan-out ---------------------------------------------------------------------


def cluster_event(i: int) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=(0x0197 << 112) | (7 << 76) | (2 << 62) | i)),
        "recorded_at": (START + dt.timedelta(seconds=i)).isoformat(),
        "all_healthy": True,
        "api_status": "Healthy",
        "compiler_status": "Healthy",
        "runner_status": "Healthy",
    }


async def test_reading_3000_cluster_events_in_full_is_capped_and_bounded() -> None:
    # Issue 21: 3,000 listed events made 3,000 follow-up requests (the docstring said up
    # to 1,000), each a task of its own.
    listed = [cluster_event(i) for i in range(3000, 0, -1)]  # newest first
    by_id = {ev["id"]: ev for ev in listed}
    in_flight = most = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, most
        if request.path.endswith("/events"):
            return web.json_response(listed)
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0)  # let others in: the bound, not the order, is tested
            return web.json_response(by_id[request.path.rsplit("/", 1)[1]])
        finally:
            in_flight -= 1

    async with loopback(handler) as srv, EventsClient(srv.url) as client:
        events = await client.list_cluster_events(selector=Selector.ALL)
    assert [str(ev.id) for ev in events] == [ev["id"] for ev in listed[:1000]]
    assert len(srv.seen) == 1 + 1000
    assert most <= 8


# -- the TLS probe keeps within Timeouts.request ----------------------------------------------


async def test_the_tls_probe_stays_within_the_request_timeout() -> None:
    # A plain-HTTP server that hangs up on a request is asked whether it speaks TLS;
    # here the TLS handshake then stalls. The probe once took up to 3 s of its own.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.readexactly(1)
        if first == b"\x16":  # a TLS ClientHello: never answered
            await asyncio.Event().wait()
        await read_request_head(reader)  # a plain request: hang up without a byte

    async with (
        raw_server(handler) as url,
        EventsClient(url, timeout=Timeouts(request=0.2), retry=RetryPolicy.disabled()) as client,
    ):
        started = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017, PT011 - any error: the time is the test
            await client.get_event("p")
        elapsed = time.monotonic() - started
    # Within the request's time (0.2 s, plus a 0.25 s allowance for the work after it):
    # about 0.25 s. The unbounded probe took 3 s whatever the request timeout, so a short
    # request keeps the bound far from both: 1.75 s of slack for a loaded machine, and
    # still a second under the bug.
    assert elapsed < 2.0, f"one attempt took {elapsed:.2f}s for Timeouts.request=0.2"
