"""Members: copy watches at the version each member serves; prices replaced live."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any
from unittest.mock import sentinel

from kubernetes_asyncio import client as k8s

from federation.catalog.prices import load_price_catalog
from federation.clusters.health import Health
from federation.clusters.inventory import node_info, pod_usage
from federation.clusters.watch import Reflector
from federation.hub.members import MemberRecord, Members, WatchedKind

CATALOG = load_price_catalog()
MPI_V1 = WatchedKind("kubeflow.org/v1", "MPIJob", "mpijobs")
MPI_V2 = WatchedKind("kubeflow.org/v2beta1", "MPIJob", "mpijobs")
DEPLOY = WatchedKind("apps/v1", "Deployment", "deployments")


async def _never(**_: Any) -> Any:
    raise AssertionError("no apiserver in this test")


class OfflineMembers(Members):
    def health(self, name: str) -> Health:
        return Health(ready=True, reachable=True)


def _record(name: str, kinds: frozenset[str] | None = None) -> MemberRecord:
    nodes = Reflector(f"{name}/nodes", _never, transform=node_info)
    pods = Reflector(f"{name}/pods", _never, transform=pod_usage)
    nodes.store = {"n": node_info({
        "metadata": {"name": "n", "labels": {"nvidia.com/gpu.product": "NVIDIA-L4"}},
        "status": {"allocatable": {"nvidia.com/gpu": "4", "cpu": "16", "memory": "64Gi"},
                   "conditions": [{"type": "Ready", "status": "True"}]}})}
    nodes.synced.set()
    pods.synced.set()
    return MemberRecord(name=name, spec={"provider": "gcp", "region": "us-central1"},
                        labels={}, generation=1, nodes=nodes, pods=pods,
                        applier=sentinel.applier, installed_kinds=kinds)


async def test_copies_are_watched_at_the_version_the_member_serves() -> None:
    members = Members(CATALOG, Path("/nonexistent"), lambda _n: None,
                      watched=(MPI_V1, MPI_V2, DEPLOY))
    v1_only = _record("member1", frozenset({"kubeflow.org/MPIJob", "kubeflow.org/v1/MPIJob",
                                            "apps/Deployment", "apps/v1/Deployment"}))
    api = k8s.ApiClient()  # never called: the watches are stopped before they list
    try:
        members._sync_copies(v1_only, api)
        assert set(v1_only.copies) == {("kubeflow.org/v1", "MPIJob"), ("apps/v1", "Deployment")}
        # the member now serves v2beta1 instead: the v1 watch stops, a v2beta1 one starts
        v1_only.installed_kinds = frozenset({"kubeflow.org/MPIJob",
                                             "kubeflow.org/v2beta1/MPIJob"})
        stopped = v1_only.copy_tasks[("kubeflow.org/v1", "MPIJob")]
        members._sync_copies(v1_only, api)
        assert set(v1_only.copies) == {("kubeflow.org/v2beta1", "MPIJob")}
        await asyncio.sleep(0)
        assert stopped.cancelled() or stopped.done()
        # the hub stops watching MPIJob at all
        members._members["member1"] = v1_only
        v1_only.api = api
        members.set_watched([DEPLOY])
        assert v1_only.copies == {} and v1_only.copy_tasks == {}
    finally:
        for t in v1_only.copy_tasks.values():
            t.cancel()
        await api.close()


def test_set_prices_replaces_the_catalog_and_the_cached_snapshots() -> None:
    members = OfflineMembers(CATALOG, Path("/nonexistent"), lambda _n: None)
    members._members["a"] = _record("a")
    before = members.snapshot("a", 10.0, 0.0)
    assert members.prices_version == CATALOG.version
    assert members.snapshot("a", 10.0, 0.0) is before  # cached
    dearer = dataclasses.replace(CATALOG, rows=tuple(
        dataclasses.replace(r, on_demand=r.on_demand * 2) for r in CATALOG.rows))
    members.set_prices(dearer, "prices-cm@42")
    after = members.snapshot("a", 10.0, 0.0)
    assert members.prices_version == "prices-cm@42"
    assert after is not before
    assert after.prices["L4-24GB"].on_demand == 2 * before.prices["L4-24GB"].on_demand > 0
