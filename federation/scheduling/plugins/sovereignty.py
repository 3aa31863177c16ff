"""Filter: data sovereignty. Clusters outside the allowed regions never qualify."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class Sovereignty:
    name = "sovereignty"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        rule = ctx.policy.data.sovereignty
        if rule is None:
            return None
        key = (self.name, cluster.region)
        try:
            return ctx.reason_cache[key]
        except KeyError:
            r = ctx.reason_cache[key] = None if rule.allows(cluster.region) else self._reason(
                rule.regions, cluster.region)
            return r

    def _reason(self, allowed: tuple[str, ...], region: str) -> Reason:
        regions = ", ".join(allowed)
        return Reason(self.name, f"are outside the data's regions ({regions})",
                      f"region {region} is outside the sovereignty regions ({regions})")
