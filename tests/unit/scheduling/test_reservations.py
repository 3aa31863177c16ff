"""Capacity held by bindings: ledger arithmetic, packing into node groups, and the property
the hub relies on — decisions made one after another never promise more GPUs than exist."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.hub.bindings import clusters_spec, holds_of
from federation.model.cluster import NodeGroup
from federation.model.demand import Component
from federation.scheduling.reservations import (
    Hold,
    Ledger,
    hold_from_json,
    hold_to_json,
    holds_for,
    reserve,
)
from policies.models import Placement, ReplicaScheduling
from tests.unit.scheduling.fixtures import GiB, cluster, demand, schedule, training

H100 = "H100-80GB"


def test_ledger_aggregates_and_excludes_one_binding() -> None:
    led = Ledger()
    a = Hold(((("H100-80GB", 8, 1000, GiB), 2),))
    b = Hold(((("H100-80GB", 8, 1000, GiB), 1), ((None, 0, 500, GiB), 3)))
    led.set("ns.a", {"c1": a})
    led.set("ns.b", {"c1": b, "c2": a})
    assert led.holders("c1") == {"ns.a", "ns.b"}
    assert led.held("c1") == [((None, 0, 500, GiB), 3), ((H100, 8, 1000, GiB), 3)]
    assert led.held("c1", excluding="ns.b") == [((H100, 8, 1000, GiB), 2)]
    led.set("ns.b", {"c2": a})  # moved off c1
    assert led.holders("c1") == {"ns.a"}
    led.drop("ns.a")
    assert led.held("c1") == [] and led.holders("c1") == frozenset()
    assert led.held("c2") == [((H100, 8, 1000, GiB), 2)]
    assert len(led) == 1


def test_reserve_takes_whole_nodes_for_eight_gpu_replicas() -> None:
    snap = cluster("c1", nodes=2, per_node=8)
    out = reserve(snap, [((H100, 8, 1000, GiB), 1)])
    assert out.gpus_free == 8 and out.gpus_allocatable == 16
    assert out.max_gpus_per_node[H100] == 8
    full = reserve(snap, [((H100, 8, 1000, GiB), 5)])  # more than exists: all taken, no less
    assert full.gpus_free == 0


def test_reserve_without_holds_is_identity() -> None:
    snap = cluster("c1")
    assert reserve(snap, []) is snap


def test_holds_round_trip_through_the_binding_spec() -> None:
    d = training(replicas_per_role=1, gpus=8)
    dec = schedule([cluster("c1", nodes=2), cluster("c2", nodes=2, price=9.0)], d)
    assert dec.schedulable
    holds = holds_for(dec.placement, d, {c: dec.diagnosis.product_of(c)
                                         for c in dec.placement.clusters})
    assert holds["c1"].gpus == 16
    spec = {"spec": {"clusters": clusters_spec(dec.placement, holds)}}
    assert holds_of(spec) == holds
    for hold in holds.values():
        assert hold_from_json(hold_to_json(hold)) == hold
    assert hold_from_json("junk") is None
    assert hold_from_json([{"gpus": "x"}]) is None


def test_product_of_names_the_chosen_product() -> None:
    mixed = cluster("c1", gpu="L4-24GB", per_node=2, price=1.0, extra_groups=(
        NodeGroup(1, H100, 81920, 8, 8, 96_000, 1024 * GiB),))
    d = demand(replicas=1, gpus=8)
    dec = schedule([mixed], d)
    assert dec.schedulable
    assert dec.diagnosis.product_of("c1") == H100
    assert dec.diagnosis.product_of("nope") is None


def divided(division: str) -> Placement:
    return Placement(replica_scheduling=ReplicaScheduling(division=division))


def _decide_in_turn(clusters: list, demands: list) -> dict[str, int]:  # type: ignore[type-arg]
    """Schedule demands one after another the way the hub does; GPUs promised per cluster."""
    led = Ledger()
    for i, d in enumerate(demands):
        label = f"ns.w{i}"
        snaps = [reserve(c, led.held(c.name, excluding=label)) for c in clusters]
        dec = schedule(snaps, d, divided("Aggregated"))
        if dec.schedulable:
            led.set(label, holds_for(dec.placement, d, {
                c: dec.diagnosis.product_of(c) for c in dec.placement.clusters}))
    return {c.name: sum(s[1] * n for s, n in led.held(c.name)) for c in clusters}


def test_two_big_jobs_do_not_share_sixteen_gpus() -> None:
    # the overcommit seen in the demo: 16 one-GPU replicas, then a 16-GPU gang, on 16 GPUs
    onprem = cluster("onprem", nodes=2, per_node=8, price=0.5)
    cloud = cluster("cloud", nodes=2, per_node=8, price=6.0)
    promised = _decide_in_turn([onprem, cloud], [
        demand(replicas=16, gpus=1), training(replicas_per_role=1, gpus=8)])
    assert promised == {"onprem": 16, "cloud": 16}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 12), st.sampled_from([1, 2, 4, 8])),
                min_size=1, max_size=8),
       st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_decisions_in_turn_never_promise_more_gpus_than_exist(
        workloads: list[tuple[int, int]], nodes: list[int]) -> None:
    clusters = [cluster(f"c{i}", nodes=n, per_node=8, price=1.0 + i)
                for i, n in enumerate(nodes)]
    demands = [demand(replicas=r, gpus=g) for r, g in workloads]
    promised = _decide_in_turn(clusters, demands)
    for c in clusters:
        assert promised[c.name] <= c.gpus_allocatable


def test_cpu_only_holds_use_cpu() -> None:
    snap = cluster("c1", gpu=None, nodes=1, cpu=4000, mem=16 * GiB)
    d = demand(replicas=3, gpus=0, cpu=1000, mem=GiB)
    out = reserve(snap, [((None, 0, 1000, GiB), 3)])
    assert out.cpu_free_millis == 1000
    dec = schedule([out], d)
    assert not dec.schedulable
    comp = Component("main", 1, 0, 1000, GiB)
    assert schedule([out], demand(components=(comp,))).schedulable
