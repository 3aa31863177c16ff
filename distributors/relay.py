"""Relay fan-out planning (pure): origin -> one relay per region -> the region's edges.

The origin is read once per region: every target in a region is fed from that region's
relay. The relay is a target of the region, preferring a non-edge store, then one that
can copy server-side from the origin, then the first by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoreInfo:
    name: str
    region: str
    edge: bool
    copy_domain: str | None


@dataclass(frozen=True, slots=True)
class Hop:
    source: str
    dest: str
    server_side: bool


@dataclass(frozen=True, slots=True)
class FanoutPlan:
    stages: tuple[tuple[Hop, ...], ...]  # stage 1: origin -> relays; stage 2: relay -> edges
    relays: tuple[tuple[str, str], ...]  # (region, relay store)

    @property
    def origin_reads(self) -> int:
        return sum(1 for stage in self.stages[:1] for h in stage if not h.server_side)


def _same_domain(a: StoreInfo, b: StoreInfo) -> bool:
    return a.copy_domain is not None and a.copy_domain == b.copy_domain


def plan_fanout(origin: StoreInfo, targets: Sequence[StoreInfo], *,
                relay: bool = True) -> FanoutPlan:
    seen: set[str] = set()
    uniq = []
    for t in targets:
        if t.name != origin.name and t.name not in seen:
            seen.add(t.name)
            uniq.append(t)
    if not relay:
        hops = tuple(Hop(origin.name, t.name, _same_domain(origin, t)) for t in uniq)
        return FanoutPlan(stages=(hops,) if hops else (), relays=())
    regions: dict[str, list[StoreInfo]] = {}
    for t in uniq:
        regions.setdefault(t.region, []).append(t)
    first: list[Hop] = []
    second: list[Hop] = []
    relays: list[tuple[str, str]] = []
    for region in sorted(regions):
        members = regions[region]
        chosen = min(members, key=lambda s: (s.edge, not _same_domain(origin, s), s.name))
        relays.append((region, chosen.name))
        first.append(Hop(origin.name, chosen.name, _same_domain(origin, chosen)))
        second += [Hop(chosen.name, s.name, _same_domain(chosen, s))
                   for s in sorted(members, key=lambda s: s.name) if s is not chosen]
    stages = tuple(st for st in (tuple(first), tuple(second)) if st)
    return FanoutPlan(stages=stages, relays=tuple(relays))
