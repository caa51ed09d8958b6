"""RetryPolicy and PollPolicy as values: their documented defaults, the bounds of every
number they take, and the rules they decide (issue 24, mutation testing)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from feldera_events import (
    APIConnectionError,
    APITimeoutError,
    PollPolicy,
    RetryPolicy,
    ServerError,
)
from feldera_events._errors import status_error_class
from feldera_events._policies import DEFAULT_RETRY_STATUSES, number


def status(code: int, retry_after: float | None = None) -> Any:
    return status_error_class(code, None)("m", status_code=code, retry_after=retry_after)


# -- the defaults the module docs give -----------------------------------------------------


def test_the_retry_policys_documented_defaults() -> None:
    policy = RetryPolicy()
    assert attrs.asdict(policy) == {
        "attempts": 4,
        "timeout": 60.0,
        "wait_initial": 0.5,
        "wait_max": 30.0,
        "wait_exp_base": 2.0,
        "wait_jitter": 1.0,
        "max_retry_after": 60.0,
        "retry_statuses": frozenset({408, 429, 500, 502, 503, 504}),
    }
    assert frozenset({408, 429, 500, 502, 503, 504}) == DEFAULT_RETRY_STATUSES


def test_the_poll_policys_documented_defaults() -> None:
    assert attrs.asdict(PollPolicy()) == {
        "initial": 1.0,
        "factor": 1.5,
        "maximum": 5.0,
        "jitter": 0.2,
        "grow_after": 60.0,
    }


# -- the bounds of every number ----------------------------------------------------------

# (class, field, the least value it takes, a value just below it that it refuses)
BOUNDS: list[tuple[type, str, float, float]] = [
    (RetryPolicy, "attempts", 1, 0),
    (RetryPolicy, "wait_initial", 0, -0.001),
    (RetryPolicy, "wait_max", 0, -0.001),
    (RetryPolicy, "wait_exp_base", 1, 0.999),
    (RetryPolicy, "wait_jitter", 0, -0.001),
    (RetryPolicy, "max_retry_after", 0, -0.001),
    (PollPolicy, "factor", 1, 0.999),
    (PollPolicy, "jitter", 0, -0.001),
    (PollPolicy, "grow_after", 0, -0.001),
]


@pytest.mark.parametrize(("cls", "field", "least", "below"), BOUNDS)
def test_each_number_is_taken_from_its_bound_and_refused_below_it(
    cls: type, field: str, least: float, below: float
) -> None:
    assert getattr(cls(**{field: least}), field) == least
    with pytest.raises(ValueError, match=rf"^{cls.__name__}\.{field} must be .*, got {below}$"):
        cls(**{field: below})


@pytest.mark.parametrize(("cls", "field"), [(RetryPolicy, "timeout"), (PollPolicy, "initial")])
def test_a_positive_number_refuses_zero(cls: type, field: str) -> None:
    assert getattr(cls(**{field: 0.001}), field) == 0.001
    with pytest.raises(ValueError, match=rf"^{cls.__name__}\.{field} must be .*, got 0$"):
        cls(**{field: 0})


def test_the_poll_maximum_is_positive_and_at_least_the_initial_interval() -> None:
    assert PollPolicy(initial=0.5, maximum=0.5).maximum == 0.5  # equal: taken
    with pytest.raises(ValueError, match=r"^PollPolicy\.maximum \(0\.4\) must be >= initial"):
        PollPolicy(initial=0.5, maximum=0.4)
    with pytest.raises(ValueError, match=r"^PollPolicy\.maximum must be a number > 0, got 0$"):
        PollPolicy(initial=0.5, maximum=0)


def test_the_jitter_is_a_fraction_below_one() -> None:
    assert PollPolicy(jitter=0.999).jitter == 0.999
    with pytest.raises(ValueError, match=r"^PollPolicy\.jitter must be a fraction in \[0, 1\)"):
        PollPolicy(jitter=1)


def test_only_the_retry_timeout_may_be_none() -> None:
    assert RetryPolicy(timeout=None).timeout is None
    with pytest.raises(ValueError, match=r"^RetryPolicy\.wait_max must be .*, got None$"):
        RetryPolicy(wait_max=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False, "1", 2.0])
def test_attempts_is_an_integer_and_never_a_bool(value: object) -> None:
    with pytest.raises(ValueError, match=r"^RetryPolicy\.attempts must be an integer >= 1"):
        RetryPolicy(attempts=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, "1", None])
def test_a_number_is_never_a_bool_nor_text(value: object) -> None:
    with pytest.raises(ValueError, match=r"^PollPolicy\.initial must be a number > 0"):
        PollPolicy(initial=value)  # type: ignore[arg-type]


def test_the_validator_alone() -> None:
    @attrs.define
    class Box:
        n: Any = attrs.field(validator=number(lambda v: v > 1, "> 1", optional=True, integer=True))

    assert Box(None).n is None and Box(2).n == 2
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match=rf"^Box\.n must be > 1, got {bad!r}$"):
            Box(bad)


# -- what RetryPolicy decides ------------------------------------------------------------


def test_should_retry_a_transient_error_of_a_server_reached_without_limit() -> None:
    policy = RetryPolicy(attempts=2, timeout=1)
    for exc in (status(503), APIConnectionError("x"), APITimeoutError("x")):
        assert policy.should_retry(exc, failures=50, elapsed=500.0)
    assert not policy.should_retry(status(404), failures=1, elapsed=0.0)
    assert not policy.should_retry(status(404), failures=1, elapsed=0.0, reached=False)


def test_a_server_never_reached_gets_the_attempts_and_the_timeout() -> None:
    policy = RetryPolicy(attempts=3, timeout=10)
    refused = APIConnectionError("refused")
    assert policy.should_retry(refused, failures=2, elapsed=9.9, reached=False)
    assert not policy.should_retry(refused, failures=3, elapsed=0.0, reached=False)
    assert not policy.should_retry(refused, failures=1, elapsed=10.0, reached=False)
    untimed = RetryPolicy(attempts=3, timeout=None)
    assert untimed.should_retry(refused, failures=2, elapsed=1e9, reached=False)
    # Only connecting counts as never reached: a status came from the server.
    assert policy.should_retry(status(503), failures=30, elapsed=99.0, reached=False)


def test_the_backoff_of_an_error_that_is_no_status_ignores_its_retry_after() -> None:
    class Odd(APIConnectionError):
        retry_after = 7.0

    policy = RetryPolicy(wait_initial=1, wait_jitter=0)
    assert policy.backoff(1, Odd("x"), draw=0.0) == 1.0
    assert policy.backoff(1, status(503, retry_after=-5), draw=0.5) == 0.0
    assert policy.backoff(2, ServerError("m", status_code=500), draw=0.0) == 2.0


# -- what PollPolicy decides -------------------------------------------------------------


def test_polls_stay_at_the_initial_interval_until_grow_after_then_grow_to_the_maximum() -> None:
    policy = PollPolicy(initial=1.0, factor=2.0, maximum=5.0, grow_after=60.0)
    assert policy.next_interval(None, 500.0) == 1.0  # the first interval
    assert policy.next_interval(3.0, 59.999) == 1.0
    assert policy.next_interval(1.0, 60.0) == 2.0  # at grow_after: grows
    assert policy.next_interval(2.0, 61.0) == 4.0
    assert policy.next_interval(4.0, 62.0) == 5.0  # capped


def test_the_jitter_only_shortens_the_interval() -> None:
    policy = PollPolicy(jitter=0.5)
    assert policy.jittered(2.0, 0.0) == 2.0
    assert policy.jittered(2.0, 0.5) == 1.5
    assert policy.jittered(2.0, 0.999) == pytest.approx(1.001)


@pytest.mark.parametrize("cls", [RetryPolicy, PollPolicy])
def test_a_policy_takes_its_settings_by_name_only(cls: type) -> None:
    with pytest.raises(TypeError, match="positional"):
        cls(2)
