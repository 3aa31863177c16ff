"""Capacity the hub has promised: what each binding holds on each cluster.

A cluster's snapshot is built from its nodes and pods, so replicas the hub has just placed
(whose pods do not exist yet, or never will for a kind no operator runs) would look free
to the next decision. The hub therefore keeps, per binding and cluster, a ``Hold`` — the
replicas it assigned there, with their per-replica requests and the GPU product they use —
and packs the holds of every other binding into the cluster's node groups before it
schedules (the idea of Karmada's replica estimator, kept on the hub).

Pods of a binding that holds capacity on a cluster are left out of that cluster's
inventory (their requests are inside the hold), so nothing is counted twice; pods of a
binding that no longer holds the cluster (an old copy still serving) count as usual.

``Ledger`` keeps the holds aggregated per cluster by request shape, so building a snapshot
costs one pack per distinct shape, not one per binding. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from federation.model.cluster import ClusterSnapshot, NodeGroup
from federation.model.demand import Component, Demand
from federation.model.placement import Placement
from federation.scheduling.capacity import capacity, pack

# (product, gpus, cpu millis, memory bytes) of one pod; a Hold counts pods per shape
Shape = tuple[str | None, int, int, int]


@dataclass(frozen=True, slots=True)
class Hold:
    """Pods one binding holds on one cluster, by request shape (a replica of
    ``pods_per_replica`` pods holds that many)."""

    shapes: tuple[tuple[Shape, int], ...]

    @property
    def gpus(self) -> int:
        return sum(s[1] * n for s, n in self.shapes)


def holds_for(placement: Placement, demand: Demand,
              products: Mapping[str, str | None]) -> dict[str, Hold]:
    """cluster -> Hold for a decision; ``products`` is the GPU product used per cluster."""
    comps = {c.name: c for c in demand.components}
    out: dict[str, Hold] = {}
    for a in placement.assignments:
        shapes: Counter[Shape] = Counter()
        for comp_name, n in a.replicas:
            c = comps.get(comp_name)
            if c is None or n <= 0 or not (c.gpus or c.cpu_millis or c.memory_bytes):
                continue  # (a ConfigMap, or pods that request nothing, hold nothing)
            product = products.get(a.cluster) if c.gpus else None
            # held per pod: a replica of a JobSet's Job is ``parallelism`` pods
            shapes[(product, c.gpus, c.cpu_millis, c.memory_bytes)] += n * c.pods_per_replica
        if shapes:
            out[a.cluster] = Hold(tuple(sorted(shapes.items(), key=_shape_order)))
    return out


def _shape_order(item: tuple[Shape, int]) -> tuple[str, int, int, int]:
    (product, g, c, m), _ = item
    return (product or "", g, c, m)


def hold_to_json(hold: Hold) -> list[dict[str, Any]]:
    return [{"product": p, "gpus": g, "cpuMillis": c, "memoryBytes": m, "replicas": n}
            for (p, g, c, m), n in hold.shapes]


def hold_from_json(raw: Any) -> Hold | None:
    """The inverse of ``hold_to_json``; None when ``raw`` is not a hold."""
    if not isinstance(raw, list):
        return None
    shapes: Counter[Shape] = Counter()
    try:
        for e in raw:
            product = e.get("product")
            shape = (str(product) if product else None, int(e.get("gpus") or 0),
                     int(e.get("cpuMillis") or 0), int(e.get("memoryBytes") or 0))
            n = int(e.get("replicas") or 0)
            if n > 0:
                shapes[shape] += n
    except (AttributeError, TypeError, ValueError):
        return None
    return Hold(tuple(sorted(shapes.items(), key=_shape_order)))


class Ledger:
    """Holds by binding, aggregated per cluster. Single-threaded (the hub's event loop)."""

    def __init__(self) -> None:
        self._by_binding: dict[str, dict[str, Hold]] = {}
        self._by_cluster: dict[str, Counter[Shape]] = {}
        self._holders: dict[str, set[str]] = {}
        self._versions: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._by_binding)

    def holds(self, binding: str) -> Mapping[str, Hold]:
        return self._by_binding.get(binding, {})

    def version(self, cluster: str) -> int:
        """Bumped whenever what is held on ``cluster``, or who holds it, changes (caches of
        a member's reserved snapshot key on it); setting equal holds bumps nothing."""
        return self._versions.get(cluster, 0)

    def set(self, binding: str, holds: Mapping[str, Hold]) -> None:
        """Replace what ``binding`` holds (an empty mapping drops it)."""
        old = self._by_binding.get(binding, {})
        new = {c: h for c, h in holds.items()}
        if old == new:
            return
        self._bump(c for c in old.keys() | new.keys() if old.get(c) != new.get(c))
        self._remove(binding)
        if not new:
            return
        self._by_binding[binding] = new
        for cluster, hold in new.items():
            agg = self._by_cluster.setdefault(cluster, Counter())
            for shape, n in hold.shapes:
                agg[shape] += n
            self._holders.setdefault(cluster, set()).add(binding)

    def drop(self, binding: str) -> None:
        self._bump(self._by_binding.get(binding, {}))
        self._remove(binding)

    def _bump(self, clusters: Iterable[str]) -> None:
        for c in clusters:
            self._versions[c] = self._versions.get(c, 0) + 1

    def _remove(self, binding: str) -> None:
        old = self._by_binding.pop(binding, None)
        if not old:
            return
        for cluster, hold in old.items():
            agg = self._by_cluster[cluster]
            for shape, n in hold.shapes:
                agg[shape] -= n
                if agg[shape] <= 0:
                    del agg[shape]
            holders = self._holders[cluster]
            holders.discard(binding)
            if not holders:
                del self._holders[cluster]
                del self._by_cluster[cluster]

    def holders(self, cluster: str) -> frozenset[str]:
        """Bindings holding capacity on ``cluster`` (their pods are inside the holds)."""
        return frozenset(self._holders.get(cluster, ()))

    def held(self, cluster: str, excluding: str | None = None) -> list[tuple[Shape, int]]:
        """Aggregated holds on ``cluster``, without those of binding ``excluding``."""
        agg = Counter(self._by_cluster.get(cluster, {}))
        if excluding is not None:
            own = self._by_binding.get(excluding, {}).get(cluster)
            if own is not None:
                for shape, n in own.shapes:
                    agg[shape] -= n
        return sorted(((s, n) for s, n in agg.items() if n > 0), key=_shape_order)


def reserve(snapshot: ClusterSnapshot, held: Iterable[tuple[Shape, int]]) -> ClusterSnapshot:
    """``snapshot`` with ``held`` replicas packed into its node groups (biggest first).

    Replicas that no longer fit (the cluster shrank, or foreign pods took the room) take
    what is left; the cluster then simply shows no room for that shape.
    """
    items = sorted(held, key=lambda sn: (sn[0][1], sn[0][2], sn[0][3]), reverse=True)
    if not items:
        return snapshot
    groups: list[NodeGroup] = list(snapshot.node_groups)
    for (product, g, c, m), n in items:
        comp = Component("held", n, gpus=g, cpu_millis=c, memory_bytes=m)
        fit = min(n, capacity(groups, comp, product))
        if fit <= 0:
            continue
        left = pack(groups, [(comp, fit)], product)
        if left is not None:  # capacity() said it fits; pack agrees unless greedy misses
            groups = left
    merged = _merge(groups)
    if merged == snapshot.node_groups:
        return snapshot
    return dataclasses.replace(snapshot, node_groups=merged)


def _merge(groups: Iterable[NodeGroup]) -> tuple[NodeGroup, ...]:
    """Collapse groups that became identical, keeping first-seen order."""
    counts: dict[tuple[Any, ...], int] = {}
    for g in groups:
        if g.count <= 0:
            continue
        key = (g.gpu_product, g.gpu_memory_mib, g.gpus_free, g.gpus_allocatable,
               g.cpu_free_millis, g.memory_free_bytes)
        counts[key] = counts.get(key, 0) + g.count
    return tuple(NodeGroup(n, *key) for key, n in counts.items())
