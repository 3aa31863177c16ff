"""Typed fakes of the hub's collaborators, behind the Protocols of ``federation.hub.ports``.

``_production_types_fit`` has mypy check that the real classes implement the same
Protocols, so a fake cannot drift from what production passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from federation.clusters.fencing import Fence
from federation.clusters.health import Health
from federation.hub.members import MemberRecord, Members
from federation.hub.ports import Applier, HubResource, MemberDirectory, MemberView, Placer
from federation.model.cluster import ClusterSnapshot
from federation.model.demand import Demand
from federation.model.placement import ClusterAssignment, Decision, Diagnosis, Placement
from federation.scheduling.reservations import Ledger
from federation.scheduling.runtime import Scheduler
from federation.syncer.apply import ApplyResult, MemberApplier
from policies.models import Placement as PlacementPolicy

Obj = dict[str, Any]
APPS_STATUS = {"replicas", "readyReplicas", "availableReplicas", "updatedReplicas",
               "observedGeneration", "conditions"}


def _production_types_fit(members: Members, record: MemberRecord, applier: MemberApplier,
                          scheduler: Scheduler
                          ) -> tuple[MemberDirectory, MemberView, Applier, Placer]:
    return members, record, applier, scheduler


class Resource:
    def __init__(self, path: str) -> None:
        self._path = path

    def path(self, name: str | None = None, namespace: str | None = None) -> str:
        return f"{self._path}/namespaces/{namespace}/{name}"


class Resources:
    async def get(self, *, api_version: str, kind: str) -> Resource:
        return Resource(f"/{api_version}/{kind}")


class FakeHub:
    """The hub apiserver; every call a test does not expect fails it."""

    def __init__(self) -> None:
        self._resources = Resources()

    @property
    def resources(self) -> Resources:
        return self._resources

    async def patch(self, resource: HubResource, *, body: Obj, name: str,
                    namespace: str | None, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected patch of {name}")

    async def delete(self, resource: HubResource, *, name: str, namespace: str | None,
                     **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected delete of {name}")

    async def server_side_apply(self, resource: HubResource, *, body: Obj, name: str,
                                namespace: str | None, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected apply of {name}")

    async def request(self, method: str, path: str, *, body: Obj, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected {method} {path}")


class HubServer(FakeHub):
    """The hub apiserver as the reconciler uses it: server-side apply of a binding, merge
    patches of status subresources (recorded, and the binding kept as the cache would
    see it after the watch event)."""

    def __init__(self) -> None:
        super().__init__()
        self.binding: Obj | None = None
        self.writes: list[str] = []
        self.template_status: Obj = {}

    async def server_side_apply(self, resource: HubResource, *, body: Obj, name: str,
                                namespace: str | None, **kwargs: Any) -> Any:
        self.writes.append("binding spec")
        self.binding = {**(self.binding or {}), "metadata": body["metadata"],
                        "spec": body["spec"]}
        return self.binding

    async def request(self, method: str, path: str, *, body: Obj, **kwargs: Any) -> Any:
        assert method == "patch" and path.endswith("/status")
        if "ResourceBinding" in path:
            self.writes.append("binding status")
            assert self.binding is not None
            status = {**(self.binding.get("status") or {}), **body["status"]}
            # a new object, as a watch event brings (the reconcile's copy is not touched)
            self.binding = {**self.binding,
                            "status": {k: v for k, v in status.items() if v is not None}}
            return self.binding
        self.writes.append("template status")
        # a built-in Deployment's status: fields it has no place for are dropped
        merged = {**self.template_status, **body["status"]}
        self.template_status = {k: v for k, v in merged.items()
                                if v is not None and k in APPS_STATUS}
        return {"status": self.template_status}


class FakeApplier:
    """A member that accepts every apply; the copy it returns is ready at once."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self.applied: list[Obj] = []

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None, *,
                  watch_cache: bool = False) -> Obj | None:
        return None

    async def apply(self, obj: Obj, *, adopt: bool = False,
                    existing: Obj | None = None) -> ApplyResult:
        self.applied.append(obj)
        copy = {**obj, "metadata": {**obj["metadata"], "generation": 1},
                "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                           "readyReplicas": 1, "availableReplicas": 1}}
        return ApplyResult(self.cluster, "k", "created", object=copy)

    async def delete(self, api_version: str, kind: str, name: str, namespace: str | None, *,
                     foreground: bool = False) -> ApplyResult:
        return ApplyResult(self.cluster, "k", "deleted")

    async def list_bound(self, api_version: str, kind: str, binding: str) -> list[Obj]:
        return []


class Rejecting(FakeApplier):
    """A member applier answering every apply with ``result``."""

    def __init__(self, result: ApplyResult) -> None:
        super().__init__(result.cluster)
        self.result = result
        self.calls = 0

    async def apply(self, obj: Obj, *, adopt: bool = False,
                    existing: Obj | None = None) -> ApplyResult:
        self.calls += 1
        return self.result


@dataclass
class Record:
    name: str
    applier: FakeApplier
    spec: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


class Fleet:
    """The members as the reconciler reads them; ``down`` clusters are not ready,
    ``fences`` the fenced ones; no copy is watched."""

    def __init__(self, names: list[str]) -> None:
        self.records = {n: Record(n, FakeApplier(n)) for n in names}
        self.down: set[str] = set()
        self.fences: dict[str, Fence] = {}

    def get(self, name: str) -> Record | None:
        return self.records.get(name)

    def health(self, name: str) -> Health:
        return Health(ready=name not in self.down, reachable=name not in self.down)

    def not_ready_for(self, name: str) -> float | None:
        return 60.0 if name in self.down else None

    def fence(self, name: str) -> Fence | None:
        return self.fences.get(name)

    def snapshots(self, not_ready_grace: float, holding: frozenset[str] = frozenset(),
                  ledger: Ledger | None = None, binding: str | None = None
                  ) -> Sequence[ClusterSnapshot]:
        return []

    def copy(self, cluster: str, api_version: str, kind: str, namespace: str,
             name: str) -> tuple[bool, Obj | None]:
        return True, None

    def copies_of(self, api_version: str, kind: str, namespace: str,
                  name: str) -> Mapping[str, str]:
        return {}


class WatchedFleet(Fleet):
    """A fleet whose copy caches hold ``copies`` (cluster -> object)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        self.copies: dict[str, Obj] = {}

    def copy(self, cluster: str, api_version: str, kind: str, namespace: str,
             name: str) -> tuple[bool, Obj | None]:
        return True, self.copies.get(cluster)


class OneCluster:
    """Places every demand on ``target`` (None: no room anywhere); counts its calls."""

    def __init__(self, target: str | None, *, score: float = 1.0,
                 no_room: str = "no cluster has room") -> None:
        self.target = target
        self.score = score
        self.no_room = no_room
        self.calls = 0

    def schedule(self, clusters: Sequence[ClusterSnapshot], demand: Demand,
                 policy: PlacementPolicy, previous: Placement | None = None) -> Decision:
        self.calls += 1
        if self.target is None:
            return Decision(False, Placement(), Diagnosis(), 0.0, message=self.no_room)
        placement = Placement((ClusterAssignment(self.target, (("main", 1),)),))
        return Decision(True, placement, Diagnosis(), self.score,
                        message=f"placed on {self.target}")
