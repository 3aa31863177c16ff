"""GPU inventory of a cluster from its nodes and pods (pure functions on API dicts).

Nodes with the same GPU product and the same free/allocatable resources collapse into one
``NodeGroup``; the scheduler checks "N GPUs per replica" per node from these groups.
GPU products come from the ``nvidia.com/gpu.product`` label that NVIDIA GPU feature
discovery sets, mapped to fedctl's short names; unknown labels are kept verbatim.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from federation.catalog.gpus import lookup
from federation.model.cluster import NodeGroup
from federation.model.quantity import QuantityError, cpu_millis, memory_bytes, parse_quantity
from federation.syncer.labels import BINDING_LABEL

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


def _resources_only(containers: Any) -> list[dict[str, Any]]:
    return [{"resources": {k: v for k, v in (c.get("resources") or {}).items()
                           if k in ("requests", "limits")}}
            for c in containers or [] if isinstance(c, Mapping)]


def slim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """The part of a pod ``compute_inventory`` reads (kept by the hub's pod caches
    instead of the whole object: a fleet's pods are most of the hub's memory)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    binding = (meta.get("labels") or {}).get(BINDING_LABEL)
    out: dict[str, Any] = {
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                     "resourceVersion": meta.get("resourceVersion")},
        "spec": {"nodeName": spec.get("nodeName"),
                 "containers": _resources_only(spec.get("containers")),
                 "initContainers": _resources_only(spec.get("initContainers"))},
        "status": {"phase": (pod.get("status") or {}).get("phase")},
    }
    if binding is not None:
        out["metadata"]["labels"] = {BINDING_LABEL: binding}
    return out


def slim_node(node: dict[str, Any]) -> dict[str, Any]:
    """The part of a node ``compute_inventory`` reads."""
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    labels = meta.get("labels") or {}
    return {
        "metadata": {"name": meta.get("name"),
                     "resourceVersion": meta.get("resourceVersion"),
                     "labels": {k: v for k, v in labels.items()
                                if k in (PRODUCT_LABEL, MEMORY_LABEL)}},
        "spec": {"unschedulable": (node.get("spec") or {}).get("unschedulable")},
        "status": {"allocatable": status.get("allocatable") or {},
                   "capacity": status.get("capacity") or {},
                   "conditions": [c for c in status.get("conditions") or []
                                  if isinstance(c, Mapping) and c.get("type") == "Ready"]},
    }


def compute_inventory(nodes: Iterable[Mapping[str, Any]],
                      pods: Iterable[Mapping[str, Any]],
                      exclude_bindings: Collection[str] = ()) -> Inventory:
    """Inventory of one cluster; pods labelled with a binding in ``exclude_bindings`` are
    left out (the hub counts those through the binding's reservation instead)."""
    node_list = list(nodes)
    used: dict[str, list[int]] = {}
    for pod in pods:
        if not holds_resources(pod):
            continue
        if exclude_bindings and (
                ((pod.get("metadata") or {}).get("labels") or {}).get(BINDING_LABEL)
                in exclude_bindings):
            continue
        g, c, m = pod_requests(pod)
        slot = used.setdefault(pod["spec"]["nodeName"], [0, 0, 0])
        slot[0] += g
        slot[1] += c
        slot[2] += m
    gpus_total: Counter[str] = Counter()
    gpus_alloc: Counter[str] = Counter()
    gpus_req: Counter[str] = Counter()
    groups: Counter[tuple[str | None, int, int, int, int, int]] = Counter()
    ready = 0
    cpu_alloc = cpu_req = mem_alloc = mem_req = 0
    for node in node_list:
        name = node.get("metadata", {}).get("name", "")
        status = node.get("status") or {}
        alloc = status.get("allocatable") or {}
        cap = status.get("capacity") or {}
        u = used.get(name, [0, 0, 0])
        n_cpu = _qty(alloc.get("cpu"), cpu_millis)
        n_mem = _qty(alloc.get("memory"), memory_bytes)
        cpu_alloc += n_cpu
        mem_alloc += n_mem
        cpu_req += u[1]
        mem_req += u[2]
        is_ready = _ready(node)
        ready += is_ready
        product = node_product(node)
        n_gpu = _gpus(alloc.get(GPU_RESOURCE))
        if product:
            gpus_total[product] += _gpus(cap.get(GPU_RESOURCE)) or n_gpu
            gpus_alloc[product] += n_gpu
            gpus_req[product] += u[0]
        if not is_ready:
            continue  # a NotReady node offers nothing to place on
        labels = node.get("metadata", {}).get("labels") or {}
        mem_mib = _qty(labels.get(MEMORY_LABEL), int) if product else 0
        if product and not mem_mib:
            found = lookup(product)
            mem_mib = found.memory_mib if found else 0
        groups[(product, mem_mib, n_gpu, max(0, n_gpu - u[0]), max(0, n_cpu - u[1]),
                max(0, n_mem - u[2]))] += 1
    node_groups = tuple(
        NodeGroup(count=count, gpu_product=key[0], gpu_memory_mib=key[1],
                  gpus_allocatable=key[2], gpus_free=key[3], cpu_free_millis=key[4],
                  memory_free_bytes=key[5])
        for key, count in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1:]))
    )
    return Inventory(
        nodes_total=len(node_list),
        nodes_ready=ready,
        gpus={p: ProductInventory(gpus_total[p], gpus_alloc[p], gpus_req[p])
              for p in sorted(gpus_total)},
        node_groups=node_groups,
        cpu_allocatable_millis=cpu_alloc,
        cpu_requested_millis=cpu_req,
        memory_allocatable_bytes=mem_alloc,
        memory_requested_bytes=mem_req,
    )
