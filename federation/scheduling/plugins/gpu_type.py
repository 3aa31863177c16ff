"""Filter: the cluster has an allowed GPU product, with enough memory, on nodes big
enough for one replica ("lack H100 (need 8 GPUs per replica)")."""

from __future__ import annotations

from federation.model.cluster import ClusterSnapshot
from federation.model.placement import Reason
from federation.scheduling.framework import Context


class GpuType:
    name = "gpuType"

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None:
        if not ctx.needs_gpu or ctx.candidate_products(cluster):
            return None
        key = (self.name, cluster.gpu_products_sorted)
        try:
            return ctx.reason_cache[key]
        except KeyError:
            r = ctx.reason_cache[key] = self._reason(ctx, cluster.gpu_products_sorted)
            return r

    def _reason(self, ctx: Context, have: tuple[str, ...]) -> Reason:
        need = f"need {ctx.max_gpus} GPU{'s' if ctx.max_gpus != 1 else ''} per replica"
        detail = (f"has {', '.join(have)}" if have else "has no GPUs") + f"; {need} of " + (
            ctx.gpu_label)
        return Reason(self.name, f"lack {ctx.gpu_label} ({need})", detail)
