"""One binding per workload: the API group is part of a binding's name, and a binding an
older hub named without it is adopted (same label, same copy), not duplicated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.dev.localfleet import FleetState
from federation.model.labels import BINDING_LABEL

from .helpers import eventually
from .hubkit import G, V, binding, create_policy, namespace, policy, pytorchjob, running_hub

VC = ("batch.volcano.sh", "v1alpha1", "jobs")
KF = ("kubeflow.org", "v1", "pytorchjobs")
POD = {"metadata": {"labels": {"app": "train"}},
       "spec": {"restartPolicy": "Never", "containers": [
           {"name": "c", "image": "train:1", "resources": {"requests": {"cpu": "100m"}}}]}}


async def _custom(api: Any, what: tuple[str, str, str], ns: str, name: str) -> Any:
    try:
        return await k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            what[0], what[1], ns, what[2], name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def _batch_job(api: Any, ns: str, name: str) -> Any:
    try:
        return (await k8s.BatchV1Api(api).read_namespaced_job(name, ns)).to_dict()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _label(obj: Any) -> str | None:
    meta = obj["metadata"] if isinstance(obj, dict) else {}
    return (meta.get("labels") or {}).get(BINDING_LABEL)


async def test_a_batch_job_and_a_volcano_job_of_one_name(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
            ns, "train", {"clusterAffinity": {"clusterNames": ["member1"]}},
            kinds=(("batch/v1", "Job"), ("batch.volcano.sh/v1alpha1", "Job"))))
        await k8s.BatchV1Api(hub_api).create_namespaced_job(ns, {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "train", "namespace": ns, "labels": {"app": "train"}},
            "spec": {"backoffLimit": 0, "template": POD}})
        await k8s.CustomObjectsApi(hub_api).create_namespaced_custom_object(*VC[:2], ns, VC[2], {
            "apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
            "metadata": {"name": "train", "namespace": ns, "labels": {"app": "train"}},
            "spec": {"schedulerName": "volcano", "minAvailable": 1,
                     "tasks": [{"name": "worker", "replicas": 1, "template": POD}]}})
        member = member_api["member1"]
        batch = await eventually(lambda: _batch_job(member, ns, "train"), timeout=60,
                                 what="the batch Job on member1")
        volcano = await eventually(lambda: _custom(member, VC, ns, "train"), timeout=60,
                                   what="the Volcano Job on member1")
        b1 = await eventually(lambda: binding(hub_api, ns, "train-job"), timeout=20,
                              what="the batch Job's binding")
        b2 = await eventually(lambda: binding(hub_api, ns, "train-job.batch.volcano.sh"),
                              timeout=20, what="the Volcano Job's binding")
        assert b1["spec"]["resource"]["apiVersion"] == "batch/v1"
        assert b2["spec"]["resource"]["apiVersion"] == "batch.volcano.sh/v1alpha1"
        assert _label(batch) == _label(b1) == f"{ns}.train-job"
        assert _label(volcano) == _label(b2) == f"{ns}.train-job.batch.volcano.sh"

        # each is deleted on its own
        await k8s.BatchV1Api(hub_api).delete_namespaced_job(
            "train", ns, propagation_policy="Background")

        async def batch_gone() -> bool:
            return (await _batch_job(member, ns, "train") is None
                    and await binding(hub_api, ns, "train-job") is None)

        await eventually(batch_gone, timeout=60, what="the batch Job and its binding removed")
        assert await _custom(member, VC, ns, "train") is not None
        assert await binding(hub_api, ns, "train-job.batch.volcano.sh") is not None
        await k8s.CustomObjectsApi(hub_api).delete_namespaced_custom_object(
            *VC[:2], ns, VC[2], "train")

        async def volcano_gone() -> bool:
            return (await _custom(member, VC, ns, "train") is None
                    and await binding(hub_api, ns, "train-job.batch.volcano.sh") is None)

        await eventually(volcano_gone, timeout=60, what="the Volcano Job and its binding removed")


async def test_an_older_hubs_binding_is_adopted(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    custom = k8s.CustomObjectsApi(hub_api)
    member = member_api["member2"]
    new_name, old_name = "run-pytorchjob.kubeflow.org", "run-pytorchjob"
    async with running_hub(joined, tmp_path / "first"):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
            ns, "run", {"clusterAffinity": {"clusterNames": ["member2"]}},
            kinds=(("kubeflow.org/v1", "PyTorchJob"),)))
        await custom.create_namespaced_custom_object(*KF[:2], ns, KF[2],
                                                     pytorchjob(ns, "run", "run", 0))
        copy = await eventually(lambda: _custom(member, KF, ns, "run"), timeout=60,
                                what="the PyTorchJob on member2")
        placed = await eventually(lambda: binding(hub_api, ns, new_name), timeout=20,
                                  what="its binding")
    # what a hub that named bindings without the API group left behind: the binding
    # under the short name, and the copy labelled with it
    old_label = f"{ns}.{old_name}"
    await custom.create_namespaced_custom_object(G, V, ns, "resourcebindings", {
        "apiVersion": f"{G}/{V}", "kind": "ResourceBinding",
        "metadata": {"name": old_name, "namespace": ns, "labels": {BINDING_LABEL: old_label}},
        "spec": placed["spec"]})
    await custom.delete_namespaced_custom_object(G, V, ns, "resourcebindings", new_name)
    await k8s.CustomObjectsApi(member).patch_namespaced_custom_object(
        *KF[:2], ns, KF[2], "run", {"metadata": {"labels": {BINDING_LABEL: old_label}}},
        _content_type="application/merge-patch+json")

    async with running_hub(joined, tmp_path / "second"):
        adopted = await eventually(lambda: binding(hub_api, ns, new_name), timeout=60,
                                   what="the binding adopted under its new name")
        assert _label(adopted) == old_label
        assert adopted["spec"]["clusterNames"] == "member2"

        async def legacy_gone() -> bool:
            return await binding(hub_api, ns, old_name) is None

        await eventually(legacy_gone, timeout=20, what="the older binding removed")
        after = await _custom(member, KF, ns, "run")
        # the same copy, still carrying the label it had: not recreated, not relabelled
        assert after["metadata"]["uid"] == copy["metadata"]["uid"]
        assert _label(after) == old_label
        for other in ("member1", "member3"):
            assert await _custom(member_api[other], KF, ns, "run") is None
        await custom.delete_namespaced_custom_object(*KF[:2], ns, KF[2], "run")

        async def gone() -> bool:
            return (await _custom(member, KF, ns, "run") is None
                    and await binding(hub_api, ns, new_name) is None)

        await eventually(gone, timeout=60, what="the PyTorchJob and its binding removed")
