"""Filter: the cluster serves the workload's kind (e.g. the Kubeflow training operator),
in the template's API version when the cluster's versions are known."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class KindInstalled:
    name = "kindInstalled"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        kinds = cluster.installed_kinds
        if kinds is None:
            return None
        versions = cluster.kind_versions.get(ctx.kind_key)
        if versions is None:
            if ctx.kind_key in kinds:
                return None
        elif ctx.kind_version in versions:
            return None
        key = (self.name, versions)
        try:
            return ctx.reason_cache[key]
        except KeyError:
            r = ctx.reason_cache[key] = self._reason(ctx, versions)
            return r

    def _reason(self, ctx: Context, versions: frozenset[str] | None) -> Reason:
        if versions is None:
            return Reason(self.name, f"lack kind {ctx.kind_key}",
                          f"{ctx.kind_key} is not installed")
        served = ", ".join(sorted(versions))
        return Reason(self.name, f"lack {ctx.demand.api_version} {ctx.demand.kind}",
                      f"{ctx.kind_key} is served only as {served}, not "
                      f"{ctx.demand.api_version}")
