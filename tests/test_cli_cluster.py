"""``wait-cluster`` and ``cluster-events`` against the simulated manager."""

from __future__ import annotations

import json

from cli_support import run_cli
from helpers import refused_port

from feldera_events.testing import FakeFeldera


async def test_wait_cluster_healthy_exits_0() -> None:
    async with FakeFeldera(speed=20) as fake:
        ran = await run_cli("wait-cluster", "--timeout", "30", url=fake.url)
    assert ran.returncode == 0, ran
    assert "all healthy" in ran.stdout and "all services healthy after" in ran.stdout


async def test_wait_cluster_unhealthy_times_out_with_3() -> None:
    async with FakeFeldera(speed=20) as fake:
        fake.recover_cluster()
        fake.degrade_cluster("runner")
        ran = await run_cli("wait-cluster", "--timeout", "1", "--json", url=fake.url)
    assert ran.returncode == 3, ran
    doc = json.loads(ran.stdout)
    assert doc["exit_code"] == 3 and doc["unhealthy_components"] == ["runner"]
    assert "runner" in ran.stderr


async def test_wait_cluster_never_reached_exits_4() -> None:
    with refused_port() as port:  # held: nothing else can listen there meanwhile
        url = port.url
        ran = await run_cli(
            "wait-cluster", "--timeout", "1", url=url, env={"GITHUB_ACTIONS": "true"}
        )
        assert ran.returncode == 4, ran
        assert f"cannot reach the Feldera manager at {url}" in ran.stderr
        assert "::error title=Feldera cluster not healthy::" in ran.stdout
        assert "Traceback" not in ran.stderr


async def test_old_manager_without_cluster_events_exits_4() -> None:
    async with FakeFeldera(speed=20, cluster_events=False) as fake:
        for args in (("wait-cluster", "--timeout", "30"), ("cluster-events",)):
            ran = await run_cli(*args, url=fake.url)
            assert ran.returncode == 4, ran
            assert "no cluster monitor events" in ran.stderr and "v0.292" in ran.stderr


async def test_cluster_events_formats() -> None:
    async with FakeFeldera(speed=20) as fake:
        fake.recover_cluster()
        fake.degrade_cluster("compiler")
        ran = await run_cli("cluster-events", url=fake.url)
        assert ran.returncode == 0, ran
        events = json.loads(ran.stdout)
        assert events[0]["compiler_status"] == "Unhealthy" and events[0]["all_healthy"] is False
        ran = await run_cli("cluster-events", "--format", "table", "--limit", "1", url=fake.url)
        rows = ran.stdout.splitlines()
        assert rows[0].split() == ["RECORDED_AT", "ALL_HEALTHY", "API", "COMPILER", "RUNNER", "ID"]
        assert len(rows) == 2 and rows[1].split()[1:5] == ["no", "Healthy", "Unhealthy", "Healthy"]
        ran = await run_cli(
            "cluster-events", "--selector", "all", "--format", "jsonl", url=fake.url
        )
        assert ran.returncode == 0, ran
        docs = [json.loads(line) for line in ran.stdout.splitlines()]
        # One line per recorded event (the start-up, the recovery, the degradation),
        # newest first, each with the selector=all field: never a vacuous pass.
        assert [d["id"] for d in docs] == [e["id"] for e in fake.cluster_events()], ran
        assert len(docs) == 3, ran
        assert all("runner_self_info" in d for d in docs), docs
