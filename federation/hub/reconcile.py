"""Reconcile one template: place it, apply it, prune it, aggregate its status, fail it over.

Inputs come from the controller's caches (templates, policies, bindings) and from
``Members`` (snapshots, appliers); outputs are member objects (server-side applied), the
ResourceBinding and the template's status on the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from kubernetes_asyncio.client.exceptions import ApiException

from federation.errors import FedctlError
from federation.hub.bindings import (
    KIND,
    TemplateKey,
    cluster_names,
    clusters_spec,
    condition,
    digest,
    placement_of,
)
from federation.hub.deps import DependencySync, DepsResult, deps_from_json, deps_to_json
from federation.hub.gang_gate import (
    Gate,
    OldCopy,
    awaiting_fence_message,
    gang_gate,
    stopping_message,
)
from federation.hub.ports import Applier, HubApi, MemberDirectory, Placer
from federation.hub.ratelimit import TokenBucket
from federation.interpreters.demand import DemandError, extract_demand
from federation.interpreters.interpreter import PHASE_ORDER, Interpreters
from federation.model.demand import Demand
from federation.model.labels import BINDING_LABEL, FIELD_MANAGER
from federation.model.placement import Decision, Placement
from federation.scheduling.reservations import Hold, Ledger, holds_for
from federation.syncer.apply import ApplyResult, is_ours, raw_dict
from federation.syncer.checkpoint import checkpoint_location
from federation.syncer.dependencies import Dependency
from federation.syncer.gpu_pin import GpuPinConflict
from federation.syncer.render import MemberTarget, render
from federation.syncer.validate import check_storage_uris
from policies.match import select_overrides, select_policy
from policies.models import GROUP, VERSION, Failover, OverridePolicy, PropagationPolicy
from policies.source import format_path

log = logging.getLogger(__name__)

FINALIZER = "fedctl.dev/cleanup"
TRAINING_GANGS = ("SingleCluster", "AllOrNothing")
SA_TOKEN = "kubernetes.io/service-account-token"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one reconcile did; ``requeue`` seconds when something is still settling."""

    scheduled: bool
    clusters: tuple[str, ...]
    message: str
    requeue: float | None = None
    selected: bool = True  # False: no policy propagates it (nothing to schedule)
    # the decision changed and the status writes were left to a reconcile in the STATUS
    # band (the caller queues it)
    status_due: bool = False
    # something failed that may pass on its own (a conflict, throttling, a 5xx, a
    # member not answering): the caller retries with its per-key backoff. Errors that
    # fail the same way until something changes (403, schema rejection, kind not
    # installed, an invalid template) are terminal conditions instead: not retried
    # until the template, its policy or the fleet changes.
    retry: bool = False
    # no room anywhere: retried when the fleet changes (capacity freed, a member's
    # readiness, labels, taints or kinds), not on a timer
    unschedulable: bool = False
    # capacity this template held was given back (a finished job, a deleted template,
    # a smaller placement): templates waiting for room are worth another look
    released: bool = False
    # clusters where the apply failed terminally (e.g. the kind is not installed there)
    stuck_on: tuple[str, ...] = ()


# (template, its hub object, member) -> (path expression, value) pairs set on its copy
FieldValues = Callable[[TemplateKey, Mapping[str, Any], str],
                       Sequence[tuple[str | tuple[str | int, ...], str]]]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Recorder(Protocol):
    async def __call__(self, obj: dict[str, Any], *, reason: str, message: str,
                       warning: bool = False) -> None: ...


class Reconciler:
    def __init__(self, *, hub: HubApi, members: MemberDirectory, interpreters: Interpreters,
                 scheduler: Placer, policies: Callable[[], list[PropagationPolicy]],
                 overrides: Callable[[], list[OverridePolicy]],
                 template: Callable[[TemplateKey], dict[str, Any] | None],
                 binding: Callable[[TemplateKey], dict[str, Any] | None],
                 ledger: Ledger | None = None,
                 evictions: TokenBucket | None = None,
                 deps: DependencySync | None = None,
                 on_failover: Callable[[str], None] | None = None,
                 record: Recorder | None = None,
                 on_apply: Callable[[ApplyResult], None] | None = None,
                 explain: Callable[[Decision], dict[str, Any]] | None = None,
                 field_values: FieldValues | None = None) -> None:
        self.hub = hub
        self.members = members
        self.interpreters = interpreters
        self.scheduler = scheduler
        self._policies = policies
        self._overrides = overrides
        self._template = template
        self._binding = binding
        self._on_failover = on_failover
        self._on_apply = on_apply  # every apply sent to a member (metrics)
        # the decision as written in the binding's status (``status.decision``)
        self._explain = explain
        # per-member field values (a model URI switched to the member's local mirror)
        self._field_values = field_values
        self._record = record
        self.ledger = ledger if ledger is not None else Ledger()
        self._evictions = evictions if evictions is not None else TokenBucket(0)
        self.deps = deps
        # (cluster, template) -> (digest of what we applied, generation it produced)
        self._applied: dict[tuple[str, TemplateKey], tuple[str, int | None]] = {}
        # (apiVersion, kind) -> status fields its schema drops (learnt from the server)
        self._unstored: dict[tuple[str, str], frozenset[str]] = {}
        # templates whose last reconcile left its status writes to the next one
        self._deferred: set[TemplateKey] = set()

    # ---- entry ---------------------------------------------------------------------------
    async def reconcile(self, key: TemplateKey) -> Outcome:
        # a binding adopted from an older hub keeps its label (its copies carry it)
        key = key.with_binding(self._binding(key))
        held = dict(self.ledger.holds(key.label))
        outcome = await self._reconcile(key)
        if _freed(held, self.ledger.holds(key.label)):
            outcome = replace(outcome, released=True)
        return outcome

    async def _reconcile(self, key: TemplateKey) -> Outcome:
        tmpl = self._template(key)
        binding = self._binding(key)
        if tmpl is None or (tmpl.get("metadata") or {}).get("deletionTimestamp"):
            return await self._teardown(key, tmpl, binding)
        meta = tmpl["metadata"]
        labels = meta.get("labels") or {}
        policy = select_policy(self._policies(), key.api_version, key.kind, key.name,
                               key.namespace, labels)
        if policy is None or tmpl.get("type") == SA_TOKEN:
            if binding is not None:
                return await self._teardown(key, tmpl, binding, keep_template=True)
            return Outcome(False, (), "no propagation policy selects it" if policy is None
                           else "a ServiceAccount token Secret is never propagated (each "
                                "cluster issues its own)", selected=False)
        # the finalizer patch runs alongside placing and applying (one round trip less
        # on the critical path); a copy applied before it lands is still found and
        # removed on deletion through the member copy caches (``_orphans``)
        fin = asyncio.ensure_future(self._ensure_finalizer(key, tmpl))
        try:
            outcome = await self._place(key, tmpl, binding, policy, fin)
        except BaseException:
            fin.cancel()
            with contextlib.suppress(BaseException):
                await fin
            raise
        await fin
        return outcome

    async def _place(self, key: TemplateKey, tmpl: dict[str, Any],
                     binding: dict[str, Any] | None, policy: PropagationPolicy,
                     finalizer: asyncio.Future[None]) -> Outcome:
        labels = tmpl["metadata"].get("labels") or {}
        finished = self._finished(key, tmpl, binding)
        if finished is not None:
            return await self._keep_finished(key, tmpl, binding, policy, finalizer, finished)
        try:
            demand = extract_demand(tmpl, self.interpreters)
            # a model URI no storage initializer can read: nothing is applied
            check_storage_uris(tmpl, self.interpreters)
        except FedctlError as exc:
            text = _where(exc)
            bad = condition("Scheduled", False, "InvalidTemplate", text, _now(),
                            _conds(binding))
            await self._events(tmpl, binding, [bad])
            state = failover_state(binding)
            spec = self._binding_spec(key, tmpl, policy, placement_of(binding),
                                      list(state.get("pendingCleanup") or []), state,
                                      _resume_of(state), tuple(deps_from_json(
                                          ((binding or {}).get("spec") or {}).get(
                                              "dependencies"), key.namespace)))
            await self._write_binding(key, spec, binding, [bad], {})
            return Outcome(False, (), f"invalid template: {text}")
        previous = placement_of(binding)
        holding = frozenset(previous.clusters) if previous else frozenset()
        grace = float(policy.spec.failover.cluster_not_ready_seconds)
        snaps = self.members.snapshots(grace, holding, self.ledger, key.label)
        decision = self.scheduler.schedule(snaps, demand, policy.spec.placement, previous)
        silent = (self._silent_left(previous, decision)
                  if decision.gang in TRAINING_GANGS else [])
        if silent:
            # a training gang never leaves a cluster that does not answer unless it is
            # fenced (its pods may still run there): it stays whatever the toleration
            snaps = self.members.snapshots(math.inf, holding, self.ledger, key.label)
            decision = self.scheduler.schedule(snaps, demand, policy.spec.placement,
                                               previous)
        placement, sched = settle(decision, demand, previous, binding, self.ledger, key.label)
        rules = [r for p in select_overrides(self._overrides(), key.api_version, key.kind,
                                             key.name, key.namespace, labels)
                 for r in p.spec.override_rules]
        gang = decision.gang in TRAINING_GANGS
        state = failover_state(binding)
        pending = set(state.get("pendingCleanup") or [])
        moved_off = [c for c in (previous.clusters if previous else ())
                     if c not in placement.clusters and c not in pending
                     and not self.members.health(c).ready]
        resume = _resume_of(state)
        # Events sent with the hub writes at the end, off the path to the new copy
        notes: list[Callable[[], Awaitable[None]]] = []
        if moved_off:
            await self._evictions.take()  # failover moves are rate limited
            for cluster in moved_off:
                if self._on_failover is not None:
                    self._on_failover(cluster)
                if self._record is not None:
                    notes.append(partial(
                        self._record, tmpl, reason="FailedOver", warning=True,
                        message=f"cluster {cluster} is not ready; moved to "
                                f"{', '.join(placement.clusters) or 'nowhere yet'}; the copy "
                                f"on {cluster} is removed when it answers again"))
            if gang and resume is None:
                loc = checkpoint_location(tmpl, self.interpreters,
                                          policy.spec.failover.checkpoint_env)
                if loc is not None:
                    resume = (loc, moved_off[0])
        gate = await self._gang_gate(key, binding, placement) if gang else None
        extra: list[dict[str, Any]] = []
        if silent:
            extra.append(condition("Failover", False, "AwaitingFence",
                                   awaiting_fence_message(key.kind, silent), _now(),
                                   _conds(binding)))
        applied: dict[str, dict[str, Any]] = {}
        copies: dict[str, dict[str, Any]] = {}
        requeue: float | None = None
        if gate is not None and not gate.open:
            # the old copy may still run: the new one waits (no apply, no prune)
            cleanup = list(gate.remember)
            requeue = 1.0 if gate.stopping else None
            if gate.awaiting_fence and not silent:
                extra.append(condition("Failover", False, "AwaitingFence",
                                       awaiting_fence_message(key.kind, gate.awaiting_fence),
                                       _now(), _conds(binding)))
            elif not gate.awaiting_fence:
                extra.append(condition("Failover", False, "StoppingOldCopy",
                                       stopping_message(gate.stopping, placement.clusters),
                                       _now(), _conds(binding)))
        else:
            applied, copies = await self._apply(
                key, tmpl, placement, rules,
                adopt=policy.spec.conflict_resolution == "Overwrite", resume=resume)
            cleanup, requeue = await self._prune(key, binding, placement, copies, gang,
                                                 policy.spec.failover)
        held = gate is not None and not gate.open
        conds = [sched, condition("Applied", False, "AwaitingOldCopy", extra[-1]["message"],
                                  _now(), _conds(binding))
                 if held and extra else _applied_condition(applied, binding), *extra]
        deps = await self._sync_deps(key, tmpl, binding, placement, pending,
                                     policy.spec.propagate_deps)
        if deps is not None:
            conds.append(condition(
                "DependenciesApplied", deps.ok, "Applied" if deps.ok else "DependencyFailed",
                deps.message or f"{len(deps.deps)} referenced object(s) propagated", _now(),
                _conds(binding)))
        await finalizer  # before the template's status changes its resourceVersion
        spec = self._binding_spec(key, tmpl, policy, placement, cleanup, state, resume,
                                  deps.deps if deps is not None else ())
        # A new decision (a move, a first placement) is recorded at once; the status it
        # leads to (binding status, the template's aggregate, condition Events) waits for
        # one reconcile in the STATUS band, which by then also sees the new copies
        # progress: during a failover the hub writes one status per move instead of
        # two or three, and the moves go first. Never twice in a row, so a template
        # whose decision keeps changing still gets its status.
        defer = _spec_changed(binding, spec, key) and key not in self._deferred
        if defer:
            self._deferred.add(key)
        else:
            self._deferred.discard(key)
        writes: list[Awaitable[None]] = [note() for note in notes]
        writes.append(self._write_binding(
            key, spec, binding, conds, applied, copies, decision.hourly_cost,
            write_status=not defer,
            explanation=self._explain(decision) if self._explain is not None else None))
        if not defer:
            writes += [self._events(tmpl, binding, conds),
                       self._write_template_status(key, tmpl, copies)]
        await asyncio.gather(*writes)
        # copies becoming healthy and members coming back arrive as events: no polling.
        # A failed apply that may pass on its own goes back through the queue's backoff;
        # one that fails the same way until something changes is a condition (above),
        # and an unschedulable template waits for the fleet to change.
        failed = [r for r in applied.values() if not r["ok"]]
        waits = [w for w in (requeue, self._toleration_left(holding, grace)) if w is not None]
        return Outcome(decision.schedulable, placement.clusters, decision.message,
                       min(waits) if waits else None, status_due=defer,
                       retry=any(r.get("retryable", True) for r in failed),
                       unschedulable=not decision.schedulable,
                       stuck_on=tuple(sorted(c for c, r in applied.items()
                                             if not r["ok"] and not r.get("retryable", True))))

    # ---- training gangs leaving a cluster -----------------------------------------------
    def _silent_left(self, previous: Placement | None, decision: Decision) -> list[str]:
        """Registered clusters the decision moves the workload off that do not answer and
        are not fenced."""
        if previous is None:
            return []
        return [c for c in previous.clusters
                if c not in decision.placement.clusters and self.members.get(c) is not None
                and not self.members.health(c).ready and self.members.fence(c) is None]

    async def _gang_gate(self, key: TemplateKey, binding: dict[str, Any] | None,
                         placement: Placement) -> Gate:
        """Whether a training gang may start on ``placement`` (``gang_gate``): deletes the
        copies on answering clusters it leaves, in the foreground, and reports what it
        still waits for."""
        before = placement_of(binding)
        old = set(before.clusters) if before else set()
        old |= set(failover_state(binding).get("pendingCleanup") or [])
        old |= self._orphans(key, set(placement.clusters))
        olds: list[OldCopy] = []
        for cluster in sorted(old - set(placement.clusters)):
            rec = self.members.get(cluster)
            if rec is None:
                continue  # unregistered: nothing to wait for
            ready = self.members.health(cluster).ready
            present, terminating = (await self._copy_state(rec.applier, cluster, key)
                                    if ready else (True, False))
            olds.append(OldCopy(cluster, ready, self.members.fence(cluster) is not None,
                                present, terminating))
        started = all(self._ours(c, key) for c in placement.clusters)
        gate = gang_gate(olds, started)
        for cluster in gate.delete:
            rec = self.members.get(cluster)
            if rec is not None:
                await rec.applier.delete(key.api_version, key.kind, key.name,
                                         key.namespace or None, foreground=True)
                self._applied.pop((cluster, key), None)
        return gate

    def _ours(self, cluster: str, key: TemplateKey) -> bool:
        """``cluster``'s watched copy of the template is ours (labelled for it)."""
        _, copy = self.members.copy(cluster, key.api_version, key.kind, key.namespace,
                                    key.name)
        labels = ((copy or {}).get("metadata") or {}).get("labels") or {}
        return copy is not None and labels.get(BINDING_LABEL) == key.label

    async def _copy_state(self, applier: Applier, cluster: str,
                          key: TemplateKey) -> tuple[bool, bool]:
        """(present, terminating) of our copy on an answering cluster: from the member's
        watch when the kind is watched there, else listed by our binding label."""
        watched, copy = self.members.copy(cluster, key.api_version, key.kind,
                                          key.namespace, key.name)
        if not watched:
            try:
                found = [o for o in await applier.list_bound(key.api_version, key.kind,
                                                              key.label)
                         if (o.get("metadata") or {}).get("name") == key.name]
            except Exception:
                return True, False
            copy = found[0] if found else None
        if copy is None:
            return False, False
        meta = copy.get("metadata") or {}
        if (meta.get("labels") or {}).get(BINDING_LABEL) != key.label:
            return False, False  # not ours (another binding's, or a user's)
        return True, bool(meta.get("deletionTimestamp"))

    # ---- finished jobs ------------------------------------------------------------------
    def _finished(self, key: TemplateKey, tmpl: dict[str, Any],
                  binding: dict[str, Any] | None) -> str | None:
        """"Succeeded" or "Failed" when the job has finished: recorded in the binding (for
        this template: same uid), or every copy of its placement, as watched, says so."""
        spec = (binding or {}).get("spec") or {}
        uid = tmpl["metadata"].get("uid")
        if spec.get("finished") in ("Succeeded", "Failed") and (
                (spec.get("resource") or {}).get("uid") == uid):
            return str(spec["finished"])
        placement = placement_of(binding)
        if placement is None:
            return None
        phases = []
        for cluster in placement.clusters:
            _, copy = self.members.copy(cluster, key.api_version, key.kind, key.namespace,
                                        key.name)
            labels = (copy or {}).get("metadata", {}).get("labels") or {}
            if copy is None or labels.get(BINDING_LABEL) != key.label:
                return None
            health = self.interpreters.health(copy)
            if not health.finished:
                return None
            phases.append(health.phase)
        return "Failed" if "Failed" in phases else "Succeeded"

    async def _keep_finished(self, key: TemplateKey, tmpl: dict[str, Any],
                             binding: dict[str, Any] | None, policy: PropagationPolicy,
                             finalizer: asyncio.Future[None], phase: str) -> Outcome:
        """A finished job keeps its record but gives its capacity back and is never
        placed again: no hold (in the ledger nor in the binding, so a restarted hub holds
        nothing either), no scheduling, no apply (a copy whose pods are gone is not
        recreated). Its copies stay until the template is deleted."""
        self.ledger.set(key.label, {})
        placement = placement_of(binding) or Placement()
        state = failover_state(binding)
        copies = {}
        for cluster in placement.clusters:
            _, copy = self.members.copy(cluster, key.api_version, key.kind, key.namespace,
                                        key.name)
            if copy is not None:
                copies[cluster] = copy
        spec = self._binding_spec(key, tmpl, policy, placement,
                                  list(state.get("pendingCleanup") or []), state,
                                  _resume_of(state), tuple(deps_from_json(
                                      ((binding or {}).get("spec") or {}).get("dependencies"),
                                      key.namespace)))
        spec["finished"] = phase
        message = (f"the job {phase.lower()}; the capacity it held on "
                   f"{', '.join(placement.clusters) or 'no cluster'} is released and it is "
                   "not placed again")
        applied = {c: {"ok": True, "action": "unchanged", "message": ""}
                   for c in placement.clusters}
        # its copies ran to the end: they were applied (a job finishing within a second
        # may finish before the binding we read had its Applied condition written)
        conds = [condition("Scheduled", True, "Finished", message, _now(), _conds(binding)),
                 _applied_condition(applied, binding),
                 *[c for c in _conds(binding) if c.get("type") not in ("Scheduled", "Applied",
                                                                       "Failover")]]
        await finalizer
        await asyncio.gather(self._write_binding(key, spec, binding, conds, applied, copies),
                             self._events(tmpl, binding, conds[:1]),
                             self._write_template_status(key, tmpl, copies))
        return Outcome(True, placement.clusters, message)

    def _toleration_left(self, holding: frozenset[str], grace: float) -> float | None:
        """Seconds until a NotReady cluster holding replicas exceeds its toleration (when
        the replicas must move), so the move does not wait for a resync."""
        left = [grace - since + 0.2 for c in holding
                if (since := self.members.not_ready_for(c)) is not None and since < grace]
        return max(0.1, min(left)) if left else None

    async def _sync_deps(self, key: TemplateKey, tmpl: dict[str, Any],
                         binding: dict[str, Any] | None, placement: Placement,
                         pending: set[str], enabled: bool) -> DepsResult | None:
        """Referenced ConfigMaps/Secrets/ServiceAccounts follow the workload (None: the
        workload has none, now or before)."""
        if self.deps is None:
            return None
        had = deps_from_json(((binding or {}).get("spec") or {}).get("dependencies"),
                             key.namespace)
        before = placement_of(binding)
        had_clusters = sorted(set(before.clusters if before else ()) | pending)
        try:
            wanted = self.deps.wanted(tmpl) if enabled else []
        except FedctlError as exc:
            return DepsResult(tuple(had), False, str(exc))
        if not wanted and not had:
            return None
        return await self.deps.sync(key, wanted, placement.clusters, had, had_clusters)

    async def _events(self, tmpl: dict[str, Any], binding: dict[str, Any] | None,
                      conds: list[dict[str, Any]]) -> None:
        """One Event per condition change (not per reconcile)."""
        if self._record is None:
            return
        before = {c.get("type"): (c.get("status"), c.get("reason"), c.get("message"))
                  for c in _conds(binding)}
        record = self._record
        await asyncio.gather(*(
            record(tmpl, reason=c["reason"], message=c["message"],
                   warning=c["status"] != "True")
            for c in conds
            if before.get(c["type"]) != (c["status"], c["reason"], c["message"])))

    # ---- apply and prune ----------------------------------------------------------------
    async def _apply(self, key: TemplateKey, tmpl: dict[str, Any], placement: Placement,
                     rules: list[Any], adopt: bool = False,
                     resume: tuple[str, str] | None = None) -> tuple[dict[str, dict[str, Any]],
                                                dict[str, dict[str, Any]]]:
        applied: dict[str, dict[str, Any]] = {}
        copies: dict[str, dict[str, Any]] = {}
        for a in placement.assignments:
            rec = self.members.get(a.cluster)
            if rec is None:
                # (a member registering is a fleet change: every template is queued)
                applied[a.cluster] = {"ok": False, "message": "cluster is not registered",
                                      "retryable": False, "reason": "ClusterNotRegistered"}
                continue
            spec = rec.spec
            target = MemberTarget(a.cluster, rec.labels, spec.get("region", ""),
                                  spec.get("provider", ""), spec.get("zone", ""))
            try:
                obj = render(tmpl, target, binding=key.label, interpreters=self.interpreters,
                             replicas=dict(a.replicas), rules=rules, resume=resume,
                             gpu_product=held_product(self.ledger.holds(key.label).get(
                                 a.cluster)),
                             field_values=self._field_values(key, tmpl, a.cluster)
                             if self._field_values is not None else ())
            except GpuPinConflict as exc:
                # the template's own node constraints exclude the product chosen there:
                # applying it would leave pods no node can take
                applied[a.cluster] = {"ok": False, "message": _where(exc), "retryable": False,
                                      "reason": "GpuPinConflict"}
                continue
            watched, cached = self.members.copy(a.cluster, key.api_version, key.kind,
                                                key.namespace, key.name)
            sent = digest(obj)
            seen = self._applied.get((a.cluster, key))
            if cached is not None and seen is not None and seen == (
                    sent, _generation(cached)) and is_ours(cached):
                # what we would send is what we sent, and nobody changed the copy since
                applied[a.cluster] = {"ok": True, "action": "unchanged", "message": ""}
                copies[a.cluster] = cached
                continue
            res = await rec.applier.apply(obj, adopt=adopt,
                                          existing=cached if watched else None)
            if self._on_apply is not None:
                self._on_apply(res)
            applied[a.cluster] = {"ok": res.ok, "action": res.action, "message": res.message,
                                  "retryable": res.retryable,
                                  "reason": res.reason or "ApplyFailed"}
            if res.ok and res.object is not None:
                copies[a.cluster] = res.object
                self._applied[(a.cluster, key)] = (sent, _generation(res.object))
            else:
                self._applied.pop((a.cluster, key), None)
        return applied, copies

    async def _prune(self, key: TemplateKey, binding: dict[str, Any] | None,
                     placement: Placement, copies: Mapping[str, dict[str, Any]],
                     gang: bool, failover: Failover | None = None
                     ) -> tuple[list[str], float | None]:
        """Remove copies from clusters no longer chosen; remember the unreachable ones.

        Training gangs: the old copy goes at once (never two copies running). Others
        (inference) follow the policy's ``failover.purgeMode``: Graciously (default) keeps
        the old copy until every new copy is healthy or ``gracePeriodSeconds`` passed,
        Immediately deletes it now, Never leaves it. A cluster that does not answer is
        remembered (``pendingCleanup``) and fenced when it answers again.
        """
        before = placement_of(binding)
        old = set(before.clusters) if before else set()
        state = failover_state(binding)
        old |= set(state.get("pendingCleanup") or [])
        old |= self._orphans(key, set(placement.clusters))
        stale = sorted(old - set(placement.clusters))
        if not stale:
            return [], None
        new_healthy = all(self.interpreters.health(o).healthy for o in copies.values()) and (
            set(copies) == set(placement.clusters))
        fo = failover or Failover()
        if not gang and fo.purge_mode == "Never":
            return [], None  # the old copies are left for an operator to remove
        if not gang and fo.purge_mode == "Graciously" and not new_healthy:
            since = _parse_time(state.get("cleanupSince"))
            waited = (dt.datetime.now(dt.UTC) - since).total_seconds() if since else 0.0
            if waited < fo.grace_period_seconds:
                # keep serving from the old clusters until the new copies are healthy
                # (a copy's health change is a watch event) or the grace period ends
                return stale, fo.grace_period_seconds - waited + 0.1
        left = []
        failed = False
        for cluster in stale:
            rec = self.members.get(cluster)
            if rec is None:
                continue  # the cluster was unregistered: nothing to fence
            if not self.members.health(cluster).ready:
                # fenced when it answers again: that transition re-queues every template
                left.append(cluster)
                continue
            if not await self._delete_copy(rec.applier, cluster, key):
                left.append(cluster)
                failed = True
        return left, 5.0 if failed else None

    async def _delete_copy(self, applier: Applier, cluster: str,
                           key: TemplateKey) -> bool:
        """Delete the template's copy on ``cluster``; False if it is still there."""
        res = await applier.delete(key.api_version, key.kind, key.name, key.namespace or None)
        self._applied.pop((cluster, key), None)
        return res.ok

    def _orphans(self, key: TemplateKey, placed: set[str]) -> set[str]:
        """Clusters whose watched copies say they hold this template though the binding
        does not (a hub stopped between applying and recording a move)."""
        return {cluster for cluster, label in self.members.copies_of(
                    key.api_version, key.kind, key.namespace, key.name).items()
                if cluster not in placed and label == key.label}

    async def _teardown(self, key: TemplateKey, tmpl: dict[str, Any] | None,
                        binding: dict[str, Any] | None, *,
                        keep_template: bool = False) -> Outcome:
        before = placement_of(binding)
        clusters = set(before.clusters) if before else set()
        clusters |= set(failover_state(binding).get("pendingCleanup") or [])
        clusters |= self._orphans(key, set())
        left = []
        for cluster in sorted(clusters):
            rec = self.members.get(cluster)
            if rec is None:
                continue
            if not await self._delete_copy(rec.applier, cluster, key):
                left.append(cluster)
        had_deps = deps_from_json(((binding or {}).get("spec") or {}).get("dependencies"),
                                  key.namespace)
        if had_deps and self.deps is not None and not await self.deps.release_all(
                key, had_deps, sorted(clusters)):
            left.append("(referenced objects)")
        if left:
            return Outcome(False, tuple(left), f"waiting to delete from {', '.join(left)}",
                           requeue=5.0)
        if binding is not None:
            await self._delete_binding(key, (binding.get("metadata") or {}).get("name"))
        self.ledger.drop(key.label)
        self._deferred.discard(key)
        if tmpl is not None and FINALIZER in (tmpl["metadata"].get("finalizers") or []):
            await self._remove_finalizer(key, tmpl)
        return Outcome(False, (), "removed from every cluster" if not keep_template
                       else "no policy selects it any more; removed from every cluster")

    # ---- hub writes ---------------------------------------------------------------------
    async def _resource(self, api_version: str, kind: str) -> Any:
        return await self.hub.resources.get(api_version=api_version, kind=kind)

    async def _ensure_finalizer(self, key: TemplateKey, tmpl: dict[str, Any]) -> None:
        finalizers = list(tmpl["metadata"].get("finalizers") or [])
        if FINALIZER in finalizers:
            return
        res = await self._resource(key.api_version, key.kind)
        await self.hub.patch(res, body={"metadata": {
            "finalizers": [*finalizers, FINALIZER],
            "resourceVersion": tmpl["metadata"].get("resourceVersion")}},
            name=key.name, namespace=key.namespace or None,
            content_type="application/merge-patch+json", serializer=raw_dict,
            field_manager=FIELD_MANAGER)

    async def _remove_finalizer(self, key: TemplateKey, tmpl: dict[str, Any]) -> None:
        res = await self._resource(key.api_version, key.kind)
        rest = [f for f in tmpl["metadata"].get("finalizers") or [] if f != FINALIZER]
        try:
            await self.hub.patch(res, body={"metadata": {"finalizers": rest or None}},
                                 name=key.name, namespace=key.namespace or None,
                                 content_type="application/merge-patch+json",
                                 serializer=raw_dict, field_manager=FIELD_MANAGER)
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def _delete_binding(self, key: TemplateKey, name: str | None = None) -> None:
        """Delete the binding ``name`` (default: the key's)."""
        res = await self._resource(f"{GROUP}/{VERSION}", KIND)
        try:
            await self.hub.delete(res, name=name or key.binding_name,
                                  namespace=key.namespace, serializer=raw_dict)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _binding_spec(self, key: TemplateKey, tmpl: dict[str, Any],
                      policy: PropagationPolicy, placement: Placement | None,
                      cleanup: list[str], state: Mapping[str, Any],
                      resume: tuple[str, str] | None,
                      deps: tuple[Dependency, ...] = ()) -> dict[str, Any]:
        """The binding's spec: the decision and what follows from it for a failover
        (``pendingCleanup`` with ``cleanupSince``, ``resume``). They are the hub's memory
        across restarts, so they are written with the decision, never later."""
        spec: dict[str, Any] = {
            "resource": {"apiVersion": key.api_version, "kind": key.kind,
                         "namespace": key.namespace, "name": key.name,
                         "uid": tmpl["metadata"].get("uid")},
            "policy": f"{policy.kind}/{policy.metadata.namespace or ''}/"
                      f"{policy.metadata.name}".replace("//", "/"),
            "clusters": clusters_spec(placement, self.ledger.holds(key.label))
            if placement else [],
            "clusterNames": cluster_names(placement),
            "dependencies": deps_to_json(deps),
        }
        if cleanup:
            spec["pendingCleanup"] = sorted(cleanup)
            spec["cleanupSince"] = state.get("cleanupSince") or _now()
        if resume is not None:
            spec["resume"] = {"location": resume[0], "fromCluster": resume[1]}
        return spec

    async def _write_binding(self, key: TemplateKey, spec: dict[str, Any],
                             binding: dict[str, Any] | None, conds: list[dict[str, Any]],
                             applied: Mapping[str, dict[str, Any]],
                             copies: Mapping[str, dict[str, Any]] | None = None,
                             hourly_cost: float | None = None, *,
                             write_status: bool = True,
                             explanation: dict[str, Any] | None = None) -> None:
        res = await self._resource(f"{GROUP}/{VERSION}", KIND)
        if _spec_changed(binding, spec, key):
            # (unchanged on most reconciles: a copy's status moved, a resync)
            body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
                    "metadata": {"name": key.binding_name, "namespace": key.namespace,
                                 "labels": {BINDING_LABEL: key.label}},
                    "spec": spec}
            await self.hub.server_side_apply(res, body=body, name=key.binding_name,
                                             namespace=key.namespace,
                                             field_manager=FIELD_MANAGER,
                                             force_conflicts=True, serializer=raw_dict)
            legacy = ((binding or {}).get("metadata") or {}).get("name")
            if legacy and legacy != key.binding_name:
                # adopted: the older hub's binding is replaced by the one just written
                await self._delete_binding(key, str(legacy))
                binding = None  # its status is not this binding's: written afresh
        if not write_status:
            return
        health = {c: self.interpreters.health(o) for c, o in (copies or {}).items()}
        phase = (max(health.values(), key=lambda h: PHASE_ORDER[h.phase]).phase
                 if health else "Pending")
        status: dict[str, Any] = {
            "conditions": conds,
            "phase": phase,
            "clusters": [{"name": c, "applied": r.get("action", "error"),
                          "message": r.get("message", ""),
                          "phase": health[c].phase if c in health else "Unknown",
                          "health": health[c].message if c in health else ""}
                         for c, r in sorted(applied.items())],
            # an older hub kept these in the status: they live in the spec now
            "pendingCleanup": None, "cleanupSince": None, "resume": None,
        }
        if hourly_cost is not None:
            status["hourlyCost"] = round(hourly_cost, 4)
        if explanation is not None:
            status["decision"] = explanation
        old_status = (binding or {}).get("status") or {}
        if {k: v for k, v in old_status.items() if v is not None} == {
                k: v for k, v in status.items() if v is not None}:
            return
        path = res.path(name=key.binding_name, namespace=key.namespace)
        await self.hub.request("patch", f"{path}/status", body={"status": status},
                               content_type="application/merge-patch+json",
                               serializer=raw_dict, field_manager=FIELD_MANAGER)

    async def _write_template_status(self, key: TemplateKey, tmpl: dict[str, Any],
                                     copies: Mapping[str, dict[str, Any]]) -> None:
        spec = self.interpreters.spec_for(tmpl)
        if not copies or not spec.write_status:
            return  # (a ConfigMap has no status; a Service's is not ours to write)
        status = self.interpreters.aggregate(tmpl, copies)
        for top in self.interpreters.status_keys(tmpl):
            # a sum no copy reports any more (the copy that had ready replicas is gone):
            # null removes it from the hub's status (a merge patch keeps absent keys)
            status.setdefault(top, None)
        kind = (key.api_version, key.kind)
        unstored = self._unstored.get(kind, frozenset())
        status = {k: v for k, v in status.items() if k not in unstored}
        current = tmpl.get("status") or {}
        if all(_same(current.get(k), v) for k, v in status.items()):
            return
        res = await self._resource(key.api_version, key.kind)
        path = res.path(name=key.name, namespace=key.namespace or None)
        try:
            written = await self.hub.request(
                "patch", f"{path}/status", body={"status": status},
                content_type="application/merge-patch+json", serializer=raw_dict,
                field_manager=FIELD_MANAGER)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise
            return
        # fields the kind's schema has no place for (a built-in Deployment's status has no
        # per-cluster list): the server drops them, so they are never sent (nor compared:
        # comparing them made every reconcile rewrite the status)
        stored = (written.get("status") if isinstance(written, dict) else None) or {}
        dropped = {k for k, v in status.items() if k not in stored and not _empty(v)}
        if dropped:
            self._unstored[kind] = unstored | dropped


def settle(decision: Decision, demand: Demand, previous: Placement | None,
           binding: Mapping[str, Any] | None, ledger: Ledger,
           label: str) -> tuple[Placement, dict[str, Any]]:
    """The placement a decision leaves in force and its ``Scheduled`` condition. A
    schedulable decision's capacity is held in ``ledger`` at once (call it before any
    await: the next decision must not see that capacity free); an unschedulable one keeps
    the running placement, and the condition carries the diagnosis summary."""
    if decision.schedulable:
        placement = decision.placement
        ledger.set(label, holds_for(placement, demand, {
            c: decision.diagnosis.product_of(c) for c in placement.clusters}))
        return placement, condition("Scheduled", True, "Scheduled", decision.message,
                                    _now(), _conds(binding))
    summary = decision.diagnosis.summary
    text = decision.message if summary in decision.message else (
        f"{decision.message}; {summary}".strip("; "))
    return previous or Placement(), condition("Scheduled", False, "Unschedulable", text,
                                              _now(), _conds(binding))


FAILOVER_STATE = ("pendingCleanup", "cleanupSince", "resume")


def failover_state(binding: Mapping[str, Any] | None) -> dict[str, Any]:
    """The binding's ``pendingCleanup``, ``cleanupSince`` and ``resume``: in its spec; a
    binding written by an older hub kept them in its status."""
    spec = (binding or {}).get("spec") or {}
    status = (binding or {}).get("status") or {}
    if any(k in spec for k in FAILOVER_STATE):
        return {k: spec.get(k) for k in FAILOVER_STATE}
    return {k: status.get(k) for k in FAILOVER_STATE}


def _spec_changed(binding: Mapping[str, Any] | None, spec: Mapping[str, Any],
                  key: TemplateKey) -> bool:
    """Would applying ``spec`` change the binding (or create it)?"""
    if binding is None:
        return True
    meta = binding.get("metadata") or {}
    labels = meta.get("labels") or {}
    return bool((binding.get("spec") or {}) != spec or labels.get(BINDING_LABEL) != key.label
                or meta.get("name", key.binding_name) != key.binding_name)


def _resume_of(state: Mapping[str, Any]) -> tuple[str, str] | None:
    raw = state.get("resume")
    if isinstance(raw, Mapping) and raw.get("location"):
        return str(raw["location"]), str(raw.get("fromCluster") or "")
    return None


def _parse_time(raw: Any) -> dt.datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _empty(v: Any) -> bool:
    """Zero and absent are one value in a status (zero fields are omitted when stored)."""
    return v is None or (v == 0 and not isinstance(v, bool)) or v in ("", [], {})


def _same(stored: Any, wanted: Any) -> bool:
    return stored == wanted or (_empty(stored) and _empty(wanted))


def _generation(obj: Mapping[str, Any]) -> int | None:
    gen = (obj.get("metadata") or {}).get("generation")
    return int(gen) if gen is not None else None


def _conds(binding: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return list(((binding or {}).get("status") or {}).get("conditions") or [])


def _applied_condition(applied: Mapping[str, dict[str, Any]],
                       binding: Mapping[str, Any] | None) -> dict[str, Any]:
    failed = {c: r for c, r in applied.items() if not r["ok"]}
    if not applied:
        return condition("Applied", False, "NotPlaced", "not placed on any cluster",
                         _now(), _conds(binding))
    if not failed:
        return condition("Applied", True, "Applied",
                         f"applied to {len(applied)} cluster(s)", _now(), _conds(binding))
    msg = "; ".join(f"{c}: {r.get('message', '')}" for c, r in sorted(failed.items()))
    # the reason of a terminal failure says what to fix (Forbidden, SchemaRejected,
    # KindNotInstalled); retryable ones (Conflict, Unreachable, ApplyFailed) come after
    reasons = sorted(failed.values(), key=lambda r: bool(r.get("retryable", True)))
    return condition("Applied", False, str(reasons[0].get("reason") or "ApplyFailed"), msg,
                     _now(), _conds(binding))


def _where(exc: FedctlError) -> str:
    """An invalid template's message with the field it is about, as ``fedctl plan``
    prints it: ``spec.pytorchReplicaSpecs.Worker.replicas: must not be negative``."""
    path = format_path(exc.field_path) if isinstance(exc, DemandError) else ""
    return f"{path}: {exc}" if path else str(exc)


def held_product(hold: Hold | None) -> str | None:
    """The GPU product a binding's hold on a cluster uses (None: it holds no GPUs). The
    hold is what the decision chose (``settle``) or, after a restart, what the binding
    recorded, so the pin on a copy follows the decision that placed it."""
    for (product, gpus, _, _), _n in (hold.shapes if hold is not None else ()):
        if product and gpus:
            return product
    return None


def _freed(before: Mapping[str, Hold], after: Mapping[str, Hold]) -> bool:
    """Did a binding give back capacity (any replica shape held before and not now)?"""
    for cluster, hold in before.items():
        now = after.get(cluster)
        if now is None:
            if hold.shapes:
                return True
            continue
        if Counter(dict(hold.shapes)) - Counter(dict(now.shapes)):
            return True
    return False
