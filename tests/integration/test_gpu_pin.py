"""A rendered copy pinned to one GPU product lands on that product's nodes of a real member.

member2 has one A100-80GB node (4 GPUs, the bigger node: kube-scheduler's default scoring
prefers it) and two L4-24GB nodes (2 GPUs each). The copies are rendered with the product
the scheduler would have chosen, server-side-applied by ``MemberApplier``, and the real
kube-scheduler binds their pods to kwok nodes: every pod must be on the pinned product.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.interpreters.interpreter import Interpreters
from federation.syncer.apply import MemberApplier
from federation.syncer.gpu_pin import PRODUCT_LABEL
from federation.syncer.render import MemberTarget, render

from .helpers import eventually

A100 = "NVIDIA-A100-SXM4-80GB"
L4 = "NVIDIA-L4"
MEMBER = MemberTarget("member2", {}, region="us-east-1", provider="aws")


def gpu_deployment(name: str, ns: str, replicas: int) -> dict[str, Any]:
    """A hub template with the user's own node affinity (two ORed terms)."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": "hub-uid", "resourceVersion": "7"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "affinity": {"nodeAffinity": {
                         "requiredDuringSchedulingIgnoredDuringExecution": {
                             "nodeSelectorTerms": [
                                 {"matchExpressions": [{"key": "kubernetes.io/os",
                                                        "operator": "In",
                                                        "values": ["linux"]}]},
                                 {"matchExpressions": [{"key": "type", "operator": "In",
                                                        "values": ["kwok"]}]}]}}},
                     "containers": [{"name": "llm", "image": "registry.example/llm:1",
                                     "resources": {"limits": {"nvidia.com/gpu": "1"},
                                                   "requests": {"cpu": "1"}}}]}}},
    }


def inference_service(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"predictor": {"minReplicas": 2, "model": {
                "modelFormat": {"name": "huggingface"}, "storageUri": "s3://s3-a/models/x",
                "resources": {"limits": {"nvidia.com/gpu": "1"}}}}}}


async def bound_products(core: k8s.CoreV1Api, ns: str, selector: str,
                         count: int) -> dict[str, str] | None:
    """pod -> GPU product of its node, once ``count`` pods are bound; else None."""
    pods = (await core.list_namespaced_pod(ns, label_selector=selector)).items
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    if len(live) != count or not all(p.spec.node_name for p in live):
        return None
    out = {}
    for pod in live:
        node = await core.read_node(pod.spec.node_name)
        out[pod.metadata.name] = node.metadata.labels.get(PRODUCT_LABEL, "")
    return out


async def test_pinned_copies_run_on_the_chosen_product(member_api: dict[str, Any],
                                                       tmp_path: Path) -> None:
    api = member_api["member2"]
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    custom = k8s.CustomObjectsApi(api)
    applier = MemberApplier("member2", api, tmp_path)
    interp = Interpreters()
    ns = f"pin-{uuid.uuid4().hex[:6]}"
    isvc_name, dep_name = "chat", "llm"

    # 1. serving pinned to L4 while the A100 node is free (unpinned, kube-scheduler would
    # take the bigger A100 node)
    isvc = render(inference_service(isvc_name, ns), MEMBER, binding=f"{ns}.chat",
                  interpreters=interp, replicas={"predictor": 2}, gpu_product="L4-24GB")
    res = await applier.apply(isvc)
    assert res.ok and res.action == "created", res
    stored = await custom.get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", ns, "inferenceservices", isvc_name)
    terms = stored["spec"]["predictor"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [
        {"key": PRODUCT_LABEL, "operator": "In", "values": [L4]}]}]

    async def isvc_bound() -> dict[str, str] | None:
        return await bound_products(core, ns, f"serving.kserve.io/inferenceservice={isvc_name}",
                                    2)

    placed = await eventually(isvc_bound, timeout=60, what="2 predictor pods bound")
    assert set(placed.values()) == {L4}, placed

    # 2. training-style Deployment pinned to A100 with the user's affinity merged: 4
    # one-GPU replicas (unpinned, the default spreading would use the L4 nodes too)
    dep = render(gpu_deployment(dep_name, ns, 4), MEMBER, binding=f"{ns}.llm",
                 interpreters=interp, replicas={"main": 4}, gpu_product="A100-80GB")
    res = await applier.apply(dep)
    assert res.ok and res.action == "created", res
    live = await apps.read_namespaced_deployment(dep_name, ns)
    live_terms = live.spec.template.spec.affinity.node_affinity.\
        required_during_scheduling_ignored_during_execution.node_selector_terms
    assert [[(e.key, e.operator, e.values) for e in t.match_expressions]
            for t in live_terms] == [
        [("kubernetes.io/os", "In", ["linux"]), (PRODUCT_LABEL, "In", [A100])],
        [("type", "In", ["kwok"]), (PRODUCT_LABEL, "In", [A100])]]

    async def dep_bound() -> dict[str, str] | None:
        return await bound_products(core, ns, f"app={dep_name}", 4)

    placed = await eventually(dep_bound, timeout=60, what="4 Deployment pods bound")
    assert set(placed.values()) == {A100}, placed

    # 3. re-rendering with the same product sends what the member holds: no change
    again = await applier.apply(render(gpu_deployment(dep_name, ns, 4), MEMBER,
                                       binding=f"{ns}.llm", interpreters=interp,
                                       replicas={"main": 4}, gpu_product="A100-80GB"))
    assert again.action == "unchanged", again

    await custom.delete_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", ns, "inferenceservices", isvc_name)
    await apps.delete_namespaced_deployment(dep_name, ns)
