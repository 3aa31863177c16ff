"""What staging needs of a ModelSubscription, as frozen dataclasses.

``plan_input(spec)`` converts a ``policies`` ModelSubscriptionSpec into these (a
field-by-field copy; the names are the same); planning and the worker read only these.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies import models as pm
from policies.models import LabelSelector

DEFAULT_VARIANT = pm.DEFAULT_VARIANT


@dataclass(frozen=True, slots=True)
class VariantMatch:
    """Cluster facts that must all hold (a field left unset is not checked)."""

    labels: LabelSelector | None = None
    gpu_products: tuple[str, ...] = ()  # the cluster has at least one of them
    edge: bool | None = None
    cpu_only: bool | None = None  # True: the cluster has no GPU product


@dataclass(frozen=True, slots=True)
class VariantBuild:
    converter: str  # e.g. "onnx-int8"
    input: str  # path inside the version (or its subPath)


@dataclass(frozen=True, slots=True)
class VariantRule:
    name: str
    match: VariantMatch = VariantMatch()
    sub_path: str = ""  # a sub-directory of the version's artifacts; "" = all of them
    build: VariantBuild | None = None


DEFAULT_RULE = VariantRule(name=DEFAULT_VARIANT)


@dataclass(frozen=True, slots=True)
class SubscriptionPlanInput:
    """The parts of a ModelSubscription spec that planning and staging read."""

    model: str
    store: str = ""  # which of a cluster's objectStores; "" = its first
    variants: tuple[VariantRule, ...] = ()
    keep: int = 3  # retention: versions kept per cluster store
    per_source: int = 4
    per_region: int = 2


def plan_input(spec: pm.ModelSubscriptionSpec) -> SubscriptionPlanInput:
    """The staging view of a ModelSubscription spec."""
    return SubscriptionPlanInput(
        model=spec.model, store=spec.store,
        variants=tuple(VariantRule(
            name=v.name,
            match=VariantMatch(labels=v.match.labels, gpu_products=v.match.gpu_products,
                               edge=v.match.edge, cpu_only=v.match.cpu_only),
            sub_path=v.sub_path.strip("/"),
            build=None if v.build is None else VariantBuild(v.build.converter, v.build.input))
            for v in spec.variants),
        keep=spec.retention.keep, per_source=spec.concurrency.per_source,
        per_region=spec.concurrency.per_region)
