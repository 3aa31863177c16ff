"""An in-memory hub apiserver and member appliers, for driving the real ``Reconciler``.

``bench/hub_scale.py`` runs ``federation.hub.reconcile.Reconciler`` against a generated
fleet. The reconciler's collaborators are the Protocols of ``federation.hub.ports``; this
module implements the two that talk to apiservers:

* ``InMemoryHub`` (``HubApi``): the hub apiserver over the hub's reflector stores. A
  merge patch, a server-side apply, a status patch or a delete changes the object in the
  store the hub's watch keeps (so the next reconcile sees it, as after the watch event)
  and returns the object as the apiserver would (server metadata: uid, resourceVersion,
  generation). A built-in kind's status keeps only the fields its schema has
  (``status_fields``), as the apiserver drops the others.
* ``InMemoryApplier`` (``Applier``): one member. An apply returns the copy as the member's
  watch returns it (``serve``: server metadata and the status its controllers write) and
  puts it in the member's copy cache through the callback a copy watch calls (so
  ``Members.copies_of`` indexes it).

No sleeps, no sockets, no threads. Every call is timed (thread CPU) into ``FakeCost`` so
a benchmark can report the fakes' share of a reconcile and subtract it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.fencing import Fence
from federation.clusters.health import Health
from federation.clusters.watch import Reflector
from federation.hub.ports import Applier, HubApi, HubResource, MemberDirectory, MemberView
from federation.model.cluster import ClusterSnapshot
from federation.model.labels import BINDING_LABEL
from federation.scheduling.reservations import Ledger
from federation.syncer.apply import ApplyResult, object_key

Obj = dict[str, Any]
# what a store keeps of an object the apiserver returned (the reflector's transform)
Keep = Callable[[Obj], Any]

# the fields of apps/v1 DeploymentStatus: the apiserver drops any other
DEPLOYMENT_STATUS = frozenset({
    "observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
    "availableReplicas", "unavailableReplicas", "terminatingReplicas", "conditions",
    "collisionCount"})


@dataclass
class FakeCost:
    """Calls and thread CPU spent inside the fakes, per operation."""

    calls: Counter[str] = field(default_factory=Counter)
    ns: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def timed(self, op: str) -> Iterator[None]:
        c0 = time.thread_time_ns()
        try:
            yield
        finally:
            self.calls[op] += 1
            self.ns[op] += time.thread_time_ns() - c0

    def total_ns(self) -> int:
        return sum(self.ns.values())

    def reset(self) -> None:
        self.calls.clear()
        self.ns.clear()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of ``target`` with ``patch`` (a new value; ``target`` is
    not changed)."""
    if not isinstance(patch, Mapping):
        return patch
    out: Obj = dict(target) if isinstance(target, Mapping) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def plain(obj: Any) -> Any:
    """A mutable deep copy of a stored object (stores keep interned, shared values)."""
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def _not_found(what: str) -> ApiException:
    exc = ApiException(status=404, reason="Not Found")
    exc.body = f'{{"kind":"Status","reason":"NotFound","message":"{what} not found"}}'.encode()
    return exc


class Resource:
    """One hub resource; its path is the apiserver's."""

    def __init__(self, api_version: str, kind: str, plural: str) -> None:
        self.api_version = api_version
        self.kind = kind
        self.plural = plural

    def path(self, name: str | None = None, namespace: str | None = None) -> str:
        root = (f"/api/{self.api_version}" if "/" not in self.api_version
                else f"/apis/{self.api_version}")
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{root}{where}/{self.plural}" + (f"/{name}" if name else "")


def _kind(resource: HubResource) -> str:
    return resource.kind if isinstance(resource, Resource) else type(resource).__name__


class Resources:
    def __init__(self, plurals: Mapping[tuple[str, str], str]) -> None:
        self._by_kind = {k: Resource(k[0], k[1], p) for k, p in plurals.items()}

    async def get(self, *, api_version: str, kind: str) -> Resource:
        found = self._by_kind.get((api_version, kind))
        if found is None:
            raise LookupError(f"the in-memory hub serves no {api_version} {kind}")
        return found

    def by_plural(self, api_version: str, plural: str) -> Resource:
        for res in self._by_kind.values():
            if res.api_version == api_version and res.plural == plural:
                return res
        raise LookupError(f"the in-memory hub serves no {api_version} {plural}")


class InMemoryHub:
    """The hub apiserver (``HubApi``) over ``stores``: (apiVersion, kind) -> the reflector
    the hub watches that kind with. ``keep`` is that reflector's transform, ``stamp``
    sets the server's metadata fields on a new object's metadata."""

    def __init__(self, stores: Mapping[tuple[str, str], Reflector[Any]],
                 plurals: Mapping[tuple[str, str], str], keep: Keep,
                 stamp: Callable[[Obj], Obj], cost: FakeCost,
                 status_fields: Mapping[tuple[str, str], frozenset[str]] | None = None
                 ) -> None:
        self._stores = stores
        self._resources = Resources(plurals)
        self._keep = keep
        self._stamp = stamp
        self._rv = 10_000_000
        self.cost = cost
        self._status_fields = dict(status_fields or {})
        self.writes: Counter[str] = Counter()

    @property
    def resources(self) -> Resources:
        return self._resources

    # ---- store access -------------------------------------------------------------------
    def _refl(self, resource: HubResource) -> Reflector[Any]:
        if not isinstance(resource, Resource):
            raise TypeError(f"not a resource of the in-memory hub: {resource!r}")
        refl = self._stores.get((resource.api_version, resource.kind))
        if refl is None:
            raise LookupError(f"the in-memory hub keeps no {resource.kind} store")
        return refl

    def _current(self, resource: HubResource, name: str, namespace: str | None) -> Obj | None:
        stored = self._refl(resource).store.get(f"{namespace}/{name}" if namespace else name)
        if stored is None:
            return None
        obj: Obj = plain(stored)
        assert isinstance(resource, Resource)
        obj.setdefault("apiVersion", resource.api_version)  # (built-in list items)
        obj.setdefault("kind", resource.kind)
        return obj

    def _store(self, resource: HubResource, obj: Obj) -> Obj:
        """Give ``obj`` a new resourceVersion and put it in the store (the watch event);
        returns it as the apiserver answers."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        refl = self._refl(resource)
        refl.store[key] = self._keep(plain(obj))
        refl.version += 1
        return obj

    # ---- HubApi -------------------------------------------------------------------------
    async def patch(self, resource: HubResource, *, body: Obj, name: str,
                    namespace: str | None, **kwargs: Any) -> Any:
        with self.cost.timed("hub patch"):
            current = self._current(resource, name, namespace)
            if current is None:
                raise _not_found(f"{resource.path(name, namespace)}")
            self.writes[f"{_kind(resource)} patch"] += 1
            patch = dict(body)
            (patch.get("metadata") or {}).pop("resourceVersion", None)  # precondition
            return self._store(resource, merge_patch(current, patch))

    async def delete(self, resource: HubResource, *, name: str, namespace: str | None,
                     **kwargs: Any) -> Any:
        with self.cost.timed("hub delete"):
            refl = self._refl(resource)
            if refl.store.pop(f"{namespace}/{name}" if namespace else name, None) is None:
                raise _not_found(f"{resource.path(name, namespace)}")
            refl.version += 1
            self.writes[f"{_kind(resource)} delete"] += 1
            return {"kind": "Status", "status": "Success"}

    async def server_side_apply(self, resource: HubResource, *, body: Obj, name: str,
                                namespace: str | None, **kwargs: Any) -> Any:
        with self.cost.timed("hub apply"):
            current = self._current(resource, name, namespace)
            self.writes[f"{_kind(resource)} apply"] += 1
            sent = plain(body)
            if current is None:
                sent["metadata"] = self._stamp(sent["metadata"])
                return self._store(resource, sent)
            # the only manager: its fields replace what it set before
            meta = current["metadata"]
            meta["labels"] = {**(meta.get("labels") or {}),
                              **(sent["metadata"].get("labels") or {})}
            if current.get("spec") != sent.get("spec"):
                meta["generation"] = int(meta.get("generation") or 0) + 1
            current["spec"] = sent.get("spec")
            return self._store(resource, current)

    async def request(self, method: str, path: str, *, body: Obj, **kwargs: Any) -> Any:
        with self.cost.timed("hub status patch"):
            if method != "patch" or not path.endswith("/status"):
                raise ValueError(f"the in-memory hub answers status patches only, not "
                                 f"{method} {path}")
            resource, name, namespace = self._parse(path[:-len("/status")])
            current = self._current(resource, name, namespace)
            if current is None:
                raise _not_found(f"{resource.path(name, namespace)}")
            self.writes[f"{resource.kind} status"] += 1
            status = merge_patch(current.get("status") or {}, body.get("status") or {})
            allowed = self._status_fields.get((resource.api_version, resource.kind))
            if allowed is not None:
                status = {k: v for k, v in status.items() if k in allowed}
            current["status"] = status
            return self._store(resource, current)

    def _parse(self, path: str) -> tuple[Resource, str, str | None]:
        """(resource, name, namespace) of an object's path (``Resource.path``)."""
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            api_version, rest = parts[1], parts[2:]
        else:
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        namespace = None
        if rest[0] == "namespaces" and len(rest) == 4:
            namespace, rest = rest[1], rest[2:]
        plural, name = rest
        return self._resources.by_plural(api_version, plural), name, namespace


class InMemoryApplier:
    """One member (``Applier``): ``copies`` is (apiVersion, kind) -> the member's copy
    cache; ``serve`` turns an applied object into the copy as the member's watch returns
    it (given the copy it replaces, if any); ``on_event(event, cluster, apiVersion, kind,
    copy)`` stands for the member's copy watch (it feeds ``Members``' copy index)."""

    def __init__(self, cluster: str, copies: Mapping[tuple[str, str], Reflector[Any]],
                 serve: Callable[[Obj, Obj | None], Obj], keep: Keep,
                 on_event: Callable[[str, str, str, str, Obj], None],
                 cost: FakeCost) -> None:
        self.cluster = cluster
        self._copies = copies
        self._serve = serve
        self._keep = keep
        self._on_event = on_event
        self.cost = cost
        self.writes: Counter[str] = Counter()

    def _key(self, name: str, namespace: str | None) -> str:
        return f"{namespace}/{name}" if namespace else name

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None, *,
                  watch_cache: bool = False) -> Obj | None:
        with self.cost.timed("member get"):
            refl = self._copies.get((api_version, kind))
            found = refl.store.get(self._key(name, namespace)) if refl is not None else None
            return plain(found) if found is not None else None

    async def apply(self, obj: Obj, *, adopt: bool = False,
                    existing: Obj | None = None) -> ApplyResult:
        with self.cost.timed("member apply"):
            key = object_key(obj)
            refl = self._copies.get((obj["apiVersion"], obj["kind"]))
            if refl is None:
                return ApplyResult(self.cluster, key, "error",
                                   f"kind {obj['kind']} ({obj['apiVersion']}) is not "
                                   f"installed on cluster {self.cluster}", retryable=False,
                                   reason="KindNotInstalled")
            meta = obj["metadata"]
            skey = self._key(meta["name"], meta.get("namespace"))
            before = refl.store.get(skey)
            served = self._serve(obj, plain(before) if before is not None else None)
            refl.store[skey] = self._keep(plain(served))
            refl.version += 1
            self._on_event("ADDED" if before is None else "MODIFIED", self.cluster,
                           obj["apiVersion"], obj["kind"], refl.store[skey])
            action = "created" if before is None else "updated"
            self.writes[action] += 1
            return ApplyResult(self.cluster, key, action, object=served)

    async def delete(self, api_version: str, kind: str, name: str, namespace: str | None, *,
                     foreground: bool = False) -> ApplyResult:
        with self.cost.timed("member delete"):
            key = f"{api_version}/{kind} {self._key(name, namespace)}"
            refl = self._copies.get((api_version, kind))
            gone = refl.store.pop(self._key(name, namespace), None) if refl else None
            if gone is None:
                return ApplyResult(self.cluster, key, "absent")
            assert refl is not None
            refl.version += 1
            self._on_event("DELETED", self.cluster, api_version, kind, gone)
            self.writes["deleted"] += 1
            return ApplyResult(self.cluster, key, "deleted")

    async def list_bound(self, api_version: str, kind: str, binding: str) -> list[Obj]:
        with self.cost.timed("member list"):
            refl = self._copies.get((api_version, kind))
            return [plain(o) for o in (refl.store.values() if refl else ())
                    if ((o.get("metadata") or {}).get("labels") or {}).get(
                        BINDING_LABEL) == binding]


@dataclass(frozen=True, slots=True)
class WithApplier:
    """A member record (``MemberView``) whose writes go to ``applier``."""

    record: MemberView
    applier: Applier

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def spec(self) -> dict[str, Any]:
        return self.record.spec

    @property
    def labels(self) -> dict[str, str]:
        return self.record.labels


class Directory:
    """``members`` (the real ``Members``) as a ``MemberDirectory`` whose records write
    through ``appliers`` (cluster -> in-memory member) instead of the members' clients.
    Every read is the real one."""

    def __init__(self, members: MemberDirectory, appliers: Mapping[str, Applier]) -> None:
        self._members = members
        self._appliers = dict(appliers)

    def get(self, name: str) -> MemberView | None:
        rec = self._members.get(name)
        applier = self._appliers.get(name)
        return rec if rec is None or applier is None else WithApplier(rec, applier)

    def health(self, name: str) -> Health:
        return self._members.health(name)

    def not_ready_for(self, name: str) -> float | None:
        return self._members.not_ready_for(name)

    def fence(self, name: str) -> Fence | None:
        return self._members.fence(name)

    def snapshots(self, not_ready_grace: float, holding: frozenset[str] = frozenset(),
                  ledger: Ledger | None = None, binding: str | None = None
                  ) -> Sequence[ClusterSnapshot]:
        return self._members.snapshots(not_ready_grace, holding, ledger, binding)

    def copy(self, cluster: str, api_version: str, kind: str, namespace: str,
             name: str) -> tuple[bool, Obj | None]:
        return self._members.copy(cluster, api_version, kind, namespace, name)

    def copies_of(self, api_version: str, kind: str, namespace: str,
                  name: str) -> Mapping[str, str]:
        return self._members.copies_of(api_version, kind, namespace, name)


class EventLog:
    """The reconciler's ``record`` (Events): counted by reason, not sent."""

    def __init__(self, cost: FakeCost) -> None:
        self.reasons: Counter[str] = Counter()
        self.cost = cost

    async def __call__(self, obj: Obj, *, reason: str, message: str,
                       warning: bool = False) -> None:
        with self.cost.timed("event"):
            self.reasons[reason] += 1


def _fits(hub: InMemoryHub, applier: InMemoryApplier, directory: Directory,
          view: WithApplier) -> tuple[HubApi, Applier, MemberDirectory, MemberView]:
    """mypy checks that the in-memory parts implement the reconciler's Protocols."""
    return hub, applier, directory, view
