"""Live placements explain themselves: the decision in the binding's status, read back
with `fedctl get placements` and `fedctl explain`, and the prices ConfigMap."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.cli.main import main
from federation.dev.localfleet import FleetState
from federation.hub.prices import CONFIGMAP, NAMESPACE, PRICES_KEY

from .helpers import eventually
from .hubkit import (
    binding,
    create_policy,
    deployment,
    member_replicas,
    namespace,
    policy,
    running_hub,
)


async def fedctl(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI in a thread (it runs its own event loop), output captured."""
    capsys.readouterr()
    rc = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


async def test_get_placements_and_explain_a_live_deployment(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    hub_api = member_api["hub"]
    hub_args = ("--state-dir", joined.state_dir)
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(ns, "web", {
            "clusterAffinity": {"clusterNames": ["member1", "member2"]},
            "replicaScheduling": {"type": "Duplicated"}}))
        await k8s.AppsV1Api(hub_api).create_namespaced_deployment(
            ns, deployment(ns, "web", 2))

        async def recorded() -> dict[str, Any] | None:
            b = await binding(hub_api, ns, "web-deployment")
            return b if b and (b.get("status") or {}).get("decision") else None

        b = await eventually(recorded, timeout=60, what="status.decision on the binding")
        record = b["status"]["decision"]
        assert record["schedulable"] is True and record["placedCount"] == 2
        assert {c["cluster"] for c in record["clusters"] if c["replicas"]} == {
            "member1", "member2"}
        assert record["clusterCount"] == 3  # member3 is filtered by the affinity
        assert record["prices"]["catalog"].startswith("2026.11-sample.1@")

        rc, out, err = await fedctl(capsys, "get", "placements", "-n", ns, *hub_args)
        assert (rc, err) == (0, "")
        header, row = out.splitlines()
        assert header.split() == ["NAMESPACE", "NAME", "KIND", "CLUSTERS", "COST/H",
                                  "SCHEDULED", "AGE"]
        assert row.split()[:6] == [ns, "web", "Deployment", "member1,member2",
                                   f"${b['status']['hourlyCost']:,.2f}", "True"]

        rc, out, _ = await fedctl(capsys, "get", "placements", "-A", "-o", "wide", *hub_args)
        assert rc == 0
        mine = next(line for line in out.splitlines() if line.startswith(ns))
        assert record["prices"]["catalog"] in mine

        rc, out, err = await fedctl(capsys, "explain", "deployment/web", "-n", ns, *hub_args)
        assert (rc, err) == (0, "")
        lines = out.splitlines()
        assert lines[0].startswith(f"Deployment {ns}/web (apps/v1): policy "
                                   f"PropagationPolicy/{ns}/web")
        assert lines[0].endswith("clusters member1,member2")
        assert lines[1].split()[:2] == ["CLUSTER", "VERDICT"]
        verdicts = {ln.split()[0]: ln.split()[1] for ln in lines[2:5]}
        assert verdicts == {"member1": "placed", "member2": "placed",
                            "member3": "filtered:"}
        assert any(ln.startswith("SCHEDULABLE: placed 4 replica(s) on 2 cluster(s)")
                   for ln in lines)
        assert lines[-1] == (f"prices: catalog {record['prices']['catalog']}, egress "
                             f"{record['prices']['egress']}; decision digest "
                             f"{record['digest']}")

        rc, out, _ = await fedctl(capsys, "explain", "deployment/web", "-n", ns, "-o",
                                  "json", *hub_args)
        assert rc == 0 and json.loads(out) == record

        rc, out, err = await fedctl(capsys, "explain", "statefulset/web", "-n", ns,
                                    *hub_args)
        assert rc == 1 and out == ""
        assert err == (f"error: no placement for statefulset/web in namespace {ns} "
                       "(placed under that name: deployment.apps/web)\n")


async def test_prices_configmap_changes_the_recorded_catalog(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    core = k8s.CoreV1Api(hub_api)
    with_h100 = ("# version: itest.1\n"
                 "provider,region,gpu,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour\n"
                 "onprem,*,H100-80GB,1.25,\n")
    with pytest.raises(ApiException):  # no leftover from an earlier run
        await core.read_namespaced_config_map(CONFIGMAP, NAMESPACE)
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(ns, "gpu", {
            "clusterAffinity": {"clusterNames": ["member1"]}}))
        await k8s.AppsV1Api(hub_api).create_namespaced_deployment(
            ns, deployment(ns, "gpu", 1, gpus=1))

        async def catalog() -> tuple[str, float] | None:
            b = await binding(hub_api, ns, "gpu-deployment")
            rec = ((b or {}).get("status") or {}).get("decision")
            return (rec["prices"]["catalog"], rec["hourlyCost"]) if rec else None

        sample, _ = await eventually(catalog, timeout=60, what="a first decision")
        assert sample.startswith("2026.11-sample.1@")
        try:
            await core.create_namespaced_config_map(NAMESPACE, {
                "metadata": {"name": CONFIGMAP}, "data": {PRICES_KEY: with_h100}})

            async def repriced() -> tuple[str, float] | None:
                got = await catalog()
                return got if got and got[0].startswith("itest.1@") else None

            _, cost = await eventually(repriced, timeout=60, what="the new catalog")
            assert cost == pytest.approx(1.25, abs=0.2)  # 1 GPU at $1.25 (+ its CPU)

            # bad content: reported, and the catalog in use is kept
            await core.patch_namespaced_config_map(CONFIGMAP, NAMESPACE, {
                "data": {PRICES_KEY: with_h100.replace("H100-80GB", "H999")}})
            await asyncio.sleep(3)
            got = await catalog()
            assert got is not None and got[0].startswith("itest.1@")
        finally:
            await core.delete_namespaced_config_map(CONFIGMAP, NAMESPACE)
            # the fleet is shared: free member1's H100 for the tests that follow
            await k8s.AppsV1Api(hub_api).delete_namespaced_deployment("gpu", ns)

            async def copy_gone() -> bool:
                return await member_replicas(member_api["member1"], ns, "gpu") is None

            await eventually(copy_gone, timeout=60, what="the GPU Deployment removed")


async def test_price_watcher_follows_the_configmap_on_the_hub(
        fleet_state: FleetState, member_api: dict[str, Any]) -> None:
    from federation.hub.prices import EGRESS_KEY, PriceConfig, PriceState, PriceWatcher, load_prices

    hub_api = member_api["hub"]
    core = k8s.CoreV1Api(hub_api)
    ns = await namespace(hub_api)
    cfg = PriceConfig(namespace=ns)
    start = load_prices(cfg)
    seen: list[tuple[str, str]] = []
    watcher = PriceWatcher(PriceState(cfg, start),
                           on_prices=lambda _c, v: seen.append(("prices", v)),
                           on_egress=lambda _m, v: seen.append(("egress", v)))
    task = asyncio.create_task(watcher.run(hub_api))
    try:
        await asyncio.wait_for(watcher.synced.wait(), 30)
        assert seen == []  # no ConfigMap: the samples stay
        prices = ("# version: itest.2\n"
                  "provider,region,gpu,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour\n"
                  "onprem,*,H100-80GB,1.25,\n")
        await core.create_namespaced_config_map(ns, {
            "metadata": {"name": CONFIGMAP}, "data": {PRICES_KEY: prices}})

        async def got(n: int) -> bool:
            return len(seen) >= n

        await eventually(lambda: got(1), timeout=20, what="the ConfigMap's catalog")
        assert seen[0][0] == "prices" and seen[0][1].startswith("itest.2@")
        # bad prices: kept; good egress next to them: applied
        await core.patch_namespaced_config_map(CONFIGMAP, ns, {"data": {
            PRICES_KEY: prices.replace("H100-80GB", "H999"),
            EGRESS_KEY: "# version: net.9\nfrom,to,usd_per_gb,gbps\n*,*,0.01,10\n"}})
        await eventually(lambda: got(2), timeout=20, what="the ConfigMap's egress")
        assert seen[1][0] == "egress" and seen[1][1].startswith("net.9@")
        assert watcher.state.current.catalog_version == seen[0][1]
        await core.delete_namespaced_config_map(CONFIGMAP, ns)
        await eventually(lambda: got(4), timeout=20, what="the samples back")
        assert sorted(seen[2:]) == [("egress", start.egress_version),
                                    ("prices", start.catalog_version)]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
