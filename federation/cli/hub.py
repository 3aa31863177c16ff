"""`fedctl hub run`: the hub controller."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from federation.errors import InputError

if TYPE_CHECKING:
    from federation.hub.prices import PriceConfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("hub", help="run the hub controller")
    hsub = p.add_subparsers(dest="hub_command", metavar="COMMAND")
    hsub.required = True
    run = hsub.add_parser("run", help="place, apply, aggregate and fail over (until stopped)")
    run.add_argument("--kubeconfig", type=Path, default=None,
                     help="hub kubeconfig (default: the running dev fleet's)")
    run.add_argument("--context", default=None, help="hub context (dev fleet: hub)")
    run.add_argument("--state-dir", type=Path, default=None, help="dev fleet state dir")
    run.add_argument("--cache-dir", type=Path, default=None,
                     help="discovery caches (default: <state-dir>/hub-cache)")
    run.add_argument("--workers", type=int, default=16,
                     help="parallel reconciles (default 16: a reconcile mostly waits on "
                     "API calls)")
    run.add_argument("--eviction-rate", type=float, default=100.0,
                     help="workloads moved off failed clusters per second (0: unlimited; "
                     "default 100)")
    run.add_argument("--resync-seconds", type=float, default=300.0,
                     help="full resync period: a safety net, everything is watched "
                          "(default 300)")
    run.add_argument("--interpreter", type=Path, action="append", default=[],
                     help="WorkloadInterpreter YAML for kinds without built-in support")
    run.add_argument("--prices", type=Path, default=None,
                     help="GPU price catalog CSV, read once (default: the prices ConfigMap, "
                          "else the shipped sample)")
    run.add_argument("--egress", type=Path, default=None,
                     help="egress matrix CSV, read once (default: the prices ConfigMap, else "
                          "the shipped sample)")
    run.add_argument("--prices-configmap", default="fedctl-system/fedctl-prices",
                     metavar="NAMESPACE/NAME",
                     help="ConfigMap on the hub watched for keys prices.csv and egress.csv "
                          "(default fedctl-system/fedctl-prices; '' disables)")
    run.add_argument("--http-host", default="127.0.0.1", help="address for /healthz, "
                                                              "/readyz, /metrics")
    run.add_argument("--http-port", type=int, default=8080, help="0 picks a free port; "
                                                                 "-1 disables HTTP")
    run.add_argument("--no-leader-elect", action="store_true",
                     help="run without the hub Lease (only one hub process may run)")
    run.add_argument("--identity", default=None, help="leader-election identity")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from federation.dev.localfleet import default_state_dir
    from federation.hub.controller import HubConfig
    from federation.hub.prices import load_prices
    from federation.hub.process import HubProcess, ProcessConfig
    from federation.interpreters.spec import load_interpreters
    from federation.tuning import tune_process_gc

    tune_process_gc()

    state_dir = args.state_dir or default_state_dir()
    kubeconfig = args.kubeconfig or state_dir / "kubeconfig"
    context = args.context or (None if args.kubeconfig else "hub")
    specs = tuple(s for f in args.interpreter for s in load_interpreters(f))
    prices = price_config(args.prices, args.egress, args.prices_configmap)
    load_prices(prices)  # a bad file fails here, with its line, before the hub starts
    config = HubConfig(kubeconfig=kubeconfig, context=context,
                       cache_dir=args.cache_dir or state_dir / "hub-cache",
                       workers=args.workers, eviction_rate=args.eviction_rate,
                       resync_seconds=args.resync_seconds, interpreters=specs,
                       prices=prices)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        port = None if args.http_port < 0 else args.http_port
        await HubProcess(ProcessConfig(hub=config, http_host=args.http_host, http_port=port,
                                       leader_elect=not args.no_leader_elect,
                                       identity=args.identity)).run(stop)

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())
    return 0


def price_config(prices: Path | None, egress: Path | None, configmap: str) -> PriceConfig:
    """``--prices``, ``--egress`` and ``--prices-configmap NAMESPACE/NAME`` ('' disables
    the watch) as a ``PriceConfig``."""
    from federation.hub.prices import PriceConfig

    if not configmap:
        return PriceConfig(prices, egress, configmap="")
    namespace, sep, name = configmap.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise InputError(f"invalid --prices-configmap {configmap!r}",
                         hint="use NAMESPACE/NAME, e.g. fedctl-system/fedctl-prices, or '' "
                              "to watch none")
    return PriceConfig(prices, egress, configmap=name, namespace=namespace)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (a dependency on Linux and macOS), else
    asyncio's own. The hub's loop is busy with TLS sockets to every cluster: uvloop's
    transports are in C (numbers in docs/benchmarks.md)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
