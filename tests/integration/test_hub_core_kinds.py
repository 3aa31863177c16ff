"""Services, ConfigMaps and Secrets as templates of their own: selected by a policy, copied
whole to every selected member (no replicas to divide), updated and pruned like any
template; a Service keeps each member's own cluster IP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.dev.localfleet import FleetState

from .helpers import eventually
from .hubkit import binding, create_policy, namespace, policy, read_core, running_hub

CORE = (("v1", "Service"), ("v1", "ConfigMap"), ("v1", "Secret"))



async def test_service_configmap_secret_copied_to_every_selected_member(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    core = k8s.CoreV1Api(hub_api)
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        # Divided/Aggregated: a replica-less kind still goes to every cluster the policy
        # allows (member3 is an edge site, tainted, and the policy does not tolerate it)
        await create_policy(hub_api, policy(
            ns, "web", {"replicaScheduling": {"type": "Divided", "division": "Aggregated"}},
            kinds=CORE))
        labels = {"app": "web"}
        await core.create_namespaced_config_map(ns, {
            "metadata": {"name": "web", "labels": labels}, "data": {"mode": "blue"}})
        await core.create_namespaced_secret(ns, {
            "metadata": {"name": "web", "labels": labels}, "stringData": {"token": "s3cr3t"}})
        await core.create_namespaced_service(ns, {
            "metadata": {"name": "web", "labels": labels},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
        # not selected (no app=web label): stays on the hub
        await core.create_namespaced_config_map(ns, {"metadata": {"name": "other"},
                                                     "data": {"x": "1"}})

        async def everywhere() -> Any:
            for m in ("member1", "member2"):
                for kind in ("Service", "ConfigMap", "Secret"):
                    if await read_core(member_api[m], kind, ns, "web") is None:
                        return None
            return True

        try:
            await eventually(everywhere, timeout=40, what="copies on member1 and member2")
        except AssertionError as exc:  # say what the hub recorded
            found = {k: await binding(hub_api, ns, f"web-{k}")
                     for k in ("service", "configmap", "secret")}
            raise AssertionError(f"{exc}; bindings: {found}") from None
        # member3 is an edge site (tainted): no copy there
        assert await read_core(member_api["member3"], "ConfigMap", ns, "web") is None
        assert await read_core(member_api["member1"], "ConfigMap", ns, "other") is None
        cm = await read_core(member_api["member2"], "ConfigMap", ns, "web")
        assert cm.data == {"mode": "blue"}
        assert cm.metadata.labels["fedctl.dev/binding"] == f"{ns}.web-configmap"
        secret = await read_core(member_api["member1"], "Secret", ns, "web")
        assert secret.data == {"token": "czNjcjN0"}
        for m in ("member1", "member2"):
            copy = await read_core(member_api[m], "Service", ns, "web")
            # applied without the hub's cluster IP: the member allocated its own
            assert copy.spec.cluster_ip and copy.spec.ports[0].port == 80
        b = await binding(hub_api, ns, "web-configmap")
        assert b is not None
        assert sorted(c["name"] for c in b["spec"]["clusters"]) == ["member1", "member2"]
        assert b["status"]["phase"] == "Ready"
        assert "hold" not in str(b["spec"]["clusters"])  # no capacity held for a ConfigMap

        # an edit of the data (ConfigMaps have no generation) reaches the members
        await core.patch_namespaced_config_map("web", ns, {"data": {"mode": "green"}})

        async def updated() -> Any:
            cms = [await read_core(member_api[m], "ConfigMap", ns, "web")
                   for m in ("member1", "member2")]
            return all(c is not None and c.data == {"mode": "green"} for c in cms)

        await eventually(updated, timeout=30, what="ConfigMap data updated on members")

        # delete on the hub: pruned everywhere
        await core.delete_namespaced_config_map("web", ns)
        await core.delete_namespaced_service("web", ns)
        await core.delete_namespaced_secret("web", ns)

        async def pruned() -> Any:
            for m in ("member1", "member2"):
                for kind in ("Service", "ConfigMap", "Secret"):
                    if await read_core(member_api[m], kind, ns, "web") is not None:
                        return None
            return await binding(hub_api, ns, "web-configmap") is None

        await eventually(pruned, timeout=40, what="copies pruned, binding deleted")
