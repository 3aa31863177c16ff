"""Cluster snapshots from a fleet file, for `fedctl plan` (the hub builds them live).

Each ``simulate.nodePools`` entry becomes a node group with everything allocatable and
nothing requested. Prices come from the catalog for the cluster's provider and region,
then the cluster's ``pricing`` overrides. Edge clusters carry the ``fedctl.dev/edge``
taint, so only policies that tolerate it place there. What each cluster caches is not in
the fleet file; pass ``cached`` (cluster -> URIs) to simulate it.
"""

from __future__ import annotations

from collections.abc import Mapping

from federation.catalog.prices import PriceCatalog, cluster_prices, vcpu_price
from federation.fleet import ClusterSpec, Fleet
from federation.model.cluster import EDGE_TAINT_KEY, ClusterSnapshot, NodeGroup, Taint


def snapshot_from_fleet(fleet: Fleet, catalog: PriceCatalog,
                        cached: Mapping[str, frozenset[str]] | None = None
                        ) -> tuple[ClusterSnapshot, ...]:
    stores = {s.name: s for s in fleet.object_stores}
    return tuple(
        cluster_from_spec(c, catalog, store_regions=tuple(
            sorted({stores[n].region for n in c.object_stores if n in stores})),
            cached=(cached or {}).get(c.name, frozenset()))
        for c in fleet.clusters)


def cluster_from_spec(spec: ClusterSpec, catalog: PriceCatalog, *,
                      store_regions: tuple[str, ...] = (),
                      cached: frozenset[str] = frozenset()) -> ClusterSnapshot:
    groups = []
    for pool in spec.simulate.node_pools if spec.simulate else ():
        gpus = pool.gpus_per_node if pool.gpu else 0
        groups.append(NodeGroup(
            count=pool.count,
            gpu_product=pool.gpu.name if pool.gpu else None,
            gpu_memory_mib=pool.gpu.memory_mib if pool.gpu else 0,
            gpus_free=gpus,
            gpus_allocatable=gpus,
            cpu_free_millis=pool.cpu_millis,
            memory_free_bytes=pool.memory_bytes,
        ))
    products = {g.gpu_product for g in groups if g.gpu_product}
    taints = tuple(Taint(t.key, t.value, t.effect) for t in spec.taints)
    if spec.edge and not any(t.key == EDGE_TAINT_KEY for t in taints):
        taints += (Taint(EDGE_TAINT_KEY, "true", "NoSchedule"),)
    return ClusterSnapshot(
        name=spec.name,
        provider=spec.provider,
        region=spec.region,
        zone=spec.zone,
        labels=dict(spec.labels),
        taints=taints,
        ready=True,
        edge=spec.edge,
        node_groups=tuple(groups),
        installed_kinds=None,
        prices=cluster_prices(catalog, spec.provider, spec.region, products,
                              on_demand_overrides=dict(spec.pricing.on_demand),
                              spot_overrides=dict(spec.pricing.spot)),
        vcpu_hourly=vcpu_price(catalog, spec.provider, spec.region),
        spot_available=spec.pricing.spot_available,
        store_regions=store_regions,
        cached=cached,
    )
