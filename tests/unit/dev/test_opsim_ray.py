"""Simulated KubeRay: RayCluster pods, RayJob and RayService (pure)."""

from __future__ import annotations

from typing import Any

from federation.dev.opsim.common import condition_true, merge_patch

from .helpers import (
    INTERP,
    LATER,
    NOW,
    OURS,
    job_done,
    named,
    observe,
    pod_in,
    reconcile,
    stored,
    with_status,
)


def cluster_spec(workers: int = 2) -> dict[str, Any]:
    def template(name: str) -> dict[str, Any]:
        return {"metadata": {"labels": OURS},
                "spec": {"containers": [{"name": name, "image": "rayproject/ray:2.46.0",
                                         "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}

    return {"headGroupSpec": {"template": template("ray-head")},
            "workerGroupSpecs": [{"groupName": "gpu", "replicas": workers, "minReplicas": 1,
                                  "maxReplicas": 4, "template": template("ray-worker")}]}


def raycluster(workers: int = 2) -> dict[str, Any]:
    return stored({"apiVersion": "ray.io/v1", "kind": "RayCluster",
                   "metadata": {"name": "rc"}, "spec": cluster_spec(workers)})


def test_raycluster_pods_have_stable_names_and_kuberay_labels() -> None:
    plan = reconcile(raycluster()).plan
    pods = [c for c in plan.create if c["kind"] == "Pod"]
    assert named(reconcile(raycluster()).plan.create) == named(plan.create)  # stable
    head = next(p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head")
    assert head["metadata"]["name"].startswith("rc-head-")
    assert len(head["metadata"]["name"]) == len("rc-head-") + 5
    workers = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]
    assert len(workers) == 2 and all(p["metadata"]["name"].startswith("rc-gpu-worker-")
                                     for p in workers)
    labels = workers[0]["metadata"]["labels"]
    assert labels["ray.io/cluster"] == "rc" and labels["ray.io/group"] == "gpu"
    assert labels["fedctl.dev/binding"] == "ml.train"
    assert named(plan.create, "Service") == ["rc-head-svc"]
    other = reconcile(stored(raycluster(), uid="uid-2")).plan.create
    assert named(other, "Pod") != named(pods)  # a new cluster gets new names


def test_raycluster_becomes_ready_and_scales_down() -> None:
    obj = raycluster()
    children = reconcile(obj).plan.create
    pods = [c for c in children if c["kind"] == "Pod"]
    st = reconcile(obj, observe(pod_in(pods[0], "Running"))).status
    assert "state" not in st and st["readyWorkerReplicas"] == 0
    st = reconcile(obj, observe(*(pod_in(p, "Running") for p in pods))).status
    assert st["state"] == "ready" and st["readyWorkerReplicas"] == 2
    assert st["desiredGPU"] == "3" and st["desiredWorkerReplicas"] == 2
    assert st["head"]["serviceName"] == "rc-head-svc" and st["head"]["podIP"]
    assert condition_true(st, "RayClusterProvisioned") and condition_true(st, "HeadPodReady")
    assert INTERP.health(with_status(obj, st)).phase == "Ready"
    smaller = with_status(raycluster(workers=1), st)
    plan = reconcile(smaller, observe(*(pod_in(p, "Running") for p in pods))).plan
    assert len(plan.delete) == 1 and plan.create[0]["kind"] == "Service"


def rayjob() -> dict[str, Any]:
    return stored({"apiVersion": "ray.io/v1", "kind": "RayJob",
                   "metadata": {"name": "rj", "labels": OURS},
                   "spec": {"entrypoint": "python train.py", "shutdownAfterJobFinishes": True,
                            "rayClusterSpec": cluster_spec(1)}})


def test_rayjob_cluster_then_submitter_then_succeeded_then_shutdown() -> None:
    obj = rayjob()
    first = reconcile(obj)
    (cluster,) = first.plan.create
    assert cluster["kind"] == "RayCluster" and cluster["metadata"]["name"].startswith("rj-")
    assert cluster["metadata"]["labels"]["fedctl.dev/binding"] == "ml.train"
    assert cluster["metadata"]["labels"]["ray.io/originated-from-crd"] == "RayJob"
    st = first.status
    assert st["jobDeploymentStatus"] == "Initializing" and "jobStatus" not in st
    assert st["rayClusterName"] == cluster["metadata"]["name"]
    assert INTERP.health(with_status(obj, st)).phase == "Pending"
    obj = with_status(obj, st)

    ready = {**cluster, "status": {"state": "ready"}}
    second = reconcile(obj, observe(ready))
    (submitter,) = second.plan.create
    assert (submitter["kind"], submitter["metadata"]["name"]) == ("Job", "rj")
    command = submitter["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["ray", "job", "submit"] and command[-1] == "python train.py"
    obj = with_status(obj, second.status)
    running = reconcile(obj, observe(ready, job_done(submitter, "", active=1))).status
    assert (running["jobDeploymentStatus"], running["jobStatus"]) == ("Running", "RUNNING")
    assert INTERP.health(with_status(obj, running)).phase == "Running"
    obj = with_status(obj, running)

    done = reconcile(obj, observe(ready, job_done(submitter)), now=LATER)
    assert (done.status["jobDeploymentStatus"], done.status["jobStatus"]) == (
        "Complete", "SUCCEEDED")
    assert done.status["endTime"] == LATER
    assert INTERP.health(with_status(obj, done.status)).phase == "Succeeded"
    assert [c["kind"] for c in done.plan.delete] == ["RayCluster"]  # ttl 0: shut down


def test_rayjob_keeps_the_cluster_until_its_ttl() -> None:
    obj = rayjob()
    obj["spec"]["ttlSecondsAfterFinished"] = 600
    name = reconcile(obj).status["rayClusterName"]
    cluster = {"apiVersion": "ray.io/v1", "kind": "RayCluster",
               "metadata": {"name": name}, "status": {"state": "ready"}}
    finished = with_status(obj, {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED",
                                 "endTime": NOW, "rayClusterName": name})
    soon = reconcile(finished, observe(cluster), now=LATER)
    assert soon.plan.delete == () and soon.requeue_after == 300.0
    late = reconcile(finished, observe(cluster), now="2026-11-23T10:10:01Z")
    assert [c["kind"] for c in late.plan.delete] == ["RayCluster"]


def test_rayservice_ready_with_its_cluster() -> None:
    obj = stored({"apiVersion": "ray.io/v1", "kind": "RayService",
                  "metadata": {"name": "rs"},
                  "spec": {"rayClusterConfig": cluster_spec(1)}})
    first = reconcile(obj)
    assert sorted(c["kind"] for c in first.plan.create) == ["RayCluster", "Service"]
    cluster = next(c for c in first.plan.create if c["kind"] == "RayCluster")
    assert cluster["metadata"]["name"].startswith("rs-raycluster-")
    assert not condition_true(first.status, "Ready")
    obj = with_status(obj, first.status)
    st = reconcile(obj, observe({**cluster, "status": {"state": "ready"}})).status
    assert condition_true(st, "Ready") and st["serviceStatus"] == "Running"
    assert st["activeServiceStatus"]["rayClusterName"] == cluster["metadata"]["name"]
    assert merge_patch(st, reconcile(with_status(obj, st), observe(
        {**cluster, "status": {"state": "ready"}}), now=LATER).status) is None
