"""`fedctl plan`: show where a workload would go under a policy, and why.

    fedctl plan -f workload.yaml -p policy.yaml --fleet clusters.example.yaml [-o json]

Reads the workload, the policies and the fleet file, builds a snapshot of the fleet
(simulated node pools, catalog prices), runs the scheduler and prints the decision table.
The workload file holds one workload; other documents in it may be the ConfigMaps, Secrets
and ServiceAccounts it references (as upstream samples ship them): they are checked and
listed as following the workload to its clusters, and a referenced one that is missing is
reported as the hub would report it.
Exit status: 0 when the workload is schedulable, 2 when it is not, 1 on input errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

import yaml

from federation.catalog.egress import load_egress_matrix
from federation.catalog.prices import PriceCatalog, load_price_catalog
from federation.cli.plan_deps import PlannedDependency, describe, plan_dependencies, split_workload
from federation.errors import InputError, InputErrors
from federation.fleet import load_fleet_file
from federation.interpreters import DemandError, extract_demand, paths
from federation.interpreters.interpreter import Interpreters
from federation.model.cluster import ClusterSnapshot
from federation.model.demand import Demand
from federation.model.placement import Decision
from federation.scheduling.explain import decision_to_dict
from federation.scheduling.fleet_snapshot import snapshot_from_fleet
from federation.scheduling.runtime import Scheduler
from federation.syncer.validate import storage_uri_errors
from policies.match import select_policy
from policies.models import PropagationPolicy
from policies.parse import parse_documents
from policies.source import Document, format_path, load_file

SHORT = {"cost": "COST", "dataLocality": "DATA", "gpuPreference": "GPU-PREF",
         "artifactCached": "CACHED", "balanced": "BALANCED", "binpack": "BINPACK"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plan", help="show where a workload would be placed, and why",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--filename", required=True,
                   help="workload YAML: one workload, plus the ConfigMaps, Secrets and "
                        "ServiceAccounts it references")
    p.add_argument("-p", "--policy", required=True, action="append",
                   help="policy YAML (repeatable)")
    p.add_argument("--fleet", default="clusters.example.yaml", help="fleet file")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.add_argument("--prices", help="GPU price catalog CSV (default: shipped sample)")
    p.add_argument("--egress", help="egress matrix CSV (default: shipped sample)")
    p.add_argument("--cached", action="append", default=[], metavar="CLUSTER=URI",
                   help="pretend CLUSTER's stores already hold URI (repeatable)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    catalog = load_price_catalog(args.prices)
    scheduler = Scheduler(load_egress_matrix(args.egress))
    cached: dict[str, set[str]] = {}
    for item in args.cached:
        cluster, sep, uri = item.partition("=")
        if not sep or not cluster or not uri:
            raise InputError(f"invalid --cached {item!r}", hint="use CLUSTER=URI")
        cached.setdefault(cluster, set()).add(uri)
    fleet = load_fleet_file(args.fleet)
    unknown = sorted(set(cached) - {c.name for c in fleet.clusters})
    if unknown:
        raise InputError(f"--cached names unknown cluster {unknown[0]!r}")
    clusters = snapshot_from_fleet(fleet, catalog,
                                   {k: frozenset(v) for k, v in cached.items()})
    policies: list[PropagationPolicy] = []
    policy_docs: list[Document] = []
    for path in args.policy:
        policy_docs.extend(load_file(path))
    for obj in parse_documents(policy_docs):
        if isinstance(obj, PropagationPolicy):
            policies.append(obj)
    if not policies:
        raise InputError("no PropagationPolicy or ClusterPropagationPolicy found",
                         file=", ".join(args.policy))
    workload, others = split_workload(load_file(args.filename), args.filename)
    demand, policy, decision = _plan_one(workload, policies, clusters, scheduler)
    deps, unreferenced = plan_dependencies(workload, others, policy.spec.propagate_deps)
    placed = sorted({a.cluster for a in decision.placement.assignments})
    plans = [(demand, policy, decision)]
    if args.output == "table":
        out.write(render_table(demand, policy, decision))
        out.write(render_dependencies(deps, [describe(d) for d in unreferenced], placed))
        out.write(_catalog_line(catalog) + "\n")
    else:
        data = {
            "catalog": {"version": catalog.version, "asOf": catalog.as_of,
                        "status": catalog.status},
            "plans": [{
                "workload": {"apiVersion": d.api_version, "kind": d.kind,
                             "namespace": d.namespace, "name": d.name},
                "policy": _policy_ref(p),
                "decision": decision_to_dict(dec),
                "dependencies": [{**pd.to_json(),
                                  "clusters": placed if pd.state == "follows" else []}
                                 for pd in deps],
                "unreferenced": [describe(d) for d in unreferenced],
            } for d, p, dec in plans],
        }
        if args.output == "json":
            out.write(json.dumps(data, indent=2) + "\n")
        else:
            out.write(yaml.safe_dump(data, sort_keys=False))
    return 0 if all(dec.schedulable for _, _, dec in plans) else 2


def _plan_one(doc: Document, policies: list[PropagationPolicy],
              clusters: tuple[ClusterSnapshot, ...], scheduler: Scheduler
              ) -> tuple[Demand, PropagationPolicy, Decision]:
    try:
        demand = extract_demand(doc.data)
    except DemandError as exc:
        raise InputError(exc.message, file=doc.file, line=doc.line_of(exc.field_path),
                         path=format_path(exc.field_path) or None, hint=exc.hint) from None
    _check_storage_uris(doc)
    policy = select_policy(policies, demand.api_version, demand.kind, demand.name,
                           demand.namespace, dict(demand.labels))
    if policy is None:
        names = ", ".join(_policy_ref(p) for p in policies)
        raise InputError(f"no policy selects {demand.ref} ({demand.api_version})",
                         file=doc.file, line=doc.start_line,
                         hint=f"policies given: {names}; check resourceSelectors")
    return demand, policy, scheduler.schedule(clusters, demand, policy.spec.placement)


def _check_storage_uris(doc: Document, interpreters: Interpreters | None = None) -> None:
    """Model URIs the hub would refuse (``InvalidTemplate``, nothing applied), reported
    with file:line and field path: one ``InputError``, or ``InputErrors`` for several."""
    interp = interpreters or Interpreters()
    errors = storage_uri_errors(doc.data, interp)
    if not errors:
        return
    # the concrete path of each reported field, for its line in the file
    concrete = {format_path(path): path for expr in interp.spec_for(doc.data).storage_uris
                for path, _value in paths.resolve(doc.data, expr)}
    found = [InputError(f"invalid model URI {e.value!r}: {e.message}", file=doc.file,
                        line=doc.line_of(concrete.get(e.path, ())), path=e.path,
                        hint=e.hint) for e in errors]
    raise found[0] if len(found) == 1 else InputErrors(found)


def render_dependencies(deps: list[PlannedDependency], unreferenced: list[str],
                        placed: list[str]) -> str:
    """The referenced objects and where they go; empty when there are none."""
    lines = []
    if deps:
        where = ", ".join(placed) if placed else "no cluster: the workload is not placed"
        lines.append(f"referenced objects (follow the workload to {where}):")
        width = max(len(pd.ref) for pd in deps)
        lines.extend(f"  {pd.ref.ljust(width)}  {pd.note()}" for pd in deps)
    if unreferenced:
        lines.append("not referenced by the workload (propagated only if a policy selects "
                     "them): " + ", ".join(unreferenced))
    return "".join(line + "\n" for line in lines)


def _policy_ref(p: PropagationPolicy) -> str:
    if p.cluster_scoped:
        return f"{p.kind}/{p.metadata.name}"
    return f"{p.kind}/{p.metadata.namespace}/{p.metadata.name}"


def _catalog_line(catalog: PriceCatalog) -> str:
    status = f"{catalog.status}, " if catalog.status else ""
    return f"prices: catalog {catalog.version} ({status}as of {catalog.as_of})"


def render_table(demand: Demand, policy: PropagationPolicy, decision: Decision) -> str:
    weights = dict(decision.diagnosis.weights)
    plugins = [name for name in SHORT if name in weights]
    header = ["CLUSTER", "VERDICT", "GPU", *[SHORT[p] for p in plugins], "TOTAL",
              "REPLICAS", "$/H"]
    rows: list[list[str]] = []
    placed = {a.cluster for a in decision.placement.assignments}
    diags = sorted(decision.diagnosis.clusters, key=lambda d: (
        0 if d.cluster in placed else 1 if d.feasible else 2,
        -d.replicas, -d.total, d.cluster))
    for d in diags:
        scores = dict(d.scores)
        if d.cluster in placed:
            verdict = "placed"
        elif d.feasible:
            verdict = "feasible"
        else:
            assert d.reason is not None
            verdict = f"filtered: {d.reason.detail}"
        gpu = (d.product or "-") + (" spot" if d.spot else "")
        rows.append([
            d.cluster, verdict, gpu if d.feasible or d.product else "-",
            *[f"{scores[p]:.0f}" if p in scores else "-" for p in plugins],
            f"{d.total:.1f}" if d.feasible else "-",
            str(d.replicas) if d.cluster in placed else "-",
            f"{d.hourly_cost:,.2f}" if d.cluster in placed else "-",
        ])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    widths[1] = min(widths[1], 64)
    lines = [
        f"{demand.ref} ({demand.api_version}): {demand.total_replicas} replica(s), "
        f"{demand.total_gpus} GPU(s); policy {_policy_ref(policy)}; gang {decision.gang}",
    ]
    for r in [header, *rows]:
        cells = []
        for i, cell in enumerate(r):
            if i == 1 and len(cell) > widths[1]:
                cell = cell[: widths[1] - 1] + "…"
            cells.append(cell.ljust(widths[i]) if i < 2 or i == 2 else cell.rjust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    verdict = "SCHEDULABLE" if decision.schedulable else "UNSCHEDULABLE"
    lines.append(f"{verdict}: {decision.message}")
    if decision.schedulable and decision.diagnosis.summary:
        lines.append(f"filters: {decision.diagnosis.summary}")
    lines.append("weights: " + ", ".join(f"{k}={v:g}" for k, v in weights.items()))
    return "\n".join(lines) + "\n"


