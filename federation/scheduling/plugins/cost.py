"""Score: cheaper is better. Raw value: $/hour of the whole workload on the cluster
(GPU-hours at the cluster's on-demand price, or spot when allowed and available;
vCPU-hours for CPU-only replicas)."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.scheduling.framework import Context


class Cost:
    name = "cost"
    higher_is_better = False

    def score(self, ctx: Context, cluster: ClusterSnapshot) -> float:
        return ctx.fit(cluster).demand_cost
