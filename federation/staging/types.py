"""What staging needs of a ModelSubscription, as frozen dataclasses.

The hub converts its ``policies`` ModelSubscription spec into these (a field-by-field copy);
staging then depends on nothing but these types, ``policies.models.LabelSelector`` and the
distributors' ``StoreConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.models import LabelSelector

DEFAULT_VARIANT = "default"


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
