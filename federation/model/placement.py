"""The scheduler's output: where replicas go, and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ClusterAssignment:
    cluster: str
    replicas: tuple[tuple[str, int], ...]  # (component, replicas), in demand order

    @property
    def total(self) -> int:
        return sum(n for _, n in self.replicas)


@dataclass(frozen=True, slots=True)
class Placement:
    """cluster -> replicas per component; clusters sorted by name, no empty entries."""

    assignments: tuple[ClusterAssignment, ...] = ()

    @property
    def clusters(self) -> tuple[str, ...]:
        return tuple(a.cluster for a in self.assignments)

    def replicas(self, cluster: str, component: str | None = None) -> int:
        for a in self.assignments:
            if a.cluster == cluster:
                if component is None:
                    return a.total
                return dict(a.replicas).get(component, 0)
        return 0

    def by_component(self, component: str) -> dict[str, int]:
        out = {}
        for a in self.assignments:
            n = dict(a.replicas).get(component, 0)
            if n:
                out[a.cluster] = n
        return out

    @property
    def total(self) -> int:
        return sum(a.total for a in self.assignments)

    @staticmethod
    def build(per_component: Mapping[str, Mapping[str, int]],
              order: tuple[str, ...]) -> Placement:
        """From component -> cluster -> replicas (zeros dropped)."""
        clusters = sorted({c for m in per_component.values() for c, n in m.items() if n > 0})
        out = []
        for cluster in clusters:
            reps = tuple((comp, per_component.get(comp, {}).get(cluster, 0)) for comp in order)
            reps = tuple((c, n) for c, n in reps if n > 0)
            out.append(ClusterAssignment(cluster, reps))
        return Placement(tuple(out))


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a filter rejected a cluster.

    ``summary`` groups clusters in the one-line diagnosis ("lack H100 (need 8 GPUs per
    replica)"); ``detail`` is the per-cluster text. ``rule`` is False for capacity-like
    reasons that do not force running replicas to move.
    """

    plugin: str
    summary: str
    detail: str
    rule: bool = True


@dataclass(frozen=True, slots=True)
class ClusterDiagnosis:
    cluster: str
    feasible: bool
    reason: Reason | None = None
    tier: int | None = None  # index of the first matching ordered affinity term
    product: str | None = None
    spot: bool = False
    scores: tuple[tuple[str, float], ...] = ()  # plugin -> 0..100 (normalised)
    total: float = 0.0  # weighted score 0..100
    replicas: int = 0
    hourly_cost: float = 0.0  # $/h of the replicas placed here


DiagnosisRow = tuple[Any, ...]  # ClusterDiagnosis constructor arguments, positional


@dataclass(frozen=True, slots=True, init=False, repr=False, eq=False)
class Diagnosis:
    """Per-cluster verdicts (``clusters``, in name order) and the one-line summary.

    The scheduler passes ``rows`` (each a tuple of ``ClusterDiagnosis`` arguments) and the
    objects are built on the first read of ``clusters``: a caller that only needs the
    placement does not pay for a thousand diagnosis objects. Equality, hashing and repr
    are those of the built ``clusters``, so both constructions compare equal.
    """

    summary: str
    weights: tuple[tuple[str, float], ...]
    rows: tuple[DiagnosisRow, ...]
    _clusters: tuple[ClusterDiagnosis, ...] | None

    def __init__(self, clusters: Iterable[ClusterDiagnosis] = (), summary: str = "",
                 weights: tuple[tuple[str, float], ...] = (), *,
                 rows: tuple[DiagnosisRow, ...] | None = None) -> None:
        object.__setattr__(self, "summary", summary)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "rows", () if rows is None else rows)
        object.__setattr__(self, "_clusters", tuple(clusters) if rows is None else None)

    @property
    def clusters(self) -> tuple[ClusterDiagnosis, ...]:
        built = self._clusters
        if built is None:  # a benign race at worst: both threads build equal tuples
            built = tuple([ClusterDiagnosis(*row) for row in self.rows])
            object.__setattr__(self, "_clusters", built)
        return built

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diagnosis):
            return NotImplemented
        return (self.summary, self.weights, self.clusters) == (
            other.summary, other.weights, other.clusters)

    def __hash__(self) -> int:
        return hash((self.clusters, self.summary, self.weights))

    def __repr__(self) -> str:
        return (f"Diagnosis(clusters={self.clusters!r}, summary={self.summary!r}, "
                f"weights={self.weights!r})")

    def product_of(self, cluster: str) -> str | None:
        """The GPU product ``cluster`` would use (None: CPU only, filtered, or unknown)."""
        if self._clusters is None:
            for row in self.rows:
                if row[0] == cluster:
                    return row[4] if len(row) > 4 else None
            return None
        for d in self._clusters:
            if d.cluster == cluster:
                return d.product
        return None

    def of(self, cluster: str) -> ClusterDiagnosis:
        for d in self.clusters:
            if d.cluster == cluster:
                return d
        raise KeyError(cluster)


@dataclass(frozen=True, slots=True)
class Decision:
    schedulable: bool
    placement: Placement
    diagnosis: Diagnosis
    hourly_cost: float
    gang: str = "None"
    message: str = ""
