"""`fedctl dev`: build the binaries and run the local fleet (real control planes)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from federation.cli.table import render
from federation.dev import build as devbuild
from federation.errors import FleetError, InputError
from federation.fleet import load_fleet_file

if TYPE_CHECKING:
    from federation.dev.localfleet import LocalFleet

# The fleet and status modules pull in kubernetes_asyncio (~0.4 s to import); they are
# imported in the handlers that use them so `fedctl --help` and other groups stay fast.

DEFAULT_FLEET = "clusters.example.yaml"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = sub.add_parser("dev", help="run a local fleet of real control planes")
    dev.add_argument("--state-dir", type=Path, default=None,
                     help="where the fleet keeps its state (default: $FEDCTL_STATE_DIR or "
                          "~/.local/state/fedctl/dev)")
    dsub = dev.add_subparsers(dest="dev_command", metavar="COMMAND")
    dsub.required = True

    b = dsub.add_parser("build", help="build kube-apiserver, kube-controller-manager, "
                                      "kube-scheduler, kubectl, etcd, kwok and MinIO")
    b.add_argument("components", nargs="*", metavar="COMPONENT",
                   help=f"components to build: {', '.join(devbuild.COMPONENTS)} (default: all)")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    b.set_defaults(handler=_build)

    up = dsub.add_parser("up", help="start the hub, the member clusters and object stores")
    up.add_argument("-f", "--file", default=DEFAULT_FLEET, help="fleet file")
    up.add_argument("--runtime", choices=["binary", "kind"], default="binary",
                    help="binary: local processes (default); kind: Docker containers")
    up.add_argument("--no-operators", action="store_true",
                    help="do not run the operator simulator on members (AI custom resources "
                         "then stay without pods and status)")
    up.set_defaults(handler=_up)

    demo = dsub.add_parser("demo", help="fleet up, members joined, hub running, example "
                                        "policies and workloads applied: where each landed")
    demo.add_argument("-f", "--file", default=DEFAULT_FLEET, help="fleet file")
    demo.set_defaults(handler=_demo)

    st = dsub.add_parser("status", help="show the fleet's clusters and stores")
    st.add_argument("-o", "--output", choices=["table", "json"], default="table")
    st.set_defaults(handler=_status)

    down = dsub.add_parser("down", help="stop every process of the fleet")
    down.add_argument("--keep-state", action="store_true", help="keep state and data")
    down.set_defaults(handler=_down)

    env = dsub.add_parser("env", help="print shell exports for the fleet (KUBECONFIG, stores)")
    env.set_defaults(handler=_env)

    fault = dsub.add_parser("fault", help="inject a fault into the fleet")
    fault.add_argument("action", choices=["pause", "resume", "kill", "restart"],
                       help="pause=SIGSTOP, resume=SIGCONT, kill=SIGKILL, restart=start again")
    fault.add_argument("target", help="cluster name (its apiserver), <member>/operators "
                                      "(its operator simulator) or store/<name>")
    fault.set_defaults(handler=_fault)


def _fleet(args: argparse.Namespace) -> LocalFleet:
    from federation.dev.localfleet import LocalFleet

    return LocalFleet(args.state_dir)


def _build(args: argparse.Namespace) -> int:
    names = args.components or list(devbuild.COMPONENTS)
    unknown = [n for n in names if n not in devbuild.COMPONENTS]
    if unknown:
        raise InputError(f"unknown component(s): {', '.join(unknown)}",
                         hint=f"choose from {', '.join(devbuild.COMPONENTS)}")
    started = time.monotonic()
    spent = devbuild.build(names, force=args.force)
    for name in names:
        comp = devbuild.COMPONENTS[name]
        how = f"built in {spent[name]}s" if name in spent else "cached"
        print(f"{comp.name} {comp.version}: {how} -> {devbuild.component_dir(comp)}")
    print(f"done in {time.monotonic() - started:.1f}s")
    return 0


def _up(args: argparse.Namespace) -> int:
    from federation.dev.localfleet import LocalFleet

    fleet = load_fleet_file(args.file)
    lf = LocalFleet(args.state_dir, runtime=args.runtime, operators=not args.no_operators)
    started = time.monotonic()
    state = asyncio.run(lf.up(fleet))
    print(f"fleet {state.name!r} up in {time.monotonic() - started:.1f}s "
          f"(hub + {len(state.members)} members, {len(state.stores)} object stores)")
    print(f"export KUBECONFIG={state.kubeconfig}")
    print()
    return _print_status(lf, "table")


def _demo(args: argparse.Namespace) -> int:
    from federation.cli.models import describe
    from federation.dev.demo import run_demo
    from federation.dev.demo_model import POLL_SECONDS

    fleet = load_fleet_file(args.file)
    started = time.monotonic()
    result = asyncio.run(run_demo(fleet, args.state_dir))
    landings = result.landings
    lf = _fleet(args)
    _print_status(lf, "table")
    print()
    print(render(["workload", "clusters (replicas)", "phase", "why"],
                 [[x.workload, x.clusters, x.phase, x.why[:110]] for x in landings]))
    print(f"\nModel distribution (the in-process hub serves no registry webhook, so the "
          f"ModelSource polls MLflow every {POLL_SECONDS} s):")
    for step in result.models:
        print(f"\n== {step.title}")
        print(describe(step.subscription) if step.subscription
              else "(the hub wrote no subscription status)\n", end="")
        if not step.switched:
            print(f"!! version {step.version} was not switched in time")
    print(f"\ndone in {time.monotonic() - started:.0f}s; the fleet keeps running "
          f"(KUBECONFIG={lf.load().kubeconfig}); `fedctl hub run` resumes the controller, "
          "`fedctl models get fraud -n ml` shows the model, `fedctl dev down` stops everything")
    ok = all(x.clusters != "-" for x in landings) and len(result.models) == 2 \
        and all(m.switched for m in result.models)
    return 0 if ok else 1


def _status(args: argparse.Namespace) -> int:
    return _print_status(_fleet(args), args.output)


def _print_status(lf: LocalFleet, output: str) -> int:
    from federation.dev.status import fleet_status, registry_status

    state = lf.load()
    clusters, stores = asyncio.run(fleet_status(state))
    reg = asyncio.run(registry_status(state))
    if output == "json":
        print(json.dumps({
            "name": state.name, "kubeconfig": state.kubeconfig,
            "clusters": [{
                "name": c.name, "role": c.role, "server": c.server, "state": c.state,
                "processes": c.processes, "nodesReady": c.nodes_ready,
                "nodesTotal": c.nodes_total, "gpusTotal": dict(c.gpus_total),
                "gpusFree": c.gpu_free(), "podsRunning": c.pods_running, "error": c.error,
            } for c in clusters],
            "stores": [s.__dict__ for s in stores],
            "registry": reg.__dict__ if reg else None,
        }, indent=2))
        return 0
    rows = []
    for c in clusters:
        gpus = ", ".join(f"{p} {free}/{c.gpus_total[p]}" for p, free in c.gpu_free().items())
        rows.append([c.name, c.role, c.state, c.server,
                     f"{c.nodes_ready}/{c.nodes_total}" if c.role == "member" else "-",
                     c.pods_running if c.role == "member" else "-", gpus or "-",
                     _processes(c.processes)])
    print(render(["cluster", "role", "status", "api server", "nodes", "pods",
                  "gpus free/total", "processes"], rows))
    if stores:
        print()
        print(render(["store", "provider", "region", "status", "endpoint", "bucket"],
                     [[s.name, s.provider, s.region, s.state, s.endpoint, s.bucket or "-"]
                      for s in stores]))
    if reg:
        print()
        print(render(["registry", "status", "url", "artifacts"],
                     [[reg.type, reg.state, reg.url, reg.artifacts]]))
    bad = [c.name for c in clusters if c.state != "Ready"]
    return 1 if bad else 0


def _processes(states: dict[str, str]) -> str:
    """``6/6 running`` or ``5/6 running; operators exited``."""
    up = sum(1 for st in states.values() if st == "running")
    text = f"{up}/{len(states)} running" if states else "-"
    other = [f"{name} {st}" for name, st in states.items() if st != "running"]
    return f"{text}; {', '.join(other)}" if other else text


def _down(args: argparse.Namespace) -> int:
    lf = _fleet(args)
    if not lf.exists():
        print("no local fleet is running")
        return 0
    left = lf.down(purge=not args.keep_state)
    if left:
        raise FleetError(f"processes still alive after stop: {', '.join(left)}")
    print("fleet stopped; no process left")
    return 0


def _env(args: argparse.Namespace) -> int:
    state = _fleet(args).load()
    print(f"export KUBECONFIG={state.kubeconfig}")
    kubectl_dir = devbuild.component_dir(devbuild.COMPONENTS["kubernetes"])
    print(f'export PATH="{kubectl_dir}:$PATH"  # the kubectl built with the fleet')
    for s in state.stores:
        ep = s.endpoint
        key = ep.name.upper().replace("-", "_")
        if ep.endpoint:
            print(f"export FEDCTL_STORE_{key}_ENDPOINT={ep.endpoint}")
    if state.registry:
        print(f"export MLFLOW_TRACKING_URI={state.registry.url}")
    return 0


def _fault(args: argparse.Namespace) -> int:
    lf = _fleet(args)
    target: str = args.target
    if target.startswith("store/"):
        name = target.split("/", 1)[1]
        if args.action == "pause":
            lf.pause_store(name)
        elif args.action == "resume":
            lf.resume_store(name)
        elif args.action == "kill":
            lf.stop_store(name)
        else:
            asyncio.run(lf.start_store(name))
    elif target.endswith("/operators"):
        from federation.dev import procs

        member = target.rsplit("/", 1)[0]
        if args.action == "restart":
            lf.restart_operators(member)
        else:
            {"pause": procs.pause, "resume": procs.resume, "kill": procs.kill}[args.action](
                lf.operators(member))
    elif args.action == "pause":
        lf.pause_apiserver(target)
    elif args.action == "resume":
        lf.resume_apiserver(target)
    elif args.action == "kill":
        lf.kill_apiserver(target)
    else:
        asyncio.run(lf.restart_apiserver(target))
    print(f"{args.action}: {target}", file=sys.stderr)
    return 0
