"""The hub's view of its members: clients, health, watched inventory, scheduler snapshots.

One ``Members`` object owns, per ``MemberCluster`` on the hub: an API client (from the
member's kubeconfig Secret) in the ``ClientPool`` with its health probe, two reflectors
(nodes, pods) feeding the GPU inventory, the kinds the member serves (API discovery, every
served version, done again whenever the member's CRDs change: ``CrdWatch``), one copy watch
per template kind at the version the member serves, and a ``MemberApplier``.
``snapshots()`` turns all of it into the scheduler's input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.catalog.prices import PriceCatalog, cluster_prices, vcpu_price
from federation.clusters.compact import cached_form
from federation.clusters.fencing import Fence, InvalidFence, fence_record
from federation.clusters.health import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    Health,
    policy_from_spec,
)
from federation.clusters.inventory import (
    Inventory,
    NodeInfo,
    PodUsage,
    compute_inventory,
    node_info,
    pod_usage,
)
from federation.clusters.join import read_member_kubeconfig
from federation.clusters.pool import ClientPool
from federation.clusters.watch import ObjectCache, Reflector
from federation.hub.bindings import digest
from federation.hub.crd_watch import CrdWatch
from federation.hub.discovery import discover
from federation.hub.kinds import installed_idents, is_versioned, snake
from federation.model.cluster import EDGE_TAINT_KEY, ClusterSnapshot, GpuPrice, Taint
from federation.model.labels import BINDING_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from federation.scheduling.reservations import Ledger, reserve
from federation.syncer.apply import MemberApplier

log = logging.getLogger(__name__)

FENCED_TAINT = "cluster.fedctl.dev/fenced"
HEALTH_TAINTS = frozenset({NOT_READY_TAINT, UNREACHABLE_TAINT})


@dataclass(frozen=True, slots=True)
class WatchedKind:
    """A template kind whose copies on members the hub watches."""

    api_version: str
    kind: str
    plural: str

    @property
    def ident(self) -> str:
        """How ``discover_kinds`` names it: "group/Kind", or "Kind" for the core group."""
        group = self.api_version.rpartition("/")[0]
        return f"{group}/{self.kind}" if group else self.kind

    @property
    def version_ident(self) -> str:
        """``discover_kinds``' name of this version: "group/version/Kind" ("v1/Kind")."""
        return f"{self.api_version}/{self.kind}"


CopyCallback = Callable[[str, WatchedKind, str, dict[str, Any]], None]
CopyKey = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


@dataclass
class MemberRecord:
    name: str
    spec: dict[str, Any]
    labels: dict[str, str]
    generation: int
    nodes: Reflector[NodeInfo]
    pods: Reflector[PodUsage]
    applier: MemberApplier
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)  # the fence record lives here
    installed_kinds: frozenset[str] | None = None
    not_ready_since: float | None = None
    copies: dict[tuple[str, str], ObjectCache] = field(default_factory=dict)
    copy_tasks: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict)
    api: k8s.ApiClient | None = None  # the member's client (its copy watches use it)
    fingerprint: str = ""  # what the connection depends on (spec without taints)
    # (nodes version, pods version, holders) -> inventory: rebuilt only when one changes
    inventory_cache: tuple[tuple[int, int, frozenset[str]], Inventory] | None = None
    # key -> (snapshot, snapshot with every binding's holds reserved); see Members.snapshot
    snapshot_cache: tuple[tuple[Any, ...], ClusterSnapshot, ClusterSnapshot] | None = None
    revision: int = 0  # bumped when labels or spec are replaced (no reconnect)

    def inventory(self, holders: frozenset[str]) -> Inventory:
        key = (self.nodes.version, self.pods.version, holders)
        cached = self.inventory_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        inv = compute_inventory(self.nodes.store.values(), self.pods.store.values(), holders)
        self.inventory_cache = (key, inv)
        return inv


async def discover_kinds(api: k8s.ApiClient) -> frozenset[str]:
    """Every kind the member serves as ``group/Kind`` and, per served version,
    ``group/version/Kind`` (the core group: ``Kind`` and ``v1/Kind``)."""
    return installed_idents((await discover(api)).served)


def connection_fingerprint(obj: dict[str, Any]) -> str:
    """What a member's client depends on: its spec without taints, pricing, health probing
    settings and labels."""
    spec = {k: v for k, v in (obj.get("spec") or {}).items()
            if k not in ("taints", "pricing", "health")}
    return digest(spec)


def health_taints(spec_taints: list[dict[str, Any]], health: Health,
                  now: str) -> list[dict[str, Any]]:
    """``spec.taints`` with the controller's health taint in line with ``health``: user
    taints untouched, ours added (NoExecute, with timeAdded) or removed."""
    user = [t for t in spec_taints if t.get("key") not in HEALTH_TAINTS]
    want = None if health.ready else health.taint
    mine = [t for t in spec_taints if t.get("key") in HEALTH_TAINTS]
    if want is None:
        return user
    kept = next((t for t in mine if t.get("key") == want), None)
    return [*user, kept or {"key": want, "effect": "NoExecute", "timeAdded": now}]


class Members:
    def __init__(self, catalog: PriceCatalog, cache_dir: Path,
                 on_change: Callable[[str], None], watched: Sequence[WatchedKind] = (),
                 on_copy: CopyCallback | None = None,
                 copy_view: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 prices_version: str | None = None) -> None:
        self.catalog = catalog
        self._prices_version = catalog.version if prices_version is None else prices_version
        # member -> artifact URIs its stores hold (model staging); read by placement
        self._cached: dict[str, frozenset[str]] = {}
        # what the copy caches keep besides ``cached_form`` (the hub: no pod specs)
        self._copy_view = copy_view
        self.cache_dir = cache_dir
        self._on_change = on_change
        self.watched = tuple(watched)
        self._on_copy = on_copy
        self.pool = ClientPool(on_transition=self._transition)
        self._members: dict[str, MemberRecord] = {}
        # template -> {cluster: binding label of its copy there}, from the copy watches
        self._copy_index: dict[CopyKey, dict[str, str]] = {}

    def names(self) -> list[str]:
        return sorted(self._members)

    @property
    def prices_version(self) -> str:
        """The version of the price catalog the snapshots are priced with."""
        return self._prices_version

    def set_prices(self, catalog: PriceCatalog, version: str) -> None:
        """Price every snapshot from now on with ``catalog`` (e.g. a prices ConfigMap
        changed). The cached snapshots carry the old prices: they are rebuilt."""
        self.catalog = catalog
        self._prices_version = version
        for rec in self._members.values():
            rec.snapshot_cache = None
            rec.revision += 1

    def set_cached(self, cached: Mapping[str, frozenset[str]]) -> None:
        """What each member's object stores hold (artifact URIs, from model staging):
        the ``artifactCached`` scorer and data locality read it. Snapshots of members whose
        set changed are rebuilt."""
        for name in set(self._cached) | set(cached):
            new = cached.get(name, frozenset())
            if self._cached.get(name, frozenset()) != new:
                rec = self._members.get(name)
                if rec is not None:
                    rec.snapshot_cache = None
                    rec.revision += 1
        self._cached = {k: v for k, v in cached.items() if v}

    def cached(self, name: str) -> frozenset[str]:
        return self._cached.get(name, frozenset())

    def set_watched(self, watched: Sequence[WatchedKind]) -> None:
        """Replace the template kinds whose member copies are watched: watches of kinds
        gone stop, watches of new ones start on every member serving them."""
        self.watched = tuple(watched)
        for rec in self._members.values():
            if rec.installed_kinds is not None and rec.api is not None:
                self._sync_copies(rec, rec.api)

    def get(self, name: str) -> MemberRecord | None:
        return self._members.get(name)

    def settled(self) -> bool:
        """Every member probed at least once and, if it answers, its nodes, pods, kinds
        and copies listed."""
        for name, rec in self._members.items():
            h = self.health(name)
            if h.consecutive_failures == 0 and h.consecutive_successes == 0:
                return False
            if not h.ready:
                continue  # unreachable: its toleration runs from the hub's start
            if not (rec.nodes.synced.is_set() and rec.pods.synced.is_set()
                    and rec.installed_kinds is not None
                    and all(r.synced.is_set() for r in rec.copies.values())):
                return False
        return True

    def not_ready_for(self, name: str) -> float | None:
        """Seconds since ``name`` stopped being Ready (None while it is Ready)."""
        rec = self._members.get(name)
        if rec is None or rec.not_ready_since is None:
            return None
        return time.monotonic() - rec.not_ready_since

    def health(self, name: str) -> Health:
        return self.pool.get(name).health

    def fence(self, name: str) -> Fence | None:
        """The fence on member ``name``: an operator's record on its MemberCluster
        (``fedctl clusters fence``). The pull-mode agent's lapsed lease will be a second
        source, returned here too (``Fence.source == "agent-lease"``). A damaged record is
        no fence: starting training copies elsewhere on it could run two."""
        rec = self._members.get(name)
        if rec is None:
            return None
        try:
            return fence_record({"metadata": {"name": name, "annotations": rec.annotations}})
        except InvalidFence as exc:
            log.warning("%s (treated as not fenced)", exc)
            return None

    def _transition(self, name: str, old: Health, new: Health) -> None:
        rec = self._members.get(name)
        if rec is not None:
            rec.not_ready_since = None if new.ready else time.monotonic()
        self._on_change(name)

    async def sync(self, hub: k8s.ApiClient, objects: list[dict[str, Any]]) -> None:
        """Bring the member set in line with the MemberCluster objects on the hub."""
        wanted = {o["metadata"]["name"]: o for o in objects
                  if not o["metadata"].get("deletionTimestamp")}
        for name in [n for n in self._members if n not in wanted]:
            await self.remove(name)
        for name, obj in wanted.items():
            gen = int(obj["metadata"].get("generation") or 0)
            rec = self._members.get(name)
            labels = obj["metadata"].get("labels") or {}
            if rec is not None and (rec.generation == gen
                                    or rec.fingerprint == connection_fingerprint(obj)):
                # labels, taints (ours included), pricing: no need to reconnect
                fence_before = self.fence(name)
                rec.labels = {k: v for k, v in labels.items()
                              if k != "app.kubernetes.io/managed-by"}
                rec.spec = obj["spec"]
                rec.annotations = dict(obj["metadata"].get("annotations") or {})
                rec.generation = gen
                rec.revision += 1
                self.pool.set_policy(name, policy_from_spec(obj["spec"]))
                if self.fence(name) != fence_before:
                    # fenced (training gangs held there may move now) or unfenced
                    self._on_change(name)
                continue
            if rec is not None:
                await self.remove(name)
            try:
                await self.add(hub, obj)
            except Exception as exc:  # one bad member must not stop the others
                log.warning("member %s: cannot connect: %s", name, exc)

    async def add(self, hub: k8s.ApiClient, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        cfg = await read_member_kubeconfig(hub, obj)
        member = await self.pool.add_kubeconfig_dict(name, cfg,
                                                     policy=policy_from_spec(obj["spec"]))
        core = k8s.CoreV1Api(member.api)
        notify = self._on_change
        nodes = Reflector(f"{name}/nodes", core.list_node, transform=node_info)
        pods = Reflector(f"{name}/pods", core.list_pod_for_all_namespaces,
                         transform=pod_usage)
        labels = {k: v for k, v in (obj["metadata"].get("labels") or {}).items()
                  if k != "app.kubernetes.io/managed-by"}
        rec = MemberRecord(name=name, spec=obj["spec"], labels=labels,
                           annotations=dict(obj["metadata"].get("annotations") or {}),
                           generation=int(obj["metadata"].get("generation") or 0),
                           nodes=nodes, pods=pods,
                           applier=MemberApplier(name, member.api, self.cache_dir),
                           fingerprint=connection_fingerprint(obj), api=member.api,
                           # not ready until probed: a member that never answers gets
                           # the failover toleration counted from now
                           not_ready_since=time.monotonic())
        self._members[name] = rec
        rec.tasks = [asyncio.create_task(nodes.run(), name=f"{name}/nodes"),
                     asyncio.create_task(pods.run(), name=f"{name}/pods"),
                     asyncio.create_task(
                         CrdWatch.of(name, member.api).follow(partial(self._discover, rec,
                                                                   member.api)),
                         name=f"{name}/kinds")]
        notify(name)

    async def _discover(self, rec: MemberRecord, api: k8s.ApiClient) -> None:
        """(Again) which kinds the member serves: at connect and whenever its CRDs change
        (``CrdWatch``); copy watches follow, and a change is a member change (templates
        stuck on a kind missing there, or unschedulable ones, are tried again)."""
        kinds = await discover_kinds(api)
        if kinds == rec.installed_kinds:
            return
        if rec.installed_kinds is not None:
            log.info("member %s serves other kinds now: +%s -%s", rec.name,
                     sorted(kinds - rec.installed_kinds), sorted(rec.installed_kinds - kinds))
        rec.installed_kinds = kinds
        self._sync_copies(rec, api)
        self._on_change(rec.name)

    def _sync_copies(self, rec: MemberRecord, api: k8s.ApiClient) -> None:
        """One label-selected watch of our copies per template kind, at each watched
        version the member serves (member1 serving MPIJob ``kubeflow.org/v1`` has its
        ``v1`` copies watched, not ``v2beta1``); watches of kinds gone stop."""
        installed = rec.installed_kinds or frozenset()
        wanted = {(wk.api_version, wk.kind): wk for wk in self.watched
                  if wk.version_ident in installed}
        for key in [k for k in rec.copy_tasks if k not in wanted]:
            rec.copy_tasks.pop(key).cancel()
            refl = rec.copies.pop(key, None)
            for obj in list(refl.store.values()) if refl is not None else ():
                meta = obj.get("metadata") or {}
                self._unindex((*key, meta.get("namespace") or "", str(meta.get("name"))),
                              rec.name)
        custom = k8s.CustomObjectsApi(api)
        core = k8s.CoreV1Api(api)
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        for key, wk in wanted.items():
            if key in rec.copy_tasks:
                continue
            if "/" in wk.api_version:
                group, version = wk.api_version.split("/", 1)
                call = custom.list_cluster_custom_object
                kwargs = {"group": group, "version": version, "plural": wk.plural,
                          "label_selector": selector}
            else:  # the core group: /api/v1/<plural>
                call = getattr(core, f"list_{snake(wk.kind)}_for_all_namespaces")
                kwargs = {"label_selector": selector}
            refl = Reflector(
                f"{rec.name}/{wk.kind}", call, list_kwargs=kwargs,
                on_change=self._copy_changed(rec.name, wk), transform=self._keep_copy(wk))
            rec.copies[key] = refl
            rec.copy_tasks[key] = asyncio.create_task(
                refl.run(), name=f"{rec.name}/{wk.api_version}/{wk.kind}")

    def _keep_copy(self, wk: WatchedKind) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def keep(obj: dict[str, Any]) -> dict[str, Any]:
            # list items of built-in kinds come without apiVersion and kind
            obj.setdefault("apiVersion", wk.api_version)
            obj.setdefault("kind", wk.kind)
            return cached_form(self._copy_view(obj) if self._copy_view is not None else obj)
        return keep

    def _copy_changed(self, cluster: str, wk: WatchedKind
                      ) -> Callable[[str, dict[str, Any]], None]:
        def changed(event: str, obj: dict[str, Any]) -> None:
            meta = obj.get("metadata") or {}
            if meta.get("name"):
                key = (wk.api_version, wk.kind, meta.get("namespace") or "", meta["name"])
                label = (meta.get("labels") or {}).get(BINDING_LABEL)
                if event != "DELETED" and label:
                    self._copy_index.setdefault(key, {})[cluster] = label
                else:
                    self._unindex(key, cluster)
            if self._on_copy is not None:
                self._on_copy(cluster, wk, event, obj)
        return changed

    def _unindex(self, key: CopyKey, cluster: str) -> None:
        where = self._copy_index.get(key)
        if where is not None:
            where.pop(cluster, None)
            if not where:
                del self._copy_index[key]

    def copies_of(self, api_version: str, kind: str, namespace: str,
                  name: str) -> Mapping[str, str]:
        """Clusters whose watched copies of this template exist, with the binding label
        each carries (an index kept by the copy watches: no scan of every member)."""
        return self._copy_index.get((api_version, kind, namespace, name), {})

    def copy(self, cluster: str, api_version: str, kind: str, namespace: str,
             name: str) -> tuple[bool, dict[str, Any] | None]:
        """(watched, copy): ``watched`` is True when the member's copies of this kind are
        watched and listed, so a missing copy really is missing (or not ours). The copy is
        what the cache keeps: metadata, replicas and status, pod specs emptied."""
        rec = self._members.get(cluster)
        refl = rec.copies.get((api_version, kind)) if rec is not None else None
        if refl is None or not refl.synced.is_set():
            return False, None
        return True, refl.store.get(f"{namespace}/{name}" if namespace else name)

    async def remove(self, name: str) -> None:
        rec = self._members.pop(name, None)
        if rec is None:
            return
        tasks = [*rec.tasks, *rec.copy_tasks.values()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for key in [k for k, where in self._copy_index.items() if name in where]:
            self._unindex(key, name)
        await self.pool.remove(name)
        self._on_change(name)

    async def close(self) -> None:
        for name in list(self._members):
            await self.remove(name)
        await self.pool.close()

    def snapshot(self, name: str, not_ready_grace: float, now: float,
                 holds_replicas: bool = False, ledger: Ledger | None = None,
                 binding: str | None = None) -> ClusterSnapshot:
        """The scheduler's view of one member.

        A member that never answered is not ready. One that was Ready and stopped
        answering keeps the replicas it ``holds_replicas`` for ``not_ready_grace`` seconds
        (the failover toleration) and then counts as not ready, with the health taint, so
        they move; it gets no new replicas meanwhile.
        """
        rec = self._members[name]
        health = self.health(name)
        synced = rec.nodes.synced.is_set() and rec.pods.synced.is_set()
        taint = health.taint
        if self.fence(name) is not None:
            # fenced: what ran there is stopped (an operator said so), nothing is placed
            # there and what it held moves at once, whatever the toleration
            ready, taint = False, FENCED_TAINT
        elif health.ready:
            ready = synced
        else:
            within_grace = (rec.not_ready_since is not None
                            and now - rec.not_ready_since < not_ready_grace)
            ready = synced and holds_replicas and within_grace
        # Cached per member: rebuilt when its nodes, pods, spec, health or what the
        # ledger holds on it change, not on every reconcile (at 100 members x 10,000
        # workloads, packing every binding's holds into every member was 88% of a
        # reconcile; bench/hub_scale.py).
        key = (rec.nodes.version, rec.pods.version, rec.revision, ready,
               taint, rec.installed_kinds,
               ledger, ledger.version(name) if ledger is not None else -1)
        cached = rec.snapshot_cache
        if cached is None or cached[0] != key:
            base = self._build_snapshot(rec, ready, taint, ledger)
            full = reserve(base, ledger.held(name)) if ledger is not None else base
            cached = rec.snapshot_cache = (key, base, full)
        if ledger is None:
            return cached[1]
        if binding is not None and name in ledger.holds(binding):
            # the binding being scheduled keeps its own room: everyone else's holds only
            return reserve(cached[1], ledger.held(name, excluding=binding))
        return cached[2]

    def _build_snapshot(self, rec: MemberRecord, ready: bool, health_taint: str | None,
                        ledger: Ledger | None) -> ClusterSnapshot:
        """A member's snapshot before any hold is reserved."""
        spec = rec.spec
        holders = ledger.holders(rec.name) if ledger is not None else frozenset()
        inv = rec.inventory(holders)
        # health taints on the object are ours, written from the same health state; the
        # live state (with the failover toleration) decides here
        taints = [Taint(t["key"], t.get("value", ""), t.get("effect", "NoSchedule"))
                  for t in spec.get("taints") or [] if t.get("key") not in HEALTH_TAINTS]
        if spec.get("edge") and not any(t.key == EDGE_TAINT_KEY for t in taints):
            taints.append(Taint(EDGE_TAINT_KEY, "true", "NoSchedule"))
        if not ready and health_taint:
            taints.append(Taint(health_taint, "", "NoExecute"))
        pricing = spec.get("pricing") or {}
        products = {g.gpu_product for g in inv.node_groups if g.gpu_product}
        prices: dict[str, GpuPrice] = cluster_prices(
            self.catalog, spec.get("provider", ""), spec.get("region", ""), products,
            on_demand_overrides=pricing.get("gpuHourly") or {},
            spot_overrides=pricing.get("spotGpuHourly") or {})
        stores = spec.get("objectStores") or []
        return ClusterSnapshot(
            name=rec.name,
            provider=spec.get("provider", ""),
            region=spec.get("region", ""),
            zone=spec.get("zone") or spec.get("region", ""),
            labels=rec.labels,
            taints=tuple(taints),
            ready=ready,
            edge=bool(spec.get("edge")),
            node_groups=inv.node_groups,
            installed_kinds=rec.installed_kinds,
            prices=prices,
            vcpu_hourly=vcpu_price(self.catalog, spec.get("provider", ""),
                                   spec.get("region", "")),
            spot_available=bool(pricing.get("spotAvailable")),
            store_regions=tuple(sorted({s.get("region", "") for s in stores})),
            cached=self._cached.get(rec.name, frozenset()),
        )

    def snapshots(self, not_ready_grace: float, holding: frozenset[str] = frozenset(),
                  ledger: Ledger | None = None,
                  binding: str | None = None) -> tuple[ClusterSnapshot, ...]:
        """Every member's snapshot for scheduling ``binding``: what other bindings hold
        (``ledger``) is taken out of the free capacity; ``binding``'s own hold is not."""
        now = time.monotonic()
        return tuple(self.snapshot(n, not_ready_grace, now, n in holding, ledger, binding)
                     for n in self.names())

    def status(self, name: str) -> dict[str, Any]:
        """The MemberCluster ``status`` the hub publishes for ``name``."""
        rec = self._members[name]
        health = self.health(name)
        inv = compute_inventory(rec.nodes.store.values(), rec.pods.store.values())
        largest: dict[str, int] = {}
        for g in inv.node_groups:
            if g.gpu_product:
                largest[g.gpu_product] = max(largest.get(g.gpu_product, 0), g.gpus_free)
        ready = {"type": "Ready", "status": "True" if health.ready else "False",
                 "reason": "Healthy" if health.ready else (
                     "Unreachable" if not health.reachable else "NotReady"),
                 "message": health.detail[:500]}
        conditions = [ready]
        fence = self.fence(name)
        if fence is not None:
            conditions.append({"type": "Fenced", "status": "True",
                               "reason": "OperatorFence" if fence.source == "operator"
                               else "AgentLeaseLapsed",
                               "message": f"fenced {fence.describe()}; undo with "
                                          f"`fedctl clusters unfence {name}`"[:500]})
        return {
            "conditions": conditions,
            "gpus": [{"product": p, "total": g.total, "allocatable": g.allocatable,
                      "requested": g.requested, "largestFreePerNode": largest.get(p, 0)}
                     for p, g in inv.gpus.items()],
            # as documented on the MemberCluster: group/Kind (versions are the hub's own)
            "installedKinds": sorted(k for k in rec.installed_kinds or ()
                                     if not is_versioned(k)),
        }

