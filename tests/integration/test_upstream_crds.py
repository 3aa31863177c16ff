"""The operators' own CRDs on the local fleet: real schemas, and simulator status that fits.

One upstream-style example of each AI kind is created on a member. The real schema keeps
the fields it knows (and applies its defaults) and prunes a bogus one; the operator
simulator's status is read back to check that every field it writes survives pruning.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client as k8s

from federation.dev.upstream import CRD_LABEL

from .helpers import eventually

NS = "default"
BOGUS = "fedctlBogusField"
IMAGE = "registry.example/train:1"
SMALL = {"requests": {"cpu": "100m", "memory": "128Mi"}}

Check = Callable[[dict[str, Any]], bool]


def container(name: str, image: str = IMAGE) -> dict[str, Any]:
    return {"name": name, "image": image, "command": ["sleep", "1"], "resources": SMALL}


def pod_template(name: str, **spec: Any) -> dict[str, Any]:
    return {"spec": {"containers": [container(name)], **spec}}


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status_of(obj).get("conditions") or []}


async def roundtrip(api: Any, group: str, version: str, plural: str, body: dict[str, Any],
                    kept: Callable[[dict[str, Any]], Any], done: Check,
                    timeout: float = 60) -> dict[str, Any]:
    """Create ``body`` (plus a bogus spec field): the schema keeps ``kept(spec)`` (truthy)
    and prunes the bogus field; then wait until ``done`` holds for the object read back."""
    custom = k8s.CustomObjectsApi(api)
    name = f"{body['kind'].lower()}-{uuid.uuid4().hex[:6]}"
    body = {**body, "apiVersion": f"{group}/{version}",
            "metadata": {"name": name, "namespace": NS},
            "spec": {**body["spec"], BOGUS: 1}}
    created = await custom.create_namespaced_custom_object(group, version, NS, plural, body)
    try:
        assert BOGUS not in created["spec"], "the real schema prunes unknown fields"
        assert kept(created["spec"]), f"a field of the real schema was lost: {created['spec']}"

        async def read() -> dict[str, Any] | None:
            obj: dict[str, Any] = await custom.get_namespaced_custom_object(
                group, version, NS, plural, name)
            return obj if done(obj) else None

        return await eventually(read, timeout=timeout, what=f"{body['kind']} {name} status")
    finally:
        await custom.delete_namespaced_custom_object(group, version, NS, plural, name)


def replica_spec(container_name: str, replicas: int = 1,
                 restart: str = "OnFailure") -> dict[str, Any]:
    return {"replicas": replicas, "restartPolicy": restart,
            "template": pod_template(container_name)}


def kubeflow_v1_status(obj: dict[str, Any], types: set[str]) -> None:
    st = status_of(obj)
    assert set(st) >= {"conditions", "replicaStatuses", "startTime"}, st
    assert set(st["replicaStatuses"]) == types
    for c in st["conditions"]:
        assert set(c) == {"type", "status", "reason", "message", "lastTransitionTime",
                          "lastUpdateTime"}, c


async def test_pytorchjob_and_tfjob(member_api: dict[str, Any]) -> None:
    api = member_api["member2"]
    obj = await roundtrip(
        api, "kubeflow.org", "v1", "pytorchjobs",
        {"kind": "PyTorchJob", "spec": {
            "runPolicy": {"cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": {"Master": replica_spec("pytorch"),
                                    "Worker": replica_spec("pytorch")}}},
        kept=lambda s: s["runPolicy"]["cleanPodPolicy"] == "None",
        done=lambda o: conditions(o).get("Running") == "True")
    kubeflow_v1_status(obj, {"Master", "Worker"})
    assert obj["status"]["replicaStatuses"]["Master"]["active"] == 1
    assert "training.kubeflow.org/job-name=" in obj["status"]["replicaStatuses"]["Master"][
        "selector"]

    obj = await roundtrip(
        api, "kubeflow.org", "v1", "tfjobs",
        {"kind": "TFJob", "spec": {"tfReplicaSpecs": {
            "PS": replica_spec("tensorflow", restart="Never"),
            "Worker": replica_spec("tensorflow", 2, restart="Never")}}},
        kept=lambda s: s["tfReplicaSpecs"]["Worker"]["replicas"] == 2,
        done=lambda o: conditions(o).get("Running") == "True")
    kubeflow_v1_status(obj, {"PS", "Worker"})
    assert obj["status"]["replicaStatuses"]["Worker"]["active"] == 2


def mpi_spec() -> dict[str, Any]:
    return {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": "Running"},
            "mpiReplicaSpecs": {"Launcher": replica_spec("mpi-launcher"),
                                "Worker": replica_spec("mpi-worker", 2, "Never")}}


@pytest.mark.parametrize(("member", "version", "extra"), [
    ("member1", "v1", {}),
    ("member2", "v2beta1", {"mpiImplementation": "OpenMPI", "sshAuthMountPath": "/root/.ssh"}),
])
async def test_mpijob_at_the_members_version(member_api: dict[str, Any], member: str,
                                             version: str, extra: dict[str, Any]) -> None:
    api = member_api[member]
    crd = await k8s.ApiextensionsV1Api(api).read_custom_resource_definition(
        "mpijobs.kubeflow.org")
    assert [v.name for v in crd.spec.versions] == [version]
    assert crd.metadata.labels[CRD_LABEL] == (
        "training-operator-v1.9.3" if version == "v1" else "mpi-operator-v0.6.0")
    obj = await roundtrip(
        api, "kubeflow.org", version, "mpijobs",
        {"kind": "MPIJob", "spec": {**mpi_spec(), **extra}},
        kept=lambda s: s["slotsPerWorker"] == 1 and all(s.get(k) == v
                                                        for k, v in extra.items()),
        done=lambda o: conditions(o).get("Succeeded") == "True", timeout=90)
    kubeflow_v1_status(obj, {"Launcher", "Worker"})
    assert obj["status"]["replicaStatuses"]["Launcher"] == {"succeeded": 1}
    assert obj["status"]["completionTime"]


async def test_hub_serves_mpijob_at_both_versions(member_api: dict[str, Any]) -> None:
    custom = k8s.CustomObjectsApi(member_api["hub"])
    name = f"mpi-{uuid.uuid4().hex[:6]}"
    await custom.create_namespaced_custom_object("kubeflow.org", "v1", NS, "mpijobs", {
        "apiVersion": "kubeflow.org/v1", "kind": "MPIJob",
        "metadata": {"name": name}, "spec": mpi_spec()})
    try:
        as_v2 = await custom.get_namespaced_custom_object("kubeflow.org", "v2beta1", NS,
                                                          "mpijobs", name)
        assert as_v2["apiVersion"] == "kubeflow.org/v2beta1"
        assert as_v2["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 2
        assert as_v2["spec"]["runPolicy"]["cleanPodPolicy"] == "Running"
    finally:
        await custom.delete_namespaced_custom_object("kubeflow.org", "v1", NS, "mpijobs",
                                                     name)


async def test_trainjob_runs_through_a_jobset(member_api: dict[str, Any]) -> None:
    api = member_api["member2"]
    found = await k8s.CustomObjectsApi(api).get_api_resources("trainer.kubeflow.org",
                                                              "v1alpha1")
    assert {r.name for r in found.resources if "/" not in r.name} == {
        "trainjobs", "trainingruntimes", "clustertrainingruntimes"}
    obj = await roundtrip(
        api, "trainer.kubeflow.org", "v1alpha1", "trainjobs",
        {"kind": "TrainJob", "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {"numNodes": 2, "image": IMAGE, "command": ["torchrun", "t.py"],
                        "resourcesPerNode": SMALL},
            "podTemplateOverrides": [{"targetJobs": [{"name": "node"}],
                                      "metadata": {"labels": {"tier": "train"}}}]}},
        kept=lambda s: s["runtimeRef"] == {"name": "torch-distributed",
                                           "apiGroup": "trainer.kubeflow.org",
                                           "kind": "ClusterTrainingRuntime"},
        done=lambda o: conditions(o).get("Complete") == "True", timeout=90)
    st = obj["status"]
    assert set(st) == {"conditions", "jobsStatus"}, st
    (node,) = st["jobsStatus"]
    assert node == {"name": "node", "ready": 0, "succeeded": 1, "failed": 0, "active": 0,
                    "suspended": 0}
    (complete,) = st["conditions"]
    assert complete["reason"] == "AllJobsCompleted" and complete["message"]


async def test_jobset(member_api: dict[str, Any]) -> None:
    obj = await roundtrip(
        member_api["member2"], "jobset.x-k8s.io", "v1alpha2", "jobsets",
        {"kind": "JobSet", "spec": {
            "failurePolicy": {"maxRestarts": 0},
            "replicatedJobs": [{"name": "workers", "replicas": 2, "template": {"spec": {
                "parallelism": 1, "completions": 1, "backoffLimit": 0,
                "template": pod_template("worker", restartPolicy="Never")}}}]}},
        kept=lambda s: s["failurePolicy"] == {"maxRestarts": 0,
                                              "restartStrategy": "Recreate"},  # a default
        done=lambda o: status_of(o).get("terminalState") == "Completed", timeout=90)
    st = obj["status"]
    assert set(st) == {"replicatedJobsStatus", "restarts", "conditions", "terminalState"}
    assert st["replicatedJobsStatus"] == [{"name": "workers", "ready": 0, "succeeded": 2,
                                           "failed": 0, "active": 0, "suspended": 0}]
    assert conditions(obj) == {"Completed": "True"}


async def test_volcano_job(member_api: dict[str, Any]) -> None:
    obj = await roundtrip(
        member_api["member2"], "batch.volcano.sh", "v1alpha1", "jobs",
        {"kind": "Job", "spec": {
            "schedulerName": "volcano", "minAvailable": 2,
            "policies": [{"event": "PodEvicted", "action": "RestartJob"}],
            "plugins": {"ssh": [], "svc": [], "env": []},
            "tasks": [{"name": "worker", "replicas": 2,
                       "template": pod_template("worker", restartPolicy="Never")}]}},
        kept=lambda s: s["plugins"]["svc"] == [] and s["maxRetry"] == 3
        and s["queue"] == "default",  # defaults of Volcano's types
        done=lambda o: (status_of(o).get("state") or {}).get("phase") == "Completed",
        timeout=90)
    st = obj["status"]
    assert set(st) == {"state", "minAvailable", "pending", "running", "succeeded", "failed",
                       "taskStatusCount", "version", "retryCount", "conditions"}, st
    assert st["succeeded"] == 2 and st["taskStatusCount"] == {"worker": {
        "phase": {"Succeeded": 2}}}
    assert set(st["state"]) == {"phase", "lastTransitionTime"}
    assert st["conditions"][-1]["status"] == "Completed"


def ray_cluster_spec() -> dict[str, Any]:
    return {"rayVersion": "2.46.0",
            "headGroupSpec": {"rayStartParams": {"dashboard-host": "0.0.0.0"},
                              "template": pod_template("ray-head")},
            "workerGroupSpecs": [{"groupName": "small", "replicas": 1, "minReplicas": 1,
                                  "maxReplicas": 2, "rayStartParams": {},
                                  "template": pod_template("ray-worker")}]}


CLUSTER_STATUS = {"readyWorkerReplicas", "availableWorkerReplicas", "desiredWorkerReplicas",
                  "minWorkerReplicas", "maxWorkerReplicas", "desiredGPU", "endpoints", "head",
                  "observedGeneration", "state", "conditions"}


async def test_rayjob_and_its_raycluster(member_api: dict[str, Any]) -> None:
    api = member_api["member2"]
    obj = await roundtrip(
        api, "ray.io", "v1", "rayjobs",
        {"kind": "RayJob", "spec": {"entrypoint": "python /home/ray/samples/sample.py",
                                    "shutdownAfterJobFinishes": False,
                                    "rayClusterSpec": ray_cluster_spec()}},
        kept=lambda s: s["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplicas"] == 2
        and s["submissionMode"] == "K8sJobMode",  # defaulted by the schema
        done=lambda o: status_of(o).get("jobDeploymentStatus") == "Complete", timeout=90)
    st = obj["status"]
    assert set(st) == {"jobId", "rayClusterName", "dashboardURL", "startTime", "endTime",
                       "observedGeneration", "jobDeploymentStatus", "jobStatus", "message",
                       "rayClusterStatus", "succeeded", "failed"}, st
    assert st["jobStatus"] == "SUCCEEDED"
    assert (st["succeeded"], st["failed"]) == (1, 0)
    assert set(st["rayClusterStatus"]) == CLUSTER_STATUS
    assert st["rayClusterStatus"]["state"] == "ready"
    cluster = await k8s.CustomObjectsApi(api).get_namespaced_custom_object(
        "ray.io", "v1", NS, "rayclusters", st["rayClusterName"])
    assert set(cluster["status"]) == CLUSTER_STATUS
    assert conditions(cluster) == {"HeadPodReady": "True", "RayClusterProvisioned": "True"}


async def test_rayservice(member_api: dict[str, Any]) -> None:
    obj = await roundtrip(
        member_api["member2"], "ray.io", "v1", "rayservices",
        {"kind": "RayService", "spec": {
            "serveConfigV2": "applications:\n  - name: app\n    import_path: m:app\n",
            "rayClusterConfig": ray_cluster_spec()}},
        kept=lambda s: s["serveConfigV2"].startswith("applications"),
        done=lambda o: conditions(o).get("Ready") == "True", timeout=90)
    st = obj["status"]
    assert set(st) == {"conditions", "activeServiceStatus", "numServeEndpoints",
                       "observedGeneration", "serviceStatus"}, st
    assert st["serviceStatus"] == "Running" and st["numServeEndpoints"] == 1
    assert set(st["activeServiceStatus"]) == {"rayClusterName", "rayClusterStatus"}
    assert set(st["activeServiceStatus"]["rayClusterStatus"]) == CLUSTER_STATUS


async def test_inference_service(member_api: dict[str, Any]) -> None:
    obj = await roundtrip(
        member_api["member3"], "serving.kserve.io", "v1beta1", "inferenceservices",
        {"kind": "InferenceService", "spec": {"predictor": {
            "minReplicas": 1,
            "model": {"modelFormat": {"name": "sklearn"},
                      "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                      "resources": SMALL}}}},
        kept=lambda s: s["predictor"]["model"]["modelFormat"] == {"name": "sklearn"},
        done=lambda o: conditions(o).get("Ready") == "True")
    st = obj["status"]
    assert set(st) == {"conditions", "components", "deploymentMode", "observedGeneration",
                       "modelStatus", "url", "address"}, st
    assert conditions(obj) == {"PredictorReady": "True", "IngressReady": "True",
                               "Ready": "True"}
    assert set(st["components"]["predictor"]) == {"url", "address"}
    assert st["address"]["url"].startswith("http://")
    assert st["modelStatus"]["states"]["activeModelState"] == "Loaded"
