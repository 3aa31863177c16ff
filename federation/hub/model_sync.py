"""Model distribution in the hub: registry versions staged next to every subscribed cluster.

For each ModelSubscription the hub follows its channel (a registry alias, or ``latest``;
``spec.version`` pins one by hand): a webhook from the registry wakes it at once, and it
also polls every ``pollIntervalSeconds`` of its ModelSource (registry webhooks are
best-effort, so a missed one only delays a version). When the channel points at a version
the subscription does not hold everywhere, the hub plans where it goes (which clusters,
which store, which variant: ``federation.staging.plan``), stages it with the distributors
(origin -> one relay per region -> the region's stores, verified, never published
partially; ``Stager``) and records each cluster's progress in the subscription's status.
Once every selected cluster holds the version Verified, the workloads are switched: each
member's copy of the subscribed workloads gets its cluster-local mirror URI (the
reconciler asks ``field_values``) and placement sees what each member's stores hold
(``Members.set_cached``).

State lives in the subscription's status (``model_status``): a restarted or newly elected
hub reads it back and finishes what was in flight (the distributors skip what is already
verified at the destination).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from federation.errors import FedctlError, InputError
from federation.hub.model_status import (
    Stage,
    SubscriptionState,
    WorkloadRef,
    cached_uris,
    field_values,
    from_status,
    model_refs,
    to_status,
)
from federation.hub.model_stores import StoreResolver
from federation.registry.ports import (
    ModelRegistry,
    ModelVersionInfo,
    NotFound,
    RegistryError,
    RegistryUnavailable,
)
from federation.staging.plan import ClusterFacts, PlanProblem, plan_targets
from federation.staging.types import SubscriptionPlanInput, plan_input
from policies.models import ModelSubscription, ModelSubscriptionSpec, SubscriptionClusters
from policies.parse import parse_document
from policies.source import Document

log = logging.getLogger(__name__)

STATUS_FLUSH_SECONDS = 1.0
RETRY_MIN, RETRY_MAX = 2.0, 60.0


# ---- seams ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StageJob:
    """One version to stage: where it comes from and where each variant goes."""

    subscription: str  # namespace/name (for logs)
    source: ModelSource
    info: ModelVersionInfo
    plan: SubscriptionPlanInput
    targets: tuple[Any, ...]  # federation.staging.plan.StageTarget
    in_use: Mapping[str, frozenset[str]]  # cluster -> versions its store must keep


@dataclass(frozen=True, slots=True)
class Progress:
    cluster: str
    state: str  # Pending | Copying | Verified | Failed
    bytes_done: int = 0
    bytes_total: int = 0
    reason: str = ""
    message: str = ""


class Stager(Protocol):
    """Copies a version to its targets (``federation.hub.model_stager.WorkerStager``:
    the distributors in a thread). Reports per-cluster progress; returns when every
    target is Verified or Failed."""

    async def stage(self, job: StageJob, on_progress: Callable[[Progress], None]) -> None: ...


class Registries(Protocol):
    """Registry clients per ModelSource."""

    async def registry(self, source: ModelSource) -> ModelRegistry: ...

    async def refresh(self, sources: Sequence[ModelSource]) -> None:
        """The current sources (webhook secrets reloaded, clients of gone ones closed)."""
        ...

    def webhook_secret(self, source_key: str) -> bytes | None: ...

    async def close(self) -> None: ...


class HubWrites(Protocol):
    """Status writes and Events on the hub."""

    async def subscription_status(self, namespace: str, name: str,
                                  status: dict[str, Any]) -> None: ...

    async def source_status(self, namespace: str, name: str, status: dict[str, Any]) -> None: ...

    async def event(self, obj: Mapping[str, Any], reason: str, message: str,
                    warning: bool = False) -> None: ...


@dataclass(frozen=True, slots=True)
class StagingMember:
    """What staging needs to know of one member (from the MemberCluster and its
    inventory)."""

    name: str
    labels: Mapping[str, str]
    region: str
    provider: str
    zone: str
    edge: bool
    gpu_products: frozenset[str]
    stores: tuple[Mapping[str, Any], ...]  # objectStores[] references


# ---- spec readers (the CRD schema validated the shapes) ------------------------------------
@dataclass(frozen=True, slots=True)
class ModelSource:
    namespace: str
    name: str
    spec: Mapping[str, Any]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def kind(self) -> str:
        return "mlflow" if self.spec.get("mlflow") else "objectStore"

    @property
    def poll_interval(self) -> float:
        return float(self.spec.get("pollIntervalSeconds") or 30)


def workloads_of(spec: ModelSubscriptionSpec, namespace: str) -> tuple[WorkloadRef, ...]:
    return tuple(WorkloadRef(w.api_version, w.kind, w.namespace or namespace, w.name,
                             w.effective_uri_field)
                 for w in spec.workloads if w.effective_uri_field)


def selected(clusters: SubscriptionClusters, members: Sequence[StagingMember],
             affinity: Callable[[StagingMember], bool] | None) -> list[StagingMember]:
    """The members a subscription's ``clusters`` selects (the union of its means)."""
    names = set(clusters.names)
    out = []
    for m in members:
        if (m.name in names
                or (clusters.selector is not None and clusters.selector.matches(m.labels))
                or (affinity is not None and affinity(m))):
            out.append(m)
    return sorted(out, key=lambda m: m.name)


# ---- the controller ------------------------------------------------------------------------
@dataclass
class _Follow:
    task: asyncio.Task[None]
    wake: asyncio.Event
    dirty: bool = False
    generation: int | None = None
    obj: Mapping[str, Any] = field(default_factory=dict)


class ModelSync:
    def __init__(self, *, subscriptions: Callable[[], Mapping[str, Mapping[str, Any]]],
                 sources: Callable[[], Mapping[str, Mapping[str, Any]]],
                 members: Callable[[], Sequence[StagingMember]],
                 affinity: Callable[[str, str], Callable[[StagingMember], bool] | None],
                 stores: StoreResolver, registries: Registries, stager: Stager,
                 writes: HubWrites, enqueue: Callable[[WorkloadRef], None],
                 set_cached: Callable[[Mapping[str, frozenset[str]]], None],
                 clock: Callable[[], float] = time.time) -> None:
        self._subs = subscriptions
        self._sources = sources
        self._members = members
        self._affinity = affinity
        self._stores = stores
        self._registries = registries
        self._stager = stager
        self._writes = writes
        self._enqueue = enqueue
        self._set_cached = set_cached
        self._clock = clock
        self._ready: asyncio.Event | None = None
        self.states: dict[str, SubscriptionState] = {}
        self._follows: dict[str, _Follow] = {}
        self._changed = asyncio.Event()
        self._flush = asyncio.Event()
        self._source_status: dict[str, dict[str, Any]] = {}
        # key -> (generation, the parsed subscription or why it is invalid)
        self._parsed: dict[str, tuple[Any, ModelSubscription | FedctlError]] = {}

    # ---- inputs ------------------------------------------------------------------------
    def changed(self, *_: object) -> None:
        """A subscription, source or member changed: every subscription looks again."""
        self._changed.set()
        for f in self._follows.values():
            f.wake.set()

    def registry_event(self, source_key: str, model: str) -> bool:
        """A registry webhook for ``model`` from the source ``namespace/name``: wake the
        subscriptions following it. False when none does."""
        ns, _, name = source_key.partition("/")
        woke = False
        for key, obj in self._subs().items():
            sub = self._valid(key, obj)
            if sub is not None and key.startswith(f"{ns}/") and sub.spec.source == name \
                    and sub.spec.model == model:
                f = self._follows.get(key)
                if f is not None:
                    f.wake.set()
                    woke = True
        self._note_source(source_key, lastWebhookTime=_rfc3339(self._clock()))
        return woke

    def webhook_secret(self, source_key: str) -> bytes | None:
        """The HMAC secret of a ModelSource's registry webhook (None: unknown source or
        no webhook secret)."""
        return self._registries.webhook_secret(source_key)

    # ---- outputs -----------------------------------------------------------------------
    def field_values(self, api_version: str, kind: str, namespace: str, name: str,
                     storage_uris: Sequence[tuple[tuple[str | int, ...], str]],
                     cluster: str) -> list[tuple[str | tuple[str | int, ...], str]]:
        """The model URI fields of one template's copy on ``cluster`` (see
        ``model_status.field_values``); subscriptions of the template's namespace only."""
        out: list[tuple[str | tuple[str | int, ...], str]] = []
        for key, obj in self._subs().items():
            state = self.states.get(key)
            ns = key.partition("/")[0]
            sub = self._valid(key, obj)
            if state is None or sub is None:
                continue
            workloads = workloads_of(sub.spec, ns)
            refs = model_refs(sub.spec.model, sub.spec.channel) if ns == namespace else ()
            out += field_values(state, workloads, refs, api_version, kind, namespace, name,
                                storage_uris, cluster)
        return out

    def cached(self) -> dict[str, frozenset[str]]:
        merged: dict[str, set[str]] = {}
        for key, obj in self._subs().items():
            state = self.states.get(key)
            sub = self._valid(key, obj)
            if state is None or sub is None:
                continue
            for cluster, uris in cached_uris(sub.spec.model, sub.spec.channel,
                                             state).items():
                merged.setdefault(cluster, set()).update(uris)
        return {c: frozenset(u) for c, u in merged.items()}

    # ---- loop ----------------------------------------------------------------------------
    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Follow every subscription until cancelled. Each one's state is read back from
        its status at once (workloads render from it); its looks wait for ``ready`` (the
        hub's member list loaded)."""
        self._ready = ready
        writer = asyncio.create_task(self._write_loop(), name="model-status")
        try:
            while True:
                self._supervise()
                self._changed.clear()
                try:
                    await self._registries.refresh([
                        ModelSource(*k.partition("/")[::2], o.get("spec") or {})
                        for k, o in self._sources().items()])
                except Exception as exc:  # retried at the next turn
                    log.warning("model sources not refreshed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=5.0)
        finally:
            writer.cancel()
            for f in self._follows.values():
                f.task.cancel()
            for f in self._follows.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await f.task
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await self._registries.close()

    def _supervise(self) -> None:
        subs = self._subs()
        for key in list(self._follows):
            if key not in subs or self._follows[key].task.done():
                f = self._follows.pop(key)
                f.task.cancel()
                if key not in subs:
                    # its workloads go back to the template's URI
                    hit = self._parsed.pop(key, None)
                    if self.states.pop(key, None) is not None and hit is not None \
                            and isinstance(hit[1], ModelSubscription):
                        for w in workloads_of(hit[1].spec, key.partition("/")[0]):
                            self._enqueue(w)
                    self._set_cached(self.cached())
        for key, obj in subs.items():
            if key not in self._follows:
                if key not in self.states:
                    self.states[key] = from_status(obj.get("status"))
                wake = asyncio.Event()
                self._follows[key] = _Follow(
                    asyncio.create_task(self._follow(key, wake), name=f"model/{key}"), wake)
        self._set_cached(self.cached())

    async def _follow(self, key: str, wake: asyncio.Event) -> None:
        if self._ready is not None:
            await self._ready.wait()
        retry = RETRY_MIN
        while True:
            obj = self._subs().get(key)
            if obj is None:
                return
            wait = 30.0
            wake.clear()  # a wake while this look runs (a webhook mid-staging) is kept
            try:
                wait = await self._step(key, obj)
                retry = RETRY_MIN
            except asyncio.CancelledError:
                raise
            except RegistryUnavailable as exc:
                self._condition(key, "SourceReachable", "False", "RegistryUnavailable", str(exc))
                self._condition(key, "Ready", "False", "RegistryUnavailable", str(exc))
                self._note_source_reachable(obj, False, str(exc))
                wait, retry = retry, min(RETRY_MAX, retry * 2)
            except RegistryError as exc:  # the registry answered: no such model or alias…
                reason = "NotFound" if isinstance(exc, NotFound) else "RegistryError"
                self._condition(key, "SourceReachable", "False", reason, str(exc))
                self._condition(key, "Ready", "False", reason, str(exc))
                wait, retry = min(retry, self._poll_interval(obj)), min(RETRY_MAX, retry * 2)
            except InputError as exc:  # the spec is wrong: nothing to retry until it changes
                self._condition(key, "Ready", "False", "InvalidSpec", str(exc))
                wait = 3600.0
            except FedctlError as exc:
                reason = type(exc).__name__.removesuffix("Error") or "Error"
                self._condition(key, "Ready", "False", reason, str(exc))
                wait, retry = retry, min(RETRY_MAX, retry * 2)
            except Exception as exc:  # a bug must not stop the other subscriptions
                log.exception("model subscription %s", key)
                self._condition(key, "Ready", "False", "InternalError", repr(exc))
                wait, retry = retry, min(RETRY_MAX, retry * 2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait)

    async def _step(self, key: str, obj: Mapping[str, Any]) -> float:
        # (registry and store errors that are the user's to fix are InputErrors too)
        """One look at a subscription; returns how long to wait before the next."""
        ns = key.partition("/")[0]
        state = self.states.setdefault(key, SubscriptionState())
        self._follows[key].generation = (obj.get("metadata") or {}).get("generation")
        sub = self._parse(key, obj)  # raises InputError: the condition says where
        spec = sub.spec
        src_obj = self._sources().get(f"{ns}/{spec.source}")
        if src_obj is None:
            msg = (f"ModelSource {ns}/{spec.source} not found (spec.source); "
                   "create it or fix the name")
            self._condition(key, "SourceReachable", "False", "SourceNotFound", msg)
            self._condition(key, "Ready", "False", "SourceNotFound", msg)
            return RETRY_MAX
        source = ModelSource(ns, spec.source, src_obj.get("spec") or {})
        registry = await self._registries.registry(source)
        model, channel = spec.model, spec.channel
        pinned = spec.version
        info = (await registry.get_version(model, str(pinned)) if pinned
                else await registry.resolve(model, channel))
        self._condition(key, "SourceReachable", "True", "Resolved",
                        f"{'version ' + str(pinned) if pinned else channel} -> "
                        f"version {info.version}")
        self._note_source_reachable(obj, True, "")
        members = self._members()
        chosen = selected(spec.clusters, members,
                          self._affinity(ns, spec.clusters.propagation_policy or ""))
        if not chosen:
            msg = "the subscription selects no cluster (spec.clusters)"
            self._condition(key, "ClustersSelected", "False", "NoClusters", msg)
            self._condition(key, "Ready", "False", "NoClusters", msg)
            return source.poll_interval
        self._condition(key, "ClustersSelected", "True", "Selected",
                        f"{len(chosen)} cluster(s): " + ", ".join(m.name for m in chosen))
        plan = plan_input(spec)
        facts, problems = await self._facts(chosen, ns)
        targets, plan_problems = plan_targets(plan, facts, info.version)
        problems += list(plan_problems)
        state.plan(info.version, [
            Stage(cluster=t.cluster, store=t.store.name, variant=t.variant,
                  version=t.version, uri=t.uri) for t in targets]
            + [Stage(cluster=p.cluster, store="", variant="", version=info.version, uri="",
                     state="Failed", reason=p.reason, message=p.message) for p in problems])
        # a cluster that cannot be staged is tried again at the next look
        todo = tuple(t for t in targets if state.stages[t.cluster].state != "Verified")
        if todo:
            self._condition(key, "Staged", "False", "Staging",
                            f"staging version {info.version} on {len(todo)} cluster(s)")
            self._condition(key, "Ready", "False", "Staging",
                            f"version {info.version}: "
                            f"{len(targets) - len(todo)}/{len(state.stages)} verified")
            for t in todo:
                state.update(t.cluster, state="Pending", reason="", message="")
            self._mark(key)
            job = StageJob(key, source, info, plan, todo,
                           {t.cluster: state.in_use(t.cluster) for t in targets})
            await self._stager.stage(job, lambda p: self._progress(key, info.version, p))
        return self._after_staging(key, obj, sub, state, source)

    def _after_staging(self, key: str, obj: Mapping[str, Any], sub: ModelSubscription,
                       state: SubscriptionState, source: ModelSource) -> float:
        failed = state.failed()
        verified = sum(1 for s in state.stages.values() if s.state == "Verified")
        if failed:
            msg = "; ".join(f"{s.cluster}: {s.reason} {s.message}".strip() for s in failed)
            self._condition(key, "Staged", "False", "StagingFailed", msg)
            self._condition(key, "Ready", "False", "StagingFailed",
                            f"version {state.desired}: {verified}/{len(state.stages)} "
                            f"verified; clusters keep serving "
                            f"{state.switched or 'what they served'}; {msg}")
            self._mark(key)
            self._set_cached(self.cached())
            return RETRY_MAX
        before = (state.switched, dict(state.serving))
        if state.switch():
            self._condition(key, "Staged", "True", "Verified",
                            f"version {state.desired} verified on {verified} cluster(s)")
            self._condition(key, "Ready", "True", "Switched",
                            f"workloads serve version {state.switched}")
            if (state.switched, state.serving) != before:
                ns = key.partition("/")[0]
                for w in workloads_of(sub.spec, ns):
                    self._enqueue(w)
                asyncio.get_running_loop().create_task(self._writes.event(
                    obj, "Switched", f"switched to version {state.switched} "
                    f"(last good: {state.last_good or '-'})"))
        self._mark(key)
        self._set_cached(self.cached())
        return source.poll_interval

    def _poll_interval(self, obj: Mapping[str, Any]) -> float:
        ns = (obj.get("metadata") or {}).get("namespace", "")
        src = self._sources().get(f"{ns}/{(obj.get('spec') or {}).get('source')}")
        return float(((src or {}).get("spec") or {}).get("pollIntervalSeconds") or 30)

    def _parse(self, key: str, obj: Mapping[str, Any]) -> ModelSubscription:
        """The subscription as parsed and validated (cached per generation)."""
        gen = (obj.get("metadata") or {}).get("generation")
        hit = self._parsed.get(key)
        if hit is not None and hit[0] == gen and gen is not None:
            if isinstance(hit[1], FedctlError):
                raise hit[1]
            return hit[1]
        try:
            parsed = parse_document(Document(dict(obj), f"ModelSubscription {key}", 0, 1))
        except FedctlError as exc:
            self._parsed[key] = (gen, exc)
            raise
        if not isinstance(parsed, ModelSubscription):
            raise FedctlError(f"{key}: not a ModelSubscription")
        self._parsed[key] = (gen, parsed)
        return parsed

    def _valid(self, key: str, obj: Mapping[str, Any]) -> ModelSubscription | None:
        try:
            return self._parse(key, obj)
        except FedctlError:
            return None

    def _progress(self, key: str, version: str, p: Progress) -> None:
        state = self.states.get(key)
        if state is None or state.desired != version:
            return
        if state.update(p.cluster, state=p.state, bytes_done=p.bytes_done,
                        bytes_total=p.bytes_total, reason=p.reason, message=p.message):
            self._mark(key)

    async def _facts(self, chosen: Sequence[StagingMember],
                     namespace: str) -> tuple[list[ClusterFacts], list[PlanProblem]]:
        from federation.hub.model_stores import StoreCredentialsError

        facts, problems = [], []
        for m in chosen:
            try:
                stores = tuple([await self._stores.config(ref, namespace)
                                for ref in m.stores])
            except StoreCredentialsError as exc:
                problems.append(PlanProblem(m.name, "StoreCredentials", str(exc)))
                continue
            facts.append(ClusterFacts(name=m.name, labels=m.labels, region=m.region,
                                      edge=m.edge, gpu_products=m.gpu_products,
                                      stores=stores))
        return facts, problems

    # ---- status ----------------------------------------------------------------------------
    def _condition(self, key: str, kind: str, status: str, reason: str, message: str) -> None:
        state = self.states.setdefault(key, SubscriptionState())
        if state.set_condition(kind, status, reason, message, _rfc3339(self._clock())):
            self._mark(key)

    def _mark(self, key: str) -> None:
        f = self._follows.get(key)
        if f is not None:
            f.dirty = True
        self._flush.set()

    def _note_source_reachable(self, sub: Mapping[str, Any], ok: bool, message: str) -> None:
        ns = (sub.get("metadata") or {}).get("namespace", "")
        key = f"{ns}/{(sub.get('spec') or {}).get('source')}"
        cond = {"type": "Reachable", "status": "True" if ok else "False",
                "reason": "Reachable" if ok else "RegistryUnavailable",
                "message": message[:500]}
        self._note_source(key, lastPollTime=_rfc3339(self._clock()), conditions=[cond])

    def _note_source(self, key: str, **fields: Any) -> None:
        if key.partition("/")[2] and key in self._sources():
            self._source_status.setdefault(key, {}).update(fields)
            self._flush.set()

    async def _write_loop(self) -> None:
        written: dict[str, dict[str, Any]] = {}
        while True:
            await self._flush.wait()
            self._flush.clear()
            for key, f in list(self._follows.items()):
                if not f.dirty or key not in self.states:
                    continue
                f.dirty = False
                body = to_status(self.states[key], f.generation)
                if written.get(key) == body:
                    continue
                ns, _, name = key.partition("/")
                try:
                    await self._writes.subscription_status(ns, name, body)
                    written[key] = body
                except Exception as exc:  # written at the next change
                    log.warning("status of ModelSubscription %s not written: %s", key, exc)
                    f.dirty = True
            for key, fields in list(self._source_status.items()):
                ns, _, name = key.partition("/")
                src_body = dict(fields)
                if written.get("src:" + key) == src_body:
                    continue
                try:
                    await self._writes.source_status(ns, name, src_body)
                    written["src:" + key] = src_body
                except Exception as exc:
                    log.warning("status of ModelSource %s not written: %s", key, exc)
            await asyncio.sleep(STATUS_FLUSH_SECONDS)


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

