"""The scheduling framework: plugin protocols and the per-decision context.

A decision runs every filter on every cluster (first failing filter gives the reason),
then every weighted scorer on the clusters that passed. Filters return a ``Reason`` or
None; scorers return a raw number that the runtime normalises to 0-100 across the
candidates (``higher_is_better`` says which way). The ``Context`` holds what is computed
once per decision (allowed GPU products, weights) and, per cluster, the ``Fit``: which
GPU product the workload would use there, how many replicas fit, and what they cost.

Speed: a decision touches every cluster several times (filters, scorers, ranking), so the
per-cluster work is memoised on the context (fits, candidate products, tiers), and filters
share equal ``Reason`` objects through ``ctx.reason_cache`` (most clusters fail for one of
a few reasons). Facts that depend only on a snapshot (sorted products, node groups per
product, the largest node per product) are derived once in ``ClusterSnapshot``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Protocol

from federation.catalog.egress import EgressMatrix
from federation.catalog.gpus import GPU_PRODUCTS, matches
from federation.model.cluster import ClusterSnapshot
from federation.model.demand import Component, Demand
from federation.model.placement import Reason
from federation.scheduling import capacity as cap
from policies.models import Placement


class FilterPlugin(Protocol):
    name: str

    def filter(self, ctx: Context, cluster: ClusterSnapshot) -> Reason | None: ...


class ScorePlugin(Protocol):
    name: str
    higher_is_better: bool

    def score(self, ctx: Context, cluster: ClusterSnapshot) -> float: ...


@dataclass(slots=True)
class Fit:
    product: str | None  # GPU product the replicas would use; None when CPU only / none
    capacity: dict[str, int]  # component -> replicas that fit alone
    fits_all: bool  # the whole demand packs into the cluster at once
    unit_cost: dict[str, float]  # component -> $/h of one replica
    spot: bool
    demand_cost: float  # $/h of the whole demand here
    fits_one: bool = True  # one replica of every component fits (alone)


GANG_SINGLE = "SingleCluster"
GANG_ALL = "AllOrNothing"


class Context:
    """Everything one decision needs besides the clusters; built once per decision."""

    def __init__(self, demand: Demand, policy: Placement, egress: EgressMatrix) -> None:
        self.policy = policy
        self.egress = egress
        self.demand = effective_demand(demand, policy)
        self.components = tuple(c for c in self.demand.components if c.replicas > 0)
        # the gang default is the kind's (KindSpec.gang, carried by the demand); a policy's
        # explicit gang mode wins, except that a kind whose copies are not valid with part
        # of the replicas (an MPIJob: one Launcher) is never divided
        self.gang = "None" if demand.duplicated else policy.gang_mode(demand.kind, demand.gang)
        # kinds without replicas are copied to every selected cluster whatever the policy
        self.duplicated = (policy.replica_scheduling.type == "Duplicated"
                           or self.demand.duplicated)
        if not demand.divisible and not self.duplicated:
            self.gang = GANG_SINGLE
        self.whole = self.duplicated or self.gang == GANG_SINGLE
        self.weights = policy.weights()
        self.terms = policy.terms()
        self.ordered = bool(policy.cluster_affinities)
        self.tolerations = policy.cluster_tolerations
        self.budget = policy.cost.budget_per_hour
        self.spot_allowed = policy.cost.spot_allowed
        # as API discovery names kinds: "group/Kind", "Kind" alone for the core group
        self.kind_key = (f"{self.demand.group}/{self.demand.kind}" if self.demand.group
                         else self.demand.kind)
        # the version part of the template's apiVersion ("v2beta1", "v1")
        self.kind_version = self.demand.api_version.rpartition("/")[2]
        gpu = policy.gpu
        self.gpu_components = tuple(c for c in self.components if c.gpus > 0)
        self.needs_gpu = bool(self.gpu_components)
        self.max_gpus = max((c.gpus for c in self.gpu_components), default=0)
        allowed = gpu.allowed_products() if gpu else frozenset(p.name for p in GPU_PRODUCTS)
        pins = {c.gpu_product for c in self.gpu_components if c.gpu_product}
        for pin in pins:
            allowed = allowed & {pin}
        if gpu and gpu.min_memory:
            mib = gpu.min_memory // (1024 * 1024)
            allowed = frozenset(p.name for p in GPU_PRODUCTS
                                if p.name in allowed and p.memory_mib >= mib)
        self.allowed_products = frozenset(allowed)
        if gpu and gpu.products:
            self.gpu_label = " or ".join(gpu.products)
        elif pins:
            self.gpu_label = " or ".join(sorted(pins))
        else:
            self.gpu_label = "GPUs"
        if gpu and gpu.min_memory:
            self.gpu_label += f" with >= {gpu.min_memory // 2**30}Gi"
        rank: dict[str, int] = {}
        if gpu:
            for i, pat in enumerate(gpu.preference):
                for p in GPU_PRODUCTS:
                    if p.name not in rank and matches(pat, p):
                        rank[p.name] = i
        self.preference_rank = rank
        self.preference_len = len(gpu.preference) if gpu else 0
        self.datasets = policy.data.datasets
        self.artifacts = tuple((a.uri, a.size) for a in policy.data.artifacts) + tuple(
            (uri, 0) for uri in self.demand.artifacts
            if uri not in {a.uri for a in policy.data.artifacts})
        self.tiers: dict[str, int] = {}
        # filters' Reasons (or None for "passes"), keyed by (plugin name, what it depends
        # on): equal reasons are shared instead of rebuilt for every cluster
        self.reason_cache: dict[Hashable, Reason | None] = {}
        self._fits: dict[str, Fit] = {}
        self._candidates: dict[str, list[str]] = {}
        self._single = self.components[0] if len(self.components) == 1 else None
        # every component needs GPUs: only the chosen product's node groups can hold them
        self._gpu_only = all(c.gpus > 0 for c in self.components)

    # -- per cluster ---------------------------------------------------------------------

    def tier(self, cluster: ClusterSnapshot) -> int | None:
        """Index of the first affinity term the cluster matches (0 without terms)."""
        tiers = self.tiers
        name = cluster.name
        found = tiers.get(name)
        if found is not None:
            return found
        if not self.terms:
            tiers[name] = 0
            return 0
        for i, term in enumerate(self.terms):
            if term.matches(name, cluster.labels, cluster.region, cluster.provider,
                            cluster.zone):
                tiers[name] = i
                return i
        return None

    def fit(self, cluster: ClusterSnapshot) -> Fit:
        found = self._fits.get(cluster.name)
        if found is None:
            found = self._fits[cluster.name] = self._compute_fit(cluster)
        return found

    def candidate_products(self, cluster: ClusterSnapshot) -> list[str]:
        """Allowed products of the cluster on nodes big enough for one replica, sorted."""
        if not self.needs_gpu:
            return []
        found = self._candidates.get(cluster.name)
        if found is not None:
            return found
        biggest = cluster.max_gpus_per_node
        need = self.max_gpus
        allowed = self.allowed_products
        found = self._candidates[cluster.name] = [
            p for p in cluster.gpu_products_sorted if p in allowed and biggest[p] >= need]
        return found

    def _compute_fit(self, cluster: ClusterSnapshot) -> Fit:
        if not self.needs_gpu:
            return self._fit_for(cluster, None)
        candidates = self.candidate_products(cluster)
        if len(candidates) == 1:
            return self._fit_for(cluster, candidates[0])
        best: tuple[tuple[int, int, float, str], Fit] | None = None
        for product in candidates:
            fit = self._fit_for(cluster, product)
            usable = fit.fits_all if self.whole else fit.fits_one
            key = (0 if usable else 1, self.preference_rank.get(product, self.preference_len),
                   fit.demand_cost, product)
            if best is None or key < best[0]:
                best = (key, fit)
        if best is None:
            return Fit(None, {c.name: 0 for c in self.components}, False,
                       {c.name: 0.0 for c in self.components}, False, 0.0)
        return best[1]

    def _fit_for(self, cluster: ClusterSnapshot, product: str | None) -> Fit:
        spot = False
        gpu_price = 0.0
        if product is not None:
            price = cluster.prices.get(product)
            if price is not None:
                gpu_price = price.on_demand
                if self.spot_allowed and cluster.spot_available and price.spot is not None:
                    gpu_price, spot = price.spot, True
        c = self._single
        if c is not None:  # the common case, inlined: this runs per cluster
            # product is None only for CPU-only demands (g == 0): every group is eligible
            g, cpu, mem = c.gpus, c.cpu_millis, c.memory_bytes
            total = 0
            if g:
                for grp in cluster.gpu_groups.get(product, ()) if product is not None else ():
                    k = grp.gpus_free // g
                    if cpu:
                        n = grp.cpu_free_millis // cpu
                        if n < k:
                            k = n
                    if mem:
                        n = grp.memory_free_bytes // mem
                        if n < k:
                            k = n
                    total += grp.count * k
            else:
                for grp in cluster.node_groups:
                    k = cap.UNBOUNDED
                    if cpu:
                        n = grp.cpu_free_millis // cpu
                        if n < k:
                            k = n
                    if mem:
                        n = grp.memory_free_bytes // mem
                        if n < k:
                            k = n
                    total += grp.count * k
            room = total // c.pods_per_replica if total < cap.UNBOUNDED else cap.UNBOUNDED
            unit_cost = (g * gpu_price if g else c.cpu_millis / 1000 * cluster.vcpu_hourly
                         ) * c.pods_per_replica
            return Fit(product, {c.name: room}, room >= c.replicas, {c.name: unit_cost},
                       spot, 0 + unit_cost * c.replicas, room > 0)
        groups = cluster.node_groups
        if self._gpu_only and product is not None:
            groups = cluster.gpu_groups.get(product, ())
        capacity = {c.name: cap.capacity(groups, c, product) for c in self.components}
        fits_all = cap.pack(groups, [(c, c.replicas) for c in self.components],
                            product) is not None
        unit = {c.name: (c.gpus * gpu_price if c.gpus else
                         c.cpu_millis / 1000 * cluster.vcpu_hourly) * c.pods_per_replica
                for c in self.components}
        demand_cost = sum(unit[c.name] * c.replicas for c in self.components)
        return Fit(product, capacity, fits_all, unit, spot, demand_cost,
                   all(n > 0 for n in capacity.values()))

    def capacity_after(self, cluster: ClusterSnapshot, assigned: list[tuple[Component, int]],
                       comp: Component) -> int:
        """Replicas of ``comp`` that still fit after ``assigned`` is packed."""
        product = self.fit(cluster).product
        left = cap.pack(cluster.node_groups, assigned, product)
        return 0 if left is None else cap.capacity(left, comp, product)


def effective_demand(demand: Demand, policy: Placement) -> Demand:
    """Apply ``gpu.perReplica``: it sets the GPUs of every GPU component (or of all)."""
    if policy.gpu is None or policy.gpu.per_replica is None or demand.duplicated:
        return demand
    n = policy.gpu.per_replica
    any_gpu = any(c.gpus for c in demand.components)
    comps = tuple(replace(c, gpus=n) if (c.gpus or not any_gpu) else c
                  for c in demand.components)
    return replace(demand, components=comps)
