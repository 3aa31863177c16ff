"""Inventory of a real member, kept current by watches (not polling)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.clusters.inventory import compute_inventory
from federation.clusters.watch import Reflector

from .helpers import eventually


async def test_inventory_follows_pods_through_watches(member_api: dict[str, Any]) -> None:
    core = k8s.CoreV1Api(member_api["member2"])
    events: list[str] = []
    nodes = Reflector("member2/nodes", core.list_node)
    pods = Reflector("member2/pods", core.list_pod_for_all_namespaces,
                     on_change=lambda kind, obj: events.append(kind))
    tasks = [asyncio.create_task(r.run()) for r in (nodes, pods)]
    name = f"inv-{uuid.uuid4().hex[:6]}"
    try:
        await asyncio.wait_for(asyncio.gather(nodes.synced.wait(), pods.synced.wait()), 30)
        before = compute_inventory(nodes.store.values(), pods.store.values())
        assert before.gpus["L4-24GB"].allocatable == 4
        relists = pods.relists
        version = pods.version
        await core.create_namespaced_pod("default", {
            "metadata": {"name": name},
            "spec": {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
                     "containers": [{"name": "c", "image": "x", "resources": {
                         "limits": {"nvidia.com/gpu": "2"}}}]}})

        async def requested() -> Any:
            inv = compute_inventory(nodes.store.values(), pods.store.values())
            held = inv.gpus["L4-24GB"].requested - before.gpus["L4-24GB"].requested
            return inv if held == 2 else None

        after = await eventually(requested, timeout=30, what="2 more L4 GPUs requested")
        assert after.gpus["L4-24GB"].free == before.gpus["L4-24GB"].free - 2
        assert pods.relists == relists  # seen through the watch, not by listing again
        assert pods.version > version  # caches keyed on it see the change
        assert "ADDED" in events and "MODIFIED" in events
        await core.delete_namespaced_pod(name, "default", grace_period_seconds=0)

        async def released() -> Any:
            inv = compute_inventory(nodes.store.values(), pods.store.values())
            return inv if inv.gpus["L4-24GB"].requested == before.gpus[
                "L4-24GB"].requested else None

        await eventually(released, timeout=30, what="GPUs released after delete")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
