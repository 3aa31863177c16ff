"""A member cluster as the scheduler sees it: a frozen snapshot.

The hub builds snapshots from live clusters (nodes, pods, status); ``fedctl plan`` builds
them from a fleet file (``federation.scheduling.fleet_snapshot``). Capacity is kept per
group of identical nodes, so "8 GPUs per replica" is checked per node, not per cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

EDGE_TAINT_KEY = "fedctl.dev/edge"
NOT_READY_TAINT_KEY = "fedctl.dev/not-ready"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else (
            f"{self.key}:{self.effect}")


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """``count`` identical nodes, each with this much free (allocatable - requested)."""

    count: int
    gpu_product: str | None  # catalog short name, None for CPU-only nodes
    gpu_memory_mib: int
    gpus_free: int  # per node
    gpus_allocatable: int  # per node
    cpu_free_millis: int  # per node
    memory_free_bytes: int  # per node


@dataclass(frozen=True, slots=True)
class GpuPrice:
    """Resolved $/GPU-hour for one product in one cluster (catalog + overrides)."""

    product: str
    on_demand: float
    spot: float | None = None


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    name: str
    provider: str
    region: str
    zone: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    ready: bool = True
    edge: bool = False
    node_groups: tuple[NodeGroup, ...] = ()
    # "group/Kind" ("Kind" for the core group) for every kind served, plus, when known,
    # "group/version/Kind" ("v1/Kind") per served version: then a template's apiVersion
    # must be one of them (a member with training-operator's MPIJob v1 does not serve
    # mpi-operator's v2beta1). None = not known.
    installed_kinds: frozenset[str] | None = None
    prices: Mapping[str, GpuPrice] = field(default_factory=dict)
    vcpu_hourly: float = 0.0
    spot_available: bool = False
    store_regions: tuple[str, ...] = ()
    cached: frozenset[str] = frozenset()  # artifact / dataset URIs present in its stores
    # derived once per snapshot (the scheduler reads them for every decision)
    gpu_products: frozenset[str] = field(init=False, default=frozenset())
    gpu_products_sorted: tuple[str, ...] = field(init=False, default=())
    gpus_free: int = field(init=False, default=0)
    gpus_allocatable: int = field(init=False, default=0)
    cpu_free_millis: int = field(init=False, default=0)
    max_gpus_per_node: Mapping[str, int] = field(init=False, default_factory=dict)
    # product -> its node groups, in ``node_groups`` order
    gpu_groups: Mapping[str, tuple[NodeGroup, ...]] = field(init=False, default_factory=dict)
    # "group/Kind" -> versions served, from the versioned entries of ``installed_kinds``
    kind_versions: Mapping[str, frozenset[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        products = frozenset(g.gpu_product for g in self.node_groups if g.gpu_product)
        object.__setattr__(self, "gpu_products", products)
        object.__setattr__(self, "gpu_products_sorted", tuple(sorted(products)))
        biggest: dict[str, int] = {}
        by_product: dict[str, list[NodeGroup]] = {}
        for g in self.node_groups:
            if g.gpu_product:
                by_product.setdefault(g.gpu_product, []).append(g)
                if g.gpus_allocatable > biggest.get(g.gpu_product, -1):
                    biggest[g.gpu_product] = g.gpus_allocatable
        object.__setattr__(self, "max_gpus_per_node", biggest)
        object.__setattr__(self, "gpu_groups", {p: tuple(gs) for p, gs in by_product.items()})
        object.__setattr__(self, "gpus_free",
                           sum(g.count * g.gpus_free for g in self.node_groups))
        object.__setattr__(self, "gpus_allocatable",
                           sum(g.count * g.gpus_allocatable for g in self.node_groups))
        object.__setattr__(self, "cpu_free_millis",
                           sum(g.count * g.cpu_free_millis for g in self.node_groups))
        versions: dict[str, set[str]] = {}
        for entry in self.installed_kinds or ():
            group_version, _, kind = entry.rpartition("/")
            if "/" in group_version:  # "group/version/Kind"
                group, _, version = group_version.partition("/")
                versions.setdefault(f"{group}/{kind}", set()).add(version)
            elif group_version.startswith("v") and group_version[1:2].isdigit():
                versions.setdefault(kind, set()).add(group_version)  # "v1/Pod"
        object.__setattr__(self, "kind_versions",
                           {k: frozenset(v) for k, v in versions.items()})

    def group_value(self, spread_by: str) -> str:
        if spread_by == "cluster":
            return self.name
        if spread_by == "region":
            return self.region
        if spread_by == "provider":
            return self.provider
        return self.zone
