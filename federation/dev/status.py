"""Live status of the local fleet: process state, API reachability, nodes and free GPUs."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes_asyncio import client as k8s

from federation.clusters.client import api_client
from federation.dev import procs
from federation.dev.localfleet import FleetState
from federation.dev.objectstores import health_url
from federation.model.quantity import parse_quantity

GPU = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"


@dataclass
class ClusterStatus:
    name: str
    role: str
    server: str
    processes: dict[str, str]
    reachable: bool
    nodes_ready: int = 0
    nodes_total: int = 0
    gpus_total: Counter[str] = field(default_factory=Counter)
    gpus_requested: Counter[str] = field(default_factory=Counter)
    pods_running: int = 0
    error: str = ""

    @property
    def state(self) -> str:
        if any(s == "stopped" for s in self.processes.values()):
            return "Paused"
        if not self.reachable:
            return "Unreachable"
        if self.role == "member" and self.nodes_ready < self.nodes_total:
            return "NotReady"
        return "Ready"

    def gpu_free(self) -> dict[str, int]:
        return {p: self.gpus_total[p] - self.gpus_requested[p] for p in sorted(self.gpus_total)}


@dataclass
class StoreStatus:
    name: str
    provider: str
    region: str
    endpoint: str
    bucket: str
    state: str


@dataclass
class RegistryStatus:
    type: str
    url: str
    artifacts: str  # the artifact destination (s3://bucket/prefix)
    state: str  # Ready | Paused | Stopped | Unreachable


async def registry_status(state: FleetState) -> RegistryStatus | None:
    """The fleet's model registry (None when the fleet file asks for none)."""
    r = state.registry
    if r is None:
        return None
    st = {"running": "Ready", "stopped": "Paused", "exited": "Stopped"}[
        procs.state(r.proc)] if r.proc else "Stopped"
    if st == "Ready" and not await _http_ok(f"{r.url}/health"):
        st = "Unreachable"
    return RegistryStatus(type=r.type, url=r.url, artifacts=r.artifacts_destination, state=st)


async def cluster_status(state: FleetState, name: str) -> ClusterStatus:
    c = state.cluster(name)
    st = ClusterStatus(name=c.name, role=c.role, server=c.server,
                       processes={k: procs.state(v) for k, v in c.procs.items()},
                       reachable=False)
    if st.processes.get("apiserver") != "running":
        return st
    kubeconfig = Path(state.state_dir) / "clusters" / c.name / "admin.kubeconfig"
    api = await api_client(kubeconfig, c.context)
    try:
        core = k8s.CoreV1Api(api)
        nodes = await core.list_node(_request_timeout=5)
        st.reachable = True
        product_of: dict[str, str] = {}
        for node in nodes.items:
            st.nodes_total += 1
            if any(x.type == "Ready" and x.status == "True"
                   for x in node.status.conditions or []):
                st.nodes_ready += 1
            alloc = (node.status.allocatable or {}).get(GPU)
            if alloc:
                product = (node.metadata.labels or {}).get(PRODUCT_LABEL, "unknown")
                product_of[node.metadata.name] = product
                st.gpus_total[product] += int(parse_quantity(alloc))
        if c.role == "member":
            pods = await core.list_pod_for_all_namespaces(_request_timeout=10)
            for pod in pods.items:
                if pod.status.phase == "Running":
                    st.pods_running += 1
                if pod.status.phase in ("Succeeded", "Failed") or not pod.spec.node_name:
                    continue
                pod_product = product_of.get(pod.spec.node_name)
                if pod_product is None:
                    continue
                for ctr in pod.spec.containers:
                    req = ((ctr.resources and ctr.resources.requests) or {}).get(GPU)
                    if req:
                        st.gpus_requested[pod_product] += int(parse_quantity(req))
    except Exception as exc:  # report, do not crash the status table
        st.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        await api.close()
    return st


async def fleet_status(state: FleetState) -> tuple[list[ClusterStatus], list[StoreStatus]]:
    clusters = await asyncio.gather(*(cluster_status(state, c.name) for c in state.clusters))
    stores = []
    for s in state.stores:
        ep = s.endpoint
        if s.proc is None:
            st = "Ready" if ep.root and Path(ep.root).is_dir() else "Missing"
        else:
            st = {"running": "Ready", "stopped": "Paused", "exited": "Stopped"}[procs.state(s.proc)]
            if st == "Ready" and health_url(ep):
                st = "Ready" if await _http_ok(health_url(ep) or "") else "Unreachable"
        stores.append(StoreStatus(ep.name, ep.provider, ep.region,
                                  ep.endpoint or f"file://{ep.root}", ep.bucket, st))
    return list(clusters), stores


async def _http_ok(url: str) -> bool:
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as s, \
                s.get(url) as resp:
            return resp.status == 200
    except (TimeoutError, aiohttp.ClientError, OSError):
        return False
