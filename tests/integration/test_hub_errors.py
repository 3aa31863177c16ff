"""The hub on failures and finished work, on the local fleet.

* A member that rejects a copy (HTTP 422 from an admission policy there) gives the binding
  ``Applied=False`` with the member's message and a Warning Event, and the hub does not
  retry it until the template changes; then it applies.
* A finished Job gives its GPUs back: a second Job that found no room is placed without a
  restart, and the finished one is never placed again.
* ``kubectl get rb`` lists every cluster of a binding.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.dev import build as devbuild
from federation.dev.localfleet import FleetState

from .helpers import eventually
from .hubkit import binding, create_policy, deployment, namespace, policy, running_hub

ADMISSION = ("admissionregistration.k8s.io", "v1")


def _conditions(b: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in ((b or {}).get("status") or {}).get("conditions") or []}


def _applies(hub: Any, result: str, reason: str) -> float:
    value = hub.metrics.registry.get_sample_value(
        "fedctl_member_applies_total", {"result": result, "reason": reason})
    return float(value or 0.0)


async def _reject_on(api: Any, name: str, label: str) -> None:
    """An admission policy on a member that rejects Deployments labelled ``label`` (422
    Invalid), as a member whose schema or policy refuses what the hub accepted."""
    custom = k8s.CustomObjectsApi(api)
    await custom.create_cluster_custom_object(*ADMISSION, "validatingadmissionpolicies", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {
                     "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                        "operations": ["CREATE", "UPDATE"],
                                        "resources": ["deployments"]}],
                     "objectSelector": {"matchExpressions": [
                         {"key": label, "operator": "Exists"}]}},
                 "validations": [{"expression": "false", "reason": "Invalid",
                                  "message": f"label {label} is not allowed here"}]}})
    await custom.create_cluster_custom_object(
        *ADMISSION, "validatingadmissionpolicybindings", {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"]}})
    probe = deployment("default", f"{name}-probe", 1)
    probe["metadata"]["labels"][label] = "x"
    apps = k8s.AppsV1Api(api)

    async def enforced() -> bool:
        try:
            await apps.create_namespaced_deployment("default", probe, dry_run="All")
        except ApiException as exc:
            return exc.status == 422
        return False

    await eventually(enforced, timeout=30, what="admission policy enforced on the member")


async def _drop_rejection(api: Any, name: str) -> None:
    custom = k8s.CustomObjectsApi(api)
    for plural in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
        try:
            await custom.delete_cluster_custom_object(*ADMISSION, plural, name)
        except ApiException as exc:
            if exc.status != 404:
                raise


async def test_a_rejected_copy_is_a_condition_not_a_retry_storm(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api, m1 = member_api["hub"], member_api["member1"]
    apps = k8s.AppsV1Api(hub_api)
    async with running_hub(joined, tmp_path) as hub:
        ns = await namespace(hub_api)
        label = f"reject-{ns}"
        await _reject_on(m1, ns, label)
        try:
            await create_policy(hub_api, policy(
                ns, "web", {"clusterAffinity": {"clusterNames": ["member1"]}}))
            dep = deployment(ns, "web", 1)
            dep["metadata"]["labels"][label] = "yes"
            await apps.create_namespaced_deployment(ns, dep)

            async def rejected() -> dict[str, Any] | None:
                c = _conditions(await binding(hub_api, ns, "web-deployment")).get("Applied")
                return c if c and c["status"] == "False" else None

            cond = await eventually(rejected, timeout=40, what="Applied=False")
            assert cond["reason"] == "SchemaRejected", cond
            assert cond["message"].startswith("member1: cluster member1 answered HTTP 422")
            assert f"label {label} is not allowed here" in cond["message"]
            events = await k8s.CoreV1Api(hub_api).list_namespaced_event(
                ns, field_selector="involvedObject.name=web")
            assert any(e.reason == "SchemaRejected" and e.type == "Warning"
                       for e in events.items), [(e.reason, e.type) for e in events.items]

            # no retry storm: the first reconcile and the status one after it, and then
            # nothing until something changes (it retried every 3 s before)
            seen = _applies(hub, "error", "SchemaRejected")
            assert 1 <= seen <= 2
            await asyncio.sleep(10)
            assert _applies(hub, "error", "SchemaRejected") - seen <= 1

            # the template is fixed: it applies at once
            await apps.patch_namespaced_deployment(
                "web", ns, {"metadata": {"labels": {label: None}}})

            async def applied() -> Any:
                c = _conditions(await binding(hub_api, ns, "web-deployment")).get("Applied")
                return c if c and c["status"] == "True" else None

            await eventually(applied, timeout=30, what="Applied=True after the fix")
            copy = await k8s.AppsV1Api(m1).read_namespaced_deployment("web", ns)
            assert label not in (copy.metadata.labels or {})
        finally:
            await _drop_rejection(m1, ns)


def _job(ns: str, name: str, gpus: int, *, suspend: bool = False) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "train"}},
            "spec": {"suspend": suspend, "backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "train", "image": "registry.example/train:1",
                                "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}}}


async def test_a_finished_job_gives_its_gpus_to_a_waiting_one(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api, m1 = member_api["hub"], member_api["member1"]
    batch, member_batch = k8s.BatchV1Api(hub_api), k8s.BatchV1Api(m1)

    async def on_member1(name: str, ns: str) -> Any:
        try:
            return await member_batch.read_namespaced_job(name, ns)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def bound(name: str, ns: str) -> list[str] | None:
        b = await binding(hub_api, ns, f"{name}-job")
        names = [c["name"] for c in ((b or {}).get("spec") or {}).get("clusters") or []]
        return names or None

    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(ns, "train", {"gpu": {"products": ["H100"]}},
                                            kinds=(("batch/v1", "Job"),)))
        # member1 has the only H100s: one node of 8. The first job takes them all; it
        # is suspended (no pods yet), so only the hub's hold keeps the second one out.
        await batch.create_namespaced_job(ns, _job(ns, "first", 8, suspend=True))
        assert await eventually(lambda: bound("first", ns), timeout=30,
                                what="first job bound") == ["member1"]
        await eventually(lambda: on_member1("first", ns), timeout=30, what="first on member1")
        await batch.create_namespaced_job(ns, _job(ns, "second", 8))

        async def refused() -> Any:
            c = _conditions(await binding(hub_api, ns, "second-job")).get("Scheduled")
            return c if c and c["status"] == "False" else None

        cond = await eventually(refused, timeout=30, what="second job unschedulable")
        assert cond["reason"] == "Unschedulable"
        assert await on_member1("second", ns) is None

        # the first job runs and finishes on member1: its hold is released, and the
        # second job is placed there (no restart, no timer: a fleet change)
        await batch.patch_namespaced_job("first", ns, {"spec": {"suspend": False}})

        async def finished() -> Any:
            b = await binding(hub_api, ns, "first-job")
            spec = (b or {}).get("spec") or {}
            return spec if spec.get("finished") == "Succeeded" else None

        spec = await eventually(finished, timeout=90, what="first job finished")
        assert all("hold" not in c for c in spec["clusters"]), spec["clusters"]
        assert await eventually(lambda: bound("second", ns), timeout=30,
                                what="second job placed") == ["member1"]
        await eventually(lambda: on_member1("second", ns), timeout=30,
                         what="second on member1")

        # the finished job's copy is removed on the member: it is not placed again
        await member_batch.delete_namespaced_job("first", ns, propagation_policy="Background")
        await eventually(lambda: _absent(on_member1("first", ns)), timeout=30,
                         what="first job's copy deleted")
        await asyncio.sleep(5)
        assert await on_member1("first", ns) is None
        assert await bound("first", ns) == ["member1"]


async def _absent(got: Any) -> bool:
    return await got is None


async def test_kubectl_lists_every_cluster_of_a_binding(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
            ns, "api", {"clusterAffinity": {"clusterNames": ["member1", "member2"]},
                        "replicaScheduling": {"type": "Duplicated"}}))
        await k8s.AppsV1Api(hub_api).create_namespaced_deployment(
            ns, deployment(ns, "api", 1))

        async def both() -> Any:
            b = await binding(hub_api, ns, "api-deployment")
            return b if len(((b or {}).get("spec") or {}).get("clusters") or []) == 2 else None

        await eventually(both, timeout=30, what="binding on two clusters")
        kubectl = devbuild.component_dir(devbuild.COMPONENTS["kubernetes"]) / "kubectl"
        out = subprocess.run(
            [str(kubectl), "--kubeconfig", str(joined.kubeconfig), "--context", "hub",
             "get", "rb", "-n", ns, "api-deployment"],
            capture_output=True, text=True, check=True, timeout=30).stdout
        header, row = out.rstrip("\n").splitlines()
        # columns by where their titles start (an empty cell leaves no word behind)
        titles = header.split()
        starts = [header.index(f" {t}") + 1 if i else 0 for i, t in enumerate(titles)]
        columns = {t: row[a:b].strip() for t, a, b in zip(
            titles, starts, [*starts[1:], len(row) + 1], strict=True)}
        assert columns["CLUSTERS"] == "member1,member2", out
        assert columns["KIND"] == "Deployment" and columns["WORKLOAD"] == "api", out
