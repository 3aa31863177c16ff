"""Filter: the cluster is Ready and every NoSchedule / NoExecute taint is tolerated."""

from __future__ import annotations

from federation.model.cluster import NOT_READY_TAINT_KEY, ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class ReadyTaints:
    name = "readyTaints"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        if not cluster.ready:
            return Reason(self.name, f"have taint {NOT_READY_TAINT_KEY}",
                          "cluster is not ready")
        for taint in cluster.taints:
            if taint.effect == "PreferNoSchedule":
                continue
            if not any(t.tolerates(taint.key, taint.value, taint.effect)
                       for t in ctx.tolerations):
                return Reason(self.name, f"have taint {taint.key}",
                              f"taint {taint} is not tolerated")
        return None
