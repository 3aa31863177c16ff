"""Filter: the hourly budget. A cluster is out if what it would run costs more than the
cap: the whole workload for gangs and Duplicated, one replica for Divided (the division
itself is then kept within budget by the runtime)."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class Budget:
    name = "budget"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        if ctx.budget is None:
            return None
        fit = ctx.fit(cluster)
        cost = fit.demand_cost if ctx.whole else max(fit.unit_cost.values(), default=0.0)
        if cost <= ctx.budget + 1e-9:
            return None
        key = (self.name, cost)
        try:
            return ctx.reason_cache[key]
        except KeyError:
            r = ctx.reason_cache[key] = self._reason(ctx.whole, cost, ctx.budget)
            return r

    def _reason(self, whole: bool, cost: float, budget: float) -> Reason:
        what = "the workload" if whole else "one replica"
        return Reason(self.name, f"exceed the ${budget:g}/h budget",
                      f"{what} costs ${cost:,.2f}/h here, over the ${budget:g}/h budget")
