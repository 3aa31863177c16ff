"""What the reconciler and the dependency sync use of their collaborators, as Protocols.

Production passes the real objects: the hub's ``DynamicClient`` (``HubApi``), ``Members``
(``MemberDirectory``, whose records are ``MemberView``\\s), each member's
``MemberApplier`` (``Applier``) and the ``Scheduler`` (``Placer``). Unit tests pass small
typed fakes implementing the same Protocols (``tests/unit/hub/fakes.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from federation.clusters.fencing import Fence
from federation.clusters.health import Health
from federation.model.cluster import ClusterSnapshot
from federation.model.demand import Demand
from federation.model.placement import Decision, Placement
from federation.scheduling.reservations import Ledger
from federation.syncer.apply import ApplyResult
from policies.models import Placement as PlacementPolicy

Obj = dict[str, Any]


class HubResource(Protocol):
    """One API resource of the hub (a dynamic client's ``Resource``)."""

    def path(self, name: str | None = None, namespace: str | None = None) -> str: ...


class HubResources(Protocol):
    async def get(self, *, api_version: str, kind: str) -> HubResource: ...


class HubApi(Protocol):
    """The hub apiserver through a dynamic client: the calls a reconcile makes. Keyword
    arguments are passed through to the client (``content_type``, ``serializer``,
    ``field_manager``, ``force_conflicts``)."""

    @property
    def resources(self) -> HubResources: ...

    async def patch(self, resource: HubResource, *, body: Obj, name: str,
                    namespace: str | None, **kwargs: Any) -> Any: ...

    async def delete(self, resource: HubResource, *, name: str, namespace: str | None,
                     **kwargs: Any) -> Any: ...

    async def server_side_apply(self, resource: HubResource, *, body: Obj, name: str,
                                namespace: str | None, **kwargs: Any) -> Any: ...

    async def request(self, method: str, path: str, *, body: Obj, **kwargs: Any) -> Any: ...


class Applier(Protocol):
    """Writes to one member (``federation.syncer.apply.MemberApplier``)."""

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None, *,
                  watch_cache: bool = False) -> Obj | None: ...

    async def apply(self, obj: Obj, *, adopt: bool = False,
                    existing: Obj | None = None) -> ApplyResult: ...

    async def delete(self, api_version: str, kind: str, name: str, namespace: str | None, *,
                     foreground: bool = False) -> ApplyResult: ...

    async def list_bound(self, api_version: str, kind: str, binding: str) -> list[Obj]: ...


class MemberView(Protocol):
    """One member as the reconciler reads it (``federation.hub.members.MemberRecord``)."""

    @property
    def name(self) -> str: ...
    @property
    def spec(self) -> dict[str, Any]: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def applier(self) -> Applier: ...


class MemberDirectory(Protocol):
    """The members: records, health, fences, snapshots and the copy caches
    (``federation.hub.members.Members``)."""

    def get(self, name: str) -> MemberView | None: ...
    def health(self, name: str) -> Health: ...
    def not_ready_for(self, name: str) -> float | None: ...
    def fence(self, name: str) -> Fence | None: ...

    def snapshots(self, not_ready_grace: float, holding: frozenset[str] = frozenset(),
                  ledger: Ledger | None = None, binding: str | None = None
                  ) -> Sequence[ClusterSnapshot]: ...

    def copy(self, cluster: str, api_version: str, kind: str, namespace: str,
             name: str) -> tuple[bool, Obj | None]: ...

    def copies_of(self, api_version: str, kind: str, namespace: str,
                  name: str) -> Mapping[str, str]: ...


class Placer(Protocol):
    """Decides where a demand goes (``federation.scheduling.runtime.Scheduler``)."""

    def schedule(self, clusters: Sequence[ClusterSnapshot], demand: Demand,
                 policy: PlacementPolicy, previous: Placement | None = None) -> Decision: ...
