"""The hub's HTTP endpoints: /healthz, /readyz, /metrics (Prometheus).

``/readyz`` answers "ok" (200) or "not ready" (503) on its first line; further lines are
details that do not affect readiness (``HubMetrics.readiness_details``), e.g. the kinds
an interpreter knows that the hub does not serve.

Metrics live in a registry owned by the process's ``HubMetrics`` (no global registry):
reconcile duration and outcomes, queue depth, per-member readiness, placements and
failovers, applies to members by result, leadership.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconcile_seconds = Histogram(
            "fedctl_reconcile_duration_seconds", "Time to reconcile one template",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.reconciles = Counter("fedctl_reconciles_total", "Reconciles by result",
                                  ["result"], registry=r)
        self.queue_depth = Gauge("fedctl_queue_depth", "Templates waiting to be reconciled",
                                 registry=r)
        self.cluster_ready = Gauge("fedctl_cluster_ready", "1 if the member is Ready",
                                   ["cluster"], registry=r)
        self.placements = Counter(
            "fedctl_placements_total",
            "Reconciles by outcome: scheduled, not-scheduled (no room), not-selected (no "
            "policy)", ["outcome"], registry=r)
        self.failovers = Counter("fedctl_failovers_total",
                                 "Workloads moved off a NotReady member", ["cluster"],
                                 registry=r)
        self.applies = Counter(
            "fedctl_member_applies_total",
            "Applies sent to members by result (created, updated, unchanged, conflict, "
            "error) and reason of a failure (Forbidden, SchemaRejected, KindNotInstalled, "
            "Conflict, Unreachable, ApplyFailed)", ["result", "reason"], registry=r)
        self.leader = Gauge("fedctl_leader", "1 while this process holds the hub lease",
                            registry=r)
        # what /readyz tells besides ready or not (e.g. kinds with an interpreter the hub
        # does not serve); an empty value is not shown. Never fails readiness.
        self.readiness_details: dict[str, str] = {}


def make_app(metrics: HubMetrics, *, alive: Callable[[], bool], ready: Callable[[], bool],
             refresh: Callable[[], None]) -> web.Application:
    async def healthz(_req: web.Request) -> web.Response:
        return web.Response(text="ok" if alive() else "not ok", status=200 if alive() else 500)

    async def readyz(_req: web.Request) -> web.Response:
        ok = ready()
        details = [f"{k}: {v}" for k, v in sorted(metrics.readiness_details.items()) if v]
        text = "\n".join(["ok" if ok else "not ready", *details])
        return web.Response(text=text, status=200 if ok else 503)

    async def metrics_handler(_req: web.Request) -> web.Response:
        refresh()
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
