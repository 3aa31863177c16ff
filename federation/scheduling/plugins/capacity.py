"""Filter: free capacity. One replica must fit (Divided), or the whole workload at once
(a SingleCluster gang, Duplicated). Not a rule: running replicas are not moved for it."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class Capacity:
    name = "capacity"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        fit = ctx.fit(cluster)
        if fit.fits_all if ctx.whole else fit.fits_one:
            return None
        key = (self.name, fit.product)
        try:
            return ctx.reason_cache[key]
        except KeyError:
            r = ctx.reason_cache[key] = self._reason(ctx, fit.product)
            return r

    def _reason(self, ctx: Context, product: str | None) -> Reason:
        what = product or ("GPU" if ctx.needs_gpu else "CPU/memory")
        if ctx.whole:
            if ctx.gang == "SingleCluster" and not ctx.duplicated:
                need = f"{ctx.demand.total_gpus} GPUs" if ctx.needs_gpu else (
                    f"{ctx.demand.total_replicas} replicas")
                return Reason(self.name, f"cannot fit the whole gang ({need})",
                              f"free {what} capacity holds only part of the gang ({need})",
                              rule=False)
            return Reason(self.name, "cannot fit all replicas",
                          f"free {what} capacity holds fewer than "
                          f"{ctx.demand.total_replicas} replicas", rule=False)
        gpus = f" ({ctx.max_gpus}x {what} per replica)" if ctx.needs_gpu else ""
        return Reason(self.name, f"have no free capacity for one replica{gpus}",
                      f"no node has room for one replica{gpus}", rule=False)
