"""The operator simulator on the real fleet: AI custom resources get pods, GPUs and status.

Objects are created directly on members (no hub). kube-scheduler binds the simulator's pods
to the fake GPU nodes, kwok runs them, and kube-controller-manager's garbage collector
deletes them with their custom resource.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.dev import procs
from federation.dev.localfleet import FleetState, LocalFleet
from federation.dev.status import cluster_status
from federation.interpreters.interpreter import Interpreters

from .helpers import eventually

NS = "default"
H100 = "NVIDIA-H100-80GB-HBM3"
OURS = {"app.kubernetes.io/managed-by": "fedctl", "fedctl.dev/binding": "default.sim"}
KUBEFLOW = ("kubeflow.org", "v1", NS, "pytorchjobs")
KSERVE = ("serving.kserve.io", "v1beta1", NS, "inferenceservices")


def replica(gpus: int) -> dict[str, Any]:
    return {"replicas": 1, "template": {
        "metadata": {"labels": OURS},
        "spec": {"nodeSelector": {"nvidia.com/gpu.product": H100},
                 "containers": [{"name": "pytorch", "image": "registry.example/train:1",
                                 "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}}


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}


async def pods_of(core: k8s.CoreV1Api, selector: str) -> list[Any]:
    return list((await core.list_namespaced_pod(NS, label_selector=selector)).items)


async def test_pytorchjob_gets_gpu_pods_running_and_status(
        member_api: dict[str, Any], fleet_state: FleetState) -> None:
    api = member_api["member1"]
    custom, core = k8s.CustomObjectsApi(api), k8s.CoreV1Api(api)
    name = f"pt-{uuid.uuid4().hex[:6]}"

    # the session's fleet is shared: pods of workloads an earlier test deleted may still
    # be going away; this test needs the whole 8-GPU node
    async def node_free() -> bool:
        status = await cluster_status(fleet_state, "member1")
        return bool(status.gpu_free().get(H100) == 8)

    await eventually(node_free, timeout=60, what="member1's 8 H100s free")
    job = await custom.create_namespaced_custom_object(*KUBEFLOW, {
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": name, "labels": OURS},
        "spec": {"pytorchReplicaSpecs": {"Master": replica(4), "Worker": replica(4)}}})
    selector = f"training.kubeflow.org/job-name={name}"
    try:
        async def running() -> list[Any] | None:
            pods = await pods_of(core, selector)
            ok = len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
            return pods if ok else None

        pods = await eventually(running, timeout=30, what="both replicas Running")
        assert sorted(p.metadata.name for p in pods) == [f"{name}-master-0",
                                                         f"{name}-worker-0"]
        for pod in pods:
            assert pod.spec.node_name, pod.metadata.name  # bound by kube-scheduler
            node = await core.read_node(pod.spec.node_name)
            assert node.metadata.labels["nvidia.com/gpu.product"] == H100
            labels = pod.metadata.labels
            assert labels["fedctl.dev/binding"] == "default.sim"
            assert labels["app.kubernetes.io/managed-by"] == "fedctl"
            assert labels["training.kubeflow.org/replica-index"] == "0"
            (owner,) = pod.metadata.owner_references
            assert (owner.kind, owner.name, owner.uid) == ("PyTorchJob", name,
                                                           job["metadata"]["uid"])
            assert owner.controller and owner.block_owner_deletion
        # Both pods hold their 4 GPUs: the 8-GPU node is full.
        status = await cluster_status(fleet_state, "member1")
        assert status.gpus_requested[H100] >= 8 and status.gpu_free()[H100] == 0

        async def job_running() -> dict[str, Any] | None:
            obj: dict[str, Any] = await custom.get_namespaced_custom_object(*KUBEFLOW, name)
            return obj if conditions(obj).get("Running") == "True" else None

        obj = await eventually(job_running, timeout=20, what="PyTorchJob Running")
        assert conditions(obj)["Created"] == "True"
        assert obj["status"]["replicaStatuses"]["Master"]["active"] == 1
        assert obj["status"]["replicaStatuses"]["Worker"]["active"] == 1
        health = Interpreters().health(obj)
        assert health.phase == "Running" and health.healthy
    finally:
        await custom.delete_namespaced_custom_object(*KUBEFLOW, name)

    async def gone() -> bool:
        return not await pods_of(core, selector)

    await eventually(gone, timeout=40, what="pods garbage-collected with their job")
    services = await core.list_namespaced_service(NS, label_selector=selector)
    assert services.items == [] or all(s.metadata.deletion_timestamp for s in services.items)


async def test_inference_service_gets_a_ready_predictor(member_api: dict[str, Any]) -> None:
    api = member_api["member3"]
    custom, apps = k8s.CustomObjectsApi(api), k8s.AppsV1Api(api)
    core = k8s.CoreV1Api(api)
    name = f"chat-{uuid.uuid4().hex[:6]}"
    uri = "gs://gcs-a/models/chat/v1"
    await custom.create_namespaced_custom_object(*KSERVE, {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "labels": OURS},
        "spec": {"predictor": {
            "minReplicas": 1, "nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4"},
            "model": {"modelFormat": {"name": "huggingface"}, "storageUri": uri,
                      "resources": {"limits": {"nvidia.com/gpu": "1"}}}}}})
    try:
        async def ready() -> dict[str, Any] | None:
            obj: dict[str, Any] = await custom.get_namespaced_custom_object(*KSERVE, name)
            return obj if conditions(obj).get("Ready") == "True" else None

        obj = await eventually(ready, timeout=30, what="InferenceService Ready")
        assert conditions(obj)["PredictorReady"] == "True"
        assert obj["status"]["url"] == f"http://{name}.{NS}.example.com"
        assert Interpreters().health(obj).phase == "Ready"
        dep = await apps.read_namespaced_deployment(f"{name}-predictor", NS)
        assert dep.status.available_replicas == 1
        assert dep.metadata.owner_references[0].kind == "InferenceService"
        (pod,) = await pods_of(core, f"serving.kserve.io/inferenceservice={name}")
        assert pod.status.phase == "Running" and pod.spec.node_name == "member3-t4-0"
        assert pod.metadata.labels["fedctl.dev/binding"] == "default.sim"
        assert pod.spec.init_containers[0].args == [uri, "/mnt/models"]
        assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    finally:
        await custom.delete_namespaced_custom_object(*KSERVE, name)

    async def gone() -> bool:
        deps = await apps.list_namespaced_deployment(
            NS, label_selector=f"serving.kserve.io/inferenceservice={name}")
        return not deps.items

    await eventually(gone, timeout=40, what="predictor Deployment garbage-collected")


async def test_a_restarted_simulator_converges(local_fleet: LocalFleet,
                                               member_api: dict[str, Any]) -> None:
    """Kill the simulator (a crash), create a job meanwhile, start it again: the job is
    handled; a second restart changes nothing."""
    api = member_api["member2"]
    custom, core = k8s.CustomObjectsApi(api), k8s.CoreV1Api(api)
    procs.kill(local_fleet.operators("member2"))
    name = f"tf-{uuid.uuid4().hex[:6]}"
    worker = {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "tensorflow", "image": "registry.example/tf:1"}]}}}
    await custom.create_namespaced_custom_object(
        "kubeflow.org", "v1", NS, "tfjobs",
        {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": name},
         "spec": {"tfReplicaSpecs": {"Worker": worker}}})
    selector = f"training.kubeflow.org/job-name={name}"
    try:
        await asyncio.sleep(0.5)
        assert await pods_of(core, selector) == []  # no simulator, no pods
        rec = local_fleet.restart_operators("member2")
        assert local_fleet.load().cluster("member2").procs["operators"] == rec

        async def running() -> dict[str, Any] | None:
            obj: dict[str, Any] = await custom.get_namespaced_custom_object(
                "kubeflow.org", "v1", NS, "tfjobs", name)
            return obj if conditions(obj).get("Running") == "True" else None

        before = await eventually(running, timeout=30, what="TFJob Running after restart")
        pods = {p.metadata.name: p.metadata.uid for p in await pods_of(core, selector)}
        assert sorted(pods) == [f"{name}-worker-0", f"{name}-worker-1"]

        synced = _synced(Path(rec.log))
        again = local_fleet.restart_operators("member2")

        async def resynced() -> bool:
            return _synced(Path(again.log)) > synced

        await eventually(resynced, timeout=20, what="the second simulator synced")
        await asyncio.sleep(0.5)  # it reconciles everything right after syncing
        after = await custom.get_namespaced_custom_object("kubeflow.org", "v1", NS, "tfjobs",
                                                          name)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert {p.metadata.name: p.metadata.uid for p in await pods_of(core, selector)} == pods
        assert procs.alive(again)
    finally:
        await custom.delete_namespaced_custom_object("kubeflow.org", "v1", NS, "tfjobs", name)


def _synced(log: Path) -> int:
    """How often a simulator logging to ``log`` has synced its caches and started."""
    return log.read_text(errors="replace").count("simulating operators for")
