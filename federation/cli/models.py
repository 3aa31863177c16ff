"""`fedctl models`: model subscriptions on the hub and where each version is staged.

    fedctl models list [-n NS | -A] [-o wide|json|yaml]
    fedctl models get NAME [-n NS] [-o json|yaml]
    fedctl models stage NAME --version V [-n NS] [--wait] [--timeout SECONDS]

``list`` prints one row per ModelSubscription: its model and channel, the version the
channel points at (desired), the version the workloads serve (switched), how many of its
clusters hold the desired version verified, and its Ready condition. ``get`` adds the
per-cluster staging state: store, variant, version, state with bytes copied, the version
served there and the cluster-local mirror URI. ``stage`` pins the subscription to a version
(``spec.version``) without the registry: the hub stages it in every subscribed cluster's
store and switches the workloads once all are verified; ``--wait`` follows the progress and
exits 0 once the version is switched, 1 when a cluster failed or the timeout passed.
``-o json|yaml`` prints the objects as kubectl does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from federation.cli.get import add_hub_args, age, namespace_of
from federation.cli.table import render
from federation.errors import FedctlError, InputError
from policies.models import GROUP, VERSION

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

PLURAL = "modelsubscriptions"


class Subscriptions(Protocol):
    """ModelSubscriptions on the hub."""

    async def list(self, namespace: str | None) -> list[dict[str, Any]]: ...
    async def get(self, namespace: str, name: str) -> dict[str, Any]: ...
    async def pin(self, namespace: str, name: str, version: str) -> dict[str, Any]: ...


class HubSubscriptions:
    def __init__(self, hub: ApiClient) -> None:
        self.hub = hub

    def _api(self) -> Any:
        from kubernetes_asyncio import client as k8s

        return k8s.CustomObjectsApi(self.hub)

    async def _call(self, what: str, fn: Callable[[], Any]) -> dict[str, Any]:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            return dict(await fn())
        except ApiException as exc:
            if exc.status == 404 and what == "list":
                raise FedctlError(f"the hub serves no {PLURAL}.{GROUP}",
                                  hint="is this the hub's kubeconfig? `fedctl hub run` "
                                       "installs the CRD when it starts") from None
            if exc.status == 404:
                raise FedctlError(f"modelsubscription {what} not found",
                                  hint="`fedctl models list -A` lists them") from None
            raise

    async def list(self, namespace: str | None) -> list[dict[str, Any]]:
        api = self._api()
        if namespace is None:
            body = await self._call("list", lambda: api.list_cluster_custom_object(
                GROUP, VERSION, PLURAL))
        else:
            body = await self._call("list", lambda: api.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL))
        return list(body.get("items") or [])

    async def get(self, namespace: str, name: str) -> dict[str, Any]:
        api = self._api()
        return await self._call(f"{namespace}/{name}", lambda: api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name))

    async def pin(self, namespace: str, name: str, version: str) -> dict[str, Any]:
        api = self._api()
        return await self._call(f"{namespace}/{name}", lambda: api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": {"version": version}},
            _content_type="application/merge-patch+json"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="model subscriptions: versions staged per cluster",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    ls = verbs.add_parser("list", help="one row per ModelSubscription")
    ls.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    ls.add_argument("-o", "--output", choices=("table", "wide", "json", "yaml"),
                    default="table")
    ls.set_defaults(handler=_list)
    get = verbs.add_parser("get", help="one subscription with its per-cluster staging")
    get.add_argument("name")
    get.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    get.set_defaults(handler=_get)
    st = verbs.add_parser("stage", help="stage (and then switch to) a version by hand")
    st.add_argument("name")
    st.add_argument("--version", required=True, help="the model version to stage, e.g. 3")
    st.add_argument("--wait", action="store_true", help="follow progress until switched")
    st.add_argument("--timeout", type=float, default=600.0,
                    help="seconds --wait waits (default 600)")
    st.set_defaults(handler=_stage)
    for q in (ls, get, st):
        q.add_argument("-n", "--namespace", default=None,
                       help="namespace (default: the context's namespace, else default)")
        add_hub_args(q)


# ---- pure ---------------------------------------------------------------------------------
def _cond(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions") or []
                 if isinstance(c, Mapping) and c.get("type") == kind), None)


def clusters_of(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in status.get("clusters") or [] if isinstance(c, Mapping)]


def staged(status: Mapping[str, Any]) -> str:
    """"verified/total" clusters holding the desired version."""
    entries = clusters_of(status)
    desired = status.get("desiredVersion")
    done = sum(1 for c in entries if c.get("state") == "Verified"
               and c.get("version") == desired)
    return f"{done}/{len(entries)}"


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def progress(entry: Mapping[str, Any]) -> str:
    state = str(entry.get("state") or "Pending")
    done, total = int(entry.get("bytesDone") or 0), int(entry.get("bytesTotal") or 0)
    if state == "Copying" and total:
        return f"Copying {human_bytes(done)}/{human_bytes(total)} ({100 * done // total}%)"
    if state == "Failed":
        return f"Failed: {entry.get('reason') or 'Error'}"
    return state


def list_table(subs: Sequence[Mapping[str, Any]], now: datetime, *, wide: bool = False) -> str:
    headers = ["namespace", "name", "model", "channel", "desired", "switched", "staged",
               "ready", "age"]
    if wide:
        headers += ["source", "last good", "reason"]
    rows = []
    for s in sorted(subs, key=_key):
        meta, spec, status = s.get("metadata") or {}, s.get("spec") or {}, s.get("status") or {}
        ready = _cond(status, "Ready")
        channel = f"={spec['version']}" if spec.get("version") else spec.get("channel", "-")
        row = [meta.get("namespace", ""), meta.get("name", ""), spec.get("model", "-"), channel,
               status.get("desiredVersion") or "-", status.get("switchedVersion") or "-",
               staged(status), (ready or {}).get("status", "Unknown"),
               age(meta.get("creationTimestamp"), now)]
        if wide:
            row += [spec.get("source", "-"), status.get("lastGoodVersion") or "-",
                    (ready or {}).get("reason") or "-"]
        rows.append([str(c) for c in row])
    return render(headers, rows)


def describe(sub: Mapping[str, Any]) -> str:
    """``fedctl models get``: the subscription, its conditions and a row per cluster."""
    meta, spec, status = sub.get("metadata") or {}, sub.get("spec") or {}, sub.get("status") or {}
    pinned = f" (pinned to version {spec['version']})" if spec.get("version") else ""
    lines = [
        f"Name:          {meta.get('name', '')}",
        f"Namespace:     {meta.get('namespace', '')}",
        f"Model:         {spec.get('model', '-')} (source {spec.get('source', '-')}, "
        f"channel {spec.get('channel', '-')}){pinned}",
        f"Desired:       {status.get('desiredVersion') or '-'}",
        f"Switched:      {status.get('switchedVersion') or '-'}"
        f"   (last good: {status.get('lastGoodVersion') or '-'})",
        "Conditions:",
    ]
    for c in status.get("conditions") or []:
        if isinstance(c, Mapping):
            msg = f": {c['message']}" if c.get("message") else ""
            lines.append(f"  {c.get('type')}={c.get('status')} "
                         f"({c.get('reason') or '-'}){msg}")
    rows = []
    for c in sorted(clusters_of(status), key=lambda e: str(e.get("cluster"))):
        rows.append([str(c.get("cluster", "")), str(c.get("store") or "-"),
                     str(c.get("variant") or "-"), str(c.get("version") or "-"), progress(c),
                     str(c.get("servingVersion") or "-"), str(c.get("uri") or "-")])
    lines.append("")
    lines.append(render(["cluster", "store", "variant", "version", "state", "serving", "uri"],
                        rows) if rows else "No clusters selected.")
    for c in clusters_of(status):
        if c.get("state") == "Failed" and c.get("message"):
            lines.append(f"  {c.get('cluster')}: {c.get('message')}")
    return "\n".join(lines) + "\n"


def as_list(subs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": [dict(s) for s in sorted(subs, key=_key)]}


def dump(obj: Any, output: str) -> str:
    return json.dumps(obj, indent=2) + "\n" if output == "json" \
        else yaml.safe_dump(obj, sort_keys=False)


def stage_outcome(sub: Mapping[str, Any], version: str) -> str | None:
    """None while ``version`` is being staged; "switched" once the workloads serve it;
    "failed: …" when a cluster's staging failed."""
    status = sub.get("status") or {}
    if status.get("switchedVersion") == version:
        return "switched"
    failed = [c for c in clusters_of(status)
              if c.get("version") == version and c.get("state") == "Failed"]
    if failed:
        return "failed: " + "; ".join(
            f"{c.get('cluster')}: {c.get('reason') or 'Error'} {c.get('message') or ''}".strip()
            for c in failed)
    return None


def _key(s: Mapping[str, Any]) -> tuple[str, str]:
    meta = s.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


# ---- I/O ----------------------------------------------------------------------------------
async def wait_staged(source: Subscriptions, namespace: str, name: str, version: str,
                      timeout: float, out: Callable[[str], None],
                      interval: float = 1.0) -> int:
    """Follow ``fedctl models stage --wait``: a line per change of a cluster's progress;
    0 once switched, 1 on a failed cluster or the timeout."""
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    while True:
        sub = await source.get(namespace, name)
        for c in clusters_of(sub.get("status") or {}):
            if c.get("version") != version:
                continue
            line = progress(c)
            if shown.get(str(c.get("cluster"))) != line:
                shown[str(c.get("cluster"))] = line
                out(f"{c.get('cluster')}: {line}\n")
        outcome = stage_outcome(sub, version)
        if outcome == "switched":
            out(f"modelsubscription {namespace}/{name} switched to version {version}\n")
            return 0
        if outcome is not None:
            out(f"modelsubscription {namespace}/{name}: {outcome}\n")
            return 1
        if time.monotonic() >= deadline:
            out(f"timed out after {timeout:.0f}s waiting for version {version}\n")
            return 1
        await asyncio.sleep(interval)


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _list(args: argparse.Namespace) -> int:
    from federation.cli.clusters import _on_hub

    namespace = None if args.all_namespaces else namespace_of(args)
    subs = _on_hub(args, lambda hub: HubSubscriptions(hub).list(namespace))
    if args.output in ("json", "yaml"):
        sys.stdout.write(dump(as_list(subs), args.output))
    elif not subs:
        where = f" in {namespace} namespace" if namespace else ""
        sys.stderr.write(f"No resources found{where}.\n")
    else:
        sys.stdout.write(list_table(subs, datetime.now(UTC), wide=args.output == "wide") + "\n")
    return 0


def _get(args: argparse.Namespace) -> int:
    from federation.cli.clusters import _on_hub

    namespace = namespace_of(args)
    sub = _on_hub(args, lambda hub: HubSubscriptions(hub).get(namespace, args.name))
    sys.stdout.write(dump(sub, args.output) if args.output in ("json", "yaml")
                     else describe(sub))
    return 0


def _stage(args: argparse.Namespace) -> int:
    from federation.cli.clusters import _on_hub

    version = str(args.version).strip()
    if not version or "/" in version:
        raise InputError(f"invalid --version {args.version!r}",
                         hint="a registry version such as 3")
    namespace = namespace_of(args)

    async def run(hub: ApiClient) -> int:
        subs = HubSubscriptions(hub)
        await subs.pin(namespace, args.name, version)
        print(f"modelsubscription {namespace}/{args.name} pinned to version {version}")
        if not args.wait:
            return 0
        return await wait_staged(subs, namespace, args.name, version, args.timeout, _echo)

    return _on_hub(args, run)
