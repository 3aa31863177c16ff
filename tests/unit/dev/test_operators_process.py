"""The simulator process around the pure part: entry point, event routing, observed children
(no API server needed: nothing here sends a request)."""

from __future__ import annotations

import sys
from pathlib import Path

from kubernetes_asyncio import client as k8s

from federation.clusters.watch import Reflector
from federation.dev.controlplane import ClusterPaths, operators_argv
from federation.dev.operators import OperatorSimulator, parse_args
from federation.dev.opsim.kube import workload_kinds

PT = "kubeflow.org/PyTorchJob"


def test_command_line() -> None:
    argv = operators_argv(ClusterPaths(Path("/s/clusters/m1")), "m1")
    assert argv[:3] == [sys.executable, "-m", "federation.dev.operators"]
    args = parse_args(argv[3:])
    assert (args.kubeconfig, args.context) == ("/s/clusters/m1/admin.kubeconfig", "m1")
    assert (args.workers, args.resync) == (4, 30.0)


async def _noop(**_: object) -> None:
    return None


async def test_events_queue_the_custom_resource_and_the_owner_of_a_child() -> None:
    api = k8s.ApiClient()
    try:
        sim = OperatorSimulator(api)
        sim.kinds[PT] = workload_kinds()[PT]
        for kind in ("Pod", PT):
            sim.stores[kind] = Reflector(kind, _noop)
        job = {"metadata": {"name": "train", "namespace": "ml", "uid": "u1"}}
        sim.stores[PT].store["ml/train"] = job  # as listed: no apiVersion/kind
        sim.handler(PT)("ADDED", job)
        assert len(sim.queue) == 1
        pod = {"metadata": {"name": "train-master-0", "namespace": "ml", "ownerReferences": [
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "train",
             "uid": "u1", "controller": True}]}}
        sim.stores["Pod"].store["ml/train-master-0"] = pod
        sim.handler("Pod")("ADDED", pod)
        assert len(sim.queue) == 1  # deduplicated: the same job
        assert await sim.queue.get() == (PT, "ml", "train")
        (child,) = sim.observed("u1").of("Pod")
        assert (child["apiVersion"], child["kind"]) == ("v1", "Pod")  # filled in
        assert sim.typed(PT, job)["apiVersion"] == "kubeflow.org/v1"
        foreign = {"metadata": {"name": "web-1", "namespace": "ml", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "r1",
             "controller": True}]}}
        sim.handler("Pod")("ADDED", foreign)
        assert len(sim.queue) == 0  # not ours to reconcile
    finally:
        await api.close()
