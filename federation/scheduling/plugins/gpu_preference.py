"""Score: the policy's GPU preference order. Raw value: the rank of the product the
workload would use in the cluster (0 = first choice; unlisted products rank last)."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.scheduling.framework import Context


class GpuPreference:
    name = "gpuPreference"
    higher_is_better = False

    def score(self, ctx: Context, cluster: ClusterSnapshot) -> float:
        product = ctx.fit(cluster).product
        if product is None:
            return float(ctx.preference_len)
        return float(ctx.preference_rank.get(product, ctx.preference_len))
