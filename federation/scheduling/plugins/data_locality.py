"""Score: data gravity. Raw value: dollars to bring the datasets to the cluster — egress
at the matrix's $/GB plus the GPU-hours the workload would idle during the transfer.
Datasets in the cluster's region, in a store next to it, or already cached cost nothing."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.scheduling.framework import Context


class DataLocality:
    name = "dataLocality"
    higher_is_better = False

    def score(self, ctx: Context, cluster: ClusterSnapshot) -> float:
        if not ctx.datasets:
            return 0.0
        hourly = ctx.fit(cluster).demand_cost
        total = 0.0
        for ds in ctx.datasets:
            if (ds.region == cluster.region or ds.region in cluster.store_regions
                    or ds.uri in cluster.cached):
                continue
            t = ctx.egress.transfer(ds.provider or "*", ds.region, cluster.provider,
                                    cluster.region)
            total += t.cost(ds.size) + t.hours(ds.size) * hourly
        return total
