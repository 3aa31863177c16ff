"""The decision table of ``fedctl plan``, drawn from plain data (pure, no I/O).

Input is a decision as plain data: ``decision_to_dict`` (``fedctl plan -o json``) or the
trimmed record a ResourceBinding's ``status.decision`` holds
(``federation.scheduling.decision_record``), whose clusters are the plan table's first
rows and whose ``notShown`` counts the rest. ``fedctl explain`` prints a live binding's
decision with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SHORT = {"cost": "COST", "dataLocality": "DATA", "gpuPreference": "GPU-PREF",
         "artifactCached": "CACHED", "balanced": "BALANCED", "binpack": "BINPACK"}
VERDICT_WIDTH = 64


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def table_lines(weights: Mapping[str, Any], clusters: Sequence[Mapping[str, Any]]) -> list[str]:
    """The header and one row per cluster, in the order given (the plan order: placed,
    feasible by score, filtered)."""
    plugins = [name for name in SHORT if name in weights]
    header = ["CLUSTER", "VERDICT", "GPU", *[SHORT[p] for p in plugins], "TOTAL",
              "REPLICAS", "$/H"]
    rows: list[list[str]] = []
    for d in clusters:
        scores = d.get("scores") or {}
        placed = int(d.get("replicas") or 0) > 0
        feasible = bool(d.get("feasible"))
        if placed:
            verdict = "placed"
        elif feasible:
            verdict = "feasible"
        else:
            reason = d.get("reason") or {}
            verdict = f"filtered: {reason.get('detail') or reason.get('summary') or '?'}"
        product = d.get("product")
        gpu = (product or "-") + (" spot" if d.get("spot") else "")
        rows.append([
            str(d.get("cluster", "?")), verdict, gpu if feasible or product else "-",
            *[f"{_num(scores[p]):.0f}" if p in scores else "-" for p in plugins],
            f"{_num(d.get('total')):.1f}" if feasible else "-",
            str(d.get("replicas")) if placed else "-",
            f"{_num(d.get('hourlyCost')):,.2f}" if placed else "-",
        ])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    widths[1] = min(widths[1], VERDICT_WIDTH)
    lines = []
    for r in [header, *rows]:
        cells = []
        for i, cell in enumerate(r):
            if i == 1 and len(cell) > widths[1]:
                cell = cell[: widths[1] - 1] + "…"
            cells.append(cell.ljust(widths[i]) if i <= 2 else cell.rjust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    return lines


def verdict_lines(data: Mapping[str, Any]) -> list[str]:
    """SCHEDULABLE/UNSCHEDULABLE with the message, the filter summary, the weights."""
    weights = data.get("weights") or {}
    schedulable = bool(data.get("schedulable"))
    lines = [f"{'SCHEDULABLE' if schedulable else 'UNSCHEDULABLE'}: {data.get('message', '')}"]
    if schedulable and data.get("summary"):
        lines.append(f"filters: {data['summary']}")
    lines.append("weights: " + ", ".join(f"{k}={_num(v):g}" for k, v in weights.items()))
    return lines


def not_shown_line(record: Mapping[str, Any]) -> str | None:
    """"12 more cluster(s) not shown: 2 feasible, 10 filtered (7 lack H100…, 3 …)"."""
    rest = record.get("notShown") or {}
    placed, feasible, filtered = (int(rest.get(k) or 0)
                                  for k in ("placed", "feasible", "filtered"))
    total = placed + feasible + filtered
    if not total:
        return None
    parts = [f"{n} {what}" for n, what in ((placed, "placed"), (feasible, "feasible"),
                                           (filtered, "filtered")) if n]
    text = f"{total} more cluster(s) not shown: {', '.join(parts)}"
    reasons = [f"{r.get('clusters')} {r.get('reason')}" for r in rest.get("byReason") or []]
    return text + (f" ({', '.join(reasons)})" if reasons else "")


def render_record(title: str, record: Mapping[str, Any]) -> str:
    """``fedctl explain``: the title, the plan table of the recorded clusters, the
    verdict, what was left out, and the prices and digest the decision names."""
    lines = [title, *table_lines(record.get("weights") or {}, record.get("clusters") or []),
             *verdict_lines(record)]
    more = not_shown_line(record)
    if more:
        lines.append(more)
    prices = record.get("prices") or {}
    lines.append(f"prices: catalog {prices.get('catalog', '?')}, egress "
                 f"{prices.get('egress', '?')}; decision digest {record.get('digest', '?')}")
    return "\n".join(lines) + "\n"
