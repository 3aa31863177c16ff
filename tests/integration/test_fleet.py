"""Acceptance of the local fleet on real processes: control planes, GPU nodes, faults."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client as k8s

from federation.dev import procs
from federation.dev.localfleet import FleetState, LocalFleet
from federation.dev.status import fleet_status

from .helpers import eventually

MEMBER_PRODUCTS = {
    "member1": "NVIDIA-H100-80GB-HBM3",
    "member2": "NVIDIA-L4",
    "member3": "Tesla-T4",
}


def gpu_pod(name: str, gpus: int, product: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{
            "name": "main",
            "image": "registry.example/infer:1",
            "resources": {"limits": {"nvidia.com/gpu": str(gpus)},
                          "requests": {"nvidia.com/gpu": str(gpus), "cpu": "1"}},
        }],
    }
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def test_hub_and_three_members_ready(fleet_state: FleetState) -> None:
    clusters, stores = await fleet_status(fleet_state)
    by_name = {c.name: c for c in clusters}
    assert set(by_name) == {"hub", "member1", "member2", "member3"}
    for c in clusters:
        assert c.state == "Ready", (c.name, c.processes, c.error)
    assert set(by_name["hub"].processes) == {"etcd", "apiserver"}
    assert set(by_name["member1"].processes) == {
        "etcd", "apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "operators"}
    assert by_name["member1"].gpus_total["NVIDIA-H100-80GB-HBM3"] == 8
    assert by_name["member2"].gpus_total == {"NVIDIA-A100-SXM4-80GB": 4, "NVIDIA-L4": 4}
    assert by_name["member3"].gpus_total == {"Tesla-T4": 1}
    assert {s.name: s.state for s in stores} == {
        "s3-a": "Ready", "gcs-a": "Ready", "disk-a": "Ready"}


async def test_nodes_carry_gpu_discovery_labels(member_api: dict[str, Any]) -> None:
    nodes = await k8s.CoreV1Api(member_api["member2"]).list_node(
        label_selector="nvidia.com/gpu.product=NVIDIA-L4")
    assert len(nodes.items) == 2
    for node in nodes.items:
        labels = node.metadata.labels
        assert labels["nvidia.com/gpu.count"] == "2"
        assert labels["nvidia.com/gpu.memory"] == "23034"
        assert node.status.allocatable["nvidia.com/gpu"] == "2"
        assert labels["topology.kubernetes.io/region"] == "us-east-1"


@pytest.mark.parametrize("member", sorted(MEMBER_PRODUCTS))
async def test_gpu_pod_lands_on_requested_product(member_api: dict[str, Any],
                                                  member: str) -> None:
    core = k8s.CoreV1Api(member_api[member])
    product = MEMBER_PRODUCTS[member]
    name = f"gpu-{uuid.uuid4().hex[:6]}"
    await core.create_namespaced_pod("default", gpu_pod(name, 1, product))

    async def running() -> Any:
        pod = await core.read_namespaced_pod(name, "default")
        return pod if pod.status.phase == "Running" else None

    pod = await eventually(running, timeout=60, what=f"{name} Running on {member}")
    node = await core.read_node(pod.spec.node_name)
    assert node.metadata.labels["nvidia.com/gpu.product"] == product
    await core.delete_namespaced_pod(name, "default", grace_period_seconds=0)


async def test_pod_asking_more_gpus_than_any_node_stays_pending(
        member_api: dict[str, Any]) -> None:
    core = k8s.CoreV1Api(member_api["member1"])
    name = f"too-big-{uuid.uuid4().hex[:6]}"
    await core.create_namespaced_pod("default", gpu_pod(name, 9, None))

    async def unschedulable() -> Any:
        pod = await core.read_namespaced_pod(name, "default")
        for cond in pod.status.conditions or []:
            if cond.type == "PodScheduled" and cond.status == "False":
                return pod
        return None

    pod = await eventually(unschedulable, timeout=60, what="PodScheduled=False")
    cond = next(c for c in pod.status.conditions if c.type == "PodScheduled")
    assert cond.reason == "Unschedulable"
    assert "nvidia.com/gpu" in cond.message
    await asyncio.sleep(2)
    pod = await core.read_namespaced_pod(name, "default")
    assert pod.status.phase == "Pending" and not pod.spec.node_name
    await core.delete_namespaced_pod(name, "default", grace_period_seconds=0)


async def test_job_completes(member_api: dict[str, Any]) -> None:
    batch = k8s.BatchV1Api(member_api["member2"])
    name = f"job-{uuid.uuid4().hex[:6]}"
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
            "containers": [{"name": "train", "image": "registry.example/train:1",
                            "resources": {"limits": {"nvidia.com/gpu": "2"}}}]}}},
    }
    await batch.create_namespaced_job("default", job)

    async def succeeded() -> Any:
        j = await batch.read_namespaced_job(name, "default")
        return j if (j.status.succeeded or 0) >= 1 else None

    j = await eventually(succeeded, timeout=90, what=f"job {name} succeeded")
    assert any(c.type == "Complete" and c.status == "True" for c in j.status.conditions)


async def test_hub_keeps_workloads_as_templates(member_api: dict[str, Any]) -> None:
    apps = k8s.AppsV1Api(member_api["hub"])
    name = f"tmpl-{uuid.uuid4().hex[:6]}"
    await apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "x"}]}}},
    })
    await asyncio.sleep(3)
    rs = await apps.list_namespaced_replica_set("default", label_selector=f"app={name}")
    assert rs.items == []  # no controller-manager on the hub
    d = await apps.read_namespaced_deployment(name, "default")
    assert not d.status.replicas


async def test_kill_and_restart_member_apiserver(local_fleet: LocalFleet,
                                                 fleet_state: FleetState) -> None:
    from federation.clusters.client import api_client

    kubeconfig = fleet_state.kubeconfig
    api = await api_client(kubeconfig, "member3")
    core = k8s.CoreV1Api(api)
    name = f"keep-{uuid.uuid4().hex[:6]}"
    try:
        await core.create_namespaced_config_map(
            "default", {"metadata": {"name": name}, "data": {"k": "v"}})
        local_fleet.kill_apiserver("member3")
        assert procs.state(local_fleet.load().cluster("member3").procs["apiserver"]) == "exited"
        with pytest.raises((aiohttp.ClientError, OSError)):
            await core.read_namespaced_config_map(name, "default", _request_timeout=3)
        clusters, _ = await fleet_status(local_fleet.load())
        assert {c.name: c.state for c in clusters}["member3"] == "Unreachable"

        await local_fleet.restart_apiserver("member3")
        cm = await eventually(lambda: core.read_namespaced_config_map(name, "default"),
                              timeout=30, what="configmap readable after restart")
        assert cm.data == {"k": "v"}
    finally:
        await api.close()


async def test_pause_and_resume_member_apiserver(local_fleet: LocalFleet,
                                                 fleet_state: FleetState) -> None:
    from federation.clusters.client import api_client

    api = await api_client(fleet_state.kubeconfig, "member2")
    core = k8s.CoreV1Api(api)
    try:
        local_fleet.pause_apiserver("member2")
        assert procs.state(fleet_state.cluster("member2").procs["apiserver"]) == "stopped"
        with pytest.raises(asyncio.TimeoutError):
            await core.list_namespace(_request_timeout=2)
        local_fleet.resume_apiserver("member2")
        ns = await eventually(lambda: core.list_namespace(_request_timeout=5), timeout=30,
                              what="apiserver answers after SIGCONT")
        assert any(n.metadata.name == "default" for n in ns.items)
    finally:
        local_fleet.resume_apiserver("member2")
        await api.close()


async def test_failed_start_leaves_no_process(tmp_path: Any) -> None:
    from federation.errors import FleetError
    from federation.fleet import load_fleet_file

    from .conftest import FLEET_FILE
    from .helpers import processes_under

    lf = LocalFleet(tmp_path / "fails", ready_timeout=0.05)
    with pytest.raises(FleetError, match="not ready after"):
        await lf.up(load_fleet_file(FLEET_FILE))
    await asyncio.sleep(0.2)
    assert processes_under(tmp_path / "fails") == []


async def test_second_up_on_a_running_fleet_is_refused(local_fleet: LocalFleet) -> None:
    from federation.errors import FleetError
    from federation.fleet import load_fleet_file

    from .conftest import FLEET_FILE

    with pytest.raises(FleetError, match="already running"):
        await LocalFleet(local_fleet.state_dir).up(load_fleet_file(FLEET_FILE))
    assert all(procs.alive(p) for p in local_fleet.load().all_procs()
               if p.name != "member3/apiserver")


async def test_workload_crds_installed_as_the_fleet_file_says(
        member_api: dict[str, Any]) -> None:
    async def groups(cluster: str) -> set[str]:
        found = await k8s.ApisApi(member_api[cluster]).get_api_versions()
        return {g.name for g in found.groups}

    hub, full, edge = await groups("hub"), await groups("member1"), await groups("member3")
    ai = {"kubeflow.org", "trainer.kubeflow.org", "serving.kserve.io", "jobset.x-k8s.io",
          "batch.volcano.sh", "ray.io"}
    assert ai <= hub and ai <= full
    assert "serving.kserve.io" in edge and "kubeflow.org" not in edge
    custom = k8s.CustomObjectsApi(member_api["member1"])
    name = f"pt-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1}}}}
    await custom.create_namespaced_custom_object("kubeflow.org", "v1", "default",
                                                 "pytorchjobs", body)
    got = await custom.get_namespaced_custom_object("kubeflow.org", "v1", "default",
                                                    "pytorchjobs", name)
    assert got["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] == 1

    async def crds(cluster: str) -> dict[str, Any]:
        ext = k8s.ApiextensionsV1Api(member_api[cluster])
        found = await ext.list_custom_resource_definition(
            label_selector="fedctl.dev/crd-source")
        return {c.metadata.name: c for c in found.items}

    hub_crds, m1, m2, m3 = (await crds("hub"), await crds("member1"), await crds("member2"),
                            await crds("member3"))
    assert set(m3) == {"inferenceservices.serving.kserve.io"}
    assert m3["inferenceservices.serving.kserve.io"].metadata.labels[
        "fedctl.dev/crd-source"] == "kserve-v0.16.0"
    assert set(m1) == set(m2) and len(m1) == 12  # 10 kinds + the 2 TrainingRuntime kinds

    def mpi(found: dict[str, Any]) -> list[tuple[str, bool]]:
        return [(v.name, v.storage) for v in found["mpijobs.kubeflow.org"].spec.versions]

    assert mpi(m1) == [("v1", True)] and mpi(m2) == [("v2beta1", True)]
    assert mpi(hub_crds) == [("v2beta1", True), ("v1", False)]
