"""The manager's rules that upstream's platform tests pin, over HTTP against FakeFeldera.

Each test states one behaviour of upstream's ``python/tests/platform/test_pipeline_lifecycle.py``
(feldera/feldera, v0.337; see ``feldera-events-api.md`` section 9) in our own words, through
plain REST calls; ``test_official_sdk.py`` drives the same rules through the official SDK.
Every response is checked against the upstream spec (the ``fake`` fixture's audit).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest

from feldera_events.testing import FakeAPIError, FakeFeldera, Timings

Json = Any


def slow(**phases: float) -> Timings:
    """Timings with some phases long enough (seconds at the fixture's speed 200: 400 is
    2 s) that a test's next requests surely find the pipeline still in them."""
    return dataclasses.replace(Timings(), **phases)


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: Json = None
) -> tuple[int, Json]:
    async with session.request(method, url, json=body) as r:
        text = await r.text()
        if r.content_type == "application/json" and text:
            return r.status, await r.json()
        return r.status, text


async def create(
    fake: FakeFeldera, session: aiohttp.ClientSession, name: str, program: str
) -> None:
    status, _ = await call(
        session, "POST", f"{fake.url}/v0/pipelines", {"name": name, "program_code": program}
    )
    assert status == 201


async def action(
    fake: FakeFeldera, session: aiohttp.ClientSession, name: str, what: str
) -> tuple[int, Json]:
    return await call(session, "POST", f"{fake.url}/v0/pipelines/{name}/{what}")


async def info(
    fake: FakeFeldera, session: aiohttp.ClientSession, name: str, selector: str = "status"
) -> Json:
    status, body = await call(session, "GET", f"{fake.url}/v0/pipelines/{name}?selector={selector}")
    assert status == 200
    return body


def error_code(reply: tuple[int, Json]) -> tuple[int, str]:
    status, body = reply
    return status, body["error_code"] if isinstance(body, dict) else body


# -- names, tags and descriptions (upstream's test_pipeline_crud.py) ------------------------

NAME_PATTERN = "^([A-Za-z0-9][-A-Za-z0-9_]*)?[A-Za-z0-9]$"


@pytest.mark.parametrize(
    ("name", "code", "details"),
    [
        ("", "EmptyName", None),
        ("a" * 64, "TooLongName", {"name": "a" * 64, "length": 64, "maximum": 63}),
        ("a" * 101, "TooLongName", {"name": "a" * 101, "length": 101, "maximum": 63}),
        ("é" * 32, "TooLongName", {"name": "é" * 32, "length": 64, "maximum": 63}),  # bytes
        *(
            (bad, "NameDoesNotMatchPattern", {"name": bad, "pattern": NAME_PATTERN})
            for bad in ("%abc", "bad/name", ".", "..", "a.b", "a b", "-a", "a-", "_a", "a_", "é")
        ),
    ],
)
async def test_names_the_manager_refuses_are_refused(
    fake: FakeFeldera, session: aiohttp.ClientSession, name: str, code: str, details: Json
) -> None:
    # The manager's rule (validate_pipeline_name): non-empty, at most 63 bytes (a Kubernetes
    # label value), letters, digits, '-' and '_', neither first nor last.
    reply = await call(
        session, "POST", f"{fake.url}/v0/pipelines", {"name": name, "program_code": ""}
    )
    assert error_code(reply) == (400, code)
    if code == "NameDoesNotMatchPattern":
        assert reply[1]["message"].startswith(f"Name '{name}' should be non-empty and only contain")
        assert {k: reply[1]["details"][k] for k in ("name", "pattern")} == details
    else:
        assert reply[1]["details"] == details
    with pytest.raises(FakeAPIError) as info:  # from Python alike
        fake.create_pipeline(name)
    assert (info.value.status, info.value.error_code) == (400, code)
    assert fake.pipelines() == []


@pytest.mark.parametrize("name", ["a", "A", "0", "a" * 63, "A-b_9", "my_pipeline-1", "a--b"])
async def test_names_the_manager_accepts_are_accepted(
    fake: FakeFeldera, session: aiohttp.ClientSession, name: str
) -> None:
    await create(fake, session, name, "")
    assert fake.pipelines() == [name]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"tags": ["bad,tag"]}, "InvalidTag"),
        ({"tags": ["a" * 51]}, "InvalidTag"),
        ({"tags": [""]}, "InvalidTag"),
        ({"tags": ["ok", "also,bad"]}, "InvalidTag"),
        ({"tags": [f"t{i}" for i in range(51)]}, "TooManyTags"),
        ({"description": "a" * 301}, "TooLongDescription"),
    ],
)
async def test_tags_and_descriptions_the_manager_refuses_are_refused(
    fake: FakeFeldera, session: aiohttp.ClientSession, body: Json, code: str
) -> None:
    url = f"{fake.url}/v0/pipelines"
    reply = await call(session, "POST", url, {"name": "p", "program_code": "", **body})
    assert error_code(reply) == (400, code)
    assert fake.pipelines() == []
    await create(fake, session, "p", "")
    assert error_code(await call(session, "PATCH", f"{url}/p", body)) == (400, code)
    put = {"name": "p", "program_code": "", **body}
    assert error_code(await call(session, "PUT", f"{url}/p", put)) == (400, code)
    assert (await info(fake, session, "p", "all"))[next(iter(body))] in ("", [])


@pytest.mark.parametrize(
    "body",
    [
        {"description": 5},
        {"tags": "x"},
        {"tags": [1]},
        {"udf_rust": ["fn"]},
        {"runtime_config": []},
        {"program_config": "x"},
    ],
)
async def test_fields_of_another_json_type_are_the_managers_plain_400(
    fake: FakeFeldera, session: aiohttp.ClientSession, body: Json
) -> None:
    """serde refuses a field of another type, as a missing one: actix's plain-text 400
    (not a 500, and a string of tags is not taken for one tag)."""
    url = f"{fake.url}/v0/pipelines"
    field = next(iter(body))
    for method, where, sent in (
        ("POST", url, {"name": "p", "program_code": "", **body}),
        ("PUT", f"{url}/q", {"name": "q", "program_code": "", **body}),
    ):
        status, text = await call(session, method, where, sent)
        assert status == 400 and isinstance(text, str), (status, text)
        assert text.startswith("Json deserialize error:") and f"`{field}`" in text, text
    assert fake.pipelines() == []
    await create(fake, session, "p", "")
    status, text = await call(session, "PATCH", f"{url}/p", body)
    assert status == 400 and f"`{field}`" in str(text), (status, text)


async def test_tag_rules_say_why_and_valid_metadata_is_kept(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    url = f"{fake.url}/v0/pipelines"
    _, body = await call(session, "POST", url, {"name": "p", "program_code": "", "tags": ["x?"]})
    assert body["message"] == (
        "Tag 'x?' is invalid: it may contain only ASCII letters (a-z, A-Z), numbers (0-9), or "
        "one of space, '.', '_', '/', '|', '\\', ':', '=' and '-'"
    )
    assert body["details"]["tag"] == "x?"
    tags = ["a-z_0/9", "with space", "pipe|sep", "back\\slash", "dot.dot", "k:v=w", "t" * 50]
    meta = {"tags": tags, "description": "é" * 300}  # characters, not bytes
    status, body = await call(session, "POST", url, {"name": "p", "program_code": "", **meta})
    assert status == 201, body
    assert (body["tags"], body["description"]) == (tags, "é" * 300)


# -- the simulated compiler through the API ---------------------------------------------


async def test_the_empty_program_compiles_and_refresh_version_is_3(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    await create(fake, session, "p", "")
    await fake.wait_for_status("p", program_status="Success")
    body = await info(fake, session, "p")
    # Created (1), then SqlCompiled and Success each count once; the other steps do not.
    assert (body["program_status"], body["refresh_version"], body["program_version"]) == (
        "Success",
        3,
        1,
    )


async def test_invalid_sql_ends_in_sql_error_with_the_compilers_message(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    await create(fake, session, "p", "invalid-sql")
    await fake.wait_for_status("p", program_status="SqlError")
    program_error = (await info(fake, session, "p", "all"))["program_error"]
    [message] = program_error["sql_compilation"]["messages"]
    assert (message["error_type"], message["message"]) == (
        "Error parsing SQL",
        'Encountered "invalid" at line 1, column 1.',
    )
    assert error_code(await action(fake, session, "p", "start")) == (
        400,
        "CannotStartWithCompilationError",
    )


async def test_fail_next_compile_scripts_a_pipeline_not_created_yet(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.fail_next_compile("p", "rust")
    await create(fake, session, "p", "CREATE TABLE t (x INT);")
    await fake.wait_for_status("p", program_status="RustError")
    # Only the next compilation: an edit of the program compiles again.
    status, _ = await call(
        session, "PATCH", f"{fake.url}/v0/pipelines/p", {"program_code": "CREATE TABLE t (y INT);"}
    )
    assert status == 200
    await fake.wait_for_status("p", program_status="Success")


# -- /start ------------------------------------------------------------------------------


async def test_standby_needs_file_storage_that_syncs(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    await create(fake, session, "p", "")  # compiling or not: the rule holds
    assert error_code(await action(fake, session, "p", "start?initial=standby")) == (
        400,
        "InitialStandbyNotAllowed",
    )
    # A refused start writes nothing.
    assert {e["deployment_resources_desired_status"] for e in fake.events("p")} == {"Stopped"}
    storage = {"backend": {"name": "file", "config": {"sync": {"bucket": "b/p"}}}}
    status, _ = await call(
        session, "PATCH", f"{fake.url}/v0/pipelines/p", {"runtime_config": {"storage": storage}}
    )
    assert status == 200
    status, _ = await action(fake, session, "p", "start?initial=standby")
    assert status == 202
    await fake.wait_for_status("p", deployment_status="Standby")


async def test_a_second_start_with_the_same_settings_is_accepted_and_recorded(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p")
    assert (await action(fake, session, "p", "start?bootstrap_policy=reject"))[0] == 202
    await fake.wait_for_status("p", deployment_status="Running")
    before = len(fake.events("p"))
    assert (await action(fake, session, "p", "start?bootstrap_policy=reject"))[0] == 202
    # One write of the row, one event, nothing else changed.
    assert len(fake.events("p")) == before + 1
    assert fake.events("p")[0]["deployment_runtime_status"] == "Running"


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [
        ("initial=running", "initial=paused", "InitialImmutableUnlessStopped"),
        ("initial=paused", "initial=running", "InitialImmutableUnlessStopped"),
        ("bootstrap_policy=allow", "bootstrap_policy=reject", "BootstrapPolicyImmutableUnlessStopped"),
        ("bootstrap_policy=reject", "bootstrap_policy=await_approval", "BootstrapPolicyImmutableUnlessStopped"),
        ("bootstrap_policy=await_approval", "bootstrap_policy=allow", "BootstrapPolicyImmutableUnlessStopped"),
        ("bootstrap_policy=allow", "", "BootstrapPolicyImmutableUnlessStopped"),  # default: await_approval
    ],
)  # fmt: skip
async def test_a_start_with_other_settings_is_refused_until_stopped(
    fake: FakeFeldera, session: aiohttp.ClientSession, first: str, second: str, code: str
) -> None:
    fake.create_pipeline("p")
    assert (await action(fake, session, "p", f"start?{first}"))[0] == 202
    await fake.wait_for(lambda: fake.status("p")["deployment_status"] in ("Running", "Paused"))
    events = len(fake.events("p"))
    assert error_code(await action(fake, session, "p", f"start?{second}")) == (400, code)
    assert len(fake.events("p")) == events  # refused: nothing written
    assert (await action(fake, session, "p", "stop?force=true"))[0] == 202
    await fake.wait_for_status("p", deployment_status="Stopped")
    assert (await action(fake, session, "p", f"start?{second}"))[0] == 202  # stopped: free


async def test_bootstrap_policy_is_set_by_start_and_removed_by_a_forced_stop(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p")
    body = await info(fake, session, "p")
    assert (body["bootstrap_policy"], body["deployment_initial"]) == (None, None)
    for query, policy in [("?bootstrap_policy=allow", "allow"), ("", "await_approval")]:
        assert (await action(fake, session, "p", f"start{query}"))[0] == 202
        await fake.wait_for_status("p", deployment_status="Running")
        body = await info(fake, session, "p", "all")
        assert (body["bootstrap_policy"], body["deployment_initial"]) == (policy, "Running")
        assert (body["silent_bootstrap"], body["concurrent_bootstrap"]) == (False, False)
        assert (await action(fake, session, "p", "stop?force=true"))[0] == 202
        await fake.wait_for_status("p", deployment_resources_status="Stopping")
        body = await info(fake, session, "p")
        assert (body["bootstrap_policy"], body["deployment_initial"]) == (None, None)
        await fake.wait_for_status("p", deployment_status="Stopped")


async def test_start_while_stopping_is_illegal_and_stop_always_writes(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p", timings=slow(stopping=400))
    before = len(fake.events("p"))
    assert (await action(fake, session, "p", "stop?force=true"))[0] == 202  # already stopped
    assert len(fake.events("p")) == before + 1
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    assert (await action(fake, session, "p", "stop?force=true"))[0] == 202
    assert error_code(await action(fake, session, "p", "start")) == (400, "IllegalPipelineAction")
    assert (await action(fake, session, "p", "stop?force=true"))[0] == 202  # again: accepted
    await fake.wait_for_status("p", deployment_status="Stopped", timeout=10)


async def test_stop_while_a_start_waits_for_compilation_forgets_the_start(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p", compile=True, timings=slow(compile_step=400))
    assert (await action(fake, session, "p", "start?initial=paused"))[0] == 202
    assert (await info(fake, session, "p"))["deployment_initial"] == "Paused"
    assert (await action(fake, session, "p", "stop?force=true"))[0] == 202
    body = await info(fake, session, "p")
    assert (body["deployment_desired_status"], body["deployment_initial"]) == ("Stopped", None)
    assert body["program_status"] in ("Pending", "CompilingSql")
    assert (await action(fake, session, "p", "start"))[0] == 202  # running now: no conflict
    assert (await info(fake, session, "p"))["deployment_initial"] == "Running"


# -- /clear and storage --------------------------------------------------------------------


async def test_clear_is_refused_unless_fully_stopped(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p", timings=slow(compile_step=400))
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    assert error_code(await action(fake, session, "p", "clear")) == (
        400,
        "StorageStatusImmutableUnlessStopped",
    )
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_status="Stopped")
    # A program edit recompiles; a start then waits for it while still Stopped: storage
    # may not be cleared from under it.
    status, _ = await call(
        session, "PATCH", f"{fake.url}/v0/pipelines/p", {"program_code": "CREATE TABLE u (x INT);"}
    )
    assert status == 200
    assert (await action(fake, session, "p", "start"))[0] == 202
    assert fake.status("p")["deployment_resources_status"] == "Stopped"
    status, body = await action(fake, session, "p", "clear")
    assert (status, body["error_code"]) == (400, "StorageStatusImmutableUnlessStopped")
    assert body["details"]["resources_desired_status"] == "Provisioned"
    assert fake.status("p")["storage_status"] == "InUse"


async def test_clear_goes_through_clearing_and_blocks_a_start_meanwhile(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p", timings=slow(clearing=400))
    before = len(fake.events("p"))
    assert (await action(fake, session, "p", "clear"))[0] == 202  # Cleared: nothing to do
    assert len(fake.events("p")) == before
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_status="Stopped")
    assert (await action(fake, session, "p", "clear"))[0] == 202
    assert fake.status("p")["storage_status"] == "Clearing"
    assert error_code(await action(fake, session, "p", "start")) == (
        400,
        "CannotStartWhileClearingStorage",
    )
    assert (await action(fake, session, "p", "clear"))[0] == 202  # clearing again: accepted
    await fake.wait_for_status("p", storage_status="Cleared", timeout=10)
    storage = [e["storage_status"] for e in reversed(fake.events("p"))]
    assert storage[-3:] == ["Clearing", "Clearing", "Cleared"]


async def test_storage_details_appear_with_the_running_pipeline_and_go_with_clear(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p")
    assert (await info(fake, session, "p"))["storage_status_details"] is None
    for _ in range(2):
        fake.start("p")
        await fake.wait_for_status("p", deployment_status="Running")
        body = await info(fake, session, "p")
        assert (body["storage_status"], body["storage_status_details"]) == (
            "InUse",
            {"checkpoints": []},
        )
        fake.stop("p", force=True)
        await fake.wait_for_status("p", deployment_status="Stopped")
        assert (await info(fake, session, "p"))["storage_status_details"] == {"checkpoints": []}
    fake.clear("p")
    await fake.wait_for_status("p", storage_status="Cleared")
    assert (await info(fake, session, "p"))["storage_status_details"] is None


async def test_dismiss_error_writes_an_event_and_is_refused_while_failing(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p", timings=slow(stopping=400))
    before = len(fake.events("p"))
    assert (await action(fake, session, "p", "dismiss_error"))[0] == 200  # no error: still a write
    assert len(fake.events("p")) == before + 1
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.panic("p")
    assert fake.status("p")["deployment_resources_status"] == "Stopping"
    assert error_code(await action(fake, session, "p", "dismiss_error")) == (
        400,
        "DismissErrorRestrictedToFullyStopped",
    )
    await fake.wait_for_status("p", deployment_status="Stopped", timeout=10)
    assert (await action(fake, session, "p", "dismiss_error"))[0] == 200
    assert fake.status("p")["deployment_error"] is None


# -- edits ----------------------------------------------------------------------------------


async def test_runtime_config_edits_that_need_cleared_storage(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    url = f"{fake.url}/v0/pipelines/p"
    fake.create_pipeline("p", runtime_config={})
    config = (await info(fake, session, "p", "all"))["runtime_config"]
    # Stored with every default filled in, as the manager stores it.
    assert (config["workers"], config["hosts"], config["resources"]["namespace"]) == (8, 1, None)
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_status="Stopped")
    for edit, field in [
        ({"workers": 16}, "`runtime_config.workers`"),
        ({"resources": {"storage_mb_max": 10000}}, "`runtime_config.resources.storage_mb_max`"),
        ({"resources": {"namespace": "ns"}}, "`runtime_config.resources.namespace`"),
        ({"resources": {"storage_class": "fast"}}, "`runtime_config.resources.storage_class`"),
        ({"hosts": 2}, "`runtime_config.hosts`"),
    ]:
        events = len(fake.events("p"))
        status, body = await call(session, "PATCH", url, {"runtime_config": {**config, **edit}})
        assert (status, body["error_code"]) == (400, "EditRestrictedToClearedStorage"), edit
        assert body["details"] == {"not_allowed": [field]}
        assert len(fake.events("p")) == events
    # Other fields may change with storage in use: one event, version and refresh bumped.
    before = await info(fake, session, "p")
    status, body = await call(
        session, "PATCH", url, {"runtime_config": {**config, "tracing": True}}
    )
    assert (status, body["runtime_config"]["tracing"]) == (200, True)
    assert (body["version"], body["refresh_version"]) == (
        before["version"] + 1,
        before["refresh_version"] + 1,
    )
    fake.clear("p")
    await fake.wait_for_status("p", storage_status="Cleared")
    status, body = await call(session, "PATCH", url, {"runtime_config": {**config, "workers": 16}})
    assert (status, body["runtime_config"]["workers"]) == (200, 16)
    status, body = await call(session, "PATCH", url, {"runtime_config": {}})
    assert (status, body["runtime_config"]["workers"]) == (200, 8)  # {}: the defaults again


async def test_an_edit_that_changes_nothing_or_only_metadata_writes_no_event(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    url = f"{fake.url}/v0/pipelines/p"
    fake.create_pipeline("p", program_code="CREATE TABLE t (x INT);")
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    before, events = await info(fake, session, "p"), len(fake.events("p"))
    for patch in ({"program_code": "CREATE TABLE t (x INT);"}, {"description": "d", "tags": ["a"]}):
        status, body = await call(session, "PATCH", url, patch)
        assert status == 200, body
        assert (body["version"], body["refresh_version"]) == (
            before["version"],
            before["refresh_version"],
        )
    assert len(fake.events("p")) == events
    assert (body["description"], body["tags"]) == ("d", ["a"])


async def test_delete_during_compilation_then_compile_again(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.timings = slow(compile_step=100)  # 0.5 s a step
    for name in ("a", "b"):
        await create(fake, session, name, "")
    await fake.wait_for_status("b", program_status="CompilingSql")
    for name in ("a", "b"):  # in the middle of compiling
        assert fake.status(name)["program_status"] in ("Pending", "CompilingSql", "SqlCompiled")
        assert (await call(session, "DELETE", f"{fake.url}/v0/pipelines/{name}"))[0] == 200
    assert fake.pipelines() == []
    fake.timings = Timings()
    await create(fake, session, "a", "")
    await fake.wait_for_status("a", program_status="Success")
    body = await info(fake, session, "a")
    assert (body["program_version"], body["refresh_version"]) == (1, 3)
    assert [e["program_status"] for e in reversed(fake.events("a"))] == [
        "Pending", "CompilingSql", "SqlCompiled", "CompilingRust", "Success"]  # fmt: skip


async def test_refresh_version_counts_status_writes_sparingly(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    await create(fake, session, "p", "")
    await fake.wait_for_status("p", program_status="Success")
    assert (await info(fake, session, "p"))["refresh_version"] == 3
    fake.start("p")
    await fake.wait_for_status("p", deployment_status="Running")
    # The runner's writes: Provisioning, Provisioned, Running (desired and storage: none).
    assert (await info(fake, session, "p"))["refresh_version"] == 6
    fake.stop("p", force=True)
    await fake.wait_for_status("p", deployment_status="Stopped")
    fake.clear("p")
    await fake.wait_for_status("p", storage_status="Cleared")
    assert (await info(fake, session, "p"))["refresh_version"] == 8  # Stopping, Stopped


async def test_each_selector_sends_the_managers_fields(
    fake: FakeFeldera, session: aiohttp.ClientSession
) -> None:
    fake.create_pipeline("p")
    status_fields = {
        "id", "name", "description", "tags", "created_at", "version", "platform_version",
        "program_config", "program_version", "program_status", "program_status_since",
        "deployment_status", "deployment_status_since", "deployment_desired_status",
        "deployment_desired_status_since", "deployment_resources_status",
        "deployment_resources_status_since", "deployment_resources_desired_status",
        "deployment_resources_desired_status_since", "deployment_runtime_status",
        "deployment_runtime_status_details", "deployment_runtime_status_since",
        "deployment_runtime_desired_status", "deployment_runtime_desired_status_since",
        "deployment_id", "deployment_initial", "deployment_error", "refresh_version",
        "storage_status", "storage_status_details", "bootstrap_policy", "silent_bootstrap",
        "concurrent_bootstrap",
    }  # fmt: skip
    # `all` adds the program and its outcome, and the resources status details.
    all_fields = status_fields | {
        "runtime_config", "program_code", "udf_rust", "udf_toml", "program_error",
        "program_info", "deployment_resources_status_details",
    }  # fmt: skip
    assert set(await info(fake, session, "p", "status")) == status_fields
    assert set(await info(fake, session, "p", "all")) == all_fields
    connectors = await info(fake, session, "p", "status_with_connectors")
    assert set(connectors) == status_fields | {"connectors"}
