"""Operator simulator: what the AI operators would do, for one member of the local fleet.

The local fleet installs the AI workload CRDs (``federation.dev.crds``) but runs no
operator. This process stands in for them on one member: it lists and watches every AI kind
the member serves plus the children operators create (Pods, Services, Deployments, batch
Jobs, and RayClusters/JobSets that other custom resources own), and for each custom
resource creates the children its operator would create and writes the status it would
write (the per-operator logic is pure, in ``federation.dev.opsim``). kube-scheduler places
the pods on the fake GPU nodes, kwok runs them, kube-controller-manager's garbage
collector removes the children when the custom resource goes.

    python -m federation.dev.operators --kubeconfig K --context C

``LocalFleet.up()`` starts one per member (process ``operators`` in ``state.json``).
Restarts converge: children have stable names, existing ones are left alone, and status
is written only when it differs (merge patch of the status subresource).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.catalog.kinds import WorkloadKind
from federation.clusters.client import api_client
from federation.clusters.watch import ObjectCache, Reflector, object_key
from federation.dev.opsim.common import (
    DEPLOYMENT,
    JOB,
    POD,
    SERVICE,
    Context,
    Obj,
    Observed,
    Plan,
    merge_patch,
    meta,
    terminating,
)
from federation.dev.opsim.index import OwnerIndex
from federation.dev.opsim.kube import Rejected, Writer, served_kinds
from federation.dev.opsim.registry import OPERATORS
from federation.hub.queue import WorkQueue
from federation.interpreters.interpreter import Interpreters

log = logging.getLogger("federation.dev.operators")

Key = tuple[str, str, str]  # (kind key, namespace, name)
BUILTIN_CHILDREN = {POD: ("v1", "Pod"), SERVICE: ("v1", "Service"),
                    DEPLOYMENT: ("apps/v1", "Deployment"), JOB: ("batch/v1", "Job")}


@dataclass(frozen=True, slots=True)
class Written:
    """The last status written for a key and the resourceVersions it supersedes."""

    stale: frozenset[Any]
    mine: Any  # resourceVersion our write produced
    status: Obj


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OperatorSimulator:
    """Reconciles every AI custom resource of one cluster until cancelled."""

    def __init__(self, api: k8s.ApiClient, *, workers: int = 4, resync: float = 30.0,
                 rediscover: float = 30.0, request_timeout: float = 10.0,
                 reconcile_timeout: float = 60.0, interpreters: Interpreters | None = None,
                 clock: Callable[[], str] = utc_now) -> None:
        self.api = api
        self.workers = workers
        self.resync = resync
        self.rediscover = rediscover
        self.request_timeout = request_timeout
        self.reconcile_timeout = reconcile_timeout
        self.interpreters = interpreters or Interpreters()
        self.clock = clock
        self.writer = Writer(api, request_timeout)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.index = OwnerIndex()
        self.stores: dict[str, ObjectCache] = {}  # every watched kind
        self.kinds: dict[str, WorkloadKind] = {}  # custom kinds served (and watched)
        self.ready = asyncio.Event()  # caches synced, workers started
        self._failures: dict[Key, int] = {}
        self._written: dict[Key, Written] = {}
        self._tg: asyncio.TaskGroup | None = None

    # ---- watching ----------------------------------------------------------------------
    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                core, apps = k8s.CoreV1Api(self.api), k8s.AppsV1Api(self.api)
                batch = k8s.BatchV1Api(self.api)
                self._watch(POD, core.list_pod_for_all_namespaces)
                self._watch(SERVICE, core.list_service_for_all_namespaces)
                self._watch(DEPLOYMENT, apps.list_deployment_for_all_namespaces)
                self._watch(JOB, batch.list_job_for_all_namespaces)
                await self._discover_until_done()
                await asyncio.gather(*(r.synced.wait() for r in list(self.stores.values())))
                for i in range(self.workers):
                    tg.create_task(self._worker(), name=f"operators/worker-{i}")
                tg.create_task(self._every(self.resync, self._resync), name="operators/resync")
                tg.create_task(self._every(self.rediscover, self._discover),
                               name="operators/discover")
                self.ready.set()
                log.info("simulating operators for %s", ", ".join(sorted(self.kinds)) or
                         "no AI kinds (none installed yet)")
        finally:
            self.queue.close()

    def _watch(self, kind: str, call: Callable[..., Awaitable[Any]],
               kwargs: dict[str, Any] | None = None) -> None:
        assert self._tg is not None
        refl = Reflector(f"operators/{kind}", call, on_change=self.handler(kind),
                         list_kwargs=kwargs, request_timeout=self.request_timeout * 3)
        self.stores[kind] = refl
        self._tg.create_task(refl.run(), name=f"operators/watch/{kind}")

    def handler(self, kind: str) -> Callable[[str, dict[str, Any]], None]:
        """The watch callback for ``kind``: index owners, queue the custom resources."""

        def changed(event: str, obj: dict[str, Any]) -> None:
            key = object_key(obj)
            owner = self.index.update(kind, key, event, obj)
            if kind in OPERATORS and kind in self.kinds:
                ns, _, name = key.partition("/")
                self.queue.add((kind, ns, name))
            if owner is not None and owner.kind in OPERATORS:
                self.queue.add((owner.kind, owner.namespace, owner.name))
        return changed

    async def _discover(self) -> None:
        served = await served_kinds(self.api, self.request_timeout)
        custom = k8s.CustomObjectsApi(self.api)
        for key, wk in sorted(served.items()):
            if key in self.kinds:
                continue
            self.kinds[key] = wk
            self._watch(key, custom.list_cluster_custom_object,
                        {"group": wk.group, "version": wk.version, "plural": wk.plural})
            if self.ready.is_set():
                log.info("now simulating %s", key)

    async def _discover_until_done(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._discover()
                return
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                log.warning("discovery failed (%s: %s); retrying in %.1fs",
                            type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _every(self, period: float, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await step()
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                log.warning("%s failed: %s: %s", getattr(step, "__name__", step),
                            type(exc).__name__, exc)

    async def _resync(self) -> None:
        for kind in list(self.kinds):
            if kind not in OPERATORS:
                continue
            for key in list(self.stores[kind].store):
                ns, _, name = key.partition("/")
                self.queue.add((kind, ns, name))

    # ---- reconciling -------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                async with asyncio.timeout(self.reconcile_timeout):
                    requeue = await self.reconcile(key)
                self._failures.pop(key, None)
                if requeue is not None:
                    self.queue.add_after(key, requeue)
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Rejected as exc:
                self._failures.pop(key, None)
                log.warning("%s %s/%s: %s", *key, exc)
            except Exception as exc:
                n = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(0.5 * 2 ** (n - 1), 30.0)
                log.warning("%s %s/%s: %s: %s; retrying in %.1fs", *key, type(exc).__name__,
                            exc, delay)
                self.queue.add_after(key, delay)
            finally:
                self.queue.done(key)

    def typed(self, kind: str, obj: Obj) -> Obj:
        """``obj`` with its apiVersion and kind (items of a list response lack them)."""
        if obj.get("kind") and obj.get("apiVersion"):
            return obj
        wk = self.kinds.get(kind)
        api_version, name = (wk.api_version, wk.kind) if wk else BUILTIN_CHILDREN[kind]
        return {**obj, "apiVersion": api_version, "kind": name}

    def observed(self, uid: str) -> Observed:
        children: dict[str, list[Obj]] = {}
        for kind, key in self.index.children(uid):
            refl = self.stores.get(kind)
            obj = refl.store.get(key) if refl is not None else None
            if obj is not None:
                children.setdefault(kind, []).append(self.typed(kind, obj))
        return Observed({k: tuple(v) for k, v in children.items()})

    async def reconcile(self, key: Key) -> float | None:
        """One pass over one custom resource; returns seconds until it should run again."""
        kind, ns, name = key
        refl = self.stores.get(kind)
        obj = refl.store.get(f"{ns}/{name}") if refl is not None else None
        if obj is None or terminating(obj) or kind not in OPERATORS:
            self._written.pop(key, None)
            return None  # gone: the garbage collector removes its children
        obj = self.typed(kind, obj)
        rv = meta(obj).get("resourceVersion")
        written = self._written.get(key)
        if written is not None and rv in written.stale:
            # Our last status write has not come back through the watch yet: build on it,
            # not on an older copy, so the same change is not written twice.
            obj = {**obj, "status": written.status}
        elif written is not None:
            written = None  # the cache caught up (or someone else wrote): trust it
            self._written.pop(key, None)
        ctx = Context(self.interpreters, self.clock(), frozenset(self.kinds))
        try:
            result = OPERATORS[kind].reconcile(obj, self.observed(str(meta(obj).get("uid"))),
                                               ctx)
        except Exception as exc:  # a malformed object: wait for it to change
            raise Rejected(f"cannot simulate: {type(exc).__name__}: {exc}") from exc
        await self._apply(key, result.plan)
        patch = merge_patch(obj.get("status") or {}, result.status)
        if patch is not None:
            log.debug("%s %s/%s: status patch on %s: %s", *key,
                      meta(obj).get("resourceVersion"), patch)
            mine = await self.writer.patch_status(self.kinds[kind], ns, name, patch)
            stale = {rv} | (written.stale | {written.mine} if written is not None else set())
            self._written[key] = Written(frozenset(stale), mine, result.status)
            self._log_phase(key, obj, result.status)
        return result.requeue_after

    async def _apply(self, key: Key, plan: Plan) -> None:
        jobs: list[tuple[str, Awaitable[Any]]] = []
        jobs += [(f"create {c['kind']} {meta(c).get('name')}", self.writer.create(c))
                 for c in plan.create]
        jobs += [(f"update {c['kind']} {meta(c).get('name')}", self.writer.patch(c, p))
                 for c, p in plan.patch]
        jobs += [(f"delete {c['kind']} {meta(c).get('name')}", self.writer.delete(c))
                 for c in plan.delete]
        if not jobs:
            return
        results = await asyncio.gather(*(j for _, j in jobs), return_exceptions=True)
        failed: BaseException | None = None
        for (what, _), res in zip(jobs, results, strict=True):
            if isinstance(res, Rejected):
                log.warning("%s %s/%s: %s", *key, res)
            elif isinstance(res, BaseException):
                failed = failed or res
            elif res is not False:
                log.info("%s %s/%s: %s", *key, what)
        if failed is not None:
            raise failed

    def _log_phase(self, key: Key, obj: Obj, status: Obj) -> None:
        if not self.interpreters.supports(obj):
            return
        before = self.interpreters.health(obj).phase
        after = self.interpreters.health({**obj, "status": status})
        if after.phase != before:
            log.info("%s %s/%s: %s -> %s (%s)", *key, before, after.phase, after.message)


# ---- entry point -----------------------------------------------------------------------
def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m federation.dev.operators",
        description="Simulate the AI operators (training-operator, mpi-operator, Trainer, "
                    "JobSet, Volcano, KServe, KubeRay) on one cluster of the local fleet.")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig file of the cluster")
    p.add_argument("--context", default=None, help="context in the kubeconfig")
    p.add_argument("--workers", type=int, default=4, help="parallel reconciles (default 4)")
    p.add_argument("--resync", type=float, default=30.0,
                   help="seconds between full resyncs (default 30)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return p.parse_args(list(argv) if argv is not None else None)


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGTERM/SIGINT."""
    api = await api_client(args.kubeconfig, args.context)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sim = OperatorSimulator(api, workers=args.workers, resync=args.resync)
    task = asyncio.create_task(sim.run(), name="operators")
    stopper = asyncio.create_task(stop.wait(), name="operators/stop")
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, stopper):
            t.cancel()
        results = await asyncio.gather(task, stopper, return_exceptions=True)
        await api.close()
    error = next((r for r in results if isinstance(r, Exception)
                  and not isinstance(r, asyncio.CancelledError)), None)
    if error is not None:
        raise error


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
