"""Public names that moved or were added: each works from where the docs say it is."""

from __future__ import annotations

import subprocess
import sys

import pytest

import feldera_events
import feldera_events.testing
from feldera_events._testing_mode import is_testing


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
