"""Item 2: the API key is never shown, and nothing else is altered."""

from __future__ import annotations

import logging
import pickle
import traceback

import pytest
from helpers import error_json, event_json, loopback, respond_json

from feldera_events import (
    APIStatusError,
    DeploymentFailedError,
    EventsClient,
    FelderaError,
    PipelineNotFoundError,
    Poller,
    ResponseValidationError,
    RetryPolicy,
)
from hostile import (
    ECHO_FORMS,
    MALFORMED_ECHOES,
    echo_authorization,
    encoded_json,
    malformed_echo,
    not_http,
)
from hostile.checks import assert_secret_free, chain, one_line

WITHHELD = "withheld: it contains the API key"


#: A key with a slash, a plus and a space: each has a form of its own in JSON, in
#: percent-encoding and in form encoding.
KEY = "tok/en+SECRET123/x y"


def assert_withheld(exc: BaseException, form: str) -> None:
    """The key is in no text of ``exc`` (nor its chain, traceback or pickle), neither raw
    nor as the server echoed it (``form``), and the error says it was withheld."""
    assert_secret_free(exc, "SECRET123")
    echoed = ECHO_FORMS[form](KEY)
    shown = [str(exc), "".join(traceback.format_exception(exc))]
    shown += [str(item) for item in chain(exc)]
    for text in shown:
        assert echoed not in text, text
        assert ECHO_FORMS[form]("SECRET123") not in text, text
    assert echoed.encode() not in pickle.dumps(exc)
    assert WITHHELD in one_line(exc)
    assert WITHHELD in str(pickle.loads(pickle.dumps(exc)))


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "html"])
@pytest.mark.parametrize("form", sorted(ECHO_FORMS))
async def test_a_wrong_shape_200_echoing_the_key_is_withheld(form: str, as_json: bool) -> None:
    async with (
        loopback(echo_authorization(200, form=form, as_json=as_json)) as srv,
        EventsClient(srv.url, api_key=KEY) as client,
    ):
        with pytest.raises(ResponseValidationError) as info:
            await client.get_event("p")
    assert_withheld(info.value, form)
    # JSON: the strings holding the key were withheld, the rest is quoted; HTML: all.
    assert (WITHHELD in info.value.body) if as_json else (info.value.body == "")


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "html"])
@pytest.mark.parametrize("form", sorted(ECHO_FORMS))
@pytest.mark.parametrize("status", [400, 401, 502])
async def test_an_error_echoing_the_key_is_withheld(status: int, form: str, as_json: bool) -> None:
    # In an HTML page (a proxy's 502) nothing decodes the form: each must be known as such.
    async with (
        loopback(echo_authorization(status, form=form, as_json=as_json)) as srv,
        EventsClient(srv.url, api_key=KEY, retry=RetryPolicy.disabled()) as client,
    ):
        with pytest.raises(APIStatusError) as info:
            await client.get_event("p")
    exc = info.value
    assert_withheld(exc, form)
    assert exc.status_code == status
    assert exc.message == f"message and body {WITHHELD}"
    assert exc.details is None and exc.body == ""


@pytest.mark.parametrize("form", ["percent-encoded", "unicode-escaped", "slash-escaped"])
async def test_a_retried_error_echoing_the_key_logs_no_form_of_it(
    form: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="feldera_events")
    async with (
        loopback(echo_authorization(503, form=form, as_json=False)) as srv,
        EventsClient(srv.url, api_key=KEY, retry=RetryPolicy(attempts=2)) as client,
    ):
        with pytest.raises(APIStatusError) as info:
            await client.get_event("p")
    assert_withheld(info.value, form)
    assert len(srv.seen) == 2  # retried once: a WARNING was logged
    logged = [r.getMessage() + repr(r.args) for r in caplog.records]
    assert any(WITHHELD in line for line in logged)
    assert not any(ECHO_FORMS[form]("SECRET123") in line for line in logged)


async def test_a_callable_key_is_withheld_too() -> None:
    async with (
        loopback(echo_authorization(200, as_json=False)) as srv,
        EventsClient(srv.url, api_key=lambda: "SECRET123-from-callable") as client,
    ):
        with pytest.raises(ResponseValidationError) as info:
            await client.get_event("p")
    assert_secret_free(info.value, "SECRET123")
    assert WITHHELD in str(info.value)


async def test_a_short_key_never_edits_other_text() -> None:
    # "ipe" is in "UnknownPipelineName" and in "pipe1": the server text is withheld
    # whole, our own text (the URL) and the error code are left exactly as they are.
    body = error_json("UnknownPipelineName", "Unknown pipeline name 'pipe1'")
    async with (
        loopback(respond_json(body, status=404)) as srv,
        EventsClient(srv.url, api_key="ipe") as client,
    ):
        with pytest.raises(PipelineNotFoundError) as info:
            await client.get_event("pipe1")
    text = one_line(info.value)
    assert "redacted" not in text
    assert info.value.error_code == "UnknownPipelineName"
    assert text.startswith("HTTP 404 UnknownPipelineName: message and body withheld")
    assert "/v0/pipelines/pipe1/events/latest" in text


async def test_text_without_the_key_is_untouched() -> None:
    body = error_json("UnknownPipelineName", "Unknown pipeline name 'p'")
    async with (
        loopback(respond_json(body, status=404)) as srv,
        EventsClient(srv.url, api_key="SECRET123") as client,
    ):
        with pytest.raises(PipelineNotFoundError) as info:
            await client.get_event("p")
    assert info.value.message == "Unknown pipeline name 'p'"
    assert "withheld" not in str(info.value)


async def test_chained_causes_carry_no_request_headers() -> None:
    # aiohttp's ClientResponseError keeps every request header in request_info.
    async with (
        not_http() as srv,
        EventsClient(srv.url, api_key="SECRET123", tenant="acme") as client,
    ):
        with pytest.raises(FelderaError) as info:
            await client.get_event("p")
    assert_secret_free(info.value, "SECRET123")
    assert_secret_free(info.value, "acme")


async def test_a_content_encoding_holding_the_key_is_withheld() -> None:
    async with (
        loopback(encoded_json(event_json(), "x-SECRET123")) as srv,
        EventsClient(srv.url, api_key="SECRET123") as client,
    ):
        with pytest.raises(ResponseValidationError) as info:
            await client.get_event("p")
    assert_secret_free(info.value, "SECRET123")
    assert f"unsupported Content-Encoding ({WITHHELD})" in one_line(info.value)


@pytest.mark.parametrize("kind", sorted(MALFORMED_ECHOES))
async def test_a_malformed_answer_quoting_the_key_is_withheld(kind: str) -> None:
    # aiohttp's parser quotes the offending bytes in its error (and its exceptions keep
    # them in attributes): neither the error nor its chain may show the key.
    async with (
        malformed_echo(kind) as srv,
        EventsClient(srv.url, api_key="SECRET123", retry=RetryPolicy.disabled()) as client,
    ):
        with pytest.raises(FelderaError) as info:
            await client.get_event("p")
    assert_secret_free(info.value, "SECRET123")
    assert srv.connections >= 1


@pytest.mark.parametrize("form", sorted(ECHO_FORMS))
async def test_a_successful_answer_holding_the_key_has_that_text_withheld(form: str) -> None:
    # Issue 21: a key in a string of a 2xx answer (an event's error message, an enum value)
    # reached waits, watch lines and wait --json. Each such string is withheld, whole.
    echoed = ECHO_FORMS[form](f"Bearer {KEY}")
    wire = event_json(
        selector="all",
        deployment_resources_status="Stopped",
        deployment_has_error=True,
        deployment_error={"error_code": "E", "message": f"sent {echoed}", "details": [echoed]},
        program_status=echoed,
    )
    async with (
        loopback(respond_json(wire)) as srv,
        EventsClient(srv.url, api_key=KEY) as client,
    ):
        event = await client.get_event("p", selector="all")
        with pytest.raises(DeploymentFailedError) as info:
            await Poller(client).wait_until_provisioned("p", timeout=5)
    assert event.deployment_error is not None
    assert event.deployment_error.message == WITHHELD
    assert event.deployment_error.details == [WITHHELD]
    assert event.program_status.value == WITHHELD
    assert event.deployment_error.error_code == "E"  # nothing else is edited
    assert_secret_free(info.value, "SECRET123")
    assert info.value.message == WITHHELD
