"""Follow a cluster's CustomResourceDefinitions: run a refresh when the kinds they define
change.

The hub re-reads what a cluster serves (API discovery) when a CRD is added, removed,
becomes Established or changes its served versions, instead of once per connection or
on a timer. The cache keeps only what that depends on of each CRD (group, kind, served
versions, Established), not the schemas (the upstream operators' CRDs are hundreds of
KB each), and a refresh runs only when that summary changed: the CRDs' own status writes
(``storedVersions``, ``acceptedNames``) cost nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client as k8s

from federation.clusters.watch import ListCall, Reflector

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.5  # a CRD is created, then Established a moment later: one refresh
FIRST_SYNC_SECONDS = 10.0  # CRDs not listable (yet): discover anyway, refresh later
RETRY_SECONDS = (1.0, 10.0)  # a failed refresh is retried, doubling up to the cap

Summary = tuple[str, str, str, tuple[str, ...], bool]


def crd_summary(obj: dict[str, Any]) -> Summary:
    """(name, group, kind, served versions, Established) of one CRD."""
    spec = obj.get("spec") or {}
    served = tuple(sorted(str(v.get("name")) for v in spec.get("versions") or []
                          if v.get("served")))
    established = any(c.get("type") == "Established" and c.get("status") == "True"
                      for c in (obj.get("status") or {}).get("conditions") or [])
    return (str((obj.get("metadata") or {}).get("name") or ""), str(spec.get("group") or ""),
            str((spec.get("names") or {}).get("kind") or ""), served, established)


class CrdWatch:
    def __init__(self, name: str, list_call: ListCall) -> None:
        self._changed = asyncio.Event()
        self.refl: Reflector[Summary] = Reflector(
            f"{name}/crds", list_call, on_change=lambda _e, _s: self._changed.set(),
            transform=crd_summary)

    @classmethod
    def of(cls, name: str, api: k8s.ApiClient) -> CrdWatch:
        """The CRDs of the cluster ``api`` talks to."""
        return cls(name, k8s.ApiextensionsV1Api(api).list_custom_resource_definition)

    def signature(self) -> frozenset[Summary] | None:
        return frozenset(self.refl.store.values()) if self.refl.synced.is_set() else None

    async def follow(self, refresh: Callable[[], Awaitable[None]],
                     debounce: float = DEBOUNCE_SECONDS,
                     first_sync: float = FIRST_SYNC_SECONDS) -> None:
        """Run ``refresh`` once the CRDs are listed (or ``first_sync`` passed), then each
        time their summary changes. Runs until cancelled."""
        task = asyncio.create_task(self.refl.run(), name=self.refl.name)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.refl.synced.wait(), first_sync)
            refreshed, done = False, self.signature()
            delay = RETRY_SECONDS[0]
            while True:
                sig = self.signature()
                if not refreshed or sig != done:
                    self._changed.clear()
                    try:
                        await refresh()
                        refreshed, done, delay = True, sig, RETRY_SECONDS[0]
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # unreachable: the health probe says so
                        log.debug("%s: refresh failed: %s", self.refl.name, exc)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, RETRY_SECONDS[1])
                        continue
                await self._changed.wait()
                self._changed.clear()
                await asyncio.sleep(debounce)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
