"""Simulated KServe (RawDeployment): Deployment, Service and InferenceService status (pure)."""

from __future__ import annotations

from typing import Any

from federation.dev.opsim.common import SPEC_HASH_ANNOTATION, condition_true, merge_patch

from .helpers import (
    INTERP,
    LATER,
    OURS,
    deployment_state,
    named,
    observe,
    reconcile,
    stored,
    with_status,
)

T4 = {"nvidia.com/gpu.product": "Tesla-T4"}


def isvc(uri: str = "gs://gcs-a/models/chat/v1", replicas: int = 2) -> dict[str, Any]:
    return stored({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                   "metadata": {"name": "chat", "labels": OURS,
                                "annotations": {"fedctl.dev/cluster": "member3"}},
                   "spec": {"predictor": {
                       "minReplicas": replicas, "maxReplicas": 4, "nodeSelector": T4,
                       "labels": {"tier": "edge"},
                       "model": {"modelFormat": {"name": "huggingface"}, "storageUri": uri,
                                 "args": ["--max_length=512"],
                                 "resources": {"limits": {"nvidia.com/gpu": "1"}}}}}})


def test_predictor_deployment_is_what_raw_deployment_mode_creates() -> None:
    plan = reconcile(isvc()).plan
    assert named(plan.create) == ["chat-predictor", "chat-predictor"]
    dep = next(c for c in plan.create if c["kind"] == "Deployment")
    svc = next(c for c in plan.create if c["kind"] == "Service")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    # KServe copies the InferenceService's labels, ours included, onto Deployment and pods.
    assert labels["fedctl.dev/binding"] == "ml.train"
    assert labels["app.kubernetes.io/managed-by"] == "fedctl"
    assert labels["tier"] == "edge"
    assert labels["serving.kserve.io/inferenceservice"] == "chat"
    assert labels["component"] == "predictor"
    assert labels["app"] == "isvc.chat-predictor"
    assert dep["metadata"]["labels"] == labels
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "isvc.chat-predictor"}}
    assert dep["metadata"]["ownerReferences"][0]["kind"] == "InferenceService"
    assert dep["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == (
        "RawDeployment")
    assert SPEC_HASH_ANNOTATION in dep["metadata"]["annotations"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == T4
    assert "minReplicas" not in pod and "model" not in pod and "labels" not in pod
    (container,) = pod["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == "kserve/huggingfaceserver:v0.15.2"
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert container["args"] == ["--model_name=chat", "--model_dir=/mnt/models",
                                 "--http_port=8080", "--max_length=512"]
    (init,) = pod["initContainers"]
    assert init["name"] == "storage-initializer"
    assert init["args"] == ["gs://gcs-a/models/chat/v1", "/mnt/models"]
    assert svc["spec"]["selector"] == {"app": "isvc.chat-predictor"}


def test_ready_when_the_predictor_deployment_is_available() -> None:
    obj = isvc()
    children = reconcile(obj).plan.create
    dep = next(c for c in children if c["kind"] == "Deployment")
    svc = next(c for c in children if c["kind"] == "Service")
    none = reconcile(obj).status
    assert not condition_true(none, "Ready") and not condition_true(none, "IngressReady")
    assert "url" not in none

    partly = reconcile(obj, observe(deployment_state(dep, 1), svc)).status
    assert condition_true(partly, "IngressReady")
    assert not condition_true(partly, "PredictorReady")
    assert not condition_true(partly, "Ready")

    ready = reconcile(obj, observe(deployment_state(dep, 2), svc)).status
    assert condition_true(ready, "PredictorReady") and condition_true(ready, "Ready")
    assert ready["url"] == "http://chat.ml.example.com"
    assert ready["address"]["url"] == "http://chat-predictor.ml.svc.cluster.local"
    assert ready["components"]["predictor"]["url"] == "http://chat-predictor-ml.example.com"
    assert ready["modelStatus"]["states"]["activeModelState"] == "Loaded"
    assert ready["observedGeneration"] == 1
    health = INTERP.health(with_status(obj, ready))
    assert health.phase == "Ready" and health.healthy
    again = reconcile(with_status(obj, ready), observe(deployment_state(dep, 2), svc),
                      now=LATER)
    assert merge_patch(ready, again.status) is None


def test_a_changed_model_rolls_the_deployment() -> None:
    old = reconcile(isvc()).plan.create
    dep = deployment_state(next(c for c in old if c["kind"] == "Deployment"), 2)
    svc = next(c for c in old if c["kind"] == "Service")
    same = reconcile(isvc(), observe(dep, svc)).plan
    assert same.create == () and same.patch == ()
    changed = reconcile(isvc(uri="gs://gcs-a/models/chat/v2", replicas=3),
                        observe(dep, svc)).plan
    ((target, patch),) = changed.patch
    assert target is dep
    assert patch["spec"]["replicas"] == 3
    assert patch["spec"]["template"]["spec"]["initContainers"][0]["args"][0].endswith("v2")


def test_transformer_and_custom_predictor_containers() -> None:
    obj = stored({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                  "metadata": {"name": "x"},
                  "spec": {"predictor": {"containers": [{"name": "custom", "image": "c"}]},
                           "transformer": {"containers": [{"name": "t", "image": "t"}]}}})
    children = reconcile(obj).plan.create
    assert named(children, "Deployment") == ["x-predictor", "x-transformer"]
    pred = next(c for c in children if c["metadata"]["name"] == "x-predictor"
                and c["kind"] == "Deployment")
    assert [c["name"] for c in pred["spec"]["template"]["spec"]["containers"]] == ["custom"]
    assert "initContainers" not in pred["spec"]["template"]["spec"]
    deps = [deployment_state(c, 1) for c in children if c["kind"] == "Deployment"]
    svcs = [c for c in children if c["kind"] == "Service"]
    st = reconcile(obj, observe(deps[0], *svcs)).status
    assert condition_true(st, "PredictorReady") and not condition_true(st, "TransformerReady")
    assert not condition_true(st, "Ready")
    st = reconcile(obj, observe(*deps, *svcs)).status
    assert condition_true(st, "Ready")
