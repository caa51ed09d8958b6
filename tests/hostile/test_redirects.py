"""Item 4: redirects stay within the origin; loops fail at once, readably."""

from __future__ import annotations

import pytest
from aiohttp import web
from helpers import event_json, loopback, respond_json

from feldera_events import EventsClient, RedirectError, RetryPolicy
from hostile import redirect
from hostile.checks import assert_secret_free, one_line

PATH = "/v0/pipelines/p/events/latest?selector=status"


async def test_a_redirect_to_another_origin_is_not_followed() -> None:
    async with (
        loopback(respond_json(event_json())) as other,
        loopback(redirect(other.url + "/elsewhere")) as srv,
        EventsClient(
            srv.url, api_key="SECRET123", tenant="acme", headers={"X-Custom": "mine"}
        ) as client,
    ):
        with pytest.raises(RedirectError) as info:
            await client.get_event("p")
    assert other.seen == []  # nothing, so no tenant, key or custom header, went there
    assert len(srv.seen) == 1  # not retried
    text = one_line(info.value)
    assert f"GET {srv.url}{PATH} -> {other.url}/elsewhere" in text
    assert "another origin" in text
    assert info.value.status_code == 302
    assert info.value.location == other.url + "/elsewhere"


@pytest.mark.parametrize("scheme_change", ["https", "other-port"])
async def test_a_scheme_or_port_change_is_another_origin(scheme_change: str) -> None:
    async with loopback(redirect("placeholder")) as srv:
        host_port = srv.url.removeprefix("http://")
        host, port = host_port.split(":")
        target = (
            f"https://{host_port}{PATH}"
            if scheme_change == "https"
            else f"http://{host}:{int(port) + 1}{PATH}"
        )
        srv.script[:] = [redirect(target, status=307)]
        async with EventsClient(srv.url) as client:
            with pytest.raises(RedirectError, match="another origin"):
                await client.get_event("p")


async def test_a_same_origin_redirect_is_followed_with_the_headers() -> None:
    async with (
        loopback(redirect("/moved"), respond_json(event_json())) as srv,
        EventsClient(srv.url, api_key="k", tenant="acme", headers={"X-Custom": "mine"}) as client,
    ):
        event = await client.get_event("p")
    assert event.to_dict() == event_json()
    assert [s.path for s in srv.seen] == ["/v0/pipelines/p/events/latest", "/moved"]
    moved = srv.seen[1].headers
    assert (moved["Authorization"], moved["Feldera-Tenant"], moved["X-Custom"]) == (
        "Bearer k",
        "acme",
        "mine",
    )


async def test_a_redirect_loop_is_not_retried_and_reads_well() -> None:
    async with (
        loopback(redirect(PATH, status=301)) as srv,
        EventsClient(srv.url, api_key="SECRET123") as client,
    ):
        with pytest.raises(RedirectError) as info:
            await client.get_event("p")
    assert len(srv.seen) == 1
    text = one_line(info.value)
    assert text.startswith("HTTP 301: redirect loop: ")
    assert f"{srv.url}{PATH} -> {srv.url}{PATH}" in text
    assert info.value.location == srv.url + PATH
    assert_secret_free(info.value, "SECRET123")


async def test_a_two_step_loop_and_too_many_hops() -> None:
    hops = [redirect(f"/hop{i}") for i in range(1, 10)]
    async with (
        loopback(redirect("/a"), redirect("/b"), redirect("/a")) as looping,
        loopback(*hops) as endless,
        EventsClient(looping.url) as c1,
        EventsClient(endless.url) as c2,
    ):
        with pytest.raises(RedirectError, match=r"redirect loop: \S*/a -> \S*/b -> \S*/a \(GET "):
            await c1.get_event("p")
        with pytest.raises(RedirectError, match=r"too many redirects: .* redirected 6 times"):
            await c2.get_event("p")
    assert len(looping.seen) == 3
    assert len(endless.seen) == 6


async def test_a_location_holding_the_key_is_withheld() -> None:
    async with (
        loopback(redirect("https://evil.example/?k=SECRET123")) as srv,
        EventsClient(srv.url, api_key="SECRET123") as client,
    ):
        with pytest.raises(RedirectError) as info:
            await client.get_event("p")
    assert_secret_free(info.value, "SECRET123")
    assert "Location withheld: it contains the API key" in str(info.value)


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("http://[bad", "redirect with an invalid Location 'http://[bad'"),
        ("http://a:9SECRET123/", "redirect with an invalid Location (Location withheld"),
    ],
)
async def test_an_invalid_location_is_a_redirect_error(location: str, shown: str) -> None:
    async with (
        loopback(redirect(location)) as srv,
        EventsClient(srv.url, api_key="SECRET123") as client,
    ):
        with pytest.raises(RedirectError) as info:
            await client.get_event("p")
    assert shown in one_line(info.value)
    assert_secret_free(info.value, "SECRET123")
    assert len(srv.seen) == 1


async def test_the_hops_of_a_redirect_share_one_request_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The attempt as a whole ends within Timeouts.request (the client then needs no
    # timer of its own for the policy's timeout): a hop after a slow redirect gets
    # only what is left, not a fresh request timeout. The redirect "takes" 28 of the
    # 30 s on a clock that jumps (the event loop's and the client's), so the hop after
    # it has 2 s left where a fresh timeout would give it 30: a margin of 28 s that no
    # loaded machine eats, in a test that takes 2 s.
    import asyncio
    import time
    import types

    from feldera_events import APITimeoutError, RetryPolicy, Timeouts, _client

    skipped = [0.0]
    loop = asyncio.get_running_loop()
    loop_time = loop.time
    monkeypatch.setattr(loop, "time", lambda: loop_time() + skipped[0])
    clock = types.SimpleNamespace(monotonic=lambda: time.monotonic() + skipped[0])
    monkeypatch.setattr(_client, "time", clock)
    hop: list[float] = []  # when the second hop arrived (real time)
    release = asyncio.Event()

    async def slow_redirect(_: web.Request) -> web.StreamResponse:
        skipped[0] += 28.0  # 28 s pass
        return web.Response(status=307, headers={"Location": "/v0/pipelines/q/events/latest"})

    async def stall(_: web.Request) -> web.StreamResponse:
        hop.append(time.monotonic())
        await release.wait()  # longer than the client waits
        return web.Response(status=204)

    async with (
        loopback(slow_redirect, stall) as srv,
        EventsClient(
            srv.url,
            timeout=Timeouts(request=30.0),
            retry=RetryPolicy(attempts=1, timeout=None),
        ) as client,
    ):
        try:
            with pytest.raises(APITimeoutError):
                await client.get_event("p")
            ended = time.monotonic()
        finally:
            release.set()
    assert [s.path for s in srv.seen] == [
        "/v0/pipelines/p/events/latest",
        "/v0/pipelines/q/events/latest",
    ]
    # The second hop was given about 2 s (what was left), never the 30 s of a fresh timeout.
    assert ended - hop[0] < 20, (hop, ended)
    assert len(srv.seen) == 2


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.2:1/?k=SECRE%54123", "/moved/SECRE%54123", "/moved?k=%53ECRET123"],
)
async def test_a_percent_encoded_key_in_a_location_is_withheld(location: str) -> None:
    # yarl decodes a Location when it shows it: the key must be seen through that.
    async with (
        loopback(redirect(location)) as srv,
        EventsClient(srv.url, api_key="SECRET123", retry=RetryPolicy(attempts=3)) as client,
    ):
        with pytest.raises(RedirectError) as info:
            await client.get_event("p")
    assert_secret_free(info.value, "SECRET123")
    assert "Location withheld: it contains the API key" in one_line(info.value)
    assert len(srv.seen) == 1  # not followed, not retried


async def test_a_location_with_user_info_is_not_followed() -> None:
    async def same_origin_with_the_key(request: web.Request) -> web.StreamResponse:
        location = f"http://SECRET123:x@{request.host}/moved"
        return web.Response(status=302, headers={"Location": location})

    async with (
        loopback(same_origin_with_the_key) as srv,
        EventsClient(srv.url, api_key="SECRET123", retry=RetryPolicy(attempts=3)) as client,
    ):
        with pytest.raises(RedirectError) as info:
            await client.get_event("p")
    assert_secret_free(info.value, "SECRET123")
    assert len(srv.seen) == 1  # not followed, not retried
    async with (
        loopback(redirect("http://user:pw@127.0.0.1:1/moved")) as srv,
        EventsClient(srv.url, api_key="SECRET123") as client,
    ):
        with pytest.raises(RedirectError) as info:
            await client.get_event("p")
    text = one_line(info.value)
    assert "redirect to a URL with credentials not followed" in text
    assert "pw" not in text and "user:" not in text
