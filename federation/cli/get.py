"""`fedctl get placements`: where each workload runs, kubectl style.

    fedctl get placements [-n NS | -A] [-o wide|json|yaml]

Reads the ResourceBindings on the hub (the hub kubeconfig as for ``fedctl clusters``):
one row per workload with every cluster it runs on, its cost, whether it is scheduled,
and its age; ``-o wide`` adds the policy, the GPU products, the best placed score and the
price catalog the decision used (from ``status.decision``, see ``fedctl explain``);
``-o json|yaml`` prints the bindings as a kubectl ``List``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from federation.cli.table import render
from federation.errors import FedctlError
from policies.models import GROUP, VERSION

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

PLURAL = "resourcebindings"
RESOURCES = ("placements", "placement", "pl")


class Bindings(Protocol):
    """ResourceBindings on the hub: one namespace's, or every namespace's (None)."""

    async def list(self, namespace: str | None) -> list[dict[str, Any]]: ...


class HubBindings:
    def __init__(self, hub: ApiClient) -> None:
        self.hub = hub

    async def list(self, namespace: str | None) -> list[dict[str, Any]]:
        from kubernetes_asyncio import client as k8s
        from kubernetes_asyncio.client.exceptions import ApiException

        api = k8s.CustomObjectsApi(self.hub)
        try:
            if namespace is None:
                body = await api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
            else:
                body = await api.list_namespaced_custom_object(GROUP, VERSION, namespace,
                                                               PLURAL)
        except ApiException as exc:
            if exc.status == 404:
                raise FedctlError(
                    f"the hub serves no {PLURAL}.{GROUP}",
                    hint="is this the hub's kubeconfig? `fedctl hub run` installs the "
                         "CRD when it starts") from None
            raise
        return list(body.get("items") or [])


def add_hub_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", type=Path, default=None,
                   help="hub kubeconfig (default: the running dev fleet's)")
    p.add_argument("--context", default=None, help="hub context (default: hub for the dev "
                                                    "fleet, else the current context)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="dev fleet state dir (default: $FEDCTL_STATE_DIR or "
                        "~/.local/state/fedctl/dev)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("get", help="list placements (ResourceBindings) on the hub",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("resource", choices=RESOURCES, metavar="placements",
                   help="what to list: placements (also: placement, pl)")
    p.add_argument("-n", "--namespace", default=None,
                   help="namespace (default: the context's namespace, else default)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    p.add_argument("-o", "--output", choices=("table", "wide", "json", "yaml"),
                   default="table")
    add_hub_args(p)
    p.set_defaults(handler=_run)


# ---- pure ---------------------------------------------------------------------------------
def age(created: str | None, now: datetime) -> str:
    """kubectl's short age ("45s", "3m12s", "5h", "12d") of an RFC 3339 timestamp."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    s = max(0, int((now - then).total_seconds()))
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"


def _scheduled(status: Mapping[str, Any]) -> str:
    cond = next((c for c in status.get("conditions") or []
                 if isinstance(c, Mapping) and c.get("type") == "Scheduled"), None)
    return str(cond.get("status", "Unknown")) if cond else "Unknown"


def clusters_of(spec: Mapping[str, Any]) -> str:
    """Every cluster the binding places replicas on ("<none>": none)."""
    names = spec.get("clusterNames") or ",".join(
        str(c.get("name")) for c in spec.get("clusters") or [] if isinstance(c, Mapping))
    return str(names) or "<none>"


def _cost(status: Mapping[str, Any]) -> str:
    cost = status.get("hourlyCost")
    return f"${float(cost):,.2f}" if isinstance(cost, int | float) else "-"


def _wide(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[str]:
    record = status.get("decision") or {}
    placed = [c for c in record.get("clusters") or []
              if isinstance(c, Mapping) and int(c.get("replicas") or 0) > 0]
    products = sorted({str(c["product"]) + (" spot" if c.get("spot") else "")
                       for c in placed if c.get("product")})
    top = max((float(c.get("total") or 0.0) for c in placed), default=None)
    prices = (record.get("prices") or {}).get("catalog")
    return [str(spec.get("policy") or "-"), ",".join(products) or "-",
            "-" if top is None else f"{top:.1f}", str(status.get("phase") or "-"),
            str(prices or "-")]


def placement_table(bindings: Sequence[Mapping[str, Any]], now: datetime, *,
                    wide: bool = False) -> str:
    headers = ["namespace", "name", "kind", "clusters", "cost/h", "scheduled", "age"]
    if wide:
        headers += ["policy", "gpu", "top score", "phase", "prices"]
    rows = []
    for b in sorted(bindings, key=_sort_key):
        spec, status = b.get("spec") or {}, b.get("status") or {}
        res = spec.get("resource") or {}
        meta = b.get("metadata") or {}
        row = [str(meta.get("namespace", "")), str(res.get("name") or meta.get("name")),
               str(res.get("kind") or "?"), clusters_of(spec), _cost(status),
               _scheduled(status), age(meta.get("creationTimestamp"), now)]
        if wide:
            row += _wide(spec, status)
        rows.append(row)
    return render(headers, rows)


def _sort_key(b: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = b.get("metadata") or {}
    res = (b.get("spec") or {}).get("resource") or {}
    return (str(meta.get("namespace", "")), str(res.get("name") or meta.get("name")),
            str(res.get("kind", "")))


def as_list(bindings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": [dict(b) for b in sorted(bindings, key=_sort_key)]}


def context_namespace(kubeconfig: Any, context: str | None) -> str | None:
    """The namespace the kubeconfig's context (else its current context) names."""
    from federation.cli.clusters import context_field

    return context_field(kubeconfig, context, "namespace")


# ---- I/O ----------------------------------------------------------------------------------
def namespace_of(args: argparse.Namespace) -> str:
    """``-n``, else the hub context's namespace, else ``default``."""
    from federation.cli.clusters import _hub

    if args.namespace:
        return str(args.namespace)
    kubeconfig, context, _ = _hub(args)
    try:
        data = yaml.safe_load(kubeconfig.read_text())
    except (OSError, yaml.YAMLError):
        data = None
    return context_namespace(data, context) or "default"


def show(bindings: Sequence[Mapping[str, Any]], output: str, namespace: str | None,
         now: datetime) -> tuple[str, str]:
    """(stdout, stderr) of ``fedctl get placements`` for these bindings."""
    if output == "json":
        return json.dumps(as_list(bindings), indent=2) + "\n", ""
    if output == "yaml":
        return yaml.safe_dump(as_list(bindings), sort_keys=False), ""
    if not bindings:
        where = f" in {namespace} namespace" if namespace else ""
        return "", f"No resources found{where}.\n"
    return placement_table(bindings, now, wide=output == "wide") + "\n", ""


async def get_placements(source: Bindings, namespace: str | None, output: str,
                         now: datetime) -> tuple[str, str]:
    """``fedctl get placements`` against ``source``: (stdout, stderr)."""
    return show(await source.list(namespace), output, namespace, now)


def _run(args: argparse.Namespace) -> int:
    from federation.cli.clusters import _on_hub

    namespace = None if args.all_namespaces else namespace_of(args)
    out, err = _on_hub(args, lambda hub: get_placements(
        HubBindings(hub), namespace, args.output, datetime.now(UTC)))
    sys.stdout.write(out)
    sys.stderr.write(err)
    return 0
