"""Two hub processes: one leads, the other takes over when the leader is killed; the HTTP
endpoints tell readiness and export Prometheus metrics."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s

from federation.dev.localfleet import LocalFleet
from federation.dev.ports import PortAllocator

from .helpers import eventually
from .hubkit import binding, create_policy, deployment, namespace, policy


def start_hub(lf: LocalFleet, tmp: Path, name: str, port: int) -> subprocess.Popen[bytes]:
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(
        [sys.executable, "-m", "federation.cli.main", "--log-level", "info", "hub", "run",
         "--state-dir", str(lf.state_dir), "--cache-dir", str(tmp / f"cache-{name}"),
         "--http-port", str(port), "--identity", name],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as s, \
            s.get(url) as resp:
        return resp.status, await resp.text()


async def holder(api: Any) -> str | None:
    lease = await k8s.CoordinationV1Api(api).read_namespaced_lease("fedctl-hub",
                                                                   "fedctl-system")
    return str(lease.spec.holder_identity)


async def test_leader_killed_standby_takes_over_without_duplicates(
        joined: Any, local_fleet: LocalFleet, member_api: dict[str, Any],
        tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    ports = PortAllocator()
    pa, pb = ports.take(), ports.take()
    a = start_hub(local_fleet, tmp_path, "hub-a", pa)
    await asyncio.sleep(1.5)  # let a win the first election
    b = start_hub(local_fleet, tmp_path, "hub-b", pb)
    procs = {"hub-a": a, "hub-b": b}
    try:
        leader = await eventually(lambda: holder(hub_api), timeout=30, what="a lease holder")
        standby = "hub-b" if leader == "hub-a" else "hub-a"
        port = {"hub-a": pa, "hub-b": pb}

        async def ready(p: int) -> bool:
            return (await get(f"http://127.0.0.1:{p}/readyz"))[0] == 200

        await eventually(lambda: ready(port[leader]), timeout=30, what="leader ready")
        await eventually(lambda: ready(port[standby]), timeout=30, what="standby ready")
        status, text = await get(f"http://127.0.0.1:{port[leader]}/metrics")
        assert status == 200 and "fedctl_leader 1.0" in text
        _, text = await get(f"http://127.0.0.1:{port[standby]}/metrics")
        assert "fedctl_leader 0.0" in text
        assert (await get(f"http://127.0.0.1:{port[leader]}/healthz"))[0] == 200

        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
                ns, "svc", {"clusterAffinity": {"clusterNames": ["member1", "member2"]},
                            "replicaScheduling": {"type": "Divided",
                                                  "division": "Aggregated"}}))
        await k8s.AppsV1Api(hub_api).create_namespaced_deployment(ns, deployment(ns, "svc", 2))

        async def placed() -> Any:
            b = await binding(hub_api, ns, "svc-deployment")
            return [c["name"] for c in ((b or {}).get("spec") or {}).get("clusters") or []]

        first = await eventually(placed, timeout=30, what="placed by the leader")
        _, text = await get(f"http://127.0.0.1:{port[leader]}/metrics")
        assert 'fedctl_placements_total{outcome="scheduled"}' in text
        assert 'fedctl_cluster_ready{cluster="member1"} 1.0' in text

        killed = time.monotonic()
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(10)
        await eventually(lambda: _is(holder(hub_api), standby), timeout=30,
                         what="standby holds the lease")
        took = time.monotonic() - killed
        assert took <= 15, f"takeover took {took:.1f}s"

        # The new leader keeps the placement and changes replicas without duplicating.
        await k8s.AppsV1Api(hub_api).patch_namespaced_deployment_scale(
            "svc", ns, {"spec": {"replicas": 3}})

        async def scaled() -> Any:
            b = await binding(hub_api, ns, "svc-deployment")
            clusters = ((b or {}).get("spec") or {}).get("clusters") or []
            return clusters if clusters and sum(
                sum(c["replicas"].values()) for c in clusters) == 3 else None

        clusters = await eventually(scaled, timeout=40, what="new leader reconciles")
        assert [c["name"] for c in clusters] == first  # sticky: nothing moved or doubled
        copies = 0
        for member in ("member1", "member2", "member3"):
            got = await k8s.AppsV1Api(member_api[member]).list_namespaced_deployment(ns)
            copies += len(got.items)
        assert copies == 1
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()


async def _is(value: Any, expected: str) -> bool:
    return (await value) == expected
