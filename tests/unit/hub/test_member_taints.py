"""Health taints the hub keeps on MemberCluster objects, and what makes it reconnect."""

from __future__ import annotations

from federation.clusters.health import Health
from federation.hub.members import connection_fingerprint, health_taints

USER = {"key": "team", "value": "ml", "effect": "NoSchedule"}


def test_not_ready_adds_one_noexecute_taint_and_keeps_user_taints() -> None:
    down = Health(ready=False, reachable=False, detail="connection refused")
    out = health_taints([USER], down, "2026-11-23T10:00:00Z")
    assert out == [USER, {"key": "cluster.fedctl.dev/unreachable", "effect": "NoExecute",
                          "timeAdded": "2026-11-23T10:00:00Z"}]
    # stable while the state lasts: timeAdded is kept
    assert health_taints(out, down, "2026-11-23T10:05:00Z") == out
    # reachable but failing readiness: the other taint replaces it
    sick = Health(ready=False, reachable=True)
    assert [t["key"] for t in health_taints(out, sick, "t")] == [
        "team", "cluster.fedctl.dev/not-ready"]


def test_ready_removes_only_ours() -> None:
    tainted = [USER, {"key": "cluster.fedctl.dev/not-ready", "effect": "NoExecute"}]
    assert health_taints(tainted, Health(ready=True, reachable=True), "t") == [USER]
    assert health_taints([], Health(ready=True, reachable=True), "t") == []


def test_taints_and_pricing_do_not_force_a_reconnect() -> None:
    base = {"spec": {"endpoint": "https://127.0.0.1:6443", "region": "r",
                     "secretRef": {"name": "m1"}}}
    tainted = {"spec": {**base["spec"], "taints": [USER],
                        "pricing": {"gpuHourly": {"H100": 2.0}}}}
    moved = {"spec": {**base["spec"], "endpoint": "https://127.0.0.1:7443"}}
    assert connection_fingerprint(base) == connection_fingerprint(tainted)
    assert connection_fingerprint(base) != connection_fingerprint(moved)
