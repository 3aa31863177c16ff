"""Propagate the ConfigMaps, Secrets and ServiceAccounts a workload's pods reference.

For each template the reconciler asks ``DependencySync.sync`` to make the members it is
placed on hold copies of what its pods name (``federation.syncer.dependencies``), and to
let go of copies on clusters it left or for objects it no longer names. A copy can serve
several workloads: the bindings that use it are listed in its ``fedctl.dev/referenced-by``
annotation, and the copy is deleted when the last one lets go. An object of the same name
that the member already has and fedctl does not manage is the member's own and is left
alone (a per-cluster Secret wins over the hub's).

The hub's objects come from its watch caches; ``index`` maps each object to the templates
that reference it, so a change on the hub re-applies exactly those.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from federation.errors import FedctlError
from federation.hub.bindings import TemplateKey, digest
from federation.hub.ports import MemberDirectory
from federation.interpreters.interpreter import Interpreters
from federation.model.labels import BINDING_LABEL, REFERENCED_BY_ANNOTATION
from federation.syncer.apply import is_ours
from federation.syncer.dependencies import (
    SERVICE_ACCOUNT,
    Dependency,
    merge_referrers,
    parse_referrers,
    referenced,
    render_dependency,
    service_account_pull_secrets,
)

log = logging.getLogger(__name__)

HubObject = Callable[[Dependency], dict[str, Any] | None]
Ref = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True, slots=True)
class DepsResult:
    deps: tuple[Dependency, ...]
    ok: bool
    message: str


def dep_ref(d: Dependency) -> Ref:
    return (d.kind, d.namespace, d.name)


def deps_to_json(deps: Iterable[Dependency]) -> list[dict[str, Any]]:
    return [{"kind": d.kind, "name": d.name, **({"optional": True} if d.optional else {})}
            for d in deps]


def deps_from_json(raw: Any, namespace: str) -> list[Dependency]:
    out = []
    for e in raw if isinstance(raw, list) else []:
        if isinstance(e, Mapping) and e.get("kind") and e.get("name"):
            out.append(Dependency(str(e["kind"]), namespace, str(e["name"]),
                                  bool(e.get("optional"))))
    return out


class DependencySync:
    def __init__(self, members: MemberDirectory, interpreters: Interpreters,
                 hub_object: HubObject) -> None:
        self.members = members
        self.interpreters = interpreters
        self._hub_object = hub_object
        self.index: dict[Ref, set[TemplateKey]] = {}
        self._refs: dict[TemplateKey, set[Ref]] = {}
        # (cluster, ref, template) -> digest of the hub object last applied for it
        self._seen: dict[tuple[str, Ref, TemplateKey], str] = {}
        # (cluster, ref) -> resourceVersion of our last write there: a watch event with
        # another version is someone else's change (drift) or a deletion
        self._written: dict[tuple[str, Ref], str] = {}
        # read-merge-write of the referrers annotation, one at a time per copy
        self._locks: weakref.WeakValueDictionary[tuple[str, Ref], asyncio.Lock] = (
            weakref.WeakValueDictionary())

    def _lock(self, cluster: str, d: Dependency) -> asyncio.Lock:
        key = (cluster, dep_ref(d))
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def copy_changed(self, cluster: str, kind: str, event: str,
                     obj: Mapping[str, Any]) -> set[TemplateKey]:
        """A copy of a referenced object changed on ``cluster`` (a member watch event).
        Our own writes are recognised by their resourceVersion; anything else (an edit on
        the member, a deletion) makes the next sync apply it again. Returns the templates
        to reconcile for that."""
        meta = obj.get("metadata") or {}
        ref = (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        holders = self.index.get(ref)
        if not holders:
            return set()
        if event != "DELETED" and self._written.get((cluster, ref)) == meta.get(
                "resourceVersion"):
            return set()
        self._written.pop((cluster, ref), None)
        for key in holders:
            self._seen.pop((cluster, ref, key), None)
        return set(holders)

    def wanted(self, tmpl: Mapping[str, Any]) -> list[Dependency]:
        """What the template's pods reference, plus its ServiceAccounts' pull secrets."""
        deps = set(referenced(tmpl, self.interpreters))
        for d in list(deps):
            if d.kind == SERVICE_ACCOUNT:
                sa = self._hub_object(d)
                if sa is not None:
                    deps.update(service_account_pull_secrets(sa))
        return sorted(deps)

    def _remember(self, key: TemplateKey, deps: Iterable[Dependency]) -> None:
        refs = {dep_ref(d) for d in deps}
        for ref in self._refs.get(key, set()) - refs:
            holders = self.index.get(ref)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del self.index[ref]
        for ref in refs:
            self.index.setdefault(ref, set()).add(key)
        if refs:
            self._refs[key] = refs
        else:
            self._refs.pop(key, None)

    async def sync(self, key: TemplateKey, deps: list[Dependency], clusters: Iterable[str],
                   had_deps: Iterable[Dependency], had_clusters: Iterable[str]) -> DepsResult:
        """Copies of ``deps`` on ``clusters``; this template lets go of the rest it had."""
        self._remember(key, deps)
        want = {(c, dep_ref(d)): d for c in clusters for d in deps}
        problems: list[str] = []
        for (cluster, ref), d in sorted(want.items()):
            src = self._hub_object(d)
            if src is None:
                if not d.optional:
                    problems.append(f"{d.kind} {d.namespace}/{d.name} does not exist on the "
                                    "hub; create it there (the pods need it)")
                continue
            version = digest({k: v for k, v in src.items() if k != "metadata"})
            if self._seen.get((cluster, ref, key)) == version:
                continue
            msg = await self._hold(cluster, key, d, src)
            if msg:
                problems.append(msg)
            else:
                self._seen[(cluster, ref, key)] = version
        had = {(c, dep_ref(d)): d for c in had_clusters for d in had_deps}
        for (cluster, ref), d in sorted(had.items()):
            if (cluster, ref) in want:
                continue
            self._seen.pop((cluster, ref, key), None)
            await self._release(cluster, key, d)
        return DepsResult(tuple(deps), not problems, "; ".join(problems))

    async def release_all(self, key: TemplateKey, had_deps: Iterable[Dependency],
                          had_clusters: Iterable[str]) -> bool:
        """The template is gone: let go of every copy it held. False if some member did
        not answer (the caller retries)."""
        ok = True
        for cluster in had_clusters:
            for d in had_deps:
                self._seen.pop((cluster, dep_ref(d), key), None)
                ok = await self._release(cluster, key, d) and ok
        self._remember(key, ())
        return ok

    async def _hold(self, cluster: str, key: TemplateKey, d: Dependency,
                    src: dict[str, Any]) -> str:
        async with self._lock(cluster, d):
            return await self._hold_locked(cluster, key, d, src)

    async def _release(self, cluster: str, key: TemplateKey, d: Dependency) -> bool:
        async with self._lock(cluster, d):
            return await self._release_locked(cluster, key, d)

    async def _hold_locked(self, cluster: str, key: TemplateKey, d: Dependency,
                           src: dict[str, Any]) -> str:
        rec = self.members.get(cluster)
        if rec is None:
            return ""
        try:
            existing = await rec.applier.get("v1", d.kind, d.name, d.namespace)
        except (ApiException, OSError, TimeoutError) as exc:
            return f"{d.kind} {d.name} on {cluster}: {type(exc).__name__}"
        if existing is not None and (not is_ours(existing) or _propagated(existing)):
            # the member's own object of that name wins, and so does a copy a policy
            # propagates in its own right
            return ""
        before = ((existing or {}).get("metadata") or {}).get("annotations") or {}
        referrers = merge_referrers(before.get(REFERENCED_BY_ANNOTATION), {key.label}, set())
        try:
            obj = render_dependency(src, parse_referrers(referrers))
        except FedctlError as exc:
            return str(exc)
        res = await rec.applier.apply(obj, existing=existing)
        self._wrote(cluster, d, res.object if res.ok else None)
        return "" if res.ok else f"{d.kind} {d.name} on {cluster}: {res.message}"

    def _wrote(self, cluster: str, d: Dependency, obj: Mapping[str, Any] | None) -> None:
        rv = ((obj or {}).get("metadata") or {}).get("resourceVersion")
        if rv:
            self._written[(cluster, dep_ref(d))] = str(rv)
        else:
            self._written.pop((cluster, dep_ref(d)), None)

    async def _release_locked(self, cluster: str, key: TemplateKey, d: Dependency) -> bool:
        rec = self.members.get(cluster)
        if rec is None:
            return True
        if not self.members.health(cluster).ready:
            return False
        try:
            existing = await rec.applier.get("v1", d.kind, d.name, d.namespace)
        except (ApiException, OSError, TimeoutError) as exc:
            log.debug("%s: reading %s %s on %s failed: %s", key, d.kind, d.name, cluster, exc)
            return False
        if existing is None or not is_ours(existing) or _propagated(existing):
            return True
        before = ((existing.get("metadata") or {}).get("annotations") or {}).get(
            REFERENCED_BY_ANNOTATION)
        left = merge_referrers(before, set(), {key.label})
        if not left:
            res = await rec.applier.delete("v1", d.kind, d.name, d.namespace)
            self._wrote(cluster, d, None)
            return res.ok
        if left == before:
            return True
        try:
            obj = render_dependency(existing, parse_referrers(left))
        except FedctlError:
            return True
        res = await rec.applier.apply(obj, existing=existing)
        self._wrote(cluster, d, res.object if res.ok else None)
        return res.ok


def _propagated(obj: Mapping[str, Any]) -> bool:
    """A copy of a template selected by a policy (it carries that binding's label)."""
    return BINDING_LABEL in ((obj.get("metadata") or {}).get("labels") or {})
