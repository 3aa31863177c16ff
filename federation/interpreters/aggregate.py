"""The hub template's status from the members' copies, in the kind's own fields.

Pure functions driven by a kind's ``StatusAggregation`` (``spec.py``): so ``kubectl get
pytorchjob`` on the hub reads like on one cluster. Copies are visited in cluster-name
order, so equal copies give an equal status; with one copy every field is that copy's.

* ``sum``: integers added up; mappings merged per key; lists of mappings merged per item
  ``name`` (else ``type``), e.g. a JobSet's ``replicatedJobsStatus``; anything else (a
  label selector string) from the first copy that has it.
* ``conditions``: one condition per type seen in any copy. A type in ``any`` is True when
  True in one copy (Failed, Restarting), any other only when True in every copy
  (Succeeded, Ready). Reason, times and message come from the deciding copy; with several
  copies the message names it and counts the copies where the type is True.
* ``worst``: the value of the copy in the worst state (``WorstRule``).
* ``first``: from the first healthy copy, else the first copy that has the field (an
  InferenceService's ``url``: one serving endpoint, the healthy one first by name).
* ``earliest`` / ``latest``: times; ``latest`` only once every copy reports it (a job is
  complete when the last copy is).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from federation.interpreters import paths
from federation.interpreters.spec import (
    ConditionMerge,
    KindSpec,
    StatusAggregation,
    WorstRule,
    status_path,
)

# worst first; a copy without a mapped value counts as Pending (no status yet)
PHASE_RANK = {"Failed": 0, "Pending": 1, "Running": 2, "Ready": 3, "Succeeded": 4}

Copies = Sequence[tuple[str, Mapping[str, Any]]]  # (cluster, copy), by cluster name


def aggregate_status(spec: KindSpec, members: Mapping[str, Mapping[str, Any]],
                     healthy: Callable[[Mapping[str, Any]], bool]) -> dict[str, Any]:
    """The status to merge-patch onto the hub's template. A field no copy reports is left
    out; one that some copies report but that does not hold for the whole (the worst copy
    has no ``terminalState``, a ``completionTime`` not every copy has) is ``None``, so a
    merge patch removes a value written before."""
    agg: StatusAggregation = spec.aggregation
    copies: Copies = sorted(members.items())
    status: dict[str, Any] = {}
    if not copies:
        return status
    for expr in agg.sum:
        total = merge_sum([paths.first(obj, expr) for _, obj in copies])
        if total is not None:
            paths.set_at(status, status_path(expr), total)
    if agg.conditions is not None:
        merged = merge_conditions(agg.conditions, copies)
        if merged:
            status["conditions"] = merged
    for rule in agg.worst:
        target = rule.copy or rule.field
        if any(paths.first(obj, target) is not None for _, obj in copies):
            paths.set_at(status, status_path(target), copy.deepcopy(_worst(rule, spec, copies)))
    ordered = [c for c in copies if healthy(c[1])] + [c for c in copies if not healthy(c[1])]
    for expr in agg.first:
        value = next((v for _, obj in ordered if (v := paths.first(obj, expr)) is not None),
                     None)
        if value is not None:
            paths.set_at(status, status_path(expr), copy.deepcopy(value))
    for expr in agg.earliest:
        times = [v for _, obj in copies if isinstance(v := paths.first(obj, expr), str)]
        if times:
            paths.set_at(status, status_path(expr), min(times))
    for expr in agg.latest:
        times = [v for _, obj in copies if isinstance(v := paths.first(obj, expr), str)]
        if times:
            paths.set_at(status, status_path(expr),
                         max(times) if len(times) == len(copies) else None)
    return status


def merge_sum(values: Sequence[Any]) -> Any:
    """Integers summed; mappings per key; lists of mappings per ``name``/``type``; any
    other value from the first that has one."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return sum(present)
    if all(isinstance(v, dict) for v in present):
        keys = dict.fromkeys(k for v in present for k in v)
        return {k: merge_sum([v.get(k) for v in present]) for k in keys}
    if all(isinstance(v, list) for v in present):
        items = [i for v in present for i in v]
        ident = next((k for k in ("name", "type")
                      if items and all(isinstance(i, dict) and isinstance(i.get(k), str)
                                       for i in items)), None)
        if ident is None:
            return copy.deepcopy(present[0])
        groups: dict[str, list[Any]] = {}
        for item in items:
            groups.setdefault(item[ident], []).append(item)
        return [merge_sum(group) for group in groups.values()]
    return copy.deepcopy(present[0])


def merge_conditions(rule: ConditionMerge, copies: Copies) -> list[dict[str, Any]]:
    """One condition per type seen in any copy (see the module docstring)."""
    by_copy = [(name, {c["type"]: c for c in _conditions(obj)}) for name, obj in copies]
    types = dict.fromkeys(t for _, conds in by_copy for t in conds)
    order = {t: i for i, t in enumerate(rule.order)}
    out = []
    for ctype in sorted(types, key=lambda t: (order.get(t, len(order)), t)):
        out.append(_merge_one(ctype, ctype in rule.any, by_copy))
    # False (and Unknown) first, True last: the last condition is the current state
    return sorted(out, key=lambda c: c["status"] == "True")


def _conditions(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = (obj.get("status") or {}).get("conditions")
    return [c for c in raw or [] if isinstance(c, dict) and isinstance(c.get("type"), str)]


def _merge_one(ctype: str, any_copy: bool,
               by_copy: list[tuple[str, dict[str, dict[str, Any]]]]) -> dict[str, Any]:
    true = [(n, conds[ctype]) for n, conds in by_copy
            if conds.get(ctype, {}).get("status") == "True"]
    n_copies = len(by_copy)
    if true and (any_copy or len(true) == n_copies):
        # any: the first copy where it holds; all: the last copy to get there
        name, base = true[0] if any_copy else max(
            true, key=lambda nc: str(nc[1].get("lastTransitionTime") or ""))
        status = "True"
    else:
        # the first copy where it does not hold (with the condition if it has one)
        name, conds = next((n, c) for n, c in by_copy
                           if c.get(ctype, {}).get("status") != "True")
        base = conds.get(ctype) or {"type": ctype, "status": "False",
                                    "reason": "NotInCluster",
                                    "message": f"no {ctype} condition yet"}
        status = str(base.get("status") or "False")
    out = copy.deepcopy(base)
    out["status"] = status
    if n_copies > 1:
        message = str(base.get("message") or base.get("reason") or ctype)
        out["message"] = f"{name}: {message} ({len(true)}/{n_copies} clusters {ctype})"
    return out


def _worst(rule: WorstRule, spec: KindSpec, copies: Copies) -> Any:
    """The ``copy`` value of the copy whose ``field`` ranks worst (ties: first by name)."""
    if rule.order:
        ranks = {v: i for i, v in enumerate(rule.order)}

        def rank(value: Any) -> int:
            key = "" if value is None else str(value)
            return ranks.get(key, len(ranks))
    else:
        phases = dict(spec.health.values)

        def rank(value: Any) -> int:
            phase = phases.get(str(value)) if value is not None else None
            return PHASE_RANK.get(phase or "Pending", len(PHASE_RANK))
    best = min(copies, key=lambda nc: rank(paths.first(nc[1], rule.field)))
    return paths.first(best[1], rule.copy or rule.field)
