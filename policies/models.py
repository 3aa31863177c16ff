# ruff: noqa: RUF009  (spec_field returns dataclasses.field: a field specifier, not a default)
"""The fedctl.dev/v1alpha1 API as frozen dataclasses: the single source of truth.

``policies.parse`` decodes YAML into these classes and ``policies.crdgen`` turns them into
the CRD manifests under ``deploy/crds/``. Field names in YAML are the camelCase of the
attribute unless ``json=`` says otherwise; ``check`` methods hold cross-field rules.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from federation.catalog.gpus import GPU_PRODUCTS, known_product_names, lookup, matches
from policies.reader import did_you_mean
from policies.schema import Fail, spec_field
from policies.source import PathKey

GROUP = "fedctl.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: Score plugins a policy may weigh, with their default weights. The scheduler's registry
#: has exactly these names (a unit test keeps the two in step).
DEFAULT_SCORE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("cost", 1.0),
    ("dataLocality", 1.0),
    ("gpuPreference", 1.0),
    ("artifactCached", 1.0),
    ("balanced", 1.0),
    ("binpack", 0.0),
)
SCORE_PLUGINS: tuple[str, ...] = tuple(name for name, _ in DEFAULT_SCORE_WEIGHTS)

#: Kinds whose replicas form a training gang: all in one cluster unless the policy says so.
#: Only a fallback for demands that do not carry their kind's ``gang`` (the interpreters'
#: ``KindSpec.gang`` is the source: it also knows Volcano's ``batch.volcano.sh/Job``).
TRAINING_KINDS: frozenset[str] = frozenset(
    {"PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "PaddleJob", "JAXJob", "JobSet",
     "TrainJob", "RayJob"}
)

NAME_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
URI_PATTERN = r"[a-z][a-z0-9+.-]*://\S+"
SPREAD_FIELDS = ("cluster", "region", "provider", "zone")


def clean_relative_path(path: str) -> bool:
    """True for ``a/b.onnx``: relative, '/'-separated, no empty, '.' or '..' parts."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _glob(pattern: str, value: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(value, pattern)
    return pattern == value


# --- selectors -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelRequirement:
    """One label selector expression (Kubernetes matchExpressions semantics)."""

    key: str = spec_field(required=True, doc="Label key.")
    operator: str = spec_field(default="In", enum=("In", "NotIn", "Exists", "DoesNotExist"),
                               doc="How the key relates to the values.")
    values: tuple[str, ...] = spec_field(default=(), doc="Values for In and NotIn.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.operator in ("In", "NotIn") and not self.values:
            fail((*path, "values"), f"operator {self.operator} needs at least one value", None)
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            fail((*path, "values"), f"operator {self.operator} takes no values",
                 "remove values or use In / NotIn")

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelSelector:
    """Kubernetes label selector: every matchLabels entry and expression must hold."""

    match_labels: tuple[tuple[str, str], ...] = spec_field(default=(), kind="map",
                                                           doc="Labels that must be equal.")
    match_expressions: tuple[LabelRequirement, ...] = spec_field(
        default=(), doc="Set-based requirements.")

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            e.matches(labels) for e in self.match_expressions)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceSelector:
    """Selects workload templates by apiVersion and kind, and by name or labels."""

    api_version: str = spec_field(required=True, doc="apiVersion of the workload.")
    kind: str = spec_field(required=True, doc="Kind of the workload, e.g. PyTorchJob.")
    name: str | None = spec_field(default=None, doc="Exact name; omit to use labels or all.")
    namespace: str | None = spec_field(
        default=None, doc="Namespace (ClusterPropagationPolicy only; a namespaced policy "
        "selects in its own namespace).")
    label_selector: LabelSelector | None = spec_field(default=None,
                                                      doc="Labels the workload must carry.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.name is not None and self.label_selector is not None:
            fail(path, "set name or labelSelector, not both",
                 "a name selects one workload; a labelSelector selects many")

    def selects(self, api_version: str, kind: str, name: str, namespace: str,
                labels: Mapping[str, str]) -> bool:
        if self.api_version != api_version or self.kind != kind:
            return False
        if self.namespace is not None and self.namespace != namespace:
            return False
        if self.name is not None:
            return self.name == name
        if self.label_selector is not None:
            return self.label_selector.matches(labels)
        return True


# --- placement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterAffinity:
    """Which member clusters qualify. All given conditions must hold; globs allowed."""

    affinity_name: str | None = spec_field(
        default=None, doc="Name of this term (required in ordered clusterAffinities).")
    cluster_names: tuple[str, ...] = spec_field(default=(), doc="Only these clusters.")
    exclude: tuple[str, ...] = spec_field(default=(), doc="Never these clusters.")
    label_selector: LabelSelector | None = spec_field(default=None,
                                                      doc="Cluster labels to match.")
    regions: tuple[str, ...] = spec_field(default=(), doc="Regions (globs allowed).")
    providers: tuple[str, ...] = spec_field(default=(), doc="Providers (aws, gcp, onprem…).")
    zones: tuple[str, ...] = spec_field(default=(), doc="Zones (globs allowed).")

    def check(self, fail: Fail, path: PathKey) -> None:
        both = sorted(set(self.cluster_names) & set(self.exclude))
        if both:
            fail((*path, "exclude"), f"cluster {both[0]!r} is both named and excluded",
                 "remove it from one of the lists")

    def matches(self, name: str, labels: Mapping[str, str], region: str, provider: str,
                zone: str) -> bool:
        if self.cluster_names and name not in self.cluster_names:
            return False
        if name in self.exclude:
            return False
        if self.regions and not any(_glob(p, region) for p in self.regions):
            return False
        if self.providers and not any(_glob(p, provider) for p in self.providers):
            return False
        if self.zones and not any(_glob(p, zone) for p in self.zones):
            return False
        return self.label_selector is None or self.label_selector.matches(labels)


@dataclass(frozen=True, slots=True, kw_only=True)
class Toleration:
    """Tolerates a member-cluster taint (Kubernetes toleration semantics)."""

    key: str = spec_field(default="", doc="Taint key; empty with Exists tolerates all.")
    operator: str = spec_field(default="Equal", enum=("Equal", "Exists"),
                               doc="Equal compares the value; Exists ignores it.")
    value: str = spec_field(default="", doc="Taint value for Equal.")
    effect: str = spec_field(default="", enum=("", "NoSchedule", "PreferNoSchedule",
                                               "NoExecute"),
                             doc="Effect to tolerate; empty tolerates every effect.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.operator == "Exists" and self.value:
            fail((*path, "value"), "operator Exists takes no value", None)
        if self.operator == "Equal" and not self.key:
            fail((*path, "key"), "operator Equal needs a key",
                 "use operator: Exists to tolerate every taint")

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        if self.effect and self.effect != effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == key
        return self.key == key and self.value == value


@dataclass(frozen=True, slots=True, kw_only=True)
class SpreadConstraint:
    """Spread replicas over at least minGroups and at most maxGroups groups."""

    spread_by: str = spec_field(required=True, enum=SPREAD_FIELDS,
                                doc="Group clusters by cluster, region, provider or zone.")
    min_groups: int = spec_field(default=1, minimum=1, doc="Fewest groups to use.")
    max_groups: int | None = spec_field(default=None, minimum=1, doc="Most groups to use.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.max_groups is not None and self.max_groups < self.min_groups:
            fail((*path, "maxGroups"),
                 f"maxGroups ({self.max_groups}) is below minGroups ({self.min_groups})", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticWeight:
    """A weight for the clusters a target selects (Divided with division Weighted)."""

    target_cluster: ClusterAffinity = spec_field(required=True,
                                                 doc="Clusters this weight applies to.")
    weight: int = spec_field(required=True, minimum=0, maximum=10000,
                             doc="Relative share of replicas.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaScheduling:
    """How replicas are spread over the chosen clusters."""

    type: str = spec_field(default="Divided", enum=("Duplicated", "Divided"),
                           doc="Duplicated: every cluster runs all replicas. Divided: the "
                           "replicas are shared out.")
    division: str = spec_field(
        default="Aggregated", enum=("Aggregated", "Weighted", "FreeCapacity", "CheapestFirst"),
        doc="Divided only. Aggregated: fewest, best-scored clusters. Weighted: static "
        "weights. FreeCapacity: in proportion to free capacity. CheapestFirst: fill the "
        "cheapest clusters first.")
    weights: tuple[StaticWeight, ...] = spec_field(default=(),
                                                   doc="Static weights (division Weighted).")
    rounding: str = spec_field(default="Webster", enum=("Webster", "LargestRemainder"),
                               doc="Apportionment method for proportional divisions.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.division == "Weighted" and not self.weights:
            fail((*path, "weights"), "division Weighted needs weights", None)
        if self.weights and self.division != "Weighted":
            fail((*path, "weights"), f"weights are only used with division Weighted, "
                 f"not {self.division}", "set division: Weighted or remove weights")
        if self.type == "Duplicated" and self.division != "Aggregated":
            fail((*path, "division"), "division applies to type Divided only",
                 "remove division or set type: Divided")


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuPolicy:
    """GPU constraints: allowed products, preference order, memory, GPUs per replica."""

    products: tuple[str, ...] = spec_field(
        default=(), doc="Allowed products: names (H100-80GB), families (H100) or globs "
        "(A100*). Empty allows any product.")
    preference: tuple[str, ...] = spec_field(default=(),
                                             doc="Preferred products, best first.")
    min_memory: int | None = spec_field(default=None, kind="quantity", minimum=0,
                                        doc="Minimum memory per GPU, e.g. 40Gi.")
    per_replica: int | None = spec_field(
        default=None, minimum=1, maximum=64,
        doc="GPUs per replica; overrides the workload's nvidia.com/gpu request.")

    def check(self, fail: Fail, path: PathKey) -> None:
        for field_name, patterns in (("products", self.products),
                                     ("preference", self.preference)):
            for i, pat in enumerate(patterns):
                if not any(matches(pat, p) for p in GPU_PRODUCTS):
                    hint = did_you_mean(pat, known_product_names())
                    fail((*path, field_name, i), f"unknown GPU product {pat!r}",
                         (hint + " " if hint else "")
                         + f"known products: {', '.join(known_product_names())}")
                    return
        allowed = self.allowed_products()
        for i, pat in enumerate(self.preference):
            if not any(matches(pat, p) for p in GPU_PRODUCTS if p.name in allowed):
                fail((*path, "preference", i),
                     f"preferred product {pat!r} is not among the allowed products",
                     f"allowed: {', '.join(self.products)}")
        if self.min_memory is not None:
            mib = self.min_memory // (1024 * 1024)
            if not any(p.memory_mib >= mib for p in GPU_PRODUCTS if p.name in allowed):
                fail((*path, "minMemory"),
                     "no allowed GPU product has that much memory",
                     "lower minMemory or allow a larger product")

    def allowed_products(self) -> frozenset[str]:
        """Short names of the catalog products this policy allows."""
        if not self.products:
            return frozenset(p.name for p in GPU_PRODUCTS)
        return frozenset(p.name for p in GPU_PRODUCTS
                         if any(matches(pat, p) for pat in self.products))


@dataclass(frozen=True, slots=True, kw_only=True)
class CostPolicy:
    """Cost rules: the weight of the cost score, an hourly budget cap, spot capacity."""

    weight: float | None = spec_field(default=None, minimum=0,
                                      doc="Weight of the cost score (same as "
                                      "scoreWeights.cost).")
    budget_per_hour: float | None = spec_field(default=None, minimum=0,
                                               doc="Hard cap on the placement's $/hour.")
    spot_allowed: bool = spec_field(default=False,
                                    doc="May replicas run on spot / preemptible GPUs.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A dataset the workload reads; where it lives drives the data-locality score."""

    name: str = spec_field(required=True, doc="Dataset name.")
    uri: str = spec_field(required=True, pattern=URI_PATTERN, doc="Where it lives, e.g. "
                          "s3://bucket/path.")
    size: int = spec_field(default=0, kind="quantity", minimum=0, doc="Size, e.g. 2Ti.")
    region: str = spec_field(required=True, doc="Region of the store holding it.")
    provider: str | None = spec_field(default=None, doc="Provider of that store.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """A model artifact; clusters whose stores already hold it score higher."""

    uri: str = spec_field(required=True, pattern=URI_PATTERN, doc="Artifact URI.")
    size: int = spec_field(default=0, kind="quantity", minimum=0, doc="Size, e.g. 140Gi.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sovereignty:
    """Regions the workload's data may not leave: clusters elsewhere are filtered out."""

    regions: tuple[str, ...] = spec_field(required=True, min_items=1,
                                          doc="Allowed regions (globs allowed).")

    def allows(self, region: str) -> bool:
        return any(_glob(p, region) for p in self.regions)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataPolicy:
    """Data the workload reads and where it may go."""

    datasets: tuple[Dataset, ...] = spec_field(default=(), doc="Datasets read by the job.")
    artifacts: tuple[Artifact, ...] = spec_field(default=(),
                                                 doc="Model artifacts the job loads.")
    sovereignty: Sovereignty | None = spec_field(default=None,
                                                 doc="Regions the data may not leave.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.sovereignty is None:
            return
        for i, ds in enumerate(self.datasets):
            if not self.sovereignty.allows(ds.region):
                fail((*path, "datasets", i, "region"),
                     f"dataset {ds.name!r} lives in {ds.region}, outside the sovereignty "
                     f"regions ({', '.join(self.sovereignty.regions)})",
                     "add its region to sovereignty.regions or move the dataset")
        names = [d.name for d in self.datasets]
        for i, n in enumerate(names):
            if n in names[:i]:
                fail((*path, "datasets", i, "name"), f"duplicate dataset name {n!r}", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gang:
    """Replicas that must start together."""

    mode: str | None = spec_field(
        default=None, enum=("None", "SingleCluster", "AllOrNothing"),
        doc="SingleCluster: every replica in one cluster (default for training kinds). "
        "AllOrNothing: several clusters, but all replicas placed or none. None: replicas "
        "are independent.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Failover:
    """What the hub does when a member cluster fails.

    Serving and stateless kinds move after ``clusterNotReadySeconds`` (0: as soon as the
    member is detected NotReady; detection is the MemberCluster's ``spec.health``). Training
    gangs (PyTorchJob, TFJob, MPIJob, TrainJob, JobSet, Volcano Job, RayJob...) start
    elsewhere only once the old copy is known to be stopped: the member answered and the
    copy and its pods are gone, or the member is fenced (``fedctl clusters fence``); until
    then the binding's ``Failover`` condition is ``AwaitingFence``.
    """

    cluster_not_ready_seconds: int = spec_field(
        default=10, minimum=0, maximum=86400,
        doc="How long a cluster may be NotReady before its serving replicas move (0: at "
        "once). Training gangs never leave a NotReady cluster that is not fenced "
        "(`fedctl clusters fence NAME`): its pods may still run there.")
    grace_period_seconds: int = spec_field(default=600, minimum=0, maximum=86400,
                                           doc="How long old replicas run after a move.")
    purge_mode: str = spec_field(default="Graciously",
                                 enum=("Graciously", "Immediately", "Never"),
                                 doc="When old replicas are deleted after a move (serving "
                                 "kinds): Graciously once the new copies are healthy or "
                                 "gracePeriodSeconds passed, Immediately, or Never (left "
                                 "for an operator). Training gangs: the old copy is deleted, "
                                 "and gone with its pods, before the new one is created: "
                                 "never two copies running.")
    checkpoint_env: str = spec_field(
        default="CHECKPOINT_DIR",
        doc="Container env var holding a training job's checkpoint location, used when the "
        "template has no fedctl.dev/checkpoint annotation. After a failover the new copy "
        "gets it as FEDCTL_RESUME_FROM (env) and fedctl.dev/resume-from (annotation).")


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Where and how the selected workloads run."""

    cluster_affinity: ClusterAffinity | None = spec_field(default=None,
                                                          doc="Clusters that qualify.")
    cluster_affinities: tuple[ClusterAffinity, ...] = spec_field(
        default=(), doc="Ordered terms: fill the first term's clusters, overflow to the "
        "next (own GPUs first, cloud when full).")
    cluster_tolerations: tuple[Toleration, ...] = spec_field(
        default=(), doc="Cluster taints this workload tolerates.")
    spread_constraints: tuple[SpreadConstraint, ...] = spec_field(
        default=(), doc="Spread over clusters, regions, providers or zones.")
    replica_scheduling: ReplicaScheduling = spec_field(default_factory=ReplicaScheduling,
                                                       doc="Duplicated or Divided.")
    gpu: GpuPolicy | None = spec_field(default=None, doc="GPU constraints.")
    cost: CostPolicy = spec_field(default_factory=CostPolicy, doc="Cost rules.")
    data: DataPolicy = spec_field(default_factory=DataPolicy, doc="Data rules.")
    gang: Gang = spec_field(default_factory=Gang, doc="Gang scheduling.")
    score_weights: tuple[tuple[str, float], ...] = spec_field(
        default=(), kind="numbermap", minimum=0,
        doc="Weights per score plugin: " + ", ".join(SCORE_PLUGINS) + ".")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.cluster_affinity is not None and self.cluster_affinities:
            fail((*path, "clusterAffinities"),
                 "set clusterAffinity or clusterAffinities, not both",
                 "clusterAffinities is the ordered (overflow) form")
        seen: set[str] = set()
        for i, term in enumerate(self.cluster_affinities):
            if not term.affinity_name:
                fail((*path, "clusterAffinities", i, "affinityName"),
                     "each ordered term needs an affinityName", None)
            elif term.affinity_name in seen:
                fail((*path, "clusterAffinities", i, "affinityName"),
                     f"duplicate affinityName {term.affinity_name!r}", None)
            else:
                seen.add(term.affinity_name)
        by: set[str] = set()
        for i, sc in enumerate(self.spread_constraints):
            if sc.spread_by in by:
                fail((*path, "spreadConstraints", i, "spreadBy"),
                     f"two constraints spread by {sc.spread_by}", "merge them")
            by.add(sc.spread_by)
            if self.gang.mode == "SingleCluster" and sc.min_groups > 1:
                fail((*path, "spreadConstraints", i, "minGroups"),
                     f"a SingleCluster gang cannot spread over {sc.min_groups} "
                     f"{sc.spread_by}s", "drop the constraint or use gang AllOrNothing")
        if self.replica_scheduling.type == "Duplicated" and self.gang.mode == "SingleCluster":
            fail((*path, "gang", "mode"),
                 "a SingleCluster gang cannot be Duplicated to several clusters",
                 "use replicaScheduling.type: Divided")
        for name, _ in self.score_weights:
            if name not in SCORE_PLUGINS:
                fail((*path, "scoreWeights", name), f"unknown score plugin {name!r}",
                     did_you_mean(name, SCORE_PLUGINS)
                     or f"known plugins: {', '.join(SCORE_PLUGINS)}")
        explicit = dict(self.score_weights)
        if (self.cost.weight is not None and "cost" in explicit
                and explicit["cost"] != self.cost.weight):
            fail((*path, "cost", "weight"),
                 f"cost.weight ({self.cost.weight:g}) contradicts scoreWeights.cost "
                 f"({explicit['cost']:g})", "set the weight in one place")

    def weights(self) -> dict[str, float]:
        """Effective score weights: defaults, then scoreWeights, then cost.weight."""
        out = dict(DEFAULT_SCORE_WEIGHTS)
        out.update(self.score_weights)
        if self.cost.weight is not None:
            out["cost"] = self.cost.weight
        return out

    def gang_mode(self, kind: str, gang: bool | None = None) -> str:
        """The gang mode in force: explicit, else SingleCluster for gang kinds (or
        AllOrNothing when a spread constraint asks for several groups). ``gang`` is the
        kind's own default (its interpreter's ``gang``); None falls back to the kind name
        (``TRAINING_KINDS``)."""
        if self.gang.mode is not None:
            return self.gang.mode
        is_gang = kind in TRAINING_KINDS if gang is None else gang
        if is_gang and self.replica_scheduling.type == "Divided":
            if any(sc.min_groups > 1 for sc in self.spread_constraints):
                return "AllOrNothing"
            return "SingleCluster"
        return "None"

    def terms(self) -> tuple[ClusterAffinity, ...]:
        if self.cluster_affinities:
            return self.cluster_affinities
        if self.cluster_affinity is not None:
            return (self.cluster_affinity,)
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PropagationSpec:
    """Which workloads to place (resourceSelectors) and how (placement)."""

    resource_selectors: tuple[ResourceSelector, ...] = spec_field(
        required=True, min_items=1, doc="Workloads this policy applies to.")
    placement: Placement = spec_field(default_factory=Placement, doc="Placement rules.")
    priority: int = spec_field(default=0, minimum=-1000, maximum=1000,
                               doc="Among policies selecting the same workload, the highest "
                               "wins; the hub also schedules higher priorities first.")
    failover: Failover = spec_field(default_factory=Failover, doc="Failover settings.")
    conflict_resolution: str = spec_field(
        default="Abort", enum=("Abort", "Overwrite"),
        doc="An object that already exists on a member and is not fedctl's: Abort leaves it "
        "alone (Applied=False explains), Overwrite adopts it.")
    propagate_deps: bool = spec_field(
        default=True, doc="Also propagate the ConfigMaps, Secrets and ServiceAccounts the "
        "workload's pods reference, to the same clusters.")


# --- overrides -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRegistryOverride:
    """Rewrite the registry part of every container image."""

    value: str = spec_field(required=True, doc="Registry host, e.g. registry.edge.local.")
    operator: str = spec_field(default="Replace", enum=("Replace", "AddPrefix"),
                               doc="Replace the registry or prefix it.")


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageUriOverride:
    """Rewrite a model storageUri prefix (point it at the cluster-local mirror)."""

    from_prefix: str = spec_field(required=True, json="from", doc="Prefix to replace.")
    to_prefix: str = spec_field(required=True, json="to", doc="Replacement prefix.")


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvOverride:
    """Add, replace or remove an environment variable."""

    name: str = spec_field(required=True, doc="Variable name.")
    value: str = spec_field(default="", doc="Value (Set only).")
    operator: str = spec_field(default="Set", enum=("Set", "Remove"), doc="Set or Remove.")
    container: str | None = spec_field(default=None, doc="Container; omit for all.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgsOverride:
    """Append to, or remove from, a container's args."""

    operator: str = spec_field(default="Append", enum=("Append", "Remove", "Replace"),
                               doc="Append, Remove or Replace the args.")
    values: tuple[str, ...] = spec_field(required=True, min_items=1, doc="Arguments.")
    container: str | None = spec_field(default=None, doc="Container; omit for all.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourcesOverride:
    """Set container resource requests and limits."""

    container: str | None = spec_field(default=None, doc="Container; omit for all.")
    requests: tuple[tuple[str, str], ...] = spec_field(default=(), kind="map",
                                                       doc="Requests to set.")
    limits: tuple[tuple[str, str], ...] = spec_field(default=(), kind="map",
                                                     doc="Limits to set.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Overriders:
    """The changes an override rule makes."""

    image_registry: ImageRegistryOverride | None = spec_field(default=None,
                                                              doc="Image registry.")
    storage_uri: StorageUriOverride | None = spec_field(default=None,
                                                        doc="Model storageUri prefix.")
    env: tuple[EnvOverride, ...] = spec_field(default=(), doc="Environment variables.")
    args: tuple[ArgsOverride, ...] = spec_field(default=(), doc="Container args.")
    resources: tuple[ResourcesOverride, ...] = spec_field(default=(), doc="Resources.")
    labels: tuple[tuple[str, str], ...] = spec_field(default=(), kind="map",
                                                     doc="Labels to add.")
    annotations: tuple[tuple[str, str], ...] = spec_field(default=(), kind="map",
                                                          doc="Annotations to add.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if (self.image_registry is None and self.storage_uri is None and not self.env
                and not self.args and not self.resources and not self.labels
                and not self.annotations):
            fail(path, "an override rule must change something",
                 "set imageRegistry, storageUri, env, args, resources, labels or annotations")


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideRule:
    """Overriders applied in the clusters targetCluster selects (all when omitted)."""

    target_cluster: ClusterAffinity | None = spec_field(default=None,
                                                        doc="Clusters the rule applies to.")
    overriders: Overriders = spec_field(required=True, doc="What to change.")


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideSpec:
    """Per-cluster changes to selected workloads."""

    resource_selectors: tuple[ResourceSelector, ...] = spec_field(
        required=True, min_items=1, doc="Workloads this policy applies to.")
    override_rules: tuple[OverrideRule, ...] = spec_field(required=True, min_items=1,
                                                          doc="Rules, applied in order.")


# --- member clusters -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef:
    """A Secret on the hub holding the member's kubeconfig."""

    name: str = spec_field(required=True, doc="Secret name.")
    namespace: str = spec_field(default="fedctl-system", doc="Secret namespace.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterTaint:
    """A taint on a member cluster; policies must tolerate it."""

    key: str = spec_field(required=True, doc="Taint key.")
    value: str = spec_field(default="", doc="Taint value.")
    effect: str = spec_field(default="NoSchedule", enum=("NoSchedule", "PreferNoSchedule",
                                                         "NoExecute"), doc="Taint effect.")
    time_added: str | None = spec_field(
        default=None, doc="When the taint was added (set by the hub on its health taints "
        "cluster.fedctl.dev/not-ready and cluster.fedctl.dev/unreachable).")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterPricing:
    """Price overrides for this cluster ($/GPU-hour by product)."""

    gpu_hourly: tuple[tuple[str, float], ...] = spec_field(
        default=(), kind="numbermap", minimum=0, doc="On-demand or amortised $/GPU-hour.")
    spot_gpu_hourly: tuple[tuple[str, float], ...] = spec_field(
        default=(), kind="numbermap", minimum=0, doc="Spot $/GPU-hour.")
    spot_available: bool = spec_field(default=False, doc="The cluster can run spot GPUs.")

    def check(self, fail: Fail, path: PathKey) -> None:
        for field_name, prices in (("gpuHourly", self.gpu_hourly),
                                   ("spotGpuHourly", self.spot_gpu_hourly)):
            for product, _ in prices:
                if lookup(product) is None:
                    fail((*path, field_name, product), f"unknown GPU product {product!r}",
                         did_you_mean(product, known_product_names()))


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSecretRef:
    """A Secret on the hub with an object store's credentials (keys accessKey, secretKey)."""

    name: str = spec_field(required=True, pattern=NAME_PATTERN, doc="Secret name.")
    namespace: str = spec_field(default="fedctl-system", pattern=NAME_PATTERN,
                                doc="Secret namespace.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectStoreRef:
    """An object store next to the cluster (where artifacts are mirrored)."""

    name: str = spec_field(required=True, doc="Store name.")
    provider: str = spec_field(required=True, enum=("s3", "gcs", "file"), doc="Store type.")
    region: str = spec_field(required=True, doc="Store region.")
    bucket: str = spec_field(default="", doc="Bucket.")
    endpoint: str | None = spec_field(default=None, pattern=r"https?://\S+",
                                      doc="Endpoint URL (S3-compatible stores).")
    prefix: str = spec_field(default="", doc="Key prefix inside the bucket (or root).")
    secret_ref: StoreSecretRef | None = spec_field(
        default=None, doc="Credentials: a Secret on the hub with keys accessKey and "
        "secretKey (omit for anonymous access or ambient credentials).")
    path_style: bool = spec_field(default=True,
                                  doc="Path-style S3 addressing (MinIO and most on-prem "
                                  "S3); false for virtual-hosted buckets.")
    checksum_mode: str = spec_field(default="when_supported",
                                    enum=("when_supported", "when_required"),
                                    doc="When S3 request checksums are sent.")
    root: str = spec_field(default="", doc="File stores: a directory on the hub host.")
    edge: bool = spec_field(default=False, doc="A store at an edge site.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.root and self.provider != "file":
            fail((*path, "root"), f"root is for file stores, not {self.provider}",
                 "remove root or set provider: file")
        elif self.root and not self.root.startswith("/"):
            fail((*path, "root"), f"root must be an absolute path, got {self.root!r}", None)
        if self.prefix and not clean_relative_path(self.prefix.rstrip("/")):
            fail((*path, "prefix"), f"invalid prefix {self.prefix!r}",
                 "use a relative key prefix without '.', '..' or empty parts")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterHealthCheck:
    """How the hub probes the member's apiserver (``GET /readyz``), i.e. how fast a dead
    member is detected: after ``failureThreshold`` failed probes ``probeIntervalSeconds``
    apart (each failing within ``probeTimeoutSeconds``)."""

    probe_interval_seconds: float = spec_field(default=2.0, minimum=0.1, maximum=300,
                                               doc="Seconds between probes.")
    probe_timeout_seconds: float = spec_field(default=3.0, minimum=0.1, maximum=300,
                                              doc="Seconds a probe may take.")
    failure_threshold: int = spec_field(default=3, minimum=1, maximum=100,
                                        doc="Failed probes in a row before NotReady.")
    success_threshold: int = spec_field(default=1, minimum=1, maximum=100,
                                        doc="Good probes in a row before Ready again.")


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberClusterSpec:
    """How the hub reaches a member cluster and what the scheduler knows about it."""

    endpoint: str = spec_field(required=True, pattern=r"https?://\S+",
                               doc="API server URL.")
    secret_ref: SecretRef = spec_field(required=True, doc="Credentials on the hub.")
    provider: str = spec_field(required=True, doc="aws, gcp, azure, onprem, edge…")
    region: str = spec_field(required=True, doc="Region.")
    zone: str = spec_field(default="", doc="Zone (defaults to the region).")
    edge: bool = spec_field(default=False, doc="An edge site (tainted fedctl.dev/edge).")
    taints: tuple[ClusterTaint, ...] = spec_field(default=(), doc="Cluster taints.")
    pricing: ClusterPricing = spec_field(default_factory=ClusterPricing, doc="Prices.")
    object_stores: tuple[ObjectStoreRef, ...] = spec_field(default=(),
                                                           doc="Stores next to it.")
    health: ClusterHealthCheck = spec_field(default_factory=ClusterHealthCheck,
                                            doc="Health probing (failure detection time).")


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """A status condition."""

    type: str = spec_field(required=True, doc="Condition type, e.g. Ready.")
    status: str = spec_field(required=True, enum=("True", "False", "Unknown"), doc="Status.")
    reason: str = spec_field(default="", doc="Machine-readable reason.")
    message: str = spec_field(default="", doc="Human-readable message.")
    last_transition_time: str = spec_field(default="", doc="RFC 3339 time.")


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuStatus:
    """GPUs of one product in a member cluster."""

    product: str = spec_field(required=True, doc="Product short name, e.g. H100-80GB.")
    total: int = spec_field(default=0, minimum=0, doc="GPUs on the nodes.")
    allocatable: int = spec_field(default=0, minimum=0, doc="GPUs pods may use.")
    requested: int = spec_field(default=0, minimum=0, doc="GPUs requested by pods.")
    largest_free_per_node: int = spec_field(default=0, minimum=0,
                                            doc="Most free GPUs on one node.")


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberClusterStatus:
    """What the hub observed about the member."""

    conditions: tuple[Condition, ...] = spec_field(default=(), doc="Ready and others.")
    kubernetes_version: str = spec_field(default="", doc="Server version.")
    gpus: tuple[GpuStatus, ...] = spec_field(default=(), doc="GPU inventory by product.")
    installed_kinds: tuple[str, ...] = spec_field(
        default=(), doc="Workload kinds served, as group/Kind (apps/Deployment).")
    cached_artifacts: tuple[str, ...] = spec_field(
        default=(), doc="Artifact URIs present in the cluster's stores.")


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyStatus:
    """What the hub observed about a policy."""

    observed_generation: int = spec_field(default=0, minimum=0, doc="Last generation seen.")
    conditions: tuple[Condition, ...] = spec_field(default=(), doc="Conditions.")
    selected: int = spec_field(default=0, minimum=0, doc="Workloads the policy selects.")


# --- model distribution ----------------------------------------------------------------

#: Converters a variant build may name (the staging worker ships these).
CONVERTERS: tuple[str, ...] = ("onnx-int8",)
STAGING_STATES: tuple[str, ...] = ("Pending", "Copying", "Verified", "Failed")
VARIANT_NAME_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DEFAULT_VARIANT = "default"
LATEST_CHANNEL = "latest"
#: Where the model URI lives in kinds fedctl knows; other kinds must set uriField.
DEFAULT_URI_FIELDS: Mapping[str, str] = {
    "InferenceService": "spec.predictor.model.storageUri",
}
URI_FIELD_PATTERN = r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*"


def staged_name(model: str, variant: str) -> str:
    """The model's name in a cluster store: ``model`` for the default variant, else
    ``model--variant``."""
    return model if variant == DEFAULT_VARIANT else f"{model}--{variant}"


def _check_relative(fail: Fail, path: PathKey, value: str) -> None:
    if value and not clean_relative_path(value):
        fail(path, f"invalid path {value!r}",
             "use a relative path such as onnx/model.onnx: no leading '/', no '.', '..' or "
             "empty parts")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSecretRef:
    """A Secret in the object's own namespace."""

    name: str = spec_field(required=True, pattern=NAME_PATTERN, doc="Secret name.")


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretKeyRef:
    """One key of a Secret in the object's own namespace."""

    name: str = spec_field(required=True, pattern=NAME_PATTERN, doc="Secret name.")
    key: str = spec_field(default="secret", pattern=r"[-._a-zA-Z0-9]+", doc="Key.")


@dataclass(frozen=True, slots=True, kw_only=True)
class MlflowSource:
    """An MLflow model registry."""

    tracking_uri: str = spec_field(required=True, pattern=r"https?://\S+",
                                   doc="MLflow tracking server URL.")
    credentials_secret_ref: LocalSecretRef | None = spec_field(
        default=None, doc="Secret with keys username and password, or token.")
    webhook_secret_ref: SecretKeyRef | None = spec_field(
        default=None, doc="Secret key holding the webhook signing secret; without it the "
        "hub serves no webhook for this source and relies on polling.")
    artifact_store: ObjectStoreRef = spec_field(
        required=True, doc="How to read the registry's artifact store (s3, gcs or file).")


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectStoreSource:
    """Versions published as distributor manifests under an object store prefix."""

    store: ObjectStoreRef = spec_field(required=True, doc="The store holding the versions.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSourceSpec:
    """Where model versions come from: exactly one of mlflow or objectStore."""

    mlflow: MlflowSource | None = spec_field(default=None, doc="An MLflow model registry.")
    object_store: ObjectStoreSource | None = spec_field(
        default=None, doc="An object store with distributor manifests.")
    poll_interval_seconds: int = spec_field(default=30, minimum=1, maximum=3600,
                                            doc="Seconds between registry polls.")

    def check(self, fail: Fail, path: PathKey) -> None:
        given = [n for n, v in (("mlflow", self.mlflow), ("objectStore", self.object_store))
                 if v is not None]
        if not given:
            fail(path, "a ModelSource needs a source type", "set mlflow or objectStore")
        elif len(given) > 1:
            fail((*path, given[1]), "set exactly one of mlflow or objectStore, not both",
                 "use two ModelSources for two registries")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSourceStatus:
    """What the hub observed about a model source."""

    observed_generation: int = spec_field(default=0, minimum=0, doc="Last generation seen.")
    conditions: tuple[Condition, ...] = spec_field(default=(), doc="Ready and Reachable.")
    last_poll_time: str = spec_field(default="", doc="RFC 3339 time of the last poll.")
    last_webhook_time: str = spec_field(default="",
                                        doc="RFC 3339 time of the last accepted webhook.")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionClusters:
    """Which member clusters follow the model: the union of the given means."""

    selector: LabelSelector | None = spec_field(default=None,
                                                doc="MemberCluster labels to match.")
    names: tuple[str, ...] = spec_field(default=(), pattern=NAME_PATTERN,
                                        doc="Member clusters by name.")
    propagation_policy: str | None = spec_field(
        default=None, pattern=NAME_PATTERN,
        doc="A PropagationPolicy in this namespace: the clusters its clusterAffinity admits.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.selector is None and not self.names and self.propagation_policy is None:
            fail(path, "clusters selects no cluster",
                 "set selector, names or propagationPolicy")
        dup = sorted({n for n in self.names if self.names.count(n) > 1})
        if dup:
            fail((*path, "names"), f"cluster {dup[0]!r} is listed twice", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelWorkload:
    """A workload template on the hub whose model URI is switched per cluster."""

    api_version: str = spec_field(required=True, doc="apiVersion of the workload.")
    kind: str = spec_field(required=True, doc="Kind, e.g. InferenceService or Deployment.")
    name: str = spec_field(required=True, pattern=NAME_PATTERN, doc="Workload name.")
    namespace: str = spec_field(default="", doc="Namespace; empty: the subscription's.")
    uri_field: str | None = spec_field(
        default=None, pattern=URI_FIELD_PATTERN,
        doc="Dotted path of the field holding the model URI; defaults to "
        "spec.predictor.model.storageUri for InferenceService, required for other kinds.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if self.namespace and not re.fullmatch(NAME_PATTERN, self.namespace):
            fail((*path, "namespace"), f"invalid namespace {self.namespace!r}",
                 "use lower-case letters, digits, '-' and '.'")
        if self.uri_field is None and self.kind not in DEFAULT_URI_FIELDS:
            fail((*path, "uriField"), f"kind {self.kind} needs uriField",
                 "name the field holding the model URI, e.g. "
                 "spec.template.metadata.annotations.model-uri")

    @property
    def effective_uri_field(self) -> str:
        """``uriField``, or the kind's default."""
        return self.uri_field or DEFAULT_URI_FIELDS.get(self.kind, "")


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantMatch:
    """Cluster facts that must all hold; a field left out is not checked."""

    labels: LabelSelector | None = spec_field(default=None,
                                              doc="MemberCluster labels to match.")
    gpu_products: tuple[str, ...] = spec_field(
        default=(), doc="The cluster has at least one of these GPU products.")
    edge: bool | None = spec_field(default=None, doc="The cluster is (or is not) an edge site.")
    cpu_only: bool | None = spec_field(default=None,
                                       doc="true: the cluster has no GPU product; false: "
                                       "it has one.")

    def check(self, fail: Fail, path: PathKey) -> None:
        for i, product in enumerate(self.gpu_products):
            if lookup(product) is None:
                hint = did_you_mean(product, known_product_names())
                fail((*path, "gpuProducts", i), f"unknown GPU product {product!r}",
                     (hint + " " if hint else "")
                     + f"known products: {', '.join(known_product_names())}")
        if self.gpu_products and self.cpu_only:
            fail((*path, "cpuOnly"), "cpuOnly: true contradicts gpuProducts",
                 "a CPU-only cluster has no GPU product; remove one of them")


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantBuild:
    """Build this variant once per version with a converter."""

    converter: str = spec_field(required=True, enum=CONVERTERS,
                                doc="onnx-int8: ONNX FP32 to INT8 dynamic quantization "
                                "(onnxruntime).")
    input: str = spec_field(required=True,
                            doc="Path of the input file inside the version (or subPath).")

    def check(self, fail: Fail, path: PathKey) -> None:
        _check_relative(fail, (*path, "input"), self.input)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVariant:
    """Which artifact of a version a class of clusters gets."""

    name: str = spec_field(required=True, pattern=VARIANT_NAME_PATTERN,
                           doc="Variant name (the staged model is model--name).")
    match: VariantMatch = spec_field(default_factory=VariantMatch,
                                     doc="Clusters this variant is for (empty: all).")
    sub_path: str = spec_field(default="",
                               doc="A sub-directory of the version's artifacts; empty: all.")
    build: VariantBuild | None = spec_field(default=None,
                                            doc="Build the variant instead of copying it.")

    def check(self, fail: Fail, path: PathKey) -> None:
        if len(self.name) > 63:
            fail((*path, "name"), f"variant name is {len(self.name)} characters long",
                 "use at most 63")
        _check_relative(fail, (*path, "subPath"), self.sub_path.rstrip("/"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """How many versions each cluster store keeps."""

    keep: int = spec_field(default=3, minimum=1, maximum=1000,
                           doc="Versions kept per cluster store; one in use is never deleted.")


@dataclass(frozen=True, slots=True, kw_only=True)
class StagingConcurrency:
    """Limits on parallel copies."""

    per_source: int = spec_field(default=4, minimum=1, maximum=256,
                                 doc="Copies reading the origin at once.")
    per_region: int = spec_field(default=2, minimum=1, maximum=256,
                                 doc="Copies into one region at once.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSubscriptionSpec:
    """A model (source + name) and channel that the selected clusters follow."""

    source: str = spec_field(required=True, pattern=NAME_PATTERN,
                             doc="A ModelSource in the same namespace.")
    model: str = spec_field(required=True, pattern=r"\S+",
                            doc="Registered model name (or model name in the store).")
    channel: str = spec_field(default=LATEST_CHANNEL, pattern=r"\S+",
                              doc="Registry alias, or latest (highest version number).")
    version: str = spec_field(default="", pattern=r"[^/\s]*",
                              doc="Pin this version (set by `fedctl models stage`): staged "
                              "and switched instead of what the channel points at.")
    clusters: SubscriptionClusters = spec_field(required=True,
                                                doc="Which clusters follow the model.")
    store: str = spec_field(default="",
                            doc="Which of a cluster's objectStores to stage into; empty: "
                            "its first.")
    workloads: tuple[ModelWorkload, ...] = spec_field(
        default=(), doc="Workload templates whose model URI is switched per cluster.")
    variants: tuple[ModelVariant, ...] = spec_field(
        default=(), doc="First match wins; a cluster matching none gets the default variant.")
    retention: Retention = spec_field(default_factory=Retention, doc="Retention.")
    concurrency: StagingConcurrency = spec_field(default_factory=StagingConcurrency,
                                                 doc="Copy concurrency limits.")

    def check(self, fail: Fail, path: PathKey) -> None:
        seen: set[str] = set()
        for i, v in enumerate(self.variants):
            if v.name in seen:
                fail((*path, "variants", i, "name"), f"duplicate variant {v.name!r}",
                     "variant names must be unique")
            seen.add(v.name)
        refs: set[tuple[str, str, str, str]] = set()
        for i, w in enumerate(self.workloads):
            key = (w.api_version, w.kind, w.namespace, w.name)
            if key in refs:
                fail((*path, "workloads", i), f"{w.kind} {w.name!r} is listed twice", None)
            refs.add(key)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterStaging:
    """Staging of the desired version on one cluster."""

    cluster: str = spec_field(required=True, doc="Member cluster.")
    store: str = spec_field(default="", doc="The cluster store staged into.")
    variant: str = spec_field(default=DEFAULT_VARIANT, doc="The variant the cluster gets.")
    version: str = spec_field(default="", doc="The version being staged or staged.")
    state: str = spec_field(default="Pending", enum=STAGING_STATES, doc="Staging state.")
    bytes_done: int = spec_field(default=0, minimum=0, doc="Bytes copied.")
    bytes_total: int = spec_field(default=0, minimum=0, doc="Bytes to copy.")
    reason: str = spec_field(default="", doc="Failed: machine reason (MissingFile, "
                             "StoreUnreachable, BuildFailed…).")
    message: str = spec_field(default="", doc="Human-readable detail.")
    uri: str = spec_field(default="", doc="The cluster-local mirror of the version.")
    serving_version: str = spec_field(default="", doc="The version the workloads use.")
    serving_uri: str = spec_field(default="", doc="The URI the workloads use.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSubscriptionStatus:
    """What the hub observed and did for a subscription."""

    observed_generation: int = spec_field(default=0, minimum=0, doc="Last generation seen.")
    conditions: tuple[Condition, ...] = spec_field(
        default=(), doc="Ready, ClustersSelected, SourceReachable, Staged.")
    desired_version: str = spec_field(default="", doc="What the channel points at.")
    switched_version: str = spec_field(default="", doc="What the workloads point at now.")
    last_good_version: str = spec_field(default="", doc="The previous switched version.")
    clusters: tuple[ClusterStaging, ...] = spec_field(default=(), doc="Per cluster.")


# --- top-level objects -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectMeta:
    name: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    generation: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PropagationPolicy:
    """A PropagationPolicy (namespaced) or ClusterPropagationPolicy (cluster-scoped)."""

    kind: str
    metadata: ObjectMeta
    spec: PropagationSpec
    status: PolicyStatus | None = None

    @property
    def cluster_scoped(self) -> bool:
        return self.kind == "ClusterPropagationPolicy"


@dataclass(frozen=True, slots=True, kw_only=True)
class OverridePolicy:
    """An OverridePolicy (namespaced) or ClusterOverridePolicy (cluster-scoped)."""

    kind: str
    metadata: ObjectMeta
    spec: OverrideSpec
    status: PolicyStatus | None = None

    @property
    def cluster_scoped(self) -> bool:
        return self.kind == "ClusterOverridePolicy"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberCluster:
    """A member cluster registered with the hub."""

    kind: str
    metadata: ObjectMeta
    spec: MemberClusterSpec
    status: MemberClusterStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSource:
    """Where model versions come from: an MLflow registry or an object store."""

    kind: str
    metadata: ObjectMeta
    spec: ModelSourceSpec
    status: ModelSourceStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSubscription:
    """Clusters that follow a model's channel: each gets its variant of the version staged
    in its own object store, and the workloads are switched to it."""

    kind: str
    metadata: ObjectMeta
    spec: ModelSubscriptionSpec
    status: ModelSubscriptionStatus | None = None


PolicyObject = (PropagationPolicy | OverridePolicy | MemberCluster | ModelSource
                | ModelSubscription)


@dataclass(frozen=True, slots=True)
class KindInfo:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    namespaced: bool
    spec: type[Any]
    status: type[Any]
    model: type[Any]


KINDS: tuple[KindInfo, ...] = (
    KindInfo("PropagationPolicy", "propagationpolicies", ("pp",), True, PropagationSpec,
             PolicyStatus, PropagationPolicy),
    KindInfo("ClusterPropagationPolicy", "clusterpropagationpolicies", ("cpp",), False,
             PropagationSpec, PolicyStatus, PropagationPolicy),
    KindInfo("OverridePolicy", "overridepolicies", ("op",), True, OverrideSpec,
             PolicyStatus, OverridePolicy),
    KindInfo("ClusterOverridePolicy", "clusteroverridepolicies", ("cop",), False,
             OverrideSpec, PolicyStatus, OverridePolicy),
    KindInfo("MemberCluster", "memberclusters", ("mc",), False, MemberClusterSpec,
             MemberClusterStatus, MemberCluster),
    KindInfo("ModelSource", "modelsources", ("msrc",), True, ModelSourceSpec,
             ModelSourceStatus, ModelSource),
    KindInfo("ModelSubscription", "modelsubscriptions", ("msub",), True,
             ModelSubscriptionSpec, ModelSubscriptionStatus, ModelSubscription),
)
KIND_BY_NAME: Mapping[str, KindInfo] = {k.kind: k for k in KINDS}
