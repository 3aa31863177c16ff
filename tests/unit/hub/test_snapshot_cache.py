"""Members.snapshot caches each member's snapshot and its reserved form: what it returns
must be exactly what building it afresh gives, whatever the ledger does in between."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import sentinel

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.catalog.prices import load_price_catalog
from federation.clusters.health import Health
from federation.clusters.inventory import node_info, pod_usage
from federation.clusters.watch import Reflector
from federation.hub.members import MemberRecord, Members
from federation.model.cluster import ClusterSnapshot
from federation.scheduling.reservations import Hold, Ledger, reserve

CLUSTERS = ("a", "b")
BINDINGS = ("ns.w1", "ns.w2", "ns.w3")
CATALOG = load_price_catalog()


async def _never(**_: Any) -> Any:
    raise AssertionError("no apiserver in this test")


def _node(name: str, gpus: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.product": "NVIDIA-L4"}},
            "status": {"allocatable": {"nvidia.com/gpu": str(gpus), "cpu": "16",
                                       "memory": "64Gi"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


class OfflineMembers(Members):
    def health(self, name: str) -> Health:
        return Health(ready=True, reachable=True)


def _members() -> OfflineMembers:
    members = OfflineMembers(CATALOG, Path("/nonexistent"), lambda _n: None)
    for c in CLUSTERS:
        nodes = Reflector(f"{c}/nodes", _never, transform=node_info)
        pods = Reflector(f"{c}/pods", _never, transform=pod_usage)
        nodes.store = {f"{c}-n{i}": node_info(_node(f"{c}-n{i}", 4)) for i in range(3)}
        nodes.synced.set()
        pods.synced.set()
        members._members[c] = MemberRecord(
            name=c, spec={"provider": "gcp", "region": "us-central1"}, labels={},
            generation=1, nodes=nodes, pods=pods, applier=sentinel.applier)
    return members


def _fresh(members: Members, name: str, ledger: Ledger, binding: str) -> ClusterSnapshot:
    rec = members.get(name)
    assert rec is not None
    base = members._build_snapshot(rec, True, None, ledger)
    return reserve(base, ledger.held(name, excluding=binding))


_hold = st.builds(lambda n, g: Hold(((("L4-24GB", g, 1000, 0), n),)),
                  st.integers(1, 3), st.sampled_from([1, 2, 4]))
_op = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(BINDINGS),
              st.dictionaries(st.sampled_from(CLUSTERS), _hold, max_size=2)),
    st.tuples(st.just("drop"), st.sampled_from(BINDINGS), st.just({})),
    st.tuples(st.just("node"), st.sampled_from(CLUSTERS), st.just({})))


@settings(max_examples=150, deadline=None)
@given(st.lists(_op, max_size=12))
def test_cached_snapshots_equal_fresh_ones(ops: list[tuple[str, str, Any]]) -> None:
    members, ledger = _members(), Ledger()
    for i, (what, who, holds) in enumerate(ops):
        if what == "set":
            ledger.set(who, holds)
        elif what == "drop":
            ledger.drop(who)
        else:  # a node joins the member: its store version moves
            rec = members.get(who)
            assert rec is not None
            rec.nodes.store[f"{who}-x{i}"] = node_info(_node(f"{who}-x{i}", 8))
            rec.nodes.version += 1
        for binding in (*BINDINGS, None):
            for c in CLUSTERS:
                got = members.snapshot(c, 10.0, 0.0, False, ledger, binding)
                assert got == _fresh(members, c, ledger, binding or "-")


def test_equal_holds_bump_nothing_and_a_change_bumps_only_its_clusters() -> None:
    ledger = Ledger()
    h1 = Hold(((("L4-24GB", 1, 1000, 0), 2),))
    h2 = Hold(((("L4-24GB", 1, 1000, 0), 3),))
    ledger.set("w", {"a": h1})
    va, vb = ledger.version("a"), ledger.version("b")
    ledger.set("w", {"a": h1})
    assert (ledger.version("a"), ledger.version("b")) == (va, vb)
    ledger.set("w", {"a": h1, "b": h2})
    assert (ledger.version("a"), ledger.version("b")) == (va, vb + 1)
    ledger.drop("w")
    assert (ledger.version("a"), ledger.version("b")) == (va + 1, vb + 2)


def test_a_steady_reconcile_reuses_the_reserved_snapshot() -> None:
    members, ledger = _members(), Ledger()
    ledger.set("ns.w1", {"a": Hold(((("L4-24GB", 2, 1000, 0), 2),))})
    first = members.snapshot("b", 10.0, 0.0, False, ledger, "ns.w2")
    again = members.snapshot("b", 10.0, 0.0, False, ledger, "ns.w3")
    assert again is first
    # w1 holds room on "a": its own snapshot of "a" is built for it, others share one
    mine = members.snapshot("a", 10.0, 0.0, False, ledger, "ns.w1")
    theirs = members.snapshot("a", 10.0, 0.0, False, ledger, "ns.w2")
    assert sum(g.gpus_free * g.count for g in mine.node_groups) == 12
    assert sum(g.gpus_free * g.count for g in theirs.node_groups) == 8
