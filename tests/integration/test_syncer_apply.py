"""Server-side apply to real members: create, no-op, update, drift, ownership, prune, errors."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.syncer.apply import BINDING_LABEL, MANAGED_BY, MANAGED_BY_LABEL, MemberApplier


def deployment(name: str, ns: str, replicas: int, binding: str = "b1",
               ours: bool = True) -> dict[str, Any]:
    labels = {BINDING_LABEL: binding}
    if ours:
        labels[MANAGED_BY_LABEL] = MANAGED_BY
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "x:1"}]}}},
    }


async def test_apply_lifecycle(member_api: dict[str, Any], tmp_path: Path) -> None:
    api = member_api["member2"]
    applier = MemberApplier("member2", api, tmp_path)
    apps = k8s.AppsV1Api(api)
    ns = f"team-{uuid.uuid4().hex[:6]}"  # does not exist yet: created on demand
    name = "chat"

    first = await applier.apply(deployment(name, ns, 2))
    assert (first.action, first.ok) == ("created", True), first
    d = await apps.read_namespaced_deployment(name, ns)
    assert d.spec.replicas == 2
    assert d.metadata.managed_fields[0].manager == "fedctl"
    ns_obj = await k8s.CoreV1Api(api).read_namespace(ns)
    assert ns_obj.metadata.labels[MANAGED_BY_LABEL] == MANAGED_BY

    again = await applier.apply(deployment(name, ns, 2))
    assert again.action == "unchanged"

    scaled = await applier.apply(deployment(name, ns, 3))
    assert scaled.action == "updated"
    assert (await apps.read_namespaced_deployment(name, ns)).spec.replicas == 3

    # Drift: someone scales it on the member; the next apply puts our value back.
    await apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": 7}})
    fixed = await applier.apply(deployment(name, ns, 3))
    assert fixed.action == "updated"
    assert (await apps.read_namespaced_deployment(name, ns)).spec.replicas == 3

    # Prune: keep nothing of binding b1 -> deleted; objects of other bindings stay.
    await applier.apply(deployment("other", ns, 1, binding="b2"))
    pruned = await applier.prune("apps/v1", "Deployment", "b1", keep=[])
    assert [r.action for r in pruned] == ["deleted"]
    remaining = {x.metadata.name for x in (await apps.list_namespaced_deployment(ns)).items
                 if x.metadata.deletion_timestamp is None}
    assert remaining == {"other"}


async def test_foreign_object_is_not_overwritten_unless_adopted(
        member_api: dict[str, Any], tmp_path: Path) -> None:
    api = member_api["member1"]
    apps = k8s.AppsV1Api(api)
    name = f"theirs-{uuid.uuid4().hex[:6]}"
    await apps.create_namespaced_deployment("default", deployment(name, "default", 1,
                                                                   ours=False))
    applier = MemberApplier("member1", api, tmp_path)
    res = await applier.apply(deployment(name, "default", 4))
    assert res.action == "conflict" and not res.ok
    assert "not managed by fedctl" in res.message
    assert (await apps.read_namespaced_deployment(name, "default")).spec.replicas == 1
    adopted = await applier.apply(deployment(name, "default", 4), adopt=True)
    assert adopted.action == "updated"
    assert (await apps.read_namespaced_deployment(name, "default")).spec.replicas == 4


async def test_errors_are_classified(member_api: dict[str, Any], tmp_path: Path) -> None:
    applier = MemberApplier("member3", member_api["member3"], tmp_path)
    missing_kind = await applier.apply({
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": "t", "namespace": "default"}, "spec": {}})
    assert missing_kind.action == "error" and not missing_kind.retryable
    assert "not installed on cluster member3" in missing_kind.message
    bad = deployment("bad", "default", 1)
    bad["spec"]["replicas"] = -5
    rejected = await applier.apply(bad)
    assert rejected.action == "error" and not rejected.retryable
    assert "HTTP 422" in rejected.message and "replicas" in rejected.message


async def test_rendered_inference_service_per_member(member_api: dict[str, Any],
                                                      tmp_path: Path) -> None:
    """A hub template rendered with a per-cluster storageUri override lands on two members."""
    from federation.interpreters.interpreter import Interpreters
    from federation.syncer.render import MemberTarget, render
    from policies.models import OverridePolicy
    from policies.parse import load_policies

    (policy,) = load_policies("""\
apiVersion: fedctl.dev/v1alpha1
kind: ClusterOverridePolicy
metadata: {name: mirrors}
spec:
  resourceSelectors: [{apiVersion: serving.kserve.io/v1beta1, kind: InferenceService}]
  overrideRules:
    - targetCluster: {clusterNames: [member2]}
      overriders: {storageUri: {from: "s3://models/", to: "s3://s3-a/models/"}}
    - targetCluster: {clusterNames: [member3]}
      overriders: {storageUri: {from: "s3://models/", to: "gs://gcs-a/models/"}}
""", "mirrors.yaml")
    assert isinstance(policy, OverridePolicy)
    template = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": f"chat-{uuid.uuid4().hex[:6]}", "namespace": "ml"},
                "spec": {"predictor": {"minReplicas": 2, "model": {
                    "modelFormat": {"name": "huggingface"},
                    "storageUri": "s3://models/chat/v1"}}}}
    interp = Interpreters()
    expected = {"member2": "s3://s3-a/models/chat/v1", "member3": "gs://gcs-a/models/chat/v1"}
    for member, uri in expected.items():
        obj = render(template, MemberTarget(member, {}), binding="ml.chat",
                     interpreters=interp, replicas={"predictor": 1},
                     rules=policy.spec.override_rules)
        result = await MemberApplier(member, member_api[member], tmp_path).apply(obj)
        assert result.action == "created", result
        got = await k8s.CustomObjectsApi(member_api[member]).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", "ml", "inferenceservices",
            template["metadata"]["name"])
        assert got["spec"]["predictor"]["model"]["storageUri"] == uri
        assert got["spec"]["predictor"]["minReplicas"] == 1
        assert got["metadata"]["annotations"]["fedctl.dev/cluster"] == member
