"""PipelineEvent, DeploymentError and the open enums."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid

import pytest
from helpers import EVENT_ID, event_json

from feldera_events import (
    UNSET,
    CombinedStatus,
    DeploymentError,
    OpenEnum,
    PipelineEvent,
    ProgramStatus,
    ResourcesDesiredStatus,
    ResourcesStatus,
    ResponseValidationError,
    RuntimeDesiredStatus,
    RuntimeStatus,
    Selector,
    StorageStatus,
    Unset,
)
from feldera_events._convert import structure, structure_list

ALL_ENUMS: list[type[OpenEnum]] = [
    Selector,
    ResourcesStatus,
    ResourcesDesiredStatus,
    RuntimeStatus,
    RuntimeDesiredStatus,
    StorageStatus,
    ProgramStatus,
    CombinedStatus,
]


def make(**overrides: object) -> PipelineEvent:
    return structure(event_json(**overrides), PipelineEvent)


# -- UNSET -------------------------------------------------------------------------------


def test_unset_is_falsy_singleton_distinct_from_none() -> None:
    assert not UNSET
    assert UNSET is Unset.UNSET
    assert UNSET is not None
    assert repr(UNSET) == "UNSET"
    assert pickle.loads(pickle.dumps(UNSET)) is UNSET


def test_status_selector_leaves_details_unset_and_all_gives_none() -> None:
    status = make()
    assert status.deployment_error is UNSET
    assert status.deployment_resources_status_details is UNSET
    assert status.deployment_runtime_status_details is UNSET
    assert status.storage_status_details is UNSET
    full = structure(event_json(selector="all"), PipelineEvent)
    assert full.deployment_error is None
    assert full.deployment_resources_status_details is None
    assert full.deployment_runtime_status_details is None
    assert full.storage_status_details is None
    assert status != full


# -- open enums --------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_ENUMS)
def test_unknown_value_never_raises_and_is_preserved(cls: type[OpenEnum]) -> None:
    member = cls("SomethingNew")
    assert member.value == "SomethingNew"
    assert str(member) == "SomethingNew"
    assert member == "SomethingNew"
    assert not member.is_known
    assert member.name == "UNKNOWN"
    assert all(member != known for known in cls)
    assert member not in list(cls)
    assert "unknown" in repr(member)
    assert cls("SomethingNew") is member  # cached: identity stable


@pytest.mark.parametrize("cls", ALL_ENUMS)
def test_known_values_are_members(cls: type[OpenEnum]) -> None:
    for known in cls:
        assert cls(known.value) is known
        assert known.is_known
        assert repr(known).startswith(f"<{cls.__name__}.")


def test_unknown_enum_value_is_not_confused_across_enums() -> None:
    assert RuntimeStatus("Xyz") is not ResourcesStatus("Xyz")
    assert isinstance(RuntimeStatus("Xyz"), RuntimeStatus)


def test_non_string_enum_value_raises_value_error() -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        ResourcesStatus(3)  # type: ignore[arg-type]


def test_unknown_enum_in_event_round_trips() -> None:
    ev = make(deployment_resources_status="Hibernating", program_status="Quantum")
    assert not ev.deployment_resources_status.is_known
    assert ev.to_dict()["deployment_resources_status"] == "Hibernating"
    assert ev.to_dict()["program_status"] == "Quantum"
    assert structure(ev.to_dict(), PipelineEvent) == ev
    assert ev.combined_status.value == "Hibernating"
    assert not ev.combined_status.is_known
    assert not ev.is_provisioned
    assert not ev.has_failed


def test_enum_pickles() -> None:
    assert pickle.loads(pickle.dumps(RuntimeStatus.RUNNING)) is RuntimeStatus.RUNNING


# -- recorded_at -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-08-20T10:11:12Z", dt.datetime(2026, 8, 20, 10, 11, 12, tzinfo=dt.UTC)),
        ("2026-08-20T10:11:12.5Z", dt.datetime(2026, 8, 20, 10, 11, 12, 500000, tzinfo=dt.UTC)),
        (
            "2026-08-20T10:11:12.123456Z",
            dt.datetime(2026, 8, 20, 10, 11, 12, 123456, tzinfo=dt.UTC),
        ),
        (
            "2026-08-20T10:11:12.123456789Z",
            dt.datetime(2026, 8, 20, 10, 11, 12, 123456, tzinfo=dt.UTC),
        ),
        (
            "2026-08-20T12:11:12.1234+02:00",
            dt.datetime(2026, 8, 20, 10, 11, 12, 123400, tzinfo=dt.UTC),
        ),
        (
            "2026-08-20T04:41:12.1234567-05:30",
            dt.datetime(2026, 8, 20, 10, 11, 12, 123456, tzinfo=dt.UTC),
        ),
        ("2026-08-20T10:11:12+00:00", dt.datetime(2026, 8, 20, 10, 11, 12, tzinfo=dt.UTC)),
    ],
)
def test_recorded_at_is_timezone_aware(text: str, expected: dt.datetime) -> None:
    ev = make(recorded_at=text)
    assert ev.recorded_at.tzinfo is not None
    assert ev.recorded_at == expected


@pytest.mark.parametrize(
    "digits", ["", ".1", ".12", ".123", ".1234", ".12345", ".123456", ".1234567", ".12345678"]
)
def test_recorded_at_accepts_0_to_9_fraction_digits(digits: str) -> None:
    # Microseconds: the first six digits, padded (more digits are cut, not rounded).
    micro = int((digits[1:] + "000000")[:6])
    for zone, hour in (("Z", 10), ("+01:00", 9)):
        ev = make(recorded_at=f"2026-08-20T10:11:12{digits}{zone}")
        assert ev.recorded_at == dt.datetime(2026, 8, 20, hour, 11, 12, micro, tzinfo=dt.UTC)
        assert ev.recorded_at.utcoffset() is not None


# -- derived properties ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "runtime", "combined"),
    [
        ("Stopped", None, CombinedStatus.STOPPED),
        ("Provisioning", None, CombinedStatus.PROVISIONING),
        ("Stopping", None, CombinedStatus.STOPPING),
        ("Provisioned", None, CombinedStatus.UNAVAILABLE),
        ("Provisioned", "Running", CombinedStatus.RUNNING),
        ("Provisioned", "Coordination", CombinedStatus.COORDINATION),
        ("Provisioned", "AwaitingApproval", CombinedStatus.AWAITING_APPROVAL),
    ],
)
def test_combined_status(resources: str, runtime: str | None, combined: CombinedStatus) -> None:
    ev = make(deployment_resources_status=resources, deployment_runtime_status=runtime)
    assert ev.combined_status is combined


def test_combined_status_for_every_runtime_status_is_known() -> None:
    for status in RuntimeStatus:
        ev = make(deployment_resources_status="Provisioned", deployment_runtime_status=status.value)
        assert ev.combined_status.is_known, status


def test_is_provisioned_and_has_failed() -> None:
    assert make(deployment_resources_status="Provisioned").is_provisioned
    assert not make(deployment_resources_status="Provisioning").is_provisioned
    assert make(deployment_has_error=True).has_failed
    assert not make(deployment_has_error=False).has_failed
    assert not make(deployment_resources_status="Stopping", deployment_has_error=True).has_failed


def test_describe_and_same_status() -> None:
    a = make(deployment_resources_status="Provisioned", deployment_runtime_status="Running")
    # The CLI's notation (PipelineEvent.status_text): the desired status while it differs.
    assert a.describe() == a.status_text() == "Provisioned/Running → Stopped"
    b = make(
        event_id=str(uuid.uuid4()),
        deployment_resources_status="Provisioned",
        deployment_runtime_status="Running",
    )
    assert a.same_status(b)
    assert not a.same_status(make())
    assert "has error" in make(deployment_has_error=True).describe()


# -- to_dict -----------------------------------------------------------------------------


def test_to_dict_gives_back_wire_json_for_both_selectors() -> None:
    for selector in ("status", "all"):
        wire = event_json(selector=selector)
        assert structure(wire, PipelineEvent).to_dict() == wire


def test_to_dict_keeps_unknown_keys_and_details() -> None:
    wire = event_json(
        selector="all",
        new_field={"a": [1, 2]},
        deployment_resources_status_details="Unable to stop (will retry) due to: x",
        deployment_runtime_status_details={"reason": "r", "approval_diff": None},
        storage_status_details={"checkpoints": []},
        deployment_error={
            "message": "boom",
            "error_code": "RuntimeError.WorkerPanic",
            "details": {"w": 1},
            "extra_err": True,
        },
        deployment_has_error=True,
    )
    ev = structure(wire, PipelineEvent)
    assert ev.additional_properties == {"new_field": {"a": [1, 2]}}
    assert isinstance(ev.deployment_error, DeploymentError)
    assert ev.deployment_error.additional_properties == {"extra_err": True}
    assert ev.to_dict() == wire


def test_event_equality_and_pickle() -> None:
    a = make()
    b = make()
    assert a == b
    assert pickle.loads(pickle.dumps(a)) == a
    assert a.event_id == uuid.UUID(EVENT_ID)
    with pytest.raises(AttributeError):
        a.deployment_has_error = True  # type: ignore[misc]


def test_repr_hides_additional_properties() -> None:
    assert "additional_properties" not in repr(make(x=1))


def test_events_are_hashable_even_with_json_fields() -> None:
    from feldera_events._convert import structure

    data = {
        "event_id": "0198c7a2-1111-7000-8000-000000000001",
        "recorded_at": "2026-08-20T10:00:00.123456Z",
        "deployment_resources_status": "Stopped",
        "deployment_resources_desired_status": "Stopped",
        "deployment_has_error": True,
        "program_status": "Success",
        "storage_status": "InUse",
        "deployment_error": {"error_code": "E", "message": "m", "details": {"k": [1]}},
        "storage_status_details": {"checkpoints": []},
        "extra": {"nested": True},
    }
    a = structure(data, PipelineEvent)
    b = structure(dict(data), PipelineEvent)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


# -- the hand-written hook for selector=status events (the hot path) ------------------


def _generated(data: dict[str, object]) -> PipelineEvent:
    """What the generated cattrs function (the path before the hand-written hook) makes."""
    from cattrs.gen import make_dict_structure_fn, override

    from feldera_events._convert import converter

    fn = make_dict_structure_fn(PipelineEvent, converter, additional_properties=override(omit=True))
    result: PipelineEvent = fn(data, PipelineEvent)
    return result


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "deployment_resources_status": "Provisioned",
            "deployment_resources_desired_status": "Provisioned",
            "deployment_runtime_status": "Running",
            "deployment_runtime_desired_status": "Paused",
            "deployment_has_error": True,
            "program_status": "CompilingRust",
            "storage_status": "InUse",
            "recorded_at": "2025-11-01T12:00:00.123456+02:00",
        },
    ],
    ids=["stopped", "running"],
)
def test_the_status_hook_builds_what_the_generated_function_builds(
    overrides: dict[str, object],
) -> None:
    from feldera_events._status_event import structure_status_event

    data = event_json(**overrides)
    fast = structure_status_event(data)
    assert fast is not None
    slow = _generated(data)
    assert fast == slow
    for field in attrs_fields(PipelineEvent):
        assert getattr(fast, field) == getattr(slow, field), field
        assert type(getattr(fast, field)) is type(getattr(slow, field)), field
    # Keys left out (runtime statuses absent) default as in the generated function.
    del data["deployment_runtime_status"], data["deployment_runtime_desired_status"]
    assert structure_status_event(data) == _generated(data)
    assert structure(data, PipelineEvent) == _generated(data)


@pytest.mark.parametrize(
    "overrides",
    [
        {"deployment_resources_status": "Hibernating"},  # unknown value: an open enum
        {"deployment_runtime_status": "Dreaming"},
        {"program_status": 3},
        {"storage_status": ["InUse"]},  # unhashable
        {"deployment_has_error": "false"},
        {"deployment_has_error": 0},
        {"event_id": "not-a-uuid"},
        {"event_id": 5},
        {"recorded_at": "2025-11-01 12:00:00Z"},  # no T
        {"recorded_at": "2025-11-01T12:00:00"},  # no timezone
        {"deployment_error": None},  # a selector=all key
        {"surprise": 1},  # an unknown key
    ],
)
def test_the_status_hook_leaves_anything_else_to_the_generated_function(
    overrides: dict[str, object],
) -> None:
    from feldera_events._status_event import structure_status_event

    assert structure_status_event(event_json(**overrides)) is None
    missing = event_json()
    del missing["storage_status"]
    assert structure_status_event(missing) is None


def test_the_status_hook_wants_its_own_keys_even_when_there_are_as_many() -> None:
    """Nine keys, one of them not a status key in place of one that is: the generated
    function's to structure (the unknown key kept, or the missing one named)."""
    from feldera_events._status_event import structure_status_event

    swapped = event_json()
    del swapped["deployment_runtime_status"]
    swapped["surprise"] = 1
    assert len(swapped) == len(event_json())
    assert structure_status_event(swapped) is None
    event = structure(swapped, PipelineEvent)
    assert event.additional_properties == {"surprise": 1}
    assert event.deployment_runtime_status is None
    swapped = event_json(surprise=1)
    del swapped["storage_status"]
    assert structure_status_event(swapped) is None
    with pytest.raises(ResponseValidationError, match="storage_status"):
        structure(swapped, PipelineEvent)


def test_the_status_hook_parses_an_id_and_time_it_has_seen_once() -> None:
    """A poll that finds no change answers the event the previous one did: its id and
    time come from the memo (the same immutable objects); a new time for the same id,
    or a malformed one, is parsed (and refused) as if never seen."""
    from feldera_events._status_event import _PARSED, _PARSED_SIZE, structure_status_event

    first = structure_status_event(event_json())
    again = structure_status_event(event_json())
    assert first is not None and again is not None and first == again
    assert first.event_id is again.event_id and first.recorded_at is again.recorded_at
    assert first.additional_properties is not again.additional_properties
    later = structure_status_event(event_json(recorded_at="2030-01-02T03:04:05.5+01:00"))
    assert later is not None and later.event_id == first.event_id
    assert later.recorded_at == dt.datetime(2030, 1, 2, 2, 4, 5, 500000, tzinfo=dt.UTC)
    for malformed in ("2030-01-02 03:04:05Z", "2030-01-02T03:04:05", "never"):
        assert structure_status_event(event_json(recorded_at=malformed)) is None
        with pytest.raises(ResponseValidationError, match="recorded_at"):
            structure(event_json(recorded_at=malformed), PipelineEvent)
    for n in range(_PARSED_SIZE + 10):  # bounded
        assert structure_status_event(event_json(event_id=str(uuid.UUID(int=n)))) is not None
        assert len(_PARSED) <= _PARSED_SIZE


def test_the_memo_holds_4096_ids_and_starts_again_when_full() -> None:
    """4,096 ids at most; the one after them empties it (and is kept), and an id parsed
    again after the clear gives the same event as before it."""
    from feldera_events._status_event import _PARSED, _PARSED_SIZE, structure_status_event

    assert _PARSED_SIZE == 4096
    _PARSED.clear()
    ids = [str(uuid.UUID(int=n)) for n in range(_PARSED_SIZE + 1)]
    before = [structure_status_event(event_json(event_id=text)) for text in ids[:_PARSED_SIZE]]
    assert len(_PARSED) == _PARSED_SIZE
    assert structure_status_event(event_json(event_id=ids[-1])) is not None
    assert list(_PARSED) == [ids[-1]]
    after = [structure_status_event(event_json(event_id=text)) for text in ids[:3]]
    assert after == before[:3] and all(event is not None for event in after)


def test_a_memo_hit_is_an_event_of_its_own() -> None:
    """Events made from the memo are equal, hash alike and share only immutable values:
    a user's change to one's ``additional_properties`` or an ``evolve`` leaves the next
    poll's event as it was."""
    from feldera_events._status_event import structure_status_event

    first = structure(event_json(), PipelineEvent)
    second = structure(event_json(), PipelineEvent)
    assert first is not second and first == second and hash(first) == hash(second)
    assert repr(first) == repr(second)
    first.additional_properties["mine"] = 1
    third = structure_status_event(event_json())
    assert third is not None and third.additional_properties == {}
    assert second.additional_properties == {}
    import attrs

    moved = attrs.evolve(second, recorded_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert structure(event_json(), PipelineEvent).recorded_at == second.recorded_at
    assert moved.recorded_at != second.recorded_at


# Texts at the hot path's edges: UUIDs in every form uuid.UUID takes and near misses;
# aware times at several offsets and precisions, a lower-case t, naive ones, no T at all,
# out of range, garbage. Few enough that an id comes back with another time (the memo).
_EDGE_IDS = [
    EVENT_ID,
    EVENT_ID.upper(),
    EVENT_ID.replace("-", ""),
    f"urn:uuid:{EVENT_ID}",
    f"{{{EVENT_ID}}}",
    "+" + EVENT_ID.replace("-", "")[1:],
    EVENT_ID[:-1],
    EVENT_ID[:-1] + "g",
    "not-a-uuid",
    "",
]
_EDGE_TIMES = [
    "2026-08-20T10:11:12.123456Z",
    "2026-08-20t10:11:12Z",
    "2026-08-20T12:11:12.1234+02:00",
    "2026-08-20T04:41:12.123456789-05:30",
    "2026-08-20T10:11:12+00:00",
    "2026-08-20T10:11:12",
    "2026-08-20T10:11:12.5",
    "2026-08-20 10:11:12Z",
    "2026-08-20",
    "2026-08-20T25:11:12Z",
    "never",
]


def _before(data: dict[str, object]) -> PipelineEvent | list[tuple[str, str]]:
    """What structuring ``data`` gave before the hot path changed: ``uuid.UUID`` on the
    id, the datetime hook on the time, the generated function for the rest. An event,
    or each refused field with its exception (type and words), in field order."""
    from feldera_events._convert import _structure_datetime

    errors: list[tuple[str, str]] = []
    values: dict[str, object] = {}
    for name, parse in (("event_id", uuid.UUID), ("recorded_at", _structure_datetime)):
        try:
            values[name] = parse(data[name]) if name == "event_id" else parse(data[name], dt)
        except ValueError as exc:
            errors.append((name, f"{type(exc).__name__}: {exc}"))
    return errors or _generated({**data, "event_id": values["event_id"]})


def _check_same_as_before(data: dict[str, object]) -> None:
    from feldera_events._status_event import structure_status_event

    expected = _before(data)
    for _ in range(2):  # the second time, what the first left in the memo is there
        if isinstance(expected, PipelineEvent):
            for event in (
                structure(data, PipelineEvent),
                structure_status_event(data),
                *structure_list([data], PipelineEvent),
            ):
                assert event == expected
                for field in attrs_fields(PipelineEvent):
                    assert type(getattr(event, field)) is type(getattr(expected, field)), field
                assert event.recorded_at.utcoffset() == expected.recorded_at.utcoffset()
                assert event.event_id.is_safe is expected.event_id.is_safe
                assert repr(event) == repr(expected) and hash(event) == hash(expected)
            continue
        assert structure_status_event(data) is None
        kinds = {"event_id": "UUID", "recorded_at": "datetime"}
        for call in (
            lambda: structure(data, PipelineEvent),
            lambda: structure_list([data], PipelineEvent),
        ):
            with pytest.raises(ResponseValidationError) as info:
                call()
            message = str(info.value)
            for name, _words in expected:
                assert f"invalid value for type, expected {kinds[name]} @ $" in message
                assert name in message
            causes = info.value.__cause__
            leaves = getattr(causes, "exceptions", None) or []
            while len(leaves) == 1 and getattr(leaves[0], "exceptions", None):
                leaves = leaves[0].exceptions
            assert [f"{type(exc).__name__}: {exc}" for exc in leaves] == [
                words for _name, words in expected
            ]


@pytest.mark.parametrize("recorded_at", _EDGE_TIMES)
@pytest.mark.parametrize("event_id", _EDGE_IDS)
def test_every_public_path_gives_what_it_gave_before(event_id: str, recorded_at: str) -> None:
    """structure, structure_list and the status hook, each twice (a memo hit the second
    time), give the event ``uuid.UUID`` and the datetime hook gave (equal, the same types,
    offset, repr and hash), or the same errors (fields, words, the exceptions' own)."""
    _check_same_as_before(event_json(event_id=event_id, recorded_at=recorded_at))


def test_an_id_seen_with_one_time_is_judged_afresh_with_another() -> None:
    """Every id with every time, in an order where an id parsed with an aware time comes
    back with a naive, malformed or other aware one (and the other way round)."""
    for recorded_at in [*_EDGE_TIMES, *reversed(_EDGE_TIMES)]:
        for event_id in _EDGE_IDS:
            _check_same_as_before(event_json(event_id=event_id, recorded_at=recorded_at))


def test_unknown_status_values_still_structure_through_the_full_hook() -> None:
    event = structure(event_json(deployment_resources_status="Hibernating"), PipelineEvent)
    assert event.deployment_resources_status.value == "Hibernating"
    assert not event.deployment_resources_status.is_known
    extra = structure(event_json(surprise=1), PipelineEvent)
    assert extra.additional_properties == {"surprise": 1}


def attrs_fields(cls: type) -> list[str]:
    import attrs

    return [f.name for f in attrs.fields(cls)]
