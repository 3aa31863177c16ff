"""One-shot look at a registered member: reachable, version, GPUs free per product."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.clusters.client import DEFAULT_TIMEOUT
from federation.clusters.health import probe
from federation.clusters.inventory import compute_inventory
from federation.clusters.join import read_member_kubeconfig
from federation.clusters.pool import api_client_from_dict


@dataclass(frozen=True, slots=True)
class LiveStatus:
    ready: bool
    detail: str
    version: str = ""
    gpus: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "detail": self.detail, "version": self.version,
                "gpus": self.gpus}


async def probe_member(hub: k8s.ApiClient, member: dict[str, Any],
                       timeout: float = 5.0) -> LiveStatus:
    try:
        cfg = await read_member_kubeconfig(hub, member)
        api = await api_client_from_dict(cfg)
    except Exception as exc:  # report per member; one bad Secret must not hide the rest
        return LiveStatus(False, f"credentials: {exc}"[:200])
    try:
        result = await probe(api, timeout)
        if not result.ok:
            return LiveStatus(False, result.detail)
        version = await k8s.VersionApi(api).get_code(_request_timeout=timeout)
        core = k8s.CoreV1Api(api)
        nodes = await core.list_node(_request_timeout=DEFAULT_TIMEOUT)
        pods = await core.list_pod_for_all_namespaces(_request_timeout=DEFAULT_TIMEOUT)
        inv = compute_inventory(api.sanitize_for_serialization(nodes.items),
                                api.sanitize_for_serialization(pods.items))
        return LiveStatus(True, "ok", version.git_version, {
            p: {"total": g.total, "allocatable": g.allocatable, "requested": g.requested,
                "free": g.free} for p, g in inv.gpus.items()})
    except Exception as exc:
        return LiveStatus(False, f"{type(exc).__name__}: {exc}"[:200])
    finally:
        await api.close()
