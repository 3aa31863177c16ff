"""The hub controller's main loop.

Everything runs in one ``asyncio.TaskGroup``: reflectors on the hub (MemberClusters,
propagation and override policies, ResourceBindings), the template watches (every kind an
interpreter knows, at every version the hub serves it, found by API discovery and
started or stopped as the hub's CRDs change: ``_follow_kinds``), the member set (clients,
health probes, inventory and kind watches), a periodic resync, and ``workers`` reconcile
workers fed by a deduplicating work queue keyed by template.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.dynamic import DynamicClient

from federation.catalog.egress import EgressMatrix
from federation.catalog.prices import PriceCatalog
from federation.clusters.client import api_client
from federation.clusters.compact import cached_form
from federation.clusters.crds import ensure_crds
from federation.clusters.health import Health
from federation.clusters.join import install_crds
from federation.clusters.watch import ObjectCache, Reflector, object_key
from federation.errors import FedctlError
from federation.hub import events
from federation.hub.bindings import PLURAL as BINDINGS
from federation.hub.bindings import TemplateKey, binding_crd, holds_of
from federation.hub.crd_watch import FIRST_SYNC_SECONDS, CrdWatch
from federation.hub.deps import DependencySync
from federation.hub.discovery import discover
from federation.hub.fleet import MemberView, member_view, roomier
from federation.hub.http import HubMetrics
from federation.hub.interpreter_watch import InterpreterState, InterpreterWatcher
from federation.hub.kinds import (
    ServedKind,
    authored_version,
    plan_watches,
    snake,
    split_ident,
)
from federation.hub.members import Members, WatchedKind, health_taints
from federation.hub.model_hub import (
    SOURCES,
    SUBSCRIPTIONS,
    HubRegistries,
    KubeWrites,
    member_views,
    policy_affinity,
    secret_getter,
)
from federation.hub.model_stager import WorkerStager
from federation.hub.model_status import WorkloadRef
from federation.hub.model_stores import StoreResolver
from federation.hub.model_sync import ModelSync
from federation.hub.prices import PriceConfig, PriceState, PriceWatcher, load_prices
from federation.hub.queue import RESYNC, STATUS, WorkQueue
from federation.hub.ratelimit import TokenBucket
from federation.hub.reconcile import Outcome, Reconciler
from federation.interpreters.interpreter import Interpreters
from federation.interpreters.spec import KindSpec
from federation.model.labels import BINDING_LABEL, DEPENDENCY_LABEL, FIELD_MANAGER
from federation.scheduling.decision_record import recorder
from federation.scheduling.reservations import Ledger
from federation.scheduling.runtime import Scheduler
from federation.syncer.dependencies import Dependency
from policies.match import select_policy
from policies.models import GROUP, VERSION, OverridePolicy, PropagationPolicy
from policies.parse import parse_document
from policies.source import Document

log = logging.getLogger(__name__)

# Never propagated (Karmada skips its own and the kube-* namespaces the same way): the
# control plane's objects, and fedctl's own (member kubeconfigs, the leader Lease).
RESERVED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease",
                                 "fedctl-system"})


COPY_BATCH_SECONDS = 1.0
MEMBER_SETTLE_SECONDS = 30.0
# how often the fleet is looked at for room an unschedulable template could use (in
# memory: the members' cached snapshots); unschedulable templates are queued at most
# this often, and only when something changed
FLEET_CHECK_SECONDS = 1.0


@dataclass
class HubConfig:
    kubeconfig: Path
    context: str | None = None
    cache_dir: Path = Path(".fedctl/cache")
    workers: int = 16  # a reconcile mostly waits on API calls
    # everything is watched, so a full resync is only a safety net; each pass re-decides
    # every template (2.8 ms each at 100 members: 28 CPU-s for 10,000), queued below
    # every real change
    resync_seconds: float = 300.0
    eviction_rate: float = 100.0  # failover moves per second; 0 = unlimited
    interpreters: tuple[KindSpec, ...] = ()
    # where the prices come from: --prices/--egress files, else the watched ConfigMap
    # fedctl-system/fedctl-prices, else the shipped samples (federation/hub/prices.py)
    prices: PriceConfig = field(default_factory=PriceConfig)


class Hub:
    def __init__(self, config: HubConfig, metrics: HubMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or HubMetrics()
        self.queue: WorkQueue[TemplateKey] = WorkQueue(self.priority)
        self.interpreters = Interpreters(config.interpreters)
        # the --interpreter files' specs and those of the interpreter ConfigMaps, applied
        # to ``interpreters`` while the hub runs (federation/hub/interpreter_watch.py)
        self._interp_watch = InterpreterWatcher(
            InterpreterState(config.interpreters), self.interpreters,
            self.metrics.readiness_details, self._interpreters_changed)
        self._replan = asyncio.Event()  # the interpretable kinds changed: re-plan watches
        self._kinds_lock = asyncio.Lock()  # one re-plan at a time
        self.templates: dict[tuple[str, str], ObjectCache] = {}
        self.outcomes: dict[TemplateKey, Outcome] = {}
        self.ready = asyncio.Event()
        self._policy_cache: dict[tuple[str, str], tuple[str, Any]] = {}
        self._members_dirty = asyncio.Event()
        self._members_synced = asyncio.Event()
        self._reported: dict[tuple[str, str], str] = {}
        self._policy_reports: asyncio.Queue[tuple[dict[str, Any], bool, str]] = asyncio.Queue()
        self.members: Members | None = None
        self._refl: dict[str, ObjectCache] = {}
        # template -> (generation, labels, annotations, deletion) last reconciled for
        self._seen: dict[TemplateKey, tuple[Any, ...]] = {}
        self.ledger = Ledger()
        self._prices: PriceWatcher | None = None
        self._deps: DependencySync | None = None
        # templates the scheduler found no room for: queued again when the fleet changes
        self.unschedulable: set[TemplateKey] = set()
        # templates whose copy failed terminally on some clusters (e.g. kind not
        # installed there): queued again when those clusters' kinds change
        self.stuck: dict[TemplateKey, tuple[str, ...]] = {}
        self._fleet_dirty = False
        # template watches: (apiVersion, kind) -> its reflector task (None for the
        # ConfigMap and Secret caches shared with the dependency watches)
        self._kind_tasks: dict[tuple[str, str], asyncio.Task[None] | None] = {}
        # kinds watched at several versions: (group, kind) -> the version an object
        # belongs to when its author is unknown; and who wrote each object in which
        # version ((group, kind, "ns/name") -> version)
        self._multi: Mapping[tuple[str, str], str] = {}
        self._authored: dict[tuple[str, str, str], str] = {}
        # kinds an interpreter knows that the hub does not serve (no CRD): reported
        self.missing_kinds: tuple[str, ...] = ()
        self._kinds_ready = asyncio.Event()
        self._hub: k8s.ApiClient | None = None
        self.models: ModelSync | None = None  # model distribution (while running)
        self._model_gens: dict[tuple[str, str], Any] = {}  # (kind, ns/name) -> generation

    # ---- caches ------------------------------------------------------------------------
    def _parsed(self, refl: ObjectCache | None) -> list[Any]:
        out = []
        for key, obj in (refl.store.items() if refl else ()):
            meta = obj.get("metadata") or {}
            # generation, not resourceVersion: our own status writes must not re-trigger.
            rv = str(meta.get("generation") or meta.get("resourceVersion"))
            cache_key = (str(obj.get("kind")), key)
            cached = self._policy_cache.get(cache_key)
            if cached and cached[0] == rv:
                out.append(cached[1])
                continue
            doc = Document(obj, f"{obj.get('kind')} {key}", 0, 1)
            try:
                parsed = parse_document(doc)
            except FedctlError as exc:
                if self._reported.get(cache_key) != rv:
                    log.warning("ignoring invalid %s %s: %s", obj.get("kind"), key, exc)
                    self._reported[cache_key] = rv
                    self._policy_reports.put_nowait((obj, False, str(exc)))
                continue
            self._policy_cache[cache_key] = (rv, parsed)
            if self._reported.get(cache_key) != rv:
                self._reported[cache_key] = rv
                self._policy_reports.put_nowait((obj, True, "the policy is valid"))
            out.append(parsed)
        return out

    def policies(self) -> list[PropagationPolicy]:
        return [p for name in ("propagationpolicies", "clusterpropagationpolicies")
                for p in self._parsed(self._refl.get(name))
                if isinstance(p, PropagationPolicy)]

    def overrides(self) -> list[OverridePolicy]:
        return [p for name in ("overridepolicies", "clusteroverridepolicies")
                for p in self._parsed(self._refl.get(name)) if isinstance(p, OverridePolicy)]

    def _owns(self, api_version: str, kind: str, store_key: str) -> bool:
        """Whether the watch of ``api_version`` holds the template (a kind watched at
        several versions: the one its author wrote it in)."""
        group, _, version = api_version.rpartition("/")
        default = self._multi.get((group, kind))
        if default is None:
            return True
        return (self._authored.get((group, kind, store_key)) or default) == version

    def template(self, key: TemplateKey) -> dict[str, Any] | None:
        refl = self.templates.get((key.api_version, key.kind))
        store_key = f"{key.namespace}/{key.name}"
        obj = refl.store.get(store_key) if refl else None
        if obj is None or not self._owns(key.api_version, key.kind, store_key):
            return None
        if "kind" not in obj:  # list items of built-in types carry no apiVersion/kind
            obj = {**obj, "apiVersion": key.api_version, "kind": key.kind}
        return obj

    def binding(self, key: TemplateKey) -> dict[str, Any] | None:
        """The template's ResourceBinding, or the one an older hub named without the API
        group (``legacy_binding_name``) if it records this template: it is adopted."""
        refl = self._refl.get(BINDINGS)
        if refl is None:
            return None
        found = refl.store.get(f"{key.namespace}/{key.binding_name}")
        if found is None and key.legacy_binding_name != key.binding_name:
            old = refl.store.get(f"{key.namespace}/{key.legacy_binding_name}")
            if old is not None and key.owns(old):
                return old
        return found

    def priority(self, key: TemplateKey) -> int:
        """The priority of the policy that selects ``key`` (0 when none does yet)."""
        tmpl = self.template(key)
        if tmpl is None or not self._refl:
            return 0
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        policy = select_policy(self.policies(), key.api_version, key.kind, key.name,
                               key.namespace, labels)
        return policy.spec.priority if policy is not None else 0

    def template_keys(self) -> list[TemplateKey]:
        keys = []
        for (api_version, kind), refl in self.templates.items():
            for store_key in list(refl.store):
                ns, _, name = store_key.partition("/")
                if ns not in RESERVED_NAMESPACES and self._owns(api_version, kind,
                                                                  store_key):
                    keys.append(TemplateKey(api_version, kind, ns, name))
        return keys

    # ---- events ------------------------------------------------------------------------
    def _enqueue_all(self, *_: object) -> None:
        for key in self.template_keys():
            self.queue.add(key)

    def _template_changed(self, api_version: str, kind: str) -> Callable[[str, dict[str, Any]],
                                                                          None]:
        def changed(event: str, obj: dict[str, Any]) -> None:
            meta = obj.get("metadata") or {}
            if not meta.get("name"):
                return
            key = TemplateKey(api_version, kind, meta.get("namespace", ""), meta["name"])
            if key.namespace in RESERVED_NAMESPACES:
                return
            store_key = f"{key.namespace}/{key.name}"
            owned = self._owns(api_version, kind, store_key)
            if event == "DELETED":
                self._authored.pop((*_group_kind((api_version, kind)), store_key), None)
            if not owned:
                # written in another version of its kind: that version's watch has it
                # (if it was ours until now, this key lets go of it)
                if self._seen.pop(key, None) is not None:
                    self.queue.add(key)
                return
            if event == "DELETED":
                self._seen.pop(key, None)
            else:
                # our own writes (finalizer, status) change neither the spec (generation)
                # nor labels, annotations or deletion: nothing to reconcile for them.
                # Kinds without a generation (ConfigMap, Secret, Service): any change.
                gen = meta.get("generation")
                sig = (gen if gen is not None else meta.get("resourceVersion"),
                       repr(meta.get("labels")), repr(meta.get("annotations")),
                       meta.get("deletionTimestamp"))
                if event == "MODIFIED" and self._seen.get(key) == sig:
                    return
                self._seen[key] = sig
            self.queue.add(key)
        return changed

    def _policy_changed(self, *_: object) -> None:
        self.policies()  # parse now: invalid policies are reported even with no workload
        self.overrides()
        self._enqueue_all()

    def _copy_changed(self, cluster: str, wk: WatchedKind, event: str,
                      obj: dict[str, Any]) -> None:
        """A member copy changed (status, drift, deletion): reconcile its template. Status
        updates come in bursts (a Deployment rolling out), so they are batched a little."""
        meta = obj.get("metadata") or {}
        if not meta.get("name"):
            return
        labels = meta.get("labels") or {}
        if DEPENDENCY_LABEL in labels and BINDING_LABEL not in labels:
            # a copy of a referenced ConfigMap or Secret: drift there is corrected by
            # the templates that reference it
            if self._deps is not None:
                for key in self._deps.copy_changed(cluster, wk.kind, event, obj):
                    self.queue.add_after(key, COPY_BATCH_SECONDS)
            return
        key = TemplateKey(wk.api_version, wk.kind, meta.get("namespace", ""), meta["name"])
        if event == "DELETED":
            self.queue.add(key)  # someone removed our copy: put it back now
        else:
            # mostly status: after the changes waiting (a failover's moves go first)
            self.queue.add_after(key, COPY_BATCH_SECONDS, band=STATUS)

    def _member_changed(self, _name: str) -> None:
        self._enqueue_all()

    def _models_changed(self, event: str, obj: dict[str, Any]) -> None:
        # the hub's own status writes (generation unchanged) must not wake the subscriptions
        meta = obj.get("metadata") or {}
        key = (str(obj.get("kind")), f"{meta.get('namespace')}/{meta.get('name')}")
        gen = meta.get("generation")
        if event == "MODIFIED" and gen is not None and self._model_gens.get(key) == gen:
            return
        if event == "DELETED":
            self._model_gens.pop(key, None)
        else:
            self._model_gens[key] = gen
        if self.models is not None:
            self.models.changed()

    def _model_objects(self, plural: str) -> dict[str, dict[str, Any]]:
        refl = self._refl.get(plural)
        return dict(refl.store) if refl is not None else {}

    def _enqueue_workload(self, ref: WorkloadRef) -> None:
        group = ref.api_version.rpartition("/")[0]
        for key in self.template_keys():
            if (key.group, key.kind, key.namespace, key.name) == (group, ref.kind,
                                                                  ref.namespace, ref.name):
                self.queue.add(key)

    def _field_values(self, key: TemplateKey, tmpl: Mapping[str, Any],
                      cluster: str) -> list[tuple[str | tuple[str | int, ...], str]]:
        if self.models is None:
            return []
        uris = (self.interpreters.storage_uris(tmpl) if self.interpreters.supports(tmpl)
                else [])
        return self.models.field_values(key.api_version, key.kind, key.namespace, key.name,
                                        uris, cluster)

    def _interpreters_changed(self) -> None:
        """The declarative interpreters changed: watch the kinds they know now, and decide
        every template again (its components, health or status may read differently)."""
        self._replan.set()
        self._enqueue_all()

    # ---- run ---------------------------------------------------------------------------
    async def run(self) -> None:
        cfg = self.config
        cfg.cache_dir.mkdir(parents=True, exist_ok=True)
        hub = await api_client(cfg.kubeconfig, cfg.context)
        start = load_prices(cfg.prices)
        members = Members(start.catalog, cfg.cache_dir, self._member_changed,
                          on_copy=self._copy_changed,
                          copy_view=self.interpreters.without_pod_specs,
                          prices_version=start.catalog_version)
        scheduler = Scheduler(start.egress)

        def on_prices(catalog: PriceCatalog, version: str) -> None:
            members.set_prices(catalog, version)
            self._enqueue_all()  # every decision is priced again

        def on_egress(matrix: EgressMatrix, version: str) -> None:
            scheduler.set_egress(matrix)
            self._enqueue_all()

        self._prices = PriceWatcher(PriceState(cfg.prices, start), on_prices, on_egress)
        try:
            await install_crds(hub)
            await ensure_crds(hub, [binding_crd()])
            dyn = await DynamicClient(hub, cache_file=str(cfg.cache_dir / "discovery-hub.json"))
            await dyn.resources.invalidate_cache()
            self._refl = self._hub_reflectors(hub)
            self._refl.update(self._dependency_reflectors(hub))
            self._deps = DependencySync(members, self.interpreters, self.hub_object)
            # member copies watched: every template kind, and ServiceAccounts (referenced
            # objects only; ConfigMaps and Secrets are template kinds already)
            self._hub = hub
            reconciler = Reconciler(
                hub=dyn, members=members, interpreters=self.interpreters,
                scheduler=scheduler, policies=self.policies,
                overrides=self.overrides, template=self.template, binding=self.binding,
                ledger=self.ledger, deps=self._deps,
                evictions=TokenBucket(cfg.eviction_rate, burst=max(1, int(cfg.eviction_rate))),
                on_failover=lambda c: self.metrics.failovers.labels(cluster=c).inc(),
                on_apply=lambda r: self.metrics.applies.labels(
                    result=r.action, reason=r.reason).inc(),
                record=partial(events.emit, hub),
                # the trimmed decision in the binding's status (fedctl explain)
                explain=recorder(lambda: members.prices_version,
                                 lambda: scheduler.egress_version),
                # a subscribed model's URI switched to each member's local mirror
                field_values=self._field_values)
            self.members = members
            stores = StoreResolver(secret_getter(hub))
            self.models = ModelSync(
                subscriptions=lambda: self._model_objects(SUBSCRIPTIONS),
                sources=lambda: self._model_objects(SOURCES),
                members=lambda: member_views(members),
                affinity=policy_affinity(self.policies), stores=stores,
                registries=HubRegistries(stores),
                stager=WorkerStager(stores, cfg.cache_dir / "staging"),
                writes=KubeWrites(hub), enqueue=self._enqueue_workload,
                set_cached=members.set_cached)
            async with asyncio.TaskGroup() as tg:
                for refl in {id(r): r for r in [*self._refl.values(),
                                                 *self.templates.values()]}.values():
                    tg.create_task(refl.run(), name=f"reflector/{refl.name}")
                tg.create_task(self._sync_members(hub, members), name="members")
                tg.create_task(self._resync(), name="resync")
                tg.create_task(self._prices.run(hub), name="prices")
                tg.create_task(self._interp_watch.run(hub), name="interpreters")
                tg.create_task(self._watch_fleet(members), name="fleet")
                tg.create_task(self._follow_kinds(hub, members), name="hub-kinds")
                tg.create_task(self._report_policies(hub), name="policy-status")
                tg.create_task(self._publish_members(hub, members), name="member-status")
                for i in range(cfg.workers):
                    tg.create_task(self._worker(reconciler), name=f"worker/{i}")
                tg.create_task(self._mark_ready(), name="ready")
                # states read back at once; looks start with the hub ready (a look on a
                # half-loaded member list would drop members not listed yet)
                tg.create_task(self.models.run(ready=self.ready), name="models")
        finally:
            self.metrics.readiness_details.pop("kinds not served", None)
            for task in self._kind_tasks.values():
                if task is not None:
                    task.cancel()
            self.queue.close()
            await members.close()
            await hub.close()

    def _hub_reflectors(self, hub: k8s.ApiClient) -> dict[str, ObjectCache]:
        custom = k8s.CustomObjectsApi(hub)
        out = {}
        for plural in ("propagationpolicies", "clusterpropagationpolicies", "overridepolicies",
                       "clusteroverridepolicies", BINDINGS):
            on_change = None if plural == BINDINGS else self._policy_changed
            out[plural] = Reflector(f"hub/{plural}", custom.list_cluster_custom_object,
                                    list_kwargs={"group": GROUP, "version": VERSION,
                                                 "plural": plural}, on_change=on_change,
                                    transform=cached_form)
        for plural in (SUBSCRIPTIONS, SOURCES):
            out[plural] = Reflector(f"hub/{plural}", custom.list_cluster_custom_object,
                                    list_kwargs={"group": GROUP, "version": VERSION,
                                                 "plural": plural},
                                    on_change=self._models_changed, transform=cached_form)
        out["memberclusters"] = Reflector(
            "hub/memberclusters", custom.list_cluster_custom_object,
            list_kwargs={"group": GROUP, "version": VERSION, "plural": "memberclusters"},
            on_change=lambda _k, _o: self._members_dirty.set())
        return out

    def _dependency_reflectors(self, hub: k8s.ApiClient) -> dict[str, ObjectCache]:
        """ConfigMaps, Secrets and ServiceAccounts on the hub: what workloads reference."""
        core = k8s.CoreV1Api(hub)
        calls = {"ConfigMap": core.list_config_map_for_all_namespaces,
                 "Secret": core.list_secret_for_all_namespaces,
                 "ServiceAccount": core.list_service_account_for_all_namespaces}
        return {f"dep/{kind}": Reflector(f"hub/{kind}", call,
                                         on_change=self._dependency_changed(kind),
                                         transform=cached_form)
                for kind, call in calls.items()}

    def _dependency_changed(self, kind: str) -> Callable[[str, dict[str, Any]], None]:
        as_template = (self._template_changed("v1", kind)
                       if self.interpreters.supports({"apiVersion": "v1", "kind": kind})
                       else None)

        def changed(event: str, obj: dict[str, Any]) -> None:
            if as_template is not None:
                as_template(event, obj)
            meta = obj.get("metadata") or {}
            deps = self._deps
            if deps is None:
                return
            for key in deps.index.get((kind, meta.get("namespace", ""), meta.get("name", "")),
                                      ()):
                self.queue.add(key)
        return changed

    def hub_object(self, dep: Dependency) -> dict[str, Any] | None:
        """A referenced object from the hub's caches (with apiVersion and kind)."""
        refl = self._refl.get(f"dep/{dep.kind}")
        obj = refl.store.get(f"{dep.namespace}/{dep.name}") if refl else None
        if obj is None:
            return None
        return {**obj, "apiVersion": "v1", "kind": dep.kind}

    def _interpretable(self) -> list[tuple[str, str]]:
        return [split_ident(k) for k in self.interpreters.kinds()]

    async def _follow_kinds(self, hub: k8s.ApiClient, members: Members) -> None:
        """Template watches for every kind the hub can interpret and serves, started and
        stopped as the hub's CRDs or its declarative interpreters change."""
        refresh = partial(self._refresh_kinds, hub, members)
        # the first plan with the interpreter ConfigMaps' kinds (when they list in time)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._interp_watch.synced.wait(), FIRST_SYNC_SECONDS)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(CrdWatch.of("hub", hub).follow(refresh), name="hub-crds")
            tg.create_task(self._replan_on_interpreters(refresh), name="hub-interpreters")

    async def _replan_on_interpreters(self, refresh: Callable[[], Any]) -> None:
        """Re-plan the template watches each time the interpreters change (a failed
        discovery is retried, doubling the wait up to 10 s)."""
        while True:
            await self._replan.wait()
            self._replan.clear()
            delay = 1.0
            while True:
                try:
                    await refresh()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the hub unreachable: its probe says so
                    log.warning("re-planning the template watches failed (retried in "
                                "%.0f s): %s", delay, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)

    async def _refresh_kinds(self, hub: k8s.ApiClient, members: Members) -> None:
        async with self._kinds_lock:
            await self._plan_kinds(hub, members)

    async def _plan_kinds(self, hub: k8s.ApiClient, members: Members) -> None:
        found = await discover(hub)
        plan = plan_watches(found.served, self._interpretable(), found.preferred)
        wanted = {(s.api_version, s.kind): s for s in plan.watches}
        regrouped = self._multi != plan.default_version
        self._multi = dict(plan.default_version)
        changed = regrouped
        still_served = {(s.api_version, s.kind) for s in found.served}
        for key in list(self._kind_tasks):
            if key not in wanted:
                # a kind whose interpreter went away while the hub still serves it: its
                # workloads are left as they run (never deleted because a ConfigMap was)
                self._stop_template_watch(key, orphan=key in still_served)
                changed = True
        for key, served in wanted.items():
            if key not in self._kind_tasks:
                self._start_template_watch(served)
                changed = True
        if changed and self.ready.is_set():
            # a version added or removed may move templates between the watches of
            # their kind's versions: each is decided again
            self._enqueue_all()
        members.set_watched([*(WatchedKind(s.api_version, s.kind, s.plural)
                               for s in plan.watches),
                             WatchedKind("v1", "ServiceAccount", "serviceaccounts")])
        missing = (*plan.missing, *(f"{k} (cluster-scoped)" for k in plan.cluster_scoped))
        if missing != self.missing_kinds:
            if missing:
                log.warning("kinds with an interpreter that the hub does not serve (no "
                            "CRD installed on the hub), not watched until one is: %s",
                            ", ".join(missing))
            self.missing_kinds = missing
        self.metrics.readiness_details["kinds not served"] = ", ".join(missing)
        self._kinds_ready.set()

    def _start_template_watch(self, served: ServedKind) -> None:
        key = (served.api_version, served.kind)
        shared = self._refl.get(f"dep/{served.kind}") if served.api_version == "v1" else None
        if shared is not None:
            # ConfigMaps and Secrets: one cache serves both roles (its events go to the
            # templates that reference the object and to the object as a template); it
            # runs with the hub's other reflectors
            self.templates[key] = shared
            self._kind_tasks[key] = None
            return
        call: Any
        if served.group:
            call = k8s.CustomObjectsApi(self._hub_api()).list_cluster_custom_object
            kwargs = {"group": served.group, "version": served.version,
                      "plural": served.plural}
        else:
            method = f"list_{snake(served.kind)}_for_all_namespaces"
            call = getattr(k8s.CoreV1Api(self._hub_api()), method, None)
            kwargs = {}
            if call is None:  # a core kind the client cannot list across namespaces
                log.warning("cannot watch %s templates: the client has no %s",
                            served.kind, method)
                return
        refl = Reflector(f"hub/{served.api_version}/{served.kind}", call, list_kwargs=kwargs,
                         on_change=self._template_changed(*key),
                         transform=self._template_form(served.group, served.kind))
        self.templates[key] = refl
        self._kind_tasks[key] = asyncio.create_task(refl.run(), name=f"reflector/{refl.name}")
        log.info("watching %s %s templates", served.api_version, served.kind)

    def _stop_template_watch(self, key: tuple[str, str], orphan: bool = False) -> None:
        """Stop watching a kind. Its CRD was removed: its templates are reconciled once
        more, as gone (their copies and bindings are removed). ``orphan`` (the hub still
        serves it, only its interpreter is gone): its templates are left alone — copies,
        bindings and held capacity stay, unmanaged until an interpreter is back."""
        task = self._kind_tasks.pop(key)
        refl = self.templates.pop(key, None)
        if task is None:
            return
        task.cancel()
        if orphan:
            log.warning("%s %s: no interpreter any more; its %d workloads are left as they "
                        "run (copies and bindings kept), not managed until one is back",
                        *key, len(refl.store) if refl is not None else 0)
            return
        log.info("no longer watching %s %s templates", *key)
        for store_key in list(refl.store) if refl is not None else ():
            ns, _, name = store_key.partition("/")
            tkey = TemplateKey(key[0], key[1], ns, name)
            if self._seen.pop(tkey, None) is not None:
                self.queue.add(tkey)

    def _template_form(self, group: str, kind: str) -> Callable[[dict[str, Any]],
                                                                 dict[str, Any]]:
        """The cached form of a template; for a custom resource (its group has a dot, as
        every CRD's must), first note which version its author wrote it in
        (``managedFields``, dropped from the cache): a CRD may serve a second version
        later, and the objects written before then stay with theirs."""
        if "." not in group:
            return cached_form

        def keep(obj: dict[str, Any]) -> dict[str, Any]:
            version = authored_version(obj, group, FIELD_MANAGER, "")
            if version:
                self._authored[(group, kind, object_key(obj))] = version
            return cached_form(obj)
        return keep

    def _hub_api(self) -> k8s.ApiClient:
        assert self._hub is not None, "the hub's client exists while the hub runs"
        return self._hub

    async def _sync_members(self, hub: k8s.ApiClient, members: Members) -> None:
        refl = self._refl["memberclusters"]
        await refl.synced.wait()
        self._members_dirty.set()
        while True:
            await self._members_dirty.wait()
            self._members_dirty.clear()
            await members.sync(hub, list(refl.store.values()))
            self._members_synced.set()

    async def _report_policies(self, hub: k8s.ApiClient) -> None:
        """Valid condition (and a Warning Event when invalid) on each policy version."""
        custom = k8s.CustomObjectsApi(hub)
        plurals = {"PropagationPolicy": "propagationpolicies",
                   "ClusterPropagationPolicy": "clusterpropagationpolicies",
                   "OverridePolicy": "overridepolicies",
                   "ClusterOverridePolicy": "clusteroverridepolicies"}
        while True:
            obj, ok, message = await self._policy_reports.get()
            meta = obj.get("metadata") or {}
            plural = plurals.get(str(obj.get("kind")))
            if plural is None:
                continue
            status = {"status": {"observedGeneration": meta.get("generation", 0),
                                 "conditions": [{
                                     "type": "Valid", "status": "True" if ok else "False",
                                     "reason": "Valid" if ok else "InvalidPolicy",
                                     "message": message[:1000],
                                     "lastTransitionTime": _now()}]}}
            merge = {"_content_type": "application/merge-patch+json",
                     "field_manager": FIELD_MANAGER}
            try:
                if meta.get("namespace"):
                    await cast(Any, custom).patch_namespaced_custom_object_status(
                        GROUP, VERSION, meta["namespace"], plural, meta["name"], status,
                        **merge)
                else:
                    await cast(Any, custom).patch_cluster_custom_object_status(
                        GROUP, VERSION, plural, meta["name"], status, **merge)
            except ApiException as exc:
                log.warning("status of %s %s not written: HTTP %s", obj.get("kind"),
                            meta.get("name"), exc.status)
            if not ok:
                await events.emit(hub, obj, reason="InvalidPolicy", message=message,
                                  warning=True)

    async def _publish_members(self, hub: k8s.ApiClient, members: Members) -> None:
        """Write each MemberCluster's status (Ready, GPUs, kinds) when it changes."""
        custom = cast(Any, k8s.CustomObjectsApi(hub))
        published: dict[str, dict[str, Any]] = {}
        while True:
            await asyncio.sleep(2.0)
            for name in members.names():
                h = members.health(name)
                if h.consecutive_failures == 0 and h.consecutive_successes == 0:
                    continue  # not probed yet: nothing to tell
                await self._write_health_taints(custom, name, h)
                status = members.status(name)
                if published.get(name) == status:
                    continue
                body = {"status": {**status, "conditions": [
                    {**c, "lastTransitionTime": _now()} for c in status["conditions"]]}}
                try:
                    await custom.patch_cluster_custom_object_status(
                        GROUP, VERSION, "memberclusters", name, body,
                        _content_type="application/merge-patch+json", field_manager=FIELD_MANAGER)
                    published[name] = status
                except ApiException as exc:
                    log.debug("status of member %s not written: %s", name, exc.status)

    async def _write_health_taints(self, custom: Any, name: str, health: Health) -> None:
        """Keep the controller's not-ready/unreachable taint on the MemberCluster in line
        with its health (user taints untouched), as Karmada's cluster controller does."""
        obj = self._refl["memberclusters"].store.get(name)
        if obj is None:
            return
        current = list((obj.get("spec") or {}).get("taints") or [])
        desired = health_taints(current, health, _now())
        if desired == current:
            return
        body = {"metadata": {"resourceVersion": obj["metadata"].get("resourceVersion")},
                "spec": {"taints": desired}}
        try:
            await custom.patch_cluster_custom_object(
                GROUP, VERSION, "memberclusters", name, body,
                _content_type="application/merge-patch+json", field_manager=FIELD_MANAGER)
        except ApiException as exc:  # 409: changed meanwhile; the next round retries
            log.debug("taints of member %s not written: %s", name, exc.status)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync_seconds)
            for key in self.template_keys():
                self.queue.add(key, band=RESYNC)

    async def _mark_ready(self) -> None:
        await self._kinds_ready.wait()
        await asyncio.gather(*(r.synced.wait() for r in
                               [*self._refl.values(), *self.templates.values()]))
        await self._members_settled()
        if self._prices is not None:
            await self._prices.synced.wait()  # no decision priced from the samples by mistake
        self._seed_ledger()
        self.ready.set()
        self._enqueue_all()

    async def _members_settled(self, limit: float = MEMBER_SETTLE_SECONDS) -> None:
        """Before the first decision: every member connected, probed and its inventory and
        copies listed (or ``limit`` seconds passed). Deciding on a half-loaded fleet would
        move workloads off members that are merely not loaded yet."""
        members = self.members
        if members is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._members_synced.wait(), limit)
        while loop.time() < deadline and not members.settled():
            await asyncio.sleep(0.1)

    def _seed_ledger(self) -> None:
        """Capacity held by existing bindings (a restarted hub must not overcommit)."""
        for obj in self._refl[BINDINGS].store.values():
            label = ((obj.get("metadata") or {}).get("labels") or {}).get(BINDING_LABEL)
            if label and not self.ledger.holds(label):
                self.ledger.set(label, holds_of(obj))

    async def _worker(self, reconciler: Reconciler) -> None:
        await self.ready.wait()
        while True:
            key = await self.queue.get()
            started = asyncio.get_running_loop().time()
            try:
                outcome = await reconciler.reconcile(key)
                self.outcomes[key] = outcome
                self.metrics.reconciles.labels(result="ok").inc()
                self.metrics.placements.labels(
                    outcome="scheduled" if outcome.scheduled else
                    "not-scheduled" if outcome.selected else "not-selected").inc()
                self._track(key, outcome)
                if outcome.retry:
                    # may pass on its own: per-key exponential backoff
                    self.queue.add_rate_limited(key)
                else:
                    # done, or failed in a way only a change fixes (a condition says
                    # which): the backoff starts afresh next time
                    self.queue.forget(key)
                if outcome.requeue is not None:
                    self.queue.add_after(key, outcome.requeue)
                if outcome.status_due:
                    self.queue.add_after(key, COPY_BATCH_SECONDS, band=STATUS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one template's failure never stops the others
                log.warning("reconcile %s failed: %s: %s", key, type(exc).__name__, exc)
                self.metrics.reconciles.labels(result="error").inc()
                self.queue.add_rate_limited(key)
            finally:
                self.metrics.reconcile_seconds.observe(
                    asyncio.get_running_loop().time() - started)
                self.queue.done(key)

    def _track(self, key: TemplateKey, outcome: Outcome) -> None:
        """Keep the indexes of templates waiting for the fleet to change."""
        if outcome.unschedulable:
            self.unschedulable.add(key)
        else:
            self.unschedulable.discard(key)
        if outcome.stuck_on:
            self.stuck[key] = outcome.stuck_on
        else:
            self.stuck.pop(key, None)
        if outcome.released:
            self._fleet_dirty = True

    async def _watch_fleet(self, members: Members) -> None:
        """Queue the unschedulable templates again, highest priority first, when the
        fleet may have room for them: capacity freed (pods finished, a binding let go of
        its holds), a member added or its readiness, labels, taints or kinds changed.
        Looked at once a second (the members' cached snapshots: no API calls), so a burst
        of changes queues them once."""
        views: dict[str, MemberView] = {}
        while True:
            await asyncio.sleep(FLEET_CHECK_SECONDS)
            now = time.monotonic()
            new = {n: member_view(members.snapshot(n, 0.0, now, False, self.ledger))
                   for n in members.names()}
            grew = roomier(views, new) or self._fleet_dirty
            views, self._fleet_dirty = new, False
            if grew and self.unschedulable:
                self.fleet_changed()

    def fleet_changed(self) -> None:
        """Queue every unschedulable template, highest priority first."""
        for key in sorted(self.unschedulable, key=self.priority, reverse=True):
            self.queue.add(key)

    def refresh_metrics(self) -> None:
        """Gauges read at scrape time."""
        self.metrics.queue_depth.set(len(self.queue))
        members = self.members
        if members is not None:
            for name in members.names():
                self.metrics.cluster_ready.labels(cluster=name).set(
                    1 if members.health(name).ready else 0)


def _group_kind(key: tuple[str, str]) -> tuple[str, str]:
    """(apiVersion, kind) -> (group, kind)."""
    return key[0].rpartition("/")[0], key[1]


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
