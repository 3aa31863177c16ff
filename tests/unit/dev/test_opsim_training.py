"""Simulated training-operator and mpi-operator: pods, labels, owners and status (pure)."""

from __future__ import annotations

import json
from typing import Any

from federation.dev.opsim.common import Plan, condition_true, merge_patch

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

H100 = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}


def replica(gpus: int, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"replicas": 1, **extra, "template": {
        "metadata": {"labels": {**(labels or {}), "team": "nlp"},
                     "annotations": {"note": "kept"}},
        "spec": {"nodeSelector": H100, "containers": [{
            "name": "pytorch", "image": "train:1",
            "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}}


def pytorchjob(workers: int = 1) -> dict[str, Any]:
    worker = replica(4, OURS)
    worker["replicas"] = workers
    return stored({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                   "metadata": {"name": "train", "labels": OURS},
                   "spec": {"pytorchReplicaSpecs": {
                       "Master": replica(4, OURS, restartPolicy="ExitCode"),
                       "Worker": worker}}})


def test_pytorchjob_pods_are_named_labelled_and_owned_like_the_operator() -> None:
    job = pytorchjob()
    plan = reconcile(job).plan
    assert named(plan.create, "Pod") == ["train-master-0", "train-worker-0"]
    assert named(plan.create, "Service") == ["train-master-0", "train-worker-0"]
    master = next(p for p in plan.create if p["metadata"]["name"] == "train-master-0")
    labels = master["metadata"]["labels"]
    # Every label of the template is kept, ours included, and the operator's are added.
    assert labels["fedctl.dev/binding"] == "ml.train"
    assert labels["app.kubernetes.io/managed-by"] == "fedctl"
    assert labels["team"] == "nlp"
    assert labels["training.kubeflow.org/job-name"] == "train"
    assert labels["training.kubeflow.org/replica-type"] == "master"
    assert labels["training.kubeflow.org/replica-index"] == "0"
    assert labels["training.kubeflow.org/job-role"] == "master"
    assert labels["training.kubeflow.org/operator-name"] == "pytorchjob-controller"
    assert master["metadata"]["annotations"] == {"note": "kept"}
    assert master["metadata"]["namespace"] == "ml"
    assert master["metadata"]["ownerReferences"] == [{
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "train",
        "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}]
    spec = master["spec"]
    assert spec["nodeSelector"] == H100
    assert spec["restartPolicy"] == "Never"  # ExitCode -> Never, as the operator does
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert env == {"MASTER_ADDR": "train-master-0", "MASTER_PORT": "23456",
                   "WORLD_SIZE": "2", "RANK": "0", "PYTHONUNBUFFERED": "1"}
    worker = next(p for p in plan.create if p["metadata"]["name"] == "train-worker-0")
    assert worker["spec"]["restartPolicy"] == "OnFailure"  # PyTorchJob's default
    assert {e["name"]: e["value"] for e in worker["spec"]["containers"][0]["env"]}[
        "RANK"] == "1"
    assert "training.kubeflow.org/job-role" not in worker["metadata"]["labels"]
    # The template in the custom resource is not modified.
    assert "env" not in job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"][
        "containers"][0]


def test_pytorchjob_status_created_then_running_then_succeeded() -> None:
    job = pytorchjob()
    first = reconcile(job)
    status = first.status
    assert [c["type"] for c in status["conditions"]] == ["Created"]
    assert status["conditions"][0]["reason"] == "PyTorchJobCreated"
    pods = [p for p in first.plan.create if p["kind"] == "Pod"]
    services = [c for c in first.plan.create if c["kind"] == "Service"]
    job = with_status(job, status)

    one_running = reconcile(job, observe(pod_in(pods[0], "Running"),
                                         pod_in(pods[1], "Pending")), now=LATER).status
    assert not condition_true(one_running, "Running")
    assert one_running["replicaStatuses"]["Master"]["active"] == 1
    assert "active" not in one_running["replicaStatuses"]["Worker"]

    running = reconcile(job, observe(*(pod_in(p, "Running") for p in pods), *services),
                        now=LATER)
    assert running.plan == Plan()  # everything exists: nothing to do
    st = running.status
    assert condition_true(st, "Running")
    assert st["replicaStatuses"]["Worker"]["active"] == 1
    assert st["replicaStatuses"]["Master"]["selector"] == (
        "training.kubeflow.org/job-name=train,training.kubeflow.org/operator-name="
        "pytorchjob-controller,training.kubeflow.org/replica-type=master")
    created = next(c for c in st["conditions"] if c["type"] == "Created")
    assert created["lastTransitionTime"] == NOW  # unchanged conditions keep their times
    health = INTERP.health(with_status(job, st))
    assert health.phase == "Running" and health.healthy

    job = with_status(job, st)
    again = reconcile(job, observe(*(pod_in(p, "Running") for p in pods)), now="2027-01-01")
    assert merge_patch(job["status"], again.status) is None  # converged: no write

    done = reconcile(job, observe(pod_in(pods[0], "Succeeded"), pod_in(pods[1], "Running")),
                     now=LATER).status
    assert condition_true(done, "Succeeded") and not condition_true(done, "Running")
    assert done["completionTime"] == LATER
    assert INTERP.health(with_status(job, done)).phase == "Succeeded"


def test_a_failed_pod_fails_the_job_and_finished_jobs_create_nothing() -> None:
    job = pytorchjob()
    pods = [p for p in reconcile(job).plan.create if p["kind"] == "Pod"]
    failed = reconcile(job, observe(pod_in(pods[0], "Failed"), pod_in(pods[1], "Running")))
    assert condition_true(failed.status, "Failed")
    assert INTERP.health(with_status(job, failed.status)).phase == "Failed"
    after = reconcile(with_status(job, failed.status))  # pods gone: not recreated
    assert after.plan.create == () and after.plan.delete == ()


def test_scale_down_deletes_the_highest_index() -> None:
    job = pytorchjob(workers=3)
    children = reconcile(job).plan.create
    smaller = pytorchjob(workers=1)
    plan = reconcile(smaller, observe(*children)).plan
    assert plan.create == ()
    assert named(plan.delete) == ["train-worker-1", "train-worker-1", "train-worker-2",
                                  "train-worker-2"]  # pod and service each


def test_tfjob_gets_tf_config_and_worker_zero_is_the_master_role() -> None:
    job = stored({"apiVersion": "kubeflow.org/v1", "kind": "TFJob",
                  "metadata": {"name": "tf"},
                  "spec": {"tfReplicaSpecs": {
                      "PS": {"replicas": 1, "template": {"spec": {"containers": [
                          {"name": "tensorflow", "image": "tf"}]}}},
                      "Worker": {"replicas": 2, "template": {"spec": {"containers": [
                          {"name": "tensorflow", "image": "tf"}]}}}}}})
    pods = {p["metadata"]["name"]: p for p in reconcile(job).plan.create if p["kind"] == "Pod"}
    assert sorted(pods) == ["tf-ps-0", "tf-worker-0", "tf-worker-1"]
    cfg = json.loads(pods["tf-worker-1"]["spec"]["containers"][0]["env"][0]["value"])
    assert cfg["task"] == {"type": "worker", "index": 1}
    assert cfg["cluster"]["ps"] == ["tf-ps-0.ml.svc:2222"]
    assert pods["tf-worker-0"]["metadata"]["labels"]["training.kubeflow.org/job-role"] == (
        "master")
    assert pods["tf-worker-0"]["spec"]["restartPolicy"] == "Never"  # TFJob's default


def test_a_replica_without_template_gets_no_pod() -> None:
    job = stored({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                  "metadata": {"name": "bare"},
                  "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1}}}})
    result = reconcile(job)
    assert result.plan.create == ()
    assert [c["type"] for c in result.status["conditions"]] == ["Created"]


def mpijob(clean: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"mpiReplicaSpecs": {
        "Launcher": {"replicas": 1, "template": {
            "metadata": {"labels": OURS},
            "spec": {"containers": [{"name": "launcher", "image": "mpi"}]}}},
        "Worker": {"replicas": 2, "template": {
            "metadata": {"labels": OURS},
            "spec": {"containers": [{"name": "worker", "image": "mpi", "resources": {
                "limits": {"nvidia.com/gpu": "1"}}}]}}}}}
    if clean:
        spec["runPolicy"] = {"cleanPodPolicy": clean}
    return stored({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob",
                   "metadata": {"name": "mpi"}, "spec": spec})


def test_mpijob_runs_workers_as_pods_and_the_launcher_as_a_job() -> None:
    job = mpijob()
    plan = reconcile(job).plan
    assert named(plan.create, "Pod") == ["mpi-worker-0", "mpi-worker-1"]
    (launcher,) = [c for c in plan.create if c["kind"] == "Job"]
    assert launcher["metadata"]["name"] == "mpi-launcher"
    assert launcher["apiVersion"] == "batch/v1"
    pod_labels = launcher["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["training.kubeflow.org/job-role"] == "launcher"
    assert pod_labels["fedctl.dev/binding"] == "ml.train"
    assert launcher["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    worker = next(c for c in plan.create if c["metadata"]["name"] == "mpi-worker-1")
    assert worker["spec"]["hostname"] == "mpi-worker-1"
    assert worker["spec"]["subdomain"] == "mpi"
    assert worker["metadata"]["labels"]["training.kubeflow.org/replica-index"] == "1"
    assert named(plan.create, "Service") == ["mpi"]


def test_mpijob_follows_its_launcher_and_cleans_workers_when_asked() -> None:
    job = mpijob(clean="Running")
    children = reconcile(job).plan.create
    workers = [pod_in(c, "Running") for c in children if c["kind"] == "Pod"]
    launcher = next(c for c in children if c["kind"] == "Job")
    running = reconcile(job, observe(*workers, job_done(launcher, "", active=1))).status
    assert condition_true(running, "Running")
    assert running["replicaStatuses"] == {"Launcher": {"active": 1}, "Worker": {"active": 2}}
    job = with_status(job, running)
    done = reconcile(job, observe(*workers, job_done(launcher)), now=LATER)
    assert condition_true(done.status, "Succeeded")
    assert INTERP.health(with_status(job, done.status)).phase == "Succeeded"
    finished = with_status(job, done.status)
    cleanup = reconcile(finished, observe(*workers, job_done(launcher))).plan
    assert named(cleanup.delete) == ["mpi-worker-0", "mpi-worker-1"]
    assert cleanup.create == ()
