"""Staging plans (pure): the variant each cluster gets, the store it is staged into, the
cluster-local mirror URI, and which URI a cluster serves.

A cluster gets the first variant whose ``match`` holds for it, else ``default`` (the whole
version as registered). The staged model name is ``staged_name(model, variant)``; a version
is staged under ``<staged model>/<version>/`` of the store's root (bucket + prefix, or
directory), the distributors' layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from distributors.base import StoreConfig
from federation.staging.types import (
    DEFAULT_RULE,
    DEFAULT_VARIANT,
    SubscriptionPlanInput,
    VariantMatch,
    VariantRule,
)
from policies.models import staged_name

__all__ = ["ClusterFacts", "PlanProblem", "StageTarget", "choose_store", "choose_variant",
           "mirror_uri", "plan_targets", "staged_name", "variant_matches", "variant_rule"]


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    """What variant matching and planning need about one cluster."""

    name: str
    labels: Mapping[str, str]
    region: str
    edge: bool
    gpu_products: frozenset[str]
    stores: tuple[StoreConfig, ...]

    @property
    def cpu_only(self) -> bool:
        return not self.gpu_products


@dataclass(frozen=True, slots=True)
class StageTarget:
    cluster: str
    store: StoreConfig
    variant: str
    staged_model: str
    version: str
    uri: str  # the cluster-local mirror of the version


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """A selected cluster that cannot be staged; ``reason`` is a machine word."""

    cluster: str
    reason: str  # NoObjectStore | StoreNotFound
    message: str


def variant_matches(match: VariantMatch, cluster: ClusterFacts) -> bool:
    if match.labels is not None and not match.labels.matches(cluster.labels):
        return False
    if match.gpu_products and not cluster.gpu_products.intersection(match.gpu_products):
        return False
    if match.edge is not None and match.edge != cluster.edge:
        return False
    return match.cpu_only is None or match.cpu_only == cluster.cpu_only


def choose_variant(variants: Sequence[VariantRule], cluster: ClusterFacts) -> VariantRule:
    """The first rule whose match holds; the ``default`` rule (whole version) if none."""
    for rule in variants:
        if variant_matches(rule.match, cluster):
            return rule
    return DEFAULT_RULE


def variant_rule(variants: Sequence[VariantRule], name: str) -> VariantRule:
    """The rule called ``name`` (``default`` need not be declared)."""
    for rule in variants:
        if rule.name == name:
            return rule
    if name == DEFAULT_VARIANT:
        return DEFAULT_RULE
    raise KeyError(f"no variant {name!r}")


def choose_store(spec: SubscriptionPlanInput,
                 cluster: ClusterFacts) -> StoreConfig | PlanProblem:
    if not cluster.stores:
        return PlanProblem(cluster.name, "NoObjectStore",
                           f"cluster {cluster.name} has no objectStores to stage "
                           f"{spec.model} into (add one to its MemberCluster "
                           "spec.objectStores, or leave it out of spec.clusters)")
    if not spec.store:
        return cluster.stores[0]
    for s in cluster.stores:
        if s.name == spec.store:
            return s
    have = ", ".join(s.name for s in cluster.stores)
    return PlanProblem(cluster.name, "StoreNotFound",
                       f"cluster {cluster.name} has no object store {spec.store!r} "
                       f"(spec.store; it has: {have})")


def plan_targets(spec: SubscriptionPlanInput, clusters: Sequence[ClusterFacts],
                 version: str) -> tuple[tuple[StageTarget, ...], tuple[PlanProblem, ...]]:
    """One target per cluster (in the given order), or a problem saying why not."""
    targets: list[StageTarget] = []
    problems: list[PlanProblem] = []
    for c in clusters:
        store = choose_store(spec, c)
        if isinstance(store, PlanProblem):
            problems.append(store)
            continue
        rule = choose_variant(spec.variants, c)
        name = staged_name(spec.model, rule.name)
        targets.append(StageTarget(cluster=c.name, store=store, variant=rule.name,
                                   staged_model=name, version=version,
                                   uri=mirror_uri(store, name, version)))
    return tuple(targets), tuple(problems)


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def mirror_uri(store: StoreConfig, staged_model: str, version: str) -> str:
    """Where a staged version lives, as a serving runtime names it: ``s3://bucket/prefix/
    model/version``, ``gs://…`` or ``file:///root/prefix/model/version``."""
    key = _join(store.prefix, staged_model, version)
    if store.provider == "s3":
        return f"s3://{store.bucket}/{key}"
    if store.provider == "gcs":
        return f"gs://{store.bucket}/{key}"
    if store.provider == "file":
        root = (store.root or "").rstrip("/")
        return f"file://{root}/{key}"
    raise ValueError(f"object store {store.name}: unknown provider {store.provider!r}")
