"""Fake GPU nodes for simulated clusters.

Each node carries ``nvidia.com/gpu`` capacity/allocatable and the labels NVIDIA GPU feature
discovery puts on real GPU nodes, plus the annotation that hands it to kwok. kwok keeps
the capacity we set and makes the node Ready; kube-scheduler places pods against it.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from federation.clusters.client import DEFAULT_TIMEOUT
from federation.fleet import ClusterSpec, NodePool

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
POOL_LABEL = "fedctl.dev/node-pool"
PODS_PER_NODE = 250


def node_manifests(cluster: ClusterSpec) -> list[dict[str, Any]]:
    """The Node objects for a cluster's simulated node pools (pure)."""
    out: list[dict[str, Any]] = []
    if cluster.simulate is None:
        return out
    for pool in cluster.simulate.node_pools:
        for i in range(pool.count):
            out.append(_node(cluster, pool, i))
    return out


def _node(cluster: ClusterSpec, pool: NodePool, index: int) -> dict[str, Any]:
    name = f"{cluster.name}-{pool.name}-{index}"
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "topology.kubernetes.io/region": cluster.region,
        "topology.kubernetes.io/zone": cluster.zone,
        POOL_LABEL: pool.name,
    }
    resources = {
        "cpu": f"{pool.cpu_millis}m",
        "memory": str(pool.memory_bytes),
        "pods": str(PODS_PER_NODE),
        "ephemeral-storage": "1Ti",
    }
    if pool.gpu is not None:
        labels.update({
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": pool.gpu.gfd_product,
            "nvidia.com/gpu.count": str(pool.gpus_per_node),
            "nvidia.com/gpu.memory": str(pool.gpu.memory_mib),
            "nvidia.com/gpu.family": pool.gpu.family.lower(),
        })
        resources["nvidia.com/gpu"] = str(pool.gpus_per_node)
    labels.update(dict(pool.labels))
    spec: dict[str, Any] = {}
    if pool.taints:
        spec["taints"] = [{"key": t.key, "value": t.value, "effect": t.effect}
                          for t in pool.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "containerRuntimeVersion": "kwok",
            },
            "phase": "Running",
        },
    }


async def create_nodes(api: k8s.ApiClient, cluster: ClusterSpec) -> int:
    """Create the nodes (status included: the node registry keeps status on create).

    Existing nodes are left as they are, so a restarted fleet keeps its state.
    """
    core = k8s.CoreV1Api(api)
    created = 0
    for manifest in node_manifests(cluster):
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_transient), wait=wait_exponential_jitter(max=5),
            stop=stop_after_attempt(8), reraise=True,
        ):
            with attempt:
                try:
                    await core.create_node(cast(Any, manifest), _request_timeout=DEFAULT_TIMEOUT)
                    created += 1
                except ApiException as exc:
                    if exc.status != 409:  # already there: a restarted fleet keeps its nodes
                        raise
    return created


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in (429, 500, 503, 504)
    return isinstance(exc, asyncio.TimeoutError | aiohttp.ClientError)


async def ready_node_count(api: k8s.ApiClient) -> tuple[int, int]:
    """(ready, total) nodes."""
    nodes = await k8s.CoreV1Api(api).list_node(_request_timeout=DEFAULT_TIMEOUT)
    ready = 0
    for node in nodes.items:
        for cond in node.status.conditions or []:
            if cond.type == "Ready" and cond.status == "True":
                ready += 1
    return ready, len(nodes.items)
