"""Rendering hub templates for members: clean metadata, replicas, overrides."""

from __future__ import annotations

from typing import Any

import pytest

from federation.interpreters.interpreter import Interpreters
from federation.syncer.render import MemberTarget, render, rewrite_registry
from policies.models import OverridePolicy
from policies.parse import load_policies

INTERP = Interpreters()
EAST = MemberTarget("edge-nyc", {"tier": "edge"}, region="edge-east", provider="edge")
WEST = MemberTarget("edge-sfo", {"tier": "edge"}, region="edge-west", provider="edge")

OVERRIDES = """\
apiVersion: fedctl.dev/v1alpha1
kind: ClusterOverridePolicy
metadata: {name: edge}
spec:
  resourceSelectors:
    - {apiVersion: serving.kserve.io/v1beta1, kind: InferenceService}
  overrideRules:
    - targetCluster: {regions: [edge-east]}
      overriders:
        imageRegistry: {value: registry.edge-east.local, operator: Replace}
        storageUri: {from: "s3://models/", to: "s3://edge-east-s3/models/"}
        env:
          - {name: OMP_NUM_THREADS, value: "4"}
          - {name: DEBUG, operator: Remove}
        args:
          - {values: ["--max-batch=8"]}
        resources:
          - {limits: {nvidia.com/gpu: "1"}, requests: {cpu: "2"}}
        labels: {site: east}
    - overriders:
        annotations: {fedctl.dev/rendered: "yes"}
"""


def rules() -> Any:
    (policy,) = load_policies(OVERRIDES, "o.yaml")
    assert isinstance(policy, OverridePolicy)
    return policy.spec.override_rules


def isvc() -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "chat", "namespace": "ml", "uid": "u-1", "resourceVersion": "9",
                     "generation": 3, "managedFields": [{"manager": "kubectl"}],
                     "labels": {"app": "chat"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                     "team": "ml"}},
        "spec": {"predictor": {
            "minReplicas": 4,
            "containers": [{"name": "kserve-container", "image": "ghcr.io/org/llm:2",
                            "env": [{"name": "DEBUG", "value": "1"}], "args": ["--serve"]}],
            "model": {"storageUri": "s3://models/llama/v3",
                      "resources": {"limits": {"nvidia.com/gpu": "2"}}}}},
        "status": {"url": "http://chat"},
    }


def test_metadata_is_clean_and_ours() -> None:
    out = render(isvc(), EAST, binding="ml.chat", interpreters=INTERP)
    meta = out["metadata"]
    assert "status" not in out
    for gone in ("uid", "resourceVersion", "generation", "managedFields"):
        assert gone not in meta
    assert meta["labels"] == {"app": "chat", "app.kubernetes.io/managed-by": "fedctl",
                              "fedctl.dev/binding": "ml.chat"}
    assert meta["annotations"] == {"team": "ml", "fedctl.dev/cluster": "edge-nyc"}
    assert isvc()["metadata"]["uid"] == "u-1"  # the template is not modified


def test_replicas_share_is_applied() -> None:
    out = render(isvc(), EAST, binding="b", interpreters=INTERP, replicas={"predictor": 1})
    assert out["spec"]["predictor"]["minReplicas"] == 1
    same = render(isvc(), EAST, binding="b", interpreters=INTERP)  # Duplicated
    assert same["spec"]["predictor"]["minReplicas"] == 4


def test_overrides_apply_only_where_targeted() -> None:
    east = render(isvc(), EAST, binding="b", interpreters=INTERP, rules=rules())
    pred = east["spec"]["predictor"]
    c = pred["containers"][0]
    assert c["image"] == "registry.edge-east.local/org/llm:2"
    assert c["env"] == [{"name": "OMP_NUM_THREADS", "value": "4"}]
    assert c["args"] == ["--serve", "--max-batch=8"]
    assert c["resources"] == {"limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "2"}}
    assert pred["model"]["storageUri"] == "s3://edge-east-s3/models/llama/v3"
    assert pred["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert east["metadata"]["labels"]["site"] == "east"
    assert east["metadata"]["annotations"]["fedctl.dev/rendered"] == "yes"

    west = render(isvc(), WEST, binding="b", interpreters=INTERP, rules=rules())
    assert west["spec"]["predictor"]["containers"][0]["image"] == "ghcr.io/org/llm:2"
    assert west["spec"]["predictor"]["model"]["storageUri"] == "s3://models/llama/v3"
    assert "site" not in west["metadata"]["labels"]
    assert west["metadata"]["annotations"]["fedctl.dev/rendered"] == "yes"  # untargeted rule


def test_objects_without_an_interpreter_get_metadata_only() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "cfg", "namespace": "ml", "uid": "x"}, "data": {"a": "1"}}
    out = render(cm, EAST, binding="b", interpreters=INTERP, rules=rules())
    assert out["data"] == {"a": "1"} and "uid" not in out["metadata"]
    assert out["metadata"]["annotations"]["fedctl.dev/rendered"] == "yes"


@pytest.mark.parametrize(("image", "op", "expected"), [
    ("nginx:1", "Replace", "reg.local/nginx:1"),
    ("library/nginx:1", "Replace", "reg.local/library/nginx:1"),
    ("ghcr.io/org/app:2", "Replace", "reg.local/org/app:2"),
    ("localhost:5000/app", "Replace", "reg.local/app"),
    ("ghcr.io/org/app:2", "AddPrefix", "reg.local/ghcr.io/org/app:2"),
])
def test_rewrite_registry(image: str, op: str, expected: str) -> None:
    assert rewrite_registry(image, "reg.local/", op) == expected


def test_job_selector_and_uid_labels_generated_by_the_hub_are_dropped() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "j", "namespace": "b"},
           "spec": {"parallelism": 4, "completions": 4,
                    "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                    "template": {"metadata": {"labels": {
                        "batch.kubernetes.io/controller-uid": "u", "controller-uid": "u",
                        "job-name": "j", "batch.kubernetes.io/job-name": "j", "app": "x"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    out = render(job, EAST, binding="b", interpreters=INTERP, replicas={"main": 2})
    assert "selector" not in out["spec"]
    # generated labels dropped; the binding label added so the hub can tell the pods
    assert out["spec"]["template"]["metadata"]["labels"] == {"app": "x",
                                                             "fedctl.dev/binding": "b"}
    assert (out["spec"]["parallelism"], out["spec"]["completions"]) == (2, 2)
    assert "selector" in job["spec"]  # the template is untouched


def test_field_values_are_set_after_override_rules() -> None:
    # a storageUri override rule, then the member's model mirror wins over it
    mirror = "s3://edge-east/models/chat--int8/2"
    out = render(isvc(), EAST, binding="b", interpreters=INTERP, rules=rules(),
                 field_values=[("spec.predictor.model.storageUri", mirror)])
    assert out["spec"]["predictor"]["model"]["storageUri"] == mirror
    # a concrete path (as the interpreter reports storage URIs) works the same way
    out = render(isvc(), EAST, binding="b", interpreters=INTERP,
                 field_values=[(("spec", "predictor", "model", "storageUri"), mirror)])
    assert out["spec"]["predictor"]["model"]["storageUri"] == mirror


def test_field_value_creates_a_missing_plain_path_but_not_a_wildcard_one() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    out = render(cm, EAST, binding="b", interpreters=INTERP,
                 field_values=[("data.modelUri", "gs://m/1"), ("items[*].uri", "x")])
    assert out["data"] == {"modelUri": "gs://m/1"}
    assert "items" not in out
