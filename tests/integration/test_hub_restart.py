"""Kill the hub mid-reconcile and start it again: it converges, nothing duplicated or lost."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.dev.localfleet import FleetState, LocalFleet

from .helpers import eventually
from .hubkit import binding, create_policy, deployment, namespace, policy

N = 12


def start(lf: LocalFleet, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(
        [sys.executable, "-m", "federation.cli.main", "hub", "run", "--state-dir",
         str(lf.state_dir), "--cache-dir", str(tmp / "cache"), "--http-port", "-1",
         "--no-leader-elect"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def test_hub_killed_mid_reconcile_converges_after_restart(
        joined: FleetState, local_fleet: LocalFleet, member_api: dict[str, Any],
        tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    ns = await namespace(hub_api)
    await create_policy(hub_api, policy(
            ns, "many", {"replicaScheduling": {"type": "Divided", "division": "Aggregated"},
                         "clusterAffinity": {"clusterNames": ["member1", "member2"]}}))
    first = start(local_fleet, tmp_path, "first")
    try:
        await asyncio.sleep(2.0)  # let it start its watches
        for i in range(N):
            d = deployment(ns, f"w{i}", 1)
            d["metadata"]["labels"]["app"] = "many"
            d["spec"]["selector"]["matchLabels"]["app"] = f"w{i}"
            d["spec"]["template"]["metadata"]["labels"]["app"] = f"w{i}"
            await k8s.AppsV1Api(hub_api).create_namespaced_deployment(ns, d)

        async def some_bound() -> Any:
            found = [await binding(hub_api, ns, f"w{i}-deployment") for i in range(N)]
            done = sum(1 for b in found if b)
            return done if 0 < done < N or done == N else None

        await eventually(some_bound, timeout=30, interval=0.05, what="reconciles started")
    finally:
        first.send_signal(signal.SIGKILL)  # mid-reconcile: no clean shutdown
        first.wait(10)
    second = start(local_fleet, tmp_path, "second")
    try:
        async def converged() -> Any:
            for i in range(N):
                b = await binding(hub_api, ns, f"w{i}-deployment")
                conds = {c["type"]: c["status"] for c in
                         ((b or {}).get("status") or {}).get("conditions") or []}
                if conds.get("Applied") != "True":
                    return None
            return True

        await eventually(converged, timeout=60, what="every workload applied")
        copies: dict[str, int] = {}
        for member in ("member1", "member2", "member3"):
            got = await k8s.AppsV1Api(member_api[member]).list_namespaced_deployment(ns)
            for d in got.items:
                copies[d.metadata.name] = copies.get(d.metadata.name, 0) + 1
        assert copies == {f"w{i}": 1 for i in range(N)}  # none lost, none doubled
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(15)
        except subprocess.TimeoutExpired:
            second.kill()
