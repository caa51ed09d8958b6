"""Public names that moved or were added: each works from where the docs say it is."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

import feldera_events
import feldera_events.testing
from feldera_events._testing_mode import is_testing
from feldera_events.testing import FakeFeldera

FAST = feldera_events.PollPolicy(initial=0.02, maximum=0.05, jitter=0.0)


def test_set_testing_lives_in_feldera_events_testing() -> None:
    assert "set_testing" in feldera_events.testing.__all__
    feldera_events.testing.set_testing(False)
    try:
        assert not is_testing()
        feldera_events.testing.set_testing(True)
        assert is_testing()
    finally:
        feldera_events.testing.set_testing(True)  # the suite runs in testing mode


def test_the_old_set_testing_warns_and_still_switches() -> None:
    with pytest.warns(DeprecationWarning, match=r"feldera_events\.testing\.set_testing"):
        old = feldera_events.set_testing  # type: ignore[attr-defined]
    assert old is feldera_events.testing.set_testing
    try:
        old(False)
        assert not is_testing()
    finally:
        feldera_events.testing.set_testing(True)
    assert "set_testing" not in feldera_events.__all__  # no warning for `import *`


def test_the_old_set_testing_import_warns_at_the_importing_line() -> None:
    code = (
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "try:\n"
        "    from feldera_events import set_testing\n"
        "except DeprecationWarning as w:\n"
        "    print('warned', w)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("warned feldera_events.set_testing is deprecated"), done.stdout


def test_the_default_retry_statuses_are_exported() -> None:
    assert "DEFAULT_RETRY_STATUSES" in feldera_events.__all__
    statuses = feldera_events.DEFAULT_RETRY_STATUSES
    assert statuses == frozenset({408, 429, 500, 502, 503, 504})
    assert feldera_events.RetryPolicy().retry_statuses == statuses
    # The usual way to add one: the defaults and 409.
    assert 409 in feldera_events.RetryPolicy(retry_statuses=statuses | {409}).retry_statuses


def test_until_is_exported_and_is_the_type_of_wait_result_until() -> None:
    assert "Until" in feldera_events.__all__
    assert typing.get_args(feldera_events.Until) == ("provisioned", "running")
    hints = typing.get_type_hints(feldera_events.WaitResult)
    assert hints["until"] == feldera_events.Until


async def test_wait_until_stopped_one_shot() -> None:
    async with FakeFeldera(speed=100) as fake:
        fake.create_pipeline("p")
        fake.start("p")
        await fake.wait_for_status("p", deployment_resources_status="Provisioned")
        fake.stop("p")
        seen: list[feldera_events.PipelineEvent] = []
        ev = await feldera_events.wait_until_stopped(
            "p",
            timeout=30,
            url=fake.url,
            poll=FAST,
            on_event=seen.append,
            request_timeouts=feldera_events.Timeouts(request=5),
        )
    assert ev.deployment_resources_status is feldera_events.ResourcesStatus.STOPPED
    assert seen[-1] == ev


async def test_the_waits_refuse_an_option_they_do_not_take() -> None:
    async with FakeFeldera(speed=100) as fake, feldera_events.EventsClient(fake.url) as client:
        fake.create_pipeline("p")
        poller = feldera_events.Poller(client, poll=FAST)
        with pytest.raises(TypeError, match=r"wait_until_provisioned.*'wait_for_approval'"):
            await poller.wait_until_provisioned("p", timeout=1, wait_for_approval=False)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"wait_for.*'sinse'"):
            await poller.wait_for("p", bool, timeout=1, sinse="now")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"as_completed.*'until_running'"):
            await poller.wait_many(["p"], timeout=1, until_running=True)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="wait_for_approval"):
            await feldera_events.wait_until_stopped(
                "p",
                timeout=1,
                url=fake.url,
                wait_for_approval=True,  # only wait_until_running takes it
            )
