"""CrdWatch: discovery runs once the CRDs are listed, then only when what they define
changes (added, removed, Established, served versions), once per burst."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from federation.hub.crd_watch import CrdWatch


def _crd(name: str, versions: tuple[str, ...] = ("v1",), established: bool = True,
         stored: tuple[str, ...] = ("v1",)) -> dict[str, Any]:
    conds = [{"type": "Established", "status": "True"}] if established else []
    return {"metadata": {"name": f"{name}.kubeflow.org", "resourceVersion": "1"},
            "spec": {"group": "kubeflow.org", "names": {"kind": name.capitalize()},
                     "versions": [{"name": v, "served": True} for v in versions]},
            "status": {"conditions": conds, "storedVersions": list(stored)}}


class _Content:
    def __init__(self, events: asyncio.Queue[bytes]) -> None:
        self.events = events

    async def readline(self) -> bytes:
        return await self.events.get()


class _Response:
    def __init__(self, body: dict[str, Any] | None = None,
                 events: asyncio.Queue[bytes] | None = None) -> None:
        self.body = body or {}
        self.content = _Content(events or asyncio.Queue())

    async def json(self) -> dict[str, Any]:
        return self.body

    def release(self) -> None:
        return None


class FakeCrds:
    """A cluster's CRD endpoint: one list, then one watch fed by ``send``."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.events: asyncio.Queue[bytes] = asyncio.Queue()

    async def __call__(self, **kwargs: Any) -> _Response:
        if kwargs.get("watch"):
            return _Response(events=self.events)
        return _Response({"metadata": {"resourceVersion": "1"}, "items": self.items})

    def send(self, event: str, obj: dict[str, Any]) -> None:
        self.events.put_nowait(json.dumps({"type": event, "object": obj}).encode() + b"\n")


async def test_refresh_runs_when_the_kinds_change_not_on_status_writes() -> None:
    crds = FakeCrds([_crd("pytorchjobs")])
    runs: list[int] = []

    async def refresh() -> None:
        runs.append(len(watch.refl.store))

    watch = CrdWatch("m", crds)
    task = asyncio.create_task(watch.follow(refresh, debounce=0.05, first_sync=5))
    try:
        async def settle() -> None:
            await asyncio.sleep(0.3)

        await settle()
        assert runs == [1]  # once listed
        crds.send("MODIFIED", _crd("pytorchjobs", stored=("v1", "v1beta1")))
        await settle()
        assert runs == [1]  # the CRD's own status: nothing to discover
        crds.send("ADDED", _crd("mxjobs", established=False))
        crds.send("MODIFIED", _crd("mxjobs"))
        await settle()
        assert runs == [1, 2]  # created then Established: one discovery
        crds.send("MODIFIED", _crd("mxjobs", versions=("v1", "v2")))
        await settle()
        crds.send("DELETED", _crd("pytorchjobs"))
        await settle()
        assert runs == [1, 2, 2, 1]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_failed_refresh_is_tried_again() -> None:
    crds = FakeCrds([_crd("pytorchjobs")])
    calls = 0

    async def refresh() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("member unreachable")

    task = asyncio.create_task(CrdWatch("m", crds).follow(refresh, debounce=0.01))
    try:
        for _ in range(40):
            if calls >= 2:
                break
            await asyncio.sleep(0.1)
        assert calls == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
