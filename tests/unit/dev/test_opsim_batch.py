"""Simulated JobSet, Volcano and Kubeflow Trainer controllers (pure)."""

from __future__ import annotations

from typing import Any

from federation.dev.opsim.common import condition_true

from .helpers import (
    ALL_SERVED,
    INTERP,
    OURS,
    job_done,
    named,
    observe,
    pod_in,
    reconcile,
    stored,
    with_status,
)


def jobset() -> dict[str, Any]:
    def rjob(name: str, replicas: int) -> dict[str, Any]:
        return {"name": name, "replicas": replicas, "template": {
            "metadata": {"labels": {"rj": name}},
            "spec": {"parallelism": 2, "completions": 2, "template": {
                "metadata": {"labels": OURS},
                "spec": {"containers": [{"name": "c", "image": "x"}]}}}}}

    return stored({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                   "metadata": {"name": "js"},
                   "spec": {"replicatedJobs": [rjob("driver", 1), rjob("workers", 2)]}})


def test_jobset_creates_one_job_per_replica_with_jobset_labels() -> None:
    plan = reconcile(jobset()).plan
    assert named(plan.create, "Job") == ["js-driver-0", "js-workers-0", "js-workers-1"]
    assert named(plan.create, "Service") == ["js"]
    job = next(c for c in plan.create if c["metadata"]["name"] == "js-workers-1")
    labels = job["metadata"]["labels"]
    assert labels["rj"] == "workers"
    assert labels["jobset.sigs.k8s.io/jobset-name"] == "js"
    assert labels["jobset.sigs.k8s.io/replicatedjob-name"] == "workers"
    assert labels["jobset.sigs.k8s.io/job-index"] == "1"
    assert labels["jobset.sigs.k8s.io/job-global-index"] == "2"
    assert labels["jobset.sigs.k8s.io/global-replicas"] == "3"
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["fedctl.dev/binding"] == "ml.train"
    assert pod["metadata"]["labels"]["jobset.sigs.k8s.io/job-index"] == "1"
    assert pod["spec"]["subdomain"] == "js"
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert job["spec"]["parallelism"] == 2 and job["spec"]["suspend"] is False


def test_jobset_status_counts_jobs_and_completes() -> None:
    obj = jobset()
    jobs = [c for c in reconcile(obj).plan.create if c["kind"] == "Job"]
    running = reconcile(obj, observe(*(job_done(j, "", active=2) for j in jobs))).status
    assert "conditions" not in running  # the JobSet controller writes none while running
    workers = next(s for s in running["replicatedJobsStatus"] if s["name"] == "workers")
    assert workers == {"name": "workers", "ready": 0, "succeeded": 0, "failed": 0,
                       "active": 2, "suspended": 0}
    done = reconcile(obj, observe(*(job_done(j) for j in jobs))).status
    assert condition_true(done, "Completed") and done["terminalState"] == "Completed"
    assert INTERP.health(with_status(obj, done)).phase == "Succeeded"
    failed = reconcile(obj, observe(job_done(jobs[0], "Failed"))).status
    assert condition_true(failed, "Failed")
    assert INTERP.health(with_status(obj, failed)).phase == "Failed"


def volcano_job() -> dict[str, Any]:
    def task(name: str, replicas: int) -> dict[str, Any]:
        return {"name": name, "replicas": replicas, "template": {
            "metadata": {"labels": OURS},
            "spec": {"schedulerName": "volcano", "restartPolicy": "Never",
                     "containers": [{"name": name, "image": "tf"}]}}}

    return stored({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
                   "metadata": {"name": "vc"},
                   "spec": {"schedulerName": "volcano", "minAvailable": 3, "queue": "q1",
                            "tasks": [task("ps", 1), task("worker", 2)]}})


def test_volcano_pods_go_to_kube_scheduler_and_status_follows_them() -> None:
    obj = volcano_job()
    pods = [c for c in reconcile(obj).plan.create]
    assert named(pods) == ["vc-ps-0", "vc-worker-0", "vc-worker-1"]
    pod = pods[1]
    assert "schedulerName" not in pod["spec"]
    assert pod["metadata"]["labels"]["fedctl.dev/binding"] == "ml.train"
    assert pod["metadata"]["labels"]["volcano.sh/job-name"] == "vc"
    assert pod["metadata"]["labels"]["volcano.sh/queue-name"] == "q1"
    assert pod["metadata"]["labels"]["volcano.sh/task-spec"] == "worker"
    assert pod["metadata"]["annotations"]["scheduling.k8s.io/group-name"] == "vc-uid-1"
    assert pod["metadata"]["ownerReferences"][0]["apiVersion"] == "batch.volcano.sh/v1alpha1"

    pending = reconcile(obj, observe(pod_in(pods[0], "Running"))).status
    assert pending["state"]["phase"] == "Pending"
    obj = with_status(obj, pending)
    running = reconcile(obj, observe(*(pod_in(p, "Running") for p in pods))).status
    assert running["state"]["phase"] == "Running" and running["running"] == 3
    assert running["taskStatusCount"]["worker"] == {"phase": {"Running": 2}}
    assert [c["status"] for c in running["conditions"]] == ["Pending", "Running"]
    assert INTERP.health(with_status(obj, running)).phase == "Running"
    obj = with_status(obj, running)
    done = reconcile(obj, observe(*(pod_in(p, "Succeeded") for p in pods))).status
    assert done["state"]["phase"] == "Completed"
    assert INTERP.health(with_status(obj, done)).phase == "Succeeded"


def trainjob() -> dict[str, Any]:
    return stored({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                   "metadata": {"name": "tj", "labels": OURS},
                   "spec": {"runtimeRef": {"name": "torch-distributed"},
                            "labels": {"team": "nlp"},
                            "trainer": {"numNodes": 2, "image": "pytorch:1",
                                        "command": ["torchrun", "train.py"],
                                        "resourcesPerNode": {"limits": {
                                            "nvidia.com/gpu": "8"}}},
                            "podTemplateOverrides": [{
                                "targetJobs": [{"name": "node"}],
                                "metadata": {"labels": {"tier": "gpu"}},
                                "spec": {"nodeSelector": {
                                    "nvidia.com/gpu.product": "H100"}}}]}})


def test_trainjob_runs_as_a_jobset_and_mirrors_its_status() -> None:
    obj = trainjob()
    (js,) = reconcile(obj).plan.create
    assert (js["kind"], js["metadata"]["name"]) == ("JobSet", "tj")
    assert js["metadata"]["labels"] == {"team": "nlp"}
    (rjob,) = js["spec"]["replicatedJobs"]
    assert rjob["name"] == "node"
    job_spec = rjob["template"]["spec"]
    assert (job_spec["parallelism"], job_spec["completions"]) == (2, 2)
    pod = job_spec["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "H100"}
    assert job_spec["template"]["metadata"]["labels"] == {
        "tier": "gpu", "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
    (container,) = pod["containers"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "8"}}
    assert container["command"] == ["torchrun", "train.py"]
    # Without the JobSet kind on the member, nothing can run (as with the real trainer).
    assert reconcile(obj, served=ALL_SERVED - {"jobset.x-k8s.io/JobSet"}).plan.create == ()

    js_running = {**js, "status": {"replicatedJobsStatus": [
        {"name": "node", "ready": 1, "active": 1, "succeeded": 0, "failed": 0,
         "suspended": 0}]}}
    running = reconcile(obj, observe(js_running)).status
    assert running["jobsStatus"][0]["active"] == 1 and "conditions" not in running
    js_done = {**js, "status": {"conditions": [{
        "type": "Completed", "status": "True", "reason": "AllJobsCompleted",
        "message": "jobset completed successfully"}]}}
    done = reconcile(obj, observe(js_done)).status
    assert condition_true(done, "Complete")
    assert INTERP.health(with_status(obj, done)).phase == "Succeeded"
