"""Scheduler scenarios: gangs, overflow, divisions, spread, budget, sticky, diagnosis."""

from __future__ import annotations

from federation.model.cluster import Taint
from federation.model.placement import ClusterAssignment
from federation.model.placement import Placement as Result
from policies.models import (
    ClusterAffinity,
    CostPolicy,
    DataPolicy,
    Dataset,
    Gang,
    GpuPolicy,
    LabelSelector,
    Placement,
    ReplicaScheduling,
    SpreadConstraint,
    StaticWeight,
)
from tests.unit.scheduling.fixtures import GiB, cluster, demand, schedule, training


def divided(division: str = "Aggregated", **kw) -> Placement:  # type: ignore[no-untyped-def]
    return Placement(replica_scheduling=ReplicaScheduling(division=division, **kw), **{})


def test_gang_goes_whole_to_the_best_cluster() -> None:
    clusters = [cluster("cheap", price=2.0), cluster("dear", price=6.0),
                cluster("small", nodes=1, price=1.0)]
    d = schedule(clusters, training())
    assert d.schedulable and d.gang == "SingleCluster"
    assert d.placement.clusters == ("cheap",)
    assert d.placement.replicas("cheap", "Master") == 1
    assert d.placement.replicas("cheap", "Worker") == 1
    assert d.hourly_cost == 16 * 2.0
    assert d.diagnosis.of("small").reason.summary == "cannot fit the whole gang (16 GPUs)"


def test_unschedulable_message_counts_reasons() -> None:
    clusters = (
        [cluster(f"a100-{i}", gpu="A100-80GB") for i in range(7)]
        + [cluster(f"down-{i}", ready=False) for i in range(3)]
        + [cluster(f"dear-{i}", price=30.0) for i in range(2)]
    )
    policy = Placement(gpu=GpuPolicy(products=("H100",)),
                       cost=CostPolicy(budget_per_hour=400))
    d = schedule(clusters, training(), policy)
    assert not d.schedulable
    assert d.placement.total == 0
    assert d.message == (
        "0/12 clusters available: 7 lack H100 (need 8 GPUs per replica), "
        "3 have taint fedctl.dev/not-ready, 2 exceed the $400/h budget")


def test_cost_weight_decides_between_equal_clusters() -> None:
    clusters = [cluster("a", price=5.0), cluster("b", price=3.0)]
    d = schedule(clusters, training(), Placement(score_weights=(("cost", 5.0),)))
    assert d.placement.clusters == ("b",)
    assert dict(d.diagnosis.of("b").scores)["cost"] == 100.0
    assert dict(d.diagnosis.of("a").scores)["cost"] == 0.0


def test_weights_are_really_applied_data_vs_cost() -> None:
    # cheap but far from 50 TB of data vs dear but next to it
    ds = DataPolicy(datasets=(Dataset(name="d", uri="s3://x/d", size=50 * 10**12,
                                      region="eu-west-1", provider="aws"),))
    clusters = [cluster("far-cheap", region="us-east-1", price=2.0),
                cluster("near-dear", region="eu-west-1", price=3.0)]
    by_cost = schedule(clusters, training(), Placement(
        data=ds, score_weights=(("cost", 10.0), ("dataLocality", 0.1), ("balanced", 0.0))))
    by_data = schedule(clusters, training(), Placement(
        data=ds, score_weights=(("cost", 0.1), ("dataLocality", 10.0), ("balanced", 0.0))))
    assert by_cost.placement.clusters == ("far-cheap",)
    assert by_data.placement.clusters == ("near-dear",)


def test_ordered_affinities_fill_own_gpus_then_overflow() -> None:
    policy = Placement(
        cluster_affinities=(
            ClusterAffinity(affinity_name="own", label_selector=LabelSelector(
                match_labels=(("tier", "onprem"),))),
            ClusterAffinity(affinity_name="cloud", providers=("aws",))),
        replica_scheduling=ReplicaScheduling(division="CheapestFirst"),
        cost=CostPolicy(spot_allowed=True))
    clusters = [
        cluster("onprem", provider="onprem", labels={"tier": "onprem"}, price=9.0, nodes=2),
        cluster("aws-spot", gpu="A100-80GB", price=4.0, spot=1.5, spot_available=True),
        cluster("aws-od", gpu="A100-80GB", price=3.0),
    ]
    d = schedule(clusters, demand("Job", api_version="batch/v1", replicas=24, gpus=1), policy)
    assert d.schedulable
    assert d.placement.replicas("onprem") == 16  # own GPUs first even though dearer
    assert d.placement.replicas("aws-spot") == 8  # overflow to the cheapest (spot)
    assert d.diagnosis.of("aws-spot").spot
    assert d.diagnosis.of("onprem").tier == 0 and d.diagnosis.of("aws-od").tier == 1


def test_cheapest_first_fills_cheapest() -> None:
    clusters = [cluster("a", price=3.0, nodes=1), cluster("b", price=1.0, nodes=1),
                cluster("c", price=2.0, nodes=1)]
    d = schedule(clusters, demand(replicas=12, gpus=1), divided("CheapestFirst"))
    assert d.placement.by_component("main") == {"b": 8, "c": 4}
    assert d.hourly_cost == 8 * 1.0 + 4 * 2.0


def test_free_capacity_division_is_proportional() -> None:
    clusters = [cluster("a", nodes=3), cluster("b", nodes=1)]
    d = schedule(clusters, demand(replicas=8, gpus=1), divided("FreeCapacity"))
    assert d.placement.by_component("main") == {"a": 6, "b": 2}


def test_static_weights_with_capacity_cap() -> None:
    weights = (StaticWeight(target_cluster=ClusterAffinity(cluster_names=("a",)), weight=3),
               StaticWeight(target_cluster=ClusterAffinity(cluster_names=("b",)), weight=1))
    clusters = [cluster("a", nodes=1), cluster("b", nodes=4), cluster("c", nodes=4)]
    d = schedule(clusters, demand(replicas=8, gpus=1), divided("Weighted", weights=weights))
    assert d.placement.by_component("main") == {"a": 6, "b": 2}
    d = schedule(clusters, demand(replicas=16, gpus=1), divided("Weighted", weights=weights))
    assert d.placement.by_component("main") == {"a": 8, "b": 8}  # a capped at its 8 GPUs
    assert d.placement.replicas("c") == 0  # weight 0: never used


def test_duplicated_runs_everything_everywhere() -> None:
    clusters = [cluster("a"), cluster("b"), cluster("small", nodes=1, per_node=1)]
    policy = Placement(replica_scheduling=ReplicaScheduling(type="Duplicated"))
    d = schedule(clusters, demand(replicas=3, gpus=1), policy)
    assert d.placement.by_component("main") == {"a": 3, "b": 3}


def test_a_kind_without_replicas_goes_to_every_cluster_whatever_the_division() -> None:
    from dataclasses import replace

    from federation.model.demand import Component

    core = frozenset({"ConfigMap", "Service", "apps/Deployment"})
    clusters = [cluster("a", kinds=core), cluster("b", price=9.0, kinds=core),
                cluster("tainted", taints=(Taint("x", "y"),), kinds=core)]
    cm = replace(demand("ConfigMap", api_version="v1",
                        components=(Component("main", 1),)), duplicated=True)
    for policy in (divided("Aggregated"), divided("CheapestFirst"),
                   Placement(gpu=GpuPolicy(per_replica=4))):
        d = schedule(clusters, cm, policy)
        assert d.schedulable and d.gang == "None"
        assert d.placement.by_component("main") == {"a": 1, "b": 1}  # never the tainted one


def test_spread_over_two_regions() -> None:
    policy = Placement(spread_constraints=(
        SpreadConstraint(spread_by="region", min_groups=2, max_groups=2),))
    clusters = [cluster("use1", region="us-east-1", nodes=4),
                cluster("use1b", region="us-east-1", nodes=4),
                cluster("euw4", region="europe-west4", nodes=1),
                cluster("apne1", region="ap-northeast-1", nodes=1, price=9.0)]
    d = schedule(clusters, demand(replicas=6, gpus=1), policy)
    assert d.schedulable
    regions = {c: r for c, r in [("use1", "us-east-1"), ("use1b", "us-east-1"),
                                 ("euw4", "europe-west4"), ("apne1", "ap-northeast-1")]}
    used = {regions[c] for c in d.placement.clusters}
    assert len(used) == 2
    assert d.placement.total == 6


def test_spread_impossible_is_explained() -> None:
    policy = Placement(spread_constraints=(SpreadConstraint(spread_by="region", min_groups=2),))
    clusters = [cluster("a"), cluster("b", region="eu-west-1", gpu="L4-24GB")]
    d = schedule(clusters, demand(replicas=4, gpus=1),
                 Placement(gpu=GpuPolicy(products=("H100",)),
                           spread_constraints=policy.spread_constraints))
    assert not d.schedulable
    assert "must spread over 2 regions but only 1 has room" in d.message
    assert "1 lacks H100" in d.message


def test_not_enough_total_capacity_is_unschedulable_not_partial() -> None:
    d = schedule([cluster("a", nodes=1), cluster("b", nodes=1)], demand(replicas=20, gpus=1))
    assert not d.schedulable and d.placement.total == 0
    assert "holds 16 of 20 main replicas" in d.message


def test_budget_forces_cheaper_division_or_fails() -> None:
    clusters = [cluster("dear", price=5.0, nodes=1), cluster("cheap", price=1.0, nodes=1)]
    policy = Placement(cost=CostPolicy(budget_per_hour=20.0),
                       score_weights=(("cost", 0.0), ("balanced", 1.0)))
    d = schedule(clusters, demand(replicas=8, gpus=1), policy)
    assert d.schedulable and d.hourly_cost <= 20.0
    assert d.placement.by_component("main") == {"cheap": 8}
    d = schedule(clusters, demand(replicas=12, gpus=1), policy)
    assert not d.schedulable
    assert d.message.startswith("the cheapest placement costs $28.00/h, over the $20/h budget")


def test_sticky_keeps_running_replicas_and_places_only_the_delta() -> None:
    clusters = [cluster("a", price=1.0, nodes=1, free=2), cluster("b", price=9.0, nodes=2)]
    previous = Result((ClusterAssignment("b", (("main", 3),)),))
    d = schedule(clusters, demand(replicas=5, gpus=1), divided("CheapestFirst"), previous)
    # b keeps its 3 although a is cheaper; the 2 new replicas go to the cheapest room
    assert d.placement.by_component("main") == {"a": 2, "b": 3}


def test_sticky_scale_down_removes_from_least_preferred() -> None:
    clusters = [cluster("a", price=1.0), cluster("b", price=9.0)]
    previous = Result((ClusterAssignment("a", (("main", 3),)),
                       ClusterAssignment("b", (("main", 3),))))
    d = schedule(clusters, demand(replicas=4, gpus=1), divided("CheapestFirst"), previous)
    assert d.placement.by_component("main") == {"a": 3, "b": 1}


def test_sticky_keeps_replicas_on_a_full_cluster_but_moves_off_a_tainted_one() -> None:
    full = cluster("full", nodes=1, free=0)
    tainted = cluster("tainted", taints=(Taint("maintenance", "", "NoExecute"),))
    spare = cluster("spare", nodes=2)
    previous = Result((ClusterAssignment("full", (("main", 8),)),
                       ClusterAssignment("tainted", (("main", 4),))))
    d = schedule([full, tainted, spare], demand(replicas=12, gpus=1), None, previous)
    assert d.placement.by_component("main") == {"full": 8, "spare": 4}


def test_sticky_gang_stays_unless_a_rule_moves_it() -> None:
    home = cluster("home", price=9.0, nodes=2, free=0)  # full: it runs our gang
    other = cluster("other", price=1.0)
    previous = Result((ClusterAssignment("home", (("Master", 1), ("Worker", 1))),))
    d = schedule([home, other], training(), None, previous)
    assert d.placement.clusters == ("home",)
    gone = cluster("home", price=9.0, nodes=2, free=0, ready=False)
    d = schedule([gone, other], training(), None, previous)
    assert d.placement.clusters == ("other",)


def test_all_or_nothing_gang_reschedules_whole_when_a_cluster_is_lost() -> None:
    policy = Placement(gang=Gang(mode="AllOrNothing"),
                       replica_scheduling=ReplicaScheduling(division="CheapestFirst"))
    a, b = cluster("a", price=1.0, nodes=1), cluster("b", price=2.0, nodes=1, ready=False)
    c = cluster("c", price=3.0, nodes=1)
    previous = Result((ClusterAssignment("c", (("main", 4),)),
                       ClusterAssignment("b", (("main", 4),))))
    d = schedule([a, b, c], demand("TFJob", replicas=8, gpus=1), policy, previous)
    assert d.placement.by_component("main") == {"a": 8}


def test_per_replica_gpu_override_and_cpu_only_components() -> None:
    policy = Placement(gpu=GpuPolicy(per_replica=4))
    d = schedule([cluster("a", nodes=1)], demand(replicas=2, gpus=0), policy)
    assert d.schedulable and d.hourly_cost == 2 * 4 * 4.0


def test_zero_replicas_is_trivially_schedulable() -> None:
    d = schedule([cluster("a")], demand(replicas=0))
    assert d.schedulable and d.placement.total == 0


def test_multi_component_divided_shares_capacity() -> None:
    from federation.model.demand import Component

    comps = (Component("ps", 2, 0, 40_000, 8 * GiB), Component("worker", 4, 4, 8000, GiB))
    d = schedule([cluster("a", nodes=1, cpu=64_000), cluster("b", nodes=1, cpu=64_000)],
                 demand("TFJob", components=comps), Placement(gang=Gang(mode="None")))
    assert d.schedulable
    for name in ("a", "b"):
        ps = d.placement.replicas(name, "ps")
        workers = d.placement.replicas(name, "worker")
        assert ps * 40_000 + workers * 8000 <= 64_000
        assert workers * 4 <= 8


def test_duplicated_total_cost_respects_budget() -> None:
    policy = Placement(replica_scheduling=ReplicaScheduling(type="Duplicated"),
                       cost=CostPolicy(budget_per_hour=10.0))
    clusters = [cluster("a", price=2.0), cluster("b", price=2.0)]
    d = schedule(clusters, demand(replicas=2, gpus=1), policy)  # 2 x $4/h = $8/h
    assert d.schedulable and d.hourly_cost == 8.0
    d = schedule([*clusters, cluster("c", price=2.0)], demand(replicas=2, gpus=1), policy)
    assert not d.schedulable
    assert d.message.startswith("the placement costs $12.00/h, over the $10/h budget")


def test_training_kind_with_multi_region_spread_becomes_all_or_nothing() -> None:
    policy = Placement(spread_constraints=(SpreadConstraint(spread_by="region", min_groups=2),))
    assert policy.gang_mode("PyTorchJob") == "AllOrNothing"
    clusters = [cluster("a"), cluster("b", region="eu-west-1")]
    d = schedule(clusters, training(replicas_per_role=3), policy)
    assert d.schedulable and d.gang == "AllOrNothing"
    assert d.placement.clusters == ("a", "b")
    assert d.placement.total == 4
