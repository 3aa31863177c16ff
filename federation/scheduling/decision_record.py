"""The decision as recorded in a ResourceBinding's ``status.decision``: trimmed, stable.

``fedctl plan`` shows every cluster's verdict; a binding cannot hold a thousand of them,
so the record keeps the ``top`` clusters in full (the order of the plan table: placed
clusters first, then feasible ones by score, then filtered ones) and counts the rest
(feasible, filtered, and filtered per reason summary). It names the price catalog and
egress matrix versions the decision was made with and a digest of the whole, untrimmed
decision (every cluster's verdict, scores, product, replicas and cost) and those
versions: two records with one digest come from the same decision.

Pure and deterministic (no clock, no I/O): the same decision and versions give the same
dict, so the hub, which compares a binding's status before writing it, writes only when
the decision changed. Its size is bounded whatever the fleet size: at most ``top``
clusters, ``MAX_REASONS`` reason counts, strings cut at ``MAX_TEXT`` characters.
"""

from __future__ import annotations

import hashlib
import marshal
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from federation.model.placement import ClusterDiagnosis, Decision, Diagnosis, DiagnosisRow
from federation.scheduling.explain import cluster_entry as explain_entry

DEFAULT_TOP = 5
MAX_REASONS = 8  # reason counts kept for the clusters not shown; the rest are "other"
MAX_TEXT = 300  # characters kept of a message, summary or reason
# the record's format; a reader refuses a record whose version it does not know
RECORD_VERSION = 1


# ClusterDiagnosis defaults of the fields after ``reason`` (a filtered cluster's row stops
# at ``tier``): tier, product, spot, scores, total, replicas, hourly_cost
_DEFAULTS: DiagnosisRow = (None, None, False, (), 0.0, 0, 0.0)
_FIELDS = 10


def full_rows(diagnosis: Diagnosis) -> list[DiagnosisRow]:
    """Every cluster's ClusterDiagnosis arguments, all ten of them, without building the
    objects (a thousand of them cost more than the rest of the record)."""
    if diagnosis.rows:
        return [row if len(row) == _FIELDS else row + _DEFAULTS[len(row) - 3:]
                for row in diagnosis.rows]
    return [(d.cluster, d.feasible, d.reason, d.tier, d.product, d.spot, d.scores, d.total,
             d.replicas, d.hourly_cost) for d in diagnosis.clusters]


def ranked(rows: Sequence[DiagnosisRow],
           placed: frozenset[str] | set[str]) -> list[DiagnosisRow]:
    """The plan table's order: placed (most replicas first), feasible (best score first),
    filtered; ties by name."""
    return sorted(rows, key=lambda r: (0 if r[0] in placed else 1 if r[1] else 2,
                                       -r[8], -r[7], r[0]))


def cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cluster_entry(d: ClusterDiagnosis) -> dict[str, Any]:
    """One cluster in full (``decision_to_dict``'s entry, reason texts cut)."""
    return explain_entry(d, cut)


def decision_digest(decision: Decision, prices: str, egress: str,
                    rows: Sequence[DiagnosisRow] | None = None) -> str:
    """A short digest of the whole decision and the price versions it was made with.

    Every field of every cluster's diagnosis goes in, so trimming loses nothing the
    digest would notice. Serialised with ``marshal`` format 2 (exact floats, no
    references: the same bytes for equal values in any process)."""
    d = decision.diagnosis
    plain = tuple(
        (r[0], r[1], None if r[2] is None else (r[2].plugin, r[2].summary, r[2].detail,
                                                r[2].rule), *r[3:])
        for r in (full_rows(d) if rows is None else rows))
    data = (RECORD_VERSION, prices, egress, decision.schedulable, decision.message,
            decision.gang, decision.hourly_cost,
            tuple((a.cluster, a.replicas) for a in decision.placement.assignments),
            d.summary, d.weights, plain)
    return hashlib.sha256(marshal.dumps(data, 2)).hexdigest()[:16]


def decision_record(decision: Decision, *, prices: str, egress: str,
                    top: int = DEFAULT_TOP) -> dict[str, Any]:
    """The trimmed, JSON-able record of ``decision`` (see the module docstring)."""
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    placed = frozenset(decision.placement.clusters)
    rows = full_rows(decision.diagnosis)
    order = ranked(rows, placed)
    shown = [ClusterDiagnosis(*row) for row in order[:top]]
    rest = order[top:]
    by_reason = Counter(r[2].summary for r in rest if r[2] is not None)
    reasons = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [{"reason": cut(text), "clusters": n} for text, n in reasons[:MAX_REASONS]]
    other = sum(n for _, n in reasons[MAX_REASONS:])
    if other:
        kept.append({"reason": "other reasons", "clusters": other})
    return {
        "version": RECORD_VERSION,
        "schedulable": decision.schedulable,
        "message": cut(decision.message),
        "summary": cut(decision.diagnosis.summary),
        "gang": decision.gang,
        "hourlyCost": round(decision.hourly_cost, 4),
        "weights": {k: v for k, v in decision.diagnosis.weights},
        "clusterCount": len(order),
        "placedCount": len(placed),
        "clusters": [cluster_entry(d) for d in shown],
        "notShown": {
            "placed": sum(1 for r in rest if r[0] in placed),
            "feasible": sum(1 for r in rest if r[1] and r[0] not in placed),
            "filtered": sum(1 for r in rest if not r[1]),
            "byReason": kept,
        },
        "prices": {"catalog": prices, "egress": egress},
        "digest": decision_digest(decision, prices, egress, rows),
    }


def recorder(prices: Callable[[], str], egress: Callable[[], str],
             top: int = DEFAULT_TOP) -> Callable[[Decision], dict[str, Any]]:
    """``decision -> record`` with the versions in use at call time (the hub's prices
    change while it runs): the ``explain`` hook of the hub's ``Reconciler``."""

    def explain(decision: Decision) -> dict[str, Any]:
        return decision_record(decision, prices=prices(), egress=egress(), top=top)

    return explain
