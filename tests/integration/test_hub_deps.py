"""Referenced ConfigMaps, Secrets and ServiceAccounts follow their workloads to members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.dev.localfleet import FleetState

from .helpers import eventually
from .hubkit import (
    binding,
    create_policy,
    deployment,
    namespace,
    policy,
    read_core,
    running_hub,
)


def _uses_config(dep: dict[str, Any]) -> dict[str, Any]:
    pod = dep["spec"]["template"]["spec"]
    pod["serviceAccountName"] = "trainer"
    pod["containers"][0]["envFrom"] = [{"configMapRef": {"name": "model-config"}}]
    pod["volumes"] = [{"name": "creds", "secret": {"secretName": "hf-token"}}]
    return dep



async def test_referenced_objects_are_propagated_shared_and_released(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    member = member_api["member2"]
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        core = k8s.CoreV1Api(hub_api)
        await core.create_namespaced_config_map(ns, {"metadata": {"name": "model-config"},
                                                     "data": {"MODEL": "llama-8b"}})
        await core.create_namespaced_secret(ns, {"metadata": {"name": "hf-token"},
                                                 "stringData": {"token": "s3cr3t"}})
        await core.create_namespaced_service_account(ns, {"metadata": {"name": "trainer"}})
        await create_policy(hub_api, policy(
            ns, "api", {"clusterAffinity": {"clusterNames": ["member2"]}}))
        apps = k8s.AppsV1Api(hub_api)
        await apps.create_namespaced_deployment(ns, _uses_config(deployment(ns, "api", 1)))
        second = _uses_config(deployment(ns, "api2", 1))
        second["metadata"]["labels"]["app"] = "api"  # same policy
        await apps.create_namespaced_deployment(ns, second)

        async def copied() -> Any:
            got = [await read_core(member, k, ns, n) for k, n in (
                ("ConfigMap", "model-config"), ("Secret", "hf-token"),
                ("ServiceAccount", "trainer"))]
            if any(g is None for g in got):
                return None
            refs = got[0].metadata.annotations.get("fedctl.dev/referenced-by", "")
            return got if refs.count(",") == 1 else None

        cm, secret, sa = await eventually(copied, timeout=40, what="dependencies on member2")
        assert cm.data == {"MODEL": "llama-8b"}
        assert cm.metadata.labels["app.kubernetes.io/managed-by"] == "fedctl"
        assert sorted(cm.metadata.annotations["fedctl.dev/referenced-by"].split(",")) == [
            f"{ns}.api-deployment", f"{ns}.api2-deployment"]
        assert secret.data["token"] == "czNjcjN0"  # base64 of s3cr3t
        assert sa.metadata.name == "trainer"
        b = await binding(hub_api, ns, "api-deployment")
        assert b is not None
        assert {d["kind"] for d in b["spec"]["dependencies"]} == {
            "ConfigMap", "Secret", "ServiceAccount"}

        # a change on the hub reaches the member
        await core.patch_namespaced_config_map("model-config", ns,
                                               {"data": {"MODEL": "llama-70b"}})

        async def updated() -> Any:
            got = await read_core(member, "ConfigMap", ns, "model-config")
            return got is not None and got.data == {"MODEL": "llama-70b"}

        await eventually(updated, timeout=30, what="ConfigMap update propagated")

        # drift on the member is corrected: an edit there is undone, a deleted copy comes back
        member_core = k8s.CoreV1Api(member)
        await member_core.patch_namespaced_config_map("model-config", ns,
                                                      {"data": {"MODEL": "tampered"}})
        await eventually(updated, timeout=30, what="member edit of the ConfigMap undone")
        await member_core.delete_namespaced_secret("hf-token", ns)

        async def secret_back() -> Any:
            got = await read_core(member, "Secret", ns, "hf-token")
            return got is not None and got.data["token"] == "czNjcjN0"

        await eventually(secret_back, timeout=30, what="deleted Secret copy re-created")
        await member_core.delete_namespaced_service_account("trainer", ns)

        async def sa_back() -> Any:
            return await read_core(member, "ServiceAccount", ns, "trainer") is not None

        await eventually(sa_back, timeout=30, what="deleted ServiceAccount copy re-created")

        # one workload goes: the shared copies stay for the other, then go with it
        await apps.delete_namespaced_deployment("api", ns)

        async def one_referrer() -> Any:
            got = await read_core(member, "ConfigMap", ns, "model-config")
            return got is not None and got.metadata.annotations.get(
                "fedctl.dev/referenced-by") == f"{ns}.api2-deployment"

        await eventually(one_referrer, timeout=30, what="first workload let go")
        await apps.delete_namespaced_deployment("api2", ns)

        async def released() -> Any:
            return all([await read_core(member, k, ns, n) is None for k, n in (
                ("ConfigMap", "model-config"), ("Secret", "hf-token"),
                ("ServiceAccount", "trainer"))])

        await eventually(released, timeout=30, what="copies deleted with the last workload")


async def test_member_own_secret_is_left_alone_and_missing_ones_reported(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    member = member_api["member2"]
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        core = k8s.CoreV1Api(hub_api)
        await core.create_namespaced_secret(ns, {"metadata": {"name": "hf-token"},
                                                 "stringData": {"token": "hub"}})
        await k8s.CoreV1Api(member).create_namespace({"metadata": {"name": ns}})
        await k8s.CoreV1Api(member).create_namespaced_secret(
            ns, {"metadata": {"name": "hf-token"}, "stringData": {"token": "local"}})
        await create_policy(hub_api, policy(
            ns, "api", {"clusterAffinity": {"clusterNames": ["member2"]}}))
        dep = _uses_config(deployment(ns, "api", 1))  # the ConfigMap and SA do not exist
        await k8s.AppsV1Api(hub_api).create_namespaced_deployment(ns, dep)

        async def reported() -> Any:
            b = await binding(hub_api, ns, "api-deployment")
            conds = {c["type"]: c for c in ((b or {}).get("status") or {}).get(
                "conditions") or []}
            c = conds.get("DependenciesApplied")
            return c if c and c["status"] == "False" else None

        cond = await eventually(reported, timeout=40, what="missing dependency reported")
        assert "ConfigMap" in cond["message"] and "model-config" in cond["message"]
        assert "does not exist on the hub" in cond["message"]
        local = await read_core(member, "Secret", ns, "hf-token")
        assert local.data["token"] == "bG9jYWw="  # still the member's own ("local")
