"""Filter: the cluster is Ready and every NoSchedule / NoExecute taint is tolerated."""

from __future__ import annotations

from federation.model.cluster import NOT_READY_TAINT_KEY, ClusterSnapshot, Taint
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class ReadyTaints:
    name = "readyTaints"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        cache = ctx.reason_cache
        r: Reason | None
        if not cluster.ready:
            key: tuple[str, Taint | None] = (self.name, None)
            try:
                return cache[key]
            except KeyError:
                r = cache[key] = Reason(self.name, f"have taint {NOT_READY_TAINT_KEY}",
                                        "cluster is not ready")
                return r
        for taint in cluster.taints:  # each distinct taint is judged once per decision
            key = (self.name, taint)
            try:
                r = cache[key]
            except KeyError:
                r = cache[key] = self._check(ctx, taint)
            if r is not None:
                return r
        return None

    def _check(self, ctx: Context, taint: Taint) -> Reason | None:
        if taint.effect == "PreferNoSchedule":
            return None
        if not any(t.tolerates(taint.key, taint.value, taint.effect) for t in ctx.tolerations):
            return Reason(self.name, f"have taint {taint.key}", f"taint {taint} is not tolerated")
        return None
