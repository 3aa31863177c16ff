"""A member's inventory is rebuilt only when its nodes, pods or holders change."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import sentinel

from federation.clusters.inventory import node_info, pod_usage
from federation.clusters.watch import Reflector
from federation.hub.members import MemberRecord


async def _never(**_: Any) -> Any:  # pragma: no cover - the reflectors are not run
    raise AssertionError


def _node(name: str, gpus: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.product": "NVIDIA-L4"}},
            "status": {"allocatable": {"nvidia.com/gpu": str(gpus), "cpu": "8",
                                       "memory": "32Gi"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str, binding: str, gpus: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "a",
                         "labels": {"fedctl.dev/binding": binding}},
            "spec": {"nodeName": "n1", "containers": [
                {"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]},
            "status": {"phase": "Running"}}


def test_cached_until_a_store_or_the_holders_change(tmp_path: Path) -> None:
    nodes = Reflector("n", _never, transform=node_info)
    pods = Reflector("p", _never, transform=pod_usage)
    nodes.store = {"n1": node_info(_node("n1", 4))}
    pods.store = {"a/p1": pod_usage(_pod("p1", "a.w1", 1))}
    rec = MemberRecord(name="m", spec={}, labels={}, generation=1, nodes=nodes, pods=pods,
                       applier=sentinel.applier)
    first = rec.inventory(frozenset())
    assert first.gpus["L4-24GB"].requested == 1
    assert rec.inventory(frozenset()) is first  # nothing changed: no rebuild
    held = rec.inventory(frozenset({"a.w1"}))  # w1 holds the cluster: its pod is in the hold
    assert held.gpus["L4-24GB"].requested == 0
    pods.store["a/p2"] = pod_usage(_pod("p2", "a.w2", 2))
    assert rec.inventory(frozenset({"a.w1"})) is held  # the version was not bumped
    pods.version += 1
    assert rec.inventory(frozenset({"a.w1"})).gpus["L4-24GB"].requested == 2
