"""Table-driven tests, one table per plugin: filter verdicts and raw scores."""

from __future__ import annotations

import pytest

from federation.model.cluster import ClusterSnapshot, Taint
from federation.model.demand import Component
from federation.scheduling.framework import Context
from federation.scheduling.registry import FILTERS, SCORERS
from policies.models import (
    Artifact,
    ClusterAffinity,
    CostPolicy,
    DataPolicy,
    Dataset,
    Gang,
    GpuPolicy,
    LabelSelector,
    Placement,
    ReplicaScheduling,
    Sovereignty,
    Toleration,
)
from tests.unit.scheduling.fixtures import EGRESS, GiB, cluster, demand, training

TiB = 1024 * GiB


def run_filter(name: str, c: ClusterSnapshot, policy: Placement | None = None, d=None):
    ctx = Context(d or demand(), policy or Placement(), EGRESS)
    ctx.tier(c)
    return FILTERS[name].filter(ctx, c)


@pytest.mark.parametrize(("c", "policy", "summary"), [
    (cluster("a"), None, None),
    (cluster("a", ready=False), None, "have taint fedctl.dev/not-ready"),
    (cluster("a", taints=(Taint("gpu", "busy", "NoSchedule"),)), None, "have taint gpu"),
    (cluster("a", taints=(Taint("gpu", "busy", "NoExecute"),)), None, "have taint gpu"),
    (cluster("a", taints=(Taint("gpu", "busy", "PreferNoSchedule"),)), None, None),
    (cluster("a", taints=(Taint("gpu", "busy"),)),
     Placement(cluster_tolerations=(Toleration(key="gpu", value="busy"),)), None),
    (cluster("a", taints=(Taint("gpu", "busy"),)),
     Placement(cluster_tolerations=(Toleration(key="gpu", value="idle"),)), "have taint gpu"),
    (cluster("a", taints=(Taint("gpu", "busy"),)),
     Placement(cluster_tolerations=(Toleration(key="gpu", operator="Exists"),)), None),
    (cluster("a", taints=(Taint("gpu", "busy"),)),
     Placement(cluster_tolerations=(Toleration(operator="Exists"),)), None),
    (cluster("a", taints=(Taint("gpu", "busy", "NoExecute"),)),
     Placement(cluster_tolerations=(Toleration(key="gpu", operator="Exists",
                                               effect="NoSchedule"),)), "have taint gpu"),
])
def test_ready_taints(c, policy, summary) -> None:
    r = run_filter("readyTaints", c, policy)
    assert (r.summary if r else None) == summary


ONPREM = ClusterAffinity(label_selector=LabelSelector(match_labels=(("tier", "onprem"),)))


@pytest.mark.parametrize(("c", "policy", "passes"), [
    (cluster("a"), None, True),
    (cluster("a"), Placement(cluster_affinity=ClusterAffinity(cluster_names=("a",))), True),
    (cluster("a"), Placement(cluster_affinity=ClusterAffinity(cluster_names=("b",))), False),
    (cluster("a"), Placement(cluster_affinity=ClusterAffinity(exclude=("a",))), False),
    (cluster("a", region="eu-west-1"),
     Placement(cluster_affinity=ClusterAffinity(regions=("eu-*",))), True),
    (cluster("a", region="us-east-1"),
     Placement(cluster_affinity=ClusterAffinity(regions=("eu-*",))), False),
    (cluster("a", provider="gcp"),
     Placement(cluster_affinity=ClusterAffinity(providers=("aws",))), False),
    (cluster("a", zone="z1"), Placement(cluster_affinity=ClusterAffinity(zones=("z1",))), True),
    (cluster("a", labels={"tier": "onprem"}), Placement(cluster_affinity=ONPREM), True),
    (cluster("a", labels={"tier": "cloud"}), Placement(cluster_affinity=ONPREM), False),
    (cluster("a", labels={"tier": "cloud"}), Placement(cluster_affinities=(
        ClusterAffinity(affinity_name="own", label_selector=ONPREM.label_selector),
        ClusterAffinity(affinity_name="cloud", providers=("aws",)))), True),
])
def test_affinity(c, policy, passes) -> None:
    assert (run_filter("affinity", c, policy) is None) is passes


def test_affinity_tier_is_first_matching_term() -> None:
    policy = Placement(cluster_affinities=(
        ClusterAffinity(affinity_name="own", label_selector=ONPREM.label_selector),
        ClusterAffinity(affinity_name="any")))
    ctx = Context(demand(), policy, EGRESS)
    assert ctx.tier(cluster("a", labels={"tier": "onprem"})) == 0
    assert ctx.tier(cluster("b")) == 1


@pytest.mark.parametrize(("region", "regions", "passes"), [
    ("europe-west4", ("europe-*",), True),
    ("us-east-1", ("europe-*",), False),
    ("us-east-1", ("us-east-1", "europe-west4"), True),
])
def test_sovereignty(region: str, regions: tuple[str, ...], passes: bool) -> None:
    policy = Placement(data=DataPolicy(sovereignty=Sovereignty(regions=regions)))
    r = run_filter("sovereignty", cluster("a", region=region), policy)
    assert (r is None) is passes
    if r is not None:
        assert r.summary.startswith("are outside the data's regions")


@pytest.mark.parametrize(("kinds", "passes"), [
    (None, True),
    (frozenset({"kubeflow.org/PyTorchJob"}), True),
    (frozenset({"apps/Deployment"}), False),
])
def test_kind_installed(kinds, passes: bool) -> None:
    r = run_filter("kindInstalled", cluster("a", kinds=kinds), d=training())
    assert (r is None) is passes
    if r is not None:
        assert r.summary == "lack kind kubeflow.org/PyTorchJob"


@pytest.mark.parametrize(("c", "gpu", "gpus", "summary"), [
    (cluster("a", gpu="H100-80GB"), GpuPolicy(products=("H100",)), 8, None),
    (cluster("a", gpu="A100-80GB"), GpuPolicy(products=("H100",)), 8,
     "lack H100 (need 8 GPUs per replica)"),
    (cluster("a", gpu="A100-40GB"), GpuPolicy(products=("A100*",)), 1, None),
    (cluster("a", gpu="A100-40GB"), GpuPolicy(products=("A100*",), min_memory=80 * GiB), 1,
     "lack A100* with >= 80Gi (need 1 GPU per replica)"),
    (cluster("a", gpu="L4-24GB", per_node=4), GpuPolicy(products=("L4",)), 8,
     "lack L4 (need 8 GPUs per replica)"),
    (cluster("a", gpu=None), None, 1, "lack GPUs (need 1 GPU per replica)"),
    (cluster("a", gpu=None), None, 0, None),
    # structural, not free: a full cluster still has the product
    (cluster("a", gpu="H100-80GB", free=0), GpuPolicy(products=("H100",)), 8, None),
])
def test_gpu_type(c, gpu, gpus: int, summary) -> None:
    r = run_filter("gpuType", c, Placement(gpu=gpu), demand(gpus=gpus))
    assert (r.summary if r else None) == summary


def test_gpu_type_respects_node_selector_pin() -> None:
    d = demand(components=(Component("main", 1, 1, 0, 0, gpu_product="L4-24GB"),))
    assert run_filter("gpuType", cluster("a", gpu="L4-24GB"), None, d) is None
    assert run_filter("gpuType", cluster("b", gpu="T4-16GB"), None, d) is not None


@pytest.mark.parametrize(("c", "d", "policy", "summary"), [
    (cluster("a", nodes=2, per_node=8), training(), None, None),
    (cluster("a", nodes=1, per_node=8), training(), None, "cannot fit the whole gang (16 GPUs)"),
    (cluster("a", nodes=2, per_node=8, free=4), demand(replicas=5, gpus=8), None,
     "have no free capacity for one replica (8x H100-80GB per replica)"),
    (cluster("a", nodes=2, per_node=8, free=4), demand(replicas=5, gpus=4), None, None),
    (cluster("a", nodes=1, per_node=8), demand(replicas=9, gpus=1),
     Placement(replica_scheduling=ReplicaScheduling(type="Duplicated")),
     "cannot fit all replicas"),
    (cluster("a", nodes=1, per_node=8, cpu=4000), demand(replicas=1, gpus=1, cpu=8000), None,
     "have no free capacity for one replica (1x H100-80GB per replica)"),
])
def test_capacity(c, d, policy, summary) -> None:
    r = run_filter("capacity", c, policy, d)
    assert (r.summary if r else None) == summary
    if r is not None:
        assert r.rule is False  # capacity never evicts running replicas


@pytest.mark.parametrize(("price", "d", "gang", "budget", "passes"), [
    (4.0, training(), None, 100.0, True),  # 16 GPUs x $4 = $64/h
    (4.0, training(), None, 60.0, False),
    (4.0, demand(replicas=10, gpus=1), "None", 5.0, True),  # one replica: $4/h
    (4.0, demand(replicas=10, gpus=2), "None", 5.0, False),  # one replica: $8/h
])
def test_budget(price: float, d, gang, budget: float, passes: bool) -> None:
    policy = Placement(cost=CostPolicy(budget_per_hour=budget), gang=Gang(mode=gang))
    r = run_filter("budget", cluster("a", price=price), policy, d)
    assert (r is None) is passes
    if r is not None:
        assert r.summary == f"exceed the ${budget:g}/h budget"


def raw(name: str, c: ClusterSnapshot, policy: Placement | None = None, d=None) -> float:
    ctx = Context(d or demand(), policy or Placement(), EGRESS)
    return SCORERS[name].score(ctx, c)


@pytest.mark.parametrize(("c", "policy", "expected"), [
    (cluster("a", price=4.0), None, 8.0),  # 2 replicas x 1 GPU x $4
    (cluster("a", price=4.0, spot=1.0, spot_available=True), None, 8.0),  # spot not allowed
    (cluster("a", price=4.0, spot=1.0, spot_available=True),
     Placement(cost=CostPolicy(spot_allowed=True)), 2.0),
    (cluster("a", price=4.0, spot=1.0, spot_available=False),
     Placement(cost=CostPolicy(spot_allowed=True)), 8.0),
])
def test_cost_score(c, policy, expected: float) -> None:
    assert raw("cost", c, policy) == pytest.approx(expected)


def test_cost_of_cpu_only_replicas_uses_vcpu_price() -> None:
    c = cluster("a", gpu=None)
    assert raw("cost", c, None, demand(replicas=3, gpus=0, cpu=2000)) == pytest.approx(
        3 * 2 * 0.05)


DATA = Placement(data=DataPolicy(datasets=(
    Dataset(name="d", uri="s3://b/d", size=10**12, region="us-east-1", provider="aws"),)))


@pytest.mark.parametrize(("c", "expected_zero"), [
    (cluster("a", region="us-east-1"), True),
    (cluster("a", region="eu-west-1"), False),
    (cluster("a", region="eu-west-1", store_regions=("us-east-1",)), True),
    (cluster("a", region="eu-west-1", cached=frozenset({"s3://b/d"})), True),
])
def test_data_locality_zero_when_local(c, expected_zero: bool) -> None:
    assert (raw("dataLocality", c, DATA) == 0.0) is expected_zero


def test_data_locality_counts_egress_and_idle_gpu_hours() -> None:
    c = cluster("a", provider="aws", region="eu-west-1", price=4.0)
    # aws -> aws inter-region: $0.02/GB, 10 Gbit/s; 1 TB = 1000 GB -> $20 and 800 s
    hours = 1e12 * 8 / 10e9 / 3600
    assert raw("dataLocality", c, DATA) == pytest.approx(20.0 + hours * 8.0)
    far = cluster("b", provider="gcp", region="europe-west4", price=4.0)
    assert raw("dataLocality", far, DATA) > raw("dataLocality", c, DATA)


@pytest.mark.parametrize(("product", "expected"), [
    ("H100-80GB", 0.0), ("A100-80GB", 1.0), ("A100-40GB", 2.0),
])
def test_gpu_preference(product: str, expected: float) -> None:
    policy = Placement(gpu=GpuPolicy(products=("H100", "A100*"),
                                     preference=("H100", "A100-80GB")))
    assert raw("gpuPreference", cluster("a", gpu=product), policy) == expected


def test_artifact_cached_by_size() -> None:
    policy = Placement(data=DataPolicy(artifacts=(
        Artifact(uri="s3://m/big", size=90), Artifact(uri="s3://m/small", size=10))))
    assert raw("artifactCached", cluster("a", cached=frozenset({"s3://m/big"})),
               policy) == pytest.approx(0.9)
    assert raw("artifactCached", cluster("a"), policy) == 0.0
    d = demand(artifacts=("s3://m/isvc",))
    assert raw("artifactCached", cluster("a", cached=frozenset({"s3://m/isvc"})), None,
               d) == 1.0


def test_balanced_and_binpack_are_opposite() -> None:
    empty = cluster("a", nodes=2, per_node=8)
    busy = cluster("b", nodes=2, per_node=8, free=2)
    assert raw("balanced", empty) > raw("balanced", busy)
    assert SCORERS["balanced"].higher_is_better and not SCORERS["binpack"].higher_is_better
