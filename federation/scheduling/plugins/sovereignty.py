"""Filter: data sovereignty. Clusters outside the allowed regions never qualify."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class Sovereignty:
    name = "sovereignty"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        rule = ctx.policy.data.sovereignty
        if rule is None or rule.allows(cluster.region):
            return None
        regions = ", ".join(rule.regions)
        return Reason(self.name, f"are outside the data's regions ({regions})",
                      f"region {cluster.region} is outside the sovereignty regions ({regions})")
