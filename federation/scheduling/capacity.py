"""How many replicas fit where: per node group, and packing a whole demand.

A pod needs ``gpus`` GPUs of one product on one node plus CPU and memory on that node; a
replica is ``pods_per_replica`` such pods (a JobSet's Job of parallelism 4 is 4 pods, which
may land on different nodes). Capacity is counted per group of identical nodes, so no node
list is ever expanded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from federation.model.cluster import NodeGroup
from federation.model.demand import Component

UNBOUNDED = 1_000_000  # a replica that requests nothing fits "everywhere"

# A mutable node group during packing: [count, gpus, cpu, memory, product]
_Slot = list[object]


def eligible(group: NodeGroup, comp: Component, product: str | None) -> bool:
    if comp.gpus > 0:
        return group.gpu_product is not None and group.gpu_product == product
    return True


def per_node(gpus: int, cpu: int, mem: int, comp: Component) -> int:
    n = UNBOUNDED
    if comp.gpus:
        n = min(n, gpus // comp.gpus)
    if comp.cpu_millis:
        n = min(n, cpu // comp.cpu_millis)
    if comp.memory_bytes:
        n = min(n, mem // comp.memory_bytes)
    return n


def capacity(groups: Iterable[NodeGroup], comp: Component, product: str | None) -> int:
    """Replicas of ``comp`` that fit in these groups (alone)."""
    total = pod_capacity(groups, comp, product)
    return total if total >= UNBOUNDED else total // comp.pods_per_replica


def pod_capacity(groups: Iterable[NodeGroup], comp: Component, product: str | None) -> int:
    """Pods of ``comp`` that fit in these groups (alone)."""
    total = 0
    for g in groups:
        if not eligible(g, comp, product):
            continue
        k = per_node(g.gpus_free, g.cpu_free_millis, g.memory_free_bytes, comp)
        if k:
            total += g.count * k
    return min(total, UNBOUNDED)


def pack(groups: Sequence[NodeGroup], demand: Sequence[tuple[Component, int]],
         product: str | None) -> list[NodeGroup] | None:
    """Place ``n`` replicas of each component (biggest first, first fit over groups); each
    replica is ``pods_per_replica`` pods, placed pod by pod (pods are identical, so
    counting pod slots is exact for one component).

    Returns the groups left over, or None if something does not fit. Greedy, so it can
    miss a packing in contrived mixes; it never reports a packing that does not exist.
    """
    slots = list(groups)
    order = sorted(demand, key=lambda cn: (cn[0].gpus, cn[0].cpu_millis, cn[0].memory_bytes),
                   reverse=True)
    for comp, replicas in order:
        if replicas <= 0:
            continue
        need = replicas * comp.pods_per_replica
        nxt: list[NodeGroup] = []
        for g in slots:
            if need == 0 or not eligible(g, comp, product):
                nxt.append(g)
                continue
            k = per_node(g.gpus_free, g.cpu_free_millis, g.memory_free_bytes, comp)
            if k == 0:
                nxt.append(g)
                continue
            if k >= UNBOUNDED:
                need = 0
                nxt.append(g)
                continue
            full_nodes = min(g.count, need // k)
            need -= full_nodes * k
            if full_nodes:
                nxt.append(_used(g, full_nodes, k, comp))
            rest = g.count - full_nodes
            if rest and need:
                part = need  # < k
                need = 0
                nxt.append(_used(g, 1, part, comp))
                rest -= 1
            if rest:
                nxt.append(NodeGroup(rest, g.gpu_product, g.gpu_memory_mib, g.gpus_free,
                                     g.gpus_allocatable, g.cpu_free_millis,
                                     g.memory_free_bytes))
        if need:
            return None
        slots = nxt
    return slots


def _used(g: NodeGroup, nodes: int, per: int, comp: Component) -> NodeGroup:
    return NodeGroup(nodes, g.gpu_product, g.gpu_memory_mib, g.gpus_free - per * comp.gpus,
                     g.gpus_allocatable, g.cpu_free_millis - per * comp.cpu_millis,
                     g.memory_free_bytes - per * comp.memory_bytes)
