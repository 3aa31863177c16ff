"""`fedctl clusters`: register member clusters with the hub, list them, fence them.

* ``join [-f FLEET]``: store each member's credentials and MemberCluster on the hub. Without
  ``-f`` the clusters of the running dev fleet (the fleet file it was started from).
* ``list``: the MemberClusters with live health, version, free GPUs and fence.
* ``fence NAME [--reason TEXT] [--by USER]`` / ``unfence NAME``: record (remove) an
  operator's statement that the member's workloads are known to be stopped, as
  ``federation.clusters.fencing`` describes; the hub may then start copies elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from federation.cli.table import render
from federation.clusters.fencing import (
    Fence,
    InvalidFence,
    fence_patch,
    fence_record,
    format_time,
    unfence_patch,
)
from federation.errors import FedctlError
from federation.fleet import Fleet, load_fleet_file

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

T = TypeVar("T")
NO_MEMBERS = "no member clusters registered; run fedctl clusters join -f FLEET"
FENCE_FIELD_MANAGER = "fedctl-fence"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("clusters", help="register member clusters with the hub, list and "
                                        "fence them")
    p.add_argument("--kubeconfig", type=Path, default=None,
                   help="hub kubeconfig (default: the running dev fleet's)")
    p.add_argument("--context", default=None, help="hub context (default: hub for the dev "
                                                    "fleet, else the current context)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="dev fleet state dir (default: $FEDCTL_STATE_DIR or "
                        "~/.local/state/fedctl/dev)")
    csub = p.add_subparsers(dest="clusters_command", metavar="COMMAND")
    csub.required = True
    j = csub.add_parser("join", help="store credentials and MemberCluster objects on the hub")
    j.add_argument("-f", "--file", default=None,
                   help="fleet file (default: the one the running dev fleet was started "
                        "with)")
    j.set_defaults(handler=_join)
    ls = csub.add_parser("list", help="list member clusters (live health, free GPUs, fence)")
    ls.add_argument("-o", "--output", choices=["table", "json"], default="table")
    ls.add_argument("--no-probe", action="store_true",
                    help="do not contact the members; show the status the hub controller "
                         "published")
    ls.set_defaults(handler=_list)
    fe = csub.add_parser(
        "fence", help="state that a member's workloads are known to be stopped",
        description="Record on the MemberCluster that the member's workloads are known to be "
                    "stopped (like a force-delete): the hub may then start copies of them "
                    "elsewhere. Undo with `fedctl clusters unfence NAME`.")
    fe.add_argument("name", help="member cluster name")
    fe.add_argument("--reason", default="", help="why (recorded with the fence)")
    fe.add_argument("--by", default=None,
                    help="who states it (default: the kubeconfig context's user, else $USER)")
    fe.set_defaults(handler=_fence)
    un = csub.add_parser("unfence", help="remove a member's fence record")
    un.add_argument("name", help="member cluster name")
    un.set_defaults(handler=_unfence)


# ---- the hub -------------------------------------------------------------------------------
def _state_dir(args: argparse.Namespace) -> Path:
    from federation.dev.localfleet import default_state_dir

    return Path(args.state_dir or default_state_dir())


def _hub(args: argparse.Namespace) -> tuple[Path, str | None, Path | None]:
    """(hub kubeconfig, context, dev state dir if a dev fleet is used)."""
    state_dir = _state_dir(args)
    if args.kubeconfig is not None:
        return args.kubeconfig, args.context, state_dir if state_dir.exists() else None
    kubeconfig = state_dir / "kubeconfig"
    if not kubeconfig.exists():
        raise FedctlError(f"no hub given and no dev fleet under {state_dir}",
                          hint="pass --kubeconfig (and --context), or run `fedctl dev up`")
    return kubeconfig, args.context or "hub", state_dir


def _on_hub(args: argparse.Namespace, work: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run ``work`` with a client for the hub; an unreachable hub is a one-line error."""
    import aiohttp
    from kubernetes_asyncio.client.exceptions import ApiException

    from federation.clusters.client import ClusterConnectionError, api_client

    kubeconfig, context, _ = _hub(args)

    async def run() -> T:
        hub = await api_client(kubeconfig, context)
        where = hub.configuration.host
        try:
            return await work(hub)
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
            detail = str(exc) or type(exc).__name__
            raise ClusterConnectionError(
                f"cannot reach the hub at {where}: {detail}",
                hint=f"is its API server running? (kubeconfig {kubeconfig}, context "
                     f"{context or '<current>'})") from None
        except ApiException as exc:
            if exc.status in (401, 403):
                raise ClusterConnectionError(
                    f"the hub at {where} refused the request: {exc.status} {exc.reason}",
                    hint=f"check the credentials of context {context or '<current>'} in "
                         f"{kubeconfig}") from None
            raise FedctlError(f"the hub at {where} answered {exc.status} {exc.reason}: "
                              f"{_api_message(exc)}") from None
        finally:
            await hub.close()

    return asyncio.run(run())


def _api_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message") or exc.body)
    except (TypeError, ValueError, AttributeError):
        return str(getattr(exc, "body", "") or "")


# ---- join ----------------------------------------------------------------------------------
def dev_fleet_file(state_dir: Path) -> Fleet:
    """The fleet the running dev fleet under ``state_dir`` was started with."""
    from federation.dev import procs
    from federation.dev.localfleet import STATE_FILE, LocalFleet

    fix = "pass -f FLEET, or run `fedctl dev up`"
    if not (state_dir / STATE_FILE).exists():
        raise FedctlError(f"no fleet file given and no dev fleet running under {state_dir}",
                          hint=fix)
    state = LocalFleet(state_dir).load()
    if not any(procs.alive(p) for p in state.all_procs()):
        raise FedctlError(f"no fleet file given and the dev fleet under {state_dir} is not "
                          "running", hint=fix)
    source = Path(state.source).expanduser()
    if not source.is_file():
        raise FedctlError(
            f"the dev fleet under {state_dir} was started from {state.source!r}, which is "
            f"not found from {Path.cwd()}", hint="pass -f with that fleet file")
    fleet = load_fleet_file(source)
    want = sorted(c.name for c in state.members)
    have = sorted(c.name for c in fleet.clusters)
    if want != have:
        raise FedctlError(
            f"{source} now names clusters {', '.join(have) or '(none)'} but the dev fleet "
            f"runs {', '.join(want)}", hint="pass -f with the fleet file it was started with")
    return fleet


def _join(args: argparse.Namespace) -> int:
    from federation.clusters.join import join
    from federation.dev.localfleet import STATE_FILE, LocalFleet

    fleet = load_fleet_file(args.file) if args.file else dev_fleet_file(_state_dir(args))
    _, _, state_dir = _hub(args)
    local: dict[str, Any] = {}
    if state_dir is not None and (state_dir / STATE_FILE).exists():
        # the dev fleet's stores: their endpoints and credentials go to the hub
        local = {s.endpoint.name: s.endpoint for s in LocalFleet(state_dir).load().stores}
    results = _on_hub(args, lambda hub: join(hub, fleet, state_dir, local))
    print(render(["cluster", "action", "endpoint", "credentials"],
                 [[r.name, r.action, r.endpoint, f"secret/{r.secret}"] for r in results]))
    return 0


# ---- list ----------------------------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    from federation.clusters.join import list_members
    from federation.clusters.probe import probe_member

    async def work(hub: ApiClient) -> list[dict[str, Any]]:
        members = await list_members(hub)
        if args.no_probe:
            return [{"member": m, "live": None} for m in members]
        live = await asyncio.gather(*(probe_member(hub, m) for m in members))
        return [{"member": m, "live": lv} for m, lv in zip(members, live, strict=True)]

    rows = _on_hub(args, work)
    if not rows:
        if args.output == "json":
            print("[]")
            print(NO_MEMBERS, file=sys.stderr)
        else:
            print(NO_MEMBERS)
        return 0
    if args.output == "json":
        print(json.dumps([{
            "name": r["member"]["metadata"]["name"], "spec": r["member"]["spec"],
            "fence": _fence_json(r["member"]),
            "live": r["live"].to_json() if r["live"] else None} for r in rows], indent=2))
        return 0
    table = []
    for r in rows:
        m, lv = r["member"], r["live"]
        spec = m["spec"]
        if lv is None:  # what the hub controller last published
            status = m.get("status") or {}
            cond = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"),
                        None)
            ready = cond["status"] if cond else "-"
            gpus = ", ".join(f"{g['product']} {g['allocatable'] - g['requested']}/"
                             f"{g['allocatable']}" for g in status.get("gpus") or []) or "-"
        else:
            ready = "True" if lv.ready else "False"
            gpus = "-" if not lv.ready else (", ".join(
                f"{p} {g['free']}/{g['allocatable']}" for p, g in lv.gpus.items()) or "none")
        table.append([m["metadata"]["name"], spec.get("provider", ""), spec.get("region", ""),
                      "yes" if spec.get("edge") else "no", ready,
                      "-" if lv is None else lv.version or "-", gpus, fenced_cell(m)])
    print(render(["name", "provider", "region", "edge", "ready", "version",
                  "gpus free/allocatable", "fenced"], table))
    return 0


def fenced_cell(mc: Mapping[str, Any]) -> str:
    """The FENCED column: ``yes (by X at T)``, empty, or ``invalid record``."""
    try:
        fence = fence_record(mc)
    except InvalidFence:
        return "invalid record (unfence it)"
    return f"yes (by {fence.by} at {format_time(fence.at)})" if fence else ""


def _fence_json(mc: Mapping[str, Any]) -> dict[str, str] | None:
    try:
        fence = fence_record(mc)
    except InvalidFence as exc:
        return {"invalid": exc.message}
    return fence.to_json() if fence else None


# ---- fence / unfence -----------------------------------------------------------------------
def context_field(data: Any, context: str | None, field: str) -> str | None:
    """``field`` (user, namespace, cluster) of the kubeconfig's context ``context``, else
    of its current context."""
    if not isinstance(data, Mapping):
        return None
    name = context or data.get("current-context")
    for entry in data.get("contexts") or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            value = (entry.get("context") or {}).get(field)
            return str(value) if value else None
    return None


def kubeconfig_user(data: Any, context: str | None) -> str | None:
    """The user name the kubeconfig's context (else its current context) names."""
    return context_field(data, context, "user")


def fence_user(by: str | None, kubeconfig: Path, context: str | None,
               env: Mapping[str, str]) -> str:
    """Who fences: ``--by``, else the kubeconfig context's user, else $USER."""
    if by and by.strip():
        return by.strip()
    try:
        data = yaml.safe_load(kubeconfig.read_text())
    except (OSError, yaml.YAMLError):
        data = None
    user = kubeconfig_user(data, context) or env.get("USER")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = None
    if not user:
        raise FedctlError("cannot tell who is fencing", hint="pass --by NAME")
    return user


async def _known(hub: ApiClient, name: str) -> dict[str, Any]:
    from federation.clusters.join import get_member, list_members

    mc = await get_member(hub, name)
    if mc is not None:
        return mc
    names = [m["metadata"]["name"] for m in await list_members(hub)]
    if not names:
        raise FedctlError(f"no member cluster named {name!r}: {NO_MEMBERS}")
    raise FedctlError(f"no member cluster named {name!r}", hint="known: " + ", ".join(names))


async def fence_cluster(hub: ApiClient, name: str, by: str, reason: str,
                        now: datetime | None = None) -> Fence:
    """Record the operator's fence on MemberCluster ``name``; the new record.

    Refuses an unknown cluster (naming the known ones) and one already fenced (naming who
    fenced it); the patch carries the resourceVersion read, so a concurrent fence fails.
    """
    from kubernetes_asyncio.client.exceptions import ApiException

    from federation.clusters.join import merge_patch_member

    mc = await _known(hub, name)
    current = fence_record(mc)
    if current is not None:
        raise FedctlError(f"{name} is already fenced {current.describe()}",
                          hint=f"run `fedctl clusters unfence {name}` first to record a new "
                               "fence")
    at = now or datetime.now(UTC)
    patch = fence_patch(by, at, reason, resource_version=mc["metadata"]["resourceVersion"])
    try:
        updated = await merge_patch_member(hub, name, patch, field_manager=FENCE_FIELD_MANAGER)
    except ApiException as exc:
        if exc.status == 409:
            raise FedctlError(f"MemberCluster {name} changed while fencing it",
                              hint="run the command again") from None
        raise
    fence = fence_record(updated)
    assert fence is not None  # the patch just wrote it
    return fence


async def unfence_cluster(hub: ApiClient, name: str) -> tuple[bool, Fence | None]:
    """Remove the fence record from MemberCluster ``name``: (whether there was one to
    remove, the fence it held). A damaged record is removed too (readers report it as
    ``InvalidFence``, never as a fence): (True, None)."""
    from federation.clusters.fencing import ANNOTATIONS
    from federation.clusters.join import merge_patch_member

    mc = await _known(hub, name)
    try:
        current = fence_record(mc)
    except InvalidFence:
        current = None
    annotations = mc["metadata"].get("annotations") or {}
    if not any(k in annotations for k in ANNOTATIONS):
        return False, None
    await merge_patch_member(hub, name, unfence_patch(), field_manager=FENCE_FIELD_MANAGER)
    return True, current


def _fence(args: argparse.Namespace) -> int:
    kubeconfig, context, _ = _hub(args)
    by = fence_user(args.by, kubeconfig, context, os.environ)
    fence = _on_hub(args, lambda hub: fence_cluster(hub, args.name, by, args.reason))
    print(f"{args.name} fenced {fence.describe()}; the hub may start its workloads on other "
          f"clusters (undo: fedctl clusters unfence {args.name})")
    return 0


def _unfence(args: argparse.Namespace) -> int:
    removed, was = _on_hub(args, lambda hub: unfence_cluster(hub, args.name))
    if not removed:
        print(f"{args.name} is not fenced")
    elif was is None:
        print(f"{args.name}: damaged fence record removed")
    else:
        print(f"{args.name} unfenced (was fenced {was.describe()})")
    return 0
