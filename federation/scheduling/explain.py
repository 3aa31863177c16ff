"""Explanations: the one-line diagnosis and a plain-data view of a decision."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from federation.model.placement import ClusterDiagnosis, Decision, Reason


def summarize(reasons: Iterable[Reason], total: int, feasible: int) -> str:
    """"0/12 clusters available: 7 lack H100 (need 8 GPUs per replica), 3 have taint…"."""
    counts = Counter(r.summary for r in reasons)
    head = f"{feasible}/{total} clusters available"
    if not counts:
        return head
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    parts = [f"{n} {text if n != 1 else singular(text)}" for text, n in ranked]
    return head + ": " + ", ".join(parts)


_SINGULAR = {"have": "has", "lack": "lacks", "exceed": "exceeds", "are": "is",
             "match": "matches", "do": "does"}


def singular(text: str) -> str:
    """"have taint x" -> "has taint x" (reason summaries are written for many clusters)."""
    head, sep, rest = text.partition(" ")
    return _SINGULAR.get(head, head) + sep + rest


def cluster_entry(d: ClusterDiagnosis,
                  text: Callable[[str], str] = lambda s: s) -> dict[str, Any]:
    """One cluster of a decision as plain data (``text`` may shorten the reason texts)."""
    return {
        "cluster": d.cluster,
        "feasible": d.feasible,
        "reason": None if d.reason is None else {
            "plugin": d.reason.plugin, "summary": text(d.reason.summary),
            "detail": text(d.reason.detail)},
        "tier": d.tier,
        "product": d.product,
        "spot": d.spot,
        "scores": {k: round(v, 2) for k, v in d.scores},
        "total": round(d.total, 2),
        "replicas": d.replicas,
        "hourlyCost": round(d.hourly_cost, 4),
    }


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """Plain data (for JSON / YAML output and the ResourceBinding status)."""
    return {
        "schedulable": decision.schedulable,
        "message": decision.message,
        "summary": decision.diagnosis.summary,
        "gang": decision.gang,
        "hourlyCost": round(decision.hourly_cost, 4),
        "weights": dict(decision.diagnosis.weights),
        "placement": [
            {"cluster": a.cluster, "replicas": dict(a.replicas)}
            for a in decision.placement.assignments
        ],
        "clusters": [
            cluster_entry(d)
            for d in decision.diagnosis.clusters
        ],
    }
