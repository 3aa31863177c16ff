"""Scores: balanced (prefer clusters left emptier) and binpack (prefer fuller ones).
Raw value: the free share of the cluster's GPUs after one replica of the largest
component lands (free CPU for CPU-only workloads)."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.scheduling.framework import Context


def free_after(ctx: Context, cluster: ClusterSnapshot) -> float:
    if ctx.needs_gpu and cluster.gpus_allocatable:
        return (cluster.gpus_free - ctx.max_gpus) / cluster.gpus_allocatable
    need = max((c.cpu_millis for c in ctx.components), default=0)
    return float(cluster.cpu_free_millis - need)


class Balanced:
    name = "balanced"
    higher_is_better = True

    def score(self, ctx: Context, cluster: ClusterSnapshot) -> float:
        return free_after(ctx, cluster)


class Binpack:
    name = "binpack"
    higher_is_better = False

    def score(self, ctx: Context, cluster: ClusterSnapshot) -> float:
        return free_after(ctx, cluster)
