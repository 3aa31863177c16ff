"""The hub template's status, aggregated from the members' copies in each kind's own
status fields (the shapes the upstream operators write), so the hub's object reads like
one cluster's."""

from __future__ import annotations

from typing import Any

from federation.interpreters.interpreter import Interpreters

INTERP = Interpreters()
T0, T1, T2 = "2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z", "2026-12-01T11:00:00Z"


def obj(api: str, kind: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": api, "kind": kind,
                           "metadata": {"name": "x", "namespace": "ml"}, "spec": {}}
    if status is not None:
        out["status"] = status
    return out


def cond(ctype: str, status: str = "True", message: str = "", at: str = T0,
         reason: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": reason or ctype, "message": message,
            "lastUpdateTime": at, "lastTransitionTime": at}


def kubeflow_status(active: int, succeeded: int = 0, failed: int = 0, *,
                    conditions: list[dict[str, Any]], start: str = T0,
                    done: str | None = None) -> dict[str, Any]:
    """training-operator's JobStatus (PyTorchJob v1)."""
    out: dict[str, Any] = {
        "conditions": conditions,
        "replicaStatuses": {
            "Master": {"active": 1 if active else 0, "succeeded": 1 if succeeded else 0,
                       "labelSelector": {"matchLabels": {"training.kubeflow.org/job-name": "x",
                                                         "training.kubeflow.org/replica-type":
                                                             "master"}}},
            "Worker": {"active": active, "succeeded": succeeded, "failed": failed,
                       "labelSelector": {"matchLabels": {"training.kubeflow.org/job-name": "x",
                                                         "training.kubeflow.org/replica-type":
                                                             "worker"}}}},
        "startTime": start, "lastReconcileTime": T1}
    if done:
        out["completionTime"] = done
    return out


PT = ("kubeflow.org/v1", "PyTorchJob")


def test_a_single_copy_reads_exactly_like_the_member() -> None:
    status = kubeflow_status(3, conditions=[cond("Created", message="created"),
                                            cond("Running", message="running")])
    agg = INTERP.aggregate(obj(*PT), {"m1": obj(*PT, status)})
    assert agg == {k: v for k, v in status.items() if k != "lastReconcileTime"}


def test_kubeflow_jobs_sum_replica_statuses_and_merge_conditions() -> None:
    running = obj(*PT, kubeflow_status(2, conditions=[cond("Created"),
                                                      cond("Running", message="running")]))
    done = obj(*PT, kubeflow_status(0, 2, conditions=[
        cond("Created"), cond("Running", "False", at=T1),
        cond("Succeeded", message="PyTorchJob x is successfully completed.", at=T2)],
        start=T1, done=T2))
    agg = INTERP.aggregate(obj(*PT), {"m2": done, "m1": running})
    assert agg["replicaStatuses"]["Worker"]["active"] == 2
    assert agg["replicaStatuses"]["Worker"]["succeeded"] == 2
    assert agg["replicaStatuses"]["Master"] == {
        "active": 1, "succeeded": 1,
        "labelSelector": {"matchLabels": {"training.kubeflow.org/job-name": "x",
                                          "training.kubeflow.org/replica-type": "master"}}}
    assert agg["startTime"] == T0 and "completionTime" in agg
    assert agg["completionTime"] is None  # m1 still runs: not complete
    by_type = {c["type"]: c for c in agg["conditions"]}
    assert by_type["Succeeded"]["status"] == "False"  # needs every copy
    assert by_type["Succeeded"]["message"].startswith("m1: ")
    assert by_type["Succeeded"]["message"].endswith("(1/2 clusters Succeeded)")
    assert by_type["Running"]["status"] == "True"  # m1 runs
    assert by_type["Created"]["status"] == "True"
    # kubectl's STATE column reads the last condition: the most advanced true one
    assert agg["conditions"][-1]["type"] == "Running"
    assert INTERP.health({**obj(*PT), "status": agg}).phase == "Running"


def test_one_failed_copy_fails_the_job_and_all_succeeded_completes_it() -> None:
    failed = obj(*PT, kubeflow_status(0, failed=1, conditions=[
        cond("Created"), cond("Running", "False"),
        cond("Failed", message="job x has failed because 1 Worker replica(s) failed.",
             at=T1)], done=T1))
    running = obj(*PT, kubeflow_status(2, conditions=[cond("Created"), cond("Running")]))
    agg = INTERP.aggregate(obj(*PT), {"m1": running, "m2": failed})
    assert agg["conditions"][-1]["type"] == "Failed"
    assert agg["conditions"][-1]["status"] == "True"
    assert agg["conditions"][-1]["message"].startswith("m2: job x has failed")
    assert INTERP.health({**obj(*PT), "status": agg}).phase == "Failed"

    ok = [obj(*PT, kubeflow_status(0, 1, conditions=[
        cond("Created"), cond("Running", "False"), cond("Succeeded", at=at)], done=at))
        for at in (T1, T2)]
    agg = INTERP.aggregate(obj(*PT), {"m1": ok[0], "m2": ok[1]})
    assert agg["conditions"][-1]["type"] == "Succeeded"
    assert agg["conditions"][-1]["lastTransitionTime"] == T2  # when the last copy finished
    assert agg["completionTime"] == T2
    assert INTERP.health({**obj(*PT), "status": agg}).phase == "Succeeded"


def test_mpijob_v2beta1_has_the_same_shape() -> None:
    mpi = ("kubeflow.org/v2beta1", "MPIJob")
    status = {"conditions": [cond("Created"), cond("Running")], "startTime": T0,
              "replicaStatuses": {"Launcher": {"active": 1}, "Worker": {"active": 4}},
              "lastReconcileTime": T1}
    agg = INTERP.aggregate(obj(*mpi), {"m1": obj(*mpi, status)})
    assert agg["replicaStatuses"] == {"Launcher": {"active": 1}, "Worker": {"active": 4}}
    assert [c["type"] for c in agg["conditions"]] == ["Created", "Running"]


def test_trainjob_sums_jobs_status_and_merges_complete() -> None:
    tj = ("trainer.kubeflow.org/v1alpha1", "TrainJob")

    def status(active: int, succeeded: int, complete: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"jobsStatus": [
            {"name": "node", "ready": active, "succeeded": succeeded, "failed": 0,
             "active": active, "suspended": 0}]}
        if complete:
            out["conditions"] = [cond("Complete", message="TrainJob is completed")]
        return out
    agg = INTERP.aggregate(obj(*tj), {"a": obj(*tj, status(0, 2, True)),
                                      "b": obj(*tj, status(2, 0, False))})
    assert agg["jobsStatus"] == [{"name": "node", "ready": 2, "succeeded": 2, "failed": 0,
                                  "active": 2, "suspended": 0}]
    assert agg["conditions"][0]["type"] == "Complete"
    assert agg["conditions"][0]["status"] == "False"
    assert INTERP.health({**obj(*tj), "status": agg}).phase == "Running"


def test_jobset_sums_replicated_jobs_per_name() -> None:
    js = ("jobset.x-k8s.io/v1alpha2", "JobSet")

    def status(ready: int, succeeded: int, terminal: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"restarts": 1, "replicatedJobsStatus": [
            {"name": "driver", "ready": 0, "succeeded": 1, "failed": 0, "active": 0,
             "suspended": 0},
            {"name": "workers", "ready": ready, "succeeded": succeeded, "failed": 0,
             "active": ready, "suspended": 0}]}
        if terminal:
            out["terminalState"] = terminal
            out["conditions"] = [cond("StartupPolicyCompleted"),
                                 cond(terminal, message=f"jobset {terminal.lower()}")]
        return out
    agg = INTERP.aggregate(obj(*js), {"a": obj(*js, status(0, 2, "Completed")),
                                      "b": obj(*js, status(3, 0, None))})
    assert agg["replicatedJobsStatus"] == [
        {"name": "driver", "ready": 0, "succeeded": 2, "failed": 0, "active": 0,
         "suspended": 0},
        {"name": "workers", "ready": 3, "succeeded": 2, "failed": 0, "active": 3,
         "suspended": 0}]
    assert agg["restarts"] == 2
    assert agg["terminalState"] is None  # b still runs: removed, not "Completed"
    assert {c["type"]: c["status"] for c in agg["conditions"]} == {
        "StartupPolicyCompleted": "False", "Completed": "False"}
    agg = INTERP.aggregate(obj(*js), {"a": obj(*js, status(0, 2, "Completed")),
                                      "b": obj(*js, status(0, 0, "Failed"))})
    assert agg["terminalState"] == "Failed"
    assert {c["type"]: c["status"] for c in agg["conditions"]}["Failed"] == "True"


def test_rayjob_takes_the_worst_job_and_deployment_status() -> None:
    rj = ("ray.io/v1", "RayJob")

    def status(job: str, deploy: str, end: str | None = None) -> dict[str, Any]:
        out = {"jobId": "rayjob-x-abc", "rayClusterName": "rayjob-x-raycluster-1",
               "dashboardURL": "rayjob-x-head-svc.ml.svc.cluster.local:8265",
               "jobStatus": job, "jobDeploymentStatus": deploy, "startTime": T0,
               "rayClusterStatus": {"state": "ready", "desiredWorkerReplicas": 2}}
        if end:
            out["endTime"] = end
        return out
    agg = INTERP.aggregate(obj(*rj), {"a": obj(*rj, status("SUCCEEDED", "Complete", T1)),
                                      "b": obj(*rj, status("RUNNING", "Running"))})
    assert (agg["jobStatus"], agg["jobDeploymentStatus"]) == ("RUNNING", "Running")
    assert agg["endTime"] is None and agg["startTime"] == T0
    assert agg["dashboardURL"].startswith("rayjob-x-head-svc")
    agg = INTERP.aggregate(obj(*rj), {"a": obj(*rj, status("SUCCEEDED", "Complete", T1)),
                                      "b": obj(*rj, status("FAILED", "Failed", T2))})
    assert (agg["jobStatus"], agg["jobDeploymentStatus"]) == ("FAILED", "Failed")
    assert agg["endTime"] == T2
    assert INTERP.health({**obj(*rj), "status": agg}).phase == "Failed"


def test_raycluster_and_rayservice_status_fields() -> None:
    rc = ("ray.io/v1", "RayCluster")

    def cluster_status(state: str, ready: int) -> dict[str, Any]:
        return {"state": state, "desiredWorkerReplicas": 2, "availableWorkerReplicas": ready,
                "readyWorkerReplicas": ready, "minWorkerReplicas": 1, "maxWorkerReplicas": 4,
                "desiredCPU": "9", "desiredGPU": "2", "head": {"podIP": "10.0.0.1",
                                                              "serviceIP": "10.96.0.9"},
                "endpoints": {"client": "10001", "dashboard": "8265"},
                "conditions": [cond("RayClusterProvisioned"), cond("HeadPodReady")]}
    agg = INTERP.aggregate(obj(*rc), {"a": obj(*rc, cluster_status("ready", 2)),
                                      "b": obj(*rc, cluster_status("ready", 1))})
    assert agg["state"] == "ready"
    assert (agg["desiredWorkerReplicas"], agg["availableWorkerReplicas"]) == (4, 3)
    assert "desiredCPU" not in agg  # a quantity of one copy: left out, not wrong
    assert agg["head"] == {"podIP": "10.0.0.1", "serviceIP": "10.96.0.9"}
    failed = cluster_status("failed", 0)
    assert INTERP.aggregate(obj(*rc), {"a": obj(*rc, cluster_status("ready", 2)),
                                       "b": obj(*rc, failed)})["state"] == "failed"

    rs = ("ray.io/v1", "RayService")

    def service_status(ready: bool) -> dict[str, Any]:
        return {"serviceStatus": "Running" if ready else "", "numServeEndpoints": 2,
                "conditions": [cond("Ready", "True" if ready else "False")],
                "activeServiceStatus": {"rayClusterName": "rs-raycluster-1",
                                        "applicationStatuses": {"app": {"status": "RUNNING"}}}}
    agg = INTERP.aggregate(obj(*rs), {"a": obj(*rs, service_status(True)),
                                      "b": obj(*rs, service_status(True))})
    assert agg["serviceStatus"] == "Running" and agg["numServeEndpoints"] == 4
    assert agg["conditions"][0]["status"] == "True"
    assert agg["activeServiceStatus"]["rayClusterName"] == "rs-raycluster-1"
    agg = INTERP.aggregate(obj(*rs), {"a": obj(*rs, service_status(True)),
                                      "b": obj(*rs, service_status(False))})
    assert agg["conditions"][0]["status"] == "False"


def test_inference_service_conditions_and_the_url_of_the_first_ready_copy() -> None:
    isvc = ("serving.kserve.io/v1beta1", "InferenceService")

    def status(cluster: str, ready: bool) -> dict[str, Any]:
        s = "True" if ready else "False"
        url = f"http://chat.ml.{cluster}.example.com"
        return {"url": url, "address": {"url": "http://chat.ml.svc.cluster.local"},
                "components": {"predictor": {"url": url, "latestReadyRevision": "p-1"}},
                "conditions": [cond("IngressReady", s), cond("PredictorReady", s),
                               cond("Ready", s)],
                "modelStatus": {"states": {"activeModelState": "Loaded",
                                           "targetModelState": "Loaded"}},
                "observedGeneration": 1}
    agg = INTERP.aggregate(obj(*isvc), {"east": obj(*isvc, status("east", False)),
                                        "west": obj(*isvc, status("west", True))})
    assert agg["url"] == "http://chat.ml.west.example.com"  # the Ready one
    assert agg["address"] == {"url": "http://chat.ml.svc.cluster.local"}
    assert {c["type"]: c["status"] for c in agg["conditions"]}["Ready"] == "False"
    assert "observedGeneration" not in agg  # a member's generation, not the hub's
    agg = INTERP.aggregate(obj(*isvc), {"east": obj(*isvc, status("east", True)),
                                        "west": obj(*isvc, status("west", True))})
    assert agg["url"] == "http://chat.ml.east.example.com"  # first Ready by name
    assert INTERP.health({**obj(*isvc), "status": agg}).phase == "Ready"


def test_volcano_job_sums_counters_and_takes_the_worst_state() -> None:
    vc = ("batch.volcano.sh/v1alpha1", "Job")

    def status(phase: str, running: int, succeeded: int) -> dict[str, Any]:
        return {"state": {"phase": phase, "reason": "", "lastTransitionTime": T0},
                "minAvailable": 2, "pending": 0, "running": running,
                "succeeded": succeeded, "failed": 0, "version": 3, "retryCount": 0,
                "taskStatusCount": {"worker": {"phase": {"Running": running,
                                                         "Succeeded": succeeded}}},
                "conditions": [{"status": phase, "lastTransitionTime": T0}]}
    agg = INTERP.aggregate(obj(*vc), {"a": obj(*vc, status("Completed", 0, 2)),
                                      "b": obj(*vc, status("Running", 2, 0))})
    assert agg["state"]["phase"] == "Running"
    assert (agg["running"], agg["succeeded"], agg["minAvailable"]) == (2, 2, 4)
    assert agg["taskStatusCount"] == {"worker": {"phase": {"Running": 2, "Succeeded": 2}}}
    assert INTERP.health({**obj(*vc), "status": agg}).phase == "Running"


def test_deployments_and_jobs_sum_counters_as_before() -> None:
    job = ("batch/v1", "Job")
    agg = INTERP.aggregate(obj(*job), {
        "a": obj(*job, {"active": 2, "ready": 2, "startTime": T0}),
        "b": obj(*job, {"succeeded": 3, "conditions": [cond("Complete")]})})
    assert agg == {"active": 2, "ready": 2, "succeeded": 3}
    assert INTERP.summed_status_keys(obj(*job)) == ("active", "succeeded", "failed", "ready")
