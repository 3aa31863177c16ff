"""Builders for scheduler tests: small clusters, demands and policies."""

from __future__ import annotations

from federation.catalog.egress import EgressMatrix, load_egress_matrix
from federation.model.cluster import ClusterSnapshot, GpuPrice, NodeGroup, Taint
from federation.model.demand import Component, Demand
from federation.model.placement import Decision
from federation.model.placement import Placement as PlacementResult
from federation.scheduling.runtime import Scheduler
from policies.models import Placement

GiB = 1024**3
EGRESS: EgressMatrix = load_egress_matrix()


def cluster(
    name: str,
    *,
    provider: str = "aws",
    region: str = "us-east-1",
    zone: str | None = None,
    gpu: str | None = "H100-80GB",
    nodes: int = 2,
    per_node: int = 8,
    free: int | None = None,
    cpu: int = 96_000,
    mem: int = 1024 * GiB,
    labels: dict[str, str] | None = None,
    taints: tuple[Taint, ...] = (),
    ready: bool = True,
    price: float = 4.0,
    spot: float | None = None,
    spot_available: bool = False,
    kinds: frozenset[str] | None = None,
    cached: frozenset[str] = frozenset(),
    store_regions: tuple[str, ...] = (),
    extra_groups: tuple[NodeGroup, ...] = (),
) -> ClusterSnapshot:
    groups: tuple[NodeGroup, ...] = ()
    if nodes:
        g = per_node if gpu else 0
        groups = (NodeGroup(nodes, gpu, 81920 if gpu else 0, g if free is None else free, g,
                            cpu, mem),)
    groups += extra_groups
    products = {x.gpu_product for x in groups if x.gpu_product}
    return ClusterSnapshot(
        name=name, provider=provider, region=region, zone=zone or f"{region}-a",
        labels=labels or {}, taints=taints, ready=ready, node_groups=groups,
        installed_kinds=kinds,
        prices={p: GpuPrice(p, price, spot) for p in products},
        vcpu_hourly=0.05, spot_available=spot_available, store_regions=store_regions,
        cached=cached,
    )


def demand(kind: str = "Deployment", replicas: int = 2, gpus: int = 1, *,
           api_version: str = "apps/v1", cpu: int = 1000, mem: int = GiB,
           components: tuple[Component, ...] | None = None,
           artifacts: tuple[str, ...] = ()) -> Demand:
    comps = components or (Component("main", replicas, gpus, cpu, mem),)
    return Demand(api_version, kind, "w", "default", comps, artifacts=artifacts)


def training(replicas_per_role: int = 1, gpus: int = 8) -> Demand:
    return demand("PyTorchJob", api_version="kubeflow.org/v1", components=(
        Component("Master", 1, gpus, 8000, 64 * GiB),
        Component("Worker", replicas_per_role, gpus, 8000, 64 * GiB)))


def schedule(clusters: list[ClusterSnapshot], d: Demand, policy: Placement | None = None,
             previous: PlacementResult | None = None) -> Decision:
    return Scheduler(EGRESS).schedule(clusters, d, policy or Placement(), previous)
