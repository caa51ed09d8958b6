"""ClusterEvent, MonitorStatus and the cluster errors checked against the spec subset."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import typing
import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feldera_events import (
    UNSET,
    ClusterEvent,
    ClusterEventsUnsupportedError,
    ClusterWaitTimeoutError,
    MonitorStatus,
    NotFoundError,
    ResponseValidationError,
    Selector,
    Unset,
)
from feldera_events._convert import format_datetime, structure, structure_list
from tests.testing.schema_check import SchemaChecker

SUBSET = Path(__file__).resolve().parent / "data" / "feldera_openapi_subset.json"
SPEC: dict[str, Any] = json.loads(SUBSET.read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
SCHEMA = SCHEMAS["ClusterMonitorEventSelectedInfo"]
INFO_FIELDS = tuple(
    f"{c}_{k}_info" for c in ("api", "compiler", "runner") for k in ("self", "resources")
)


def fields() -> dict[str, attrs.Attribute[Any]]:
    return {f.name: f for f in attrs.fields(ClusterEvent) if f.name != "additional_properties"}


def test_fields_mirror_the_schema() -> None:
    assert set(fields()) == set(SCHEMA["properties"])


def test_required_fields_are_the_fields_without_defaults() -> None:
    without_default = {n for n, f in fields().items() if f.default is attrs.NOTHING}
    assert without_default == set(SCHEMA["required"])
    for name in INFO_FIELDS:
        assert fields()[name].default is UNSET


def test_field_types_match_the_schema() -> None:
    hints = typing.get_type_hints(ClusterEvent)
    for name, prop in SCHEMA["properties"].items():
        parts = set(typing.get_args(hints[name])) or {hints[name]}
        ref = prop.get("$ref", "").rsplit("/", 1)[-1]
        if ref == "MonitorStatus":
            assert parts == {MonitorStatus}, name
        elif ref == "ClusterMonitorEventId":
            assert SCHEMAS[ref]["format"] == "uuid"
            assert parts == {uuid.UUID}
        elif prop.get("type") == "boolean":
            assert parts == {bool}, name
        elif prop.get("format") == "date-time":
            assert parts == {dt.datetime}, name
        else:
            assert prop == {"type": "string", "nullable": True}, name
            assert parts == {str, Unset, type(None)}, name


def test_monitor_status_members_are_the_spec_values() -> None:
    assert [m.value for m in MonitorStatus] == SCHEMAS["MonitorStatus"]["enum"]


def test_the_cluster_selector_is_the_pipeline_selector() -> None:
    cluster = SCHEMAS["ClusterMonitorEventFieldSelector"]
    assert cluster == SCHEMAS["PipelineMonitorEventFieldSelector"]
    assert [s.value for s in Selector] == cluster["enum"]


def test_the_endpoints_take_what_the_client_sends() -> None:
    get = SPEC["paths"]["/v0/cluster/events/{event_id}"]["get"]
    params = {p["name"]: p for p in get["parameters"]}
    assert set(params) == {"event_id", "selector"}
    assert params["selector"]["schema"]["$ref"].endswith("/ClusterMonitorEventFieldSelector")
    # The list endpoint has no parameters: the client sends no selector to it.
    assert "parameters" not in SPEC["paths"]["/v0/cluster/events"]["get"]


# -- wire round trip -----------------------------------------------------------------------

statuses = st.one_of(
    st.sampled_from([m.value for m in MonitorStatus]),
    st.text(min_size=1, max_size=12),  # values a newer manager may add
)
timestamps = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
).map(format_datetime)
info = st.one_of(st.none(), st.text(max_size=30))
extra_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))


@st.composite
def wire_events(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(draw(st.uuids())),
        "recorded_at": draw(timestamps),
        "all_healthy": draw(st.booleans()),
        "api_status": draw(statuses),
        "compiler_status": draw(statuses),
        "runner_status": draw(statuses),
    }
    for name in INFO_FIELDS:
        if draw(st.booleans()):
            data[name] = draw(info)
    extras = draw(
        st.dictionaries(
            st.text(min_size=1, max_size=8).map(lambda k: "x_" + k), extra_values, max_size=2
        )
    )
    data.update(extras)
    return data


@settings(max_examples=200, deadline=None)
@given(wire_events())
def test_round_trip_through_to_dict(data: dict[str, Any]) -> None:
    ev = structure(data, ClusterEvent)
    assert ev.to_dict() == data
    for name in INFO_FIELDS:
        assert getattr(ev, name) == data.get(name, UNSET)
    assert ev.additional_properties == {k: v for k, v in data.items() if k.startswith("x_")}
    expected_bad = [c for c in ("api", "compiler", "runner") if data[f"{c}_status"] != "Healthy"]
    assert ev.unhealthy_components == expected_bad
    known = all(
        data[f"{c}_status"] in MonitorStatus._value2member_map_
        for c in ("api", "compiler", "runner")
    )
    if known:
        SchemaChecker.load().validate(ev.to_dict(), "ClusterMonitorEventSelectedInfo")


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"all_healthy": "true"}, "all_healthy"),
        ({"api_status": 3}, "api_status"),
        ({"id": "nope"}, "id"),
        ({"recorded_at": "2026-08-20T10:11:12"}, "recorded_at"),
        ({"runner_self_info": 5}, "runner_self_info"),
        ({"compiler_status": None}, "compiler_status"),
    ],
)
def test_invalid_shapes_are_response_validation_errors(patch: dict[str, Any], where: str) -> None:
    data = {
        "id": str(uuid.uuid4()),
        "recorded_at": "2026-08-20T10:11:12Z",
        "all_healthy": True,
        "api_status": "Healthy",
        "compiler_status": "Healthy",
        "runner_status": "Healthy",
        **patch,
    }
    with pytest.raises(ResponseValidationError, match=where):
        structure(data, ClusterEvent)
    with pytest.raises(ResponseValidationError, match=r"\$\[0\]"):
        structure_list([data], ClusterEvent)


def test_a_missing_required_key_is_a_validation_error() -> None:
    with pytest.raises(ResponseValidationError, match="all_healthy"):
        structure(
            {
                "id": str(uuid.uuid4()),
                "recorded_at": "2026-08-20T10:11:12Z",
                "api_status": "Healthy",
                "compiler_status": "Healthy",
                "runner_status": "Healthy",
            },
            ClusterEvent,
        )


# -- errors --------------------------------------------------------------------------------


def make_event(**statuses: str) -> ClusterEvent:
    data = {
        "id": "0197a2b4-6f1e-7c3a-9d2e-1b2c3d4e5f60",
        "recorded_at": "2026-08-20T10:11:12.123456Z",
        "all_healthy": not statuses,
        "api_status": "Healthy",
        "compiler_status": "Healthy",
        "runner_status": "Healthy",
        **{f"{k}_status": v for k, v in statuses.items()},
    }
    return structure(data, ClusterEvent)


def test_cluster_wait_timeout_error_message_and_pickle() -> None:
    ev = make_event(runner="Unhealthy", compiler="InitialUnhealthy")
    err = ClusterWaitTimeoutError(timeout=5, elapsed=5.01, polls=7, event=ev)
    text = str(err)
    assert "compiler (InitialUnhealthy), runner (Unhealthy)" in text
    assert "2026-08-20T10:11:12Z" in text and "7 polls" in text
    assert err.unhealthy_components == ["compiler", "runner"]
    assert err.last_event is None and err.event is ev
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ClusterWaitTimeoutError
    assert str(back) == text and back.event == ev

    never = ClusterWaitTimeoutError(
        timeout=1,
        elapsed=1.0,
        polls=0,
        reached=False,
        url="http://h:1",
        attempts=3,
        last_error="refused",
    )
    assert "http://h:1 was never reached (3 connection attempts; last error: refused)" in str(never)
    assert str(pickle.loads(pickle.dumps(never))) == str(never)
    assert "no cluster event was recorded yet" in str(
        ClusterWaitTimeoutError(timeout=1, elapsed=1.0, polls=2)
    )


def test_unsupported_error_is_a_not_found_error_and_pickles() -> None:
    err = ClusterEventsUnsupportedError("no such route", status_code=404, url="http://h/v0")
    assert isinstance(err, NotFoundError)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ClusterEventsUnsupportedError and str(back) == str(err)


def test_describe_when_the_server_disagrees_with_the_statuses() -> None:
    ev = make_event()
    odd = attrs.evolve(ev, all_healthy=False)
    assert odd.unhealthy_components == []
    assert odd.describe() == "not all healthy (api Healthy, compiler Healthy, runner Healthy)"
    with pytest.raises(ValueError, match="component"):
        ev.status_of("database")
