"""The cattrs converter: strict where the spec is precise, lenient where servers evolve."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import pickle
import uuid
from typing import Any

import pytest
from helpers import event_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feldera_events import (
    UNSET,
    DeploymentError,
    PipelineEvent,
    ProgramStatus,
    ResourcesDesiredStatus,
    ResourcesStatus,
    ResponseValidationError,
    RuntimeDesiredStatus,
    RuntimeStatus,
    StorageStatus,
)
from feldera_events._convert import format_datetime, structure, structure_list

# -- hand-picked shape errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"event_id": 5}, "event_id"),
        ({"recorded_at": "2026-08-20T10:11:12"}, "recorded_at"),
        ({"recorded_at": "2026-08-20"}, "recorded_at"),
        ({"recorded_at": 1700000000}, "recorded_at"),
        ({"deployment_has_error": "false"}, "deployment_has_error"),
        ({"deployment_has_error": 0}, "deployment_has_error"),
        ({"deployment_resources_status": 1}, "deployment_resources_status"),
        ({"deployment_runtime_status": ["Running"]}, "deployment_runtime_status"),
        ({"deployment_error": {"message": "m"}}, "error_code"),
        ({"deployment_error": "boom"}, "deployment_error"),
    ],
)
def test_shape_errors_name_the_field(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ResponseValidationError) as info:
        structure(event_json(**overrides), PipelineEvent)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "missing",
    [
        "event_id",
        "recorded_at",
        "deployment_resources_status",
        "deployment_resources_desired_status",
        "deployment_has_error",
        "program_status",
        "storage_status",
    ],
)
def test_required_keys_missing(missing: str) -> None:
    data = event_json()
    del data[missing]
    with pytest.raises(ResponseValidationError, match=missing):
        structure(data, PipelineEvent)


def test_optional_runtime_keys_may_be_absent() -> None:
    data = event_json()
    del data["deployment_runtime_status"]
    del data["deployment_runtime_desired_status"]
    ev = structure(data, PipelineEvent)
    assert ev.deployment_runtime_status is None


@pytest.mark.parametrize("data", [None, [], "x", 3, True])
def test_non_object_is_a_validation_error(data: Any) -> None:
    with pytest.raises(ResponseValidationError, match="JSON object"):
        structure(data, PipelineEvent)


def test_structure_list() -> None:
    events = structure_list([event_json(), event_json(selector="all")], PipelineEvent)
    assert len(events) == 2
    assert structure_list([], PipelineEvent) == []
    with pytest.raises(ResponseValidationError, match="JSON array"):
        structure_list(event_json(), PipelineEvent)
    with pytest.raises(ResponseValidationError, match=r"\$\[1\]"):
        structure_list([event_json(), {"x": 1}], PipelineEvent)


def test_deployment_error_without_details_is_fine() -> None:
    ev = structure(
        event_json(selector="all", deployment_error={"message": "m", "error_code": "E"}),
        PipelineEvent,
    )
    assert ev.deployment_error == DeploymentError(error_code="E", message="m", details=None)


def test_format_datetime() -> None:
    assert format_datetime(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == (
        "2026-01-02T03:04:05.000000Z"
    )
    tz = dt.timezone(dt.timedelta(hours=2))
    assert format_datetime(dt.datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=tz)) == (
        "2026-01-02T03:04:05.000007+02:00"
    )


# -- property tests ----------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

FIELD_NAMES = list(event_json(selector="all"))


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """Mostly-valid events with some keys removed or replaced by arbitrary JSON."""
    data: dict[str, Any] = event_json(selector=draw(st.sampled_from(["status", "all"])))
    for key in draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=4)):
        if draw(st.booleans()):
            data.pop(key, None)
        else:
            data[key] = draw(json_values)
    return data


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.one_of(json_values, mutated_events()))
def test_arbitrary_json_raises_only_response_validation_error(data: Any) -> None:
    for fn in (structure, structure_list):
        with contextlib.suppress(ResponseValidationError):
            fn(data, PipelineEvent)


@settings(max_examples=100)
@given(st.lists(st.one_of(json_values, mutated_events()), max_size=3))
def test_arbitrary_json_lists_raise_only_response_validation_error(data: Any) -> None:
    with contextlib.suppress(ResponseValidationError):
        structure_list(data, PipelineEvent)


def enum_values(cls: type[Any]) -> st.SearchStrategy[str]:
    return st.sampled_from([m.value for m in cls]) | st.text(min_size=1, max_size=12)


aware_datetimes = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(9998, 12, 31),
    timezones=st.sampled_from(
        [
            dt.UTC,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(-dt.timedelta(hours=8)),
        ]
    ),
)

details = st.one_of(st.just(UNSET), st.none(), json_values)

extra_keys = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in FIELD_NAMES),
    json_values,
    max_size=3,
)

deployment_errors = st.one_of(
    st.just(UNSET),
    st.none(),
    st.builds(
        DeploymentError,
        error_code=st.text(max_size=20),
        message=st.text(max_size=40),
        details=json_values,
        additional_properties=st.dictionaries(
            st.text(min_size=1, max_size=8).filter(
                lambda k: k not in ("error_code", "message", "details")
            ),
            json_values,
            max_size=2,
        ),
    ),
)


@st.composite
def events(draw: st.DrawFn) -> PipelineEvent:
    return PipelineEvent(
        event_id=draw(st.uuids()),
        recorded_at=draw(aware_datetimes),
        deployment_resources_status=ResourcesStatus(draw(enum_values(ResourcesStatus))),
        deployment_resources_desired_status=ResourcesDesiredStatus(
            draw(enum_values(ResourcesDesiredStatus))
        ),
        deployment_has_error=draw(st.booleans()),
        program_status=ProgramStatus(draw(enum_values(ProgramStatus))),
        storage_status=StorageStatus(draw(enum_values(StorageStatus))),
        deployment_runtime_status=draw(st.none() | enum_values(RuntimeStatus).map(RuntimeStatus)),
        deployment_runtime_desired_status=draw(
            st.none() | enum_values(RuntimeDesiredStatus).map(RuntimeDesiredStatus)
        ),
        deployment_error=draw(deployment_errors),
        deployment_resources_status_details=draw(details),
        deployment_runtime_status_details=draw(details),
        storage_status_details=draw(details),
        additional_properties=draw(extra_keys),
    )


@settings(max_examples=300)
@given(events())
def test_valid_events_round_trip(event: PipelineEvent) -> None:
    wire = event.to_dict()
    # It is real wire JSON: it survives a trip through the json module unchanged.
    assert json.loads(json.dumps(wire)) == wire
    again = structure(json.loads(json.dumps(wire)), PipelineEvent)
    assert again == event
    assert again.to_dict() == wire
    for name in ("deployment_resources_status_details", "storage_status_details"):
        assert (name in wire) == (getattr(event, name) is not UNSET)


@given(st.uuids())
def test_uuid_forms(value: uuid.UUID) -> None:
    ev = structure(event_json(event_id=str(value).upper()), PipelineEvent)
    assert ev.event_id == value


# -- parse_uuid: uuid.UUID, made directly -------------------------------------------------

_UUID_TEXT_CHARS = "0123456789abcdefABCDEF-{}:_+ xXurnid"


def _uuid_outcome(make: Any, text: str) -> tuple[object, ...]:
    try:
        made = make(text)
    except ValueError as exc:
        return ("ValueError", str(exc))
    return (type(made), made.int, made.is_safe, repr(made), made.__slots__)


@settings(max_examples=500)
@given(
    st.uuids().map(str).map(lambda s: s.upper() if len(s) % 2 else s)
    | st.uuids().map(lambda u: u.hex)
    | st.uuids().map(lambda u: f"urn:uuid:{u}")
    | st.uuids().map(lambda u: f"{{{u}}}")
    | st.text(_UUID_TEXT_CHARS, min_size=30, max_size=40)
    | st.text(max_size=40)
)
def test_parse_uuid_is_uuid_UUID(text: str) -> None:
    """The same UUID (type, value, is_safe, slots) or the same ValueError as uuid.UUID,
    for canonical ids and for texts near them (32 characters without '-' that int()
    may or may not read: signs, underscores, spaces, 0x, braces, urn:)."""
    from feldera_events._convert import parse_uuid

    assert _uuid_outcome(parse_uuid, text) == _uuid_outcome(uuid.UUID, text)


@pytest.mark.parametrize(
    "text",
    [
        "019a3f49-ea00-7dc7-8078-adf1dc7367d8",
        "019A3F49EA007DC78078ADF1DC7367D8",
        "+19a3f49ea007dc78078adf1dc7367d8",  # int() reads a sign: so does uuid.UUID
        "019a_f49ea007dc78078adf1dc7367d8",
        "0x9a3f49ea007dc78078adf1dc7367d8",
        " 19a3f49ea007dc78078adf1dc7367d8",
        "--019a3f49-ea00-7dc7-8078-adf1dc7367d8--",
        "urn:uuid:019a3f49-ea00-7dc7-8078-adf1dc7367d8",
        "{019a3f49-ea00-7dc7-8078-adf1dc7367d8}",
        "g19a3f49ea007dc78078adf1dc7367d8",  # 32 characters, not hex
        "{19a3f49ea007dc78078adf1dc7367d}",  # 32 characters with the braces: uuid's words
        "urn:9a3f49ea007dc78078adf1dc7367d8",
        "uuid:a3f49ea007dc78078adf1dc7367d8",
        "019a3f49-ea00-7dc7-8078-adf1dc7367d",
        "",
    ],
)
def test_parse_uuid_hand_picked(text: str) -> None:
    from feldera_events._convert import parse_uuid

    assert _uuid_outcome(parse_uuid, text) == _uuid_outcome(uuid.UUID, text)
    made = contextlib.suppress(ValueError)
    with made:
        value = parse_uuid(text)
        assert pickle.loads(pickle.dumps(value)) == value == uuid.UUID(text)
        assert hash(value) == hash(uuid.UUID(text))


def test_a_malformed_event_id_fails_at_parse_time_with_uuids_own_words() -> None:
    """Both paths (the status hook and the generated function) refuse it when the answer
    is parsed, with the words they had before parse_uuid, uuid.UUID's error the cause."""
    for bad in ("g19a3f49ea007dc78078adf1dc7367d8", "not-a-uuid", "019a3f49-ea00-7dc7-8078"):
        for selector in ("status", "all"):
            with pytest.raises(ResponseValidationError) as info:
                structure(event_json(selector=selector, event_id=bad), PipelineEvent)
            assert str(info.value) == (
                "invalid response: invalid value for type, expected UUID @ $.event_id"
            )
            causes = [info.value.__cause__]
            while causes[-1] is not None and not isinstance(causes[-1], ValueError):
                nested = getattr(causes[-1], "exceptions", None) or [causes[-1].__cause__]
                causes.append(nested[0])
            with pytest.raises(ValueError, match=r"UUID|int\(\)") as uuids_own:
                uuid.UUID(bad)
            assert str(causes[-1]) == str(uuids_own.value)
