"""Training failover never runs two copies; serving failover stays fast.

A member's apiserver is paused (SIGSTOP: the member may still run its pods, the hub cannot
tell). The InferenceService on it moves after the policy's toleration; the PyTorchJob does
not, and its binding says it waits for a fence. ``fedctl clusters fence`` (the fence record
on the MemberCluster) lets it move, resuming from its checkpoint. When the member answers
again, the old copies are deleted there: never two training copies running after the fence.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.fencing import fence_patch, unfence_patch
from federation.dev.localfleet import FleetState, LocalFleet

from .helpers import eventually
from .hubkit import G, V, binding, create_policy, namespace, policy, pytorchjob, running_hub

KF = ("kubeflow.org", "v1", "pytorchjobs")
KS = ("serving.kserve.io", "v1beta1", "inferenceservices")


async def _get(api: Any, what: tuple[str, str, str], ns: str, name: str) -> Any:
    try:
        return await k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            what[0], what[1], ns, what[2], name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _cond(b: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in ((b or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


async def test_paused_member_moves_serving_not_training_until_fenced(
        joined: FleetState, local_fleet: LocalFleet, member_api: dict[str, Any],
        tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    custom = k8s.CustomObjectsApi(hub_api)
    home, other = "member1", "member2"
    ordered = {"clusterAffinities": [
        {"affinityName": "home", "clusterNames": [home]},
        {"affinityName": "backup", "clusterNames": [other]}]}
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(ns, "svc", ordered,
                                            kinds=(("serving.kserve.io/v1beta1",
                                                    "InferenceService"),)))
        await create_policy(hub_api, policy(ns, "train", ordered,
                                            kinds=(("kubeflow.org/v1", "PyTorchJob"),)))
        await custom.create_namespaced_custom_object(*KS[:2], ns, KS[2], {
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "svc", "namespace": ns, "labels": {"app": "svc"}},
            "spec": {"predictor": {"minReplicas": 1, "model": {
                "modelFormat": {"name": "sklearn"},
                "storageUri": "s3://models/iris/v1",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}}}})
        job = pytorchjob(ns, "train", "train", 1)
        job["metadata"]["annotations"] = {"fedctl.dev/checkpoint": "s3://ckpt/run-7/"}
        await custom.create_namespaced_custom_object(*KF[:2], ns, KF[2], job)
        await eventually(lambda: _get(member_api[home], KS, ns, "svc"), timeout=40,
                         what=f"InferenceService on {home}")
        await eventually(lambda: _get(member_api[home], KF, ns, "train"), timeout=40,
                         what=f"PyTorchJob on {home}")
        train_binding = None

        async def job_binding() -> Any:
            nonlocal train_binding
            for b in (await custom.list_namespaced_custom_object(
                    G, V, ns, "resourcebindings")).get("items") or []:
                if (b.get("spec") or {}).get("resource", {}).get("kind") == "PyTorchJob":
                    train_binding = b["metadata"]["name"]
                    return b
            return None

        await eventually(job_binding, timeout=20, what="the PyTorchJob's binding")
        assert train_binding is not None
        fenced = False
        local_fleet.pause_apiserver(home)
        try:
            # serving moves after the toleration (4 s) plus detection
            await eventually(lambda: _get(member_api[other], KS, ns, "svc"), timeout=60,
                             what=f"InferenceService moved to {other}")

            async def awaiting_fence() -> Any:
                c = _cond(await binding(hub_api, ns, train_binding or ""), "Failover")
                return c if c and c["reason"] == "AwaitingFence" else None

            cond = await eventually(awaiting_fence, timeout=30,
                                    what="the training binding waiting for a fence")
            assert cond["status"] == "False"
            assert f"fedctl clusters fence {home}" in cond["message"], cond
            # training does not start elsewhere while the old copy may still run
            assert await _get(member_api[other], KF, ns, "train") is None
            b = await binding(hub_api, ns, train_binding)
            assert [c["name"] for c in b["spec"]["clusters"]] == [home]
            events = await k8s.CoreV1Api(hub_api).list_namespaced_event(ns)
            assert any(e.reason == "AwaitingFence" and e.involved_object.name == "train"
                       for e in events.items)

            # the operator fences the member: the job moves and resumes from its checkpoint
            await custom.patch_cluster_custom_object(
                G, V, "memberclusters", home,
                fence_patch("itest", dt.datetime.now(dt.UTC), "paused apiserver"),
                _content_type="application/merge-patch+json")
            fenced = True
            moved = await eventually(lambda: _get(member_api[other], KF, ns, "train"),
                                     timeout=40, what=f"PyTorchJob moved to {other}")
            assert moved["metadata"]["annotations"]["fedctl.dev/resume-from"] == (
                "s3://ckpt/run-7/")
            for role in ("Master", "Worker"):
                env = moved["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"][
                    "containers"][0]["env"]
                assert {"name": "FEDCTL_RESUME_FROM", "value": "s3://ckpt/run-7/"} in env
                assert {"name": "FEDCTL_FAILOVER_FROM", "value": home} in env
            b = await binding(hub_api, ns, train_binding)
            assert b is not None and b["spec"]["resume"] == {
                "location": "s3://ckpt/run-7/", "fromCluster": home}

            async def no_longer_waiting() -> bool:
                c = _cond(await binding(hub_api, ns, train_binding or ""), "Failover")
                return c is None or c.get("reason") != "AwaitingFence"

            # (the binding's status follows its new decision one reconcile later)
            await eventually(no_longer_waiting, timeout=20, what="AwaitingFence cleared")
        finally:
            local_fleet.resume_apiserver(home)
        try:
            # the member answers again: the old training copy is deleted there
            async def old_gone() -> bool:
                return await _get(member_api[home], KF, ns, "train") is None

            await eventually(old_gone, timeout=60, what=f"old training copy removed on {home}")
            assert await _get(member_api[other], KF, ns, "train") is not None
        finally:
            if fenced:
                await custom.patch_cluster_custom_object(
                    G, V, "memberclusters", home, unfence_patch(),
                    _content_type="application/merge-patch+json")
            for what, name in ((KF, "train"), (KS, "svc")):
                with contextlib.suppress(ApiException):
                    await custom.delete_namespaced_custom_object(*what[:2], ns, what[2], name)

            async def all_gone() -> bool:
                for m in (home, other):
                    if await _get(member_api[m], KF, ns, "train") is not None:
                        return False
                    if await _get(member_api[m], KS, ns, "svc") is not None:
                        return False
                return True

            await eventually(all_gone, timeout=60, what="copies removed")
