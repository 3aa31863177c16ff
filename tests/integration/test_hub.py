"""The hub controller end to end on the real local fleet.

Each test starts the hub in-process against the fleet's hub apiserver, creates policies and
templates there with the Kubernetes API (as `kubectl apply` would), and checks the members.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.dev.localfleet import FleetState, LocalFleet

from .helpers import eventually
from .hubkit import (
    G,
    V,
    binding,
    create_policy,
    deployment,
    member_replicas,
    namespace,
    policy,
    pytorchjob,
    running_hub,
)


async def test_deployment_placed_applied_aggregated_updated_and_pruned(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
            ns, "chat", {"replicaScheduling": {"type": "Divided", "division": "Aggregated"},
                         "gpu": {"products": ["L4"]}}))
        apps = k8s.AppsV1Api(hub_api)
        await apps.create_namespaced_deployment(ns, deployment(ns, "chat", 2, gpus=1))

        # Only member2 has L4 GPUs: the engine must choose it.
        async def on_member2() -> Any:
            return await member_replicas(member_api["member2"], ns, "chat") == 2

        await eventually(on_member2, timeout=30, what="Deployment on member2")
        for other in ("member1", "member3"):
            assert await member_replicas(member_api[other], ns, "chat") is None

        async def aggregated() -> Any:
            d = await apps.read_namespaced_deployment("chat", ns)
            return d if (d.status.ready_replicas or 0) == 2 else None

        await eventually(aggregated, timeout=40, what="hub status readyReplicas=2")

        async def reported() -> Any:
            got = await binding(hub_api, ns, "chat-deployment")
            return got if ((got or {}).get("status") or {}).get("conditions") else None

        # the status a new decision leads to is written one (STATUS band) reconcile later
        b = await eventually(reported, timeout=20, what="binding status conditions")
        assert b["spec"]["clusters"] == [{
            "name": "member2", "replicas": {"main": 2},
            # the capacity the hub holds there until the pods exist (and while they run)
            "hold": [{"product": "L4-24GB", "gpus": 1, "cpuMillis": 100, "memoryBytes": 0,
                      "replicas": 2}]}]
        sched = next(c for c in b["status"]["conditions"] if c["type"] == "Scheduled")
        assert sched["status"] == "True"
        # every hub write names fedctl as its field manager (status patches too)
        assert {(m["manager"], m.get("subresource", ""))
                for m in b["metadata"]["managedFields"]} == {("fedctl", ""),
                                                             ("fedctl", "status")}

        # Update the template: the member follows.
        await apps.patch_namespaced_deployment_scale("chat", ns, {"spec": {"replicas": 3}})

        async def scaled() -> Any:
            return await member_replicas(member_api["member2"], ns, "chat") == 3

        await eventually(scaled, timeout=30, what="member copy scaled to 3")

        # Delete it on the hub: pruned everywhere, binding and finalizer gone.
        await apps.delete_namespaced_deployment("chat", ns)

        async def pruned() -> Any:
            gone = await member_replicas(member_api["member2"], ns, "chat") is None
            b = await binding(hub_api, ns, "chat-deployment")
            try:
                await apps.read_namespaced_deployment("chat", ns)
                template_gone = False
            except ApiException as exc:
                template_gone = exc.status == 404
            return gone and b is None and template_gone

        await eventually(pruned, timeout=30, what="pruned from members, binding deleted")


async def test_unschedulable_workload_explains_why(joined: FleetState,
                                                   member_api: dict[str, Any],
                                                   tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
                ns, "huge", {"replicaScheduling": {"type": "Divided",
                                                   "division": "Aggregated"}}))
        await k8s.AppsV1Api(hub_api).create_namespaced_deployment(
            ns, deployment(ns, "huge", 1, gpus=16))

        async def explained() -> Any:
            b = await binding(hub_api, ns, "huge-deployment")
            conds = {c["type"]: c for c in ((b or {}).get("status") or {}).get("conditions")
                     or []}
            return conds.get("Scheduled") if "Scheduled" in conds else None

        cond = await eventually(explained, timeout=30, what="Scheduled condition")
        assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
        assert "0/3 clusters available" in cond["message"]
        for member in ("member1", "member2", "member3"):
            assert await member_replicas(member_api[member], ns, "huge") is None


async def test_pytorchjob_gang_lands_whole_and_held_capacity_is_not_promised_twice(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    custom = k8s.CustomObjectsApi(hub_api)
    member1 = k8s.CustomObjectsApi(member_api["member1"])

    async def on_member1(name: str) -> Any:
        try:
            return await member1.get_namespaced_custom_object(
                "kubeflow.org", "v1", ns, "pytorchjobs", name)
        except ApiException:
            return None

    async def bound(name: str) -> Any:
        b = await binding(hub_api, ns, f"{name}-pytorchjob.kubeflow.org")
        return [c["name"] for c in ((b or {}).get("spec") or {}).get("clusters") or []]

    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
            ns, "train", {"gpu": {"products": ["H100"]}},
            kinds=(("kubeflow.org/v1", "PyTorchJob"),)))
        # member1 has the only H100s: one node of 8. Each job is a 2x4-GPU gang.
        await custom.create_namespaced_custom_object("kubeflow.org", "v1", ns, "pytorchjobs",
                                                     pytorchjob(ns, "train", "train", 4))
        job = await eventually(lambda: on_member1("train"), timeout=30,
                               what="PyTorchJob on member1")
        specs = job["spec"]["pytorchReplicaSpecs"]
        assert (specs["Master"]["replicas"], specs["Worker"]["replicas"]) == (1, 1)
        assert await eventually(lambda: bound("train"), timeout=30,
                                what="binding") == ["member1"]

        # A second gang right away: its pods may not exist yet, but the hub holds the
        # 8 GPUs for the first one, so the second must wait instead of overcommitting.
        await custom.create_namespaced_custom_object("kubeflow.org", "v1", ns, "pytorchjobs",
                                                     pytorchjob(ns, "train2", "train", 4))

        async def refused() -> Any:
            b = await binding(hub_api, ns, "train2-pytorchjob.kubeflow.org")
            conds = {c["type"]: c for c in ((b or {}).get("status") or {}).get(
                "conditions") or []}
            c = conds.get("Scheduled")
            return c if c and c["status"] == "False" else None

        cond = await eventually(refused, timeout=30, what="second gang unschedulable")
        assert cond["reason"] == "Unschedulable"
        assert await on_member1("train2") is None

        # The first job goes: the second takes its place.
        await custom.delete_namespaced_custom_object("kubeflow.org", "v1", ns, "pytorchjobs",
                                                     "train")
        assert await eventually(lambda: bound("train2"), timeout=40,
                                what="second gang placed") == ["member1"]
        await eventually(lambda: on_member1("train2"), timeout=30, what="train2 on member1")
        await custom.delete_namespaced_custom_object("kubeflow.org", "v1", ns, "pytorchjobs",
                                                     "train2")

        async def gone() -> bool:
            return await on_member1("train2") is None and await on_member1("train") is None

        await eventually(gone, timeout=30, what="both jobs removed from member1")


async def test_failover_moves_workloads_and_fences_the_old_copy(
        joined: FleetState, local_fleet: LocalFleet, member_api: dict[str, Any],
        tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
                ns, "api", {"clusterAffinity": {"clusterNames": ["member1", "member2"]},
                            "replicaScheduling": {"type": "Divided",
                                                  "division": "Aggregated"}}))
        await k8s.AppsV1Api(hub_api).create_namespaced_deployment(ns, deployment(ns, "api", 2))

        async def placed_on() -> Any:
            b = await binding(hub_api, ns, "api-deployment")
            names = [c["name"] for c in ((b or {}).get("spec") or {}).get("clusters") or []]
            return names[0] if len(names) == 1 else None

        first = await eventually(placed_on, timeout=30, what="first placement")
        other = "member2" if first == "member1" else "member1"
        await eventually(lambda: member_replicas(member_api[first], ns, "api"), timeout=30,
                         what="copy on the first cluster")
        killed_at = time.monotonic()
        local_fleet.kill_apiserver(first)
        try:
            async def moved() -> Any:
                return await member_replicas(member_api[other], ns, "api") == 2

            await eventually(moved, timeout=60, what=f"workload moved to {other}")
            took = time.monotonic() - killed_at
            assert took < 60, took

            async def fencing_pending() -> Any:
                b = await binding(hub_api, ns, "api-deployment")
                # the failover state lives in the spec, written with the decision
                return ((b or {}).get("spec") or {}).get("pendingCleanup") == [first]

            await eventually(fencing_pending, timeout=30, what="old copy awaiting fencing")
            # the controller taints the failed cluster's MemberCluster
            mc = await k8s.CustomObjectsApi(hub_api).get_cluster_custom_object(
                G, V, "memberclusters", first)
            health = [t for t in mc["spec"].get("taints") or []
                      if t["key"].startswith("cluster.fedctl.dev/")]
            assert len(health) == 1 and health[0]["effect"] == "NoExecute", mc["spec"]
            assert health[0]["key"] in ("cluster.fedctl.dev/unreachable",
                                        "cluster.fedctl.dev/not-ready")
            assert health[0]["timeAdded"]
        finally:
            await local_fleet.restart_apiserver(first)

        async def fenced() -> Any:
            return await member_replicas(member_api[first], ns, "api") is None

        await eventually(fenced, timeout=60, what=f"old copy removed from {first}")

        async def settled() -> Any:
            b = await binding(hub_api, ns, "api-deployment")
            spec = (b or {}).get("spec") or {}
            return b if b is not None and "pendingCleanup" not in spec else None

        b = await eventually(settled, timeout=30, what="nothing left to fence")
        assert [c["name"] for c in b["spec"]["clusters"]] == [other]

        async def untainted() -> Any:
            mc = await k8s.CustomObjectsApi(hub_api).get_cluster_custom_object(
                G, V, "memberclusters", first)
            return not [t for t in mc["spec"].get("taints") or []
                        if t["key"].startswith("cluster.fedctl.dev/")]

        await eventually(untainted, timeout=30, what="health taint removed")


async def test_invalid_policy_and_template_are_reported_not_applied(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        custom = k8s.CustomObjectsApi(hub_api)
        # The CRD schema accepts it; fedctl's validation does not (the API server already
        # rejects or prunes unknown fields, so a semantic error is what reaches the hub).
        bad = policy(ns, "broken", {"clusterAffinity": {"clusterNames": ["member1"],
                                                        "exclude": ["member1"]}})
        await create_policy(hub_api, bad)

        async def reported() -> Any:
            got = await custom.get_namespaced_custom_object(G, V, ns, "propagationpolicies",
                                                           "broken")
            conds = (got.get("status") or {}).get("conditions") or []
            return conds[0] if conds else None

        cond = await eventually(reported, timeout=30, what="policy status condition")
        assert (cond["type"], cond["status"], cond["reason"]) == ("Valid", "False",
                                                                  "InvalidPolicy")
        assert "cluster 'member1' is both named and excluded" in cond["message"]
        assert "spec.placement.clusterAffinity.exclude" in cond["message"]

        async def warned() -> Any:
            evs = await k8s.CoreV1Api(hub_api).list_namespaced_event(ns)
            return [e for e in evs.items if e.reason == "InvalidPolicy"] or None

        (event,) = await eventually(warned, timeout=30, what="InvalidPolicy event")
        assert event.type == "Warning" and event.involved_object.name == "broken"

        # A valid policy with a template the interpreter cannot read: condition + event.
        await create_policy(hub_api, policy(
            ns, "odd", {"replicaScheduling": {"type": "Divided", "division": "Aggregated"}}))
        # The hub accepts it; fedctl cannot place it (no such GPU product).
        await k8s.AppsV1Api(hub_api).create_namespaced_deployment(
            ns, deployment(ns, "odd", 1, gpus=1, product="NVIDIA-Imaginary-9000"))

        async def invalid() -> Any:
            b = await binding(hub_api, ns, "odd-deployment")
            conds = ((b or {}).get("status") or {}).get("conditions") or []
            return next((c for c in conds if c["reason"] == "InvalidTemplate"), None)

        cond = await eventually(invalid, timeout=30, what="InvalidTemplate condition")
        assert "unknown GPU product 'NVIDIA-Imaginary-9000'" in cond["message"]
        # where, as `fedctl plan` says it
        assert cond["message"].startswith(
            "spec.template.spec.nodeSelector.nvidia.com/gpu.product: "), cond["message"]
        for member in ("member1", "member2", "member3"):
            assert await member_replicas(member_api[member], ns, "odd") is None


async def test_member_cluster_status_is_published(joined: FleetState,
                                                  member_api: dict[str, Any],
                                                  tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    async with running_hub(joined, tmp_path):
        async def published() -> Any:
            mc = await k8s.CustomObjectsApi(hub_api).get_cluster_custom_object(
                G, V, "memberclusters", "member1")
            status = mc.get("status") or {}
            ready = [c for c in status.get("conditions") or [] if c["status"] == "True"]
            return status if status.get("installedKinds") and ready else None

        status = await eventually(published, timeout=30, what="MemberCluster status")
        assert status["conditions"][0]["type"] == "Ready"
        assert status["conditions"][0]["status"] == "True"
        gpus = {g["product"]: g for g in status["gpus"]}
        assert gpus["H100-80GB"]["allocatable"] == 8
        assert "kubeflow.org/PyTorchJob" in status["installedKinds"]
        assert "apps/Deployment" in status["installedKinds"]


async def test_inference_service_spreads_over_two_regions_with_per_cluster_storage(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    """Hub-level: an InferenceService Divided over two regions, one copy per region, and a
    ClusterOverridePolicy pointing each copy's storageUri at its region's mirror."""
    hub_api = member_api["hub"]
    custom = k8s.CustomObjectsApi(hub_api)
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
            ns, "chat", {"clusterAffinity": {"clusterNames": ["member2", "member3"]},
                         "clusterTolerations": [{"key": "fedctl.dev/edge",
                                                 "operator": "Exists"}],
                         "spreadConstraints": [{"spreadBy": "region", "minGroups": 2,
                                                "maxGroups": 2}],
                         "replicaScheduling": {"type": "Divided"}},
            kinds=(("serving.kserve.io/v1beta1", "InferenceService"),)))
        mirrors = f"mirrors-{ns}"
        await custom.create_cluster_custom_object(G, V, "clusteroverridepolicies", {
            "apiVersion": f"{G}/{V}", "kind": "ClusterOverridePolicy",
            "metadata": {"name": mirrors},
            "spec": {"resourceSelectors": [{"apiVersion": "serving.kserve.io/v1beta1",
                                            "kind": "InferenceService", "namespace": ns}],
                     "overrideRules": [
                         {"targetCluster": {"clusterNames": ["member2"]},
                          "overriders": {"storageUri": {"from": "s3://models/",
                                                        "to": "s3://s3-a/models/"}}},
                         {"targetCluster": {"clusterNames": ["member3"]},
                          "overriders": {"storageUri": {"from": "s3://models/",
                                                        "to": "gs://gcs-a/models/"}}}]}})
        try:
            await custom.create_namespaced_custom_object(
                "serving.kserve.io", "v1beta1", ns, "inferenceservices", {
                    "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                    "metadata": {"name": "chat", "namespace": ns, "labels": {"app": "chat"}},
                    "spec": {"predictor": {"minReplicas": 2, "model": {
                        "modelFormat": {"name": "huggingface"},
                        "storageUri": "s3://models/chat/v1",
                        "resources": {"limits": {"nvidia.com/gpu": "1"}}}}}})

            async def copies() -> Any:
                out = {}
                for member in ("member2", "member3"):
                    try:
                        out[member] = await k8s.CustomObjectsApi(
                            member_api[member]).get_namespaced_custom_object(
                            "serving.kserve.io", "v1beta1", ns, "inferenceservices", "chat")
                    except ApiException:
                        return None
                return out

            got = await eventually(copies, timeout=40, what="a copy in each region")
            assert got["member2"]["spec"]["predictor"]["model"]["storageUri"] == (
                "s3://s3-a/models/chat/v1")
            assert got["member3"]["spec"]["predictor"]["model"]["storageUri"] == (
                "gs://gcs-a/models/chat/v1")
            assert [got[m]["spec"]["predictor"]["minReplicas"] for m in ("member2",
                                                                        "member3")] == [1, 1]
            # free member3's only T4 for the tests that follow
            await custom.delete_namespaced_custom_object(
                "serving.kserve.io", "v1beta1", ns, "inferenceservices", "chat")

            async def gone() -> bool:
                try:
                    await k8s.CustomObjectsApi(member_api["member3"]).get_namespaced_custom_object(
                        "serving.kserve.io", "v1beta1", ns, "inferenceservices", "chat")
                except ApiException as exc:
                    return exc.status == 404
                return False

            await eventually(gone, timeout=30, what="copies removed")
        finally:
            await custom.delete_cluster_custom_object(G, V, "clusteroverridepolicies", mirrors)
