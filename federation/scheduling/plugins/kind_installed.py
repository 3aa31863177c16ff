"""Filter: the cluster serves the workload's kind (e.g. the Kubeflow training operator)."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class KindInstalled:
    name = "kindInstalled"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        kinds = cluster.installed_kinds
        if kinds is None or ctx.kind_key in kinds:
            return None
        key = (self.name,)
        try:
            return ctx.reason_cache[key]
        except KeyError:
            r = ctx.reason_cache[key] = Reason(self.name, f"lack kind {ctx.kind_key}",
                                          f"{ctx.kind_key} is not installed")
            return r
