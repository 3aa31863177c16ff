"""Demand extraction per workload kind (pure functions on dicts)."""

from __future__ import annotations

from typing import Any

import pytest

from federation.interpreters import DemandError, extract_demand, supported_kinds

GiB = 1024**3


def pod(gpu: int | None = None, cpu: str = "1", mem: str = "1Gi",
        selector: dict[str, str] | None = None) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if gpu is not None:
        limits["nvidia.com/gpu"] = gpu
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {
        "requests": {"cpu": cpu, "memory": mem}, "limits": limits}}]}
    if selector:
        spec["nodeSelector"] = selector
    return {"spec": spec}


REAL_API = {"PyTorchJob": "kubeflow.org/v1", "TFJob": "kubeflow.org/v1",
            "MPIJob": "kubeflow.org/v2beta1", "JobSet": "jobset.x-k8s.io/v1alpha2",
            "RayJob": "ray.io/v1", "RayCluster": "ray.io/v1",
            "InferenceService": "serving.kserve.io/v1beta1", "Job": "batch/v1",
            "Deployment": "apps/v1", "StatefulSet": "apps/v1"}


def obj(kind: str, spec: dict[str, Any], api: str | None = None) -> dict[str, Any]:
    return {"apiVersion": api or REAL_API.get(kind, "v1"), "kind": kind,
            "metadata": {"name": "w", "namespace": "ns", "labels": {"a": "b"}}, "spec": spec}


@pytest.mark.parametrize(("o", "expected"), [
    (obj("Deployment", {"replicas": 3, "template": pod(1)}, "apps/v1"),
     [("main", 3, 1, 1000, GiB)]),
    (obj("Deployment", {"template": pod()}, "apps/v1"), [("main", 1, 0, 1000, GiB)]),
    (obj("StatefulSet", {"replicas": 0, "template": pod(2)}, "apps/v1"),
     [("main", 0, 2, 1000, GiB)]),
    (obj("Job", {"parallelism": 4, "template": pod(1, "500m", "2Gi")}, "batch/v1"),
     [("main", 4, 1, 500, 2 * GiB)]),
    (obj("Pod", pod(1)["spec"]), [("main", 1, 1, 1000, GiB)]),
    (obj("PyTorchJob", {"pytorchReplicaSpecs": {
        "Master": {"replicas": 1, "template": pod(8)},
        "Worker": {"replicas": 3, "template": pod(8)}}}, "kubeflow.org/v1"),
     [("Master", 1, 8, 1000, GiB), ("Worker", 3, 8, 1000, GiB)]),
    (obj("TFJob", {"tfReplicaSpecs": {"PS": {"template": pod(None, "4")},
                                      "Worker": {"replicas": 2, "template": pod(1)}}},
         "kubeflow.org/v1"),
     [("PS", 1, 0, 4000, GiB), ("Worker", 2, 1, 1000, GiB)]),
    (obj("MPIJob", {"mpiReplicaSpecs": {"Launcher": {"template": pod()},
                                        "Worker": {"replicas": 2, "template": pod(8)}}},
         "kubeflow.org/v2beta1"),
     [("Launcher", 1, 0, 1000, GiB), ("Worker", 2, 8, 1000, GiB)]),
    (obj("JobSet", {"replicatedJobs": [{"name": "workers", "replicas": 2, "template": {
        "spec": {"parallelism": 4, "template": pod(8)}}}]}, "jobset.x-k8s.io/v1alpha2"),
     [("workers", 2, 8, 1000, GiB)]),  # 2 Jobs (of 4 pods each: pods_per_replica)
    (obj("InferenceService", {"predictor": {"minReplicas": 2, "model": {
        "storageUri": "s3://m/x", "resources": {"limits": {"nvidia.com/gpu": "1",
                                                           "memory": "16Gi"}}}}},
         "serving.kserve.io/v1beta1"),
     [("predictor", 2, 1, 0, 16 * GiB)]),
    (obj("RayCluster", {"headGroupSpec": {"template": pod()}, "workerGroupSpecs": [
        {"groupName": "gpu", "replicas": 4, "template": pod(1)}]}, "ray.io/v1"),
     [("head", 1, 0, 1000, GiB), ("gpu", 4, 1, 1000, GiB)]),
])
def test_components_per_kind(o: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    d = extract_demand(o)
    assert [(c.name, c.replicas, c.gpus, c.cpu_millis, c.memory_bytes)
            for c in d.components] == expected
    assert d.namespace == "ns" and d.labels == (("a", "b"),)


def test_init_containers_and_product_pin() -> None:
    spec = pod(1, selector={"nvidia.com/gpu.product": "NVIDIA-L4"})["spec"]
    spec["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "4"}}}]
    d = extract_demand(obj("Pod", spec))
    (c,) = d.components
    assert c.cpu_millis == 4000 and c.gpu_product == "L4-24GB"


def test_isvc_artifacts() -> None:
    d = extract_demand(obj("InferenceService", {"predictor": {"model": {
        "storageUri": "s3://m/x"}}}, "serving.kserve.io/v1beta1"))
    assert d.artifacts == ("s3://m/x",)
    assert d.group == "serving.kserve.io"


@pytest.mark.parametrize(("o", "path", "message"), [
    (obj("Deployment", {"replicas": -1, "template": pod()}, "apps/v1"), ("spec", "replicas"),
     "replicas must not be negative"),
    (obj("Deployment", {"replicas": "3", "template": pod()}, "apps/v1"), ("spec", "replicas"),
     "expected an integer"),
    (obj("Deployment", {"replicas": 1}, "apps/v1"), ("spec", "template"), "missing pod"),
    (obj("Deployment", {"template": pod(cpu="lots")}, "apps/v1"),
     ("spec", "template", "spec", "containers", 0, "resources", "requests", "cpu"),
     "invalid quantity"),
    (obj("CronTab", {}), ("kind",), "unsupported workload kind"),
    (obj("PyTorchJob", {}), ("spec", "pytorchReplicaSpecs"), "missing replica specs"),
    (obj("Pod", pod(selector={"nvidia.com/gpu.product": "X"})["spec"]),
     ("spec", "nodeSelector", "nvidia.com/gpu.product"), "unknown GPU product"),
    ({"kind": "Pod"}, (), "missing apiVersion or kind"),
    ([], (), "expected a Kubernetes object"),
])
def test_errors_name_the_field(o: Any, path: tuple[Any, ...], message: str) -> None:
    with pytest.raises(DemandError) as info:
        extract_demand(o)
    assert info.value.field_path == path
    assert message in str(info.value)


def test_supported_kinds() -> None:
    assert {"apps/Deployment", "kubeflow.org/PyTorchJob", "serving.kserve.io/InferenceService",
            "jobset.x-k8s.io/JobSet", "batch/Job", "batch.volcano.sh/Job",
            "trainer.kubeflow.org/TrainJob"} <= set(supported_kinds())
