"""Score: model artifacts already in the cluster's stores.
Raw value: the cached share of the artifacts, by size (by count when sizes are unknown).
Today only ``fedctl plan --cached`` says what is cached; the hub does not feed it yet (the
model distribution issue will, from what the distributors staged), so live decisions score
every cluster 0 here."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.scheduling.framework import Context


class ArtifactCached:
    name = "artifactCached"
    higher_is_better = True

    def score(self, ctx: Context, cluster: ClusterSnapshot) -> float:
        if not ctx.artifacts:
            return 0.0
        total = 0.0
        cached = 0.0
        for uri, size in ctx.artifacts:
            w = float(size) if size else 1.0
            total += w
            if uri in cluster.cached:
                cached += w
        return cached / total
