"""Has the fleet changed in a way that could make room for an unschedulable template?

The hub keeps the templates the scheduler found no room for and queues them again when
the fleet changes, not on a timer. ``member_view`` keeps what a decision depends on of a
member's snapshot (capacity already held by bindings taken out): readiness, labels,
taints, installed kinds, and the free capacity per GPU product; ``roomier`` says whether
a new set of views could fit something the old one could not: a member added, readiness,
labels, taints or kinds changed, or any free amount grew (pods finished, a binding gave
its holds back). Capacity only shrinking is no reason to try again. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from federation.model.cluster import ClusterSnapshot, Taint

# (GPUs free in total, most GPUs free on one node, CPU millis free, memory bytes free)
Free = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class MemberView:
    ready: bool
    labels: tuple[tuple[str, str], ...]
    taints: tuple[Taint, ...]
    kinds: frozenset[str] | None
    free: tuple[tuple[str, Free], ...]  # GPU product ("" for CPU-only nodes) -> Free

    def fixed(self) -> tuple[object, ...]:
        """What is compared for any change (not only growth)."""
        return (self.ready, self.labels, self.taints, self.kinds)


def member_view(snap: ClusterSnapshot) -> MemberView:
    free: dict[str, list[int]] = {}
    for g in snap.node_groups:
        f = free.setdefault(g.gpu_product or "", [0, 0, 0, 0])
        f[0] += g.gpus_free * g.count
        f[1] = max(f[1], g.gpus_free if g.count else 0)
        f[2] += g.cpu_free_millis * g.count
        f[3] += g.memory_free_bytes * g.count
    return MemberView(snap.ready, tuple(sorted(snap.labels.items())), tuple(snap.taints),
                      snap.installed_kinds,
                      tuple(sorted((p, (f[0], f[1], f[2], f[3])) for p, f in free.items())))


def roomier(old: Mapping[str, MemberView], new: Mapping[str, MemberView]) -> bool:
    """Could something that did not fit in ``old`` fit in ``new``?"""
    for name, view in new.items():
        before = old.get(name)
        if before is None or before.fixed() != view.fixed():
            return True
        had = dict(before.free)
        for product, amounts in view.free:
            was = had.get(product)
            if was is None or any(n > w for n, w in zip(amounts, was, strict=True)):
                return True
    return False
