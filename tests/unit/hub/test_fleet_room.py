"""When unschedulable templates are worth another look: the fleet grew, not shrank."""

from __future__ import annotations

import dataclasses

from federation.hub.fleet import member_view, roomier
from federation.model.cluster import ClusterSnapshot, NodeGroup, Taint

GIB = 2**30


def _snap(gpus_free: int, *, ready: bool = True, cpu: int = 8000,
          labels: dict[str, str] | None = None, taints: tuple[Taint, ...] = (),
          kinds: frozenset[str] | None = frozenset({"batch/Job"})) -> ClusterSnapshot:
    return ClusterSnapshot(
        name="m1", provider="aws", region="us-east-1", zone="us-east-1a",
        labels=labels or {}, taints=taints, ready=ready, installed_kinds=kinds,
        node_groups=(NodeGroup(1, "H100-80GB", 81920, gpus_free, 8, cpu, 64 * GIB),
                     NodeGroup(2, None, 0, 0, 0, 4000, 16 * GIB)))



def test_freed_gpus_make_room_and_used_ones_do_not() -> None:
    base = {"m1": member_view(_snap(0))}
    assert roomier(base, {"m1": member_view(_snap(8))})  # a job's pods finished
    assert not roomier({"m1": member_view(_snap(8))}, base)  # capacity taken
    assert not roomier(base, {"m1": member_view(_snap(0))})  # nothing changed
    assert roomier(base, {"m1": member_view(_snap(0, cpu=9000))})  # CPU freed


def test_members_readiness_labels_taints_and_kinds_count_in_any_direction() -> None:
    base = {"m1": member_view(_snap(0))}
    assert roomier(base, {"m1": member_view(_snap(0, ready=False))})
    assert roomier(base, {"m1": member_view(_snap(0, labels={"tier": "gold"}))})
    assert roomier(base, {"m1": member_view(_snap(0, taints=(Taint("spot"),)))})
    kinds = frozenset({"kubeflow.org/PyTorchJob"})
    assert roomier(base, {"m1": member_view(_snap(0, kinds=kinds))})
    assert roomier(base, {**base, "m2": member_view(dataclasses.replace(_snap(0), name="m2"))})
    assert not roomier({**base, "m2": member_view(_snap(4))}, base)  # a member left


def test_the_view_sums_free_capacity_per_product() -> None:
    view = member_view(_snap(3))
    free = dict(view.free)
    assert free["H100-80GB"] == (3, 3, 8000, 64 * GIB)
    assert free[""] == (0, 0, 8000, 32 * GIB)
