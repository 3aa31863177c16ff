"""The GPU product chosen for a member is pinned on the copy's GPU pod templates."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from federation.interpreters.interpreter import Interpreters
from federation.interpreters.spec import ComponentRule, KindSpec
from federation.syncer.fieldpath import format_path
from federation.syncer.gpu_pin import (
    PRODUCT_LABEL,
    GpuPinConflict,
    label_value,
    pin_gpu_product,
)
from federation.syncer.render import MemberTarget, render

INTERP = Interpreters()
# a member with H100 and T4 nodes; the scheduler chose H100 for this workload there
MIXED = MemberTarget("mixed", {"gpus": "h100,t4"}, region="us-east-1", provider="aws")
H100 = "NVIDIA-H100-80GB-HBM3"
T4 = "Tesla-T4"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PIN = {"key": PRODUCT_LABEL, "operator": "In", "values": [H100]}


def gpu_container(name: str = "main", gpus: str = "1", where: str = "limits") -> dict[str, Any]:
    return {"name": name, "image": "registry.example/x:1",
            "resources": {where: {"nvidia.com/gpu": gpus, "cpu": "2"}}}


def cpu_container(name: str = "side") -> dict[str, Any]:
    return {"name": name, "image": "registry.example/y:1",
            "resources": {"requests": {"cpu": "1"}}}


def deployment(pod_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "llm", "namespace": "ml"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "llm"}},
                     "template": {"metadata": {"labels": {"app": "llm"}},
                                  "spec": pod_spec or {"containers": [gpu_container()]}}}}


def pytorchjob() -> dict[str, Any]:
    def replica(container: dict[str, Any]) -> dict[str, Any]:
        return {"replicas": 1, "template": {"spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": "ft", "namespace": "ml"},
            "spec": {"pytorchReplicaSpecs": {"Master": replica(gpu_container("pytorch")),
                                             "Worker": replica(gpu_container("pytorch")),
                                             "Tensorboard": replica(cpu_container())}}}


def isvc() -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "chat", "namespace": "ml"},
            "spec": {"predictor": {"minReplicas": 1, "model": {
                "modelFormat": {"name": "huggingface"}, "storageUri": "hf://org/model",
                "resources": {"limits": {"nvidia.com/gpu": "1"}}}},
                "transformer": {"containers": [cpu_container("transformer")]}}}


def trainjob(**extra: Any) -> dict[str, Any]:
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "metadata": {"name": "tj", "namespace": "ml"},
            "spec": {"runtimeRef": {"name": "torch-distributed"},
                     "trainer": {"numNodes": 2, "image": "registry.example/t:1",
                                 "resourcesPerNode": {"limits": {"nvidia.com/gpu": "1"}}},
                     **extra}}


def rendered(template: dict[str, Any], product: str | None = "H100-80GB") -> dict[str, Any]:
    return render(template, MIXED, binding="ml.x", interpreters=INTERP, gpu_product=product)


def required_terms(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    terms: list[dict[str, Any]] = pod_spec["affinity"]["nodeAffinity"][REQUIRED][
        "nodeSelectorTerms"]
    return terms


# ---- the pin on each kind ---------------------------------------------------------------

def test_deployment_with_one_gpu_is_pinned_to_the_chosen_product() -> None:
    template = deployment()
    before = copy.deepcopy(template)
    obj = rendered(template)
    assert required_terms(obj["spec"]["template"]["spec"]) == [{"matchExpressions": [PIN]}]
    assert T4 not in str(obj)
    assert template == before  # the hub's template is never changed


def test_without_a_product_nothing_is_pinned() -> None:
    obj = rendered(deployment(), None)
    assert "affinity" not in obj["spec"]["template"]["spec"]


def test_pods_without_gpu_requests_are_not_pinned() -> None:
    obj = rendered(deployment({"containers": [cpu_container()]}))
    assert "affinity" not in obj["spec"]["template"]["spec"]


@pytest.mark.parametrize("where", ["requests", "limits"])
def test_gpu_requests_or_limits_and_init_containers_count(where: str) -> None:
    obj = rendered(deployment({"initContainers": [gpu_container("warm", where=where)],
                               "containers": [cpu_container()]}))
    assert required_terms(obj["spec"]["template"]["spec"]) == [{"matchExpressions": [PIN]}]


def test_pytorchjob_gpu_replicas_are_pinned_and_cpu_replicas_are_not() -> None:
    specs = rendered(pytorchjob())["spec"]["pytorchReplicaSpecs"]
    for role in ("Master", "Worker"):
        assert required_terms(specs[role]["template"]["spec"]) == [
            {"matchExpressions": [PIN]}]
    assert "affinity" not in specs["Tensorboard"]["template"]["spec"]


def test_inference_service_predictor_is_pinned_inline() -> None:
    spec = rendered(isvc())["spec"]
    assert required_terms(spec["predictor"]) == [{"matchExpressions": [PIN]}]
    assert "affinity" not in spec["transformer"]  # no GPUs there


def test_trainjob_gets_a_node_selector_override_for_the_trainer_job() -> None:
    # Trainer v2.1's schema has podTemplateOverrides only (it prunes podSpecOverrides)
    obj = rendered(trainjob())
    assert "podSpecOverrides" not in obj["spec"]
    assert obj["spec"]["podTemplateOverrides"] == [
        {"targetJobs": [{"name": "node"}], "spec": {"nodeSelector": {PRODUCT_LABEL: H100}}}]


def test_trainjob_pin_joins_the_users_overrides_for_the_trainer_job() -> None:
    tolerate = [{"key": "gpu", "operator": "Exists"}]
    obj = rendered(trainjob(podSpecOverrides=[
        {"targetJobs": [{"name": "initializer"}], "serviceAccountName": "init"},
        {"targetJobs": [{"name": "node"}], "tolerations": tolerate,
         "nodeSelector": {"pool": "train"}}]))
    first, second = obj["spec"]["podSpecOverrides"]
    assert first == {"targetJobs": [{"name": "initializer"}], "serviceAccountName": "init"}
    assert second["nodeSelector"] == {"pool": "train", PRODUCT_LABEL: H100}
    assert second["tolerations"] == tolerate


def test_trainjob_with_the_newer_pod_template_overrides_field() -> None:
    obj = rendered(trainjob(podTemplateOverrides=[]))
    assert "podSpecOverrides" not in obj["spec"]
    assert obj["spec"]["podTemplateOverrides"] == [
        {"targetJobs": [{"name": "node"}], "spec": {"nodeSelector": {PRODUCT_LABEL: H100}}}]
    again = rendered(trainjob(podTemplateOverrides=[
        {"targetJobs": [{"name": "node"}], "spec": {"nodeSelector": {PRODUCT_LABEL: "H100"}}}]))
    assert again["spec"]["podTemplateOverrides"][0]["spec"]["nodeSelector"] == {
        PRODUCT_LABEL: H100}


def test_cpu_trainjob_is_not_pinned() -> None:
    job = trainjob()
    job["spec"]["trainer"]["resourcesPerNode"] = {"requests": {"cpu": "4"}}
    assert "podSpecOverrides" not in rendered(job)["spec"]


# ---- merging with the user's node constraints -------------------------------------------

def test_user_affinity_is_kept_and_the_pin_is_added_to_every_term() -> None:
    zone_a = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}
    zone_b = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["b"]}
    by_name = {"key": "metadata.name", "operator": "In", "values": ["n1"]}
    preferred = [{"weight": 10, "preference": {"matchExpressions": [
        {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["40000"]}]}}]
    anti = {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "llm"}},
         "topologyKey": "kubernetes.io/hostname"}]}
    pod_spec = {"containers": [gpu_container()], "affinity": {
        "nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [
            {"matchExpressions": [zone_a]}, {"matchExpressions": [zone_b]},
            {"matchFields": [by_name]}, {}]},
            "preferredDuringSchedulingIgnoredDuringExecution": preferred},
        "podAntiAffinity": anti}}
    out = rendered(deployment(pod_spec))["spec"]["template"]["spec"]
    assert required_terms(out) == [
        {"matchExpressions": [zone_a, PIN]}, {"matchExpressions": [zone_b, PIN]},
        {"matchFields": [by_name], "matchExpressions": [PIN]},
        {}]  # an empty term matches no node: left as it is
    node = out["affinity"]["nodeAffinity"]
    assert node["preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    assert out["affinity"]["podAntiAffinity"] == anti


def test_user_affinity_without_required_terms_gets_one() -> None:
    preferred = [{"weight": 1, "preference": {"matchExpressions": [
        {"key": "pool", "operator": "In", "values": ["x"]}]}}]
    pod_spec = {"containers": [gpu_container()], "affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": preferred}}}
    out = rendered(deployment(pod_spec))["spec"]["template"]["spec"]
    assert required_terms(out) == [{"matchExpressions": [PIN]}]
    assert out["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"] == preferred


def test_user_product_terms_that_allow_the_product_are_kept() -> None:
    both = {"key": PRODUCT_LABEL, "operator": "In", "values": [T4, H100]}
    not_t4 = {"key": PRODUCT_LABEL, "operator": "NotIn", "values": [T4]}
    only_t4 = {"key": PRODUCT_LABEL, "operator": "In", "values": [T4]}
    pod_spec = {"containers": [gpu_container()], "affinity": {"nodeAffinity": {REQUIRED: {
        "nodeSelectorTerms": [{"matchExpressions": [both]}, {"matchExpressions": [not_t4]},
                              {"matchExpressions": [only_t4]}]}}}}
    out = rendered(deployment(pod_spec))["spec"]["template"]["spec"]
    # the T4-only term can no longer match, but the others can: no conflict
    assert required_terms(out) == [{"matchExpressions": [both, PIN]},
                                   {"matchExpressions": [not_t4, PIN]},
                                   {"matchExpressions": [only_t4, PIN]}]


@pytest.mark.parametrize("expr", [
    {"key": PRODUCT_LABEL, "operator": "In", "values": [T4]},
    {"key": PRODUCT_LABEL, "operator": "NotIn", "values": [H100]},
    {"key": PRODUCT_LABEL, "operator": "DoesNotExist"},
])
def test_required_terms_that_exclude_the_product_are_a_conflict(
        expr: dict[str, Any]) -> None:
    pod_spec = {"containers": [gpu_container()], "affinity": {"nodeAffinity": {REQUIRED: {
        "nodeSelectorTerms": [{"matchExpressions": [expr]}]}}}}
    with pytest.raises(GpuPinConflict) as err:
        rendered(deployment(pod_spec))
    assert err.value.field_path == ("spec", "template", "spec", "affinity", "nodeAffinity",
                                    REQUIRED, "nodeSelectorTerms")
    assert H100 in str(err.value)
    assert str(err.value).startswith("spec.template.spec.affinity.nodeAffinity.")


def test_a_user_node_selector_for_the_same_product_is_normalised() -> None:
    pod_spec = {"containers": [gpu_container()],
                "nodeSelector": {PRODUCT_LABEL: "H100", "pool": "gpu"}}
    out = rendered(deployment(pod_spec))["spec"]["template"]["spec"]
    assert out["nodeSelector"] == {PRODUCT_LABEL: H100, "pool": "gpu"}
    assert required_terms(out) == [{"matchExpressions": [PIN]}]


def test_a_user_node_selector_for_another_product_is_a_conflict() -> None:
    pod_spec = {"containers": [gpu_container()], "nodeSelector": {PRODUCT_LABEL: T4}}
    with pytest.raises(GpuPinConflict) as err:
        rendered(deployment(pod_spec))
    assert err.value.field_path == ("spec", "template", "spec", "nodeSelector",
                                    PRODUCT_LABEL)
    assert str(err.value).startswith(
        "spec.template.spec.nodeSelector.nvidia.com/gpu.product: the template pins GPU "
        "product 'Tesla-T4'")


def test_trainjob_override_for_another_product_is_a_conflict() -> None:
    job = trainjob(podSpecOverrides=[{"targetJobs": [{"name": "node"}],
                                      "nodeSelector": {PRODUCT_LABEL: "L4"}}])
    with pytest.raises(GpuPinConflict) as err:
        rendered(job)
    assert err.value.field_path == ("spec", "podSpecOverrides", 0, "nodeSelector",
                                    PRODUCT_LABEL)


# ---- products, idempotence, kinds without a pod spec ------------------------------------

def test_label_values_come_from_the_catalog_or_are_verbatim() -> None:
    assert label_value("H100-80GB") == H100
    assert label_value("a100") == "NVIDIA-A100-SXM4-80GB"
    assert label_value(T4) == T4
    assert label_value("Acme-X1") == "Acme-X1"  # a product the catalog does not know
    obj = rendered(deployment(), "Acme-X1")
    assert required_terms(obj["spec"]["template"]["spec"])[0]["matchExpressions"][0][
        "values"] == ["Acme-X1"]


def test_pinning_twice_changes_nothing() -> None:
    once = rendered(pytorchjob())
    twice = copy.deepcopy(once)
    pin_gpu_product(twice, INTERP, "H100-80GB")
    assert twice == once
    job = rendered(trainjob())
    again = copy.deepcopy(job)
    pin_gpu_product(again, INTERP, "H100-80GB")
    assert again == job


def test_a_declarative_kind_without_a_pod_spec_is_reported_unpinned() -> None:
    interp = Interpreters([KindSpec(group="example.dev", kind="Trainer", components=(
        ComponentRule(name="node", replicas="spec.nodes", containers=("spec.worker",)),))])
    obj = {"apiVersion": "example.dev/v1", "kind": "Trainer", "metadata": {"name": "t"},
           "spec": {"nodes": 2, "worker": gpu_container()}}
    before = copy.deepcopy(obj)
    assert pin_gpu_product(obj, interp, "H100-80GB") == ["node"]
    assert obj == before


def test_format_path() -> None:
    assert format_path(("spec", "containers", 0, "image")) == "spec.containers[0].image"
    assert format_path(()) == ""
