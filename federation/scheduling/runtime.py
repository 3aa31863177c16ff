"""The scheduler runtime: filters, scores, replica division, sticky rescheduling.

    decision = Scheduler(egress).schedule(clusters, demand, policy.spec.placement,
                                          previous=binding_placement)

Pure and deterministic: no I/O, no clock, no randomness; clusters are processed in name
order and every tie is broken by name, so the same input always gives the same decision.

Division modes:

* SingleCluster gang (default for training kinds): the best-scored cluster that holds the
  whole workload gets all of it.
* Duplicated: every selected cluster runs all replicas.
* Divided: per component, ordered affinity terms are filled in order (overflow), and
  inside a term replicas are shared by the division: Aggregated (best score first, fewest
  clusters), CheapestFirst (lowest $/replica first), FreeCapacity (in proportion to
  free capacity) or Weighted (static weights), with Webster or largest-remainder rounding
  and every cluster capped at its free capacity.

Sticky: with a previous placement, replicas stay where they run as long as no rule
(taint, affinity, sovereignty, kind, GPU type, budget) rejects the cluster; scale-down
removes replicas from the least preferred clusters first and scale-up places only the
delta. An AllOrNothing gang that loses any cluster is rescheduled whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, mul

from federation.catalog.egress import EgressMatrix, egress_version
from federation.model.cluster import ClusterSnapshot
from federation.model.demand import Component, Demand
from federation.model.placement import (
    Decision,
    Diagnosis,
    DiagnosisRow,
    Placement,
    Reason,
)
from federation.scheduling import division as div
from federation.scheduling.capacity import pack
from federation.scheduling.explain import summarize
from federation.scheduling.framework import (
    GANG_ALL,
    GANG_SINGLE,
    Context,
    FilterPlugin,
    ScorePlugin,
)
from federation.scheduling.registry import FILTERS, SCORERS
from policies.models import Placement as PlacementPolicy

PerComponent = dict[str, dict[str, int]]

_by_name = attrgetter("name")


class Unschedulable(Exception):
    """Internal: the division failed; the message goes into the decision."""


@dataclass(slots=True)
class _Run:
    ctx: Context
    feasible: list[ClusterSnapshot]
    eligible: set[str]  # passes every rule filter (may lack free capacity)
    by_name: dict[str, ClusterSnapshot]
    totals: dict[str, float]
    n_clusters: int
    reasons: dict[str, Reason]


class Scheduler:
    def __init__(self, egress: EgressMatrix, *,
                 filters: Mapping[str, FilterPlugin] = FILTERS,
                 scorers: Mapping[str, ScorePlugin] = SCORERS) -> None:
        self.egress = egress
        self.egress_version = egress_version(egress)
        self.filters = tuple(filters.values())
        self.scorers = dict(scorers)

    def set_egress(self, egress: EgressMatrix) -> None:
        """Use ``egress`` for the decisions from now on (the hub's egress matrix changed);
        ``egress_version`` names it."""
        self.egress = egress
        self.egress_version = egress_version(egress)

    # -- entry point ---------------------------------------------------------------------

    def schedule(self, clusters: Sequence[ClusterSnapshot], demand: Demand,
                 policy: PlacementPolicy, previous: Placement | None = None) -> Decision:
        ctx = Context(demand, policy, self.egress)
        ordered = sorted(clusters, key=_by_name)
        reasons: dict[str, Reason] = {}
        feasible: list[ClusterSnapshot] = []
        eligible: set[str] = set()
        filters = [f.filter for f in self.filters]
        for c in ordered:
            for f in filters:
                r = f(ctx, c)
                if r is not None:
                    reasons[c.name] = r
                    if not r.rule:
                        eligible.add(c.name)
                    break
            else:
                feasible.append(c)
                eligible.add(c.name)
        scores, totals = self._score(ctx, feasible)
        run = _Run(ctx, feasible, eligible, {c.name: c for c in ordered}, totals,
                   len(ordered), reasons)
        message = ""
        try:
            if not ctx.components:
                per: PerComponent = {}
            elif ctx.duplicated:
                per = self._duplicated(run, previous)
            elif ctx.gang == GANG_SINGLE:
                per = self._gang(run, previous)
            else:
                per = self._divided(run, previous)
            cost = self._cost(run, per)
            if ctx.budget is not None and cost > ctx.budget + 1e-9:
                raise Unschedulable(
                    f"the placement costs ${cost:,.2f}/h, over the ${ctx.budget:g}/h budget"
                    + self._filtered_suffix(run))
        except Unschedulable as exc:
            per, message = {}, str(exc)
        placement = Placement.build(per, tuple(c.name for c in ctx.components))
        return self._decision(run, scores, placement, message, ordered)

    # -- scoring -------------------------------------------------------------------------

    def _score(self, ctx: Context, feasible: list[ClusterSnapshot]
               ) -> tuple[dict[str, tuple[tuple[str, float], ...]], dict[str, float]]:
        if not feasible:
            return {}, {}
        names: list[str] = []
        columns: list[list[float]] = []
        weights: list[float] = []
        for name, plugin in self.scorers.items():
            w = ctx.weights.get(name, 0.0)
            if w <= 0:
                continue
            score = plugin.score
            raws = [score(ctx, c) for c in feasible]
            lo, hi = min(raws), max(raws)
            span = hi - lo
            if span <= 1e-12:
                col = [100.0] * len(raws)
            elif plugin.higher_is_better:
                f = 100.0 / span
                col = [(raw - lo) * f for raw in raws]
            else:
                f = 100.0 / span
                col = [(hi - raw) * f for raw in raws]
            names.append(name)
            columns.append(col)
            weights.append(w)
        weight_sum = sum(weights)
        scores: dict[str, tuple[tuple[str, float], ...]] = {}
        totals: dict[str, float] = {}
        rows = zip(*columns, strict=True) if columns else [()] * len(feasible)
        for c, row in zip(feasible, rows, strict=True):
            name = c.name
            scores[name] = tuple(zip(names, row, strict=True))
            # the same left-to-right sum as sum(w * s for ...), so totals are bit-identical
            totals[name] = sum(map(mul, weights, row)) / weight_sum if weight_sum > 0 else 0.0
        return scores, totals

    # -- ranking -------------------------------------------------------------------------

    def _rank(self, run: _Run, comp: Component | None, cheapest: bool
              ) -> Callable[[str], tuple[int, float, float, str]]:
        ctx = run.ctx

        def key(name: str) -> tuple[int, float, float, str]:
            c = run.by_name[name]
            tier = ctx.tiers.get(name, 0)
            fit = ctx.fit(c)
            cost = fit.unit_cost[comp.name] if comp is not None else fit.demand_cost
            total = run.totals.get(name, 0.0)
            if cheapest:
                return (tier, round(cost, 9), -total, name)
            return (tier, -total, round(cost, 9), name)

        return key

    # -- SingleCluster gang ---------------------------------------------------------------

    def _gang(self, run: _Run, previous: Placement | None) -> PerComponent:
        ctx = run.ctx
        comps = ctx.components
        if previous is not None and len(previous.clusters) == 1:
            home = previous.clusters[0]
            if home in run.eligible:
                c = run.by_name[home]
                grow = [(comp, comp.replicas - previous.replicas(home, comp.name))
                        for comp in comps]
                grow = [(comp, d) for comp, d in grow if d > 0]
                if not grow or pack(c.node_groups, grow, ctx.fit(c).product) is not None:
                    return {comp.name: {home: comp.replicas} for comp in comps}
        if not run.feasible:
            raise Unschedulable(self._none_available(run))
        key = self._rank(run, None, ctx.policy.replica_scheduling.division == "CheapestFirst")
        best = min((c.name for c in run.feasible), key=key)
        return {comp.name: {best: comp.replicas} for comp in comps}

    # -- Duplicated ----------------------------------------------------------------------

    def _duplicated(self, run: _Run, previous: Placement | None) -> PerComponent:
        ctx = run.ctx
        names = [c.name for c in run.feasible]
        if names and ctx.ordered:
            top = min(ctx.tiers[n] for n in names)
            names = [n for n in names if ctx.tiers[n] == top]
        key = self._rank(run, None, False)
        names.sort(key=key)
        names = self._restrict_groups(run, names, key)
        if previous is not None:
            names += [n for n in previous.clusters if n in run.eligible and n not in names]
        if not names:
            raise Unschedulable(self._none_available(run))
        self._check_min_groups(run, names)
        return {comp.name: dict.fromkeys(names, comp.replicas) for comp in ctx.components}

    # -- Divided -------------------------------------------------------------------------

    def _divided(self, run: _Run, previous: Placement | None) -> PerComponent:
        ctx = run.ctx
        if not run.feasible and previous is None:
            raise Unschedulable(self._none_available(run))
        division = ctx.policy.replica_scheduling.division
        per = self._divide_all(run, previous, division)
        budget = ctx.budget
        if budget is not None:
            cost = self._cost(run, per)
            if cost > budget + 1e-9 and division != "CheapestFirst":
                per = self._divide_all(run, previous, "CheapestFirst")
                cost = self._cost(run, per)
            if cost > budget + 1e-9:
                raise Unschedulable(
                    f"the cheapest placement costs ${cost:,.2f}/h, over the ${budget:g}/h "
                    "budget" + self._filtered_suffix(run))
        return per

    def _cost(self, run: _Run, per: PerComponent) -> float:
        total = 0.0
        for comp in run.ctx.components:
            for name, n in per.get(comp.name, {}).items():
                total += run.ctx.fit(run.by_name[name]).unit_cost[comp.name] * n
        return total

    def _divide_all(self, run: _Run, previous: Placement | None, division: str
                    ) -> PerComponent:
        ctx = run.ctx
        comps = sorted(ctx.components, key=lambda c: (-c.gpus, -c.cpu_millis, c.name))
        single = len(comps) == 1
        assigned: dict[str, list[tuple[Component, int]]] = {}
        out: PerComponent = {}
        if (previous is not None and ctx.gang == GANG_ALL
                and any(n not in run.eligible for n in previous.clusters)):
            previous = None  # the gang restarts anyway: place it fresh
        # min-group spreading is seeded by the component with the most replicas and
        # checked on the whole placement; max-group restrictions apply to every component
        spread_comp = max(comps, key=lambda c: c.replicas).name
        for comp in comps:
            if single:
                caps = {c.name: ctx.fit(c).capacity[comp.name] for c in run.feasible}
            else:
                caps = {c.name: ctx.capacity_after(c, assigned.get(c.name, []), comp)
                        for c in run.feasible}
            prev = previous.by_component(comp.name) if previous is not None else {}
            got = self._divide_one(run, comp, caps, prev, division,
                                   seed=comp.name == spread_comp)
            out[comp.name] = got
            for name, n in got.items():
                assigned.setdefault(name, []).append((comp, n))
        if not single:
            self._check_min_groups(run, sorted({c for m in out.values() for c in m}))
        return out

    def _divide_one(self, run: _Run, comp: Component, caps: dict[str, int],
                    prev: Mapping[str, int], division: str, *, seed: bool = True
                    ) -> dict[str, int]:
        n = comp.replicas
        cheapest = division == "CheapestFirst"
        key = self._rank(run, comp, cheapest)
        if prev:
            kept = {c: k for c, k in prev.items() if c in run.eligible and k > 0}
            have = sum(kept.values())
            result: dict[str, int] | None
            if have >= n:
                worst_first = sorted(kept, key=key, reverse=True)
                result = div.shrink(kept, n, worst_first)
            else:
                try:
                    extra = self._fresh(run, comp, n - have, caps, division, key,
                                        check_spread=False, seed=False)
                except Unschedulable:
                    extra = None
                result = None if extra is None else {
                    c: kept.get(c, 0) + extra.get(c, 0) for c in set(kept) | set(extra)}
            if result is not None and (not seed or self._spread_ok(run, result)):
                return {c: k for c, k in result.items() if k > 0}
        return self._fresh(run, comp, n, caps, division, key, check_spread=True, seed=seed)

    def _fresh(self, run: _Run, comp: Component, n: int, caps: dict[str, int],
               division: str, key: Callable[[str], tuple[int, float, float, str]], *,
               check_spread: bool, seed: bool) -> dict[str, int]:
        ctx = run.ctx
        names = sorted((name for name, k in caps.items() if k > 0), key=key)
        if not names:
            raise Unschedulable(self._none_available(run))
        if check_spread:
            names = self._restrict_groups(run, names, key)
        seeds: dict[str, int] = {}
        if check_spread and seed:
            seeds = self._seed_min_groups(run, names, caps, n)
        left_caps = {k: caps[k] - seeds.get(k, 0) for k in names}
        got = self._by_tiers(run, n - sum(seeds.values()), names, left_caps, division, key)
        if got is None:
            room = sum(caps[k] for k in names)
            raise Unschedulable(
                f"{len(run.feasible)}/{run.n_clusters} clusters available, but their free "
                f"capacity holds {room} of {n} {comp.name} replicas"
                + (f" ({comp.gpus}x {ctx.gpu_label} each)" if comp.gpus else "")
                + self._filtered_suffix(run))
        for k, v in seeds.items():
            got[k] = got.get(k, 0) + v
        got = {k: v for k, v in got.items() if v > 0}
        if check_spread and seed:
            self._check_min_groups(run, list(got))
        return got

    def _by_tiers(self, run: _Run, n: int, names: list[str], caps: dict[str, int],
                  division: str, key: Callable[[str], tuple[int, float, float, str]]
                  ) -> dict[str, int] | None:
        ctx = run.ctx
        rs = ctx.policy.replica_scheduling
        weights: dict[str, float] = {}
        if division == "Weighted":
            for name in names:
                c = run.by_name[name]
                w = 0
                for sw in rs.weights:
                    if sw.target_cluster.matches(c.name, c.labels, c.region, c.provider,
                                                 c.zone):
                        w = sw.weight
                        break
                weights[name] = float(w)
        out: dict[str, int] = {}
        left = n
        for tier in sorted({ctx.tiers.get(name, 0) for name in names}):
            if left == 0:
                break
            members = [m for m in names if ctx.tiers.get(m, 0) == tier]
            if division == "Weighted":
                members = [m for m in members if weights[m] > 0]
            take = min(left, sum(caps[m] for m in members))
            if take == 0:
                continue
            if division in ("Aggregated", "CheapestFirst"):
                part = div.fill(take, members, caps)
            elif division == "FreeCapacity":
                part = div.apportion_capped(take, [(m, float(caps[m])) for m in members], caps,
                                            rs.rounding)
            else:
                part = div.apportion_capped(take, [(m, weights[m]) for m in members], caps,
                                            rs.rounding)
            if part is None:  # pragma: no cover - take never exceeds the members' room
                return None
            for k, v in part.items():
                if v:
                    out[k] = out.get(k, 0) + v
            left -= take
        return out if left == 0 else None

    # -- spread constraints --------------------------------------------------------------

    def _groups_ranked(self, run: _Run, names: list[str], spread_by: str) -> list[str]:
        """Group values in order of their best member (``names`` is already ranked)."""
        seen: list[str] = []
        for name in names:
            g = run.by_name[name].group_value(spread_by)
            if g not in seen:
                seen.append(g)
        return seen

    def _restrict_groups(self, run: _Run, names: list[str],
                         key: Callable[[str], tuple[int, float, float, str]]) -> list[str]:
        for sc in run.ctx.policy.spread_constraints:
            if sc.max_groups is None:
                continue
            keep = set(self._groups_ranked(run, names, sc.spread_by)[: sc.max_groups])
            names = [n for n in names if run.by_name[n].group_value(sc.spread_by) in keep]
        return names

    def _seed_min_groups(self, run: _Run, names: list[str], caps: dict[str, int], n: int
                         ) -> dict[str, int]:
        for sc in run.ctx.policy.spread_constraints:
            if sc.min_groups <= 1:
                continue
            if n < sc.min_groups:
                raise Unschedulable(f"cannot spread {n} replica(s) over {sc.min_groups} "
                                    f"{sc.spread_by}s")
            groups = self._groups_ranked(run, names, sc.spread_by)
            if len(groups) < sc.min_groups:
                raise Unschedulable(
                    f"replicas must spread over {sc.min_groups} {sc.spread_by}s but only "
                    f"{len(groups)} {'has' if len(groups) == 1 else 'have'} room"
                    + (f" ({', '.join(groups)})" if groups else "")
                    + self._filtered_suffix(run))
            seeds: dict[str, int] = {}
            for g in groups[: sc.min_groups]:
                best = next(m for m in names
                            if run.by_name[m].group_value(sc.spread_by) == g and caps[m] > 0)
                seeds[best] = 1
            return seeds
        return {}

    def _spread_ok(self, run: _Run, got: Mapping[str, int]) -> bool:
        used = [c for c, k in got.items() if k > 0]
        for sc in run.ctx.policy.spread_constraints:
            groups = {run.by_name[c].group_value(sc.spread_by) for c in used}
            if len(groups) < min(sc.min_groups, sum(got.values())):
                return False
            if sc.max_groups is not None and len(groups) > sc.max_groups:
                return False
        return True

    def _check_min_groups(self, run: _Run, used: list[str]) -> None:
        for sc in run.ctx.policy.spread_constraints:
            groups = {run.by_name[c].group_value(sc.spread_by) for c in used}
            if len(groups) < sc.min_groups:
                raise Unschedulable(
                    f"replicas must spread over {sc.min_groups} {sc.spread_by}s but only "
                    f"{len(groups)} can take them" + self._filtered_suffix(run))

    # -- messages and the decision -------------------------------------------------------

    def _none_available(self, run: _Run) -> str:
        return summarize(run.reasons.values(), run.n_clusters, 0)

    def _filtered_suffix(self, run: _Run) -> str:
        if not run.reasons:
            return ""
        text = summarize(run.reasons.values(), run.n_clusters, len(run.feasible))
        return "; " + text.split(": ", 1)[1] if ": " in text else ""

    def _decision(self, run: _Run, scores: dict[str, tuple[tuple[str, float], ...]],
                  placement: Placement, message: str,
                  clusters: list[ClusterSnapshot]) -> Decision:
        ctx = run.ctx
        # ClusterDiagnosis arguments per cluster; the objects are built only when read
        rows: list[DiagnosisRow] = []
        append = rows.append
        total_cost = 0.0
        placed = {a.cluster: a.replicas for a in placement.assignments}
        reasons, eligible, tiers, totals = run.reasons, run.eligible, ctx.tiers, run.totals
        fit_of = ctx.fit
        for c in clusters:
            name = c.name
            reason = reasons.get(name)
            if reason is not None and name not in eligible:  # the common, cheap case
                append((name, False, reason, tiers.get(name)))
                continue
            fit = fit_of(c)
            reps = 0
            cost = 0.0
            for comp_name, k in placed.get(name, ()):
                reps += k
                cost += fit.unit_cost[comp_name] * k
            total_cost += cost
            append((name, reason is None, reason, tiers.get(name), fit.product, fit.spot,
                    scores.get(name, ()), totals.get(name, 0.0), reps, cost))
        want = ctx.demand.total_replicas
        schedulable = not message and placement.total >= want and (
            want == 0 or placement.total > 0)
        summary = summarize(run.reasons.values(), run.n_clusters, len(run.feasible))
        if schedulable:
            message = (f"placed {placement.total} replica(s) on "
                       f"{len(placement.assignments)} cluster(s) for ${total_cost:,.2f}/h")
        elif not message:  # pragma: no cover - every failure path raises with a message
            message = summary
        weights = tuple((k, v) for k, v in ctx.weights.items() if v > 0)
        return Decision(
            schedulable=schedulable,
            placement=placement if schedulable else Placement(),
            diagnosis=Diagnosis(summary=summary, weights=weights, rows=tuple(rows)),
            hourly_cost=total_cost if schedulable else 0.0,
            gang=ctx.gang,
            message=message,
        )
