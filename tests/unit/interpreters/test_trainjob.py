"""TrainJob overrides: which node selector the trainer's pods get, and where it is set."""

from __future__ import annotations

from typing import Any

from federation.interpreters.trainjob import is_trainjob, overrides_for, trainer_node_selector

LABEL = "nvidia.com/gpu.product"


def trainjob(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "metadata": {"name": "t"},
            "spec": {"runtimeRef": {"name": "torch-distributed"},
                     "trainer": {"numNodes": 2, "resourcesPerNode": {
                         "limits": {"nvidia.com/gpu": "4"}}}, **spec}}


def over(jobs: list[str], **fields: Any) -> dict[str, Any]:
    return {"targetJobs": [{"name": j} for j in jobs], "spec": fields}


def test_v21_override_targeting_node_pins_the_product() -> None:
    job = trainjob(podTemplateOverrides=[
        over(["dataset-initializer"], nodeSelector={LABEL: "Tesla-T4"}),
        over(["node"], nodeSelector={LABEL: "NVIDIA-H100-80GB-HBM3", "zone": "a"},
             tolerations=[{"key": "gpu", "operator": "Exists"}])])
    assert trainer_node_selector(job, LABEL) == (
        ("spec", "podTemplateOverrides", 1, "spec", "nodeSelector", LABEL),
        "NVIDIA-H100-80GB-HBM3")
    # the initializer's pods are another job: its selector is not the trainer's
    assert trainer_node_selector(job, LABEL, "dataset-initializer") == (
        ("spec", "podTemplateOverrides", 0, "spec", "nodeSelector", LABEL), "Tesla-T4")


def test_later_overrides_win_per_key() -> None:
    job = trainjob(podTemplateOverrides=[
        over(["node"], nodeSelector={LABEL: "A100"}),
        over(["node", "model-initializer"], nodeSelector={"zone": "b"}),
        over(["node"], nodeSelector={LABEL: "H100"})])
    assert trainer_node_selector(job, LABEL) == (
        ("spec", "podTemplateOverrides", 2, "spec", "nodeSelector", LABEL), "H100")
    assert trainer_node_selector(job, "zone") == (
        ("spec", "podTemplateOverrides", 1, "spec", "nodeSelector", "zone"), "b")


def test_v20_pod_spec_overrides_hold_the_fields_at_the_top() -> None:
    job = trainjob(podSpecOverrides=[{"targetJobs": [{"name": "node"}],
                                      "nodeSelector": {LABEL: "L4"}}])
    assert trainer_node_selector(job, LABEL) == (
        ("spec", "podSpecOverrides", 0, "nodeSelector", LABEL), "L4")
    assert [p for p, _ in overrides_for(job)] == [("spec", "podSpecOverrides", 0)]


def test_nothing_set_or_malformed_entries_give_none() -> None:
    assert trainer_node_selector(trainjob(), LABEL) is None
    job = trainjob(podTemplateOverrides=[
        "junk", {"targetJobs": "node"}, {"targetJobs": [{"name": "node"}]},
        over(["node"], nodeSelector={"zone": "a"}),
        {"targetJobs": [{"name": "node"}], "spec": {"nodeSelector": [LABEL]}}])
    assert trainer_node_selector(job, LABEL) is None
    assert [p for p, _ in overrides_for(job)] == [
        ("spec", "podTemplateOverrides", 3, "spec"),
        ("spec", "podTemplateOverrides", 4, "spec")]
    assert trainer_node_selector({"spec": None}, LABEL) is None


def test_is_trainjob() -> None:
    assert is_trainjob(trainjob())
    assert not is_trainjob({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "TrainJob"})
    assert not is_trainjob({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "Job"})


def test_the_demand_reads_the_product_a_trainjob_pins() -> None:
    from federation.interpreters.demand import DemandError, extract_demand
    from federation.interpreters.interpreter import Interpreters

    def job(product: str) -> dict[str, object]:
        return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                "metadata": {"name": "t", "namespace": "ml"},
                "spec": {"runtimeRef": {"name": "torch-distributed"},
                         "trainer": {"numNodes": 2, "resourcesPerNode": {
                             "limits": {"nvidia.com/gpu": "8"}}},
                         "podTemplateOverrides": [{
                             "targetJobs": [{"name": "node"}],
                             "spec": {"nodeSelector": {"nvidia.com/gpu.product": product}}}]}}

    demand = extract_demand(job("NVIDIA-H100-80GB-HBM3"), Interpreters())
    assert {c.gpu_product for c in demand.components if c.gpus} == {"H100-80GB"}
    try:
        extract_demand(job("no-such-gpu"), Interpreters())
    except DemandError as exc:
        assert "podTemplateOverrides" in exc.field_path and "no-such-gpu" in str(exc)
    else:
        raise AssertionError("an unknown product must be reported")
