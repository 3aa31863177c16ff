"""Per-kind data beyond replicas: what a copy without a component holds, both MPIJob API
versions, declarative status aggregation, and when a workload is finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from federation.errors import InputErrors
from federation.interpreters import extract_demand
from federation.interpreters.interpreter import Interpreters
from federation.interpreters.spec import load_interpreters

INTERP = Interpreters()


def pod(gpus: int = 0) -> dict[str, Any]:
    res = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {"spec": {"containers": [{"name": "c", "image": "i", "resources": res}]}}


def mpijob(api: str) -> dict[str, Any]:
    return {"apiVersion": api, "kind": "MPIJob", "metadata": {"name": "m", "namespace": "ml"},
            "spec": {"slotsPerWorker": 8, "runPolicy": {"cleanPodPolicy": "Running"},
                     "mpiReplicaSpecs": {
                         "Launcher": {"replicas": 1, "template": pod()},
                         "Worker": {"replicas": 2, "template": pod(8)}}}}


@pytest.mark.parametrize("api", ["kubeflow.org/v1", "kubeflow.org/v2beta1"])
def test_mpijob_v1_and_v2beta1_are_both_interpreted(api: str) -> None:
    obj = mpijob(api)
    d = extract_demand(obj)
    assert [(c.name, c.replicas, c.gpus) for c in d.components] == [
        ("Launcher", 1, 0), ("Worker", 2, 8)]
    assert d.api_version == api and d.gang and not d.divisible
    obj["status"] = {"conditions": [{"type": "Created", "status": "True"},
                                    {"type": "Running", "status": "True"}]}
    assert INTERP.health(obj).phase == "Running"


def test_a_copy_without_an_optional_component_drops_it() -> None:
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "chat"},
            "spec": {"predictor": {"minReplicas": 2, "model": {"modelFormat": {"name": "x"}}},
                     "transformer": {"minReplicas": 1, "containers": [{"name": "t"}]}}}
    west = INTERP.with_replicas(isvc, {"predictor": 1})
    assert "transformer" not in west["spec"] and west["spec"]["predictor"]["minReplicas"] == 1
    east = INTERP.with_replicas(isvc, {"predictor": 1, "transformer": 1})
    assert east["spec"]["transformer"]["minReplicas"] == 1


def test_every_ray_copy_keeps_its_head_and_min_replicas_fit_the_share() -> None:
    rc = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "r"},
          "spec": {"headGroupSpec": {"template": pod()}, "workerGroupSpecs": [
              {"groupName": "gpu", "replicas": 4, "minReplicas": 4, "maxReplicas": 8,
               "template": pod(1)}]}}
    copy = INTERP.with_replicas(rc, {"gpu": 1})
    assert "headGroupSpec" in copy["spec"]
    group = copy["spec"]["workerGroupSpecs"][0]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (1, 1, 8)


def test_a_jobset_copy_without_a_replicated_job_runs_none_of_it() -> None:
    js = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": {"name": "j"},
          "spec": {"replicatedJobs": [
              {"name": "driver", "replicas": 1, "template": {"spec": {"template": pod()}}},
              {"name": "workers", "replicas": 4,
               "template": {"spec": {"parallelism": 2, "template": pod(1)}}}]}}
    copy = INTERP.with_replicas(js, {"workers": 2})
    assert [(r["name"], r["replicas"]) for r in copy["spec"]["replicatedJobs"]] == [
        ("driver", 0), ("workers", 2)]


def test_declarative_status_aggregation(tmp_path: Path) -> None:
    f = tmp_path / "mx.yaml"
    f.write_text("""\
apiVersion: fedctl.dev/v1alpha1
kind: WorkloadInterpreter
metadata: {name: mxjobs}
spec:
  target: {group: kubeflow.org, kind: MXJob}
  gang: true
  divisible: false
  components:
    - each: spec.mxReplicaSpecs.*
      replicas: replicas
      podSpec: template.spec
      absent: remove
  health:
    conditions: {Succeeded: Succeeded, Failed: Failed, Running: Running}
  statusAggregation:
    sum: [status.replicaStatuses]
    conditions: {any: [Running, Failed], order: [Created, Running, Succeeded, Failed]}
    worst:
      - {field: status.phase, order: [Failed, "", Running, Done]}
    earliest: [status.startTime]
""")
    interp = Interpreters(load_interpreters(f))
    spec = interp.spec_for({"apiVersion": "kubeflow.org/v1", "kind": "MXJob"})
    assert spec.gang and not spec.divisible

    def mx(active: int, phase: str, start: str) -> dict[str, Any]:
        return {"apiVersion": "kubeflow.org/v1", "kind": "MXJob", "metadata": {"name": "m"},
                "spec": {}, "status": {
                    "phase": phase, "startTime": start,
                    "replicaStatuses": {"Worker": {"active": active}},
                    "conditions": [{"type": "Created", "status": "True"},
                                   {"type": "Running", "status": "True"}]}}
    agg = interp.aggregate(mx(0, "x", "t"), {"a": mx(2, "Done", "2"), "b": mx(1, "Running",
                                                                               "1")})
    assert agg["replicaStatuses"] == {"Worker": {"active": 3}}
    assert agg["phase"] == "Running" and agg["startTime"] == "1"
    assert [c["type"] for c in agg["conditions"]] == ["Created", "Running"]
    assert interp.status_keys(mx(0, "x", "t")) == (
        "replicaStatuses", "phase", "startTime", "conditions")


def test_declarative_status_aggregation_errors(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("""\
apiVersion: fedctl.dev/v1alpha1
kind: WorkloadInterpreter
spec:
  target: {kind: Thing}
  components:
    - podSpec: spec
      absent: delete
  statusAggregation:
    sum: ["status.items[*].count"]
    worst:
      - {order: [Failed]}
    frist: [status.url]
""")
    with pytest.raises(InputErrors) as err:
        load_interpreters(f)
    text = str(err.value)
    assert "spec.components[0].absent: invalid value 'delete'" in text
    assert "spec.statusAggregation.sum[0]: path 'status.items[*].count' must not contain " \
           "wildcards" in text
    assert "spec.statusAggregation.worst[0]: missing required field 'field'" in text
    assert "spec.statusAggregation.frist: unknown field 'frist' (did you mean 'first'?)" in text


def test_finished_is_succeeded_or_failed_on_every_copy() -> None:
    def job(conds: list[str], active: int = 0) -> dict[str, Any]:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
                "spec": {"template": pod()},
                "status": {"active": active, "conditions": [
                    {"type": c, "status": "True"} for c in conds]}}
    done, failed, running = job(["Complete"]), job(["Failed"]), job([], active=1)
    assert INTERP.finished(done) and INTERP.finished(failed) and not INTERP.finished(running)
    assert INTERP.all_finished({"a": done, "b": failed})
    assert not INTERP.all_finished({"a": done, "b": running})
    assert not INTERP.all_finished({})
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert not INTERP.all_finished({"a": cm})  # present, never finished
