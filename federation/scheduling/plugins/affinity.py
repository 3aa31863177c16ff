"""Filter: the cluster matches the cluster affinity (or one of the ordered terms)."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class Affinity:
    name = "affinity"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        if ctx.tier(cluster) is not None:
            return None
        key = (self.name,)
        try:
            return ctx.reason_cache[key]
        except KeyError:
            r = ctx.reason_cache[key] = self._reason(ctx)
            return r

    def _reason(self, ctx: Context) -> Reason:
        if ctx.ordered:
            names = ", ".join(t.affinity_name or "?" for t in ctx.terms)
            return Reason(self.name, "match none of the cluster affinities",
                          f"matches none of the affinity terms ({names})")
        return Reason(self.name, "do not match the cluster affinity",
                      "does not match the cluster affinity")
