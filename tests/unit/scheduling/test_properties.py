"""Property tests on random fleets and demands (hypothesis)."""

from __future__ import annotations

import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.model.cluster import ClusterSnapshot, Taint
from federation.model.demand import Component, Demand
from policies.models import (
    ClusterAffinity,
    CostPolicy,
    DataPolicy,
    Gang,
    GpuPolicy,
    Placement,
    ReplicaScheduling,
    Sovereignty,
    SpreadConstraint,
)
from tests.unit.scheduling.fixtures import cluster, demand, schedule

PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])
REGIONS = ["us-east-1", "eu-west-1", "europe-west4"]
PRODUCTS = ["H100-80GB", "H100-80GB", "A100-80GB", "L4-24GB", None]


@st.composite
def clusters(draw: st.DrawFn, max_size: int = 8) -> list[ClusterSnapshot]:
    n = draw(st.integers(1, max_size))
    out = []
    for i in range(n):
        per_node = draw(st.sampled_from([1, 2, 4, 8]))
        out.append(cluster(
            f"c{i}",
            provider=draw(st.sampled_from(["aws", "gcp", "onprem"])),
            region=draw(st.sampled_from(REGIONS)),
            gpu=draw(st.sampled_from(PRODUCTS)),
            nodes=draw(st.sampled_from([0, 1, 1, 2, 3])),
            per_node=per_node,
            free=draw(st.integers(0, per_node)),
            price=draw(st.sampled_from([0.5, 1.0, 2.0, 3.5, 8.0])),
            spot=draw(st.sampled_from([None, 0.4])),
            spot_available=draw(st.booleans()),
            ready=draw(st.sampled_from([True, True, True, True, False])),
            taints=draw(st.sampled_from([(), (), (), (), (Taint("maintenance"),)])),
            labels={"tier": draw(st.sampled_from(["onprem", "cloud"]))},
        ))
    return out


@st.composite
def demands(draw: st.DrawFn) -> Demand:
    if draw(st.booleans()):
        return demand("PyTorchJob", api_version="kubeflow.org/v1", components=(
            Component("Master", 1, draw(st.sampled_from([1, 4, 8])), 1000, 2**30),
            Component("Worker", draw(st.integers(0, 3)), draw(st.sampled_from([1, 4, 8])),
                      1000, 2**30)))
    return demand(replicas=draw(st.integers(0, 12)), gpus=draw(st.sampled_from([0, 1, 1, 2, 8])))


@st.composite
def policies(draw: st.DrawFn) -> Placement:
    spread = draw(st.sampled_from([(), (SpreadConstraint(spread_by="region", min_groups=2),),
                                   (SpreadConstraint(spread_by="cluster", max_groups=2),)]))
    gang = draw(st.sampled_from([None, "None", "AllOrNothing"]))
    rs_type = draw(st.sampled_from(["Divided", "Divided", "Duplicated"]))
    division = "Aggregated" if rs_type == "Duplicated" else draw(
        st.sampled_from(["Aggregated", "CheapestFirst", "FreeCapacity"]))
    if spread and spread[0].min_groups > 1 and gang is None:
        gang = "None"
    return Placement(
        cluster_affinities=draw(st.sampled_from([(), (
            ClusterAffinity(affinity_name="own", providers=("onprem",)),
            ClusterAffinity(affinity_name="cloud"))])),
        spread_constraints=spread,
        replica_scheduling=ReplicaScheduling(type=rs_type, division=division),
        gpu=draw(st.sampled_from([None, None, GpuPolicy(products=("H100", "A100*")),
                                  GpuPolicy(products=("L4",))])),
        cost=CostPolicy(budget_per_hour=draw(st.sampled_from([None, None, 10.0, 100.0])),
                        spot_allowed=draw(st.booleans())),
        data=DataPolicy(sovereignty=draw(st.sampled_from(
            [None, None, Sovereignty(regions=("eu-*", "europe-*"))]))),
        gang=Gang(mode=gang),
    )


@PROPS
@given(clusters(), demands(), policies())
def test_core_invariants(cs: list[ClusterSnapshot], d: Demand, p: Placement) -> None:
    dec = schedule(cs, d, p)
    by_name = {c.name: c for c in cs}
    for a in dec.placement.assignments:
        diag = dec.diagnosis.of(a.cluster)
        # never place on a filtered cluster
        assert diag.feasible, (a.cluster, diag.reason)
        # sovereignty never violated
        if p.data.sovereignty is not None:
            assert p.data.sovereignty.allows(by_name[a.cluster].region)
    want = {c.name: c.replicas for c in d.components}
    if dec.schedulable:
        for comp, n in want.items():
            got = dec.placement.by_component(comp)
            if p.replica_scheduling.type == "Duplicated":
                assert all(v == n for v in got.values())
            else:
                assert sum(got.values()) == n
        if p.gang_mode(d.kind) == "SingleCluster":
            assert len(dec.placement.clusters) <= 1  # a gang is never split
        if p.cost.budget_per_hour is not None:
            assert dec.hourly_cost <= p.cost.budget_per_hour + 1e-6
    else:
        assert dec.placement.total == 0
        assert dec.message  # with reasons
        assert dec.message != "placed"


@PROPS
@given(clusters(), demands(), policies(), st.randoms(use_true_random=False))
def test_deterministic(cs: list[ClusterSnapshot], d: Demand, p: Placement,
                       rnd: random.Random) -> None:
    first = schedule(cs, d, p)
    shuffled = list(cs)
    rnd.shuffle(shuffled)
    assert schedule(shuffled, d, p) == first
    assert schedule(cs, d, p) == first


@PROPS
@given(clusters(), demands(), policies())
def test_sticky_reschedule_of_own_decision_is_stable(cs: list[ClusterSnapshot], d: Demand,
                                                     p: Placement) -> None:
    first = schedule(cs, d, p)
    if not first.schedulable or p.replica_scheduling.type == "Duplicated":
        return
    again = schedule(cs, d, p, previous=first.placement)
    assert again.schedulable
    assert again.placement == first.placement


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([1, 2, 4, 8]),
                          st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 7.0])),
                min_size=1, max_size=4),
       st.integers(1, 8), st.sampled_from([1, 2, 4]))
def test_cheapest_first_is_never_beaten_by_brute_force(fleet, replicas: int, gpus: int) -> None:
    cs = [cluster(f"c{i}", nodes=n, per_node=per, price=price)
          for i, (n, per, price) in enumerate(fleet)]
    caps = [n * (per // gpus) for n, per, _ in fleet]
    unit = [gpus * price for _, _, price in fleet]
    best = None
    for alloc in itertools.product(*[range(min(cap, replicas) + 1) for cap in caps]):
        if sum(alloc) == replicas:
            cost = sum(a * u for a, u in zip(alloc, unit, strict=True))
            best = cost if best is None or cost < best else best
    policy = Placement(replica_scheduling=ReplicaScheduling(division="CheapestFirst"))
    dec = schedule(cs, demand(replicas=replicas, gpus=gpus), policy)
    if best is None:
        assert not dec.schedulable
    else:
        assert dec.schedulable
        assert dec.hourly_cost <= best + 1e-9
