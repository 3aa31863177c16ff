"""GPU inventory of a cluster from its nodes and pods (pure functions on API dicts).

Nodes with the same GPU product and the same free/allocatable resources collapse into one
``NodeGroup``; the scheduler checks "N GPUs per replica" per node from these groups.
GPU products come from the ``nvidia.com/gpu.product`` label that NVIDIA GPU feature
discovery sets, mapped to fedctl's short names; unknown labels are kept verbatim.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from federation.catalog.gpus import lookup
from federation.model.cluster import NodeGroup
from federation.model.labels import BINDING_LABEL
from federation.model.quantity import QuantityError, cpu_millis, memory_bytes, parse_quantity

GPU_RESOURCE = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"
MEMORY_LABEL = "nvidia.com/gpu.memory"


@dataclass(frozen=True, slots=True)
class ProductInventory:
    total: int
    allocatable: int
    requested: int

    @property
    def free(self) -> int:
        return max(0, self.allocatable - self.requested)


@dataclass(frozen=True, slots=True)
class Inventory:
    nodes_total: int
    nodes_ready: int
    gpus: Mapping[str, ProductInventory] = field(default_factory=dict)
    node_groups: tuple[NodeGroup, ...] = ()
    cpu_allocatable_millis: int = 0
    cpu_requested_millis: int = 0
    memory_allocatable_bytes: int = 0
    memory_requested_bytes: int = 0


def _qty(value: Any, conv: Any) -> int:
    if value is None:
        return 0
    try:
        return int(conv(value))
    except (QuantityError, ValueError, TypeError):
        return 0


def _gpus(value: Any) -> int:
    if value is None:
        return 0
    try:
        return int(parse_quantity(value))
    except (QuantityError, ValueError, TypeError):
        return 0


def node_product(node: Mapping[str, Any]) -> str | None:
    labels = node.get("metadata", {}).get("labels") or {}
    alloc = (node.get("status", {}).get("allocatable") or {}).get(GPU_RESOURCE)
    if not _gpus(alloc):
        return None
    raw = labels.get(PRODUCT_LABEL)
    if not raw:
        return "unknown"
    found = lookup(raw)
    return found.name if found else raw


def _ready(node: Mapping[str, Any]) -> bool:
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return False
    for cond in node.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def pod_requests(pod: Mapping[str, Any]) -> tuple[int, int, int]:
    """(GPUs, CPU millis, memory bytes) a pod holds on its node, as the scheduler counts.

    Effective request = max(sum of app containers, largest init container), requests
    falling back to limits for extended resources.
    """
    spec = pod.get("spec") or {}

    def one(container: Mapping[str, Any]) -> tuple[int, int, int]:
        res = container.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        return (
            _gpus(req.get(GPU_RESOURCE, lim.get(GPU_RESOURCE))),
            _qty(req.get("cpu"), cpu_millis),
            _qty(req.get("memory"), memory_bytes),
        )

    apps = [one(c) for c in spec.get("containers") or []]
    inits = [one(c) for c in spec.get("initContainers") or []]
    total = tuple(sum(x[i] for x in apps) for i in range(3))
    for init in inits:
        total = tuple(max(total[i], init[i]) for i in range(3))
    return total[0], total[1], total[2]


def holds_resources(pod: Mapping[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return bool((pod.get("spec") or {}).get("nodeName")) and phase not in ("Succeeded",
                                                                          "Failed")


@dataclass(frozen=True, slots=True)
class PodUsage:
    """What a pod holds on its node, as ``compute_inventory`` counts it: the hub's pod
    caches keep one of these per pod instead of the pod (a fleet's pods were most of the
    hub's memory). ``node`` is empty for a pod that holds nothing (unscheduled or ended)."""

    node: str
    binding: str | None
    gpus: int
    cpu_millis: int
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What ``compute_inventory`` reads of a node (the hub's node caches keep this)."""

    name: str
    product: str | None
    gpu_memory_mib: int
    gpus_capacity: int
    gpus_allocatable: int
    cpu_millis: int
    memory_bytes: int
    ready: bool


def pod_usage(pod: Mapping[str, Any]) -> PodUsage:
    """A pod as the inventory counts it (a reflector transform)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    binding = labels.get(BINDING_LABEL)
    binding = sys.intern(binding) if isinstance(binding, str) else None
    if not holds_resources(pod):
        return PodUsage("", binding, 0, 0, 0)
    g, c, m = pod_requests(pod)
    return PodUsage(sys.intern(str(pod["spec"]["nodeName"])), binding, g, c, m)


def node_info(node: Mapping[str, Any]) -> NodeInfo:
    """A node as the inventory reads it (a reflector transform)."""
    status = node.get("status") or {}
    alloc = status.get("allocatable") or {}
    cap = status.get("capacity") or {}
    product = node_product(node)
    n_gpu = _gpus(alloc.get(GPU_RESOURCE))
    mem_mib = 0
    if product:
        labels = (node.get("metadata") or {}).get("labels") or {}
        mem_mib = _qty(labels.get(MEMORY_LABEL), int)
        if not mem_mib:
            found = lookup(product)
            mem_mib = found.memory_mib if found else 0
    return NodeInfo(
        name=sys.intern(str((node.get("metadata") or {}).get("name", ""))),
        product=sys.intern(product) if product else None,
        gpu_memory_mib=mem_mib,
        gpus_capacity=_gpus(cap.get(GPU_RESOURCE)) or n_gpu,
        gpus_allocatable=n_gpu,
        cpu_millis=_qty(alloc.get("cpu"), cpu_millis),
        memory_bytes=_qty(alloc.get("memory"), memory_bytes),
        ready=_ready(node))


def compute_inventory(nodes: Iterable[NodeInfo | Mapping[str, Any]],
                      pods: Iterable[PodUsage | Mapping[str, Any]],
                      exclude_bindings: Collection[str] = ()) -> Inventory:
    """Inventory of one cluster; pods labelled with a binding in ``exclude_bindings`` are
    left out (the hub counts those through the binding's reservation instead). Nodes and
    pods are API objects or the records ``node_info``/``pod_usage`` make of them."""
    infos = [n if isinstance(n, NodeInfo) else node_info(n) for n in nodes]
    used: dict[str, list[int]] = {}
    for pod in pods:
        u = pod if isinstance(pod, PodUsage) else pod_usage(pod)
        if not u.node or (exclude_bindings and u.binding in exclude_bindings):
            continue
        slot = used.setdefault(u.node, [0, 0, 0])
        slot[0] += u.gpus
        slot[1] += u.cpu_millis
        slot[2] += u.memory_bytes
    gpus_total: Counter[str] = Counter()
    gpus_alloc: Counter[str] = Counter()
    gpus_req: Counter[str] = Counter()
    groups: Counter[tuple[str | None, int, int, int, int, int]] = Counter()
    ready = 0
    cpu_alloc = cpu_req = mem_alloc = mem_req = 0
    for info in infos:
        use = used.get(info.name, [0, 0, 0])
        n_cpu, n_mem, n_gpu, product = (info.cpu_millis, info.memory_bytes,
                                        info.gpus_allocatable, info.product)
        cpu_alloc += n_cpu
        mem_alloc += n_mem
        cpu_req += use[1]
        mem_req += use[2]
        ready += info.ready
        if product:
            gpus_total[product] += info.gpus_capacity
            gpus_alloc[product] += n_gpu
            gpus_req[product] += use[0]
        if not info.ready:
            continue  # a NotReady node offers nothing to place on
        groups[(product, info.gpu_memory_mib, n_gpu, max(0, n_gpu - use[0]),
                max(0, n_cpu - use[1]), max(0, n_mem - use[2]))] += 1
    node_groups = tuple(
        NodeGroup(count=count, gpu_product=key[0], gpu_memory_mib=key[1],
                  gpus_allocatable=key[2], gpus_free=key[3], cpu_free_millis=key[4],
                  memory_free_bytes=key[5])
        for key, count in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1:]))
    )
    return Inventory(
        nodes_total=len(infos),
        nodes_ready=ready,
        gpus={p: ProductInventory(gpus_total[p], gpus_alloc[p], gpus_req[p])
              for p in sorted(gpus_total)},
        node_groups=node_groups,
        cpu_allocatable_millis=cpu_alloc,
        cpu_requested_millis=cpu_req,
        memory_allocatable_bytes=mem_alloc,
        memory_requested_bytes=mem_req,
    )
