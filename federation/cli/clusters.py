"""`fedctl clusters`: register member clusters with the hub and list them."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from federation.cli.table import render
from federation.fleet import load_fleet_file


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("clusters", help="register member clusters with the hub and list them")
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
    j.add_argument("-f", "--file", default="clusters.example.yaml", help="fleet file")
    j.set_defaults(handler=_join)
    ls = csub.add_parser("list", help="list member clusters (live health and free GPUs)")
    ls.add_argument("-o", "--output", choices=["table", "json"], default="table")
    ls.add_argument("--no-probe", action="store_true",
                    help="do not contact the members; show the status the hub controller "
                         "published")
    ls.set_defaults(handler=_list)


def _hub(args: argparse.Namespace) -> tuple[Path, str | None, Path | None]:
    """(hub kubeconfig, context, dev state dir if a dev fleet is used)."""
    from federation.dev.localfleet import default_state_dir

    state_dir = args.state_dir or default_state_dir()
    if args.kubeconfig is not None:
        return args.kubeconfig, args.context, state_dir if state_dir.exists() else None
    return state_dir / "kubeconfig", args.context or "hub", state_dir


def _join(args: argparse.Namespace) -> int:
    from federation.clusters.client import api_client
    from federation.clusters.join import join

    fleet = load_fleet_file(args.file)
    kubeconfig, context, state_dir = _hub(args)

    async def run() -> list[Any]:
        hub = await api_client(kubeconfig, context)
        try:
            return await join(hub, fleet, state_dir)
        finally:
            await hub.close()

    results = asyncio.run(run())
    print(render(["cluster", "action", "endpoint", "credentials"],
                 [[r.name, r.action, r.endpoint, f"secret/{r.secret}"] for r in results]))
    return 0


def _list(args: argparse.Namespace) -> int:
    from federation.clusters.client import api_client
    from federation.clusters.join import list_members
    from federation.clusters.probe import probe_member

    kubeconfig, context, _ = _hub(args)

    async def run() -> list[dict[str, Any]]:
        hub = await api_client(kubeconfig, context)
        try:
            members = await list_members(hub)
            if args.no_probe:
                return [{"member": m, "live": None} for m in members]
            live = await asyncio.gather(*(probe_member(hub, m) for m in members))
            return [{"member": m, "live": lv} for m, lv in zip(members, live, strict=True)]
        finally:
            await hub.close()

    rows = asyncio.run(run())
    if args.output == "json":
        print(json.dumps([{
            "name": r["member"]["metadata"]["name"], "spec": r["member"]["spec"],
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
                      "-" if lv is None else lv.version or "-", gpus])
    print(render(["name", "provider", "region", "edge", "ready", "version",
                  "gpus free/allocatable"], table))
    return 0
