"""Per-kind knowledge: components, replicas, containers, health, aggregation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from federation.errors import FedctlError, InputErrors
from federation.interpreters import paths
from federation.interpreters.interpreter import Interpreters, UnsupportedKind
from federation.interpreters.spec import load_interpreters

INTERP = Interpreters()


def pod_template(gpus: int = 0, image: str = "repo/img:1") -> dict[str, Any]:
    res = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {"spec": {"containers": [{"name": "c", "image": image, "resources": res}],
                     "initContainers": [{"name": "init", "image": "busybox"}]}}


def deployment(replicas: int | None = 3) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": pod_template(1)}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "generation": 2}, "spec": spec}


def pytorchjob() -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "p"},
            "spec": {"pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": pod_template(8)},
                "Worker": {"replicas": 3, "template": pod_template(8)}}}}


def isvc() -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "chat"},
            "spec": {"predictor": {"minReplicas": 2, "model": {
                "modelFormat": {"name": "huggingface"},
                "storageUri": "s3://models/llama/v3",
                "resources": {"limits": {"nvidia.com/gpu": "1"}}}}}}


def test_components_and_replicas_per_kind() -> None:
    assert INTERP.replicas(deployment()) == {"main": 3}
    assert INTERP.replicas(deployment(None)) == {"main": 1}  # Kubernetes' default
    assert INTERP.replicas(pytorchjob()) == {"Master": 1, "Worker": 3}
    assert INTERP.replicas(isvc()) == {"predictor": 2}  # no transformer/explainer
    jobset = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
              "metadata": {"name": "js"},
              "spec": {"replicatedJobs": [
                  {"name": "workers", "replicas": 4,
                   "template": {"spec": {"template": pod_template(8)}}}]}}
    assert INTERP.replicas(jobset) == {"workers": 4}
    rayjob = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "r"},
              "spec": {"rayClusterSpec": {
                  "headGroupSpec": {"template": pod_template()},
                  "workerGroupSpecs": [{"groupName": "gpu", "replicas": 2,
                                        "template": pod_template(1)}]}}}
    assert INTERP.replicas(rayjob) == {"head": 1, "gpu": 2}
    vcjob = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
             "metadata": {"name": "v"},
             "spec": {"tasks": [{"name": "ps", "replicas": 2, "template": pod_template()}]}}
    assert INTERP.replicas(vcjob) == {"ps": 2}
    assert INTERP.spec_for(vcjob).gang and not INTERP.spec_for(deployment()).gang


def test_with_replicas_returns_a_copy_with_the_share() -> None:
    original = pytorchjob()
    share = INTERP.with_replicas(original, {"Master": 1, "Worker": 1})
    assert INTERP.replicas(share) == {"Master": 1, "Worker": 1}
    # a replica type the share leaves out is not in this copy (no second Master)
    workers_only = INTERP.with_replicas(original, {"Worker": 2})
    assert list(workers_only["spec"]["pytorchReplicaSpecs"]) == ["Worker"]
    assert INTERP.replicas(original) == {"Master": 1, "Worker": 3}  # untouched
    d = INTERP.with_replicas(deployment(None), {"main": 5})
    assert d["spec"]["replicas"] == 5
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
           "spec": {"parallelism": 8, "completions": 8, "template": pod_template()}}
    half = INTERP.with_replicas(job, {"main": 3})
    assert (half["spec"]["parallelism"], half["spec"]["completions"]) == (3, 3)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {
        "containers": [{"name": "c"}]}}
    with pytest.raises(FedctlError, match="fixed replica count"):
        INTERP.with_replicas(pod, {"main": 2})


def test_containers_and_storage_uris() -> None:
    cs = INTERP.container_paths(pytorchjob())
    assert len(cs) == 4  # init + main, per replica type
    assert paths.get_at(pytorchjob(), cs[1])["name"] == "c"
    model = INTERP.container_paths(isvc())
    assert model == [("spec", "predictor", "model")]
    assert INTERP.storage_uris(isvc()) == [(("spec", "predictor", "model", "storageUri"),
                                       "s3://models/llama/v3")]


@pytest.mark.parametrize(("obj", "status", "phase"), [
    (deployment(), {"readyReplicas": 3, "observedGeneration": 2}, "Ready"),
    (deployment(), {"readyReplicas": 3, "observedGeneration": 1}, "Pending"),
    (deployment(), {"readyReplicas": 1, "observedGeneration": 2}, "Pending"),
    (pytorchjob(), {"conditions": [{"type": "Created", "status": "True"},
                                   {"type": "Running", "status": "True"}]}, "Running"),
    (pytorchjob(), {"conditions": [{"type": "Running", "status": "False"},
                                   {"type": "Succeeded", "status": "True"}]}, "Succeeded"),
    (pytorchjob(), {"conditions": [{"type": "Running", "status": "True"},
                                   {"type": "Failed", "status": "True",
                                    "message": "OOM"}]}, "Failed"),
    (isvc(), {"conditions": [{"type": "Ready", "status": "True"}]}, "Ready"),
    (isvc(), {}, "Pending"),
    # what the operators write first: not healthy yet (pods may be unschedulable)
    (pytorchjob(), {"conditions": [{"type": "Created", "status": "True"}]}, "Pending"),
    (isvc(), {"conditions": [{"type": "PredictorReady", "status": "False"},
                             {"type": "Ready", "status": "False"}]}, "Pending"),
])
def test_health(obj: dict[str, Any], status: dict[str, Any], phase: str) -> None:
    obj["status"] = status
    assert INTERP.health(obj).phase == phase


def test_aggregate_sums_in_the_kinds_own_fields() -> None:
    a, b = deployment(2), deployment(1)
    a["status"] = {"replicas": 2, "readyReplicas": 2, "observedGeneration": 2}
    b["status"] = {"replicas": 1, "readyReplicas": 0, "observedGeneration": 2}
    status = INTERP.aggregate(deployment(3), {"m1": a, "m2": b})
    # the kind's own fields only: per-cluster phases live on the ResourceBinding
    assert status == {"replicas": 3, "readyReplicas": 2}


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedKind, match=r"no interpreter for example\.com/v1/Widget"):
        INTERP.replicas({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {}})


def test_declarative_interpreter_for_a_new_kind(tmp_path: Path) -> None:
    f = tmp_path / "mx.yaml"
    f.write_text("""\
apiVersion: fedctl.dev/v1alpha1
kind: WorkloadInterpreter
metadata: {name: mxjobs}
spec:
  target: {group: kubeflow.org, kind: MXJob}
  gang: true
  components:
    - each: spec.mxReplicaSpecs.*
      replicas: replicas
      podSpec: template.spec
  health:
    conditions: {Succeeded: Succeeded, Failed: Failed, Running: Running}
""")
    interp = Interpreters(load_interpreters(f))
    mx = {"apiVersion": "kubeflow.org/v1beta1", "kind": "MXJob", "metadata": {"name": "m"},
          "spec": {"mxReplicaSpecs": {"Scheduler": {"replicas": 1, "template": pod_template()},
                                      "Worker": {"replicas": 4,
                                                 "template": pod_template(2)}}},
          "status": {"conditions": [{"type": "Running", "status": "True"}]}}
    assert interp.replicas(mx) == {"Scheduler": 1, "Worker": 4}
    assert interp.health(mx).phase == "Running"
    assert interp.spec_for(mx).gang
    assert interp.replicas(interp.with_replicas(mx, {"Worker": 2}))["Worker"] == 2


def test_declarative_errors_name_file_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("""\
apiVersion: fedctl.dev/v1alpha1
kind: WorkloadInterpreter
spec:
  target: {kind: Thing}
  components:
    - each: spec.items[0]
      replicaz: replicas
  health:
    conditions: {Done: Finished}
""")
    with pytest.raises(InputErrors) as err:
        load_interpreters(f)
    text = str(err.value)
    assert f"{f}:6: spec.components[0].each: only [*] is supported" in text
    assert f"{f}:7: spec.components[0].replicaz: unknown field 'replicaz' (did you mean " \
           "'replicas'?)" in text
    assert "spec.health.conditions.Done: unknown phase 'Finished'" in text


def test_job_health_running_while_pods_are_active() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
           "spec": {"parallelism": 2, "template": pod_template()}}
    assert INTERP.health(job).phase == "Pending"
    job["status"] = {"active": 2}
    assert INTERP.health(job).phase == "Running"
    job["status"] = {"active": 0, "succeeded": 2,
                     "conditions": [{"type": "Complete", "status": "True"}]}
    assert INTERP.health(job).phase == "Succeeded"


def _example_workloads() -> list[dict[str, Any]]:
    import yaml

    root = Path(__file__).resolve().parents[3] / "policies" / "examples" / "workloads"
    return [d for f in sorted(root.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())
            if isinstance(d, dict) and INTERP.supports(d)]


@pytest.mark.parametrize("status", [
    {}, {"readyReplicas": 1, "observedGeneration": 5, "active": 1,
         "conditions": [{"type": "Running", "status": "True"},
                        {"type": "Ready", "status": "True"}]}])
def test_copies_without_pod_specs_read_the_same(status: dict[str, Any]) -> None:
    """What the hub's copy caches keep (no pod specs) gives the same replicas, health
    and aggregated status as the whole object."""
    workloads = [*_example_workloads(), deployment(), pytorchjob(), isvc()]
    assert len(workloads) >= 6
    for obj in workloads:
        obj = {**paths.deep_copy(obj), "status": status}
        whole = paths.deep_copy(obj)
        kept = INTERP.without_pod_specs(paths.deep_copy(obj))
        assert INTERP.replicas(kept) == INTERP.replicas(whole)
        assert INTERP.health(kept) == INTERP.health(whole)
        assert INTERP.aggregate(whole, {"m": kept}) == INTERP.aggregate(whole, {"m": whole})
        for comp in INTERP.components(whole):
            if comp.pod_spec_path and comp.container_paths:
                assert "containers" not in paths.get_at(kept, comp.pod_spec_path)
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"x": 1}}
    assert INTERP.without_pod_specs(paths.deep_copy(unknown)) == unknown


def test_kinds_without_replicas_are_one_whole_copy() -> None:
    from federation.interpreters.demand import extract_demand

    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"},
           "spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"], "type": "NodePort",
                    "ports": [{"port": 80, "nodePort": 30080}]}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
          "data": {"k": "v"}}
    for obj in (svc, cm):
        assert INTERP.replicas(obj) == {"main": 1}
        assert INTERP.health(obj).phase == "Ready"
        demand = extract_demand(obj, INTERP)
        assert demand.duplicated and demand.total_gpus == 0
        assert INTERP.with_replicas(obj, {"main": 1}) == obj
    assert not INTERP.spec_for(cm).write_status
    pruned = paths.deep_copy(svc)
    INTERP.prune_generated(pruned)  # the member allocates its own IP and node ports
    assert pruned["spec"] == {"type": "NodePort", "ports": [{"port": 80}]}


def test_declarative_duplicated_kind(tmp_path: Path) -> None:
    f = tmp_path / "i.yaml"
    f.write_text("apiVersion: fedctl.dev/v1alpha1\nkind: WorkloadInterpreter\n"
                 "metadata: {name: gw}\nspec:\n  target: {group: gateway.networking.k8s.io,"
                 " kind: HTTPRoute}\n  duplicated: true\n  writeStatus: false\n"
                 "  health: {present: Ready}\n")
    spec = load_interpreters(f)[0]
    assert spec.duplicated and not spec.write_status and spec.health.present == "Ready"
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: fedctl.dev/v1alpha1\nkind: WorkloadInterpreter\n"
                   "metadata: {name: gw}\nspec:\n  target: {kind: HTTPRoute}\n"
                   "  health: {present: Fine}\n")
    with pytest.raises(InputErrors) as err:
        load_interpreters(bad)
    text = str(err.value)
    assert "components" in text and "duplicated: true" in text  # no components, not dup
    assert "unknown phase 'Fine'" in text and "bad.yaml:6" in text


def test_ai_kinds_read_as_their_operators_write_them() -> None:
    from federation.interpreters.demand import extract_demand

    jobset = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
              "metadata": {"name": "js"},
              "spec": {"replicatedJobs": [{"name": "w", "replicas": 2, "template": {
                  "spec": {"parallelism": 2, "template": pod_template(4)}}}]},
              "status": {"replicatedJobsStatus": [{"name": "w", "active": 0, "ready": 0},
                                                  {"name": "x", "active": 2}]}}
    # a running JobSet has no condition: its active Jobs (summed) say it runs
    assert INTERP.health(jobset).phase == "Running"
    assert INTERP.health({**jobset, "status": {}}).phase == "Pending"
    train = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
             "metadata": {"name": "t"},
             "spec": {"trainer": {"numNodes": 2, "image": "train:1", "resourcesPerNode": {
                 "limits": {"nvidia.com/gpu": "8"}, "requests": {"cpu": "16"}}}},
             "status": {"jobsStatus": [{"name": "node", "active": 2}]}}
    demand = extract_demand(train, INTERP)
    assert [(c.replicas, c.gpus, c.cpu_millis) for c in demand.components] == [(2, 8, 16000)]
    assert INTERP.health(train).phase == "Running"
    done = {**train, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert INTERP.health(done).phase == "Succeeded"
    ray_service = {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "s"},
                   "spec": {"rayClusterConfig": {
                       "headGroupSpec": {"template": pod_template()},
                       "workerGroupSpecs": [{"groupName": "gpu", "replicas": 2,
                                             "template": pod_template(1)}]}},
                   "status": {"serviceStatus": "Running"}}
    assert INTERP.replicas(ray_service) == {"head": 1, "gpu": 2}
    assert INTERP.health(ray_service).phase == "Ready"
    assert not INTERP.spec_for(ray_service).gang  # serving
    vc = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "v"},
          "spec": {"tasks": [{"name": "w", "replicas": 1, "template": pod_template(1)}]}}
    for phase, want in (("Completing", "Running"), ("Restarting", "Running"),
                        ("Terminated", "Failed"), ("Completed", "Succeeded")):
        assert INTERP.health({**vc, "status": {"state": {"phase": phase}}}).phase == want
