"""A fenced member (``fedctl clusters fence``) is not ready for the scheduler at once,
whatever the failover toleration, and carries the fenced taint; a damaged record is no
fence."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import sentinel

from federation.catalog.prices import load_price_catalog
from federation.clusters.health import Health
from federation.clusters.inventory import node_info, pod_usage
from federation.clusters.watch import Reflector
from federation.hub.members import FENCED_TAINT, MemberRecord, Members


async def _never(**_: Any) -> Any:
    raise AssertionError("no apiserver in this test")


class DownMembers(Members):
    """Every member stopped answering 1 s ago."""

    def health(self, name: str) -> Health:
        return Health(ready=False, reachable=False, consecutive_failures=3)


def _members(annotations: dict[str, str]) -> DownMembers:
    members = DownMembers(load_price_catalog(), Path("/nonexistent"), lambda _n: None)
    nodes = Reflector("m/nodes", _never, transform=node_info)
    pods = Reflector("m/pods", _never, transform=pod_usage)
    nodes.synced.set()
    pods.synced.set()
    members._members["m"] = MemberRecord(
        name="m", spec={"provider": "gcp", "region": "us-central1"}, labels={},
        generation=1, nodes=nodes, pods=pods, applier=sentinel.applier,
        annotations=annotations, not_ready_since=100.0)
    return members


FENCE = {"fedctl.dev/fenced-by": "alice", "fedctl.dev/fenced-at": "2026-12-05T09:00:00Z"}


def test_unfenced_down_member_keeps_its_replicas_within_the_toleration() -> None:
    snap = _members({}).snapshot("m", not_ready_grace=60, now=101.0, holds_replicas=True)
    assert snap.ready
    assert not snap.taints  # within the toleration: no health taint yet


def test_fenced_member_is_not_ready_at_once() -> None:
    members = _members(FENCE)
    fence = members.fence("m")
    assert fence is not None and fence.by == "alice" and fence.source == "operator"
    snap = members.snapshot("m", not_ready_grace=60, now=101.0, holds_replicas=True)
    assert not snap.ready
    assert FENCED_TAINT in [t.key for t in snap.taints]


def test_damaged_fence_record_is_no_fence() -> None:
    members = _members({"fedctl.dev/fence-reason": "lost rack"})  # no by/at
    assert members.fence("m") is None
    assert members.snapshot("m", 60, 101.0, holds_replicas=True).ready
