"""`fedctl explain KIND/NAME -n NS`: why a live workload runs where it runs.

    fedctl explain deployment/web -n shop [-o json|yaml]

Prints the decision the hub recorded in the workload's ResourceBinding
(``status.decision``) with the table of ``fedctl plan``: the best-ranked clusters with
their filter verdicts and per-plugin scores, counts of the clusters not shown, the price
catalog and egress matrix versions, and the decision's digest. KIND is the kind's name in
any case, optionally with its API group when two kinds share a name
(``job.batch/train``, ``job.batch.volcano.sh/train``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from federation.cli.decision_table import render_record
from federation.cli.get import Bindings, HubBindings, add_hub_args, namespace_of
from federation.errors import FedctlError
from federation.scheduling.decision_record import RECORD_VERSION


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("explain", help="show why a live workload is placed where it is",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="KIND/NAME", help="e.g. deployment/web, job.batch/train")
    p.add_argument("-n", "--namespace", default=None,
                   help="namespace (default: the context's namespace, else default)")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    add_hub_args(p)
    p.set_defaults(handler=_run)


def parse_target(target: str) -> tuple[str, str | None, str]:
    """"Deployment/web" -> ("deployment", None, "web"); "job.batch/x" -> ("job", "batch",
    "x"). Raises FedctlError on anything else."""
    kind, sep, name = target.partition("/")
    if not sep or not kind or not name or "/" in name:
        raise FedctlError(f"invalid workload {target!r}",
                          hint="use KIND/NAME, e.g. deployment/web or job.batch/train")
    kind, _, group = kind.partition(".")
    return kind.lower(), group.lower() or None, name


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _kind_matches(want: str, kind: str) -> bool:
    k = kind.lower()
    return want in (k, k + "s", k + "es")


def _describe(res: Mapping[str, Any]) -> str:
    group = _group(str(res.get("apiVersion", "")))
    kind = str(res.get("kind", "?")).lower()
    return f"{kind}.{group}/{res.get('name')}" if group else f"{kind}/{res.get('name')}"


def find_binding(bindings: Sequence[Mapping[str, Any]], target: str,
                 namespace: str) -> Mapping[str, Any]:
    """The binding of workload ``target`` in ``namespace`` (bindings of that namespace);
    FedctlError naming what exists when there is none or more than one."""
    kind, group, name = parse_target(target)
    named = [b for b in bindings
             if ((b.get("spec") or {}).get("resource") or {}).get("name") == name]
    found = []
    for b in named:
        res = (b.get("spec") or {}).get("resource") or {}
        if not _kind_matches(kind, str(res.get("kind", ""))):
            continue
        if group is not None and _group(str(res.get("apiVersion", ""))).lower() != group:
            continue
        found.append(b)
    listing = f"fedctl get placements -n {namespace}"
    if not found:
        others = sorted(_describe((b.get("spec") or {}).get("resource") or {}) for b in named)
        hint = (f"placed under that name: {', '.join(others)}" if others
                else f"`{listing}` lists what the hub placed")
        raise FedctlError(f"no placement for {target} in namespace {namespace}", hint=hint)
    if len(found) > 1:
        options = sorted(_describe((b.get("spec") or {}).get("resource") or {})
                         for b in found)
        raise FedctlError(f"{target} in namespace {namespace} names {len(found)} workloads",
                          hint=f"name the group: {', '.join(options)}")
    return found[0]


def record_of(binding: Mapping[str, Any]) -> dict[str, Any]:
    """The binding's decision record; FedctlError saying why there is none."""
    meta = binding.get("metadata") or {}
    where = f"ResourceBinding {meta.get('namespace')}/{meta.get('name')}"
    status = binding.get("status") or {}
    record = status.get("decision")
    if not isinstance(record, Mapping):
        cond = next((c for c in status.get("conditions") or []
                     if isinstance(c, Mapping) and c.get("type") == "Scheduled"), None)
        why = (f"its Scheduled condition says {cond.get('status')} {cond.get('reason')}: "
               f"{cond.get('message')}" if cond else "it has no Scheduled condition yet")
        raise FedctlError(f"{where} records no decision; {why}",
                          hint="the hub records one with every placement it makes; a hub "
                               "older than this fedctl does not")
    if record.get("version") != RECORD_VERSION:
        raise FedctlError(f"{where}: status.decision.version is {record.get('version')!r}, "
                          f"this fedctl reads version {RECORD_VERSION}",
                          hint="use the fedctl release of the hub that wrote it")
    return dict(record)


def title(binding: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    spec = binding.get("spec") or {}
    res = spec.get("resource") or {}
    clusters = spec.get("clusterNames") or "none"
    return (f"{res.get('kind')} {res.get('namespace')}/{res.get('name')} "
            f"({res.get('apiVersion')}): policy {spec.get('policy', '?')}; gang "
            f"{record.get('gang', '?')}; clusters {clusters}")


def explain_binding(binding: Mapping[str, Any], output: str) -> str:
    record = record_of(binding)
    if output == "json":
        return json.dumps(record, indent=2) + "\n"
    if output == "yaml":
        return str(yaml.safe_dump(record, sort_keys=False))
    return render_record(title(binding, record), record)


async def explain(source: Bindings, target: str, namespace: str, output: str) -> str:
    """``fedctl explain`` against ``source``: what it prints."""
    parse_target(target)  # a malformed target fails before any request
    return explain_binding(find_binding(await source.list(namespace), target, namespace),
                           output)


def _run(args: argparse.Namespace) -> int:
    from federation.cli.clusters import _on_hub

    parse_target(args.target)
    namespace = namespace_of(args)
    sys.stdout.write(_on_hub(args, lambda hub: explain(HubBindings(hub), args.target,
                                                       namespace, args.output)))
    return 0
