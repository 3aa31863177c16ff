"""Health probes of the client pool against a real member: kill, detect, recover."""

from __future__ import annotations

from federation.clusters.health import UNREACHABLE_TAINT, Health, HealthPolicy
from federation.clusters.pool import ClientPool
from federation.dev.localfleet import FleetState, LocalFleet

from .helpers import eventually


async def test_pool_detects_a_dead_member_and_its_return(local_fleet: LocalFleet,
                                                         fleet_state: FleetState) -> None:
    transitions: list[tuple[str, bool]] = []

    def record(name: str, old: Health, new: Health) -> None:
        transitions.append((name, new.ready))

    pool = ClientPool(HealthPolicy(interval=0.5, timeout=1, failure_threshold=2),
                      on_transition=record)
    try:
        await pool.add_kubeconfig("member1", fleet_state.kubeconfig, "member1")
        await pool.add_kubeconfig("member2", fleet_state.kubeconfig, "member2")

        async def both_ready() -> bool:
            return all(pool.get(n).health.ready for n in ("member1", "member2"))

        await eventually(both_ready, timeout=15, what="members Ready")
        local_fleet.kill_apiserver("member1")

        async def member1_down() -> bool:
            return not pool.get("member1").health.ready

        await eventually(member1_down, timeout=15, what="member1 NotReady")
        assert pool.get("member1").health.taint == UNREACHABLE_TAINT
        assert pool.get("member2").health.ready  # the rest of the fleet is unaffected
        await local_fleet.restart_apiserver("member1")

        async def member1_up() -> bool:
            return pool.get("member1").health.ready

        await eventually(member1_up, timeout=30, what="member1 Ready again")
        assert transitions[-2:] == [("member1", False), ("member1", True)]
    finally:
        await pool.close()
    assert pool.names() == []
